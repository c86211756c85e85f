"""The posterior of a cascade as an ``arviz.InferenceData`` (posterior, sample_stats, observed_data) and its report.

:class:`PosteriorResult` keeps the ``InferenceData`` (``.idata``; ``az.plot_trace(result.idata)`` and
``az.plot_posterior`` work on it), the data it conditioned on and the priors. ``summary()`` is a
:class:`~probcascade.summary.Summary` of every parameter's mean, sd, 94 % HDI (``hdi_3%``, ``hdi_97%``), R-hat and
bulk/tail ESS (``arviz.summary``) with the number of divergences, and warns when R-hat > 1.01, bulk ESS < 400 or
any transition diverged. ``to_netcdf``/``from_netcdf`` save and load it (the observed data and attributes carry
everything needed to rebuild the result). ``marginal_draws()`` and friends hand the draws to the posterior
predictive (:mod:`probcascade.posterior.predictive`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from probcascade.distributions.marginal import MarginalParams
from probcascade.exceptions import DataValidationError
from probcascade.posterior.models import Priors, PosteriorData, data_from_phi
from probcascade.summary import Summary

__all__ = ["PosteriorResult", "dims_of", "RHAT_MAX", "ESS_MIN", "REPORTED"]

#: Convergence thresholds of the warnings (Vehtari et al. 2021).
RHAT_MAX, ESS_MIN = 1.01, 400
#: Parameters shown by ``summary()`` and the CLI (the sampled auxiliaries calib_std, z_ordered, z_free are left out).
REPORTED = ("calib_coef", "weights", "alpha", "beta", "mix", "kappa", "tau", "theta", "cell", "corr_coef")

_DIMS = {"calib_std": ["model", "term"], "calib_coef": ["model", "term"], "weights": ["model", "weight"],
         "logit_mu": ["model", "component"], "z_ordered": ["model", "component"], "z_free": ["model", "component"],
         "kappa": ["model", "component"], "alpha": ["model", "component"],
         "beta": ["model", "component"], "mix": ["model", "component"], "tau": ["link"], "theta": ["link"],
         "cell": ["link", "cell_rc"], "corr_coef": ["link", "coef"]}


def dims_of(posterior: dict, data: PosteriorData) -> dict:
    """ArviZ dims of the posterior's variables (per-link ``tau_i`` scalars have none)."""
    return {k: v for k, v in _DIMS.items() if k in posterior}


