"""Embedded synthetic cascades: data for the demo and for tests that must run without the shared benchmarks.

The default generator is the package's own model, with parameters fitted once on the shared MMLU Llama training
split (285 queries, 5 models; ``experiments/fit_demo_params.py`` wrote them to
``probcascade/data/demo_mmlu_llama.json``):

1. calibrated confidences (Phi_1, ..., Phi_k) are drawn from the Markov-copula model
   (:func:`probcascade.joint.chain.sample_chain`): point-mass beta-mixture marginals on [lo, hi], exact 3 x 3 cell
   tables of neighbouring models and Gumbel copulas between their interiors;
2. correctness is Bernoulli(Phi), so Phi is calibrated by construction;
3. the raw log-probability inverts the stored logistic calibrator on the one-sided transform (eq. 16):
   xi = (logit(Phi) - b0) / b1 and log p = log(1 - exp(-xi)). The atoms map to the ends of the calibrator's training
   range (Phi = lo to xi_min, Phi = hi to xi_max; the MMLU Llama runs report no certainty, so every log-probability
   is finite, and log p = -inf only where xi = 0). Calibrating the generated data (logistic, one-sided) therefore
   recovers (b0, b1) and reproduces Phi;
4. per-query costs: each model's stored mean cost times a gamma "query length" factor with the model's stored
   coefficient of variation; one uniform per query drives every model's factor (a long query is long for all).

The draw is deterministic given ``seed``. :class:`SyntheticCascadeSpec` holds the parameters; build your own with
:meth:`SyntheticCascadeSpec.from_dict` / :meth:`~SyntheticCascadeSpec.from_json` (same layout as the embedded file) or
:func:`dataclasses.replace` on :data:`DEFAULT_SPEC`.

:func:`many_model_spec` stretches a spec (default: :data:`DEFAULT_SPEC`) to ``k`` models, for scale-out tests and
benchmarks (:mod:`probcascade.scale`): model ``j`` takes the marginal and calibrator of base model
``round(j (K - 1) / (k - 1))`` (so accuracy never decreases along the cascade and every base model appears), costs
grow geometrically from the cheapest to the most expensive base cost (strictly increasing), and each adjacent pair
keeps its base pair's cell table and Gumbel copula where it spans two neighbouring base models; a pair of two copies
of one base model gets the copula of the base pair next to it and the cell table of independent atoms (the outer
product of the two models' atom masses, consistent with both marginals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import special, stats
from probcascade.precision import x64
from probcascade.data.cascade import CascadeData
from probcascade.exceptions import DataValidationError
from probcascade.joint.model import stack_params
from probcascade.joint.chain import sample_chain
from probcascade.special import log1mexp
from probcascade.validation import check_int
from probcascade.distributions.marginal import MarginalParams, mean

__all__ = ["SyntheticCascadeSpec", "DEFAULT_SPEC", "DEMO_PARAMS_FILE", "load_spec", "make_synthetic_cascade", "many_model_spec",
           "synthetic_train_test"]

#: The embedded parameter file (package data).
DEMO_PARAMS_FILE = "demo_mmlu_llama.json"


@dataclass(frozen=True, eq=False)
class SyntheticCascadeSpec:
    """Parameters of the generator (one entry per model, cascade order; ``k - 1`` per adjacent pair).

    Attributes
    ----------
    models : model names.
    marginals : point-mass beta mixture of each model's calibrated confidence (:class:`~probcascade.distributions.marginal.MarginalParams`).
    table : (k-1, 3, 3) cell tables P(cell_i = r, cell_{i+1} = c) (cells: atom at lo, interior, atom at hi).
    families, theta, tau : copula family, parameter and Kendall's tau of each adjacent pair's interiors.
    b0, b1 : logistic calibrator phi = sigmoid(b0 + b1 xi) on the one-sided transform xi = -log(1 - p).
    cost_usd, cost_cv : mean per-query cost (USD) and its coefficient of variation.
    provenance : where the numbers come from.
    """

    models: tuple[str, ...]
    marginals: tuple[MarginalParams, ...]
    table: np.ndarray
    families: tuple[str, ...]
    theta: tuple[float, ...]
    tau: tuple[float, ...]
    b0: tuple[float, ...]
    b1: tuple[float, ...]
    cost_usd: tuple[float, ...]
    cost_cv: tuple[float, ...]
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.models)
        per_model = {"marginals": self.marginals, "b0": self.b0, "b1": self.b1, "cost_usd": self.cost_usd,
                     "cost_cv": self.cost_cv}
        per_pair = {"families": self.families, "theta": self.theta, "tau": self.tau, "table": self.table}
        bad = [f"{n} ({len(v)})" for n, v in per_model.items() if len(v) != k]
        bad += [f"{n} ({len(v)})" for n, v in per_pair.items() if len(v) != k - 1]
        if k < 1 or bad:
            raise DataValidationError(f"synthetic spec for {k} models: wrong number of entries in {', '.join(bad)}")
        if np.shape(self.table) != (k - 1, 3, 3):
            raise DataValidationError(f"synthetic spec: table must have shape ({k - 1}, 3, 3), got {np.shape(self.table)}")
        if any(b == 0 for b in self.b1):
            raise DataValidationError("synthetic spec: a calibrator slope b1 of 0 cannot be inverted")

    @property
    def k(self) -> int:
        return len(self.models)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, d: dict) -> "SyntheticCascadeSpec":
        """From the layout of ``demo_mmlu_llama.json`` (see ``experiments/fit_demo_params.py``)."""
        try:
            ms, ps = d["models"], d["pairs"]
            marg = tuple(MarginalParams(**{f: np.asarray(m["marginal"][f], dtype=np.float64)
                                               for f in MarginalParams._fields}) for m in ms)
            return cls(
                models=tuple(m["name"] for m in ms), marginals=marg,
                table=np.asarray([p["table"] for p in ps], dtype=np.float64).reshape(len(ps), 3, 3),
                families=tuple(p["family"] for p in ps), theta=tuple(float(p["theta"]) for p in ps),
                tau=tuple(float(p["tau"]) for p in ps),
                b0=tuple(float(m["calibrator"]["b0"]) for m in ms), b1=tuple(float(m["calibrator"]["b1"]) for m in ms),
                cost_usd=tuple(float(m["cost_usd"]) for m in ms), cost_cv=tuple(float(m["cost_cv"]) for m in ms),
                provenance=dict(d.get("provenance", {})),
            )
        except (KeyError, TypeError) as exc:
            raise DataValidationError(f"synthetic spec: malformed parameter dict ({exc!r})") from exc

    @classmethod
    def from_json(cls, path: str | Path) -> "SyntheticCascadeSpec":
        return cls.from_dict(json.loads(Path(path).read_text()))

    # ------------------------------------------------------------------ derived quantities
    def marginal_params(self) -> MarginalParams:
        """The marginals stacked over models (padded to a common number of beta components)."""
        return stack_params(self.marginals)

    @x64
    def mean_confidence(self) -> np.ndarray:
        """E[Phi_i] per model: the expected accuracy of each model under the generator."""
        return np.array([float(mean(MarginalParams(*map(jnp.asarray, p)))) for p in self.marginals])

    def xi_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(xi at lo, xi at hi) per model: the range of the one-sided transform the calibrator implies."""
        lo = np.array([float(p.lo) for p in self.marginals])
        hi = np.array([float(p.hi) for p in self.marginals])
        return self._xi(lo), self._xi(hi)

    def _xi(self, phi: np.ndarray) -> np.ndarray:
        return (special.logit(phi) - np.asarray(self.b0)) / np.asarray(self.b1)

    def calibrated(self, logprob: np.ndarray) -> np.ndarray:
        """The stored calibrator applied to raw log-probabilities (n, k): sigmoid(b0 + b1 xi), xi clipped to its range."""
        a, b = self.xi_range()
        xi = np.clip(-log1mexp(np.asarray(logprob, dtype=np.float64)), np.minimum(a, b), np.maximum(a, b))
        return special.expit(np.asarray(self.b0) + np.asarray(self.b1) * xi)


