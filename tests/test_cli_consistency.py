"""The command line's conventions hold for every subcommand (issue 15 item 5, issue 18 item 5).

Every subcommand -- including ones registered later by other modules and the Torch bridge -- has ``--help`` with an
example, ``--format table|json|csv``, ``--seed``, ``-q/--quiet``, ``-v/--verbose`` and ``--progress``; progress goes
to stderr only (stdout stays parseable), is off with ``-q`` and on with ``--progress``; exit codes are 0 (success),
1 (an unexpected exception: one line, the traceback only with ``-v``) and 2 (bad input or usage).
"""

from __future__ import annotations

import argparse
import json

import pytest

from probcascade.cli import build_parser, main
from probcascade.cli.common import FORMATS, add_common_options, has_example, subcommand_parsers


@pytest.fixture(scope="module")
def subcommands():
    return subcommand_parsers(build_parser())


def test_every_subcommand_has_an_example_and_the_common_options(subcommands):
    # the ones this project ships must all be there (the Torch bridge's too: it is installed with the package)
    assert {"demo", "calibrate", "tune", "gof", "ensemble", "route", "reject", "signals", "capability", "extract",
            "tiny-model"} <= set(subcommands)
    for name, sp in subcommands.items():
        assert has_example(sp), f"{name} --help shows no example"
        assert "probcascade " + name in (sp.description or "") + (sp.epilog or ""), f"{name}: example of another command"
        dests = {a.dest: a for a in sp._actions}
        for dest in ("format", "seed", "quiet", "verbose", "progress"):
            assert dest in dests, f"{name} lacks --{dest}"
        assert set(FORMATS) <= set(dests["format"].choices), f"{name} --format {dests['format'].choices}"
        for flag in ("-q", "--quiet", "-v", "--verbose", "--seed", "--format"):
            assert flag in sp._option_string_actions, f"{name} lacks {flag}"


def test_help_text_shows_the_example(capsys):
    for name in ("calibrate", "extract"):
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "Example: probcascade " + name in " ".join(capsys.readouterr().out.split())


def test_post_pass_is_idempotent_and_keeps_own_options():
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers(dest="command")
    a = sub.add_parser("a")
    a.add_argument("--seed", type=int, default=7)                    # own default kept
    a.add_argument("-v", dest="version_flag", action="store_true")   # -v taken: --verbose added alone
    sub.add_parser("b", epilog="Example: x b")
    add_common_options(parser)
    add_common_options(parser)                                       # twice: no duplicate option error
    args = parser.parse_args(["a", "-v", "--verbose", "-q", "--format", "csv"])
    assert (args.seed, args.version_flag, args.verbose, args.quiet, args.format) == (7, True, True, True, "csv")
    assert parser.parse_args(["b"]).format == "table" and parser.parse_args(["b"]).seed == 0
    # a subcommand registered after the post-pass gets the options on the next pass
    late = sub.add_parser("late", epilog="Example: x late")
    add_common_options(parser)
    assert parser.parse_args(["late", "--format", "json", "--seed", "3"]).seed == 3
    assert "--quiet" in late._option_string_actions


def _write_synthetic(tmp_path, n_train=150, n_test=150, seed=3):
    from probcascade.data.synthetic import synthetic_train_test

    train, test = synthetic_train_test(n_train, n_test, seed=seed)
    ptr, pte = tmp_path / "tr.csv", tmp_path / "te.csv"
    train.to_frame().to_csv(ptr, index=False)
    test.to_frame().to_csv(pte, index=False)
    return ptr, pte, train.models


def test_formats_of_calibrate_and_reject(tmp_path, capsys):
    ptr, pte, models = _write_synthetic(tmp_path)
    outs = {}
    for fmt in FORMATS:
        assert main(["calibrate", str(ptr), "--test", str(pte), "--format", fmt, "--progress", "-q"]) == 0
        cap = capsys.readouterr()
        outs[fmt] = cap.out
        assert cap.err == ""                                        # -q: nothing on stderr, even with --progress
    assert json.loads(outs["json"])[0]["model"] == models[0]        # parseable
    assert models[0] in outs["table"] and not outs["table"].startswith("model,")
    assert main(["reject", str(ptr), "--test", str(pte), "--format", "csv"]) == 0
    outs["reject"] = capsys.readouterr().out
    for fmt in ("csv", "reject"):                                   # a header and one row per model
        assert outs[fmt].splitlines()[0].startswith("model,")
        assert len(outs[fmt].strip().splitlines()) == 1 + len(models)


