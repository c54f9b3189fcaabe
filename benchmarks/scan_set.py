"""A factory scan set with turned tables among the scans: the set issue 13 measures scans on.

    python benchmarks/scan_set.py --n 40 --seed 8131 --turned 0.2 --out /tmp/scanset
    python benchmarks/bench_scan_trust.py /tmp/scanset

``nianbao synth --kinds scan`` scans the upright digital PDF only; here a share ``--turned`` of the
documents is printed with every table a quarter turn on pages of its own (the ``pdf_turned``
rendering, ccw or cw as that kind draws it) and then scanned the same way (``render_scan``, same
streams). Each scan gets its gold (the factory's labelled-document format) beside it. Which
documents are turned is drawn from the run seed; same arguments, same bytes.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def make(index: int, run_seed: int, turned_share: float, out: Path, force: dict) -> str:
    from nianbao.training.factory.align import gold_record
    from nianbao.training.factory.build import build_report
    from nianbao.training.factory.dataset import doc_id, render_scan_kind, render_turned_pdf, split_of
    from nianbao.training.factory.options import FactoryOptions
    from nianbao.training.factory.rng import document_seed, numpy_stream

    seed = document_seed(run_seed, index)
    options = FactoryOptions().with_force(force)
    report = build_report(seed, options)
    name = doc_id(index, seed)
    turned = numpy_stream(seed, "scan_set.turned").random() < turned_share
    path = out / f"{name}.pdf"
    with tempfile.TemporaryDirectory() as tmp:
        pdf = None
        if turned:
            src = Path(tmp) / "turned.pdf"
            pdf = (src, render_turned_pdf(report, src))
        rendered = render_scan_kind(report, path, pdf, options)   # scan.* traits forced too
    traits = {**report.traits, **rendered.traits, "scan_set.turned": bool(turned)}
    gold = gold_record(report, path.name, rendered.data, "scan", split_of(seed), traits, rendered.boxes)
    (out / f"{name}.json").write_text(json.dumps(gold, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                      encoding="utf-8")
    return f"{name}{' (turned tables)' if turned else ''}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--turned", type=float, default=0.2, help="share of documents with turned tables")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--force", action="append", default=[], metavar="TRAIT=VALUE", help="as nianbao synth --force")
    args = ap.parse_args(argv)
    from nianbao.training.factory.cli import _parse_force

    force = _parse_force(args.force)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):
        print(make(i, args.seed, args.turned, args.out, force), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
