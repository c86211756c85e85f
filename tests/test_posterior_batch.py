"""NUTS vmapped over replicates (probcascade.posterior.batch) against per-replicate fits.

The model is the copula block of a 2-model cascade (a Gumbel copula's Kendall's tau and a 3 x 3 cell table): the
batching machinery is the same for every block, and one NUTS compilation of this block takes ~15 s of CPU where the
marginals-and-copulas model takes ~40 s (the experiment posterior_coverage_synthetic.py runs that one)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size

from probcascade.data.synthetic import DEFAULT_SPEC, make_synthetic_cascade
from probcascade.exceptions import DataValidationError
from probcascade.posterior.batch import fit_nuts_batch, stack_data
from probcascade.posterior.fit import fit_posterior
from probcascade.posterior.models import Priors, data_from_phi

K, N, DRAWS, WARMUP, CHAINS = 2, 60, 200, 200, 2


def _data(seed: int, n: int = N, **kw):
    d = make_synthetic_cascade(n, seed=seed)
    phi = DEFAULT_SPEC.calibrated(d.logprob)[:, :K]
    return data_from_phi(phi, d.correct[:, :K], d.models[:K], blocks=("copulas",), **kw)


@pytest.fixture(scope="module")
def datas():
    return [_data(s) for s in (0, 1)]


@pytest.fixture(scope="module")
def batch_post(datas):
    return fit_nuts_batch(stack_data(datas), draws=DRAWS, warmup=WARMUP, chains=CHAINS, seed=0)


def _mc_se(x):
    """Monte Carlo standard error of the mean of x (chains, draws, ...): sd / sqrt(ESS)."""
    return x.std(axis=(0, 1)) / np.sqrt(np.asarray(effective_sample_size(x)))


def test_batch_shapes_and_diagnostics(batch_post):
    assert batch_post.samples["theta"].shape == (2, CHAINS, DRAWS, K - 1)
    assert batch_post.samples["tau_0"].shape == (2, CHAINS, DRAWS)
    assert batch_post.draws("cell").shape == (2, CHAINS * DRAWS, K - 1, 9)
    frame = batch_post.to_frame()
    assert list(frame["replicate"]) == [0, 1]
    # tiny, well-identified posteriors started at the point estimates: the chains mix (R-hat well under 1.05)
    assert np.all(frame["max_r_hat"] < 1.05)
    assert np.all(frame["divergences"] <= 2)
    assert "replicates with divergences" in str(batch_post.summary())


def test_batch_cell_tables_match_the_conjugate_posterior(datas, batch_post):
    # the cell table block is Dirichlet(a) x multinomial, independent of the rest: its posterior mean is
    # (a + counts) / (sum(a) + n) exactly, per replicate (each replicate must see its own counts); a is the default
    # prior's (0.25 for the cells involving an atom, 1 for interior-interior)
    a = Priors().cell_prior()
    for r, d in enumerate(datas):
        x = batch_post.samples["cell"][r]
        exact = (a + d.cells) / (a.sum() + N)
        np.testing.assert_array_less(np.abs(x.mean(axis=(0, 1)) - exact), 4.0 * _mc_se(x) + 1e-12)


def test_batch_agrees_with_fit_posterior(datas, batch_post):
    # NUTS of replicate 1 alone (MCMC, chain_method="vectorized") vs its batched run: independent chains of the
    # same posterior, so the means differ by Monte Carlo error only. Tolerance: 4 combined MC standard errors
    # (sd / sqrt(ESS) of each run), a false alarm about once in 16 000 comparisons.
    single = fit_posterior(datas[1], draws=DRAWS, warmup=WARMUP, chains=CHAINS, seed=1)
    for site in ("theta", "cell"):
        a = batch_post.samples[site][1]
        b = np.asarray(single.idata.posterior[site].values)
        se = np.sqrt(_mc_se(a) ** 2 + _mc_se(b) ** 2)
        assert np.all(np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))) <= 4.0 * se), site


def test_stack_data_rejects_mismatched_or_untraceable_data(datas):
    with pytest.raises(DataValidationError, match="phi of shape"):
        stack_data([datas[0], _data(2, n=50)])
    with pytest.raises(DataValidationError, match="families"):
        stack_data([datas[0], dataclasses.replace(datas[1], families=("clayton",))])
    with pytest.raises(DataValidationError, match="calibrators"):
        stack_data([dataclasses.replace(datas[0], blocks=("calibrators", "marginals"))])
    with pytest.raises(DataValidationError, match="no data sets"):
        stack_data([])
