"""Softmax scaling (seed 000 §2.1): logit aggregation, ST/SV likelihood fits, prediction-score selection.

Compilation dominates the run time (a few seconds per transform and row bucket), so the tests share two data
shapes: the n = 20000, C = 3 simulation (statistical checks, marked slow) and dev sets of <= 64 rows with C = 3.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, special, stats

import probcascade
from probcascade.exceptions import DataValidationError, FitError, SeparationWarning
from probcascade.calibration.softmax import SoftmaxTemperatureScaler, VectorScaler, fit_softmax_scaling, temperature_logits, vector_logits
from probcascade.calibration.aggregation import aggregate_class_logits, select_prediction_score

T_TRUE = 2.0
N_BIG, C = 20_000, 3


def _simulate(n: int, seed: int, temperature: float = T_TRUE) -> tuple[np.ndarray, np.ndarray]:
    """Logits x ~ N(0, 3^2) per class; labels drawn from softmax(x / temperature) (an overconfident model)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, size=(n, C))
    p = special.softmax(x / temperature, axis=1)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return x, y


@pytest.fixture(scope="module")
def big():
    x, y = _simulate(N_BIG, seed=0)
    return x, y, SoftmaxTemperatureScaler().fit(x, y), VectorScaler().fit(x, y)


@pytest.fixture(scope="module")
def small():
    """ST and SV fitted on a 60-query dev set (the row bucket of 64 that the other small fits share)."""
    x, y = _simulate(60, seed=9)
    return SoftmaxTemperatureScaler().fit(x, y), VectorScaler().fit(x, y)


# ---------------------------------------------------------------------------------------------------------- aggregation
def test_aggregate_hand_built():
    # T = 3 positions, V = 6 tokens; class "yes" = tokens {1, 2}, class "no" = token {4}
    logits = np.array(
        [
            [0.0, 1.0, 5.0, 9.0, 2.0, 0.0],
            [0.0, 7.0, 3.0, 9.0, -1.0, 0.0],
            [0.0, 2.0, 2.0, 9.0, 4.0, 0.0],
        ]
    )
    out = aggregate_class_logits(logits, {"yes": [1, 2], "no": [4]})
    np.testing.assert_array_equal(out, [7.0, 4.0])  # max over matching tokens and positions; token 3 ignored
    # masking position 1 (e.g. padding) removes the 7
    masked = aggregate_class_logits(logits, [[1, 2], [4]], position_mask=np.array([True, False, True]))
    np.testing.assert_array_equal(masked, [5.0, 4.0])
    # batched input gives the per-query results
    batch = np.stack([logits, logits - 1.0])
    np.testing.assert_array_equal(aggregate_class_logits(batch, [[1, 2], [4]]), [[7.0, 4.0], [6.0, 3.0]])


def test_aggregate_allows_minus_inf_logprobs():
    # top-k log-probabilities: tokens outside the list are -inf
    lp = np.full((2, 4), -np.inf)
    lp[0, 1], lp[1, 3] = np.log(0.6), np.log(0.3)
    np.testing.assert_allclose(aggregate_class_logits(lp, [[1], [2, 3]]), np.log([0.6, 0.3]))


@pytest.mark.parametrize(
    "logits, ids, kwargs, argument",
    [
        (np.zeros(5), [[0], [1]], {}, "logits"),
        (np.array([[0.0, np.nan, 1.0]]), [[0], [1]], {}, "logits"),
        (np.zeros((2, 4)), [[0], [4]], {}, "class_token_ids"),  # outside the vocabulary
        (np.zeros((2, 4)), [[0, 1], [1]], {}, "class_token_ids"),  # token shared by two classes
        (np.zeros((2, 4)), [[0]], {}, "class_token_ids"),  # a single class
        (np.zeros((2, 4)), [[0], []], {}, "class_token_ids"),
        (np.full((2, 4), -np.inf), [[0], [1]], {}, "logits"),  # every class -inf
        (np.zeros((2, 4)), [[0], [1]], {"position_mask": np.array([True])}, "position_mask"),
        (np.zeros((2, 4)), [[0], [1]], {"position_mask": np.array([False, False])}, "position_mask"),
    ],
)
def test_aggregate_bad_input_names_argument(logits, ids, kwargs, argument):
    with pytest.raises(DataValidationError, match=argument):
        aggregate_class_logits(logits, ids, **kwargs)


