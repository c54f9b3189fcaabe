"""Reading order: the document's pages become one text of segments (cells and line parts).

Every format ends up here, so the locator and mapper have no per-format special case. A grid's
empty cell in a column that holds numbers is kept as a BLANK marker (a printed empty cell means 0),
while an empty cell under a label is dropped.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from nianbao.document import Document, Line, Segment, Table

from .normalize import BLANK, NormText, fold

_SPLIT_CELLS = re.compile(r"[\t|]+")
# Page furniture between a table's halves ("- 2 -", "第3页 共5页"): not cells, never values.
_PAGE_NUMBER = re.compile(r"^\s*(?:[-—－]\s*\d{1,4}\s*[-—－]|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|\d{1,4}\s*/\s*\d{1,4})\s*$")
_NUMERIC_CELL = re.compile(r"^\s*(?:[-−]?\d[\d,]*(?:\.\d+)?\s*(?:万元|元)?|[-—－/／]+|无)\s*$")


@dataclass
class LinearText:
    """The document as one string of segments joined by newlines, with a map back to segments."""

    text: NormText
    segments: list[Segment]
    starts: list[int]  # raw offset of each segment

    def segment_at(self, raw_pos: int) -> Segment:
        i = bisect.bisect_right(self.starts, raw_pos) - 1
        return self.segments[max(i, 0)]

    @property
    def raw(self) -> str:
        return self.text.raw

    @property
    def norm(self) -> str:
        return self.text.norm


def _grid_segments(table: Table) -> list[Segment]:
    # Columns right of the first column that holds a number are value columns (a column may be
    # all empty when no applicant of that kind applied).
    numeric_cols = [c.col for c in table.cells if c.text.strip() and _NUMERIC_CELL.match(fold(c.text))]
    first_value_col = min(numeric_cols, default=table.n_cols)
    out: list[Segment] = []
    for row in table.rows():
        has_number = any(c.text.strip() and _NUMERIC_CELL.match(fold(c.text)) for c in row)
        for c in row:
            text = " ".join(c.text.split())
            if text:
                out.append(Segment(text=text, page=table.page, bbox=c.bbox, from_grid=True))
            elif has_number and c.col >= first_value_col:
                out.append(Segment(text=BLANK, page=table.page, bbox=c.bbox, from_grid=True))
    return out


def document_segments(doc: Document) -> list[Segment]:
    segments: list[Segment] = []
    for page in doc.pages:
        if page.needs_ocr:
            continue
        for block in page.blocks:
            if isinstance(block, Table):
                segments.extend(_grid_segments(block))
            elif isinstance(block, Line):
                if _PAGE_NUMBER.match(block.text):
                    continue
                for part in _SPLIT_CELLS.split(block.text):
                    if part.strip():
                        segments.append(Segment(text=part, page=block.page, bbox=block.bbox))
    return segments


def linearize(doc: Document) -> LinearText:
    segments = document_segments(doc)
    starts, pieces, pos = [], [], 0
    for s in segments:
        starts.append(pos)
        pieces.append(s.text)
        pos += len(s.text) + 1
    raw = "\n".join(pieces)
    doc.segments = segments
    return LinearText(text=NormText.build(raw), segments=segments, starts=starts)
