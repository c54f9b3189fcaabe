"""The Ray engine: the same per-document function (``worker.process_task``) as Ray tasks.

    nianbao ingest reports/ --engine ray                          # a local Ray instance (loopback only)
    nianbao ingest reports/ --engine ray --ray-address HOST:6379  # an existing cluster (or RAY_ADDRESS)

Results come back to the parent, which writes them through the same store interface as the local
engine (one transaction per document; only the parent writes). Each Ray worker process builds one
Pipeline, on its first task, and keeps it for the tasks that follow.

Isolation under Ray:
- time: a task past ``timeout`` is cancelled with ``force=True`` (Ray kills its worker process) and
  the document fails ``timeout``; the number of tasks in flight is kept to the cluster's CPUs, so
  a task starts about when it is submitted and the limit is measured from submission;
- memory: while a document runs, the worker's address space may grow by at most ``max_memory_mb``
  (a soft ``RLIMIT_AS`` set around the task, restored after it), so a runaway document fails
  ``memory``; Ray's own memory monitor (``OutOfMemoryError``) is reported as ``memory`` too;
- a crashed worker (``WorkerCrashedError``) fails its document ``crash``; tasks are not retried.

The cluster's nodes need nianbao installed (the same version) and, by default, the input paths
readable at the same place (a shared filesystem). ``--ray-ship-files`` sends each file's bytes
with its task instead.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional

from nianbao.inputs import open_regular, read_error_code
from nianbao.limits import document_memory_cap
from nianbao.numfmt import full_number

from .store import DocumentResult
from .worker import Task, WorkerConfig, build_pipeline, process_task, resolve_extract_fn

_PIPELINES: dict = {}


def _pipeline_for(config: WorkerConfig):
    key = (config.pipeline_version, config.extract_fn, repr(config.pipeline_options))
    if key not in _PIPELINES:
        _PIPELINES.clear()
        _PIPELINES[key] = (build_pipeline(config), resolve_extract_fn(config.extract_fn))
    return _PIPELINES[key]


def ray_process(task: Task, config: WorkerConfig, data: Optional[bytes] = None) -> DocumentResult:
    """The body of one Ray task."""
    pipeline, extract = _pipeline_for(config)
    tmpdir = None
    run_task = task
    try:
        if data is not None:  # shipped bytes: run them from a private copy with the same name
            tmpdir = tempfile.mkdtemp(prefix="nianbao-ray-")
            local = Path(tmpdir) / Path(task.path).name
            local.write_bytes(data)
            run_task = Task(str(local), task.content_hash, task.size)
        # One document may grow the address space by at most --max-memory-mb (the cap `nianbao extract`
        # uses too): Ray owns these processes, so the limit is set and restored per task.
        with document_memory_cap(config.max_memory_mb):
            result = process_task(pipeline, run_task, config, extract)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    if run_task is not task:
        result.path = task.path
        if result.record is not None:
            result.record["source"] = task.path
    result.retire = False  # Ray owns its worker processes
    return result


def _loopback_only() -> None:
    """Make a local Ray instance bind and talk on 127.0.0.1 only.

    ``_node_ip_address='127.0.0.1'`` alone is not enough: Ray (2.x) replaces a loopback address with
    the machine's interface address unless "cluster mode" is off, which Ray reads from
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER (at import time; the constant is patched for an imported ray)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    except (ImportError, AttributeError):  # a Ray without the switch: the node address is checked below
        pass


def start_local_ray(num_cpus: Optional[int] = None) -> None:
    """A private local Ray instance on the loopback address (no dashboard)."""
    import ray

    _loopback_only()
    ray.init(address="local", include_dashboard=False, num_cpus=num_cpus or None, _node_ip_address="127.0.0.1",
             logging_level="WARNING")
    addresses = {n.get("NodeManagerAddress") for n in ray.nodes()}
    if addresses != {"127.0.0.1"}:
        ray.shutdown()
        raise RuntimeError(f"the local Ray instance did not stay on 127.0.0.1 (node addresses {sorted(addresses)})")


