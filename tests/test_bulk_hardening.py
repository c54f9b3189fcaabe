"""Bulk runs survive odd files, store errors are one line and exit 2, exits are honest (issue 11).

Probe cases kept as regression tests: a file name that is not UTF-8, a symlink loop, a FIFO named
``*.txt`` (hung the hashing thread), SIGTERM mid-run, a ``--db`` that is not SQLite or is another
program's database or is read-only, numbers printed as ``7.11734e+06``, ``Infinity`` in JSON.
"""
from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from nianbao.cli import collect_inputs, main
from nianbao.document import Check, Document, FieldValue
from nianbao.ingest.export import export_text
from nianbao.ingest.runner import IngestOptions, IngestSummary, _write, expand_inputs, ingest
from nianbao.ingest.store import DocumentResult, SQLiteStore, StoreError
from nianbao.ingest.worker import file_hash
from nianbao.inference.output import summary as human_summary
from nianbao.inputs import NotRegularFileError, display_path, path_from_display, skip_code
from nianbao.jsonio import dumps_strict
from nianbao.numfmt import full_number

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GOOD = EXAMPLES / "real_014.txt"
BAD_NAME = b"bad\xff\xfe.txt"  # not UTF-8
FAST = dict(workers=1, progress=False, cross_year=False)


def _cli(*args: str, timeout: float = 90, **kw) -> subprocess.CompletedProcess:
    """`nianbao ...` in a subprocess: bytes out, so that invalid UTF-8 would show."""
    return subprocess.run([sys.executable, "-m", "nianbao.cli", *args], capture_output=True, timeout=timeout, **kw)


def _strict_loads(line: bytes):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(line.decode("utf-8"), parse_constant=refuse)


def _odd_folder(root: Path) -> Path:
    """One good report under a name that is not UTF-8, a symlink loop, a FIFO named x.txt."""
    folder = root / "odd"
    folder.mkdir()
    shutil.copy(GOOD, os.path.join(os.fsencode(folder), BAD_NAME))
    os.symlink("loop_b.txt", folder / "loop_a.txt")
    os.symlink("loop_a.txt", folder / "loop_b.txt")
    os.mkfifo(folder / "x.txt")
    return folder


# ---------------------------------------------------------------------------------------------
# names that are not UTF-8
# ---------------------------------------------------------------------------------------------

def test_display_path_is_lossless_and_utf8():
    for raw in (b"bad\xff.txt", b"a\\xff.txt", b"x\\\\y\xfe\xe4\xb8\xad", "报告/中.txt".encode()):
        shown = display_path(os.fsdecode(raw))
        shown.encode("utf-8")  # always valid UTF-8
        assert os.fsencode(path_from_display(shown)) == raw
    assert display_path(os.fsdecode(b"bad\xff.txt")) == "bad\\xff.txt"
    assert display_path("/data/2021/报告.pdf") == "/data/2021/报告.pdf"  # ordinary names unchanged


