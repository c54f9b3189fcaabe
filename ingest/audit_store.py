"""The cross-document audit over a results store, with what the store offers today
(``agency_rows``, ``field_values``, ``field_rows``, ``document_row``; no raw SQL).

- ``cross_year_redecisions``: R5 as evidence: the doubted readings that the same agency's
  neighbouring years would decide otherwise (``inference.crossdoc.redecide``), listed in
  ``nianbao report``; ``apply_cross_year_redecisions`` applies them after a batch is ingested
  (``Store.redecide_field``: the field keeps the decision's own confidence and reason, is not marked
  reviewed, the history names the other report, and the document's checks are re-run).
- ``hierarchy_findings``: H1 over the stored documents, from a CSV of parent,child names or from
  names that nest (inferred).
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from nianbao.inference.crossdoc import (DOUBT_THRESHOLD, H1_KEYS, Edge, HierarchyFinding, Redecision, StoredField,
                                        YearRecord, expectations, parent_child_checks, read_hierarchy_csv, redecide)
from nianbao.inference.reconcile import B_COLUMNS

from nianbao.record import Record, RecordCheck, RecordField

from .store import StaleEditError, StoredCheck, StoreError, stored_record

from .agencies import infer_hierarchy, normalise_agency

R5_EVIDENCE_KEYS = tuple(
    [f"requests.{row}.{c}" for row in ("carried_forward", "carried_over") for c in B_COLUMNS]
    + [f"proactive.{row}.{k}" for row in ("rules", "normative") for k in ("in_force", "issued", "repealed")]
)


@dataclass(frozen=True)
class _Doc:
    id: int
    path: str
    key: str
    year: int
    template: Optional[str]


def _documents(store) -> list[_Doc]:
    out = []
    for r in store.agency_rows():
        norm = normalise_agency(r["agency"])
        if norm is None or r["year"] is None:
            continue
        out.append(_Doc(int(r["id"]), str(r["path"] or f"document {r['id']}"), norm.key, int(r["year"]),
                        r["template"]))
    return out


def _records(store, docs: Sequence[_Doc], keys: Sequence[str]) -> dict[int, YearRecord]:
    values = store.field_values([d.id for d in docs], list(keys))
    return {d.id: YearRecord(d.id, d.path, d.year, d.template, values.get(d.id, {})) for d in docs}


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


# ---------------------------------------------------------------------------------------------
# R5 applied: doubted readings decided again on a neighbouring year's evidence
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AppliedRedecision:
    """What became of one decision: applied, or left alone and why (a reviewer set the field since,
    the reading is no longer doubted, the document is approved)."""

    redecision: Redecision
    applied: bool
    note: str = ""


def _cells_confidence(cells: Sequence[str], values: dict, confidences: dict) -> float:
    return min((float(confidences[k]) for k in cells
                if values.get(k) is not None and confidences.get(k) is not None), default=1.0)


def rerun_checks(record: Record, values: dict[str, Any], confidences: dict[str, float],
                 changed: Sequence[str]) -> list[StoredCheck]:
    """The document's checks after ``changed`` fields took ``values``: rules 1-4 run again (each as
    sure as its least sure cell, as the pipeline does); a prose finding (P) on a changed cell is
    decided again against the number its sentence states; the other findings (A, N: raw text and
    prose) stay as they were."""
    from nianbao.inference import audit, reconcile
    from nianbao.numfmt import full_number

    template = record.template
    found = dict(record.found)
    out: list[StoredCheck] = []
    if template and any(found.values()):
        for c in reconcile.run_checks(values, template, found):
            c.confidence = round(_cells_confidence(c.cells, values, confidences), 3)
            out.append(StoredCheck.of(RecordCheck.of(c)))
    old_confidences = {k: f.confidence for k, f in record.fields.items()}
    for c in record.checks:
        if audit.family(c.rule) == "R":
            continue
        cells = c.cells or []
        if audit.family(c.rule) == "P" and c.stated_value is not None and set(cells) & set(changed):
            parts = [values.get(k) for k in cells]
            if all(v is not None for v in parts):
                table = float(sum(parts))
                stated = float(c.stated_value)
                before = _cells_confidence(cells, values, old_confidences)
                base = (c.confidence or 1.0) / before if before > 0 else 1.0
                c = replace(c, passed=abs(table - stated) < 1e-9, table_value=table, difference=round(table - stated, 6),
                            confidence=round(min(1.0, base * _cells_confidence(cells, values, confidences)), 3),
                            detail=f"prose states {full_number(stated)} ({audit.RULES[c.rule].split(': ', 1)[1]}), "
                                   f"table {full_number(table)}")
        out.append(StoredCheck.of(c))
    return out


def apply_cross_year_redecisions(store, threshold: float = DOUBT_THRESHOLD) -> list[AppliedRedecision]:
    """Apply rule 5 as evidence over the whole store (after a batch is ingested): each doubted reading
    that a neighbouring year decides becomes that candidate, with the decision's confidence and reason
    (which names the other report), logged in the field history; the document's checks are re-run.

    Looked at again inside each document's transaction, so nothing a person decided meanwhile is
    overridden: a field a reviewer set, a reading no longer doubted (a clear reading is never
    changed), a value changed since, an approved document are all left as they are."""
    decided = cross_year_redecisions(store)
    by_doc: dict[int, list[Redecision]] = defaultdict(list)
    for r in decided:
        by_doc[r.document_id].append(r)
    out: list[AppliedRedecision] = []
    for doc_id, items in sorted(by_doc.items()):
        with store.transaction():
            store.lock_document(doc_id)
            row = store.document_row(doc_id)
            if row is None or row["review_status"] == "approved":
                out += [AppliedRedecision(r, False, "approved: left as approved" if row else "document gone")
                        for r in items]
                continue
            record = stored_record(store, row)
            fields = record.fields
            values = {k: f.value for k, f in fields.items()}
            confidences = {k: f.confidence for k, f in fields.items()}
            changed: list[str] = []  # every field decided so far: the checks re-run on all of them
            for r in items:
                f = fields.get(r.key) or RecordField(value=None, raw=None, confidence=None)
                conf = f.confidence
                if f.reason == "reviewed":
                    out.append(AppliedRedecision(r, False, "set by a reviewer"))
                    continue
                if conf is None or float(conf) >= threshold:
                    out.append(AppliedRedecision(r, False, "not doubted"))
                    continue
                values[r.key], confidences[r.key] = r.new_value, r.confidence
                checks = rerun_checks(record, values, confidences, [*changed, r.key])
                try:
                    store.redecide_field(doc_id, r.key, r.new_value, r.confidence, r.reason, r.evidence_document_id,
                                         based_on=r.old_value, checks=checks)
                except (StaleEditError, StoreError) as e:
                    values[r.key], confidences[r.key] = f.value, conf
                    out.append(AppliedRedecision(r, False, str(e)))
                    continue
                changed.append(r.key)
                out.append(AppliedRedecision(r, True))
    return out
