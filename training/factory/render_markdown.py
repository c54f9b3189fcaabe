"""Markdown renderings of the tables, the ways real conversions print them (issue 12).

Two ``text.style`` values, printed through :class:`render_text.TextWriter` (same units, same gold):

- ``markdown_subtables``: Table A as one pipe table (or one per 第二十条 item) with its ``|---|``
  line; Table B as a run of small pipe tables, each under a generic header
  (``| 类别 | 数据1 | … | 数据6 | 总计 |``) or the real column names, holding one row or one row
  group; Table C as three tables (行政复议 / 行政诉讼（未经复议直接起诉） / 行政诉讼（复议后起诉）),
  each with the header 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 and one row of numbers.
- ``broken_conversion``: PDF-to-Markdown output whose tables broke: a row label on its own line and
  its numbers in a pipe row below, Table B's vertical group labels cut into fragments across the
  member rows (``| （三）不 | 4.保护第三方合法权益 | 0 | …``, ``| 予公开 | 5.属于三类内部事务信息 | …``),
  a long label wrapped with its tail on a row of its own, header fragments as rows, a Table A row that lost a (zero) cell under a three-column header,
  all 15 numbers of Table C on one row under a garbled header, page footers (``— 5 —``, ``- 5 -``,
  ``第 5 页``) and stray label fragments as lines between rows, a ``正文`` line before the title.

Every printed piece goes through the writer's units with its label (furniture as ``O``), so the
aligner labels what the reader sees, and every value cell prints its gold ``raw`` text, except a
lost Table A cell, which is only ever a zero.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from nianbao.inference.normalize import BLANK

from .synthetic_report import PrintedCell, PrintedTable
from .render_base import OUTSIDE, cell_label, slots
from .rng import Chooser

if TYPE_CHECKING:  # pragma: no cover
    from .render_text import TextWriter

MARKDOWN_STYLES = ("markdown_subtables", "broken_conversion")
GENERIC_B_HEADER = ("类别", "数据1", "数据2", "数据3", "数据4", "数据5", "数据6", "总计")
REAL_B_HEADER = ("类别", "自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "总计")
C_TABLE_TITLES = {"appeals.review": "行政复议", "appeals.litigation_direct": "行政诉讼（未经复议直接起诉）",
                  "appeals.litigation_after_review": "行政诉讼（复议后起诉）"}
C_HEADER = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
FOOTERS = ("em_dash", "dash", "page")


@dataclass
class MarkdownStyle:
    """Choices of a Markdown rendering (traits ``text.md_*``)."""

    headings: bool = False          # ``## 二、…`` headings, ``# title``
    a_split: bool = False           # Table A: one pipe table per 第二十条 item
    b_grouping: str = "group"       # "row": one data row per sub-table | "group": a row group per sub-table
    b_header: str = "generic"       # "generic" (数据1…数据6) | "real" (自然人 … 其他)
    b_group_prefix: bool = False    # member rows print "（三）不予公开 1.属于国家秘密"
    c_title: str = "line"           # "line": the group name on a line before its table | "bold": **行政复议**
    # broken_conversion
    footer: str = "em_dash"
    label_own_line: float = 0.35    # chance a Table B row prints its label on a line of its own
    label_wrap: float = 0.3         # chance a long Table B label wraps, its tail a row of its own
    header_rows: bool = True        # header fragments as pipe rows
    stray_fragments: bool = True    # label fragments as prose lines between rows
    a_lost_cell: bool = True        # a Table A row lost a zero cell under a three-column header
    footer_every: int = 9           # a page footer after about this many rows
    zhengwen: bool = True           # a "正文" line before the title


def choose_markdown_style(choose: Chooser, style: str) -> MarkdownStyle:
    m = MarkdownStyle()
    m.headings = choose.flag("md_headings", 0.5)
    m.a_split = choose.flag("md_a_split", 0.4)
    if style == "markdown_subtables":
        m.b_grouping = choose.pick("md_b_grouping", ("row", "group"), (0.4, 0.6))
        m.b_header = choose.pick("md_b_header", ("generic", "real"), (0.7, 0.3))
        m.b_group_prefix = choose.flag("md_b_group_prefix", 0.4)
        m.c_title = choose.pick("md_c_title", ("line", "bold"), (0.6, 0.4))
    else:
        m.footer = choose.pick("md_footer", FOOTERS)
        m.label_own_line = choose.pick("md_label_own_line", (0.0, 0.35, 1.0), (0.2, 0.6, 0.2))
        m.header_rows = choose.flag("md_header_rows", 0.8)
        m.stray_fragments = choose.flag("md_stray_fragments", 0.7)
        m.a_lost_cell = choose.flag("md_a_lost_cell", 0.6)
        m.label_wrap = choose.pick("md_label_wrap", (0.0, 0.3), (0.4, 0.6))
        m.footer_every = choose.rng.randint(6, 14)
        m.zhengwen = choose.flag("md_zhengwen", 0.6)
    return m


# ---------------------------------------------------------------------------------------------
# Rows of a printed grid
# ---------------------------------------------------------------------------------------------

@dataclass
class GridRow:
    """One body row of a grid: its label cell, the group labels covering it, its value cells."""

    index: int
    label: Optional[PrintedCell]
    groups: list[PrintedCell] = field(default_factory=list)   # outermost first
    values: list[PrintedCell] = field(default_factory=list)   # value cells with a key, left to right
    headers: list[PrintedCell] = field(default_factory=list)  # header / corner cells starting here

    @property
    def key(self) -> Optional[str]:
        return self.label.ref if self.label is not None else None


def grid_rows(table: PrintedTable) -> list[GridRow]:
    out = []
    for r, row in enumerate(slots(table)):
        g = GridRow(index=r, label=None)
        for s in row:
            c = s.cell
            if c.role == "row_label" and s.start:
                g.label = c
            elif c.role == "group_label" and s.col == c.col:
                g.groups.append(c)
            elif c.role == "value" and c.key and s.start:
                g.values.append(c)
            elif c.role in ("header", "corner") and s.start:
                g.headers.append(c)
        out.append(g)
    return out


def fragments(text: str, n: int, rng: random.Random) -> list[str]:
    """``text`` cut into ``n`` non-empty pieces (fewer when it is short): a vertical merged label
    spread over the rows it spans, as a PDF conversion prints it."""
    n = max(1, min(n, len(text)))
    if n == 1:
        return [text]
    cuts = sorted(rng.sample(range(1, len(text)), n - 1))
    return [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]


# ---------------------------------------------------------------------------------------------
# The writer
# ---------------------------------------------------------------------------------------------

Piece = tuple[str, str]  # (text, label); "" text: an empty cell


class MarkdownWriter:
    """Prints tables as Markdown through a TextWriter's units."""

    def __init__(self, w: "TextWriter", m: MarkdownStyle):
        self.w = w
        self.m = m
        self.rng = w.rng
        self.rows_since_footer = 0

    # -- primitives ---------------------------------------------------------------------------
    def line(self, text: str, label: str = OUTSIDE) -> None:
        self.w.out.add(text, label)
        self.w.newline()

    def pipe_row(self, cells: list[list[Piece]]) -> None:
        """``| a | b |``: a cell is a list of pieces (a fused cell prints several, space-separated)."""
        out = self.w.out
        out.add("|")
        for cell in cells:
            out.add(" ")
            printed = [(t, lab) for t, lab in cell if t]
            if not printed:
                # An empty cell between pipes: the reader's grid has a printed-empty cell there.
                out.add_virtual(BLANK, cell[0][1] if cell else OUTSIDE)
            for i, (text, label) in enumerate(printed):
                if i:
                    out.add(" ")
                out.add(text, label)
            out.add(" |")
        self.w.newline()

    def delimiter(self, n: int) -> None:
        self.w.out.add_unread("|" + "|".join("---" for _ in range(n)) + "|")
        self.w.newline()

    def blank(self) -> None:
        self.w.newline()

    def footer(self) -> None:
        """A page footer between two rows: on lines of its own, or right between the pipe rows."""
        self.w.page += 1
        n = self.w.page
        text = {"em_dash": f"— {n} —", "dash": f"- {n} -", "page": f"第 {n} 页"}[self.m.footer]
        spaced = self.rng.random() < 0.6
        if spaced:
            self.blank()
        self.line(text)
        if spaced:
            self.blank()
        self.rows_since_footer = 0

    def maybe_footer(self) -> None:
        self.rows_since_footer += 1
        if self.rows_since_footer >= self.m.footer_every:
            self.footer()

    @staticmethod
    def cell(c: PrintedCell, table: str) -> list[Piece]:
        """A printed cell (label, header or value) as one labelled piece."""
        return [(c.text, cell_label(c, table))]

    # -- markdown_subtables -------------------------------------------------------------------
    def proactive(self, table: PrintedTable, broken: bool) -> None:
        rows = grid_rows(table)
        width = 4
        started = False
        for g in rows:
            item = next((c for c in g.groups if c.ref and c.ref.startswith("proactive.item")), None)
            if item is not None and g.label is None and not g.values:
                if self.m.a_split or not started:
                    if started:
                        self.blank()
                    if broken and self.rng.random() < 0.5:
                        # The item line cut in two pieces as a header fragment row.
                        a, b = fragments(item.text, 2, self.rng)
                        self.pipe_row([[(a, cell_label(item, table.name))], [(b, cell_label(item, table.name))]])
                    else:
                        self.pipe_row([self.cell(item, table.name)] + [[("", OUTSIDE)]] * (width - 1))
                    self.delimiter(width)
                    started = True
                else:
                    self.pipe_row([self.cell(item, table.name)] + [[("", OUTSIDE)]] * (width - 1))
                continue
            if g.headers and g.label is None:
                cells = [self.cell(c, table.name) for c in g.headers]
                cells += [[("", OUTSIDE)]] * (width - len(cells))
                self.pipe_row(cells)
                continue
            if g.label is None:
                continue
            values = [c for c in g.values]
            cells = [self.cell(c, table.name) for c in values]
            if broken and self.m.a_lost_cell and len(values) == 3 and _is_zero(values[1]) and not _is_zero(values[2]):
                # The conversion dropped the middle (zero) cell: | 规章 | 12 | 140 |
                cells = [cells[0], cells[2]]
            label = self.cell(g.label, table.name)
            row = [label] + cells
            row += [[("", OUTSIDE)]] * (width - len(row)) if not broken else []
            self.pipe_row(row)
        self.blank()

    def requests_subtables(self, table: PrintedTable) -> None:
        rows = [g for g in grid_rows(table) if g.label is not None]
        header = GENERIC_B_HEADER if self.m.b_header == "generic" else REAL_B_HEADER
        chunks: list[list[GridRow]] = []
        for g in rows:
            group = _inner_group(g)
            if chunks and self.m.b_grouping == "group" and group is not None and _inner_group(chunks[-1][-1]) is not None \
                    and _inner_group(chunks[-1][-1]).ref == group.ref:
                chunks[-1].append(g)
            else:
                chunks.append([g])
        results_said = False
        for chunk in chunks:
            first = chunk[0]
            outer = next((c for c in first.groups if c.ref == "requests.results"), None)
            if outer is not None and not results_said:
                self.line(outer.text, cell_label(outer, table.name))
                self.blank()
                results_said = True
            self.pipe_row([[(h, _b_header_label(i, self.m.b_header))] for i, h in enumerate(header)])
            self.delimiter(len(header))
            for g in chunk:
                label: list[Piece] = []
                inner = _inner_group(g)
                if inner is not None and self.m.b_group_prefix:
                    label.append((inner.text, cell_label(inner, table.name)))
                label.append((g.label.text, cell_label(g.label, table.name)))
                self.pipe_row([label] + [self.cell(c, table.name) for c in g.values])
            self.blank()

    def appeals_three(self, table: PrintedTable) -> None:
        values = grid_rows(table)[-1].values
        groups = {c.ref: c for c in table.cells if c.role == "group_label"}
        for i, ref in enumerate(C_TABLE_TITLES):
            title = C_TABLE_TITLES[ref]
            label = cell_label(groups[ref], table.name) if ref in groups else OUTSIDE
            self.line(f"**{title}**" if self.m.c_title == "bold" else title, label)
            self.blank()
            self.pipe_row([[(h, f"col:appeals.{c}")] for h, c in zip(C_HEADER, ("upheld", "corrected", "other", "pending", "total"))])
            self.delimiter(len(C_HEADER))
            self.pipe_row([self.cell(c, table.name) for c in values[5 * i:5 * i + 5]])
            self.blank()

    # -- broken_conversion --------------------------------------------------------------------
    def requests_broken(self, table: PrintedTable) -> None:
        grid = grid_rows(table)
        name = table.name
        # Header fragments as rows: the corner note, 申请人情况, column names in two pieces.
        head = [c for g in grid for c in g.headers]
        self.pipe_row([[("", OUTSIDE)], [("", OUTSIDE)], [("申请人情况", f"header:{name}")]])
        self.delimiter(3)
        if self.m.header_rows:
            cols = [c for c in head if c.role == "header" and c.ref]
            cut = self.rng.randint(2, max(2, len(cols) - 2))
            for part in (cols[:cut], cols[cut:]):
                self.pipe_row([self.cell(c, name) for c in part])
            corner = next((c for c in head if c.role == "corner"), None)
            if corner is not None and self.rng.random() < 0.5:
                self.pipe_row([[(t, cell_label(corner, name))] for t in fragments(corner.text, 2, self.rng)])
        body = [g for g in grid if g.label is not None]
        # A vertical group label (（三）不予公开 over eight rows) comes out in two or three fragments on
        # the middle rows it spans; the outer 三、本年度办理结果 mostly not at all.
        frag: dict[int, dict[str, str]] = {}
        for ref in sorted({c.ref for g in body for c in g.groups if c.ref}):
            members = [g for g in body if any(c.ref == ref for c in g.groups)]
            if ref == "requests.results" and self.rng.random() < 0.7:
                continue
            cell = next(c for c in members[0].groups if c.ref == ref)
            pieces = fragments(cell.text, min(len(members), self.rng.randint(2, 3)), self.rng)
            start = (len(members) - len(pieces)) // 2
            for g, piece in zip(members[start:], pieces):
                frag.setdefault(g.index, {})[ref] = piece
        cut_row = table.break_before_row
        for g in body:
            if cut_row is not None and g.index == cut_row:
                self.footer()
                self.pipe_row([self.cell(c, name) for c in head if c.role == "header" and c.ref][:4])
            labels: list[list[Piece]] = [[(frag[g.index][c.ref], cell_label(c, name))] for c in g.groups
                                         if frag.get(g.index, {}).get(c.ref)]
            label: list[Piece] = [(g.label.text, cell_label(g.label, name))]
            numbers = [self.cell(c, name) for c in g.values]
            wrap = len(g.label.text) > 14 and self.rng.random() < self.m.label_wrap
            if self.rng.random() < self.m.label_own_line:
                # The label on a line of its own, its numbers in a pipe row below.
                self.line(g.label.text, cell_label(g.label, name))
                self.pipe_row(numbers)
            elif wrap:
                # A long label wrapped in its cell: the tail comes out as a row of its own, no numbers.
                cut = self.rng.randint(8, len(g.label.text) - 4)
                lab = cell_label(g.label, name)
                self.pipe_row(labels + [[(g.label.text[:cut], lab)]] + numbers)
                self.pipe_row([[("", OUTSIDE)]] * len(labels) + [[(g.label.text[cut:], lab)]])
            else:
                self.pipe_row(labels + [label] + numbers)
            if self.m.stray_fragments and self.rng.random() < 0.12:
                # A stray piece of a label as a line between rows (a text box the converter let go).
                text = fragments(g.label.text, 2, self.rng)[self.rng.randint(0, 1)]
                self.line(text, cell_label(g.label, name))
            self.maybe_footer()
        self.blank()

    def appeals_one_row(self, table: PrintedTable) -> None:
        """Table C under a garbled header: the header cells fused and cut anew, then 15 numbers."""
        name = table.name
        head: list[Piece] = []
        for g in grid_rows(table)[:-1]:
            for c in g.groups + g.headers:
                head.append((c.text, cell_label(c, name)))
        cells: list[list[Piece]] = []
        i = 0
        while i < len(head):
            n = self.rng.randint(1, 4)
            cells.append(head[i:i + n])
            i += n
        self.pipe_row(cells[:3])
        self.delimiter(min(3, len(cells)))
        for k in range(3, len(cells), 5):
            self.pipe_row(cells[k:k + 5])
        self.pipe_row([self.cell(c, name) for c in grid_rows(table)[-1].values])
        self.blank()


def _b_header_label(i: int, how: str) -> str:
    """Generic headers (类别, 数据1…) name no column; the real names do."""
    columns = ("natural", "commercial", "research", "social", "legal", "other", "total")
    if i == 0 or (how == "generic" and i < 7):
        return "header:requests"
    return f"col:requests.{columns[i - 1]}"


def _inner_group(g: GridRow) -> Optional[PrintedCell]:
    inner = [c for c in g.groups if c.ref != "requests.results"]
    return inner[-1] if inner else None


def _is_zero(c: PrintedCell) -> bool:
    return c.text.strip() in ("0", "-", "—", "/", "无", "")


def print_table(w: "TextWriter", table: PrintedTable) -> None:
    md = w.markdown
    assert md is not None
    broken = w.s.style == "broken_conversion"
    if table.name == "proactive":
        md.proactive(table, broken)
    elif table.name == "requests":
        md.requests_broken(table) if broken else md.requests_subtables(table)
    else:
        md.appeals_one_row(table) if broken else md.appeals_three(table)
