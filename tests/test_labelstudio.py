"""Label Studio interop: queue documents out as tasks with predictions, annotations back as labels."""
from __future__ import annotations

import argparse
import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nianbao.ingest.store import SQLiteStore
from nianbao.labels import load_labelled
from nianbao.review import corrections, labelstudio as ls
from nianbao.review.queue import AcceptPolicy, QueueFilters
from nianbao.schema import load_schema

from review_helpers import db, store  # noqa: F401 (fixtures)

POLICY = AcceptPolicy(0.99, 0.001, 1000, "test")
SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _export(store, **kw) -> list[dict]:
    tasks = ls.export_tasks(store, QueueFilters(), POLICY, **kw)
    assert tasks, "the queue should have a document"
    round_trip = json.loads(json.dumps(tasks, ensure_ascii=False))
    assert round_trip == tasks  # plain JSON, nothing lost
    return round_trip


def _controls(xml: str) -> dict[str, tuple[str, str]]:
    """name -> (tag, toName) of the control tags of a labeling config."""
    root = ET.fromstring(xml)
    return {el.get("name"): (el.tag, el.get("toName")) for el in root.iter() if el.get("toName")}


def _objects(xml: str) -> set[str]:
    return {el.get("name") for el in ET.fromstring(xml).iter() if el.get("name") and not el.get("toName")}


def _annotation(task: dict, result: list[dict], **kw) -> dict:
    base = {"id": 11, "completed_by": {"id": 3, "email": "ann@example.org", "first_name": "", "last_name": ""},
            "result": result, "was_cancelled": False, "ground_truth": False,
            "created_at": "2026-01-02T10:00:00.000000Z", "updated_at": "2026-01-02T10:05:00.000000Z",
            "lead_time": 61.2, "task": 7}
    base.update(kw)
    return base


def _exported(task: dict, annotations: list[dict], task_id: int = 7) -> dict:
    """The task as Label Studio's JSON export gives it back."""
    return {"id": task_id, "data": task["data"], "annotations": annotations, "predictions": task.get("predictions", []),
            "meta": {}, "created_at": "2026-01-01T09:00:00Z", "updated_at": "2026-01-02T10:05:00Z", "inner_id": 1,
            "total_annotations": len(annotations), "cancelled_annotations": 0, "total_predictions": 1}


def _changes(store, doc_id: int) -> list[tuple]:
    return [(h["key"], h["action"], h["old_value"], h["new_value"], h["reviewer"])
            for h in corrections.history(store, doc_id)]


def _doubtful_keys(task: dict) -> list[str]:
    """Printed fields of a task, least confident first."""
    items = [r for r in task["predictions"][0]["result"]]
    items.sort(key=lambda r: (r.get("score", 1.0), r["from_name"]))
    return [ls.field_key(r["from_name"]) for r in items]


# -- export ------------------------------------------------------------------------------------

def test_export_tasks_carry_identity_text_and_scored_predictions(store, db):
    tasks = _export(store)
    queue_ids = [t["data"]["nianbao_id"] for t in tasks]
    assert queue_ids == [i.id for i in ls.review_queue(store, QueueFilters(), POLICY)]
    dumped = json.dumps(tasks, ensure_ascii=False)
    assert str(db.parent) not in dumped and "/docs/" not in dumped  # no local paths for a browser to load
    for task in tasks:
        data = task["data"]
        doc = corrections.get_document(store, data["nianbao_id"])
        assert data["content_hash"] == doc.row["content_hash"]
        assert data["source_name"] == Path(doc.row["path"]).name and "/" not in data["source_name"]
        assert (data["agency"], data["year"], data["template"]) == (doc.record.agency, doc.record.year,
                                                                    doc.record.template)
        assert isinstance(data["text"], str) and doc.record.agency in data["text"]
        [pred] = task["predictions"]
        assert pred["model_version"] == doc.row["model_version"]
        fields = doc.record.fields
        printed = {k: f for k, f in fields.items() if f.value is not None}
        by_key = {ls.field_key(r["from_name"]): r for r in pred["result"]}
        assert set(by_key) == set(printed)  # every printed field, nothing else
        for key, r in by_key.items():
            assert r["type"] == "textarea" and r["to_name"] == ls.OBJECT_NAME and r["id"] == r["from_name"]
            assert SAFE_NAME.fullmatch(r["from_name"])
            assert [float(x) for x in r["value"]["text"]] == [pytest.approx(float(printed[key].value))]
            assert r["score"] == pytest.approx(printed[key].confidence, abs=1e-4) and 0 <= r["score"] <= 1
        assert pred["score"] == pytest.approx(min(f.confidence for f in printed.values()), abs=1e-4)
        # Every field of the document (blanks too) is named in the data, with the value as exported.
        assert {v["key"] for v in data["fields"].values()} == set(fields)
    # Doubtful fields come first in the text, least sure first.
    text = tasks[0]["data"]["text"]
    least = _doubtful_keys(tasks[0])[0]
    assert "Doubtful fields" in text and text.index(least) < text.index(ls.TABLE_TITLES["proactive"])