@dataclass(eq=False)
class PosteriorResult:
    """Posterior draws of a cascade's parameters (see :func:`~probcascade.posterior.fit.fit_posterior`)."""

    idata: az.InferenceData
    data: PosteriorData
    priors: Priors

    # ------------------------------------------------------------------------------------------ basic facts
    @property
    def models(self) -> tuple[str, ...]:
        return self.data.models

    @property
    def method(self) -> str:
        return str(self.idata.posterior.attrs.get("method", ""))

    @property
    def n_draws(self) -> int:
        """Total draws (chains x draws per chain)."""
        p = self.idata.posterior
        return int(p.sizes["chain"] * p.sizes["draw"])

    @property
    def divergences(self) -> int:
        if "sample_stats" not in self.idata.groups() or "diverging" not in self.idata.sample_stats:
            return 0
        return int(np.asarray(self.idata.sample_stats["diverging"]).sum())

    def draws(self, name: str) -> np.ndarray:
        """All draws of variable ``name`` flattened over chains: shape (chains * draws, ...)."""
        if name not in self.idata.posterior:
            raise DataValidationError(f"the posterior has no variable {name!r} (has: {list(self.idata.posterior)})")
        v = np.asarray(self.idata.posterior[name])
        return v.reshape((-1,) + v.shape[2:])

    def marginal_draws(self) -> MarginalParams:
        """The marginals of every draw and model: :class:`MarginalParams` with leading shape (draws, k)."""
        w = self.draws("weights")
        s = w.shape[:2]
        return MarginalParams(np.broadcast_to(self.data.lo, s).copy(), np.broadcast_to(self.data.hi, s).copy(),
                              w[..., 0], w[..., 1], self.draws("mix"), self.draws("alpha"), self.draws("beta"))

    def cell_tables(self) -> np.ndarray:
        """(draws, k-1, 3, 3) cell tables of the adjacent pairs."""
        c = self.draws("cell")
        return c.reshape(c.shape[:2] + (3, 3))

    # ------------------------------------------------------------------------------------------ reporting
    def table(self, var_names=None, hdi_prob: float = 0.94) -> pd.DataFrame:
        """``arviz.summary`` of the reported parameters: mean, sd, hdi_3%, hdi_97%, mcse, ess_bulk, ess_tail, r_hat."""
        names = [v for v in (var_names or REPORTED) if v in self.idata.posterior]
        kind = "all" if self.method == "nuts" else "stats"
        return az.summary(self.idata, var_names=names, hdi_prob=hdi_prob, kind=kind)

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-parameter frame (index ``parameter``): mean, sd, hdi_3%, hdi_97% and (NUTS) r_hat, ess_bulk,
        ess_tail."""
        t = self.table()
        t.index.name = "parameter"
        return t

    def problems(self, frame: pd.DataFrame | None = None) -> list[str]:
        """Convergence warnings: R-hat > 1.01, bulk ESS < 400, divergences (empty for SVI, which has none)."""
        if self.method != "nuts":
            return []
        t = self.to_frame() if frame is None else frame
        out = []
        bad_r = t.index[t["r_hat"] > RHAT_MAX].tolist()
        bad_e = t.index[t["ess_bulk"] < ESS_MIN].tolist()
        if bad_r:
            out.append(f"R-hat > {RHAT_MAX} for {len(bad_r)} parameter(s): {', '.join(bad_r[:8])}")
        if bad_e:
            out.append(f"bulk ESS < {ESS_MIN} for {len(bad_e)} parameter(s): {', '.join(bad_e[:8])}")
        if self.divergences:
            out.append(f"{self.divergences} divergent transition(s): raise target_accept or check the priors")
        return out

    def summary(self) -> Summary:
        """Sampler facts, the parameter table and warnings when the chains are poor."""
        attrs = self.idata.posterior.attrs
        t = self.to_frame()
        out = Summary(f"Posterior of cascade {' -> '.join(self.models)} ({self.method}, n = {attrs.get('n', '')})")
        facts = {"method": self.method, "chains": int(self.idata.posterior.sizes["chain"]),
                 "draws per chain": int(self.idata.posterior.sizes["draw"]), "seed": attrs.get("seed", ""),
                 "copula": attrs.get("family", ""), "components": attrs.get("n_components", ""),
                 "divergences": self.divergences, "time (s)": float(attrs.get("time_s", np.nan))}
        if "r_hat" in t:
            facts.update({"max R-hat": float(t["r_hat"].max()), "min bulk ESS": float(t["ess_bulk"].min())})
        out.add_dict(facts, ncols=2, float_format="{:.4g}")
        out.add_table(t, "Parameters (94 % HDI)", float_format="{:.4g}")
        for p in self.problems(t):
            out.add_note(f"WARNING: {p}")
        if self.method != "nuts":
            out.add_note("SVI: the guide's draws; no R-hat/ESS (see docs/design_notes.md for its accuracy against NUTS)")
        return out

    # ------------------------------------------------------------------------------------------ persistence
    def to_netcdf(self, path: str | Path) -> Path:
        """Write the ``InferenceData`` (posterior, sample_stats, observed_data, priors in the attributes)."""
        for k, v in vars(self.priors).items():          # NaN: an unset optional prior (atom_concentration=None)
            self.idata.posterior.attrs[f"prior_{k}"] = float("nan") if v is None else float(v)
        self.idata.posterior.attrs["models"] = list(self.models)
        self.idata.posterior.attrs["families"] = list(self.data.families)
        self.idata.posterior.attrs["blocks"] = list(self.data.blocks)
        self.idata.posterior.attrs["order_by"] = list(self.data.order_by)
        return Path(self.idata.to_netcdf(str(path)))

    @classmethod
    def from_netcdf(cls, path: str | Path) -> "PosteriorResult":
        """Load a result written by :meth:`to_netcdf`."""
        idata = az.from_netcdf(str(path))
        a = idata.posterior.attrs
        obs = idata.observed_data
        phi = np.asarray(obs["phi"])
        xi, correct = np.asarray(obs["xi"]), np.asarray(obs["correct"])
        families = tuple(np.atleast_1d(a["families"]).tolist())
        data = data_from_phi(phi, correct, tuple(np.atleast_1d(a["models"]).tolist()),
                             np.asarray(obs["costs"]) if "costs" in obs else None, xi=xi,
                             family=families[0] if families else "gumbel", n_components=int(a["n_components"]),
                             blocks=tuple(np.atleast_1d(a["blocks"]).tolist()), transform=str(a["transform"]),
                             order_by=tuple(np.atleast_1d(a["order_by"]).tolist()) if "order_by" in a else None)
        priors = Priors(**{f: _prior_attr(a, f) for f in vars(Priors()) if f"prior_{f}" in a or f in _NEWER_PRIORS})
        return cls(idata, data, priors)


#: Prior fields added after the first release of the file format, with their value when a file lacks them (the prior
#: the file was fitted with: before ``atom_concentration`` existed the atoms had the weights' concentration).
_NEWER_PRIORS = {"atom_concentration": None}


def _prior_attr(attrs, name: str):
    """A prior scale stored by :meth:`PosteriorResult.to_netcdf`: NaN is an unset (None) value; an absent newer field
    takes its value of the time (:data:`_NEWER_PRIORS`)."""
    if f"prior_{name}" not in attrs:
        return _NEWER_PRIORS[name]
    v = float(attrs[f"prior_{name}"])
    return None if np.isnan(v) else v

