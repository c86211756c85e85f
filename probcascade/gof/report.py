"""The goodness-of-fit battery of §4.3 of the study on a train/test split, as one report.

:func:`goodness_of_fit` calibrates on train, then tests the Markov-copula model's assumptions on test: per model
the Cramér-von Mises test of the marginal (:mod:`.marginal`, Tables 5-6), per adjacent pair the Kendall's-transform
test of the copula on the interior queries (:mod:`.copula`, Table 4), the Kendall tau matrix of the test confidences
(Figure 1) and the Markov table (:mod:`.markov`, Table 3). :class:`GofReport` gathers the results with
``summary()``, ``to_frame()`` and ``to_dict()`` (the JSON output of ``probcascade gof``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
import numpy as np
import pandas as pd
from probcascade.calibration.calibrators import CascadeCalibration, calibrate
from probcascade.gof.copula import CopulaGofResult, copula_gof
from probcascade.estimation.copulas import fit_copula, kendall_tau_matrix, pseudo_observations
from probcascade.data.cascade import CascadeData
from probcascade.exceptions import DataValidationError, FitError, IndependenceFallbackWarning
from probcascade.gof.marginal import MarginalGofResult, marginal_gof
from probcascade.distributions.marginal import MarginalParams
from probcascade.joint.model import AIC_FAMILIES, cell_of
from probcascade.gof.markov import markov_logit_table
from probcascade.progress import bar
from probcascade.summary import Summary
from probcascade.validation import check_int

__all__ = ["goodness_of_fit", "GofReport", "PairGof"]

@dataclass(frozen=True)
class PairGof:
    """Copula goodness of fit of one adjacent pair.

    Attributes
    ----------
    model_a, model_b : str
        The pair, in cascade order.
    theta : float
        Copula parameter fitted on the training interior (both confidences strictly inside their training range).
    n_train : int
        Training interior queries behind ``theta``.
    gof : CopulaGofResult
        The test on the test interior; theta is re-estimated on the test data and on every bootstrap sample
        (composite null), so ``gof.theta`` is the test-data estimate.
    family : str
        The family ``theta`` belongs to: the report's family, or ``"independence"`` (theta 0) where the training
        interior's Kendall's tau is <= 0 and the family models positive dependence only.
    requested_family : str
        The family asked for (the report's, or the pair's AIC choice); differs from ``family`` after a fallback.
    tau_train : float
        Kendall's tau of the training interior (the fallback happens where it is <= 0).
    """

    model_a: str
    model_b: str
    theta: float
    n_train: int
    gof: CopulaGofResult
    family: str = "gumbel"
    requested_family: str = ""
    tau_train: float = float("nan")

    @property
    def fell_back(self) -> bool:
        """True where the fit fell back to the independence copula (training tau <= 0 for a positive-only family)."""
        return self.family == "independence" and self.requested_family not in ("", "independence")


def _params_dict(p: MarginalParams) -> dict:
    return {name: (float(v) if np.ndim(v) == 0 else [float(x) for x in np.ravel(v)]) for name, v in p._asdict().items()}


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in frame.reset_index().to_dict(orient="records")]


@dataclass(frozen=True)
class GofReport:
    """Goodness of fit of the Markov-copula model (§4.3 of the study): fitted on train, tested on test.

    Attributes
    ----------
    models : tuple of str
        Cascade order.
    transform, family : str
        Calibration transform and copula family.
    n_train, n_test, n_boot, seed : int
    calibration : CascadeCalibration
        Calibrators fitted on train.
    marginals : dict of str -> MarginalGofResult
        Per model, Tables 5-6.
    pairs : tuple of PairGof
        Per adjacent pair, Table 4.
    kendall_tau : DataFrame
        Kendall's tau-b between the test confidences of every pair of models (Figure 1).
    markov_table : DataFrame
        :func:`markov_logit_table` on the test data (Table 3).
    """

    models: tuple[str, ...]
    transform: str
    family: str
    n_train: int
    n_test: int
    n_boot: int
    seed: int
    calibration: CascadeCalibration
    marginals: dict[str, MarginalGofResult]
    pairs: tuple[PairGof, ...]
    kendall_tau: pd.DataFrame
    markov_table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Marginal tests, one row per model: statistics, p-values and sizes."""
        rows = [{"model": m, "n_train": r.n_train, "n_test": r.n_test, "sqrt_cvm": r.sqrt_cvm, "p_value": r.p_value,
                 "p_value_boot": r.p_value_boot, "sqrt_cvm_refit": r.sqrt_cvm_refit, "p_value_refit": r.p_value_refit}
                for m, r in self.marginals.items()]
        return pd.DataFrame(rows).set_index("model")

    def copula_frame(self) -> pd.DataFrame:
        """Copula tests, one row per adjacent pair."""
        rows = [{"model_a": p.model_a, "model_b": p.model_b, "family": p.family, "n_train": p.n_train,
                 "n_test": p.gof.n, "tau_train": p.tau_train,
                 "tau": p.gof.tau, "theta": p.theta, "theta_test": p.gof.theta, "sqrt_n_cvm": p.gof.sqrt_n_cvm,
                 "s_n": p.gof.statistic, "p_value": p.gof.p_value} for p in self.pairs]
        cols = ["model_a", "model_b", "family", "n_train", "n_test", "tau_train", "tau", "theta", "theta_test",
                "sqrt_n_cvm", "s_n", "p_value"]
        return pd.DataFrame(rows, columns=cols)

    def fallback_note(self) -> str:
        """One sentence naming the pairs fitted as the independence copula and why ("" when there are none)."""
        fell = [p for p in self.pairs if p.fell_back]
        if not fell:
            return ""
        names = "; ".join(f"({p.model_a}, {p.model_b}): training tau {p.tau_train:.3f}" for p in fell)
        asked = sorted({p.requested_family for p in fell})
        families, verb = ", ".join(asked), "models" if len(asked) == 1 else "model"
        return (f"Fitted as the independence copula (theta 0) instead of {families}: {names}. Kendall's tau of the "
                f"training interior is <= 0 there, and {families} {verb} positive dependence only. The test column "
                f"still tests {families} with theta re-estimated on the test data.")

    def summary(self) -> Summary:
        """Readable tables of every test (a :class:`~probcascade.summary.Summary`)."""
        out = Summary("Goodness of fit of the Markov-copula model (fit on train, tested on test)")
        out.add_dict({"models": ", ".join(self.models)})
        out.add_dict({"n train": self.n_train, "n test": self.n_test, "transform": self.transform,
                      "family": self.family, "bootstrap B": self.n_boot, "seed": self.seed}, ncols=2)
        out.add_table(self.to_frame(), "Marginals (Cramer-von Mises; fixed = train fit vs test data, refit = test "
                      "refit with refitted bootstrap)", float_format="{:.4g}")
        out.add_table(self.copula_frame(), "Adjacent-pair copulas (Kendall's transform CvM on the test interior)",
                      index=False, float_format="{:.4g}")
        out.add_note("Adjacent-pair copulas: theta fitted on the train interior, theta_test re-estimated on the test "
                     "data and on every bootstrap sample; tau_train / tau: Kendall's tau of the train / test interior."
                     + (" " + self.fallback_note() if self.fallback_note() else ""))
        out.add_table(self.kendall_tau, "Kendall's tau of test calibrated confidences (Figure 1)", float_format="{:.3f}")
        title = "Markov property by logistic regression on the test data (Table 3; log10 Wald p-values)"
        if len(self.markov_table):
            out.add_table(self.markov_table, title, float_format="{:.3f}")
        else:
            out.add_note(f"{title}: needs at least 3 models.")
        return out

    def to_dict(self) -> dict:
        """JSON-ready structure (plain Python floats and strings)::

            {"marginals": [{"model", "sqrt_cvm", "p_value", "p_value_boot", "sqrt_cvm_refit", "p_value_refit",
                            "params": {...}}],
             "copulas": [{"model_a", "model_b", "family", "requested_family", "fallback", "tau_train", "tau",
                          "theta", "sqrt_n_cvm", "s_n", "p_value"}],
             "kendall_tau": {"models": [...], "matrix": [[...]]},
             "markov_table": [records]}

        ``params`` are the marginal's parameters fitted on train (``lo``, ``hi``, ``w_lo``, ``w_hi`` scalars;
        ``mix``, ``alpha``, ``beta`` lists); ``theta`` is the training-interior copula parameter and ``family`` its
        family (``"independence"`` with ``fallback`` true where the training tau is <= 0 and ``requested_family``
        models positive dependence only); ``tau`` is the test interior's Kendall's tau.
        """
        marginals = [{"model": m, "sqrt_cvm": float(r.sqrt_cvm), "p_value": float(r.p_value),
                      "p_value_boot": float(r.p_value_boot), "sqrt_cvm_refit": float(r.sqrt_cvm_refit), "p_value_refit": float(r.p_value_refit),
                      "params": _params_dict(r.train_fit.params)} for m, r in self.marginals.items()]
        copulas = [{"model_a": p.model_a, "model_b": p.model_b, "family": p.family,
                    "requested_family": p.requested_family, "fallback": p.fell_back, "tau_train": float(p.tau_train),
                    "tau": float(p.gof.tau), "theta": float(p.theta),
                    "sqrt_n_cvm": float(p.gof.sqrt_n_cvm), "s_n": float(p.gof.statistic),
                    "p_value": float(p.gof.p_value)} for p in self.pairs]
        tau = {"models": [str(m) for m in self.kendall_tau.columns],
               "matrix": [[float(x) for x in row] for row in self.kendall_tau.to_numpy()]}
        return {"marginals": marginals, "copulas": copulas, "kendall_tau": tau,
                "markov_table": _records(self.markov_table)}


