"""Soft evidence for choosing among readings of run-together digits: how plausible values are.

These priors only rank readings that the hard evidence (printed cell boundaries, the rules)
cannot separate; a reading they pick is always reported as doubted, with its alternatives.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

_ZETA = 9.58  # sum over v >= 1 of (v + 1) ** -1.1: normalises the count prior
_RARE_APPLICANTS = frozenset({"commercial", "research", "social", "legal", "other"})


def log_prior(value: float, key: str) -> float:
    """log P(value) for one field, from how real reports fill it (many zeros, mostly small)."""
    if key.endswith(".change"):
        if value == 0:
            return math.log(0.7)
        return math.log(0.3) - 1.1 * math.log(abs(value) + 1) - math.log(_ZETA)
    if key.endswith("amount_yuan") or key.endswith("amount_wan"):
        if value == 0:
            return math.log(0.3)
        # Log-uniform over magnitudes: each decade equally likely.
        return math.log(0.7) - math.log(abs(value) + 1) - math.log(12)
    if value == 0:
        return math.log(0.5)
    if value < 0 or value != int(value):
        return -30.0  # a count is a non-negative integer
    # Most applicants are natural persons; organisations' columns are mostly empty.
    rare_column = 1.5 if key.startswith("requests.") and key.rsplit(".", 1)[1] in _RARE_APPLICANTS else 0.0
    return math.log(0.5) - 1.1 * math.log(value + 1) - math.log(_ZETA) - rare_column


def log_relation(values: Mapping[str, Optional[float]], row_prefix: str) -> float:
    """Relations between the fields of one Table A row that real reports almost always show."""
    g = values.get
    score = 0.0
    made, published, total = g(f"{row_prefix}.new_made"), g(f"{row_prefix}.new_published"), g(f"{row_prefix}.total_published")
    if made is not None and published is not None and total is not None:
        # Most bodies publish what they make, and the total includes this year's.
        score -= 0.7 * abs(math.log((made + 1) / (published + 1)))
        if published > total or made > total:
            score -= 3.0
    items, amount = g(f"{row_prefix}.items"), g(f"{row_prefix}.amount_yuan")
    if items and amount:
        # Average amount per procurement item: log10 around 5.5 (a few hundred thousand yuan).
        z = (math.log10(amount / items) - 5.5) / 1.2
        score -= 0.5 * z * z
    return score


def prose_support(values: Sequence[float], prose_numbers: frozenset[float]) -> float:
    """A reading whose non-trivial values the report's own prose also prints is more plausible."""
    return sum(2.5 for v in values if v is not None and abs(v) >= 10 and v in prose_numbers)