def load_spec(path: str | Path | None = None) -> SyntheticCascadeSpec:
    """A spec from a JSON file, by default the embedded MMLU Llama parameters."""
    if path is not None:
        return SyntheticCascadeSpec.from_json(path)
    text = resources.files(__package__).joinpath(DEMO_PARAMS_FILE).read_text()
    return SyntheticCascadeSpec.from_dict(json.loads(text))


#: The package's model fitted on the shared MMLU Llama training split (see the module docstring).
DEFAULT_SPEC = load_spec()

_sample = jax.jit(sample_chain, static_argnums=(3, 5))


#: Queries per call of the compiled sampler: every sample size reuses one compilation (draws are made in chunks).
#: A fixed chunk, not validation.padded_size: chunk c draws with key fold_in(seed, c), so the chunk size is part of
#: the random stream; a size that depended on n would change every draw and break the prefix property below.
_CHUNK = 4096


@x64
def _sample_phi(spec: SyntheticCascadeSpec, n: int, seed: int) -> np.ndarray:
    """Calibrated confidences (n, k) from the chain, in chunks of ``_CHUNK`` queries (chunk c uses key fold_in(seed, c)).

    A draw of n queries is the first n rows of any larger draw with the same seed.
    """
    args = (spec.marginal_params(), np.asarray(spec.table, dtype=np.float64), np.asarray(spec.theta, dtype=np.float64),
            tuple(spec.families))
    key = jax.random.PRNGKey(seed)
    chunks = [np.asarray(_sample(*args, jax.random.fold_in(key, c), _CHUNK)) for c in range(-(-n // _CHUNK))]
    return np.concatenate(chunks)[:n]


def _draw(n: int, seed: int, spec: SyntheticCascadeSpec) -> dict[str, np.ndarray]:
    """One draw: calibrated confidence ``phi``, ``correct``, ``logprob`` and ``cost``, each (n, k)."""
    check_int(n, "n", low=1, note="the number of queries")
    check_int(seed, "seed", low=0)
    phi = _sample_phi(spec, int(n), int(seed))
    rng = np.random.default_rng(seed)
    correct = (rng.random(phi.shape) < phi).astype(np.int64)
    xi_lo, xi_hi = spec.xi_range()
    lo = np.array([float(p.lo) for p in spec.marginals])
    hi = np.array([float(p.hi) for p in spec.marginals])
    with np.errstate(divide="ignore"):
        xi = np.where(phi <= lo, xi_lo, np.where(phi >= hi, xi_hi, spec._xi(phi)))
    xi = np.maximum(xi, 0.0)                   # the one-sided transform is non-negative (xi = 0 is log p = -inf)
    logprob = np.minimum(log1mexp(-xi), 0.0)
    cv = np.asarray(spec.cost_cv, dtype=np.float64)
    shape = 1.0 / np.maximum(cv, 1e-6) ** 2
    u = rng.uniform(1e-12, 1.0 - 1e-12, size=n)
    length = stats.gamma.ppf(u[:, None], shape[None, :]) / shape[None, :]   # mean 1, CV cv, comonotone over models
    length = np.where(cv[None, :] > 0, length, 1.0)
    cost = length * np.asarray(spec.cost_usd)[None, :]
    return {"phi": phi, "correct": correct, "logprob": logprob, "cost": cost}


def make_synthetic_cascade(n: int = 1000, seed: int = 0, spec: SyntheticCascadeSpec = DEFAULT_SPEC,
                           name: str = "synthetic") -> CascadeData:
    """Draw ``n`` queries from the generator (deterministic given ``seed``); returns validated :class:`CascadeData`."""
    d = _draw(n, seed, spec)
    k = spec.k
    frame = pd.DataFrame(
        {
            "query": np.repeat(np.arange(n), k),
            "model": np.tile(np.array(spec.models, dtype=object), n),
            "model_rank": np.tile(np.arange(k), n),
            "raw_logprob": d["logprob"].ravel(),
            "correct": d["correct"].ravel(),
            "cost_usd": d["cost"].ravel(),
        }
    )
    return CascadeData.from_frame(frame, name=name)


def synthetic_train_test(n_train: int = 300, n_test: int = 1000, seed: int = 0,
                         spec: SyntheticCascadeSpec = DEFAULT_SPEC) -> tuple[CascadeData, CascadeData]:
    """Independent train and test draws (the study's split sizes by default)."""
    check_int(n_train, "n_train", low=1, note="the number of queries")
    check_int(n_test, "n_test", low=1, note="the number of queries")
    check_int(seed, "seed", low=0)
    return (make_synthetic_cascade(n_train, seed, spec, "synthetic_train"),
            make_synthetic_cascade(n_test, seed + 10_000, spec, "synthetic_test"))


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
    return replace(
        base, models=tuple(f"m{j + 1:0{width}d}" for j in range(k)), marginals=marg, table=np.stack(tables),
        families=tuple(fams), theta=tuple(theta), tau=tuple(tau),
        b0=tuple(base.b0[i] for i in src), b1=tuple(base.b1[i] for i in src),
        cost_usd=tuple(np.geomspace(min(base.cost_usd), max(base.cost_usd), k).tolist()),
        cost_cv=tuple(base.cost_cv[i] for i in src),
        provenance={**base.provenance, "stretched_from": list(base.models), "base_index": src.tolist()})
