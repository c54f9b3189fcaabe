"""Mapping located rows to schema fields. This is the transparent baseline mapper: the row comes
from label matching, the column from the order of the printed cells; the decoder settles digits.

A trained classifier (a later stage) plugs in behind the same ``Mapper`` protocol and keeps this
baseline as its comparison and fallback.
"""
from __future__ import annotations

import re
from typing import Optional, Protocol

from nianbao.document import Document, FieldValue
from nianbao.schema import DEFAULT_TEMPLATE, TABLE_NAMES, Schema, TableSpec, template_for_year

from . import decode
from .linearize import LinearText
from .locate import LocatedTable, RowRun, missing_row_doubt

# The procurement amount's header prints its unit; OCR damages the words before it (采构总金额).
_HEADER_WAN = re.compile(r"金额\(?(?:单位:?)?万元")
_YUAN_DECIMALS = 2  # a sum in yuan is printed to the fen at most
_PROSE_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")


class Mapper(Protocol):
    name: str

    def map(self, doc: Document, lin: LinearText, located: dict[str, LocatedTable], schema: Schema) -> dict[str, FieldValue]:
        ...


# A row placed by order and cell count under an unrecognised label: doubted until measured.
STRUCTURE_PLACED = 0.88
STRUCTURE_REASON = "row placed by its position in the statutory row order and its number of cells"
APPROXIMATE_REASON = "row label matched approximately"
COLUMNS_UNSETTLED_REASON = ("empty cells before and after the row's numbers: which columns hold them is not printed")
# A missing row when unplaced numbers remain in its table: it may be printed there.
MISSING_ROW_UNSURE = 0.5
PROSE_WINDOW = 16  # characters between a row's label in the prose and the number it states


def prose_text(lin: LinearText, located: dict[str, LocatedTable]) -> str:
    """The document without its table regions: the report's own prose."""
    spans = sorted((t.region.start, t.region.end) for t in located.values())
    norm = lin.norm
    pieces, pos = [], 0
    for s, e in spans:
        pieces.append(norm[pos:s])
        pos = max(pos, e)
    pieces.append(norm[pos:])
    return "\n".join(pieces)


def prose_numbers(prose: str, labels: tuple[str, ...]) -> frozenset[float]:
    """Numbers the prose states right after a row's label ("现行有效行政规范性文件698件"): evidence
    for choosing among readings of that row's run-together digits."""
    out = set()
    for label in labels:
        if label.startswith("re:"):
            continue
        for m in re.finditer(re.escape(label), prose):
            window = prose[m.end():m.end() + PROSE_WINDOW]
            for n in _PROSE_NUMBER.finditer(window):
                out.add(float(n.group(0)))
    return frozenset(out)


def redistribute_runs(runs: list[RowRun], spec: TableSpec) -> list[RowRun]:
    """A run holding k rows' worth of separate cells, followed by k-1 rows that printed nothing
    (their label displaced after the numbers, or not printed), gives each row its own cells."""
    order = [r.key for r in spec.rows]
    by_key = {r.row.key: r for r in runs}
    out = list(runs)
    for run in runs:
        n = len(run.row.columns)
        if n < 2 or len(run.chunks) < 2 * n or len(run.chunks) % n or any(c.splittable for c in run.chunks):
            continue
        k = len(run.chunks) // n
        idx = order.index(run.row.key)
        followers = order[idx + 1: idx + k]
        if len(followers) != k - 1 or any(by_key.get(f) is not None and by_key[f].chunks for f in followers):
            continue
        run.chunks, rest = run.chunks[:n], run.chunks[n:]
        for j, key in enumerate(followers):
            moved = RowRun(row=spec.row(key), label=run.label, chunks=rest[j * n:(j + 1) * n],
                           via_group=True)
            if key in by_key:
                out[out.index(by_key[key])] = moved
            else:
                out.append(moved)
            by_key[key] = moved
    out.sort(key=lambda r: order.index(r.row.key))
    return out


def fit_tail(chunks: list, n: int) -> list:
    """Empty tab cells after a row's last number are its printed-empty cells as far as the row has
    cells; past that they are the export's ragged tail."""
    out = list(chunks)
    while len(out) > n and out and out[-1].kind == "blank" and out[-1].segment.tail:
        out.pop()
    return out


def columns_unsettled(chunks: list, n: int) -> bool:
    """Empty cells both before a row's numbers (a label spread over several cells) and after them (a
    total printed empty, or a ragged tail), more cells than the row has, and a number that is not 0:
    which columns hold the numbers is not printed, so the reading is doubted."""
    if len(chunks) <= n or not chunks or chunks[0].kind != "blank":
        return False
    has_tail = chunks[-1].kind == "blank" and chunks[-1].segment.tail
    return has_tail and any(c.kind == "number" and c.digits.strip("0") for c in chunks)


