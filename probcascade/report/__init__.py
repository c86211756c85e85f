"""The cascade report: one self-contained HTML page and a Markdown twin with the data summary, calibration (CORP),
goodness of fit, Markov diagnostics, the error-cost frontier and the recommended thresholds
(``probcascade report``, ``probcascade demo --out``). A front end like :mod:`probcascade.plots`: the core never
imports it."""

from probcascade.lazy import lazy_attributes

_LAZY = {
    "build": ("build_report", "SECTION_KEYS"),
    "document": ("CascadeReport", "ReportFigure", "ReportSection"),
    "verdicts": ("p_value_verdict", "markov_verdict"),
}

__all__ = ["build_report", "SECTION_KEYS", "CascadeReport", "ReportFigure", "ReportSection", "p_value_verdict",
           "markov_verdict"]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
