"""Label Studio interop: the review queue as Label Studio tasks, its annotations back as labels.

Only Label Studio's JSON formats are used (no SDK, no server): ``export_tasks`` writes tasks in its
import format, ``labeling_config`` the matching labeling configuration, ``import_annotations``
reads its "JSON" export and applies each task's latest submitted annotation through
``corrections.record_review`` (tool ``label-studio``), so a label made there looks like one made in
``nianbao review``.

Formats (checked against Label Studio 1.23's sources):

- one ``<TextArea>`` control per field, named by the field key with ``.`` → ``__``
  (``requests.new.total`` → ``requests__new__total``: Label Studio matches control names as regular
  expressions in places, where a dot is a wildcard). A result is
  ``{"from_name": name, "to_name": "doc", "type": "textarea", "value": {"text": ["74"]}}``.
  Not ``<Number>``: clearing a Number box records 0 (its onChange takes ``+value``), and a blank
  cell is not a 0 in these tables. A TextArea left with no entry gives no result at all.
- the object the controls point at is ``<Text name="doc" value="$text"/>``: the document's tables
  as the model read them, doubtful fields first.
- the prediction carries the model's values with each field's calibrated confidence as the
  result's ``score``; the prediction's ``score`` (what Label Studio sorts and filters tasks by) is
  the lowest confidence of a printed field. Printed-blank predictions have no result item.

What an annotation means on import (the latest one not cancelled, by ``updated_at``):

- a field with a result takes its text: a number as ``parse_value`` reads it (full-width digits,
  thousands separators), or blank for an empty text or one of ``BLANK_MARKS`` ("-", "—", "/", "空");
- a field without a result is blank when the annotation started from the prediction (Label
  Studio's pre-labelling sets ``parent_prediction`` and keeps result ids without a ``#``, so ours
  survive: the annotator deleted the value), or when the task carried no prediction; it keeps the
  model's value as exported when the task carried a prediction but the annotation was made from
  scratch (the annotator only typed the values to change).

A task that cannot be applied (unknown document, a value that is not a number or out of the
bounds of ``corrections.parse_value``, a field the document's template does not have, a value
another reviewer changed in the store since the export, JSON nested deeper than
``MAX_TASK_DEPTH``) is reported with its id and why and leaves the store and the labels as they
were (each task is its own transaction); the other tasks go on, and the report ends with a summary
(applied / unchanged / skipped / failed). The command exits 1 when a task failed.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from nianbao.jsonio import dumps_strict, json_depth_exceeds
from nianbao.evaluate import same_value
from nianbao.ingest.store import Store, is_postgres_url, now, open_store
from nianbao.labels import TABLES
from nianbao.record import RecordField
from nianbao.schema import TEMPLATES, load_schema

from . import corrections
from .corrections import DEFAULT_LABELS_DIR, REVIEWED, ReviewError, format_number, get_document, parse_value
from .queue import AcceptPolicy, QueueFilters, load_accept_policy, review_queue

TOOL = "label-studio"
OBJECT_NAME = "doc"
CONFIG_FILE = Path(__file__).resolve().parent / "labelstudio_config.xml"
# Typed into a value box, these mean "the report prints nothing here" (as does an empty box).
BLANK_MARKS = frozenset({"", "-", "–", "—", "――", "/", "\\", "空", "空白", "blank", "none", "null"})
# A Label Studio task nests about 6 levels (task > annotations > result > value > text); far deeper is
# hostile or broken, refused before anything recurses into it.
MAX_TASK_DEPTH = 40

TABLE_TITLES = load_schema().table_titles()  # the official titles, as the schema names them
COLUMN_LABELS = {
    # proactive (v2019 / v2021)
    "new_made": "本年新制作数量", "new_published": "本年新公开数量", "total_published": "对外公开总数量",
    "issued": "本年制发件数", "repealed": "本年废止件数", "in_force": "现行有效件数",
    "prev_items": "上一年项目数量", "change": "本年增/减", "decisions": "处理决定数量",
    "items": "采购项目数量", "amount_yuan": "采购总金额（元）", "amount_wan": "收费金额（万元）",
    # requests
    "natural": "自然人", "commercial": "商业企业", "research": "科研机构", "social": "社会公益组织",
    "legal": "法律服务机构", "other": "其他", "total": "总计",
    # appeals
    "upheld": "结果维持", "corrected": "结果纠正", "pending": "尚未审结",
}
APPEALS_COLUMN_LABELS = {"other": "其他结果"}
APPEALS_ROW_LABELS = {"review": "行政复议", "litigation_direct": "行政诉讼 · 未经复议直接起诉",
                      "litigation_after_review": "行政诉讼 · 复议后起诉"}
ROW_LABEL_OVERRIDES = {("requests", "other.other"): "3.其他"}


# -- names -------------------------------------------------------------------------------------

def control_name(key: str) -> str:
    """The Label Studio control name of a field key (letters, digits and underscores only)."""
    if "__" in key:
        raise ValueError(f"field key {key!r} contains '__'")
    return key.replace(".", "__")


def field_key(name: str) -> str:
    """The field key of a control name (dotted keys, as a hand-written config might use, pass)."""
    return name.replace("__", ".")


def _all_keys() -> set[str]:
    schema = load_schema()
    return {k for t in TEMPLATES for k in schema.field_keys(t)}


# -- the layout of the tables (shared by the config and the task text) -------------------------

@dataclass
class _Row:
    table: str
    key: str
    label: str
    columns: list[str]
    templates: set[str] = field(default_factory=set)
    column_templates: dict[str, set[str]] = field(default_factory=dict)

    def field_key(self, column: str) -> str:
        return f"{self.table}.{self.key}.{column}"


def _column_label(table: str, column: str) -> str:
    if table == "appeals":
        return APPEALS_COLUMN_LABELS.get(column) or COLUMN_LABELS.get(column, column)
    return COLUMN_LABELS.get(column, column)


def _row_label(template: str, table: str, row) -> str:
    if table == "appeals":
        return APPEALS_ROW_LABELS.get(row.key, row.key)
    label = ROW_LABEL_OVERRIDES.get((table, row.key))
    if label is None:
        plain = [x for x in row.labels if not x.startswith("re:")]
        label = f"{row.prefix or ''}{plain[0] if plain else row.key}"
    if row.group:
        spec = load_schema().table(template, table)
        group = next((g for g in spec.groups if g.name == row.group), None)
        if group is not None and re.match(r"\d", row.prefix or ""):  # 1. 2. … repeat in each group
            label = f"{group.prefix}{group.labels[0]} {label}"
    return label


def _layout(template: Optional[str]) -> dict[str, list[_Row]]:
    """Rows of each table: one template's, or both merged (v2021's order, v2019's rows after their
    predecessor), each row and column knowing the templates that have it."""
    schema = load_schema()
    templates = [template] if template else ["v2021", "v2019"]
    out: dict[str, list[_Row]] = {}
    for table in TABLES:
        rows: list[_Row] = []
        by_key: dict[str, _Row] = {}
        for t in templates:
            previous: Optional[str] = None
            for spec in schema.table(t, table).rows:
                row = by_key.get(spec.key)
                if row is None:
                    row = _Row(table, spec.key, _row_label(t, table, spec), [])
                    at = rows.index(by_key[previous]) + 1 if previous else 0
                    rows.insert(at, row)
                    by_key[spec.key] = row
                row.templates.add(t)
                at_col = 0
                for col in spec.columns:
                    if col not in row.columns:
                        row.columns.insert(at_col, col)
                    at_col = row.columns.index(col) + 1
                    row.column_templates.setdefault(col, set()).add(t)
                previous = spec.key
        out[table] = rows
    return out


def _only(templates: set[str], all_templates: int) -> str:
    if len(templates) >= all_templates:
        return ""
    return " [" + "/".join(sorted(t.replace("v", "") for t in templates)) + "版]"


# -- the labeling config -----------------------------------------------------------------------

def labeling_config(template: Optional[str] = None) -> str:
    """The Label Studio labeling config: the document text, then one value box per field, grouped by
    table and row. ``template=None``: the fields of both templates (one project for all documents;
    boxes of one template only are marked [2019版] / [2021版])."""
    if template is not None and template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    n_templates = 1 if template else len(TEMPLATES)
    root = ET.Element("View")
    ET.SubElement(root, "Header", value="$title")
    ET.SubElement(root, "Text", name=OBJECT_NAME, value="$text")
    ET.SubElement(root, "Header", size="6", value="每格填报告所印数字；报告此处为空则删除该值（或填 -）。"
                                                  "Type the printed number; delete the value (or type -) "
                                                  "where the report prints nothing.")
    for table, rows in _layout(template).items():
        box = ET.SubElement(root, "View", style="margin-top: 1em; padding: 0.5em; border: 1px solid #ddd")
        ET.SubElement(box, "Header", value=f"{TABLE_TITLES[table]} ({table})", size="4")
        for row in rows:
            ET.SubElement(box, "Header", value=row.label + _only(row.templates, n_templates), size="6")
            grid = ET.SubElement(box, "View", style=f"display: grid; grid-template-columns: repeat("
                                                    f"{max(len(row.columns), 3)}, minmax(6em, 1fr)); column-gap: 0.5em")
            for col in row.columns:
                key = row.field_key(col)
                cell = ET.SubElement(grid, "View")
                ET.SubElement(cell, "Header", size="6",
                              value=_column_label(table, col) + _only(row.column_templates[col], n_templates))
                ET.SubElement(cell, "TextArea", name=control_name(key), toName=OBJECT_NAME, rows="1",
                              maxSubmissions="1", editable="true", placeholder=key)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_config(path: Path, template: Optional[str] = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(labeling_config(template), encoding="utf-8")
    return path


# -- export ------------------------------------------------------------------------------------

def _display(value: Any) -> str:
    return format_number(value)


def _doc_score(fields: dict[str, RecordField]) -> Optional[float]:
    confs = [f.confidence for f in fields.values() if f.value is not None and f.confidence is not None]
    return round(min(confs), 4) if confs else None


def _task_text(doc: corrections.StoredDocument, item, policy: AcceptPolicy, with_values: bool, source_name: str) -> str:
    rec = doc.record
    fields = rec.fields
    template = rec.template
    lines = [f"{rec.agency or '?'} · {rec.year or '?'} · template {template or '?'} · {source_name}",
             f"nianbao document {doc.id} · sha256 {doc.row['content_hash'][:16]} · model "
             f"{doc.row.get('model_version') or doc.row.get('pipeline_version')}"]
    if with_values:
        lines.append(f"expected wrong fields {format_number(item.expected_errors)} · {item.doubtful} doubtful · {policy.describe()}")
        failing = [c for c in rec.checks if not c.passed]
        if failing:
            lines += ["", "Failing rules:"] + [f"  {c.rule}: {c.detail or ''}" for c in failing]
        doubtful = sorted(((k, f) for k, f in fields.items() if f.reason != REVIEWED
                           and f.confidence is not None and f.confidence < policy.threshold),
                          key=lambda kf: (kf[1].confidence, kf[0]))
        if doubtful:
            lines += ["", "Doubtful fields, least sure first:"]
            for k, f in doubtful:
                value = _display(f.value) or "(blank)"
                note = f"  {f.reason}" if f.reason else ""
                lines.append(f"  {k} = {value}  (confidence {f.confidence:.2f}){note}")
    found = dict(rec.found)
    for table, rows in _layout(template if template in TEMPLATES else None).items():
        lines += ["", TABLE_TITLES[table] + ("" if found.get(table, True) else "  (not found in the document)")]
        for row in rows:
            cells = []
            for col in row.columns:
                f = fields.get(row.field_key(col))
                if f is None:
                    continue
                if not with_values:
                    cells.append(_column_label(table, col))
                    continue
                mark = " ⚠" if (f.reason != REVIEWED and f.confidence is not None
                                and f.confidence < policy.threshold) else ""
                cells.append(f"{_column_label(table, col)} {_display(f.value) or '·'}{mark}")
            if cells:
                lines.append(f"  {row.label}: " + " | ".join(cells))
    return "\n".join(lines)


def export_task(store: Store, item, policy: AcceptPolicy, *, predictions: bool = True,
                exported_at: Optional[str] = None) -> dict:
    """One Label Studio task (import format) for one queue item."""
    doc = get_document(store, item.id)
    rec = doc.record
    fields = rec.fields
    source_name = Path(str(doc.row["path"]).replace("\\", "/")).name
    data: dict[str, Any] = {
        "title": f"{rec.agency or '?'} {rec.year or ''} · {rec.template or '?'} · {source_name}",
        "text": _task_text(doc, item, policy, predictions, source_name),
        "nianbao_id": doc.id,
        "content_hash": doc.row["content_hash"],
        "agency": rec.agency,
        "year": rec.year,
        "template": rec.template,
        "source_name": source_name,
        "model_version": doc.row.get("model_version"),
        "pipeline_version": doc.row.get("pipeline_version"),
        "review_status": doc.row.get("review_status"),
        "exported_at": exported_at or now(),
        "with_predictions": bool(predictions),
    }
    if predictions:
        data.update(expected_errors=item.expected_errors, doubtful=item.doubtful,
                    failing_rules=", ".join(item.failing_rules), score=_doc_score(fields))
        # The values as exported: what "left as predicted" means on import, whatever Label Studio
        # keeps of the prediction in its export.
        data["fields"] = {control_name(k): {"key": k, "value": f.value, "confidence": f.confidence,
                                            "reviewed": f.reason == REVIEWED}
                          for k, f in fields.items()}
    else:
        data["fields"] = {control_name(k): {"key": k} for k in fields}
    task: dict[str, Any] = {"data": data}
    if predictions:
        result = []
        for k, f in fields.items():
            if f.value is None:
                continue  # a printed blank: no entry in its box
            r: dict[str, Any] = {"id": control_name(k), "from_name": control_name(k), "to_name": OBJECT_NAME,
                                 "type": "textarea", "value": {"text": [_display(f.value)]}}
            if f.confidence is not None:
                r["score"] = round(float(f.confidence), 4)
            result.append(r)
        prediction: dict[str, Any] = {"model_version": doc.row.get("model_version") or doc.row.get("pipeline_version")
                                      or "nianbao", "result": result}
        score = _doc_score(fields)
        if score is not None:
            prediction["score"] = score
        task["predictions"] = [prediction]
    return task


def export_tasks(store: Store, filters: Optional[QueueFilters] = None, policy: Optional[AcceptPolicy] = None, *,
                 predictions: bool = True, limit: Optional[int] = None) -> list[dict]:
    """The review queue (most expected wrong fields first) as Label Studio tasks: the document's
    identity and tables in ``data``, the model's values and confidences as a prediction."""
    policy = policy or load_accept_policy()
    items = review_queue(store, filters or QueueFilters(), policy, limit=limit or 10 ** 9)
    stamp = now()
    return [export_task(store, it, policy, predictions=predictions, exported_at=stamp) for it in items]