# ---------------------------------------------------------------------------------------------------------- ST
@pytest.mark.slow
def test_st_recovers_known_temperature(big):
    x, y, st, _ = big
    # Expected Fisher information of alpha = 1/T at the truth: sum_i Var_{softmax(alpha x_i)}(x_i).
    p = special.softmax(x / T_TRUE, axis=1)
    info = np.sum(p * x**2) - np.sum((p * x).sum(axis=1) ** 2)
    se_t = T_TRUE**2 / np.sqrt(info)  # delta method, T = 1/alpha
    assert abs(st.temperature_ - T_TRUE) < 4 * se_t  # 4 SE: two-sided p < 1e-4 under correct ML estimation
    # the fit's own standard error (observed information at the MLE) matches the expected one to a few %
    assert st.result_.se[0] == pytest.approx(se_t, rel=0.05)
    # and the optimum matches a SciPy scalar minimisation of the same NLL
    nll = lambda log_t: -np.mean(special.log_softmax(x * np.exp(-log_t), axis=1)[np.arange(N_BIG), y])
    ref = optimize.minimize_scalar(nll, bounds=(-3, 3), method="bounded", options={"xatol": 1e-10})
    assert st.temperature_ == pytest.approx(np.exp(ref.x), rel=1e-6)
    assert st.result_.converged


@pytest.mark.slow
def test_st_and_sv_reduce_nll(big):
    _, _, st, sv = big
    for fit in (st.result_, sv.result_):
        assert fit.nll_after < fit.nll_before
    assert sv.result_.nll_after <= st.result_.nll_after + 1e-12  # ST is nested in SV
    assert st.result_.nll_before == pytest.approx(sv.result_.nll_before)


def test_sv_constant_scale_is_st():
    x = np.random.default_rng(1).normal(size=(7, C))
    t = 1.7
    with probcascade.float64():
        sv_theta = jnp.concatenate([jnp.full(C, 1 / t), jnp.zeros(C - 1)])
        st_theta = jnp.log(jnp.array([t]))
        np.testing.assert_allclose(vector_logits(sv_theta, jnp.asarray(x)), temperature_logits(st_theta, jnp.asarray(x)), rtol=1e-14)


@pytest.mark.slow
def test_sv_on_st_data_matches_st(big):
    x, y, st, sv = big
    # data generated by ST: SV's scales are all 1/T, its biases 0 (within 4 standard errors) ...
    w_se, b_se = sv.result_.se[:C], sv.result_.se[C:]
    assert np.all(np.abs(sv.scale_ - 1 / T_TRUE) < 4 * w_se)
    assert np.all(np.abs(sv.bias_[1:]) < 4 * b_se)
    # ... and the likelihood-ratio statistic of SV vs ST is a plausible chi^2 with 2C - 2 degrees of freedom
    lr = 2 * N_BIG * (st.result_.nll_after - sv.result_.nll_after)
    assert 0 <= lr < stats.chi2.ppf(0.999, df=2 * C - 2)
    np.testing.assert_allclose(sv.predict_proba(x[:50]), st.predict_proba(x[:50]), atol=0.02)


@pytest.mark.slow
def test_confidence_is_calibrated_on_held_out(big):
    _, _, st, sv = big
    x, y = _simulate(N_BIG, seed=1)
    answers = np.argmax(x, axis=1)
    hit = (answers == y).astype(float)
    for scaler in (st, sv):
        conf = scaler.confidence(x)
        np.testing.assert_array_equal(conf, scaler.predict_proba(x)[np.arange(N_BIG), answers])
        # mean confidence = accuracy up to sampling noise: SE of mean(hit - conf), 4 SE tolerance
        assert abs(conf.mean() - hit.mean()) < 4 * np.std(hit - conf) / np.sqrt(N_BIG)
    # the uncalibrated max-softmax is overconfident by far more
    assert special.softmax(x, axis=1).max(axis=1).mean() - hit.mean() > 0.05


