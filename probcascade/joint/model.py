"""The fitted Markov-copula model of a cascade (§3.1-3.2 of the study) and its entry point :func:`fit_markov_copula`.

:func:`fit_markov_copula` fits, on the training queries' calibrated confidences, a point-mass beta-mixture marginal
per model (:func:`~probcascade.estimation.marginal.fit_marginal`) and, per pair of models, the 3 x 3 cell table
(:mod:`.tables`) and a copula between the interiors (:func:`~probcascade.estimation.copulas.fit_copula`; one family
for every pair, or per pair the best of :data:`AIC_FAMILIES` by AIC), and, given the training outcomes, the
pairwise correctness model (:mod:`.correctness`). It fits *all* pairs by default, not only adjacent ones, so that
any sub-cascade can be evaluated and tuned without refitting.

:class:`MarkovCopulaModel` holds the fitted pieces (``summary()``, ``to_frame()``, joint and conditional
probabilities, a sampler) and builds, per sub-cascade, a :class:`CascadeModel`: the pytree of look-up tables, cell
tables, copula parameters and chain grid that the compiled objective
(:func:`~probcascade.joint.chain.cascade_metrics`) and the tuners take, with the choice of evaluation (the exact
chain or the study's Algorithm 1) and of correctness model made there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from itertools import combinations
from typing import Sequence
import warnings
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError, FitError, IndependenceFallbackWarning
from probcascade.joint.chain import CHAIN_FAMILIES
from probcascade.joint.tables import CascadeParams
from probcascade.joint.tables import MarginalTable
from probcascade.joint.tables import grid_u
from probcascade.joint.chain import build_chain_grid
from probcascade.joint.chain import build_ratio
from probcascade.joint.tables import build_table
from probcascade.joint.chain import cascade_metrics
from probcascade.joint.algorithm1 import joint_cdf
from probcascade.joint.algorithm1 import marginal_cdf_from_table
from probcascade.joint.algorithm1 import partial_joint
from probcascade.joint.chain import sample_chain
from probcascade.joint.chain import static_families
from probcascade.distributions.copulas import COPULA_FAMILIES, get_family
from probcascade.distributions.marginal import MarginalParams, cdf, stack_params
from probcascade.estimation.copulas import fit_copula, pseudo_observations
from probcascade.estimation.marginal import MarginalFit, fit_marginal
from probcascade.joint.correctness import check_correctness, fit_pairwise_correctness
from probcascade.summary import Summary
from probcascade.validation import check_array, check_choice, check_float, check_int, pad_rows, padded_size

__all__ = ["MarkovCopulaModel", "CascadeModel", "fit_markov_copula", "cell_of", "AIC_FAMILIES"]

#: Candidate families of ``fit_markov_copula(..., family="aic")``.
AIC_FAMILIES = ("gumbel", "survival_gumbel", "clayton", "frank")


def cell_of(phi: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Cell of each value: 0 at (or below) ``lo``, 2 at (or above) ``hi``, else 1."""
    return np.where(phi <= lo, 0, np.where(phi >= hi, 2, 1))


# ------------------------------------------------------------------------------------------------ user objects
@dataclass(frozen=True)
class PairFit:
    """The dependence model of one pair of models: the cell table and the interior copula."""

    model_a: str
    model_b: str
    table: np.ndarray
    family: str
    theta: float
    tau: float
    n_interior: int


