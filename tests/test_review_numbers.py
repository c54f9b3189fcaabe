"""Numbers no count can be (issue 11, serious item 3): bounded exact counts and amounts in the review
app and the Label Studio import, strict JSON everywhere the review package writes, numbers printed
in full, and an import that reports each failing task and goes on."""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pytest

from nianbao.review import corrections, labelstudio as ls
from nianbao.review.app import GridCell, ReviewConfig, create_app
from nianbao.review.corrections import ReviewError, parse_value
from nianbao.review.queue import AcceptPolicy, QueueFilters, review_queue

from review_helpers import db, store  # noqa: F401 (fixtures)

COUNT = "requests.new.total"
YUAN = "proactive.procurement.amount_yuan"   # v2019, yuan
WAN = "proactive.fees.amount_wan"            # v2021, 万元
SIGNED = "proactive.licensing.change"        # v2019, 本年增/减
COUNT_MAX = 10 ** 9                          # the bound README states (corrections.COUNT_MAX)


def _strict(text: str):
    """JSON as a strict reader takes it: Infinity and NaN refused."""
    def refuse(name):
        raise ValueError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


def _doc_id(store) -> int:
    items = review_queue(store)
    assert items, "the example store should have a document that needs review"
    return items[0].id


def _client_and_csrf(store, tmp_path, doc_id):
    client = create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path / "labels", reviewer="dan")).test_client()
    page = client.get(f"/doc/{doc_id}")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client, token


def _stored(store, doc_id: int, key: str):
    return store.scalar("SELECT value FROM fields WHERE document_id = ? AND key = ?", (doc_id, key))


# -- parse_value: the bounds in one place ----------------------------------------------------------

@pytest.mark.parametrize("key, text", [
    (COUNT, "9" * 400), (COUNT, "1e308"), (COUNT, "inf"), (COUNT, "nan"), (COUNT, "Infinity"), (COUNT, "9" * 19),
    (COUNT, "12345678901234567"), (COUNT, str(COUNT_MAX + 1)), (COUNT, "-1"), (COUNT, "1.5"), (COUNT, "٣"),
    (SIGNED, str(-COUNT_MAX - 1)), (YUAN, "1.234"), (YUAN, "1" + "0" * 12), (YUAN, "1e5"), (YUAN, "-3.5"),
    (WAN, "1.2345678"), (WAN, "100000000"),
], ids=lambda v: str(v) if len(str(v)) < 24 else f"{len(str(v))} chars")
def test_parse_value_refuses_what_no_field_can_hold(key, text):
    with pytest.raises(ReviewError) as refused:
        parse_value(text, key)
    message = str(refused.value)
    assert key in message and len(message) < 200  # clear, and 400 digits do not come back in full


@pytest.mark.parametrize("key, text, value", [
    (COUNT, "1000000000", 10 ** 9), (COUNT, "１２３", 123), (COUNT, "1,234", 1234), (SIGNED, "-1000000000", -10 ** 9),
    (YUAN, "7117339.04", 7117339.04), (YUAN, "75,394,432.52", 75394432.52), (YUAN, "999999999999.99", 999999999999.99),
    (WAN, "9116.3612", 9116.3612), (WAN, "99999999.999999", 99999999.999999),
])
def test_parse_value_keeps_valid_numbers_exactly(key, text, value):
    parsed = parse_value(text, key)
    assert parsed == value and type(parsed) is type(value)
    assert corrections.format_number(parsed) == text.replace(",", "").replace("１２３", "123")


def test_the_bound_is_stated_in_one_place():
    assert corrections.COUNT_MAX == COUNT_MAX
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "1000000000" in readme.replace(",", "").replace("10**9", "1000000000") or "10⁹" in readme


def test_numbers_are_printed_in_full():
    assert [GridCell(key=YUAN, value=v, raw=None, confidence=None, doubtful=False, failing=False,
                     reviewed=False).display for v in (7117339.04, 75394432.52, 10 ** 9, 3.0, None)] == \
        ["7117339.04", "75394432.52", "1000000000", "3", ""]
    assert AcceptPolicy(0.00001, None).describe().startswith("fields at ≥ 0.00001 ")
    assert ls._display(75394432.52) == "75394432.52"


# -- the app's edit endpoint ---------------------------------------------------------------------

@pytest.mark.parametrize("value", ["9" * 400, "9" * 19, "12345678901234567", "1e308", "inf", "nan", 12345678901234567,
                                   1e308, True, [1], {"a": 1}], ids=lambda v: repr(v)[:24])
