"""Exports of a results store: CSV, Parquet, JSON lines, Excel; long, wide or record shape.

- long: one row per document and field key (a failed document: one row with an empty key), with
  the document's path, agency, year, template, status, and the field's value, raw text, confidence;
- wide: one row per document (path, agency, year, template, status, ...) and one column per key,
  in schema order;
- record (jsonl): the output contract of each document, rebuilt from the store;
- checks (``what="checks"``): every check of each document (rules 1-4, the audit findings P/A/N) and
  rule 5 across years, one row each, with what a finding adds (confidence, sentence, position, page,
  table and stated values) and the verdict that stands on it (confirmed / dismissed / open, by whom,
  when; ``check_reviews``).

Rows are streamed from the store (CSV, JSON lines, Parquet in batches), so an export of a large
store does not hold it in memory. Cell text comes from untrusted documents: in Excel it is always
written as text (a cell starting with ``=`` is never a formula).
"""
from __future__ import annotations

import csv
import io
import json
import sys
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from nianbao.jsonio import dumps_strict, without_nonfinite
from nianbao.record import CHECK_EXTRAS

from .store import Filters, FindingVerdicts, Store, StoreError, finding_key, load_record, open_existing_store

DOC_COLUMNS = ["path", "content_hash", "agency", "agency_normalised", "year", "template", "status", "error_code",
               "review_needed", "review_status", "model_version"]
LONG_COLUMNS = ["path", "content_hash", "agency", "year", "template", "status", "error_code", "review_needed",
                "review_status", "model_version", "key", "value", "raw", "confidence", "page"]
# What an audit finding adds to a check (the keys nianbao.record.check_record writes beyond the rule's five).
FINDING_EXTRAS = (*CHECK_EXTRAS, "not_applicable")
CHECK_COLUMNS = ["scope", "path", "content_hash", "agency", "agency_normalised", "year", "template", "rule", "passed",
                 "detail", "cells", "difference", "other_path", "other_year", "agency_match", "match_confidence",
                 *FINDING_EXTRAS,
                 # the finding's verdict: confirmed | dismissed | open (a failed check nobody has judged)
                 "finding", "review_status", "reviewed_by", "reviewed_at", "review_note"]
_INT = {"year", "review_needed", "page", "other_year", "position"}
_FLOAT = {"confidence", "difference", "match_confidence", "value", "table_value", "stated_value"}
_BOOL = {"passed", "review_needed"}
XLSX_MAX_ROWS = 1_048_576
BATCH = 10_000


class ExportError(Exception):
    pass


def open_existing(db: str | Path) -> Store:
    """An existing nianbao store (a file or a postgresql:// URL), opened without writing (a store of an
    older schema is migrated first).

    Anything else is refused, unchanged: no file, a file that is not SQLite, another program's database."""
    try:
        return open_existing_store(db)
    except StoreError as e:
        raise ExportError(str(e)) from e


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------

def long_rows(store: Store, filters: Filters) -> Iterator[dict]:
    for r in store.long_rows(filters):
        r["review_needed"] = bool(r["review_needed"])
        yield r


def schema_key_order() -> list[str]:
    from nianbao.schema import load_schema

    schema = load_schema()
    return list(dict.fromkeys([*schema.field_keys("v2019"), *schema.field_keys("v2021")]))


def wide_keys(store: Store, filters: Filters) -> list[str]:
    present = store.field_keys(filters)
    order = [k for k in schema_key_order() if k in present]
    return order + sorted(present - set(order))


def wide_rows(store: Store, filters: Filters, keys: Sequence[str]) -> Iterator[dict]:
    for _, group in groupby(store.wide_value_rows(filters, DOC_COLUMNS), key=lambda r: r["_id"]):
        group = list(group)
        first = group[0]
        row = {c: first[c] for c in DOC_COLUMNS}
        row["review_needed"] = bool(row["review_needed"])
        values = {g["_key"]: g["_value"] for g in group if g["_key"] is not None}
        for k in keys:
            row[k] = values.get(k)
        yield row


def record_rows(store: Store, filters: Filters) -> Iterator[dict]:
    for doc_id in store.document_ids(filters):
        row = store.document_row(doc_id)
        if row is not None:  # deleted since the list was read
            yield load_record(store, row)


def check_rows(store: Store, filters: Filters, failed_only: bool = False) -> Iterator[dict]:
    verdicts = FindingVerdicts(store.check_reviews())
    for r in store.export_check_rows(filters, failed_only):
        doc_id = r.pop("_id")
        r.pop("_cid")
        extra = json.loads(r.pop("extra") or "null") or {}
        for name in FINDING_EXTRAS:
            r[name] = extra.get(name)
        r["passed"] = bool(r["passed"])
        cells = json.loads(r["cells"]) if r["cells"] else []
        r["finding"] = finding_key(r["rule"], cells, r["position"], r["other_path"])
        verdict = None if r["passed"] else verdicts.get(doc_id, r["scope"], r["rule"], r["finding"])
        r["review_status"] = None if r["passed"] else (verdict.status if verdict else "open")
        r["reviewed_by"] = verdict.reviewer if verdict else None
        r["reviewed_at"] = verdict.created_at if verdict else None
        r["review_note"] = verdict.note if verdict else None
        yield r


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------

def _text(v: Any) -> Any:
    return "" if v is None else v


def write_csv(rows: Iterator[dict], columns: Sequence[str], out, bom: bool = False) -> int:
    if bom:
        out.write("\ufeff")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    n = 0
    for r in rows:
        w.writerow([_text(r.get(c)) for c in columns])
        n += 1
    return n


