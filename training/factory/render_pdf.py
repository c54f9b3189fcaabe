"""Digital PDF rendering of a :class:`SyntheticReport`: A4 pages, wrapped prose, ruled table grids.

The PDF looks like a Word export of a real report: a centred title, headings, prose wrapped per
character to the text width (first-line indent of two characters, no line starting with a closing
punctuation mark), and the statutory tables as real ruled grids — one line per cell edge, a thin
rule or a thicker outer border, text centred or left-aligned in its cell and wrapped to the
column, the long group label of Table B (三、本年度办理结果) printed one character per line in a
narrow column. A table that does not fit continues on the next page, with or without its header
rows repeated; a merged cell cut by the break is drawn on both pages (its text on one of them, or
on both). Page numbers ("- N -") in the footer, sometimes.

Text uses MuPDF's built-in CJK font (Droid Sans Fallback: the only CJK face available offline, a
sans where real reports print 宋体/仿宋), embedded as a subset so that every reader and rasteriser
(pdfplumber, pdfium) gets the same glyphs; digits and Latin text come from it or from MuPDF's
Times / Helvetica faces (also embedded subsets), as in many real exports. Bold is fill-and-stroke
text. The report's forced table break (``break_before_row``) is taken where it ends a page (see
``PdfOptions.forced_breaks``); ``repeat_header_rows`` is honoured at every break of that table.

Everything the render decides is drawn from the ``rng`` given (or fixed by :class:`PdfOptions`),
and the file is written without dates or random IDs: the same report and seed give the same bytes.

``render_pdf`` returns, for every value cell (a cell with a field key), its page, the box of its
printed text in PDF points (x0, top, x1, bottom; origin top-left, as pdfplumber reports characters),
the box of the cell, and the printed text; also every other cell and every drawn text line, so a
scan of the same PDF carries labels for OCR and layout training.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .synthetic_report import Paragraph, PrintedCell, PrintedTable, SyntheticReport

__all__ = ["PdfOptions", "PdfStyle", "PdfRenderInfo", "CellBox", "LineBox", "render_pdf", "text_width"]

Box = tuple[float, float, float, float]

A4 = (595.0, 842.0)
_CJK_NAME = "nbcjk"  # name of the embedded CJK font in the draw log
_BOLD_STROKE = 0.035  # stroke width of bold text, as a fraction of its size
_FORCED_GAP = 0.25  # a forced table break may leave at most this share of the page empty
_LATIN_NAMES = {"tiro": "tiro", "helv": "helv", "cjk": _CJK_NAME}
# Characters a line must not start with (避头) and must not end with (避尾).
_NO_START = set("，。、；：？！）》」』”’%,.;:?!)]}·…—")
_NO_END = set("（《「『“‘([{")
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9.,%/+\-:]+|.", re.S)


# ---------------------------------------------------------------------------------------------
# Fonts and text measurement
# ---------------------------------------------------------------------------------------------

_FONT_CACHE: dict[str, object] = {}


def _font(name: str):
    import pymupdf

    f = _FONT_CACHE.get(name)
    if f is None:
        f = pymupdf.Font("cjk") if name in ("cjk", _CJK_NAME) else pymupdf.Font(name)
        _FONT_CACHE[name] = f
    return f


# pdfplumber places a character box from the font's descent: bottom = baseline + |descent|·size,
# top = bottom − size. These are the descents of the fonts used (their PDF descriptors).
_DESCENT = {"cjk": 0.265625, "tiro": 0.217, "helv": 0.207}


def _is_latin(ch: str) -> bool:
    return ord(ch) < 0x80


def _runs(text: str, latin: str) -> list[tuple[str, str]]:
    """Split text into (font, substring) runs: ASCII in the Latin font, everything else in CJK."""
    out: list[tuple[str, str]] = []
    for ch in text:
        f = latin if (_is_latin(ch) and latin != "cjk") else "cjk"
        if out and out[-1][0] == f:
            out[-1] = (f, out[-1][1] + ch)
        else:
            out.append((f, ch))
    return out


_WIDTH_CACHE: dict[tuple[str, str], float] = {}


def _char_w(ch: str, font: str) -> float:
    key = (ch, font)
    w = _WIDTH_CACHE.get(key)
    if w is None:
        w = _font(font).text_length(ch, 1.0)
        _WIDTH_CACHE[key] = w
    return w


def text_width(text: str, size: float, latin: str = "cjk") -> float:
    """Advance width of ``text`` at ``size`` points (ASCII in ``latin``, the rest in the CJK font)."""
    total = 0.0
    for ch in text:
        total += _char_w(ch, latin if (_is_latin(ch) and latin != "cjk") else "cjk")
    return total * size


def _tokens(text: str) -> list[str]:
    """Break units: an ASCII number/word stays whole, every other character is its own unit."""
    return _ASCII_TOKEN.findall(text)


def wrap(text: str, width: float, size: float, latin: str = "cjk") -> list[str]:
    """Wrap text to ``width`` points, per character for CJK, keeping numbers whole (禁则 applied)."""
    lines: list[str] = []
    for para in text.split("\n"):
        toks = _tokens(para)
        if not toks:
            lines.append("")
            continue
        cur: list[str] = []
        cur_w = 0.0
        for tok in toks:
            w = text_width(tok, size, latin)
            if cur and cur_w + w > width + 0.01:
                if tok == " ":
                    lines.append("".join(cur))
                    cur, cur_w = [], 0.0
                    continue
                # A closing mark may not start a line: carry the last unit down with it.
                if (tok[0] in _NO_START or cur[-1][-1] in _NO_END) and len(cur) > 1:
                    last = cur.pop()
                    lines.append("".join(cur))
                    cur = [last]
                    cur_w = text_width(last, size, latin)
                else:
                    lines.append("".join(cur))
                    cur, cur_w = [], 0.0
                # A token wider than the line (a long number in a narrow cell) is cut.
                while w > width and len(tok) > 1:
                    n = len(tok)
                    while n > 1 and text_width(tok[:n], size, latin) > width:
                        n -= 1
                    if cur:
                        lines.append("".join(cur))
                        cur, cur_w = [], 0.0
                    lines.append(tok[:n])
                    tok = tok[n:]
                    w = text_width(tok, size, latin)
            cur.append(tok)
            cur_w += w
        lines.append("".join(cur).rstrip() if cur else "")
    return lines


# ---------------------------------------------------------------------------------------------
# Options and the resolved style
# ---------------------------------------------------------------------------------------------

@dataclass
class PdfOptions:
    """What the render may vary; ``None`` means drawn from the rng (see :func:`_resolve`)."""

    page_size: tuple[float, float] = A4
    margins: Optional[tuple[float, float, float, float]] = None  # left, top, right, bottom (points)
    body_size: Optional[float] = None         # prose font size
    title_size: Optional[float] = None
    table_size: Optional[float] = None        # table font size
    line_spacing: Optional[float] = None      # prose line pitch as a multiple of body_size
    latin_font: Optional[str] = None          # "cjk" | "tiro" | "helv": font of digits and Latin text
    bold_headings: Optional[bool] = None
    page_numbers: Optional[str] = None        # "none" | "center" | "outer"
    thick_outer_border: Optional[bool] = None
    header_shading: Optional[bool] = None     # light fill behind header cells
    label_align: Optional[str] = None         # "left" | "center" (row labels)
    vertical_group_labels: Optional[bool] = None
    repeat_header: Optional[bool] = None      # repeat header rows at a break the report does not force
    forced_breaks: Optional[str] = None       # "auto" | "honour" | "natural": the report's break_before_row
    repeat_group_labels: Optional[bool] = None  # print a merged label again on the continuation page
    table_width: Optional[float] = None       # table width as a fraction of the text width
    # "none" | "ccw" | "cw": every table printed a quarter turn on portrait pages of its own (a
    # landscape table in a portrait document; ccw reads bottom to top). Never drawn: "none" unless set.
    turned_tables: Optional[str] = None
    # (table name, body rows): that table starts near the bottom of a page, its header and this many
    # body rows there, the rest on the next page (a table split across pages; the scan factory's
    # split_table trait). Never drawn: None unless set.
    split_table: Optional[tuple[str, int]] = None


@dataclass
class PdfStyle:
    """Every choice of one render, resolved (recorded in :class:`PdfRenderInfo`)."""

    page_size: tuple[float, float]
    margins: tuple[float, float, float, float]
    body_size: float
    title_size: float
    heading_size: float
    table_size: float
    line_spacing: float
    table_line_spacing: float
    latin_font: str
    bold_headings: bool
    page_numbers: str
    page_number_format: str
    footer_size: float
    thin_line: float
    outer_line: float
    thick_outer_border: bool
    header_shading: bool
    shading_color: tuple[float, float, float]
    label_align: str
    vertical_group_labels: bool
    repeat_header: bool
    forced_breaks: str
    repeat_group_labels: bool
    table_width: float
    cell_padding: float
    row_min: float          # minimal row height as a multiple of table_size
    header_row_min: float
    column_jitter: float
    paragraph_gap: float    # extra space after a paragraph, as a multiple of body_size
    indent_chars: float
    header_chars: float     # a header cell prefers to wrap after this many characters
    turned_tables: str = "none"
    split_table: Optional[tuple[str, int]] = None


def _choice(rng: np.random.Generator, items: Sequence, p: Optional[Sequence[float]] = None):
    return items[int(rng.choice(len(items), p=p))]


def _resolve(options: PdfOptions, rng: np.random.Generator) -> PdfStyle:
    """Draw every style choice (always all of them, in a fixed order), then apply the options."""
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    left = u(62, 92)
    body = float(_choice(rng, [16.0, 15.0, 14.0, 12.0, 10.5], [0.35, 0.1, 0.25, 0.2, 0.1]))
    drawn = dict(
        margins=(left, u(60, 96), left + u(-8, 6), u(60, 90)),
        body_size=body,
        title_size=float(_choice(rng, [22.0, 20.0, 18.0, 16.0], [0.45, 0.15, 0.3, 0.1])),
        heading_size=float(_choice(rng, [0.0, 0.0, 1.0, 2.0])),  # added to body_size below
        table_size=float(_choice(rng, [10.5, 10.0, 9.0, 12.0, 8.0], [0.45, 0.15, 0.25, 0.08, 0.07])),
        line_spacing=u(1.45, 1.9),
        table_line_spacing=u(1.12, 1.35),
        latin_font=str(_choice(rng, ["cjk", "tiro", "helv"], [0.4, 0.45, 0.15])),
        bold_headings=bool(rng.random() < 0.7),
        page_numbers=str(_choice(rng, ["none", "center", "outer"], [0.35, 0.4, 0.25])),
        page_number_format=str(_choice(rng, ["- {n} -", "— {n} —", "{n}", "第{n}页"], [0.55, 0.2, 0.15, 0.1])),
        footer_size=float(_choice(rng, [10.5, 12.0, 14.0])),
        thin_line=u(0.4, 0.8),
        outer_line=u(1.0, 1.6),
        thick_outer_border=bool(rng.random() < 0.35),
        header_shading=bool(rng.random() < 0.15),
        shading_color=_choice(rng, [(0.80, 0.87, 0.95), (0.88, 0.88, 0.88), (0.93, 0.93, 0.85)]),
        label_align=str(_choice(rng, ["left", "center"], [0.6, 0.4])),
        vertical_group_labels=bool(rng.random() < 0.85),
        repeat_header=bool(rng.random() < 0.35),
        forced_breaks="auto",
        repeat_group_labels=bool(rng.random() < 0.3),
        table_width=u(0.9, 1.08),
        cell_padding=u(1.5, 4.0),
        row_min=u(1.5, 2.6),
        header_row_min=u(1.8, 3.2),
        column_jitter=u(0.0, 0.25),
        paragraph_gap=float(_choice(rng, [0.0, 0.0, 0.25, 0.5])),
        indent_chars=float(_choice(rng, [2.0, 0.0], [0.9, 0.1])),
        header_chars=float(_choice(rng, [2.0, 3.0, 4.0, 6.0], [0.3, 0.3, 0.25, 0.15])),
    )
    for f in fields(PdfOptions):
        v = getattr(options, f.name)
        if v is not None:
            drawn[f.name] = v
    drawn["page_size"] = tuple(options.page_size)
    drawn.setdefault("turned_tables", "none")
    drawn["heading_size"] = drawn["body_size"] + drawn["heading_size"]
    return PdfStyle(**drawn)


# ---------------------------------------------------------------------------------------------
# Render info
# ---------------------------------------------------------------------------------------------

@dataclass
class CellBox:
    """One printed table cell (a merged cell cut by a page break gives one entry per page)."""

    table: str
    row: int
    col: int
    role: str
    key: Optional[str]
    page: int                 # 1-based
    bbox: Optional[Box]       # the printed text (pdfplumber character boxes); None when blank
    cell_bbox: Box            # the ruled cell on this page
    text: str                 # the text printed in this piece ("" when blank or printed elsewhere)
    continued: bool = False   # a later piece of a cell cut by a page break, or a repeated header


@dataclass
class LineBox:
    """One drawn line of text (prose, title, a line inside a cell, a page number)."""

    page: int
    bbox: Box
    text: str
    kind: str                 # paragraph kind, "cell", or "page_number"
    vertical: bool = False


@dataclass
class PdfRenderInfo:
    n_pages: int
    page_size: tuple[float, float]
    values: list[CellBox]      # value cells (with a field key), one entry each, in table order
    cells: list[CellBox]       # every cell piece drawn
    lines: list[LineBox]
    tables: list[dict]         # per table: name, pages, breaks (rows starting a new page), repeated header rows
    style: PdfStyle
    turned_pages: dict[int, str] = field(default_factory=dict)  # page (1-based) -> "ccw" | "cw"

    def value_boxes(self) -> dict[str, CellBox]:
        return {c.key: c for c in self.values if c.key}

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Page canvas
# ---------------------------------------------------------------------------------------------

class _Canvas:
    """The document being laid out: per page, the text runs, fills and rule segments to draw.

    Drawing is recorded and written at the end (:meth:`finish`): PyMuPDF invalidates page objects
    when a page is added, and a table cut by a break draws on earlier pages after later ones exist.
    """

    def __init__(self, style: PdfStyle):
        self.style = style
        self.texts: list[list[tuple]] = []
        self.lines: list[LineBox] = []
        self.fills: list[list[tuple[Box, tuple]]] = []
        self.segments: list[list[tuple[float, float, float, float, float]]] = []  # x0,y0,x1,y1,width
        # Per page: "none", or the quarter turn ("ccw" / "cw") of a landscape page printed on a
        # portrait one; a turned page is drawn in its landscape frame and turned at the end.
        self.turns: list[str] = []

    @property
    def n(self) -> int:
        return len(self.texts)

    def frame_size(self, p: int) -> tuple[float, float]:
        w, h = self.style.page_size
        return (h, w) if self.turns[p] != "none" else (w, h)

    def new_page(self, turn: str = "none") -> int:
        self.turns.append(turn)
        self.texts.append([])
        self.fills.append([])
        self.segments.append([])
        return self.n - 1

    def text(self, p: int, x: float, baseline: float, text: str, size: float, bold: bool = False) -> Box:
        """Draw one line of text at (x, baseline); returns its pdfplumber-style box."""
        latin = self.style.latin_font
        cx = x
        top = math.inf
        bottom = -math.inf
        for font, run in _runs(text, latin):
            if run.strip():
                self.texts[p].append((cx, baseline, run, _LATIN_NAMES[font], size, bold))
            d = _DESCENT[font] * size
            top = min(top, baseline + d - size)
            bottom = max(bottom, baseline + d)
            cx += text_width(run, size, latin)
        return (x, top, cx, bottom)

    def hline(self, p: int, x0: float, x1: float, y: float, width: float) -> None:
        self.segments[p].append((x0, y, x1, y, width))

    def vline(self, p: int, x: float, y0: float, y1: float, width: float) -> None:
        self.segments[p].append((x, y0, x, y1, width))

    def fill(self, p: int, box: Box, color: tuple) -> None:
        self.fills[p].append((box, color))

    def finish(self):
        """Write every page; returns the PyMuPDF document."""
        import pymupdf

        doc = pymupdf.open()
        w, h = self.style.page_size
        for _ in range(self.n):
            doc.new_page(width=w, height=h)
        for p in range(self.n):
            page = doc[p]
            turn = self.turns[p]
            shape = page.new_shape()
            for box, color in self.fills[p]:
                shape.draw_rect(pymupdf.Rect(*turn_to_page(box, turn, w, h)))
                shape.finish(color=None, fill=color, width=0)
            by_width: dict[float, list] = {}
            seen = set()
            for x0, y0, x1, y1, lw in self.segments[p]:
                x0, y0, x1, y1 = turn_to_page((x0, y0, x1, y1), turn, w, h)
                key = (round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2))
                if key in seen:
                    continue
                seen.add(key)
                by_width.setdefault(round(lw, 3), []).append((x0, y0, x1, y1))
            for lw in sorted(by_width):
                for x0, y0, x1, y1 in by_width[lw]:
                    shape.draw_line((x0, y0), (x1, y1))
                shape.finish(color=(0, 0, 0), width=lw, closePath=False, lineCap=0)
            shape.commit()
            # Text through TextWriter (no per-page width tables: fast). Bold is fill+stroke text; its
            # stroke width is the CTM's: text written k times larger and scaled down by 1/k strokes
            # 1/k points (the default line width of 1 in user space).
            if turn != "none":
                self._write_turned(page, p, turn)
                continue
            normal = pymupdf.TextWriter(page.rect)
            bold: dict[float, object] = {}
            n_normal = 0
            for x, baseline, run, fontname, size, is_bold in self.texts[p]:
                font = _font(fontname)
                if is_bold:
                    k = round(1.0 / (_BOLD_STROKE * size), 4)
                    tw = bold.get(k)
                    if tw is None:
                        tw = bold[k] = pymupdf.TextWriter(page.rect)
                    tw.append((x * k, baseline * k), run, font=font, fontsize=size * k)
                else:
                    normal.append((x, baseline), run, font=font, fontsize=size)
                    n_normal += 1
            if n_normal:
                normal.write_text(page)
            for k in sorted(bold):
                bold[k].write_text(page, render_mode=2, matrix=pymupdf.Matrix(1 / k, 0, 0, 1 / k, 0, h * (1 - 1 / k)))
        return doc

    def _write_turned(self, page, p: int, turn: str) -> None:
        """A landscape page's text, written in its frame and turned onto the portrait page (no bold:
        turned pages hold tables and page numbers only)."""
        import pymupdf

        w, h = self.style.page_size
        if not self.texts[p]:
            return
        writer = pymupdf.TextWriter(page.rect)
        for x, baseline, run, fontname, size, _bold in self.texts[p]:
            writer.append((x, baseline), run, font=_font(fontname), fontsize=size)
        # The writer puts frame (u, v) at PDF (u, Y = h - v); in PDF space (y up) ccw sends it to
        # (h - Y, u) = (v, u), cw to (Y + w - h, h - u) = (w - v, h - u).
        matrix = pymupdf.Matrix(0, 1, -1, 0, h, 0) if turn == "ccw" else pymupdf.Matrix(0, -1, 1, 0, w - h, h)
        writer.write_text(page, matrix=matrix)


def turn_to_page(box: Box, turn: str, width: float, height: float) -> Box:
    """A box in a turned page's landscape frame (``height`` wide, ``width`` high) on the portrait page
    (``width`` x ``height``): ccw puts the frame's top edge on the page's left (text reads bottom to
    top), cw on its right."""
    u0, v0, u1, v1 = box
    u0, u1 = min(u0, u1), max(u0, u1)
    v0, v1 = min(v0, v1), max(v0, v1)
    if turn == "ccw":
        return (v0, height - u1, v1, height - u0)
    if turn == "cw":
        return (width - v1, u0, width - v0, u1)
    return box


# ---------------------------------------------------------------------------------------------
# Tables: geometry
# ---------------------------------------------------------------------------------------------

@dataclass
class _CellGeom:
    cell: PrintedCell
    vertical: bool
    lines: list[str]
    align: str
    content_h: float


@dataclass
class _TableGeom:
    table: PrintedTable
    size: float
    col_w: list[float]
    row_h: list[float]
    cells: list[_CellGeom]
    header_rows: int
    line_h: float
    pad: float


def _cells_by_row(table: PrintedTable) -> dict[int, list[PrintedCell]]:
    by_row: dict[int, list[PrintedCell]] = {}
    for c in table.cells:
        by_row.setdefault(c.row, []).append(c)
    return by_row


def _header_rows(table: PrintedTable) -> int:
    """Leading rows made only of header/corner cells (closed under their rowspans)."""
    by_row = _cells_by_row(table)
    k = 0
    r = 0
    while r < table.n_rows:
        cells = by_row.get(r, [])
        if r >= k and r > 0 and not cells:
            break
        if any(c.role not in ("header", "corner") for c in cells):
            break
        for c in cells:
            k = max(k, c.row + c.rowspan)
        r += 1
        if r >= k:
            break
    # Extend while the rows below are still header rows.
    while k < table.n_rows:
        cells = by_row.get(k, [])
        if cells and all(c.role in ("header", "corner") for c in cells):
            k = max(c.row + c.rowspan for c in cells)
        else:
            break
    return k


def _lead_rows(table: PrintedTable) -> int:
    """Leading rows with no value or row-label cell (headers, group titles), closed under rowspans."""
    by_row = _cells_by_row(table)
    k = 0
    r = 0
    while r < table.n_rows:
        cells = by_row.get(r, [])
        if any(c.role in ("value", "row_label") for c in cells):
            break
        for c in cells:
            k = max(k, c.row + c.rowspan)
        r += 1
    return max(k, r) if r else 0


def _vertical_columns(table: PrintedTable, style: PdfStyle) -> set[int]:
    """Columns whose only own cells are long merged group labels: printed one character per line."""
    if not style.vertical_group_labels:
        return set()
    own: dict[int, list[PrintedCell]] = {}
    for c in table.cells:
        if c.colspan == 1 and c.text.strip():
            own.setdefault(c.col, []).append(c)
    out = set()
    for col, cells in own.items():
        if all(c.role == "group_label" and c.rowspan >= 4 and len(c.text.strip()) >= 4
               and c.rowspan * 2 >= len(c.text.strip()) for c in cells):
            out.add(col)
    return out


def _layout_table(table: PrintedTable, style: PdfStyle, width: float, rng: np.random.Generator,
                  size: Optional[float] = None) -> _TableGeom:
    size = size or style.table_size
    latin = style.latin_font
    pad = style.cell_padding
    line_h = size * style.table_line_spacing
    vcols = _vertical_columns(table, style)
    n = table.n_cols
    mins = [2 * pad + 0.6 * size] * n
    prefs = [2 * pad + 0.6 * size] * n
    value_cols: set[int] = set()
    jitter = [1.0 + float(rng.uniform(0, style.column_jitter)) for _ in range(n)]

    def measure(c: PrintedCell) -> tuple[float, float, float]:
        """(narrowest, preferred, unwrapped) width of a cell's content."""
        t = c.text.strip()
        if not t:
            return 2 * pad + 0.6 * size, 2 * pad + 0.6 * size, 2 * pad + 0.6 * size
        full = text_width(t, size, latin) + 2 * pad
        longest = max(text_width(tok, size, latin) for tok in _tokens(t))
        if c.role == "value":
            m = max(longest, 1.6 * size) + 2 * pad
            return m, full, full
        if c.role == "header":
            return max(longest, 2 * size) + 2 * pad, min(full, style.header_chars * size + 2 * pad), full
        if c.role == "row_label":
            return max(longest, 4 * size) + 2 * pad, min(full, 12 * size + 2 * pad), min(full, 20 * size)
        if c.role == "group_label":
            return max(longest, 3 * size) + 2 * pad, min(full, 5 * size + 2 * pad), min(full, 7 * size)
        return max(longest, 4 * size) + 2 * pad, min(full, 10 * size + 2 * pad), min(full, 16 * size)  # corner

    fulls = list(prefs)
    spanned: list[tuple[PrintedCell, float, float, float]] = []
    for c in table.cells:
        if c.colspan == 1 and c.col in vcols:
            w = size * 1.05 + 2 * pad
            mins[c.col] = max(mins[c.col], w)
            prefs[c.col] = max(prefs[c.col], w)
            fulls[c.col] = max(fulls[c.col], w)
            continue
        m, p, f = measure(c)
        if c.colspan == 1:
            mins[c.col] = max(mins[c.col], m)
            prefs[c.col] = max(prefs[c.col], p * jitter[c.col])
            fulls[c.col] = max(fulls[c.col], f * jitter[c.col])
            if c.role == "value":
                value_cols.add(c.col)
        else:
            spanned.append((c, m, p, f))
    # Value columns share one width, as in the official tables.
    if value_cols:
        vm = max(mins[c] for c in value_cols)
        vp = max(prefs[c] for c in value_cols)
        for c in value_cols:
            mins[c], prefs[c] = vm, vp
    for c, m, p, f in sorted(spanned, key=lambda t: t[0].colspan):
        cols = range(c.col, min(c.col + c.colspan, n))
        for arr, need in ((mins, m), (prefs, p), (fulls, f)):
            have = sum(arr[i] for i in cols)
            if have < need:
                grow = [i for i in cols if i not in vcols] or list(cols)
                for i in grow:
                    arr[i] += (need - have) / len(grow)
    prefs = [max(p, m) for p, m in zip(prefs, mins)]
    fulls = [max(f, p) for f, p in zip(fulls, prefs)]
    smin, spref = sum(mins), sum(prefs)
    if smin > width and size > 6.5:
        return _layout_table(table, style, width, rng, size=max(6.5, size - 0.5))
    if spref <= width:
        # Room to spare: first unwrap the labels (towards their one-line width), then widen all.
        extra = width - spref
        col_w = list(prefs)
        labels = [i for i in range(n) if i not in vcols and i not in value_cols]
        need = sum(fulls[i] - prefs[i] for i in labels)
        if need > 0:
            t = min(1.0, extra / need)
            for i in labels:
                col_w[i] += (fulls[i] - prefs[i]) * t
            extra -= need * t
        grow = [i for i in range(n) if i not in vcols] or list(range(n))
        tot = sum(col_w[i] for i in grow)
        for i in grow:  # part in proportion to the width, most in equal shares
            col_w[i] += extra * (0.3 * col_w[i] / tot + 0.7 / len(grow))
    elif smin <= width:
        t = (width - smin) / (spref - smin)
        col_w = [m + (p - m) * t for m, p in zip(mins, prefs)]
    else:
        col_w = [m * width / smin for m in mins]
    # Wrap every cell to its width.
    geoms: list[_CellGeom] = []
    header_rows = _header_rows(table)
    for c in table.cells:
        w = sum(col_w[c.col:c.col + c.colspan]) - 2 * pad
        t = c.text.strip()
        vertical = c.colspan == 1 and c.col in vcols and bool(t)
        if vertical:
            lines = [ch for ch in t if not ch.isspace()]
            content = len(lines) * size * 1.08 + 2 * pad
        else:
            lines = wrap(t, w, size, latin) if t else []
            content = len(lines) * line_h + 2 * pad
        if c.role in ("header", "corner", "value") or vertical:
            align = "center"
        elif c.role == "group_label":
            full_row = c.colspan >= table.n_cols or c.colspan > 1 and c.rowspan == 1
            align = "center" if full_row or style.label_align == "center" or len(lines) > 1 else "left"
        else:
            align = style.label_align
        geoms.append(_CellGeom(c, vertical, lines, align, content))
    # Row heights: the tallest single-row cell, then merged cells spread what they still need.
    row_roles: dict[int, set[str]] = {}
    for c in table.cells:
        row_roles.setdefault(c.row, set()).add(c.role)
    row_h = []
    for r in range(table.n_rows):
        is_header = r < header_rows or row_roles.get(r, {"value"}) <= {"header", "corner"}
        row_h.append((style.header_row_min if is_header else style.row_min) * size)
    for g in geoms:
        if g.cell.rowspan == 1 and g.cell.row < table.n_rows:
            row_h[g.cell.row] = max(row_h[g.cell.row], g.content_h)
    for g in sorted(geoms, key=lambda g: g.cell.rowspan):
        if g.cell.rowspan > 1:
            rows = range(g.cell.row, min(g.cell.row + g.cell.rowspan, table.n_rows))
            have = sum(row_h[r] for r in rows)
            if have < g.content_h:
                for r in rows:
                    row_h[r] += (g.content_h - have) / len(rows)
    return _TableGeom(table, size, col_w, row_h, geoms, header_rows, line_h, pad)


