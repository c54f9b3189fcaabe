"""Digital PDF: per page, ruled tables as grids and the remaining text as lines, top to bottom.

pdfplumber gives characters with positions and the page's ruling (lines, rectangles). Ruled
tables come from ``find_tables`` (lines strategy) run on the *visible* rulings only: Word's PDF
export draws an invisible white rectangle behind every line of prose, which pdfplumber would
otherwise read as a one-column table. A found table still counts as a table only if most of its
rows have two or more cells; a box drawn around prose is emitted as lines.

Text lines are built from characters: a horizontal gap wider than 1.5 em becomes a TAB (so a
table without rulings still yields tab-separated cells), a smaller gap becomes a space, except
between two CJK characters at normal spacing, where it is nothing.

A table turned a quarter turn on a portrait page (a landscape table in a portrait document) has
characters whose text matrix is turned (``char_direction``): they, and the ruled tables that hold
most of them, are read in their own upright frame (``Turn``) and their boxes put back on the page.

The grid path after pdfplumber (``page_blocks``, ``tables_from_edges``) takes plain character and
edge dicts, so the OFD reader shares it.

A page whose text layer is missing or garbled is marked ``needs_ocr`` and its text is not
emitted; the document is still returned (a later stage decides what to do).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from nianbao.document import BBox, Block, Cell, Document, Line, Page, Table
from nianbao.errors import ReadError

from .options import ReaderOptions

Char = dict[str, Any]
Box = tuple[float, float, float, float]

# Gap thresholds in em (the font size of the two characters).
_TAB_GAP = 1.5
_SPACE_GAP = 0.2
_CJK_SPACE_GAP = 0.5  # CJK text is often letter-spaced; below this a gap is not a space
# Cell edges closer than this (points) are the same grid line.
_EDGE_TOL = 1.0
# A leading/trailing run of full-width one-cell rows with this many text lines is prose that
# shares a frame with the table, not a table heading.
_FRAME_PROSE_LINES = 3

# OCR triggers.
_MIN_TEXT_CHARS = 20
_CID_SHARE = 0.10
_BAD_SHARE = 0.30
_SCAN_IMAGE_SHARE = 0.30  # share of the page area covered by images


# ---------------------------------------------------------------------------------------------
# Characters and lines
# ---------------------------------------------------------------------------------------------

def _is_cjk(ch: str) -> bool:
    if not ch:
        return False
    o = ord(ch[0])
    return (
        0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF
        or 0x20000 <= o <= 0x2FA1F or 0xF900 <= o <= 0xFAFF
    )


def _em(a: Char, b: Char) -> float:
    size = max(float(a.get("size") or 0), float(b.get("size") or 0))
    if size <= 0:
        size = max(a["bottom"] - a["top"], b["bottom"] - b["top"])
    return max(size, 1.0)


def _group_lines(chars: Iterable[Char]) -> list[list[Char]]:
    """Cluster characters into visual lines (by vertical centre), each sorted left to right."""
    items = sorted(chars, key=lambda c: (c["top"] + c["bottom"]) / 2)
    lines: list[list[Char]] = []
    mid = half = 0.0
    for ch in items:
        c_mid = (ch["top"] + ch["bottom"]) / 2
        c_half = max((ch["bottom"] - ch["top"]) / 2, 0.5)
        if lines and abs(c_mid - mid) <= max(half, c_half):
            lines[-1].append(ch)
            continue
        lines.append([ch])
        mid, half = c_mid, c_half
    for line in lines:
        line.sort(key=lambda c: c["x0"])
    return lines


def _line_text(line: Sequence[Char]) -> str:
    """Join a line's characters, turning gaps into nothing, a space or a TAB."""
    out: list[str] = []
    prev: Optional[Char] = None
    saw_space = False
    for ch in line:
        text = ch["text"]
        if not text.strip():
            saw_space = prev is not None
            continue
        if prev is not None:
            gap = ch["x0"] - prev["x1"]
            em = _em(prev, ch)
            # Fake bold: the same glyph drawn twice at a small offset.
            if text == prev["text"] and abs(ch["x0"] - prev["x0"]) < 0.25 * em:
                continue
            if gap > _TAB_GAP * em:
                out.append("\t")
            elif _is_cjk(prev["text"][-1]) and _is_cjk(text[0]):
                if gap > _CJK_SPACE_GAP * em:
                    out.append(" ")
            elif saw_space or gap > _SPACE_GAP * em:
                out.append(" ")
        out.append(text)
        prev = ch
        saw_space = False
    return "".join(out).strip()


