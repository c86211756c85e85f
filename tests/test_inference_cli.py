"""inference/ from the shell: ``tiny-model``, ``extract``, Ctrl-C, resume.  Offline; skips without the llm extra
except under CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from inference_fixtures import need_llm, write_questions
from probcascade_inference.cli import main as inference_main

CLI = [sys.executable, "-m", "probcascade_inference.cli"]
# One intra-op thread everywhere: fast for a tiny model on a shared 2-core machine, and the in-process reference
# run below uses the same kernels as the subprocesses, so that the files can be compared byte for byte.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module", autouse=True)
def _llm():
    need_llm()


def run(args, **kw):
    return subprocess.run(CLI + args, check=False, capture_output=True, text=True, timeout=300, env=ENV, **kw)


def test_shell_tiny_model_extract_interrupt_and_resume(tmp_path):
    """`tiny-model DIR`, then `extract --model DIR,DIR ...` interrupted with SIGINT once rows appear, then run again:
    the same bytes as an uninterrupted run."""
    model = tmp_path / "tiny"
    res = run(["tiny-model", str(model)])
    assert res.returncode == 0, res.stderr
    assert (model / "config.json").is_file() and (model / "tokenizer.json").is_file()

    n_q = 30
    q = write_questions(tmp_path / "q.jsonl", n_q, "mc", seed=5)
    args = ["extract", "--model", f"{model},{model}", "--questions", str(q), "--task", "mc", "--batch-size", "2",
            "--signals", "mc-maxprob,sequence-prob,mean-token-entropy", "--price-in", "0.1", "--price-out", "0.1"]
    full = tmp_path / "full.csv"
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert inference_main(args + ["--out", str(full)]) == 0  # the uninterrupted reference, in-process
    finally:
        torch.set_num_threads(threads)
    reference = full.read_bytes()
    assert len(reference.splitlines()) == 1 + 2 * n_q

    part = tmp_path / "part.csv"
    # SIGINT at its default in the child: a test run started in the background by a non-interactive shell inherits
    # it ignored (as Ctrl-C is meant to be there), and the CLI rightly keeps it so
    proc = subprocess.Popen(CLI + args + ["--out", str(part)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if part.exists() and part.read_bytes().count(b"\n") >= 1 + 4:  # header + 2 batches
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err and "Traceback" not in err
    partial = part.read_bytes()
    assert partial.endswith(b"\n") and reference.startswith(partial)
    assert 1 + 4 <= partial.count(b"\n") < 1 + 2 * n_q

    res = run(args + ["--out", str(part)])
    assert res.returncode == 0, res.stderr
    assert part.read_bytes() == reference