@dataclass(frozen=True)
class CascadeModel:
    """A (sub-)cascade of a fitted :class:`MarkovCopulaModel`: parameters for models in the given order.

    ``params`` (with look-up tables) drives the objective; ``exact`` (the padded marginal parameters) drives the
    sampler, which uses the exact marginals. ``branches``: the copula families the compiled chain evaluation covers
    (the fitted model's families, so that all its cascades of one length share one compilation; see
    :func:`static_families`).
    """

    models: tuple[str, ...]
    params: CascadeParams
    families: tuple[str, ...]
    exact: MarginalParams
    branches: tuple[str, ...] = ()

    @property
    def static_families(self) -> tuple[str, ...]:
        """The compile-time ``families`` of :func:`cascade_metrics` for this cascade."""
        return static_families(self.params, self.families, self.branches)

    @property
    def k(self) -> int:
        return len(self.models)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of the first k-1 models: the open box the thresholds live in."""
        return np.asarray(self.params.marg.lo[:-1]), np.asarray(self.params.marg.hi[:-1])

    @x64
    def metrics(self, thresholds, costs) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (P(Correct), E[Cost]) for thresholds of shape (..., k-1)."""
        t = check_array(thresholds, "thresholds", finite="allow-inf")
        if t.ndim == 0 or t.shape[-1] != self.k - 1:
            raise DataValidationError(f"'thresholds' must have {self.k - 1} values per vector for cascade "
                                      f"{list(self.models)}, got shape {t.shape}")
        try:
            costs = check_array(costs, "costs", shape=(self.k,))
        except DataValidationError as exc:
            raise DataValidationError(f"cascade {list(self.models)}: {exc}") from exc
        flat = t.reshape(-1, self.k - 1)
        n = flat.shape[0]
        # the common padding rule (at least 64 vectors): few distinct compilations; the padding rows are copies of
        # the first vector (valid thresholds), their metrics are dropped
        padded, _ = pad_rows(flat, padded_size(n, minimum=64), "first" if n else 0.0)
        pc, ec = _metrics_batched(self.params, self.static_families, jnp.asarray(costs), jnp.asarray(padded))
        return np.asarray(pc)[:n].reshape(t.shape[:-1]), np.asarray(ec)[:n].reshape(t.shape[:-1])

    def cdf_numpy(self, i: int):
        """Vectorised NumPy cdf of model i's confidence from its look-up table (linear interpolation)."""
        m = MarginalTable(*(np.asarray(z)[i] for z in self.params.marg))
        u, _ = grid_u(m.tab.shape[-1] - 1)
        x = m.lo + (m.hi - m.lo) * u
        c = 1.0 - m.w_lo - m.w_hi

        def cdf(t):
            t = np.asarray(t, dtype=np.float64)
            return np.where(t < m.lo, 0.0, np.where(t >= m.hi, 1.0, m.w_lo + c * np.interp(t, x, m.tab[0])))

        return cdf

    @x64
    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n draws of the calibrated confidences (n, k) from the Markov chain."""
        check_int(n, "n", low=0)
        check_int(seed, "seed", low=0)
        return np.asarray(_sample_jit(self.exact, self.params.table, self.params.theta, self.families,
                                      jax.random.PRNGKey(seed), int(n)))


@partial(jax.jit, static_argnums=(1,))
def _metrics_batched(params, families, costs, thresholds):
    return jax.vmap(lambda t: cascade_metrics(params, families, costs, t))(thresholds)


_sample_jit = jax.jit(sample_chain, static_argnums=(3, 5))


@partial(jax.jit, static_argnums=(2,))
def _pair_quantities(pair_params, table, family, a, b):
    """(P(Phi_i <= a, Phi_j <= b), E[Phi_j 1{Phi_j > b} 1{Phi_i <= a}], P(Phi_i <= a)) batched over a, b."""
    m_i, m_j, theta = pair_params
    def one(x, y):
        return (joint_cdf(m_i, m_j, table, family, theta, x, y), partial_joint(m_i, m_j, table, family, theta, x, y),
                marginal_cdf_from_table(m_i, jnp.sum(table, axis=1), x))
    return jax.vmap(one)(a, b)


@dataclass
class MarkovCopulaModel:
    """Marginals for every model and copulas for every pair, so any sub-cascade can be evaluated without refitting.

    Build with :func:`fit_markov_copula`.
    """

    models: tuple[str, ...]
    marginals: dict[str, MarginalFit]
    pairs: dict[tuple[str, str], PairFit]
    family: str = "gumbel"
    n: int = 0
    warnings_: list[str] = field(default_factory=list)
    correctness: dict = field(default_factory=dict)
    _tables: dict = field(default_factory=dict, repr=False)

    def pair(self, a: str, b: str) -> PairFit:
        if (a, b) in self.pairs:
            return self.pairs[(a, b)]
        if (b, a) in self.pairs:
            p = self.pairs[(b, a)]
            return PairFit(a, b, p.table.T.copy(), p.family, p.theta, p.tau, p.n_interior)
        raise DataValidationError(f"no copula fitted for the pair ({a!r}, {b!r}); models: {list(self.models)}")

    @x64
    def table(self, model: str) -> MarginalTable:
        """Look-up-table view of a model's marginal (computed once, cached)."""
        if model not in self.marginals:
            raise DataValidationError(f"unknown model '{model}' (models: {list(self.models)})")
        if model not in self._tables:
            p = self.marginals[model].params
            self._tables[model] = MarginalTable(np.float64(p.lo), np.float64(p.hi), np.float64(p.w_lo),
                                                np.float64(p.w_hi), build_table(p))
        return self._tables[model]

    def cascade(self, models: Sequence[str] | None = None, joint: str = "chain",
                correctness: str = "marginal") -> CascadeModel:
        """Parameters of the cascade ``models`` (default: all models in order); uses the all-pairs copulas.

        ``joint="chain"`` evaluates P(Correct) and E[Cost] through the Markov chain itself (exact up to the
        within-bin position, see :mod:`probcascade.joint.chain`); ``"algorithm1"`` uses the study's Algorithm 1 with its
        approximation (5) for k >= 3.

        ``correctness="marginal"`` (the study's model) counts the answering model as correct with probability its
        calibrated confidence; ``"pairwise"`` uses P(correct | own and predecessor's confidence) fitted by
        :func:`fit_markov_copula` with ``correct=`` (see :mod:`probcascade.joint.correctness`; needs ``joint="chain"``).
        """
        check_choice(joint, "joint", ("chain", "algorithm1"))
        if check_correctness(correctness) == "pairwise" and joint != "chain":
            raise DataValidationError("correctness='pairwise' is evaluated by the Markov chain: use joint='chain'")
        models = tuple(models) if models is not None else self.models
        unknown = [m for m in models if m not in self.marginals]
        if unknown:
            raise DataValidationError(f"model(s) {unknown} are not in the fitted model (models: {list(self.models)})")
        if len(models) < 1:
            raise DataValidationError("a cascade needs at least one model")
        pfs = [self.pair(a, b) for a, b in zip(models[:-1], models[1:])]
        table = np.stack([p.table for p in pfs]) if pfs else np.zeros((0, 3, 3))
        theta = np.array([p.theta for p in pfs], dtype=np.float64)
        tabs = [self.table(m) for m in models]
        marg = MarginalTable(*(np.stack([np.asarray(getattr(t, f)) for t in tabs]) for f in MarginalTable._fields))
        families = tuple(p.family for p in pfs)
        exact = stack_params([self.marginals[m].params for m in models])
        params = CascadeParams(marg, table, theta)
        if joint == "chain" and pfs:
            key = ("chain", models)
            if key not in self._tables:
                self._tables[key] = build_chain_grid(params, families, exact)
            if correctness == "pairwise":
                links = list(zip(models[:-1], models[1:]))
                missing = [lk for lk in links if lk not in self.correctness]
                if missing:
                    raise DataValidationError(
                        f"correctness='pairwise': no pairwise correctness fitted for {missing}; pass correct= (the "
                        "training outcomes) to fit_markov_copula")
                pkey = ("chain", models, "pairwise")
                if pkey not in self._tables:
                    coef = np.stack([self.correctness[lk].coef for lk in links])
                    self._tables[pkey] = self._tables[key]._replace(ratio=build_ratio(params, self._tables[key], coef))
                key = pkey
            params = params._replace(chain=self._tables[key])
        branches = tuple(f for f in CHAIN_FAMILIES if any(p.family == f for p in self.pairs.values()))
        return CascadeModel(models, params, families, exact, branches)

    # ---------------------------------------------------------------- convenience probabilities
    @x64
    def prob_below(self, model: str, a) -> np.ndarray:
        """P(Phi_model <= a) (exact marginal)."""
        p = self.marginals[model].params
        return np.asarray(cdf(MarginalParams(*map(jnp.asarray, p)), jnp.asarray(a, dtype=float)))

    @x64
    def _pair_eval(self, model_a: str, a, model_b: str, b):
        pf = self.pair(model_a, model_b)
        a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        out = _pair_quantities((self.table(model_a), self.table(model_b), np.float64(pf.theta)), pf.table, pf.family,
                               jnp.asarray(a.ravel()), jnp.asarray(b.ravel()))
        return [np.asarray(o).reshape(a.shape) for o in out]

    def joint_prob_below(self, model_a: str, a, model_b: str, b) -> np.ndarray:
        """P(Phi_a <= a, Phi_b <= b) (exact at the point masses)."""
        return self._pair_eval(model_a, a, model_b, b)[0]

    def conditional_prob_below(self, model: str, a, given: str, b) -> np.ndarray:
        """P(Phi_model <= a | Phi_given <= b)."""
        joint, _, below = self._pair_eval(given, b, model, a)
        return joint / below

    def expected_correct_above(self, model: str, a, given: str, b) -> np.ndarray:
        """I(b, a) of eq. 30: E[Phi_model 1{Phi_model > a} | Phi_given <= b]."""
        _, pj, below = self._pair_eval(given, b, model, a)
        return pj / below

    def sample(self, n: int, seed: int = 0, models: Sequence[str] | None = None) -> pd.DataFrame:
        """n draws from the Markov chain over ``models`` (default all), as a wide frame (one column per model)."""
        cm = self.cascade(models)
        return pd.DataFrame(cm.sample(n, seed), columns=list(cm.models))

    # ---------------------------------------------------------------- reporting
    def to_frame(self) -> pd.DataFrame:
        """One row per pair: family, theta, Kendall's tau, interior count and the cell table."""
        rows = []
        for (a, b), p in self.pairs.items():
            rows.append({"model_a": a, "model_b": b, "adjacent": self.models.index(b) == self.models.index(a) + 1,
                         "family": p.family, "theta": p.theta, "tau": p.tau, "n_interior": p.n_interior,
                         "p_both_interior": float(p.table[1, 1])})
        return pd.DataFrame(rows)

    def marginal_frame(self) -> pd.DataFrame:
        rows = []
        for m, f in self.marginals.items():
            p = f.params
            rows.append({"model": m, "phi_min": float(p.lo), "phi_max": float(p.hi), "w_min": float(p.w_lo),
                         "w_max": float(p.w_hi), "components": f.n_components, "loglik": f.loglik, "bic": f.bic})
        return pd.DataFrame(rows).set_index("model")

    def correctness_frame(self) -> pd.DataFrame:
        """The pairwise correctness model (empty without ``correct=`` at fit time): one row per ordered pair and
        term, with estimate, standard error, z, p-value and 95 % interval (see :mod:`probcascade.joint.correctness`)."""
        frames = [pc.to_frame().reset_index() for pc in self.correctness.values()]
        if not frames:
            return pd.DataFrame(columns=["prev", "nxt", "term", "coef", "std_err", "z", "p_value", "ci_low", "ci_high"])
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> Summary:
        """Marginals, copulas and (if fitted) the adjacent pairs' correctness model, as a
        :class:`~probcascade.summary.Summary`."""
        out = Summary(f"Markov-copula model ({self.family}), {len(self.models)} models, n = {self.n}")
        out.add_table(self.marginal_frame(), "Marginals (point-mass beta mixtures)", float_format="{:.4g}")
        out.add_table(self.to_frame(), "Copulas (adjacent pairs drive the Markov chain)", index=False,
                      float_format="{:.4g}")
        if self.correctness:
            adj = [(a, b) for a, b in zip(self.models[:-1], self.models[1:]) if (a, b) in self.correctness]
            rows = [{"prev": a, "nxt": b, **dict(zip(("alpha", "beta", "gamma"), self.correctness[(a, b)].coef)),
                     "z_gamma": float(self.correctness[(a, b)].fit.z[2])} for a, b in adj]
            out.add_table(pd.DataFrame(rows), "Pairwise correctness, adjacent pairs", index=False, float_format="{:.4g}")
            out.add_note("Pairwise correctness: P(correct_nxt) = sigmoid(alpha + beta logit phi_nxt + gamma logit "
                         "phi_prev); the study's model is (0, 1, 0).")
        return out