def _bbox(chars: Sequence[Char]) -> BBox:
    return BBox(
        min(c["x0"] for c in chars), min(c["top"] for c in chars),
        max(c["x1"] for c in chars), max(c["bottom"] for c in chars),
    )


def _lines(chars: Iterable[Char], page: int) -> list[Line]:
    out = []
    for group in _group_lines(chars):
        text = _line_text(group)
        if text:
            out.append(Line(text=text, page=page, bbox=_bbox(group)))
    return out


def _join_cell_lines(texts: Sequence[str]) -> str:
    """A cell's wrapped lines: CJK wraps join directly, anything else with a space."""
    out = ""
    for t in texts:
        t = t.replace("\t", " ")
        if not t:
            continue
        if out and not (_is_cjk(out[-1]) and _is_cjk(t[0])):
            out += " "
        out += t
    return out


# ---------------------------------------------------------------------------------------------
# Text-layer quality
# ---------------------------------------------------------------------------------------------

def _is_bad_char(ch: str) -> bool:
    o = ord(ch)
    return ch == "\ufffd" or 0xE000 <= o <= 0xF8FF or 0xF0000 <= o


def ocr_reason(chars: Sequence[Char], image_share: float, n_curves: int) -> Optional[str]:
    """Why this page's text layer cannot be used, or None when it can."""
    texts = [c["text"] for c in chars if c["text"].strip()]
    n = len(texts)
    cid = sum(1 for t in texts if t.startswith("(cid:"))
    if cid >= 5 and cid >= _CID_SHARE * n:
        return "garbled text layer (cid)"
    if n < _MIN_TEXT_CHARS:
        # A scan (an image over much of the page; a small seal or logo is not one) or text
        # drawn as outlines, with (almost) no characters.
        if image_share >= _SCAN_IMAGE_SHARE or n_curves > 200:
            return "no text layer"
        return None
    singles = "".join(t for t in texts if not t.startswith("(cid:"))
    if not singles:
        return None
    bad = sum(1 for ch in singles if _is_bad_char(ch))
    if bad >= _BAD_SHARE * len(singles):
        return "mojibake"
    # GBK bytes shown through a Latin-1 font mapping: accented Latin, almost no CJK.
    latin1 = sum(1 for ch in singles if 0x80 <= ord(ch) <= 0xFF)
    cjk = sum(1 for ch in singles if _is_cjk(ch))
    if latin1 >= _BAD_SHARE * len(singles) and cjk < 0.05 * len(singles):
        return "mojibake"
    return None


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------

def _is_white(color: Any) -> bool:
    if color is None:
        return False
    if isinstance(color, (int, float)):
        color = (color,)
    try:
        values = [float(v) for v in color]
    except (TypeError, ValueError):
        return False
    if len(values) == 1:
        return values[0] >= 0.95
    if len(values) == 3:
        return min(values) >= 0.95
    if len(values) == 4:  # CMYK: white is no ink
        return max(values) <= 0.05
    return False


def _visible_ruling(obj: dict[str, Any]) -> bool:
    """Drop rectangles nobody can see (white fill, no stroke): they are not table rulings."""
    if obj.get("object_type") != "rect":
        return True
    if obj.get("stroke"):
        return True
    return bool(obj.get("fill")) and not _is_white(obj.get("non_stroking_color"))


