"""The human summary of a document; the output contract (``to_record``) lives in ``nianbao.record``."""
from __future__ import annotations

from nianbao.document import TABLE_NAMES, Document
from nianbao.numfmt import full_number
from nianbao.record import check_record, to_record  # the record is built in one place

__all__ = ["check_record", "summary", "to_record"]


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
