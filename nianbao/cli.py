"""The `nianbao` command: a thin layer over functions that tests import and call."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from nianbao import __version__
# Exit codes of every command (README, "Exit codes"), defined once in nianbao/errors.py: 0 every input
# read; 1 some inputs failed; 2 usage or configuration error (argparse's own status for a bad option).
from nianbao.errors import EXIT_OK, EXIT_SIGINT, EXIT_SOME_FAILED, EXIT_USAGE
from nianbao.inference.pipeline import Pipeline, PipelineOptions
from nianbao.inference.readers import REPORT_SUFFIXES  # the one registry of report names
from nianbao.extraction import ExtractInput, extract_one, failed_document
from nianbao.labels import gold_dir
from nianbao.inputs import display_path, is_excluded, skip_code

DEFAULT_MAX_MEMORY_MB = 4096  # the same per-document cap as `nianbao ingest --max-memory-mb`


@dataclass
class ExtractInputs:
    inputs: list[ExtractInput] = field(default_factory=list)
    empty_folders: list[str] = field(default_factory=list)  # folders that hold no report file
    excluded: int = 0  # left out by --exclude


def _excluded_below(path: Path, root: Path, patterns: list[str]) -> bool:
    """The file, or one of its folders below ``root``, matches an --exclude pattern."""
    if is_excluded(path, patterns, root):
        return True
    parent = path.parent
    while parent != root and root in parent.parents:
        if is_excluded(parent, patterns, root):
            return True
        parent = parent.parent
    return False


def collect_inputs(items: Iterable[str], exclude: Iterable[str] = ()) -> ExtractInputs:
    """Files as given; folders walked for report files, in a stable order. Anything that is not a
    regular file (FIFO, socket, device, symlink loop) or cannot be read is kept with a skip code."""
    patterns = list(exclude)
    out = ExtractInputs()
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = 0
            for q in sorted(p.rglob("*")):
                if q.suffix.lower() not in REPORT_SUFFIXES or q.is_dir():
                    continue
                if patterns and _excluded_below(q, p, patterns):
                    out.excluded += 1
                    continue
                out.inputs.append(ExtractInput(q, skip_code(q)))
                found += 1
            if not found:
                out.empty_folders.append(display_path(p))
        elif patterns and is_excluded(p, patterns):
            out.excluded += 1
        else:
            out.inputs.append(ExtractInput(p, skip_code(p)))
    return out


def expand_inputs(items: Iterable[str], exclude: Iterable[str] = ()) -> list[Path]:
    """Files as given; folders walked for report files, in a stable order."""
    return [i.path for i in collect_inputs(items, exclude).inputs]


def cmd_extract(args: argparse.Namespace) -> int:
    from nianbao.inference.ocr import OcrOptions
    from nianbao.inference.output import summary, to_record
    from nianbao.jsonio import clean_text, dumps_strict

    found = collect_inputs(args.files, args.exclude)
    for folder in found.empty_folders:
        print(f"nianbao extract: no report file in {folder} (looked for {' '.join(sorted(REPORT_SUFFIXES))})",
              file=sys.stderr)
    pipeline = Pipeline(PipelineOptions(spotter=args.spotter, ocr=OcrOptions(debug_dir=args.debug_dir)))
    errors: Counter = Counter()
    review = 0
    # A file that fails gets its error object in the output and the run goes on with the next one.
    for item in found.inputs:
        doc = extract_one(pipeline, item, args.max_memory_mb)
        doc.source = display_path(doc.source)  # a name that is not UTF-8: \xNN escapes (README)
        if args.jsonl:
            try:
                line = dumps_strict(to_record(doc))
            except ValueError as e:  # NaN or infinity: no printed number is one
                doc = failed_document(doc.source, "invalid_value", f"the result holds a value that is not a number: {e}")
                line = dumps_strict(to_record(doc))
            sys.stdout.write(line + "\n")
        else:
            sys.stdout.write(clean_text(summary(doc)) + "\n\n")
        sys.stdout.flush()
        if doc.error is not None:
            errors[doc.error.code] += 1
        elif doc.review.needed:
            review += 1
    n_errors = sum(errors.values())
    detail = f" ({', '.join(f'{k} {v}' for k, v in sorted(errors.items()))})" if errors else ""
    line = (f"nianbao extract: {len(found.inputs)} file{'s' * (len(found.inputs) != 1)}, "
            f"{n_errors} error{'s' * (n_errors != 1)}{detail}, {review} needing review")
    if found.excluded:
        line += f", {found.excluded} excluded"
    print(line, file=sys.stderr)
    return EXIT_SOME_FAILED if n_errors or found.empty_folders or not found.inputs else EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nianbao.evaluate import evaluate

    from nianbao.jsonio import dumps_strict, without_nonfinite

    if not Path(args.gold).is_dir():
        print(f"nianbao evaluate: no gold folder at {args.gold}", file=sys.stderr)
        return EXIT_USAGE
    pipeline = Pipeline(PipelineOptions(spotter=args.spotter))
    try:
        report = evaluate(Path(args.gold), pipeline.run)
    except FileNotFoundError as e:  # a gold file names a document that is not there
        print(f"nianbao evaluate: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(dumps_strict(without_nonfinite({"totals": report.totals(),
                                              "documents": [{"id": d.id, "exact": d.exact, "wrong": d.wrong}
                                                            for d in report.docs]}), indent=1, default=str))
    else:
        print(report.as_text())
    return EXIT_SOME_FAILED if any(d.error for d in report.docs) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nianbao", description="Statutory tables of 政府信息公开工作年度报告 as checked data.",
                                     epilog="exit codes: 0 every input read; 1 some inputs failed; 2 usage or "
                                            "configuration error; 130/143 stopped by Ctrl-C/SIGTERM")
    parser.add_argument("--version", action="version", version=f"nianbao {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("extract", help="extract the three statutory tables from report files or folders")
    p.add_argument("files", nargs="+", help="report files (.txt .md .html .docx .pdf) or folders")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per input file (the output contract)")
    p.add_argument("--spotter", "--mapper", dest="spotter", default="classifier", choices=["classifier", "baseline"],
                   help="what spots the row labels: the trained classifier with the schema's labels and the "
                        "statutory row order (default), or the schema's labels alone (baseline); --mapper is its "
                        "former name")
    p.add_argument("--debug-dir", default=None, metavar="DIR",
                   help="write a picture of each OCR-read table page (regions, cells coloured by confidence) here")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out files and folders whose name, path below the folder given, or whole path matches "
                        "GLOB (repeatable)")
    p.add_argument("--max-memory-mb", type=int, default=DEFAULT_MAX_MEMORY_MB,
                   help="memory one document may add (address space; default 4096, as ingest; 0: no limit); "
                        "a document past it fails with the code memory and the run goes on")
    p.set_defaults(func=cmd_extract)
    p = sub.add_parser("evaluate", help="score extraction against gold labels")
    p.add_argument("--gold", default=str(gold_dir()),
                   help="folder of gold files (project format, or the spec's *.gold.json beside the documents)")
    p.add_argument("--spotter", "--mapper", dest="spotter", default="classifier", choices=["classifier", "baseline"],
                   help="what spots the row labels (as for extract)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)
    # Commands of later stages register themselves; a stage whose extra is not installed is skipped.
    for module in ("nianbao.training.cli", "nianbao.training.factory.cli", "nianbao.ingest.cli", "nianbao.review.cli",
                   "nianbao.review.labelstudio", "nianbao.service"):
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
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("nianbao: stopped", file=sys.stderr)
        return EXIT_SIGINT
    except BrokenPipeError:  # `nianbao ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as e:
        from nianbao.ingest.store import StoreError
        from nianbao.resources import ModelMissing

        # A store it cannot use, or a model that is not installed: one line, no traceback.
        if isinstance(e, (StoreError, ModelMissing)):
            print(f"nianbao {args.command}: {e}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
