"""`nianbao serve`: the extractor as an HTTP service.

    nianbao serve [--host 127.0.0.1] [--port 8080] [--workers N] [--token T] [--max-upload-mb M]

- ``GET /healthz``; ``GET /openapi.json`` (OpenAPI 3, written by hand below) and ``GET /docs``;
- ``POST /v1/extract`` with a multipart field ``file``: the output contract of that file, the very
  record ``nianbao extract --jsonl`` writes for it (``source`` is the uploaded file's own name);
  200 when it was read, 422 with the same record when it was not (its ``error`` names the code);
- ``POST /v1/jobs`` (same upload) answers 202 with a job id at once; ``GET /v1/jobs/{id}`` polls it
  (``queued``, ``running``, ``done`` with the record): for scans, which take longer than a request should.

Limits, so that a client cannot exhaust the machine: a fixed set of workers (processes by default,
each with the memory cap: a document that crashes its worker, passes the cap or runs past
``--timeout`` fails alone, ``crash`` / ``memory`` / ``timeout``, and its worker is replaced) and a
bounded queue before them (503 ``busy`` with Retry-After when full); an upload larger than ``--max-upload-mb`` is refused
(413 ``too_large``) before it is stored. Every answer is JSON (errors: ``{"error": {"code", "message"}}``);
bad input is never a 5xx.

Uploaded bytes go to a private folder (mode 0700), each in a randomly named folder of its own under
the client's last name part (never its path), and are deleted once read. Like the review app, it
binds to 127.0.0.1 unless an access token is given (``Authorization: Bearer T`` on every /v1 request), and
answers only Host names it is reached by (loopback, the bound address, ``--allow-host``): the review
app's checks, shared with it in ``nianbao/web.py``.
"""
from __future__ import annotations

import hmac
import os
import queue
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Optional

from nianbao import __version__

DEFAULT_PORT = 8080
DEFAULT_MAX_UPLOAD_MB = 50
DEFAULT_QUEUE = 16           # uploads waiting behind the busy workers before 503
JOB_KEEP_S = 3600            # a finished job's result is kept this long for polling
MAX_JOBS_KEPT = 1000         # and at most this many finished jobs (the oldest go first)


@dataclass
class ServiceConfig:
    """One object configures the service (the CLI fills it)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 2
    queue: int = DEFAULT_QUEUE
    token: Optional[str] = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_memory_mb: int = 4096            # per document (process workers only: the cap is per process)
    timeout_s: float = 600               # per document (process workers only: a stuck one is killed; 0: none)
    worker_kind: str = "process"         # "process" or "thread" (threads: no memory cap, for tests and tiny hosts)
    spotter: str = "classifier"
    allow_hosts: tuple[str, ...] = ()
    upload_dir: Optional[Path] = None    # the private folder's parent (default: the system's temp folder)
    extract_fn: Optional[str] = None     # tests: "module:function" run as fn(pipeline, path) (nianbao.ingest.testing)

    def __post_init__(self):
        from nianbao.web import check_token

        check_token(self.token)
        if self.workers < 1:
            raise ValueError("--workers must be at least 1")
        if self.queue < 0:
            raise ValueError("--queue must be 0 or more")
        if not self.max_upload_mb > 0:
            raise ValueError("--max-upload-mb must be more than 0")
        if self.worker_kind not in ("process", "thread"):
            raise ValueError(f"unknown worker kind {self.worker_kind!r}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def allowed_hosts(self) -> frozenset[str]:
        from nianbao.web import allowed_host_names

        return allowed_host_names(self.host, self.allow_hosts)


class ServiceError(Exception):
    """An answer other than a record: HTTP status, a code and a message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# -- the work: one uploaded file -> its record (runs in a worker) ---------------------------------
_worker_state = threading.local()


@dataclass
class _HookedPipeline:
    """A pipeline whose ``run`` goes through a test hook (a document that hangs, crashes, eats memory)."""
    pipeline: object
    hook: object

    def run(self, path):
        return self.hook(self.pipeline, path)


