"""Rule 5 across the store: consecutive years of one (normalised) agency.

For every agency key with reports for years N and N+1, ``cross_year_checks`` (from
``nianbao.inference.reconcile``) compares carried_forward(N) with carried_over(N+1) and, for a
v2021 year N+1, in_force(N) + issued(N+1) − repealed(N+1) with in_force(N+1). Pairs whose agency
names only *possibly* match (see ``agencies.possible_matches``) are checked too, marked
``agency_match = 'possible'`` with the lower confidence. The whole set is recomputed in one
transaction (it is small: a handful of fields per document), so it always matches the documents.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

from nianbao.inference.reconcile import B_COLUMNS, cross_year_checks

from .agencies import normalise_agency, possible_matches
from .store import AgencyMatch, CrossYearFinding, Store

R5_KEYS = tuple(
    [f"requests.carried_forward.{c}" for c in B_COLUMNS]
    + [f"requests.carried_over.{c}" for c in B_COLUMNS]
    + [f"proactive.{row}.{k}" for row in ("rules", "normative") for k in ("in_force", "issued", "repealed")]
)


@dataclass
class _Doc:
    id: int
    agency: str
    key: str
    confidence: float
    year: int
    template: Optional[str]


@dataclass
class CrossYearSummary:
    pairs: int
    checks: int
    failed: int
    same_agency_names: int
    possible_matches: int


def refresh_cross_year(store: Store) -> CrossYearSummary:
    docs: list[_Doc] = []
    agencies = []
    for r in store.agency_rows():
        norm = normalise_agency(r["agency"])
        if norm is None:
            continue
        if (norm.key, norm.confidence) != (r["agency_normalised"], r["agency_confidence"]):
            agencies.append((r["id"], norm.key, norm.confidence))
        if r["year"] is not None:
            docs.append(_Doc(r["id"], r["agency"], norm.key, norm.confidence, int(r["year"]), r["template"]))

    by_key: dict[str, dict[int, list[_Doc]]] = defaultdict(lambda: defaultdict(list))
    names: dict[str, set[str]] = defaultdict(set)
    for d in docs:
        by_key[d.key][d.year].append(d)
        names[d.key].add(d.agency)

    values = _values(store, [d.id for d in docs])
    findings: list[CrossYearFinding] = []
    pairs = 0

    def compare(key: str, earlier: list[_Doc], later: list[_Doc], match: str, match_conf: float) -> None:
        nonlocal pairs
        for e in earlier:
            for lt in later:
                if e.id == lt.id:
                    continue
                checks = cross_year_checks(values.get(e.id, {}), values.get(lt.id, {}), lt.template or "")
                pairs += 1
                conf = round(min(e.confidence, lt.confidence) * match_conf, 3)
                for c in checks:
                    findings.append(CrossYearFinding(key, e.id, lt.id, e.year, lt.year, match, conf, c.rule, c.passed,
                                                     c.detail, c.cells, c.difference))

    for key, years in by_key.items():
        for y in sorted(years):
            if y + 1 in years:
                compare(key, years[y], years[y + 1], "same", 1.0)

    matches: list[AgencyMatch] = []
    # Printed names folded to one key: the same body (e.g. 平潭综合实验区 / 平潭综合实验区管委会).
    for key, ns in names.items():
        ns_sorted = sorted(ns)
        for other in ns_sorted[1:]:
            conf = min(normalise_agency(ns_sorted[0]).confidence, normalise_agency(other).confidence)
            matches.append(AgencyMatch(ns_sorted[0], other, "same", conf, f"both normalise to {key}"))
    possible = possible_matches(by_key)
    for longer, shorter, conf in possible:
        matches.append(AgencyMatch(longer, shorter, "possible", conf,
                                   f"{longer} may be {shorter} named with its place; not merged"))
        a, b = by_key[longer], by_key[shorter]
        for y in sorted(set(a) | set(b)):
            if y + 1 in b and y in a:
                compare(longer, a[y], b[y + 1], "possible", conf)
            if y + 1 in a and y in b:
                compare(shorter, b[y], a[y + 1], "possible", conf)

    store.replace_cross_year(findings, matches, agencies)
    return CrossYearSummary(pairs=pairs, checks=len(findings), failed=sum(1 for f in findings if not f.passed),
                            same_agency_names=sum(1 for m in matches if m.relation == "same"),
                            possible_matches=len(possible))


def _values(store: Store, ids: list[int]) -> dict[int, dict[str, Optional[float]]]:
    return defaultdict(dict, store.field_values(ids, list(R5_KEYS)))