def test_labeling_config_matches_the_results(store):
    schema = load_schema()
    xml = ls.labeling_config()
    assert ls.CONFIG_FILE.read_text(encoding="utf-8") == xml  # the shipped file is the generated one
    controls = _controls(xml)
    names = [el.get("name") for el in ET.fromstring(xml).iter() if el.get("name")]
    assert len(names) == len(set(names))  # Label Studio rejects repeated names
    assert all(SAFE_NAME.fullmatch(n) for n in names)
    both = {k for t in ("v2019", "v2021") for k in schema.field_keys(t)}
    assert {ls.field_key(n) for n in controls} == both
    assert {to for _, to in controls.values()} <= _objects(xml)
    for template in ("v2019", "v2021"):
        one = _controls(ls.labeling_config(template))
        assert [ls.field_key(n) for n in one] == [k for k in schema.field_keys(template)
                                                  if ls.control_name(k) in one]
        assert {ls.field_key(n) for n in one} == set(schema.field_keys(template))
    for task in _export(store):
        for r in task["predictions"][0]["result"]:
            tag, to_name = controls[r["from_name"]]
            assert tag.lower() == r["type"] and to_name == r["to_name"]
            assert list(r["value"]) == ["text"]  # a TextArea's value
    assert ls.field_key(ls.control_name("requests.other.other.total")) == "requests.other.other.total"


def test_export_without_predictions_reveals_no_values(store):
    [task, *_] = _export(store, predictions=False)
    assert "predictions" not in task and task["data"]["with_predictions"] is False
    assert all(set(v) == {"key"} for v in task["data"]["fields"].values())


# -- import ------------------------------------------------------------------------------------

def test_import_prefilled_annotation_changes_one_value_and_blanks_another(store, tmp_path):
    [task, *_] = _export(store)
    doc_id = task["data"]["nianbao_id"]
    before = corrections.get_document(store, doc_id)
    edit_key, blank_key = _doubtful_keys(task)[:2]
    old_edit, old_blank = before.values[edit_key], before.values[blank_key]
    new_value = int(old_edit or 0) + 1000
    result = copy.deepcopy(task["predictions"][0]["result"])  # Label Studio pre-labels from the prediction
    for r in result:
        r.pop("score", None)
        if ls.field_key(r["from_name"]) == edit_key:
            r["value"] = {"text": [f"{new_value:,}"]}  # typed with a thousands separator
    result = [r for r in result if ls.field_key(r["from_name"]) != blank_key]  # deleted: printed blank
    older = _annotation(task, [], id=10, updated_at="2026-01-01T08:00:00Z", completed_by=9)
    cancelled = _annotation(task, [], id=12, was_cancelled=True, updated_at="2026-01-03T08:00:00Z")
    latest = _annotation(task, result, parent_prediction=5)
    export = json.loads(json.dumps([_exported(task, [older, latest, cancelled])]))

    labels = tmp_path / "labels"
    report = ls.import_annotations(store, export, "fallback", labels)
    assert (report.imported, report.errors, report.skipped) == (1, [], 0), report.as_text()
    [outcome] = report.outcomes
    assert outcome.document_id == doc_id and outcome.changes == 2 and outcome.annotation_id == 11

    assert sorted(_changes(store, doc_id)) == sorted([
        (edit_key, "edit", old_edit, new_value, "ann@example.org"),
        (blank_key, "blank", old_blank, None, "ann@example.org")])
    after = corrections.get_document(store, doc_id)
    assert after.row["review_status"] == "approved"
    label = Path(outcome.label)
    assert label.exists() and label.parent == labels
    data = json.loads(label.read_text(encoding="utf-8"))
    assert data["provenance"]["tool"] == "label-studio" and data["provenance"]["reviewer"] == "ann@example.org"
    assert data["provenance"]["changes"] == 2 and data["sha256"] == before.row["content_hash"]
    assert data["fields"][edit_key]["value"] == new_value and data["fields"][blank_key]["value"] is None
    untouched = next(k for k in before.values if k not in (edit_key, blank_key) and before.values[k] is not None)
    assert data["fields"][untouched]["value"] == before.values[untouched]
    assert load_labelled(label).values[edit_key] == new_value

    # The same export again changes nothing.
    again = ls.import_annotations(store, export, "fallback", labels)
    assert (again.imported, again.unchanged) == (0, 1)
    assert len(_changes(store, doc_id)) == 2


