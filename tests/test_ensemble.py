"""Binned cascading ensemble (seed 000 §3, Algorithms 1-2; issue 12): hand-computed cases and reference agreement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probcascade.exceptions import DataValidationError
from probcascade.policies.base import Decisions, Policy
from probcascade.policies.ensemble import (
    Answers, BinnedEnsemblePolicy, Binning, algorithm1_reference, error_cost_auc_local, macro_f1, read_answers,
    register_strategy, STRATEGIES, train_ensemble, train_ensemble_sweep, train_reference,
)
from probcascade.policies.ensemble_report import (
    cv_splits, ensemble_report, format_table, optimize_edges, select_operating_point, wmv_all,
)
from probcascade.policies.ensemble_strategies import encode_labels
from probcascade.policies.ensemble_train import build_problem, train_core

ALL = ("last", "plurality", "wmv", "most_confident")


def _codes_out(answers, conf, name):
    """One strategy's answers on all models (via the public training path's encoder)."""
    from probcascade.policies.ensemble import strategy_outputs

    vocab, codes, _ = encode_labels(np.asarray(answers, dtype=object))
    out = strategy_outputs(codes, np.asarray(conf, float), (STRATEGIES[name],), len(vocab))
    return vocab[out[:, -1, 0]].tolist()


# ----------------------------------------------------------------------------------------------- strategies
def test_strategies_hand_cases():
    answers = [["A", "B", "B"],      # plurality B; wmv: A 0.9 vs B 0.2+0.3 -> A; most confident A
               ["A", "B", "C"],      # plurality 3-way tie -> latest model's C; wmv: B 0.5 highest
               ["C", "A", "C"]]      # plurality C; wmv C 0.4+0.4 vs A 0.6 -> C; most confident A
    conf = [[0.9, 0.2, 0.3], [0.1, 0.5, 0.2], [0.4, 0.6, 0.4]]
    assert _codes_out(answers, conf, "last") == ["B", "C", "C"]
    assert _codes_out(answers, conf, "plurality") == ["B", "C", "C"]
    assert _codes_out(answers, conf, "wmv") == ["A", "B", "C"]
    assert _codes_out(answers, conf, "most_confident") == ["A", "B", "A"]


def test_strategy_ties_go_to_latest_model():
    # wmv tie 0.5 (A) vs 0.5 (B): B is the later model's answer; most_confident tie -> later model
    assert _codes_out([["A", "B"]], [[0.5, 0.5]], "wmv") == ["B"]
    assert _codes_out([["A", "B"]], [[0.5, 0.5]], "most_confident") == ["B"]
    assert _codes_out([["B", "A"]], [[0.5, 0.5]], "plurality") == ["A"]


def test_labels_outside_gold_set_are_their_own_label():
    answers = np.array([["I", "I", "A"], ["", "~", "0"]], dtype=object)
    conf = np.array([[0.9, 0.9, 0.5], [0.3, 0.2, 0.9]])
    assert _codes_out(answers, conf, "wmv") == ["I", "0"]          # "I" wins the vote; never a crash
    assert wmv_all(answers, conf).tolist() == ["I", "0"]
    gold = np.array(["A", "B"], dtype=object)
    # both are misses; macro-F1 is over the gold classes only (A and B: no true positive)
    assert macro_f1(np.array(["I", "0"], dtype=object), gold) == 0.0
    assert macro_f1(np.array(["A", "0"], dtype=object), gold) == pytest.approx(0.5)   # F1(A)=1, F1(B)=0
    # training with such answers works, and an outside answer is never a hit
    correct = np.array([[0, 0, 1], [0, 0, 0]])
    pol = train_ensemble(conf, correct, [1.0, 1.0, 1.0], answers, gold, bins=1, min_count=1)
    d = pol.route(conf, [1.0, 1.0, 1.0], answers)
    assert set(d.answer) <= {"I", "A", "", "~", "0"}


def test_register_strategy_extends_the_registry():
    import jax.numpy as jnp

    register_strategy("first", lambda codes, conf, L: codes[:, 0].astype(jnp.int32))
    try:
        assert _codes_out([["A", "B"]], [[0.1, 0.9]], "first") == ["A"]
    finally:
        STRATEGIES.pop("first")


# ---------------------------------------------------------------------------------------------- missing answers
def test_missing_answer_column_is_named():
    frame = pd.DataFrame({"query": [0, 0], "model": ["a", "b"], "raw_logprob": [-0.1, -0.2], "correct": [1, 0],
                          "cost_usd": [1.0, 2.0]})

    class FakeData:
        models, queries = ("a", "b"), np.array([0])

    with pytest.raises(DataValidationError, match="'answer'"):
        read_answers(frame, FakeData())
    conf, correct = np.array([[0.5, 0.6]]), np.array([[1, 0]])
    with pytest.raises(DataValidationError, match="'answer'"):
        train_ensemble(conf, correct, [1.0, 2.0])
    # only the last model's answer: trainable and routable from correctness alone
    pol = train_ensemble(conf, correct, [1.0, 2.0], strategies=("last",), bins=1, min_count=1)
    d = pol.route(conf, [1.0, 2.0])
    assert d.answer is None and d.exit.tolist() == [0]
    trained_with_answers = train_ensemble(conf, correct, [1.0, 2.0], np.array([["A", "B"]], dtype=object), bins=1,
                                          min_count=1)
    with pytest.raises(DataValidationError, match="'answer'"):
        trained_with_answers.route(conf, [1.0, 2.0])


def test_read_answers_from_csv_keeps_text_labels(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"query": [1, 1, 0, 0], "model": ["a", "b", "a", "b"], "answer": ["None", "A", "", "NA"],
                  "gold": ["A", "A", "B", "B"]}).to_csv(path, index=False)

    class FakeData:
        models, queries = ("b", "a"), np.array([0, 1])

    ans = read_answers(path, FakeData())
    assert ans.answers.tolist() == [["NA", ""], ["A", "None"]]
    assert ans.gold.tolist() == ["B", "A"]


# --------------------------------------------------------------------------------------- hand-computed training
def _two_model(c1, c2, mu, tie_extra=False, **kw):
    """Four queries, one bin per model: model 1 right on c1 of them, model 2 on c2; costs 1 and 1."""
    correct = np.array([[1 if i < c1 else 0, 1 if i < c2 else 0] for i in range(4)])
    conf = np.full((4, 2), 0.5)
    return train_ensemble(conf, correct, [1.0, 1.0], strategies=("last",), bins=1, min_count=1, mu=mu,
                          cost_scale=1.0, **kw), conf


@pytest.mark.parametrize("mu, expected_exit", [(0.0, 1), (0.25, 1), (0.5, 0), (1.0, 0)])
def test_godeeper_decision_by_hand(mu, expected_exit):
    # exit at depth 1: 1 hit - mu * 4 ; go deeper: 3 hits - mu * 8  ->  GoDeeper iff mu < 0.5 (0.5 is a tie -> exit)
    pol, conf = _two_model(1, 3, mu)
    assert pol.route(conf, [1.0, 1.0]).exit.tolist() == [expected_exit] * 4
    assert pol.decisions[0, 1, 0] == (-1 if expected_exit == 1 else 0)


def test_tie_goes_to_the_cheaper_decision():
    pol, conf = _two_model(2, 2, 0.0)                 # same hits deeper: exit at depth 1
    d = pol.route(conf, [1.0, 1.0])
    assert d.exit.tolist() == [0] * 4 and d.cost.tolist() == [1.0] * 4
    # strategy ties: all four strategies give the same answer at depth 1 -> the first listed wins
    answers = np.array([["A", "A"]] * 4, dtype=object)
    pol = train_ensemble(np.full((4, 2), 0.5), np.ones((4, 2), int), [1.0, 1.0], answers,
                         strategies=("wmv", "last"), bins=1, min_count=1)
    assert pol.decisions[0, 1, 0] == 0 and pol.strategies[0] == "wmv"


def test_empty_bin_at_inference_falls_back_to_the_parent():
    # model 1 has two bins (edge 0.5); training only fills bin 0, where going deeper pays
    conf = np.array([[0.1, 0.5]] * 4)
    correct = np.array([[0, 1]] * 3 + [[1, 0]])
    edges = (np.array([0.5]), np.array([]))
    for fb in ("prefix", "suffix"):
        pol = train_ensemble(conf, correct, [1.0, 1.0], strategies=("last",), edges=edges, min_count=1, fallback=fb)
        test = np.array([[0.1, 0.5], [0.9, 0.5]])         # the second query lands in the empty bin 1 of model 1
        d = pol.route(test, [1.0, 1.0])
        assert d.exit.tolist() == [1, 1]                  # root decision at depth 1 = GoDeeper (1 hit vs 3)


def test_tiny_cell_takes_the_parent_decision():
    # bin 0 of model 1 (2 queries): model 1 right on both -> alone it would exit; bin 1 (6 queries): model 2 better.
    conf = np.array([[0.1, 0.5]] * 2 + [[0.9, 0.5]] * 6)
    correct = np.array([[1, 0]] * 2 + [[0, 1]] * 6)
    edges = (np.array([0.5]), np.array([]))
    alone = train_ensemble(conf, correct, [1.0, 1.0], strategies=("last",), edges=edges, min_count=1)
    assert alone.route(conf, [1.0, 1.0]).exit.tolist() == [0, 0] + [1] * 6
    pooled = train_ensemble(conf, correct, [1.0, 1.0], strategies=("last",), edges=edges, min_count=3,
                            fallback="prefix")
    # the tiny bin uses the root's decision at depth 1: 2 hits exiting vs 6 going deeper -> GoDeeper
    assert pooled.route(conf, [1.0, 1.0]).exit.tolist() == [1] * 8


# ---------------------------------------------------------------------------------- agreement with references
def _table_from_core(decs, problem, bins, K, fallback):
    """{(depth, context tuple): decision} from the vectorised trainer, with the reference's keys."""
    radix = bins.max(axis=0) + 1
    out = {}
    for d in range(K):
        for a in range(d + 2):
            positions = range(a) if fallback == "prefix" else range(d + 1 - a, d + 1)
            for row in {tuple(r) for r in bins.tolist()}:
                ctx = tuple(row[j] for j in positions)
                key = 0
                for j, b in zip(positions, ctx):
                    key = key * radix[j] + b
                cell = np.searchsorted(problem.context_keys[d][a], key)
                out[(d + 1, ctx)] = int(decs[d, a, cell])
    return out


