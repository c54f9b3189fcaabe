"""The trained token classifier at inference: onnxruntime only (no torch), behind the LabelSpotter
interface, so the locator, the decoder and the rules are shared with the baseline.

The classifier tags every character of the document's normalised text with a row label, a group
label, a value, or nothing. Its label spans join the baseline's exact matches as candidates; the
locator's chain search keeps the best ordered set, so clean text reads as before and noisy labels
(OCR look-alikes, truncations) that no regex matches are still found.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from nianbao import resources
from nianbao.resources import ModelMissing
from nianbao.schema import TableSpec

from .linearize import LinearText
from .locate import LabelMatch, RegexSpotter
from .normalize import SEPARATORS


def __getattr__(name: str):
    # DEFAULT_MODEL_DIR: the shipped model (``nianbao.models``: models/token_classifier in a checkout,
    # nianbao/models/token_classifier in a wheel) or the one under $NIANBAO_MODEL_DIR, looked up when
    # asked for (as every function given no folder does), so importing this module never fails.
    if name == "DEFAULT_MODEL_DIR":
        return resources.classifier_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_PAD, _UNK, _CLS, _SEP = 0, 1, 2, 3
MIN_SPAN_PROB = 0.5
MIN_SPAN_CHARS = 2   # a one-character "label" is noise
NEAR = 24            # characters around a schema match within which a classifier span is the same label


class TokenClassifier:
    """One onnxruntime session; ``predict`` returns per-character label ids and probabilities."""

    def __init__(self, model_dir: Optional[Path] = None, threads: int = 1):
        import onnxruntime as ort

        model_dir = require_model(model_dir)
        meta = json.loads((Path(model_dir) / "labels.json").read_text(encoding="utf-8"))
        self.vocab: dict[str, int] = meta["vocab"]
        self.labels: list[str] = meta["labels"]
        self.window = int(meta.get("window", 256))
        self.stride = int(meta.get("stride", 192))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(Path(model_dir) / "model.onnx"), opts, providers=["CPUExecutionProvider"])

    def predict(self, chars: str, starts: list[int], boxes: Optional[list[tuple[int, int, int, int]]] = None,
                batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        n = len(chars)
        probs = np.zeros((n, len(self.labels)), dtype=np.float32)
        weight = np.zeros(n, dtype=np.float32)
        spans = windows(n, self.window, self.stride)
        for b in range(0, len(spans), batch_size):
            batch = spans[b:b + batch_size]
            width = max(e - s for s, e in batch) + 2
            ids = np.zeros((len(batch), width), dtype=np.int64)
            types = np.zeros_like(ids)
            bbox = np.zeros((len(batch), width, 4), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, (s, e) in enumerate(batch):
                m = e - s
                ids[i, 0], ids[i, m + 1] = _CLS, _SEP
                ids[i, 1:m + 1] = [self.vocab.get(c, _UNK) for c in chars[s:e]]
                types[i, 1:m + 1] = starts[s:e]
                if boxes is not None:
                    bbox[i, 1:m + 1] = boxes[s:e]
                mask[i, :m + 2] = 1
            logits = self.session.run(["logits"], {"input_ids": ids, "token_type_ids": types, "bbox": bbox,
                                                   "attention_mask": mask})[0]
            for i, (s, e) in enumerate(batch):
                x = logits[i, 1:e - s + 1]
                x = np.exp(x - x.max(-1, keepdims=True))
                probs[s:e] += x / x.sum(-1, keepdims=True)
                weight[s:e] += 1
        probs /= np.maximum(weight, 1)[:, None]
        return probs.argmax(-1), probs.max(-1)


# Where tables can be: around the headings and words every statutory table prints. Only these
# areas are tagged (a report is mostly prose; a 50 MB page must not be tagged whole).
_TABLE_WORDS = re.compile(r"第二十条|信息内容|申请人情况|[勾钩]稽|本年新收|办理结果|行政复议|结果维持|主动公开|依申请")
AREA_BEFORE, AREA_AFTER, MAX_TAGGED = 300, 4000, 40000


def _table_areas(norm: str) -> list[tuple[int, int]]:
    areas: list[list[int]] = []
    for m in _TABLE_WORDS.finditer(norm):
        lo, hi = max(0, m.start() - AREA_BEFORE), min(len(norm), m.end() + AREA_AFTER)
        if areas and lo <= areas[-1][1]:
            areas[-1][1] = max(areas[-1][1], hi)
        else:
            areas.append([lo, hi])
        if sum(h - l for l, h in areas) >= MAX_TAGGED:
            break
    if not areas:
        return [(0, min(len(norm), MAX_TAGGED))]
    return [(lo, min(hi, lo + MAX_TAGGED)) for lo, hi in areas]


def windows(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Overlapping [start, end) windows covering n characters (the last one flush with the end)."""
    if n <= size:
        return [(0, n)] if n else []
    out = [(s, min(n, s + size)) for s in range(0, n - size + stride, stride)]
    if out[-1][1] < n:
        out.append((n - size, n))
    return out


def load_classifier(model_dir: Optional[str] = None) -> TokenClassifier:
    return _load_classifier(str(model_dir or resources.classifier_dir()))


@lru_cache(maxsize=2)
def _load_classifier(model_dir: str) -> TokenClassifier:
    return TokenClassifier(Path(model_dir))