# -- import ------------------------------------------------------------------------------------

@dataclass
class TaskOutcome:
    index: int                      # position in the export file
    task_id: Any = None             # Label Studio's task id
    annotation_id: Any = None
    document_id: Optional[int] = None
    status: str = "error"           # imported | unchanged | skipped | error
    message: str = ""
    changes: int = 0                # values that differ from the store's before the import
    label: Optional[str] = None


@dataclass
class ImportReport:
    tasks: int = 0
    imported: int = 0
    unchanged: int = 0
    skipped: int = 0
    outcomes: list[TaskOutcome] = field(default_factory=list)

    @property
    def errors(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "error"]

    def as_dict(self) -> dict:
        return {"tasks": self.tasks, "applied": self.imported, "failed": len(self.errors), "imported": self.imported, "unchanged": self.unchanged, "skipped": self.skipped,
                "errors": len(self.errors), "outcomes": [asdict(o) for o in self.outcomes]}

    def as_text(self) -> str:
        """Each task not applied (its id and why), then the summary line."""
        lines = []
        for o in self.outcomes:
            if o.status != "imported":
                lines.append(f"  task {o.task_id if o.task_id is not None else '#' + str(o.index)}"
                             f" (document {o.document_id or '?'}): {'failed' if o.status == 'error' else o.status}: "
                             f"{o.message}")
        lines.append(f"{self.tasks} tasks: {self.imported} applied, {self.unchanged} unchanged, {self.skipped} skipped, "
                     f"{len(self.errors)} failed")
        return "\n".join(lines)


