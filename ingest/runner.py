"""``ingest``: inputs → hashes → what is not in the store yet → an engine → one transaction each.

The parent process is the only writer. It hashes each input (SHA-256 of the bytes: the identity of
a document), skips what the store already holds, hands the rest to an engine (local worker
processes or Ray tasks) and writes every result as it arrives, one document per transaction.
A run killed at any moment (SIGKILL included) leaves whole documents; the next run skips them and
does the rest, so nothing committed is lost and nothing is written twice.
"""
from __future__ import annotations

import glob
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from nianbao.inputs import (SKIP_REASONS, SkippedInput, display_path, is_excluded, read_error_code, skip_code,
                            walk_reports)

from .store import DocumentResult, Store, StoredInfo, is_postgres_url, open_store, redact_url
from .store.sqlite import UNSTORABLE_SQLITE
from .worker import Task, WorkerConfig, file_hash, pipeline_version

HASH_CHUNK_FILES = 64
_GLOB_CHARS = set("*?[")


def report_suffixes() -> set[str]:
    """What a folder walk takes: the same suffixes as `nianbao extract` (images too, once OCR reads them)."""
    from nianbao.inference.readers import REPORT_SUFFIXES  # the one registry of report suffixes

    return set(REPORT_SUFFIXES)


class IngestError(Exception):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM: the run stops like on Ctrl-C (what is committed stays; a rerun resumes)."""


@dataclass
class InputSet:
    """What the inputs of a run expand to."""

    paths: list[Path] = field(default_factory=list)  # regular files to read (absolute, stable order)
    missing: list[str] = field(default_factory=list)  # arguments that name nothing
    skipped: list[SkippedInput] = field(default_factory=list)  # FIFOs, sockets, devices, loops, unreadable
    excluded: int = 0  # left out by --exclude


@dataclass
class IngestOptions:
    workers: int = 0  # 0: one per CPU
    engine: str = "local"  # local | ray
    ray_address: Optional[str] = None
    ray_ship_files: bool = False  # send file bytes to Ray workers (a cluster without a shared filesystem)
    reprocess: bool = False  # redo every input
    reprocess_stale: bool = False  # redo inputs stored by another pipeline version
    retry_failed: bool = False  # redo inputs stored as failed
    timeout: Optional[float] = 600.0  # seconds per document; None or 0: no limit
    max_memory_mb: int = 4096  # per worker; 0: no limit
    pipeline_options: object = None
    extract_fn: Optional[str] = None  # tests only (see nianbao.ingest.testing)
    progress: bool = True
    cross_year: bool = True
    all_files: bool = False  # folders: take every file, not only report suffixes
    exclude: tuple = ()  # --exclude GLOB patterns


@dataclass
class IngestSummary:
    db: str = ""
    engine: str = "local"
    inputs: int = 0
    done: int = 0
    failed: Counter = field(default_factory=Counter)
    skipped: int = 0
    skipped_stale: int = 0
    duplicates: int = 0
    missing: list = field(default_factory=list)
    skipped_files: list = field(default_factory=list)  # [{"path", "code", "reason"}]: not regular files, loops, unreadable
    excluded: int = 0
    review_needed: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    interrupted_by: Optional[str] = None  # SIGINT | SIGTERM
    peak_worker_rss_mb: float = 0.0
    workers_replaced: int = 0
    store: dict = field(default_factory=dict)
    cross_year: dict = field(default_factory=dict)

    @property
    def written(self) -> int:
        return self.done + sum(self.failed.values()) - self.failed.get("not_found", 0) - self.failed.get("unreadable", 0)

    @property
    def all_read(self) -> bool:
        """Every input of this run was read and extracted (exit code 0); else some failed (1)."""
        return not self.missing and not self.skipped_files and not sum(self.failed.values())

    def as_dict(self) -> dict:
        d = asdict(self)
        d["failed"] = dict(self.failed)
        d["written"] = self.written
        return d

    def as_text(self) -> str:
        rate = self.written / self.elapsed if self.elapsed > 0 else 0.0
        failed = sum(self.failed.values())
        lines = [f"{'INTERRUPTED: ' if self.interrupted else ''}ingested {self.inputs} inputs in {self.elapsed:.1f} s "
                 f"({rate:.1f} documents/s) into {self.db} [{self.engine} engine]",
                 f"  done        {self.done:6d}   review needed: {self.review_needed}",
                 f"  failed      {failed:6d}   " + (", ".join(f"{k} {v}" for k, v in sorted(self.failed.items())) or "-"),
                 f"  skipped     {self.skipped:6d}   already in the store"
                 + (f" ({self.skipped_stale} made by another pipeline version: --reprocess-stale redoes them)"
                    if self.skipped_stale else ""),
                 f"  duplicates  {self.duplicates:6d}   same content as another input of this run"]
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (f" +{len(self.missing) - 5} more" if len(self.missing) > 5 else "")
            lines.append(f"  missing     {len(self.missing):6d}   {shown}")
        if self.skipped_files:
            lines.append(f"  not read    {len(self.skipped_files):6d}   not regular files or unreadable (skipped):")
            for s in self.skipped_files[:5]:
                lines.append(f"    {s['path']}: {s['reason']}")
            if len(self.skipped_files) > 5:
                lines.append(f"    +{len(self.skipped_files) - 5} more (--json lists all)")
        if self.excluded:
            lines.append(f"  excluded    {self.excluded:6d}   by --exclude")
        if not self.inputs:
            lines.append("  no report file in the inputs")
        if self.workers_replaced:
            lines.append(f"  workers replaced after a timeout, crash or memory failure: {self.workers_replaced}")
        if self.store:
            s = self.store
            lines.append(f"store: {s['documents']} documents ({s['done']} done, {s['failed']} failed, "
                         f"{s['review_needed']} need review)")
        if self.cross_year:
            c = self.cross_year
            lines.append(f"rule 5 across years: {c['checks']} checks over {c['pairs']} pairs of consecutive years, "
                         f"{c['failed']} failed; agency names: {c['same_agency_names']} folded, "
                         f"{c['possible_matches']} possible matches flagged")
            if c.get("redecided"):
                lines.append(f"  doubted readings decided on a neighbouring year's report: {c['redecided']}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------

def expand_inputs(items: Iterable[str], all_files: bool = False, exclude: Iterable[str] = ()) -> InputSet:
    """Files, folders (recursive), globs and @list files → an :class:`InputSet` (paths in a stable order).

    A list file holds one input per line (files, folders or globs; blank lines and # comments are
    skipped); relative lines are relative to the current directory, as on the command line. Only
    regular files are taken; FIFOs, sockets, devices, symlink loops and unreadable files are skipped
    with a reason, never opened."""
    out = InputSet()
    exclude = tuple(exclude)
    suffixes = None if all_files else report_suffixes()
    found: list[Path] = []

    def walk(folder: Path) -> None:
        files, skipped, excluded = walk_reports(folder, suffixes, exclude)
        found.extend(files)
        out.skipped.extend(skipped)
        out.excluded += excluded

    def one(p: Path) -> None:
        if is_excluded(p, exclude):
            out.excluded += 1
            return
        code = skip_code(p)
        if code:
            out.skipped.append(SkippedInput(display_path(p), code))
        else:
            found.append(p)

    def add(item: str, depth: int = 0) -> None:
        if item.startswith("@") and not os.path.lexists(item):
            listfile = Path(item[1:])
            if depth > 5 or not listfile.is_file():
                out.missing.append(display_path(item))
                return
            for line in listfile.read_text("utf-8-sig", errors="surrogateescape").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    add(line, depth + 1)
            return
        p = Path(item).expanduser()
        if p.is_dir():
            walk(p)
        elif os.path.lexists(p):
            one(p)
        elif _GLOB_CHARS & set(item):
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                out.missing.append(display_path(item))
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    walk(mp)
                else:
                    one(mp)
        else:
            out.missing.append(display_path(item))

    for item in items:
        add(os.fspath(item))
    resolved = []
    for p in found:
        try:
            resolved.append(p.resolve())
        except (OSError, RuntimeError):  # a link changed into a loop since it was checked
            out.skipped.append(SkippedInput(display_path(p), "symlink_loop"))
    out.paths = list(dict.fromkeys(resolved))
    return out


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------

def _hash(path: Path) -> tuple[Path, Optional[str], int, Optional[str]]:
    try:
        h, size = file_hash(path)
        return path, h, size, None
    except OSError as e:  # gone, unreadable, or a FIFO, socket... since the folder was walked
        return path, None, 0, read_error_code(e)


def _redo(info: StoredInfo, options: IngestOptions, version: str) -> bool:
    if options.reprocess:
        return True
    if options.reprocess_stale and info.pipeline_version != version:
        return True
    if options.retry_failed and info.status == "failed":
        return True
    return False


def make_engine(options: IngestOptions, config: WorkerConfig):
    if options.engine == "local":
        from .pool import LocalEngine

        return LocalEngine(config, workers=options.workers, timeout=options.timeout)
    if options.engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as e:
            raise IngestError("--engine ray needs Ray: pip install 'nianbao[ray]' (or 'ray>=2.9')") from e
        from .ray_engine import RayEngine

        return RayEngine(config, address=options.ray_address, workers=options.workers, timeout=options.timeout,
                         ship_files=options.ray_ship_files)
    raise ValueError(f"unknown engine {options.engine!r} (local, ray)")


def ingest(inputs: Iterable[str], db: str | Path, options: Optional[IngestOptions] = None,
           store: Optional[Store] = None) -> IngestSummary:
    options = options or IngestOptions()
    t0 = time.perf_counter()
    found = expand_inputs(inputs, options.all_files, options.exclude)
    paths, missing = found.paths, found.missing
    version = pipeline_version(options.pipeline_options)
    summary = IngestSummary(db=redact_url(db) if is_postgres_url(db) else display_path(db), engine=options.engine, inputs=len(paths) + len(missing) + len(found.skipped),
                            missing=missing, excluded=found.excluded,
                            skipped_files=[{"path": s.path, "code": s.code, "reason": s.reason} for s in found.skipped])
    summary.failed.update({"not_found": len(missing)} if missing else {})
    own_store = store is None
    store = store or open_store(db)
    config = WorkerConfig(pipeline_options=options.pipeline_options, pipeline_version=version,
                          extract_fn=options.extract_fn, max_memory_mb=options.max_memory_mb or 0)
    opts = {k: v for k, v in asdict(options).items() if k != "pipeline_options"}
    run_id = store.start_run(version, {"inputs": len(paths), **opts})

    from tqdm import tqdm

    bar = tqdm(total=len(paths), unit="doc", file=sys.stderr, disable=not options.progress, dynamic_ncols=True,
               mininterval=0.5, smoothing=0.05, desc="ingest")
    late_sources: list[tuple[str, str]] = []
    expected: dict[str, str] = {}
    # Paths of documents already stored that this run redoes (--reprocess...): only these overwrite. A
    # new document found stored when its result arrives was written by another ingest process meanwhile
    # (a team database): it is kept and counted as skipped.
    redo: set[str] = set()

    def plan() -> Iterator[Task]:
        """Tasks for what the store lacks; skips and duplicates are counted here."""
        seen: set[str] = set()
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="hash") as hasher:
            for i in range(0, len(paths), HASH_CHUNK_FILES):
                chunk = list(hasher.map(_hash, paths[i:i + HASH_CHUNK_FILES]))
                known = store.lookup([h for _, h, _, _ in chunk if h])
                tasks, sources = [], []
                for path, h, size, err in chunk:
                    if err == "not_found":
                        summary.failed[err] += 1
                        summary.missing.append(display_path(path))
                        bar.update(1)
                        continue
                    if err:
                        summary.skipped_files.append({"path": display_path(path), "code": err,
                                                      "reason": SKIP_REASONS.get(err, "cannot be read")})
                        bar.update(1)
                        continue
                    if h in seen:
                        summary.duplicates += 1
                        late_sources.append((h, str(path)))
                        bar.update(1)
                        continue
                    seen.add(h)
                    info = known.get(h)
                    if info is not None and not _redo(info, options, version):
                        summary.skipped += 1
                        summary.skipped_stale += info.pipeline_version != version
                        sources.append((h, str(path)))
                        bar.update(1)
                        continue
                    expected[str(path)] = h
                    if info is not None:
                        redo.add(str(path))
                    tasks.append(Task(str(path), h, size))
                store.add_sources(sources)
                yield from tasks

    engine = make_engine(options, config)
    results = engine.run(plan())
    try:
        for result in results:
            _write(store, result, expected, summary, run_id, redo)
            bar.update(1)
            failed = sum(summary.failed.values())
            if failed:
                bar.set_postfix_str(f"failed {failed}", refresh=False)
    except KeyboardInterrupt as e:
        summary.interrupted = True
        summary.interrupted_by = "SIGTERM" if isinstance(e, Terminated) else "SIGINT"
    finally:
        results.close()  # stops the workers now, also on an interrupt
        bar.close()
        summary.workers_replaced = getattr(engine, "replaced", 0)
        try:
            store.add_sources(late_sources)
            if options.cross_year and not summary.interrupted:
                from .audit_store import apply_cross_year_redecisions
                from .crossyear import refresh_cross_year

                # Doubted readings decided on a neighbouring year first, so rule 5 is checked on them.
                applied = [a for a in apply_cross_year_redecisions(store) if a.applied]
                summary.cross_year = asdict(refresh_cross_year(store))
                summary.cross_year["redecided"] = len(applied)
            summary.store = store.totals()
            summary.elapsed = time.perf_counter() - t0
            store.finish_run(run_id, summary.as_dict())
        finally:
            if own_store:
                store.close()
    return summary


def _write(store: Store, result: DocumentResult, expected: dict[str, str], summary: IngestSummary, run_id: int,
           redo: Optional[set[str]] = None) -> None:
    # The worker hashes what it read; content that changed since the parent hashed it is stored
    # under its new hash, and left alone if that content is already in the store.
    overwrite = expected.pop(result.path, None) == result.content_hash and (redo is None or result.path in redo)
    try:
        _, written = store.write_document(result, overwrite=overwrite, run_id=run_id)
    except getattr(store, "UNSTORABLE", UNSTORABLE_SQLITE) as e:
        # The result holds something the store cannot take (NaN, a number past 64 bits, ...): this
        # document fails, the run goes on. (A store that cannot be written at all raises on.)
        result = DocumentResult(path=result.path, content_hash=result.content_hash, size=result.size,
                                status="failed", pipeline_version=result.pipeline_version, error_code="unstorable",
                                error_message=f"the result cannot be stored: {type(e).__name__}: {e}",
                                format=result.format, pages=result.pages, timings=result.timings,
                                peak_rss_mb=result.peak_rss_mb, worker=result.worker)
        _, written = store.write_document(result, overwrite=overwrite, run_id=run_id)
    if not written:
        summary.skipped += 1
        return
    if result.status == "done":
        summary.done += 1
        rec = result.record or {}
        summary.review_needed += bool((rec.get("review") or {}).get("needed"))
    else:
        summary.failed[result.error_code or "unknown"] += 1
    if result.peak_rss_mb:
        summary.peak_worker_rss_mb = max(summary.peak_worker_rss_mb, result.peak_rss_mb)
