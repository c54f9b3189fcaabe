"""Noisy copies of text reports for measuring robustness: the row and group labels get the noise
OCR and careless exports give them (look-alike characters, dropped and truncated characters),
while the printed numbers stay as they are, so the gold of the clean document still holds.

Two kinds of copy: ``labels`` damages the labels the baseline locates (heavily); ``ocr`` damages
about 10% of every Chinese character of the file as OCR does (look-alikes, drops, words split by
spaces: ``factory/ocr_damage.py``), needs no extraction, and so works on any text report."""
from __future__ import annotations

import random
from pathlib import Path

from nianbao import extract

from .augment import LOOKALIKE, NoiseOptions


def noisy_text(path: Path, rng: random.Random, options: NoiseOptions = NoiseOptions(substitute=0.25, delete=0.05,
                                                                                     truncate=0.3)) -> str:
    """The file's text with noise in every located label (requires a text report the baseline reads)."""
    doc = extract(path)
    if doc.error is not None or doc.linear is None:
        raise ValueError(f"{path}: cannot read ({doc.error})")
    lin = doc.linear
    # Work on the original file text: the linearised text of a .txt report keeps its characters.
    raw = Path(path).read_text(encoding=doc.encoding or "utf-8")
    if raw.replace("\r\n", "\n") != raw:
        raw = raw.replace("\r\n", "\n")
    edits: dict[int, str] = {}
    offset = _raw_offset(raw, lin.raw)
    for table in doc.located.values():
        for m in table.labels:
            positions = [lin.text.to_raw[i] for i in range(m.start, m.end)]
            chars = [p for p in positions if "\u4e00" <= lin.raw[p] <= "\u9fff"]
            if len(chars) > 3 and rng.random() < options.truncate:
                for p in chars[-rng.randint(1, 2):]:
                    edits[p] = ""
            for p in chars:
                if p in edits:
                    continue
                r = rng.random()
                if r < options.delete:
                    edits[p] = ""
                elif r < options.delete + options.substitute and lin.raw[p] in LOOKALIKE:
                    edits[p] = LOOKALIKE[lin.raw[p]]
    out = list(raw)
    for p, c in edits.items():
        q = offset.get(p)
        if q is not None and out[q] == lin.raw[p]:
            out[q] = c
    return "".join(out)


def ocr_damaged_text(path: Path, rng: random.Random, rate: float = 0.1) -> str:
    """The file's text with ``rate`` of its Chinese characters OCR-damaged; digits untouched."""
    from nianbao.inference.readers.encoding import decode_bytes

    from .factory.ocr_damage import OcrDamage, damage_text

    text, _ = decode_bytes(Path(path).read_bytes())
    return damage_text(text.replace("\r\n", "\n"), rng, OcrDamage(rate=rate))


def _raw_offset(file_text: str, linear_raw: str) -> dict[int, int]:
    """Map linearised positions back to the file: the linearisation drops empty cells and joins
    segments by newlines, so walk both texts on their non-separator characters."""
    sep = set(" \t\n\r|\u3000\xa0")
    mapping: dict[int, int] = {}
    j = 0
    for i, ch in enumerate(linear_raw):
        if ch in sep:
            continue
        while j < len(file_text) and file_text[j] != ch:
            j += 1
        if j >= len(file_text):
            break
        mapping[i] = j
        j += 1
    return mapping


def noisy_labelled(golds: list, folder: Path, seed: int, kind: str = "labels") -> list:
    """Noisy copies of labelled text reports, written to ``folder`` as ``<id>.noisy.txt``, each with
    the clean document's labels (its numbers are untouched); reports it cannot read are skipped.
    ``kind``: "labels" (the located labels, heavily) or "ocr" (10% of every Chinese character)."""
    if kind not in ("labels", "ocr"):
        raise ValueError(f"unknown noise kind {kind!r}: 'labels' or 'ocr'")
    from nianbao.labels import LabelledDocument

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    out = []
    for g in golds:
        try:
            text = noisy_text(Path(g.document), rng) if kind == "labels" else ocr_damaged_text(Path(g.document), rng)
        except ValueError:
            continue
        path = folder / f"{g.id}.noisy.txt"
        path.write_text(text, encoding="utf-8")
        out.append(LabelledDocument(id=g.id + "-noisy", document=path, agency=g.agency, year=g.year,
                                    template=g.template, found=g.found, values=g.values))
    return out
