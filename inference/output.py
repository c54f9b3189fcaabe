"""The output contract (spec: `nianbao extract FILE... --jsonl`) and the human summary."""
from __future__ import annotations

from typing import Any

from nianbao import __version__
from nianbao.document import TABLE_NAMES, Check, Document
from nianbao.numfmt import full_number


def _num(v):
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return v  # keep floats as printed (money); ints stay ints
    return v


def to_record(doc: Document) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "source": doc.source,
        "agency": doc.agency,
        "year": doc.year,
        "template": doc.template,
        "tables": {t: {"found": bool(doc.found.get(t))} for t in TABLE_NAMES},
        "fields": {},
        "checks": [],
        "review": {"needed": doc.review.needed, "reasons": list(doc.review.reasons)},
        "error": None,
        "format": doc.format,
        "mapper": doc.mapper,
        "model_version": doc.model_version,
        "version": __version__,
    }
    if getattr(doc, "warnings", None):  # what reading gave up without stopping (e.g. bytes decoded with replacement)
        rec["warnings"] = list(doc.warnings)
    if doc.error is not None:
        rec["error"] = {"code": doc.error.code, "message": doc.error.message}
        rec["tables"] = {t: {"found": False} for t in TABLE_NAMES}
        rec["template"] = doc.template
        return rec
    for key, f in doc.fields.items():
        item: dict[str, Any] = {"value": _num(f.value), "raw": f.raw, "confidence": f.confidence}
        if f.page is not None:
            item["page"] = f.page
        if f.bbox is not None:
            item["bbox"] = f.bbox.as_list()
        if f.alternatives:
            item["alternatives"] = f.alternatives
        if f.source == "ocr":
            item["source"] = "ocr"
        if f.reason and f.value is not None and f.confidence < 0.99:
            item["reason"] = f.reason
        rec["fields"][key] = item
    rec["checks"] = [check_record(c) for c in doc.checks]
    if doc.pages_needing_ocr:
        rec["pages_needing_ocr"] = doc.pages_needing_ocr
    return rec


_CHECK_EXTRAS = ("confidence", "sentence", "position", "page", "table_value", "stated_value")


def check_record(c: Check) -> dict[str, Any]:
    """One ``checks`` entry: the rule's five keys, then what an audit finding adds (when it has it)."""
    item: dict[str, Any] = {"rule": c.rule, "passed": c.passed, "detail": c.detail, "cells": c.cells,
                            "difference": c.difference}
    for name in _CHECK_EXTRAS:
        value = getattr(c, name, None)
        if value is not None:
            item[name] = value
    if getattr(c, "not_applicable", None):
        item["not_applicable"] = list(c.not_applicable)
    return item


def summary(doc: Document) -> str:
    """A short readable account of one document."""
    lines = [f"{doc.source}"]
    if doc.error:
        lines.append(f"  error: {doc.error.code}: {doc.error.message}")
        return "\n".join(lines)
    lines.append(f"  agency: {doc.agency or '?'}   year: {doc.year or '?'}   template: {doc.template or '?'}")
    found = ", ".join(f"{t} {'found' if doc.found.get(t) else 'absent'}" for t in TABLE_NAMES)
    lines.append(f"  tables: {found}")
    if doc.fields:
        printed = [f for f in doc.fields.values() if f.value is not None]
        nonzero = [f for f in printed if f.value]
        lines.append(f"  fields: {len(doc.fields)} keys, {len(printed)} printed, {len(nonzero)} non-zero")
        shown = [(k, f) for k, f in doc.fields.items() if f.value]
        for k, f in shown[:12]:
            lines.append(f"    {k} = {full_number(f.value)}  (confidence {f.confidence:.3f})")
        if len(shown) > 12:
            lines.append(f"    +{len(shown) - 12} more non-zero fields (--jsonl lists all)")
    failed = [c for c in doc.checks if not c.passed]
    lines.append(f"  checks: {len(doc.checks) - len(failed)} passed, {len(failed)} failed")
    for c in failed[:8]:
        lines.append(f"    {c.rule} {c.detail}")
    if len(failed) > 8:
        lines.append(f"    +{len(failed) - 8} more failed checks (--jsonl lists all)")
    if doc.review.needed:
        lines.append("  review needed:")
        for r in doc.review.reasons[:8]:
            lines.append(f"    - {r}")
        if len(doc.review.reasons) > 8:
            lines.append(f"    +{len(doc.review.reasons) - 8} more reasons (--jsonl lists all)")
    return "\n".join(lines)
