"""Goodness of fit of a copula family: Cramér-von Mises test of Kendall's transform (§4.3, Table 4 of the study).

``W_i = (1/n) #{j : U_j <= U_i, V_j <= V_i}`` is the empirical copula at each pseudo-observation and ``K_n`` the
empirical distribution function of the ``W_i``. The statistic ``S_n = n * int (K_n - K_theta)^2 dK_theta``
compares it with the family's Kendall distribution ``K_theta`` (Genest, Remillard and Beaudoin 2009); Table 4 of the
study reports ``sqrt(n) * int (K_n - K_theta)^2 dK_theta`` (``sqrt_n_cvm``). ``statistic="plugin"`` gives the
variant of the study's code (``K_theta`` replaced by the empirical cdf of ``C_theta(U_i, V_i)``), which has much
less power; both are computed from the same bootstrap draws.

:func:`copula_gof` takes its p-value from a parametric bootstrap, with theta re-estimated on every replicate
(composite null) or fixed (a theta fitted on training data). The B replicates run as one compiled call: each draws
its sample already sorted in ``u`` (Renyi's representation of uniform order statistics), so the empirical copula
is one comparison matrix, and sample size, theta and the re-estimation switch are traced, so every data size up
to the padded capacity shares the compilation. :func:`simulate_copula_gof` measures size and power the same way,
one compiled call for all simulated data sets.

Results on the study's data: ``experiments/results/copula_gof_llama.md``; size and power:
``experiments/results/copula_gof_calibration.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError
from probcascade.distributions.copulas import Copula
from probcascade.distributions.copulas import check_theta
from probcascade.distributions.copulas import clip_unit
from probcascade.distributions.copulas import eval_sample
from probcascade.distributions.copulas import eval_theta_from_tau
from probcascade.distributions.copulas import get_family
from probcascade.distributions.copulas import as_float
from probcascade.estimation.copulas import kendall_tau_b
from probcascade.estimation.copulas import rank_pseudo
from probcascade.estimation.copulas import row_blocks
from probcascade.estimation.copulas import PAD_VALUE, kendall_tau, pad_capacity, pad_unit
from probcascade.summary import Summary
from probcascade.validation import check_array, check_choice, check_int, check_matching_rows

__all__ = ["CopulaGofResult", "copula_gof", "simulate_copula_gof", "GOF_STATISTICS"]

def _empirical_copula_counts(u: jnp.ndarray, v: jnp.ndarray, block: int = 256) -> jnp.ndarray:
    """#{j : u_j <= u_i and v_j <= v_i} for every i (the point itself included), O(n^2) in row blocks."""
    rows, _ = row_blocks(u.shape[0], block)

    def one(r):
        return jnp.sum((u[None, :] <= u[r][:, None]) & (v[None, :] <= v[r][:, None]), axis=1)

    return jax.lax.map(one, rows).reshape(-1)[: u.shape[0]]  # padding rows sit at the end


# ------------------------------------------------------------------------------------------------ goodness of fit (core)
def _cvm_integral(k_sorted: jnp.ndarray, n) -> jnp.ndarray:
    """int_0^1 (K_n - K)^2 dK, exactly, given K at the sorted W_(1) <= ... <= W_(n) (then padding with K = 1).

    K_n = i/n on [W_(i), W_(i+1)) (W_(0) = 0, W_(n+1) = 1), so each piece integrates to
    ((K(W_(i+1)) - i/n)^3 - (K(W_(i)) - i/n)^3) / 3; pieces past the n-th have zero length.
    """
    level = jnp.arange(k_sorted.shape[0] + 1) / n
    lo = jnp.concatenate([jnp.zeros(1, k_sorted.dtype), k_sorted])
    hi = jnp.concatenate([k_sorted, jnp.ones(1, k_sorted.dtype)])
    return jnp.sum((hi - level) ** 3 - (lo - level) ** 3) / 3.0


GOF_STATISTICS = ("kendall", "plugin")
"""``kendall``: Genest, Remillard and Beaudoin (2009); ``plugin``: the variant of the study's code."""


