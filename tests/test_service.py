"""`nianbao serve`: a real server on a free port, spoken to over HTTP with urllib (no test client)."""
from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nianbao import service as service_module
from nianbao.cli import main as cli_main
from nianbao.service import ServiceConfig, make_server, stored_name, upload_name

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
REAL = ["real_005.txt", "real2_004.html", "real2_002.pdf"]
BROKEN = {"empty.txt": (b"", "empty_file"), "garbage.pdf": (b"%PDF-1.4\n" + bytes(range(256)) * 8, "corrupt_pdf"),
          "noise.txt": (bytes(range(256)) * 16, "not_text")}


class Server:
    def __init__(self, **options):
        options.setdefault("worker_kind", "thread")
        options.setdefault("workers", 3)
        self.config = ServiceConfig(port=0, **options)
        self.httpd = make_server(self.config)
        self.service = self.httpd.nianbao_service
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.service.close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(12)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of one request; error statuses too."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        assert e.headers.get("Content-Type", "").startswith("application/json"), raw[:200]
        return e.code, json.loads(raw), dict(e.headers)


def upload(url: str, filename: str, data: bytes, path: str = "/v1/extract", headers: dict | None = None):
    body, ctype = multipart("file", filename, data)
    return call(url + path, "POST", body, {"Content-Type": ctype, **(headers or {})})


def cli_records(paths: list[Path], capsys) -> dict[str, dict]:
    """What `nianbao extract --jsonl` prints for these files, by file name."""
    capsys.readouterr()
    cli_main(["extract", "--jsonl", *map(str, paths)])
    lines = capsys.readouterr().out.splitlines()
    return {Path(r["source"]).name: r for r in map(json.loads, lines)}


