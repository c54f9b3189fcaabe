"""Table structure on a page image: cells from the ruling lines, or from text boxes when there are none.

Ruled tables: horizontal and vertical line masks by morphological opening (a kernel longer than
any character stroke), line segments clustered into grid lines, and each pair of neighbouring grid
cells merged when the rule between them is not printed (union-find: merged cells become one cell
with a row/col span). A table continued on the next page is simply another grid there; the locator
joins tables across blocks in reading order.

Tables without usable rules: text boxes (detected lines with their readings) are clustered into
rows by vertical overlap and into columns by the horizontal extents they share across rows.

Everything here is pure geometry on numpy arrays and plain boxes, so it is tested on synthetic
images and on recorded engine output (``tests/fixtures/ocr``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .layout import Rect


@dataclass
class GridCell:
    row: int
    col: int
    rowspan: int
    colspan: int
    rect: Rect            # pixels, the cell's area between its rules


@dataclass
class Grid:
    """One ruled table found on the page."""

    rect: Rect
    xs: list[float]
    ys: list[float]
    cells: list[GridCell] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return max(0, len(self.ys) - 1)

    @property
    def n_cols(self) -> int:
        return max(0, len(self.xs) - 1)


@dataclass
class LineMasks:
    horizontal: np.ndarray
    vertical: np.ndarray
    thickness: int


def line_masks(binary: np.ndarray, em: float) -> LineMasks:
    """Masks of horizontal and vertical rules (ink = 255)."""
    import cv2

    h_len = max(15, int(2.5 * em))
    v_len = max(12, int(1.3 * em))
    gap = max(2, int(0.25 * em))
    horiz = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (h_len, 1)))
    vert = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, v_len)))
    # Close small breaks along a rule (a scan loses pixels of thin lines).
    horiz = cv2.morphologyEx(horiz, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap, 1)))
    vert = cv2.morphologyEx(vert, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, gap)))
    vert = cv2.bitwise_or(vert, _short_verticals(binary, horiz, em, gap))
    # Typical rule thickness: ink per unit length of the horizontal rules.
    cols = np.count_nonzero(horiz, axis=0)
    thick = int(np.median(cols[cols > 0])) if np.any(cols > 0) else 2
    return LineMasks(horiz, vert, max(1, min(thick, int(em / 3) + 1)))


def _short_verticals(binary: np.ndarray, horiz: np.ndarray, em: float, gap: int) -> np.ndarray:
    """Vertical rules shorter than a rule's usual length (1.3 em of the page's text): thin straight
    runs that end on one horizontal rule at the top and on another at the bottom, as in a one-row
    strip of a table whose text is smaller than the page's. A character's stroke of that length
    does not run from one rule to the next."""
    import cv2

    out = np.zeros_like(binary)
    if not horiz.any():
        return out
    short = cv2.morphologyEx(binary, cv2.MORPH_OPEN,
                             cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(8, int(SHORT_RULE * em)))))
    short = cv2.morphologyEx(short, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, gap)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(short, connectivity=8)
    h_img = horiz.shape[0]
    touch = 3   # pixels: a rule meets the rule it ends on; a character's stroke stops short of it
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, w, h, _a = (int(v) for v in stats[i])
        # Thin, and long enough that its two ends cannot touch the same rule.
        if w > max(4, 0.25 * em) or h <= 4 * touch:
            continue
        cols = slice(x, x + w)
        top = horiz[max(0, y - touch):min(h_img, y + touch + 1), cols]
        bottom = horiz[max(0, y + h - 1 - touch):min(h_img, y + h + touch), cols]
        keep[i] = top.any() and bottom.any()
    out[keep[labels]] = 255   # one pass over the page, not one per rule kept
    return out


def bridge_rules(masks: LineMasks, discs: Sequence[np.ndarray], em: float) -> None:
    """Rules a seal broke, bridged inside its disc (in place): where a horizontal rule stops and goes
    on at the same height across the disc, or a vertical one in the same column within 1.5 em, the
    break between is rule. Only inside the disc: elsewhere a break in a rule is a merged cell."""
    import cv2

    for disc in discs:
        ys, xs = np.nonzero(disc)
        if ys.size == 0:
            continue
        # Across the disc along a row; along a column only breaks of a character's height or so (the
        # ring, a rim character over the rule): a longer one may be the space between two tables,
        # which a heading's strokes would bridge.
        span = int(max(ys.max() - ys.min(), xs.max() - xs.min())) + 1
        tall = int(1.5 * em)
        pad = int(em)
        y0, y1 = max(0, int(ys.min()) - pad), min(disc.shape[0], int(ys.max()) + pad + 1)
        x0, x1 = max(0, int(xs.min()) - pad), min(disc.shape[1], int(xs.max()) + pad + 1)
        inside = disc[y0:y1, x0:x1]
        for mask, kernel in ((masks.horizontal, (span, 1)), (masks.vertical, (1, tall))):
            sub = mask[y0:y1, x0:x1]
            closed = cv2.morphologyEx(sub, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
            sub[inside & (closed > 0)] = 255


@dataclass
class _Seg:
    pos: float      # y of a horizontal rule, x of a vertical one
    start: float
    end: float


def _segments(mask: np.ndarray, horizontal: bool, min_len: float) -> list[_Seg]:
    import cv2

    n, _labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, _a = stats[i]
        if horizontal and w >= min_len and h <= max(6, w / 8):
            out.append(_Seg(pos=float(centroids[i][1]), start=float(x), end=float(x + w)))
        elif not horizontal and h >= min_len and w <= max(6, h / 8):
            out.append(_Seg(pos=float(centroids[i][0]), start=float(y), end=float(y + h)))
    return out


def _cluster(values: Sequence[tuple[float, float]], tol: float) -> list[float]:
    """Cluster positions (with weights) into lines; returns the weighted centre of each."""
    out: list[list[tuple[float, float]]] = []
    for v, wt in sorted(values):
        if out and v - out[-1][-1][0] <= tol:
            out[-1].append((v, wt))
        else:
            out.append([(v, wt)])
    return [sum(v * w for v, w in grp) / max(1e-9, sum(w for _, w in grp)) for grp in out]


def _coverage(mask: np.ndarray, horizontal: bool, pos: float, a: float, b: float, tol: int) -> float:
    """Share of the boundary segment pos x [a, b] along which the mask has ink within tol."""
    h, w = mask.shape
    a_i, b_i = int(round(a)), int(round(b))
    if b_i <= a_i:
        return 1.0
    p = int(round(pos))
    if horizontal:
        band = mask[max(0, p - tol):min(h, p + tol + 1), max(0, a_i):min(w, b_i)]
        hits = np.count_nonzero(band.any(axis=0)) if band.size else 0
    else:
        band = mask[max(0, a_i):min(h, b_i), max(0, p - tol):min(w, p + tol + 1)]
        hits = np.count_nonzero(band.any(axis=1)) if band.size else 0
    return hits / max(1, b_i - a_i)


# The shortest vertical rule kept when it joins two horizontal rules, in ems of the page's text.
SHORT_RULE = 0.8
# A ruled strip of one row is a table when rules cut it into this many cells at least: the row a
# table carried over to the next page (Table B's last row has 8 cells, Table C's value row 15).
# A heading or a paragraph boxed by rules is cut by none.
ONE_ROW_MIN_CELLS = 5


def find_grids(binary: np.ndarray, em: float, masks: Optional[LineMasks] = None,
               sealed: Optional[np.ndarray] = None) -> list[Grid]:
    """Every ruled table on the page: a grid with at least 2 rows and 2 columns of cells, or one
    row of at least ONE_ROW_MIN_CELLS cells (the last row of a table that ran over a page).
    ``sealed``: where the page's seals are (bool), whose ring and strokes break rules (see
    ``_merge_cells``)."""
    import cv2

    masks = masks or line_masks(binary, em)
    both = cv2.bitwise_or(masks.horizontal, masks.vertical)
    # Tables are the connected groups of rules.
    join = max(3, int(0.3 * em))
    grouped = cv2.dilate(both, cv2.getStructuringElement(cv2.MORPH_RECT, (join, join)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    grids = []
    for i in range(1, n):
        x, y, w, h, _a = stats[i]
        if w < 4 * em or h < SHORT_RULE * em:
            continue
        sub = (slice(y, y + h), slice(x, x + w))
        region = labels[sub] == i
        hm = np.where(region, masks.horizontal[sub], 0).astype(np.uint8)
        vm = np.where(region, masks.vertical[sub], 0).astype(np.uint8)
        grid = _grid_from_masks(hm, vm, em, masks.thickness, None if sealed is None else sealed[sub])
        if grid is None:
            continue
        # Back to page pixels.
        grid.rect = Rect(grid.rect.x0 + x, grid.rect.y0 + y, grid.rect.x1 + x, grid.rect.y1 + y)
        grid.xs = [v + x for v in grid.xs]
        grid.ys = [v + y for v in grid.ys]
        for c in grid.cells:
            c.rect = Rect(c.rect.x0 + x, c.rect.y0 + y, c.rect.x1 + x, c.rect.y1 + y)
        grids.append(grid)
    grids.sort(key=lambda g: (g.rect.y0, g.rect.x0))
    return grids


def _grid_from_masks(hm: np.ndarray, vm: np.ndarray, em: float, thickness: int,
                     sealed: Optional[np.ndarray] = None) -> Optional[Grid]:
    tol = max(3.0, 0.35 * em)
    hsegs = _segments(hm, True, 2.5 * em)
    vsegs_all = _segments(vm, False, SHORT_RULE * em)
    if len(hsegs) < 2:
        return None
    ys = _cluster([(s.pos, s.end - s.start) for s in hsegs], tol)
    # A vertical rule runs from one horizontal rule to another; a character's stroke does not.
    # One that overshoots its last rule (a seal's stroke or dust run into it) ends at that rule.
    def between_rules(v: _Seg) -> Optional[_Seg]:
        crossed = [h.pos for h in hsegs if h.start - tol <= v.pos <= h.end + tol and v.start - tol <= h.pos <= v.end + tol]
        if len(crossed) < 2:
            return None
        return _Seg(pos=v.pos, start=max(v.start, min(crossed)), end=min(v.end, max(crossed)))

    vsegs = [c for v in vsegs_all if (c := between_rules(v)) is not None]
    if not vsegs:
        return None
    xs = _cluster([(s.pos, s.end - s.start) for s in vsegs], tol)
    # Open sides (no outer vertical rule): the horizontal rules' ends are the table's edges.
    left, right = min(s.start for s in hsegs), max(s.end for s in hsegs)
    if xs[0] - left > 1.5 * em:
        xs.insert(0, left)
    if right - xs[-1] > 1.5 * em:
        xs.append(right)
    top, bottom = min(s.start for s in vsegs), max(s.end for s in vsegs)
    if ys[0] - top > 1.0 * em:
        ys.insert(0, top)
    if bottom - ys[-1] > 1.0 * em:
        ys.append(bottom)
    # Drop grid lines closer than a character (a thick or doubled rule).
    xs = _dedupe(xs, 0.6 * em)
    ys = _dedupe(ys, 0.6 * em)
    if len(xs) < 3 or len(ys) < 2 or (len(ys) == 2 and len(xs) - 1 < ONE_ROW_MIN_CELLS):
        return None
    grid = Grid(rect=Rect(xs[0], ys[0], xs[-1], ys[-1]), xs=xs, ys=ys)
    grid.cells = _merge_cells(hm, vm, xs, ys, max(2, thickness + 1), em, sealed)
    multi = sum(1 for r in range(len(ys) - 1) if sum(1 for c in grid.cells if c.row <= r < c.row + c.rowspan) >= 2)
    if multi * 2 < len(ys) - 1:
        return None  # mostly one cell per row: a framed paragraph, not a table
    return grid


def split_sealed_cells(grid: Grid, sealed: np.ndarray) -> int:
    """Cells a seal merged, split again (in place): in a row of single cells of one width (Table C's
    values, its last header row), a cell two or three times that width that a seal covers lost
    its column rule to the seal's ring (a rule tangent to the ring goes with it). It is cut into
    that many cells of the row's width, and the grid gains the column lines; every other cell keeps
    its area. Returns the column lines added."""
    rows: dict[int, list[GridCell]] = {}
    for c in grid.cells:
        if c.rowspan == 1:
            rows.setdefault(c.row, []).append(c)
    parts: dict[int, int] = {}   # id of a cell to cut -> into how many
    for cells in rows.values():
        widths = sorted(c.rect.x1 - c.rect.x0 for c in cells)
        if len(cells) < SPLIT_MIN_CELLS:
            continue
        unit = widths[len(widths) // 2]
        if sum(1 for w in widths if abs(w - unit) <= SPLIT_WIDTH_TOL * unit) < SPLIT_REGULAR_SHARE * len(cells):
            continue
        for c in cells:
            w = c.rect.x1 - c.rect.x0
            k = int(round(w / unit))
            x0, y0, x1, y1 = (int(round(v)) for v in (c.rect.x0, c.rect.y0, c.rect.x1, c.rect.y1))
            if k in (2, 3) and abs(w - k * unit) <= SPLIT_WIDTH_TOL * unit and sealed[max(0, y0):y1, max(0, x0):x1].any():
                parts[id(c)] = k
    if not parts:
        return 0
    pieces: list[tuple[GridCell, list[float]]] = []
    xs = list(grid.xs)
    for c in grid.cells:
        k = parts.get(id(c), 1)
        edges = [c.rect.x0 + j * (c.rect.x1 - c.rect.x0) / k for j in range(k + 1)]
        pieces.append((c, edges))
        xs.extend(edges[1:-1])
    xs = _dedupe(sorted(xs), 0.25 * min(b - a for a, b in zip(grid.xs, grid.xs[1:])))

    def index(x: float) -> int:
        return min(range(len(xs)), key=lambda i: abs(xs[i] - x))

    added = len(xs) - len(grid.xs)
    cells = [GridCell(c.row, index(l), c.rowspan, max(1, index(r) - index(l)), Rect(l, c.rect.y0, r, c.rect.y1))
             for c, edges in pieces for l, r in zip(edges, edges[1:])]
    grid.xs, grid.cells = xs, sorted(cells, key=lambda c: (c.row, c.col))
    return added


def _dedupe(values: list[float], tol: float) -> list[float]:
    out: list[float] = []
    for v in values:
        if out and v - out[-1] < tol:
            out[-1] = (out[-1] + v) / 2
        else:
            out.append(v)
    return out


# A row of at least SPLIT_MIN_CELLS cells, SPLIT_REGULAR_SHARE of them of one width (within
# SPLIT_WIDTH_TOL): a row of single cells, where a seal's merged cell is cut again.
SPLIT_MIN_CELLS = 6
SPLIT_REGULAR_SHARE = 0.7
SPLIT_WIDTH_TOL = 0.15
# A row whose column lines outside a seal are ruled at this share at least is a row of single
# cells (Table C's values, its last header row): a line broken under the seal is broken, not open.
RULED_ROW_SHARE = 0.8


def _merge_cells(hm: np.ndarray, vm: np.ndarray, xs: list[float], ys: list[float], tol: int, em: float,
                 sealed: Optional[np.ndarray] = None) -> list[GridCell]:
    """The grid's cells: neighbours with no rule between them are one (merged) cell. Under a seal
    (``sealed``), a column line missing in a row whose other column lines are ruled
    (RULED_ROW_SHARE) is a rule the seal's ring or strokes broke: the cells stay apart."""
    n_r, n_c = len(ys) - 1, len(xs) - 1
    parent = list(range(n_r * n_c))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    inset = 0.25 * em
    ruled = [[_coverage(vm, False, xs[c + 1], ys[r] + inset, ys[r + 1] - inset, tol) >= 0.5 for c in range(n_c - 1)]
             for r in range(n_r)]
    seal_u8 = sealed.astype(np.uint8) if sealed is not None else None
    under_seal = [[seal_u8 is not None and _coverage(seal_u8, False, xs[c + 1], ys[r] + inset, ys[r + 1] - inset, 0) >= 0.5
                   for c in range(n_c - 1)] for r in range(n_r)]
    for r in range(n_r):
        outside = [ruled[r][c] for c in range(n_c - 1) if not under_seal[r][c]]
        single_cells = bool(outside) and sum(outside) >= RULED_ROW_SHARE * len(outside)
        for c in range(n_c):
            if c + 1 < n_c:
                if not ruled[r][c] and not (under_seal[r][c] and single_cells):
                    union(r * n_c + c, r * n_c + c + 1)
            if r + 1 < n_r:
                cov = _coverage(hm, True, ys[r + 1], xs[c] + inset, xs[c + 1] - inset, tol)
                if cov < 0.5:
                    union(r * n_c + c, (r + 1) * n_c + c)
    groups: dict[int, list[tuple[int, int]]] = {}
    for r in range(n_r):
        for c in range(n_c):
            groups.setdefault(find(r * n_c + c), []).append((r, c))
    cells = []
    for members in groups.values():
        r0 = min(m[0] for m in members)
        r1 = max(m[0] for m in members)
        c0 = min(m[1] for m in members)
        c1 = max(m[1] for m in members)
        cells.append(GridCell(row=r0, col=c0, rowspan=r1 - r0 + 1, colspan=c1 - c0 + 1,
                              rect=Rect(xs[c0], ys[r0], xs[c1 + 1], ys[r1 + 1])))
    cells.sort(key=lambda c: (c.row, c.col))
    return cells


