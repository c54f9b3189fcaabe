"""The result record and the labelled-document format: what extraction hands on (``nianbao extract
--jsonl``, the store, review) and what a reviewed or gold label holds (``nianbao/labelled-document@1``).

One module builds it from a typed ``Document`` (``to_record``) and reads back what it adds beyond the
output contract: a field's *context*, the reading-order text around its printed number with the
number's character span in that text. The context is written only where a later stage needs it
(``to_record(doc, contexts=True)``: the ingest worker, so the review app shows a cell's source without
re-running the pipeline); the JSONL output contract stays as it was. Labels are read with
``load_labelled`` and built with ``labelled_document`` (``review.labels.write_label`` writes them);
a label's field says where its value is printed when the record knew it: page and box, and the
character span of the number in the reading-order text (the context's span).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from nianbao import __version__
from nianbao.document import Check, Document
from nianbao.schema import TABLE_NAMES

TABLES = TABLE_NAMES

# The key of a field's context in a stored record (``fields.extra`` in the store).
CONTEXT_KEY = "context"
# A context stays inside its row's window (60 characters before the row's first number, 10 after its
# last) and keeps at most 60 characters before its number and 20 after (one context per field is
# stored: about 40 kB a document); a row whose numbers are not told apart keeps 100 of its window.
CONTEXT_BEFORE = 60
CONTEXT_AFTER = 10
CONTEXT_MAX_BEFORE = 60
CONTEXT_MAX_AFTER = 20
CONTEXT_MAX_ROW = 100


@dataclass(frozen=True)
class FieldContext:
    """Where a field's number was printed in the document's reading-order text (``LinearText.raw``):
    the text before it, the printed number, the text after it, and the number's span [start, end)."""

    before: str
    value: str
    after: str
    start: Optional[int] = None
    end: Optional[int] = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"before": self.before, "value": self.value, "after": self.after}
        if self.start is not None and self.end is not None:
            out["span"] = [self.start, self.end]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Optional["FieldContext"]:
        """The context stored with a field, or None where there is none or it is malformed (an older
        or hand-edited store loses the context, never the field)."""
        if not isinstance(data, Mapping):
            return None
        parts = [data.get(k) for k in ("before", "value", "after")]
        if not all(isinstance(p, str) for p in parts):
            return None
        span = data.get("span")
        start = end = None
        if (isinstance(span, list) and len(span) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                              for v in span) and 0 <= span[0] <= span[1]):
            start, end = span
        return cls(parts[0], parts[1], parts[2], start, end)


def field_contexts(doc: Document) -> dict[str, FieldContext]:
    """Field key -> the text around the number it was read from, for every field read off a located
    row of the reading-order text (the first row that gives a key wins, as in mapping)."""
    out: dict[str, FieldContext] = {}
    if doc.linear is None:
        return out
    raw = doc.linear.raw
    for table in doc.located.values():
        for run in table.runs:
            starts = [c.end - len(c.raw) for c in run.chunks if c.end]
            if not starts:
                continue
            lo = max(0, min(starts) - CONTEXT_BEFORE)
            hi = min(len(raw), max(c.end for c in run.chunks if c.end) + CONTEXT_AFTER)
            for i, key in enumerate(_run_field_keys(run.row)):
                if key in out:
                    continue
                chunk = run.chunks[i] if i < len(run.chunks) else None
                field = doc.fields.get(key)
                # The chunk is this field's own print only where it reads as the field's raw text
                # (run-together digits are one chunk for several fields: they get the row).
                if chunk is None or not chunk.end or field is None or chunk.raw.strip() != (field.raw or "").strip():
                    out[key] = FieldContext(raw[lo:min(hi, lo + CONTEXT_MAX_ROW)], "", "")  # the row, no number of its own
                    continue
                s, e = chunk.end - len(chunk.raw), chunk.end
                out[key] = FieldContext(raw[max(lo, s - CONTEXT_MAX_BEFORE):s], raw[s:e],
                                        raw[e:min(hi, e + CONTEXT_MAX_AFTER)], s, e)
    return out


def _run_field_keys(row) -> list[str]:
    """The field keys a located run's values fill, in order (Table C's one run of 15 numbers is a
    row whose columns are already the fields' keys)."""
    if all(c.startswith(f"{row.table}.") for c in row.columns):
        return list(row.columns)
    return row.field_keys()


