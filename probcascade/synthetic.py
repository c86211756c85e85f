"""Embedded synthetic cascades: data for the demo and for tests that must run without the shared benchmarks.

The generator is a Markov chain over calibrated confidences: a latent Gaussian AR(1) chain z_1 -> ... -> z_k
(a Gaussian copula between neighbours, so the chain is Markov as the study assumes), pushed through each model's
scaled-beta marginal on [lo, hi]; correctness is Bernoulli(phi) (so phi is calibrated by construction), and the raw
log-probability is obtained by inverting a logistic calibrator on the one-sided transform,
xi = (logit(phi) - b0) / b1 and log p = log(1 - exp(-xi)). The default parameters mimic the shared MMLU Llama cascade
(accuracies 0.42-0.85, neighbour rank correlations 0.3-0.6, per-query costs at the README's prices).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats

from .data import CascadeData
from .transforms import log1mexp

__all__ = ["SyntheticCascadeSpec", "DEFAULT_SPEC", "make_synthetic_cascade", "synthetic_train_test"]


@dataclass(frozen=True)
class SyntheticCascadeSpec:
    """Parameters of the synthetic generator (one entry per model, cascade order)."""

    models: tuple[str, ...]
    alpha: tuple[float, ...]          # beta shape of calibrated confidence on [lo, hi]
    beta: tuple[float, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    rho: tuple[float, ...]            # latent correlation between model i and i+1 (k-1 values)
    b0: tuple[float, ...]             # logistic calibrator on the one-sided transform (intercept, slope)
    b1: tuple[float, ...]
    cost_usd: tuple[float, ...]       # mean per-query cost
    cost_cv: float = 0.15             # coefficient of variation of per-query cost (query length)
    extra: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.models)


DEFAULT_SPEC = SyntheticCascadeSpec(
    models=("llama3.2-1b", "llama3.2-3b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b"),
    alpha=(2.2, 2.0, 1.6, 1.3, 1.2),
    beta=(2.8, 1.5, 1.0, 0.45, 0.35),
    lo=(0.12, 0.10, 0.10, 0.12, 0.15),
    hi=(0.80, 0.90, 0.93, 0.97, 0.98),
    rho=(0.55, 0.65, 0.7, 0.75),
    b0=(-2.0, -1.6, -1.2, -1.0, -0.8),
    b1=(1.4, 1.0, 0.7, 0.45, 0.38),
    cost_usd=(1.45e-5, 1.45e-5, 2.9e-5, 1.3e-4, 4.35e-4),
)


def make_synthetic_cascade(n: int = 1000, seed: int = 0, spec: SyntheticCascadeSpec = DEFAULT_SPEC,
                           name: str = "synthetic") -> CascadeData:
    """Draw ``n`` queries from the synthetic generator; returns validated :class:`CascadeData`."""
    rng = np.random.default_rng(seed)
    k = spec.k
    z = np.empty((n, k))
    z[:, 0] = rng.standard_normal(n)
    for i in range(1, k):
        r = spec.rho[i - 1]
        z[:, i] = r * z[:, i - 1] + np.sqrt(1 - r * r) * rng.standard_normal(n)
    u = stats.norm.cdf(z)
    lo, hi = np.asarray(spec.lo), np.asarray(spec.hi)
    phi = lo + (hi - lo) * stats.beta.ppf(u, np.asarray(spec.alpha), np.asarray(spec.beta))
    correct = (rng.random((n, k)) < phi).astype(int)
    xi = (special.logit(phi) - np.asarray(spec.b0)) / np.asarray(spec.b1)
    xi = np.maximum(xi, 1e-6)  # the one-sided transform is non-negative
    logprob = log1mexp(-xi)
    cv = spec.cost_cv
    shape = 1.0 / cv**2
    length = rng.gamma(shape, 1.0 / shape, size=n)  # a query's length scales every model's cost alike
    cost = length[:, None] * np.asarray(spec.cost_usd)[None, :]
    frame = pd.DataFrame(
        {
            "query": np.repeat(np.arange(n), k),
            "model": np.tile(np.array(spec.models, dtype=object), n),
            "model_rank": np.tile(np.arange(k), n),
            "raw_logprob": logprob.ravel(),
            "correct": correct.ravel(),
            "cost_usd": cost.ravel(),
        }
    )
    return CascadeData.from_frame(frame, name=name)


def synthetic_train_test(n_train: int = 300, n_test: int = 1000, seed: int = 0,
                         spec: SyntheticCascadeSpec = DEFAULT_SPEC) -> tuple[CascadeData, CascadeData]:
    """Independent train and test draws (the study's split sizes by default)."""
    return (make_synthetic_cascade(n_train, seed, spec, "synthetic_train"),
            make_synthetic_cascade(n_test, seed + 10_000, spec, "synthetic_test"))
