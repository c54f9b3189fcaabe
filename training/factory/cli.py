"""``nianbao synth``: generate labelled synthetic reports (registered by ``nianbao.cli``).

Only argparse is imported here: ``nianbao extract`` loads this module on every run, so the
factory's heavy imports (datasets, python-docx) wait until ``synth`` actually runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _parse_force(items: list[str]) -> dict[str, object]:
    """``name=value`` pairs; a value that reads as JSON (true, 3) is that, otherwise a string."""
    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--force expects name=value, got {item!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def cmd_synth(args: argparse.Namespace) -> int:
    from .dataset import KINDS, SynthConfig, synthesize
    from .options import FactoryOptions

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"unknown kinds {unknown} (available: {', '.join(KINDS)})")
    options = FactoryOptions(broken_fraction=args.broken_fraction, force=_parse_force(args.force))
    config = SynthConfig(n=args.n, out=Path(args.out), seed=args.seed, kinds=kinds, workers=args.workers, options=options)
    try:
        summary = synthesize(config, overwrite=args.overwrite, progress=not args.quiet)
    except FileExistsError as e:
        print(f"nianbao synth: {e}", file=sys.stderr)
        return 2
    for kind in summary.skipped_kinds:
        print(f"nianbao synth: skipped kind {kind!r}: its renderer (training/factory/render_{kind}.py) is not there yet",
              file=sys.stderr)
    made = ", ".join(f"{k} {v}" for k, v in summary.renderings.items()) or "nothing"
    print(f"{summary.documents} documents ({made}) in {args.out}; card: {Path(args.out) / 'README.md'}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate labelled synthetic reports (the report factory)")
    p.add_argument("--n", type=int, default=100, help="number of documents (default 100)")
    p.add_argument("--kinds", default="text,html", help="renderings, comma-separated: text,html,docx,pdf,scan,ofd,pdf_turned")
    p.add_argument("--seed", type=int, default=0, help="run seed: same seed, same files byte for byte")
    p.add_argument("--out", required=True, help="output folder (docs/, data/, README.md)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    p.add_argument("--broken-fraction", type=float, default=0.3, help="share of documents breaking rules 1-4 (default 0.3)")
    p.add_argument("--force", action="append", default=[], metavar="TRAIT=VALUE",
                   help="force a style trait, e.g. text.style=pipes or layout.placeholder=0; scans: scan.phone=true "
                        "(phone photos), scan.split_table=true (a table from a page's bottom onto the next); "
                        "a number 0..1 is the share of documents (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier factory run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)