def _cluster(values: Iterable[float]) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > _EDGE_TOL:
            out.append(v)
    return out


def _index(edges: list[float], v: float) -> int:
    i = bisect.bisect_left(edges, v - _EDGE_TOL)
    return min(i, len(edges) - 1)


class _Grid:
    """A found table's cell boxes placed on the grid of their distinct x and y edges."""

    def __init__(self, boxes: Sequence[tuple[float, float, float, float]]):
        self.xs = _cluster(v for b in boxes for v in (b[0], b[2]))
        self.ys = _cluster(v for b in boxes for v in (b[1], b[3]))
        self.cells: list[Cell] = []
        for x0, top, x1, bottom in boxes:
            c0, r0 = _index(self.xs, x0), _index(self.ys, top)
            c1, r1 = _index(self.xs, x1), _index(self.ys, bottom)
            self.cells.append(Cell(
                text="", row=r0, col=c0, rowspan=max(1, r1 - r0), colspan=max(1, c1 - c0),
                bbox=BBox(x0, top, x1, bottom),
            ))
        self.n_rows = max(1, len(self.ys) - 1)
        self.n_cols = max(1, len(self.xs) - 1)
        self._at: dict[tuple[int, int], Cell] = {}
        for cell in self.cells:
            for r in range(cell.row, cell.row + cell.rowspan):
                for c in range(cell.col, cell.col + cell.colspan):
                    self._at.setdefault((r, c), cell)

    def covering(self, row: int) -> list[Cell]:
        return [c for c in self.cells if c.row <= row < c.row + c.rowspan]

    def cell_at(self, x: float, y: float) -> Optional[Cell]:
        col = min(bisect.bisect_right(self.xs, x) - 1, self.n_cols - 1)
        row = min(bisect.bisect_right(self.ys, y) - 1, self.n_rows - 1)
        return self._at.get((row, col))


