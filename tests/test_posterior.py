"""NumPyro posterior of a cascade (issue 13): models over the package's own densities, NUTS/SVI, InferenceData
results, the posterior predictive frontier and the CLI. Kept small: one short NUTS fit of a 3-model synthetic
cascade serves most tests (module fixture)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probcascade.data.synthetic import make_synthetic_cascade

# one worker runs the module: its NUTS fit (module fixture) is made once, not once per xdist worker
pytestmark = pytest.mark.xdist_group("posterior")


@pytest.fixture(scope="module")
def train():
    d = make_synthetic_cascade(150, seed=3)
    return d.subset(d.models[:3])


@pytest.fixture(scope="module")
def result(train):
    from probcascade.posterior.fit import fit_posterior

    return fit_posterior(train, draws=40, chains=2, warmup=60, seed=1)


def test_inference_data_groups_and_shapes(result, train):
    idata = result.idata
    assert {"posterior", "sample_stats", "observed_data"} <= set(idata.groups())
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 40
    assert idata.posterior["calib_coef"].shape == (2, 40, 3, 2)
    assert idata.posterior["theta"].shape == (2, 40, 2)
    assert "diverging" in idata.sample_stats
    np.testing.assert_array_equal(idata.observed_data["correct"].values, train.correct)
    m = result.marginal_draws()
    assert m.alpha.shape == (80, 3, 2)
    # weights are one simplex per model: atoms + (1 - atoms) * mixture = 1
    np.testing.assert_allclose(m.w_lo + m.w_hi + (1 - m.w_lo - m.w_hi) * m.mix.sum(-1), 1.0, atol=1e-12)


def test_ordering_constraint_and_copula_support(result):
    """Label switching is removed: per model, the ordered coordinate (component means or concentrations, chosen
    from the point fit) is increasing in every draw; Gumbel theta >= 1."""
    a, b = result.draws("alpha"), result.draws("beta")
    mu, kappa = a / (a + b), a + b
    assert set(result.data.order_by) <= {"mean", "kappa"} and len(result.data.order_by) == 3
    for j, o in enumerate(result.data.order_by):
        assert np.all(np.diff(mu[:, j] if o == "mean" else kappa[:, j], axis=-1) > 0)
    assert np.all(result.draws("theta") >= 1.0)


def test_order_coordinate_identifies_scale_mixture():
    """Two components with the same mean but concentrations 40 and 2 (a scale mixture, like TruthfulQA's
    llama3.2-3b) are ordered by concentration; well separated means are ordered by mean."""
    from probcascade.posterior.models import data_from_phi

    rng = np.random.default_rng(0)
    scale_mix = np.where(rng.random(400) < 0.6, rng.beta(20, 20, 400), rng.beta(1, 1, 400))
    two_means = np.where(rng.random(400) < 0.5, rng.beta(4, 16, 400), rng.beta(16, 4, 400))
    d = data_from_phi(np.column_stack([scale_mix, two_means]), np.ones((400, 2), dtype=int), ("a", "b"),
                      blocks=("marginals",))
    assert d.order_by == ("kappa", "mean")


def test_point_init_is_inside_support(train):
    """The NUTS start (point estimates) is a valid value of every sampled site."""
    from probcascade.posterior.models import point_init, prepare_data

    d = prepare_data(train)
    init = point_init(d)
    assert {"calib_std", "weights", "z_ordered", "z_free", "tau_0", "tau_1", "cell", "corr_coef"} <= set(init)
    np.testing.assert_allclose(init["weights"].sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.diff(init["z_ordered"], axis=1) > 0)
    assert all(0.0 < float(init[f"tau_{i}"]) < 1.0 for i in range(2))


@pytest.mark.slow     # two NUTS compilations (each fit compiles its own program) of the small calibrator block
def test_seeded_reproducible(train):
    """The same seed gives the same draws. Checked on the calibrator block alone: the seeding (the PRNG key of the
    vectorised chains, the start at the point estimates) does not depend on the blocks, and a refit of the whole
    model would compile the module fixture's large program once more."""
    from probcascade.posterior.fit import fit_posterior

    a, b = (fit_posterior(train, draws=20, chains=2, warmup=20, seed=1, blocks=("calibrators",)) for _ in range(2))
    assert np.ptp(a.draws("calib_coef"), axis=0).min() > 0          # the chains move: equal draws are not trivial
    np.testing.assert_array_equal(a.draws("calib_coef"), b.draws("calib_coef"))


