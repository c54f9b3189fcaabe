"""PP-OCR through rapidocr: text detection, and recognition that keeps every character's probability.

Only the models inside the rapidocr wheel are used (PP-OCRv6 det/rec small); their paths are given
explicitly, so rapidocr never tries to download anything. Detection goes through rapidocr's own
API (DB post-processing). Recognition runs the same rec model in our own onnxruntime session so
that the CTC output is available: per character, its probability and the other characters the
model considered at that position (top-k), which become candidate readings of uncertain digits.

One engine per process (``get_engine``): model sessions are built once and reused.
"""
from __future__ import annotations

import math
from functools import lru_cache
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

REC_HEIGHT = 48
MIN_REC_WIDTH = 64      # narrow crops (a lone digit) are padded to this width, not to 320
MAX_BATCH_PIXELS = 48 * 320 * 16  # a recognition batch's padded size (pixels per channel)
MAX_BATCH = 32
PAD_RATIO = 1.3
TOP_K = 3


class OcrUnavailable(RuntimeError):
    """The OCR models cannot be loaded (package missing or its bundled model files absent)."""


@dataclass
class CharReading:
    char: str
    prob: float
    # Other characters the model gave weight to at this position, most probable first.
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    # Horizontal position in the crop (0..1), from the CTC frames.
    x0: float = 0.0
    x1: float = 0.0


@dataclass
class LineReading:
    """What the recogniser read in one crop."""

    text: str
    chars: list[CharReading] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        """Probability that the whole line is right: the product of its characters' probabilities."""
        if not self.chars:
            return 0.0
        return float(math.prod(c.prob for c in self.chars))

    @property
    def mean_prob(self) -> float:
        return float(np.mean([c.prob for c in self.chars])) if self.chars else 0.0

    def to_json(self) -> dict:
        return {"text": self.text, "chars": [[c.char, round(c.prob, 5), [[a, round(p, 5)] for a, p in c.alternatives],
                                               round(c.x0, 4), round(c.x1, 4)] for c in self.chars]}

    @classmethod
    def from_json(cls, data: dict) -> "LineReading":
        chars = [CharReading(ch, p, [(a, q) for a, q in alts], x0, x1) for ch, p, alts, x0, x1 in data["chars"]]
        return cls(text=data["text"], chars=chars)


@dataclass
class TextBox:
    """A detected text line: its quadrilateral (pixels, clockwise from top-left) and reading."""

    points: list[tuple[float, float]]
    reading: Optional[LineReading] = None
    score: float = 1.0

    @property
    def rect(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)


def _rapidocr_model_dir() -> Path:
    try:
        import rapidocr
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise OcrUnavailable(f"rapidocr is not installed ({e})") from e
    return Path(rapidocr.__file__).resolve().parent / "models"


