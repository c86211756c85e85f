"""Snapshot the CLI's machine-readable outputs on the shared data, and diff two snapshots.

Used to check that a refactoring changes no public behaviour: take a snapshot on the old commit, one on the new,
and diff them. Timing fields (``time_s``) are dropped; floats are compared to a relative tolerance.

    python benchmarks/cli_snapshot.py take OUT_DIR [--data ../shared/data/llm_cascades] [--repo .]
    python benchmarks/cli_snapshot.py diff OLD_DIR NEW_DIR [--rtol 1e-9]

``take`` runs each command in a fresh process from ``--repo`` (so the package of that checkout is imported).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LLAMA5 = "llama3.2-1b,llama3.2-3b,llama3.1-8b,llama3.1-70b,llama3.1-405b"

#: name -> CLI arguments ({d} is the data folder). Each prints JSON (or text, for the demo) on stdout.
COMMANDS = {
    "calibrate_mmlu": ["calibrate", "{d}/mmlu_llama_train.csv", "--test", "{d}/mmlu_llama_test.csv", "--format", "json"],
    "calibrate_truthfulqa_platt": ["calibrate", "{d}/truthfulqa_llama_train.csv", "--test",
                                   "{d}/truthfulqa_llama_test.csv", "--method", "platt", "--format", "json"],
    "calibrate_medmcqa_csv": ["calibrate", "{d}/medmcqa_qwen_oai_train.csv", "--format", "csv"],
    "tune_mmlu_k5": ["tune", "{d}/mmlu_llama_train.csv", "--test", "{d}/mmlu_llama_test.csv", "--cascade", LLAMA5,
                     "--baselines", "grid", "--format", "json"],
    "tune_medmcqa_aic_pairwise_gap": ["tune", "{d}/medmcqa_llama_train.csv", "--test", "{d}/medmcqa_llama_test.csv",
                                      "--cascade", "llama3.2-3b,llama3.1-8b,llama3.1-405b", "--copula", "aic",
                                      "--correctness", "pairwise", "--max-cost-gap", "0.02", "--format", "json"],
    "tune_truthfulqa_all": ["tune", "{d}/truthfulqa_llama_train.csv", "--test", "{d}/truthfulqa_llama_test.csv",
                            "--format", "json"],
    "gof_mmlu": ["gof", "{d}/mmlu_llama_train.csv", "--test", "{d}/mmlu_llama_test.csv", "--bootstrap", "20",
                 "--format", "json"],
    "demo": ["demo", "--n-train", "200", "--n-test", "400"],
}
DROP_KEYS = {"time_s"}


def take(out: Path, data: Path, repo: Path, only: list[str] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, args in COMMANDS.items():
        if only and name not in only:
            continue
        argv = [a.format(d=data) for a in args]
        code = "import sys; from probcascade.cli import main; sys.exit(main(sys.argv[1:]))"
        res = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"{name}: exit {res.returncode}\n{res.stderr[-2000:]}")
        (out / f"{name}.out").write_text(res.stdout)
        print(f"{name}: {len(res.stdout)} characters", flush=True)


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in DROP_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _compare(a, b, rtol: float, path: str, errors: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            errors.append(f"{path}: keys {sorted(set(a) ^ set(b))} differ")
        for k in set(a) & set(b):
            _compare(a[k], b[k], rtol, f"{path}.{k}", errors)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            errors.append(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, rtol, f"{path}[{i}]", errors)
    elif isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or not math.isclose(a, b, rel_tol=rtol, abs_tol=rtol):
            errors.append(f"{path}: {a!r} != {b!r}")
    elif a != b:
        errors.append(f"{path}: {a!r} != {b!r}")


def diff(old: Path, new: Path, rtol: float) -> int:
    bad = 0
    for f in sorted(old.glob("*.out")):
        g = new / f.name
        if not g.exists():
            print(f"{f.stem}: missing in {new}")
            bad += 1
            continue
        a, b = f.read_text(), g.read_text()
        try:
            ja, jb = json.loads(a), json.loads(b)
        except json.JSONDecodeError:
            same = [line for line in a.splitlines() if "time" not in line] == \
                   [line for line in b.splitlines() if "time" not in line]
            print(f"{f.stem}: text {'identical' if same else 'DIFFERS'}")
            bad += not same
            continue
        errors: list[str] = []
        _compare(_strip(ja), _strip(jb), rtol, f.stem, errors)
        print(f"{f.stem}: JSON {'identical' if not errors else f'{len(errors)} differences'}")
        for e in errors[:10]:
            print("   ", e)
        bad += bool(errors)
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("take")
    t.add_argument("out", type=Path)
    t.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "llm_cascades")
    t.add_argument("--repo", type=Path, default=ROOT)
    t.add_argument("--only", nargs="*")
    d = sub.add_parser("diff")
    d.add_argument("old", type=Path)
    d.add_argument("new", type=Path)
    d.add_argument("--rtol", type=float, default=1e-9)
    a = ap.parse_args()
    if a.cmd == "take":
        take(a.out, a.data.resolve(), a.repo.resolve(), a.only)
        return 0
    return diff(a.old, a.new, a.rtol)


if __name__ == "__main__":
    sys.exit(main())
