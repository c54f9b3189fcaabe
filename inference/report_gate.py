"""The report stage: is the file an annual report at all? A file with no statutory table and no
report title is refused as ``not_a_report`` before any value is read (a NOTES.md naming an office, a
year and a few numbers). (The run report of a bulk ingest is another thing: ``ingest/report.py``.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nianbao.document import Document, ExtractionError
from nianbao.schema import DEFAULT_TEMPLATE, Schema

from . import metadata

# Share of a statutory table's template rows whose labels must be found for it to count as printed:
# notes or a manual that quote a few row labels are not a table.
MIN_TABLE_ROW_SHARE = 0.6


@dataclass(frozen=True)
class ReportEvidence:
    """What the locate stage saw that says whether a file is an annual report at all."""

    title: Optional[str]
    # Located table -> (template rows whose labels were found, template rows).
    table_rows: dict[str, tuple[int, int]]
    # Pages not read, or read by OCR (a misread title or label, a lone page of a scan): absence of
    # tables proves nothing there.
    unread_tables_possible: bool


def not_a_report(evidence: ReportEvidence) -> Optional[str]:
    """Why the file is not an annual report (no statutory table and no report title), or None."""
    if evidence.title is not None or evidence.unread_tables_possible:
        return None
    if any(rows and rows >= MIN_TABLE_ROW_SHARE * total for rows, total in evidence.table_rows.values()):
        return None
    seen = ", ".join(f"{name}: {rows} of {total} row labels" for name, (rows, total) in sorted(evidence.table_rows.items()))
    return ("no statutory table and no annual-report title (政府信息公开工作年度报告) in the opening"
            + (f"; only scattered row labels were found ({seen})" if seen else ""))


def report_evidence(doc: Document, schema: Schema) -> ReportEvidence:
    table_rows: dict[str, tuple[int, int]] = {}
    for name, table in doc.located.items():
        if name == "appeals":  # Table C is read as one line of values under its header
            table_rows[name] = (1 if table.runs else 0, 1)
        else:
            matched = len({run.row.key for run in table.runs})
            table_rows[name] = (matched, len(schema.table(doc.template or DEFAULT_TEMPLATE, name).rows))
    return ReportEvidence(
        title=metadata.report_title(doc.linear) if doc.linear is not None else None,
        table_rows=table_rows,
        unread_tables_possible=bool(doc.pages_needing_ocr) or any(p.ocr is not None for p in doc.pages),
    )


class ReportStage:
    """A file with no statutory table and no report title is ``not_a_report``: no agency, no year,
    no values, nothing to review."""

    name = "report"

    def __init__(self, schema: Schema):
        self.schema = schema

    def __call__(self, doc: Document) -> Document:
        reason = not_a_report(report_evidence(doc, self.schema))
        if reason is not None:
            doc.agency = doc.year = doc.template = None
            doc.located, doc.regions = {}, {}
            doc.error = ExtractionError(code="not_a_report", message=f"{Path(doc.source).name}: {reason}")
        return doc
