"""The report as a document: sections of text, :class:`~probcascade.summary.Summary` tables and PNG figures, rendered
as one self-contained HTML page (figures embedded as base64 PNG, inline CSS, no JavaScript, nothing fetched) and as
a Markdown twin with the same tables (figures written as files beside it).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from probcascade.summary import Summary

__all__ = ["CascadeReport", "ReportFigure", "ReportSection", "figure_png"]

_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 15px; line-height: 1.45;
       color: #1a1a1a; max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #0072B2; padding-bottom: 0.15em; margin-top: 2.2em; }
h4 { font-size: 1.0em; margin: 1.2em 0 0.4em; }
p.meta { color: #555; font-size: 0.9em; margin-top: 0; overflow-wrap: anywhere; }
nav ol { columns: 2; font-size: 0.95em; }
table.simpletable { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.85em;
                    font-variant-numeric: tabular-nums; }
table.simpletable caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.3em; }
table.simpletable th, table.simpletable td { border: 1px solid #ccc; padding: 0.2em 0.55em; text-align: right;
                                             white-space: nowrap; }
table.simpletable td:last-child { white-space: normal; min-width: 10em; }
table.simpletable thead th { background: #eef3f8; text-align: center; }
table.simpletable tbody th { text-align: left; font-weight: normal; background: #fafafa; white-space: nowrap; }
div.summary p { font-size: 0.88em; color: #333; max-width: 60em; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { font-size: 0.88em; color: #333; max-width: 60em; }
.scroll { overflow-x: auto; }
"""


def figure_png(fig, dpi: int = 110) -> bytes:
    """PNG bytes of a matplotlib figure; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    return buf.getvalue()


@dataclass(frozen=True)
class ReportFigure:
    """One figure: file stem (``name.png`` beside the Markdown), PNG bytes, caption."""

    name: str
    png: bytes = field(repr=False)
    caption: str = ""


@dataclass
class ReportSection:
    """A titled section: introductory paragraphs, tables (a Summary, may be None) and figures."""

    key: str
    title: str
    intro: tuple[str, ...] = ()
    summary: Summary | None = None
    figures: list[ReportFigure] = field(default_factory=list)


@dataclass
class CascadeReport:
    """A rendered-on-demand report of a cascade (see :func:`probcascade.report.build_report`)."""

    title: str
    meta: dict
    sections: list[ReportSection]

    def section(self, key: str) -> ReportSection:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no section {key!r}; sections: {[s.key for s in self.sections]}")

    def summary(self) -> Summary:
        """Every section's tables in one :class:`~probcascade.summary.Summary` (text, HTML, JSON renderings)."""
        out = Summary(self.title)
        for s in self.sections:
            if s.summary is not None:
                out.extend(Summary(s.title).extend(s.summary))
        return out

    # -- rendering ------------------------------------------------------------------------------------------
    def _meta_line(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.meta.items())

    def to_html(self) -> str:
        """One self-contained HTML page: inline CSS, figures as ``data:image/png;base64`` URIs, no scripts."""
        esc = html.escape
        out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
               '<meta name="viewport" content="width=device-width, initial-scale=1">',
               f"<title>{esc(self.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
               f"<h1>{esc(self.title)}</h1>", f'<p class="meta">{esc(self._meta_line())}</p>',
               "<nav><ol>" + "".join(f'<li><a href="#{esc(s.key)}">{esc(s.title)}</a></li>' for s in self.sections)
               + "</ol></nav>"]
        for s in self.sections:
            out.append(f'<section id="{esc(s.key)}">')
            out.append(f"<h2>{esc(s.title)}</h2>")
            out += [f"<p>{esc(p)}</p>" for p in s.intro]
            if s.summary is not None:
                out.append(f'<div class="scroll">{s.summary.as_html()}</div>')
            for f in s.figures:
                data = base64.b64encode(f.png).decode("ascii")
                out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(f.caption or f.name)}">'
                           f"<figcaption>{esc(f.caption)}</figcaption></figure>")
            out.append("</section>")
        out += ["</body>", "</html>"]
        return "\n".join(out) + "\n"

    def to_markdown(self, figure_dir: str = "figures") -> str:
        """The Markdown twin: the same tables (pipe tables) and the figures as ``figure_dir/<name>.png`` links."""
        out = [f"# {self.title}", "", self._meta_line(), ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            for p in s.intro:
                out += [p, ""]
            if s.summary is not None:
                out += [s.summary.as_markdown(), ""]
            for f in s.figures:
                out += [f"![{f.caption or f.name}]({figure_dir}/{f.name}.png)", "", f"*{f.caption}*", ""]
        return "\n".join(out).rstrip() + "\n"

    def write(self, out: str | Path, stem: str = "report") -> tuple[Path, Path]:
        """Write ``out/stem.html``, ``out/stem.md`` and the figures to ``out/figures/``; returns the two paths."""
        out = Path(out)
        figs = out / "figures"
        figs.mkdir(parents=True, exist_ok=True)
        for s in self.sections:
            for f in s.figures:
                (figs / f"{f.name}.png").write_bytes(f.png)
        html_path, md_path = out / f"{stem}.html", out / f"{stem}.md"
        html_path.write_text(self.to_html(), encoding="utf-8")
        md_path.write_text(self.to_markdown("figures"), encoding="utf-8")
        return html_path, md_path
