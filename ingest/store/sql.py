"""The store's SQL, written once in what SQLite and PostgreSQL both understand.

``SQLStore`` implements every method of ``Store`` over a few dialect hooks (placeholders, how a
transaction starts, row locks, the integer type of a cast). The SQL sticks to the common ground:
``RETURNING``, ``ON CONFLICT ... DO NOTHING / DO UPDATE``, ``CASE``, ``||``, ISO-8601 text timestamps
(which sort as times), JSON kept as text, 0/1 for booleans. Queries are written with ``?``
placeholders; the PostgreSQL store translates them to ``%s``.

Identity and exactness:
- a document is the SHA-256 of its bytes (``documents.content_hash UNIQUE``); every path where that
  content was seen is in ``sources``; two writers of the same content meet in ``ON CONFLICT``;
- a document, its fields, its checks and its paths are written in ONE transaction
  (``write_document``): a run killed at any moment leaves whole documents or nothing, and a re-run
  skips what is there.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional, Sequence

from nianbao.inputs import display_path
from nianbao.record import Record, RecordCheck, RecordField

from .interface import (BASED_ON_CURRENT, CHECK_COLUMNS, CROSS_YEAR_ACTION, FIELD_COLUMNS, FINDING_SCOPES,
                        FINDING_STATUSES, RECORD_COLUMNS, REVIEW_UNTOUCHED,
                        AgencyMatch, CheckReview, Claim, CrossYearFinding, DocumentResult, FieldChange, Filters,
                        OldStoreError, QueueFilters, QueueRow, StaleEditError, Store, StoredCheck, StoredInfo, StoreError, _json,
                        _text, later, now)

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
    (3, "reviewer claims on queued documents; verdicts on findings (confirmed or dismissed, by whom, when); "
        "what a finding adds to a check", """
CREATE TABLE claims (
    document_id INTEGER PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    reviewer TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE check_reviews (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    scope TEXT NOT NULL DEFAULT 'document',
    rule TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'dismissed')),
    reviewer TEXT NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX check_reviews_document ON check_reviews (document_id, id);
-- what an audit finding adds to a check (confidence, sentence, page, table and stated values), as JSON
ALTER TABLE checks ADD COLUMN extra TEXT
"""),
    (4, "which finding of a document a verdict is about; a reading decided on another report's evidence "
        "(its confidence, reason and the report)", """