def test_health_openapi_docs(server):
    status, body, _ = call(server.url + "/healthz")
    assert status == 200 and body["status"] == "ok"
    status, doc, _ = call(server.url + "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {"/healthz", "/v1/extract", "/v1/jobs", "/v1/jobs/{id}"} <= set(doc["paths"])
    with urllib.request.urlopen(server.url + "/docs", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/html") and b"/v1/extract" in r.read()


def test_concurrent_real_and_broken_uploads_equal_extract(server, tmp_path, capsys):
    for name, (data, _) in BROKEN.items():
        (tmp_path / name).write_bytes(data)
    expected = cli_records([EXAMPLES / n for n in REAL] + [tmp_path / n for n in BROKEN], capsys)
    uploads = [(n, (EXAMPLES / n).read_bytes()) for n in REAL] + [(n, d) for n, (d, _) in BROKEN.items()]
    assert len(uploads) == 6
    with ThreadPoolExecutor(len(uploads)) as pool:  # six at once against three workers and a queue
        answers = list(pool.map(lambda u: upload(server.url, *u), uploads))
    for (name, _), (status, record, _) in zip(uploads, answers):
        want = dict(expected[name], source=name)
        assert record == want, name
        if name in BROKEN:
            assert status == 422 and record["error"]["code"] == BROKEN[name][1]
        else:
            assert status == 200 and record["error"] is None and record["fields"]
    assert list(server.service.upload_root.iterdir()) == []  # every upload deleted once read


def test_errors_are_json_with_codes(server):
    status, body, _ = call(server.url + "/v1/extract", "POST", b"plain", {"Content-Type": "text/plain"})
    assert status == 400 and body["error"]["code"] == "no_file"
    status, body, _ = call(server.url + "/v1/jobs/nope")
    assert status == 404 and body["error"]["code"] == "no_job"
    status, body, _ = call(server.url + "/v1/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = call(server.url + "/v1/extract")  # GET on a POST route
    assert status == 405 and "error" in body


def test_client_path_is_never_used(server):
    status, record, _ = upload(server.url, "../../../tmp/evil/real_005.txt", (EXAMPLES / "real_005.txt").read_bytes())
    assert status == 200 and record["source"] == "real_005.txt"
    assert upload_name("..\\..\\x\\report.pdf") == "report.pdf" and upload_name("") == "upload"
    assert upload_name("a\x00b\n.txt") == "ab.txt"
    assert stored_name("..") == "upload" and stored_name(".bashrc") == "upload.bashrc"
    assert len(stored_name("长" * 300 + ".pdf").encode()) <= 200 and stored_name("长" * 300 + ".pdf").endswith(".pdf")
    assert list(server.service.upload_root.iterdir()) == []
    assert server.service.upload_root.stat().st_mode & 0o077 == 0  # private folder


def test_host_check(server):
    status, body, _ = call(server.url + "/healthz", headers={"Host": "rebound.example.com"})
    assert status == 400 and body["error"]["code"] == "bad_host"
    assert call(server.url + "/healthz", headers={"Host": "localhost:1"})[0] == 200


def test_upload_size_limit():
    s = Server(max_upload_mb=0.01)  # about 10 kB
    try:
        status, body, _ = upload(s.url, "big.txt", b"1" * 200_000)
        assert status == 413 and body["error"]["code"] == "too_large"
        status, _, _ = upload(s.url, "real_005.txt", (EXAMPLES / "real_005.txt").read_bytes()[:8000])
        assert status in (200, 422)  # under the limit: read (a cut report may lack its tables)
    finally:
        s.close()


def test_token_and_bind_rules():
    with pytest.raises(ValueError, match="--token"):
        make_server(ServiceConfig(host="0.0.0.0", port=0, worker_kind="thread"))
    with pytest.raises(ValueError, match="at least 16"):
        ServiceConfig(token="short")
    token = "t" * 20
    s = Server(token=token)
    try:
        status, body, _ = upload(s.url, "real_005.txt", b"x")
        assert status == 401 and body["error"]["code"] == "unauthorised"
        status, body, _ = upload(s.url, "a.txt", b"x", headers={"Authorization": "Bearer " + "u" * 20})
        assert status == 401
        status, record, _ = upload(s.url, "real_005.txt", (EXAMPLES / "real_005.txt").read_bytes(),
                                   headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and record["fields"]
        assert call(s.url + "/healthz")[0] == 200  # health needs no token
    finally:
        s.close()


def test_full_queue_answers_503(monkeypatch):
    gate = threading.Event()
    started = threading.Event()
    real = service_module.extract_record

    def held(*args):
        started.set()
        gate.wait(20)
        return real(*args)

    monkeypatch.setattr(service_module, "extract_record", held)
    s = Server(workers=1, queue=0)
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(upload, s.url, "real_005.txt", (EXAMPLES / "real_005.txt").read_bytes())
            assert started.wait(10)
            status, body, headers = upload(s.url, "real_010.txt", (EXAMPLES / "real_010.txt").read_bytes())
            assert status == 503 and body["error"]["code"] == "busy" and headers.get("Retry-After")
            gate.set()
            assert first.result(30)[0] == 200
        assert upload(s.url, "real_010.txt", (EXAMPLES / "real_010.txt").read_bytes())[0] == 200  # slot freed
    finally:
        gate.set()
        s.close()


def test_job_polling(server, capsys):
    status, job, headers = upload(server.url, "real2_004.html", (EXAMPLES / "real2_004.html").read_bytes(), "/v1/jobs")
    assert status == 202 and job["status"] in ("queued", "running", "done") and headers["Location"] == job["url"]
    deadline = time.monotonic() + 30
    while True:
        status, polled, _ = call(server.url + job["url"])
        assert status == 200 and polled["id"] == job["id"]
        if polled["status"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    expected = cli_records([EXAMPLES / "real2_004.html"], capsys)["real2_004.html"]
    assert polled["status"] == "done" and polled["result"] == dict(expected, source="real2_004.html")


@pytest.mark.slow
def test_process_workers(capsys):
    s = Server(worker_kind="process", workers=2)
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda u: upload(s.url, *u),
                                    [("real_005.txt", (EXAMPLES / "real_005.txt").read_bytes()), ("empty.txt", b"")]))
        expected = cli_records([EXAMPLES / "real_005.txt"], capsys)["real_005.txt"]
        assert answers[0][0] == 200 and answers[0][1] == dict(expected, source="real_005.txt")
        assert answers[1][0] == 422 and answers[1][1]["error"]["code"] == "empty_file"
    finally:
        s.close()


@pytest.mark.slow
def test_process_workers_isolate_hang_crash_and_memory(capsys):
    """A document that hangs fails `timeout`, one that kills its worker `crash`, one past the memory cap
    `memory`; a report read beside them is unharmed."""
    s = Server(worker_kind="process", workers=2, timeout_s=8, max_memory_mb=1024,
               extract_fn="nianbao.ingest.testing:faulty_extract")
    report = (EXAMPLES / "real_005.txt").read_bytes()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = dict(zip(["hang.txt", "crash.txt", "memhog.txt", "real_005.txt"], pool.map(
                lambda n: upload(s.url, n, report), ["hang.txt", "crash.txt", "memhog.txt", "real_005.txt"])))
        codes = {n: (a[0], (a[1]["error"] or {}).get("code")) for n, a in answers.items()}
        assert codes == {"hang.txt": (422, "timeout"), "crash.txt": (422, "crash"), "memhog.txt": (422, "memory"),
                         "real_005.txt": (200, None)}
        expected = cli_records([EXAMPLES / "real_005.txt"], capsys)["real_005.txt"]
        assert answers["real_005.txt"][1] == dict(expected, source="real_005.txt")
        assert upload(s.url, "real_005.txt", report)[0] == 200  # the pool was replaced and still answers
    finally:
        s.close()


def test_serve_is_a_command():
    from nianbao.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "0", "--workers", "3", "--max-upload-mb", "5", "--timeout", "9"])
    assert (args.port, args.workers, args.max_upload_mb, args.timeout, args.host) == (0, 3, 5.0, 9.0, "127.0.0.1")
    assert args.func is service_module.cmd_serve
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2  # public without a token: refused, exit 2