def field_context(item: Mapping[str, Any]) -> Optional[FieldContext]:
    """The context a stored field carries (see ``to_record(..., contexts=True)``)."""
    return FieldContext.from_dict(item.get(CONTEXT_KEY))


@dataclass
class RecordField:
    """One field of a result record: the value read, as printed, how sure, and where it was printed."""

    value: Optional[float]
    raw: Optional[str]
    confidence: Optional[float]
    page: Optional[int] = None
    bbox: Optional[list[float]] = None            # [x0, top, x1, bottom] on its page
    alternatives: list[Any] = field(default_factory=list)
    source: Optional[str] = None                  # "ocr" for a value read by OCR
    reason: Optional[str] = None                  # why it is doubted
    context: Optional[FieldContext] = None        # the reading-order text around it (stored records)
    extra: dict[str, Any] = field(default_factory=dict)  # what a later stage added (kept, not interpreted)

    def as_dict(self, contexts: bool = True) -> dict[str, Any]:
        item: dict[str, Any] = {"value": self.value, "raw": self.raw, "confidence": self.confidence}
        if self.page is not None:
            item["page"] = self.page
        if self.bbox is not None:
            item["bbox"] = list(self.bbox)
        if self.alternatives:
            item["alternatives"] = self.alternatives
        if self.source is not None:
            item["source"] = self.source
        if self.reason:
            item["reason"] = self.reason
        item.update(self.extra)
        if contexts and self.context is not None:
            item[CONTEXT_KEY] = self.context.as_dict()
        return item

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> "RecordField":
        known = {"value", "raw", "confidence", "page", "bbox", "alternatives", "source", "reason"}
        context = FieldContext.from_dict(item.get(CONTEXT_KEY))
        # A malformed context stays as it was (in extra): reading a record loses nothing.
        extra = {k: v for k, v in item.items() if k not in known and (k != CONTEXT_KEY or context is None)}
        return cls(value=item.get("value"), raw=item.get("raw"), confidence=item.get("confidence"),
                   page=item.get("page"), bbox=item.get("bbox"), alternatives=list(item.get("alternatives") or []),
                   source=item.get("source"), reason=item.get("reason"), context=context, extra=extra)


@dataclass
class Record:
    """A result record, typed: what ``to_record`` writes and what the store gives back (``load_record``,
    which adds the store's own keys, e.g. ``content_hash`` and ``status``, kept in ``extra``)."""

    source: Optional[str]
    agency: Optional[str]
    year: Optional[int]
    template: Optional[str]
    found: dict[str, bool]
    fields: dict[str, RecordField]
    checks: list[RecordCheck]
    review_needed: bool
    review_reasons: list[str]
    error: Optional[dict[str, str]]               # {"code", "message"} of a failed document
    format: Optional[str]
    mapper: Optional[str]
    model_version: Optional[str]
    version: Optional[str] = None                 # nianbao's version that wrote it (not kept by the store)
    warnings: list[str] = field(default_factory=list)
    pages_needing_ocr: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, contexts: bool = True) -> dict[str, Any]:
        """The record as JSON data, keys in the output contract's order (then any ``extra``)."""
        rec: dict[str, Any] = {
            "source": self.source,
            "agency": self.agency,
            "year": self.year,
            "template": self.template,
            "tables": {t: {"found": bool(v)} for t, v in self.found.items()},
            "fields": {k: f.as_dict(contexts) for k, f in self.fields.items()},
            "checks": [c.as_dict() for c in self.checks],
            "review": {"needed": self.review_needed, "reasons": self.review_reasons},
            "error": self.error,
            "format": self.format,
            "mapper": self.mapper,
            "model_version": self.model_version,
        }
        if self.version is not None:
            rec["version"] = self.version
        if self.warnings:
            rec["warnings"] = self.warnings
        if self.pages_needing_ocr:
            rec["pages_needing_ocr"] = self.pages_needing_ocr
        for k, v in self.extra.items():
            rec.setdefault(k, v)
        return rec

    @classmethod
    def from_dict(cls, rec: Mapping[str, Any]) -> "Record":
        """A record read back (from ``--jsonl`` output or ``load_record``); keys it does not know are kept."""
        known = {"source", "agency", "year", "template", "tables", "fields", "checks", "review", "error", "format",
                 "mapper", "model_version", "version", "warnings", "pages_needing_ocr"}
        review = rec.get("review") or {}
        return cls(source=rec.get("source"), agency=rec.get("agency"), year=rec.get("year"),
                   template=rec.get("template"),
                   found={t: bool((v or {}).get("found")) for t, v in (rec.get("tables") or {}).items()},
                   fields={k: RecordField.from_dict(f) for k, f in (rec.get("fields") or {}).items()},
                   checks=[RecordCheck.from_dict(c) for c in rec.get("checks") or []], review_needed=bool(review.get("needed")),
                   review_reasons=list(review.get("reasons") or []), error=rec.get("error"),
                   format=rec.get("format"), mapper=rec.get("mapper"), model_version=rec.get("model_version"),
                   version=rec.get("version"), warnings=list(rec.get("warnings") or []),
                   pages_needing_ocr=list(rec.get("pages_needing_ocr") or []),
                   extra={k: v for k, v in rec.items() if k not in known})