# ---------------------------------------------------------------------------------------------
# The flow: paragraphs and tables onto pages
# ---------------------------------------------------------------------------------------------

class _Flow:
    def __init__(self, canvas: _Canvas, style: PdfStyle, rng: np.random.Generator):
        self.c = canvas
        self.s = style
        self.rng = rng
        self.turn = "none"  # the quarter turn of the pages being filled (see PdfOptions.turned_tables)
        self.back_to_portrait = False  # a turned table was printed: the next block starts a portrait page
        self._set_frame()
        self.page = canvas.new_page()
        self.y = self.top
        self.values: list[CellBox] = []
        self.cells: list[CellBox] = []
        self.tables: list[dict] = []

    def _set_frame(self) -> None:
        w, h = self.s.page_size
        if self.turn != "none":
            w, h = h, w
        left, top, right, bottom = self.s.margins
        self.x0, self.x1 = left, w - right
        self.top, self.bottom = top, h - bottom

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    def next_page(self) -> None:
        self.page = self.c.new_page(self.turn)
        self.y = self.top

    def turn_pages(self, turn: str) -> None:
        """Fill pages turned ``turn`` from here on, starting a page unless this one is still empty."""
        self.back_to_portrait = False
        if turn == self.turn:
            return
        self.turn = turn
        self._set_frame()
        if self.y > self.top or any(self.c.texts[self.page]) or self.c.segments[self.page]:
            self.next_page()
        else:
            self.c.turns[self.page] = turn
            self.y = self.top

    # Paragraphs ---------------------------------------------------------------------------
    def paragraph(self, para: Paragraph, keep_with_next: float = 0.0, next_kind: Optional[str] = None,
                  after_title: bool = False) -> None:
        s = self.s
        kind = para.kind
        text = para.text.strip()
        if not text:
            return
        if self.back_to_portrait:
            self.turn_pages("none")
        bold = False
        if kind == "title":
            size, align, indent = s.title_size, "center", 0.0
            bold = True
            pitch = size * 1.45
        elif kind == "heading":
            size, align, indent = s.heading_size, "left", s.indent_chars * s.body_size
            bold = s.bold_headings
            pitch = s.body_size * s.line_spacing
        elif kind == "date" and after_title:
            size, align, indent = s.body_size, "center", 0.0
            pitch = s.body_size * s.line_spacing
        elif kind in ("signature", "date"):
            size, align, indent = s.body_size, "right", 0.0
            pitch = s.body_size * s.line_spacing
        else:
            size, align, indent = s.body_size, "left", s.indent_chars * s.body_size
            pitch = s.body_size * s.line_spacing
        avail = self.width  # a left-aligned paragraph's first-line indent is taken by _wrap_para
        if kind in ("signature", "date") and align == "right":
            avail = self.width - 2 * s.body_size
        lines = self._wrap_para(text, avail, size, indent if align == "left" else 0.0)
        if kind == "title" and len(lines) > 1:
            # A title wrapped over k lines is balanced (no orphan character on the last line).
            k = len(lines)
            total = text_width(text, size, s.latin_font)
            for slack in (0.0, 0.5, 1.0, 2.0, 3.0):
                trial = wrap(text, total / k + slack * size, size, s.latin_font)
                if len(trial) <= k:
                    lines = trial
                    break
        if kind == "title" and self.y == self.top:
            self.y += size * 0.3
        need_first = pitch + keep_with_next
        if self.y + need_first > self.bottom and self.y > self.top:
            self.next_page()
        for i, line in enumerate(lines):
            if self.y + pitch > self.bottom + 0.01:
                self.next_page()
            baseline = self.y + (pitch + size) / 2 - 0.2 * size
            lw = text_width(line, size, s.latin_font)
            if align == "center":
                x = self.x0 + (self.width - lw) / 2
            elif align == "right":
                x = self.x1 - 2 * s.body_size - lw
            else:
                x = self.x0 + (indent if i == 0 else 0.0)
            box = self.c.text(self.page, x, baseline, line, size, bold=bold)
            self.c.lines.append(LineBox(self.page + 1, box, line, kind))
            self.y += pitch
        gap = s.paragraph_gap * s.body_size
        if kind == "title" and next_kind != "title":
            gap = max(gap, 0.6 * size)
        elif kind in ("signature", "date") or next_kind == "title":
            gap = 0.0
        self.y += gap

    def _wrap_para(self, text: str, width: float, size: float, indent: float) -> list[str]:
        # The first line is shorter by the indent: wrap with a placeholder of that width.
        if indent <= 0:
            return [ln for ln in wrap(text, width, size, self.s.latin_font)]
        pad_chars = int(round(indent / size))
        lines = wrap("\u3000" * pad_chars + text, width + 0.0, size, self.s.latin_font)
        if lines:
            lines[0] = lines[0][pad_chars:] if lines[0].startswith("\u3000" * pad_chars) else lines[0].lstrip("\u3000")
        return lines

    # Tables -------------------------------------------------------------------------------
    def table(self, table: PrintedTable) -> None:
        s = self.s
        if s.turned_tables != "none":
            self.turn_pages(s.turned_tables)
        elif self.back_to_portrait:
            self.turn_pages("none")
        frame_w = self.c.frame_size(self.page)[0]
        width = min(self.width * s.table_width, frame_w - 50.0)
        geom = _layout_table(table, s, width, self.rng)
        tw = sum(geom.col_w)
        tx0 = self.x0 + (self.width - tw) / 2
        col_x = [tx0]
        for w in geom.col_w:
            col_x.append(col_x[-1] + w)
        n = table.n_rows
        hdr = geom.header_rows
        forced = table.break_before_row if table.break_before_row and 0 < table.break_before_row < n else None
        if forced is not None:
            repeat = max(0, min(table.repeat_header_rows, hdr if hdr else table.repeat_header_rows))
        else:
            repeat = hdr if (s.repeat_header and hdr) else 0
        repeat = min(repeat, n - 1)
        self.y += 0.3 * s.body_size
        # Keep the header with at least one body row; a small table stays whole.
        body = self.bottom - self.top
        lead = max(hdr, _lead_rows(table))
        first_block = sum(geom.row_h[: min(n, lead + 1)])
        if n <= 8 and sum(geom.row_h) <= body:
            first_block = sum(geom.row_h)
        # A forced break is taken where it ends a page: honoured when the rows before it fill the
        # page (or always, with forced_breaks="honour"); otherwise the table breaks where the page ends.
        if forced is not None and s.forced_breaks != "natural":
            before = sum(geom.row_h[:forced])
            honour = s.forced_breaks == "honour"
            if self.y + first_block <= self.bottom and self.y + before <= self.bottom:
                use = honour or self.bottom - (self.y + before) < _FORCED_GAP * body
            elif before <= body:
                use = honour or body - before < _FORCED_GAP * body
                if use:
                    first_block = max(first_block, before)
            else:
                use = False
            if not use:
                forced = None
        elif forced is not None:
            forced = None
        split = s.split_table if s.split_table and s.split_table[0] == table.name and n > lead + 2 else None
        if split is not None:
            # Start the table low on this page: the header and a few body rows (fewer where less
            # room is left, at least one) fit, the rest breaks; no room for one: as usual.
            forced = None
            k = max(1, split[1])
            while k > 1 and self.y + sum(geom.row_h[: min(n - 1, lead + k)]) > self.bottom:
                k -= 1
            need = sum(geom.row_h[: min(n - 1, lead + k)]) + 0.5
            if self.y + need <= self.bottom:
                self.y = self.bottom - need
            elif self.y + first_block > self.bottom and self.y > self.top:
                self.next_page()
        elif self.y + first_block > self.bottom and self.y > self.top:
            self.next_page()
        # Rows with no value (a 第二十条 line, header rows) that end a page move on with the next row.
        has_value = {c.row for c in table.cells if c.role in ("value", "row_label")}
        # Fragments: (page, [(grid_row, y, repeated)]).
        frags: list[tuple[int, list[tuple[int, float, bool]]]] = [(self.page, [])]
        breaks: list[int] = []
        y = self.y
        for r in range(n):
            h = geom.row_h[r]
            rows = frags[-1][1]
            body_rows = [x for x in rows if not x[2]]
            must = forced is not None and r == forced and body_rows
            if (y + h > self.bottom + 0.01 and body_rows) or must:
                carry = []
                while not must and rows and not rows[-1][2] and rows[-1][0] not in has_value \
                        and any(x[0] in has_value for x in rows[:-1] if not x[2]):
                    carry.insert(0, rows.pop()[0])
                self.next_page()
                y = self.y
                frags.append((self.page, []))
                breaks.append(carry[0] if carry else r)
                for hr in range(repeat):
                    frags[-1][1].append((hr, y, True))
                    y += geom.row_h[hr]
                for cr in carry:
                    frags[-1][1].append((cr, y, False))
                    y += geom.row_h[cr]
            frags[-1][1].append((r, y, False))
            y += h
        self.y = y
        self._draw_table(geom, col_x, frags)
        self.tables.append(dict(
            name=table.name, pages=[p + 1 for p, _ in frags], breaks=breaks,
            repeated_header_rows=repeat if breaks else 0, font_size=geom.size,
            forced_break=forced if forced is not None and forced in breaks else None,
        ))
        self.y += 0.5 * s.body_size
        self.back_to_portrait = self.turn != "none"

    def _draw_table(self, geom: _TableGeom, col_x: list[float], frags) -> None:
        s = self.s
        c = self.c
        table = geom.table
        # Per cell: its pieces (page, top, bottom, repeated) in page order.
        pieces: dict[int, list[tuple[int, float, float, bool]]] = {}
        for page, rows in frags:
            pos = {(r, rep): yy for r, yy, rep in rows}
            for i, g in enumerate(geom.cells):
                cell = g.cell
                span = range(cell.row, min(cell.row + cell.rowspan, table.n_rows))
                for rep in (False, True):
                    ys = [(pos[(r, rep)], pos[(r, rep)] + geom.row_h[r]) for r in span if (r, rep) in pos]
                    if ys:
                        pieces.setdefault(i, []).append((page, min(a for a, _ in ys), max(b for _, b in ys), rep))
        for page, rows in frags:
            if not rows:
                continue
            top = min(yy for _, yy, _ in rows)
            bot = max(yy + geom.row_h[r] for r, yy, _ in rows)
            if s.thick_outer_border:
                w = s.outer_line
                c.hline(page, col_x[0], col_x[-1], top, w)
                c.hline(page, col_x[0], col_x[-1], bot, w)
                c.vline(page, col_x[0], top, bot, w)
                c.vline(page, col_x[-1], top, bot, w)
        for i, g in enumerate(geom.cells):
            cell = g.cell
            plist = pieces.get(i, [])
            if not plist:
                continue
            x0 = col_x[cell.col]
            x1 = col_x[min(cell.col + cell.colspan, len(col_x) - 1)]
            # Where the text goes: the first piece that holds it (a cut label may repeat).
            first_fit = 0
            for j, (_page, top, bot, _rep) in enumerate(plist):
                if bot - top + 0.5 >= g.content_h:
                    first_fit = j
                    break
            else:
                first_fit = max(range(len(plist)), key=lambda j: plist[j][2] - plist[j][1])
            for j, (page, top, bot, rep) in enumerate(plist):
                w = s.thin_line
                c.hline(page, x0, x1, top, w)
                c.hline(page, x0, x1, bot, w)
                c.vline(page, x0, top, bot, w)
                c.vline(page, x1, top, bot, w)
                if s.header_shading and cell.role in ("header", "corner"):
                    c.fill(page, (x0, top, x1, bot), s.shading_color)
                fits = bot - top + 0.5 >= g.content_h
                printed = j == first_fit or rep or (
                    s.repeat_group_labels and fits and cell.role in ("group_label", "row_label") and cell.key is None)
                bbox = None
                text = ""
                if printed and g.lines:
                    bbox = self._cell_text(page, g, geom, x0, x1, top, bot)
                    text = cell.text.strip()
                piece = CellBox(table.name, cell.row, cell.col, cell.role, cell.key, page + 1, bbox,
                                (x0, top, x1, bot), text, continued=(j != first_fit) or rep)
                self.cells.append(piece)
                if cell.key and not rep and j == first_fit:
                    self.values.append(piece)

    def _cell_text(self, page: int, g: _CellGeom, geom: _TableGeom, x0, x1, top, bot) -> Box:
        size = geom.size
        pad = geom.pad
        c = self.c
        boxes = []
        if g.vertical:
            pitch = size * 1.08
            fit = (bot - top - 2 * pad) / max(1, len(g.lines))
            pitch = min(pitch, max(fit, size * 0.9))
            total = pitch * len(g.lines)
            y = top + (bot - top - total) / 2
            for ch in g.lines:
                cw = text_width(ch, size, self.s.latin_font)
                baseline = y + (pitch + size) / 2 - 0.2 * size
                box = c.text(page, (x0 + x1 - cw) / 2, baseline, ch, size)
                boxes.append(box)
                y += pitch
            bb = (min(b[0] for b in boxes), boxes[0][1], max(b[2] for b in boxes), boxes[-1][3])
            c.lines.append(LineBox(page + 1, bb, "".join(g.lines), "cell", vertical=True))
            return bb
        pitch = geom.line_h
        total = pitch * len(g.lines)
        y = top + (bot - top - total) / 2
        for line in g.lines:
            lw = text_width(line, size, self.s.latin_font)
            if g.align == "center":
                x = (x0 + x1 - lw) / 2
            else:
                x = x0 + pad
            baseline = y + (pitch + size) / 2 - 0.2 * size
            box = c.text(page, x, baseline, line, size)
            c.lines.append(LineBox(page + 1, box, line, "cell"))
            boxes.append(box)
            y += pitch
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))

    # Footer -------------------------------------------------------------------------------
    def footers(self) -> None:
        s = self.s
        if s.page_numbers == "none":
            return
        size = s.footer_size
        left, _top, right, _bottom = s.margins
        for p in range(self.c.n):
            w, h = self.c.frame_size(p)  # a turned page's number is turned with it
            label = s.page_number_format.format(n=p + 1)
            lw = text_width(label, size, s.latin_font)
            if s.page_numbers == "center":
                x = (w - lw) / 2
            elif (p + 1) % 2 == 1:
                x = w - right - lw - size
            else:
                x = left + size
            baseline = h - s.margins[3] / 2 + size / 3
            box = self.c.text(p, x, baseline, label, size)
            self.c.lines.append(LineBox(p + 1, box, label, "page_number"))


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

