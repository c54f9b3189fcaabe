"""Text exports of a report, flattened the ways real ones are (see ../shared/seeds/NOTES.md).

Styles of the tables (``text.style``):
- ``tsv``: one grid row per line, cells separated by tabs; rowspan-covered positions print as
  empty cells (seed 000).
- ``cell_per_line``: one cell per line with a tab prefix, blank lines between rows; multi-line
  header cells continue without the tab (seeds 002, 003).
- ``pipes``: one cell per line ending in `` |`` with ragged pipe tails that carry no span
  information (seed 004).
- ``run_together``: crawler page text: a row's cells concatenated with no separator, or with
  spaces in misleading places (``160 02 0 018``), often the whole body on one line (real_0xx).

On top of a style, the defects real exports show: header words split into characters or pieces or
broken by spaces, labels broken by spaces, a displaced label (at column 0 with an empty cell
after it, or printed after its numbers), a missing row label, group labels repeated after a page
break, rows printing fewer cells (lost trailing zeros), ``\\u3000``/``\\xa0`` padding, page
separators (form feed, blank lines, a page-number line), GB18030 or BOM encodings, CRLF.
Two Markdown styles (``markdown_subtables``, ``broken_conversion``: see render_markdown.py) print
the tables as real conversions do. On top of any style, ``text.ocr_damage`` (a rate, 0 for none)
damages Chinese characters as OCR does (ocr_damage.py); values are never touched.
Every choice is a trait ``text.*``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

from nianbao.inference.normalize import BLANK

from .synthetic_report import Paragraph, PrintedCell, PrintedTable, SyntheticReport
from .ocr_damage import OcrDamage, damage_units
from .render_base import OUTSIDE, Rendered, Units, cell_label, paragraph_label, slots
from .render_markdown import MARKDOWN_STYLES, MarkdownStyle, MarkdownWriter, choose_markdown_style, print_table
from .rng import Chooser

STYLES = ("tsv", "cell_per_line", "pipes", "run_together") + MARKDOWN_STYLES
STYLE_WEIGHTS = (0.26, 0.26, 0.13, 0.23, 0.07, 0.05)
# Share of text renderings whose Chinese characters are OCR-damaged, and the rate they get.
OCR_DAMAGE_FRACTION = 0.08
OCR_DAMAGE_RATE = 0.1
FIRST_OF_GROUP = ("granted", "denied.state_secret", "unavailable.not_held", "not_processed.petition",
                  "other.overdue_correction")


@dataclass
class Item:
    """One printed cell of a text row (after the style's defects are applied)."""

    text: str
    label: str
    kind: str = "cell"        # "cell" | "cover" (a merged cell's covered position) | "empty"
    colspan: int = 1
    cell: Optional[PrintedCell] = None


@dataclass
class TextStyle:
    style: str
    header_split: str = "none"
    label_spaces: bool = False
    displaced: str = "none"
    displaced_row: Optional[str] = None
    missing_label: Optional[str] = None
    repeat_group_labels: bool = False
    lost_cells: int = 0
    padding: str = "none"
    page_sep: str = "blank_lines"
    colspan_empties: bool = False
    trailing_tab: bool = False
    spacer_cells: bool = True
    misleading_spaces: bool = False
    space_columns: frozenset[int] = frozenset()
    one_line: bool = False
    blank_lines: bool = False
    indent: bool = False
    prose_breaks: bool = False
    markdown: Optional[MarkdownStyle] = None


def choose_text_style(choose: Chooser, report: SyntheticReport) -> TextStyle:
    style = choose.pick("style", STYLES, STYLE_WEIGHTS)
    s = TextStyle(style=style)
    run = style == "run_together"
    s.header_split = choose.pick("header_split", ("none", "chars", "pieces", "spaces"),
                                 (0.7, 0.0, 0.0, 0.3) if run else (0.45, 0.2, 0.2, 0.15))
    s.label_spaces = choose.flag("label_spaces", 0.15)
    s.padding = "none" if run else choose.pick("padding", ("none", "ideographic", "nbsp", "mixed"), (0.6, 0.1, 0.1, 0.2))
    s.page_sep = choose.pick("page_sep", ("blank_lines", "formfeed", "page_number"), (0.5, 0.25, 0.25))
    requests = next((b for b in report.blocks if isinstance(b, PrintedTable) and b.name == "requests"), None)
    if requests is not None:
        rows = _row_keys(requests)
        s.displaced = choose.pick("displaced_label", ("none", "column0", "after_numbers"),
                                  (0.9, 0.08 if style in ("tsv", "cell_per_line") else 0.0, 0.02))
        if s.displaced != "none":
            inner = [k for r, k in rows.items() if _in_group(k) and k not in FIRST_OF_GROUP]
            s.displaced_row = choose.rng.choice(inner) if inner else None
            if s.displaced_row is None:
                s.displaced = "none"
                choose.note("displaced_label", "none")
        missing = [k for k in rows.values() if k in FIRST_OF_GROUP and k != s.displaced_row]
        if missing and choose.flag("missing_label", 0.08):
            s.missing_label = choose.rng.choice(missing)
            choose.note("missing_label_row", s.missing_label)
        if requests.break_before_row is not None:
            s.repeat_group_labels = choose.flag("repeat_group_labels", 0.4)
        s.lost_cells = choose.pick("lost_cells", (0, 1, 2, 3), (0.8, 0.1, 0.05, 0.05))
    if style == "tsv":
        s.colspan_empties = choose.flag("colspan_empties", 0.5)
        s.trailing_tab = choose.flag("trailing_tab", 0.5)
    if style == "cell_per_line":
        s.spacer_cells = choose.flag("spacer_cells", 0.7)
    if run:
        s.misleading_spaces = choose.flag("misleading_spaces", 0.5)
        if s.misleading_spaces:
            s.space_columns = frozenset(i for i in range(16) if choose.rng.random() < 0.35)
        s.one_line = choose.flag("one_line", 0.7)
    s.blank_lines = not s.one_line and choose.flag("blank_lines", 0.3)
    s.indent = choose.flag("indent", 0.3)
    s.prose_breaks = choose.flag("prose_breaks", 0.1)
    if style in MARKDOWN_STYLES:
        s.markdown = choose_markdown_style(choose, style)
        s.blank_lines = True  # Markdown paragraphs are separated by blank lines
    return s


def _row_keys(table: PrintedTable) -> dict[int, str]:
    return {c.row: c.ref.split(".", 1)[1] for c in table.cells if c.role == "row_label" and c.ref}


def _in_group(key: str) -> bool:
    return key.split(".")[0] in ("denied", "unavailable", "not_processed", "other") and "." in key


# ---------------------------------------------------------------------------------------------
# Cell text defects
# ---------------------------------------------------------------------------------------------

def split_header(text: str, how: str, rng: random.Random) -> str:
    """商业企业 -> 商⏎业⏎企⏎业 | 商业⏎企业 | 商业 企业."""
    if how == "none" or len(text) < 2 or "（" in text or "(" in text:
        return text
    if how == "chars":
        return "\n".join(text)
    if how == "pieces":
        return "\n".join(text[i:i + 2] for i in range(0, len(text), 2))
    cut = rng.randint(1, len(text) - 1)
    return text[:cut] + " " + text[cut:]


def space_label(text: str, rng: random.Random) -> str:
    """1.属于国家秘密 -> 1.属于国家秘 密 (a Word line wrap turned into a space)."""
    if len(text) < 5:
        return text
    for _ in range(rng.randint(1, 2)):
        cut = rng.randint(3, len(text) - 1)
        if text[cut - 1] != " " and text[cut] != " ":
            text = text[:cut] + " " + text[cut:]
    return text


def pad(text: str, how: str, rng: random.Random) -> tuple[str, str]:
    """Padding (before, after) a value: \\u3000\\u300019, 19\\xa0, \\xa00."""
    if how == "none" or rng.random() < 0.4:
        return "", ""
    ch = {"ideographic": "\u3000", "nbsp": "\xa0"}.get(how) or rng.choice(("\u3000", "\xa0"))
    n = rng.randint(1, 2)
    return (ch * n, "") if rng.random() < 0.5 else ("", ch)


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------

class TableText:
    """Turns a grid into rows of items with the style's defects, then prints them."""

    def __init__(self, table: PrintedTable, s: TextStyle, rng: random.Random):
        self.table = table
        self.s = s
        self.rng = rng
        self.keys = _row_keys(table) if table.name == "requests" else {}
        self.slots = slots(table)
        self.lost = self._lost_rows()

    def _text(self, c: PrintedCell) -> str:
        if c.role == "header":
            return split_header(c.text, self.s.header_split, self.rng)
        if c.role in ("row_label", "group_label") and self.s.label_spaces and self.rng.random() < 0.35:
            return space_label(c.text, self.rng)
        if c.role == "group_label" and c.ref == "requests.results" and self.s.label_spaces:
            return " ".join(c.text)
        return c.text

    def _lost_rows(self) -> set[int]:
        """Rows of Table B that print fewer cells: their last k values are zeros (seed 000, 003)."""
        k = self.s.lost_cells
        if not k or self.table.name != "requests":
            return set()
        cand = []
        for r in sorted(self.keys):
            values = [c for c in self.table.cells if c.row == r and c.key]
            if len(values) == 7 and all(c.text in ("0", "-", "—", "/", "无", "") for c in values[-k:]):
                cand.append(r)
        if not cand:
            return set()
        start = self.rng.randrange(len(cand))
        return set(cand[start:start + self.rng.randint(1, 6)])

    def items(self, r: int, repeat_groups: bool = False) -> list[Item]:
        out: list[Item] = []
        for slot in self.slots[r]:
            c = slot.cell
            label = cell_label(c, self.table.name)
            if slot.start:
                out.append(Item(self._text(c), label, "cell", c.colspan, c))
            elif slot.from_above and slot.col == c.col:
                if repeat_groups and c.role in ("group_label", "row_label"):
                    out.append(Item(c.text, label, "cell", c.colspan, c))
                else:
                    out.append(Item("", OUTSIDE, "cover", c.colspan, c))
            elif not slot.from_above:
                out.append(Item("", OUTSIDE, "span"))  # a colspan's further columns
        key = self.keys.get(r)
        if key is not None:
            out = self._defects(out, key, r)
        return out

    def _defects(self, items: list[Item], key: str, r: int) -> list[Item]:
        s = self.s
        label_at = next((i for i, it in enumerate(items) if it.cell is not None and it.cell.role == "row_label"
                         and it.kind == "cell"), None)
        if key == s.missing_label and label_at is not None:
            items[label_at] = Item("", OUTSIDE, "empty")
        if key == s.displaced_row and label_at is not None:
            label = items[label_at]
            rest = [it for i, it in enumerate(items) if i != label_at and it.kind == "cell" and it.cell is not None
                    and it.cell.role == "value"]
            if s.displaced == "column0":
                items = [label, Item("", OUTSIDE, "empty")] + rest
            else:
                items = rest + [label]
        if r in self.lost:
            for _ in range(s.lost_cells):
                idx = max(i for i, it in enumerate(items) if it.cell is not None and it.cell.role == "value")
                del items[idx]
        return items


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------

class TextWriter:
    def __init__(self, report: SyntheticReport, s: TextStyle, choose: Chooser):
        self.report = report
        self.s = s
        self.rng = choose.rng
        self.out = Units()
        self.page = 1
        self.markdown = MarkdownWriter(self, s.markdown) if s.markdown is not None else None

    def newline(self) -> None:
        self.out.add("\n")

    def block_end(self) -> None:
        if self.s.one_line:
            self.out.add(self.rng.choice(("", "", " ")))
        else:
            self.newline()
            if self.s.blank_lines:
                self.newline()

    def paragraph(self, p: Paragraph) -> None:
        label = paragraph_label(p)
        text = p.text
        if self.s.markdown is not None and self.s.markdown.headings and p.kind in ("title", "heading"):
            self.out.add("# " if p.kind == "title" else "## ")
        if self.s.indent and p.kind == "prose" and not self.s.one_line:
            self.out.add("\u3000\u3000")
        if self.s.prose_breaks and p.kind == "prose" and len(text) > 40 and self.rng.random() < 0.3 and not self.s.one_line:
            cut = self.rng.randint(10, len(text) - 10)
            self.out.add(text[:cut], label)
            self.page_break()
            self.out.add(text[cut:], label)
        else:
            self.out.add(text, label)
        self.block_end()

    def page_break(self) -> None:
        self.page += 1
        if self.s.one_line:
            self.out.add(" ")
            return
        sep = self.s.page_sep
        if sep == "formfeed":
            self.out.add("\n\f")
        elif sep == "page_number":
            self.out.add(f"\n\n- {self.page} -\n\n")
        else:
            self.out.add("\n\n")

    def cell(self, it: Item) -> None:
        if not it.text:
            # An empty cell: the lineariser may mark it BLANK (between numbers of a tab row, a
            # pipe-only line); the marker carries the cell's label (its key for a value cell).
            self.out.add_virtual(BLANK, it.label)
            return
        if it.cell is not None and it.cell.role == "value":
            before, after = pad(it.text, self.s.padding, self.rng)
            self.out.add(before)
            self.out.add(it.text, it.label)
            self.out.add(after)
        else:
            self.out.add(it.text, it.label)

    def table(self, table: PrintedTable) -> None:
        if self.s.markdown is not None:
            print_table(self, table)
            self.block_end()
            return
        tt = TableText(table, self.s, self.rng)
        cut = table.break_before_row
        for r in range(table.n_rows):
            repeat = False
            if r == cut:
                self.page_break()
                for h in range(table.repeat_header_rows):
                    self.row(tt.items(h), table)
                repeat = self.s.repeat_group_labels
            self.row(tt.items(r, repeat_groups=repeat), table)
        self.block_end()

    def row(self, items: list[Item], table: PrintedTable) -> None:
        getattr(self, f"row_{self.s.style}")(items, table)

    def row_tsv(self, items: list[Item], table: PrintedTable) -> None:
        printed = [it for it in items if it.kind != "span" or self.s.colspan_empties]
        for i, it in enumerate(printed):
            if i:
                self.out.add("\t")
            self.cell(it)
        if self.s.trailing_tab:
            self.out.add("\t")
        self.newline()

    def row_cell_per_line(self, items: list[Item], table: PrintedTable) -> None:
        for it in items:
            if it.kind == "span" or (it.kind == "cover" and not self.s.spacer_cells):
                continue
            self.out.add("\t")
            self.cell(it)
            self.newline()
        self.newline()

    def row_pipes(self, items: list[Item], table: PrintedTable) -> None:
        cells = [it for it in items if it.kind in ("cell", "empty")]
        for i, it in enumerate(cells):
            self.cell(it)
            tail = " |"
            if it.colspan > 1:
                tail += " " + "|" * max(1, it.colspan - 1 + self.rng.choice((0, 0, 1, -1)))
            elif i == len(cells) - 1 and self.rng.random() < 0.5:
                tail += " " + "|" * self.rng.randint(1, 2)
            self.out.add(tail)
            self.newline()

    def row_run_together(self, items: list[Item], table: PrintedTable) -> None:
        col = 0
        for it in items:
            if it.kind != "cell":
                continue
            self.out.add(it.text, it.label)
            if it.cell is not None and it.cell.role == "value" and col in self.s.space_columns and it.text:
                self.out.add(" ")
            if it.cell is not None and it.cell.role == "value":
                col += 1

    def crawler_header(self) -> None:
        title = "".join(p.text for p in self.report.blocks if isinstance(p, Paragraph) and p.kind == "title")
        title = title.replace(" ", "") or f"{self.report.agency}{self.report.year}年度政府信息公开工作年度报告"
        pub = f"{self.report.year + 1}-{self.rng.randint(1, 3):02d}-{self.rng.randint(1, 28):02d}"
        self.out.add("标题: ")
        self.out.add(title, "title")
        self.out.add(f"\n发布时间: {pub} {self.rng.randint(8, 18):02d}:{self.rng.randint(0, 59):02d}\n文号: \n"
                     f"发布机构: \n栏目: 政府信息公开年报\n"
                     f"原文链接: https://www.example.gov.cn/zwgk/zfxxgknb/{pub[:4]}{pub[5:7]}/t{pub.replace('-', '')}_"
                     f"{self.rng.randint(10000, 99999)}.htm\n==================== 正文 ====================\n")


def render_text(report: SyntheticReport, choose: Chooser) -> Rendered:
    """The report as a text export; traits under ``text.*``."""
    s = choose_text_style(choose, report)
    w = TextWriter(report, s, choose)
    if s.style == "run_together" and choose.flag("crawler_header", 0.7):
        w.crawler_header()
    if s.markdown is not None and s.markdown.zhengwen and s.style == "broken_conversion":
        w.out.add("正文")  # a conversion's section line before the real title
        w.newline()
        w.newline()
    for block in report.blocks:
        if isinstance(block, PrintedTable):
            w.table(block)
        else:
            w.paragraph(block)
    newline = choose.pick("newline", ("lf", "crlf"), (0.85, 0.15))
    encoding = choose.pick("encoding", ("utf-8", "gb18030", "utf-8-sig"), (0.8, 0.12, 0.08))
    # A float (forced from the command line it arrives as text: "0.1").
    rate = float(choose.pick("ocr_damage", (0.0, OCR_DAMAGE_RATE), (1.0 - OCR_DAMAGE_FRACTION, OCR_DAMAGE_FRACTION)))
    if rate:
        w.out.items = damage_units(w.out.items, choose.rng, OcrDamage(rate=rate))
    text = w.out.text()
    suffix = ".md" if s.markdown is not None else ".txt"
    if newline == "crlf":
        text = text.replace("\n", "\r\n")
    return Rendered(data=text.encode(encoding), suffix=suffix, traits=dict(choose.traits), units=w.out.items)