def record_of(doc: Document, contexts: bool = False) -> Record:
    """The typed record of an extracted document; with ``contexts`` each field read off the text
    carries its ``FieldContext``."""
    rec = Record(source=doc.source, agency=doc.agency, year=doc.year, template=doc.template,
                 found={t: bool(doc.found.get(t)) for t in TABLE_NAMES}, fields={}, checks=[],
                 review_needed=doc.review.needed, review_reasons=list(doc.review.reasons), error=None,
                 format=doc.format, mapper=doc.spotter, model_version=doc.model_version, version=__version__,
                 # what reading gave up without stopping (e.g. bytes decoded with replacement)
                 warnings=list(getattr(doc, "warnings", None) or []))
    if doc.error is not None:
        rec.error = {"code": doc.error.code, "message": doc.error.message}
        rec.found = {t: False for t in TABLE_NAMES}
        return rec
    context_of = field_contexts(doc) if contexts else {}
    for key, f in doc.fields.items():
        rec.fields[key] = RecordField(
            value=f.value, raw=f.raw, confidence=f.confidence, page=f.page,
            bbox=f.bbox.as_list() if f.bbox is not None else None, alternatives=f.alternatives,
            source="ocr" if f.source == "ocr" else None,
            # A reason is kept only for a value still in doubt.
            reason=f.reason if f.reason and f.value is not None and f.confidence < 0.99 else None,
            context=context_of.get(key))
    rec.checks = [RecordCheck.of(c) for c in doc.checks]
    rec.pages_needing_ocr = doc.pages_needing_ocr
    return rec


def to_record(doc: Document, contexts: bool = False) -> dict[str, Any]:
    """The output contract of one document (spec: ``nianbao extract FILE... --jsonl``); with
    ``contexts`` each field read off the text also carries its ``context`` (for the store)."""
    return record_of(doc, contexts).as_dict()


_CHECK_RULE_KEYS = ("rule", "passed", "detail", "cells", "difference")
CHECK_EXTRAS = ("confidence", "sentence", "position", "page", "table_value", "stated_value")


