"""What the factory makes, before it is rendered: a report as content and as printed grids.

Every renderer (text, HTML, DOCX, PDF, scan) takes a :class:`SyntheticReport` and prints its blocks
in order. A table is a grid of :class:`PrintedCell` with spans, exactly as the official format draws
it; each value cell knows the field key it prints, so labels come from the render, not from parsing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass
class PrintedCell:
    text: str                 # what is printed in the cell ("" for a printed-empty cell)
    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1
    key: Optional[str] = None  # the field key a value cell prints; None for labels and headers
    role: str = "value"        # "value" | "row_label" | "group_label" | "header" | "corner"
    # What a label or header cell names, for token labels: a row "requests.new", a group
    # "requests.denied", a column "requests.natural"; None for value cells (they have ``key``).
    ref: Optional[str] = None


@dataclass
class PrintedTable:
    name: str                  # "proactive" | "requests" | "appeals"
    cells: list[PrintedCell]
    n_rows: int
    n_cols: int
    # Row index where a page break falls when a renderer splits the table (None: no forced break).
    break_before_row: Optional[int] = None
    repeat_header_rows: int = 0  # header rows repeated after the break (0: none)


@dataclass
class Paragraph:
    text: str
    kind: str = "prose"        # "title" | "heading" | "prose" | "signature" | "date"


Block = Union[Paragraph, PrintedTable]


@dataclass
class SyntheticReport:
    id: str
    seed: int
    agency: str
    year: int
    template: str              # "v2019" | "v2021"
    blocks: list[Block]
    # The gold: every key of each printed table's template (None for an unprinted row); absent tables have no keys.
    values: dict[str, Optional[float]]
    found: dict[str, bool]
    # Rules the content breaks on purpose ("R1:requests.new", "R2:natural", ...), for checking the factory.
    broken_rules: list[str] = field(default_factory=list)
    # Choices made while generating (style variants), recorded in the dataset for analysis.
    traits: dict[str, object] = field(default_factory=dict)
    # The printed text of each value cell as the layout prints it ("0", "-", "", "12850元"); None
    # for keys of unprinted rows. This is the gold's ``raw``.
    raw: dict[str, Optional[str]] = field(default_factory=dict)

    def tables(self) -> list[PrintedTable]:
        return [b for b in self.blocks if isinstance(b, PrintedTable)]
