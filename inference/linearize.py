"""Reading order: the document's pages become one text of segments (cells and line parts).

Every format ends up here, so the locator and mapper have no per-format special case. A grid's
empty cell in a column that holds numbers is kept as a BLANK marker (a printed empty cell means 0),
while an empty cell under a label is dropped.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Optional

from nianbao.document import Document, Line, Segment, Table

from .normalize import BLANK, UNREAD, NormText, fold

_SPLIT_CELLS = re.compile(r"[\t|]+")
# Page furniture between a table's halves ("- 2 -", "第3页 共5页"): not cells, never values.
_PAGE_NUMBER = re.compile(r"^\s*(?:[-—－]\s*\d{1,4}\s*[-—－]|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|\d{1,4}\s*/\s*\d{1,4})\s*$")
TAIL = "\x00tail"  # _line_cells' mark for an empty tab cell after a row's last number
_ONE_NUMBER = re.compile(r"^\s*\d[\d,]*(?:\.\d+)?\s*(?:万元|元)?\s*$")
_NUMERIC_CELL = re.compile(r"^\s*(?:[-−]?\d[\d,]*(?:\.\d+)?\s*(?:万元|元)?|[-—－/／]+|无)\s*$")


# A generic column header of a converted table ("数据1", "列 2"): it names no field.
_GENERIC_HEADER = re.compile(r"^[\u4e00-\u9fff](?:\s?[\u4e00-\u9fff]){0,2}\s?\d{1,2}$")
_EMPTY_PIPE_CELL = re.compile(r"^[ \t\u3000\xa0]*\|[ \t\u3000\xa0|]*$")


def _line_cells(text: str) -> list[str]:
    """A line's cells. In a tab-separated row, an empty cell after the row's label and before its
    last number is a printed-empty cell (BLANK); empty cells elsewhere (ragged tails) carry nothing.
    (The decoder drops a leading BLANK when a row then has one cell too many: a displaced label.)"""
    parts = _SPLIT_CELLS.split(text)
    if "\t" not in text:
        return parts
    cells = text.split("\t")
    filled = [i for i, c in enumerate(cells) if c.strip()]
    numeric = [i for i in filled if _NUMERIC_CELL.match(fold(cells[i]))]
    if not numeric or not filled or filled[0] in numeric:
        return parts
    out = []
    for i, c in enumerate(cells):
        if c.strip():
            out.extend(_SPLIT_CELLS.split(c))
        elif filled[0] < i < numeric[-1]:
            out.append(BLANK)
        elif i > numeric[-1]:
            # After the last number: a printed-empty cell or a ragged tail; the mapper, which knows how
            # many cells the row has, keeps as many as the row needs (mapping.fit_tail).
            out.append(TAIL)
    return out


def _is_tab_row(text: str) -> bool:
    """A row of a tab-separated export: its cells are the format's, a number in one is one value."""
    return text.count("\t") >= 2 and sum(1 for c in text.split("\t") if c.strip()) >= 2


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


def _grid_segments(table: Table, number: int = 0) -> list[Segment]:
    # Columns right of the first column that holds a number are value columns (a column may be
    # all empty when no applicant of that kind applied).
    numeric_cols = [c.col for c in table.cells if c.text.strip() and _NUMERIC_CELL.match(fold(c.text))]
    first_value_col = min(numeric_cols, default=table.n_cols)
    out: list[Segment] = []
    for row_index, row in enumerate(table.rows()):
        start = len(out)
        has_number = any(c.text.strip() and _NUMERIC_CELL.match(fold(c.text)) for c in row)
        # A row of numbers only (Table C's): every empty cell in it is a printed-empty value.
        pure_values = has_number and all(not c.text.strip() or _NUMERIC_CELL.match(fold(c.text)) for c in row)
        # A whole row of printed-empty cells (Table C with nothing to report) is a row of zeros.
        if len(row) >= 5 and not any(c.text.strip() or c.unread for c in row):
            out.extend(Segment(text=BLANK, page=table.page, bbox=c.bbox, from_grid=True,
                               grid_row=(number, row_index)) for c in row)
            continue
        # A row of generic column headers ("数据1 … 数据6"; damage may leave a bare "4" among them) holds
        # no value: its digits are column numbers.
        generic_header = sum(1 for c in row if _GENERIC_HEADER.match(" ".join(c.text.split()))) >= 3
        for c in row:
            text = " ".join(c.text.split())
            is_generic = bool(_GENERIC_HEADER.match(text))
            if (generic_header and (is_generic or any(ch.isdigit() for ch in text))) or (is_generic and not has_number):
                continue  # "数据1": a column header that names no field, and its digit is no value
            if text:
                out.append(Segment(text=text, page=table.page, bbox=c.bbox, from_grid=True,
                                   confidence=c.confidence, source=c.source, alternatives=c.alternatives))
            elif c.unread and (c.col >= first_value_col or pure_values):
                # Ink that OCR could not read: a value of unknown digits, never a printed-empty cell.
                out.append(Segment(text=UNREAD, page=table.page, bbox=c.bbox, from_grid=True,
                                   confidence=c.confidence, source=c.source))
            elif has_number and (c.col >= first_value_col or pure_values):
                out.append(Segment(text=BLANK, page=table.page, bbox=c.bbox, from_grid=True,
                                   confidence=c.confidence, source=c.source))
        for seg in out[start:]:
            seg.grid_row = (number, row_index)
    return out


# Formats whose pages are laid out as printed: their last line may be the page's number.
LAID_OUT = ("pdf", "ofd")
_FOLIO = re.compile(r"^\s*\d{1,3}\s*$")


def _bare_folio(page) -> Optional[Line]:
    """The page number of a laid-out page printed as a bare number on its last line ("3"): furniture,
    never the last cell of a table that ends the page."""
    lines = [b for b in page.blocks if not (isinstance(b, Line) and not b.text.strip())]
    if lines and isinstance(lines[-1], Line) and _FOLIO.match(lines[-1].text) and int(lines[-1].text) == page.number:
        return lines[-1]
    return None


def document_segments(doc: Document) -> list[Segment]:
    segments: list[Segment] = []
    tables = 0
    for page in doc.pages:
        if page.needs_ocr:
            continue
        folio = _bare_folio(page) if doc.format in LAID_OUT else None
        for block in page.blocks:
            if isinstance(block, Table):
                tables += 1
                segments.extend(_grid_segments(block, tables))
            elif isinstance(block, Line):
                if _PAGE_NUMBER.match(block.text) or block is folio:
                    continue
                if _EMPTY_PIPE_CELL.match(block.text):
                    # One cell per line with pipes: a line with only the pipe is a printed-empty cell.
                    segments.append(Segment(text=BLANK, page=block.page, bbox=block.bbox))
                    continue
                parts = [p for p in _line_cells(block.text) if p.strip()]
                # A tab row's cells are the format's; so is a line that prints one number and nothing
                # else (one cell per line): its digits are one number, never digits run together.
                cell_boundaries = _is_tab_row(block.text) or (len(parts) == 1 and bool(_ONE_NUMBER.match(fold(parts[0]))))
                for part in parts:
                    tail = part == TAIL
                    segments.append(Segment(text=BLANK if tail else part, page=block.page, bbox=block.bbox,
                                            from_grid=cell_boundaries, confidence=block.confidence, source=block.source,
                                            tail=tail))
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
