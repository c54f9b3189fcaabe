"""The per-document function and the local worker process.

``process_task`` is what both engines run for one document (a local worker process, or a Ray
task): hash the bytes, run the pipeline, turn the Document into the output contract, and return a
``DocumentResult``. It never writes to the store: only the parent process does.

``worker_main`` is the body of one local worker process (spawn context): it sets its memory limit
(``RLIMIT_AS``), builds ONE Pipeline, then answers tasks over a pipe until told to stop or the
parent goes away.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from nianbao.inputs import open_regular, read_error_code
from nianbao.limits import is_memory_error, set_memory_limit

from .store import DocumentResult

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Task:
    path: str
    content_hash: str  # as the parent hashed it (the worker hashes again what it reads)
    size: int


@dataclass
class WorkerConfig:
    """What a worker needs to build its pipeline; pickled to spawned processes and Ray tasks."""

    pipeline_options: object = None  # nianbao.inference.pipeline.PipelineOptions (None: defaults)
    pipeline_version: str = ""
    # "module:function" called as fn(pipeline, path) -> Document instead of pipeline.run(path).
    # For tests (a document that hangs, crashes, eats memory); None in production.
    extract_fn: Optional[str] = None
    max_memory_mb: int = 0  # 0: no limit
    extra: dict = field(default_factory=dict)


def file_hash(path: str | Path) -> tuple[str, int]:
    """SHA-256 and size of a regular file. Anything else (FIFO, socket, device, symlink loop) raises
    ``NotRegularFileError`` at once: the file is opened without blocking."""
    h = hashlib.sha256()
    size = 0
    with open_regular(path) as f:
        while True:
            chunk = f.read(HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


# Blocks of schema.json that only say how tables look to people (the official Chinese headers the
# review app and Excel print): editing them changes no extracted value, so no stored result goes stale.
DISPLAY_ONLY_SCHEMA_BLOCKS = ("headers",)


def schema_content_digest(data: bytes) -> str:
    """The digest of what in schema.json decides extraction: the JSON without its display-only blocks,
    canonically serialised (key order and whitespace do not count either)."""
    import json

    schema = json.loads(data)
    if not isinstance(schema, dict):
        raise ValueError("schema.json is not a JSON object")
    kept = {k: v for k, v in schema.items() if k not in DISPLAY_ONLY_SCHEMA_BLOCKS}
    canonical = json.dumps(kept, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


@lru_cache(maxsize=1)
def schema_digest() -> str:
    try:
        from importlib import resources

        data = resources.files("nianbao.labels").joinpath("schema.json").read_bytes()
        return schema_content_digest(data)
    except Exception:  # pragma: no cover - a broken install fails later, loudly
        return "unknown"


@lru_cache(maxsize=1)
def models_digest() -> str:
    """Names and sizes of the model files the pipeline may load (OCR, classifier): a cheap fingerprint."""
    import nianbao
    import nianbao.inference
    from nianbao import resources

    models = resources.models_dir()  # the checkout's models/, a wheel's nianbao/models, or $NIANBAO_MODEL_DIR
    # Only what inference loads: the installed classifier and the calibration map (not the registry's
    # archives or candidates, nor the torch weights kept for fine-tuning).
    files = [p for root in (Path(nianbao.inference.__file__).parent / "ocr" / "models", models / "token_classifier")
             if root.is_dir() for p in sorted(root.glob("*"))] + [models / "calibration.json"]
    h = hashlib.sha256()
    n = 0
    for p in files:
        if p.is_file() and p.suffix.lower() in {".onnx", ".json"}:
            h.update(f"{p.parent.name}/{p.name}:{p.stat().st_size}\n".encode())
            n += 1
    from nianbao.inference.classifier import model_version

    h.update(str(model_version()).encode())
    return h.hexdigest()[:12] if n else "none"


def pipeline_version(options: object = None) -> str:
    """What made a stored result: package, spotter, schema, model files. A change makes results stale.
    (The spotter is written ``mapper``, its former name, so that results stored before stay current.)"""
    import nianbao

    spotter = getattr(options, "spotter", None) or "classifier"  # PipelineOptions' default
    return f"nianbao {nianbao.__version__}; mapper {spotter}; schema {schema_digest()}; models {models_digest()}"


def build_pipeline(config: WorkerConfig):
    from nianbao.inference.pipeline import Pipeline

    return Pipeline(config.pipeline_options)


def resolve_extract_fn(spec: Optional[str]) -> Optional[Callable]:
    if not spec:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def process_task(pipeline, task: Task, config: WorkerConfig, extract: Optional[Callable] = None) -> DocumentResult:
    """Run one document. Every failure is a result (status 'failed' with a code), never an exception."""
    from nianbao.record import to_record

    t0 = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    try:
        content_hash, size = file_hash(task.path)
    except OSError as e:
        return DocumentResult(path=task.path, content_hash=task.content_hash, size=task.size, status="failed",
                              pipeline_version=config.pipeline_version, error_code=read_error_code(e),
                              error_message=f"{type(e).__name__}: {e}", worker=worker, peak_rss_mb=peak_rss_mb())
    t_hash = time.perf_counter() - t0
    try:
        doc = extract(pipeline, task.path) if extract else pipeline.run(task.path)
        record = to_record(doc, contexts=True)  # the store keeps each field's source text for review
    except MemoryError:
        return DocumentResult(path=task.path, content_hash=content_hash, size=size, status="failed",
                              pipeline_version=config.pipeline_version, error_code="memory",
                              error_message=f"out of memory (limit {config.max_memory_mb} MB)", worker=worker,
                              timings={"hash": round(t_hash, 4), "total": round(time.perf_counter() - t0, 4)},
                              peak_rss_mb=peak_rss_mb(), retire=True)
    except Exception as e:  # the pipeline itself never raises; an extract hook or to_record might
        return DocumentResult(path=task.path, content_hash=content_hash, size=size, status="failed",
                              pipeline_version=config.pipeline_version, error_code="extract_failed",
                              error_message=f"{type(e).__name__}: {e}", worker=worker,
                              timings={"hash": round(t_hash, 4), "total": round(time.perf_counter() - t0, 4)},
                              peak_rss_mb=peak_rss_mb())
    timings = dict(doc.timings)
    timings["hash"] = round(t_hash, 4)
    timings["total"] = round(time.perf_counter() - t0, 4)
    error = record.get("error")
    code = message = None
    retire = False
    if error:
        code, message = error.get("code"), error.get("message")
        if is_memory_error(message):  # the pipeline caught a MemoryError in one of its stages
            code, retire = "memory", True
            message = f"out of memory (limit {config.max_memory_mb} MB): {message}"
    record["source"] = task.path
    return DocumentResult(path=task.path, content_hash=content_hash, size=size,
                          status="failed" if error else "done", pipeline_version=config.pipeline_version,
                          error_code=code, error_message=message, record=record, pages=len(doc.pages) or None,
                          format=doc.format, timings=timings, peak_rss_mb=round(peak_rss_mb(), 1), worker=worker,
                          retire=retire)


# ---------------------------------------------------------------------------------------------
# the local worker process
# ---------------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the parent dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def worker_main(conn, config: WorkerConfig, parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group: the parent decides, the worker goes on until told.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)
    set_memory_limit(config.max_memory_mb)
    pipeline = build_pipeline(config)
    extract = resolve_extract_fn(config.extract_fn)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            result = process_task(pipeline, task, config, extract)
        except MemoryError:  # while building the failure itself
            result = DocumentResult(path=task.path, content_hash=task.content_hash, size=task.size, status="failed",
                                    pipeline_version=config.pipeline_version, error_code="memory",
                                    error_message=f"out of memory (limit {config.max_memory_mb} MB)", retire=True)
        try:
            conn.send(("result", result))
        except (BrokenPipeError, OSError):
            return
        if result.retire:
            return
