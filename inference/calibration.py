"""Calibrated confidences: the monotone map fitted on held-out labelled documents
(``training/calibrate.py``), applied with numpy alone."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from nianbao import resources
from nianbao.document import Document
from nianbao.resources import ModelMissing


def __getattr__(name: str):
    # DEFAULT_MAP: the shipped map (models/calibration.json in a checkout, nianbao/models in a wheel) or
    # the one under $NIANBAO_MODEL_DIR, looked up when asked for, so importing never fails.
    if name == "DEFAULT_MAP":
        return resources.calibration_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_map(path: Optional[str] = None) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """The (x, y) knots of the map at path (the default map when None); None when that file is absent."""
    return _load_map(str(path or resources.calibration_path()))


@lru_cache(maxsize=2)
def _load_map(path: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
    p = Path(path)
    if not p.exists():
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    return np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)


class CalibrateStage:
    """Maps each field's raw confidence to the probability measured for it on held-out documents."""

    name = "calibrate"

    def __init__(self, path: Optional[Path] = None):
        # An explicit map that is absent leaves confidences raw (a caller's choice); the default map
        # missing means a broken install, whose confidences would silently differ: say so.
        if path is None:
            path = resources.calibration_path()
            if not path.is_file():
                raise ModelMissing(f"the calibration map is missing: {resources.where(path)}. Reinstall nianbao, "
                                   f"set {resources.MODEL_DIR_ENV} to a folder laid out like models/, or extract "
                                   "with calibrate=False")
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