def _init_worker(spotter: str, extract_fn: Optional[str] = None) -> None:
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    pipeline = Pipeline(PipelineOptions(spotter=spotter))
    if extract_fn:
        from nianbao.ingest.worker import resolve_extract_fn

        pipeline = _HookedPipeline(pipeline, resolve_extract_fn(extract_fn))
    _worker_state.pipeline = pipeline


def extract_record(path: str, source: str, max_memory_mb: int) -> dict:
    """The output contract of one file, as ``nianbao extract --jsonl`` writes it, under the name ``source``."""
    from nianbao.extraction import ExtractInput, extract_one, failed_document
    from nianbao.inference.output import to_record
    from nianbao.inputs import skip_code
    from nianbao.jsonio import dumps_strict

    pipeline = getattr(_worker_state, "pipeline", None)
    if pipeline is None:
        _init_worker("classifier")
        pipeline = _worker_state.pipeline
    try:
        doc = extract_one(pipeline, ExtractInput(Path(path), skip_code(Path(path))), max_memory_mb)
    except Exception as e:  # extract_one never raises for a file; a bug must not take the service down
        doc = failed_document(source, "crash", f"{type(e).__name__}: {e}")
    doc.source = source
    record = to_record(doc)
    try:
        dumps_strict(record)
    except ValueError as e:  # NaN or infinity: no printed number is one (as `nianbao extract --jsonl`)
        record = _failed_record(source, "invalid_value", f"the result holds a value that is not a number: {e}")
    return record


# -- uploads ---------------------------------------------------------------------------------------
def upload_name(filename: Optional[str]) -> str:
    """The name an upload is reported under: the last part of the client's name (either slash), no
    control characters; ``upload`` when nothing is left. Used as the record's ``source`` only."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name or "upload"


def stored_name(filename: Optional[str]) -> str:
    """The name the stored copy gets inside its own private folder: the client's last name part (so the
    reader's messages name it as `nianbao extract` would), never hidden, at most 200 bytes, suffix kept."""
    name = upload_name(filename)
    if name.startswith("."):
        name = "upload" + (name if name not in (".", "..") else "")
    stem, suffix = (name.rsplit(".", 1)[0], "." + name.rsplit(".", 1)[1]) if "." in name else (name, "")
    if len(suffix.encode()) > 16:
        stem, suffix = name, ""
    while len((stem + suffix).encode("utf-8", "surrogateescape")) > 200:
        stem = stem[:-1]
    return (stem or "upload") + suffix


# -- jobs ------------------------------------------------------------------------------------------
@dataclass
class Job:
    id: str
    source: str
    created: float = field(default_factory=time.time)
    started: Optional[float] = None
    finished: Optional[float] = None
    record: Optional[dict] = None

    @property
    def status(self) -> str:
        return "done" if self.record is not None else "running" if self.started else "queued"

    def as_json(self) -> dict:
        out = {"id": self.id, "status": self.status, "source": self.source}
        if self.record is not None:
            out["result"] = self.record
        return out


