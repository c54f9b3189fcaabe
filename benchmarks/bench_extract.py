"""Throughput of `extract` on this machine: documents per second for text, HTML and digital-PDF reports.

    python benchmarks/bench_extract.py                 # one process, then a pool of 2 workers
    python benchmarks/bench_extract.py --repeat 50 --workers 4
    python benchmarks/bench_extract.py --workers 0     # one process only
    python benchmarks/bench_extract.py --kinds run_together --baseline --workers 0 --repeat 3
                                                       # crawler text with digits run together, both spotters

Warm measurement: the pipeline is built once per process and every file is run once before the
clock starts (imports, schema, regex compilation are not counted). Each file is then run
``--repeat`` times. In pool mode (multiprocessing, spawn context) each worker builds its own
pipeline once and warms up on the files of the kind measured (a fresh pool per kind); ``docs/s``
there is documents / wall time of the whole batch, so it includes the pool's scheduling overhead.
The machine may be shared: compare rows of one run, and rerun when the load average is high.

Peak RSS is the process's high-water mark (``VmHWM``, else ``getrusage().ru_maxrss``): in one
process it is the peak of that process so far (the kinds run in the order shown, so a row includes
the rows above it); for the pool it is the largest worker's peak for that kind.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def corpora(examples: Path, crawler_dir: Optional[Path] = None, crawler_n: int = 20) -> dict[str, list[Path]]:
    out = {
        "text": sorted(examples.glob("*.txt")),
        "html": [examples / "real2_004.html"],
        "pdf": [examples / "real2_002.pdf"],
    }
    if crawler_dir is not None:
        out["run_together"] = crawler_texts(crawler_dir, crawler_n)
    return out


def crawler_texts(folder: Path, n: int, seed: int = 3141) -> list[Path]:
    """Crawler-style text with digits run together (the factory's ``run_together`` style, Table A
    stocks and flows as real reports print them): ``n`` fresh documents."""
    from nianbao.training.factory.build import build_report
    from nianbao.training.factory.dataset import render_own
    from nianbao.training.factory.options import FactoryOptions
    from nianbao.training.factory.rng import document_seed

    options = FactoryOptions(force={"text.style": "run_together", "text.ocr_damage": 0.0})
    out = []
    for i in range(n):
        report = build_report(document_seed(seed, i), options)
        rendered = render_own("text", report, folder, report.id, options)
        out.append(folder / f"{report.id}{rendered.suffix}")
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    ``ru_maxrss`` survives ``exec`` on Linux, so a spawned worker would report its parent's peak;
    the kernel's per-process high-water mark (``VmHWM``) is read first and getrusage is the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ---------------------------------------------------------------------------------------------
# one process
# ---------------------------------------------------------------------------------------------

def run_single(kinds: dict[str, list[Path]], repeat: int, spotter: str = "classifier") -> list[dict]:
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    pipeline = Pipeline(PipelineOptions(spotter=spotter))
    mode = "1 process" if spotter == "classifier" else f"1 process, {spotter}"
    rows = []
    for kind, files in kinds.items():
        for f in files:  # warm-up, and a benchmark of error paths would be meaningless
            doc = pipeline.run(f)
            if doc.error is not None:
                raise SystemExit(f"{f}: {doc.error.code}: {doc.error.message}")
        times = []
        t0 = time.perf_counter()
        for _ in range(repeat):
            for f in files:
                t = time.perf_counter()
                pipeline.run(f)
                times.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        rows.append(dict(mode=mode, kind=kind, files=len(files), docs=len(times), times=times, wall=wall,
                         rss=peak_rss_mb()))
    return rows


# ---------------------------------------------------------------------------------------------
# a pool of workers
# ---------------------------------------------------------------------------------------------

_PIPELINE = None


def _worker_init(warm: list[str]) -> None:
    global _PIPELINE
    from nianbao.inference.pipeline import Pipeline

    _PIPELINE = Pipeline()
    for f in warm:
        _PIPELINE.run(f)


def _worker_run(path: str) -> tuple[float, Optional[str], float]:
    t = time.perf_counter()
    doc = _PIPELINE.run(path)
    return time.perf_counter() - t, doc.error and doc.error.code, peak_rss_mb()


def run_pool(kinds: dict[str, list[Path]], repeat: int, workers: int) -> list[dict]:
    """One fresh pool per kind, so a row's peak RSS is that kind's alone."""
    ctx = mp.get_context("spawn")
    rows = []
    for kind, files in kinds.items():
        with ctx.Pool(workers, initializer=_worker_init, initargs=([str(f) for f in files],)) as pool:
            # Wait until every worker has built and warmed its pipeline before the clock starts.
            pool.map(time.sleep, [0.05] * workers * 4, chunksize=1)
            jobs = [str(f) for _ in range(repeat) for f in files]
            t0 = time.perf_counter()
            results = list(pool.imap_unordered(_worker_run, jobs, chunksize=1))
            wall = time.perf_counter() - t0
        errors = {e for _, e, _ in results if e}
        if errors:
            raise SystemExit(f"{kind}: errors in pool run: {errors}")
        rows.append(dict(mode=f"pool of {workers}", kind=kind, files=len(files), docs=len(results),
                         times=[t for t, _, _ in results], wall=wall, rss=max(r for _, _, r in results)))
    return rows


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"nproc {usable} (cpu_count {os.cpu_count()}), {cpu_model()}, Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.system()} {platform.release()}")


def table(rows: list[dict]) -> str:
    out = ["| mode | kind | documents | seconds/doc (median) | docs/s | peak RSS MB |",
           "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['mode']} | {r['kind']} | {r['docs']} ({r['files']} file{'s' * (r['files'] != 1)}) "
                   f"| {statistics.median(r['times']):.4f} | {r['docs'] / r['wall']:.1f} | {r['rss']:.0f} |")
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs of each file per measurement (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="pool size for the parallel run; 0 skips it (default 2)")
    parser.add_argument("--kinds", default="text,html,pdf",
                        help="comma-separated subset of text,html,pdf,run_together (crawler text from the factory)")
    parser.add_argument("--crawler-n", type=int, default=20, help="documents of the run_together kind (default 20)")
    parser.add_argument("--baseline", action="store_true",
                        help="also run one process with the baseline spotter (the schema's labels alone)")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="folder of the example reports")
    args = parser.parse_args(argv)

    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench_crawler_") as crawler_dir:  # the crawler texts go with it
        return measure(args, Path(crawler_dir) if "run_together" in args.kinds else None)


def measure(args: argparse.Namespace, crawler_dir: Optional[Path]) -> int:
    all_kinds = corpora(args.examples, crawler_dir, args.crawler_n)
    kinds = {k: all_kinds[k] for k in args.kinds.split(",")}
    for k, files in kinds.items():
        missing = [f for f in files if not f.exists()]
        if not files or missing:
            raise SystemExit(f"{k}: no input files ({missing or args.examples})")

    print(f"command: {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    print(f"machine: {machine()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    import nianbao
    print(f"nianbao {nianbao.__version__}, repeat {args.repeat}, "
          + ", ".join(f"{k}: {', '.join(f.name for f in v)}" for k, v in kinds.items()))
    print()

    t0 = time.perf_counter()
    rows = run_single(kinds, args.repeat)
    if args.baseline:
        rows += run_single(kinds, args.repeat, "baseline")
    if args.workers > 0:
        rows += run_pool(kinds, args.repeat, args.workers)
    print(table(rows))
    print(f"\ntotal benchmark time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