@dataclass
class UnreadableTask:
    """A task of an export file that could not even be parsed (nested too deeply)."""

    reason: str


def _skip_value(text: str, start: int) -> int:
    """The end of the JSON value at ``start`` (brackets counted outside strings; no recursion)."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("the export ends inside a task")


def parse_export(text: str) -> Any:
    """A Label Studio JSON export, strictly (NaN/Infinity refused). A task nested too deeply for the
    parser becomes an ``UnreadableTask`` in its place, so the other tasks still import."""
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        pass
    decoder = json.JSONDecoder(parse_constant=refuse)
    i = len(text) - len(text.lstrip())
    if not text.startswith("[", i):
        raise ValueError("the export nests deeper than Python's parser allows")
    tasks: list[Any] = []
    i += 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            raise ValueError("the export's list is not closed")
        if text[i] == "]":
            return tasks
        try:
            task, i = decoder.raw_decode(text, i)
        except RecursionError:
            i = _skip_value(text, i)
            task = UnreadableTask("the task's JSON nests deeper than Python's parser allows; not read")
        tasks.append(task)


def _timestamp(a: dict) -> datetime:
    for k in ("updated_at", "created_at"):
        v = a.get(k)
        if isinstance(v, str) and v:
            try:
                ts = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                continue
            return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
    return datetime.min.replace(tzinfo=timezone.utc)


def latest_annotation(task: dict) -> Optional[dict]:
    """The latest annotation not cancelled (skipped) of a task (``completions`` in old exports)."""
    annotations = task.get("annotations")
    if annotations is None:
        annotations = task.get("completions") or []
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not kept:
        return None

    def order(a: dict):
        ident = a.get("id")
        return _timestamp(a), ident if isinstance(ident, (int, float)) else -1

    return max(kept, key=order)


def _reviewer(annotation: dict, default: str) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        name = " ".join(x for x in (who.get("first_name"), who.get("last_name")) if x)
        return who.get("email") or who.get("username") or name or default
    if isinstance(who, str) and who.strip():
        return who.strip()
    return default


def _brief(value: Any, limit: int = 60) -> str:
    """A value in an error message: its type and a short start, never a full (maybe deeply nested) repr."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'} of {len(value)} items"
    big = isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100
    text = f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits" if big else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _text_value(text: str, key: str) -> Optional[float]:
    s = unicodedata.normalize("NFKC", text).strip()
    if s.lower() in BLANK_MARKS:
        return None
    return parse_value(s, key)


