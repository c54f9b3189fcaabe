"""The results store: one row per distinct document content, its fields, its rule checks.

``Store`` is the small interface the rest of ``nianbao.ingest`` talks to; ``SQLiteStore`` is the
implementation (one file, WAL mode). A PostgreSQL store would implement the same methods with its
own migration list (same version numbers, its own types: ``BIGSERIAL``, ``BOOLEAN``, ``JSONB``).
The SQL here and in export/report/crossyear sticks to what both understand (``RETURNING``,
``ON CONFLICT ... DO NOTHING``, ``CASE``, ``||``, ISO-8601 text timestamps, JSON kept as text, 0/1
for booleans); only the transaction start (``BEGIN IMMEDIATE``) and the pragmas are SQLite's, and
they live in ``SQLiteStore``. Queries are written with ``?`` placeholders: a PostgreSQL ``query``
translates them to ``%s``.

Identity and exactness:
- a document is the SHA-256 of its bytes (``documents.content_hash UNIQUE``); every path where that
  content was seen is in ``sources``;
- a document, its fields, its checks and its paths are written in ONE transaction
  (``write_document``), by one process: a run killed at any moment leaves whole documents or
  nothing, and a re-run skips what is there.
"""
from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from nianbao.inputs import display_path
from nianbao.jsonio import clean_text, dumps_strict

STATUSES = ("done", "failed")
# review_status: "none" (nothing to review), "pending" (review.needed, not yet looked at), then the
# review queue's "in_review" (a reviewer changed or confirmed something) and "approved" (written to
# labels/). Each decision is logged in ``reviews``, each value change in ``field_changes``.
REVIEW_UNTOUCHED = ("none", "pending")

# Ordered migrations: (version, description, script). Never edit a released script; append a new one.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "documents, sources, fields, checks, cross-year checks, agency matches, runs, reviews", """
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    pages INTEGER,
    format TEXT,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error_code TEXT,
    error_message TEXT,
    timings TEXT,
    pipeline_version TEXT NOT NULL,
    mapper TEXT,
    agency TEXT,
    agency_normalised TEXT,
    agency_confidence REAL,
    year INTEGER,
    template TEXT,
    tables_found TEXT,
    review_needed INTEGER NOT NULL DEFAULT 0,
    review_reasons TEXT,
    review_status TEXT NOT NULL DEFAULT 'none',
    pages_needing_ocr TEXT,
    record_extra TEXT,
    run_id INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX documents_status ON documents (status, error_code);
CREATE INDEX documents_agency_year ON documents (agency_normalised, year);
CREATE INDEX documents_review ON documents (review_status);
CREATE TABLE sources (
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (document_id, path)
);
CREATE TABLE fields (
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,
    value NUMERIC,
    raw TEXT,
    confidence REAL,
    page INTEGER,
    bbox TEXT,
    alternatives TEXT,
    reason TEXT,
    extra TEXT,
    PRIMARY KEY (document_id, key)
);
-- No index on fields.key: it would make every commit rewrite pages all over the index (3 ms a
-- document instead of 0.5); queries by key go through (document_id, key).
CREATE TABLE checks (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    passed INTEGER NOT NULL,
    detail TEXT,
    cells TEXT,
    difference REAL
);
CREATE INDEX checks_document ON checks (document_id);
CREATE INDEX checks_rule ON checks (rule, passed);
CREATE TABLE cross_year_checks (
    id INTEGER PRIMARY KEY,
    agency_normalised TEXT NOT NULL,
    earlier_document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    later_document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    earlier_year INTEGER NOT NULL,
    later_year INTEGER NOT NULL,
    agency_match TEXT NOT NULL,
    match_confidence REAL NOT NULL,
    rule TEXT NOT NULL,
    passed INTEGER NOT NULL,
    detail TEXT,
    cells TEXT,
    difference REAL
);
CREATE INDEX cross_year_later ON cross_year_checks (later_document_id);
CREATE TABLE agency_matches (
    agency_a TEXT NOT NULL,
    agency_b TEXT NOT NULL,
    relation TEXT NOT NULL,
    confidence REAL NOT NULL,
    reason TEXT,
    PRIMARY KEY (agency_a, agency_b)
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    pipeline_version TEXT NOT NULL,
    options TEXT,
    counts TEXT
);
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    reviewer TEXT,
    note TEXT,
    created_at TEXT NOT NULL
);
"""),
    (2, "model version of each result; the history of every reviewer change", """
