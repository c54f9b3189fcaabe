"""The auditor's workflow over a store: rule 5 applied as evidence after a batch, findings confirmed or
dismissed in the review app (who, when), and `export --checks` rows carrying each finding's extras and
verdict, the same from SQLite and PostgreSQL (the PostgreSQL cases skip without server binaries)."""
from __future__ import annotations

import hashlib
import io
import json
import re

import pytest

from nianbao.ingest.audit_store import apply_cross_year_redecisions, rerun_checks
from nianbao.ingest.export import export
from nianbao.ingest.runner import IngestOptions, ingest
from nianbao.ingest.store import (CROSS_YEAR_ACTION, CheckReview, DocumentResult, FieldChange, FindingVerdicts,
                                  StaleEditError, StoreError, finding_key, load_record, open_store)

AGENCY = "某某县人民政府"
CARRIED_OVER = "requests.carried_over.total"
P2_SENTENCE = "本年度共收到政府信息公开申请10件，上年结转5件。"


def _field(value, confidence=0.995, alternatives=None) -> dict:
    f = {"value": value, "raw": str(value), "confidence": confidence}
    if alternatives:
        f["alternatives"] = alternatives
    return f


def _doc(path: str, year: int, fields: dict, checks=(), review_needed=False) -> DocumentResult:
    rec = {"agency": AGENCY, "year": year, "template": "v2021", "tables": {"requests": {"found": True}},
           "fields": fields, "checks": list(checks), "review": {"needed": review_needed, "reasons": ["doubt"]}}
    return DocumentResult(path=path, content_hash=hashlib.sha256(path.encode()).hexdigest(), size=1, status="done",
                          pipeline_version="test", record=rec)


def _two_years(store) -> tuple[int, int]:
    """2021 carries 5 requests forward; 2022 reads its carried-over total 8 (doubted: 5 or 8) and its
    carried-over natural 3 (clear, though 2 is a candidate and 2021 carried 2 forward)."""
    earlier, _ = store.write_document(_doc("/y/2021.txt", 2021, {
        "requests.carried_forward.total": _field(5), "requests.carried_forward.natural": _field(2)}), overwrite=False)
    p2 = {"rule": "P2", "passed": False, "detail": "prose states 5 (上年结转 (requests.carried_over.total)), table 8",
          "cells": [CARRIED_OVER], "difference": 3.0, "confidence": 0.475, "sentence": P2_SENTENCE, "position": 40,
          "page": 1, "table_value": 8.0, "stated_value": 5.0}
    later, _ = store.write_document(_doc("/y/2022.txt", 2022, {
        "requests.new.total": _field(10), CARRIED_OVER: _field(8, 0.5, [8, 5]),
        "requests.carried_over.natural": _field(3, 0.95, [3, 2]),
        "requests.results_total.total": _field(12), "requests.carried_forward.total": _field(3)},
        checks=[p2], review_needed=True), overwrite=False)
    return earlier, later


_databases = iter(range(10 ** 6))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    from pg_server import create_database

    return create_database(request.getfixturevalue("pg_server"), f"w{next(_databases)}")


# -- R5 applied ---------------------------------------------------------------------------------

