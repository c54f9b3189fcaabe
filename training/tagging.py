"""Character-level training sequences for the token classifier, from documents the project read.

A sequence is a window of the normalised text the locator sees (whitespace removed, widths folded),
with per-character features (does a new cell/word start here; the 2-D box of its cell) and a BIO tag:
which row label or group label the character belongs to, VALUE for printed numbers, or O.
Tags come from the baseline locator on documents whose extraction matched their gold, so the
classifier learns exactly what inference sees; noise is added afterwards (``augment.py``).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from nianbao.document import BBox, Document
from nianbao.inference.classifier import windows
from nianbao.inference.normalize import SEPARATORS
from nianbao.schema import TEMPLATES, load_schema

OUTSIDE = "O"
VALUE = "VALUE"
PAGE_W, PAGE_H = 595.0, 842.0  # A4 in points: boxes are scaled to 0..1000 as LayoutLM expects


@lru_cache(maxsize=1)
def entity_names() -> tuple[str, ...]:
    """Every label the classifier can tag: row labels of Tables A and B (both templates), group labels, values."""
    schema = load_schema()
    names: list[str] = []
    for template in TEMPLATES:
        for table in ("proactive", "requests"):
            spec = schema.table(template, table)
            for r in spec.rows:
                name = f"{table}.{r.key}"
                if name not in names:
                    names.append(name)
            for g in spec.groups:
                name = f"{table}.group.{g.name}"
                if name not in names:
                    names.append(name)
    names.append(VALUE)
    return tuple(names)


@lru_cache(maxsize=1)
def tag_names() -> tuple[str, ...]:
    return (OUTSIDE,) + tuple(f"{p}-{e}" for e in entity_names() for p in ("B", "I"))


@dataclass
class TaggedSequence:
    doc_id: str
    chars: str
    starts: list[int]                      # 1 where a separator preceded the character
    boxes: list[tuple[int, int, int, int]]  # the character's cell, scaled to 0..1000
    tags: list[str]
    meta: dict = field(default_factory=dict)


def _scale(b: Optional[BBox]) -> tuple[int, int, int, int]:
    if b is None:
        return (0, 0, 0, 0)

    def c(v: float, size: float) -> int:
        return max(0, min(1000, int(round(v / size * 1000))))

    return (c(b.x0, PAGE_W), c(b.top, PAGE_H), c(b.x1, PAGE_W), c(b.bottom, PAGE_H))


def char_features(doc: Document) -> tuple[str, list[int], list[tuple[int, int, int, int]]]:
    """The normalised text with, per character, a segment-start flag and its cell's box."""
    lin = doc.linear
    raw, to_raw = lin.raw, lin.text.to_raw
    starts, boxes = [], []
    for i in range(len(lin.norm)):
        r = to_raw[i]
        starts.append(1 if r == 0 or raw[r - 1] in SEPARATORS else 0)
        boxes.append(_scale(lin.segment_at(r).bbox))
    return lin.norm, starts, boxes


def document_tags(doc: Document) -> list[str]:
    """BIO tags over the document's normalised text from the located tables (labels and value chunks)."""
    lin = doc.linear
    tags = [OUTSIDE] * len(lin.norm)

    def mark(start: int, end: int, entity: str) -> None:
        if end <= start:
            return
        tags[start] = f"B-{entity}"
        for i in range(start + 1, end):
            tags[i] = f"I-{entity}"

    for name, table in doc.located.items():
        if name == "appeals":
            continue
        for m in table.labels:
            entity = f"{name}.{m.row.key}" if m.row is not None else f"{name}.group.{m.group}"
            mark(m.start, m.end, entity)
        for run in table.runs:
            for ch in run.chunks:
                if ch.kind in ("number", "placeholder"):
                    end = bisect.bisect_left(lin.text.to_raw, ch.end)
                    start = bisect.bisect_left(lin.text.to_raw, ch.end - len(ch.raw))
                    mark(start, end, VALUE)
    return tags


def tag_document_windows(doc: Document, doc_id: str, size: int = 256, stride: int = 192,
                         margin: int = 64, prose_windows: int = 1) -> list[TaggedSequence]:
    """Windows over the tables' area (plus a margin) and a few prose windows as negatives."""
    chars, starts, boxes = char_features(doc)
    tags = document_tags(doc)
    n = len(chars)
    if doc.located:
        lo = max(0, min(t.region.start for t in doc.located.values()) - margin)
        hi = min(n, max(t.region.end for t in doc.located.values()) + margin)
    else:
        lo, hi = 0, 0
    spans = [(lo + a, lo + b) for a, b in windows(hi - lo, size, stride)] if hi > lo else []
    # Prose windows teach the model that a row's words in a sentence are not a table row.
    prose = [(s, e) for s, e in windows(n, size, size) if e <= lo or s >= hi][:prose_windows]
    out = []
    for s, e in spans + prose:
        out.append(TaggedSequence(doc_id=doc_id, chars=chars[s:e], starts=starts[s:e], boxes=boxes[s:e],
                                  tags=tags[s:e], meta={"offset": s}))
    return out
