"""The extraction pipeline: one Document flows through a visible list of stages.

    read -> ocr -> locate -> report -> map -> reconcile -> calibrate -> review

(ocr reads the pages a reader marked ``needs_ocr``; on a document without such pages it does nothing.
report refuses a file that is no annual report at all, ``not_a_report``, before any value is read.
calibrate runs unless ``PipelineOptions.calibrate`` is off.)

Each stage takes the document and returns it. A stage that fails records an error on the
document; the document is returned, never raised, so a batch goes on with the next file.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from nianbao.document import TABLE_NAMES, Document, ExtractionError, Region, Review
from nianbao.errors import ReadError
from nianbao.schema import DEFAULT_TEMPLATE, Schema, load_schema, template_for_year

from . import audit, metadata, reconcile
from .calibration import CalibrateStage
from .linearize import linearize
from .locate import RegexSpotter, TableLocator, approximate_find
from .mapping import BaselineMapper, Mapper, missing_row_doubt
from .ocr import OcrOptions, OcrStage
from .ocr.trust import doubt_cells_of_failing_rules
from .readers import read_document
from .readers.options import ReaderOptions

DOUBT_THRESHOLD = 0.9


@dataclass
class PipelineOptions:
    """Everything that configures a run; swapping a stage is a change here, not in code."""

    reader: ReaderOptions = field(default_factory=ReaderOptions)
    ocr: OcrOptions = field(default_factory=OcrOptions)
    mapper: str = "classifier"  # the shipped trained model; missing, it is an error (baseline: by name only)
    doubt_threshold: float = DOUBT_THRESHOLD
    # Map raw confidences to measured ones (models/calibration.json, when present).
    calibrate: bool = True


MAPPERS = ("baseline", "classifier")


def make_mapper(name: str) -> Mapper:
    if name not in MAPPERS:
        raise ValueError(f"unknown mapper {name!r} (available: {', '.join(MAPPERS)})")
    return BaselineMapper()


def make_spotter(name: str):
    """Row labels are spotted by the schema's regexes (baseline) or by the trained classifier, which
    raises ModelMissing when no model is installed (never a silent fallback to other readings)."""
    if name == "classifier":
        from .classifier import ClassifierSpotter

        return ClassifierSpotter()
    return RegexSpotter()


def make_ocr_stage(options: OcrOptions) -> OcrStage:
    return OcrStage(options)


class Stage(Protocol):
    name: str

    def __call__(self, doc: Document) -> Document: ...


class ReadStage:
    name = "read"

    def __init__(self, options: PipelineOptions):
        self.options = options

    def __call__(self, doc: Document) -> Document:
        read = read_document(Path(doc.source), self.options.reader)
        read.source = doc.source
        return read


# A table's own header words: where they are printed and the table was not found, the model looks.
_TABLE_HEADINGS = {"proactive": re.compile(r"第二十条|信息内容"), "appeals": re.compile(r"维持|纠正|审结"),
                   "requests": re.compile(r"申请人情况|本年新收|[勾钩]稽|予以公开")}


def located_completely(located: dict, requests_spec, norm: str) -> bool:
    """Every statutory table found, every label matched exactly, no row placed by structure or left
    doubted, Table C with all its cells: nothing a trained spotter could add."""
    if "requests" not in located:  # the heart of a report: when its labels were not found, the model looks
        return False
    for name in set(TABLE_NAMES) - set(located):
        # A table the schema's labels did not find, where its heading is printed: let the model look.
        if _TABLE_HEADINGS[name].search(norm):
            return False
    for name, table in located.items():
        if table.unplaced or any(r.by_structure or r.via_group for r in table.runs):
            return False
        if any(m.confidence < 0.99 for m in table.labels):
            return False
        if name == "appeals":
            chunks, n = table.runs[0].chunks, len(table.runs[0].row.columns)
            cells = sum(len(c.digits) if c.kind == "number" else len(c.raw) if c.kind == "placeholder" else 1
                        for c in chunks)
            if chunks and (len(chunks) > n or cells < n):  # cells lost or extra: labels alone do not settle it
                return False
            continue
        if name == "requests":
            found = {r.row.key for r in table.runs}
            if any(missing_row_doubt(k, requests_spec, found, False) for k in table.missing_rows):
                return False
    return True


class LocateStage:
    """Linearise, detect the template, find the tables' rows and value runs, agency and year."""

    name = "locate"

    def __init__(self, schema: Schema, spotter=None):
        self.schema = schema
        self.locator = TableLocator(schema, spotter)
        # A cascade: the schema's labels first; the trained spotter (seconds of model time per hundred
        # documents) only where they leave a table incomplete. A complete reading by the schema's labels
        # is the same one the classifier gives, which adds candidates only where labels are missing.
        self.schema_first = TableLocator(schema, RegexSpotter()) if self.locator.spotter.name != "baseline" else None

    def _locate(self, lin, template: str) -> dict:
        if self.schema_first is not None:
            located = self.schema_first.locate(lin, template)
            if located_completely(located, self.schema.table(template, "requests"), lin.norm):
                return located
        return self.locator.locate(lin, template)

    def detect_template(self, norm: str, year: Optional[int]) -> Optional[str]:
        scores = {t: sum(1 for p in pats if p.search(norm)) for t, pats in self.schema.template_markers.items()}
        if scores["v2019"] != scores["v2021"]:
            return max(scores, key=scores.get)
        if year is None:
            return None
        return template_for_year(year)

    def __call__(self, doc: Document) -> Document:
        # Approximate label searches are reused across a document's candidate table starts, never
        # across documents: a long-running worker keeps no other document's text.
        approximate_find.cache_clear()
        lin = linearize(doc)
        doc.linear = lin
        doc.year = metadata.detect_year(lin)
        doc.agency = metadata.detect_agency(lin)
        template = self.detect_template(lin.norm, doc.year) or DEFAULT_TEMPLATE
        doc.mapper = self.locator.spotter.name
        doc.model_version = getattr(self.locator.spotter, "model_version", None)
        doc.located = self._locate(lin, template)
        if doc.located:
            # The tables' own headers decide the template; locate again only if they disagree with
            # the whole text's first guess (the two templates' rows differ).
            region = lin.norm[min(t.region.start for t in doc.located.values()):max(t.region.end for t in doc.located.values())]
            region_template = self.detect_template(region, doc.year) or template
            if region_template != template:
                template = region_template
                doc.located = self._locate(lin, template)
        doc.template = template
        doc.regions = {k: Region(k, t.region.start, t.region.end) for k, t in doc.located.items()}
        return doc


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
    no values, nothing to review (a NOTES.md naming an office, a year and a few numbers)."""

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


class MapStage:
    name = "map"

    def __init__(self, schema: Schema, mapper: Mapper):
        self.schema = schema
        self.mapper = mapper

    def __call__(self, doc: Document) -> Document:
        doc.mapper = doc.mapper or self.mapper.name
        doc.fields = self.mapper.map(doc, doc.linear, doc.located, self.schema)
        # A table is found when its rows were read; with none found the template is the year's.
        if not any(doc.found.values()) and doc.year is not None:
            doc.template = template_for_year(doc.year)
        return doc


class ReconcileStage:
    """Rules 1-4 (reconcile), then the audit catalogue (audit: P prose vs table, A Table A sanity,
    N narrative). Findings only: no value is changed here."""

    name = "reconcile"

    def __init__(self, schema: Schema):
        self.schema = schema

    def __call__(self, doc: Document) -> Document:
        if doc.template and any(doc.found.values()):  # nothing read, nothing evaluated
            doc.checks = reconcile.run_checks(doc.values(), doc.template, doc.found, self.schema)
            for c in doc.checks:
                c.confidence = audit.rule_confidence(c, doc.fields)
            try:
                doc.checks += audit.audit_document(doc)
            except Exception as e:  # a bug in a finding must not cost the document its values
                doc.warnings.append(f"audit_failed: {type(e).__name__}: {e}")
        return doc


def tables_with_replaced_bytes(doc: Document) -> list[str]:
    """The located tables whose text holds a U+FFFD put there by a lossy decode."""
    if doc.linear is None or not any(w.startswith("decoded_with_replacement") for w in doc.warnings):
        return []
    norm = doc.linear.norm
    return [name for name, region in doc.regions.items() if "\ufffd" in norm[region.start:region.end]]


class ReviewStage:
    """A document needs review when a field is doubted; a rule broken by clear text is a finding."""

    name = "review"

    def __init__(self, threshold: float):
        self.threshold = threshold

    def __call__(self, doc: Document) -> Document:
        reasons = []
        # Each OCR-read cell of a failing sum rule is doubted (the rule cannot say which was misread).
        doubt_cells_of_failing_rules(doc.fields, doc.checks)
        for key, f in doc.fields.items():
            if f.value is not None and f.confidence < self.threshold:
                reasons.append(f"{key}: {f.reason or 'low confidence'} (confidence {f.confidence:.2f})")
        # Rows not found where they may well be printed (a damaged label, numbers left unplaced):
        # null is not a reading, so a person looks. One reason per row, not per cell.
        doubted_rows = {k.rsplit(".", 1)[0]: f for k, f in doc.fields.items()
                        if f.value is None and f.confidence < self.threshold}
        for row, f in doubted_rows.items():
            reasons.append(f"{row}: {f.reason or 'row not found'} (confidence {f.confidence:.2f})")
        # A rule failing on numbers read by OCR: a misreading is the likelier cause than the report.
        # (The sum rules only: an audit finding against the prose or the narrative is the report's.)
        for c in doc.checks:
            if not c.passed and c.rule in reconcile.SUM_RULES and any(doc.fields.get(k) is not None and doc.fields[k].source == "ocr" for k in c.cells):
                reasons.append(f"rule {c.rule} fails on numbers read by OCR: {c.detail}")
        # A statutory table missing from a scan that has tables (or any print) may be a misreading.
        read = [p for p in doc.pages if p.ocr]
        missing = [t for t in TABLE_NAMES if not doc.found.get(t)]
        if read and missing and (any(p.ocr.get("tables") for p in read)
                                 or (not any(doc.found.values()) and any(not p.ocr.get("blank") for p in read))):
            seen = sum(p.ocr.get("tables", 0) for p in read)
            reasons.append(f"{', '.join(missing)} table(s) not recognised on the pages read by OCR "
                           f"{[p.number for p in read]} ({seen} table region(s) seen there)")
        damaged = tables_with_replaced_bytes(doc)
        if damaged:
            reasons.append(f"bytes that could not be decoded were replaced inside the {', '.join(damaged)} table(s): "
                           "a number printed there may have lost a digit")
        ocr_pages = doc.pages_needing_ocr
        if ocr_pages:
            why = sorted({p.ocr_reason or "needs OCR" for p in doc.pages if p.needs_ocr})
            reasons.append(f"pages {ocr_pages} have no usable text layer and were not read ({'; '.join(why)})")
        doc.review = Review(needed=bool(reasons), reasons=reasons)
        return doc


def build_stages(options: PipelineOptions, schema: Optional[Schema] = None) -> list[Stage]:
    schema = schema or load_schema()
    return [
        ReadStage(options),
        make_ocr_stage(options.ocr),
        LocateStage(schema, make_spotter(options.mapper)),
        ReportStage(schema),
        MapStage(schema, make_mapper(options.mapper)),
        ReconcileStage(schema),
        *([CalibrateStage()] if options.calibrate else []),
        ReviewStage(options.doubt_threshold),
    ]


class Pipeline:
    def __init__(self, options: Optional[PipelineOptions] = None):
        self.options = options or PipelineOptions()
        self.stages = build_stages(self.options)

    def run(self, path: str | Path) -> Document:
        doc = Document(source=str(path))
        for stage in self.stages:
            t0 = time.perf_counter()
            try:
                doc = stage(doc)
                if doc.error is not None:  # a stage refused the document (e.g. not_a_report)
                    return doc
            except ReadError as e:
                doc.error = ExtractionError(code=e.code, message=e.message)
                return doc
            except MemoryError as e:  # a cap (ingest's per-worker limit), not a damaged file
                doc.error = ExtractionError(code="memory", message=f"MemoryError: out of memory in the {stage.name} stage {e}".rstrip())
                return doc
            except Exception as e:  # a bug or an unforeseen file must not stop a batch
                doc.error = ExtractionError(code=f"{stage.name}_failed", message=f"{type(e).__name__}: {e}")
                return doc
            finally:
                doc.timings[stage.name] = round(time.perf_counter() - t0, 4)
        return doc


def extract(path: str | Path, options: Optional[PipelineOptions] = None) -> Document:
    return Pipeline(options).run(path)