def _result_value(item: dict, key: str) -> Optional[float]:
    kind = str(item.get("type") or "").lower()
    value = item.get("value") or {}
    if not isinstance(value, dict):
        raise ReviewError(f"{key}: a result value must be an object, not {_brief(value)}")
    if kind == "textarea" or (not kind and "text" in value):
        texts = value.get("text")
        if texts is None:
            texts = []
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, (str, int, float)) and not isinstance(t, bool)
                                                  for t in texts):
            raise ReviewError(f"{key}: {_brief(texts)} is not a list of texts")
        parsed = [_text_value(str(t), key) for t in texts]
        numbers = {p for p in parsed if p is not None}
        if len(numbers) > 1:
            raise ReviewError(f"{key}: several values {sorted(numbers)}; keep one")
        return numbers.pop() if numbers else None
    if kind == "number" or (not kind and "number" in value):
        n = value.get("number")
        if n is None:
            return None
        if isinstance(n, bool) or not isinstance(n, (int, float, str)):
            raise ReviewError(f"{key}: {_brief(n)} is not a number")
        if isinstance(n, float) and not math.isfinite(n):
            raise ReviewError(f"{key}: {n!r} is not a number a report can print")
        return _text_value(n if isinstance(n, str) else format_number(n), key)
    raise ReviewError(f"{key}: results of type {kind or '?'!r} are not understood (textarea or number)")


