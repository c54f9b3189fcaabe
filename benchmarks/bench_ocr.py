"""Speed, memory and accuracy of the OCR stage on scanned versions of a real report.

    python benchmarks/bench_ocr.py                      # speed (5 repeats), memory, accuracy
    python benchmarks/bench_ocr.py --repeat 3 --no-pool

The scans are made here from ``examples/real2_002.pdf`` (5 pages: 2 of prose, 3 with tables):
pages rendered to images at 150 and 300 dpi and wrapped in an image-only PDF, plus a lightly
degraded 200-dpi copy (rotation, blur, noise, JPEG) and, when the report factory is installed, its
realistic scan (seal, perspective, bleed-through).

Speed, warm (models loaded, every page read once before the clock starts), per page and per
report, interleaved in the same run with plain full-page rapidocr (detection + direction
classifier + recognition, its defaults) on the same page images: the ratio is ours / full-page.
Both read the same rasterised page (pypdfium2 at the stage's dpi); the per-report figures include
rasterisation for both, and ours includes everything after it (layout, structure, recognition,
locate, map, reconcile). The machine may be shared: the load average is printed; compare the rows
of one run.

Memory: peak RSS of a fresh worker process that loads the models and extracts the 150-dpi scan.
Pool: two worker processes with one onnxruntime thread each, against one process with two threads.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "examples" / "real2_002.pdf"
GOLD = ROOT / "labels" / "gold" / "real2_002.json"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_scans(folder: Path) -> dict[str, Path]:
    from nianbao.inference.ocr.synth import scanned_copy

    scans = {
        "150 dpi": scanned_copy(PDF, folder / "scan150.pdf", 150),
        "300 dpi": scanned_copy(PDF, folder / "scan300.pdf", 300),
        "200 dpi degraded": scanned_copy(PDF, folder / "scan200d.pdf", 200, seed=5),
    }
    try:
        import numpy as np
        from nianbao.training.factory.render_scan import ScanOptions, render_scan

        for seed in (1, 2, 3):
            out = folder / f"factory{seed}.pdf"
            render_scan(PDF, out, np.random.default_rng(seed), ScanOptions())
            scans[f"factory scan seed {seed}"] = out
    except Exception as e:  # the factory lands separately
        print(f"(factory scans skipped: {type(e).__name__}: {e})")
    return scans


# ---------------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------------

def accuracy(scans: dict[str, Path]) -> list[dict]:
    from nianbao.inference.pipeline import Pipeline
    from nianbao.labels import load_labelled

    from nianbao.evaluate import score_document

    gold = load_labelled(GOLD)
    pipeline = Pipeline()
    rows = []
    for name, path in scans.items():
        doc = pipeline.run(path)
        s = score_document(gold, doc)
        rows.append(dict(scan=name, exact=s.exact, fields=f"{s.fields_correct}/{s.fields_total}",
                         nonzero=f"{s.nonzero_correct}/{s.nonzero_total}", fabricated=s.fabricated,
                         tables=f"{s.tables_correct}/3", agency=s.agency_ok, year=s.year_ok, review=doc.review.needed,
                         wrong=s.wrong[:5], error=doc.error.code if doc.error else None))
    return rows


# ---------------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------------

def speed(scan: Path, repeat: int, threads: int) -> dict:
    from nianbao.inference.ocr import OcrOptions
    from nianbao.inference.ocr.engine import get_engine
    from nianbao.inference.ocr.layout import get_layout_model
    from nianbao.inference.ocr.page import PageReader
    from nianbao.inference.ocr.prep import pdf_pages
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    options = OcrOptions(threads=threads)
    engine = get_engine(threads)
    reader = PageReader(engine, get_layout_model(threads), options)
    pipeline = Pipeline(PipelineOptions(ocr=options))
    n_pages = 5
    images = list(pdf_pages(scan, list(range(1, n_pages + 1)), options.dpi, options.max_side))
    # Warm-up: every page once each way, and the whole report once.
    results = [reader.read(img, read_title=img.number == 1) for img in images]
    for img in images:
        engine.full_page(img.image)
    pipeline.run(scan)
    table_pages = [img.number for img, r in zip(images, results) if r.info.get("tables")]
    ours: dict[int, list[float]] = {img.number: [] for img in images}
    full: dict[int, list[float]] = {img.number: [] for img in images}
    doc_ours, doc_full = [], []
    for _ in range(repeat):
        for img in images:
            t = time.perf_counter()
            reader.read(img, read_title=img.number == 1)
            ours[img.number].append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.full_page(img.image)
            full[img.number].append(time.perf_counter() - t)
        t = time.perf_counter()
        pipeline.run(scan)
        doc_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        for img in pdf_pages(scan, list(range(1, n_pages + 1)), options.dpi, options.max_side):
            engine.full_page(img.image)
        doc_full.append(time.perf_counter() - t)
    med = statistics.median

    def per_kind(d: dict[int, list[float]], pages: list[int]) -> float:
        return med([med(d[p]) for p in pages]) if pages else float("nan")

    other = [p for p in ours if p not in table_pages]
    return dict(threads=threads, table_pages=table_pages, other_pages=other,
                table_ours=per_kind(ours, table_pages), table_full=per_kind(full, table_pages),
                other_ours=per_kind(ours, other), other_full=per_kind(full, other),
                doc_ours=med(doc_ours), doc_full=med(doc_full),
                per_page={p: (med(ours[p]), med(full[p])) for p in ours},
                stages={k: v for k, v in results[2].info.items() if k.startswith("t_") or k in ("crops", "seconds")})


# ---------------------------------------------------------------------------------------------
# memory and a pool of two workers
# ---------------------------------------------------------------------------------------------

def _hwm_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss it is not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_memory(args) -> tuple[float, float, float, float]:
    scan, threads = args
    from nianbao.inference.ocr import OcrOptions
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    before = _hwm_mb()
    pipeline = Pipeline(PipelineOptions(ocr=OcrOptions(threads=threads)))
    t = time.perf_counter()
    pipeline.run(scan)
    cold = time.perf_counter() - t
    after_one = _hwm_mb()
    for _ in range(2):
        pipeline.run(scan)
    return before, after_one, _hwm_mb(), cold


_PIPE = None


def _pool_init(threads: int) -> None:
    global _PIPE
    from nianbao.inference.ocr import OcrOptions
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    _PIPE = Pipeline(PipelineOptions(ocr=OcrOptions(threads=threads)))


def _pool_run(path: str) -> float:
    t = time.perf_counter()
    _PIPE.run(path)
    return time.perf_counter() - t


def pool(scan: Path, docs: int) -> dict:
    ctx = mp.get_context("spawn")
    out = {}
    for workers, threads in ((1, 2), (2, 1)):
        with ctx.Pool(workers, initializer=_pool_init, initargs=(threads,)) as p:
            p.map(_pool_run, [str(scan)] * workers)  # warm every worker
            t = time.perf_counter()
            p.map(_pool_run, [str(scan)] * docs, chunksize=1)
            wall = time.perf_counter() - t
        out[f"{workers} worker(s) x {threads} thread(s)"] = (docs / wall, wall / docs)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pool-docs", type=int, default=6)
    ap.add_argument("--no-pool", action="store_true")
    args = ap.parse_args(argv)
    print(f"# bench_ocr  {time.strftime('%Y-%m-%d %H:%M')}  {platform.processor() or platform.machine()}  "
          f"cpus={os.cpu_count()}  python {platform.python_version()}  load at start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        scans = make_scans(Path(tmp))
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as p:
            before, one, three, cold = p.apply(_worker_memory, ((str(scans["300 dpi"]), 2),))
        print(f"\n## memory per worker (fresh process, 300-dpi scan)\n\npeak RSS {one:.0f} MB after one report, "
              f"{three:.0f} MB after three (the process before building the pipeline: {before:.0f} MB); "
              f"first report in a cold worker {cold:.1f} s (model loading and onnxruntime warm-up included)")

        print("\n## speed, warm (median of repeats; ours and full-page rapidocr interleaved)\n")
        print("| scan | threads | table page: ours s | full-page s | ratio | other page: ours s | full-page s | ratio "
              "| 5-page report: ours s | full-page s | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        detail = []
        for name in ("150 dpi", "300 dpi"):
            r = speed(scans[name], args.repeat, threads=2)
            detail.append((name, r))
            print(f"| {name} | {r['threads']} | {r['table_ours']:.2f} | {r['table_full']:.2f} | "
                  f"{r['table_ours'] / r['table_full']:.2f} | {r['other_ours']:.2f} | {r['other_full']:.2f} | "
                  f"{r['other_ours'] / r['other_full']:.2f} | {r['doc_ours']:.2f} | {r['doc_full']:.2f} | "
                  f"{r['doc_ours'] / r['doc_full']:.2f} |")
        for name, r in detail:
            pages = ", ".join(f"p{p} {o:.2f}/{f:.2f}" for p, (o, f) in r["per_page"].items())
            print(f"\n{name}: table pages {r['table_pages']}, per page ours/full-page s: {pages}; "
                  f"a table page's stages: {r['stages']}")
        if not args.no_pool:
            print("\n## throughput on the 2 cores (150-dpi scan, reports in parallel)\n")
            print("| workers | reports/s | s/report |")
            print("|---|---:|---:|")
            for k, (rate, per) in pool(scans["150 dpi"], args.pool_docs).items():
                print(f"| {k} | {rate:.3f} | {per:.2f} |")

        print("\n## accuracy (gold: labels/gold/real2_002.json)\n")
        print("| scan | exact | fields | non-zero | fabricated | tables | agency | year | review | error |")
        print("|---|---|---|---|---:|---|---|---|---|---|")
        for row in accuracy(scans):
            print(f"| {row['scan']} | {'yes' if row['exact'] else 'NO'} | {row['fields']} | {row['nonzero']} | "
                  f"{row['fabricated']} | {row['tables']} | {'ok' if row['agency'] else 'x'} | "
                  f"{'ok' if row['year'] else 'x'} | {'yes' if row['review'] else 'no'} | {row['error'] or ''} |")
            for w in row["wrong"]:
                print(f"|  | wrong: {w} |||||||||")
    print(f"\nload at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