class ExtractionService:
    """The pool, its bounded queue, the private upload folder and the jobs; independent of HTTP."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.upload_root = Path(tempfile.mkdtemp(prefix="nianbao-serve-", dir=config.upload_dir))  # mode 0700
        self._slots = threading.BoundedSemaphore(config.workers + config.queue)  # uploads held, waiting or read
        # One single-worker executor per worker: a document that kills its process breaks its own
        # executor only (the culprit is known, neighbours go on), and nothing queues inside one, so a
        # timeout measures the document's own time.
        self._free: queue.SimpleQueue[Executor] = queue.SimpleQueue()
        self._executors: list[Executor] = [self._new_executor() for _ in range(config.workers)]
        for executor in self._executors:
            self._free.put(executor)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def _new_executor(self) -> Executor:
        if self.config.worker_kind == "thread":
            return ThreadPoolExecutor(1, thread_name_prefix="nianbao-serve",
                                      initializer=_init_worker, initargs=(self.config.spotter, self.config.extract_fn))
        import multiprocessing as mp

        return ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.config.spotter, self.config.extract_fn))

    def _replace(self, broken: Executor, kill: bool = False) -> Executor:
        """A fresh executor for a broken one; ``kill``: stop its process now (a worker stuck in a
        document cannot be cancelled otherwise)."""
        if kill:
            _kill_processes(broken)
        broken.shutdown(wait=False, cancel_futures=True)
        fresh = self._new_executor()
        with self._lock:
            self._executors = [fresh if e is broken else e for e in self._executors]
        return fresh

    def close(self) -> None:
        with self._lock:
            executors = list(self._executors)
        for executor in executors:
            _kill_processes(executor)  # a worker stuck in a document would otherwise hold the exit
            executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.upload_root, ignore_errors=True)

    # a slot is held from the upload's arrival until its record is ready
    def take_slot(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise ServiceError(503, "busy", f"all {self.config.workers} workers are busy and {self.config.queue} "
                                            f"uploads are waiting; try again shortly")

    def release_slot(self) -> None:
        self._slots.release()

    def store_upload(self, stream, filename: Optional[str]) -> Path:
        """The upload's bytes in a folder of its own (random name) inside the private folder; the caller
        deletes it (``discard``)."""
        folder = self.upload_root / secrets.token_hex(16)
        folder.mkdir(mode=0o700)
        path = folder / stored_name(filename)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        except BaseException:
            self.discard(path)
            raise
        return path

    def discard(self, path: Path) -> None:
        shutil.rmtree(path.parent, ignore_errors=True)

    def run(self, path: Path, source: str, on_start=None) -> dict:
        """The record of a stored upload (blocks until a worker is free); deletes the upload and frees
        the slot, whatever happens. Process workers: a document past ``timeout_s`` fails ``timeout``,
        one whose worker dies fails ``crash``; either way that worker is replaced."""
        executor = self._free.get()
        try:
            if on_start:
                on_start()
            processes = self.config.worker_kind == "process"
            timeout = self.config.timeout_s if processes and self.config.timeout_s else None
            future = executor.submit(extract_record, str(path), source, self.config.max_memory_mb if processes else 0)
            try:
                return future.result(timeout=timeout)
            except FutureTimeout:
                executor = self._replace(executor, kill=True)
                return _failed_record(source, "timeout", f"stopped after {timeout:g} s (--timeout)")
            except BrokenProcessPool:
                executor = self._replace(executor)
                return _failed_record(source, "crash", "the worker reading this file stopped (a crash, or killed "
                                                       "by the system for memory)")
        finally:
            self._free.put(executor)
            self.discard(path)
            self._slots.release()

    def start_job(self, path: Path, source: str) -> Job:
        job = Job(id=secrets.token_urlsafe(16), source=source)
        with self._lock:
            self._forget_old_jobs()
            self._jobs[job.id] = job

        def work():
            record = self.run(path, source, on_start=lambda: setattr(job, "started", time.time()))
            job.record, job.finished = record, time.time()

        threading.Thread(target=work, name=f"nianbao-job-{job.id[:6]}", daemon=True).start()
        return job

    def job(self, job_id: str) -> Optional[Job]:
        with self._lock:
            return self._jobs.get(job_id)

    def _forget_old_jobs(self) -> None:
        now = time.time()
        done = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.finished)
        for j in done:
            if now - j.finished > JOB_KEEP_S or len(self._jobs) > MAX_JOBS_KEPT:
                del self._jobs[j.id]


def _kill_processes(executor: Executor) -> None:
    for process in list((getattr(executor, "_processes", None) or {}).values()):  # private, stable since 3.8
        process.kill()


def _failed_record(source: str, code: str, message: str) -> dict:
    from nianbao.extraction import failed_document
    from nianbao.inference.output import to_record

    return to_record(failed_document(source, code, message))


# -- HTTP ------------------------------------------------------------------------------------------
def create_app(config: ServiceConfig, service: Optional[ExtractionService] = None):
    from flask import Flask, Response, jsonify, request
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

    from nianbao.web import StrictJSONProvider, split_host

    service = service or ExtractionService(config)
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.json.ensure_ascii = False
    app.config.update(MAX_CONTENT_LENGTH=config.max_upload_bytes + 64 * 1024,  # the multipart envelope
                      MAX_FORM_MEMORY_SIZE=64 * 1024)
    app.extensions["nianbao_service"] = service
    allowed_hosts = config.allowed_hosts()

    def error(status: int, code: str, message: str, **headers):
        response = jsonify(error={"code": code, "message": message})
        response.status_code = status
        response.headers.update(headers)
        return response

    @app.before_request
    def guard():
        name, _ = split_host(request.headers.get("Host") or "")
        if name not in allowed_hosts:
            return error(400, "bad_host", "this host name is not served here (nianbao serve --allow-host NAME adds one)")
        if config.token and request.path.startswith("/v1/"):
            given = request.headers.get("Authorization", "")
            if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), config.token)):
                return error(401, "unauthorised", "this service needs its access token: Authorization: Bearer TOKEN")

    @app.after_request
    def headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        return response

    @app.errorhandler(ServiceError)
    def service_error(e: ServiceError):
        extra = {"Retry-After": "5"} if e.status == 503 else {}
        return error(e.status, e.code, e.message, **extra)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_e):
        return error(413, "too_large", f"the upload is larger than {config.max_upload_mb:g} MB (--max-upload-mb)")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        code = (e.name or "error").lower().replace(" ", "_")
        return error(e.code or 400, code, e.description or e.name)

    @app.errorhandler(Exception)
    def unexpected(e: Exception):  # a bug of ours: still JSON, and named
        app.logger.exception("unexpected error")
        return error(500, "internal", f"{type(e).__name__}: {e}")

    def take_upload() -> tuple[Path, str]:
        """The request's file stored privately, holding a worker slot (released by service.run)."""
        if request.content_length is not None and request.content_length > app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()
        service.take_slot()  # before the body is read: a busy service answers 503 without taking the bytes
        try:
            upload = request.files.get("file")
            if upload is None:
                raise ServiceError(400, "no_file", "send the report as a multipart/form-data field named 'file'")
            return service.store_upload(upload.stream, upload.filename), upload_name(upload.filename)
        except BaseException:
            service.release_slot()
            raise

    def record_response(record: dict, status: Optional[int] = None) -> Response:
        from nianbao.jsonio import dumps_strict

        status = status or (422 if record.get("error") else 200)
        return Response(dumps_strict(record), status=status, mimetype="application/json")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", version=__version__, workers=config.workers, worker_kind=config.worker_kind)

    @app.post("/v1/extract")
    def extract():
        path, source = take_upload()
        return record_response(service.run(path, source))

    @app.post("/v1/jobs")
    def start_job():
        path, source = take_upload()
        job = service.start_job(path, source)
        response = jsonify(id=job.id, status=job.status, url=f"/v1/jobs/{job.id}")
        response.status_code = 202
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return response

    @app.get("/v1/jobs/<job_id>")
    def poll_job(job_id: str):
        job = service.job(job_id)
        if job is None:
            raise ServiceError(404, "no_job", "no such job (a finished job is kept for an hour)")
        from nianbao.jsonio import dumps_strict

        return Response(dumps_strict(job.as_json()), mimetype="application/json")

    @app.get("/openapi.json")
    def openapi():
        return jsonify(openapi_document(config))

    @app.get("/docs")
    def docs():
        return Response(DOCS_HTML.replace("{version}", __version__).replace(
            "{max_upload_mb}", f"{config.max_upload_mb:g}"), mimetype="text/html")

    return app