def annotation_values(task: dict, annotation: dict, doc_fields: Mapping[str, Any]) -> dict[str, Optional[float]]:
    """The values an annotation gives every field of the document (see the module's docstring for
    fields without a result). Raises ReviewError listing every problem."""
    data = task.get("data") or {}
    exported = data.get("fields") if isinstance(data.get("fields"), dict) else {}
    with_predictions = bool(data.get("with_predictions"))
    predicted: dict[str, Optional[float]] = {}
    prediction_ids: set[str] = set()
    if with_predictions:
        for name, f in exported.items():
            if isinstance(f, dict) and "value" in f:
                predicted[f.get("key") or field_key(name)] = f["value"]
                prediction_ids.add(name)
    known = _all_keys()
    results = annotation.get("result") or []
    if not isinstance(results, list):
        raise ReviewError("the annotation's result is not a list")
    problems: list[str] = []
    given: dict[str, Optional[float]] = {}
    from_prediction = annotation.get("parent_prediction") is not None
    for item in results:
        if not isinstance(item, dict):
            problems.append(f"a result is not an object: {_brief(item)}")
            continue
        name = str(item.get("from_name") or "")
        key = field_key(name)
        if key not in known:
            if key.split(".", 1)[0] in TABLES:
                problems.append(f"{name}: no such field")
            continue  # another control of the team's own (a comment, a flag): not ours
        if item.get("id") is not None and item.get("id") in prediction_ids:
            from_prediction = True
        try:
            value = _result_value(item, key)
        except ReviewError as e:
            problems.append(str(e))
            continue
        if key not in doc_fields:
            if value is not None:  # a box of the other template, filled in
                problems.append(f"{key}: not a field of this document (template {data.get('template') or '?'})")
            continue
        if key in given and not same_value(given[key], value):
            problems.append(f"{key}: two results, {given[key]} and {value}")
        given[key] = value
    if problems:
        raise ReviewError("; ".join(problems))
    keep_predictions = with_predictions and not from_prediction
    if keep_predictions and not predicted:
        # The exported values are gone from the data (edited by hand?): untouched boxes cannot be told.
        raise ReviewError("the task says it carried predictions but its data has no exported values; "
                          "export the task again")
    return {k: given[k] if k in given else (predicted.get(k) if keep_predictions else None) for k in doc_fields}