def test_a_doubted_reading_is_decided_by_the_earlier_years_report(db):
    with open_store(db) as store:
        earlier, later = _two_years(store)
        applied = apply_cross_year_redecisions(store)
        assert [(a.redecision.key, a.applied) for a in applied] == [(CARRIED_OVER, True)]
        fields = {f["key"]: f for f in store.field_rows(later)}
        f = fields[CARRIED_OVER]
        assert f["value"] == 5 and f["confidence"] < 0.9  # decided, still doubted: not a reviewer's value
        assert f["reason"] != "reviewed" and "/y/2021.txt" in f["reason"] and f"document {earlier}" in f["reason"]
        # the clear reading is never changed, although the earlier report would say 2
        assert fields["requests.carried_over.natural"]["value"] == 3
        history = store.field_history(later)
        assert [(h["key"], h["action"], h["old_value"], h["new_value"], h["evidence_document_id"], h["reviewer"])
                for h in history] == [(CARRIED_OVER, CROSS_YEAR_ACTION, 8, 5, earlier, None)]
        assert history[0]["reason"] == f["reason"] and history[0]["new_confidence"] == f["confidence"]
        assert store.document_row(later)["review_status"] == "pending"  # not marked reviewed
        assert store.count_value_changes(later) == 0                    # no reviewer's change
        # the checks were re-run on the new value: R3 balances now, the prose (5) agrees with the table
        checks = {c["rule"]: c for c in load_record(store, store.document_row(later))["checks"]}
        assert checks["R3"]["passed"] is True
        assert checks["P2"]["passed"] is True and checks["P2"]["table_value"] == 5.0
        assert checks["P2"]["sentence"] == P2_SENTENCE and checks["P2"]["difference"] == 0
        # a second pass finds nothing left to decide
        assert apply_cross_year_redecisions(store) == []


def test_a_reviewers_value_and_an_approved_document_are_left_alone(tmp_path):
    db = str(tmp_path / "s.sqlite")
    with open_store(db) as store:
        earlier, later = _two_years(store)
        store.change_field(FieldChange(document_id=later, key=CARRIED_OVER, action="confirm", new_value=8,
                                       reviewer="alice", based_on=8))
        assert [a.note for a in apply_cross_year_redecisions(store)] == []  # reviewed: confidence 1, no doubt
        with pytest.raises(StoreError, match="set by a reviewer"):
            store.redecide_field(later, CARRIED_OVER, 5, 0.5, "x", earlier)
    db2 = str(tmp_path / "t.sqlite")
    with open_store(db2) as store:
        earlier, later = _two_years(store)
        store.set_review_status(later, "approved", "alice")
        got = apply_cross_year_redecisions(store)
        assert [(a.applied, a.note) for a in got] == [(False, "approved: left as approved")]
        assert {f["key"]: f["value"] for f in store.field_rows(later)}[CARRIED_OVER] == 8
        with pytest.raises(StaleEditError):
            store.redecide_field(later, CARRIED_OVER, 5, 0.5, "x", earlier, based_on=7)


def test_reprocessing_restores_a_reviewers_values_not_evidence_decisions(tmp_path):
    db = str(tmp_path / "s.sqlite")
    with open_store(db) as store:
        earlier, later = _two_years(store)
        apply_cross_year_redecisions(store)
        store.change_field(FieldChange(document_id=later, key="requests.new.total", action="edit", new_value=11,
                                       reviewer="alice", based_on=10))
        _, written = store.write_document(_doc("/y/2022.txt", 2022, {
            "requests.new.total": _field(10), CARRIED_OVER: _field(8, 0.5, [8, 5])}), overwrite=True)
        fields = {f["key"]: f for f in store.field_rows(later)}
    assert written and fields["requests.new.total"]["value"] == 11 and fields["requests.new.total"]["reason"] == "reviewed"
    # the new reading is the model's again (the next batch decides it again), never a "reviewed" 5
    assert fields[CARRIED_OVER]["value"] == 8 and fields[CARRIED_OVER]["reason"] != "reviewed"


def test_the_ingest_batch_applies_the_decisions(tmp_path):
    db = str(tmp_path / "s.sqlite")
    with open_store(db) as store:
        _, later = _two_years(store)
    empty = tmp_path / "none"
    empty.mkdir()
    summary = ingest([str(empty)], db, IngestOptions(workers=1, progress=False))
    assert summary.cross_year["redecided"] == 1 and "neighbouring year's report: 1" in summary.as_text()
    with open_store(db) as store:
        assert {f["key"]: f["value"] for f in store.field_rows(later)}[CARRIED_OVER] == 5
    no_cross_year = ingest([str(empty)], db, IngestOptions(workers=1, progress=False, cross_year=False))
    assert "redecided" not in no_cross_year.cross_year


