"""`nianbao review`: the review web app over a results store, and the queue as text."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from pathlib import Path

from nianbao.errors import EXIT_OK, EXIT_USAGE


def cmd_review(args: argparse.Namespace) -> int:
    from .app import ReviewConfig, check_bind, serve
    from .corrections import DEFAULT_LABELS_DIR
    from .queue import QueueFilters, load_accept_policy, review_queue

    from nianbao.ingest.store import is_postgres_url, open_store
    from nianbao.jsonio import dumps_strict

    team_db = is_postgres_url(args.db)
    if not team_db and not Path(args.db).exists():
        print(f"nianbao review: no store at {args.db} (run `nianbao ingest ... --db {args.db}` first)", file=sys.stderr)
        return EXIT_USAGE
    token = args.token or os.environ.get("NIANBAO_REVIEW_TOKEN") or None
    if args.list:
        with open_store(args.db) as store:
            policy = load_accept_policy(threshold=args.accept_threshold)
            items = review_queue(store, QueueFilters(agency=args.agency, year=args.year, rule=args.rule,
                                                     status=args.status), policy)
        print(policy.describe())
        for it in items:
            print(dumps_strict(asdict(it)) if args.json else
                  f"{it.id:>6}  expected wrong {it.expected_errors:6.2f}  doubtful {it.doubtful:3d}  "
                  f"rules {','.join(it.failing_rules) or '-':12}  {it.agency or '?'} {it.year or '?'}  {it.review_status}")
        return EXIT_OK
    try:
        check_bind(args.host, token)
        config = ReviewConfig(db=args.db if team_db else Path(args.db), labels_dir=Path(args.labels or DEFAULT_LABELS_DIR),
                              reviewer=args.reviewer or os.environ.get("USER") or "reviewer", token=token,
                              accept_threshold=args.accept_threshold, host=args.host,
                              allow_hosts=tuple(args.allow_host or ()))
    except ValueError as e:
        print(f"nianbao review: {e}", file=sys.stderr)
        return EXIT_USAGE
    serve(config, args.host, args.port)
    return EXIT_OK


def add_commands(sub) -> None:
    p = sub.add_parser("review", help="review doubtful values in a browser (a local web app over a results store)")
    p.add_argument("--db", required=True, help="the results store written by nianbao ingest (SQLite file or postgresql:// URL)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; any other needs --token)")
    p.add_argument("--token", default=None, help="access token required on every request, at least 16 characters "
                                                 "(or NIANBAO_REVIEW_TOKEN)")
    p.add_argument("--allow-host", action="append", default=None, metavar="NAME",
                   help="a host name the app answers besides 127.0.0.1, localhost, ::1 and --host (repeatable; "
                        "e.g. this machine's LAN name); requests naming any other host get 400")
    p.add_argument("--labels", default=None, help="where approved documents are written (default labels/reviewed)")
    p.add_argument("--reviewer", default=None, help="your name in the provenance of labels (default $USER)")
    p.add_argument("--accept-threshold", type=float, default=None,
                   help="fields at or above this confidence are not asked about (default: the measured policy's)")
    p.add_argument("--list", action="store_true", help="print the queue instead of serving the app")
    p.add_argument("--json", action="store_true", help="with --list: one JSON object per document")
    p.add_argument("--agency", default=None)
    p.add_argument("--year", type=int, default=None)
    p.add_argument("--rule", default=None)
    p.add_argument("--status", default="open", choices=("open", "pending", "in_review", "approved", "all"))
    p.set_defaults(func=cmd_review)