BUNDLED = {
    "det": "PP-OCRv6_det_small.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


def bundled_model(kind: str) -> Path:
    path = _rapidocr_model_dir() / BUNDLED[kind]
    if not path.exists():
        raise OcrUnavailable(f"the {kind} model {path.name} is not inside the installed rapidocr wheel ({path.parent}); "
                             "nianbao uses only the bundled default models and never downloads weights")
    return path


def session_options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    # Input shapes vary with every crop batch: without the arena, memory does not grow run after run.
    so.enable_cpu_mem_arena = False
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so


class OcrEngine:
    """Detection (rapidocr) and recognition with character probabilities (own CTC decoding)."""

    def __init__(self, threads: int = 2):
        import onnxruntime as ort

        self.threads = threads
        rec_path = bundled_model("rec")
        self.rec = ort.InferenceSession(str(rec_path), sess_options=session_options(threads),
                                        providers=["CPUExecutionProvider"])
        meta = self.rec.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise OcrUnavailable(f"{rec_path.name} carries no character list")
        # CTC classes: 0 is the blank, then the dictionary, then a space (PaddleOCR's convention).
        self.characters = ["<blank>"] + meta["character"].splitlines() + [" "]
        self.digit_ids = np.array([i for i, c in enumerate(self.characters) if c in "0123456789"])
        self._input = self.rec.get_inputs()[0].name
        self._det = None
        self._full = None
        self._lock = threading.Lock()

    # -- detection -------------------------------------------------------------------------------
    def _rapidocr(self):
        if self._full is None:
            from rapidocr import RapidOCR

            params = {
                "Global.log_level": "error",
                "Det.model_path": str(bundled_model("det")),
                "Rec.model_path": str(bundled_model("rec")),
                "Cls.model_path": str(bundled_model("cls")),
                "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
            self._full = RapidOCR(params=params)
        return self._full

    def detect(self, image: np.ndarray) -> list[TextBox]:
        """Text-line boxes of an image (BGR or gray), in its pixels."""
        img = _bgr(image)
        out = self._rapidocr()(img, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(out, "boxes", None)
        if boxes is None:
            return []
        scores = list(getattr(out, "scores", None) or [1.0] * len(boxes))
        return [TextBox(points=[(float(x), float(y)) for x, y in b], score=float(s)) for b, s in zip(boxes, scores)]

    def full_page(self, image: np.ndarray):
        """Plain rapidocr on the whole page (det + cls + rec): the benchmark's baseline."""
        return self._rapidocr()(_bgr(image))

    # -- recognition -----------------------------------------------------------------------------
    def _norm(self, crop: np.ndarray, width: int) -> np.ndarray:
        import cv2

        img = _bgr(crop)
        h, w = img.shape[:2]
        new_w = min(width, max(1, int(math.ceil(REC_HEIGHT * w / max(h, 1)))))
        resized = cv2.resize(img, (new_w, REC_HEIGHT)).astype(np.float32)
        resized = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
        out = np.zeros((3, REC_HEIGHT, width), dtype=np.float32)
        out[:, :, :new_w] = resized
        return out

    def recognize(self, crops: Sequence[np.ndarray], k: int = TOP_K) -> list[LineReading]:
        """Read each crop (one text line), batched by width; order of the result = order of crops."""
        results: list[Optional[LineReading]] = [None] * len(crops)
        widths = []
        for c in crops:
            h, w = c.shape[:2]
            widths.append(max(MIN_REC_WIDTH, int(math.ceil(REC_HEIGHT * w / max(h, 1)))))
        order = sorted(range(len(crops)), key=lambda i: widths[i])
        i = 0
        while i < len(order):
            # Grow the batch while padding stays small: widths within PAD_RATIO of the narrowest.
            j = i + 1
            while (j < len(order) and j - i < MAX_BATCH and widths[order[j]] <= PAD_RATIO * widths[order[i]]
                   and widths[order[j]] * (j - i + 1) * REC_HEIGHT <= MAX_BATCH_PIXELS):
                j += 1
            idx = order[i:j]
            width = int(math.ceil(max(widths[t] for t in idx) / 8.0) * 8)
            batch = np.stack([self._norm(crops[t], width) for t in idx])
            with self._lock:
                probs = self.rec.run(None, {self._input: batch})[0]
            for t, p in zip(idx, probs):
                valid = max(1, int(math.ceil(p.shape[0] * min(1.0, widths[t] / width))))
                results[t] = self.decode(p[:valid], k)
            i = j
        return [r if r is not None else LineReading("") for r in results]

    def decode(self, probs: np.ndarray, k: int = TOP_K) -> LineReading:
        """Greedy CTC decoding that keeps, per character, its probability and top-k rivals."""
        best = probs.argmax(axis=1)
        n = len(best)
        chars: list[CharReading] = []
        t = 0
        while t < n:
            c = int(best[t])
            s = t
            while t < n and best[t] == c:
                t += 1
            if c == 0:
                continue
            frames = probs[s:t]
            peak = s + int(frames[:, c].argmax())
            row = probs[peak]
            prob = float(row[c])
            part = np.argpartition(row, -(k + 2))[-(k + 2):]
            top = part[np.argsort(row[part])[::-1]]
            alts = [(self.characters[int(a)], float(row[a])) for a in top if int(a) not in (c, 0)][:k]
            # A digit's rivals among the digits too (the blank may hold the rest of the mass).
            if self.characters[c] in "0123456789":
                dig = self.digit_ids[np.argsort(row[self.digit_ids])[::-1][:k + 1]]
                seen = {a for a, _ in alts}
                for a in dig:
                    ch = self.characters[int(a)]
                    if int(a) != c and ch not in seen:
                        alts.append((ch, float(row[a])))
                        seen.add(ch)
                alts.sort(key=lambda x: -x[1])
                alts = alts[:k]
            chars.append(CharReading(self.characters[c], prob, alts, s / n, t / n))
        return LineReading(text="".join(ch.char for ch in chars), chars=chars)


def _bgr(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


@lru_cache(maxsize=None)
def get_engine(threads: int = 2) -> OcrEngine:
    """The process's engine (model sessions are built once per worker process)."""
    return OcrEngine(threads)
