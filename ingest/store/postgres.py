"""The team store: PostgreSQL through psycopg 3, chosen by ``--db postgresql://…``.

The same SQL as SQLite (``sql.py``) with these differences, all here:
- placeholders: ``?`` becomes ``%s`` (outside quoted text);
- types: the migrations' ``INTEGER PRIMARY KEY`` ids become ``BIGSERIAL``, ``INTEGER`` ``BIGINT`` and
  ``REAL`` ``DOUBLE PRECISION`` (PostgreSQL's REAL is 4 bytes: confidences would change);
- values: ``NUMERIC`` comes back as an int when whole, else a float (what SQLite's NUMERIC affinity
  gives), and a float goes in as its shortest exact text, so both stores export the same digits;
- concurrency: a transaction does not lock the database as SQLite's does, so writers lock what they
  change: the document row (``FOR UPDATE``), the claimed queue item (``FOR UPDATE SKIP LOCKED``), the
  cross-year tables (``LOCK TABLE``) and the migrations (an advisory lock).
"""
from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Any, Iterator, Sequence

from .interface import StoreError, now
from .sql import SQLStore, statements

try:
    import psycopg
    from psycopg.adapt import Dumper
    from psycopg.pq import TransactionStatus
    from psycopg.types.numeric import NumericLoader
    from psycopg.types.string import StrDumperUnknown
except ImportError:  # pragma: no cover - the [postgres] extra is not installed
    psycopg = None

_cursor_ids = itertools.count()
MIGRATION_LOCK = 0x6E69616E62616F  # "nianbao": one process migrates at a time
URL_PREFIXES = ("postgresql://", "postgres://")


def is_postgres_url(db: Any) -> bool:
    return str(db).startswith(URL_PREFIXES)


def postgres_script(script: str) -> str:
    """A migration script of sql.py in PostgreSQL's types."""
    script = re.sub(r"\bid INTEGER PRIMARY KEY\b", "id BIGSERIAL PRIMARY KEY", script)
    script = re.sub(r"\bINTEGER\b", "BIGINT", script)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", script)


def to_pyformat(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (and a literal ``%`` to ``%%``), leaving quoted text alone."""
    out, quote = [], None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def redact_url(url: str) -> str:
    """A connection URL without its password (for messages)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", str(url))


if psycopg is not None:
    class _SQLiteLikeNumericLoader(NumericLoader):
        """NUMERIC as SQLite's NUMERIC affinity returns it: an int when whole, else a float."""

        def load(self, data: Any) -> Any:
            d: Decimal = super().load(data)
            if not d.is_finite():
                return float(d)
            return int(d) if d == d.to_integral_value() else float(d)

    class _FloatAsNumericDumper(Dumper):
        """A Python float as the shortest text that reads back as it (``repr``), typed numeric: a
        double → numeric cast would keep 15 digits only."""

        oid = psycopg.adapters.types["numeric"].oid

        def dump(self, obj: float) -> bytes:
            if obj != obj:
                return b"NaN"
            if obj in (float("inf"), float("-inf")):
                return b"Infinity" if obj > 0 else b"-Infinity"
            return repr(obj).encode()


if psycopg is not None:
    class _NoNulStrDumper(StrDumperUnknown):
        """Text as SQLite keeps it, except NUL, which PostgreSQL text cannot hold: U+FFFD, as for
        undecodable bytes (a document with a stray NUL is stored, not failed)."""

        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)


def _unstorable() -> tuple:
    if psycopg is None:
        return (ValueError, OverflowError, UnicodeError)
    return (ValueError, OverflowError, UnicodeError, psycopg.DataError, psycopg.IntegrityError)


