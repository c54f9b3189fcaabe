"""Checks across documents, as pure functions of stored records (no store, no model).

R5 as evidence: rule 5 ties a report to the same agency's neighbouring years (carried over =
last year's carried forward; v2021 stock in force = last year's + issued − repealed). For a
*doubted* reading (confidence below the doubt threshold, with alternatives) those relations say
which of its own candidate readings the neighbours support. A clear reading is never changed, and
no value is invented: only a candidate the document itself allows can be chosen, and the decision
names the other report it came from.

H1, parent and child: a parent body's Table B/C totals against the sum of its children's in the
same year, evaluated only when every child's report is present; otherwise "not evaluated" with the
missing children listed. The hierarchy comes from a CSV (parent,child) or is inferred from names that
nest (a district and its 街道/乡/镇: ``ingest.agencies.infer_hierarchy``), marked as inferred.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

from nianbao.inference.reconcile import B_COLUMNS
from nianbao.numfmt import full_number

Values = Mapping[str, Optional[float]]
DOUBT_THRESHOLD = 0.9
# A reading chosen by another report's numbers stays doubted: the neighbour may restate its figures.
CROSS_YEAR_CONFIDENCE = 0.85


@dataclass(frozen=True)
class StoredField:
    value: Optional[float]
    confidence: float
    alternatives: tuple[float, ...] = ()


@dataclass(frozen=True)
class YearRecord:
    """One stored report of an agency: its document id, source path, year, template and values."""

    document_id: int
    path: str
    year: int
    template: Optional[str]
    values: Values


@dataclass(frozen=True)
class Expectation:
    key: str
    value: float
    relation: str          # the rule 5 relation, in words
    source: YearRecord     # the other report the value comes from


@dataclass(frozen=True)
class Redecision:
    """A doubted reading decided again with a neighbouring year's numbers (soft evidence)."""

    document_id: int
    key: str
    old_value: Optional[float]
    new_value: float
    confidence: float
    reason: str
    evidence_document_id: int
    evidence_path: str
    evidence_year: int


def _get(values: Values, key: str) -> Optional[float]:
    v = values.get(key)
    return None if v is None else float(v)


def _carried(source: YearRecord, theirs: str, mine: str, relation: str) -> list[Expectation]:
    """Table B column by column: this report's ``mine`` row = ``source``'s ``theirs`` row."""
    out = []
    for c in B_COLUMNS:
        v = _get(source.values, f"requests.{theirs}.{c}")
        if v is not None:
            out.append(Expectation(f"requests.{mine}.{c}", v, relation, source))
    return out


def _stock(in_force_of: Values, flows_of: Values) -> list[tuple[str, float, float, float]]:
    """(row, in force of one report, issued and repealed of the other) for the v2021 stock rows where
    all three are known."""
    out = []
    for row in ("rules", "normative"):
        stock = _get(in_force_of, f"proactive.{row}.in_force")
        issued, repealed = _get(flows_of, f"proactive.{row}.issued"), _get(flows_of, f"proactive.{row}.repealed")
        if stock is not None and issued is not None and repealed is not None:
            out.append((row, stock, issued, repealed))
    return out


def expectations(this: YearRecord, earlier: Optional[YearRecord], later: Optional[YearRecord]) -> list[Expectation]:
    """What rule 5 says this report's fields should be, from the years before and after it."""
    out: list[Expectation] = []
    if earlier is not None and earlier.year == this.year - 1:
        out += _carried(earlier, "carried_forward", "carried_over", f"carried over = carried forward of {earlier.year}")
        if this.template == "v2021":
            for row, prev, issued, repealed in _stock(earlier.values, this.values):
                out.append(Expectation(f"proactive.{row}.in_force", prev + issued - repealed,
                                       f"in force = in force of {earlier.year} + issued − repealed", earlier))
    if later is not None and later.year == this.year + 1:
        out += _carried(later, "carried_over", "carried_forward", f"carried forward = carried over of {later.year}")
        if later.template == "v2021":
            for row, nxt, issued, repealed in _stock(later.values, later.values):
                out.append(Expectation(f"proactive.{row}.in_force", nxt - issued + repealed,
                                       f"in force = in force of {later.year} − its issued + its repealed", later))
    return out


