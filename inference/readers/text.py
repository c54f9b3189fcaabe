"""Plain text and Markdown: one page of lines (form feeds start new pages).

Markdown pipe tables (``| a | b |`` rows, with or without a ``|---|`` separator) become grids, so
their cell boundaries reach the locator as the format prints them: a separator is never a value,
and an empty cell between a row's label and its numbers is a printed-empty cell.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Union

from nianbao.document import Cell, Line, Page, Table, Document

from .encoding import decode_bytes
from .options import ReaderOptions

# A Markdown delimiter row: every cell three or more ASCII hyphens, optional alignment colons.
_DELIMITER_ROW = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")


def pipe_cells(line: str) -> list[str]:
    """The cells of a ``| a | b |`` row (outer pipes dropped, inner cells kept even when empty)."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [c.strip() for c in inner.split("|")]


def _is_pipe_table(lines: list[str]) -> bool:
    """A run of pipe rows is a Markdown table when it has a delimiter row or two rows of two or more
    filled cells; a lone ``| ||`` line (one cell per line exports, seed 004) is not."""
    if any(_DELIMITER_ROW.match(s) for s in lines):
        return True
    return sum(1 for s in lines if sum(1 for c in pipe_cells(s) if c) >= 2) >= 2


def _pipe_table(lines: list[str], page: int) -> Table:
    cells = []
    r = 0
    for line in lines:
        if _DELIMITER_ROW.match(line):
            continue
        cells.extend(Cell(text=text, row=r, col=c) for c, text in enumerate(pipe_cells(line)))
        r += 1
    return Table(cells=cells, page=page)


def _is_table_line(line: str) -> bool:
    return bool(_PIPE_ROW.match(line) or _DELIMITER_ROW.match(line))


def page_blocks(lines: list[str], page: int) -> list[Union[Line, Table]]:
    blocks: list[Union[Line, Table]] = []
    i = 0
    while i < len(lines):
        if _is_table_line(lines[i]):
            j = i
            while j < len(lines) and _is_table_line(lines[j]):
                j += 1
            if _is_pipe_table(lines[i:j]):
                blocks.append(_pipe_table(lines[i:j], page))
                i = j
                continue
        blocks.append(Line(text=lines[i], page=page))
        i += 1
    return blocks


def read_text(path: Path, options: ReaderOptions) -> Document:
    text, encoding = decode_bytes(Path(path).read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pages = []
    for number, chunk in enumerate(text.split("\f"), start=1):
        pages.append(Page(number=number, blocks=page_blocks(chunk.split("\n"), number)))
    return Document(source=str(path), format="text", encoding=encoding, pages=pages)