def more_decimals_than_yuan(raw: Optional[str]) -> bool:
    """A printed amount with no 万 whose decimals go past the fen: its unit is likely 万元."""
    if not raw:
        return False
    return "万" not in raw and len(re.match(r"\d*", raw.partition(".")[2]).group()) > _YUAN_DECIMALS


class BaselineMapper:
    name = "baseline"

    def map(self, doc: Document, lin: LinearText, located: dict[str, LocatedTable], schema: Schema) -> dict[str, FieldValue]:
        template = doc.template or DEFAULT_TEMPLATE
        prose = prose_text(lin, located)
        placeholders_in_use = any(c.kind == "placeholder" for t in located.values() for r in t.runs for c in r.chunks)
        fields: dict[str, FieldValue] = {}
        for name in TABLE_NAMES:
            table = located.get(name)
            if table is None:
                continue
            spec = schema.table(template, name)
            header_unit: Optional[str] = None
            if name == "proactive" and _HEADER_WAN.search(lin.norm[table.region.start:table.region.end]):
                header_unit = "万元"
            decisions: dict[str, decode.RowDecision] = {}
            unsettled: set[str] = set()
            runs = table.runs if name == "appeals" else redistribute_runs(table.runs, spec)
            for run in runs:
                keys = spec.field_keys() if name == "appeals" else run.row.field_keys()
                if columns_unsettled(run.chunks, len(keys)):
                    unsettled.add(run.row.key)
                run.chunks = fit_tail(run.chunks, len(keys))
                evidence = prose_numbers(prose, run.row.labels)
                d = decode.decide_row(run, keys, name, evidence, header_unit, placeholders_in_use)
                if d is not None:
                    decisions[run.row.key] = d
            if not decisions:
                continue
            if name == "requests":
                decode.joint_requests(decisions, template)
            # Every key of the template for a found table: unprinted rows are null, never zero. Where
            # numbers under unrecognised labels were left unplaced, a missing row may be among them.
            printed = set(decisions)
            for row in spec.rows:
                unsure = missing_row_doubt(row.key, spec, printed, bool(table.unplaced))
                for key in row.field_keys():
                    fields[key] = (FieldValue(value=None, raw=None, confidence=MISSING_ROW_UNSURE, reason=unsure)
                                   if unsure else FieldValue(value=None, raw=None, confidence=0.95, reason="row not printed"))
            run_of = {r.row.key: r for r in runs}
            for row_key, d in decisions.items():
                values = decode.field_values(d, header_unit)
                run = run_of.get(row_key)
                label = " ".join(run.label.split())[:40] if run is not None else ""
                for f in values.values():
                    # The row's placement explains the value better than the classifier's label reading.
                    placement_explains = not f.reason or f.reason.startswith("row label read by")
                    if run is not None and run.by_structure:
                        f.confidence = min(f.confidence, STRUCTURE_PLACED)
                        if placement_explains:
                            f.reason = (STRUCTURE_REASON + "; its label "
                                        f"'{label}' was not recognised")
                    elif run is not None and run.approximate and placement_explains:
                        f.reason = f"{APPROXIMATE_REASON} ('{label}', a few characters damaged)"
                if row_key in unsettled:
                    for f in values.values():
                        f.confidence = min(f.confidence, decode.DOUBT_CAP)
                        f.reason = f.reason or COLUMNS_UNSETTLED_REASON
                for key, f in values.items():
                    if key.endswith("amount_yuan") and header_unit is None and more_decimals_than_yuan(f.raw):
                        f.confidence = min(f.confidence, decode.DOUBT_CAP)
                        f.reason = (f"'{f.raw}' has more decimals than a sum in yuan: the unit may be 万元, "
                                    "whose header was not read")
                fields.update(values)
            doc.found[name] = True
        return fields


class MapStage:
    """Place each located row's printed numbers into the schema's fields (the decoder settles digits)."""

    name = "map"

    def __init__(self, schema: Schema, mapper: Mapper):
        self.schema = schema
        self.mapper = mapper

    def __call__(self, doc: Document) -> Document:
        doc.spotter = doc.spotter or self.mapper.name
        doc.fields = self.mapper.map(doc, doc.linear, doc.located, self.schema)
        # A table is found when its rows were read; with none found the template is the year's.
        if not any(doc.found.values()) and doc.year is not None:
            doc.template = template_for_year(doc.year)
        return doc