def test_summary_table_and_warnings(result):
    t = result.to_frame()
    for col in ("mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk", "ess_tail"):
        assert col in t.columns
    assert "calib_coef[M1, xi]" in t.index or any(i.startswith("calib_coef[") for i in t.index)
    text = str(result.summary())
    assert "divergences" in text and "R-hat" in text
    # 40 draws x 2 chains cannot reach a bulk ESS of 400: the summary must say so
    assert any("bulk ESS" in p for p in result.problems())
    assert "WARNING" in text


def test_calibrator_posterior_near_point_fit(result, train):
    """Weak priors and n = 150: the posterior mean slope is near the maximum-likelihood slope (within 3 posterior
    SDs; the MLE is the posterior mode under a flat prior and the prior SD is 2.5 in standardised units)."""
    from probcascade.calibration.calibrators import calibrate

    cal = calibrate(train)
    coef = result.draws("calib_coef")
    for j, m in enumerate(train.models):
        mle = cal.calibrators[m].result_.coef[1]
        assert abs(coef[:, j, 1].mean() - mle) < 3 * coef[:, j, 1].std() + 1e-3


def test_netcdf_roundtrip(result, tmp_path):
    from probcascade.posterior.results import PosteriorResult

    path = result.to_netcdf(tmp_path / "post.nc")
    back = PosteriorResult.from_netcdf(path)
    np.testing.assert_array_equal(back.draws("alpha"), result.draws("alpha"))
    assert back.models == result.models and back.data.families == result.data.families
    np.testing.assert_array_equal(back.data.phi, result.data.phi)
    np.testing.assert_allclose(back.data.costs, result.data.costs)
    assert back.priors == result.priors and back.priors.atom_concentration == 0.25
    # an unset atom concentration (the prior before it existed) survives the round trip, and a file written
    # before the field existed loads with it unset
    import dataclasses

    import arviz as az

    from probcascade.posterior.models import Priors

    unset = PosteriorResult(result.idata.copy(), result.data, dataclasses.replace(result.priors, atom_concentration=None))
    back = PosteriorResult.from_netcdf(unset.to_netcdf(tmp_path / "unset.nc"))
    assert back.priors.atom_concentration is None and back.priors == unset.priors
    old = az.from_netcdf(str(tmp_path / "post.nc"))
    del old.posterior.attrs["prior_atom_concentration"]
    old.to_netcdf(str(tmp_path / "old.nc"))
    assert PosteriorResult.from_netcdf(tmp_path / "old.nc").priors == Priors(atom_concentration=None)


def test_arviz_plots_work(result):
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    axes = az.plot_trace(result.idata, var_names=["tau"])
    assert axes.size >= 2
    axes = az.plot_posterior(result.idata, var_names=["theta"])
    assert np.size(axes) == 2


def test_table_and_chain_grid_match_point_builders(result):
    """The traced builders the predictive vmaps are the point model's builders (same numbers)."""
    import jax.numpy as jnp
    from probcascade.distributions.marginal import MarginalParams
    from probcascade.joint.chain import build_chain_grid, chain_grid
    from probcascade.joint.tables import CascadeParams, build_table, table_arrays
    from probcascade.precision import float64

    m = result.marginal_draws()
    one = MarginalParams(*(np.asarray(z)[0] for z in m))           # draw 0, all models
    with float64():
        p0 = MarginalParams(*(z[0] for z in one))
        np.testing.assert_allclose(np.asarray(table_arrays(MarginalParams(*map(jnp.asarray, p0)), 256)),
                                   build_table(p0, 256), rtol=1e-9, atol=1e-12)
        params = CascadeParams(None, jnp.asarray(result.cell_tables()[0]), jnp.asarray(result.draws("theta")[0]))
        fams = result.data.families
        a = chain_grid(params, fams, MarginalParams(*map(jnp.asarray, one)))
        b = build_chain_grid(params, fams, one)
    for x, y in zip(a[:4], b[:4]):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def pcascade(result):
    from probcascade.posterior.predictive import posterior_cascade

    return posterior_cascade(result, n_draws=30, seed=0)