def _keep_with_next(blocks: list, i: int, style: PdfStyle) -> float:
    """A heading right before a table keeps with the table's first rows."""
    if i + 1 < len(blocks) and isinstance(blocks[i + 1], PrintedTable):
        return 4 * style.table_size * style.row_min
    if i + 1 < len(blocks):
        return style.body_size * style.line_spacing
    return 0.0


def render_pdf(report: SyntheticReport, path: Path, rng: np.random.Generator,
               options: Optional[PdfOptions] = None) -> PdfRenderInfo:
    """Write ``report`` as a digital PDF at ``path``; return where every value (and line) landed."""
    style, canvas, flow = lay_out(report, rng, options)
    doc = canvas.finish()
    doc.subset_fonts()
    doc.set_metadata({})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path), garbage=4, deflate=True, no_new_id=True)
    n_pages = doc.page_count
    doc.close()
    info = PdfRenderInfo(
        n_pages=n_pages, page_size=tuple(style.page_size), values=flow.values, cells=flow.cells,
        lines=canvas.lines, tables=flow.tables, style=style,
        turned_pages={p + 1: t for p, t in enumerate(canvas.turns) if t != "none"},
    )
    return boxes_on_pages(info)


def _map_boxes(info: PdfRenderInfo, to: Callable[[Box, str, float, float], Box]) -> None:
    """Apply ``to`` to every box on a turned page (a value piece is also in ``cells``: mapped once)."""
    w, h = info.page_size
    seen: set[int] = set()
    for piece in info.cells + info.values:
        turn = info.turned_pages.get(piece.page, "none")
        if id(piece) in seen or turn == "none":
            continue
        seen.add(id(piece))
        piece.cell_bbox = to(piece.cell_bbox, turn, w, h)
        if piece.bbox is not None:
            piece.bbox = to(piece.bbox, turn, w, h)
    for line in info.lines:
        turn = info.turned_pages.get(line.page, "none")
        if turn != "none":
            line.bbox = to(line.bbox, turn, w, h)