# ---------------------------------------------------------------------------------------------
# Text inside a cell: ink lines
# ---------------------------------------------------------------------------------------------

def ink_lines(binary: np.ndarray, em: float, min_area: Optional[float] = None) -> list[Rect]:
    """Text lines inside a (cell) crop of a binary image: noise specks dropped, rows of ink grouped
    (bands merged while they stay about one character tall), then trimmed left and right."""
    import cv2

    if binary.size == 0:
        return []
    min_area = min_area if min_area is not None else max(5.0, 0.012 * em * em)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    keep = np.zeros(n, dtype=bool)
    H, W = binary.shape
    edge = max(2, int(0.2 * em))
    thin = max(2, 0.15 * em)
    for i in range(1, n):
        x, y, w, h, a = stats[i]
        if a < min_area or max(w, h) < max(3, 0.12 * em):
            continue
        # What is left of a rule along the crop's border (a thin stroke touching the edge) is not text.
        at_edge = x <= edge or y <= edge or x + w >= W - edge or y + h >= H - edge
        if at_edge and min(w, h) <= thin and max(w, h) >= 0.8 * em:
            continue
        keep[i] = True
    if not keep.any():
        return []
    clean = keep[labels]
    rows = clean.any(axis=1)
    bands: list[list[int]] = []
    y = 0
    H = len(rows)
    while y < H:
        if rows[y]:
            s = y
            while y < H and rows[y]:
                y += 1
            bands.append([s, y])
        else:
            y += 1
    # Merge pieces of one line (二, 三, accents of punctuation) while the result stays ~1 em tall.
    merged: list[list[int]] = []
    for b in bands:
        if merged:
            prev = merged[-1]
            gap = b[0] - prev[1]
            if gap < 0.45 * em and (b[1] - prev[0]) <= 1.3 * em:
                prev[1] = b[1]
                continue
        merged.append(b)
    out = []
    for s, e in merged:
        cols = np.flatnonzero(clean[s:e].any(axis=0))
        if cols.size == 0:
            continue
        out.append(Rect(float(cols[0]), float(s), float(cols[-1] + 1), float(e)))
    return out


