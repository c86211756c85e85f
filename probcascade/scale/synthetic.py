"""Synthetic cascades of many models from the package's generative model, for scale-out tests and benchmarks.

:func:`many_model_spec` stretches a :class:`~probcascade.data.SyntheticCascadeSpec` (default: the embedded
5-model spec fitted on MMLU Llama) to ``k`` models: model ``j`` takes the marginal and calibrator of base model
``round(j (K - 1) / (k - 1))`` (so accuracy never decreases along the cascade and every base model appears), costs
grow geometrically from the cheapest to the most expensive base cost (strictly increasing), and each adjacent pair
keeps its base pair's cell table and Gumbel copula where it spans two neighbouring base models; a pair of two copies
of one base model gets the copula of the base pair next to it and the cell table of independent atoms (the outer
product of the two models' atom masses, consistent with both marginals).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from probcascade.data.synthetic import DEFAULT_SPEC, SyntheticCascadeSpec
from probcascade.exceptions import DataValidationError

__all__ = ["many_model_spec"]


def _cells(p) -> np.ndarray:
    w_lo, w_hi = float(p.w_lo), float(p.w_hi)
    return np.array([w_lo, 1.0 - w_lo - w_hi, w_hi])


def many_model_spec(k: int = 12, base: SyntheticCascadeSpec = DEFAULT_SPEC) -> SyntheticCascadeSpec:
    """A ``k``-model generator stretched from ``base`` (see the module docstring); models are named ``m01..mkk``."""
    K = base.k
    if K < 2 or k < K:
        raise DataValidationError(f"many_model_spec: need k >= {K} models (the base spec's) and a base of >= 2, got {k}")
    src = np.rint(np.arange(k) * (K - 1) / (k - 1)).astype(int)
    marg = tuple(base.marginals[i] for i in src)
    tables, fams, theta, tau = [], [], [], []
    for j in range(k - 1):
        a, b = src[j], src[j + 1]
        pair = min(a, K - 2)                     # the base pair a -> a + 1 (or the last one)
        fams.append(base.families[pair]); theta.append(base.theta[pair]); tau.append(base.tau[pair])
        tables.append(base.table[a] if b != a else np.outer(_cells(marg[j]), _cells(marg[j + 1])))
    width = len(str(k))
    return dataclasses.replace(
        base, models=tuple(f"m{j + 1:0{width}d}" for j in range(k)), marginals=marg, table=np.stack(tables),
        families=tuple(fams), theta=tuple(theta), tau=tuple(tau),
        b0=tuple(base.b0[i] for i in src), b1=tuple(base.b1[i] for i in src),
        cost_usd=tuple(np.geomspace(min(base.cost_usd), max(base.cost_usd), k).tolist()),
        cost_cv=tuple(base.cost_cv[i] for i in src),
        provenance={**base.provenance, "stretched_from": list(base.models), "base_index": src.tolist()})
