"""Posterior uncertainty of a cascade with NumPyro: the calibrators, marginals, copulas and pairwise correctness
(:mod:`.models`), fitted by NUTS or SVI (:mod:`.fit`) into an ArviZ ``InferenceData`` (:mod:`.results`); the
posterior predictive error-cost frontier with credible bands (:mod:`.predictive`) and Bayesian threshold tuning
(:mod:`.tuning`); NUTS vmapped over many same-shaped data sets, for simulation studies (:mod:`.batch`)."""

from probcascade.lazy import lazy_attributes

_LAZY = {
    "models": ("Priors", "PosteriorData", "prepare_data", "cascade_model", "point_init"),
    "fit": ("fit_posterior", "METHODS"),
    "results": ("PosteriorResult",),
    "predictive": ("PosteriorCascade", "posterior_cascade", "frontier_bands", "prob_correct_above",
                   "calibration_draws", "predictive_frequency", "draws_metrics"),
    "tuning": ("bayes_tune", "BayesianTuner"),
    "batch": ("BatchData", "BatchPosterior", "stack_data", "fit_nuts_batch"),
}

__all__ = [n for names in _LAZY.values() for n in names]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
