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

from nianbao.ingest.store import QueueFilters, Store  # noqa: F401 (QueueFilters: re-exported)

from .corrections import format_number

RULE_WEIGHT = 0.5
DEFAULT_THRESHOLD = 0.99


@dataclass(frozen=True)
class AcceptPolicy:
    """Fields read at ``threshold`` or above are accepted without review."""

    threshold: float
    error_rate: Optional[float]   # measured on held-out labelled data; None when never measured
    fields: int = 0               # how many held-out fields were at or above the threshold
    measured_on: str = ""

    def describe_zh(self) -> str:
        """The policy as the review app's header says it (the reviewers' language)."""
        if self.error_rate is None:
            return f"置信度 ≥ {format_number(self.threshold)} 的字段自动接受（错误率未测）"
        return (f"置信度 ≥ {format_number(self.threshold)} 的字段自动接受：在 {self.fields} 个留出字段上"
                f"实测错误率 {self.error_rate:.3%}")

    def describe(self) -> str:
        if self.error_rate is None:
            return f"fields at ≥ {format_number(self.threshold)} are accepted; their error rate has not been measured"
        return (f"fields at ≥ {format_number(self.threshold)} are accepted: measured error rate {self.error_rate:.3%} "
                f"on {self.fields} held-out fields ({self.measured_on})")


def load_accept_policy(path: Optional[Path] = None, threshold: Optional[float] = None) -> AcceptPolicy:
    """The policy measured by ``training/calibrate.py``: its ``accept_policy`` entry when there is
    one, else the error rate at ≥ 0.99 in its report. ``path``: the calibration file, by default the
    one of the models folder in use (``nianbao.resources``: ``NIANBAO_MODEL_DIR`` or the shipped models)."""
    if path is None:
        from nianbao.resources import calibration_path

        path = calibration_path()
    return _accept_policy(Path(path), threshold)


@lru_cache(maxsize=4)
def _accept_policy(path: Path, threshold: Optional[float]) -> AcceptPolicy:
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
    rows = store.queue_rows(filters, policy.threshold)
    failing = store.failing_rules([r.id for r in rows])
    items = [QueueItem(id=r.id, path=r.path, agency=r.agency, year=r.year, template=r.template,
                       review_status=r.review_status, model_version=r.model_version,
                       expected_errors=round(r.misreads + RULE_WEIGHT * len(failing.get(r.id, [])), 3),
                       doubtful=r.doubtful, failing_rules=failing.get(r.id, []),
                       reasons=json.loads(r.review_reasons) if r.review_reasons else [])
             for r in rows]
    items.sort(key=lambda it: (-it.expected_errors, it.id))
    return items[:limit]


CLAIM_SECONDS = 30 * 60  # a claimed document goes back to the queue when its reviewer is gone this long


def next_document(store: Store, reviewer: str, filters: Optional[QueueFilters] = None,
                  policy: Optional[AcceptPolicy] = None, ttl_seconds: float = CLAIM_SECONDS) -> Optional[int]:
    """Claim the most urgent document no other reviewer holds and return its id (None: nothing left).

    Two reviewers asking at once get different documents; a claim lapses after ``ttl_seconds`` and is
    dropped when the document is approved."""
    items = review_queue(store, filters, policy, limit=10 ** 9)
    return store.claim_next(reviewer, [it.id for it in items], ttl_seconds)
