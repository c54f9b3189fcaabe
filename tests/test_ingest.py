"""Bulk ingestion (nianbao.ingest): store, resumption after SIGKILL, isolation, engines, exports,
agencies and rule 5 across years, the audit report."""
from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nianbao.cli import main
from nianbao.ingest.agencies import normalise_agency, possible_matches, same_body
from nianbao.ingest.export import export, export_text
from nianbao.ingest.runner import IngestOptions, expand_inputs, ingest
from nianbao.ingest.store import (MIGRATIONS, SCHEMA_VERSION, DocumentResult, SQLiteStore, StoreError, load_record)
from nianbao.inference.output import to_record
from nianbao.inference.pipeline import Pipeline
from nianbao.inference.reconcile import cross_year_checks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FAULTY = "nianbao.ingest.testing:faulty_extract"


def make_mixed_folder(root: Path) -> Path:
    """The 12 examples, a corrupt PDF, an empty file, a non-report binary, a duplicate, an ignored file."""
    folder = root / "mixed"
    shutil.copytree(EXAMPLES, folder / "examples")
    bad = folder / "bad"
    bad.mkdir()
    (bad / "truncated.pdf").write_bytes((EXAMPLES / "real2_002.pdf").read_bytes()[:3000])
    (bad / "empty.txt").write_bytes(b"")
    rng = random.Random(6)
    (bad / "photo.docx").write_bytes(bytes(rng.randrange(256) for _ in range(4000)))  # not a zip, not a report
    (bad / "notes.bin").write_bytes(b"\x00\x01 not picked up from a folder")
    (folder / "copy_of_real_014.txt").write_bytes((EXAMPLES / "real_014.txt").read_bytes())
    return folder


N_DOCUMENTS = 15  # 12 examples + 3 bad files (the copy is the same document as real_014)
N_INPUTS = 16


def snapshot(db: Path) -> dict:
    """Everything a run decides about each document, keyed by content hash (no ids, paths, timings)."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    out = {}
    for d in con.execute("SELECT * FROM documents"):
        fields = tuple(tuple(r) for r in con.execute(
            "SELECT key, position, value, raw, confidence, page, bbox, alternatives, reason, extra FROM fields "
            "WHERE document_id = ? ORDER BY position", (d["id"],)))
        checks = tuple(tuple(r) for r in con.execute(
            "SELECT rule, passed, detail, cells, difference FROM checks WHERE document_id = ? ORDER BY id", (d["id"],)))
        out[d["content_hash"]] = (d["status"], d["error_code"], d["agency"], d["agency_normalised"], d["year"],
                                  d["template"], d["review_needed"], d["review_reasons"], d["pipeline_version"],
                                  d["pages"], d["format"], d["record_extra"], fields, checks)
    con.close()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run over the mixed folder (local engine, 2 workers)."""
    root = tmp_path_factory.mktemp("reference")
    folder = make_mixed_folder(root)
    db = root / "reference.sqlite"
    summary = ingest([str(folder)], db, IngestOptions(workers=2, progress=False))
    return folder, db, summary


def test_mixed_folder_uninterrupted(reference):
    folder, db, summary = reference
    assert summary.inputs == N_INPUTS and summary.duplicates == 1
    assert summary.done == 12 and dict(summary.failed) == {"corrupt_pdf": 1, "empty_file": 1, "corrupt_file": 1}
    con = sqlite3.connect(db)
    # How many need review is the extraction's business (4 at this writing); the run counts what it stored.
    assert summary.review_needed == con.execute("SELECT SUM(review_needed) FROM documents").fetchone()[0] >= 3
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM documents").fetchone() == (N_DOCUMENTS, N_DOCUMENTS)
    assert con.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == N_INPUTS  # the copy is a second path
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Stored fields and checks are the output contract of a direct extraction.
    store = SQLiteStore(db)
    pipeline = Pipeline()
    for path in [EXAMPLES / "real_010.txt", EXAMPLES / "real2_002.pdf", EXAMPLES / "real2_004.html"]:
        doc = next(store.query("SELECT d.* FROM documents d JOIN sources s ON s.document_id = d.id WHERE s.path = ?",
                               (str(folder / "examples" / path.name),)))
        stored, direct = load_record(store, doc), to_record(pipeline.run(path))
        assert stored["fields"] == direct["fields"] and stored["checks"] == direct["checks"]
        assert (stored["agency"], stored["year"], stored["template"], stored["review"]) == \
               (direct["agency"], direct["year"], direct["template"], direct["review"])
    pdf = next(store.query("SELECT pages, format, timings FROM documents WHERE path LIKE '%real2_002.pdf'"))
    assert pdf["pages"] == 5 and pdf["format"] == "pdf" and json.loads(pdf["timings"])["read"] > 0
    store.close()


