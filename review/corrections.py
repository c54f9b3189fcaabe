"""What a reviewer does to a stored document, as functions over the store.

Every change is one transaction that updates the field, re-runs the rules on the new values, and
appends a row to ``field_changes`` (the history); approving writes the labelled document
(``review/labels.py``) and logs the decision in ``reviews``. The web app and the Label Studio import
are thin layers over these functions.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional, Union

from nianbao.document import Check
from nianbao.evaluate import same_value
from nianbao.ingest.store import BASED_ON_CURRENT, FieldChange, StaleEditError, Store, StoreError, now, stored_record
from nianbao.inference import reconcile
from nianbao.jsonio import dumps_strict
from nianbao.labels import TABLES
from nianbao.record import Record
from nianbao.schema import load_schema

from .labels import Provenance, write_label

ACTIONS = ("edit", "blank", "confirm")
REVIEWED = "reviewed"  # the ``reason`` of a field a person set or confirmed (confidence 1)
DEFAULT_LABELS_DIR = Path(__file__).resolve().parents[1] / "labels" / "reviewed"


class ReviewError(ValueError):
    """A request the store cannot apply (unknown document or field, a value that is not a number)."""


@dataclass
class StoredDocument:
    """A stored document: its store row (status, review status, content hash, path...) and its typed
    record (fields with the text they were read from, checks)."""

    row: dict
    record: Record

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def values(self) -> dict[str, Optional[float]]:
        return {k: f.value for k, f in self.record.fields.items()}

    @property
    def found(self) -> dict[str, bool]:
        return dict(self.record.found)


def get_document(store: Store, doc_id: int) -> StoredDocument:
    """A stored document, its fields with the contexts the ingest worker stored."""
    row = store.document_row(int(doc_id))
    if row is None:
        raise ReviewError(f"no document {doc_id} in the store")
    return StoredDocument(row, stored_record(store, row))


# -- what a number in these tables can be ----------------------------------------------------------
# One place for the bounds (README, review section). No count in a disclosure report comes near a
# billion (a national ministry receives tens of thousands of requests a year); a bound this loose
# refuses only what no report prints (400 digits, 1e308, 17 digits that a float would round).
COUNT_MAX = 10 ** 9                      # a count is an integer, 0 <= n <= COUNT_MAX (signed: |n| <= COUNT_MAX)
MONEY_MAX_YUAN = 10 ** 12                # an amount is below a trillion yuan (|x| < 10**12 yuan)
# Decimals a printed amount may carry, by unit: to the fen (0.01 yuan = 0.000001 万元; reports print
# 万元 with 0 to 6 decimals). With these bounds an amount has at most 14 significant digits, so a float
# holds it exactly.
MONEY_DECIMALS = {"yuan": 2, "wan": 6}
MONEY_UNIT_YUAN = {"yuan": 1, "wan": 10_000}
MAX_NUMBER_TEXT = 40                     # characters; a longer text is not a number of these tables


def _shown(text: str) -> str:
    """A reviewer's text in an error message, shortened (400 digits need not come back in full)."""
    return repr(text) if len(text) <= 24 else f"{text[:20]!r}… ({len(text)} characters)"


def money_limits(key: str) -> tuple[int, Decimal]:
    """(decimals allowed, magnitude bound in the field's unit) of a money field."""
    unit = load_schema().money_fields[key]
    return MONEY_DECIMALS.get(unit, 2), Decimal(MONEY_MAX_YUAN) / MONEY_UNIT_YUAN.get(unit, 1)


