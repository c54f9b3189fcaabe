"""`nianbao report`: one self-contained HTML audit of a results store.

Counts, documents by status and failure reason, which rules fail how often, the documents with the
largest discrepancies, rule 5 across years, agency names folded or flagged, and plots (matplotlib,
embedded as base64 PNG). Fields, rows and columns are named by the tables' official Chinese headers
(``report_labels``: the schema's ``headers`` block), never by schema keys; plots draw them in an
installed CJK font, and without one number them against the table beside the plot. Every piece of text that comes from a document (paths, agency names,
rule details, error messages) is HTML-escaped: reports are untrusted input.
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from nianbao.jsonio import clean_text
from nianbao.numfmt import full_number

from .export import open_existing
from .report_labels import (check_statement, field_label, label_keys_in_text, pick_cjk_font, plot_labels,
                            review_reason_fields, CJK_FONT_FILE)
from .store import Store


def esc(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        v = full_number(v)  # 7117339.04, never 7.11734e+06
    return html.escape(clean_text(str(v)), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    out = ["<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead><tbody>"]
    n = 0
    for r in rows:
        n += 1
        out.append("<tr>" + "".join(f"<td class=\"num\">{esc(v)}</td>" if i in numeric else f"<td>{esc(v)}</td>"
                                    for i, v in enumerate(r)) + "</tr>")
    if n == 0:
        out.append(f"<tr><td colspan=\"{len(headers)}\" class=\"empty\">none</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


@lru_cache(maxsize=1)
def cjk_font() -> Optional[str]:
    """An installed CJK font family for the plots, or None. Fonts installed after matplotlib built its
    font cache (fonts-noto-cjk from apt) are registered from the system's font folders first."""
    from matplotlib import font_manager

    family = pick_cjk_font(f.name for f in font_manager.fontManager.ttflist)
    if family is None:
        for path in font_manager.findSystemFonts():
            if CJK_FONT_FILE.search(Path(path).name):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file: not ours to fix
                    continue
        family = pick_cjk_font(f.name for f in font_manager.fontManager.ttflist)
    return family


def _font(font: Optional[str]):
    """Font properties for labels: the CJK family first, matplotlib's own font for Latin and digits."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(family=[font, "DejaVu Sans"]) if font else FontProperties(family="DejaVu Sans")


def _ranked_bars(title: str, labels: Sequence[str], values: Sequence[float], xlabel: str, font: Optional[str]) -> str:
    """Horizontal bars, largest on top, for long labels (official headers). Without a CJK font the
    labels are the row numbers of the table printed with the plot (``plot_labels``)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    shown = plot_labels(labels, font)
    fig = Figure(figsize=(8.0, 0.45 * len(shown) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(shown)))
    ax.barh(y, values)
    ax.set_yticks(y)
    ax.set_yticklabels(shown, fontproperties=_font(font))
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _png(fig)


def _bar(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], xlabel: str = "", ylabel: str = "") -> str:
    """A (stacked) bar chart. Labels are ASCII (codes, rules, years): no CJK font is assumed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    bottom = [0.0] * len(labels)
    x = list(range(len(labels)))
    for name, values in series.items():
        ax.bar(x, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(x)
    ax.set_xticklabels([str(lbl) for lbl in labels], rotation=45 if len(labels) > 8 else 0, ha="right" if len(labels) > 8 else "center")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend()
    return _png(fig)


def _hist(title: str, values: Sequence[float], bins: int, xlabel: str, log: bool = False) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(values, bins=bins, log=log)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    return _png(fig)


def _binned(title: str, bins: dict[int, int], n_bins: int, xlabel: str) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    width = 1.0 / n_bins
    xs = [(b + 0.5) * width for b in range(n_bins)]
    ax.bar(xs, [bins.get(b, 0) for b in range(n_bins)], width=width * 0.95, log=True)
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fields (log scale)")
    return _png(fig)


def gather(store: Store, top: int = 25) -> dict:
    """The report's figures, counted by the store (``Store.report_figures``)."""
    data = store.report_figures(top)
    data["review_fields"] = review_fields(data.pop("review_reasons", []), top)
    return data


@dataclass(frozen=True)
class ReviewField:
    """A field (by its official headers) and how many documents went to review naming it."""
    label: str
    documents: int


def review_fields(documents: Iterable[dict], top: int = 25) -> list[ReviewField]:
    """The fields whose doubtful readings sent most documents to review, under their official
    headers (one template's key and the other's with the same headers count together).
    ``documents``: rows of template and review_reasons (JSON), as ``report_figures`` gives them."""
    counts: dict[str, int] = {}
    for r in documents:
        try:
            reasons = json.loads(r["review_reasons"])
        except (TypeError, ValueError):
            continue
        labels = {field_label(k, r["template"]) for k in review_reason_fields(x for x in reasons if isinstance(x, str))}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [ReviewField(label, n) for label, n in ranked[:top]]


CSS = """body{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}td.empty{color:#888;font-style:italic}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.6em}img{max-width:100%}h2{margin-top:1.6em;border-bottom:1px solid #ddd}"""