def _find_document(store: Store, data: dict) -> dict:
    content_hash = data.get("content_hash")
    if not isinstance(content_hash, str) or not re.fullmatch(r"[0-9a-f]{12,64}", content_hash):
        raise ReviewError("the task has no content_hash in its data (not exported by nianbao?)")
    rows = store.documents_by_hash(content_hash)
    if not rows and len(content_hash) < 64:
        rows = store.documents_by_hash(content_hash, prefix=True)
        if len(rows) > 1:
            raise ReviewError(f"content hash {content_hash} is ambiguous in this store")
    if not rows:
        # The store id is only a hint: it names the same document only where the hashes agree.
        ident = data.get("nianbao_id")
        hint = [store.document_row(ident)] if isinstance(ident, int) and store.document_row(ident) else []
        extra = f" (store id {ident} is another document)" if hint else ""
        raise ReviewError(f"no document with content hash {content_hash[:16]} in this store{extra}")
    return rows[0]


def import_task(store: Store, task: dict, index: int, reviewer_default: str, labels_dir: Path,
                overwrite_reviewed: bool = False) -> TaskOutcome:
    out = TaskOutcome(index=index)
    if isinstance(task, UnreadableTask):
        out.message = task.reason
        return out
    if not isinstance(task, dict):
        out.message = "not a task object"
        return out
    out.task_id = task.get("id") if isinstance(task.get("id"), (int, str)) else None
    if json_depth_exceeds(task, MAX_TASK_DEPTH):
        out.message = f"the task's JSON nests deeper than {MAX_TASK_DEPTH} levels; not read"
        return out
    data = task.get("data")
    if not isinstance(data, dict) or not ("annotations" in task or "completions" in task):
        out.message = "not a task of Label Studio's JSON export (data and annotations); export as JSON"
        return out
    annotation = latest_annotation(task)
    if annotation is None:
        out.status, out.message = "skipped", "no submitted annotation"
        return out
    out.annotation_id = annotation.get("id")
    try:
        row = _find_document(store, data)
        out.document_id = row["id"]
        if row["status"] != "done":
            raise ReviewError(f"document {row['id']} failed extraction; nothing to review")
        doc = get_document(store, row["id"])
        values = annotation_values(task, annotation, doc.record.fields)
        current = doc.values
        changed = [k for k in values if not same_value(values[k], current.get(k))]
        out.changes = len(changed)
        if data.get("with_predictions") and not overwrite_reviewed:
            exported = {f.get("key"): f.get("value") for f in (data.get("fields") or {}).values() if isinstance(f, dict)}
            clobbered = [k for k in changed if doc.record.fields[k].reason == REVIEWED
                         and k in exported and same_value(values[k], exported[k]) and not same_value(current[k], exported[k])]
            if clobbered:
                raise ReviewError(f"changed in the store by a reviewer after the export and left as exported in the "
                                  f"annotation: {', '.join(clobbered[:5])}"
                                  f"{f' (+{len(clobbered) - 5} more)' if len(clobbered) > 5 else ''}; export again, or import with "
                                  f"--overwrite-reviewed")
        if not changed and doc.row["review_status"] == "approved":
            out.status, out.message = "unchanged", "already approved with these values"
            return out
        reviewer = _reviewer(annotation, reviewer_default)
        extra = {"label_studio": {k: v for k, v in {"task": task.get("id"), "annotation": annotation.get("id"),
                                                     "annotated_at": annotation.get("updated_at") or annotation.get("created_at")}.items()
                                  if v is not None}}
        path = corrections.record_review(store, doc.id, values, reviewer, Path(labels_dir), tool=TOOL,
                                         provenance_extra=extra)
        out.status, out.label, out.message = "imported", str(path), f"{len(changed)} values changed by {reviewer}"
    except (ReviewError, ValueError) as e:
        out.status, out.message = "error", str(e)
    except Exception as e:  # noqa: BLE001 - one task's surprise must not stop the others (reported, rolled back)
        out.status, out.message = "error", f"{type(e).__name__}: {e}"
    return out


