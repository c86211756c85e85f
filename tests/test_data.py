"""CascadeData: alignment, ordering and validation errors that name the culprit."""

import numpy as np
import pandas as pd
import pytest

from probcascade.data.cascade import CascadeData, load_shared
from probcascade.exceptions import DataValidationError


def frame(n=4, models=("a", "b")):
    rows = []
    for q in range(n):
        for r, m in enumerate(models):
            rows.append({"query": q, "model": m, "model_rank": r, "raw_logprob": -0.1 * (q + 1) * (r + 1),
                         "correct": (q + r) % 2, "cost_usd": 1e-5 * (r + 1)})
    return pd.DataFrame(rows)


def test_alignment_and_views():
    f = frame().sample(frac=1.0, random_state=1)  # shuffled rows
    d = CascadeData.from_frame(f)
    assert d.models == ("a", "b")
    assert d.logprob.shape == (4, 2)
    np.testing.assert_allclose(d.logprob[:, 1], [-0.2, -0.4, -0.6, -0.8])
    np.testing.assert_allclose(d.expected_costs.to_numpy(), [1e-5, 2e-5])
    assert d.wide()[("correct", "b")].tolist() == [1, 0, 1, 0]
    back = d.to_frame()
    assert len(back) == 8 and set(back.columns) >= {"query", "model", "raw_logprob", "correct", "cost_usd"}
    assert d.subset(["b"]).models == ("b",)
    assert d.take([0, 2]).n_queries == 2


def test_order_by_cost_when_no_rank():
    f = frame().drop(columns="model_rank")
    f.loc[f.model == "a", "cost_usd"] = 5e-5
    assert CascadeData.from_frame(f).models == ("b", "a")
    assert CascadeData.from_frame(f, models=["a", "b"]).models == ("a", "b")


def test_raw_probability_and_certainty_are_legal():
    f = frame()
    f["raw_prob"] = np.exp(f.pop("raw_logprob"))
    f.loc[0, "raw_prob"] = 1.0
    f.loc[1, "raw_prob"] = 0.0
    d = CascadeData.from_frame(f)
    assert d.logprob[0, 0] == 0.0 and np.isneginf(d.logprob[0, 1])
    assert d.certainty_fraction["a"] == 0.25


def test_tokens_and_prices():
    f = frame().drop(columns="cost_usd")
    f["tokens_in"], f["tokens_out"] = 100, 10
    d = CascadeData.from_frame(f, prices={"a": (1.0, 2.0), "b": (3.0, 4.0)})
    np.testing.assert_allclose(d.expected_costs.to_numpy(), [(100 + 20) / 1e6, (300 + 40) / 1e6])
    with pytest.raises(DataValidationError, match=r"prices.*'b'"):
        CascadeData.from_frame(f, prices={"a": (1.0, 2.0)})


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda f: f.drop(columns="correct"), r"missing column 'correct'"),
        (lambda f: f.drop(columns="raw_logprob"), r"raw_logprob"),
        (lambda f: f.drop(columns="cost_usd"), r"missing column 'cost_usd'"),
        (lambda f: f.assign(raw_logprob=f.raw_logprob.astype(object).where(f.index != 3, "high")), r"'raw_logprob'.*'high'.*model 'b'"),
        (lambda f: f.assign(raw_logprob=f.raw_logprob.where(f.index != 3, np.nan)), r"'raw_logprob'.*NaN.*model 'b'"),
        (lambda f: f.assign(raw_logprob=f.raw_logprob.where(f.index != 2, 0.5)), r"raw_logprob.*<= 0.*model 'a'"),
        (lambda f: f.assign(correct=f.correct.where(f.index != 5, 2)), r"'correct'.*0 or 1.*model 'b'"),
        (lambda f: f.assign(cost_usd=f.cost_usd.where(f.index != 5, -1.0)), r"cost.*model 'b'"),
        (lambda f: f.drop(index=5), r"model 'b' has no row for 1 query"),
        (lambda f: pd.concat([f, f.iloc[[4]]]), r"query 2 appears more than once for model 'a'"),
        (lambda f: f.assign(model_rank=f.model_rank.where(f.index != 2, 7)), r"model_rank.*'a'"),
    ],
)
def test_bad_input_names_culprit(mutate, pattern):
    with pytest.raises(DataValidationError, match=pattern):
        CascadeData.from_frame(mutate(frame()))


def test_raw_prob_out_of_range():
    f = frame()
    f["raw_prob"] = np.exp(f.pop("raw_logprob"))
    f.loc[3, "raw_prob"] = 1.5
    with pytest.raises(DataValidationError, match=r"raw_prob.*\[0, 1\].*model 'b'"):
        CascadeData.from_frame(f)


def test_unknown_model_in_order():
    with pytest.raises(DataValidationError, match=r"\['zz'\] not in the data"):
        CascadeData.from_frame(frame(), models=["a", "zz"])


def test_csv_roundtrip(tmp_path):
    p = tmp_path / "x.csv"
    frame().to_csv(p, index=False)
    d = CascadeData.from_csv(p)
    assert d.name == "x" and d.n_queries == 4
    with pytest.raises(DataValidationError, match="file not found"):
        CascadeData.from_csv(tmp_path / "nope.csv")


@pytest.mark.shared_data
def test_load_every_shared_file(shared_dir):
    data = load_shared(shared_dir)
    assert len(data) == 10
    assert data["mmlu_llama_train"].models[0] == "llama3.2-1b"
    assert data["mmlu_llama_test"].n_queries == 1531
    assert data["truthfulqa_llama_train"].n_queries == 300
    assert data["mmlu_qwen_oai_test"].models == ("gpt-4o-mini", "qwen2.5-32b-coder-instruct", "qwen2.5-72b-instruct", "gpt-4o")