def _gof_statistics(w, u, v, n, theta, cls: type[Copula]) -> jnp.ndarray:
    """Both versions of int (K_n - K_theta)^2 dK_theta, as [kendall, plugin] (first n entries valid, padding PAD_VALUE).

    ``kendall``: K_theta is the family's Kendall distribution (Genest et al. 2009). ``plugin`` (the study's code):
    K_theta is the empirical cdf of c_i = C_theta(U_i, V_i) at the pseudo-observations; against that step function
    the integral is (1/n) sum_k (K_n(c_(k)) - (k - 1/2)/n)^2 (midpoint value at each jump).
    """
    i = jnp.arange(w.shape[0])
    ws = jnp.sort(w)
    kendall = _cvm_integral(jnp.where(i < n, cls._K_fast(jnp.minimum(ws, 1.0), theta), 1.0), n)
    c = jnp.sort(jnp.where(i < n, cls._cdf(clip_unit(u), clip_unit(v), theta), PAD_VALUE))
    k_n = jnp.searchsorted(ws, c, side="right").astype(w.dtype) / n
    plugin = jnp.sum(jnp.where(i < n, (k_n - (i + 0.5) / n) ** 2, 0.0)) / n
    return jnp.stack([kendall, plugin])


@partial(jax.jit, static_argnames=("cls",))
def _gof_observed(u: jnp.ndarray, v: jnp.ndarray, n, theta, cls: type[Copula]) -> jnp.ndarray:
    w = jnp.where(jnp.arange(u.shape[0]) < n, _empirical_copula_counts(u, v) / n, PAD_VALUE)
    return _gof_statistics(w, u, v, n, theta, cls)


def _bootstrap_replicate(key, theta, n, reestimate, *, cap: int, cls: type[Copula]) -> jnp.ndarray:
    """One parametric-bootstrap draw of both statistics: sample n points from C_theta, rank, re-estimate theta (if
    ``reestimate``), evaluate.

    The u's are drawn already sorted, as normalised partial sums of n + 1 exponentials (Renyi's representation of
    uniform order statistics), and v_i = h_inv(w_i, u_i). Then U_j <= U_i iff j <= i, so
    W_i = #{j <= i : V_j <= V_i} / n, and the number of concordant pairs is sum_i (n W_i - 1), which gives tau.
    """
    ku, kw = jax.random.split(key)
    i = jnp.arange(cap)
    valid = i < n
    spacings = jax.random.exponential(ku, (cap + 1,), dtype=theta.dtype)
    partial_sums = jnp.cumsum(jnp.where(jnp.arange(cap + 1) <= n, spacings, 0.0))
    u = partial_sums[:cap] / partial_sums[n]
    w = jax.random.uniform(kw, (cap,), dtype=theta.dtype)
    v = jnp.where(valid, cls._h_inv(clip_unit(w), clip_unit(u), theta), PAD_VALUE)
    counts = jnp.sum((v[None, :] <= v[:, None]) & (i[None, :] <= i[:, None]), axis=1)
    tau = 4.0 * jnp.sum(jnp.where(valid, counts - 1, 0)) / (n * (n - 1.0)) - 1.0
    theta = jnp.where(reestimate, cls._theta_from_tau(tau), theta)
    pu = jnp.where(valid, (i + 1.0) / (n + 1.0), PAD_VALUE)
    pv = jnp.where(valid, (jnp.searchsorted(jnp.sort(v), v, side="left").astype(v.dtype) + 1.0) / (n + 1.0), PAD_VALUE)
    return _gof_statistics(jnp.where(valid, counts / n, PAD_VALUE), pu, pv, n, theta, cls)


@partial(jax.jit, static_argnames=("cap", "cls", "n_boot", "batch_size"))
def _gof_bootstrap(key, theta, n, reestimate, *, cap: int, cls: type[Copula], n_boot: int, batch_size: int):
    """All B bootstrap draws of both statistics, shape (B, 2), in one call: lax.map over replicates, vmapped in
    batches of ``batch_size``. Sample size, theta and the re-estimation switch are traced, so data of any size up to
    ``cap`` and both null hypotheses share one compilation."""
    replicate = partial(_bootstrap_replicate, theta=theta, n=n, reestimate=reestimate, cap=cap, cls=cls)
    return jax.lax.map(replicate, jax.random.split(key, n_boot), batch_size=batch_size)


