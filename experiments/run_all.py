"""Regenerate the study's Tables 1-8 and Figure 9 on the shared data in one command, each beside its published values.

Runs the experiment scripts below one after the other, each by path in its own process (as the README runs them),
records each part's wall time, CPU time (user + system of the child process: what the part costs whatever else the
machine is doing) and the load average when it started, and writes ``README.md`` to ``--out``: an index with each
part's files, its ``Comparison:`` line (ours vs the published values, from the part's report) and its run time.
Timings of every part run so far are kept in ``run_all_timings.csv``, so that ``--only`` refreshes some rows of the
index and keeps the others.

=========  ====================================================  =============================================
part       script (options)                                      report
=========  ====================================================  =============================================
table1     table1.py                                             table1.md
table2     table2.py                                             table2.md
table3     table3.py                                             table3.md
table4     table4.py (B = 1000)                                  table4.md
table5_6   marginal_gof_calibration.py --part llama (B = 1000)   marginal_gof_llama.md
table7     table7.py                                             table7.md
table8     table7.py --low-sample                                table7_lowsample.md
figure9    figure9_scaling.py                                    figure9_scaling.md
=========  ====================================================  =============================================

    python experiments/run_all.py [--data ../shared/data/llm_cascades] [--out experiments/results]
                                  [--only table1 table4 ...] [--quick]

The full run took 21.9 minutes of wall time and 17.0 CPU-minutes on this 2-core machine (2026-12-03; Tables 1-6 on
an idle machine, Tables 7-8 and Figure 9 at load 2-5; ``README.md`` in the results folder has the times per part).
``--quick`` (smoke test) runs every part with its smoke-test options (few bootstrap draws, one benchmark, few models)
and, unless ``--out`` is given, writes to a temporary folder rather than over the committed results.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from common import RESULTS, command_line, experiment_parser

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Part:
    title: str
    script: str
    report: str
    args: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)
    outputs: tuple[str, ...] = ()
    published: str = ""


QUICK_TABLE7 = ["--benchmarks", "mmlu", "--models", "3", "--restarts", "1", "--steps", "20"]
PARTS = {
    "table1": Part("Table 1: %Corr, %ECE, %Cert per model", "table1.py", "table1.md", outputs=("table1.csv",),
                   published="reference `paper_table1.csv`"),
    "table2": Part("Table 2: ECE with and without the transform", "table2.py", "table2.md", outputs=("table2.csv",),
                   published="seed's Table 2 (text)"),
    "table3": Part("Table 3: Markov property, logistic regressions", "table3.py", "table3.md",
                   quick=["--benchmarks", "mmlu", "--models", "4"], outputs=("table3.csv",),
                   published="seed's Table 3 (text)"),
    "table4": Part("Table 4: Gumbel copula goodness of fit", "table4.py", "table4.md",
                   quick=["--quick", "--n-boot", "10"], outputs=("table4.csv", "table4_pairs.csv"),
                   published="seed's Table 4 (text)"),
    "table5_6": Part("Tables 5 and 6: marginal goodness of fit (Llama)", "marginal_gof_calibration.py",
                     "marginal_gof_llama.md", args=["--part", "llama"], quick=["--part", "llama", "--quick"],
                     outputs=("marginal_gof_llama.csv",), published="reference `paper_table5_llama.csv`"),
    "table7": Part("Table 7: test AUC, n ~ 300", "table7.py", "table7.md", quick=QUICK_TABLE7,
                   outputs=("table7.csv", "table7_frontiers.png"),
                   published="reference `paper_cascade_auc_llama.csv`"),
    "table8": Part("Table 8: test AUC, n <= 30", "table7.py", "table7_lowsample.md", args=["--low-sample"],
                   quick=["--low-sample", *QUICK_TABLE7], outputs=("table7_lowsample.csv", "table7_lowsample_frontiers.png"),
                   published="seed's Table 8 (text, all model families)"),
    "figure9": Part("Figure 9: runtime scaling", "figure9_scaling.py", "figure9_scaling.md",
                    quick=["--quick", "--repeats", "1"], outputs=("figure9_scaling.csv", "figure9_scaling.png"),
                    published="reference `time_s` (the study's machine); the figure itself has no numbers"),
}
TIMINGS = "run_all_timings.csv"


def run_part(name: str, part: Part, data: Path, out: Path, quick: bool) -> dict:
    """Run one part in a child process; its wall and CPU time, the load when it started, and how it ended."""
    argv = [str(HERE / part.script), "--data", str(data), "--out", str(out), *(part.quick if quick else part.args)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    print(f"[run_all] {name}: {command_line(part.script, argv[1:])}", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    print(f"[run_all] {name}: {status}, {wall:.0f} s wall, {cpu:.0f} s CPU, load {load:.1f} at start",
          file=sys.stderr, flush=True)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
    return {"part": name, "command": command_line(part.script, [a for a in argv[1:] if a not in (str(data), str(out))
                                                                 and a not in ("--data", "--out")]),
            "status": status, "wall_s": wall, "cpu_s": cpu, "load_at_start": load, "quick": quick,
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def comparison_line(report: Path) -> str:
    """The ``Comparison:`` line of a part's report (without the label), or a pointer to the report."""
    if not report.exists():
        return "not run yet"
    for line in report.read_text().splitlines():
        if line.startswith("Comparison:"):
            return line.removeprefix("Comparison:").strip().replace("|", "\\|")   # a table cell
    return f"see `{report.name}`"


