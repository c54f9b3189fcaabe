"""Strict JSON for everything the CLI and ingestion write: never ``NaN``/``Infinity``, always valid UTF-8.

``json.dumps`` writes ``NaN`` and ``Infinity`` by default (not JSON: other parsers refuse them) and
keeps lone surrogates (a non-UTF-8 file name read by Python) that no UTF-8 writer can encode.
``dumps_strict`` refuses the first (``ValueError``: a number no document prints) and renders the
second as ``\\xNN`` text, as :func:`nianbao.inputs.display_path` escapes a byte (but without doubling
backslashes: the text is not meant to be turned back into a path).
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable, Optional


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: each surrogate-escaped byte becomes ``\\xNN`` (other text unchanged)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape" if _only_escaped(text) else "surrogatepass").decode(
            "utf-8", "backslashreplace")


def _only_escaped(text: str) -> bool:
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def _clean(obj: Any) -> Any:
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {clean_text(k) if isinstance(k, str) else k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps_strict(obj: Any, *, indent: Optional[int] = None, sort_keys: bool = False,
                 default: Optional[Callable[[Any], Any]] = None) -> str:
    """JSON text of ``obj``: ``allow_nan=False`` (raises ``ValueError`` on NaN or infinity), UTF-8 safe."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, indent=indent, sort_keys=sort_keys, default=default)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # rare: only then walk the object
        return json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False, indent=indent, sort_keys=sort_keys,
                          default=default)


def without_nonfinite(obj: Any) -> Any:
    """A copy with NaN and infinity as None, for writers that must not stop (an export of an old store)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: without_nonfinite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [without_nonfinite(v) for v in obj]
    return obj


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` (checked without recursion: a request or a task
    nested deeper than Python's stack is refused, not a RecursionError)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False
