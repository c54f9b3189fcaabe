"""What the rest of nianbao may ask a results store, and the records it gets back.

Nothing outside ``nianbao.ingest.store`` writes SQL: ingestion, exports, the review queue and its
corrections call the methods of ``Store``. ``SQLStore`` (sql.py) implements them once in the SQL both
databases understand; ``SQLiteStore`` and ``PostgresStore`` add their connection, transactions,
locks and migrations. ``query`` remains for read-only SQL in that common dialect (``?`` placeholders;
PostgreSQL translates them): tests and one-off inspection; the audit report asks ``report_figures``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Optional, Sequence

from nianbao.jsonio import clean_text, dumps_strict
from nianbao.record import RecordCheck

STATUSES = ("done", "failed")
# review_status: "none" (nothing to review), "pending" (review.needed, not yet looked at), then the
# review queue's "in_review" (a reviewer changed or confirmed something) and "approved" (written to
# labels/). Each decision is logged in ``reviews``, each value change in ``field_changes``.
REVIEW_UNTOUCHED = ("none", "pending")
QUEUE_STATUSES = ("pending", "in_review", "approved")
# A finding (a failed check) a reviewer has looked at: it is real (the report is wrong) or not.
FINDING_STATUSES = ("confirmed", "dismissed")
FINDING_SCOPES = ("document", "cross_year")
# The ``action`` of a field change that is no reviewer's: a doubted reading decided again with another
# report of the same agency (rule 5 as evidence). It keeps its own confidence and reason, never
# counts as reviewed, and names the report the evidence came from.
CROSS_YEAR_ACTION = "cross_year"

# Keys of the output contract that have their own columns; any other key of a record or of a field
# (a later stage's additions, e.g. a field's "source": "ocr") is kept as JSON in ``record_extra`` /
# ``fields.extra``, so ``load_record`` gives back what ``to_record`` gave.
RECORD_COLUMNS = {"source", "agency", "year", "template", "tables", "fields", "checks", "review", "error", "format",
                  "mapper", "model_version", "version", "pages_needing_ocr"}
FIELD_COLUMNS = {"value", "raw", "confidence", "page", "bbox", "alternatives", "reason"}
CHECK_COLUMNS = {"rule", "passed", "detail", "cells", "difference"}


class StoreError(Exception):
    pass


class OldStoreError(StoreError):
    """A nianbao store of an older schema version, opened read-only (it cannot be migrated so)."""


class StaleEditError(StoreError):
    """A change based on a value another reviewer has changed since (optimistic concurrency)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def later(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def _json(v: Any) -> Optional[str]:
    return None if v is None else dumps_strict(v, sort_keys=True)


def _text(v: Any) -> Any:
    """Text columns hold valid UTF-8 only (a message may quote a non-UTF-8 file name)."""
    return clean_text(v) if isinstance(v, str) else v


@dataclass
class StoredInfo:
    """What a re-run needs to know about a document already in the store."""

    id: int
    status: str
    pipeline_version: str
    error_code: Optional[str] = None


@dataclass
class DocumentResult:
    """What processing one document yields (built by a worker, written by the parent only)."""

    path: str
    content_hash: str
    size: int
    status: str  # done | failed
    pipeline_version: str
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    record: Optional[dict] = None  # the output contract (nianbao.inference.output.to_record)
    pages: Optional[int] = None
    format: Optional[str] = None
    timings: dict = field(default_factory=dict)
    peak_rss_mb: Optional[float] = None
    worker: Optional[str] = None
    # The worker should be replaced after this document (it ran out of memory, say).
    retire: bool = False


@dataclass
class CrossYearFinding:
    agency_normalised: str
    earlier_document_id: int
    later_document_id: int
    earlier_year: int
    later_year: int
    agency_match: str  # same | possible
    match_confidence: float
    rule: str
    passed: bool
    detail: str
    cells: list
    difference: float


@dataclass
class AgencyMatch:
    agency_a: str
    agency_b: str
    relation: str  # same | possible
    confidence: float
    reason: str


@dataclass
class StoredCheck:
    """A rule result to store (the review app re-runs the rules after each change)."""

    rule: str
    passed: bool
    detail: Optional[str]
    cells: list
    difference: Optional[float]
    extra: Optional[dict] = None    # what an audit finding adds (confidence, sentence, page...)

    @classmethod
    def of(cls, check: RecordCheck) -> "StoredCheck":
        """A record's check, to store: the rule's five keys in their columns, the rest in ``extra``."""
        item = check.as_dict()
        return cls(rule=check.rule, passed=bool(check.passed), detail=check.detail, cells=list(check.cells or []),
                   difference=check.difference,
                   extra={k: v for k, v in item.items() if k not in CHECK_COLUMNS} or None)


@dataclass
class FieldChange:
    """One reviewer action on one field, applied by ``Store.change_field``."""

    document_id: int
    key: str
    action: str                     # edit | blank | confirm
    new_value: Any
    reviewer: str
    # The value the reviewer saw when deciding: the change is refused when the stored value is no
    # longer this one (another reviewer changed it). ``BASED_ON_CURRENT``: no such check.
    based_on: Any = None
    checks: Sequence[StoredCheck] = ()


BASED_ON_CURRENT = object()


def finding_key(rule: str, cells: Sequence[str] = (), position: Optional[int] = None,
                other: Optional[str] = None) -> str:
    """Which finding of a document a verdict is about: a rule may fail several times in one document
    (R1 once per row), so the rule, the cells it rests on, the sentence's position and, across
    years, the other report tell them apart. The same finding gets the same key after a re-run."""
    key = f"{rule}|{','.join(cells or ())}"
    if position is not None:
        key += f"@{int(position)}"
    if other:
        key += f"<{other}"
    return key


@dataclass
class CheckReview:
    """A reviewer's verdict on a finding (a failed check): confirmed (the report is wrong) or dismissed."""

    document_id: int
    rule: str
    status: str                     # confirmed | dismissed
    reviewer: str
    scope: str = "document"         # document | cross_year
    note: Optional[str] = None
    # ``finding_key`` of the finding; None: every finding of ``rule`` in the document.
    finding: Optional[str] = None
    created_at: Optional[str] = None
    id: Optional[int] = None


class FindingVerdicts:
    """The verdict that stands on each finding: the last one given on it, else the last one given on its
    whole rule in that document (a verdict without ``finding``)."""

    def __init__(self, reviews: Iterable[CheckReview]):
        self.by_finding: dict[tuple[int, str, str], CheckReview] = {}
        self.by_rule: dict[tuple[int, str, str], CheckReview] = {}
        for r in reviews:  # oldest first: a later verdict replaces an earlier one
            if r.finding:
                self.by_finding[(int(r.document_id), r.scope, r.finding)] = r
            else:
                self.by_rule[(int(r.document_id), r.scope, r.rule)] = r

    def get(self, document_id: int, scope: str, rule: str, finding: str) -> Optional[CheckReview]:
        own = self.by_finding.get((int(document_id), scope, finding))
        whole = self.by_rule.get((int(document_id), scope, rule))
        if own is None or whole is None:
            return own or whole
        return own if (own.id or 0) > (whole.id or 0) else whole


@dataclass
class Claim:
    document_id: int
    reviewer: str
    claimed_at: str
    expires_at: str


@dataclass
class Filters:
    """Which documents an export or report looks at."""

    year: Optional[int] = None
    template: Optional[str] = None
    status: Optional[str] = None
    needs_review: bool = False

    def where(self, alias: str = "d") -> tuple[str, list]:
        conds, params = [], []
        if self.year is not None:
            conds.append(f"{alias}.year = ?")
            params.append(self.year)
        if self.template is not None:
            conds.append(f"{alias}.template = ?")
            params.append(self.template)
        if self.status is not None:
            conds.append(f"{alias}.status = ?")
            params.append(self.status)
        if self.needs_review:
            conds.append(f"{alias}.review_needed = 1")
        return (" WHERE " + " AND ".join(conds)) if conds else "", params


@dataclass
class QueueFilters:
    """Which documents the review queue shows."""

    agency: Optional[str] = None           # a substring of the agency as printed or normalised
    year: Optional[int] = None
    rule: Optional[str] = None             # only documents where this rule fails (R1..R4)
    max_confidence: Optional[float] = None  # only documents with a field (or blank) below this
    status: str = "open"                   # open (pending + in_review) | pending | in_review | approved | all

    def __post_init__(self):
        if self.status not in ("open", "all", *QUEUE_STATUSES):
            raise ValueError(f"unknown queue status {self.status!r}")


@dataclass
class QueueRow:
    """A document of the review queue with its summed misreads (the queue ranks these)."""

    id: int
    path: str
    agency: Optional[str]
    year: Optional[int]
    template: Optional[str]
    review_status: str
    model_version: Optional[str]
    review_reasons: Optional[str]
    misreads: float
    doubtful: int


class Store(ABC):
    """The interface of a results store (SQLite and PostgreSQL implement it)."""

    path: str  # where the store is, for messages: a file, or a postgresql:// URL without its password

    # -- transactions and schema -------------------------------------------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager:
        """One transaction; nested calls join the outer one."""

    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def migrate(self) -> None: ...

    # -- ingestion ---------------------------------------------------------------------------
    @abstractmethod
    def lookup(self, hashes: Sequence[str]) -> dict[str, StoredInfo]: ...

    @abstractmethod
    def write_document(self, result: DocumentResult, *, overwrite: bool, extra_paths: Iterable[str] = (),
                       run_id: Optional[int] = None) -> tuple[int, bool]:
        """Write one document, its fields, checks and paths in one transaction.

        Returns (document id, written); with ``overwrite=False`` a document already there is left
        as it is (its new path is still recorded) and ``written`` is False. Several processes may
        write at once: one content hash is one document."""

    @abstractmethod
    def add_sources(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record (content_hash, path) pairs for documents already in the store."""

    @abstractmethod
    def start_run(self, pipeline_version: str, options: dict) -> int: ...

    @abstractmethod
    def finish_run(self, run_id: int, counts: dict) -> None: ...

    @abstractmethod
    def replace_cross_year(self, findings: Sequence[CrossYearFinding], matches: Sequence[AgencyMatch],
                           agencies: Sequence[tuple[int, Optional[str], Optional[float]]]) -> None: ...

    @abstractmethod
    def totals(self) -> dict[str, int]:
        """documents, done, failed, review_needed."""

    # -- documents ---------------------------------------------------------------------------
    @abstractmethod
    def document_row(self, doc_id: int) -> Optional[dict]: ...

    @abstractmethod
    def documents_by_hash(self, content_hash: str, prefix: bool = False) -> list[dict]: ...

    @abstractmethod
    def document_ids(self, filters: Filters) -> list[int]: ...

    @abstractmethod
    def field_rows(self, doc_id: int) -> list[dict]: ...

    @abstractmethod
    def check_rows_of(self, doc_id: int) -> list[dict]: ...

    # -- exports -----------------------------------------------------------------------------
    @abstractmethod
    def long_rows(self, filters: Filters) -> Iterator[dict]: ...

    @abstractmethod
    def field_keys(self, filters: Filters) -> set[str]: ...

    @abstractmethod
    def fractional_keys(self, filters: Filters) -> set[str]:
        """Keys with a value that is not a whole number."""

    @abstractmethod
    def wide_value_rows(self, filters: Filters, columns: Sequence[str]) -> Iterator[dict]:
        """Per document and field (in document, position order): ``_id``, ``columns``, ``_key``, ``_value``."""

    @abstractmethod
    def export_check_rows(self, filters: Filters, failed_only: bool) -> Iterator[dict]: ...

    # -- audit report and cross-year rule -----------------------------------------------------
    @abstractmethod
    def report_figures(self, top: int = 25) -> dict[str, Any]:
        """What the audit report shows (totals, by status/format/year, rules, worst documents and
        checks, cross-year findings, agency matches, failures, review list, confidence bins, timings, runs)."""

    @abstractmethod
    def agency_rows(self) -> list[dict]: ...

    @abstractmethod
    def field_values(self, doc_ids: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, Any]]: ...

    # -- review ------------------------------------------------------------------------------
    @abstractmethod
    def queue_rows(self, filters: QueueFilters, threshold: float) -> list[QueueRow]: ...

    @abstractmethod
    def failing_rules(self, doc_ids: Sequence[int]) -> dict[int, list[str]]: ...

    @abstractmethod
    def change_field(self, change: FieldChange) -> None:
        """Set a field's value (confidence 1, reason 'reviewed'), log it in the history, store the
        re-run checks, mark the document in review. ``StaleEditError`` when ``based_on`` is not the
        stored value any more."""

    @abstractmethod
    def redecide_field(self, document_id: int, key: str, value: Any, confidence: float, reason: str,
                       evidence_document_id: int, *, based_on: Any = BASED_ON_CURRENT,
                       checks: Sequence[StoredCheck] = ()) -> None:
        """Set a doubted reading to ``value`` on another report's evidence (rule 5 across years):
        the field keeps ``confidence`` and ``reason`` (not reviewed), the change is logged in
        ``field_changes`` as ``CROSS_YEAR_ACTION`` naming ``evidence_document_id``, and ``checks``
        (re-run on the new values) replace the document's. The review status is left alone.
        ``StoreError`` for a field a reviewer has set; ``StaleEditError`` when ``based_on`` is not
        the stored value any more."""

    @abstractmethod
    def lock_document(self, doc_id: int) -> None:
        """Inside a transaction: hold the document until it ends (reviewers queue, never interleave)."""

    @abstractmethod
    def set_review_status(self, doc_id: int, status: str, reviewer: str, note: Optional[str] = None,
                          logged_as: Optional[str] = None) -> str:
        """Set the document's review status, logged in ``reviews`` as ``logged_as`` (default: the
        status); returns the time."""

    @abstractmethod
    def field_history(self, doc_id: int) -> list[dict]: ...

    @abstractmethod
    def count_value_changes(self, doc_id: int) -> int:
        """Edits and blanks that changed a value (confirmations do not)."""

    @abstractmethod
    def claim_next(self, reviewer: str, candidates: Sequence[int], ttl_seconds: float) -> Optional[int]:
        """Claim the first candidate no other reviewer holds (an expired claim is free again); None
        when every one is held. Two reviewers asking at once get different documents."""

    @abstractmethod
    def release_claim(self, doc_id: int, reviewer: str) -> None: ...

    @abstractmethod
    def claims(self) -> list[Claim]: ...

    @abstractmethod
    def review_check(self, review: CheckReview) -> CheckReview: ...

    @abstractmethod
    def check_reviews(self, doc_id: Optional[int] = None) -> list[CheckReview]:
        """Verdicts on findings, oldest first (the last one of a (document, scope, rule) stands)."""

    # -- reading -----------------------------------------------------------------------------
    @abstractmethod
    def query(self, sql: str, params: Sequence = ()) -> Iterator[dict]:
        """Rows of a read-only query in the SQL common to both databases (``?`` placeholders)."""

    @abstractmethod
    def scalar(self, sql: str, params: Sequence = ()) -> Any: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