def import_annotations(store: Store, tasks_or_export: Any, reviewer_default: str = "label-studio",
                       labels_dir: Path = DEFAULT_LABELS_DIR, *, overwrite_reviewed: bool = False) -> ImportReport:
    """Apply the latest submitted annotation of each task of a Label Studio JSON export: its values
    are recorded in the history, the document approved and written as a label (tool
    ``label-studio``). A task that cannot be applied is reported and changes nothing."""
    tasks = tasks_or_export
    if isinstance(tasks, dict):
        tasks = tasks.get("tasks") if isinstance(tasks.get("tasks"), list) else [tasks]
    if not isinstance(tasks, list):
        raise ValueError("a Label Studio export is a JSON list of tasks")
    report = ImportReport(tasks=len(tasks))
    for i, task in enumerate(tasks):
        try:
            outcome = import_task(store, task, i, reviewer_default, Path(labels_dir), overwrite_reviewed)
        except Exception as e:  # noqa: BLE001 - a malformed task (outside the store's transaction) is reported
            ident = task.get("id") if isinstance(task, dict) and isinstance(task.get("id"), (int, str)) else None
            outcome = TaskOutcome(index=i, task_id=ident, message=f"{type(e).__name__}: {e}")
        report.outcomes.append(outcome)
        if outcome.status == "imported":
            report.imported += 1
        elif outcome.status == "unchanged":
            report.unchanged += 1
        elif outcome.status == "skipped":
            report.skipped += 1
    return report


# -- command line ------------------------------------------------------------------------------

