"""Throughput of `nianbao ingest`: documents/second into a fresh SQLite store.

    python benchmarks/bench_ingest.py                       # text and PDF, 1 and 2 workers, local and Ray, resume
    python benchmarks/bench_ingest.py --text 400 --pdf 40 --resume 1000 --no-ray

Corpora are made by copying the examples with a harmless line appended (a comment line after a
PDF's %%EOF; a blank-prefixed line at the end of a text), so every copy has its own SHA-256 and is
a new document to the store; the first copy of each example is checked to extract exactly as the
original. Each measurement is a whole cold run into a new store: worker start-up, hashing, the
pipeline, and the parent's one-transaction-per-document writes (``docs/s`` = documents / wall
time). Scaling efficiency = docs/s with 2 workers / (2 × docs/s with 1 worker). CPU time per
document (parent: hashing, scheduling, the SQLite writes; local workers: start-up and extraction)
is printed too: unlike wall time it hardly moves when other work shares the machine. Peak memory per
worker is the largest ``ru_maxrss`` that a worker reported (for Ray: a Ray worker process, which
carries Ray's own runtime). Resume: the time to re-run a finished 1,000-document ingest, which
must skip everything (hash every file, look the hashes up, write nothing).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def make_copies(sources: list[Path], n: int, folder: Path, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        data = src.read_bytes()
        if src.suffix.lower() == ".pdf":
            data += f"\n%nianbao-bench {tag} {i}\n".encode()
        else:
            data += f"\n\n{tag} {i}\n".encode()
        p = folder / f"{src.stem}__{tag}{i:05d}{src.suffix}"
        p.write_bytes(data)
        out.append(p)
    return out


def check_copies_harmless(sources: list[Path], folder: Path) -> None:
    from nianbao.inference.output import to_record
    from nianbao.inference.pipeline import Pipeline

    pipeline = Pipeline()
    for src in sources:
        copy = next(folder.glob(f"{src.stem}__*{src.suffix}"))
        a, b = to_record(pipeline.run(src)), to_record(pipeline.run(copy))
        for k in ("agency", "year", "template", "fields", "checks", "error"):
            if a[k] != b[k]:
                raise SystemExit(f"copy of {src.name} extracts differently ({k}): the suffix is not harmless")


def run(inputs: list[str], db: Path, engine: str, workers: int, **kw) -> dict:
    from nianbao.ingest.runner import IngestOptions, ingest

    if db.exists():
        db.unlink()
    self0, children0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    s = ingest(inputs, db, IngestOptions(engine=engine, workers=workers, progress=False, cross_year=False, **kw))
    wall = time.perf_counter() - t0
    self1, children1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    if s.failed or s.interrupted:
        raise SystemExit(f"{engine}/{workers}: failures {dict(s.failed)}")
    n = max(1, s.written)
    parent_cpu = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime) / n
    # Local workers are our children (counted once they have exited); Ray workers are not.
    worker_cpu = (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime) / n
    return dict(engine=engine, workers=workers, docs=s.written, skipped=s.skipped, wall=wall, rss=s.peak_worker_rss_mb,
                parent_ms=1000 * parent_cpu, worker_ms=1000 * worker_cpu if engine == "local" else None)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"nproc {usable}, {cpu}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=int, default=300, help="text documents per run (default 300)")
    parser.add_argument("--pdf", type=int, default=40, help="PDF documents (5 pages each) per run (default 40)")
    parser.add_argument("--resume", type=int, default=1000, help="documents in the resume measurement (default 1000)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray rows")
    parser.add_argument("--keep", type=Path, default=None, help="build the corpora here and keep them")
    args = parser.parse_args(argv)

    print(f"command: {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    print(f"machine: {machine()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    import nianbao

    print(f"nianbao {nianbao.__version__}")
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    texts = sorted(EXAMPLES.glob("*.txt"))
    pdfs = [EXAMPLES / "real2_002.pdf"]
    corpora = {
        "text": make_copies(texts, args.text, tmp / "text", "t"),
        "pdf (5 pages)": make_copies(pdfs, args.pdf, tmp / "pdf", "p"),
    }
    check_copies_harmless(texts, tmp / "text")
    check_copies_harmless(pdfs, tmp / "pdf")

    rows = []
    t_all = time.perf_counter()
    engines = ["local"] + ([] if args.no_ray else ["ray"])
    for engine in engines:
        if engine == "ray":
            import ray

            from nianbao.ingest.ray_engine import start_local_ray

            t = time.perf_counter()
            start_local_ray(num_cpus=2)
            print(f"Ray {ray.__version__}: local instance on 127.0.0.1 started in {time.perf_counter() - t:.1f} s "
                  "(not counted below)")
        try:
            for kind, files in corpora.items():
                folder = str(files[0].parent)
                base = None
                for workers in (1, 2):
                    r = run([folder], tmp / f"{engine}-{workers}.sqlite", engine, workers)
                    r["kind"] = kind
                    rate = r["docs"] / r["wall"]
                    r["rate"] = rate
                    r["eff"] = None if base is None else rate / (2 * base)
                    base = base or rate
                    rows.append(r)
        finally:
            if engine == "ray":
                ray.shutdown()

    print()
    print("| engine | kind | workers | documents | seconds | docs/s | scaling efficiency | peak RSS per worker MB "
          "| parent CPU ms/doc | worker CPU ms/doc |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        eff = "" if r["eff"] is None else f"{100 * r['eff']:.0f}%"
        wcpu = "" if r["worker_ms"] is None else f"{r['worker_ms']:.1f}"
        print(f"| {r['engine']} | {r['kind']} | {r['workers']} | {r['docs']} | {r['wall']:.2f} | {r['rate']:.1f} | {eff} "
              f"| {r['rss']:.0f} | {r['parent_ms']:.1f} | {wcpu} |")

    # Resume: a finished run of N documents, run again.
    resume_dir = tmp / "resume"
    make_copies(texts, args.resume, resume_dir, "r")
    db = tmp / "resume.sqlite"
    first = run([str(resume_dir)], db, "local", 2)
    from nianbao.ingest.runner import IngestOptions, ingest

    t0 = time.perf_counter()
    again = ingest([str(resume_dir)], db, IngestOptions(workers=2, progress=False, cross_year=False))
    resume_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    again_x = ingest([str(resume_dir)], db, IngestOptions(workers=2, progress=False, cross_year=True))
    resume_x_wall = time.perf_counter() - t0
    assert again.skipped == args.resume and again.written == 0 and again_x.written == 0
    print()
    print("| resume | documents | first run s | re-run s (all skipped) | re-run with rule 5 refresh s | store MB |")
    print("|---|---:|---:|---:|---:|---:|")
    size = sum(p.stat().st_size for p in tmp.glob("resume.sqlite*")) / 1e6
    print(f"| local, 2 workers | {args.resume} | {first['wall']:.1f} | {resume_wall:.2f} | {resume_x_wall:.2f} | {size:.1f} |")
    print(f"\nparent peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"total benchmark time {time.perf_counter() - t_all:.1f} s")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
