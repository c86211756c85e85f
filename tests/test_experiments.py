"""Smoke test of the experiment scripts: each runs by path (``python experiments/<script>.py``, as the README says), in
a subprocess, on tiny synthetic data drawn from the package's own model (``python experiments/common.py synthetic``:
files named and laid out like the shared benchmark data), with its quick options and ``--out`` in a temporary folder.
The test checks the exit status and that the expected result files exist and are non-empty; the numbers themselves are
the experiments' business (their results on the shared data are committed under ``experiments/results``).

The subprocesses share a JAX compilation cache inside the session's temporary folder, so a function that several
scripts compile with the same shapes (calibration, the marginal fits, the tuner) is compiled once per session.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
RESULTS = EXPERIMENTS / "results"
SHARED_MODULE = "common"                       # experiments/common.py: the helpers, not an experiment
TIMEOUT_S = 600

# script -> (extra arguments, files expected in --out). ``{out}`` in an argument is the output folder (for the two
# scripts whose --out is a file). Options shrink the work to seconds: see each script's docstring.
CASES = {
    "table7.py": (["--benchmarks", "mmlu", "--models", "3", "--restarts", "1", "--steps", "20"],
                  ["table7.csv", "table7.md", "table7_frontiers.png"]),
    "figure9_scaling.py": (["--quick", "--repeats", "1"],
                           ["figure9_scaling.csv", "figure9_scaling.md", "figure9_scaling.png"]),
    "elliptical_copulas.py": (["--benchmarks", "mmlu", "--models", "3"], ["elliptical_copulas.md", "elliptical_copulas.csv"]),
    "fit_demo_params.py": (["--out", "{out}/demo_mmlu_llama.json"], ["demo_mmlu_llama.json"]),
    "pairwise_correctness.py": ([], ["pairwise_correctness.csv", "pairwise_correctness.md"]),
    # reads the rational-tuning AUCs of the committed Table 7 (read only)
    "headroom.py": (["--table7", str(RESULTS / "table7.csv"), "--models", "4"], ["headroom.md"]),
    "copula_gof_calibration.py": (["--quick", "--n-boot", "20", "--size-boot", "20", "--n-rep", "4", "--n", "100"],
                                  ["copula_gof_calibration.md", "copula_gof_llama.md", "copula_gof_pairs.csv"]),
    "marginal_gof_calibration.py": (["--quick"], ["marginal_gof_calibration.md", "marginal_gof_llama.md"]),
    "ensemble_llama.py": (["--out", "{out}/ensemble_llama.md", "--trials", "0"], ["ensemble_llama.md"]),
    "routing_rejection.py": (["--n-boot", "50"], ["routing_rejection.md", "routing_rejection_risk_coverage.png"]),
    # the synthetic files have no 'subject' column: the script writes its report with a skip note per benchmark
    "capability_mmlu.py": ([], ["capability_mmlu.md"]),
    "guarantees_validity.py": (["--quick"], ["guarantees_validity.md", "guarantees_validity.csv"]),
    "abstention_llama.py": (["--benchmarks", "mmlu", "--steps", "20", "--restarts", "1", "--nus", "5", "--mc", "20000"],
                            ["abstention_llama.md", "abstention_llama.csv", "abstention_llama.png"]),
    # the study's tables beside the published values, and the entry point that runs them all (one part here)
    "table1.py": ([], ["table1.csv", "table1.md"]),
    "table2.py": ([], ["table2.csv", "table2.md"]),
    "table3.py": (["--benchmarks", "mmlu", "--models", "4"], ["table3.csv", "table3.md"]),
    "table4.py": (["--quick", "--n-boot", "10"], ["table4.csv", "table4.md", "table4_pairs.csv"]),
    "run_all.py": (["--quick", "--only", "table3"], ["README.md", "run_all_timings.csv", "table3.md"]),
    # probcascade tune's default options vs the study (issue 18): the 4 cascades of the first 3 models, RT and grid
    "defaults_check.py": (["--benchmarks", "mmlu", "--models", "3"], ["defaults.md", "defaults.csv"]),
    "posterior_convergence.py": (["--quick", "--benchmarks", "mmlu", "--models", "3"],
                                 ["posterior_convergence.md", "posterior_convergence.csv", "posterior_coverage.csv",
                                  "posterior_coverage.md"]),
    "posterior_coverage_synthetic.py": (["--quick"], ["posterior_coverage_synthetic.md",
                                                      "posterior_coverage_synthetic.csv"]),
    # issue 13, Bayesian vs plug-in tuning at n <= 30: two resamples of the 3-model cascade (two are needed for the
    # report's paired Wilcoxon test; each compiles its own NUTS program, ~40 s of CPU), a short NUTS run
    "bayes_lowsample.py": (["--quick", "--benchmarks", "mmlu", "--models", "3", "--resamples", "2"],
                           ["bayes_lowsample.md", "bayes_lowsample.csv"]),
}
# Over ~20 s of CPU even in their quickest form: most of it is XLA compiling the vectorised EM-in-bootstrap of the
# marginal test (marginal_gof_calibration) and, for ensemble_llama (owned elsewhere, no option to run one benchmark),
# the ensemble policy and the rational-tuning frontier on two benchmarks; guarantees_validity (about 55 s of CPU
# in --quick) fits, tunes and grid-searches the true model and a refit and compiles the vmapped test;
# abstention_llama (about 45 s of CPU on one benchmark) compiles both tuners and the model's sampler.
SLOW = {"marginal_gof_calibration.py", "ensemble_llama.py", "guarantees_validity.py", "abstention_llama.py",
        "posterior_convergence.py",   # posterior_convergence: one NUTS compilation (~30 s of CPU)
        "posterior_coverage_synthetic.py",  # one vmapped SVI + chain-evaluation compilation (~60 s of CPU)
        "defaults_check.py",          # about 30 s of CPU: the command's model fit, rational and grid compilations
        "bayes_lowsample.py"}         # about 140 s of CPU: a NUTS compilation per resample, both tuners' compilations


def _scripts() -> list[str]:
    return sorted(p.name for p in EXPERIMENTS.glob("*.py") if p.stem != SHARED_MODULE)


def _snapshot(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def _failure(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout (tail)\n{proc.stdout[-3000:]}\n--- stderr (tail)\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="session")
def script_env(tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax_cache")),
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "MPLBACKEND": "Agg"})
    return env


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, script_env) -> Path:
    """<benchmark>_<family>_{train,test}.csv for every file stem of the shared data (120 / 200 queries)."""
    folder = tmp_path_factory.mktemp("tiny_data")
    proc = _run([str(EXPERIMENTS / f"{SHARED_MODULE}.py"), "synthetic", str(folder), "--n-train", "120",
                 "--n-test", "200"], script_env)
    assert proc.returncode == 0, _failure(proc)
    assert {p.name for p in folder.glob("*.csv")} == {
        f"{b}_{g}_{s}.csv" for b, g in [("mmlu", "llama"), ("medmcqa", "llama"), ("truthfulqa", "llama"),
                                         ("mmlu", "qwen_oai"), ("medmcqa", "qwen_oai")] for s in ("train", "test")}
    return folder


def test_every_script_has_a_smoke_case():
    assert sorted(CASES) == _scripts(), "add the new experiment script to CASES (or remove the stale entry)"


def test_scripts_import_no_sibling_but_common():
    """Shared helpers live in experiments/common.py; no script imports another script or touches sys.path."""
    siblings = {p.stem for p in EXPERIMENTS.glob("*.py")}
    for name in _scripts() + [f"{SHARED_MODULE}.py"]:
        tree = ast.parse((EXPERIMENTS / name).read_text())
        for node in ast.walk(tree):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for mod in mods:
                top = mod.split(".")[0]
                assert top not in siblings - {SHARED_MODULE}, f"{name} imports the script {mod}"
        assert not any(isinstance(n, ast.Attribute) and n.attr == "path" and isinstance(n.value, ast.Name)
                       and n.value.id == "sys" for n in ast.walk(tree)), f"{name} uses sys.path"


@pytest.mark.parametrize("script", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s for s in CASES])
def test_script_runs_on_tiny_data(script, tiny_data, script_env, tmp_path):
    args, expected = CASES[script]
    out = tmp_path / "out"
    out.mkdir()
    argv = [str(EXPERIMENTS / script), "--data", str(tiny_data)]
    if not any(a.startswith("{out}") for a in args):
        argv += ["--out", str(out)]
    argv += [a.replace("{out}", str(out)) for a in args]
    before = _snapshot(RESULTS)
    proc = _run(argv, script_env)
    assert proc.returncode == 0, _failure(proc)
    for name in expected:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, f"{script} did not write {name}\n{_failure(proc)}"
    assert _snapshot(RESULTS) == before, f"{script} wrote to experiments/results during a test"
    if script == "fit_demo_params.py":
        params = json.loads((out / "demo_mmlu_llama.json").read_text())
        assert [m["name"] for m in params["models"]][0] == "llama3.2-1b" and len(params["pairs"]) == 4