ALTER TABLE documents ADD COLUMN model_version TEXT;
CREATE TABLE field_changes (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    action TEXT NOT NULL,
    old_value NUMERIC,
    new_value NUMERIC,
    old_confidence REAL,
    reviewer TEXT,
    model_version TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX field_changes_document ON field_changes (document_id, id)
"""),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreError(Exception):
    pass


class OldStoreError(StoreError):
    """A nianbao store of an older schema version, opened read-only (it cannot be migrated so)."""


# Keys of the output contract that have their own columns; any other key of a record or of a field
# (a later stage's additions, e.g. a field's "source": "ocr") is kept as JSON in ``record_extra`` /
# ``fields.extra``, so ``load_record`` gives back what ``to_record`` gave.
RECORD_COLUMNS = {"source", "agency", "year", "template", "tables", "fields", "checks", "review", "error", "format",
                  "mapper", "model_version", "version", "pages_needing_ocr"}
FIELD_COLUMNS = {"value", "raw", "confidence", "page", "bbox", "alternatives", "reason"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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


class Store(ABC):
    """The interface of a results store (SQLite now; PostgreSQL can implement the same)."""

    @abstractmethod
    def lookup(self, hashes: Sequence[str]) -> dict[str, StoredInfo]: ...

    @abstractmethod
    def write_document(self, result: DocumentResult, *, overwrite: bool, extra_paths: Iterable[str] = (),
                       run_id: Optional[int] = None) -> tuple[int, bool]:
        """Write one document, its fields, checks and paths in one transaction.

        Returns (document id, written); with ``overwrite=False`` a document already there is left
        as it is (its new path is still recorded) and ``written`` is False."""

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
    def query(self, sql: str, params: Sequence = ()) -> Iterator[dict]: ...

    @abstractmethod
    def close(self) -> None: ...


class SQLiteStore(Store):
    """A store in one SQLite file. ``read_only``: open without writing anything (exports, reports).

    Opening never changes a file that is not a nianbao store: a file that is not SQLite, or a SQLite
    database of another program (tables, but no ``schema_version``), is refused with ``StoreError``
    before anything is written (not even the switch to WAL mode, which rewrites the file header)."""

    def __init__(self, path: str | Path, *, timeout: float = 60.0, read_only: bool = False):
        self.path = str(path)
        self.read_only = read_only
        try:
            self.conn = self._connect(timeout)
        except sqlite3.Error as e:
            raise StoreError(describe_sqlite_error(self.path, e)) from e
        try:
            self._check_is_nianbao_store()
            if not read_only:
                self.conn.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL loses nothing committed when a process dies (SIGKILL included); only a
                # power cut can lose the last commits, never corrupt the file.
                self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if read_only:
                current = self.schema_version()
                if current != SCHEMA_VERSION:
                    raise (OldStoreError if current < SCHEMA_VERSION else StoreError)(f"{self.path} has store schema version {current}, this nianbao reads "
                                     f"{SCHEMA_VERSION}: " + ("run `nianbao ingest` on it once to upgrade it"
                                                              if current < SCHEMA_VERSION else "upgrade nianbao"))
            else:
                self.migrate()
        except sqlite3.Error as e:
            self.conn.close()
            raise StoreError(describe_sqlite_error(self.path, e)) from e
        except StoreError:
            self.conn.close()
            raise

    def _connect(self, timeout: float) -> sqlite3.Connection:
        if self.path == ":memory:":
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        elif self.read_only:
            if not Path(self.path).is_file():
                raise StoreError(f"no store at {self.path}")
            conn = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                                   isolation_level=None)
        else:
            if Path(self.path).is_dir():
                raise StoreError(f"{self.path} is a folder, not a store file")
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder of {self.path}: {e.strerror or e}") from e
            # isolation_level=None: no implicit transactions; every write below says BEGIN/COMMIT itself.
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _check_is_nianbao_store(self) -> None:
        """Reads the table names (this also fails on a file that is not SQLite) before anything is written."""
        names = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if names and "schema_version" not in names:
            raise StoreError(f"{self.path} is not a nianbao store (a SQLite database of another program: "
                             f"tables {', '.join(sorted(names)[:5])}{' ...' if len(names) > 5 else ''}); left unchanged")
        if not names and self.read_only:
            raise StoreError(f"{self.path} is not a nianbao store (an empty database)")

    # -- schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        row = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
        if row is None:
            return 0
        v = self.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        return int(v or 0)

    def migrate(self) -> None:
        with self.transaction():
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                              "description TEXT, applied_at TEXT NOT NULL)")
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {current}, newer than this nianbao knows "
                             f"({SCHEMA_VERSION}): upgrade nianbao")
        for version, description, script in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction():
                # Checked again inside the write lock: another process may have just migrated.
                if self.schema_version() >= version:
                    continue
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                                  (version, description, now()))

    @contextmanager
    def transaction(self):
        # IMMEDIATE: take the write lock at the start, so two writers queue instead of deadlocking.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- ingestion ----------------------------------------------------------------------------

    def lookup(self, hashes: Sequence[str]) -> dict[str, StoredInfo]:
        out: dict[str, StoredInfo] = {}
        hashes = list(dict.fromkeys(hashes))
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.conn.execute(f"SELECT id, content_hash, status, pipeline_version, error_code FROM documents "
                                       f"WHERE content_hash IN ({marks})", chunk):
                out[r["content_hash"]] = StoredInfo(r["id"], r["status"], r["pipeline_version"], r["error_code"])
        return out

    def write_document(self, result: DocumentResult, *, overwrite: bool, extra_paths: Iterable[str] = (),
                       run_id: Optional[int] = None) -> tuple[int, bool]:
        from .agencies import normalise_agency

        rec = result.record or {}
        ts = now()
        agency = rec.get("agency")
        norm = normalise_agency(agency) if agency else None
        review = rec.get("review") or {}
        review_needed = bool(review.get("needed")) and result.status == "done"
        tables_found = {t: bool(v.get("found")) for t, v in (rec.get("tables") or {}).items()} or None
        paths = [display_path(p) for p in (result.path, *extra_paths)]
        c = self.conn
        with self.transaction():
            row = c.execute("SELECT id, review_status FROM documents WHERE content_hash = ?",
                            (result.content_hash,)).fetchone()
            if row is not None and not overwrite:
                self._add_paths(row["id"], paths, ts)
                return row["id"], False
            cols = dict(
                path=paths[0], size=result.size, pages=result.pages, format=result.format or rec.get("format"),
                status=result.status, error_code=result.error_code, error_message=result.error_message,
                timings=_json(result.timings), pipeline_version=result.pipeline_version, mapper=rec.get("mapper"),
                model_version=rec.get("model_version"),
                agency=agency, agency_normalised=norm.key if norm else None,
                agency_confidence=norm.confidence if norm else None,
                year=rec.get("year"), template=rec.get("template"), tables_found=_json(tables_found),
                review_needed=int(review_needed), review_reasons=_json(review.get("reasons") or None),
                pages_needing_ocr=_json(rec.get("pages_needing_ocr")),
                record_extra=_json({k: v for k, v in rec.items() if k not in RECORD_COLUMNS} or None),
                run_id=run_id, updated_at=ts,
            )
            cols = {k: _text(v) for k, v in cols.items()}
            review_status = "pending" if review_needed else "none"
            if row is None:
                cols.update(content_hash=result.content_hash, review_status=review_status, created_at=ts)
                names = ", ".join(cols)
                doc_id = c.execute(f"INSERT INTO documents ({names}) VALUES ({', '.join('?' * len(cols))}) RETURNING id",
                                   list(cols.values())).fetchone()[0]
            else:
                doc_id = row["id"]
                # A reviewer's decision is not undone by reprocessing; an untouched state follows the result.
                if row["review_status"] in REVIEW_UNTOUCHED:
                    cols["review_status"] = review_status
                sets = ", ".join(f"{k} = ?" for k in cols)
                c.execute(f"UPDATE documents SET {sets} WHERE id = ?", [*cols.values(), doc_id])
                c.execute("DELETE FROM fields WHERE document_id = ?", (doc_id,))
                c.execute("DELETE FROM checks WHERE document_id = ?", (doc_id,))
            if result.status == "done":
                c.executemany(
                    "INSERT INTO fields (document_id, key, position, value, raw, confidence, page, bbox, alternatives, "
                    "reason, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(doc_id, k, i, f.get("value"), f.get("raw"), f.get("confidence"), f.get("page"), _json(f.get("bbox")),
                      _json(f.get("alternatives") or None), f.get("reason"),
                      _json({x: y for x, y in f.items() if x not in FIELD_COLUMNS} or None))
                     for i, (k, f) in enumerate((rec.get("fields") or {}).items())])
                c.executemany(
                    "INSERT INTO checks (document_id, rule, passed, detail, cells, difference) VALUES (?, ?, ?, ?, ?, ?)",
                    [(doc_id, ch["rule"], int(bool(ch["passed"])), ch.get("detail"), _json(ch.get("cells")),
                      ch.get("difference")) for ch in rec.get("checks") or []])
                if row is not None and row["review_status"] not in REVIEW_UNTOUCHED:
                    # A reviewer's values outlive reprocessing (a newer model re-reads the rest).
                    c.execute("UPDATE fields SET value = (SELECT ch.new_value FROM field_changes ch WHERE "
                              "ch.document_id = fields.document_id AND ch.key = fields.key ORDER BY ch.id DESC LIMIT 1), "
                              "confidence = 1.0, reason = 'reviewed' WHERE document_id = ? AND key IN "
                              "(SELECT key FROM field_changes WHERE document_id = ?)", (doc_id, doc_id))
            self._add_paths(doc_id, paths, ts)
        return doc_id, True

    def _add_paths(self, doc_id: int, paths: Iterable[str], ts: str) -> None:
        self.conn.executemany("INSERT INTO sources (document_id, path, first_seen) VALUES (?, ?, ?) "
                              "ON CONFLICT (document_id, path) DO NOTHING", [(doc_id, p, ts) for p in dict.fromkeys(paths)])

    def add_sources(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = list(pairs)
        if not pairs:
            return
        ts = now()
        with self.transaction():
            ids = {h: info.id for h, info in self.lookup([h for h, _ in pairs]).items()}
            self.conn.executemany("INSERT INTO sources (document_id, path, first_seen) VALUES (?, ?, ?) "
                                  "ON CONFLICT (document_id, path) DO NOTHING",
                                  [(ids[h], display_path(p), ts) for h, p in pairs if h in ids])

    def start_run(self, pipeline_version: str, options: dict) -> int:
        with self.transaction():
            return self.conn.execute("INSERT INTO runs (started_at, pipeline_version, options) VALUES (?, ?, ?) RETURNING id",
                                     (now(), pipeline_version, _json(options))).fetchone()[0]

    def finish_run(self, run_id: int, counts: dict) -> None:
        with self.transaction():
            self.conn.execute("UPDATE runs SET finished_at = ?, counts = ? WHERE id = ?", (now(), _json(counts), run_id))

    def replace_cross_year(self, findings: Sequence[CrossYearFinding], matches: Sequence[AgencyMatch],
                           agencies: Sequence[tuple[int, Optional[str], Optional[float]]]) -> None:
        with self.transaction():
            self.conn.executemany("UPDATE documents SET agency_normalised = ?, agency_confidence = ? WHERE id = ?",
                                  [(key, conf, doc_id) for doc_id, key, conf in agencies])
            self.conn.execute("DELETE FROM cross_year_checks")
            self.conn.executemany(
                "INSERT INTO cross_year_checks (agency_normalised, earlier_document_id, later_document_id, earlier_year, "
                "later_year, agency_match, match_confidence, rule, passed, detail, cells, difference) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(f.agency_normalised, f.earlier_document_id, f.later_document_id, f.earlier_year, f.later_year,
                  f.agency_match, f.match_confidence, f.rule, int(f.passed), f.detail, _json(f.cells), f.difference)
                 for f in findings])
            self.conn.execute("DELETE FROM agency_matches")
            self.conn.executemany(
                "INSERT INTO agency_matches (agency_a, agency_b, relation, confidence, reason) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (agency_a, agency_b) DO NOTHING",
                [(m.agency_a, m.agency_b, m.relation, m.confidence, m.reason) for m in matches])

    # -- reading ------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence = ()) -> Iterator[dict]:
        cur = self.conn.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def scalar(self, sql: str, params: Sequence = ()) -> Any:
        row = self.conn.execute(sql, list(params)).fetchone()
        return None if row is None else row[0]

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def describe_sqlite_error(path: str, e: sqlite3.Error) -> str:
    """One line that says what is wrong with a store file, for a person (no traceback)."""
    text = str(e)
    if "not a database" in text:
        return f"{path} is not a SQLite database (not a nianbao store); left unchanged"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only: nianbao cannot write to it ({text})"
    if "unable to open" in text:
        return f"cannot open the store {path} ({text})"
    if "locked" in text or "busy" in text:
        return f"the store {path} is locked by another process ({text})"
    return f"store {path}: {text}"


def _statements(script: str) -> list[str]:
    """Split a migration script on ';' at line ends (the scripts hold no ';' inside statements)."""
    return [s.strip() for s in script.split(";\n") if s.strip()]


def open_store(db: str | Path) -> Store:
    """The store behind a --db argument: a SQLite file path (a postgresql:// URL is for later)."""
    text = str(db)
    if text.startswith(("postgres://", "postgresql://")):
        raise StoreError("PostgreSQL is not implemented yet: implement Store for it (see nianbao.ingest.store)")
    return SQLiteStore(text)


def load_record(store: Store, doc: dict) -> dict:
    """The output contract of one stored document, rebuilt from its rows."""
    rec: dict[str, Any] = {
        "source": doc["path"], "content_hash": doc["content_hash"], "agency": doc["agency"], "year": doc["year"],
        "template": doc["template"],
        "tables": {t: {"found": bool(v)} for t, v in (json.loads(doc["tables_found"]) if doc["tables_found"] else {}).items()},
        "fields": {}, "checks": [],
        "review": {"needed": bool(doc["review_needed"]),
                   "reasons": json.loads(doc["review_reasons"]) if doc["review_reasons"] else []},
        "error": {"code": doc["error_code"], "message": doc["error_message"]} if doc["status"] == "failed" else None,
        "format": doc["format"], "mapper": doc["mapper"], "model_version": doc.get("model_version"),
        "pipeline_version": doc["pipeline_version"],
        "status": doc["status"], "review_status": doc["review_status"],
    }
    for f in store.query("SELECT key, value, raw, confidence, page, bbox, alternatives, reason, extra FROM fields "
                         "WHERE document_id = ? ORDER BY position", (doc["id"],)):
        item = {"value": f["value"], "raw": f["raw"], "confidence": f["confidence"]}
        if f["page"] is not None:
            item["page"] = f["page"]
        if f["bbox"]:
            item["bbox"] = json.loads(f["bbox"])
        if f["alternatives"]:
            item["alternatives"] = json.loads(f["alternatives"])
        if f["reason"]:
            item["reason"] = f["reason"]
        if f["extra"]:
            item.update(json.loads(f["extra"]))
        rec["fields"][f["key"]] = item
    for c in store.query("SELECT rule, passed, detail, cells, difference FROM checks WHERE document_id = ? ORDER BY id",
                         (doc["id"],)):
        rec["checks"].append({"rule": c["rule"], "passed": bool(c["passed"]), "detail": c["detail"],
                              "cells": json.loads(c["cells"]) if c["cells"] else [], "difference": c["difference"]})
    if doc["pages_needing_ocr"]:
        rec["pages_needing_ocr"] = json.loads(doc["pages_needing_ocr"])
    if doc["record_extra"]:
        for k, v in json.loads(doc["record_extra"]).items():
            rec.setdefault(k, v)
    return rec
