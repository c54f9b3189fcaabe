"""Calibrated confidences: the monotone map fitted on held-out labelled documents
(``training/calibrate.py``), applied with numpy alone."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from nianbao.document import Document

DEFAULT_MAP = Path(__file__).resolve().parents[1] / "models" / "calibration.json"


@lru_cache(maxsize=2)
def load_map(path: str = str(DEFAULT_MAP)) -> Optional[tuple[np.ndarray, np.ndarray]]:
    p = Path(path)
    if not p.exists():
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    return np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)


class CalibrateStage:
    """Maps each field's raw confidence to the probability measured for it on held-out documents."""

    name = "calibrate"

    def __init__(self, path: Path = DEFAULT_MAP):
        self.map = load_map(str(path))

    def __call__(self, doc: Document) -> Document:
        if self.map is None:
            return doc
        xs, ys = self.map
        for f in doc.fields.values():
            # Fitted on text-layer documents: OCR confidences keep their own (uncalibrated) scale.
            # Only plain readings are remapped: a reading the document cannot decide, or one placed by
            # position, keeps its conservative score (and its doubt), whatever the map says of its bin.
            if f.value is not None and getattr(f, "source", None) != "ocr" and not f.alternatives and not f.reason:
                f.confidence = round(float(np.interp(f.confidence, xs, ys)), 4)
        return doc
