"""The cross-document audit over a results store, with what the store offers today
(``agency_rows``, ``field_values``, ``field_rows``, ``document_row``; no raw SQL).

- ``cross_year_redecisions``: R5 as evidence: the doubted readings that the same agency's
  neighbouring years would decide otherwise (``inference.crossdoc.redecide``). Computed, listed
  in ``nianbao report``; applying one needs a store method that sets a field's value with its own
  confidence and reason and logs the other document as evidence (not offered yet: ``change_field``
  is a reviewer's edit, confidence 1).
- ``hierarchy_findings``: H1 over the stored documents, from a CSV of parent,child names or from
  names that nest (inferred).
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from nianbao.inference.crossdoc import (H1_KEYS, Edge, HierarchyFinding, Redecision, StoredField, YearRecord, expectations,
                                        parent_child_checks, read_hierarchy_csv, redecide)
from nianbao.inference.reconcile import B_COLUMNS

from .agencies import infer_hierarchy, normalise_agency

R5_EVIDENCE_KEYS = tuple(
    [f"requests.{row}.{c}" for row in ("carried_forward", "carried_over") for c in B_COLUMNS]
    + [f"proactive.{row}.{k}" for row in ("rules", "normative") for k in ("in_force", "issued", "repealed")]
)


@dataclass(frozen=True)
class _Doc:
    id: int
    key: str
    year: int
    template: Optional[str]


def _documents(store) -> list[_Doc]:
    out = []
    for r in store.agency_rows():
        norm = normalise_agency(r["agency"])
        if norm is None or r["year"] is None:
            continue
        out.append(_Doc(int(r["id"]), norm.key, int(r["year"]), r["template"]))
    return out


def _path(store, doc_id: int) -> str:
    row = store.document_row(doc_id) or {}
    return str(row.get("path") or f"document {doc_id}")


def _records(store, docs: Sequence[_Doc], keys: Sequence[str]) -> dict[int, YearRecord]:
    values = store.field_values([d.id for d in docs], list(keys))
    return {d.id: YearRecord(d.id, _path(store, d.id), d.year, d.template, values.get(d.id, {})) for d in docs}


def _alternatives(text: Any) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        items = json.loads(text) if isinstance(text, str) else text
        return tuple(float(a) for a in items)
    except (TypeError, ValueError):
        return ()


def cross_year_redecisions(store) -> list[Redecision]:
    """Doubted readings that a neighbouring year of the same agency supports deciding otherwise.
    Only documents with one report per (agency, year) take part: two reports of one year are
    restatements whose numbers may differ, no evidence for either."""
    docs = _documents(store)
    by: dict[tuple[str, int], list[_Doc]] = defaultdict(list)
    for d in docs:
        by[(d.key, d.year)].append(d)
    single = {k: v[0] for k, v in by.items() if len(v) == 1}
    records = _records(store, list(single.values()), R5_EVIDENCE_KEYS)
    out: list[Redecision] = []
    for (key, year), d in sorted(single.items()):
        earlier, later = single.get((key, year - 1)), single.get((key, year + 1))
        if earlier is None and later is None:
            continue
        expected = expectations(records[d.id], records[earlier.id] if earlier else None,
                                records[later.id] if later else None)
        if not expected:
            continue
        fields = {r["key"]: StoredField(r["value"], float(r["confidence"] if r["confidence"] is not None else 1.0),
                                        _alternatives(r["alternatives"]))
                  for r in store.field_rows(d.id) if r["key"] in R5_EVIDENCE_KEYS}
        out.extend(redecide(d.id, fields, expected))
    return out


def load_hierarchy(path: Optional[str | Path]) -> list[Edge]:
    """Edges from a CSV of printed names (normalised like the store's agency keys), or none."""
    if path is None:
        return []
    edges = read_hierarchy_csv(Path(path).read_text(encoding="utf-8-sig"))
    out = []
    for e in edges:
        p, c = normalise_agency(e.parent), normalise_agency(e.child)
        if p is not None and c is not None:
            out.append(Edge(p.key, c.key))
    return out


def hierarchy_findings(store, csv_path: Optional[str | Path] = None) -> list[HierarchyFinding]:
    """H1 over the store: the CSV's hierarchy where given, else the one inferred from nesting names."""
    docs = _documents(store)
    edges = load_hierarchy(csv_path)
    if not edges:
        edges = [Edge(p, c, inferred=True) for p, c in infer_hierarchy({d.key for d in docs})]
    if not edges:
        return []
    parents = {e.parent for e in edges}
    children = {e.child for e in edges}
    wanted = [d for d in docs if d.key in parents or d.key in children]
    records = _records(store, wanted, H1_KEYS)
    reports: dict[tuple[str, int], YearRecord] = {}
    for d in wanted:
        reports.setdefault((d.key, d.year), records[d.id])  # the first stored report of a year speaks for it
    return parent_child_checks(edges, reports)