def redecide(document_id: int, fields: Mapping[str, StoredField], expected: Sequence[Expectation],
             threshold: float = DOUBT_THRESHOLD) -> list[Redecision]:
    """Doubted readings whose neighbours support exactly one other of their candidate readings.

    Never a clear reading (confidence ≥ ``threshold``), never a value outside the reading's own
    candidates, never when the neighbours disagree among themselves about the field."""
    by_key: dict[str, list[Expectation]] = {}
    for e in expected:
        by_key.setdefault(e.key, []).append(e)
    out = []
    for key, exps in sorted(by_key.items()):
        f = fields.get(key)
        if f is None or f.value is None or f.confidence >= threshold:
            continue
        wanted = {e.value for e in exps}
        if len(wanted) != 1:
            continue
        target = wanted.pop()
        if abs(f.value - target) < 1e-9:
            continue  # the reading already agrees
        candidates = [a for a in f.alternatives if abs(a - target) < 1e-9]
        if not candidates:
            continue
        e = exps[0]
        out.append(Redecision(
            document_id=document_id, key=key, old_value=f.value, new_value=candidates[0],
            confidence=min(CROSS_YEAR_CONFIDENCE, max(f.confidence, 0.5)),
            reason=(f"decided across years: {e.relation} ({full_number(target)}) in {e.source.path} "
                    f"({e.source.year}, document {e.source.document_id}); read {full_number(f.value)} alone"),
            evidence_document_id=e.source.document_id, evidence_path=e.source.path, evidence_year=e.source.year))
    return out


# ---------------------------------------------------------------------------------------------
# H1: parent and child
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    inferred: bool = False


class HierarchyError(ValueError):
    """A hierarchy CSV that cannot be used: the message names the line."""


def read_hierarchy_csv(text: str) -> list[Edge]:
    """``parent,child`` per line (a header line ``parent,child`` is allowed; blank lines skipped)."""
    edges = []
    for i, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise HierarchyError(f"hierarchy CSV line {i}: expected 'parent,child', got {row!r}")
        parent, child = row[0].strip(), row[1].strip()
        if i == 1 and (parent.lower(), child.lower()) == ("parent", "child"):
            continue
        if parent == child:
            raise HierarchyError(f"hierarchy CSV line {i}: {parent!r} is its own child")
        edges.append(Edge(parent, child))
    return edges


H1_KEYS = ("requests.new.total", "requests.carried_over.total", "requests.results_total.total",
           "requests.carried_forward.total", "appeals.review.total", "appeals.litigation_direct.total",
           "appeals.litigation_after_review.total")


@dataclass
class HierarchyFinding:
    rule: str
    parent: str
    year: int
    evaluated: bool
    passed: Optional[bool]          # None when not evaluated
    detail: str
    cells: list[str]
    difference: Optional[float]
    confidence: float
    inferred: bool
    parent_document_id: Optional[int] = None
    child_document_ids: list[int] = field(default_factory=list)
    missing_children: list[str] = field(default_factory=list)


def parent_child_checks(edges: Iterable[Edge], reports: Mapping[tuple[str, int], YearRecord],
                        keys: Sequence[str] = H1_KEYS) -> list[HierarchyFinding]:
    """H1 for every parent with a report in a year: per total key, parent = Σ children.

    ``reports`` maps (agency key, year) to its stored report. With a child's report missing that year,
    one "not evaluated" finding lists the missing children (a sum of some children proves nothing)."""
    children: dict[str, list[Edge]] = {}
    for e in edges:
        children.setdefault(e.parent, []).append(e)
    out: list[HierarchyFinding] = []
    for (agency, year), parent in sorted(reports.items()):
        kids = children.get(agency)
        if not kids:
            continue
        inferred = any(e.inferred for e in kids)
        confidence = 0.5 if inferred else 0.9
        missing = sorted(e.child for e in kids if (e.child, year) not in reports)
        if missing:
            out.append(HierarchyFinding("H1", agency, year, False, None,
                                        f"not evaluated: no {year} report of {', '.join(missing)}", [], None,
                                        confidence, inferred, parent.document_id, missing_children=missing))
            continue
        child_reports = [reports[(e.child, year)] for e in kids]
        for key in keys:
            p = _get(parent.values, key)
            parts = [_get(c.values, key) for c in child_reports]
            if p is None or any(x is None for x in parts):
                continue
            total = sum(parts)  # type: ignore[arg-type]
            diff = round(p - total, 6)
            out.append(HierarchyFinding(
                "H1", agency, year, True, abs(diff) < 1e-9,
                f"{key}: {agency} {full_number(p)} vs sum of {len(kids)} children {full_number(total)}"
                + ("" if abs(diff) < 1e-9 else f" (differs by {full_number(diff)})"),
                [key], diff, confidence, inferred, parent.document_id,
                [c.document_id for c in child_reports]))
    return out