def test_ingest_non_utf8_name_is_stored_escaped_and_reruns(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = os.path.join(os.fsencode(folder), BAD_NAME)
    shutil.copy(GOOD, bad)
    db = tmp_path / "s.sqlite"
    first = ingest([str(folder)], db, IngestOptions(**FAST))
    assert first.done == 1 and first.all_read
    again = ingest([str(folder)], db, IngestOptions(**FAST))  # used to fail in write_document on every rerun
    assert again.skipped == 1 and again.written == 0
    con = sqlite3.connect(db)
    (stored,) = con.execute("SELECT path FROM documents").fetchone()
    assert con.execute("SELECT path FROM sources").fetchall() == [(stored,)]
    assert stored.endswith("bad\\xff\\xfe.txt")
    assert os.fsencode(path_from_display(stored)) == os.path.realpath(bad)  # the exact name comes back
    out = export_text(db, fmt="jsonl", shape="record")
    assert _strict_loads(out.splitlines()[0].encode())["source"] == stored


def test_extract_jsonl_with_non_utf8_name_is_valid_utf8(tmp_path):
    folder = _odd_folder(tmp_path)
    out = _cli("extract", "--jsonl", "--mapper", "baseline", str(folder))
    assert out.returncode == 1, out.stderr  # the loop and the FIFO are inputs not read
    recs = {Path(r["source"]).name: r for r in map(_strict_loads, out.stdout.splitlines())}
    assert set(recs) == {"bad\\xff\\xfe.txt", "loop_a.txt", "loop_b.txt", "x.txt"}
    assert recs["bad\\xff\\xfe.txt"]["error"] is None and recs["bad\\xff\\xfe.txt"]["fields"]
    assert recs["loop_a.txt"]["error"]["code"] == "symlink_loop"
    assert recs["x.txt"]["error"]["code"] == "fifo"
    err = out.stderr.decode("utf-8").strip().splitlines()
    assert err[-1].startswith("nianbao extract: 4 files, 3 errors (fifo 1, symlink_loop 2), ")
    assert err[-1].endswith(" needing review")
    human = _cli("extract", "--mapper", "baseline", os.path.join(os.fsencode(folder), BAD_NAME))
    assert human.returncode == 0 and b"bad\\xff\\xfe.txt" in human.stdout
    human.stdout.decode("utf-8")


# ---------------------------------------------------------------------------------------------
# symlink loops, FIFOs, sockets, devices, unreadable files
# ---------------------------------------------------------------------------------------------

def test_symlink_loop_is_skipped_not_fatal(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    shutil.copy(GOOD, folder / "good.txt")
    os.symlink("b.txt", folder / "a.txt")
    os.symlink("a.txt", folder / "b.txt")
    found = expand_inputs([str(folder), str(folder / "a.txt")])  # Path.resolve used to raise here
    assert [p.name for p in found.paths] == ["good.txt"]
    assert Counter(s.code for s in found.skipped) == {"symlink_loop": 3}


def test_special_files_are_classified_and_never_opened(tmp_path):
    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    assert skip_code(fifo) == "fifo"
    with pytest.raises(NotRegularFileError) as e:
        file_hash(fifo)  # returns at once: opened without blocking, refused by fstat
    assert e.value.code == "fifo"
    dev = tmp_path / "null.txt"
    os.symlink("/dev/null", dev)
    assert skip_code(dev) == "device"
    sock_path = tmp_path / "s.txt"
    if len(os.fsencode(sock_path)) < 100:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(str(sock_path))
            assert skip_code(sock_path) == "socket"
        finally:
            s.close()
    os.symlink("nowhere.txt", tmp_path / "dangling.txt")
    assert skip_code(tmp_path / "dangling.txt") == "broken_symlink"
    assert skip_code(GOOD) is None and skip_code(tmp_path / "absent.txt") is None
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked.txt"
        locked.write_text("x")
        locked.chmod(0)
        assert skip_code(locked) == "unreadable"


def test_ingest_with_fifo_does_not_hang(tmp_path):
    folder = _odd_folder(tmp_path)
    db = tmp_path / "s.sqlite"
    # The old code hung forever in the hashing thread on x.txt (and ignored SIGTERM).
    out = _cli("ingest", str(folder), "--db", str(db), "--workers", "1", "--no-progress", "--json",
               "--mapper", "baseline", "--no-cross-year", timeout=60)
    assert out.returncode == 1, out.stderr  # three inputs were not read
    summary = json.loads(out.stdout)
    assert summary["done"] == 1
    assert sorted((Path(s["path"]).name, s["code"]) for s in summary["skipped_files"]) == \
        [("loop_a.txt", "symlink_loop"), ("loop_b.txt", "symlink_loop"), ("x.txt", "fifo")]


def test_extract_named_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    out = _cli("extract", "--jsonl", "--mapper", "baseline", str(fifo), timeout=60)
    assert out.returncode == 1
    assert _strict_loads(out.stdout.splitlines()[0])["error"]["code"] == "fifo"


# ---------------------------------------------------------------------------------------------
# SIGTERM
# ---------------------------------------------------------------------------------------------

def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_rerun_resumes(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    names = sorted(p.name for p in EXAMPLES.glob("*.txt"))[:8]
    for name in names:
        shutil.copy(EXAMPLES / name, folder / name)
    db = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-m", "nianbao.cli", "ingest", str(folder), "--db", str(db), "--workers", "1",
           "--no-progress", "--mapper", "baseline", "--extract-fn", "nianbao.ingest.testing:slow_extract"]
    proc = subprocess.Popen(cmd, env=dict(os.environ, NIANBAO_TEST_DELAY="0.3"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count(db) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr[-2000:]
    assert stdout.decode().startswith("INTERRUPTED")
    committed = _count(db)
    assert 2 <= committed < len(names)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT finished_at IS NOT NULL FROM runs").fetchall() == [(1,)]  # a clean stop
    con.close()
    again = _cli("ingest", str(folder), "--db", str(db), "--workers", "1", "--no-progress", "--json", "--mapper",
                 "baseline")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["skipped"] == committed and summary["written"] == len(names) - committed
    assert _count(db) == len(names)


# ---------------------------------------------------------------------------------------------
# store errors: one line, exit 2, the file untouched
# ---------------------------------------------------------------------------------------------

def _other_programs_db(path: Path) -> bytes:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO users (name) VALUES ('a')")
    con.commit()
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["not_sqlite", "other_program"])
def test_foreign_db_is_refused_and_left_untouched(tmp_path, capsys, kind):
    db = tmp_path / "x.sqlite"
    if kind == "not_sqlite":
        db.write_bytes(b"id,value\n1,2\n" * 100)
        before = db.read_bytes()
        expected = "is not a SQLite database"
    else:
        before = _other_programs_db(db)
        expected = "is not a nianbao store"
    for argv in (["ingest", str(GOOD), "--db", str(db), "--no-progress", "--workers", "1"],
                 ["export", "--db", str(db)], ["report", "--db", str(db), "--out", str(tmp_path / "r.html")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err and "Traceback" not in err, err
    assert main(["review", "--db", str(db), "--list"]) == 2  # any command that opens a store
    assert expected in capsys.readouterr().err
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sqlite"]  # no -wal, -shm, report
    with pytest.raises(StoreError):
        SQLiteStore(db)


def test_read_only_store_is_one_line_and_exit_2(tmp_path):
    """Run as another user when root (root writes anything), in a forked child."""
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"nianbao-ro-{os.getpid()}"
    base.mkdir(mode=0o755)
    try:
        db = base / "ro.sqlite"
        SQLiteStore(db).close()
        ok = ingest([str(GOOD)], db, IngestOptions(**FAST))
        assert ok.done == 1
        os.chmod(db, 0o444)
        shutil.copy(GOOD, base / "new.txt")
        os.chmod(base / "new.txt", 0o644)
        (base / "new.txt").write_text(GOOD.read_text("utf-8") + "\n另一份\n", "utf-8")
        os.chmod(base, 0o555)
        before = db.read_bytes()
        # Every command's modules are imported before the child drops to another user, who cannot read
        # root's Python installation (a lazily imported module would fail there, not the store).
        from nianbao.cli import build_parser
        build_parser()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 99
            try:
                os.close(err_r)
                if os.geteuid() == 0:
                    os.setgid(65534)
                    os.setuid(65534)
                sys.stderr = os.fdopen(err_w, "w")
                code = main(["ingest", str(base / "new.txt"), "--db", str(db), "--no-progress", "--workers", "1"])
                sys.stderr.flush()
            except BaseException as e:  # noqa: BLE001 - reported to the parent as an exit code
                try:
                    sys.stderr.write(f"child raised {type(e).__name__}: {e}\n")
                    sys.stderr.flush()
                except Exception:
                    pass
                code = 98
            os._exit(code)
        os.close(err_w)
        with os.fdopen(err_r) as f:
            err = f.read().strip()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 2, err
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "read-only" in err or "cannot open" in err, err
        assert db.read_bytes() == before
    finally:
        os.chmod(base, 0o755)
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# honest exits, --version, --exclude, the summary line, the memory cap
# ---------------------------------------------------------------------------------------------

def test_exit_codes(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("nianbao 0.")
    with pytest.raises(SystemExit) as e:
        main(["extract", "--no-such-option", str(GOOD)])
    assert e.value.code == 2
    assert main(["extract", "--jsonl", "--mapper", "baseline", str(GOOD)]) == 0
    assert main(["extract", "--jsonl", "--mapper", "baseline", str(GOOD), str(tmp_path / "absent.txt")]) == 1
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["extract", "--mapper", "baseline", str(tmp_path / "empty.txt")]) == 1
    assert main(["evaluate", "--gold", str(tmp_path / "no-gold")]) == 2
    assert main(["export", "--db", str(tmp_path / "absent.sqlite")]) == 2
    db = str(tmp_path / "s.sqlite")
    ingest_args = ["--db", db, "--no-progress", "--workers", "1", "--mapper", "baseline", "--no-cross-year"]
    assert main(["ingest", str(GOOD), *ingest_args]) == 0
    assert main(["ingest", str(GOOD), *ingest_args]) == 0  # nothing new: every input is in the store
    assert main(["ingest", str(tmp_path / "empty.txt"), *ingest_args]) == 1  # a failed document
    assert main(["ingest", str(tmp_path / "absent.txt"), *ingest_args]) == 1
    assert main(["ingest", str(GOOD), "--db", str(tmp_path), "--no-progress"]) == 2  # a folder as --db


def test_extract_says_when_a_folder_holds_no_report(tmp_path, capsys):
    (tmp_path / "notes.csv").write_text("a,b\n")
    assert main(["extract", "--jsonl", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no report file in {tmp_path}" in captured.err
    assert captured.err.strip().splitlines()[-1] == "nianbao extract: 0 files, 0 errors, 0 needing review"


def test_exclude_on_extract_and_ingest(tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "drafts").mkdir(parents=True)
    shutil.copy(GOOD, folder / "report.txt")
    (folder / "NOTES.md").write_text("街道办事处 2021 年 12 34 56\n", "utf-8")
    shutil.copy(EXAMPLES / "real_017.txt", folder / "drafts" / "draft.txt")
    found = collect_inputs([str(folder)], ["*.md", "drafts"])
    assert [i.path.name for i in found.inputs] == ["report.txt"] and found.excluded == 2
    assert main(["extract", "--jsonl", "--mapper", "baseline", "--exclude", "*.md", "--exclude", "drafts",
                 str(folder)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and "1 file, 0 errors" in captured.err and "2 excluded" in captured.err
    summary = ingest([str(folder)], tmp_path / "s.sqlite", IngestOptions(**FAST, exclude=("*.md", "drafts")))
    assert summary.inputs == 1 and summary.excluded == 2 and summary.done == 1


def test_extract_memory_cap_fails_the_document_and_goes_on(tmp_path, capsys, monkeypatch):
    from nianbao.inference.pipeline import Pipeline

    real_run = Pipeline.run

    def hungry_run(self, path):
        if "hog" in str(path):
            blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]  # 4 GiB: past a 256 MB cap
            return blocks
        return real_run(self, path)

    monkeypatch.setattr(Pipeline, "run", hungry_run)
    hog = tmp_path / "hog.txt"
    shutil.copy(GOOD, hog)
    limit_before = resource.getrlimit(resource.RLIMIT_AS)
    assert main(["extract", "--jsonl", "--mapper", "baseline", "--max-memory-mb", "256", str(hog), str(GOOD)]) == 1
    assert resource.getrlimit(resource.RLIMIT_AS) == limit_before  # the cap is lifted after each document
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["error"]["code"] == "memory" and second["error"] is None and second["fields"]


# ---------------------------------------------------------------------------------------------
# numbers in full, "+N more", strict JSON
# ---------------------------------------------------------------------------------------------

def test_numbers_are_printed_in_full():
    assert full_number(7117339.04) == "7117339.04"
    assert full_number(75394432.52) == "75394432.52"
    assert full_number(12345678901234567) == "12345678901234567"
    assert full_number(1e20) == "100000000000000000000"
    assert full_number(3.0) == "3"
    doc = Document(source="x.txt", template="v2021")
    doc.fields = {"requests.fees.amount": FieldValue(value=7117339.04, raw="7117339.04", confidence=0.99)}
    doc.checks = [Check(rule="R1", passed=False, detail=f"row {i}: total 1 vs 2", cells=[], difference=1.0)
                  for i in range(11)]
    doc.review.needed = True
    doc.review.reasons = [f"reason {i}" for i in range(10)]
    text = human_summary(doc)
    assert "= 7117339.04 " in text and "e+06" not in text
    assert "+3 more failed checks" in text and "+2 more reasons" in text

    from nianbao.inference.reconcile import cross_year_checks  # noqa: F401  (module imports)
    from nianbao.inference import reconcile

    check = reconcile._check("R1", 7117339.04, 7117339.0, [], "money")
    assert "7.11" not in check.detail.replace("7117339", "") and "0.04" in check.detail


def test_decoder_reasons_print_numbers_in_full_and_count_what_is_cut():
    from nianbao.inference.decode import _alt_text

    assert _alt_text([7117339.04, 1.0, 2.0, 3.0, 4.0, 5.0]) == "7117339.04, 1, 2, 3 +2 more"
    assert _alt_text([75394432.52]) == "75394432.52"


def test_report_prints_numbers_in_full():
    from nianbao.ingest.report import esc

    assert esc(7117339.04) == "7117339.04" and esc(75394432.52) == "75394432.52"


def test_dumps_strict_refuses_nan_and_keeps_utf8():
    with pytest.raises(ValueError):
        dumps_strict({"v": float("nan")})
    with pytest.raises(ValueError):
        dumps_strict([float("inf")])
    text = dumps_strict({"path": os.fsdecode(b"bad\xff.txt"), "机关": "区政府"})
    text.encode("utf-8")
    assert json.loads(text) == {"path": "bad\\xff.txt", "机关": "区政府"}


def _result(tmp_path: Path, name: str, **field) -> DocumentResult:
    record = {"source": name, "agency": "某区政府", "year": 2021, "template": "v2021", "tables": {},
              "fields": {"requests.new.total": {"value": 1, "raw": "1", "confidence": 0.9, **field}},
              "checks": [], "review": {"needed": False, "reasons": []}, "error": None}
    return DocumentResult(path=str(tmp_path / name), content_hash=name * 8, size=1, status="done",
                          pipeline_version="test", record=record)


def test_a_result_the_store_cannot_take_fails_alone(tmp_path):
    db = tmp_path / "s.sqlite"
    store = SQLiteStore(db)
    summary = IngestSummary()
    run = store.start_run("test", {})
    _write(store, _result(tmp_path, "nan", alternatives=[float("nan")]), {}, summary, run)
    _write(store, _result(tmp_path, "big", value=10 ** 30), {}, summary, run)
    _write(store, _result(tmp_path, "fine"), {}, summary, run)
    rows = dict(store.conn.execute("SELECT content_hash, COALESCE(error_code, status) FROM documents").fetchall())
    store.close()
    assert rows == {"nan" * 8: "unstorable", "big" * 8: "unstorable", "fine" * 8: "done"}
    assert summary.done == 1 and summary.failed == Counter({"unstorable": 2})


def test_exports_never_write_infinity(tmp_path):
    db = tmp_path / "s.sqlite"
    store = SQLiteStore(db)
    store.write_document(_result(tmp_path, "a"), overwrite=False)
    store.conn.execute("UPDATE fields SET value = ?, confidence = ?", (math.inf, math.inf))  # an older nianbao's
    store.close()
    for shape in ("long", "wide", "record"):
        out = export_text(db, fmt="jsonl", shape=shape)
        assert "Infinity" not in out and "NaN" not in out
        for line in out.splitlines():
            _strict_loads(line.encode())


# ---------------------------------------------------------------------------------------------
# properties: the path escaping and the JSON writer
# ---------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_names = st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\x00", b"_"))


@settings(max_examples=300, deadline=None)
@given(_names)
def test_display_path_round_trips_any_name(raw):
    shown = display_path(os.fsdecode(raw))
    shown.encode("utf-8")
    assert os.fsencode(path_from_display(shown)) == raw
    if b"\\" not in raw:
        try:
            assert shown == raw.decode("utf-8")  # valid UTF-8 names are shown as they are
        except UnicodeDecodeError:
            pass


_text = st.one_of(st.text(max_size=20), _names.map(os.fsdecode))
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=20)


def _has_nonfinite(v) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, dict):
        return any(_has_nonfinite(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_nonfinite(x) for x in v)
    return False


@settings(max_examples=150, deadline=None)
@given(_json_values)
def test_dumps_strict_is_strict_json_in_utf8_or_refuses(value):
    try:
        text = dumps_strict(value)
    except ValueError:
        assert _has_nonfinite(value)
        return
    assert not _has_nonfinite(value)
    _strict_loads(text.encode("utf-8"))  # valid UTF-8, no NaN/Infinity
