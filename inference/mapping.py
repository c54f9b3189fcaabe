"""Mapping located rows to schema fields. This is the transparent baseline mapper: the row comes
from label matching, the column from the order of the printed cells; the decoder settles digits.

A trained classifier (a later stage) plugs in behind the same ``Mapper`` protocol and keeps this
baseline as its comparison and fallback.
"""
from __future__ import annotations

import re
from typing import Optional, Protocol

from nianbao.document import Document, FieldValue
from nianbao.schema import Schema

from . import decode
from .linearize import LinearText
from .locate import LocatedTable

_HEADER_WAN = re.compile(r"采购总?金额\(?(?:单位:?)?万元")
_PROSE_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")


class Mapper(Protocol):
    name: str

    def map(self, doc: Document, lin: LinearText, located: dict[str, LocatedTable], schema: Schema) -> dict[str, FieldValue]:
        ...


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


class BaselineMapper:
    name = "baseline"

    def map(self, doc: Document, lin: LinearText, located: dict[str, LocatedTable], schema: Schema) -> dict[str, FieldValue]:
        template = doc.template or "v2021"
        prose = prose_text(lin, located)
        fields: dict[str, FieldValue] = {}
        for name in ("proactive", "requests", "appeals"):
            table = located.get(name)
            if table is None:
                continue
            spec = schema.table(template, name)
            header_unit: Optional[str] = None
            if name == "proactive" and _HEADER_WAN.search(lin.norm[table.region.start:table.region.end]):
                header_unit = "万元"
            decisions: dict[str, decode.RowDecision] = {}
            for run in table.runs:
                keys = spec.field_keys() if name == "appeals" else run.row.field_keys()
                evidence = prose_numbers(prose, run.row.labels)
                d = decode.decide_row(run, keys, name, evidence, header_unit)
                if d is not None:
                    decisions[run.row.key] = d
            if not decisions:
                continue
            if name == "requests":
                decode.joint_requests(decisions, template)
            # Every key of the template for a found table: unprinted rows are null, never zero.
            for key in spec.field_keys():
                fields[key] = FieldValue(value=None, raw=None, confidence=0.95, reason="row not printed")
            for d in decisions.values():
                fields.update(decode.field_values(d, header_unit))
            doc.found[name] = True
        return fields