def test_import_scratch_annotation_keeps_untouched_predictions(store, tmp_path):
    [task, *_] = _export(store)
    doc_id = task["data"]["nianbao_id"]
    before = corrections.get_document(store, doc_id)
    key, dash_key = [k for k in _doubtful_keys(task) if before.values[k] not in (None, 7)][:2]
    old, old_dash = before.values[key], before.values[dash_key]
    # Made from scratch (no parent prediction, Label Studio's own ids), a Number control, user id only;
    # a dash typed in a box is a printed blank.
    result = [{"id": "Xy12AbCdEf", "from_name": ls.control_name(key), "to_name": "doc", "type": "number",
               "value": {"number": 7.0}},
              {"id": "Qq34", "from_name": ls.control_name(dash_key), "to_name": "doc", "type": "textarea",
               "value": {"text": [" — "]}},
              {"id": "Zz99", "from_name": "comment", "to_name": "doc", "type": "textarea",
               "value": {"text": ["checked against the PDF"]}}]  # a control of the team's own: ignored
    ann = _annotation(task, result, completed_by=4)
    report = ls.import_annotations(store, [_exported(task, [ann])], "team-ls", tmp_path / "labels")
    assert report.imported == 1, report.as_text()
    assert sorted(_changes(store, doc_id)) == sorted([(key, "edit", old, 7, "team-ls"),
                                                      (dash_key, "blank", old_dash, None, "team-ls")])
    assert corrections.get_document(store, doc_id).values == {**before.values, key: 7, dash_key: None}


def test_bad_tasks_are_reported_and_change_nothing(store, tmp_path):
    [task, *_] = _export(store)
    doc_id = task["data"]["nianbao_id"]
    before = corrections.get_document(store, doc_id)
    key = _doubtful_keys(task)[0]
    garbage = [{"id": "a1", "from_name": ls.control_name(key), "to_name": "doc", "type": "textarea",
                "value": {"text": ["12a"]}}]
    unknown = copy.deepcopy(task)
    unknown["data"]["content_hash"] = "0" * 64
    other_template = [{"id": "a2", "from_name": ls.control_name("proactive.procurement.items" if
                                                                 before.record.template == "v2021"
                                                                 else "proactive.rules.issued"),
                       "to_name": "doc", "type": "textarea", "value": {"text": ["3"]}}]
    stripped = copy.deepcopy(task)  # says it carried predictions, but the exported values are gone
    stripped["data"]["fields"] = {}
    export = [_exported(task, [_annotation(task, garbage)], 1),
              _exported(unknown, [_annotation(unknown, [])], 2),
              _exported(task, [_annotation(task, [], was_cancelled=True)], 3),
              {"id": 4, "text": "flat JSON_MIN row"},
              _exported(task, [_annotation(task, other_template)], 5),
              _exported(stripped, [_annotation(stripped, garbage[:0])], 6)]
    labels = tmp_path / "labels"
    report = ls.import_annotations(store, export, "x", labels)
    assert (report.imported, report.skipped, len(report.errors)) == (0, 1, 5), report.as_text()
    by_id = {o.task_id: o for o in report.outcomes}
    assert "12a" in by_id[1].message and key in by_id[1].message and by_id[1].document_id == doc_id
    assert "no document" in by_id[2].message
    assert by_id[3].status == "skipped"
    assert "JSON export" in by_id[4].message
    assert "not a field of this document" in by_id[5].message
    assert "no exported values" in by_id[6].message
    after = corrections.get_document(store, doc_id)
    assert after.row["review_status"] == before.row["review_status"] != "approved"
    assert after.values == before.values and _changes(store, doc_id) == []
    assert not labels.exists() or not list(labels.iterdir())
    assert "12a" in report.as_text()


