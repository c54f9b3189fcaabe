"""A training run is one commented .cfg file; single keys are overridden from the command line."""
from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any


def _coerce(value: str) -> Any:
    v = value.strip()
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def load_config(path: str | Path, overrides: list[str] = ()) -> dict[str, dict[str, Any]]:
    """Read the config; each override is ``section.key=value`` (the key must exist: typos fail loudly)."""
    parser = configparser.ConfigParser(inline_comment_prefixes=("#",))
    with open(path, encoding="utf-8") as fh:
        parser.read_file(fh)
    cfg = {s: {k: _coerce(v) for k, v in parser.items(s)} for s in parser.sections()}
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} is not section.key=value")
        dotted, value = item.split("=", 1)
        section, key = dotted.split(".", 1)
        if section not in cfg or key not in cfg[section]:
            raise KeyError(f"override {dotted!r}: no such key in {path}")
        cfg[section][key] = _coerce(value)
    return cfg