def cmd_export(args: argparse.Namespace) -> int:
    if not is_postgres_url(args.db) and not Path(args.db).exists():
        print(f"nianbao labelstudio export: no store at {args.db}", file=sys.stderr)
        return 2
    policy = load_accept_policy(threshold=args.accept_threshold)
    filters = QueueFilters(agency=args.agency, year=args.year, rule=args.rule, status=args.status)
    with open_store(args.db) as store:
        tasks = export_tasks(store, filters, policy, predictions=not args.no_predictions, limit=args.limit or None)
    try:
        text = dumps_strict(tasks, indent=1)
    except ValueError:
        print("nianbao labelstudio export: a document holds a value that is not a finite number (left by an older "
              "version); correct it in `nianbao review` first", file=sys.stderr)
        return 1
    if args.out in (None, "-"):
        sys.stdout.write(text + "\n")
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{len(tasks)} tasks written to {args.out}", file=sys.stderr)
    if args.config_out:
        template = None if args.config_template == "all" else args.config_template
        write_config(Path(args.config_out), template)
        print(f"labeling config written to {args.config_out}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    if not is_postgres_url(args.db) and not Path(args.db).exists():
        print(f"nianbao labelstudio import: no store at {args.db}", file=sys.stderr)
        return 2
    try:
        tasks = parse_export(Path(args.annotations).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"nianbao labelstudio import: cannot read {args.annotations}: {e}", file=sys.stderr)
        return 2
    with open_store(args.db) as store:
        try:
            report = import_annotations(store, tasks, args.reviewer, Path(args.labels or DEFAULT_LABELS_DIR),
                                        overwrite_reviewed=args.overwrite_reviewed)
        except ValueError as e:
            print(f"nianbao labelstudio import: {e}", file=sys.stderr)
            return 2
    print(dumps_strict(report.as_dict(), indent=1) if args.json else report.as_text())
    return 1 if report.errors else 0


def add_commands(sub) -> None:
    p = sub.add_parser("labelstudio", help="review in Label Studio: export the queue as tasks, import annotations",
                       description="Label Studio's JSON formats, no SDK. Create a project with the labeling config "
                                   "(--config-out), import the tasks file, review, export as JSON, import it here.")
    lsub = p.add_subparsers(dest="labelstudio_command", required=True)
    e = lsub.add_parser("export", help="queue documents as Label Studio tasks with the model's values and scores")
    e.add_argument("--db", required=True, help="the results store written by nianbao ingest (SQLite file or postgresql:// URL)")
    e.add_argument("--out", default=None, help="tasks JSON file (default: standard output)")
    e.add_argument("--config-out", default=None, metavar="XML", help="also write the labeling config here")
    e.add_argument("--config-template", default="all", choices=("all", *TEMPLATES),
                   help="fields in the labeling config: both templates (default, one project for all) or one")
    e.add_argument("--agency", default=None)
    e.add_argument("--year", type=int, default=None)
    e.add_argument("--rule", default=None)
    e.add_argument("--status", default="open", choices=("open", "pending", "in_review", "approved", "all"))
    e.add_argument("--limit", type=int, default=0, help="at most this many documents, most doubtful first (0: all)")
    e.add_argument("--accept-threshold", type=float, default=None,
                   help="fields below this confidence are listed as doubtful (default: the measured policy's)")
    e.add_argument("--no-predictions", action="store_true",
                   help="no model values in the tasks (blind annotation); unfilled boxes then import as blank")
    e.set_defaults(func=cmd_export)
    i = lsub.add_parser("import", help="apply a Label Studio JSON export: values to the store, documents approved as labels")
    i.add_argument("annotations", help="Label Studio export, JSON format (a list of tasks with annotations)")
    i.add_argument("--db", required=True, help="the results store the tasks were exported from")
    i.add_argument("--labels", default=None, help="where approved documents are written (default labels/reviewed)")
    i.add_argument("--reviewer", default="label-studio",
                   help="reviewer name where an annotation carries no e-mail or name (default label-studio)")
    i.add_argument("--overwrite-reviewed", action="store_true",
                   help="apply an annotation even where a reviewer changed the value in the store since the export")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=cmd_import)

