"""Goodness of fit of the marginal model: the Cramér-von Mises test of §4.3.3 of the study (eq. 20, Tables 5-6).

:func:`cvm_statistic` is the exact distance ``int (F_n - F)^2 dF`` between a sample and a point-mass beta mixture:
the atoms contribute closed-form terms and, after the substitution ``t = F(x)``, the continuous part integrates
exactly between consecutive data points, so no quadrature error enters the statistic. :func:`marginal_gof` tests
the marginal on held-out data three ways (:class:`MarginalGofResult`): the test data against the training fit with
a null that keeps that fit fixed (Table 5), the same statistic with a null that redraws and refits the training
sample (so the estimation error of the training fit is part of the null), and the test data against its own refit
with a parametric bootstrap that refits every sample (Table 6 with a valid bootstrap).

The nulls (:func:`cvm_null_fixed`, :func:`cvm_null_train_refit`, :func:`cvm_null_refit`) are pure JAX: all
bootstrap samples are drawn and refitted in one ``vmap``-ed, jit-compiled call, which is what makes B = 1000
refits per marginal affordable. Size and power of the three tests:
``experiments/results/marginal_gof_calibration.md``.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError
from probcascade.estimation.marginal import MarginalFit
from probcascade.distributions.marginal import MarginalParams
from probcascade.estimation.em import N_ITER
from probcascade.distributions.marginal import PointMassBetaMixture
from probcascade.estimation.marginal import check_marginal_data
from probcascade.validation import check_int
from probcascade.estimation.marginal import as_params
from probcascade.estimation.marginal import fit_marginal
from probcascade.estimation.em import fit_marginal_params
from probcascade.distributions.marginal import interior_cdf
from probcascade.distributions.marginal import sample, sample_categories
from probcascade.summary import Summary

__all__ = ["cvm_statistic", "cvm_core", "cvm_null_fixed", "cvm_null_refit", "cvm_null_train_refit", "marginal_gof", "MarginalGofResult"]


def _cvm_from_levels(t, w_lo, w_hi, fn_lo, fn_hi):
    """CvM distance given the sorted values ``t = w_lo + (1 - w_lo - w_hi) G(x_(i))`` and ``F_n(lo)``, ``F_n(hi)``.

    The atoms contribute ``w_lo (F_n(lo) - w_lo)^2 + w_hi (F_n(hi) - 1)^2``.  On the continuous part the
    substitution ``t = F(x)`` maps ``dF`` to ``dt`` on ``(w_lo, 1 - w_hi)``; between consecutive sorted data points
    ``F_n`` is constant ``k / n``, so each piece integrates exactly to ``((t_{k+1} - k/n)^3 - (t_k - k/n)^3) / 3``.
    """
    n = t.shape[0]
    t_left = jnp.concatenate([w_lo[None], t])
    t_right = jnp.concatenate([t, (1.0 - w_hi)[None]])
    level = jnp.arange(n + 1) / n
    a, b = t_right - level, t_left - level
    continuous = jnp.sum((t_right - t_left) * (a * a + a * b + b * b)) / 3.0
    return w_lo * (fn_lo - w_lo) ** 2 + w_hi * (fn_hi - 1.0) ** 2 + continuous


@jax.jit
def cvm_core(p: MarginalParams, x):
    """Exact ``int (F_n - F)^2 dF`` for unbatched parameters ``p`` and data ``x`` of shape ``(n,)`` (pure).

    See :func:`_cvm_from_levels` for the closed form; data outside ``[lo, hi]`` enter only through ``F_n``.
    """
    n = x.shape[0]
    c = 1.0 - p.w_lo - p.w_hi
    t = p.w_lo + c * interior_cdf(p, jnp.sort(x))
    return _cvm_from_levels(t, p.w_lo, p.w_hi, jnp.sum(x <= p.lo) / n, jnp.sum(x <= p.hi) / n)


@partial(jax.jit, static_argnames=("n", "n_boot"))
def cvm_null_fixed(p: MarginalParams, key, n: int, n_boot: int):
    """``n_boot`` CvM distances of samples of size ``n`` from the fixed distribution ``p`` (pure).

    Uses the probability integral transform: an interior draw ``X`` has ``G(X) ~ Uniform(0, 1)``, so the statistic
    of a sample is computed from its category counts and uniform variates, exactly, without drawing ``X`` or
    evaluating ``G``.
    """
    k_cat, k_unif = jax.random.split(key)
    probs = jnp.stack([p.w_lo, p.w_hi, 1.0 - p.w_lo - p.w_hi])
    cat = sample_categories(k_cat, probs, (n_boot, n))
    c = 1.0 - p.w_lo - p.w_hi
    t = p.w_lo + c * jax.random.uniform(k_unif, (n_boot, n), probs.dtype)
    t = jnp.sort(jnp.where(cat == 0, p.w_lo, jnp.where(cat == 1, 1.0 - p.w_hi, t)), axis=1)
    fn_lo = jnp.mean(cat == 0, axis=1)
    return jax.vmap(_cvm_from_levels, in_axes=(0, None, None, 0, None))(t, p.w_lo, p.w_hi, fn_lo, 1.0)


@x64
def cvm_statistic(dist: PointMassBetaMixture | MarginalFit | MarginalParams, x) -> float:
    """Exact Cramér-von Mises distance ``int (F_n - F)^2 dF`` between the sample ``x`` and ``dist``.

    The square root is the study's :math:`\\sqrt{\\mathrm{CvM}}` (eq. 20 of the study).  See :func:`cvm_core` for the
    closed form; ``dist`` must be unbatched.
    """
    params = as_params(dist)
    data = check_marginal_data(x, "x", min_size=1, allow_constant=True)
    return float(cvm_core(MarginalParams(*(jnp.asarray(z) for z in params)), jnp.asarray(data)))


def _float_params(params: MarginalParams) -> MarginalParams:
    """Parameters in the default float dtype (float64 inside :func:`probcascade.float64`), whatever they came as."""
    return MarginalParams(*(jnp.asarray(z, dtype=jnp.result_type(float)) for z in params))


@partial(jax.jit, static_argnames=("n", "n_boot", "n_components", "n_iter"))
def cvm_null_refit(params: MarginalParams, key, n: int, n_boot: int, n_components: int = 2, n_iter: int = N_ITER):
    """Parametric-bootstrap null of the refitted CvM distance (pure).

    ``n_boot`` samples of size ``n`` are drawn from ``params``; each is refitted by :func:`fit_marginal_params`
    (all in one ``vmap``) and its CvM distance to its own refit is returned, shape ``(n_boot,)``.
    """
    params = _float_params(params)
    xs = sample(params, key, (n_boot, n))
    fitted = jax.vmap(lambda x: fit_marginal_params(x, n_components, n_iter))(xs)
    return jax.vmap(cvm_core)(fitted, xs)


@partial(jax.jit, static_argnames=("n_train", "n_test", "n_boot", "n_components", "n_iter"))
def cvm_null_train_refit(params: MarginalParams, key, n_train: int, n_test: int, n_boot: int,
                         n_components: int = 2, n_iter: int = N_ITER):
    """Parametric-bootstrap null of the train-fit CvM distance, estimation error included (pure).

    Each of the ``n_boot`` replicates draws a training sample of size ``n_train`` and a test sample of size
    ``n_test`` from ``params`` (the training fit), refits the training sample (bounds from its own min/max, as
    :func:`fit_marginal` does) and returns the CvM distance of the test sample to that refit; all refits run in
    one ``vmap``. Shape ``(n_boot,)``.
    """
    params = _float_params(params)
    k_train, k_test = jax.random.split(key)
    train = sample(params, k_train, (n_boot, n_train))
    test = sample(params, k_test, (n_boot, n_test))
    fitted = jax.vmap(lambda x: fit_marginal_params(x, n_components, n_iter))(train)
    return jax.vmap(cvm_core)(fitted, test)


@dataclasses.dataclass(frozen=True)
class MarginalGofResult:
    """Goodness of fit of the marginal model (§4.3.3 and Tables 5-6 of the study).

    Attributes
    ----------
    sqrt_cvm, p_value : float
        :math:`\\sqrt{\\mathrm{CvM}}` of the test data against the marginal fitted on the training data, and its
        Monte Carlo p-value from ``n_boot`` samples of the test size drawn from that fixed distribution (this
        ignores the estimation error of the training fit, as in Table 5, and over-rejects: see
        ``experiments/results/marginal_gof_calibration.md``).
    p_value_boot : float
        p-value of the same ``sqrt_cvm`` from a parametric bootstrap that redraws *and refits* the training
        sample in every replicate (:func:`cvm_null_train_refit`), so the estimation error of the training fit is
        part of the null: the calibrated version of the Table 5 test.
    sqrt_cvm_refit, p_value_refit : float
        :math:`\\sqrt{\\mathrm{CvM}_r}` of the test data against the marginal refitted on the test data, and its
        parametric-bootstrap p-value in which every bootstrap sample is refitted (a valid test of the model
        family; Table 6 of the study did not refit the bootstrap samples).
    n_train, n_test, n_boot : int
    train_fit, test_fit : MarginalFit
    boot_sqrt_cvm, boot_sqrt_cvm_refit, boot_sqrt_cvm_train_refit : numpy.ndarray
        The bootstrap statistics.

    p-values are ``(1 + #{T_b >= T}) / (B + 1)``.
    """

    sqrt_cvm: float
    p_value: float
    sqrt_cvm_refit: float
    p_value_refit: float
    n_train: int
    n_test: int
    n_boot: int
    train_fit: MarginalFit
    test_fit: MarginalFit
    boot_sqrt_cvm: np.ndarray = dataclasses.field(repr=False)
    boot_sqrt_cvm_refit: np.ndarray = dataclasses.field(repr=False)
    p_value_boot: float = float("nan")
    boot_sqrt_cvm_train_refit: np.ndarray = dataclasses.field(repr=False, default=None)

    def to_frame(self) -> pd.DataFrame:
        """One row: sizes, statistics and p-values."""
        keys = ("n_train", "n_test", "n_boot", "sqrt_cvm", "p_value", "p_value_boot", "sqrt_cvm_refit", "p_value_refit")
        return pd.DataFrame([{k: getattr(self, k) for k in keys}])

    def summary(self) -> Summary:
        """Both tests and both fits (a :class:`~probcascade.summary.Summary`)."""
        tests = pd.DataFrame(
            {"sqrt(CvM)": [self.sqrt_cvm, np.nan, self.sqrt_cvm_refit],
             "p-value": [self.p_value, self.p_value_boot, self.p_value_refit]},
            index=pd.Index(["fitted on train, test data (fixed null)", "fitted on train, test data (train refit)",
                            "refitted on test (bootstrap refit)"], name="test"),
        )
        out = Summary("Marginal goodness of fit (Cramer-von Mises)")
        out.add_dict({"n train": self.n_train, "n test": self.n_test, "bootstrap samples": self.n_boot}, ncols=2)
        out.add_table(tests, float_format="{:.4f}")
        out.extend(self.train_fit.summary().add_title("Fit on train"))
        out.extend(self.test_fit.summary().add_title("Refit on test"))
        return out


def _p_value(boot: np.ndarray, observed: float) -> float:
    return float((1 + np.sum(boot >= observed)) / (boot.size + 1))


@x64
def marginal_gof(
    train_phi,
    test_phi,
    n_boot: int = 1000,
    seed: int = 0,
    n_components: int = 2,
    n_iter: int = N_ITER,
) -> MarginalGofResult:
    """Test the marginal model on held-out data (§4.3.3, eq. 20 and Tables 5-6 of the study).

    Parameters
    ----------
    train_phi, test_phi : array_like
        Calibrated confidences on the training and test split (calibrator fitted on train).
    n_boot : int
        Bootstrap / Monte Carlo samples ``B``.
    seed : int
        Seed of the JAX random key.
    n_components : int
        Beta components of the marginal.
    n_iter : int
        EM iterations of every fit (bootstrap refits included).

    Returns
    -------
    MarginalGofResult
    """
    test = check_marginal_data(test_phi, "test_phi")
    check_int(n_boot, "n_boot", low=1)
    check_int(seed, "seed", low=0)
    try:
        train_fit = fit_marginal(train_phi, n_components=n_components, n_iter=n_iter)
    except DataValidationError as exc:
        raise DataValidationError(str(exc).replace("'phi'", "'train_phi'", 1)) from exc
    try:
        test_fit = fit_marginal(test, n_components=n_components, n_iter=n_iter)
    except DataValidationError as exc:
        raise DataValidationError(str(exc).replace("'phi'", "'test_phi'", 1)) from exc
    key_fixed, key_refit, key_train = jax.random.split(jax.random.PRNGKey(seed), 3)
    x = jnp.asarray(test)
    p_train = MarginalParams(*(jnp.asarray(z) for z in train_fit.params))
    p_test = MarginalParams(*(jnp.asarray(z) for z in test_fit.params))
    stat = math.sqrt(float(cvm_core(p_train, x)))
    stat_refit = math.sqrt(float(cvm_core(p_test, x)))
    boot = np.sqrt(np.asarray(cvm_null_fixed(p_train, key_fixed, n=test.size, n_boot=int(n_boot))))
    boot_refit = np.sqrt(
        np.asarray(cvm_null_refit(p_test, key_refit, test.size, int(n_boot), n_components, n_iter))
    )
    boot_train = np.sqrt(np.asarray(
        cvm_null_train_refit(p_train, key_train, train_fit.n, test.size, int(n_boot), n_components, n_iter)
    ))
    return MarginalGofResult(
        sqrt_cvm=stat,
        p_value=_p_value(boot, stat),
        sqrt_cvm_refit=stat_refit,
        p_value_refit=_p_value(boot_refit, stat_refit),
        n_train=train_fit.n,
        n_test=test.size,
        n_boot=int(n_boot),
        train_fit=train_fit,
        test_fit=test_fit,
        boot_sqrt_cvm=boot,
        boot_sqrt_cvm_refit=boot_refit,
        p_value_boot=_p_value(boot_train, stat),
        boot_sqrt_cvm_train_refit=boot_train,
    )