def _boot_batch_size(n: int, n_boot: int, budget: int = 4_000_000) -> int:
    """Replicates per vmapped batch so that one batch's n x n comparison fits ``budget`` elements."""
    return int(max(1, min(n_boot, budget // (n * n))))


@dataclass(frozen=True)
class CopulaGofResult:
    """Kendall's-transform Cramer-von Mises goodness-of-fit test of a copula family.

    Attributes
    ----------
    family : str
    theta : float
        Parameter of the null copula (estimated from ``tau`` or given).
    tau : float
        Empirical Kendall's tau-b of the tested data.
    n : int
    statistic : float
        S_n = n * int (K_n - K_theta)^2 dK_theta (Genest, Remillard and Beaudoin 2009 for ``statistic_kind =
        "kendall"``).
    sqrt_n_cvm : float
        sqrt(n) * int (K_n - K_theta)^2 dK_theta, the scale of the study's Table 4.
    p_value : float
        (1 + #{T_b >= T}) / (B + 1) from the parametric bootstrap.
    n_boot : int
    theta_estimated : bool
        True when theta was estimated on the data and re-estimated on every bootstrap sample (composite null);
        False when theta was given (fully specified null).
    statistic_kind : {"kendall", "plugin"}
        Which K_theta the statistic uses (see :func:`copula_gof`).
    boot_statistics : ndarray
        The B bootstrap values of ``statistic``.
    """

    family: str
    theta: float
    tau: float
    n: int
    statistic: float
    sqrt_n_cvm: float
    p_value: float
    n_boot: int
    theta_estimated: bool
    statistic_kind: str
    boot_statistics: np.ndarray = field(repr=False, compare=False)

    def rejects(self, alpha: float = 0.05) -> bool:
        """Whether the test rejects the family at level ``alpha``."""
        return self.p_value <= alpha

    def summary(self) -> Summary:
        """The test's settings, statistics and p-value (a :class:`~probcascade.summary.Summary`)."""
        null = "theta re-estimated per bootstrap sample" if self.theta_estimated else "theta fixed (fully specified)"
        kind = "Kendall distribution K_theta" if self.statistic_kind == "kendall" else "plug-in ecdf of C_theta(U_i)"
        rows = {"family": self.family, "statistic": kind, "n": self.n, "theta": self.theta,
                "Kendall tau (data)": self.tau, "S_n": self.statistic, "sqrt(n) CvM": self.sqrt_n_cvm,
                "p-value": self.p_value, "bootstrap B": self.n_boot, "null": null}
        return Summary("Copula goodness of fit (Kendall's transform, Cramer-von Mises)").add_dict(rows)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"family": self.family, "n": self.n, "theta": self.theta, "tau": self.tau,
                              "statistic": self.statistic, "sqrt_n_cvm": self.sqrt_n_cvm, "p_value": self.p_value,
                              "n_boot": self.n_boot, "theta_estimated": self.theta_estimated,
                              "statistic_kind": self.statistic_kind}])


@x64
def copula_gof(
    u,
    v,
    family: str = "gumbel",
    theta: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    statistic: str = "kendall",
) -> CopulaGofResult:
    """Goodness-of-fit test of a copula family by a Cramer-von Mises statistic of Kendall's transform.

    W_i = (1/n) #{j : U_j <= U_i, V_j <= V_i} is the empirical copula at each pseudo-observation and K_n the empirical
    cdf of the W_i. The statistic is S_n = n int (K_n - K_theta)^2 dK_theta, reported also as
    ``sqrt_n_cvm = S_n / sqrt(n)``; its p-value comes from a parametric bootstrap whose B replicates run as one
    jit-compiled ``lax.map`` over vmapped batches.

    Parameters
    ----------
    u, v : array-like of float in [0, 1]
        Pseudo-observations (ranks / (n + 1), see :func:`~probcascade.estimation.copulas.pseudo_observations`) of the
        tested data.
    family : str
        A key of :data:`~probcascade.distributions.copulas.COPULA_FAMILIES`.
    theta : float, optional
        ``None``: estimate theta from Kendall's tau on the data and re-estimate it on every bootstrap sample
        (composite null, Genest et al.'s parametric bootstrap). A number (e.g. fitted on training data): the null
        copula is fully specified and bootstrap samples use it without re-estimation.
    n_boot : int
        Number of bootstrap replicates B.
    seed : int
        Seed of the bootstrap.
    statistic : {"kendall", "plugin"}
        ``"kendall"`` (default): K_theta is the family's Kendall distribution function (Genest, Remillard and
        Beaudoin 2009). ``"plugin"``: K_theta is replaced by the empirical cdf of C_theta(U_i, V_i) at the data's own
        pseudo-observations, as in the code behind the study's Table 4; it compares the empirical and fitted copula
        only at the observed points and has much less power (see ``experiments/results/copula_gof_llama.md``).

    Returns
    -------
    CopulaGofResult
    """
    cls = get_family(family)
    check_choice(statistic, "statistic", GOF_STATISTICS)
    a = check_array(u, "u", ndim=1, unit_interval=True, min_rows=3)
    b = check_array(v, "v", ndim=1, unit_interval=True, min_rows=3)
    check_matching_rows("u", a, "v", b)
    check_int(n_boot, "n_boot", low=1)
    check_int(seed, "seed", low=0)
    tau = kendall_tau(a, b)
    reestimate = theta is None and cls.n_params > 0
    # a strongly typed float64 either way, so that estimated and given theta share the compiled bootstrap
    th = eval_theta_from_tau(cls, tau) if theta is None else as_float(check_theta(cls, theta))
    n, n_boot, cap = int(a.size), int(n_boot), pad_capacity(a.size)
    column = GOF_STATISTICS.index(statistic)
    stat = float(_gof_observed(pad_unit(a), pad_unit(b), n, th, cls)[column])
    boot = np.asarray(
        _gof_bootstrap(jax.random.PRNGKey(seed), th, n, reestimate, cap=cap, cls=cls, n_boot=n_boot,
                       batch_size=_boot_batch_size(cap, n_boot))
    )[:, column]
    p = (1.0 + np.sum(boot >= stat)) / (n_boot + 1.0)
    return CopulaGofResult(cls.name, float(th), tau, n, n * stat, math.sqrt(n) * stat, float(p), n_boot, reestimate,
                           statistic, n * boot)