def test_predictive_metrics_match_point_evaluation(result, pcascade):
    """Each draw's metrics equal the point-model evaluation of that draw's parameters (CascadeModel.metrics on a
    MarkovCopulaModel built from the same draw would be the reference; here: the draw with the chain evaluation in
    a plain loop over two draws), and vary across draws."""
    from probcascade.joint.chain import cascade_metrics
    import jax
    from probcascade.precision import float64

    lo, hi = pcascade.bounds
    thr = np.stack([lo + f * (hi - lo) for f in (0.2, 0.5, 0.8)])
    pc, ec = pcascade.metrics(thr)
    assert pc.shape == (30, 3) and ec.shape == (30, 3)
    assert np.all((pc > 0) & (pc < 1)) and np.all(ec > 0)
    assert pc[:, 1].std() > 1e-4                                      # the posterior is not a point mass
    with float64():
        for d in (0, 7):
            p = jax.tree_util.tree_map(lambda z: z[d], pcascade.params)
            ref = cascade_metrics(p, pcascade.spec, pcascade.costs, thr[1])
            np.testing.assert_allclose(pc[d, 1], float(ref[0]), rtol=1e-10)
            np.testing.assert_allclose(ec[d, 1], float(ref[1]), rtol=1e-10)


def test_frontier_bands_contain_mean(result, pcascade, train):
    from probcascade.tuning.frontier import Frontier
    from probcascade.posterior.predictive import frontier_bands

    lo, hi = pcascade.bounds
    thr = np.stack([lo + f * (hi - lo) for f in np.linspace(0.1, 0.9, 5)])
    fr = Frontier.from_arrays(thr, np.full(5, 0.5), np.full(5, 1.0), models=result.models)
    bands = frontier_bands(pcascade, fr, prob=0.9, target_accuracy=0.5, budget=1.0)
    assert np.all(bands.p_correct_lo <= bands.p_correct_mean) and np.all(bands.p_correct_mean <= bands.p_correct_hi)
    assert np.all(bands.e_cost_lo <= bands.e_cost_hi)
    assert bands.prob_accuracy.between(0, 1).all() and bands.prob_budget.between(0, 1).all()


def test_prob_correct_above(result):
    import jax
    import jax.numpy as jnp

    from probcascade import float64
    from probcascade.distributions.marginal import MarginalParams, cdf, partial_expectation
    from probcascade.posterior.predictive import calibration_draws, prob_correct_above

    phis = np.array([0.3, 0.6])
    p = prob_correct_above(result, phis)
    assert p.shape == (80, 2, 3)
    # an increasing calibrator: conditioning on a higher confidence cannot lower P(correct | Phi > phi)
    a, b = calibration_draws(result)
    assert np.all(b > 0)
    assert np.all(p[:, 1] >= p[:, 0] - 1e-9)
    # with the calibrator taken as exact, the quadrature equals the closed form E[Phi 1{Phi > phi}] / P(Phi > phi);
    # 512 midpoint cells: error ~1e-4 at most, a tenth of the smallest posterior sd here
    exact_cal = prob_correct_above(result, phis, calibrators=False)
    with float64():
        m = MarginalParams(*map(jnp.asarray, result.marginal_draws()))
        x = jnp.asarray(phis)[:, None]
        closed = np.asarray(jax.vmap(lambda q: partial_expectation(q, x) / (1.0 - cdf(q, x)))(m))
    np.testing.assert_allclose(exact_cal, closed, atol=2e-4)
    # the calibrator's own uncertainty widens the posterior
    assert np.all(p.std(axis=0) > exact_cal.std(axis=0))


def test_calibration_draws_recover_point_calibrator(result):
    """At the posterior mean coefficients the recovered map u -> sigmoid(a + b logit u) is close to the identity
    (the posterior is centred on the point calibrator: weak priors, n = 150)."""
    from probcascade.posterior.predictive import calibration_draws

    a, b = calibration_draws(result)
    np.testing.assert_allclose(np.median(b, axis=0), 1.0, atol=0.25)
    np.testing.assert_allclose(np.median(a, axis=0), 0.0, atol=0.4)


