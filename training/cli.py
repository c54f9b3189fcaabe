"""`nianbao train` and `nianbao retrain`: one config file each, single keys overridden from the command line."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "token_classifier.cfg"
RETRAIN_CONFIG = Path(__file__).resolve().parent / "configs" / "retrain.cfg"


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .train import train

    # Our progress at INFO; others (onnxruntime's quantiser logs through the root logger) at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("nianbao").setLevel(logging.INFO)
    cfg = load_config(args.config, args.set or [])
    metrics = train(cfg)
    print(json.dumps({"data": metrics["data"], "final": metrics["history"][-1:] or None,
                      "onnx_bytes": metrics["onnx_bytes"], "seconds": metrics["seconds"]}, ensure_ascii=False, indent=1))
    return 0


def retrain_summary(report: dict) -> str:
    """Old vs new on the held-out documents, and the decision."""
    old, new = report["held_out"]["old"], report["held_out"]["new"]
    rows = [f"{'held out':<10} {'docs':>5}  {'exact old/new':>14}  {'non-zero correct old/new':>26}  {'fabricated old/new':>18}"]
    for group in old:
        o, n = old[group], new[group]
        rows.append(f"{group:<10} {o['documents']:>5}  {o['exact']:>6} / {n['exact']:<6}  "
                    f"{o['nonzero_correct']:>8} / {n['nonzero_correct']:<6} of {o['nonzero_fields']:<6}  "
                    f"{o['fabricated']:>8} / {n['fabricated']:<7}")
    data = report["data"]
    used = {g: f"{v['used']}/{v['documents']}" for g, v in data.get("groups", {}).items()}
    verdict = "PROMOTED" if report["promoted"] else ("would promote" if report.get("would_promote") else "not promoted")
    return "\n".join([
        f"{report['version']} (parent {report['parent']}): {verdict}",
        f"reason: {report['reason']}",
        f"training documents used: {used}; windows {data.get('train_sequences')}; statutory tables not usable "
        f"(no reading matched the corrections): {data.get('tables_not_usable', {}).get('count', 0)}",
        *rows,
        f"seconds: {report['seconds']}",
        f"report: {report['report']}" + ("" if report.get("dry_run") else f"; card: {report['card']}"),
    ])


def cmd_retrain(args: argparse.Namespace) -> int:
    from .config import load_config
    from .retrain import retrain

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("nianbao").setLevel(logging.INFO)
    cfg = load_config(args.config, args.set or [])
    result = retrain(cfg, dry_run=args.dry_run, config_path=str(args.config), overrides=args.set or [])
    print(retrain_summary(result.report))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train the token classifier from a config file")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="a .cfg file (see training/configs/)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override one key of the config")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("retrain", help="fine-tune the installed classifier on reviewed labels; promote it only if better")
    p.add_argument("--config", default=str(RETRAIN_CONFIG), help="a .cfg file (default training/configs/retrain.cfg)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override one key of the config")
    p.add_argument("--dry-run", action="store_true",
                   help="train and evaluate, write the candidate and its report; record and promote nothing")
    p.set_defaults(func=cmd_retrain)
