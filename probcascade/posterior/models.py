"""NumPyro models of a cascade's parameters over the package's own likelihoods (no second implementation).

One probabilistic program, :func:`cascade_model`, holds four independent blocks (each reads only its own data, so
the posterior factorises; the blocks share one NUTS run and one ``InferenceData``):

* **calibrators** - Bayesian logistic regression of each model's correctness on its transformed confidence signal
  ``xi`` (the study's calibrator, :class:`~probcascade.calibration.calibrators.LogisticCalibrator`). The
  coefficients are sampled for the standardised feature ``(xi - mean) / sd`` and reported on the raw scale
  (``calib_coef[model, (const, xi)]``): weakly informative ``Normal(0, 2.5)`` priors on both (Gelman et al. 2008).
* **marginals** - the point-mass beta mixture of each model's calibrated confidence, scored with
  :class:`~probcascade.distributions.marginal.PointMassBetaMixture` ``.log_prob``: the weights of the two atoms and
  the m components are one Dirichlet simplex, concentration 0.25 for the atoms and 1 for the components (see
  ``Priors.atom_concentration``); component j has mean ``mu_j`` and concentration
  ``kappa_j`` (``alpha = mu kappa``, ``beta = (1 - mu) kappa``), with ``logit mu ~ Normal(0, 2)`` and
  ``kappa ~ LogNormal(log 4, 1.5)`` (a beta with median concentration 4; U-shaped components, kappa < 2, stay
  plausible), both sampled non-centred (``logit mu = 2 z``, ``log kappa = log 4 + 1.5 z'``). **Label switching**
  is removed by an ordering constraint on *one* of the two coordinates of every model (NumPyro's
  ``OrderedTransform`` on its ``z``: the first is standard normal, each gap is ``exp`` of a standard normal): the
  component means when the point (EM) fit's components are further apart in ``logit mu`` than in ``log kappa``,
  else the concentrations (``PosteriorData.order_by``). Ordering the means alone does not identify a *scale*
  mixture - a narrow and a broad component with nearly the same mean, as TruthfulQA's llama3.2-3b has (means 0.43
  and 0.47, concentrations 10 and 1.8): its chains swapped the labels (R-hat 1.53) until the concentrations were
  ordered. The support ``[lo, hi]`` is the observed range, as in :func:`~probcascade.estimation.marginal.fit_marginal`.
* **copulas** - per adjacent pair, the copula of :data:`~probcascade.distributions.copulas.COPULA_FAMILIES` scored
  with its NumPyro ``log_prob`` on the pseudo-observations of the queries where both confidences are interior.
  The prior is on Kendall's tau (``Uniform(0, 1)`` for families with positive dependence only: Gumbel's
  ``theta = 1 / (1 - tau) >= 1`` and Clayton's ``theta > 0`` then hold by construction; ``Uniform(-1, 1)`` for
  Frank), mapped to theta by the family's own ``theta_from_tau``. The 3 x 3 cell table of the pair
  (:mod:`probcascade.joint.tables`) gets a Dirichlet prior (concentration 1 for the interior-interior cell, 0.25
  for the eight cells involving an atom) and a multinomial likelihood.
* **correctness** - the pairwise correctness model (:mod:`probcascade.joint.correctness`) of each adjacent pair,
  ``P(correct_j) = sigmoid(alpha + beta logit Phi_j + gamma logit Phi_i)``, with ``Normal((0, 1, 0), 2.5)`` priors
  centred at the study's model.

Every prior scale lives in :class:`Priors` (override with ``Priors(calib_scale=1.0, ...)``). :func:`point_init`
gives the point estimates (logistic fits, EM marginals, Kendall's tau, cell proportions) the sampler starts near. The calibrated
confidences the marginals, copulas and correctness blocks see are those of the point-estimated calibrators (a
modular, "cut" posterior: the calibrator uncertainty is reported, not fed forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as npdist
from numpyro.distributions.transforms import OrderedTransform

from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import CascadeData
from probcascade.distributions.copulas import COPULA_FAMILIES
from probcascade.distributions.marginal import PointMassBetaMixture
from probcascade.estimation.copulas import pseudo_observations
from probcascade.exceptions import DataValidationError
from probcascade.joint.correctness import IDENTITY, EPS
from probcascade.joint.model import cell_of
from probcascade.validation import check_choice, check_float, check_int

__all__ = ["Priors", "PosteriorData", "prepare_data", "data_from_phi", "cascade_model", "point_init", "ATOMS",
           "BLOCKS", "ORDER_BY"]

#: Names of the simplex entries of a marginal's weights before the beta components.
ATOMS = ("w_lo", "w_hi")
#: The coordinate whose ordering identifies a marginal's beta components (see the module docstring).
ORDER_BY = ("mean", "kappa")
#: The cell index of an interior confidence (:func:`~probcascade.joint.model.cell_of`).
_INTERIOR = int(cell_of(np.array([0.5]), 0.0, 1.0)[0])


@dataclass(frozen=True)
class Priors:
    """Prior scales of :func:`cascade_model` (all weakly informative; see the module docstring).

    calib_scale : SD of the Normal prior on the standardised calibrator coefficients
    weight_concentration : Dirichlet concentration of (w_lo, w_hi, component weights) of each marginal
    mu_scale : SD of the Normal prior of each component's logit mean (before ordering)
    kappa_loc, kappa_scale : LogNormal prior of each component's concentration alpha + beta
    tau_low, tau_high : Uniform prior of each pair's Kendall's tau (``tau_low`` is raised to 0 for families that
        cannot represent negative dependence)
    cell_concentration : Dirichlet concentration of each pair's 3 x 3 cell table
    atom_concentration : the Dirichlet concentration of the two atoms (w_lo, w_hi) within the marginal weights and
        of the eight cells of a pair's table that involve an atom (all but interior-interior), in place of
        ``weight_concentration`` / ``cell_concentration`` there (default 0.25; None: those two everywhere, the
        package's prior before 2026-12-03). Atoms hold little mass (certainty is rare): with none observed a
        concentration a gives an atom a posterior mean mass of a / (n + 2a + 2), 2.9 % at n = 30 for a = 1, which
        biased P(Correct) upward (+0.03-0.04 at n = 30; 90 % intervals covered the truth in 63-78 % of simulated
        replicates); 0.25 (0.8 %) gives 88-89 % coverage there and keeps the shared Llama fits converged
        (experiments/results/posterior_coverage_synthetic.md, posterior_convergence.md).
    corr_scale : SD of the Normal prior of the pairwise correctness coefficients around (0, 1, 0)
    """

    calib_scale: float = 2.5
    weight_concentration: float = 1.0
    mu_scale: float = 2.0
    kappa_loc: float = float(np.log(4.0))
    kappa_scale: float = 1.5
    tau_low: float = -1.0
    tau_high: float = 1.0
    cell_concentration: float = 1.0
    corr_scale: float = 2.5
    atom_concentration: float | None = 0.25

    def __post_init__(self) -> None:
        for name in ("calib_scale", "weight_concentration", "mu_scale", "kappa_scale", "cell_concentration",
                     "corr_scale", "atom_concentration"):
            if name != "atom_concentration" or self.atom_concentration is not None:     # None: no separate value
                check_float(getattr(self, name), name, low=0.0, low_open=True)
        check_float(self.tau_low, "tau_low", low=-1.0, high=1.0)
        check_float(self.tau_high, "tau_high", low=-1.0, high=1.0)
        if not self.tau_low < self.tau_high:
            raise DataValidationError(f"'tau_low' must be < 'tau_high', got {self.tau_low}, {self.tau_high}")

    def weight_prior(self, n_components: int) -> np.ndarray:
        """Dirichlet concentrations of a marginal's (w_lo, w_hi, component weights)."""
        atom = self.weight_concentration if self.atom_concentration is None else self.atom_concentration
        return np.array([atom, atom] + [self.weight_concentration] * n_components)

    def cell_prior(self) -> np.ndarray:
        """Dirichlet concentrations of a pair's 3 x 3 cell table (row-major over the cells of
        :func:`~probcascade.joint.model.cell_of`: low / interior / high)."""
        out = np.full((3, 3), self.cell_concentration if self.atom_concentration is None else self.atom_concentration)
        out[_INTERIOR, _INTERIOR] = self.cell_concentration
        return out.ravel()


@dataclass(frozen=True, eq=False)
class PosteriorData:
    """Everything :func:`cascade_model` conditions on (NumPy arrays; ``k`` models, ``n`` queries).

    ``xi`` (n, k) transformed signals, ``correct`` (n, k), ``phi`` (n, k) point-calibrated confidences, ``lo``/``hi``
    (k,) the marginals' supports, ``cells`` (k-1, 9) cell counts of adjacent pairs, ``uv`` the pseudo-observations
    of each adjacent pair's interior x interior queries, ``families`` the copula family of each link; ``order_by``
    the ordered coordinate of each marginal, ``marginal_fits`` the point EM fits (weights, logit mu, log kappa) per
    model, ``uv_weight`` optional 0/1 weights of the rows of ``uv`` (padding, for fits vmapped over data sets).
    """

    models: tuple[str, ...]
    xi: np.ndarray
    correct: np.ndarray
    phi: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    cells: np.ndarray
    uv: tuple[np.ndarray, ...]
    families: tuple[str, ...]
    n_components: int = 2
    transform: str = "one-sided"
    blocks: tuple[str, ...] = ("calibrators", "marginals", "copulas", "correctness")
    costs: np.ndarray | None = field(default=None, repr=False)
    order_by: tuple[str, ...] = ()
    marginal_fits: tuple = field(default=(), repr=False)
    uv_weight: tuple = field(default=(), repr=False)

    @property
    def k(self) -> int:
        return len(self.models)

    def observed(self) -> dict[str, np.ndarray]:
        """The observed data for ``InferenceData.observed_data``."""
        out = {"xi": self.xi, "correct": self.correct.astype(np.int64), "phi": self.phi,
               "cells": self.cells.reshape(-1, 3, 3)}
        if self.costs is not None:
            out["costs"] = np.asarray(self.costs, dtype=np.float64)
        return out


BLOCKS = ("calibrators", "marginals", "copulas", "correctness")


def prepare_data(train: CascadeData, *, transform: str | None = None, family: str = "gumbel",
                 n_components: int = 2, blocks: Sequence[str] = BLOCKS) -> PosteriorData:
    """Calibrate ``train`` with the point calibrators and collect what the model conditions on.

    ``transform`` defaults to the study's one-sided transform; ``family`` is the copula family of every link.
    """
    check_choice(family, "family", tuple(COPULA_FAMILIES))
    check_int(n_components, "n_components", low=1)
    blocks = tuple(blocks)
    for b in blocks:
        check_choice(b, "blocks", BLOCKS)
    transform = transform or "one-sided"
    cal = calibrate(train, transform=transform)
    xi = np.column_stack([cal.calibrators[m].transform_.transform(train.logprob[:, j])
                          for j, m in enumerate(train.models)])
    return data_from_phi(cal.predict(train), train.correct, train.models, train.cost.mean(axis=0), xi=xi,
                         family=family, n_components=n_components, blocks=blocks, transform=transform)


def data_from_phi(phi, correct, models: Sequence[str], costs=None, *, xi=None, family: str = "gumbel",
                  n_components: int = 2, blocks: Sequence[str] = BLOCKS, transform: str = "",
                  order_by: Sequence[str] | None = None) -> PosteriorData:
    """:class:`PosteriorData` from calibrated confidences ``phi`` (n, k) and outcomes ``correct`` (n, k) (what a
    :class:`~probcascade.tuning.base.TuningProblem` holds); without ``xi`` the calibrator block is left out.
    ``order_by`` (one of :data:`ORDER_BY` per model) defaults to the choice made from the point EM fits."""
    check_choice(family, "family", tuple(COPULA_FAMILIES))
    blocks = tuple(b for b in blocks if xi is not None or b != "calibrators")
    phi, correct = np.asarray(phi, dtype=np.float64), np.asarray(correct)
    train_models = tuple(models)
    k = len(train_models)
    xi = np.zeros_like(phi) if xi is None else np.asarray(xi, dtype=np.float64)
    lo, hi = phi.min(axis=0), phi.max(axis=0)
    for j, m in enumerate(train_models):
        n_int = int(np.sum((phi[:, j] > lo[j]) & (phi[:, j] < hi[j])))
        if n_int < 3 * n_components:
            raise DataValidationError(f"model '{m}': {n_int} interior calibrated confidences are too few for "
                                      f"{n_components} beta component(s) (need {3 * n_components})")
    cells = np.column_stack([cell_of(phi[:, j], lo[j], hi[j]) for j in range(k)])
    counts, uvs = [], []
    for i in range(k - 1):
        t = np.zeros((3, 3))
        np.add.at(t, (cells[:, i], cells[:, i + 1]), 1.0)
        counts.append(t.ravel())
        both = (cells[:, i] == 1) & (cells[:, i + 1] == 1)
        if both.sum() >= 2:
            uvs.append(np.column_stack([pseudo_observations(phi[both, i]), pseudo_observations(phi[both, i + 1])]))
        else:
            uvs.append(np.full((0, 2), 0.5))
    fits = (tuple(_point_marginal(phi[:, j], n_components) for j in range(k))
            if "marginals" in blocks and order_by is None else ())
    if order_by is None:
        order_by = tuple(_order_coordinate(f) for f in fits) if fits else ("mean",) * k
    order_by = tuple(order_by)
    if len(order_by) != k:
        raise DataValidationError(f"'order_by' needs one of {ORDER_BY} per model ({k}), got {list(order_by)}")
    for o in order_by:
        check_choice(o, "order_by", ORDER_BY)
    return PosteriorData(train_models, xi, correct, phi, lo, hi,
                         np.asarray(counts).reshape(k - 1, 9) if k > 1 else np.zeros((0, 9)), tuple(uvs),
                         (family,) * (k - 1), n_components, transform, blocks,
                         None if costs is None else np.asarray(costs, dtype=np.float64), order_by, fits)


def _point_marginal(x: np.ndarray, m: int):
    """(weights (2 + m,), logit mu (m,), log kappa (m,)) of the EM point fit of one model's marginal."""
    import warnings

    from probcascade.estimation.marginal import fit_marginal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = fit_marginal(x, n_components=m).params
    a, b = np.asarray(p.alpha, dtype=np.float64), np.asarray(p.beta, dtype=np.float64)
    c = 1.0 - float(p.w_lo) - float(p.w_hi)
    w = np.concatenate([[float(p.w_lo), float(p.w_hi)], c * np.asarray(p.mix, dtype=np.float64)])
    return w, np.log(a) - np.log(b), np.log(a + b)


def _order_coordinate(fit) -> str:
    """'mean' when the point fit's components are further apart in logit mu than in log kappa, else 'kappa'."""
    _, lmu, lkap = fit
    if lmu.size < 2:
        return "mean"
    gap = lambda z: float(np.min(np.diff(np.sort(z))))
    return "mean" if gap(lmu) >= gap(lkap) else "kappa"


def _logit(p):
    p = jnp.clip(p, EPS, 1.0 - EPS)
    return jnp.log(p) - jnp.log1p(-p)


def _calibrators(data: PosteriorData, priors: Priors):
    k = data.k
    mean, sd = data.xi.mean(axis=0), data.xi.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (data.xi - mean) / sd
    with numpyro.plate("model", k):
        coef_std = numpyro.sample("calib_std", npdist.Normal(0.0, priors.calib_scale).expand([2]).to_event(1))
    slope = coef_std[..., 1] / sd
    const = coef_std[..., 0] - slope * mean
    numpyro.deterministic("calib_coef", jnp.stack([const, slope], axis=-1))
    eta = coef_std[..., 0] + coef_std[..., 1] * z                      # (n, k)
    numpyro.sample("obs_correct", npdist.Bernoulli(logits=eta), obs=data.correct)


def _marginals(data: PosteriorData, priors: Priors):
    k, m = data.k, data.n_components
    by_mean = jnp.asarray([o == "mean" for o in (data.order_by or ("mean",) * k)])[:, None]      # (k, 1)
    std = npdist.Normal(0.0, 1.0).expand([m]).to_event(1)
    with numpyro.plate("model", k):
        w = numpyro.sample("weights", npdist.Dirichlet(jnp.asarray(priors.weight_prior(m))))
        z_ord = numpyro.sample("z_ordered", npdist.TransformedDistribution(std, OrderedTransform()) if m > 1 else std)
        z_free = numpyro.sample("z_free", std)
    logit_mu = numpyro.deterministic("logit_mu", priors.mu_scale * jnp.where(by_mean, z_ord, z_free))
    kappa = numpyro.deterministic("kappa", jnp.exp(priors.kappa_loc
                                                   + priors.kappa_scale * jnp.where(by_mean, z_free, z_ord)))
    mu = 1.0 / (1.0 + jnp.exp(-logit_mu))
    alpha, beta = numpyro.deterministic("alpha", mu * kappa), numpyro.deterministic("beta", (1.0 - mu) * kappa)
    c = 1.0 - w[..., 0] - w[..., 1]
    mix = numpyro.deterministic("mix", w[..., 2:] / c[..., None])
    dist = PointMassBetaMixture(jnp.asarray(data.lo), jnp.asarray(data.hi), w[..., 0], w[..., 1], mix, alpha, beta)
    numpyro.factor("obs_phi", jnp.sum(dist.log_prob(jnp.asarray(data.phi))))


def tau_bounds(family: str, priors: Priors) -> tuple[float, float]:
    """The Uniform prior's range of Kendall's tau for ``family``."""
    cls = COPULA_FAMILIES[family]
    low = max(priors.tau_low, 0.0) if cls.positive_only else priors.tau_low
    return low, priors.tau_high


def _copulas(data: PosteriorData, priors: Priors):
    taus, thetas = [], []
    for i, fam in enumerate(data.families):
        cls = COPULA_FAMILIES[fam]
        if fam == "independence":
            taus.append(jnp.zeros(())); thetas.append(jnp.zeros(()))
            continue
        low, high = tau_bounds(fam, priors)
        tau = numpyro.sample(f"tau_{i}", npdist.Uniform(low, high))
        theta = cls.theta_from_tau(tau)
        if data.uv[i].shape[0]:
            lp = cls(theta).log_prob(jnp.asarray(data.uv[i]))
            if data.uv_weight:             # 0/1 weights of padded rows (fixed shapes for vmapped fits)
                lp = jnp.where(data.uv_weight[i] > 0, lp, 0.0)
            numpyro.factor(f"obs_uv_{i}", jnp.sum(lp))
        taus.append(tau); thetas.append(theta)
    numpyro.deterministic("tau", jnp.stack(taus, axis=-1))
    numpyro.deterministic("theta", jnp.stack(thetas, axis=-1))
    with numpyro.plate("link", data.k - 1):
        cell = numpyro.sample("cell", npdist.Dirichlet(jnp.asarray(priors.cell_prior())))
        numpyro.sample("obs_cells", npdist.Multinomial(total_count=data.phi.shape[0], probs=cell),
                       obs=jnp.asarray(data.cells))


def _correctness(data: PosteriorData, priors: Priors):
    lp = _logit(jnp.asarray(data.phi))
    with numpyro.plate("link", data.k - 1):
        coef = numpyro.sample("corr_coef", npdist.Normal(jnp.asarray(IDENTITY), priors.corr_scale).to_event(1))
    eta = coef[..., 0] + coef[..., 1] * lp[:, 1:] + coef[..., 2] * lp[:, :-1]        # (n, k-1)
    numpyro.sample("obs_corr_pair", npdist.Bernoulli(logits=eta), obs=jnp.asarray(data.correct[:, 1:]))


def cascade_model(data: PosteriorData, priors: Priors = Priors()):
    """The NumPyro program: the blocks of ``data.blocks`` (see the module docstring), run under float64."""
    if "calibrators" in data.blocks:
        _calibrators(data, priors)
    if "marginals" in data.blocks:
        _marginals(data, priors)
    if data.k > 1 and "copulas" in data.blocks:
        _copulas(data, priors)
    if data.k > 1 and "correctness" in data.blocks:
        _correctness(data, priors)


def point_init(data: PosteriorData, priors: Priors = Priors()) -> dict[str, np.ndarray]:
    """Point estimates of the sampled sites of :func:`cascade_model` (constrained values; the NUTS start):
    ridge-stabilised logistic fits of the calibrators and of the pairwise correctness, the EM fits of the marginals
    (components sorted by the ordered coordinate), Kendall's tau of each pair's pseudo-observations (clipped into
    the prior's range) and the smoothed cell proportions."""
    from scipy.stats import kendalltau

    from probcascade.estimation.logistic import fit_logistic

    out: dict[str, np.ndarray] = {}
    k = data.k
    if "calibrators" in data.blocks:
        mean, sd = data.xi.mean(axis=0), data.xi.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        out["calib_std"] = np.stack([
            fit_logistic(np.column_stack([np.ones(len(data.xi)), (data.xi[:, j] - mean[j]) / sd[j]]),
                         data.correct[:, j], ridge=1e-2).coef for j in range(k)])
    if "marginals" in data.blocks and data.marginal_fits:
        w, zo, zf = [], [], []
        for fit, o in zip(data.marginal_fits, data.order_by):
            wj, lmu, lkap = fit
            zm, zk = lmu / priors.mu_scale, (lkap - priors.kappa_loc) / priors.kappa_scale
            idx = np.argsort(zm if o == "mean" else zk)
            zm, zk = zm[idx], zk[idx]
            ordered, free = (zm, zk) if o == "mean" else (zk, zm)
            ordered = ordered + 1e-3 * np.arange(ordered.size)          # strictly increasing for the transform
            w.append(np.concatenate([wj[:2], wj[2:][idx]])); zo.append(ordered); zf.append(free)
        wa = np.clip(np.asarray(w), 1e-4, None)
        out.update(weights=wa / wa.sum(axis=1, keepdims=True), z_ordered=np.asarray(zo), z_free=np.asarray(zf))
    if k > 1 and "copulas" in data.blocks:
        for i, fam in enumerate(data.families):
            if fam == "independence":
                continue
            low, high = tau_bounds(fam, priors)
            uv = data.uv[i]
            tau = kendalltau(uv[:, 0], uv[:, 1])[0] if uv.shape[0] > 2 else 0.0
            span = high - low
            out[f"tau_{i}"] = np.asarray(np.clip(np.nan_to_num(tau), low + 0.02 * span, high - 0.02 * span))
        cells = data.cells + 0.5
        out["cell"] = cells / cells.sum(axis=1, keepdims=True)
    if k > 1 and "correctness" in data.blocks:
        lp = np.asarray(_logit(jnp.asarray(data.phi)))
        out["corr_coef"] = np.stack([
            fit_logistic(np.column_stack([np.ones(len(lp)), lp[:, i + 1], lp[:, i]]), data.correct[:, i + 1],
                         ridge=1e-2).coef for i in range(k - 1)])
    return out