def openapi_document(config: ServiceConfig) -> dict:
    """The OpenAPI 3 description of this service (by hand: five paths)."""
    error = {"$ref": "#/components/schemas/Error"}
    upload = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary",
                                "description": "a report: .txt .md .html .docx .pdf or a page image"}}}}}}

    def answer(description: str, schema: dict) -> dict:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    common_errors = {"400": answer("no file field, or a Host name not served", error),
                     "401": answer("the access token is missing or wrong (when the service has one)", error),
                     "413": answer(f"the upload is larger than {config.max_upload_mb:g} MB", error),
                     "503": answer("every worker is busy and the queue is full; retry after Retry-After seconds", error)}
    record = {"$ref": "#/components/schemas/Record"}
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "nianbao extraction service", "version": __version__,
                 "description": "The statutory tables of 政府信息公开工作年度报告 as checked data. A record is the "
                                "output contract of `nianbao extract --jsonl` (see the README, \"Output\")."},
        "paths": {
            "/healthz": {"get": {"summary": "the service answers", "responses": {
                "200": answer("ok", {"type": "object", "properties": {"status": {"type": "string"},
                                                                      "version": {"type": "string"}}})}}},
            "/v1/extract": {"post": {"summary": "extract one uploaded report and wait for its record",
                                     "requestBody": upload, "responses": {
                                         "200": answer("the record of a report that was read", record),
                                         "422": answer("the record of a file that could not be read: its error "
                                                       "names the code (empty_file, not_text, corrupt_pdf, ...)", record),
                                         **common_errors}}},
            "/v1/jobs": {"post": {"summary": "start extracting one uploaded report (for scans); poll its id",
                                  "requestBody": upload, "responses": {
                                      "202": answer("the job", {"$ref": "#/components/schemas/Job"}),
                                      **common_errors}}},
            "/v1/jobs/{id}": {"get": {"summary": "a job's status, with its record when done",
                                      "parameters": [{"name": "id", "in": "path", "required": True,
                                                      "schema": {"type": "string"}}],
                                      "responses": {"200": answer("the job", {"$ref": "#/components/schemas/Job"}),
                                                    "404": answer("no such job", error)}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {
                "200": {"description": "OpenAPI 3"}}}},
        },
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Record": {"type": "object",
                           "required": ["source", "agency", "year", "template", "tables", "fields", "checks",
                                        "review", "error"],
                           "properties": {
                               "source": {"type": "string", "description": "the uploaded file's name"},
                               "agency": {"type": "string", "nullable": True},
                               "year": {"type": "integer", "nullable": True},
                               "template": {"type": "string", "enum": ["v2019", "v2021"], "nullable": True},
                               "tables": {"type": "object", "additionalProperties": {
                                   "type": "object", "properties": {"found": {"type": "boolean"}}}},
                               "fields": {"type": "object", "additionalProperties": {
                                   "type": "object", "properties": {
                                       "value": {"type": "number", "nullable": True},
                                       "raw": {"type": "string", "nullable": True},
                                       "confidence": {"type": "number"}, "page": {"type": "integer"},
                                       "alternatives": {"type": "array", "items": {"type": "number"}},
                                       "reason": {"type": "string"}}}},
                               "checks": {"type": "array", "items": {"type": "object", "properties": {
                                   "rule": {"type": "string"}, "passed": {"type": "boolean"},
                                   "detail": {"type": "string"}, "cells": {"type": "array", "items": {"type": "string"}},
                                   "difference": {"type": "number", "nullable": True}}}},
                               "review": {"type": "object", "properties": {
                                   "needed": {"type": "boolean"}, "reasons": {"type": "array", "items": {"type": "string"}}}},
                               "error": {"type": "object", "nullable": True, "properties": {
                                   "code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Job": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string"}, "status": {"type": "string", "enum": ["queued", "running", "done"]},
                    "url": {"type": "string"}, "result": {"$ref": "#/components/schemas/Record"}}},
            },
        },
    }
    if config.token:
        doc["components"]["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"token": []}]
    return doc


DOCS_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>nianbao serve</title>
<style>body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",sans-serif;
max-width:52em;margin:2em auto;line-height:1.5}code,pre{background:#f4f4f4;padding:.1em .3em}</style></head>
<body><h1>nianbao extraction service <small>{version}</small></h1>
<p>The statutory tables of 政府信息公开工作年度报告 as checked data. Machine-readable description:
<a href="/openapi.json">/openapi.json</a> (OpenAPI 3).</p>
<ul>
<li><code>GET /healthz</code>: the service answers.</li>
<li><code>POST /v1/extract</code>, multipart field <code>file</code> (at most {max_upload_mb} MB): the record of the
report, as <code>nianbao extract --jsonl</code> writes it; 200, or 422 with the record whose <code>error</code>
names why the file could not be read.</li>
<li><code>POST /v1/jobs</code>, same upload: 202 and a job id at once (for scans); poll
<code>GET /v1/jobs/{id}</code> until its <code>status</code> is <code>done</code>; the record is its
<code>result</code>.</li>
</ul>
<p>Errors are JSON: <code>{"error": {"code": ..., "message": ...}}</code>; 503 <code>busy</code> when every
worker is busy and the queue is full (retry after <code>Retry-After</code> seconds), 413 <code>too_large</code>.</p>
<pre>curl -F file=@report.pdf http://127.0.0.1:8080/v1/extract</pre>
</body></html>
"""


# -- the command -----------------------------------------------------------------------------------
def make_server(config: ServiceConfig):
    """A werkzeug server of the app (threaded: one thread per connection; the work is in the pool)."""
    from werkzeug.serving import make_server as werkzeug_server

    from nianbao.web import check_bind, request_handler

    check_bind(config.host, config.token, "the extraction service")
    service = ExtractionService(config)
    server = werkzeug_server(config.host, config.port, create_app(config, service), threaded=True,
                             request_handler=request_handler(config.token))
    server.nianbao_service = service
    return server


def _stop_on_sigterm(*_):
    raise KeyboardInterrupt  # a service manager's stop: the same tidy exit as Ctrl-C (uploads folder removed)


def serve(config: ServiceConfig) -> None:
    import signal

    server = make_server(config)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(f"nianbao serve: http://{config.host}:{server.server_port}/docs  ({config.workers} {config.worker_kind} "
          f"workers, uploads up to {config.max_upload_mb:g} MB; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.nianbao_service.close()


def cmd_serve(args) -> int:
    import sys

    try:
        config = ServiceConfig(host=args.host, port=args.port, workers=args.workers, queue=args.queue,
                               token=args.token, max_upload_mb=args.max_upload_mb,
                               max_memory_mb=args.max_memory_mb, timeout_s=args.timeout, spotter=args.spotter,
                               allow_hosts=tuple(args.allow_host))
        serve(config)
    except (ValueError, OSError) as e:  # a short token, a public bind without one, a port in use
        print(f"nianbao serve: {e}", file=sys.stderr)
        return 2
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("serve", help="extraction as an HTTP service (POST /v1/extract, /v1/jobs; /docs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (other than loopback needs --token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--workers", type=int, default=2, help="worker processes reading documents (default 2)")
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE,
                   help=f"uploads that may wait for a worker before the service answers 503 (default {DEFAULT_QUEUE})")
    p.add_argument("--token", default=None,
                   help="access token (at least 16 characters) required as 'Authorization: Bearer T' on /v1")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                   help=f"largest upload accepted (default {DEFAULT_MAX_UPLOAD_MB})")
    p.add_argument("--max-memory-mb", type=int, default=4096,
                   help="memory one document may use in its worker (default 4096; 0: no limit)")
    p.add_argument("--timeout", type=float, default=600,
                   help="seconds one document may take in its worker (default 600, as ingest; 0: no limit); "
                        "past it the document fails with the code timeout")
    p.add_argument("--spotter", default="classifier", choices=["classifier", "baseline"],
                   help="what spots the row labels (as for extract)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another Host name this service answers (the machine's name on a LAN); repeatable")
    p.set_defaults(func=cmd_serve)
