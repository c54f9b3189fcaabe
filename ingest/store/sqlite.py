"""The embedded store: one SQLite file in WAL mode (the default of ``--db``)."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Iterator, Sequence

from .interface import StoreError, now
from .sql import SQLStore, statements

# A result the store cannot take (NaN in JSON, a number past 64 bits, text that is not UTF-8): the
# runner records that document as failed and goes on.
UNSTORABLE_SQLITE = (ValueError, OverflowError, UnicodeError, sqlite3.ProgrammingError, sqlite3.IntegrityError)


class SQLiteStore(SQLStore):
    """A store in one SQLite file. ``read_only``: open without writing anything (exports, reports).

    Opening never changes a file that is not a nianbao store: a file that is not SQLite, or a SQLite
    database of another program (tables, but no ``schema_version``), is refused with ``StoreError``
    before anything is written (not even the switch to WAL mode, which rewrites the file header).

    Writers take the database lock when their transaction starts (``BEGIN IMMEDIATE``), so two
    processes queue instead of deadlocking and a read inside a transaction is already exclusive."""

    UNSTORABLE = UNSTORABLE_SQLITE

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
                self.require_current_schema()
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
            # isolation_level=None: no implicit transactions; every write says BEGIN/COMMIT itself.
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _table_names(self) -> set[str]:
        """(Reading them also fails on a file that is not SQLite, before anything is written.)"""
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    # -- dialect hooks ------------------------------------------------------------------------

    def _execute(self, sql: str, params: Sequence = ()) -> Any:
        return self.conn.execute(sql, list(params))

    def _executemany(self, sql: str, seq) -> None:
        self.conn.executemany(sql, seq)

    def _in_transaction(self) -> bool:
        return self.conn.in_transaction

    def _begin(self) -> None:
        # IMMEDIATE: take the write lock at the start, so two writers queue instead of deadlocking.
        self.conn.execute("BEGIN IMMEDIATE")

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
        for version, description, script in self._pending_migrations(self.schema_version()):
            with self.transaction():
                # Checked again inside the write lock: another process may have just migrated.
                if self.schema_version() >= version:
                    continue
                for statement in statements(script):
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                                  (version, description, now()))

    # -- reading ------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence = ()) -> Iterator[dict]:
        cur = self.conn.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


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