def render(data: dict, db: str) -> str:
    t = data["totals"]
    parts = [f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
             f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
             f"<title>nianbao audit: {esc(Path(db).name)}</title><style>{CSS}</style></head><body>",
             f"<h1>nianbao audit report</h1><p>store <code>{esc(db)}</code>, made "
             f"{esc(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}</p>"]
    cards = [("documents", t["documents"]), ("done", t["done"]), ("failed", t["failed"]),
             ("need review", t["review_needed"]), ("agencies", t["agencies"]), ("pages", t["pages"])]
    parts.append("<div class=\"cards\">" + "".join(f"<div class=\"card\"><b>{esc(v or 0)}</b>{esc(k)}</div>"
                                                   for k, v in cards) + "</div>")

    parts.append("<h2>Documents by status</h2>")
    parts.append(_table(["status", "reason", "documents"], [(r["status"], r["error_code"], r["n"]) for r in data["by_status"]],
                        numeric=[2]))
    failed_codes = [r for r in data["by_status"] if r["status"] == "failed"]
    if failed_codes:
        parts.append(_bar("Failed documents by reason", [r["error_code"] or "?" for r in failed_codes],
                          {"failed": [r["n"] for r in failed_codes]}, ylabel="documents"))
    parts.append(_table(["format", "documents", "done"], [(r["format"], r["n"], r["done"]) for r in data["by_format"]],
                        numeric=[1, 2]))

    parts.append("<h2>Documents by year and template</h2>")
    parts.append(_table(["year", "template", "documents", "need review"],
                        [(r["year"], r["template"], r["n"], r["review"]) for r in data["by_year"]], numeric=[2, 3]))
    years = sorted({r["year"] for r in data["by_year"] if r["year"] is not None})
    if years:
        templates = sorted({r["template"] or "?" for r in data["by_year"]})
        series = {tpl: [sum(r["n"] for r in data["by_year"] if r["year"] == y and (r["template"] or "?") == tpl)
                        for y in years] for tpl in templates}
        parts.append(_bar("Documents by report year", years, series, ylabel="documents"))

    parts.append("<h2>Rules: how often each fails</h2>")
    parts.append("<p>R1 row totals, R2 result columns, R3 the corner rule, R4 Table C; R5 across consecutive years of "
                 "one agency. A rule broken by clearly printed numbers is a finding of the document.</p>")
    parts.append(_table(["rule", "checks", "failed", "documents failing"],
                        [(r["rule"], r["checks"], r["failed"], r["documents"]) for r in data["rules"]], numeric=[1, 2, 3]))
    if data["rules"]:
        labels = [f"{r['rule'].replace(' (across years)', '*')}\n{100 * r['failed'] / r['checks']:.1f}%"
                  for r in data["rules"]]
        parts.append(_bar("Failed rule checks by rule (* across years; % of that rule's checks)", labels,
                          {"failed": [r["failed"] for r in data["rules"]]}, ylabel="failed checks"))

    parts.extend(_audit_sections(data))

    parts.append("<h2>Largest discrepancies</h2><h3>Documents</h3>")
    parts.append(_table(["path", "agency", "year", "template", "failed checks", "sum of |difference|", "largest"],
                        [(r["path"], r["agency"], r["year"], r["template"], r["failed"], r["total_abs_difference"], r["largest"])
                         for r in data["worst_docs"]], numeric=[4, 5, 6]))
    parts.append("<h3>Checks</h3>")
    parts.append(_table(["path", "agency", "year", "rule", "detail", "difference"],
                        [(r["path"], r["agency"], r["year"], r["rule"],
                          check_statement(r["detail"], r.get("cells"), r.get("template")), r["difference"])
                         for r in data["worst_checks"]],
                        numeric=[5]))

    parts.append("<h2>Rule 5 across years (failed)</h2>")
    parts.append(_table(["agency", "years", "match", "confidence", "detail", "difference", "earlier", "later"],
                        [(r["agency_normalised"], f"{r['earlier_year']}→{r['later_year']}", r["agency_match"],
                          r["match_confidence"], check_statement(r["detail"], r.get("cells"), r.get("template")),
                          r["difference"], r["earlier_path"], r["later_path"])
                         for r in data["cross_year"]], numeric=[3, 5]))
    parts.append("<h2>Agency names folded or flagged</h2>")
    parts.append(_table(["name", "name", "relation", "confidence", "why"],
                        [(r["agency_a"], r["agency_b"], r["relation"], r["confidence"], r["reason"]) for r in data["matches"]],
                        numeric=[3]))

    parts.append("<h2>Confidence and speed</h2>")
    if data["confidence_bins"]:
        parts.append(_binned("Confidence of printed field values", data["confidence_bins"], 20, "confidence"))
    if data["timings"]:
        parts.append(_hist("Seconds per document (worker time)", data["timings"], 30, "seconds"))

    parts.append("<h2>Failed documents</h2>")
    parts.append(_table(["path", "reason", "message"],
                        [(r["path"], r["error_code"], r["error_message"]) for r in data["failures"]]))
    parts.append("<h2>Documents needing review</h2>")
    parts.extend(_review_field_section(data.get("review_fields") or [], cjk_font()))
    parts.append(_table(["path", "agency", "year", "reasons"],
                        [(r["path"], r["agency"], r["year"],
                          label_keys_in_text("; ".join(json.loads(r["review_reasons"]) if r["review_reasons"] else []),
                                             r.get("template")))
                         for r in data["review"]]))
    parts.append("<h2>Runs</h2>")
    parts.append(_table(["run", "started", "finished", "pipeline", "counts"],
                        [(r["id"], r["started_at"], r["finished_at"] or "(did not finish)", r["pipeline_version"],
                          _counts(r["counts"])) for r in data["runs"]]))
    parts.append("</body></html>")
    return "\n".join(parts)