def _committed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _kill_after(db: Path, folder: Path, at_least: int) -> None:
    """Start `nianbao ingest` as a subprocess and SIGKILL it once `at_least` documents are committed."""
    env = dict(os.environ, NIANBAO_TEST_DELAY="0.15")
    proc = subprocess.Popen([sys.executable, "-m", "nianbao.cli", "ingest", str(folder), "--db", str(db),
                             "--workers", "1", "--no-progress", "--extract-fn", "nianbao.ingest.testing:slow_extract"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while _committed(db) < at_least:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        workers.update(_children(proc.pid))
        time.sleep(0.02)
    workers.update(_children(proc.pid))
    if Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        assert workers, "the worker process was not seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The workers die with their parent (PR_SET_PDEATHSIG), none is left behind.
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers)


def test_sigkill_mid_run_then_resume_is_exact(reference, tmp_path):
    _, ref_db, _ = reference
    folder = make_mixed_folder(tmp_path)
    db = tmp_path / "killed.sqlite"
    _kill_after(db, folder, 3)
    first = _committed(db)
    assert 3 <= first < N_DOCUMENTS
    _kill_after(db, folder, first + 3)  # a second kill, in the resumed run
    second = _committed(db)
    assert first < second < N_DOCUMENTS
    out = subprocess.run([sys.executable, "-m", "nianbao.cli", "ingest", str(folder), "--db", str(db), "--no-progress",
                          "--workers", "2", "--json"], capture_output=True, text=True, timeout=120)
    # 0: every input this run had to read was read (the three bad files failed in the killed runs, first in order)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["skipped"] == second and summary["written"] == N_DOCUMENTS - second
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM documents").fetchone() == (N_DOCUMENTS, N_DOCUMENTS)
    assert con.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == N_INPUTS
    # Runs killed mid-way have no finish time; the last one has.
    assert [r[0] is not None for r in con.execute("SELECT finished_at FROM runs ORDER BY id")] == [False, False, True]
    con.close()
    assert snapshot(db) == snapshot(ref_db)


def test_rerun_skips_reprocess_redoes(reference, tmp_path):
    _, ref_db, _ = reference
    db = tmp_path / "copy.sqlite"
    shutil.copy(ref_db, db)
    folder = reference[0]
    ids_before = dict(sqlite3.connect(db).execute("SELECT content_hash, id FROM documents").fetchall())
    again = ingest([str(folder)], db, IngestOptions(workers=1, progress=False))
    assert again.skipped == N_DOCUMENTS and again.written == 0 and again.duplicates == 1
    redo = ingest([str(folder)], db, IngestOptions(workers=2, progress=False, reprocess=True))
    assert redo.written == N_DOCUMENTS and redo.skipped == 0
    assert dict(sqlite3.connect(db).execute("SELECT content_hash, id FROM documents").fetchall()) == ids_before
    assert snapshot(db) == snapshot(ref_db)
    # Stale: only documents stored by another pipeline version are redone; failed ones on request.
    con = sqlite3.connect(db)
    con.execute("UPDATE documents SET pipeline_version = 'nianbao 0.0.1' WHERE id IN (1, 2)")
    con.commit()
    con.close()
    plain = ingest([str(folder)], db, IngestOptions(workers=1, progress=False))
    assert plain.written == 0 and plain.skipped_stale == 2
    stale = ingest([str(folder)], db, IngestOptions(workers=1, progress=False, reprocess_stale=True))
    assert stale.written == 2
    retry = ingest([str(folder)], db, IngestOptions(workers=1, progress=False, retry_failed=True))
    assert retry.written == 3 and sum(retry.failed.values()) == 3
    assert snapshot(db) == snapshot(ref_db)


def test_hang_crash_and_memory_are_isolated(tmp_path):
    folder = tmp_path / "faulty"
    folder.mkdir()
    for name in ("hang", "crash", "memhog", "raise"):
        (folder / f"{name}.txt").write_text((EXAMPLES / "real_014.txt").read_text("utf-8") + f"\n{name}\n", "utf-8")
    for name in ("real_017.txt", "real2_004.html"):
        shutil.copy(EXAMPLES / name, folder / name)
    db = tmp_path / "faulty.sqlite"
    t0 = time.monotonic()
    summary = ingest([str(folder)], db, IngestOptions(workers=2, timeout=2, max_memory_mb=1024, extract_fn=FAULTY,
                                                      progress=False))
    assert time.monotonic() - t0 < 30
    rows = {Path(p).stem: (s, c) for p, s, c in sqlite3.connect(db).execute("SELECT path, status, error_code FROM documents")}
    assert rows == {"hang": ("failed", "timeout"), "crash": ("failed", "crash"), "memhog": ("failed", "memory"),
                    "raise": ("failed", "extract_failed"), "real_017": ("done", None), "real2_004": ("done", None)}
    assert summary.done == 2 and summary.workers_replaced >= 3


def test_expand_inputs(tmp_path):
    folder = make_mixed_folder(tmp_path)
    found = expand_inputs([str(folder)])
    assert len(found.paths) == N_INPUTS and not found.missing and not found.skipped  # notes.bin is not a report suffix
    assert len(expand_inputs([str(folder)], all_files=True).paths) == N_INPUTS + 1
    listfile = tmp_path / "list.txt"
    listfile.write_text(f"# reports\n{folder / 'examples' / 'real_002.txt'}\n\n{folder / 'examples'}/*.pdf\n"
                        f"{folder / 'nope.txt'}\n", "utf-8")
    found = expand_inputs([f"@{listfile}", str(folder / "examples" / "real_002.txt"), str(folder / "**" / "*.html")])
    assert [p.name for p in found.paths] == ["real_002.txt", "real2_002.pdf", "real2_004.html"]
    assert found.missing == [str(folder / "nope.txt")]


# ---------------------------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------------------------

def test_store_migrations_and_one_transaction_per_document(tmp_path):
    db = tmp_path / "s.sqlite"
    store = SQLiteStore(db)
    assert store.schema_version() == SCHEMA_VERSION == MIGRATIONS[-1][0]
    store.close()
    store = SQLiteStore(db)  # reopening applies nothing twice
    assert store.scalar("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)
    # A write that fails half-way leaves nothing behind.
    bad = DocumentResult(path="/x.txt", content_hash="ab" * 32, size=1, status="done", pipeline_version="v",
                         record={"agency": "某局", "fields": {"k": {"value": 1, "raw": "1", "confidence": 0.9}},
                                 "checks": [{"passed": True}]})  # a check without its rule
    with pytest.raises(KeyError):
        store.write_document(bad, overwrite=False)
    assert store.scalar("SELECT COUNT(*) FROM documents") == 0 and store.scalar("SELECT COUNT(*) FROM fields") == 0
    bad.record["checks"] = []
    # Keys a later stage adds to the contract come back as they went in.
    bad.record["fields"]["k"]["source"] = "ocr"
    bad.record["ocr"] = {"pages": [1]}
    doc_id, written = store.write_document(bad, overwrite=False)
    assert written and store.write_document(bad, overwrite=False) == (doc_id, False)
    rec = load_record(store, next(store.query("SELECT * FROM documents WHERE id = ?", (doc_id,))))
    assert rec["fields"]["k"] == {"value": 1, "raw": "1", "confidence": 0.9, "source": "ocr"}
    assert rec["ocr"] == {"pages": [1]}
    store.conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (999, 'later')")
    store.close()
    with pytest.raises(StoreError):
        SQLiteStore(db)


# ---------------------------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------------------------

def test_ray_engine_matches_local(reference, tmp_path):
    pytest.importorskip("ray")
    import ray

    from nianbao.ingest.ray_engine import start_local_ray

    folder, ref_db, _ = reference
    db = tmp_path / "ray.sqlite"
    start_local_ray(num_cpus=2)  # address='local', no dashboard, 127.0.0.1 only (checked inside)
    try:
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        summary = ingest([str(folder)], db, IngestOptions(engine="ray", workers=2, progress=False))
        shipped = ingest([str(folder)], tmp_path / "shipped.sqlite",  # bytes sent with each task
                         IngestOptions(engine="ray", workers=2, progress=False, ray_ship_files=True))
    finally:
        ray.shutdown()
    assert summary.engine == "ray" and summary.done == 12 and summary.duplicates == 1
    assert shipped.done == 12
    assert snapshot(db) == snapshot(ref_db)
    assert snapshot(tmp_path / "shipped.sqlite") == snapshot(ref_db)


# ---------------------------------------------------------------------------------------------
# exports
# ---------------------------------------------------------------------------------------------

def test_exports_every_format_and_shape(reference, tmp_path, capsys):
    _, db, _ = reference
    con = sqlite3.connect(db)
    n_fields = con.execute("SELECT COUNT(*) FROM fields").fetchone()[0]
    n_failed = con.execute("SELECT COUNT(*) FROM documents WHERE status = 'failed'").fetchone()[0]
    # A document without fields (failed, or no table found) is one row with an empty key.
    n_bare = con.execute("SELECT COUNT(*) FROM documents WHERE id NOT IN (SELECT document_id FROM fields)").fetchone()[0]
    assert n_bare == n_failed + 1
    n_review = con.execute("SELECT COUNT(*) FROM documents WHERE review_needed = 1").fetchone()[0]
    real_010 = dict(con.execute("SELECT f.key, f.value FROM fields f JOIN documents d ON d.id = f.document_id "
                                "WHERE d.path LIKE '%real_010.txt'").fetchall())
    con.close()

    # csv, long, to standard output
    assert main(["export", "--db", str(db), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == n_fields + n_bare
    assert set(rows[0]) >= {"path", "key", "value", "confidence", "status"}
    assert {r["key"] for r in rows if r["status"] == "failed"} == {""}
    assert sum(1 for r in rows if r["key"] == "") == n_bare
    # csv, wide
    wide = list(csv.DictReader(io.StringIO(export_text(db, "csv", shape="wide"))))
    assert len(wide) == N_DOCUMENTS and "requests.new.total" in wide[0] and "agency" in wide[0]
    row = next(r for r in wide if r["path"].endswith("real_010.txt"))
    assert row["requests.new.natural"] == str(real_010["requests.new.natural"])
    # jsonl: long, wide, record
    long_j = [json.loads(x) for x in export_text(db, "jsonl", shape="long").splitlines()]
    assert len(long_j) == n_fields + n_bare
    records = [json.loads(x) for x in export_text(db, "jsonl", shape="record").splitlines()]
    rec = next(r for r in records if r["source"].endswith("real_010.txt"))
    assert rec["fields"] == to_record(Pipeline().run(EXAMPLES / "real_010.txt"))["fields"]
    # parquet, read back with pyarrow
    import pyarrow.parquet as pq

    main(["export", "--db", str(db), "--format", "parquet", "--shape", "wide", "--out", str(tmp_path / "w.parquet")])
    table = pq.read_table(tmp_path / "w.parquet").to_pylist()
    assert len(table) == N_DOCUMENTS
    prow = next(r for r in table if r["path"].endswith("real_010.txt"))
    assert {k: prow[k] for k in real_010} == real_010
    main(["export", "--db", str(db), "--format", "parquet", "--shape", "long", "--out", str(tmp_path / "l.parquet")])
    assert pq.read_table(tmp_path / "l.parquet").num_rows == n_fields + n_bare
    # xlsx, read back with openpyxl
    from openpyxl import load_workbook

    for shape, expected in (("wide", N_DOCUMENTS), ("long", n_fields + n_bare)):
        out = tmp_path / f"{shape}.xlsx"
        main(["export", "--db", str(db), "--format", "xlsx", "--shape", shape, "--out", str(out)])
        ws = load_workbook(out, read_only=True).active
        values = list(ws.values)
        assert len(values) == expected + 1 and values[0][0] == "path"
    # filters
    assert len(list(csv.DictReader(io.StringIO(export_text(db, "csv", shape="wide", filters=_f(status="failed")))))) == n_failed
    assert len(list(csv.DictReader(io.StringIO(export_text(db, "csv", shape="wide", filters=_f(needs_review=True)))))) == n_review
    years = {r["year"] for r in csv.DictReader(io.StringIO(export_text(db, "csv", shape="wide", filters=_f(year=2021))))}
    assert years == {"2021"}
    assert main(["export", "--db", str(db), "--format", "csv", "--shape", "wide", "--template", "v2019"]) == 0
    assert {r["template"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))} == {"v2019"}
    # checks
    main(["export", "--db", str(db), "--checks", "--failed-only", "--format", "jsonl"])
    failed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert failed and all(not c["passed"] for c in failed)
    assert any(c["rule"] == "R2" and c["path"].endswith("real_010.txt") and c["difference"] == 2 for c in failed)
    assert main(["export", "--db", str(db), "--format", "xlsx"]) == 2  # binary formats need --out


def _f(**kw):
    from nianbao.ingest.store import Filters

    return Filters(**kw)


def test_xlsx_never_writes_formulas(tmp_path):
    db = tmp_path / "f.sqlite"
    store = SQLiteStore(db)
    store.write_document(DocumentResult(path="/r/=HYPERLINK(\"x\").txt", content_hash="cd" * 32, size=1, status="done",
                                        pipeline_version="v", record={"agency": "=1+1", "year": 2021, "fields": {}}),
                         overwrite=False)
    store.close()
    export(db, "xlsx", shape="wide", out=tmp_path / "f.xlsx")
    from openpyxl import load_workbook

    ws = load_workbook(tmp_path / "f.xlsx").active
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)


# ---------------------------------------------------------------------------------------------
# agencies and rule 5 across years
# ---------------------------------------------------------------------------------------------

def test_agency_normalisation():
    assert same_body("平潭综合实验区", "平潭综合实验区管委会")[0] == "same"
    assert same_body("平潭综合实验区", "平潭综合实验区党工委管委会")[0] == "same"
    assert same_body("平潭综合实验区管理委员会", "平潭综合实验区管委会") == ("same", 0.9)
    assert same_body("兴华街道", "兴华街道办事处")[0] == "same"
    assert same_body("淮安市洪泽区人民政府", "淮安市洪泽区")[0] == "same"
    assert same_body("平潭 综合实验区", "平潭综合实验区") == ("same", 1.0)  # spaces, width
    # Departments are other bodies than their government.
    assert same_body("平潭综合实验区", "平潭综合实验区财政金融局")[0] == "different"
    assert same_body("淮安市洪泽区人民政府", "淮安市洪泽区人民政府办公室")[0] == "different"
    assert same_body("福州市发展和改革委员会", "福州市")[0] == "different"
    assert normalise_agency("北京办事处").key == "北京办事处"  # 办事处 alone is kept
    n = normalise_agency("平潭综合实验区管委会")
    assert n.key == "平潭综合实验区" and 0.5 < n.confidence < 1.0
    assert normalise_agency("平潭综合实验区").confidence == 1.0
    # Named with its place: possibly the same body, flagged, not merged.
    kind, conf = same_body("下城区长庆街道", "长庆街道")
    assert kind == "possible" and conf < 0.9
    assert possible_matches(["下城区长庆街道", "长庆街道", "街道"]) == [("下城区长庆街道", "长庆街道", 0.6)]


def _result(path: str, agency: str, year: int, template: str, values: dict) -> DocumentResult:
    import hashlib

    fields = {k: {"value": v, "raw": str(v), "confidence": 0.995} for k, v in values.items()}
    return DocumentResult(path=path, content_hash=hashlib.sha256(path.encode()).hexdigest(), size=1, status="done",
                          pipeline_version="test", record={"agency": agency, "year": year, "template": template,
                                                           "fields": fields, "checks": []})


def test_rule5_across_years(tmp_path):
    src = (EXAMPLES / "real_002.txt").read_text("utf-8")  # 平潭综合实验区, 2019
    folder = tmp_path / "years"
    folder.mkdir()
    shutil.copy(EXAMPLES / "real_002.txt", folder / "2019.txt")
    (folder / "2020_guanweihui.txt").write_text(
        src.replace("2019", "2020").replace("平潭综合实验区2020年", "平潭综合实验区管委会2020年"), "utf-8")
    (folder / "2020.txt").write_text(src.replace("2019", "2020") + "\n", "utf-8")
    shutil.copy(EXAMPLES / "real_005.txt", folder / "2022.txt")  # same body, no 2021: no pair
    db = tmp_path / "years.sqlite"
    summary = ingest([str(folder)], db, IngestOptions(workers=1, progress=False))
    assert summary.done == 4
    store = SQLiteStore(db)
    docs = {Path(r["path"]).stem: r for r in store.query("SELECT * FROM documents")}
    assert docs["2020_guanweihui"]["agency"] == "平潭综合实验区管委会"
    assert {d["agency_normalised"] for d in docs.values()} == {"平潭综合实验区"}
    matches = list(store.query("SELECT agency_a, agency_b, relation FROM agency_matches"))
    assert {"agency_a": "平潭综合实验区", "agency_b": "平潭综合实验区管委会", "relation": "same"} in matches

    def values(doc_id):
        return {r["key"]: r["value"] for r in store.query("SELECT key, value FROM fields WHERE document_id = ?", (doc_id,))}

    stored = list(store.query("SELECT * FROM cross_year_checks ORDER BY id"))
    later_ids = {r["later_document_id"] for r in stored}
    assert later_ids == {docs["2020"]["id"], docs["2020_guanweihui"]["id"]}
    for later in ("2020", "2020_guanweihui"):
        expected = cross_year_checks(values(docs["2019"]["id"]), values(docs[later]["id"]), "v2019")
        got = [r for r in stored if r["later_document_id"] == docs[later]["id"]]
        assert [(r["rule"], bool(r["passed"]), r["detail"], r["difference"]) for r in got] == \
               [(c.rule, c.passed, c.detail, c.difference) for c in expected]
        assert len(got) == 7 and all(r["agency_match"] == "same" for r in got)

    # Crafted values: a broken carry-over, the in-force identity, and a possible match by place name.
    store.write_document(_result("/c/a.txt", "某某县人民政府", 2021, "v2021",
                                 {"requests.carried_forward.total": 5, "proactive.normative.in_force": 10}), overwrite=False)
    store.write_document(_result("/c/b.txt", "某某县", 2022, "v2021",
                                 {"requests.carried_over.total": 3, "proactive.normative.in_force": 12,
                                  "proactive.normative.issued": 2, "proactive.normative.repealed": 1}), overwrite=False)
    store.write_document(_result("/c/c.txt", "长庆街道", 2020, "v2019", {"requests.carried_over.total": 0}), overwrite=False)
    shutil.copy(EXAMPLES / "003_ab964e0bbb01e447.txt", folder / "changqing_2019.txt")  # 下城区长庆街道, 2019
    store.close()
    ingest([str(folder)], db, IngestOptions(workers=1, progress=False))
    out = [json.loads(x) for x in export_text(db, "jsonl", what="checks", failed_checks_only=False).splitlines()]
    cross = [c for c in out if c["scope"] == "cross_year"]
    county = [c for c in cross if c["agency_normalised"] == "某某县"]
    assert sorted((c["passed"], c["difference"]) for c in county) == [(False, -2.0), (False, 1.0)]
    assert all(c["other_path"] == "/c/a.txt" and c["other_year"] == 2021 for c in county)
    possible = [c for c in cross if c["agency_match"] == "possible"]
    assert possible and all(c["path"] == "/c/c.txt" and c["match_confidence"] < 0.7 for c in possible)


# ---------------------------------------------------------------------------------------------
# the audit report
# ---------------------------------------------------------------------------------------------

def test_report_is_produced_and_escapes_document_text(reference, tmp_path):
    _, ref_db, _ = reference
    db = tmp_path / "r.sqlite"
    shutil.copy(ref_db, db)
    store = SQLiteStore(db)
    evil = "<script>alert('x')</script>局"
    res = _result("/r/<img src=x onerror=alert(1)>.txt", evil, 2021, "v2021", {"requests.new.total": 1})
    res.record["checks"] = [{"rule": "R1", "passed": False, "detail": "<script>bad()</script>", "cells": [], "difference": 99}]
    store.write_document(res, overwrite=False)
    store.close()
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    page = out.read_text("utf-8")
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;局" in page
    assert page.count('src="data:image/png;base64,') >= 3
    for heading in ("Documents by status", "Rules: how often each fails", "Largest discrepancies", "Rule 5 across years"):
        assert heading in page
    assert "corrupt_pdf" in page and "real_010.txt" in page


def test_no_sql_outside_the_store_package():
    """The store owns its SQL (issue 14): ingestion, exports, reports and review call ``Store`` methods."""
    import re

    sql = re.compile(r"\.execute(many)?\(|\bSELECT\s+\S|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|"
                     r"\.conn\b|store\.query\(|\.scalar\(")
    offenders = []
    for folder in ("ingest", "review"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.parent.name == "store" and path.parent.parent.name == "ingest":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if sql.search(line) and not line.lstrip().startswith("#"):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