ALTER TABLE check_reviews ADD COLUMN finding TEXT;
ALTER TABLE field_changes ADD COLUMN new_confidence REAL;
ALTER TABLE field_changes ADD COLUMN reason TEXT;
ALTER TABLE field_changes ADD COLUMN evidence_document_id INTEGER
"""),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def statements(script: str) -> list[str]:
    """Split a migration script on ';' at line ends (the scripts hold no ';' inside statements)."""
    return [s.strip() for s in script.split(";\n") if s.strip()]


def same_stored_value(a: Any, b: Any) -> bool:
    """Two stored field values are the same number (5 == 5.0; None only equals None)."""
    if a is None or b is None:
        return a is None and b is None
    try:
        return float(a) == float(b) or (a != a and b != b)
    except (TypeError, ValueError):
        return a == b


class SQLStore(Store):
    """Every method of ``Store`` in common SQL; subclasses supply the connection and the hooks below."""

    conn: Any
    # Appended to a SELECT that must hold its rows until the transaction ends ("" where the
    # transaction already holds the whole database, as SQLite's BEGIN IMMEDIATE does).
    FOR_UPDATE = ""
    INT_TYPE = "INTEGER"
    DISTINCT = "IS NOT"          # NULL-safe "differs"
    LIKE = "LIKE"                # case-insensitive for ASCII on both
    TEXT_ORDER = ""              # appended to ORDER BY on text: byte order (SQLite's BINARY)

    # -- dialect hooks ------------------------------------------------------------------------

    def _table_names(self) -> set[str]:
        raise NotImplementedError

    def _check_is_nianbao_store(self) -> None:
        """Before anything is written: another program's database, or an empty one opened to read, is refused."""
        names = self._table_names()
        if names and "schema_version" not in names:
            raise StoreError(f"{self.path} is not a nianbao store (a database of another program: tables "
                             f"{', '.join(sorted(names)[:5])}{' ...' if len(names) > 5 else ''}); left unchanged")
        if not names and self.read_only:
            raise StoreError(f"{self.path} is not a nianbao store (an empty database)")

    def _pending_migrations(self, current: int) -> list[tuple[int, str, str]]:
        """The migrations a store at schema ``current`` still needs; a newer store is refused."""
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {current}, newer than this nianbao knows "
                             f"({SCHEMA_VERSION}): upgrade nianbao")
        return [m for m in MIGRATIONS if m[0] > current]

    def require_current_schema(self) -> None:
        """A read-only open (export, report) never migrates: an older or newer store is refused."""
        current = self.schema_version()
        if current != SCHEMA_VERSION:
            raise (OldStoreError if current < SCHEMA_VERSION else StoreError)(
                f"{self.path} has store schema version {current}, this nianbao reads {SCHEMA_VERSION}: "
                + ("run `nianbao ingest` on it once to upgrade it" if current < SCHEMA_VERSION else "upgrade nianbao"))
    def _execute(self, sql: str, params: Sequence = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, seq: Sequence[Sequence]) -> None:
        raise NotImplementedError

    def _in_transaction(self) -> bool:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _lock_skip(self, doc_id: int) -> bool:
        """Lock a document for a claim unless another transaction holds it (True: locked)."""
        return True

    def _lock_cross_year(self) -> None:
        """Hold the cross-year tables (two runs replacing them at once would mix their rows)."""

    def _stream(self, sql: str, params: Sequence = ()) -> Iterator[dict]:
        """Rows of a large read (an export), fetched in batches rather than all at once."""
        return self.query(sql, params)

    def _rows(self, sql: str, params: Sequence = ()) -> list[dict]:
        return list(self.query(sql, params))

    def _one(self, sql: str, params: Sequence = ()) -> Optional[dict]:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self):
        if self._in_transaction():  # joined: the outer transaction commits or rolls back
            yield self.conn
            return
        self._begin()
        try:
            yield self.conn
        except BaseException:
            self._execute("ROLLBACK")
            raise
        else:
            self._execute("COMMIT")

    def in_transaction(self) -> bool:
        return self._in_transaction()

    def scalar(self, sql: str, params: Sequence = ()) -> Any:
        row = self._one(sql, params)
        return None if row is None else next(iter(row.values()))

    # -- ingestion ----------------------------------------------------------------------------

    def lookup(self, hashes: Sequence[str]) -> dict[str, StoredInfo]:
        out: dict[str, StoredInfo] = {}
        hashes = list(dict.fromkeys(hashes))
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.query(f"SELECT id, content_hash, status, pipeline_version, error_code FROM documents "
                                f"WHERE content_hash IN ({marks})", chunk):
                out[r["content_hash"]] = StoredInfo(r["id"], r["status"], r["pipeline_version"], r["error_code"])
        return out

    def write_document(self, result: DocumentResult, *, overwrite: bool, extra_paths: Iterable[str] = (),
                       run_id: Optional[int] = None) -> tuple[int, bool]:
        from ..agencies import normalise_agency

        rec = result.record or {}
        ts = now()
        agency = rec.get("agency")
        norm = normalise_agency(agency) if agency else None
        review = rec.get("review") or {}
        review_needed = bool(review.get("needed")) and result.status == "done"
        tables_found = {t: bool(v.get("found")) for t, v in (rec.get("tables") or {}).items()} or None
        paths = [display_path(p) for p in (result.path, *extra_paths)]
        find = "SELECT id, review_status FROM documents WHERE content_hash = ?" + self.FOR_UPDATE
        with self.transaction():
            row = self._one(find, (result.content_hash,))
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
            doc_id = None
            if row is None:
                new = {**cols, "content_hash": result.content_hash, "review_status": review_status, "created_at": ts}
                names = ", ".join(new)
                # Another writer (a second ingest process) may have stored this content since the
                # SELECT: the unique hash turns that into "already there", never a duplicate.
                inserted = self._one(f"INSERT INTO documents ({names}) VALUES ({', '.join('?' * len(new))}) "
                                     "ON CONFLICT (content_hash) DO NOTHING RETURNING id", list(new.values()))
                if inserted is None:
                    row = self._one(find, (result.content_hash,))
                    if not overwrite:
                        self._add_paths(row["id"], paths, ts)
                        return row["id"], False
                else:
                    doc_id = inserted["id"]
            if row is not None:
                doc_id = row["id"]
                # A reviewer's decision is not undone by reprocessing; an untouched state follows the result.
                if row["review_status"] in REVIEW_UNTOUCHED:
                    cols["review_status"] = review_status
                sets = ", ".join(f"{k} = ?" for k in cols)
                self._execute(f"UPDATE documents SET {sets} WHERE id = ?", [*cols.values(), doc_id])
                self._execute("DELETE FROM fields WHERE document_id = ?", (doc_id,))
                self._execute("DELETE FROM checks WHERE document_id = ?", (doc_id,))
            if result.status == "done":
                self._executemany(
                    "INSERT INTO fields (document_id, key, position, value, raw, confidence, page, bbox, alternatives, "
                    "reason, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(doc_id, k, i, f.get("value"), f.get("raw"), f.get("confidence"), f.get("page"),
                      _json(f.get("bbox")), _json(f.get("alternatives") or None), f.get("reason"),
                      _json({x: y for x, y in f.items() if x not in FIELD_COLUMNS} or None))
                     for i, (k, f) in enumerate((rec.get("fields") or {}).items())])
                self._executemany(
                    "INSERT INTO checks (document_id, rule, passed, detail, cells, difference, extra) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(doc_id, ch["rule"], int(bool(ch["passed"])), ch.get("detail"), _json(ch.get("cells")),
                      ch.get("difference"), _json({k: v for k, v in ch.items() if k not in CHECK_COLUMNS} or None))
                     for ch in rec.get("checks") or []])
                if row is not None and row["review_status"] not in REVIEW_UNTOUCHED:
                    # A reviewer's values outlive reprocessing (a newer model re-reads the rest).
                    self._execute(
                        "UPDATE fields SET value = (SELECT ch.new_value FROM field_changes ch WHERE "
                        "ch.document_id = fields.document_id AND ch.key = fields.key AND ch.action <> ? "
                        "ORDER BY ch.id DESC LIMIT 1), "
                        "confidence = 1.0, reason = 'reviewed' WHERE document_id = ? AND key IN "
                        "(SELECT key FROM field_changes WHERE document_id = ? AND action <> ?)",
                        (CROSS_YEAR_ACTION, doc_id, doc_id, CROSS_YEAR_ACTION))
            self._add_paths(doc_id, paths, ts)
        return doc_id, True

    def _add_paths(self, doc_id: int, paths: Iterable[str], ts: str) -> None:
        self._executemany("INSERT INTO sources (document_id, path, first_seen) VALUES (?, ?, ?) "
                          "ON CONFLICT (document_id, path) DO NOTHING", [(doc_id, p, ts) for p in dict.fromkeys(paths)])

    def add_sources(self, pairs: Iterable[tuple[str, str]]) -> None:
        pairs = list(pairs)
        if not pairs:
            return
        ts = now()
        with self.transaction():
            ids = {h: info.id for h, info in self.lookup([h for h, _ in pairs]).items()}
            self._executemany("INSERT INTO sources (document_id, path, first_seen) VALUES (?, ?, ?) "
                              "ON CONFLICT (document_id, path) DO NOTHING",
                              [(ids[h], display_path(p), ts) for h, p in pairs if h in ids])

    def start_run(self, pipeline_version: str, options: dict) -> int:
        with self.transaction():
            return self._one("INSERT INTO runs (started_at, pipeline_version, options) VALUES (?, ?, ?) RETURNING id",
                             (now(), pipeline_version, _json(options)))["id"]

    def finish_run(self, run_id: int, counts: dict) -> None:
        with self.transaction():
            self._execute("UPDATE runs SET finished_at = ?, counts = ? WHERE id = ?", (now(), _json(counts), run_id))

    def replace_cross_year(self, findings: Sequence[CrossYearFinding], matches: Sequence[AgencyMatch],
                           agencies: Sequence[tuple[int, Optional[str], Optional[float]]]) -> None:
        with self.transaction():
            self._lock_cross_year()
            self._executemany("UPDATE documents SET agency_normalised = ?, agency_confidence = ? WHERE id = ?",
                              [(key, conf, doc_id) for doc_id, key, conf in sorted(agencies, key=lambda a: a[0])])
            self._execute("DELETE FROM cross_year_checks")
            self._executemany(
                "INSERT INTO cross_year_checks (agency_normalised, earlier_document_id, later_document_id, earlier_year, "
                "later_year, agency_match, match_confidence, rule, passed, detail, cells, difference) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(f.agency_normalised, f.earlier_document_id, f.later_document_id, f.earlier_year, f.later_year,
                  f.agency_match, f.match_confidence, f.rule, int(f.passed), f.detail, _json(f.cells), f.difference)
                 for f in findings])
            self._execute("DELETE FROM agency_matches")
            self._executemany(
                "INSERT INTO agency_matches (agency_a, agency_b, relation, confidence, reason) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (agency_a, agency_b) DO NOTHING",
                [(m.agency_a, m.agency_b, m.relation, m.confidence, m.reason) for m in matches])

    def totals(self) -> dict[str, int]:
        row = self._one("SELECT COUNT(*) AS documents, "
                        "SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) AS done, "
                        "SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, "
                        "SUM(review_needed) AS review_needed FROM documents")
        return {k: int(v or 0) for k, v in row.items()}

    # -- documents -----------------------------------------------------------------------------

    def document_row(self, doc_id: int) -> Optional[dict]:
        return self._one("SELECT * FROM documents WHERE id = ?", (int(doc_id),))

    def documents_by_hash(self, content_hash: str, prefix: bool = False) -> list[dict]:
        cols = "SELECT id, content_hash, status, review_status FROM documents WHERE content_hash "
        if prefix:
            return self._rows(cols + "LIKE ? ORDER BY id", (content_hash.replace("%", "").replace("_", "") + "%",))
        return self._rows(cols + "= ?", (content_hash,))

    def document_ids(self, filters: Filters) -> list[int]:
        where, params = filters.where("d")
        return [r["id"] for r in self.query(f"SELECT d.id AS id FROM documents d{where} ORDER BY d.id", params)]

    def field_rows(self, doc_id: int) -> list[dict]:
        return self._rows("SELECT key, value, raw, confidence, page, bbox, alternatives, reason, extra FROM fields "
                          "WHERE document_id = ? ORDER BY position", (int(doc_id),))

    def check_rows_of(self, doc_id: int) -> list[dict]:
        return self._rows("SELECT rule, passed, detail, cells, difference, extra FROM checks WHERE document_id = ? "
                          "ORDER BY id",
                          (int(doc_id),))

    # -- exports -------------------------------------------------------------------------------

    def long_rows(self, filters: Filters) -> Iterator[dict]:
        where, params = filters.where("d")
        return self._stream(
            "SELECT d.path, d.content_hash, d.agency, d.year, d.template, d.status, d.error_code, d.review_needed, "
            "d.review_status, d.model_version, f.key, f.value, f.raw, f.confidence, f.page FROM documents d "
            f"LEFT JOIN fields f ON f.document_id = d.id{where} ORDER BY d.id, f.position", params)

    def field_keys(self, filters: Filters) -> set[str]:
        where, params = filters.where("d")
        return {r["key"] for r in self.query(
            f"SELECT DISTINCT f.key AS key FROM fields f JOIN documents d ON d.id = f.document_id{where}", params)}

    def fractional_keys(self, filters: Filters) -> set[str]:
        where, params = filters.where("d")
        cond = (where + " AND") if where else " WHERE"
        return {r["key"] for r in self.query(
            f"SELECT DISTINCT f.key AS key FROM fields f JOIN documents d ON d.id = f.document_id{cond} "
            f"f.value IS NOT NULL AND f.value <> CAST(f.value AS {self.INT_TYPE})", params)}

    def wide_value_rows(self, filters: Filters, columns: Sequence[str]) -> Iterator[dict]:
        where, params = filters.where("d")
        cols = ", ".join(f"d.{c}" for c in columns if c.isidentifier())
        return self._stream(f"SELECT d.id AS _id, {cols}, f.key AS _key, f.value AS _value FROM documents d "
                          f"LEFT JOIN fields f ON f.document_id = d.id{where} ORDER BY d.id, f.position", params)

    def export_check_rows(self, filters: Filters, failed_only: bool) -> Iterator[dict]:
        where, params = filters.where("d")
        failed = " AND c.passed = 0" if failed_only else ""
        failed_x = " AND x.passed = 0" if failed_only else ""
        w1 = (where + failed) if where else (" WHERE 1 = 1" + failed)
        w2 = (where + failed_x) if where else (" WHERE 1 = 1" + failed_x)
        sql = ("SELECT 'document' AS scope, d.path, d.content_hash, d.agency, d.agency_normalised, d.year, d.template, "
               "c.rule, c.passed, c.detail, c.cells, c.difference, NULL AS other_path, NULL AS other_year, "
               "NULL AS agency_match, NULL AS match_confidence, c.extra AS extra, d.id AS _id, c.id AS _cid "
               f"FROM checks c JOIN documents d ON d.id = c.document_id{w1} "
               "UNION ALL "
               "SELECT 'cross_year' AS scope, d.path, d.content_hash, d.agency, x.agency_normalised, d.year, d.template, "
               "x.rule, x.passed, x.detail, x.cells, x.difference, e.path AS other_path, x.earlier_year AS other_year, "
               "x.agency_match, x.match_confidence, NULL AS extra, d.id AS _id, x.id + 1000000000 AS _cid "
               "FROM cross_year_checks x JOIN documents d ON d.id = x.later_document_id "
               f"JOIN documents e ON e.id = x.earlier_document_id{w2} "
               "ORDER BY _id, _cid")
        return self._stream(sql, params + params)

    # -- audit report and cross-year rule ------------------------------------------------------

    def report_figures(self, top: int = 25) -> dict[str, Any]:
        """The audit report's figures, counted in the store. Every ORDER BY ends on a unique key and
        puts NULLs last and orders text by bytes, so both databases list the same rows in the same order."""
        t = self.TEXT_ORDER
        d: dict[str, Any] = {}
        d["totals"] = self._one("SELECT COUNT(*) AS documents, "
                                "SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) AS done, "
                                "SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, "
                                "SUM(review_needed) AS review_needed, "
                                "COUNT(DISTINCT agency_normalised) AS agencies, SUM(pages) AS pages, SUM(size) AS bytes "
                                "FROM documents")
        d["by_status"] = self._rows("SELECT status, COALESCE(error_code, '') AS error_code, COUNT(*) AS n FROM documents "
                                    f"GROUP BY status, error_code ORDER BY status{t}, n DESC, COALESCE(error_code, ''){t}")
        d["by_format"] = self._rows("SELECT COALESCE(format, '?') AS format, COUNT(*) AS n, "
                                    "SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) AS done FROM documents "
                                    f"GROUP BY format ORDER BY n DESC, COALESCE(format, '?'){t}")
        d["by_year"] = self._rows("SELECT year, template, COUNT(*) AS n, SUM(review_needed) AS review FROM documents "
                                  "WHERE status = 'done' GROUP BY year, template "
                                  f"ORDER BY year IS NULL DESC, year, template IS NULL DESC, template{t}")
        d["rules"] = self._rows("SELECT rule, COUNT(*) AS checks, SUM(CASE WHEN passed = 0 THEN 1 ELSE 0 END) AS failed, "
                                "COUNT(DISTINCT CASE WHEN passed = 0 THEN document_id END) AS documents "
                                f"FROM checks GROUP BY rule ORDER BY rule{t}")
        d["rules"] += self._rows("SELECT rule || ' (across years)' AS rule, COUNT(*) AS checks, "
                                 "SUM(CASE WHEN passed = 0 THEN 1 ELSE 0 END) AS failed, "
                                 "COUNT(DISTINCT CASE WHEN passed = 0 THEN later_document_id END) AS documents "
                                 f"FROM cross_year_checks GROUP BY rule ORDER BY rule{t}")
        d["worst_docs"] = self._rows(
            "SELECT d.path, d.agency, d.year, d.template, COUNT(*) AS failed, "
            "SUM(ABS(c.difference)) AS total_abs_difference, MAX(ABS(c.difference)) AS largest "
            "FROM checks c JOIN documents d ON d.id = c.document_id WHERE c.passed = 0 "
            "GROUP BY d.id ORDER BY SUM(ABS(c.difference)) IS NULL, total_abs_difference DESC, failed DESC, d.id LIMIT ?",
            (top,))
        d["worst_checks"] = self._rows(
            "SELECT d.path, d.agency, d.year, d.template, c.rule, c.detail, c.cells, c.difference "
            "FROM checks c JOIN documents d ON d.id = c.document_id WHERE c.passed = 0 "
            "ORDER BY c.difference IS NULL, ABS(c.difference) DESC, c.id LIMIT ?", (top,))
        d["cross_year"] = self._rows(
            "SELECT x.agency_normalised, x.earlier_year, x.later_year, x.agency_match, "
            "x.match_confidence, x.detail, x.cells, x.difference, e.path AS earlier_path, l.path AS later_path, l.template "
            "FROM cross_year_checks x JOIN documents e ON e.id = x.earlier_document_id "
            "JOIN documents l ON l.id = x.later_document_id WHERE x.passed = 0 "
            "ORDER BY x.difference IS NULL, ABS(x.difference) DESC, x.id LIMIT ?", (top,))
        d["matches"] = self._rows(
            "SELECT agency_a, agency_b, relation, confidence, reason FROM agency_matches "
            f"ORDER BY relation{t} DESC, confidence DESC, agency_a{t}, agency_b{t} LIMIT ?", (top * 4,))
        d["failures"] = self._rows(
            "SELECT path, error_code, error_message FROM documents WHERE status = 'failed' "
            f"ORDER BY error_code IS NULL DESC, error_code{t}, path{t}, id LIMIT ?", (top * 4,))
        d["review"] = self._rows(
            "SELECT path, agency, year, template, review_reasons FROM documents WHERE review_needed = 1 "
            f"ORDER BY path{t}, id LIMIT ?", (top * 4,))
        # Counted in the store (20 bins of 0.05), not loaded: a large store has millions of fields.
        # FLOOR by comparison: CAST(... AS INTEGER) truncates in SQLite but rounds in PostgreSQL.
        d["confidence_bins"] = {int(r["bin"]): int(r["n"]) for r in self.query(
            "SELECT bin, COUNT(*) AS n FROM (SELECT CASE WHEN confidence >= 1 THEN 19 "
            f"WHEN CAST(confidence * 20 AS {self.INT_TYPE}) > confidence * 20 THEN CAST(confidence * 20 AS {self.INT_TYPE}) - 1 "
            f"ELSE CAST(confidence * 20 AS {self.INT_TYPE}) END AS bin FROM fields "
            "WHERE value IS NOT NULL AND confidence IS NOT NULL) b GROUP BY bin")}
        d["timings"] = [json.loads(r["timings"]).get("total", 0.0) for r in self.query(
            "SELECT timings FROM documents WHERE timings IS NOT NULL AND status = 'done' ORDER BY id")]
        d["runs"] = self._rows("SELECT id, started_at, finished_at, pipeline_version, counts FROM runs ORDER BY id DESC LIMIT 10")
        # Every review-needed document's reasons: the report counts the fields they name (ingest.report).
        d["review_reasons"] = self._rows("SELECT template, review_reasons FROM documents WHERE review_needed = 1 "
                                         "AND status = 'done' AND review_reasons IS NOT NULL ORDER BY id")
        return d

    def agency_rows(self) -> list[dict]:
        """Done documents with an agency: id, path, agency, year, template, agency_normalised, agency_confidence."""
        return self._rows("SELECT id, path, agency, year, template, agency_normalised, agency_confidence FROM documents "
                          "WHERE status = 'done' AND agency IS NOT NULL ORDER BY id")

    def field_values(self, doc_ids: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        keys = list(keys)
        ids = list(doc_ids)
        for i in range(0, len(ids), 400):
            chunk = ids[i:i + 400]
            for r in self.query(f"SELECT document_id, key, value FROM fields WHERE document_id IN "
                                f"({','.join('?' * len(chunk))}) AND key IN ({','.join('?' * len(keys))})",
                                [*chunk, *keys]):
                out.setdefault(r["document_id"], {})[r["key"]] = r["value"]
        return out

    # -- review --------------------------------------------------------------------------------

    def queue_rows(self, filters: QueueFilters, threshold: float) -> list[QueueRow]:
        conds, params = ["d.status = 'done'", "d.review_needed = 1"], []
        if filters.status == "open":
            conds.append("d.review_status IN ('pending', 'in_review')")
        elif filters.status != "all":
            conds.append("d.review_status = ?")
            params.append(filters.status)
        if filters.agency:
            conds.append(f"(d.agency {self.LIKE} ? OR d.agency_normalised {self.LIKE} ?)")
            params += [f"%{filters.agency}%"] * 2
        if filters.year is not None:
            conds.append("d.year = ?")
            params.append(int(filters.year))
        if filters.rule:
            conds.append(f"EXISTS (SELECT 1 FROM checks c WHERE c.document_id = d.id AND c.passed = 0 "
                         f"AND c.rule {self.LIKE} ?)")
            params.append(f"{filters.rule}%")
        if filters.max_confidence is not None:
            conds.append("EXISTS (SELECT 1 FROM fields f2 WHERE f2.document_id = d.id AND f2.confidence < ?)")
            params.append(float(filters.max_confidence))
        rows = self.query(
            "SELECT d.id, d.path, d.agency, d.year, d.template, d.review_status, d.model_version, d.review_reasons, "
            "COALESCE(SUM(1 - COALESCE(f.confidence, 1)), 0) AS misreads, "
            "COALESCE(SUM(CASE WHEN f.confidence < ? THEN 1 ELSE 0 END), 0) AS doubtful "
            f"FROM documents d LEFT JOIN fields f ON f.document_id = d.id WHERE {' AND '.join(conds)} GROUP BY d.id",
            [float(threshold), *params])
        return [QueueRow(id=r["id"], path=r["path"], agency=r["agency"], year=r["year"], template=r["template"],
                         review_status=r["review_status"], model_version=r["model_version"],
                         review_reasons=r["review_reasons"], misreads=float(r["misreads"]), doubtful=int(r["doubtful"]))
                for r in rows]

    def failing_rules(self, doc_ids: Sequence[int]) -> dict[int, list[str]]:
        failing: dict[int, list[str]] = {}
        ids = list(doc_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for c in self.query(f"SELECT document_id, rule FROM checks WHERE passed = 0 AND document_id IN "
                                f"({','.join('?' * len(chunk))}) ORDER BY id", chunk):
                failing.setdefault(c["document_id"], []).append(c["rule"])
        return failing

    def _replace_checks(self, doc_id: int, checks: Sequence[StoredCheck]) -> None:
        self._execute("DELETE FROM checks WHERE document_id = ?", (doc_id,))
        self._executemany(
            "INSERT INTO checks (document_id, rule, passed, detail, cells, difference, extra) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(doc_id, c.rule, int(c.passed), c.detail, _json(c.cells), c.difference, _json(c.extra or None))
             for c in checks])

    def redecide_field(self, document_id: int, key: str, value: Any, confidence: float, reason: str,
                       evidence_document_id: int, *, based_on: Any = BASED_ON_CURRENT,
                       checks: Sequence[StoredCheck] = ()) -> None:
        doc_id = int(document_id)
        with self.transaction():
            self.lock_document(doc_id)
            current = self._one("SELECT value, confidence, reason FROM fields WHERE document_id = ? AND key = ?"
                                + self.FOR_UPDATE, (doc_id, key))
            if current is None:
                raise StoreError(f"document {doc_id} has no field {key!r}")
            if current["reason"] == "reviewed":
                raise StoreError(f"{key} of document {doc_id} was set by a reviewer; evidence from another report "
                                 "does not change it")
            if based_on is not BASED_ON_CURRENT and not same_stored_value(current["value"], based_on):
                raise StaleEditError(f"{key} of document {doc_id} is {_shown(current['value'])}, not "
                                     f"{_shown(based_on)} as decided on; nothing was changed")
            if self._one("SELECT id FROM documents WHERE id = ?", (int(evidence_document_id),)) is None:
                raise StoreError(f"no document {evidence_document_id} (the evidence) in the store")
            model_version = self.scalar("SELECT model_version FROM documents WHERE id = ?", (doc_id,))
            ts = now()
            self._execute("UPDATE fields SET value = ?, confidence = ?, reason = ? WHERE document_id = ? AND key = ?",
                          (value, float(confidence), _text(reason), doc_id, key))
            self._execute(
                "INSERT INTO field_changes (document_id, key, action, old_value, new_value, old_confidence, reviewer, "
                "model_version, created_at, new_confidence, reason, evidence_document_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc_id, key, CROSS_YEAR_ACTION, current["value"], value, current["confidence"], None, model_version,
                 ts, float(confidence), _text(reason), int(evidence_document_id)))
            self._replace_checks(doc_id, checks)
            self._execute("UPDATE documents SET updated_at = ? WHERE id = ?", (ts, doc_id))

    def lock_document(self, doc_id: int) -> None:
        if self.FOR_UPDATE:
            self._execute("SELECT id FROM documents WHERE id = ?" + self.FOR_UPDATE, (int(doc_id),))

    def change_field(self, change: FieldChange) -> None:
        with self.transaction():
            self.lock_document(change.document_id)
            current = self._one("SELECT value, confidence FROM fields WHERE document_id = ? AND key = ?" + self.FOR_UPDATE,
                                (change.document_id, change.key))
            if current is None:
                raise StoreError(f"document {change.document_id} has no field {change.key!r}")
            if change.based_on is not BASED_ON_CURRENT and not same_stored_value(current["value"], change.based_on):
                last = self._one("SELECT reviewer, created_at FROM field_changes WHERE document_id = ? AND key = ? "
                                 "ORDER BY id DESC LIMIT 1", (change.document_id, change.key))
                who = (f" by {last['reviewer'] or 'a decision on another report (rule 5)'} at {last['created_at'][:19]}"
                       if last else "")
                raise StaleEditError(
                    f"{change.key} of document {change.document_id} was changed{who} to "
                    f"{_shown(current['value'])} after you read {_shown(change.based_on)}; nothing was saved: "
                    "reload the document and decide again")
            model_version = self.scalar("SELECT model_version FROM documents WHERE id = ?", (change.document_id,))
            ts = now()
            self._execute("UPDATE fields SET value = ?, confidence = 1.0, reason = 'reviewed' WHERE document_id = ? "
                          "AND key = ?", (change.new_value, change.document_id, change.key))
            self._execute(
                "INSERT INTO field_changes (document_id, key, action, old_value, new_value, old_confidence, reviewer, "
                "model_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (change.document_id, change.key, change.action, current["value"], change.new_value,
                 current["confidence"], change.reviewer, model_version, ts))
            self._replace_checks(change.document_id, change.checks)
            self._execute("UPDATE documents SET review_status = 'in_review', updated_at = ? WHERE id = ?",
                          (ts, change.document_id))

    def set_review_status(self, doc_id: int, status: str, reviewer: str, note: Optional[str] = None,
                          logged_as: Optional[str] = None) -> str:
        ts = now()
        with self.transaction():
            self._execute("UPDATE documents SET review_status = ?, updated_at = ? WHERE id = ?", (status, ts, int(doc_id)))
            self._execute("INSERT INTO reviews (document_id, status, reviewer, note, created_at) VALUES (?, ?, ?, ?, ?)",
                          (int(doc_id), logged_as or status, reviewer, note, ts))
            if status == "approved":
                self._execute("DELETE FROM claims WHERE document_id = ?", (int(doc_id),))
        return ts

    def field_history(self, doc_id: int) -> list[dict]:
        return self._rows("SELECT key, action, old_value, new_value, old_confidence, reviewer, model_version, "
                          "created_at, new_confidence, reason, evidence_document_id FROM field_changes "
                          "WHERE document_id = ? ORDER BY id", (int(doc_id),))

    def count_value_changes(self, doc_id: int) -> int:
        return int(self.scalar(f"SELECT COUNT(*) FROM field_changes WHERE document_id = ? AND action != 'confirm' "
                               f"AND action != ? AND (old_value {self.DISTINCT} new_value)",
                               (int(doc_id), CROSS_YEAR_ACTION)) or 0)

    def claim_next(self, reviewer: str, candidates: Sequence[int], ttl_seconds: float) -> Optional[int]:
        held = {r["document_id"] for r in self.query(
            "SELECT document_id FROM claims WHERE reviewer <> ? AND expires_at > ?", (reviewer, now()))}
        for doc_id in candidates:
            if doc_id in held:
                continue
            with self.transaction():
                if not self._lock_skip(doc_id):  # another reviewer is claiming it right now
                    continue
                ts = now()
                got = self._one(
                    "INSERT INTO claims (document_id, reviewer, claimed_at, expires_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (document_id) DO UPDATE SET reviewer = excluded.reviewer, "
                    "claimed_at = excluded.claimed_at, expires_at = excluded.expires_at "
                    "WHERE claims.expires_at <= ? OR claims.reviewer = excluded.reviewer RETURNING document_id",
                    (int(doc_id), reviewer, ts, later(ttl_seconds), ts))
            if got is not None:
                return int(doc_id)
        return None

    def release_claim(self, doc_id: int, reviewer: str) -> None:
        with self.transaction():
            self._execute("DELETE FROM claims WHERE document_id = ? AND reviewer = ?", (int(doc_id), reviewer))

    def claims(self) -> list[Claim]:
        return [Claim(**r) for r in self.query(
            "SELECT document_id, reviewer, claimed_at, expires_at FROM claims WHERE expires_at > ? ORDER BY document_id",
            (now(),))]

    def review_check(self, review: CheckReview) -> CheckReview:
        if review.status not in FINDING_STATUSES:
            raise StoreError(f"a finding is {' or '.join(FINDING_STATUSES)}, not {review.status!r}")
        if review.scope not in FINDING_SCOPES:
            raise StoreError(f"unknown finding scope {review.scope!r}")
        if not str(review.reviewer or "").strip():
            raise StoreError("a verdict on a finding names its reviewer")
        ts = review.created_at or now()
        with self.transaction():
            if self.document_row(review.document_id) is None:
                raise StoreError(f"no document {review.document_id} in the store")
            new_id = self._one("INSERT INTO check_reviews (document_id, scope, rule, finding, status, reviewer, note, "
                               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                               (int(review.document_id), review.scope, _text(review.rule), _text(review.finding),
                                review.status, _text(review.reviewer), _text(review.note), ts))["id"]
        return CheckReview(document_id=int(review.document_id), rule=review.rule, status=review.status,
                           reviewer=review.reviewer, scope=review.scope, note=review.note, finding=review.finding,
                           created_at=ts, id=new_id)

    def check_reviews(self, doc_id: Optional[int] = None) -> list[CheckReview]:
        cond, params = ("WHERE document_id = ? ", [int(doc_id)]) if doc_id is not None else ("", [])
        return [CheckReview(**r) for r in self.query(
            "SELECT id, document_id, scope, rule, finding, status, reviewer, note, created_at FROM check_reviews "
            f"{cond}ORDER BY id", params)]


