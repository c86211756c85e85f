"""Shared fixtures.

Tests that read the shared benchmark data skip with a visible reason when it is absent, except under CI
(``CI=true``), where its absence is a failure so that a green CI always means the real-data tests ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the CLI run in-process (tests/test_cli.py) must not write JAX's compilation cache into the user's cache folder;
# tests/test_startup.py checks the cache in subprocesses with their own environment
os.environ.setdefault("PROBCASCADE_NO_CACHE", "1")

SHARED = Path(
    os.environ.get("PROBCASCADE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "llm_cascades")
)
REFERENCE = SHARED.parent.parent / "reference"


def _need_shared() -> Path:
    if not (SHARED / "mmlu_llama_train.csv").exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"shared data missing at {SHARED}: CI requires the real-data tests to run")
        pytest.skip(f"shared data not found at {SHARED} (set PROBCASCADE_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need_shared()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    _need_shared()
    return REFERENCE
