"""Start-up and the compilation cache of the command line, each in a fresh interpreter.

``--help``, ``SUBCOMMAND --help`` and usage errors must not import JAX (issue 18: a new user's first minute); a command
fills JAX's persistent compilation cache in ``PROBCASCADE_CACHE_DIR`` unless ``PROBCASCADE_NO_CACHE=1``. Start-up
time itself is measured, not asserted (README, "Start-up and the compilation cache").
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("jax", "jaxlib", "numpyro", "optax", "pandas", "scipy", "torch")

# run the CLI like `python -m probcascade ARGS`, then report which heavy modules got imported
_PROBE = """
import sys
from probcascade.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules))
sys.exit(code)
""".format(heavy=HEAVY)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PROBCASCADE_NO_CACHE", "PROBCASCADE_CACHE_DIR")}
    env.update(extra)
    return env


def _probe(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=_env(),
                          timeout=120)
    heavy = [line for line in proc.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy, (proc.stdout, proc.stderr)
    return proc.returncode, heavy[-1][len("HEAVY="):], proc.stdout + proc.stderr


@pytest.mark.parametrize("args, code", [
    (("--help",), 0),
    (("--version",), 0),
    (("tune", "--help"), 0),
    (("calibrate", "--help"), 0),
    (("tune",), 2),                                                   # missing TRAIN
    (("tune", "train.csv", "--baselines", "nope"), 2),                # a tuner name checked against the registry
    (("calibrate", "train.csv", "--method", "nope"), 2),
    (("route", "--help"), 0),                                         # the analysis commands (issue 16)
    (("capability", "train.csv", "--test", "test.csv"), 2),           # missing --group
    (("nope",), 2),
])
def test_help_and_usage_errors_do_not_import_jax(args, code):
    rc, heavy, out = _probe(*args)
    assert rc == code, out
    assert heavy == "", f"{' '.join(args)} imported {heavy}"


def test_python_dash_m_help_does_not_import_jax():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "probcascade", "--help"], capture_output=True,
                          text=True, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: probcascade" in proc.stdout
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"jax", "pandas", "scipy"}, sorted(imported & set(HEAVY))


def test_import_probcascade_is_light_and_lazy():
    code = ("import sys, probcascade; assert 'jax' not in sys.modules, 'import probcascade loaded jax'; "
            "assert set(probcascade.__all__) <= set(dir(probcascade)); "
            "from probcascade import tune, CascadeData, enable_compilation_cache; import jax; "
            "assert jax.config.jax_compilation_cache_dir is None, 'import changed the global JAX config'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_registered_tuner_becomes_a_baselines_choice():
    code = """
import sys
from probcascade.tuning.base import register_tuner
class Mine:
    name = "mine"
    needs_model = False
    def frontier(self, problem, options):
        raise NotImplementedError
register_tuner(Mine())
from probcascade.cli import build_parser
args = build_parser().parse_args(["tune", "train.csv", "--baselines", "grid,mine"])
assert args.baselines == "grid,mine"
assert "jax" not in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr


def _entries(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _tiny_csv(folder) -> str:
    """A 2-model, 80-query cascade from the package's generative model, written as the tidy CSV the CLI reads
    (outside the working directory of the runs below)."""
    from probcascade import make_synthetic_cascade

    d = make_synthetic_cascade(80, seed=0)
    path = folder / "tiny.csv"
    d.subset(d.models[:2]).to_frame().to_csv(path, index=False)
    return str(path)


# a small command that still calibrates, fits and tunes (the demo compiles the same programs at more cost)
def _tune_args(tmp_path) -> tuple[str, ...]:
    data = tmp_path.parent / f"{tmp_path.name}_data"
    data.mkdir(exist_ok=True)
    return ("tune", _tiny_csv(data), "-q", "--format", "json")


def test_cli_fills_the_compilation_cache(tmp_path):
    cache = tmp_path / "cache"
    env = _env(PROBCASCADE_CACHE_DIR=str(cache))
    args = _tune_args(tmp_path)
    for run in range(2):
        proc = subprocess.run([sys.executable, "-m", "probcascade", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=600)
        assert proc.returncode == 0, proc.stderr
        n = len(_entries(cache))
        assert n > 0, f"run {run + 1}: no entries in {cache}"
        if run == 0:
            first = n
    assert n >= first
    # the traced tuning programs are kept too (jax.export), once: the second run found and reused them
    assert len(list((cache / "exported").glob("tune_solve-*.jaxexport"))) >= 1
    assert n == first, "the second run traced and wrote programs the first had kept"
    # nothing written into the working directory besides the cache folder itself
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_no_cache_leaves_the_folder_empty(tmp_path):
    cache = tmp_path / "cache"
    env = _env(PROBCASCADE_CACHE_DIR=str(cache), PROBCASCADE_NO_CACHE="1")
    proc = subprocess.run([sys.executable, "-m", "probcascade", *_tune_args(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert _entries(cache) == []


def test_enable_compilation_cache_paths(tmp_path, monkeypatch):
    from probcascade.compilation_cache import cache_disabled, default_cache_dir

    monkeypatch.delenv("PROBCASCADE_CACHE_DIR", raising=False)
    monkeypatch.delenv("PROBCASCADE_NO_CACHE", raising=False)
    from platformdirs import user_cache_dir

    assert default_cache_dir() == __import__("pathlib").Path(user_cache_dir("probcascade")) / "jax"
    assert not cache_disabled()
    monkeypatch.setenv("PROBCASCADE_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    for off in ("1", "true", "yes"):
        monkeypatch.setenv("PROBCASCADE_NO_CACHE", off)
        assert cache_disabled()
    monkeypatch.setenv("PROBCASCADE_NO_CACHE", "0")
    assert not cache_disabled()


_EXPORT_SCRIPT = """
import json, sys
import jax, jax.numpy as jnp
from probcascade.compilation_cache import cached_program, enable_compilation_cache
if sys.argv[1] != "off":
    enable_compilation_cache(sys.argv[1])
traces = []

@jax.jit
def f(x, y):
    traces.append(1)            # runs only while JAX traces f
    return x * 2.0 + y.sum(), jnp.sin(x)

out = cached_program("probe", f, ("static",), jnp.arange(3.0), jnp.ones((2, 2)))
print(json.dumps({"traces": len(traces), "out": [[float(v) for v in o] for o in out]}))
"""


def test_exported_programs_skip_tracing_in_a_new_process(tmp_path):
    """cached_program: the first process traces and exports; a second one loads the program and never traces;
    an unreadable entry is exported again; the results equal the plain jit call's."""
    cache = tmp_path / "cache"

    def run(arg):
        proc = subprocess.run([sys.executable, "-c", _EXPORT_SCRIPT, arg], capture_output=True, text=True,
                              env=_env(), cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return __import__("json").loads(proc.stdout.strip().splitlines()[-1])

    plain = run("off")
    first = run(str(cache))
    entries = list((cache / "exported").glob("probe-*.jaxexport"))
    assert len(entries) == 1 and first["traces"] >= 1
    second = run(str(cache))
    assert second["traces"] == 0
    entries[0].write_bytes(entries[0].read_bytes()[:50])          # a truncated entry (an interrupted writer)
    third = run(str(cache))
    assert third["traces"] >= 1 and entries[0].stat().st_size > 50
    assert plain["out"] == first["out"] == second["out"] == third["out"]