def test_progress_goes_to_stderr_only_and_follows_the_flags(capsys):
    """run_command turns bars on with --progress (stderr is not a terminal under pytest), off with -q; stdout keeps
    only the result."""
    from probcascade.cli.common import run_command
    from probcascade.progress import bar

    def command(args):
        with bar(total=2, desc="stages", unit="stage") as pb:        # progress=None: follows the command line
            pb.set_postfix_str("first")
            pb.update(2)
        print("result")
        return 0

    parser = build_parser()
    for extra, shown in (([], False), (["--progress"], True), (["--progress", "-q"], False)):
        args = parser.parse_args(["calibrate", "train.csv", *extra])
        args.func = command
        assert run_command(args) == 0
        cap = capsys.readouterr()
        assert cap.out == "result\n"
        assert ("stages" in cap.err and "0/2" in cap.err and "first" in cap.err) is shown, (extra, cap.err)


def test_tune_cascades_bar_counts_fit_and_solves(capsys):
    from probcascade.data.synthetic import synthetic_train_test
    from probcascade.pipeline import tune_cascades

    train, test = synthetic_train_test(80, 80, seed=3)
    m = train.models
    # the grid search (no model fit, no rational-tuning compile): the bar is the point
    tune_cascades(train, test, cascades=[(m[0], m[2]), (m[1], m[3])], methods=("grid",), progress=True)
    cap = capsys.readouterr()
    # tqdm redraws at most every 0.1 s, so the last count may not be drawn; the stages described are
    assert cap.out == "" and "/3 [" in cap.err and "calibration and model fit" in cap.err
    assert f"grid: {m[0]} -> {m[2]}" in cap.err
    tune_cascades(train, test, cascades=[(m[0], m[2])], methods=("grid",))      # library default: silent
    assert capsys.readouterr().err == ""


def test_exit_codes(tmp_path, capsys, monkeypatch):
    ptr, _, _ = _write_synthetic(tmp_path, 60, 60)
    with pytest.raises(SystemExit) as exc:                          # usage error: argparse, code 2
        main(["calibrate", str(ptr), "--format", "xml"])
    assert exc.value.code == 2
    capsys.readouterr()
    assert main(["calibrate", str(tmp_path / "missing.csv")]) == 2  # bad input: 2, one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.csv" in err and "Traceback" not in err

    import probcascade.calibration.calibrators as cal

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")
    monkeypatch.setattr(cal, "calibrate", boom)
    assert main(["calibrate", str(ptr)]) == 1                        # runtime failure: 1, one line, no traceback
    err = capsys.readouterr().err
    assert err == "probcascade: error: RuntimeError: disk on fire second line (run with -v for the traceback)\n"
    assert main(["calibrate", str(ptr), "-v"]) == 1                  # -v: the traceback too
    err = capsys.readouterr().err
    assert "Traceback" in err and "boom" in err


def test_progress_helper_is_silent_by_default_and_lazy(capsys):
    import subprocess
    import sys

    from probcascade.progress import bar, progress_enabled, resolve_progress

    assert resolve_progress(None) is False and resolve_progress(True) is True
    with progress_enabled(True):
        assert resolve_progress(None) is True and resolve_progress(False) is False
    assert resolve_progress(None) is False                          # the setting does not leak out of the block
    with bar(range(3), total=3, desc="x") as pb:                    # off: a silent stand-in with tqdm's methods
        assert list(pb) == [0, 1, 2]
        pb.set_postfix_str("stage")
        pb.update()
    assert capsys.readouterr().err == ""
    with bar(total=2, desc="visible", progress=True) as pb:
        pb.update(2)
    assert "visible" in capsys.readouterr().err
    code = ("import sys, probcascade.progress as p; b = p.bar(total=1); b.update(); "
            "assert 'tqdm' not in sys.modules, 'tqdm imported by a silent bar'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_gof_reports_each_test_on_the_bar(monkeypatch):
    """The gof bar counts the 2k - 1 bootstrapped tests (checked by recording the bar's updates, no bootstrap run)."""
    import probcascade.gof.report as rep

    seen = []

    class Recorder:
        def __init__(self, *a, total=None, **k):
            seen.append(("total", total))

        def set_postfix_str(self, s, *a, **k):
            seen.append(("stage", s.split(" (")[0]))

        def update(self, n=1):
            seen.append(("update", n))

        def close(self):
            seen.append(("close", None))

    class Stop(Exception):
        pass

    def stop(*a, **k):
        raise Stop
    monkeypatch.setattr(rep, "bar", Recorder)
    monkeypatch.setattr(rep, "marginal_gof", lambda *a, **k: None)
    monkeypatch.setattr(rep, "fit_copula", stop)
    from probcascade.data.synthetic import synthetic_train_test

    train, test = synthetic_train_test(60, 60, seed=1)
    with pytest.raises(Stop):
        rep.goodness_of_fit(train, test, n_boot=5)
    assert seen[0] == ("total", 2 * train.n_models - 1)
    assert [s for s in seen if s[0] == "update"] == [("update", 1)] * train.n_models
    assert seen[-1][1].startswith("copula of")
