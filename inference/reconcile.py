"""The reconciliation rules (勾稽关系) as pure functions of values: no model, no document.

``run_checks`` lists every rule evaluated, passed or not, with the cells involved and the
difference. The decoder uses ``row_rule_ok`` / ``column_rule_violations`` as evidence when it
chooses among uncertain readings; it never uses them to change a clear reading.
"""
from __future__ import annotations

from typing import Mapping, Optional

from nianbao.document import Check
from nianbao.numfmt import full_number
from nianbao.schema import Schema, load_schema

Values = Mapping[str, Optional[float]]
B_PARTS = ("natural", "commercial", "research", "social", "legal", "other")
B_COLUMNS = B_PARTS + ("total",)
C_GROUPS = ("review", "litigation_direct", "litigation_after_review")
C_PARTS = ("upheld", "corrected", "other", "pending")
_EPS = 1e-6
# The rules of one document's tables (rule 5 runs across documents; the audit families are in audit.py).
SUM_RULES = frozenset({"R1", "R2", "R3", "R4"})


def _v(values: Values, key: str) -> float:
    v = values.get(key)
    return 0.0 if v is None else float(v)


def result_rows(template: str, schema: Optional[Schema] = None) -> list[str]:
    """Rows of Table B whose sum is （七）总计 (rule 2)."""
    schema = schema or load_schema()
    spec = schema.table(template, "requests")
    return [r.key for r in spec.rows if r.group in ("results", "denied", "unavailable", "not_processed", "other")
            and r.key != "results_total"]


def _check(rule: str, lhs: float, rhs: float, cells: list[str], detail: str) -> Check:
    diff = round(lhs - rhs, 6)
    return Check(rule=rule, passed=abs(diff) < _EPS, detail=detail + ("" if abs(diff) < _EPS else f" (differs by {full_number(diff)})"),
                 cells=cells, difference=diff)


def rule1(values: Values, row: str) -> Check:
    parts = [f"requests.{row}.{c}" for c in B_PARTS]
    total = f"requests.{row}.total"
    s = sum(_v(values, k) for k in parts)
    t = _v(values, total)
    return _check("R1", t, s, parts + [total], f"{row}: total {full_number(t)} vs sum of applicant columns {full_number(s)}")


def rule2(values: Values, template: str, column: str, schema: Optional[Schema] = None) -> Check:
    rows = result_rows(template, schema)
    cells = [f"requests.{r}.{column}" for r in rows]
    total = f"requests.results_total.{column}"
    s = sum(_v(values, k) for k in cells)
    t = _v(values, total)
    return _check("R2", t, s, cells + [total], f"{column}: results_total {full_number(t)} vs sum of results {full_number(s)}")


def rule3(values: Values, column: str) -> Check:
    lhs_keys = [f"requests.new.{column}", f"requests.carried_over.{column}"]
    rhs_keys = [f"requests.results_total.{column}", f"requests.carried_forward.{column}"]
    lhs = sum(_v(values, k) for k in lhs_keys)
    rhs = sum(_v(values, k) for k in rhs_keys)
    return _check("R3", lhs, rhs, lhs_keys + rhs_keys, f"{column}: new + carried_over {full_number(lhs)} vs results_total + carried_forward {full_number(rhs)}")


def rule4(values: Values, group: str) -> Check:
    parts = [f"appeals.{group}.{c}" for c in C_PARTS]
    total = f"appeals.{group}.total"
    s = sum(_v(values, k) for k in parts)
    t = _v(values, total)
    return _check("R4", t, s, parts + [total], f"{group}: total {full_number(t)} vs upheld + corrected + other + pending {full_number(s)}")


def run_checks(values: Values, template: str, found: Mapping[str, bool], schema: Optional[Schema] = None) -> list[Check]:
    schema = schema or load_schema()
    checks: list[Check] = []
    if found.get("requests"):
        spec = schema.table(template, "requests")
        for r in spec.rows:
            if any(values.get(f"requests.{r.key}.{c}") is not None for c in B_COLUMNS):
                checks.append(rule1(values, r.key))
        for c in B_COLUMNS:
            checks.append(rule2(values, template, c, schema))
        for c in B_COLUMNS:
            checks.append(rule3(values, c))
    if found.get("appeals"):
        for g in C_GROUPS:
            checks.append(rule4(values, g))
    return checks


def cross_year_checks(earlier: Values, later: Values, template_later: str) -> list[Check]:
    """Rule 5 between two consecutive years of one agency (soft: agencies restate)."""
    checks = []
    for c in B_COLUMNS:
        a, b = earlier.get(f"requests.carried_forward.{c}"), later.get(f"requests.carried_over.{c}")
        if a is None or b is None:
            continue
        checks.append(_check("R5", float(b), float(a), [f"requests.carried_forward.{c}", f"requests.carried_over.{c}"],
                             f"{c}: carried_over (year N+1) {full_number(b)} vs carried_forward (year N) {full_number(a)}"))
    if template_later == "v2021":
        for row in ("rules", "normative"):
            prev = earlier.get(f"proactive.{row}.in_force")
            keys = [f"proactive.{row}.{k}" for k in ("in_force", "issued", "repealed")]
            now, issued, repealed = (later.get(k) for k in keys)
            if None in (prev, now, issued, repealed):
                continue
            checks.append(_check("R5", float(now), float(prev) + float(issued) - float(repealed), keys,
                                 f"{row}: in_force {full_number(now)} vs previous in_force + issued - repealed {full_number(float(prev) + issued - repealed)}"))
    return checks
