"""What every renderer shares: the rendered result, token labels of printed pieces, grid helpers.

A renderer returns the file's bytes, the rendering choices it made (``traits``) and ``units``:
the visible text it printed, in reading order, each piece with its token label. The aligner
(``align.py``) matches the text the project's reader and lineariser see against these units, so
labels follow what inference reads, whatever the format did to the text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional

from nianbao.inference.normalize import BLANK

from .synthetic_report import Paragraph, PrintedCell, PrintedTable

OUTSIDE = "O"


@dataclass
class Unit:
    text: str
    label: str = OUTSIDE
    # Not printed: a marker the reader is known to produce (BLANK for an empty cell of a text row),
    # kept in the units so the aligner can label it.
    virtual: bool = False
    # Printed but never read: a Markdown delimiter row (``|---|---|``), which readers drop.
    unread: bool = False


@dataclass
class Rendered:
    data: bytes
    suffix: str
    traits: dict[str, object] = field(default_factory=dict)
    units: list[Unit] = field(default_factory=list)
    # Where a value landed, for page-based renderings: key -> (page, [x0, top, x1, bottom] in points).
    boxes: dict[str, tuple[int, Optional[list[float]]]] = field(default_factory=dict)


class Units:
    """Collects printed pieces with their labels; ``text()`` is what was printed."""

    def __init__(self) -> None:
        self.items: list[Unit] = []

    def add(self, text: str, label: str = OUTSIDE) -> None:
        if text:
            self.items.append(Unit(text, label))

    def add_unread(self, text: str) -> None:
        self.items.append(Unit(text, OUTSIDE, unread=True))

    def add_virtual(self, text: str, label: str = OUTSIDE) -> None:
        self.items.append(Unit(text, label, virtual=True))

    def text(self) -> str:
        return "".join(u.text for u in self.items if not u.virtual)


def cell_label(cell: PrintedCell, table: str) -> str:
    """The token label of a printed cell: its field key, or what the label/header cell names."""
    if cell.role == "value":
        return cell.key or OUTSIDE
    if cell.role == "header":
        return f"col:{cell.ref}" if cell.ref else f"header:{table}"
    prefix = {"row_label": "row", "group_label": "group", "corner": "corner"}[cell.role]
    return f"{prefix}:{cell.ref or table}"


def paragraph_label(p: Paragraph) -> str:
    return OUTSIDE if p.kind == "prose" else p.kind


def blank_unit(cell: PrintedCell, table: str) -> Unit:
    """An empty printed cell: grid readers emit it as a BLANK marker (in value columns)."""
    return Unit(BLANK, cell_label(cell, table))


# ---------------------------------------------------------------------------------------------
# Grids
# ---------------------------------------------------------------------------------------------

def rows_of(table: PrintedTable) -> list[list[PrintedCell]]:
    """Cells grouped by the grid row they start in, left to right."""
    out: list[list[PrintedCell]] = [[] for _ in range(table.n_rows)]
    for c in table.cells:
        out[c.row].append(c)
    for r in out:
        r.sort(key=lambda c: c.col)
    return out


@dataclass
class Slot:
    """One grid position of a row: the cell starting there, or the cell covering it from above/left."""

    cell: PrintedCell
    col: int
    start: bool          # the cell starts here (top-left position)
    from_above: bool     # covered by a rowspan from an earlier row


def slots(table: PrintedTable) -> list[list[Slot]]:
    """Every grid position of every row, with what occupies it."""
    grid: list[list[Optional[Slot]]] = [[None] * table.n_cols for _ in range(table.n_rows)]
    for c in table.cells:
        for r in range(c.row, c.row + c.rowspan):
            for k in range(c.col, c.col + c.colspan):
                grid[r][k] = Slot(cell=c, col=k, start=(r == c.row and k == c.col), from_above=r > c.row)
    out = []
    for row in grid:
        out.append([s for s in row if s is not None])
    return out


def split_at_break(table: PrintedTable, repeat_groups: bool) -> tuple[PrintedTable, Optional[PrintedTable]]:
    """The table cut at its page break: the second part starts with the repeated header rows (if
    the layout repeats them), and cells spanning the break continue as new cells there, carrying
    their label again when ``repeat_groups`` (as page-2 rows of real exports do) or empty."""
    cut = table.break_before_row
    if cut is None:
        return table, None
    first: list[PrintedCell] = []
    second: list[PrintedCell] = []
    head = table.repeat_header_rows
    for c in table.cells:
        if c.row < head:
            first.append(c)
            second.append(_moved(c, c.row))
        elif c.row + c.rowspan <= cut:
            first.append(c)
        elif c.row >= cut:
            second.append(_moved(c, c.row - cut + head))
        else:  # spans the break
            first.append(_moved(c, c.row, rowspan=cut - c.row))
            rest = c.row + c.rowspan - cut
            second.append(_moved(c, head, rowspan=rest, text=c.text if repeat_groups else ""))
    a = PrintedTable(name=table.name, cells=first, n_rows=cut, n_cols=table.n_cols)
    b = PrintedTable(name=table.name, cells=second, n_rows=table.n_rows - cut + head, n_cols=table.n_cols)
    return a, b


def _moved(c: PrintedCell, row: int, rowspan: Optional[int] = None, text: Optional[str] = None) -> PrintedCell:
    return PrintedCell(text=c.text if text is None else text, row=row, col=c.col,
                       rowspan=c.rowspan if rowspan is None else rowspan, colspan=c.colspan,
                       key=c.key, role=c.role, ref=c.ref)


def table_parts(table: PrintedTable, split: bool, repeat_groups: bool) -> Iterator[PrintedTable]:
    if split and table.break_before_row is not None:
        a, b = split_at_break(table, repeat_groups)
        yield a
        if b is not None:
            yield b
    else:
        yield table
