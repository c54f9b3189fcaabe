"""The team database: the PostgreSQL store against a real server, and what two reviewers or several
ingest processes at once must not break (run against SQLite too where both apply).

The server is a throwaway cluster (tests/pg_server.py): skipped where no PostgreSQL binaries exist,
a failure under CI=true.
"""
from __future__ import annotations

import io
import multiprocessing
import shutil
import threading
from pathlib import Path

import pytest
from pg_server import create_database

from nianbao.ingest.export import export
from nianbao.ingest.report import gather
from nianbao.ingest.runner import IngestOptions, ingest
from nianbao.ingest.store import (CheckReview, DocumentResult, PostgresStore, SQLiteStore, StoreError, load_record,
                                  open_existing_store, open_store)
from nianbao.ingest.store.postgres import postgres_script, to_pyformat
from nianbao.ingest.store.sql import MIGRATIONS
from nianbao.review import corrections
from nianbao.review.queue import QueueFilters, next_document

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TEXT_REPORTS = sorted(p.name for p in EXAMPLES.glob("*.txt"))


# -- the server ---------------------------------------------------------------------------------

_databases = iter(range(10 ** 6))


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the test server."""
    return create_database(pg_server, f"t{next(_databases)}")


# -- pure helpers (no server) ---------------------------------------------------------------------

def test_placeholders_and_types_translate():
    assert to_pyformat("SELECT a FROM t WHERE b = ? AND c LIKE 'x%?' AND d = ?") == \
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%?' AND d = %s"
    script = postgres_script(MIGRATIONS[0][2])
    assert "id BIGSERIAL PRIMARY KEY" in script and "document_id BIGINT NOT NULL" in script
    assert " REAL" not in script and "confidence DOUBLE PRECISION" in script
    # the claims' key is a reference, not a new serial
    assert "document_id BIGINT PRIMARY KEY" in postgres_script(MIGRATIONS[2][2])


def test_bad_url_is_a_clear_error():
    with pytest.raises(StoreError, match=r"cannot connect to the store postgresql://nobody:\*\*\*@127.0.0.1:1/x"):
        open_store("postgresql://nobody:secret@127.0.0.1:1/x")


# -- same exports and reports as SQLite -----------------------------------------------------------

def _export_text(db, **kw) -> str:
    out = io.StringIO()
    export(db, stdout=out, **kw)
    return out.getvalue()


@pytest.mark.slow
def test_examples_export_the_same_from_postgres_and_sqlite(pg_url, tmp_path):
    # One worker: rows come out in store id order, which is the order documents were written.
    options = IngestOptions(workers=1, progress=False)
    lite = tmp_path / "examples.sqlite"
    s1 = ingest([str(EXAMPLES)], lite, options)
    s2 = ingest([str(EXAMPLES)], pg_url, options)
    assert s1.done == s2.done == 12 and s2.store == s1.store
    for kw in (dict(fmt="csv", shape="wide"), dict(fmt="csv", shape="long"), dict(fmt="jsonl", shape="record"),
               dict(fmt="csv", what="checks")):
        sqlite_text, postgres_text = _export_text(lite, **kw), _export_text(pg_url, **kw)
        assert postgres_text == sqlite_text, kw
    wide = _export_text(pg_url, fmt="csv", shape="wide")
    assert len(wide.splitlines()) == 13 and "requests.new.total" in wide.splitlines()[0]
    # the audit report's figures (not its run times)
    with open_existing_store(lite) as a, open_existing_store(pg_url) as b:
        ga, gb = gather(a), gather(b)
    for volatile in ("timings", "runs"):
        ga.pop(volatile), gb.pop(volatile)
    assert gb == ga
    # a second run resumes: everything is there already
    again = ingest([str(EXAMPLES)], pg_url, options)
    assert again.done == 0 and again.skipped == 12


def test_a_stored_document_reads_back_exactly(pg_url):
    rec = {"agency": "某市人民政府办公室", "year": 2022, "template": "v2021", "tables": {"requests": {"found": True}},
           "fields": {"requests.new.total": {"value": 12, "raw": "12", "confidence": 0.123456789012345},
                      "fees.amount": {"value": 75394432.52, "raw": "75,394,432.52", "confidence": 0.9, "page": 2,
                                      "bbox": [1.5, 2, 3, 4], "source": "ocr"}},
           "checks": [{"rule": "R1", "passed": False, "detail": "x", "cells": ["a"], "difference": 0.1,
                       "confidence": 0.8}],
           "review": {"needed": True, "reasons": ["doubt"]}, "mapper": "classifier", "model_version": "m1"}
    result = DocumentResult(path="/r/a.txt", content_hash="ab" * 32, size=10, status="done", pipeline_version="p",
                            record=rec)
    with open_store(pg_url) as pg, SQLiteStore(":memory:") as lite:
        for store in (pg, lite):
            doc_id, written = store.write_document(result, overwrite=False)
            assert written
        back = [load_record(s, s.document_row(1)) for s in (pg, lite)]
    assert back[0] == back[1]
    assert back[0]["fields"]["fees.amount"]["value"] == 75394432.52
    assert back[0]["fields"]["requests.new.total"]["confidence"] == 0.123456789012345
    assert type(back[0]["fields"]["requests.new.total"]["value"]) is int


# -- several writers --------------------------------------------------------------------------------

def _ingest_process(folder: str, db: str, queue) -> None:
    summary = ingest([folder], db, IngestOptions(workers=1, progress=False, cross_year=True))
    queue.put((summary.done, summary.skipped, sum(summary.failed.values())))


@pytest.mark.slow
def test_concurrent_ingest_processes_write_no_duplicates(pg_url, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in TEXT_REPORTS:
        shutil.copy(EXAMPLES / name, folder / name)
    shutil.copy(EXAMPLES / TEXT_REPORTS[0], folder / "a_copy.txt")  # same content, second path
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_ingest_process, args=(str(folder), pg_url, results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    runs = [results.get(timeout=5) for _ in procs]
    n = len(TEXT_REPORTS)
    assert all(failed == 0 for _, _, failed in runs)
    # Each document is written by exactly one process; the others find it there (skipped).
    assert sum(done for done, _, _ in runs) == n, runs
    with open_store(pg_url) as store:
        assert store.scalar("SELECT COUNT(*) FROM documents") == n
        assert store.scalar("SELECT COUNT(DISTINCT content_hash) FROM documents") == n
        assert store.scalar("SELECT COUNT(*) FROM sources") == n + 1
        assert store.scalar("SELECT COUNT(*) FROM runs WHERE finished_at IS NOT NULL") == 3
    # the same values as one process writing alone
    lite = tmp_path / "alone.sqlite"
    ingest([str(folder)], lite, IngestOptions(workers=1, progress=False))
    assert _export_text(pg_url, fmt="csv", shape="wide") == _export_text(lite, fmt="csv", shape="wide")
    # a later run resumes: nothing left to do
    again = ingest([str(folder)], pg_url, IngestOptions(workers=1, progress=False))
    assert again.done == 0 and again.skipped == n


# -- two reviewers ----------------------------------------------------------------------------------

def _review_store(kind: str, pg_request, tmp_path) -> str:
    """Three documents that need review, in a SQLite file or a PostgreSQL database."""
    db = create_database(pg_request.getfixturevalue("pg_server"), f"r{next(_databases)}") if kind == "postgres" \
        else str(tmp_path / "review.sqlite")
    with open_store(db) as store:
        for i in range(3):
            rec = {"agency": f"机关{i}", "year": 2022, "template": "v2021", "tables": {"requests": {"found": True}},
                   "fields": {"requests.new.total": {"value": 10 + i, "raw": str(10 + i), "confidence": 0.5 + i / 10},
                              "requests.new.natural": {"value": 3, "raw": "3", "confidence": 0.9}},
                   "checks": [], "review": {"needed": True, "reasons": ["doubt"]}}
            store.write_document(DocumentResult(path=f"/r/{i}.txt", content_hash=f"{i:064x}", size=1, status="done",
                                                pipeline_version="p", record=rec), overwrite=False)
    return db


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_edit_based_on_a_stale_value_is_refused(kind, request, tmp_path):
    db = _review_store(kind, request, tmp_path)
    key = "requests.new.total"
    with open_store(db) as alice, open_store(db) as bob:
        seen_by_bob = corrections.get_document(bob, 1).values[key]
        corrections.change_field(alice, 1, key, "edit", "alice", "11", based_on=corrections.get_document(alice, 1).values[key])
        with pytest.raises(corrections.StaleEdit, match=r"changed by alice .* to 11 after you read 10; nothing was saved"):
            corrections.change_field(bob, 1, key, "edit", "bob", "12", based_on=seen_by_bob)
        with pytest.raises(corrections.StaleEdit):
            corrections.change_field(bob, 1, key, "confirm", "bob", based_on=seen_by_bob)
        doc = corrections.get_document(bob, 1)
        assert doc.values[key] == 11 and [h["reviewer"] for h in corrections.history(bob, 1)] == ["alice"]
        # based on what is stored now, bob's edit goes through
        corrections.change_field(bob, 1, key, "edit", "bob", "12", based_on=doc.values[key])
        assert corrections.get_document(alice, 1).values[key] == 12


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_reviewers_get_different_documents(kind, request, tmp_path):
    db = _review_store(kind, request, tmp_path)
    got: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def reviewer(name: str) -> None:
        with open_store(db) as store:
            barrier.wait()
            got[name] = next_document(store, name, QueueFilters())

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert set(got) == {"alice", "bob"} and None not in got.values() and got["alice"] != got["bob"]
    with open_store(db) as store:
        # asking again, a reviewer keeps their own document; a third gets the one left, then nothing
        assert next_document(store, "alice", QueueFilters()) == got["alice"]
        carol = next_document(store, "carol", QueueFilters())
        assert carol not in got.values() and carol is not None
        assert next_document(store, "dave", QueueFilters()) is None
        assert {c.reviewer for c in store.claims()} == {"alice", "bob", "carol"}
        # a lapsed claim is free again
        store.release_claim(carol, "carol")
        assert next_document(store, "dave", QueueFilters(), ttl_seconds=0) == carol
        assert next_document(store, "erin", QueueFilters()) == carol


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_finding_is_confirmed_or_dismissed_with_who_and_when(kind, request, tmp_path):
    db = _review_store(kind, request, tmp_path)
    with open_store(db) as store:
        first = store.review_check(CheckReview(document_id=2, rule="P1", status="confirmed", reviewer="alice"))
        store.review_check(CheckReview(document_id=2, rule="P1", status="dismissed", reviewer="bob", note="printed so"))
        with pytest.raises(StoreError, match="confirmed or dismissed"):
            store.review_check(CheckReview(document_id=2, rule="P1", status="maybe", reviewer="bob"))
        with pytest.raises(StoreError, match="no document 99"):
            store.review_check(CheckReview(document_id=99, rule="P1", status="confirmed", reviewer="bob"))
        verdicts = store.check_reviews(2)
    assert [(v.reviewer, v.status) for v in verdicts] == [("alice", "confirmed"), ("bob", "dismissed")]
    assert verdicts[0].id == first.id and verdicts[0].created_at == first.created_at and verdicts[1].note == "printed so"


def test_postgres_store_refuses_another_programs_database(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(StoreError, match="not a nianbao store"):
        PostgresStore(pg_url)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_review_app_refuses_a_stale_edit_and_hands_out_different_documents(kind, request, tmp_path):
    import re

    from nianbao.review.app import ReviewConfig, create_app

    db = _review_store(kind, request, tmp_path)
    clients = {}
    for name in ("alice", "bob"):
        client = create_app(ReviewConfig(db=db if kind == "postgres" else Path(db), labels_dir=tmp_path / "labels",
                                         reviewer=name)).test_client()
        page = client.get("/doc/1")
        assert page.status_code == 200
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
        clients[name] = (client, {"X-CSRF-Token": token})
    body = {"key": "requests.new.total", "action": "edit", "based_on": "10"}
    alice, bob = clients["alice"], clients["bob"]
    assert alice[0].post("/api/doc/1/field", json={**body, "value": "11"}, headers=alice[1]).status_code == 200
    stale = bob[0].post("/api/doc/1/field", json={**body, "value": "12"}, headers=bob[1])
    assert stale.status_code == 409 and stale.json["stale"] is True
    assert "changed by alice" in stale.json["error"] and "reload" in stale.json["error"]
    first, second = alice[0].get("/next"), bob[0].get("/next")
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] != second.headers["Location"]
    assert re.search(r"/doc/\d+$", first.headers["Location"]) and re.search(r"/doc/\d+$", second.headers["Location"])


@pytest.mark.slow
def test_ray_driver_and_a_local_ingest_share_the_team_database(pg_url, tmp_path):
    pytest.importorskip("ray")
    import ray

    from nianbao.ingest.ray_engine import start_local_ray

    folder = tmp_path / "docs"
    folder.mkdir()
    for name in TEXT_REPORTS:
        shutil.copy(EXAMPLES / name, folder / name)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    local = ctx.Process(target=_ingest_process, args=(str(folder), pg_url, results))
    start_local_ray(num_cpus=2)
    try:
        local.start()
        summary = ingest([str(folder)], pg_url, IngestOptions(engine="ray", workers=2, progress=False))
    finally:
        ray.shutdown()
    local.join(timeout=300)
    assert local.exitcode == 0
    done_local, _, failed_local = results.get(timeout=5)
    n = len(TEXT_REPORTS)
    assert failed_local == 0 and not summary.failed and summary.done + done_local == n
    with open_store(pg_url) as store:
        assert store.scalar("SELECT COUNT(*) FROM documents") == n
        assert store.scalar("SELECT COUNT(*) FROM sources") == n


def test_a_password_in_the_url_is_never_printed_or_stored(pg_server, tmp_path):
    from nianbao.ingest.report import write_report

    url = create_database(pg_server, f"p{next(_databases)}").replace("nianbao@", "nianbao:hunter2secret@")
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(EXAMPLES / TEXT_REPORTS[0], folder / "a.txt")
    summary = ingest([str(folder)], url, IngestOptions(workers=1, progress=False))
    assert summary.done == 1 and "hunter2secret" not in summary.as_text() + str(summary.as_dict())
    page = write_report(url, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "nianbao:***@127.0.0.1" in page and "hunter2secret" not in page
    with open_store(url) as store:
        assert "hunter2secret" not in str(list(store.query("SELECT options, counts FROM runs")))