def init_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> bool:
    """Connect to (or start) Ray; True when this call started it (so the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, logging_level="WARNING")
    elif os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level="WARNING")
    else:
        start_local_ray(num_cpus)
    return True


class RayEngine:
    name = "ray"

    def __init__(self, config: WorkerConfig, address: Optional[str] = None, workers: int = 0,
                 timeout: Optional[float] = None, ship_files: bool = False):
        self.config = config
        self.address = address
        self.workers = workers
        self.timeout = timeout if timeout and timeout > 0 else None
        self.ship_files = ship_files
        self.replaced = 0

    def _failure(self, task: Task, code: str, message: str, started: float) -> DocumentResult:
        return DocumentResult(path=task.path, content_hash=task.content_hash, size=task.size, status="failed",
                              pipeline_version=self.config.pipeline_version, error_code=code, error_message=message,
                              timings={"total": round(time.monotonic() - started, 4)}, worker="ray")

    def run(self, tasks: Iterable[Task]) -> Iterator[DocumentResult]:
        tasks = iter(tasks)
        first = next(tasks, None)
        if first is None:
            return
        import ray
        from ray import exceptions as rex

        own = init_ray(self.address, self.workers or None)
        remote = ray.remote(num_cpus=1, max_retries=0)(ray_process)
        config_ref = ray.put(self.config)
        cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
        in_flight = max(1, min(self.workers, cpus) if self.workers else cpus)
        running: dict = {}  # ref -> (task, submitted)
        backlog = [first]
        exhausted = False
        try:
            while True:
                while len(running) < in_flight and (backlog or not exhausted):
                    if not backlog:
                        nxt = next(tasks, None)
                        if nxt is None:
                            exhausted = True
                            break
                        backlog.append(nxt)
                    task = backlog.pop(0)
                    data = None
                    if self.ship_files:
                        try:
                            with open_regular(task.path) as f:  # never blocks (a FIFO swapped in since hashing)
                                data = f.read()
                        except OSError as e:
                            yield self._failure(task, read_error_code(e), f"{type(e).__name__}: {e}", time.monotonic())
                            continue
                    running[remote.remote(task, config_ref, data)] = (task, time.monotonic())
                if not running:
                    return
                wait_for = None
                if self.timeout:
                    oldest = min(t0 for _, t0 in running.values())
                    wait_for = max(0.0, oldest + self.timeout - time.monotonic())
                ready, _ = ray.wait(list(running), num_returns=1, timeout=wait_for)
                for ref in ready:
                    task, t0 = running.pop(ref)
                    try:
                        yield ray.get(ref)
                    except rex.TaskCancelledError:
                        yield self._failure(task, "timeout", f"no result after {full_number(self.timeout)} s; task cancelled", t0)
                    except rex.OutOfMemoryError as e:
                        self.replaced += 1
                        yield self._failure(task, "memory", _short(e), t0)
                    except (rex.WorkerCrashedError, rex.NodeDiedError) as e:
                        self.replaced += 1
                        yield self._failure(task, "crash", _short(e), t0)
                    except rex.RayError as e:
                        yield self._failure(task, "crash", _short(e), t0)
                if self.timeout:
                    now = time.monotonic()
                    for ref, (task, t0) in list(running.items()):
                        if now - t0 > self.timeout:
                            ray.cancel(ref, force=True)
                            running.pop(ref)
                            self.replaced += 1
                            yield self._failure(task, "timeout", f"no result after {full_number(self.timeout)} s; worker killed", t0)
        finally:
            for ref in running:
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            if own:
                ray.shutdown()


def _short(e: Exception, limit: int = 500) -> str:
    text = f"{type(e).__name__}: {e}"
    return text if len(text) <= limit else text[:limit] + " ..."