def _center_in(ch: Char, box: tuple[float, float, float, float]) -> bool:
    x = (ch["x0"] + ch["x1"]) / 2
    y = (ch["top"] + ch["bottom"]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _frame_prose_rows(grid: _Grid, chars: Sequence[Char]) -> set[int]:
    """Rows at the top/bottom that are prose sharing the table's frame (see _FRAME_PROSE_LINES)."""

    def full_width_single(row: int) -> Optional[Cell]:
        cov = grid.covering(row)
        if len(cov) == 1 and cov[0].colspan == grid.n_cols and cov[0].rowspan == 1:
            return cov[0]
        return None

    def n_lines(cell: Cell) -> int:
        box = (cell.bbox.x0, cell.bbox.top, cell.bbox.x1, cell.bbox.bottom)  # type: ignore[union-attr]
        return len(_group_lines(c for c in chars if _center_in(c, box)))

    prose: set[int] = set()
    for order in (range(grid.n_rows), range(grid.n_rows - 1, -1, -1)):
        run: list[int] = []
        lines = 0
        for r in order:
            cell = full_width_single(r)
            if cell is None:
                break
            run.append(r)
            lines += n_lines(cell)
        if lines >= _FRAME_PROSE_LINES:
            prose.update(run)
    return prose


def _table_block(
    boxes: Sequence[tuple[float, float, float, float]], chars: Sequence[Char], page: int
) -> tuple[Optional[Table], list[Char]]:
    """Turn found cell boxes into a Table (or None when it is not a real grid).

    Returns the table and the characters that are *not* part of it (they become lines).
    """
    grid = _Grid(boxes)
    inside = list(chars)
    prose_rows = _frame_prose_rows(grid, inside)
    if prose_rows:
        kept = [c for c in grid.cells if c.row not in prose_rows]
        if not kept:
            return None, list(inside)
        grid = _Grid([(c.bbox.x0, c.bbox.top, c.bbox.x1, c.bbox.bottom) for c in kept])  # type: ignore[union-attr]
    multi = sum(1 for r in range(grid.n_rows) if len(grid.covering(r)) >= 2)
    if multi * 2 < grid.n_rows:
        return None, list(inside)

    table_box = (grid.xs[0], grid.ys[0], grid.xs[-1], grid.ys[-1])
    per_cell: dict[int, list[Char]] = {}
    leftover: list[Char] = []
    for ch in inside:
        x = (ch["x0"] + ch["x1"]) / 2
        y = (ch["top"] + ch["bottom"]) / 2
        cell = grid.cell_at(x, y) if _center_in(ch, table_box) else None
        if cell is None:
            leftover.append(ch)
        else:
            per_cell.setdefault(id(cell), []).append(ch)
    for cell in grid.cells:
        texts = [_line_text(g) for g in _group_lines(per_cell.get(id(cell), []))]
        cell.text = _join_cell_lines(texts)
    cells = sorted(grid.cells, key=lambda c: (c.row, c.col))
    return Table(cells=cells, page=page, bbox=BBox(*table_box)), leftover


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------

def _image_share(page: Any) -> float:
    x0, top, x1, bottom = page.bbox
    area = max((x1 - x0) * (bottom - top), 1.0)
    covered = 0.0
    for im in page.images:
        w = min(im["x1"], x1) - max(im["x0"], x0)
        h = min(im["bottom"], bottom) - max(im["top"], top)
        if w > 0 and h > 0:
            covered += w * h
    return min(covered / area, 1.0)


def _find_tables(page: Any) -> list[Any]:
    visible = page.filter(_visible_ruling)
    # find_tables is the slow part; a page with no visible rulings has no ruled table.
    if not visible.edges:
        return []
    try:
        return list(visible.find_tables())
    except MemoryError:
        raise  # a cap, not odd geometry
    except Exception:  # odd geometry must not lose the page's text: read it without tables
        return []


@dataclass(frozen=True)
class FoundTable:
    """A ruled table found from ruling lines: its box and its cell boxes (x0, top, x1, bottom)."""

    bbox: Box
    cells: list[Box]


def tables_from_edges(edges: Sequence[dict[str, Any]]) -> list[FoundTable]:
    """Ruled tables from ruling-line edges, by pdfplumber's own lines strategy (default tolerances).

    For readers that have ruling lines but no pdfplumber page (OFD). An edge is a dict with x0,
    x1, top, bottom, width, height, orientation ("h" or "v") and object_type.
    """
    from pdfplumber import table as pt
    from pdfplumber.utils import filter_edges

    settings = pt.TableSettings.resolve(None)
    merged = pt.merge_edges(
        list(edges), snap_x_tolerance=settings.snap_x_tolerance, snap_y_tolerance=settings.snap_y_tolerance,
        join_x_tolerance=settings.join_x_tolerance, join_y_tolerance=settings.join_y_tolerance,
    )
    merged = filter_edges(merged, min_length=settings.edge_min_length)
    points = pt.edges_to_intersections(merged, settings.intersection_x_tolerance, settings.intersection_y_tolerance)
    out = []
    for group in pt.cells_to_tables(pt.intersections_to_cells(points)):
        boxes = [tuple(float(v) for v in b) for b in group]
        bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        out.append(FoundTable(bbox=bbox, cells=boxes))  # type: ignore[arg-type]
    return out


# ---------------------------------------------------------------------------------------------
# Text turned 90 degrees (a landscape table printed on a portrait page)
# ---------------------------------------------------------------------------------------------

# A character's direction from its text matrix (a, b, c, d): upright text has b = c = 0.
UPRIGHT, CCW, CW = "upright", "ccw", "cw"  # ccw: reads bottom to top; cw: reads top to bottom


def char_direction(ch: Char) -> str:
    matrix = ch.get("matrix")
    if ch.get("upright", True) or not matrix:
        return UPRIGHT
    a, b = float(matrix[0]), float(matrix[1])
    if abs(b) <= abs(a):  # slanted or mirrored, not turned: read as it stands
        return UPRIGHT
    return CCW if b > 0 else CW


@dataclass(frozen=True)
class Turn:
    """The quarter turn that makes text of one direction upright, on a page ``width`` x ``height``.

    In the turned frame (u, v), u runs along the text and v down its lines, like x and top.
    """

    direction: str
    width: float
    height: float

    def box(self, b: Box) -> Box:
        """A page box in the turned frame."""
        x0, top, x1, bottom = b
        if self.direction == CCW:
            return (self.height - bottom, x0, self.height - top, x1)
        return (top, self.width - x1, bottom, self.width - x0)

    def back(self, b: Box) -> Box:
        """A turned-frame box on the page."""
        u0, v0, u1, v1 = b
        if self.direction == CCW:
            return (v0, self.height - u1, v1, self.height - u0)
        return (self.width - v1, u0, self.width - v0, u1)

    def char(self, ch: Char) -> Char:
        u0, v0, u1, v1 = self.box((ch["x0"], ch["top"], ch["x1"], ch["bottom"]))
        # The glyph's height across its line is its size (pdfminer gives a turned glyph's advance).
        return {**ch, "x0": u0, "top": v0, "x1": u1, "bottom": v1, "size": v1 - v0, "upright": True}


def _bbox_back(bbox: Optional[BBox], turn: Turn) -> Optional[BBox]:
    if bbox is None:
        return None
    return BBox(*turn.back((bbox.x0, bbox.top, bbox.x1, bbox.bottom)))


def _turn_blocks_back(blocks: list[Block], turn: Turn) -> None:
    """Put the boxes of blocks read in a turned frame back in page coordinates (for the review app)."""
    for block in blocks:
        block.bbox = _bbox_back(block.bbox, turn)
        if isinstance(block, Table):
            for cell in block.cells:
                cell.bbox = _bbox_back(cell.bbox, turn)


def _frame_blocks(chars: Sequence[Char], found: Iterable[Any], number: int) -> list[Block]:
    """Tables (from found cell boxes) and lines of one frame's characters, top to bottom."""
    blocks: list[Block] = []
    free = list(chars)
    for table_found in found:
        box = table_found.bbox
        in_table = [c for c in free if _center_in(c, box)]
        rest = [c for c in free if not _center_in(c, box)]
        table, leftover = _table_block(table_found.cells, in_table, number)
        if table is not None:
            blocks.append(table)
            free = rest + leftover
        else:
            free = rest + in_table
    blocks.extend(_lines(free, number))
    blocks.sort(key=lambda b: (b.bbox.top, b.bbox.x0) if b.bbox else (0.0, 0.0))
    return blocks


def page_blocks(chars: Sequence[Char], found: Sequence[Any], number: int, width: float, height: float) -> list[Block]:
    """A page's blocks from positioned characters and found ruled tables (``.bbox``, ``.cells``).

    Characters turned a quarter turn (a landscape table on a portrait page) are read in their own
    upright frame, with the tables holding most of them; their blocks keep page coordinates and
    come, in their reading order, where their region starts on the page.
    """
    by_direction: dict[str, list[Char]] = {}
    for ch in chars:
        by_direction.setdefault(char_direction(ch), []).append(ch)
    if set(by_direction) <= {UPRIGHT}:  # no turned text: one frame
        return _frame_blocks(chars, found, number)

    def majority(table: Any) -> str:
        counts: dict[str, int] = {}
        for ch in chars:
            if _center_in(ch, table.bbox):
                d = char_direction(ch)
                counts[d] = counts.get(d, 0) + 1
        return max(counts, key=lambda d: counts[d]) if counts else UPRIGHT

    tables_of: dict[str, list[Any]] = {}
    for table in found:
        tables_of.setdefault(majority(table), []).append(table)
    groups: list[tuple[float, list[Block]]] = []
    upright = _frame_blocks(by_direction.get(UPRIGHT, []), tables_of.get(UPRIGHT, []), number)
    for direction in (CCW, CW):
        turned_chars = by_direction.get(direction, [])
        if not turned_chars:
            continue
        turn = Turn(direction, width, height)
        turned_tables = [
            FoundTable(turn.box(t.bbox), [turn.box(c) for c in t.cells]) for t in tables_of.get(direction, [])
        ]
        blocks = _frame_blocks([turn.char(c) for c in turned_chars], turned_tables, number)
        _turn_blocks_back(blocks, turn)
        groups.append((min(c["top"] for c in turned_chars), blocks))
    # Upright blocks stay in page order; a turned group goes in before the first block below its start.
    out: list[Block] = []
    groups.sort(key=lambda g: g[0])
    for block in upright:
        top = block.bbox.top if block.bbox else 0.0
        while groups and groups[0][0] <= top:
            out.extend(groups.pop(0)[1])
        out.append(block)
    for _, blocks in groups:
        out.extend(blocks)
    return out


def _read_page(page: Any, number: int) -> Page:
    x0, top, x1, bottom = page.bbox
    # Characters off the visible page (hidden text outside the crop box) are not report text.
    chars: list[Char] = [
        c for c in page.chars
        if x0 - 1 <= (c["x0"] + c["x1"]) / 2 <= x1 + 1 and top - 1 <= (c["top"] + c["bottom"]) / 2 <= bottom + 1
    ]
    reason = ocr_reason(chars, _image_share(page), len(page.curves))
    if reason:
        return Page(number=number, needs_ocr=True, ocr_reason=reason)
    # Unmapped glyphs (a stray bullet or symbol) carry no text.
    chars = [c for c in chars if not c["text"].startswith("(cid:")]
    found = [FoundTable(tuple(t.bbox), [tuple(c) for c in t.cells]) for t in _find_tables(page)]  # type: ignore[arg-type]
    return Page(number=number, blocks=page_blocks(chars, found, number, float(page.width), float(page.height)))


def _open_error(path: Path, exc: BaseException) -> ReadError:
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    if isinstance(inner, (PDFPasswordIncorrect, PDFEncryptionError)):
        return ReadError("encrypted_pdf", f"{path.name} is encrypted (password-protected); it cannot be read")
    detail = f"{type(inner).__name__}: {inner}".strip()
    return ReadError("corrupt_pdf", f"{path.name} is damaged or truncated ({detail})")


def read_pdf(path: Path, options: ReaderOptions) -> Document:
    import pdfplumber

    path = Path(path)
    try:
        pdf = pdfplumber.open(str(path))
    except MemoryError:
        raise  # a cap, not damage: the pipeline reports it as ``memory``
    except Exception as exc:  # pdfplumber wraps pdfminer's errors in PdfminerException
        raise _open_error(path, exc) from exc
    with pdf:
        try:
            pdf_pages = pdf.pages
        except MemoryError:
            raise
        except Exception as exc:
            raise _open_error(path, exc) from exc
        if len(pdf_pages) > options.max_pdf_pages:
            raise ReadError(
                "too_many_pages", f"{path.name} has {len(pdf_pages)} pages, over the {options.max_pdf_pages}-page limit"
            )
        pages: list[Page] = []
        for number, page in enumerate(pdf_pages, start=1):
            try:
                pages.append(_read_page(page, number))
            except (ReadError, MemoryError):
                raise
            except Exception as exc:  # pdfminer fails in many ways on a damaged content stream
                err = _open_error(path, exc)
                raise ReadError(err.code, f"{err.message} on page {number}") from exc
            finally:
                page.close()  # drop the page's parsed objects: keeps memory flat on long files
    return Document(source=str(path), format="pdf", pages=pages)
