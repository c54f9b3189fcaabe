"""How far OCR-read numbers are trusted once the table's rules have been checked.

A sum rule (R1-R4) broken on numbers read by OCR is far more often a misreading than a misprint,
and the rule cannot say which of its cells was misread: every OCR-read cell of the failing rule
is doubted (below the review threshold), with the rule as its reason. Cells read from a text layer
keep their confidence: a broken rule there is the report's own finding.
"""
from __future__ import annotations

from typing import Iterable, MutableMapping

from nianbao.document import Check, FieldValue

from ..reconcile import SUM_RULES

RULE_DOUBT_CAP = 0.85   # an OCR-read cell of a failing sum rule: below 0.9, so a person looks


def doubt_cells_of_failing_rules(fields: MutableMapping[str, FieldValue], checks: Iterable[Check]) -> list[str]:
    """Cap the confidence of every OCR-read value under a failing sum rule; the keys doubted."""
    doubted: list[str] = []
    for c in checks:
        if c.passed or c.rule not in SUM_RULES:
            continue
        for key in c.cells:
            f = fields.get(key)
            if f is None or f.value is None or f.source != "ocr" or f.confidence <= RULE_DOUBT_CAP:
                continue
            f.confidence = RULE_DOUBT_CAP
            why = f"rule {c.rule} fails on numbers read by OCR ({c.detail}): this cell may be misread"
            f.reason = f"{f.reason}; {why}" if f.reason else why
            doubted.append(key)
    return doubted