def test_rerun_checks_keeps_findings_it_cannot_decide_again():
    record = {"template": "v2021", "tables": {"requests": {"found": True}},
              "fields": {CARRIED_OVER: {"value": 8, "confidence": 0.5}},
              "checks": [{"rule": "N1", "passed": False, "detail": "section 五 is empty", "cells": [], "difference": 0,
                          "confidence": 0.9},
                         {"rule": "P2", "passed": True, "detail": "x", "cells": [CARRIED_OVER], "difference": 0,
                          "confidence": 0.475, "stated_value": 8.0, "table_value": 8.0}]}
    from nianbao.record import Record

    out = {c.rule: c for c in rerun_checks(Record.from_dict(record), {CARRIED_OVER: 5}, {CARRIED_OVER: 0.5}, [CARRIED_OVER])}
    assert out["N1"].passed is False and out["N1"].extra == {"confidence": 0.9}
    assert out["P2"].passed is False and out["P2"].difference == -3.0 and out["P2"].extra["confidence"] == 0.475


# -- verdicts and the export ------------------------------------------------------------------------

def _export(db, **kw) -> str:
    out = io.StringIO()
    export(db, stdout=out, what="checks", **kw)
    return out.getvalue()


def test_export_rows_carry_the_finding_and_its_verdict(db):
    with open_store(db) as store:
        _, later = _two_years(store)
        key = finding_key("P2", [CARRIED_OVER], 40)
        store.review_check(CheckReview(document_id=later, rule="P2", status="confirmed", reviewer="alice", finding=key))
        last = store.review_check(CheckReview(document_id=later, rule="P2", status="dismissed", reviewer="bob",
                                              finding=key, note="misread: 5 is printed"))
    rows = [json.loads(x) for x in _export(db, fmt="jsonl").splitlines()]
    p2 = [r for r in rows if r["rule"] == "P2"]
    assert len(p2) == 1
    r = p2[0]
    assert (r["path"], r["agency"], r["year"], r["finding"]) == ("/y/2022.txt", AGENCY, 2022, key)
    assert (r["confidence"], r["sentence"], r["position"], r["page"], r["table_value"], r["stated_value"]) == \
        (0.475, P2_SENTENCE, 40, 1, 8.0, 5.0)
    assert (r["review_status"], r["reviewed_by"], r["reviewed_at"], r["review_note"]) == \
        ("dismissed", "bob", last.created_at, "misread: 5 is printed")
    # a failed check nobody judged is open; a passed check has no verdict
    assert {x["review_status"] for x in rows if x["rule"] != "P2" and not x["passed"]} <= {"open"}
    assert all(x["review_status"] is None for x in rows if x["passed"])
    csv_text = _export(db, fmt="csv")
    header = csv_text.splitlines()[0].split(",")
    assert header[-5:] == ["finding", "review_status", "reviewed_by", "reviewed_at", "review_note"]
    assert "misread: 5 is printed" in csv_text and P2_SENTENCE in csv_text


def test_a_verdict_on_a_whole_rule_stands_until_one_on_the_finding():
    def v(i, finding, status):
        return CheckReview(document_id=1, rule="R1", status=status, reviewer="a", finding=finding, id=i)

    verdicts = FindingVerdicts([v(1, None, "confirmed"), v(2, "R1|x", "dismissed")])
    assert verdicts.get(1, "document", "R1", "R1|x").status == "dismissed"
    assert verdicts.get(1, "document", "R1", "R1|y").status == "confirmed"
    assert FindingVerdicts([v(2, "R1|x", "dismissed"), v(3, None, "confirmed")]).get(1, "document", "R1", "R1|x").status \
        == "confirmed"
    assert verdicts.get(2, "document", "R1", "R1|x") is None


def test_sqlite_and_postgres_export_the_same_checks(pg_server, tmp_path):
    from pg_server import create_database

    dbs = [str(tmp_path / "s.sqlite"), create_database(pg_server, f"e{next(_databases)}")]
    for db in dbs:
        with open_store(db) as store:
            _, later = _two_years(store)
            apply_cross_year_redecisions(store)
            store.review_check(CheckReview(document_id=later, rule="R3", status="confirmed", reviewer="alice",
                                           created_at="2026-12-06T06:00:00.000+00:00"))
    texts = [_export(db, fmt=fmt) for fmt in ("csv", "jsonl") for db in dbs]
    assert texts[0] == texts[1] and texts[2] == texts[3]