class PostgresStore(SQLStore):
    """A store in a PostgreSQL database (``postgresql://user:password@host:port/dbname``)."""

    FOR_UPDATE = " FOR UPDATE"
    INT_TYPE = "BIGINT"
    DISTINCT = "IS DISTINCT FROM"
    LIKE = "ILIKE"  # SQLite's LIKE ignores ASCII case; so does the queue filter here
    TEXT_ORDER = ' COLLATE "C"'  # byte order whatever the database's locale, as SQLite sorts

    def __init__(self, url: str, *, read_only: bool = False, connect_timeout: float = 10.0):
        if psycopg is None:
            raise StoreError("a postgresql:// store needs psycopg: pip install 'nianbao[postgres]'")
        self.path = redact_url(url)
        self.read_only = read_only
        self.UNSTORABLE = _unstorable()
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=int(connect_timeout))
        except psycopg.Error as e:
            raise StoreError(f"cannot connect to the store {self.path}: {str(e).strip().splitlines()[0] if str(e).strip() else e}") from e
        self.conn.adapters.register_loader("numeric", _SQLiteLikeNumericLoader)
        self.conn.adapters.register_dumper(float, _FloatAsNumericDumper)
        self.conn.adapters.register_dumper(str, _NoNulStrDumper)
        try:
            self._check_is_nianbao_store()
            if read_only:
                # An export or report never writes, whatever it runs.
                self.conn.execute("SET default_transaction_read_only = on")
                self.require_current_schema()
            else:
                self.migrate()
        except psycopg.Error as e:
            self.conn.close()
            raise StoreError(f"store {self.path}: {e}") from e
        except StoreError:
            self.conn.close()
            raise

    def _table_names(self) -> set[str]:
        return {r["table_name"] for r in self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}

    # -- dialect hooks ------------------------------------------------------------------------

    def _execute(self, sql: str, params: Sequence = ()) -> Any:
        params = list(params)
        # Without parameters psycopg does no %-formatting: the text goes as it is.
        return self.conn.execute(to_pyformat(sql) if params else sql, params or None)

    def _executemany(self, sql: str, seq) -> None:
        seq = list(seq)
        if seq:
            with self.conn.cursor() as cur:
                cur.executemany(to_pyformat(sql), seq)

    def _in_transaction(self) -> bool:
        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def _begin(self) -> None:
        self.conn.execute("BEGIN")

    def _lock_skip(self, doc_id: int) -> bool:
        return self._one("SELECT id FROM documents WHERE id = ? FOR UPDATE SKIP LOCKED", (int(doc_id),)) is not None

    def _lock_cross_year(self) -> None:
        self._execute("LOCK TABLE cross_year_checks, agency_matches IN SHARE ROW EXCLUSIVE MODE")

    # -- schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        if self.scalar("SELECT to_regclass('schema_version') IS NOT NULL AS present") is not True:
            return 0
        return int(self.scalar("SELECT MAX(version) FROM schema_version") or 0)

    def migrate(self) -> None:
        with self.transaction():
            self._execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            self._execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, "
                          "description TEXT, applied_at TEXT NOT NULL)")
            for version, description, script in self._pending_migrations(self.schema_version()):
                for statement in statements(postgres_script(script)):
                    self.conn.execute(statement)
                self._execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                              (version, description, now()))

    # -- reading ------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence = ()) -> Iterator[dict]:
        cur = self._execute(sql, params)
        if cur.description is None:
            return
        names = [d.name for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def _stream(self, sql: str, params: Sequence = ()) -> Iterator[dict]:
        # A server-side cursor: an export of millions of fields is fetched 5000 rows at a time (a plain
        # cursor would hold the whole result in this process). It lives in a transaction.
        params = list(params)
        own = not self._in_transaction()
        if own:
            self._begin()
        try:
            with self.conn.cursor(name=f"nianbao_export_{next(_cursor_ids)}") as cur:
                cur.itersize = 5000
                cur.execute(to_pyformat(sql) if params else sql, params or None)
                names = [d.name for d in cur.description]
                for row in cur:
                    yield dict(zip(names, row))
        finally:
            if own and not self.conn.closed and self._in_transaction():
                self.conn.execute("ROLLBACK")  # read only: nothing to keep

    def close(self) -> None:
        self.conn.close()


def describe_postgres_error(url: str, e: Exception) -> str:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"store {redact_url(url)}: {first}"