def _shown(value: Any) -> str:
    if value is None:
        return "blank"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_record(store: Store, doc: dict, contexts: bool = False) -> dict:
    """The output contract of one stored document, rebuilt from its rows, with the store's own keys
    (``content_hash``, ``pipeline_version``, ``status``, ``review_status``); with ``contexts`` its fields
    keep the text they were read from, as the ingest worker stored it."""
    return stored_record(store, doc).as_dict(contexts)


def stored_record(store: Store, doc: dict) -> Record:
    """The typed record of one stored document (``nianbao.record.Record``), decoded from its rows."""
    fields: dict[str, RecordField] = {}
    for f in store.field_rows(doc["id"]):
        extra = json.loads(f["extra"]) if f["extra"] else {}
        fields[f["key"]] = RecordField.from_dict({
            **extra, "value": f["value"], "raw": f["raw"], "confidence": f["confidence"], "page": f["page"],
            "bbox": json.loads(f["bbox"]) if f["bbox"] else None,
            "alternatives": json.loads(f["alternatives"]) if f["alternatives"] else [], "reason": f["reason"]})
    checks = []
    for c in store.check_rows_of(doc["id"]):
        check = {"rule": c["rule"], "passed": bool(c["passed"]), "detail": c["detail"],
                 "cells": json.loads(c["cells"]) if c["cells"] else [], "difference": c["difference"]}
        if c.get("extra"):
            check.update(json.loads(c["extra"]))
        checks.append(RecordCheck.from_dict(check))
    # Keys of the record without a column of their own (e.g. warnings), then the store's own keys.
    extra = json.loads(doc["record_extra"]) if doc["record_extra"] else {}
    return Record(
        source=doc["path"], agency=doc["agency"], year=doc["year"], template=doc["template"],
        found={t: bool(v) for t, v in (json.loads(doc["tables_found"]) if doc["tables_found"] else {}).items()},
        fields=fields, checks=checks, review_needed=bool(doc["review_needed"]),
        review_reasons=json.loads(doc["review_reasons"]) if doc["review_reasons"] else [],
        error={"code": doc["error_code"], "message": doc["error_message"]} if doc["status"] == "failed" else None,
        format=doc["format"], mapper=doc["mapper"], model_version=doc.get("model_version"),
        warnings=list(extra.pop("warnings", None) or []),
        pages_needing_ocr=json.loads(doc["pages_needing_ocr"]) if doc["pages_needing_ocr"] else [],
        extra={**extra, "content_hash": doc["content_hash"], "pipeline_version": doc["pipeline_version"],
               "status": doc["status"], "review_status": doc["review_status"]})
