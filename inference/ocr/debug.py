"""Pictures for people: a table page with its located regions and cells coloured by confidence.

Colours (BGR): layout regions from the model in blue, ruled tables in magenta; cells green
(confidence >= 0.95), orange (>= 0.8), red (below), grey (printed empty); text lines read outside
tables in light blue. The file is ``<document stem>_p<page>.png`` in the debug folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .page import PageResult

GREEN, ORANGE, RED, GREY = (60, 170, 40), (0, 140, 255), (0, 0, 230), (170, 170, 170)
BLUE, MAGENTA, LIGHT = (200, 90, 0), (200, 0, 200), (230, 180, 90)


def colour(confidence) -> tuple[int, int, int]:
    if confidence is None:
        return GREY
    if confidence >= 0.95:
        return GREEN
    if confidence >= 0.8:
        return ORANGE
    return RED


def draw_page(result: PageResult) -> np.ndarray:
    import cv2

    img = result.image.copy() if result.image is not None else np.full((100, 100, 3), 255, np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    overlay = img.copy()
    for c in result.cells:
        x0, y0, x1, y1 = c.rect.ints()
        cv2.rectangle(overlay, (x0 + 2, y0 + 2), (x1 - 2, y1 - 2), colour(c.confidence), -1)
    img = cv2.addWeighted(overlay, 0.25, img, 0.75, 0)
    for c in result.cells:
        x0, y0, x1, y1 = c.rect.ints()
        cv2.rectangle(img, (x0 + 2, y0 + 2), (x1 - 2, y1 - 2), colour(c.confidence), 1)
    for c in result.lines:
        x0, y0, x1, y1 = c.rect.ints()
        cv2.rectangle(img, (x0, y0), (x1, y1), LIGHT, 1)
    for b in result.layout:
        x0, y0, x1, y1 = b.rect.ints()
        col = MAGENTA if b.source == "rules" else BLUE
        cv2.rectangle(img, (x0, y0), (x1, y1), col, 2)
        label = f"{b.type} {b.score:.2f}" if b.source == "cdla" else "ruled table"
        cv2.putText(img, label, (x0 + 3, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, col, 1, cv2.LINE_AA)
    return img


def write_page_picture(folder: Path, source: str, page: int, result: PageResult) -> Path:
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(source).stem}_p{page}.png"
    cv2.imwrite(str(path), draw_page(result))
    return path