def check_number(value: Any, key: str) -> None:
    """Refuse a value no field ``key`` can hold (a stored or imported value, before it is confirmed,
    approved or written): not a finite number, a count that is not an integer in bounds, an amount
    with too many decimals or too large."""
    schema = load_schema()
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ReviewError(f"{key}: {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ReviewError(f"{key}: {value!r} is not a number a report can print")
    low = -COUNT_MAX if key in schema.signed_fields else 0
    if key in schema.money_fields:
        decimals, bound = money_limits(key)
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if -d.normalize().as_tuple().exponent > decimals:
            raise ReviewError(f"{key}: an amount has at most {decimals} decimals")
        if not abs(d) < bound or (d < 0 and key not in schema.signed_fields):
            raise ReviewError(f"{key}: an amount is from 0 to below {bound:f}")
        return
    if isinstance(value, float) and not value.is_integer():
        raise ReviewError(f"{key}: this field counts items; no decimals")
    if not low <= value <= COUNT_MAX:
        raise ReviewError(f"{key}: a count is a whole number from {low} to {COUNT_MAX}")


def parse_value(text: str, key: str) -> Union[int, float]:
    """A number as a reviewer types it: full-width digits, thousands separators, a sign where the
    schema allows one, decimals only for money fields, within the bounds above. A count comes back
    as an exact int (never through a float); an amount as a float (exact: at most 14 digits)."""
    schema = load_schema()
    s = unicodedata.normalize("NFKC", str(text)).strip().replace(",", "").replace(" ", "")
    if len(s) > MAX_NUMBER_TEXT:
        raise ReviewError(f"{key}: {_shown(s)} is too long for a number of these tables")
    if not re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", s):
        raise ReviewError(f"{key}: {_shown(str(text))} is not a number")
    if s.startswith("-") and key not in schema.signed_fields:
        raise ReviewError(f"{key}: this field cannot be negative")
    if key in schema.money_fields:
        amount = Decimal(s)
        check_number(amount, key)
        return float(amount)
    if "." in s:
        raise ReviewError(f"{key}: this field counts items; no decimals")
    count = int(s)
    check_number(count, key)
    return count


def format_number(value: Any) -> str:
    """A value printed in full, as the report prints it: 7117339.04, never 7.11734e+06."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    text = repr(float(value)) if isinstance(value, float) else str(value)
    return format(Decimal(text), "f") if "e" in text.lower() else text


def json_number(value: Any) -> Any:
    """A stored value as strict JSON allows it: a number, or (a non-finite float left by an older
    version) its text, so a page still shows it and the reviewer can correct it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def recheck(values: dict[str, Optional[float]], template: Optional[str], found: dict[str, bool]) -> list[Check]:
    """The rules on a set of values (what the page shows live while the reviewer types)."""
    if not template or not any(found.values()):
        return []
    return reconcile.run_checks(values, template, found, load_schema())


def shown_value(text: Any, key: str) -> Any:
    """The value a reviewer's page showed (``based_on`` of an edit): blank is None; a number as
    ``parse_value`` reads it; text that is no number (an older version's "inf") is taken as is."""
    if text is None or str(text).strip() == "":
        return None
    try:
        return parse_value(str(text), key)
    except ReviewError:
        try:
            return float(str(text))
        except ValueError:
            return BASED_ON_CURRENT


class StaleEdit(ReviewError):
    """An edit based on a value another reviewer has changed since: refused, nothing saved."""


def change_field(store: Store, doc_id: int, key: str, action: str, reviewer: str,
                 text: Optional[str] = None, based_on: Any = BASED_ON_CURRENT) -> StoredDocument:
    """Apply one reviewer action to one field: ``edit`` (to the number in ``text``), ``blank``
    (printed empty) or ``confirm`` (the reading is right). Returns the document as it now is.

    ``based_on``: the value the reviewer saw. When another reviewer has changed the field since,
    the change is refused with ``StaleEdit`` (two people reviewing at once never overwrite each
    other unseen). The document is held for the transaction, so the rules re-run on current values."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}")
    with store.transaction():
        store.lock_document(doc_id)
        doc = get_document(store, doc_id)
        if key not in doc.record.fields:
            raise ReviewError(f"document {doc_id} has no field {key!r}")
        if doc.row["review_status"] == "approved":
            raise ReviewError(f"document {doc_id} is approved; reopen it to change values")
        old = doc.record.fields[key]
        new_value = old.value if action == "confirm" else (None if action == "blank" else parse_value(text or "", key))
        if action == "confirm":
            check_number(new_value, key)  # a misread no count can be is edited, never confirmed
            if based_on is not BASED_ON_CURRENT:
                new_value = based_on  # what the reviewer saw is what they confirm (refused below if stale)
        values = {**doc.values, key: new_value}
        # Rules 1-4 again, prose findings on this cell decided again, the other findings kept (a verdict
        # on a finding outlives an edit elsewhere).
        from nianbao.ingest.audit_store import rerun_checks

        confidences = {**{k: f.confidence for k, f in doc.record.fields.items()}, key: 1.0}
        checks = rerun_checks(doc.record, values, confidences, [key])
        try:
            store.change_field(FieldChange(document_id=doc.id, key=key, action=action, new_value=new_value,
                                           reviewer=reviewer, based_on=based_on, checks=checks))
        except StaleEditError as e:
            raise StaleEdit(str(e)) from e
        except StoreError as e:
            raise ReviewError(str(e)) from e
    return get_document(store, doc.id)


def confirm_table(store: Store, doc_id: int, table: str, reviewer: str) -> StoredDocument:
    """Confirm every field of one table not yet reviewed (the reviewer has checked the grid)."""
    if table not in TABLES:
        raise ReviewError(f"unknown table {table!r}")
    doc = get_document(store, doc_id)
    for key, f in doc.record.fields.items():
        if key.startswith(table + ".") and f.reason != REVIEWED:
            doc = change_field(store, doc_id, key, "confirm", reviewer)
    return doc


def history(store: Store, doc_id: int) -> list[dict]:
    return store.field_history(int(doc_id))


def approve(store: Store, doc_id: int, reviewer: str, labels_dir: Path = DEFAULT_LABELS_DIR,
            tool: str = "nianbao review", note: Optional[str] = None, provenance_extra: Optional[dict] = None) -> Path:
    """Approve a document: its current values become a labelled document in ``labels_dir``."""
    doc = get_document(store, doc_id)
    if doc.row["status"] != "done":
        raise ReviewError(f"document {doc_id} failed extraction ({doc.row['error_code']}); nothing to approve")
    impossible = []
    for key, value in doc.values.items():
        try:
            check_number(value, key)
        except ReviewError as e:
            impossible.append(str(e))
    if impossible:
        # Approved labels train the next model: a value no report can print must be edited first.
        raise ReviewError(f"document {doc_id} holds values no report can print; edit them first: "
                          + "; ".join(impossible[:5]) + (f" (+{len(impossible) - 5} more)" if len(impossible) > 5 else ""))
    changes = store.count_value_changes(doc.id)
    ts = now()
    provenance = Provenance(reviewer=reviewer, approved_at=ts, model_version=doc.row.get("model_version"),
                            pipeline_version=doc.row.get("pipeline_version"), tool=tool, changes=int(changes or 0),
                            extra=dict(provenance_extra or {}))
    # What the model read: the value before each field's first change.
    model_values: dict[str, Optional[float]] = {}
    for h in history(store, doc.id):
        read = h["old_value"]
        # A non-finite reading (left by an older version) is no number: recorded as none read.
        model_values.setdefault(h["key"], None if isinstance(read, float) and not math.isfinite(read) else read)
    path = write_label(doc.record, doc.values, doc.found, provenance, Path(labels_dir), doc.row["content_hash"],
                       model_values)
    store.set_review_status(doc.id, "approved", reviewer, note or dumps_strict({"label": path.name}))
    return path


def reopen(store: Store, doc_id: int, reviewer: str) -> StoredDocument:
    doc = get_document(store, doc_id)
    store.set_review_status(doc.id, "in_review", reviewer, logged_as="reopened")
    return get_document(store, doc.id)


def record_review(store: Store, doc_id: int, values: dict[str, Optional[float]], reviewer: str,
                  labels_dir: Path = DEFAULT_LABELS_DIR, tool: str = "nianbao review",
                  provenance_extra: Optional[dict] = None) -> Path:
    """Apply a whole reviewed set of values at once (a Label Studio annotation, a simulated
    reviewer) as ONE transaction: each value that differs is an edit or a blank in the history
    (values left as read are taken as they are, without history rows), then the document is
    approved and its label written. On any failure nothing is kept: the store rolls back and the
    label file is put back as it was. Returns the label file."""
    if store.in_transaction():
        raise ReviewError("record_review needs a store outside any transaction")
    doc = get_document(store, doc_id)
    unknown = sorted(set(values) - set(doc.record.fields))
    if unknown:
        raise ReviewError(f"document {doc_id} has no fields {', '.join(unknown[:5])}"
                          + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""))
    from .labels import label_id

    label_path = Path(labels_dir) / f"{label_id(doc.row['content_hash'])}.json"
    before = label_path.read_bytes() if label_path.exists() else None
    try:
        with store.transaction():
            if doc.row["review_status"] == "approved":
                doc = reopen(store, doc_id, reviewer)
            for key, value in values.items():
                current = doc.values.get(key)
                if value is None and current is not None:
                    change_field(store, doc_id, key, "blank", reviewer)
                elif value is not None and not same_value(value, current):
                    text = format_number(value)
                    change_field(store, doc_id, key, "edit", reviewer, text=text)
            return approve(store, doc_id, reviewer, labels_dir, tool=tool, provenance_extra=provenance_extra)
    except BaseException:
        if before is not None:
            label_path.write_bytes(before)
        elif label_path.exists():
            label_path.unlink()
        raise