def _interior(phi: np.ndarray, lo: np.ndarray, hi: np.ndarray, a: int, b: int) -> np.ndarray:
    """Queries whose confidences of models ``a`` and ``b`` are both strictly inside the training range."""
    return (cell_of(phi[:, a], lo[a], hi[a]) == 1) & (cell_of(phi[:, b], lo[b], hi[b]) == 1)


def goodness_of_fit(
    train: CascadeData,
    test: CascadeData,
    transform: str = "one-sided",
    n_boot: int = 1000,
    seed: int = 0,
    family: str = "gumbel",
    min_interior: int = 10,
    progress: bool | None = None,
) -> GofReport:
    """Test the Markov-copula model fitted on ``train`` against ``test`` (§4.3 of the study).

    Calibrators are fitted on ``train`` and give the calibrated confidences ``phi`` of both splits. Then

    * per model, :func:`probcascade.gof.marginal.marginal_gof` (the train fit against the test data, and the test
      refit with refitted bootstrap samples);
    * per adjacent pair, the copula ``family`` with theta from Kendall's tau on the training interior (queries
      where neither confidence sits at its training minimum or maximum, i.e. outside the point masses), and
      :func:`probcascade.gof.copula.copula_gof` on the pseudo-observations of the test interior with theta
      re-estimated on the test data and on every bootstrap sample (composite null, Genest et al. 2009);
    * the Kendall tau matrix of the test confidences and :func:`markov_logit_table` on the test data.

    Parameters
    ----------
    train, test : CascadeData
        Same models in the same order.
    transform : str
        Calibration transform (``"one-sided"`` for multiple choice, ``"two-sided"`` for open-ended questions).
    n_boot : int
        Bootstrap replicates of every test.
    seed : int
        Base seed; the marginal test of model ``j`` uses ``seed + j`` and the copula test of pair ``(i, i + 1)``
        uses ``seed + k + i`` (``k`` models), so that the tests' Monte Carlo errors are independent.
    family : str
        Copula family (a key of :data:`probcascade.distributions.copulas.COPULA_FAMILIES`), or ``"aic"``: per pair
        the family of :data:`probcascade.joint.model.AIC_FAMILIES` with the smallest AIC on the training interior
        (the choice of ``fit_markov_copula(family="aic")``); each pair's test then uses its chosen family.
    min_interior : int
        Fewest interior queries a pair needs on each split.
    progress : bool or None
        A bar on stderr over the ``2k - 1`` bootstrapped tests (each one vectorised call); ``None`` follows
        :func:`probcascade.progress.progress_enabled` (the command line: on a terminal, off with ``-q``).

    Returns
    -------
    GofReport

    Raises
    ------
    DataValidationError
        ``train``/``test`` are not CascadeData or their models differ (names ``test``); bad ``n_boot``/``seed``.
    FitError
        A pair has fewer than ``min_interior`` interior queries on train or test (names the pair and split).
    """
    for name, value in (("train", train), ("test", test)):
        if not isinstance(value, CascadeData):
            raise DataValidationError(f"'{name}' must be CascadeData, got {type(value).__name__}")
    if tuple(test.models) != tuple(train.models):
        raise DataValidationError(
            f"'test': models {list(test.models)} differ from the models of 'train' {list(train.models)} "
            "(same models in the same cascade order required)"
        )
    check_int(n_boot, "n_boot", low=1)
    check_int(seed, "seed", low=0)
    check_int(min_interior, "min_interior", low=0)
    models, k = tuple(train.models), train.n_models
    calibration = calibrate(train, transform=transform)
    phi_train, phi_test = calibration.predict(train), calibration.predict(test)

    pb = bar(total=2 * k - 1, desc="goodness of fit", unit="test", progress=progress)
    marginals = {}
    for j, m in enumerate(models):
        pb.set_postfix_str(f"marginal of {m} ({n_boot} bootstrap samples)")
        try:
            marginals[m] = marginal_gof(phi_train[:, j], phi_test[:, j], n_boot=int(n_boot), seed=int(seed) + j)
        except (DataValidationError, FitError) as exc:
            raise type(exc)(f"marginal of model '{m}': {exc}") from exc
        pb.update()

    lo, hi = phi_train.min(axis=0), phi_train.max(axis=0)
    pairs = []
    for i in range(k - 1):
        a, b = models[i], models[i + 1]
        pb.set_postfix_str(f"copula of ({a}, {b}) ({n_boot} bootstrap samples)")
        masks = {"train": _interior(phi_train, lo, hi, i, i + 1), "test": _interior(phi_test, lo, hi, i, i + 1)}
        for split, mask in masks.items():
            if mask.sum() < min_interior:
                raise FitError(f"pair ({a}, {b}): {int(mask.sum())} interior queries in '{split}' < "
                               f"min_interior = {min_interior}")
        u_train = pseudo_observations(phi_train[masks["train"]][:, [i, i + 1]])
        u_test = pseudo_observations(phi_test[masks["test"]][:, [i, i + 1]])
        if family == "aic":     # per pair the family with the smallest training AIC, as fit_markov_copula(family="aic")
            with warnings.catch_warnings():     # a candidate's fallback to independence is no news here
                warnings.simplefilter("ignore", IndependenceFallbackWarning)
                fit = min((fit_copula(u_train[:, 0], u_train[:, 1], family=f) for f in AIC_FAMILIES),
                          key=lambda c: c.aic)
        else:
            fit = fit_copula(u_train[:, 0], u_train[:, 1], family=family)
        gof = copula_gof(u_test[:, 0], u_test[:, 1], family=fit.requested_family, theta=None, n_boot=int(n_boot),
                         seed=int(seed) + k + i)
        pairs.append(PairGof(a, b, float(fit.theta), int(masks["train"].sum()), gof, fit.family,
                             fit.requested_family, float(fit.tau)))
        pb.update()
    pb.close()

    phi_frame = pd.DataFrame(phi_test, columns=list(models))
    correct_frame = pd.DataFrame(test.correct, columns=list(models))
    return GofReport(
        models=models,
        transform=calibration.transform,
        family=family,
        n_train=train.n_queries,
        n_test=test.n_queries,
        n_boot=int(n_boot),
        seed=int(seed),
        calibration=calibration,
        marginals=marginals,
        pairs=tuple(pairs),
        kendall_tau=kendall_tau_matrix(phi_frame),
        markov_table=markov_logit_table(phi_frame, correct_frame),
    )