load_classifier.cache_clear = _load_classifier.cache_clear  # type: ignore[attr-defined]  # after a model swap


def read_model_version(model_dir: Path) -> Optional[str]:
    """The registry version of a model folder (``model_version`` in its labels.json)."""
    path = Path(model_dir) / "labels.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("model_version")


def model_version(model_dir: Optional[str] = None) -> Optional[str]:
    """``read_model_version`` once per process (what each result records)."""
    return _model_version(str(model_dir or resources.classifier_dir()))


@lru_cache(maxsize=4)
def _model_version(model_dir: str) -> Optional[str]:
    return read_model_version(Path(model_dir))


model_version.cache_clear = _model_version.cache_clear  # type: ignore[attr-defined]


MODEL_FILES = ("model.onnx", "labels.json")


def _missing_files(folder: Path) -> list[str]:
    return [name for name in MODEL_FILES if not (folder / name).is_file()]


def model_available(model_dir: Optional[Path] = None) -> bool:
    return not _missing_files(Path(model_dir or resources.classifier_dir()))


def require_model(model_dir: Optional[Path] = None) -> Path:
    """The classifier folder, or a ModelMissing that says where it was looked for and what to do.

    The classifier is the default label model: reading without it would silently give other values,
    other confidences and no model version, so a missing model is an error, never a fallback."""
    folder = Path(model_dir or resources.classifier_dir())
    missing = _missing_files(folder)
    if missing:
        raise ModelMissing(f"the token classifier is missing: no {' or '.join(missing)} in {resources.where(folder)}. "
                           f"Reinstall nianbao (the wheel ships nianbao/models/{resources.CLASSIFIER_FOLDER}), set "
                           f"{resources.MODEL_DIR_ENV} to a folder laid out like models/, or ask for the schema's "
                           f"labels alone with --spotter baseline")
    return folder


class ClassifierSpotter:
    """Row and group labels from the classifier's spans, plus the baseline's exact matches."""

    name = "classifier"

    def __init__(self, model_dir: Optional[Path] = None):
        folder = require_model(model_dir)
        self.model = load_classifier(str(folder))
        self.model_version = model_version(str(folder))
        self.regex = RegexSpotter()
        self._cached_for: Optional[LinearText] = None
        self._cached_spans: list[tuple[int, int, str, float]] = []

    def _spans(self, lin: LinearText) -> list[tuple[int, int, str, float]]:
        # One document at a time, held by reference: an id() can be reused by the next document's
        # text once this one is freed, which would hand it this one's spans.
        if self._cached_for is not lin:
            raw, to_raw, labels = lin.raw, lin.text.to_raw, self.model.labels
            out = []
            for lo, hi in _table_areas(lin.norm):
                starts = [1 if to_raw[i] == 0 or raw[to_raw[i] - 1] in SEPARATORS else 0 for i in range(lo, hi)]
                ids, probs = self.model.predict(lin.norm[lo:hi], starts)
                start, ent, acc = None, None, []
                for i in range(len(ids) + 1):
                    tag = labels[ids[i]] if i < len(ids) else "O"
                    if start is not None and not (tag.startswith("I-") and tag[2:] == ent):
                        out.append((lo + start, lo + i, ent, float(np.mean(acc))))
                        start, ent, acc = None, None, []
                    if tag.startswith("B-") or (tag.startswith("I-") and start is None):
                        start, ent, acc = i, tag[2:], []
                    if start is not None:
                        acc.append(probs[i])
            self._cached_for, self._cached_spans = lin, out
        return self._cached_spans

    def anchors(self, lin: LinearText, spec: TableSpec) -> list[int]:
        """Where the first rows of this table seem to start (the first few predicted row labels)."""
        firsts = {f"{spec.name}.{r.key}" for r in spec.rows[:3]}
        return [s for s, e, ent, p in self._spans(lin) if ent in firsts and p >= MIN_SPAN_PROB][:10]

    def rows(self, lin: LinearText, spec: TableSpec, start: int, end: int) -> list[LabelMatch]:
        found = self.regex.rows(lin, spec, start, end)
        keys = {r.key: r for r in spec.rows}
        for s, e, ent, p in self._spans(lin):
            table, _, key = ent.partition(".")
            if table != spec.name or key.startswith("group.") or key not in keys or p < MIN_SPAN_PROB:
                continue
            if s < start or e > end:
                continue
            if e - s < MIN_SPAN_CHARS or any(m.row.key == key and m.start - NEAR < e and s < m.end + NEAR for m in found):
                continue  # the schema's match already covers this label (or a piece of it)
            found.append(LabelMatch(row=keys[key], group=None, start=s, end=e, quality=0.9 * p, confidence=p))
        return found

    def groups(self, lin: LinearText, spec: TableSpec, start: int, end: int) -> list[LabelMatch]:
        found = self.regex.groups(lin, spec, start, end)
        used = {r.group for r in spec.rows if r.group}
        for s, e, ent, p in self._spans(lin):
            prefix = f"{spec.name}.group."
            if not ent.startswith(prefix) or p < MIN_SPAN_PROB or s < start or e > end:
                continue
            g = ent[len(prefix):]
            if g not in used or e - s < MIN_SPAN_CHARS or any(m.group == g and m.start - NEAR < e and s < m.end + NEAR for m in found):
                continue
            found.append(LabelMatch(row=None, group=g, start=s, end=e, quality=0.9 * p, confidence=p))
        return found
