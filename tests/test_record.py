"""The result record (nianbao.record): the output contract, and each field's source text for review."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nianbao.inference.pipeline import Pipeline
from nianbao.ingest.store import load_record
from nianbao.record import CONTEXT_KEY, FieldContext, field_context, field_contexts, to_record
from review_helpers import EXAMPLES, db, store  # noqa: F401 (fixtures)

REPORT = "002_a15c5311e6238bad.txt"  # a text report whose numbers are printed one per cell


@pytest.fixture(scope="module")
def report_002():
    return Pipeline().run(EXAMPLES / REPORT)


def test_contexts_point_at_the_printed_number(report_002):
    contexts = field_contexts(report_002)
    raw = report_002.linear.raw
    located = [c for c in contexts.values() if c.start is not None]
    assert len(located) == len(report_002.fields)
    for c in located:
        assert raw[c.start:c.end] == c.value and c.value.strip()
        assert raw[:c.start].endswith(c.before) and raw[c.end:].startswith(c.after)
    # Each printed value's context holds the number the field was read as.
    total = contexts["requests.new.total"]
    assert total.value and float(total.value.replace(",", "")) == report_002.fields["requests.new.total"].value


def test_the_output_contract_has_no_contexts_unless_asked(report_002):
    plain, with_contexts = to_record(report_002), to_record(report_002, contexts=True)
    assert not any(CONTEXT_KEY in f for f in plain["fields"].values())
    assert all(CONTEXT_KEY in f for f in with_contexts["fields"].values())
    for key, f in with_contexts["fields"].items():
        assert {k: v for k, v in f.items() if k != CONTEXT_KEY} == plain["fields"][key]
    assert json.dumps({k: v for k, v in with_contexts.items() if k != "fields"}) == \
           json.dumps({k: v for k, v in plain.items() if k != "fields"})


@pytest.mark.parametrize("bad", [None, "text", {"before": 1, "value": "", "after": ""}, {"before": "a"}])
def test_a_malformed_stored_context_is_none(bad):
    assert FieldContext.from_dict(bad) is None
    assert field_context({"value": 1, CONTEXT_KEY: bad}) is None


def test_context_round_trips_with_a_bad_span_dropped():
    c = FieldContext("一、本年新收", "12", " 件", 30, 32)
    assert FieldContext.from_dict(c.as_dict()) == c
    assert FieldContext.from_dict({**c.as_dict(), "span": [5, 2]}) == FieldContext("一、本年新收", "12", " 件")


def test_the_store_keeps_contexts_but_gives_the_output_contract(store):
    doc = next(store.query("SELECT * FROM documents WHERE path LIKE '%' || ?", ("/" + REPORT,)))
    plain, full = load_record(store, doc), load_record(store, doc, contexts=True)
    assert not any(CONTEXT_KEY in f for f in plain["fields"].values())
    stored = field_context(full["fields"]["requests.new.total"])
    assert stored == field_contexts(Pipeline().run(EXAMPLES / REPORT))["requests.new.total"]


def test_review_shows_a_cells_source_without_running_the_pipeline(store, tmp_path, monkeypatch):
    from nianbao.inference import pipeline
    from nianbao.review.app import ReviewConfig, create_app

    def no_pipeline(*args, **kwargs):
        raise AssertionError("the review app ran the pipeline")

    monkeypatch.setattr(pipeline.Pipeline, "run", no_pipeline)
    doc_id = store.scalar("SELECT id FROM documents WHERE path LIKE '%' || ?", ("/" + REPORT,))
    client = create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path / "labels", reviewer="dan")).test_client()
    info = client.get(f"/api/doc/{doc_id}/cell/requests.new.total").json
    assert info["image"] is None and info["source"]["value"]
    assert float(info["source"]["value"].replace(",", "")) == info["value"]


def test_digits_run_together_give_the_row_not_a_wrong_number():
    doc = Pipeline().run(EXAMPLES / "real_005.txt")  # Table B's rows print as one run of digits (713000074)
    total = field_contexts(doc)["requests.new.total"]
    assert total.value == "" and total.start is None and "713000074" in total.before


def test_a_label_built_from_a_record_reads_back_as_the_same_values(tmp_path):
    from nianbao.record import Provenance, labelled_document, load_labelled

    doc = Pipeline().run(EXAMPLES / REPORT)
    record = to_record(doc)
    values = {k: f["value"] for k, f in record["fields"].items()}
    values["requests.new.total"] = 63  # the reviewer's correction
    path = tmp_path / "label.json"
    data = labelled_document(record, values, doc.found, Provenance(reviewer="dan", approved_at="2026-01-01"), path,
                             "ab" * 32, model_values={"requests.new.total": 62})
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    back = load_labelled(path)
    assert back.values == values and back.found == doc.found and back.template == record["template"]
    assert back.document == (EXAMPLES / REPORT).resolve()
    assert back.extra["fields"]["requests.new.total"]["model_value"] == 62


def test_a_label_carries_where_each_kept_value_was_printed(report_002, tmp_path):
    from nianbao.record import Provenance, labelled_document, load_labelled, record_of

    record = record_of(report_002, contexts=True)  # as the store gives it to the review app
    values = {k: f.value for k, f in record.fields.items()}
    values["requests.new.total"] = 63  # the reviewer's correction
    path = tmp_path / "label.json"
    data = labelled_document(record, values, report_002.found, Provenance(reviewer="dan", approved_at="2026-01-01"),
                             path, "ab" * 32, model_values={"requests.new.total": 62})
    raw = report_002.linear.raw
    spans = {k: f["span"] for k, f in data["fields"].items() if "span" in f}
    # Every value kept as read has the span of its printed number; a changed one has none (it may
    # have been read from the wrong place).
    assert set(spans) == set(values) - {"requests.new.total"}
    for key, (start, end) in spans.items():
        assert raw[start:end].strip() == (record.fields[key].raw or "").strip() != ""
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    back = load_labelled(path)
    assert back.values == values and {k: f.span for k, f in back.fields.items() if f.span} == spans
    assert back.fields["requests.new.total"].extra == {"model_value": 62}
    # A label written before labels carried spans reads as it did.
    for f in data["fields"].values():
        f.pop("span", None)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    old = load_labelled(path)
    assert old.values == values and not any(f.span for f in old.fields.values())


def test_a_record_read_back_writes_the_same_bytes(report_002, tmp_path):
    from nianbao.record import Record, record_of

    failed = Pipeline().run(tmp_path / "missing.txt")  # an error record: no fields, tables not found
    for doc in (report_002, failed):
        text = json.dumps(to_record(doc), ensure_ascii=False)
        assert json.dumps(Record.from_dict(json.loads(text)).as_dict(), ensure_ascii=False) == text
    typed = record_of(report_002, contexts=True)
    assert typed.fields["requests.new.total"].value == 62 and typed.fields["requests.new.total"].context.value == "62"
    assert Record.from_dict(typed.as_dict()) == typed


def test_a_stored_record_is_typed_and_keeps_unknown_keys(store):
    from nianbao.ingest.store import stored_record
    from nianbao.record import Record

    doc = next(store.query("SELECT * FROM documents WHERE path LIKE '%' || ?", ("/" + REPORT,)))
    typed = stored_record(store, doc)
    assert typed.extra["content_hash"] == doc["content_hash"] and typed.extra["status"] == "done"
    assert typed.fields["requests.new.total"].context.value == "62"
    assert Record.from_dict(load_record(store, doc, contexts=True)) == typed
    item = {"value": 3, "raw": "3", "confidence": 0.9, "ocr_text": "3", CONTEXT_KEY: "not a context"}
    from nianbao.record import RecordField
    assert RecordField.from_dict(item).as_dict() == item  # a malformed context is kept, not interpreted
