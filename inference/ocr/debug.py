"""Pictures for people: a table page with its located regions and cells coloured by confidence.

The page is drawn as it was read: upright (turned by its orientation, or by its table's), deskewed,
and rectified when it was a photo. Cells are filled by confidence band — green (>= 0.95), orange
(>= 0.8), red (below) — grey when printed empty, teal for a placeholder ('-', '/', '无'), yellow with
a '?' when unread (ink the recogniser could not read: null, doubted). Text lines read outside tables
are outlined light blue; regions are outlined blue (layout model) or magenta (ruled table).

Captions do not sit on the page: each region gets a small numbered tag, in the page margin beside
it where there is room, else at a corner inside (moved along its edge until it overlaps no other
tag), and a side margin on the right holds the legend, what was done to the page (turn, skew,
rectification) and the numbered captions. The file is ``<document stem>_p<page>.png`` in the debug
folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .page import _PLACEHOLDER, PageResult

GREEN, ORANGE, RED, GREY = (60, 170, 40), (0, 140, 255), (0, 0, 230), (170, 170, 170)
TEAL, UNREAD = (160, 160, 0), (0, 215, 255)
BLUE, MAGENTA, LIGHT = (200, 90, 0), (200, 0, 200), (230, 180, 90)
INK = (30, 30, 30)

# (colour, words) in the order the legend shows them.
LEGEND = (
    (GREEN, "read, confidence >= 0.95"),
    (ORANGE, "read, 0.80 - 0.95"),
    (RED, "read, below 0.80"),
    (TEAL, "placeholder (- / none)"),
    (GREY, "printed empty (0)"),
    (UNREAD, "unread: null, doubted (?)"),
    (LIGHT, "text line outside tables"),
    (BLUE, "layout region (model)"),
    (MAGENTA, "ruled table"),
)


def colour(confidence, text: str = "") -> tuple[int, int, int]:
    """The fill of a cell: its confidence band, or what it is when it holds no reading."""
    if text == "?":
        return UNREAD
    if confidence is None:
        return GREY
    if text and _PLACEHOLDER.match(text.strip()):
        return TEAL
    if confidence >= 0.95:
        return GREEN
    if confidence >= 0.8:
        return ORANGE
    return RED


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_tags(rects: list[tuple[int, int, int, int]], size: tuple[int, int],
               bounds: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """A box of ``size`` (w, h) for each rect's tag, none overlapping another: tried in the page
    margin beside the rect's top corners first (off the print), then at its corners inside, then
    stepped along its top and bottom edges; the last resort is the top-left."""
    tw, th = size
    W, H = bounds
    placed: list[tuple[int, int, int, int]] = []
    for x0, y0, x1, y1 in rects:
        cands = [(x0 - tw - 3, y0), (x1 + 3, y0), (x0 - 2 * tw - 6, y0), (x1 + tw + 6, y0)]
        cands = [(x, y) for x, y in cands if 0 <= x <= W - tw]
        for y in (y0 + 2, y1 - th - 2, y0 - th - 2):
            xs = [x0 + 2, x1 - tw - 2] + list(range(x0 + 2 + tw, max(x0 + 3 + tw, x1 - tw - 2), tw + 4))
            cands.extend((x, y) for x in xs)
        chosen = None
        for x, y in cands:
            x = int(min(max(0, x), W - tw))
            y = int(min(max(0, y), H - th))
            box = (x, y, x + tw, y + th)
            if not any(_overlaps(box, p) for p in placed):
                chosen = box
                break
        if chosen is None:
            x, y = int(min(max(0, x0 + 2), W - tw)), int(min(max(0, y0 + 2), H - th))
            chosen = (x, y, x + tw, y + th)
        placed.append(chosen)
    return placed


def _page_notes(info: dict) -> list[str]:
    notes = []
    if info.get("rectified"):
        notes.append("photo: page outline found, warped flat")
    rot = info.get("rotation")
    if rot:
        by = " (by its table text)" if info.get("turned_by") else ""
        notes.append(f"turned {rot} deg clockwise{by}")
    if info.get("skew"):
        notes.append(f"deskewed {info['skew']} deg")
    return notes


def draw_page(result: PageResult, page: Optional[int] = None) -> np.ndarray:
    """The page (upright, as read) with cells and regions drawn, and a side margin to its right
    holding the legend, the page's notes and the regions' numbered captions."""
    import cv2

    img = result.image.copy() if result.image is not None else np.full((100, 100, 3), 255, np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    # Text scales with the page (a 1654-px wide page: 0.6).
    fs = max(0.45, min(1.2, w / 2600.0))
    thick = 1 if fs < 0.8 else 2
    line_h = int(30 * fs / 0.6)
    overlay = img.copy()
    for c in result.cells:
        x0, y0, x1, y1 = c.rect.ints()
        cv2.rectangle(overlay, (x0 + 2, y0 + 2), (x1 - 2, y1 - 2), colour(c.confidence, c.text), -1)
    img = cv2.addWeighted(overlay, 0.25, img, 0.75, 0)
    for c in result.cells:
        x0, y0, x1, y1 = c.rect.ints()
        col = colour(c.confidence, c.text)
        cv2.rectangle(img, (x0 + 2, y0 + 2), (x1 - 2, y1 - 2), col if col != UNREAD else INK, 1 if col != UNREAD else 2)
        if c.text == "?":
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            cv2.putText(img, "?", (cx - int(8 * fs / 0.6), cy + int(9 * fs / 0.6)), cv2.FONT_HERSHEY_SIMPLEX,
                        fs * 1.3, INK, thick + 1, cv2.LINE_AA)
    for c in result.lines:
        x0, y0, x1, y1 = c.rect.ints()
        cv2.rectangle(img, (x0, y0), (x1, y1), LIGHT, 1)
    # Regions: outlines and numbered tags placed apart.
    blocks = list(result.layout.blocks)
    rects = [b.rect.ints() for b in blocks]
    tag_w, tag_h = int(34 * fs / 0.6), int(22 * fs / 0.6)
    tags = place_tags(rects, (tag_w, tag_h), (w, h))
    captions = []
    for k, (b, (x0, y0, x1, y1), tag) in enumerate(zip(blocks, rects, tags), start=1):
        col = MAGENTA if b.source == "rules" else BLUE
        cv2.rectangle(img, (x0, y0), (x1, y1), col, 2)
        cv2.rectangle(img, tag[:2], tag[2:], col, -1)
        cv2.putText(img, str(k), (tag[0] + 3, tag[3] - int(5 * fs / 0.6)), cv2.FONT_HERSHEY_SIMPLEX, fs * 0.8,
                    (255, 255, 255), thick, cv2.LINE_AA)
        what = f"{b.type} {b.score:.2f} (layout model)" if b.source == "cdla" else "ruled table (grid of rules)"
        captions.append((col, f"{k}  {what}"))
    # The side margin.
    margin_w = int(560 * fs / 0.6)
    rows = 3 + len(LEGEND) + 2 + len(_page_notes(result.info)) + 2 + len(captions)
    side_h = max(h, (rows + 2) * line_h)
    canvas = np.full((side_h, w + margin_w, 3), 255, np.uint8)
    canvas[:h, :w] = img
    cv2.line(canvas, (w, 0), (w, side_h - 1), (120, 120, 120), 2)
    x = w + int(18 * fs / 0.6)
    y = line_h

    def text(s: str, colour_=INK, scale=1.0, bold=False) -> None:
        nonlocal y
        cv2.putText(canvas, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, fs * scale, colour_, thick + (1 if bold else 0),
                    cv2.LINE_AA)
        y += line_h

    text(f"page {page}" if page is not None else "page", bold=True, scale=1.1)
    text("legend (cells by confidence)", bold=True)
    sw = int(34 * fs / 0.6)
    for col, words in LEGEND:
        cv2.rectangle(canvas, (x, y - int(line_h * 0.7)), (x + sw, y - int(line_h * 0.1)), col, -1)
        cv2.putText(canvas, words, (x + sw + 10, y - int(line_h * 0.15)), cv2.FONT_HERSHEY_SIMPLEX, fs * 0.9, INK,
                    thick, cv2.LINE_AA)
        y += line_h
    notes = _page_notes(result.info)
    if notes:
        y += line_h // 2
        text("as read", bold=True)
        for n in notes:
            text(n, scale=0.9)
    if captions:
        y += line_h // 2
        text("regions", bold=True)
        for col, s in captions:
            text(s, col, scale=0.9)
    return canvas


def write_page_picture(folder: Path, source: str, page: int, result: PageResult) -> Path:
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(source).stem}_p{page}.png"
    cv2.imwrite(str(path), draw_page(result, page))
    return path
