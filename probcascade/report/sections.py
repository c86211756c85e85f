"""The report's diagnostic sections: data summary, calibration (CORP), goodness of fit and the Markov check.

Each function returns a :class:`~probcascade.report.document.ReportSection` whose tables are a
:class:`~probcascade.summary.Summary` (so HTML and Markdown render them the same way) and whose figures are PNG
bytes drawn inside :func:`probcascade.plots.plot_style`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from probcascade.calibration.calibrators import CascadeCalibration
from probcascade.calibration.corp import corp_reliability, ece_estimates
from probcascade.data.cascade import CascadeData
from probcascade.distributions.copulas import COPULA_FAMILIES
from probcascade.gof.report import GofReport
from probcascade.joint.model import cell_of
from probcascade.plots import (plot_copula_scatter, plot_corp_reliability, plot_marginal, plot_style,
                               plot_tau_heatmap)
from probcascade.summary import Summary

from .document import ReportFigure, ReportSection, figure_png
from .verdicts import markov_verdict, p_value_verdict

__all__ = ["calibration_section", "data_section", "gof_section", "markov_section"]


def _grid(n: int, ncols: int, size: tuple[float, float]):
    import matplotlib.pyplot as plt

    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def data_section(train: CascadeData, test: CascadeData) -> ReportSection:
    """Per model: queries, accuracy, share of certain answers and mean cost on both splits."""
    frame = pd.DataFrame({
        "n_train": train.n_queries, "n_test": test.n_queries,
        "%corr_train": 100 * train.accuracy, "%corr_test": 100 * test.accuracy,
        "%cert_train": 100 * train.certainty_fraction, "%cert_test": 100 * test.certainty_fraction,
        "cost_per_1M_test": 1e6 * pd.Series(test.cost.mean(axis=0), index=list(test.models)),
    }, index=pd.Index(list(train.models), name="model"))
    s = Summary().add_table(frame, "Models in cascade order", float_format="{:.4g}")
    s.add_note("%corr: accuracy; %cert: share of answers whose raw log-probability signals certainty (0 or -inf), "
               "the point masses of the marginal model; cost: mean USD per one million queries on the test split.")
    intro = (f"Training split: {train.name} ({train.n_queries} queries); test split: {test.name} "
             f"({test.n_queries} queries). Everything is fitted on the training split and scored on the test split.",)
    return ReportSection("data", "Data summary", intro, s)


def calibration_section(cal: CascadeCalibration, test: CascadeData, phi_test: np.ndarray, *, n_boot: int,
                        seed: int) -> ReportSection:
    """Calibration metrics, the CORP decomposition and ECE intervals per model on test, and CORP diagrams."""
    s = Summary()
    s.extend(cal.report(test).summary())
    corp, ece_rows = {}, []
    for j, m in enumerate(test.models):
        corp[m] = corp_reliability(phi_test[:, j], test.correct[:, j], n_boot=n_boot, seed=seed + j)
        est = ece_estimates(phi_test[:, j], test.correct[:, j], n_boot=n_boot, seed=seed + j).to_frame()
        ece_rows.append({"model": m, **{e: f"{r.value:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]"
                                        for e, r in zip(est.index, est.itertuples())}})
    dec = pd.DataFrame([{"model": m, **r.decomposition(),
                         "cep_in_band": float(r.to_frame()["cep_in_consistency_band"].mean())}
                        for m, r in corp.items()]).set_index("model")
    s.add_table(dec, "CORP decomposition of the Brier score (Brier = MCB - DSC + UNC)", float_format="{:.4f}")
    s.add_table(pd.DataFrame(ece_rows).set_index("model"),
                f"ECE estimators: value [90% bootstrap interval] ({n_boot} replicates)", float_format="{:.4f}")
    s.add_note("MCB: miscalibration (0 for a calibrated forecast), DSC: discrimination, UNC: uncertainty of the "
               "outcome; cep_in_band: share of the CORP curve inside the 90% consistency band of a calibrated "
               "forecast. ECE: equal_mass (quantile bins), equal_width (uniform bins), debiased_l2 (Kumar et al. 2019). "
               "The plug-in ECE is biased upwards, so its interval is the basic (reverse-percentile) bootstrap "
               "interval, moved down by the bootstrap estimate of the bias (debiased_l2: percentile), widened where "
               "needed to contain the value.")
    with plot_style():
        fig, axes = _grid(len(test.models), min(3, len(test.models)), (3.4, 3.6))
        for ax, (m, r) in zip(axes, corp.items()):
            plot_corp_reliability(r, ax=ax)
            handles, labels = ax.get_legend_handles_labels()
            ax.get_legend().remove()    # one legend for the figure; the decomposition goes to the title
            ax.set_title(f"{m}\nMCB {r.mcb:.3f}  DSC {r.dsc:.3f}  UNC {r.unc:.3f}", fontsize=9)
        fig.legend(handles, [lab.split("\n")[0] for lab in labels], loc="lower center", ncol=len(labels),
                   frameon=False, bbox_to_anchor=(0.5, -0.04))
    caption = ("CORP reliability diagrams on the test split: PAV curve (solid), 90% consistency band of a calibrated "
               "forecast (grey), 90% bootstrap confidence band of the curve (dashed), forecast histogram (inset).")
    intro = (f"Calibrators ({cal.method}, transform {cal.transform}) fitted on the training split, scored on the test "
             "split. A calibrated model's CORP curve stays inside the grey band.",)
    return ReportSection("calibration", "Calibration", intro, s, [ReportFigure("corp_reliability", figure_png(fig),
                                                                               caption)])


def gof_section(gof: GofReport, phi_test: np.ndarray, phi_train: np.ndarray) -> ReportSection:
    """Marginal and copula goodness-of-fit tables with verdicts; marginal, copula and Kendall-tau figures."""
    marg = gof.to_frame()[["n_test", "sqrt_cvm", "p_value_boot", "sqrt_cvm_refit", "p_value_refit"]].copy()
    marg["verdict"] = [p_value_verdict(min(a, b), gof.n_boot) for a, b in zip(marg["p_value_boot"], marg["p_value_refit"])]
    cop = gof.copula_frame()[["model_a", "model_b", "family", "n_test", "tau_train", "tau", "theta", "theta_test",
                              "s_n", "p_value"]].copy()
    cop["verdict"] = [p_value_verdict(p, gof.n_boot) for p in cop["p_value"]]
    s = Summary()
    s.add_table(marg, "Marginals: Cramer-von Mises tests of the point-mass beta mixture", float_format="{:.4g}")
    s.add_table(cop, f"Adjacent-pair copulas ({gof.family}): Kendall's-transform CvM test on the test interior",
                index=False, float_format="{:.4g}")
    s.add_table(gof.kendall_tau, "Kendall's tau of the test calibrated confidences", float_format="{:.3f}")
    floor = 1.0 / (gof.n_boot + 1)
    s.add_note(f"p_value_boot: the training fit against the test data, with the training fit's estimation error in "
               f"the bootstrap; p_value_refit: the model family refitted to the test data. The verdict uses the "
               f"smaller of the two. Bootstrap p-values with B = {gof.n_boot} replicates cannot go below "
               f"{floor:.3g}; run with more replicates (--bootstrap) for finer p-values.")
    s.add_note("Copulas: family is the family fitted on the training interior (\"independence\" where the training "
               "tau is <= 0 for a family of positive dependence only: see the text above); tau_train / tau: Kendall's "
               "tau of the train / test interior.")
    figures = []
    with plot_style():
        k = len(gof.models)
        fig, axes = _grid(k, min(3, k), (3.6, 2.9))
        for j, (ax, (m, r)) in enumerate(zip(axes, gof.marginals.items())):
            plot_marginal(r.train_fit, phi_test[:, j], ax=ax, label=m)
            if j:
                ax.get_legend().remove()    # the first panel's legend names the three elements
        figures.append(ReportFigure("marginals", figure_png(fig),
                                    "Test calibrated confidences (bars) against the marginal fitted on train (curve; "
                                    "hatched boxes: the point masses at the ends of the training range)."))
        lo, hi = phi_train.min(axis=0), phi_train.max(axis=0)
        import matplotlib.pyplot as plt

        per_row = min(2, len(gof.pairs))        # two pairs (four panels) per row
        fig, axes = plt.subplots(-(-len(gof.pairs) // per_row), 2 * per_row, figsize=(12.0 * per_row / 2, 3.3 *
                                 -(-len(gof.pairs) // per_row)), squeeze=False)
        axes = axes.reshape(-1, 2)
        for ax in axes[len(gof.pairs):].ravel():
            ax.set_visible(False)
        for i, p in enumerate(gof.pairs):
            a, b = gof.models.index(p.model_a), gof.models.index(p.model_b)
            inside = (cell_of(phi_test[:, a], lo[a], hi[a]) == 1) & (cell_of(phi_test[:, b], lo[b], hi[b]) == 1)
            copula = COPULA_FAMILIES[p.family](p.theta)   # "independence" where tau <= 0 on train
            plot_copula_scatter(phi_test[inside, a], phi_test[inside, b], copula=copula, axes=axes[i],
                                labels=(p.model_a, p.model_b), seed=i)
        figures.append(ReportFigure("copulas", figure_png(fig),
                                    "Pseudo-observations of adjacent pairs on the test interior (left) beside an "
                                    "equally large sample of the copula fitted on train (right), with Kendall's tau."))
        fig, ax = plt.subplots(figsize=(1.4 + 0.65 * k, 0.9 + 0.55 * k))
        plot_tau_heatmap(gof.kendall_tau, ax=ax)
        ax.grid(False)
        figures.append(ReportFigure("kendall_tau", figure_png(fig),
                                    "Kendall's tau between the models' test calibrated confidences."))
    intro = ("Does the Markov-copula model describe the test data? Each test gets a p-value and a verdict in words; "
             "a small p-value is evidence against that part of the model, not proof that the model is useless.",)
    if gof.fallback_note():
        intro += (gof.fallback_note(),)
    return ReportSection("gof", "Goodness of fit", intro, s, figures)


def markov_section(gof: GofReport) -> ReportSection:
    """The Markov table (Table 3 of the study) with a verdict per regression."""
    table = gof.markov_table.copy()
    if table.empty:
        return ReportSection("markov", "Markov diagnostics",
                             ("The Markov check needs at least three models; this cascade has fewer.",), None)
    table["verdict"] = [markov_verdict(r.log10_p_ancestor, r.coef_markov, r.coef_ancestor)
                        for r in table.itertuples()]
    s = Summary().add_table(table, "Correctness of a model regressed on its predecessor and one earlier ancestor",
                            float_format="{:.3f}")
    s.add_note("log10_p_*: log10 of the Wald p-values (-2 means p = 0.01); coef_*: logistic coefficients on the "
               "calibrated confidences of the immediate predecessor (markov) and of the earlier ancestor.")
    intro = ("The model assumes that, given its immediate predecessor, a model's confidence does not depend on "
             "earlier models (a Markov chain). Here each model's correctness on the test split is regressed on its "
             "predecessor's and one earlier ancestor's confidence.",)
    return ReportSection("markov", "Markov diagnostics", intro, s)
