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


def prose_numbers(lin: LinearText, located: dict[str, LocatedTable]) -> frozenset[float]:
    """Numbers printed outside the tables (the report's own prose), as evidence for ambiguous splits."""
    spans = sorted((t.region.start, t.region.end) for t in located.values())
    norm = lin.norm
    pieces, pos = [], 0
    for s, e in spans:
        pieces.append(norm[pos:s])
        pos = max(pos, e)
    pieces.append(norm[pos:])
    out = set()
    for text in pieces:
        for m in _PROSE_NUMBER.finditer(text):
            out.add(float(m.group(0)))
    return frozenset(out)


class BaselineMapper:
    name = "baseline"

    def map(self, doc: Document, lin: LinearText, located: dict[str, LocatedTable], schema: Schema) -> dict[str, FieldValue]:
        template = doc.template or "v2021"
        evidence = prose_numbers(lin, located)
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
