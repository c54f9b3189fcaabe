"""The review queue, the reviewer's actions on the store, and the web app's guards (no browser)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nianbao.ingest.store import SQLiteStore
from nianbao.labels import load_labelled
from nianbao.review import corrections
from nianbao.review.app import ReviewConfig, check_bind, create_app
from nianbao.review.queue import AcceptPolicy, QueueFilters, load_accept_policy, review_queue

from review_helpers import db, store  # noqa: F401 (fixtures)

SCRIPT_AGENCY = "<script>window.pwned=1</script>测试局"


def _doubtful_doc(store) -> int:
    items = review_queue(store)
    assert items, "the example store should have a document that needs review"
    return items[0].id


def test_queue_orders_by_expected_errors_and_filters(store):
    policy = AcceptPolicy(0.99, 0.001, 1000, "test")
    items = review_queue(store, policy=policy)
    assert [i.expected_errors for i in items] == sorted((i.expected_errors for i in items), reverse=True)
    top = items[0]
    # The expected count is the sum of (1 - confidence) over printed fields plus half a field per failing rule.
    misreads = store.scalar("SELECT SUM(1 - confidence) FROM fields WHERE document_id = ?", (top.id,))
    failing = store.scalar("SELECT COUNT(*) FROM checks WHERE document_id = ? AND passed = 0", (top.id,))
    assert top.expected_errors == pytest.approx(misreads + 0.5 * failing, abs=1e-3)
    # Blanks count: a row left blank because its label was not found is a likely miss.
    assert top.doubtful == store.scalar("SELECT COUNT(*) FROM fields WHERE document_id = ? AND confidence < 0.99",
                                        (top.id,))
    # Documents not needing review never enter; filters narrow.
    clean = store.scalar("SELECT COUNT(*) FROM documents WHERE review_needed = 0")
    assert len(items) == store.scalar("SELECT COUNT(*) FROM documents") - clean
    assert review_queue(store, QueueFilters(year=1990), policy) == []
    assert review_queue(store, QueueFilters(agency="没有这个机关"), policy) == []
    assert [i.id for i in review_queue(store, QueueFilters(max_confidence=0.0), policy)] == []
    with pytest.raises(ValueError):
        QueueFilters(status="bogus").where()


def test_accept_policy_is_the_measured_one(tmp_path):
    policy = load_accept_policy()
    assert policy.error_rate is not None and 0 < policy.threshold <= 1
    assert f"{policy.threshold:g}" in policy.describe() and "%" in policy.describe()
    missing = load_accept_policy(tmp_path / "none.json")
    assert missing.error_rate is None and "not been measured" in missing.describe()


def test_accept_policy_follows_the_models_folder_in_use(tmp_path, monkeypatch):
    # NIANBAO_MODEL_DIR switches the classifier and its calibration together: the queue's policy too.
    policy = {"threshold": 0.97, "error_rate": 0.0004, "fields": 2500, "measured_on": "another model's held-out"}
    (tmp_path / "calibration.json").write_text(json.dumps({"accept_policy": policy}), encoding="utf-8")
    monkeypatch.setenv("NIANBAO_MODEL_DIR", str(tmp_path))
    assert load_accept_policy() == AcceptPolicy(0.97, 0.0004, 2500, "another model's held-out")


def test_change_confirm_history_and_live_rules(store):
    doc_id = _doubtful_doc(store)
    doc = corrections.get_document(store, doc_id)
    key = next(k for k, f in doc.record.fields.items() if f.value is not None and f.confidence < 0.99)
    old = doc.record.fields[key].value
    after = corrections.change_field(store, doc_id, key, "edit", "alice", "１,234")  # full-width, separator
    assert after.record.fields[key].value == 1234 and after.record.fields[key].confidence == 1.0
    assert after.row["review_status"] == "in_review"
    after = corrections.change_field(store, doc_id, key, "blank", "alice")
    assert after.record.fields[key].value is None
    hist = corrections.history(store, doc_id)
    assert [(h["key"], h["action"], h["old_value"], h["new_value"], h["reviewer"]) for h in hist] == [
        (key, "edit", old, 1234, "alice"), (key, "blank", 1234, None, "alice")]
    with pytest.raises(corrections.ReviewError):
        corrections.change_field(store, doc_id, key, "edit", "alice", "12a")
    with pytest.raises(corrections.ReviewError):
        corrections.change_field(store, doc_id, "requests.nope.total", "edit", "alice", "1")
    with pytest.raises(corrections.ReviewError):
        corrections.change_field(store, doc_id, "requests.new.total", "edit", "alice", "-3")  # not a signed field
    # The rules follow the values: break R1 on purpose and the stored checks say so.
    total = after.values["requests.new.total"] or 0
    broken = corrections.change_field(store, doc_id, "requests.new.total", "edit", "alice", str(int(total) + 7))
    r1 = [c for c in broken.record.checks if c.rule == "R1" and "requests.new.total" in c.cells]
    assert r1 and not r1[0].passed


def test_confirm_table_then_approve_writes_label_with_provenance(store, tmp_path):
    doc_id = _doubtful_doc(store)
    doc = corrections.confirm_table(store, doc_id, "appeals", "bob")
    assert all(f.confidence == 1.0 for k, f in doc.record.fields.items() if k.startswith("appeals."))
    key = "requests.new.total"
    corrections.change_field(store, doc_id, key, "edit", "bob", "999")
    label = corrections.approve(store, doc_id, "bob", tmp_path / "labels")
    data = json.loads(label.read_text(encoding="utf-8"))
    assert data["format"] == "nianbao/labelled-document@1" and data["split"] == "reviewed"
    assert data["fields"][key]["value"] == 999 and data["provenance"]["reviewer"] == "bob"
    assert data["fields"][key]["model_value"] == doc.values[key] != 999  # what the model had read
    assert all("model_value" not in f for k, f in data["fields"].items() if k != key)
    assert data["provenance"]["model_version"] == doc.row["model_version"] and data["provenance"]["changes"] == 1
    gold = load_labelled(label)  # readable by the project's loader, document path resolves
    assert gold.values[key] == 999 and gold.document is not None and Path(gold.document).exists()
    assert corrections.get_document(store, doc_id).row["review_status"] == "approved"
    with pytest.raises(corrections.ReviewError):
        corrections.change_field(store, doc_id, key, "edit", "bob", "1")  # approved: reopen first
    assert doc_id not in [i.id for i in review_queue(store)]


def test_reprocessing_keeps_the_reviewers_values(store, tmp_path):
    from nianbao.inference.pipeline import PipelineOptions
    from nianbao.ingest.runner import IngestOptions, ingest

    doc_id = _doubtful_doc(store)
    corrections.change_field(store, doc_id, "requests.new.total", "edit", "carol", "4321")
    path = corrections.get_document(store, doc_id).row["path"]
    store.close()
    ingest([path], store.path, IngestOptions(workers=1, progress=False, cross_year=False, reprocess=True, timeout=None,
                                             max_memory_mb=0, pipeline_options=PipelineOptions(spotter="classifier")))
    with SQLiteStore(store.path) as s:
        doc = corrections.get_document(s, doc_id)
        assert doc.record.fields["requests.new.total"].value == 4321
        assert doc.row["review_status"] == "in_review"
    store.conn = SQLiteStore(store.path).conn


def test_app_guards_csrf_token_escaping_and_paths(store, tmp_path):
    doc_id = _doubtful_doc(store)
    store.conn.execute("UPDATE documents SET agency = ? WHERE id = ?", (SCRIPT_AGENCY, doc_id))
    app = create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path / "labels", reviewer="dan"))
    client = app.test_client()
    page = client.get(f"/doc/{doc_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert SCRIPT_AGENCY not in html and "&lt;script&gt;window.pwned=1&lt;/script&gt;测试局" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    queue = client.get("/").get_data(as_text=True)
    assert "<script>window.pwned" not in queue and "&lt;script&gt;window.pwned" in queue
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    body = {"key": "requests.new.total", "action": "edit", "value": "5"}
    assert client.post(f"/api/doc/{doc_id}/field", json=body).status_code == 403  # no CSRF token
    assert client.post(f"/api/doc/{doc_id}/field", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post(f"/api/doc/{doc_id}/field", json=body, headers={"X-CSRF-Token": token,
                       "Origin": "http://evil.example"}).status_code == 403
    ok = client.post(f"/api/doc/{doc_id}/field", json=body, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json["fields"]["requests.new.total"]["value"] == 5
    assert client.post(f"/doc/{doc_id}/approve", data={}).status_code == 403
    # Fields and documents are addressed by key and id only; anything else is refused.
    assert client.get(f"/api/doc/{doc_id}/cell/..%2F..%2Fetc%2Fpasswd").status_code in (400, 404)
    assert client.get("/doc/999999").status_code == 400
    assert client.get(f"/doc/{doc_id}/cell/requests.new.total.png").status_code == 404  # a text report has no image
    info = client.get(f"/api/doc/{doc_id}/cell/requests.new.total").json
    assert info["image"] is None and info["source"] is not None
    assert [(h["action"], h["new_value"], h["reviewer"]) for h in info["history"]] == [("edit", 5, "dan")]


def test_token_and_bind_rules(store, tmp_path):
    token = "s3cret-long-enough-token"
    with pytest.raises(ValueError):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", token)
    check_bind("127.0.0.1", None)
    app = create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path, token=token))
    client = app.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    first = client.get(f"/?token={token}")
    assert first.status_code == 303 and token not in first.headers["Location"]  # the token leaves the URL
    assert client.get("/").status_code == 200  # the session remembers


def test_pdf_cell_image_is_cut_from_its_page(tmp_path):
    import io

    from PIL import Image

    from nianbao.inference.pipeline import PipelineOptions
    from nianbao.ingest.runner import IngestOptions, ingest
    from review_helpers import EXAMPLES

    db = tmp_path / "pdf.sqlite"
    ingest([str(EXAMPLES / "real2_002.pdf")], db, IngestOptions(workers=1, progress=False, cross_year=False,
                                                                timeout=None, max_memory_mb=0,
                                                                pipeline_options=PipelineOptions(spotter="classifier")))
    with SQLiteStore(db) as s:
        doc_id = s.scalar("SELECT id FROM documents")
        key, bbox = next((r["key"], json.loads(r["bbox"])) for r in s.query(
            "SELECT key, bbox FROM fields WHERE document_id = ? AND value > 0 AND bbox IS NOT NULL", (doc_id,)))
    client = create_app(ReviewConfig(db=db, labels_dir=tmp_path)).test_client()
    info = client.get(f"/api/doc/{doc_id}/cell/{key}").json
    assert info["image"] and info["source"] is None
    png = client.get(info["image"])
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.data))
    # The crop is the cell's box (at 2 px per point) plus a small margin, not the whole page.
    assert abs(image.width - 2 * (bbox[2] - bbox[0] + 12)) <= 4 and abs(image.height - 2 * (bbox[3] - bbox[1] + 12)) <= 4


def test_cli_lists_the_queue(store, capsys):
    from nianbao.cli import main

    assert main(["review", "--db", store.path, "--list", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "accepted" in lines[0]
    items = [json.loads(line) for line in lines[1:]]
    assert items and items[0]["id"] == review_queue(store)[0].id
    assert main(["review", "--db", store.path, "--host", "0.0.0.0"]) == 2  # exposed without a token