def test_confidence_with_explicit_answers(small):
    st, _ = small
    x = np.array([[1.0, 2.0, 0.0], [0.5, 0.0, 3.0]])
    answers = np.array([0, 1])
    proba = st.predict_proba(x)
    np.testing.assert_allclose(st.confidence(x, answers), [proba[0, 0], proba[1, 1]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(select_prediction_score(proba, [2, 2]), proba[:, 2])


def test_integer_weights_equal_duplicated_rows():
    x, y = _simulate(30, seed=2)
    counts = np.random.default_rng(3).integers(0, 3, size=30)  # <= 60 duplicated rows: same row bucket (64)
    weighted = SoftmaxTemperatureScaler().fit(x, y, sample_weight=counts)
    duplicated = SoftmaxTemperatureScaler().fit(np.repeat(x, counts, axis=0), np.repeat(y, counts))
    assert weighted.temperature_ == pytest.approx(duplicated.temperature_, rel=1e-6)
    assert weighted.result_.nll_after == pytest.approx(duplicated.result_.nll_after, rel=1e-9)
    assert weighted.result_.weighted and not duplicated.result_.weighted


def test_separated_dev_set_warns_and_stays_finite():
    x, _ = _simulate(20, seed=4)
    y = np.argmax(x, axis=1)  # the model is always right: ML temperature is 0
    with pytest.warns(SeparationWarning, match="ST scaler"):
        st = SoftmaxTemperatureScaler().fit(x, y)
    assert st.result_.separated and 0 < st.temperature_ < 1 and np.isfinite(st.result_.se).all()
    # a model that is always wrong in a consistent way (the label is the arg-min) separates SV (w < 0) but not ST
    y2 = np.argmin(x, axis=1)
    with pytest.warns(SeparationWarning, match="SV scaler"):
        sv = VectorScaler().fit(x, y2)
    assert sv.result_.separated and np.all(sv.scale_ < 0) and np.all(np.abs(sv.result_.params) < 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        assert not SoftmaxTemperatureScaler().fit(x, y2).result_.separated


@pytest.mark.slow  # its own (vmapped) compilation: ~4 s idle, ~12 s on a loaded 2-core machine
def test_fit_core_is_vmappable():
    # three small dev sets fitted in one vmapped call equal three separate fits
    sets = [_simulate(64, seed=s, temperature=t) for s, t in zip((6, 7, 8), (0.5, 1.0, 3.0))]
    xs, ys = np.stack([s[0] for s in sets]), np.stack([s[1] for s in sets])
    with probcascade.float64():
        fit = jax.vmap(lambda x, y: fit_softmax_scaling(jnp.zeros(1), x, y, jnp.ones(64), temperature_logits)[0])
        log_t = np.asarray(fit(jnp.asarray(xs), jnp.asarray(ys)))[:, 0]
    single = [SoftmaxTemperatureScaler().fit(x, y).temperature_ for x, y in sets]
    np.testing.assert_allclose(np.exp(log_t), single, rtol=1e-6)


def test_results_object(small):
    st, sv = small
    frame = sv.to_frame()
    assert list(frame.index) == ["w[0]", "w[1]", "w[2]", "b[1]", "b[2]"]
    assert frame.attrs["n"] == 60 and frame.attrs["nll_after"] < frame.attrs["nll_before"]
    assert np.all(frame["std_err"] > 0)
    text = st.summary()
    assert "temperature scaling" in text and ["n", 60] in text.to_dict()["blocks"][0]["data"] and "T" in st.to_frame().index


# ---------------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "logits, labels, weight, argument",
    [
        (np.zeros(4), np.zeros(4, int), None, "logits"),
        (np.zeros((4, 1)), np.zeros(4, int), None, "logits"),
        (np.array([[0.0, np.nan]] * 4), np.zeros(4, int), None, "logits"),
        (np.zeros((4, 2)), np.zeros(3, int), None, "labels"),
        (np.zeros((4, 2)), np.array([0, 1, 2, 0]), None, "labels"),
        (np.zeros((4, 2)), np.array([0, 1, -1, 0]), None, "labels"),
        (np.zeros((4, 2)), np.array([0.0, 1.0, np.nan, 0.0]), None, "labels"),
        (np.zeros((4, 2)), np.array([0.0, 0.5, 1.0, 0.0]), None, "labels"),
        (np.zeros((4, 2)), np.zeros(4, int), np.array([1.0, -1.0, 1.0, 1.0]), "sample_weight"),
        (np.zeros((4, 2)), np.zeros(4, int), np.ones(3), "sample_weight"),
    ],
)
@pytest.mark.parametrize("scaler", [SoftmaxTemperatureScaler, VectorScaler])
def test_bad_input_names_argument(scaler, logits, labels, weight, argument):
    with pytest.raises(DataValidationError, match=argument):
        scaler().fit(logits, labels, sample_weight=weight)


def test_unfitted_and_wrong_class_count(small):
    with pytest.raises(FitError, match="not fitted"):
        VectorScaler().predict_proba(np.zeros((2, 3)))
    st, _ = small
    with pytest.raises(DataValidationError, match="logits"):
        st.predict_proba(np.zeros((2, 4)))
    with pytest.raises(DataValidationError, match="answers"):
        st.confidence(np.zeros((2, 3)), answers=np.array([0, 3]))