def test_predictive_frequency():
    """Binomial(n, p) / n draws: mean p, variance p (1 - p) / n; n = 0 gives NaN."""
    from probcascade.posterior.predictive import predictive_frequency

    f = predictive_frequency(np.full(20000, 0.8), 50, seed=0)
    assert abs(f.mean() - 0.8) < 0.003          # sd of the mean: sqrt(0.16 / 50 / 20000) = 4e-4
    assert abs(f.var() - 0.8 * 0.2 / 50) < 2e-4  # variance 3.2e-3, its sampling sd ~3e-5
    assert np.isnan(predictive_frequency([0.5], 0)).all()


@pytest.mark.slow     # an SVI compilation (~15 s of CPU)
def test_svi_option(train):
    from probcascade.posterior.fit import fit_posterior

    r = fit_posterior(train, method="svi", draws=50, chains=1, svi_steps=200, seed=0, blocks=("calibrators",))
    t = r.to_frame()
    assert "r_hat" not in t.columns and r.problems() == []
    assert r.draws("calib_coef").shape == (50, 3, 2)


def test_bad_input_names_parameter(train):
    from probcascade.exceptions import DataValidationError
    from probcascade.posterior.fit import fit_posterior
    from probcascade.posterior.models import Priors

    with pytest.raises(DataValidationError, match="method"):
        fit_posterior(train, method="hmc")
    with pytest.raises(DataValidationError, match="calib_scale"):
        Priors(calib_scale=-1.0)


@pytest.mark.slow     # compiles the SVI program of the whole model (~20 s of CPU)
def test_cli_json(tmp_path, train):
    from probcascade.cli.main import main

    path = tmp_path / "train.csv"
    train.to_frame().to_csv(path, index=False)
    out = tmp_path / "post.nc"
    import contextlib, io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["posterior", str(path), "--draws", "20", "--chains", "1", "--method", "svi", "--format", "json",
                   "--out", str(out), "--seed", "2"])
    assert rc == 0 and out.exists()
    doc = json.loads(buf.getvalue())
    some = next(iter(doc["parameters"].values()))
    assert {"mean", "sd", "hdi_3%", "hdi_97%"} <= set(some)
    assert doc["models"] == list(train.models)


def test_plot_frontier_bands(result, pcascade):
    import matplotlib

    matplotlib.use("Agg")
    from probcascade.plots import plot_frontier_bands
    from probcascade.posterior.predictive import frontier_bands
    from probcascade.tuning.frontier import Frontier

    lo, hi = pcascade.bounds
    thr = np.stack([lo + f * (hi - lo) for f in np.linspace(0.1, 0.9, 4)])
    fr = Frontier.from_arrays(thr, np.full(4, 0.5), np.full(4, 1.0), models=result.models)
    ax = plot_frontier_bands(frontier_bands(pcascade, fr))
    assert len(ax.collections) == 1 and ax.get_ylabel() == "error rate"


@pytest.mark.slow     # compiles the gradient of the draw-averaged chain evaluation (~30 s of CPU)
def test_bayes_tune_frontier(result, pcascade):
    """The Bayesian frontier is a Frontier over the posterior's cascade; its reported P(Correct) is the posterior
    mean at its thresholds (re-evaluated here by the predictive); the risk-averse variant is never more accurate
    in posterior mean at the same lambda grid's cheapest-to-costliest span (it trades mean accuracy for tail)."""
    from probcascade.posterior.tuning import bayes_tune
    from probcascade.tuning.base import get_tuner

    fr = bayes_tune(pcascade, n_steps=30, n_restarts=1, r=2.0)
    assert fr.models == result.models and fr.method == "bayes_tuning" and len(fr) >= 2
    pc, ec = pcascade.metrics(fr.thresholds)
    np.testing.assert_allclose(pc.mean(0), fr.frame.p_correct, rtol=1e-8)
    np.testing.assert_allclose(ec.mean(0), fr.frame.e_cost, rtol=1e-8)
    risky = bayes_tune(pcascade, n_steps=30, n_restarts=1, r=2.0, quantile=0.9)
    assert len(risky) >= 1
    assert get_tuner("bayes").name == "bayes"