# ---------------------------------------------------------------------------------------------
# Tables without rules: text boxes into rows and columns
# ---------------------------------------------------------------------------------------------

@dataclass
class BoxCell:
    row: int
    col: int
    colspan: int
    indices: list[int]    # text boxes in the cell, left to right


def cluster_boxes(rects: Sequence[tuple[float, float, float, float]], em: Optional[float] = None) -> list[BoxCell]:
    """Group text boxes (x0, y0, x1, y1) into table rows and columns.

    Rows: boxes whose vertical centres fall within half a line height of each other. Columns: the
    horizontal extents of all boxes, merged across rows where they overlap (a column is what
    lines up). A box spanning several column bands gets a colspan; boxes of one row in one column
    band become one cell.
    """
    if not rects:
        return []
    heights = sorted(r[3] - r[1] for r in rects)
    line_h = em or heights[len(heights) // 2]
    order = sorted(range(len(rects)), key=lambda i: (rects[i][1] + rects[i][3]) / 2)
    rows: list[list[int]] = []
    centre = 0.0
    for i in order:
        c = (rects[i][1] + rects[i][3]) / 2
        if rows and abs(c - centre) <= 0.5 * line_h:
            rows[-1].append(i)
            centre = sum((rects[j][1] + rects[j][3]) / 2 for j in rows[-1]) / len(rows[-1])
        else:
            rows.append([i])
            centre = c
    # Column bands from the rows that print the most boxes (the data rows): a header cell spanning
    # several columns, or a wide title row, must not join columns.
    most = max(len(r) for r in rows)
    multi = [i for r in rows if len(r) >= max(2, 0.6 * most) for i in r] or list(range(len(rects)))
    ints = sorted((rects[i][0], rects[i][2]) for i in multi)
    bands: list[list[float]] = []
    for a, b in ints:
        if bands and a <= bands[-1][1] - 0.1 * line_h:
            bands[-1][1] = max(bands[-1][1], b)
        else:
            bands.append([a, b])

    def band_of(x: float) -> int:
        best, dist = 0, float("inf")
        for k, (a, b) in enumerate(bands):
            d = 0.0 if a <= x <= b else min(abs(x - a), abs(x - b))
            if d < dist:
                best, dist = k, d
        return best

    cells: list[BoxCell] = []
    for r, members in enumerate(rows):
        members.sort(key=lambda i: rects[i][0])
        by_col: dict[int, BoxCell] = {}
        for i in members:
            x0, _, x1, _ = rects[i]
            c0 = band_of(x0 + 0.1 * line_h)
            c1 = band_of(x1 - 0.1 * line_h)
            c0, c1 = min(c0, c1), max(c0, c1)
            if c0 in by_col:
                cell = by_col[c0]
                cell.indices.append(i)
                cell.colspan = max(cell.colspan, c1 - c0 + 1)
            else:
                by_col[c0] = BoxCell(row=r, col=c0, colspan=c1 - c0 + 1, indices=[i])
        cells.extend(sorted(by_col.values(), key=lambda c: c.col))
    return cells