@partial(jax.jit, static_argnames=("true_cls", "cls", "n", "n_rep", "n_boot", "batch_size"))
def _simulate_gof(key, true_theta, theta, reestimate, *, true_cls: type[Copula], cls: type[Copula], n: int, n_rep: int,
                  n_boot: int, batch_size: int):
    """For each of n_rep data sets drawn from true_cls(true_theta): [tau, theta, both statistics, both p-values]."""

    def one(k):
        k_data, k_boot = jax.random.split(k)
        uv = eval_sample(true_cls, k_data, true_theta, (n,))
        u, v = rank_pseudo(uv[:, 0]), rank_pseudo(uv[:, 1])
        tau = kendall_tau_b(u, v)
        th = jnp.where(reestimate, cls._theta_from_tau(tau), theta)
        observed = _gof_observed(u, v, n, th, cls)
        boot = _gof_bootstrap(k_boot, th, n, reestimate, cap=n, cls=cls, n_boot=n_boot, batch_size=batch_size)
        p = (1.0 + jnp.sum(boot >= observed, axis=0)) / (n_boot + 1.0)
        return jnp.concatenate([jnp.stack([tau, th]), math.sqrt(n) * observed, p])

    return jax.lax.map(one, jax.random.split(key, n_rep))


@x64
def simulate_copula_gof(
    copula: Copula,
    n: int,
    n_rep: int = 200,
    family: str = "gumbel",
    theta: float | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Size or power of :func:`copula_gof` by simulation, as one compiled call (no Python loop over data sets).

    Draws ``n_rep`` data sets of ``n`` points from ``copula``, turns each into pseudo-observations and tests it
    against ``family`` with both statistics (the same bootstrap draws serve both).

    Parameters
    ----------
    copula : Copula
        The true copula (a scalar one). Testing against its own family measures the size of the test.
    n, n_rep : int
        Sample size and number of simulated data sets.
    family : str
        Family under test.
    theta : float, optional
        ``None``: theta estimated from tau on every data set and re-estimated on every bootstrap sample (composite
        null). A number: fully specified null.
    n_boot : int
        Bootstrap replicates B per data set.
    seed : int

    Returns
    -------
    DataFrame, one row per data set: ``tau``, ``theta``, ``sqrt_n_cvm_kendall``, ``sqrt_n_cvm_plugin``,
    ``p_kendall``, ``p_plugin``. The rejection rate at level alpha is ``(frame[p] <= alpha).mean()``.
    """
    cls = get_family(family)
    check_int(n, "n", low=3)
    check_int(n_rep, "n_rep", low=1)
    check_int(n_boot, "n_boot", low=1)
    check_int(seed, "seed", low=0)
    if not isinstance(copula, Copula) or copula.batch_shape != ():
        raise DataValidationError("'copula' must be a scalar Copula instance (e.g. GumbelCopula(2.0))")
    th = as_float(check_theta(cls, theta)) if theta is not None else as_float(0.0)
    out = _simulate_gof(jax.random.PRNGKey(seed), as_float(copula.theta), th, theta is None and cls.n_params > 0,
                        true_cls=type(copula), cls=cls, n=int(n), n_rep=int(n_rep), n_boot=int(n_boot),
                        batch_size=_boot_batch_size(int(n), int(n_boot)))
    cols = ["tau", "theta", "sqrt_n_cvm_kendall", "sqrt_n_cvm_plugin", "p_kendall", "p_plugin"]
    return pd.DataFrame(np.asarray(out), columns=cols)