def test_the_app_refuses_an_impossible_count_and_keeps_the_stored_value(store, tmp_path, value):
    doc_id = _doc_id(store)
    client, token = _client_and_csrf(store, tmp_path, doc_id)
    before = _stored(store, doc_id, COUNT)
    answer = client.post(f"/api/doc/{doc_id}/field", json={"key": COUNT, "action": "edit", "value": value},
                         headers={"X-CSRF-Token": token})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert COUNT in _strict(answer.get_data(as_text=True))["error"]
    assert _stored(store, doc_id, COUNT) == before and corrections.history(store, doc_id) == []
    check = client.post(f"/api/doc/{doc_id}/check", json={"values": {COUNT: value}}, headers={"X-CSRF-Token": token})
    assert check.status_code == 400


def test_the_app_stores_large_valid_counts_exactly(store, tmp_path):
    doc_id = _doc_id(store)
    client, token = _client_and_csrf(store, tmp_path, doc_id)
    answer = client.post(f"/api/doc/{doc_id}/field", json={"key": COUNT, "action": "edit", "value": str(COUNT_MAX)},
                         headers={"X-CSRF-Token": token})
    assert answer.status_code == 200 and _strict(answer.get_data(as_text=True))["fields"][COUNT]["value"] == COUNT_MAX
    stored = _stored(store, doc_id, COUNT)
    assert stored == COUNT_MAX and isinstance(stored, int)
    assert corrections.history(store, doc_id)[-1]["new_value"] == COUNT_MAX


def test_hostile_json_bodies_get_400_not_500(store, tmp_path):
    doc_id = _doc_id(store)
    client, token = _client_and_csrf(store, tmp_path, doc_id)
    headers = {"X-CSRF-Token": token, "Content-Type": "application/json"}
    deep = '{"key": "' + COUNT + '", "action": "edit", "value": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for body in (deep, '{"key": "' + COUNT + '", "action": "edit", "value": NaN}', "[1, 2]", "{"):
        answer = client.post(f"/api/doc/{doc_id}/field", data=body, headers=headers)
        assert answer.status_code == 400, body[:40]
    assert corrections.history(store, doc_id) == []


def test_a_value_left_non_finite_by_an_older_version_is_strict_json_and_blocks_approval(store, tmp_path):
    doc_id = _doc_id(store)
    store.conn.execute("UPDATE fields SET value = ? WHERE document_id = ? AND key = ?", (math.inf, doc_id, COUNT))
    client, token = _client_and_csrf(store, tmp_path, doc_id)
    info = client.get(f"/api/doc/{doc_id}/cell/{COUNT}")
    assert info.status_code == 200 and _strict(info.get_data(as_text=True))["value"] == "inf"
    with pytest.raises(ReviewError, match="not a number"):
        corrections.change_field(store, doc_id, COUNT, "confirm", "dan")  # confirmed it would train the model
    labels = tmp_path / "labels"
    with pytest.raises(ReviewError, match=COUNT):
        corrections.approve(store, doc_id, "dan", labels)
    assert not labels.exists() or not list(labels.glob("*.json"))
    fixed = client.post(f"/api/doc/{doc_id}/field", json={"key": COUNT, "action": "edit", "value": "12"},
                        headers={"X-CSRF-Token": token})
    assert fixed.status_code == 200
    label = corrections.approve(store, doc_id, "dan", labels)
    assert _strict(label.read_text(encoding="utf-8"))["fields"][COUNT]["value"] == 12


def test_label_files_are_strict_json(tmp_path):
    from nianbao.review.labels import Provenance, write_label

    with pytest.raises(ValueError):
        write_label({"fields": {}}, {COUNT: math.inf}, {}, Provenance("dan", "now"), tmp_path, "ab" * 8)
    assert not list(tmp_path.glob("*.json"))


def test_the_document_page_shows_amounts_in_full(store, tmp_path):
    doc_id = _doc_id(store)
    doc = corrections.get_document(store, doc_id)
    key = next(k for k in (WAN, YUAN) if k in doc.record.fields)
    store.conn.execute("UPDATE fields SET value = ? WHERE document_id = ? AND key = ?", (75394432.52, doc_id, key))
    client, _ = _client_and_csrf(store, tmp_path, doc_id)
    html = client.get(f"/doc/{doc_id}").get_data(as_text=True)
    cell = re.search(r'<input[^>]*data-key="' + re.escape(key) + r'"[^>]*>', html).group(0)
    assert 'value="75394432.52"' in cell and "e+" not in cell
    assert int(re.search(r'size="(\d+)"', cell).group(1)) > len("75394432.52")  # not cut off