def test_a_failure_midway_rolls_the_whole_task_back(store, tmp_path, monkeypatch):
    [task, *_] = _export(store)
    doc_id = task["data"]["nianbao_id"]
    before = corrections.get_document(store, doc_id)
    key = _doubtful_keys(task)[0]
    result = [{"id": "b1", "from_name": ls.control_name(key), "to_name": "doc", "type": "textarea",
               "value": {"text": ["4321"]}}]
    real_approve = corrections.approve

    def failing_approve(*args, **kw):
        real_approve(*args, **kw)  # the label is written and the document approved ... then it fails
        raise corrections.ReviewError("disk full")

    monkeypatch.setattr(corrections, "approve", failing_approve)
    labels = tmp_path / "labels"
    report = ls.import_annotations(store, [_exported(task, [_annotation(task, result)])], "x", labels)
    assert [o.message for o in report.errors] == ["disk full"]
    after = corrections.get_document(store, doc_id)
    assert after.values == before.values and _changes(store, doc_id) == []
    assert after.row["review_status"] == before.row["review_status"]
    assert not list(labels.glob("*.json"))
    # The store is usable afterwards (no transaction left open, its own transaction method back).
    monkeypatch.setattr(corrections, "approve", real_approve)
    assert ls.import_annotations(store, [_exported(task, [_annotation(task, result)])], "x", labels).imported == 1


def test_a_reviewers_later_change_is_not_silently_reverted(store, tmp_path):
    [task, *_] = _export(store)
    doc_id = task["data"]["nianbao_id"]
    key = _doubtful_keys(task)[0]
    corrections.change_field(store, doc_id, key, "edit", "web-reviewer", "5555")  # in the web app, after the export
    prefilled = copy.deepcopy(task["predictions"][0]["result"])  # the annotator left it as predicted
    export = [_exported(task, [_annotation(task, prefilled, parent_prediction=1)])]
    report = ls.import_annotations(store, export, "x", tmp_path / "labels")
    assert report.imported == 0 and key in report.errors[0].message
    assert corrections.get_document(store, doc_id).values[key] == 5555
    forced = ls.import_annotations(store, export, "x", tmp_path / "labels", overwrite_reviewed=True)
    assert forced.imported == 1
    assert corrections.get_document(store, doc_id).values[key] != 5555


def test_cli_export_and_import(store, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="nianbao")
    ls.add_commands(parser.add_subparsers(dest="command", required=True))
    db = store.path
    out, xml = tmp_path / "tasks.json", tmp_path / "labeling.xml"
    args = parser.parse_args(["labelstudio", "export", "--db", db, "--out", str(out), "--config-out", str(xml),
                              "--status", "open"])
    assert args.func(args) == 0
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert tasks and xml.read_text(encoding="utf-8") == ls.labeling_config()
    args = parser.parse_args(["labelstudio", "export", "--db", db, "--out", str(tmp_path / "none.json"),
                              "--year", "1990"])
    assert args.func(args) == 0 and json.loads((tmp_path / "none.json").read_text(encoding="utf-8")) == []

    task = tasks[0]
    key = _doubtful_keys(task)[0]
    result = copy.deepcopy(task["predictions"][0]["result"])
    for r in result:
        if ls.field_key(r["from_name"]) == key:
            r["value"] = {"text": ["１２３"]}  # full-width digits
    annotations = tmp_path / "export.json"
    annotations.write_text(json.dumps([_exported(task, [_annotation(task, result, completed_by=2,
                                                                    parent_prediction=1)])]), encoding="utf-8")
    labels = tmp_path / "labels"
    capsys.readouterr()
    args = parser.parse_args(["labelstudio", "import", str(annotations), "--db", db, "--labels", str(labels),
                              "--reviewer", "carol", "--json"])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["imported"] == 1 and printed["errors"] == 0
    doc_id = task["data"]["nianbao_id"]
    with SQLiteStore(db) as s:
        assert corrections.get_document(s, doc_id).values[key] == 123
        assert _changes(s, doc_id)[-1][-1] == "carol"
    assert len(list(labels.glob("reviewed_*.json"))) == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": 1, "data": {"content_hash": "f" * 64}, "annotations": [{"result": []}]}]),
                   encoding="utf-8")
    args = parser.parse_args(["labelstudio", "import", str(bad), "--db", db, "--labels", str(labels)])
    assert args.func(args) == 1 and "no document" in capsys.readouterr().out