def boxes_on_pages(info: PdfRenderInfo) -> PdfRenderInfo:
    """The info with the boxes of turned pages (laid out in their landscape frame) put on the page."""
    _map_boxes(info, turn_to_page)
    return info


def in_reading_frame(info: PdfRenderInfo) -> PdfRenderInfo:
    """A copy of the info with the boxes of turned pages in their landscape frame again, so that they
    sort in the order a reader reads them (token labels: ``align.pdf_units``)."""
    import copy

    frame = copy.deepcopy(info)
    _map_boxes(frame, page_to_frame)
    return frame


def page_to_frame(box: Box, turn: str, width: float, height: float) -> Box:
    """The inverse of :func:`turn_to_page`."""
    x0, top, x1, bottom = box
    if turn == "ccw":
        return (height - bottom, x0, height - top, x1)
    if turn == "cw":
        return (top, width - x1, bottom, width - x0)
    return box


def lay_out(report: SyntheticReport, rng: np.random.Generator,
            options: Optional[PdfOptions] = None) -> tuple[PdfStyle, _Canvas, _Flow]:
    """Lay the report out on pages (the drawing recorded, nothing written): shared with the OFD render."""
    style = _resolve(options or PdfOptions(), rng)
    canvas = _Canvas(style)
    flow = _Flow(canvas, style, rng)
    blocks = list(report.blocks)
    prev_kind = None
    for i, block in enumerate(blocks):
        if isinstance(block, PrintedTable):
            flow.table(block)
            prev_kind = "table"
        else:
            if style.turned_tables != "none" and block.kind == "heading" and i + 1 < len(blocks) \
                    and isinstance(blocks[i + 1], PrintedTable):
                flow.turn_pages(style.turned_tables)  # a landscape section starts at its table's heading
            keep = _keep_with_next(blocks, i, style) if block.kind == "heading" else 0.0
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            next_kind = nxt.kind if isinstance(nxt, Paragraph) else ("table" if nxt is not None else None)
            flow.paragraph(block, keep_with_next=keep, next_kind=next_kind, after_title=prev_kind == "title")
            prev_kind = block.kind
    flow.footers()
    return style, canvas, flow