@x64
def fit_markov_copula(
    phi: np.ndarray | pd.DataFrame,
    models: Sequence[str] | None = None,
    *,
    family: str = "gumbel",
    n_components: int = 2,
    criterion: str | None = None,
    theta_method: str = "tau",
    all_pairs: bool = True,
    min_interior: int = 10,
    correct: np.ndarray | pd.DataFrame | None = None,
    correctness_ridge: float = 0.0,
) -> MarkovCopulaModel:
    """Fit the Markov-copula model to calibrated confidences.

    Parameters
    ----------
    phi : array (n, k) or DataFrame with one column per model
        Calibrated confidences on training data, models in cascade order.
    models : sequence of str, optional
        Model names (default: the frame's columns or ``model_0..``).
    family : str
        Copula family for every pair (see :data:`probcascade.distributions.copulas.COPULA_FAMILIES`), or ``"aic"``: for each pair
        the family of :data:`AIC_FAMILIES` with the smallest AIC (all have one parameter, so this is the largest
        copula log-likelihood at the fitted theta).
    n_components, criterion : int, {None, "aic", "bic"}
        Beta components of each marginal (2 as in the study) or selection by information criterion.
    theta_method : {"tau", "mle"}
        Copula parameter from Kendall's tau (eq. 10) or by maximum likelihood on pseudo-observations.
    all_pairs : bool
        Fit copulas for all pairs (any sub-cascade can then be evaluated) or adjacent pairs only.
    min_interior : int
        Pairs with fewer queries in the interior x interior cell use the independence copula.
    correct : array (n, k) of 0/1, optional
        The training outcomes of the same queries. When given, also fits the pairwise correctness model
        P(correct_j | Phi_i, Phi_j) for every ordered pair (adjacent pairs only with ``all_pairs=False``), used by
        ``cascade(..., correctness="pairwise")`` (see :mod:`probcascade.joint.correctness`).
    correctness_ridge : float
        Prior precision of the pairwise correctness coefficients towards the study's model (0: maximum likelihood;
        1 is a sensible choice with a few dozen training queries).
    """
    # unknown family or option: a clear error before any fitting
    if isinstance(family, str):
        check_choice(family, "family", (*COPULA_FAMILIES, "aic"))
    else:
        get_family(family)
    check_choice(theta_method, "theta_method", ("tau", "mle"))
    check_int(min_interior, "min_interior", low=0)
    check_float(correctness_ridge, "correctness_ridge", low=0.0)
    if isinstance(phi, pd.DataFrame):
        models = tuple(models) if models is not None else tuple(map(str, phi.columns))
    phi = check_array(phi, "phi", ndim=2, unit_interval=True, column_names=models)  # errors name the model (column)
    if phi.shape[1] < 1:
        raise DataValidationError(f"'phi' must have one column per model (n_queries, n_models), got shape {phi.shape}")
    n, k = phi.shape
    models = tuple(models) if models is not None else tuple(f"model_{i}" for i in range(k))
    if len(models) != k:
        raise DataValidationError(f"'models' has {len(models)} names for {k} columns of 'phi'")
    marginals = {}
    for j, m in enumerate(models):
        try:
            marginals[m] = fit_marginal(phi[:, j], n_components=n_components, criterion=criterion)
        except (DataValidationError, FitError) as exc:
            raise type(exc)(f"marginal of model '{m}': {exc}") from exc
    cells = np.column_stack([cell_of(phi[:, j], float(marginals[m].params.lo), float(marginals[m].params.hi))
                             for j, m in enumerate(models)])
    pair_idx = list(combinations(range(k), 2)) if all_pairs else [(i, i + 1) for i in range(k - 1)]
    pairs, notes = {}, []
    for i, j in pair_idx:
        table = np.zeros((3, 3))
        np.add.at(table, (cells[:, i], cells[:, j]), 1.0)
        table /= n
        both = (cells[:, i] == 1) & (cells[:, j] == 1)
        a, b = models[i], models[j]
        if both.sum() < min_interior:
            fam, theta, tau = "independence", 0.0, 0.0
            notes.append(f"pair ({a}, {b}): {both.sum()} interior queries < {min_interior}; independence copula")
        else:
            # pseudo-observations of the interior x interior queries: the copula couples G_i and G_j there
            u, v = pseudo_observations(phi[both, i]), pseudo_observations(phi[both, j])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if family == "aic":
                    cf = min((fit_copula(u, v, family=f, method=theta_method) for f in AIC_FAMILIES),
                             key=lambda c: c.aic)
                else:
                    cf = fit_copula(u, v, family=family, method=theta_method)
            notes += [f"pair ({a}, {b}): {w.message}" for w in caught
                      if family != "aic" or not issubclass(w.category, IndependenceFallbackWarning)]
            fam, theta, tau = cf.family, float(cf.theta), float(cf.tau)
        pairs[(a, b)] = PairFit(a, b, table, fam, theta, tau, int(both.sum()))
    corr = {}
    if correct is not None:
        correct = correct.to_numpy() if isinstance(correct, pd.DataFrame) else np.asarray(correct)
        ordered = [(i, j) for i in range(k) for j in range(k) if i != j] if all_pairs else [(i, i + 1) for i in range(k - 1)]
        corr = fit_pairwise_correctness(phi, correct, models, ordered, ridge=correctness_ridge)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return MarkovCopulaModel(models, marginals, pairs, family, n, notes, corr)
