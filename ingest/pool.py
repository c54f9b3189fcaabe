"""The local engine: a small pool of worker processes (spawn context) that survives its workers.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers dies the whole pool is
broken (``BrokenProcessPool``) and every pending future fails, and it cannot kill a worker stuck
in a document. Here each worker has its own pipe and gets one document at a time, so the parent
always knows which document a worker holds:

- a worker past the per-document time limit is killed (SIGKILL) → that document fails ``timeout``;
- a worker over the memory limit fails its document ``memory``: its own ``RLIMIT_AS`` turns an
  allocation past the limit into ``MemoryError`` (the worker answers, then is replaced);
- a worker that dies (segfault, ``os._exit``, OOM killer) fails its document ``crash`` (``memory``
  when it was killed by SIGKILL that the parent did not send: the kernel's OOM killer);
- in every case the worker is replaced and the run goes on.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from multiprocessing.connection import wait
from typing import Iterable, Iterator, Optional

from nianbao.numfmt import full_number

from .store import DocumentResult
from .worker import Task, WorkerConfig, worker_main

STARTUP_TIMEOUT = 120.0


class EngineError(RuntimeError):
    pass


class _Worker:
    def __init__(self, ctx, config: WorkerConfig, number: int):
        self.parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child_conn, config, os.getpid()),
                                   name=f"nianbao-ingest-{number}", daemon=True)
        self.process.start()
        child_conn.close()
        self.spawned = time.monotonic()
        self.ready = False
        self.task: Optional[Task] = None
        self.task_started = 0.0
        self.killed_by_us: Optional[str] = None  # reason, when the parent killed it

    def send(self, task: Task) -> None:
        self.task = task
        self.task_started = time.monotonic()
        self.parent_conn.send(task)

    def kill(self, reason: str) -> None:
        self.killed_by_us = reason
        try:
            self.process.kill()
        except (OSError, ValueError):
            pass
        self.process.join(5)

    def close(self) -> None:
        try:
            self.parent_conn.close()
        except OSError:
            pass


class LocalEngine:
    name = "local"

    def __init__(self, config: WorkerConfig, workers: int = 0, timeout: Optional[float] = None):
        self.config = config
        self.workers = max(1, workers or (os.cpu_count() or 1))
        self.timeout = timeout if timeout and timeout > 0 else None
        self.limit_mb = config.max_memory_mb if config.max_memory_mb and config.max_memory_mb > 0 else None
        self.ctx = mp.get_context("spawn")
        self.spawned = 0
        self.replaced = 0

    def _spawn(self) -> _Worker:
        self.spawned += 1
        return _Worker(self.ctx, self.config, self.spawned)

    def _failure(self, task: Task, code: str, message: str, worker: _Worker) -> DocumentResult:
        return DocumentResult(path=task.path, content_hash=task.content_hash, size=task.size, status="failed",
                              pipeline_version=self.config.pipeline_version, error_code=code, error_message=message,
                              timings={"total": round(time.monotonic() - worker.task_started, 4)},
                              worker=f"local:{worker.process.pid}")

    def run(self, tasks: Iterable[Task]) -> Iterator[DocumentResult]:
        """Results as documents finish (not in input order); every task yields exactly one result."""
        tasks = iter(tasks)
        first = next(tasks, None)
        if first is None:
            return
        backlog: list[Task] = [first]
        exhausted = False

        def feed(w: _Worker) -> None:
            nonlocal exhausted
            if not backlog and not exhausted:
                nxt = next(tasks, None)
                if nxt is None:
                    exhausted = True
                else:
                    backlog.append(nxt)
            if backlog:
                w.send(backlog.pop(0))

        pool: list[_Worker] = [self._spawn() for _ in range(self.workers)]
        startup_failures = 0
        try:
            while True:
                # Hand a document to every idle, ready worker.
                for w in pool:
                    if w.ready and w.task is None:
                        feed(w)
                busy = [w for w in pool if w.task is not None]
                if exhausted and not backlog and not busy:
                    return
                now = time.monotonic()
                deadlines = [w.task_started + self.timeout for w in busy] if self.timeout else []
                deadlines += [w.spawned + STARTUP_TIMEOUT for w in pool if not w.ready]
                wait_for = max(0.0, min(deadlines) - now) if deadlines else None
                objects = [w.parent_conn for w in pool] + [w.process.sentinel for w in pool]
                ready = set(wait(objects, wait_for))

                replace: list[_Worker] = []
                for w in pool:
                    dead = False
                    # 1. Messages first: a worker may answer and then exit (retire) in one go.
                    if w.parent_conn in ready or (w.process.sentinel in ready and _poll(w)):
                        try:
                            kind, payload = w.parent_conn.recv()
                        except (EOFError, OSError):
                            kind, payload, dead = "dead", None, True
                        if kind == "ready":
                            w.ready = True
                            startup_failures = 0
                            continue
                        if kind == "result":
                            w.task = None
                            if payload.retire:
                                w.process.join(5)
                                replace.append(w)
                            else:
                                feed(w)  # the worker starts its next document while the parent writes this one
                            yield payload
                            continue
                    # 2. A worker that died.
                    if dead or w.process.sentinel in ready or not w.process.is_alive():
                        w.process.join(5)
                        if w.process.is_alive():  # its pipe broke but it lingers
                            w.kill("broken pipe")
                        if w.task is not None:
                            yield self._death(w)
                        elif not w.ready:
                            startup_failures += 1
                            if startup_failures >= 3:
                                raise EngineError(f"worker processes die while starting (exit code {w.process.exitcode}); "
                                                  "see the error above" + (f"; is --max-memory-mb {self.limit_mb} too low?"
                                                                           if self.limit_mb else ""))
                        replace.append(w)
                        continue
                    # 3. A worker past its time limit, or that would not start.
                    now = time.monotonic()
                    if w.task is not None and self.timeout and now - w.task_started > self.timeout:
                        w.kill("timeout")
                        yield self._failure(w.task, "timeout", f"no result after {full_number(self.timeout)} s; worker killed", w)
                        w.task = None
                        replace.append(w)
                        continue
                    if not w.ready and now - w.spawned > STARTUP_TIMEOUT:
                        w.kill("startup")
                        raise EngineError(f"a worker process did not start within {full_number(STARTUP_TIMEOUT)} s")
                for w in replace:
                    w.close()
                    pool.remove(w)
                    self.replaced += 1
                    pool.append(self._spawn())
        finally:
            self._shutdown(pool)

    def _death(self, w: _Worker) -> DocumentResult:
        code = w.process.exitcode
        task = w.task
        w.task = None
        if w.killed_by_us:
            return self._failure(task, "crash", f"worker stopped answering ({w.killed_by_us}) and was killed", w)
        if code is not None and code < 0:
            sig = -code
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            if sig == signal.SIGKILL:
                return self._failure(task, "memory", f"worker killed by {name}, not by nianbao: most likely the "
                                     "kernel's out-of-memory killer", w)
            return self._failure(task, "crash", f"worker died of {name}", w)
        return self._failure(task, "crash", f"worker exited with code {code} during the document", w)

    def _shutdown(self, pool: list[_Worker]) -> None:
        for w in pool:
            if w.task is None and w.process.is_alive():
                try:
                    w.parent_conn.send(None)
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + 3
        for w in pool:
            if w.task is None:
                w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.kill("shutdown")
            w.close()


def _poll(w: _Worker) -> bool:
    try:
        return w.parent_conn.poll()
    except (EOFError, OSError):
        return False