# -- the review app -------------------------------------------------------------------------------

def _client(db, tmp_path, reviewer="alice"):
    from nianbao.review.app import ReviewConfig, create_app

    client = create_app(ReviewConfig(db=db, labels_dir=tmp_path / "labels", reviewer=reviewer)).test_client()
    return client


def _token(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_review_app_confirms_and_dismisses_findings(db, tmp_path):
    with open_store(db) as store:
        _, later = _two_years(store)
    key = finding_key("P2", [CARRIED_OVER], 40)
    client = _client(db, tmp_path)
    page = client.get(f"/doc/{later}").get_data(as_text=True)
    assert 'id="findings"' in page and f'data-finding="{key}" data-status="open"' in page and P2_SENTENCE in page
    token = _token(page)
    # a write without the session's CSRF token is refused and stores nothing
    assert client.post(f"/doc/{later}/finding", data={"finding": key, "status": "confirmed"}).status_code == 403
    # neither a finding the document does not fail nor a verdict outside the two is taken
    assert client.post(f"/doc/{later}/finding", data={"finding": "P9|x", "status": "confirmed",
                                                      "csrf_token": token}).status_code == 400
    assert client.post(f"/doc/{later}/finding", data={"finding": key, "status": "maybe",
                                                      "csrf_token": token}).status_code == 400
    with open_store(db) as store:
        assert store.check_reviews(later) == []
    done = client.post(f"/doc/{later}/finding", data={"finding": key, "status": "confirmed", "note": "prose is right",
                                                      "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/doc/{later}#findings")
    page = client.get(f"/doc/{later}").get_data(as_text=True)
    assert f'data-finding="{key}" data-status="confirmed"' in page and "alice" in page and "prose is right" in page
    bob = _client(db, tmp_path, "bob")
    bob_token = _token(bob.get(f"/doc/{later}").get_data(as_text=True))
    assert bob.post(f"/doc/{later}/finding", data={"finding": key, "status": "dismissed",
                                                   "csrf_token": bob_token}).status_code == 303
    with open_store(db) as store:
        verdicts = store.check_reviews(later)
    assert [(v.reviewer, v.status, v.finding, v.rule) for v in verdicts] == \
        [("alice", "confirmed", key, "P2"), ("bob", "dismissed", key, "P2")]
    assert all(v.created_at for v in verdicts)
    row = [json.loads(x) for x in _export(db, fmt="jsonl").splitlines() if '"P2"' in x][0]
    assert (row["review_status"], row["reviewed_by"]) == ("dismissed", "bob")


def test_a_reviewers_edit_keeps_the_findings_and_decides_the_prose_again(tmp_path):
    from nianbao.review import corrections

    db = str(tmp_path / "s.sqlite")
    with open_store(db) as store:
        _, later = _two_years(store)
        doc = corrections.get_document(store, later)
        n1 = {"rule": "N1", "passed": False, "detail": "section 五 is only 无", "cells": [], "difference": 0}
        record = doc.record.as_dict()
        store.write_document(_doc("/y/2022.txt", 2022, record["fields"], checks=[*record["checks"], n1],
                                  review_needed=True), overwrite=True)
        doc = corrections.change_field(store, later, "requests.new.total", "edit", "alice", "9", based_on=10)
        rules = {c.rule: c.passed for c in doc.record.checks}
        assert rules["N1"] is False and rules["P2"] is False  # kept: the edit touched neither
        doc = corrections.change_field(store, later, CARRIED_OVER, "edit", "alice", "5", based_on=8)
        p2 = next(c for c in doc.record.checks if c.rule == "P2")
        assert p2.passed is True and p2.table_value == 5.0 and p2.sentence == P2_SENTENCE
