"""Gold and token labels for a rendering, aligned with what the project itself reads.

``gold_record`` writes a report's gold in the project's labelled-document format
(``labels/__init__.py``), so ``nianbao evaluate --gold DIR`` scores extraction on synthetic
documents exactly as on the real ones.

``align`` labels what inference sees: the segments that ``read_document`` + ``linearize`` make
of the rendered file. Each segment, and each character span inside it (a crawler line runs a label
and seven numbers together), gets the label of the printed piece it comes from: a field key
(``requests.new.natural``), a row label (``row:requests.new``), a group label, a column header
(``col:requests.natural``), the corner note, title/heading/signature/date, or ``O``. Matching
is done on compact text (separators removed, full-width folded: the locator's own
normalisation), walking the renderer's units and the segments in order, so a label never
comes from guessing what a cell means.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from nianbao.inference.linearize import linearize
from nianbao.inference.normalize import BLANK, SEPARATORS, fold_char
from nianbao.inference.readers import read_document
from nianbao.record import LabelField, label_data  # the one writer of the labelled-document format

from .synthetic_report import Paragraph, PrintedTable, SyntheticReport
from .render_base import OUTSIDE, Unit, blank_unit, cell_label, paragraph_label, rows_of

# How far (in compact characters) the next segment may start after the previous one: units the
# reader does not show (an empty label cell, a page-number line) are skipped, nothing more.
WINDOW = 2000
# A match skipping more printed characters than this must be confirmed by the next CONFIRM segments
# (a Markdown sub-table's generic header the lineariser drops, 数据1…数据6, is 18 characters).
SKIP = 24
# A segment the reader joined from two printed pieces (a wrapped label whose tail was printed on a
# row of its own, after the row's numbers): its head (at least JOIN_HEAD characters) where the
# cursor is, its tail within JOIN_GAP characters after it.
JOIN_HEAD = 4
JOIN_GAP = 64
CONFIRM = 3
MIXED = "mixed"


def gold_record(report: SyntheticReport, document: str, data: bytes, kind: str, split: str,
                traits: Optional[dict[str, object]] = None,
                boxes: Optional[dict[str, tuple[int, Optional[list[float]]]]] = None) -> dict:
    """The labelled-document gold of one rendering (``document`` relative to the gold file); page
    and bbox where the rendering has pages (PDF, scan)."""
    boxes = boxes or {}
    fields = {}
    for k, v in report.values.items():
        page, bbox = boxes.get(k, (None, None))
        fields[k] = LabelField(value=v, raw=report.raw.get(k), page=page,
                               bbox=[round(x, 1) for x in bbox] if bbox else None)
    notes = "Synthetic report (nianbao.training.factory)."
    if report.broken_rules:
        notes += " Rules failing as printed, on purpose: " + ", ".join(report.broken_rules) + "."
    return label_data(
        id=f"{Path(document).stem}.{kind}",
        kind=kind,  # one of dataset.KINDS (a scan and pdf_turned are .pdf files too)
        document=document, sha256=hashlib.sha256(data).hexdigest(), agency=report.agency, year=report.year,
        template=report.template, found=report.found, fields=fields, notes=notes, split=split,
        provenance={"factory": "nianbao.training.factory", "seed": report.seed, "kind": kind,
                    "broken_rules": list(report.broken_rules), "traits": dict(traits or report.traits)})


def logical_units(report: SyntheticReport) -> list[Unit]:
    """The report's visible text in reading order without a renderer's help (for renderings whose
    renderer gives no units, e.g. PDF): paragraphs, then each table's cells row by row."""
    out: list[Unit] = []
    for block in report.blocks:
        if isinstance(block, Paragraph):
            out.append(Unit(block.text, paragraph_label(block)))
            continue
        assert isinstance(block, PrintedTable)
        for row in rows_of(block):
            for c in row:
                out.append(Unit(c.text, cell_label(c, block.name)) if c.text else blank_unit(c, block.name))
    return out


def pdf_units(report: SyntheticReport, info: object) -> list[Unit]:
    """Units of a digital PDF from its render info (``render_pdf.PdfRenderInfo``): every drawn line
    and cell piece (repeated header rows and page numbers included), in page reading order."""
    grids = {t.name: {(c.row, c.col): c for c in t.cells} for t in report.tables()}
    entries: list[tuple[int, float, float, int, Unit]] = []
    for n, line in enumerate(getattr(info, "lines", [])):
        if line.kind == "cell":
            continue
        label = OUTSIDE if line.kind in ("prose", "page_number") else line.kind
        entries.append((line.page, round(line.bbox[1], 1), line.bbox[0], n, Unit(line.text, label)))
    for n, piece in enumerate(getattr(info, "cells", [])):
        cell = grids.get(piece.table, {}).get((piece.row, piece.col))
        label = cell_label(cell, piece.table) if cell is not None else OUTSIDE
        box = piece.cell_bbox
        entries.append((piece.page, round(box[1], 1), box[0], 10**6 + n, Unit(piece.text or BLANK, label)))
    entries.sort(key=lambda e: e[:4])
    return [e[4] for e in entries]


