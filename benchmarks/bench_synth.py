"""Throughput of the report factory on this machine: documents per second per kind.

    python benchmarks/bench_synth.py                      # 300 docs for text/HTML, fewer for slow kinds
    python benchmarks/bench_synth.py --n 1000 --kinds text,html --workers 2

One process: each document is built (content, layout, prose), rendered, written, read back
with the project's reader and lineariser and aligned to token labels, i.e. everything
``nianbao synth`` does per rendering except the Parquet write. ``build`` is the report alone.
The end-to-end row runs ``synthesize`` (progress bar off) with the worker pool, Parquet and card
included, for text+HTML together: its docs/s counts documents (each rendered in both kinds).
The 10,000-document column extrapolates linearly. The machine may be shared: rerun when loaded.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from nianbao.training.factory.align import align
from nianbao.training.factory.build import build_report
from nianbao.training.factory.dataset import (OWN_KINDS, SynthConfig, available_kinds, render_own, render_pdf_kind,
                                              render_scan_kind, synthesize)
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.rng import document_seed

SLOW = {"docx": 5, "pdf": 10, "scan": 60}  # documents = n // factor for the slow kinds


def bench_build(n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        build_report(document_seed(0, i))
    return time.perf_counter() - t


def bench_kind(kind: str, n: int, folder: Path) -> float:
    options = FactoryOptions()
    t = time.perf_counter()
    for i in range(n):
        report = build_report(document_seed(0, i), options)
        name = f"{kind}_{i}"
        if kind in OWN_KINDS:
            rendered = render_own(kind, report, folder, name, options)
        elif kind == "pdf":
            rendered, _ = render_pdf_kind(report, folder / f"{name}.pdf")
        else:
            rendered = render_scan_kind(report, folder / f"{name}.pdf", None)
        if kind != "scan":
            align(folder / f"{name}{rendered.suffix}", rendered.units or None, report)
    return time.perf_counter() - t


def row(label: str, docs: int, seconds: float) -> str:
    rate = docs / seconds
    return f"| {label} | {docs} | {1000 * seconds / docs:.1f} | {rate:.1f} | {10000 / rate / 60:.1f} min |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--kinds", default="text,html,docx,pdf,scan")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    kinds, missing = available_kinds(args.kinds.split(","))
    print(f"# report factory throughput: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    if missing:
        print(f"(skipped, renderer missing: {', '.join(missing)})")
    print("| mode / kind | documents | ms/doc | docs/s | 10,000 docs |")
    print("|---|---:|---:|---:|---:|")
    build_report(0)  # imports, schema
    print(row("1 process: build only", args.n, bench_build(args.n)), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            n = max(3, args.n // SLOW.get(kind, 1))
            bench_kind(kind, 1, Path(tmp))  # warm-up: imports (python-docx, pymupdf, cv2)
            print(row(f"1 process: {kind}", n, bench_kind(kind, n, Path(tmp))), flush=True)
        fast = [k for k in ("text", "html") if k in kinds]
        if fast:
            out = Path(tmp) / "run"
            t = time.perf_counter()
            synthesize(SynthConfig(n=args.n, out=out, seed=0, kinds=tuple(fast), workers=args.workers), progress=False)
            print(row(f"synth --workers {args.workers}: {'+'.join(fast)}", args.n, time.perf_counter() - t), flush=True)


if __name__ == "__main__":
    main()