def write_index(out: Path, timings: pd.DataFrame, data: Path) -> str:
    """``README.md`` of the results folder: one row per part, then the total."""
    lines = ["# The study's tables on the shared data: index", "",
             "Made by `python experiments/run_all.py` (one command for every part; `--only PART ...` reruns some). "
             f"Data: `{data.name}` (the shared data folder); the published values come from `../shared/reference/` "
             "or, where it has no file, from the seed's text, and sit beside ours in every report.", "",
             "Times: `wall` is the part's elapsed time, `CPU` its user + system CPU time (both cores count), `load` the "
             "machine's 1-minute load average when it started. Other sessions shared this 2-core machine, so the "
             "wall times are upper bounds; on an idle machine a part takes about max(CPU / 2, CPU / its parallelism).",
             "", "| part | published values | ours vs published | report, data | wall (s) | CPU (s) | load | run |",
             "|---|---|---|---|---|---|---|---|"]
    done = timings.set_index("part")
    for name, part in PARTS.items():
        files = ", ".join(f"`{f}`" for f in (part.report, *part.outputs))
        if name in done.index:
            t = done.loc[name]
            when = f"{t.status}, {t.finished}" + (" (quick)" if bool(t.quick) else "")
            cells = f"{t.wall_s:.0f} | {t.cpu_s:.0f} | {t.load_at_start:.1f} | {when}"
        else:
            cells = "- | - | - | not run"
        lines.append(f"| {part.title} | {part.published} | {comparison_line(out / part.report)} | {files} | {cells} |")
    total = timings[timings.part.isin(list(PARTS))]
    lines += ["", f"Total: {total.wall_s.sum() / 60:.1f} min wall, {total.cpu_s.sum() / 60:.1f} min CPU over "
              f"{len(total)} parts; machine: {platform.machine()}, {os.cpu_count()} cores. Commands per part: "
              f"`{TIMINGS}`.", ""]
    text = "\n".join(lines)
    (out / "README.md").write_text(text)
    return text


def main() -> int:
    ap = experiment_parser(__doc__)
    ap.add_argument("--only", nargs="+", choices=list(PARTS), metavar="PART",
                    help=f"run only these parts (of {', '.join(PARTS)}); the index keeps the others' last timings")
    ap.add_argument("--quick", action="store_true",
                    help="smoke-test options for every part; without --out, writes to a temporary folder")
    args = ap.parse_args()
    if args.quick and args.out == RESULTS:
        args.out = Path(tempfile.gettempdir()) / "probcascade_run_all_quick"
        print(f"[run_all] --quick: writing to {args.out}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only or PARTS:        # the index is rewritten after every part: an interrupted run keeps its rows
        rows.append(run_part(name, PARTS[name], args.data, args.out, args.quick))
        index = write_index(args.out, record(args.out / TIMINGS, rows[-1]), args.data)
    print(index)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def record(path: Path, row: dict) -> pd.DataFrame:
    """Replace ``row["part"]``'s row of the timings file (in :data:`PARTS` order) and return the table."""
    old = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(row))
    timings = pd.concat([old[old.part != row["part"]], pd.DataFrame([row])], ignore_index=True)
    timings = timings.set_index("part").reindex([p for p in PARTS if p in set(timings.part)]).reset_index()
    timings.to_csv(path, index=False)
    return timings


if __name__ == "__main__":
    raise SystemExit(main())
