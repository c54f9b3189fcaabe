"""The `nianbao` command: a thin layer over functions that tests import and call."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable, Optional

from nianbao.inference.pipeline import Pipeline, PipelineOptions

REPORT_SUFFIXES = {".txt", ".md", ".html", ".htm", ".shtml", ".docx", ".pdf",
                   ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def expand_inputs(items: Iterable[str]) -> list[Path]:
    """Files as given; folders walked for report files, in a stable order."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in REPORT_SUFFIXES))
        else:
            out.append(p)
    return out


def cmd_extract(args: argparse.Namespace) -> int:
    from nianbao.inference.output import summary, to_record

    from nianbao.inference.ocr import OcrOptions

    pipeline = Pipeline(PipelineOptions(mapper=args.mapper, ocr=OcrOptions(debug_dir=args.debug_dir)))
    # A file that fails gets its error object in the output; the run itself succeeds.
    for path in expand_inputs(args.files):
        doc = pipeline.run(path)
        if args.jsonl:
            sys.stdout.write(json.dumps(to_record(doc), ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(summary(doc) + "\n\n")
        sys.stdout.flush()
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nianbao.evaluate import evaluate

    pipeline = Pipeline(PipelineOptions(mapper=args.mapper))
    report = evaluate(Path(args.gold), pipeline.run)
    if args.json:
        print(json.dumps({"totals": report.totals(),
                          "documents": [{"id": d.id, "exact": d.exact, "wrong": d.wrong} for d in report.docs]},
                         ensure_ascii=False, indent=1, default=str))
    else:
        print(report.as_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nianbao", description="Statutory tables of 政府信息公开工作年度报告 as checked data.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("extract", help="extract the three statutory tables from report files or folders")
    p.add_argument("files", nargs="+", help="report files (.txt .md .html .docx .pdf) or folders")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per input file (the output contract)")
    p.add_argument("--mapper", default="classifier", choices=["classifier", "baseline"],
                   help="how row labels are found: the trained classifier with the schema's labels (default), or the schema's labels alone")
    p.add_argument("--debug-dir", default=None, metavar="DIR",
                   help="write a picture of each OCR-read table page (regions, cells coloured by confidence) here")
    p.set_defaults(func=cmd_extract)
    p = sub.add_parser("evaluate", help="score extraction against gold labels")
    p.add_argument("--gold", default=str(Path(__file__).resolve().parents[1] / "labels" / "gold"),
                   help="folder of gold files (project format, or the spec's *.gold.json beside the documents)")
    p.add_argument("--mapper", default="classifier", choices=["classifier", "baseline"])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)
    # Commands of later stages register themselves; a stage whose extra is not installed is skipped.
    for module in ("nianbao.training.cli", "nianbao.training.factory.cli", "nianbao.ingest.cli", "nianbao.review.cli",
                   "nianbao.review.labelstudio"):
        try:
            mod = __import__(module, fromlist=["add_commands"])
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("nianbao"):
                continue
            raise
        mod.add_commands(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
