"""Extraction of the fixed-layout formats governments publish in: digital PDF, PDF with its tables
turned 90° on portrait pages (``pdf_turned``), and OFD (GB/T 33190), on factory documents.

    python benchmarks/bench_formats.py [--kinds pdf,pdf_turned,ofd] [--n 30] [--seed 2027]

Each kind renders the same ``--n`` factory reports (natural draws: both templates, rule-breaking
reports, absent tables, money in 元 and 万元; document seeds from ``--seed``, not a training seed)
with the dataset's own renderer for that kind, reads each file with the default pipeline, and scores
it against its gold (``nianbao.evaluate.score_document``): exact documents, field accuracy,
fabricated values, seconds per document in extraction.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

KINDS = ("pdf", "pdf_turned", "ofd")


def render(kind: str, report, path: Path) -> Path:
    """The report rendered by the dataset's renderer for ``kind``, at ``path`` with the kind's suffix."""
    from nianbao.training.factory import dataset

    renderers = {"pdf": dataset.render_pdf_kind, "pdf_turned": dataset.render_pdf_turned_kind,
                 "ofd": dataset.render_ofd_kind}
    if kind not in renderers:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    out = path.with_suffix(dataset.EXTERNAL_KINDS[kind])
    renderers[kind](report, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=2027)
    args = ap.parse_args()

    from nianbao.evaluate import score_document
    from nianbao.inference.pipeline import Pipeline
    from nianbao.labels import LabelledDocument
    from nianbao.training.factory.build import build_report
    from nianbao.training.factory.options import FactoryOptions
    from nianbao.training.factory.rng import document_seed

    pipeline = Pipeline()
    print("| kind | documents | exact | fields right | fabricated | s/doc |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            exact = right = fields = fabricated = 0
            seconds = 0.0
            for i in range(args.n):
                report = build_report(document_seed(args.seed, i), FactoryOptions())
                path = render(kind, report, Path(tmp) / f"{kind}_{i}")
                t0 = time.perf_counter()
                doc = pipeline.run(path)
                seconds += time.perf_counter() - t0
                gold = LabelledDocument(id=report.id, document=None, agency=report.agency, year=report.year,
                                        template=report.template, found=report.found, values=report.values)
                score = score_document(gold, doc)
                exact += score.exact
                right += score.fields_correct
                fields += score.fields_total
                fabricated += score.fabricated
                path.unlink()
            print(f"| {kind} | {args.n} | {exact}/{args.n} | {right}/{fields} | {fabricated} | {seconds / args.n:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
