"""Numbers printed in full: 7117339.04 is ``7117339.04``, never ``7.11734e+06`` (what ``:g`` prints)."""
from __future__ import annotations

import math
from decimal import Decimal


def full_number(value) -> str:
    """Positional notation, every integer digit kept; floats to 15 significant digits (what a float holds)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return str(v)
    if v.is_integer() and abs(v) < 2 ** 63:
        return str(int(v))
    text = format(Decimal(f"{v:.15g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