@dataclass
class RecordCheck:
    """One entry of a record's ``checks``: a rule's verdict on some cells (the five keys every rule
    writes), what an audit finding adds when it has it, and keys a later stage added (``extra``, kept)."""

    rule: str
    passed: bool
    detail: Optional[str] = None
    cells: list[str] = field(default_factory=list)
    difference: Optional[float] = None
    confidence: Optional[float] = None        # how sure the verdict is
    sentence: Optional[str] = None            # the prose sentence a finding rests on (P, N rules)
    position: Optional[int] = None            # its character offset in the reading-order text
    page: Optional[int] = None
    table_value: Optional[float] = None
    stated_value: Optional[float] = None      # the number the prose states
    not_applicable: list[str] = field(default_factory=list)  # cells printed '/', '—', 不适用 (A2)
    extra: dict[str, Any] = field(default_factory=dict)
    # The order of the keys beyond the rule's five as read (a stored check comes back with them
    # sorted): written back in that order, so a record read and written again is the same JSON.
    key_order: Optional[tuple[str, ...]] = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {"rule": self.rule, "passed": self.passed, "detail": self.detail,
                                "cells": self.cells, "difference": self.difference}
        read = set(self.key_order or ())  # a key read is written back, even empty
        present = {name: getattr(self, name) for name in CHECK_EXTRAS if getattr(self, name) is not None or name in read}
        if self.not_applicable or "not_applicable" in read:
            present["not_applicable"] = list(self.not_applicable)
        present.update(self.extra)
        for name in self.key_order or ():
            if name in present:
                item[name] = present.pop(name)
        item.update(present)
        return item

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> "RecordCheck":
        known = {*_CHECK_RULE_KEYS, *CHECK_EXTRAS, "not_applicable"}
        return cls(rule=item["rule"], passed=item["passed"], detail=item.get("detail"),
                   cells=item.get("cells") if item.get("cells") is not None else [],
                   difference=item.get("difference"),
                   **{name: item.get(name) for name in CHECK_EXTRAS},
                   not_applicable=list(item.get("not_applicable") or []),
                   extra={k: v for k, v in item.items() if k not in known},
                   key_order=tuple(k for k in item if k not in _CHECK_RULE_KEYS))

    @classmethod
    def of(cls, c: Check) -> "RecordCheck":
        """The entry of a check the pipeline made."""
        return cls(rule=c.rule, passed=c.passed, detail=c.detail, cells=c.cells, difference=c.difference,
                   **{name: getattr(c, name, None) for name in CHECK_EXTRAS},
                   not_applicable=list(getattr(c, "not_applicable", None) or []))


def check_record(c: Check) -> dict[str, Any]:
    """One ``checks`` entry: the rule's five keys, then what an audit finding adds (when it has it)."""
    return RecordCheck.of(c).as_dict()


# -- the labelled-document format (``labels/gold/*.json``, reviewed labels) ----------------------
FORMAT = "nianbao/labelled-document@1"


@dataclass
class LabelledDocument:
    id: str
    document: Optional[Path]
    agency: Optional[str]
    year: Optional[int]
    template: Optional[str]
    found: dict[str, bool]
    values: dict[str, Optional[float]]
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Each field with where it is printed, when the label says (page, bbox, span); the spec's plain
    # gold gives values only.
    fields: dict[str, "LabelField"] = field(default_factory=dict)


def load_labelled(path: Path) -> LabelledDocument:
    """Read a gold file in the project's format or in the spec's plain format (``*.gold.json``)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") == FORMAT:
        doc = (path.parent / data["document"]).resolve() if data.get("document") else None
        values = {k: v.get("value") for k, v in data["fields"].items()}
        found = {t: bool(data["tables"][t]["found"]) for t in TABLES}
        return LabelledDocument(id=data["id"], document=doc, agency=data.get("agency"), year=data.get("year"),
                                template=data.get("template"), found=found, values=values,
                                notes=data.get("notes", ""), extra=data,
                                fields={k: LabelField.from_dict(v) for k, v in data["fields"].items()})
    # The spec's plain gold: fields are plain values; absent tables are listed.
    stem = path.name[: -len(".gold.json")] if path.name.endswith(".gold.json") else path.stem
    candidates = [p for p in path.parent.glob(stem + ".*") if not p.name.endswith(".json")]
    absent = set(data.get("absent_tables", []))
    return LabelledDocument(id=stem, document=candidates[0] if candidates else None, agency=data.get("agency"),
                            year=data.get("year"), template=data.get("template"),
                            found={t: t not in absent for t in TABLES}, values=dict(data.get("fields", {})),
                            notes=data.get("notes") or data.get("raw_notes") or "", extra=data,
                            fields={k: LabelField(value=v) for k, v in (data.get("fields") or {}).items()})


REVIEWED_SPLIT = "reviewed"


@dataclass
class LabelField:
    """One field of a label: the true value (None: printed blank) and where it is printed: its page
    and box (documents with pages), and its character span [start, end) in the document's reading-order
    text (``LinearText.raw`` as the pipeline of the label's provenance made it), when known."""

    value: Optional[float]
    raw: Optional[str] = None
    page: Optional[int] = None
    bbox: Optional[list[float]] = None
    span: Optional[list[int]] = None
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. model_value: what the model had read

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "raw": self.raw, "page": self.page, "bbox": self.bbox}
        if self.span is not None:  # written only where known: labels without spans read as before
            out["span"] = list(self.span)
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> "LabelField":
        span = item.get("span")
        if not (isinstance(span, list) and len(span) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in span) and 0 <= span[0] <= span[1]):
            span = None
        known = {"value", "raw", "page", "bbox"} | ({"span"} if span is not None else set())
        return cls(value=item.get("value"), raw=item.get("raw"), page=item.get("page"), bbox=item.get("bbox"),
                   span=span, extra={k: v for k, v in item.items() if k not in known})


