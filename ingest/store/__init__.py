"""The results store: one row per distinct document content, its fields, its rule checks.

``Store`` (interface.py) is what the rest of nianbao asks; no SQL lives outside this package.
``SQLiteStore`` (sqlite.py, one file, the embedded default) and ``PostgresStore`` (postgres.py, a
team database: several ingest processes and reviewers at once) implement it over the SQL of sql.py.
``open_store`` picks one from a ``--db`` argument: a file path or a ``postgresql://`` URL.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .interface import (BASED_ON_CURRENT, CHECK_COLUMNS, CROSS_YEAR_ACTION, FIELD_COLUMNS, FINDING_SCOPES,
                        FINDING_STATUSES, QUEUE_STATUSES, RECORD_COLUMNS,
                        REVIEW_UNTOUCHED, STATUSES, AgencyMatch, CheckReview, Claim, CrossYearFinding, DocumentResult,
                        FieldChange, Filters, FindingVerdicts, OldStoreError, QueueFilters, QueueRow, StaleEditError, Store, StoredCheck,
                        StoredInfo, StoreError, finding_key, now)
from .postgres import PostgresStore, describe_postgres_error, is_postgres_url, redact_url
from .sql import MIGRATIONS, SCHEMA_VERSION, SQLStore, load_record, same_stored_value, stored_record
from .sqlite import SQLiteStore, describe_sqlite_error

__all__ = [
    "AgencyMatch", "BASED_ON_CURRENT", "CHECK_COLUMNS", "CROSS_YEAR_ACTION", "FINDING_SCOPES", "finding_key", "CheckReview", "Claim", "CrossYearFinding", "DocumentResult", "FIELD_COLUMNS",
    "FINDING_STATUSES", "FieldChange", "FindingVerdicts", "Filters", "MIGRATIONS", "OldStoreError", "PostgresStore", "QUEUE_STATUSES",
    "QueueFilters", "QueueRow", "RECORD_COLUMNS", "REVIEW_UNTOUCHED", "SCHEMA_VERSION", "SQLStore", "SQLiteStore",
    "STATUSES", "StaleEditError", "Store", "StoreError", "StoredCheck", "StoredInfo", "database_errors",
    "describe_store_error", "describe_sqlite_error", "is_postgres_url", "load_record", "now", "open_store",
    "open_existing_store", "redact_url", "same_stored_value", "stored_record",
]


def open_store(db: str | Path) -> Store:
    """The store behind a --db argument: a SQLite file path, or a postgresql:// URL."""
    if is_postgres_url(db):
        return PostgresStore(str(db))
    return SQLiteStore(str(db))


def open_existing_store(db: str | Path) -> Store:
    """An existing store opened without writing (one of an older schema is migrated first).

    Anything else is refused, unchanged, with ``StoreError``: no file, a file that is not SQLite,
    another program's database, an empty PostgreSQL database."""
    make = PostgresStore if is_postgres_url(db) else SQLiteStore
    if make is SQLiteStore and str(db) != ":memory:" and not Path(db).exists():
        raise StoreError(f"no store at {db}")
    try:
        return make(str(db), read_only=True)
    except OldStoreError:
        return make(str(db))


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a database raises mid-run (disk full, connection lost...), for a clean message."""
    import sqlite3

    errors: tuple = (sqlite3.Error,)
    try:
        import psycopg

        errors += (psycopg.Error,)
    except ImportError:
        pass
    return errors


def describe_store_error(db: Any, e: BaseException) -> str:
    import sqlite3

    if isinstance(e, sqlite3.Error):
        return describe_sqlite_error(str(db), e)
    return describe_postgres_error(str(db), e)
