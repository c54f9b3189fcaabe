"""The triage stage: does a person need to look at this document? It sets ``review.needed`` and the
reasons a reviewer reads (``review`` always means human review: the review app, the record's
``review`` object). Nothing here changes a value; doubting the cells of a sum rule failing on OCR-read
numbers is the one change to a confidence.
"""
from __future__ import annotations

from nianbao.document import TABLE_NAMES, Document, Review

from . import reconcile
from .ocr.trust import doubt_cells_of_failing_rules

# A value read below this confidence is doubted: the document goes to a person.
DOUBT_THRESHOLD = 0.9


def tables_with_replaced_bytes(doc: Document) -> list[str]:
    """The located tables whose text holds a U+FFFD put there by a lossy decode."""
    if doc.linear is None or not any(w.startswith("decoded_with_replacement") for w in doc.warnings):
        return []
    norm = doc.linear.norm
    return [name for name, region in doc.regions.items() if "\ufffd" in norm[region.start:region.end]]


class TriageStage:
    """A document needs review when a field is doubted; a rule broken by clear text is a finding."""

    name = "triage"

    def __init__(self, threshold: float = DOUBT_THRESHOLD):
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
