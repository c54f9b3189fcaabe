"""The reconcile stage: rules R1-R4 on the document's values (``reconcile.py``, pure functions), the
re-ranking of uncertain OCR readings by failing sum rules and their corroboration by rules that hold
(``ocr/trust.py``), each rule's confidence
and the audit catalogue (``audit.py``).
"""
from __future__ import annotations

from nianbao.document import Document
from nianbao.schema import Schema

from . import audit, reconcile
from .ocr.trust import corroborate_by_rules, rerank_by_rules


class ReconcileStage:
    """Rules 1-4 (reconcile), then the audit catalogue (audit: P prose vs table, A Table A sanity,
    N narrative). Findings, with two exceptions (``ocr/trust.py``): a sum rule failing on OCR-read
    numbers may re-rank the readings of its uncertain cells (the value so chosen is doubted), and a
    sum rule that holds raises the one uncertain OCR reading it pins down to 0.95 (below auto-accept)."""

    name = "reconcile"

    def __init__(self, schema: Schema):
        self.schema = schema

    def __call__(self, doc: Document) -> Document:
        if doc.template and any(doc.found.values()):  # nothing read, nothing evaluated
            doc.checks = reconcile.run_checks(doc.values(), doc.template, doc.found, self.schema)
            # Sum rules failing on OCR-read numbers re-rank the readings of their uncertain cells.
            if rerank_by_rules(doc, self.schema):
                doc.checks = reconcile.run_checks(doc.values(), doc.template, doc.found, self.schema)
            # A rule that holds corroborates the one uncertain OCR reading it pins down.
            corroborate_by_rules(doc)
            for c in doc.checks:
                c.confidence = audit.rule_confidence(c, doc.fields)
            try:
                doc.checks += audit.audit_document(doc)
            except Exception as e:  # a bug in a finding must not cost the document its values
                doc.warnings.append(f"audit_failed: {type(e).__name__}: {e}")
        return doc