@st.composite
def _random_problem(draw):
    n = draw(st.integers(1, 32))
    K = draw(st.integers(1, 4))
    S = 2                                         # few distinct shapes: few XLA compilations
    nb = draw(st.lists(st.integers(1, 3), min_size=K, max_size=K))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    bins = np.column_stack([rng.integers(0, b, n) for b in nb])
    hits = rng.integers(0, 2, (n, K, S)).astype(float)
    cum = np.cumsum(rng.integers(0, 5, (n, K)) * 0.25, axis=1)        # dyadic: sums are exact in float64
    mus = draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]), min_size=2, max_size=2))   # one shape
    return bins, hits, cum, mus, draw(st.integers(1, 5)), draw(st.sampled_from(["prefix", "suffix"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_problem())
def test_vectorised_trainer_matches_plain_python_reference(prob):
    bins, hits, cum, mus, min_count, fallback = prob
    n, K = bins.shape
    binning = Binning(tuple(np.arange(b) + 0.5 for b in bins.max(axis=0)))      # conf = bin index
    conf = bins.astype(float)
    problem = build_problem(binning.context_keys(conf, fallback), hits, cum, min_count)
    decs, reward, exits, _ = train_core(problem, mus)
    for m, mu in enumerate(mus):
        ref = train_reference(bins.tolist(), hits.tolist(), cum.tolist(), mu, min_count, fallback)
        assert _table_from_core(decs[m], problem, bins, K, fallback) == ref
        if min_count == 1:                                # occupied full cells: Algorithm 1 verbatim
            alg1 = algorithm1_reference(bins.tolist(), hits.tolist(), cum.tolist(), mu)
            assert {k: v for k, v in ref.items() if len(k[1]) == k[0]} == alg1
        # Algorithm 2 on the training queries reproduces the trainer's realised exits
        pol = BinnedEnsemblePolicy(tuple("m%d" % j for j in range(K)), binning, tuple(f"s{s}" for s in range(hits.shape[2])),
                                   problem.context_keys, problem.context_counts, decs[m], mu, min_count, 1.0, fallback)
        ex, _ = pol.exits(conf)
        assert ex.tolist() == exits[m].tolist()


def test_sweep_equals_single_trainings():
    rng = np.random.default_rng(1)
    n, K = 120, 3
    conf = rng.uniform(size=(n, K))
    correct = (rng.uniform(size=(n, K)) < conf).astype(int)
    answers = np.where(correct == 1, "A", rng.choice(["B", "C", "X"], size=(n, K))).astype(object)
    gold = np.full(n, "A", dtype=object)
    mus = [0.0, 0.05, 0.3]
    sweep = train_ensemble_sweep(conf, correct, [1.0, 2.0, 4.0], answers, gold, mus=mus, bins=3, min_count=5)
    for mu, pol in zip(mus, sweep):
        single = train_ensemble(conf, correct, [1.0, 2.0, 4.0], answers, gold, mu=mu, bins=3, min_count=5)
        assert np.array_equal(single.decisions, pol.decisions)
    costs = [p.route(conf, [1.0, 2.0, 4.0], answers).cost.mean() for p in sweep]
    assert costs[0] >= costs[-1]


# --------------------------------------------------------------------------------------------- policy protocol
def test_policy_protocol_and_round_trip():
    rng = np.random.default_rng(2)
    n, K = 80, 3
    conf = rng.uniform(size=(n, K))
    correct = (rng.uniform(size=(n, K)) < conf).astype(int)
    answers = np.where(correct == 1, "A", "B").astype(object)
    pol = train_ensemble(conf, correct, [1.0, 2.0, 4.0], answers, mu=0.1, models=("x", "y", "z"), min_count=3)
    assert isinstance(pol, Policy) and pol.kind == "binned_ensemble" and pol.models == ("x", "y", "z")
    d = pol.route(conf, [1.0, 2.0, 4.0], answers)
    assert isinstance(d, Decisions) and d.exit.shape == (n,) and d.answer.shape == (n,)
    np.testing.assert_allclose(d.cost, np.cumsum([1.0, 2.0, 4.0])[d.exit])
    again = BinnedEnsemblePolicy.from_dict(json.loads(json.dumps(pol.to_dict())))
    d2 = again.route(conf, [1.0, 2.0, 4.0], answers)
    assert d2.exit.tolist() == d.exit.tolist() and d2.answer.tolist() == d.answer.tolist()
    assert any(r["decision"] == "GoDeeper" for r in pol.decision_table()) or (d.exit == 0).all()


def test_binning_quantile_and_validation():
    conf = np.column_stack([np.linspace(0, 1, 101), np.full(101, 0.3)])
    b = Binning.quantile(conf, 4)
    assert b.n_bins == (4, 1)                                  # constant confidences: one bin
    assert np.bincount(b.assign(conf)[:, 0]).tolist() == [25, 25, 25, 26]
    with pytest.raises(DataValidationError):
        Binning((np.array([0.5, 0.2]),))


# -------------------------------------------------------------------------------------------- metrics / helpers
def test_auc_helper_by_hand():
    # a: error 0.2 flat on [0, 2]; b: error from 0.4 at cost 1 to 0.0 at cost 3 -> common range [1, 2]
    auc_a, auc_b, lo, hi = error_cost_auc_local([0, 2], [0.2, 0.2], [1, 3], [0.4, 0.0])
    assert (lo, hi) == (1, 2) and auc_a == pytest.approx(0.2) and auc_b == pytest.approx(0.3)
    assert np.isnan(error_cost_auc_local([0, 1], [0, 0], [2, 3], [0, 0])[0])


def test_cv_splits_and_operating_point_are_seeded():
    s1, s2 = cv_splits(50, 3, 0.2, seed=4), cv_splits(50, 3, 0.2, seed=4)
    assert all(np.array_equal(a[0], b[0]) and len(a[1]) == 10 for a, b in zip(s1, s2))
    rng = np.random.default_rng(3)
    n, K = 100, 3
    conf = rng.uniform(size=(n, K))
    correct = (rng.uniform(size=(n, K)) < conf).astype(int)
    ans = Answers(np.where(correct == 1, "A", rng.choice(["B", "C"], size=(n, K))).astype(object),
                  np.full(n, "A", dtype=object))
    kw = dict(mus=[0.0, 0.1, 1.0], min_counts=(5,), n_splits=3, seed=0, bins=3)
    op1 = select_operating_point(conf, correct, [1.0, 2.0, 4.0], ans, **kw)
    assert op1 == select_operating_point(conf, correct, [1.0, 2.0, 4.0], ans, **kw)
    assert op1["mu"] in (0.0, 0.1, 1.0) and 0 <= op1["cv_cost"] <= 1


def test_optimize_edges_is_seeded():
    rng = np.random.default_rng(5)
    n, K = 80, 2
    conf = rng.uniform(size=(n, K))
    correct = (rng.uniform(size=(n, K)) < conf).astype(int)
    ans = Answers(np.where(correct == 1, "A", "B").astype(object), np.full(n, "A", dtype=object))
    kw = dict(bins=3, n_trials=4, n_splits=2, seed=7, progress=False, min_count=3)
    b1, info = optimize_edges(conf, correct, [1.0, 3.0], ans, **kw)
    b2, _ = optimize_edges(conf, correct, [1.0, 3.0], ans, **kw)
    assert b1.to_list() == b2.to_list() and info["n_trials"] == 4
    assert info["best_value"] >= info["quantile_value"]


# --------------------------------------------------------------------------------------------------- real data
@pytest.mark.shared_data
def test_report_structure_on_mmlu_llama(shared_dir):
    from probcascade import load_benchmark

    train, test = load_benchmark(shared_dir, "mmlu_llama")
    a_tr = read_answers(shared_dir / "mmlu_llama_train.csv", train)
    a_te = read_answers(shared_dir / "mmlu_llama_test.csv", test)
    assert {"I", "None"} & set(a_tr.answers.ravel())                   # outside-gold labels are really there
    with pytest.raises(DataValidationError, match="'answer'"):
        ensemble_report(train, test, mu=0.0)
    rep = ensemble_report(train, test, train_answers=a_tr, test_answers=a_te, mu=0.05, mus=[0.0, 0.05, 0.5],
                          rational=([1e-4, 9e-4], [0.6, 0.85]))
    assert list(rep) == ["policy", "wmv", "single", "sweep", "rational_auc_same_range", "policy_auc"]
    assert list(rep["policy"]) == ["accuracy", "f1", "cost_per_query", "depth_shares"]
    assert sum(rep["policy"]["depth_shares"]) == pytest.approx(1.0)
    assert rep["single"]["llama3.1-405b"]["accuracy"] == pytest.approx(test.correct[:, 4].mean())
    assert rep["wmv"]["cost_per_query"] == pytest.approx(test.cost.sum(axis=1).mean())
    assert len(rep["sweep"]) == 3 and rep["policy_auc"] is not None
    json.dumps(rep)
    assert "WMV all models" in format_table(rep)