def audit_figures(store: Store, hierarchy: Optional[str | Path] = None) -> dict:
    """The cross-document audit (H1 parent and children, R5 as evidence) over the store."""
    from .audit_store import cross_year_redecisions, hierarchy_findings

    return {"hierarchy": hierarchy_findings(store, hierarchy), "redecisions": cross_year_redecisions(store)}


def _audit_sections(data: dict) -> list[str]:
    """Findings grouped by family (counts and rates), then H1 and R5-as-evidence when present."""
    from nianbao.inference.audit import FAMILY_NAMES, RULES, FamilyCount, family_counts

    families = family_counts(data.get("rules") or [])
    h1 = data.get("hierarchy") or []
    evaluated = [f for f in h1 if f.evaluated]
    if evaluated:
        families.append(FamilyCount("H", ("H1",), len(evaluated), sum(1 for f in evaluated if not f.passed),
                                    len({(f.parent, f.year) for f in evaluated if not f.passed})))
    parts = ["<h2>Findings by family</h2>",
             "<p>R sums (rules 1-5), P prose vs table, A Table A sanity, N narrative, H parent and children. "
             "A finding is a fact about the document, never a change to a number.</p>"]
    parts.append(_table(["family", "rules", "checks", "failed", "failed %", "documents failing (per rule)"],
                        [(f"{f.family} {FAMILY_NAMES.get(f.family, '')}", " ".join(f.rules), f.checks, f.failed,
                          f"{100 * f.failed_rate:.1f}%", f.documents_failing) for f in families],
                        numeric=[2, 3, 4, 5]))
    shown = [f for f in families if f.checks]
    if shown:
        parts.append(_bar("Checks and failures by family", [f.family for f in shown],
                          {"passed": [f.checks - f.failed for f in shown], "failed": [f.failed for f in shown]},
                          ylabel="checks"))
    parts.append(_table(["rule", "meaning"], [(rule, label_keys_in_text(meaning)) for rule, meaning in sorted(RULES.items())]))
    if h1:
        parts.append("<h3>H1: parent and children</h3>")
        parts.append(_table(["parent", "year", "hierarchy", "result", "detail", "confidence"],
                            [(f.parent, f.year, "inferred from names" if f.inferred else "given",
                              "not evaluated" if not f.evaluated else ("passed" if f.passed else "failed"),
                              f.detail, f.confidence) for f in h1], numeric=[5]))
    redecisions = data.get("redecisions") or []
    if redecisions:
        parts.append("<h3>R5 as evidence: doubted readings the neighbouring years decide otherwise (not applied)</h3>")
        parts.append(_table(["document", "field", "read", "neighbours support", "confidence", "why"],
                            [(r.document_id, field_label(r.key), r.old_value, r.new_value, r.confidence,
                              label_keys_in_text(r.reason)) for r in redecisions],
                            numeric=[2, 3, 4]))
    return parts


PLOTTED_FIELDS = 12  # bars in the plot; the table beside it lists them all


def _review_field_section(fields: Sequence[ReviewField], font: Optional[str]) -> list[str]:
    """The fields that send documents to review: a table under official headers and its plot."""
    if not fields:
        return []
    parts = ["<h3>Fields whose readings sent documents to review</h3>"]
    plotted = fields[:PLOTTED_FIELDS]
    parts.append(_ranked_bars(f"Documents sent to review, by field (top {len(plotted)})", [f.label for f in plotted],
                              [f.documents for f in plotted], "documents", font))
    parts.append(_table(["#", "field (official headers)", "documents"],
                        [(i, f.label, f.documents) for i, f in enumerate(fields, start=1)], numeric=[0, 2]))
    return parts


def _counts(text: Optional[str]) -> str:
    if not text:
        return ""
    c = json.loads(text)
    failed = sum((c.get("failed") or {}).values())
    return f"done {c.get('done', 0)}, failed {failed}, skipped {c.get('skipped', 0)}, {c.get('elapsed', 0):.1f} s"


def write_report(db: str | Path, out: str | Path, top: int = 25, hierarchy: Optional[str | Path] = None) -> Path:
    store = open_existing(db)
    try:
        data = gather(store, top)
        data.update(audit_figures(store, hierarchy))
        page = render(data, store.path)  # a postgresql:// URL without its password
    finally:
        store.close()
    out = Path(out)
    out.write_text(page, encoding="utf-8")
    return out
