"""`nianbao ingest`, `nianbao export`, `nianbao report`: a thin layer over runner, export and report."""
from __future__ import annotations

import argparse
import os
import signal
import sys

# Exit codes of every command (README, "Exit codes"; defined once in nianbao/errors.py): 2 also for a
# store that cannot be opened or written; 130 / 143 stopped by Ctrl-C / SIGTERM (what was committed
# stays; a rerun resumes).
from nianbao.errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_SOME_FAILED, EXIT_USAGE


def cmd_ingest(args: argparse.Namespace) -> int:
    from nianbao.inference.pipeline import PipelineOptions
    from nianbao.jsonio import dumps_strict

    from .pool import EngineError
    from .runner import IngestError, IngestOptions, Terminated, ingest
    from .store import StoreError, database_errors, describe_store_error

    options = IngestOptions(
        workers=args.workers, engine=args.engine, ray_address=args.ray_address, ray_ship_files=args.ray_ship_files,
        reprocess=args.reprocess, reprocess_stale=args.reprocess_stale, retry_failed=args.retry_failed,
        timeout=args.timeout, max_memory_mb=args.max_memory_mb, pipeline_options=PipelineOptions(spotter=args.spotter),
        extract_fn=args.extract_fn, progress=not args.no_progress, cross_year=not args.no_cross_year,
        all_files=args.all_files, exclude=tuple(args.exclude or ()),
    )

    def _term(signum, frame):  # SIGTERM stops like Ctrl-C: in-flight documents are dropped, the rest is kept
        raise Terminated

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        summary = ingest(args.inputs, args.db, options)
    except (IngestError, StoreError, EngineError) as e:
        print(f"nianbao ingest: {e}", file=sys.stderr)
        return EXIT_USAGE
    except database_errors() as e:  # the store failed during the run (disk full, made read-only, connection lost...)
        print(f"nianbao ingest: {describe_store_error(args.db, e)}; what was committed stays", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:  # before the run started or after it ended: nothing half-written
        print("nianbao ingest: stopped", file=sys.stderr)
        return EXIT_SIGTERM if isinstance(e, Terminated) else EXIT_SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(dumps_strict(summary.as_dict(), indent=1, default=str))
    else:
        print(summary.as_text())
    if summary.interrupted:
        return EXIT_SIGTERM if summary.interrupted_by == "SIGTERM" else EXIT_SIGINT
    return EXIT_OK if summary.inputs and summary.all_read else EXIT_SOME_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    import os

    from .export import ExportError, export
    from .store import Filters

    filters = Filters(year=args.year, template=args.template, status=args.status, needs_review=args.needs_review)
    what = "checks" if args.checks else "fields"
    try:
        n = export(args.db, fmt=args.format, shape=args.shape, out=args.out, filters=filters, what=what,
                   failed_checks_only=args.failed_only, bom=args.bom)
    except ExportError as e:
        print(f"nianbao export: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `nianbao export ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:  # --out cannot be written
        print(f"nianbao export: cannot write {args.out or 'the output'}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    if args.out:
        print(f"{n} rows written to {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from nianbao.inference.crossdoc import HierarchyError

    from .export import ExportError
    from .report import write_report

    if args.hierarchy is not None and not os.path.isfile(args.hierarchy):
        print(f"nianbao report: no hierarchy CSV at {args.hierarchy}", file=sys.stderr)
        return EXIT_USAGE
    try:
        write_report(args.db, args.out, top=args.top, hierarchy=args.hierarchy)
    except (ExportError, HierarchyError) as e:
        print(f"nianbao report: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"nianbao report: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"report written to {args.out}", file=sys.stderr)
    return EXIT_OK


def add_commands(sub) -> None:
    from nianbao.schema import TEMPLATES

    p = sub.add_parser("ingest", help="extract many reports into a results store (resumable, parallel)",
                       description="Extract reports into a store (a SQLite file, or a PostgreSQL database that "
                                   "several ingest processes share). A document is the SHA-256 of its bytes: a re-run skips "
                                   "what the store holds, so a killed run is resumed by running it again.")
    p.add_argument("inputs", nargs="+", metavar="PATH",
                   help="report files, folders (recursive), globs ('reports/**/*.pdf'), or @list.txt (one path per line)")
    p.add_argument("--db", default="results.sqlite", help="the store: a SQLite file (default results.sqlite) or a postgresql://user@host/db URL")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per CPU)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local worker processes, or Ray tasks (pip install 'nianbao[ray]')")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to use (HOST:PORT or ray://HOST:10001); default: RAY_ADDRESS, else a private local instance")
    p.add_argument("--ray-ship-files", action="store_true",
                   help="send each file's bytes with its Ray task (for a cluster without a shared filesystem)")
    p.add_argument("--reprocess", action="store_true", help="redo every input, even those already in the store")
    p.add_argument("--reprocess-stale", action="store_true",
                   help="redo inputs stored by another pipeline version (nianbao version, mapper, schema, models: reprocess with a newly promoted model)")
    p.add_argument("--retry-failed", action="store_true", help="redo inputs stored as failed")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds one document may take before its worker is killed (default 600; 0: no limit)")
    p.add_argument("--max-memory-mb", type=int, default=4096,
                   help="memory one worker may use (address space limit and resident watch; default 4096; 0: no limit)")
    p.add_argument("--spotter", "--mapper", dest="spotter", default="classifier", choices=["classifier", "baseline"],
                   help="what spots the row labels: the trained classifier (default; its version is stored with "
                        "each result) or the schema's labels alone (baseline); --mapper is its former name")
    p.add_argument("--all-files", action="store_true", help="in folders, take every file, not only report suffixes")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out files and folders whose name, path below the folder given, or whole path matches "
                        "GLOB (repeatable; e.g. --exclude '*.md' --exclude 'drafts')")
    p.add_argument("--no-cross-year", action="store_true", help="do not recompute rule 5 across years at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--extract-fn", default=None, help=argparse.SUPPRESS)  # tests: nianbao.ingest.testing
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("export", help="export a results store as CSV, Parquet, JSON lines or Excel")
    p.add_argument("--db", required=True, help="the store (SQLite file or postgresql:// URL)")
    p.add_argument("--format", choices=("csv", "parquet", "jsonl", "xlsx"), default="csv")
    p.add_argument("--shape", choices=("long", "wide", "record", "tables"), default="long",
                   help="long: one row per document and key; wide: one row per document, one column per key; "
                        "record (jsonl only): the output contract of each document; tables (xlsx only): each "
                        "document's three tables as printed, official headers, one sheet each")
    p.add_argument("--out", default=None, help="output file (csv and jsonl go to standard output without it)")
    p.add_argument("--year", type=int, default=None)
    p.add_argument("--template", choices=TEMPLATES, default=None)
    p.add_argument("--status", choices=("done", "failed"), default=None)
    p.add_argument("--needs-review", action="store_true", help="only documents that need review")
    p.add_argument("--checks", action="store_true",
                   help="export checks instead of fields: rules 1-4 and the audit findings (P, A, N) of each document "
                        "and rule 5 across years, with each finding's confidence, sentence, page, table and stated "
                        "values and its verdict (confirmed / dismissed / open, by whom, when)")
    p.add_argument("--failed-only", action="store_true", help="with --checks: only checks that failed")
    p.add_argument("--bom", action="store_true", help="csv: start with a UTF-8 byte order mark (for Excel)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="an HTML audit report of a results store")
    p.add_argument("--db", required=True, help="the store (SQLite file or postgresql:// URL)")
    p.add_argument("--out", default="report.html", help="output HTML file (default report.html)")
    p.add_argument("--top", type=int, default=25, help="rows in the largest-discrepancy tables (default 25)")
    p.add_argument("--hierarchy", default=None, metavar="CSV",
                   help="parent,child agency names for H1 (default: inferred where names nest, e.g. a district and its 街道)")
    p.set_defaults(func=cmd_report)