# -- Label Studio import -------------------------------------------------------------------------

def _all_in_queue(store) -> list[dict]:
    store.conn.execute("UPDATE documents SET review_needed = 1, review_status = 'pending' WHERE status = 'done'")
    tasks = json.loads(json.dumps(ls.export_tasks(store, QueueFilters(), AcceptPolicy(0.99, None))))
    assert len(tasks) >= 3
    return tasks


def _task(task: dict, task_id: int, result: list[dict]) -> dict:
    annotation = {"id": task_id * 10, "completed_by": {"email": "ann@example.org"}, "result": result,
                  "was_cancelled": False, "created_at": "2026-01-02T10:00:00Z", "updated_at": "2026-01-02T10:05:00Z"}
    return {"id": task_id, "data": task["data"], "annotations": [annotation], "predictions": task.get("predictions", [])}


def _edit(key: str, value: dict, kind: str = "textarea") -> dict:
    return {"id": f"r-{key}", "from_name": ls.control_name(key), "to_name": "doc", "type": kind, "value": value}


def test_import_reports_each_failing_task_and_goes_on(store, tmp_path):
    first, second, third, *_ = _all_in_queue(store)
    ids = [t["data"]["nianbao_id"] for t in (first, second, third)]
    before = {i: corrections.get_document(store, i).values for i in ids}
    export = [_task(first, 1, [_edit(COUNT, {"text": ["12"]})]),
              _task(second, 2, [_edit(COUNT, {"number": 1e308}, "number")]),  # OverflowError before
              _task(second, 3, [_edit(COUNT, {"text": ["9" * 400]})]),
              _task(second, 4, [_edit(COUNT, {"text": ["12345678901234567"]})]),
              _task(third, 5, [_edit(COUNT, {"text": ["34"]})])]
    report = ls.import_annotations(store, export, "x", tmp_path / "labels")
    assert (report.imported, len(report.errors)) == (2, 3), report.as_text()
    assert {o.task_id for o in report.errors} == {2, 3, 4}
    assert all(COUNT in o.message for o in report.errors)
    assert corrections.get_document(store, ids[0]).values[COUNT] == 12
    assert corrections.get_document(store, ids[1]).values == before[ids[1]]
    assert corrections.get_document(store, ids[2]).values[COUNT] == 34  # after the failures: it went on
    last = report.as_text().splitlines()[-1]
    assert last == "5 tasks: 2 applied, 0 unchanged, 0 skipped, 3 failed"
    _strict(json.dumps(report.as_dict(), allow_nan=False))


def test_cli_import_refuses_deep_nesting_per_task_and_exits_1(store, tmp_path, capsys):
    first, second, *_ = _all_in_queue(store)
    good = json.dumps(_task(first, 1, [_edit(COUNT, {"text": ["56"]})]))
    nested_result = json.dumps(_task(second, 2, [_edit(COUNT, {"text": ["PLACEHOLDER"]})]))
    nested_result = nested_result.replace('"PLACEHOLDER"', "[" * 500 + "]" * 500)  # parses, too deep to use
    unparsable = '{"id": 3, "data": ' + "[" * 100_000 + "]" * 100_000 + ', "annotations": []}'  # RecursionError before
    export = tmp_path / "export.json"
    export.write_text("[" + ", ".join([good, nested_result, unparsable]) + "]", encoding="utf-8")
    parser = argparse.ArgumentParser(prog="nianbao")
    ls.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["labelstudio", "import", str(export), "--db", store.path, "--labels", str(tmp_path / "l")])
    assert args.func(args) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "3 tasks: 1 applied, 0 unchanged, 0 skipped, 2 failed"
    assert any(line.startswith("  task 2 ") and "nests deeper" in line for line in out)
    assert any(line.startswith("  task #2 ") and "nests deeper" in line for line in out)
    assert corrections.get_document(store, first["data"]["nianbao_id"]).values[COUNT] == 56


def test_label_studio_exports_are_strict_json(store, tmp_path, capsys):
    doc_id = _doc_id(store)
    store.conn.execute("UPDATE fields SET value = ? WHERE document_id = ? AND key = ?", (math.inf, doc_id, COUNT))
    parser = argparse.ArgumentParser(prog="nianbao")
    ls.add_commands(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "tasks.json"
    args = parser.parse_args(["labelstudio", "export", "--db", store.path, "--out", str(out)])
    assert args.func(args) == 1 and "finite" in capsys.readouterr().err
    assert not out.exists()
