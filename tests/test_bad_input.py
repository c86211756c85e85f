"""Bad input gives a clean one-line error (exit code 2) naming the file, model, column or option (issue 18, Done when).

One test per case: an empty file, a binary / non-UTF-8 file, a directory, a pickle (refused, never read), a constant
``raw_logprob`` (the calibration slope is not identified), both ``raw_prob`` and ``raw_logprob`` (a warning says which
is used), errors in the ``--test`` file (they say it is the test file), a cascade not in increasing cost order (a
warning), ``n_restarts=0`` / ``n_steps=0`` (named errors) and no NumPy reprs (``np.float64(...)``) in messages.
Every case fails before anything is compiled, so the file runs in a few seconds.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from probcascade.cli import main
from probcascade.data.cascade import CascadeData
from probcascade.exceptions import DataValidationError, ProbcascadeWarning


def _frame(n: int = 40, models=("small", "large"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n):
        for j, m in enumerate(models):
            rows.append({"query": q, "model": m, "raw_logprob": float(np.log(rng.uniform(0.2, 1.0))),
                         "correct": int(rng.uniform() < 0.6), "cost_usd": 0.001 * (j + 1)})
    return pd.DataFrame(rows)


def _write(tmp_path, name: str, frame: pd.DataFrame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _run_error(capsys, argv) -> str:
    """Run the CLI, require exit code 2 and a single clean line on stderr; return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip("\n").split("\n")
    assert lines[-1].startswith("probcascade: error: "), err
    assert "Traceback" not in err and "np.float" not in err and "np.int" not in err, err
    return lines[-1]


def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.csv").write_bytes(b"")
    line = _run_error(capsys, ["calibrate", str(tmp_path / "empty.csv")])
    assert "training file" in line and "empty.csv" in line and "empty" in line.split("empty.csv")[1]
    (tmp_path / "header.csv").write_text("query,model,raw_logprob,correct,cost_usd\n")
    assert "no data rows" in _run_error(capsys, ["calibrate", str(tmp_path / "header.csv")])


@pytest.mark.parametrize("content, words", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),                         # NUL bytes: a binary file
    ("query,model,raw_logprob,correct,cost_usd\n0,caf\u00e9,-0.1,1,0.1\n".encode("latin-1"), "UTF-8"),
])
def test_binary_or_non_utf8_file(tmp_path, capsys, content, words):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    line = _run_error(capsys, ["calibrate", str(path)])
    assert words in line and "data.csv" in line


def test_directory(tmp_path, capsys):
    line = _run_error(capsys, ["tune", str(tmp_path)])
    assert "is a directory" in line and str(tmp_path) in line


