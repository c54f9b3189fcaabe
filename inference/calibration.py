"""Calibrated confidences: monotone maps fitted on held-out labelled documents
(``training/calibrate.py``), applied with numpy alone.

``models/calibration.json`` holds one map per field source. The top-level ``x`` / ``y`` knots are the
map for text-layer readings (text, HTML, DOCX, PDF, OFD: source ``"text"``); ``sources`` holds a
map for each other source fitted on its own documents — ``sources.ocr``, fitted on factory scans,
for values read by OCR (source ``"ocr"``). A file without ``sources`` (the format before per-source
maps) is read as before: its map applies to text-layer readings and OCR readings keep their raw
scores.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from nianbao import resources
from nianbao.document import Document, FieldValue
from nianbao.resources import ModelMissing

TEXT = "text"


def __getattr__(name: str):
    # DEFAULT_MAP: the shipped map (models/calibration.json in a checkout, nianbao/models in a wheel) or
    # the one under $NIANBAO_MODEL_DIR, looked up when asked for, so importing never fails.
    if name == "DEFAULT_MAP":
        return resources.calibration_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def map_source(f: FieldValue) -> str:
    """Which map a field's confidence goes through: ``"ocr"`` for OCR readings, ``"text"`` otherwise."""
    return "ocr" if getattr(f, "source", None) == "ocr" else TEXT


def is_plain(f: FieldValue) -> bool:
    """A reading the maps apply to: a value with no surviving alternatives and no structural reason.
    A reading the document cannot decide, or one placed by position, keeps its conservative score
    (and its doubt), whatever the map says of its bin."""
    return f.value is not None and not f.alternatives and not f.reason


def mapped(conf, knots: tuple[np.ndarray, np.ndarray]):
    """Raw confidence(s) through a map's knots, rounded to 4 places. A doubted score (below the
    pipeline's doubt threshold) is never raised: the maps' knots step up at the threshold, and a raw
    score just under it must not be interpolated out of doubt."""
    from .triage import DOUBT_THRESHOLD

    conf = np.asarray(conf, dtype=float)
    out = np.round(np.interp(conf, knots[0], knots[1]), 4)
    return np.where(conf < DOUBT_THRESHOLD, np.minimum(out, conf), out)


def load_map(path: Optional[str] = None) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """The (x, y) knots of the text-layer map at path (the default map when None); None when that file is absent."""
    maps = load_maps(path)
    return None if maps is None else maps.get(TEXT)


def load_maps(path: Optional[str] = None) -> Optional[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{source: (x, y)} for every map in the file at path (the default map when None): ``"text"`` (the
    top-level knots) and each entry of ``sources``; None when that file is absent."""
    return _load_maps(str(path or resources.calibration_path()))


@lru_cache(maxsize=4)
def _load_maps(path: str) -> Optional[dict[str, tuple[np.ndarray, np.ndarray]]]:
    p = Path(path)
    if not p.exists():
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    maps = {}
    if "x" in data and "y" in data:
        maps[TEXT] = (np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float))
    for source, m in (data.get("sources") or {}).items():
        if isinstance(m, dict) and "x" in m and "y" in m:
            maps[source] = (np.asarray(m["x"], dtype=float), np.asarray(m["y"], dtype=float))
    return maps


class CalibrateStage:
    """Maps each field's raw confidence to the probability measured for it on held-out documents,
    through the map of the field's source (text layer or OCR)."""

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
        self.maps = load_maps(str(path)) or {}
        self.map = self.maps.get(TEXT)  # the text-layer map (kept for callers of the one-map interface)

    def __call__(self, doc: Document) -> Document:
        if not self.maps:
            return doc
        for f in doc.fields.values():
            # A source without its own map (OCR under a file that predates per-source maps) keeps
            # its raw scale: the text-layer map says nothing about it.
            m = self.maps.get(map_source(f))
            if m is not None and is_plain(f):
                f.confidence = float(mapped(f.confidence, m))
        return doc