def label_data(*, id: str, document: Optional[str], sha256: str, agency: Optional[str], year: Optional[int],
               template: Optional[str], found: Mapping[str, bool], fields: Mapping[str, LabelField], notes: str,
               provenance: dict[str, Any], split: str, kind: Optional[str] = None) -> dict[str, Any]:
    """The JSON data of one labelled document (``FORMAT``), whoever makes it: a reviewer's approval
    (``labelled_document``) or the report factory's gold (``kind``: the rendering, text | html | ...)."""
    data: dict[str, Any] = {"format": FORMAT, "id": id}
    if kind is not None:
        data["kind"] = kind
    data.update({
        "document": document,
        "sha256": sha256,
        "agency": agency,
        "year": year,
        "template": template,
        "tables": {t: {"found": bool(found.get(t))} for t in TABLES},
        "fields": {k: f.as_dict() for k, f in fields.items()},
        "notes": notes,
        "provenance": provenance,
        "split": split,
    })
    return data


@dataclass
class Provenance:
    """Who made a label, when, from which model's reading, and how."""

    reviewer: str
    approved_at: str
    model_version: Optional[str] = None
    pipeline_version: Optional[str] = None
    tool: str = "nianbao review"
    changes: int = 0  # values the reviewer changed (the rest were confirmed as read)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"reviewer": self.reviewer, "approved_at": self.approved_at, "model_version": self.model_version,
               "pipeline_version": self.pipeline_version, "tool": self.tool, "changes": self.changes}
        out.update(self.extra)
        return out


def label_id(content_hash: str) -> str:
    """A reviewed label is named by its document's content, so re-approving overwrites, never duplicates."""
    if not re.fullmatch(r"[0-9a-f]{12,64}", content_hash or ""):
        raise ValueError(f"not a content hash: {content_hash!r}")
    return f"reviewed_{content_hash[:16]}"


def labelled_document(record: Record | Mapping[str, Any], values: dict[str, Optional[float]], found: dict[str, bool],
                      provenance: Provenance, label_path: Path, content_hash: str,
                      model_values: Optional[dict[str, Optional[float]]] = None) -> dict[str, Any]:
    """The labelled-document JSON of a reviewed record (typed, or as ``load_record`` gives it):
    ``values`` are the reviewer's final values (None = printed blank), ``found`` which statutory
    tables the document prints, ``model_values`` what the model had read for the fields the reviewer
    changed (kept as ``model_value``)."""
    if not isinstance(record, Record):
        record = Record.from_dict(record)
    fields: dict[str, LabelField] = {}
    for key, value in values.items():
        read = record.fields.get(key)
        changed = model_values and key in model_values and model_values[key] != value
        # The span of the number as read, where the reviewer kept that reading (a changed value may
        # have been read from the wrong place).
        context = read.context if read else None
        span = [context.start, context.end] if context is not None and context.start is not None and not changed else None
        fields[key] = LabelField(value=value, raw=read.raw if read else None, page=read.page if read else None,
                                 bbox=read.bbox if read else None, span=span,
                                 extra={"model_value": model_values[key]} if changed else {})
    source = record.source
    document = None
    if source:
        # Relative to the label file, like the gold files; an absolute path when on another drive.
        try:
            document = os.path.relpath(Path(source).resolve(), Path(label_path).resolve().parent)
        except ValueError:
            document = str(Path(source).resolve())
    return label_data(id=label_id(content_hash), document=document, sha256=content_hash, agency=record.agency,
                      year=record.year, template=record.template, found=found, fields=fields, notes="",
                      provenance=provenance.as_dict(), split=REVIEWED_SPLIT)
