"""`nianbao train`: one config file, single keys overridden from the command line."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "token_classifier.cfg"


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


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train the token classifier from a config file")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="a .cfg file (see training/configs/)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override one key of the config")
    p.set_defaults(func=cmd_train)
