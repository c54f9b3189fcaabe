"""The review queue: documents that need a person, most expected errors first.

Expected wrong fields of a document = Σ (1 − calibrated confidence) over its fields + ``RULE_WEIGHT``
per failing rule. Blank fields count too: a row left blank because its label was not found is the
commonest miss on damaged labels (benchmarks/bench_review_loop.py), and such blanks carry a
confidence below 1 ("row not printed"). A failing rule means one of its cells is misread or the report
itself is wrong (real reports often are); with no measured split between the two, a failing rule
counts as half a wrong field. The ordering is what matters: the confidences are calibrated
(``models/calibration.json``), so documents with many doubtful cells come first.

Fields at or above the auto-accept threshold are not asked about; the threshold and the error rate
measured at it on held-out labelled data are shown to the reviewer (``AcceptPolicy``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from nianbao.ingest.store import Store

from .corrections import format_number

RULE_WEIGHT = 0.5
DEFAULT_THRESHOLD = 0.99
CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "models" / "calibration.json"
QUEUE_STATUSES = ("pending", "in_review", "approved")


@dataclass(frozen=True)
class AcceptPolicy:
    """Fields read at ``threshold`` or above are accepted without review."""

    threshold: float
    error_rate: Optional[float]   # measured on held-out labelled data; None when never measured
    fields: int = 0               # how many held-out fields were at or above the threshold
    measured_on: str = ""

    def describe(self) -> str:
        if self.error_rate is None:
            return f"fields at ≥ {format_number(self.threshold)} are accepted; their error rate has not been measured"
        return (f"fields at ≥ {format_number(self.threshold)} are accepted: measured error rate {self.error_rate:.3%} "
                f"on {self.fields} held-out fields ({self.measured_on})")


@lru_cache(maxsize=4)
def load_accept_policy(path: Path = CALIBRATION_FILE, threshold: Optional[float] = None) -> AcceptPolicy:
    """The policy measured by ``training/calibrate.py``: its ``accept_policy`` entry when there is
    one, else the error rate at ≥ 0.99 in its report."""
    if not Path(path).exists():
        return AcceptPolicy(threshold or DEFAULT_THRESHOLD, None)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    policy = data.get("accept_policy")
    if policy and (threshold is None or abs(policy["threshold"] - threshold) < 1e-9):
        return AcceptPolicy(float(policy["threshold"]), policy.get("error_rate"), int(policy.get("fields", 0)),
                            policy.get("measured_on", ""))
    rows = policy.get("table", []) if policy else []
    for row in rows:
        if threshold is not None and abs(row["threshold"] - threshold) < 1e-9:
            return AcceptPolicy(threshold, row.get("error_rate"), int(row.get("fields", 0)), policy.get("measured_on", ""))
    report = data.get("report", {})
    after = report.get("after", {})
    if threshold in (None, DEFAULT_THRESHOLD) and "error_rate_at_or_above_0.99" in after:
        return AcceptPolicy(DEFAULT_THRESHOLD, after["error_rate_at_or_above_0.99"], int(after.get("at_or_above_0.99", 0)),
                            f"{report.get('documents', '?')} factory documents, {report.get('split', '')} split")
    return AcceptPolicy(threshold or DEFAULT_THRESHOLD, None)


@dataclass
class QueueFilters:
    """Which documents the queue shows."""

    agency: Optional[str] = None           # a substring of the agency as printed or normalised
    year: Optional[int] = None
    rule: Optional[str] = None             # only documents where this rule fails (R1..R4)
    max_confidence: Optional[float] = None  # only documents with a field (or blank) below this
    status: str = "open"                   # open (pending + in_review) | pending | in_review | approved | all

    def where(self) -> tuple[str, list]:
        conds, params = ["d.status = 'done'", "d.review_needed = 1"], []
        if self.status == "open":
            conds.append("d.review_status IN ('pending', 'in_review')")
        elif self.status in QUEUE_STATUSES:
            conds.append("d.review_status = ?")
            params.append(self.status)
        elif self.status != "all":
            raise ValueError(f"unknown queue status {self.status!r}")
        if self.agency:
            conds.append("(d.agency LIKE ? OR d.agency_normalised LIKE ?)")
            params += [f"%{self.agency}%"] * 2
        if self.year is not None:
            conds.append("d.year = ?")
            params.append(int(self.year))
        if self.rule:
            conds.append("EXISTS (SELECT 1 FROM checks c WHERE c.document_id = d.id AND c.passed = 0 AND c.rule LIKE ?)")
            params.append(f"{self.rule}%")
        if self.max_confidence is not None:
            conds.append("EXISTS (SELECT 1 FROM fields f2 WHERE f2.document_id = d.id AND f2.confidence < ?)")
            params.append(float(self.max_confidence))
        return " WHERE " + " AND ".join(conds), params


@dataclass
class QueueItem:
    id: int
    path: str
    agency: Optional[str]
    year: Optional[int]
    template: Optional[str]
    review_status: str
    model_version: Optional[str]
    expected_errors: float
    doubtful: int                  # fields below the accept threshold
    failing_rules: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def review_queue(store: Store, filters: Optional[QueueFilters] = None, policy: Optional[AcceptPolicy] = None,
                 limit: int = 500) -> list[QueueItem]:
    """The documents to review, most expected wrong fields first."""
    filters = filters or QueueFilters()
    policy = policy or load_accept_policy()
    where, params = filters.where()
    rows = list(store.query(
        "SELECT d.id, d.path, d.agency, d.year, d.template, d.review_status, d.model_version, d.review_reasons, "
        "COALESCE(SUM(1 - COALESCE(f.confidence, 1)), 0) AS misreads, "
        "COALESCE(SUM(CASE WHEN f.confidence < ? THEN 1 ELSE 0 END), 0) AS doubtful "
        f"FROM documents d LEFT JOIN fields f ON f.document_id = d.id {where} GROUP BY d.id",
        [policy.threshold, *params]))
    failing: dict[int, list[str]] = {}
    ids = [r["id"] for r in rows]
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for c in store.query(f"SELECT document_id, rule FROM checks WHERE passed = 0 AND document_id IN "
                             f"({','.join('?' * len(chunk))}) ORDER BY id", chunk):
            failing.setdefault(c["document_id"], []).append(c["rule"])
    items = [QueueItem(id=r["id"], path=r["path"], agency=r["agency"], year=r["year"], template=r["template"],
                       review_status=r["review_status"], model_version=r["model_version"],
                       expected_errors=round(float(r["misreads"]) + RULE_WEIGHT * len(failing.get(r["id"], [])), 3),
                       doubtful=int(r["doubtful"]), failing_rules=failing.get(r["id"], []),
                       reasons=json.loads(r["review_reasons"]) if r["review_reasons"] else [])
             for r in rows]
    items.sort(key=lambda it: (-it.expected_errors, it.id))
    return items[:limit]