class _Tripwire:
    """Unpickling it would create a marker file: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_is_refused_and_never_read(tmp_path, capsys, monkeypatch):
    marker = tmp_path / "unpickled"
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps(_Tripwire(marker)))
    opened = []
    real_open = open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr("builtins.open", spy)
    line = _run_error(capsys, ["calibrate", str(path)])
    assert "refusing" in line and "'.pkl'" in line and "data.pkl" in line
    assert str(path) not in opened and not marker.exists()


def test_constant_raw_logprob_is_not_identified(tmp_path, capsys):
    frame = _frame()
    frame.loc[frame["model"] == "small", "raw_logprob"] = -0.3
    line = _run_error(capsys, ["calibrate", str(_write(tmp_path, "const.csv", frame)), "--method", "platt"])
    assert "model 'small'" in line and "constant" in line and "not identified" in line and "-0.3" in line
    from probcascade import calibrate

    with pytest.raises(DataValidationError, match="slope is not identified"):   # the library too, not SE 0, p 0
        calibrate(CascadeData.from_frame(frame))


def test_both_signal_columns_say_which_is_used(tmp_path, capsys):
    frame = _frame()
    frame["raw_prob"] = np.exp(frame["raw_logprob"])
    with pytest.warns(ProbcascadeWarning, match="using 'raw_logprob' and ignoring 'raw_prob'"):
        data = CascadeData.from_frame(frame)
    np.testing.assert_array_equal(data.logprob[:, 0], frame.loc[frame["model"] == "small", "raw_logprob"])
    # on the command line: one warning line, then (a broken --test file, so nothing is fitted) the error
    bad = _frame()
    bad.loc[0, "correct"] = 2
    assert main(["calibrate", str(_write(tmp_path, "tr.csv", frame)), "--test", str(_write(tmp_path, "te.csv", bad))]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("probcascade: warning: both 'raw_logprob' and 'raw_prob' are present: using 'raw_logprob' "
                      "and ignoring 'raw_prob'")


def test_test_file_errors_name_the_test_file(tmp_path, capsys):
    train = _write(tmp_path, "tr.csv", _frame())
    bad = _frame(seed=1).astype({"correct": float})
    bad.loc[3, "correct"] = 0.5
    line = _run_error(capsys, ["calibrate", str(train), "--test", str(_write(tmp_path, "te.csv", bad))])
    assert line.startswith("probcascade: error: --test file ") and "te.csv" in line and "'correct'" in line
    assert "0.5" in line
    other = _frame(models=("small", "medium"))                   # the training model 'large' is missing
    line = _run_error(capsys, ["tune", str(train), "--test", str(_write(tmp_path, "te2.csv", other))])
    assert "--test file" in line and "large" in line
    line = _run_error(capsys, ["calibrate", str(train), "--test", str(tmp_path / "nope.csv")])
    assert "--test file" in line and "file not found" in line


def test_cascade_in_non_increasing_cost_order_warns(tmp_path, capsys, monkeypatch):
    import probcascade.pipeline as pipeline

    class Stop(DataValidationError):
        pass

    def stop(*args, **kwargs):                  # the warning comes first; stop before anything is fitted
        raise Stop("stopped after the order check")
    monkeypatch.setattr(pipeline, "calibrate", stop)
    path = _write(tmp_path, "tr.csv", _frame())
    assert main(["tune", str(path), "--cascade", "large,small"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("probcascade: warning: cascade large -> small is not in increasing cost order")
    assert "'large' costs 0.002" in err[0] and err[1].endswith("stopped after the order check")
    data = CascadeData.from_frame(_frame())
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the increasing order and 'all' do not warn
        with pytest.raises(Stop):
            pipeline.tune_cascades(data, data, cascades="small,large")
        with pytest.raises(Stop):
            pipeline.tune_cascades(data, data, cascades="all")
        tied = _frame().assign(cost_usd=0.001)          # two models at one price: no warning either
        tied_data = CascadeData.from_frame(tied)
        with pytest.raises(Stop):
            pipeline.tune_cascades(tied_data, tied_data, cascades=",".join(tied_data.models[::-1]))


@pytest.mark.parametrize("option", ["n_restarts", "n_steps"])
def test_zero_restarts_or_steps_are_named_errors(option):
    from probcascade.pipeline import tune_cascades
    from probcascade.tuning.options import TuneOptions

    with pytest.raises(DataValidationError, match=f"^'{option}' must be an integer >= 1 .*got 0$"):
        TuneOptions(**{option: 0})
    data = CascadeData.from_frame(_frame())
    with pytest.raises(DataValidationError, match=f"'{option}'"):
        tune_cascades(data, data, **{option: 0})


def _messages(calls) -> list[str]:
    out = []
    for fn in calls:
        with pytest.raises(DataValidationError) as exc:
            fn()
        out.append(str(exc.value))
    return out


def test_no_numpy_reprs_in_messages(tmp_path):
    from probcascade.evaluation.auc import curve_area
    from probcascade.tuning.options import TuneOptions

    def with_value(column, value, model="small"):
        frame = _frame()
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[frame["model"] == model][2], column] = value
        return lambda: CascadeData.from_frame(frame)

    calls = [
        with_value("raw_logprob", 0.25), with_value("correct", 2), with_value("correct", 0.5),
        with_value("cost_usd", -1.5), with_value("raw_logprob", "abc"), with_value("raw_logprob", np.nan),
        lambda: CascadeData.from_frame(_frame().assign(raw_prob=1.5).drop(columns="raw_logprob")),
        lambda: TuneOptions(r=np.float64(-1.0)), lambda: TuneOptions(n_steps=np.int64(0)),
        lambda: TuneOptions(max_cost_gap=np.float32(2.0)), lambda: TuneOptions(seed=np.float64(1.5)),
        lambda: curve_area(np.array([0.0, 1.0]), np.array([0.2, 0.1]), np.float64(0.5), np.float64(0.5)),
    ]
    constant = _frame()
    constant.loc[constant["model"] == "small", "raw_logprob"] = np.float64(-0.25)
    from probcascade import calibrate

    calls.append(lambda: calibrate(CascadeData.from_frame(constant)))
    messages = _messages(calls)
    for msg in messages:
        assert "np." not in msg and "numpy" not in msg, msg
    joined = "\n".join(messages)
    for shown in ("0.25", "has 2 at", "-1.5", "'abc'", "1.5", "-1.0", "got 0", "2.0", "lo=0.5"):
        assert shown in joined, (shown, joined)