@dataclass
class Alignment:
    segments: list[str] = field(default_factory=list)
    segment_labels: list[str] = field(default_factory=list)
    # Labelled character spans (end exclusive) inside segments; characters outside any span are O.
    span_segment: list[int] = field(default_factory=list)
    span_start: list[int] = field(default_factory=list)
    span_end: list[int] = field(default_factory=list)
    span_label: list[str] = field(default_factory=list)
    aligned: float = 1.0  # fraction of segments' non-separator characters matched to printed text

    def labels_of(self, i: int) -> list[tuple[int, int, str]]:
        return [(s, e, lab) for k, s, e, lab in zip(self.span_segment, self.span_start, self.span_end, self.span_label)
                if k == i]


def _compact_stream(units: list[Unit]) -> tuple[str, list[str]]:
    chars: list[str] = []
    labels: list[str] = []
    for u in units:
        if u.unread:
            continue
        for ch in u.text:
            if ch not in SEPARATORS:
                chars.append(fold_char(ch))
                labels.append(u.label)
    return "".join(chars), labels


def _char_labels(text: str, compact_labels: list[str]) -> list[str]:
    """Labels of a segment's raw characters: a separator between two characters of one label
    carries it (the space inside ``商业 企业``), any other separator is O."""
    out: list[str] = []
    it = iter(compact_labels)
    for ch in text:
        out.append("" if ch in SEPARATORS else next(it))
    for i, lab in enumerate(out):
        if lab:
            continue
        left = next((out[j] for j in range(i - 1, -1, -1) if out[j]), OUTSIDE)
        right = next((out[j] for j in range(i + 1, len(out)) if out[j] and text[j] not in SEPARATORS), OUTSIDE)
        out[i] = left if left == right else OUTSIDE
    return [OUTSIDE if lab == "" else lab for lab in out]


def _compact(text: str) -> str:
    return "".join(fold_char(ch) for ch in text if ch not in SEPARATORS)


def _confirmed(stream: str, following: list[str], end: int) -> bool:
    """A match that skips printed text is kept only if the next segments follow it closely (a
    repeated header the units lack would otherwise pull the cursor to a far look-alike)."""
    for compact in following:
        pos = stream.find(compact, end, end + SKIP + len(compact))
        if pos < 0:
            return False
        end = pos + len(compact)
    return True


def _joined_match(stream: str, compact: str, cursor: int) -> Optional[list[int]]:
    """Stream positions of a segment printed in two pieces (longest head first), or None."""
    for cut in range(len(compact) - 1, JOIN_HEAD - 1, -1):
        head, tail = compact[:cut], compact[cut:]
        a = stream.find(head, cursor, cursor + WINDOW + cut)
        if a < 0:
            continue
        b = stream.find(tail, a + cut, a + cut + JOIN_GAP + len(tail))
        if b < 0:
            continue
        return list(range(a, a + cut)) + list(range(b, b + len(tail)))
    return None


def align_segments(units: list[Unit], segments: list[str]) -> Alignment:
    """Label each segment (and the spans inside it) from the renderer's labelled units."""
    stream, stream_labels = _compact_stream(units)
    compacts = [_compact(t) for t in segments]
    result = Alignment()
    cursor = 0
    matched = total = 0
    for i, text in enumerate(segments):
        compact = compacts[i]
        result.segments.append(text)
        total += len(compact)
        pos = stream.find(compact, cursor, cursor + WINDOW + len(compact)) if compact else -1
        if pos > cursor + SKIP:
            following = [c for c in compacts[i + 1:i + 1 + CONFIRM] if c]
            if not _confirmed(stream, following, pos + len(compact)):
                pos = -1
        positions = list(range(pos, pos + len(compact))) if pos >= 0 else None
        if positions is None and len(compact) > JOIN_HEAD:
            positions = _joined_match(stream, compact, cursor)
        if positions is None:
            result.segment_labels.append(OUTSIDE)
            continue
        matched += len(compact)
        # After a joined segment the cursor stays behind its head: the row's numbers printed between
        # the head and the tail come next in the reader's order.
        head = next((j for j in range(1, len(positions)) if positions[j] != positions[j - 1] + 1), len(positions))
        cursor = positions[head - 1] + 1
        labels = _char_labels(text, [stream_labels[p] for p in positions])
        kinds = {lab for lab in labels if lab != OUTSIDE}
        result.segment_labels.append(OUTSIDE if not kinds else (kinds.pop() if len(kinds) == 1 else MIXED))
        start = 0
        for j in range(1, len(labels) + 1):
            if j == len(labels) or labels[j] != labels[start]:
                if labels[start] != OUTSIDE:
                    result.span_segment.append(i)
                    result.span_start.append(start)
                    result.span_end.append(j)
                    result.span_label.append(labels[start])
                start = j
    result.aligned = matched / total if total else 1.0
    return result


def read_segments(path: Path) -> list[str]:
    """The segments the locator and mapper see for this file (reader + lineariser)."""
    doc = read_document(Path(path))
    return [s.text for s in linearize(doc).segments]


def align(path: Path, units: Optional[list[Unit]], report: SyntheticReport) -> Alignment:
    """Read ``path`` as inference does and label its segments (units from the renderer, else the
    report's own reading order)."""
    return align_segments(units if units else logical_units(report), read_segments(path))