def strict_json(v: Any) -> str:
    try:
        return dumps_strict(v)
    except ValueError:  # a non-finite number stored by an older nianbao
        return dumps_strict(without_nonfinite(v))


def write_jsonl(rows: Iterator[dict], out) -> int:
    n = 0
    for r in rows:
        out.write(strict_json(r) + "\n")
        n += 1
    return n


def _arrow_type(col: str, int_keys: set, float_keys: set):
    import pyarrow as pa

    if col in _BOOL:
        return pa.bool_()
    if col in _INT:
        return pa.int64()
    if col in _FLOAT:
        return pa.float64()
    if col in int_keys:
        return pa.int64()
    if col in float_keys:
        return pa.float64()
    return pa.string()


def write_parquet(rows: Iterator[dict], columns: Sequence[str], path: str | Path, int_keys: set = frozenset(),
                  float_keys: set = frozenset()) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, _arrow_type(c, int_keys, float_keys)) for c in columns])
    n = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        batch: list[dict] = []

        def flush():
            cols = {}
            for c in columns:
                vals = [r.get(c) for r in batch]
                if pa.types.is_string(schema.field(c).type):
                    vals = [None if v is None else (v if isinstance(v, str) else strict_json(v)) for v in vals]
                cols[c] = pa.array(vals, type=schema.field(c).type)
            writer.write_table(pa.table(cols, schema=schema))

        for r in rows:
            batch.append(r)
            n += 1
            if len(batch) >= BATCH:
                flush()
                batch = []
        if batch or n == 0:
            flush()
    return n


def write_xlsx(rows: Iterator[dict], columns: Sequence[str], path: str | Path, sheet: str = "data") -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    ws = None
    part = 0
    in_sheet = 0
    n = 0

    def new_sheet():
        nonlocal ws, part, in_sheet
        part += 1
        ws = wb.create_sheet(sheet if part == 1 else f"{sheet}_{part}")
        ws.append(list(columns))
        in_sheet = 0

    def cell(v):
        if isinstance(v, str):
            c = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", v))
            c.data_type = "s"  # text from documents is never a formula
            return c
        return v

    new_sheet()
    for r in rows:
        if in_sheet >= XLSX_MAX_ROWS - 1:
            new_sheet()
        ws.append([cell(r.get(c)) for c in columns])
        in_sheet += 1
        n += 1
    wb.save(str(path))
    return n


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------

def _value_kinds(store: Store, filters: Filters) -> tuple[set, set]:
    """Keys whose values are all whole numbers (int64 columns) and the others (float64)."""
    keys = store.field_keys(filters)
    floats = store.fractional_keys(filters)
    return keys - floats, floats


def _cells_text(rows: Iterator[dict]) -> Iterator[dict]:
    for r in rows:
        if isinstance(r.get("cells"), str):
            r["cells"] = " ".join(json.loads(r["cells"]))
        if isinstance(r.get("not_applicable"), list):
            r["not_applicable"] = " ".join(map(str, r["not_applicable"]))
        yield r


def export(db: str | Path, fmt: str = "csv", shape: str = "long", out: Optional[str | Path] = None,
           filters: Optional[Filters] = None, what: str = "fields", failed_checks_only: bool = False,
           bom: bool = False, stdout=None) -> int:
    """Write the export; returns the number of rows (documents for record shape)."""
    filters = filters or Filters()
    if fmt not in ("csv", "parquet", "jsonl", "xlsx"):
        raise ExportError(f"unknown format {fmt!r}")
    if fmt in ("parquet", "xlsx") and not out:
        raise ExportError(f"--format {fmt} needs --out FILE")
    if shape == "record" and fmt != "jsonl" and what == "fields":
        raise ExportError("--shape record is for --format jsonl")
    store = open_existing(db)
    try:
        int_keys: set = set()
        float_keys: set = set()
        if what == "checks":
            columns = CHECK_COLUMNS
            rows = check_rows(store, filters, failed_checks_only)
            if fmt == "jsonl":
                rows = (dict(r, cells=json.loads(r["cells"]) if r["cells"] else []) for r in rows)
            else:
                rows = _cells_text(rows)
        elif shape == "long":
            columns = LONG_COLUMNS
            rows = long_rows(store, filters)
        elif shape == "wide":
            keys = wide_keys(store, filters)
            columns = DOC_COLUMNS + keys
            rows = wide_rows(store, filters, keys)
            int_keys, float_keys = _value_kinds(store, filters)
        elif shape == "record":
            columns = []
            rows = record_rows(store, filters)
        elif shape == "tables":  # each document's tables as printed, one sheet each (export_xlsx.py)
            from .export_xlsx import write_tables_xlsx

            if fmt != "xlsx":
                raise ExportError("--shape tables is for --format xlsx")
            return write_tables_xlsx(record_rows(store, filters), out)
        else:
            raise ExportError(f"unknown shape {shape!r}")

        if fmt == "parquet":
            return write_parquet(rows, columns, out, int_keys, float_keys)
        if fmt == "xlsx":
            return write_xlsx(rows, columns, out, sheet="checks" if what == "checks" else shape)
        stream = open(out, "w", encoding="utf-8", newline="") if out else (stdout or sys.stdout)
        try:
            if fmt == "csv":
                return write_csv(rows, columns, stream, bom=bom)
            return write_jsonl(rows, stream)
        finally:
            if out:
                stream.close()
            else:
                stream.flush()
    finally:
        store.close()


def export_text(db, fmt="csv", **kwargs) -> str:
    """The export as a string (csv, jsonl): for tests and notebooks."""
    buf = io.StringIO()
    export(db, fmt=fmt, stdout=buf, **kwargs)
    return buf.getvalue()
