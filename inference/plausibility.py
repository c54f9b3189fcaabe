"""Soft evidence for choosing among readings of run-together digits: how plausible values are.

These priors only rank readings that the hard evidence (printed cell boundaries, the rules)
cannot separate; a reading they pick is reported as doubted, with its alternatives, unless the
learned prior's margin is one measured on held-out data to pick right >= 99.9% of the time.

Two priors: the learned one (``models/value_prior.json``, trained by ``python -m
nianbao.training.value_prior``: per field a probability of zero and a histogram of log-magnitudes,
backed off to the field's kind, plus pairwise log-ratio factors between the fields of a Table A row)
and the hand-made one below, used where no learned prior is installed.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional, Sequence

PRIOR_PATH = Path(__file__).resolve().parents[1] / "models" / "value_prior.json"
PRIOR_FORMAT = "nianbao/value-prior@1"
# Magnitude bins of a non-zero |value|: 1..9 one each, then quarter decades from 10 to 10^13.
SMALL = 9
QUARTER_BINS = 48
N_BINS = SMALL + QUARTER_BINS
# Log-ratio bins of a pair of a row's fields: log10(|a|+1) - log10(|b|+1) in half decades, -6..6.
RATIO_BINS = 24
RATIO_WIDTH = 0.5

_ZETA = 9.58  # sum over v >= 1 of (v + 1) ** -1.1: normalises the count prior
_RARE_APPLICANTS = frozenset({"commercial", "research", "social", "legal", "other"})


def handmade_log_prior(value: float, key: str) -> float:
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


def handmade_log_relation(values: Mapping[str, Optional[float]], row_prefix: str) -> float:
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



# -- the learned prior -------------------------------------------------------------------------
def magnitude_bin(value: float) -> int:
    """The bin of a non-zero |value|."""
    a = abs(value)
    if a < SMALL + 1:
        return max(0, min(SMALL - 1, int(round(a)) - 1))
    return SMALL + max(0, min(QUARTER_BINS - 1, int(4 * (math.log10(a) - 1.0))))


def bin_width(b: int) -> float:
    """How many integers a bin holds (a value's mass is its bin's mass spread over them)."""
    if b < SMALL:
        return 1.0
    k = b - SMALL
    lo, hi = 10 ** (1.0 + k / 4), 10 ** (1.0 + (k + 1) / 4)
    return max(1.0, math.ceil(hi) - math.ceil(lo))


def ratio_bin(a: float, b: float) -> int:
    r = math.log10(abs(a) + 1) - math.log10(abs(b) + 1)
    return max(0, min(RATIO_BINS - 1, int(math.floor((r + 6.0) / RATIO_WIDTH))))


def field_kind(key: str) -> str:
    """What kind of value a field holds: the prior backs off from the field to its kind."""
    parts = key.split(".")
    table, col = parts[0], parts[-1]
    if table == "proactive":
        if col in ("in_force", "total_published", "prev_items"):
            return "proactive.stock"
        if col == "change":
            return "proactive.change"
        if col.startswith("amount"):
            return f"proactive.{col}"
        return "proactive.flow"
    if table == "requests":
        return "requests.total" if col == "total" or parts[1] == "results_total" else "requests.category"
    if table == "appeals":
        return "appeals.total" if col == "total" else "appeals.category"
    return "other"


@dataclass
class ValueDistribution:
    """P(value) of one field (or kind): zero, sign, magnitude bin; log-probabilities."""

    log_zero: float
    log_nonzero: float
    log_negative: float
    log_positive: float
    log_bins: list[float]
    count: float = 0.0

    def log_prob(self, value: float) -> float:
        if value == 0:
            return self.log_zero
        b = magnitude_bin(value)
        sign = self.log_negative if value < 0 else self.log_positive
        return self.log_nonzero + sign + self.log_bins[b] - math.log(bin_width(b))


@dataclass
class ValuePrior:
    fields: dict[str, ValueDistribution]
    kinds: dict[str, ValueDistribution]
    # "keyA|keyB" -> per ratio bin, log P(bin | same row) - log P(bin | independent values).
    relations: dict[str, list[float]] = field(default_factory=dict)
    # Margin (log score) above which a choice by this prior alone was measured right >= 99.9%.
    trust_margin: Optional[float] = None
    provenance: dict = field(default_factory=dict)

    def log_prob(self, value: float, key: str) -> float:
        dist = self.fields.get(key) or self.kinds.get(field_kind(key))
        if dist is None:
            return handmade_log_prior(value, key)
        if value != int(value) and not key.split(".")[-1].startswith("amount"):
            return -30.0  # a count is an integer
        return dist.log_prob(value)

    def log_relation(self, values: Mapping[str, Optional[float]]) -> float:
        keys = [k for k, v in values.items() if v is not None]
        score = 0.0
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                table = self.relations.get(f"{a}|{b}")
                if table is not None:
                    score += table[ratio_bin(values[a], values[b])]
        return score

    def relation_bound(self) -> float:
        """The largest relation score any row can get (bounds the decoder's search)."""
        by_row: dict[str, float] = {}
        for pair, table in self.relations.items():
            row = pair.split("|")[0].rsplit(".", 1)[0]
            by_row[row] = by_row.get(row, 0.0) + max(0.0, max(table))
        return max(by_row.values(), default=0.0)

    def to_json(self) -> dict:
        def dist(d: ValueDistribution) -> dict:
            return {"log_zero": d.log_zero, "log_nonzero": d.log_nonzero, "log_negative": d.log_negative,
                    "log_positive": d.log_positive, "log_bins": list(d.log_bins), "count": d.count}
        return {"format": PRIOR_FORMAT, "provenance": self.provenance, "trust_margin": self.trust_margin,
                "bins": {"small": SMALL, "quarter_decades": QUARTER_BINS, "ratio_bins": RATIO_BINS,
                         "ratio_width": RATIO_WIDTH},
                "kinds": {k: dist(d) for k, d in sorted(self.kinds.items())},
                "fields": {k: dist(d) for k, d in sorted(self.fields.items())},
                "relations": {k: list(v) for k, v in sorted(self.relations.items())}}

    @staticmethod
    def from_json(data: dict) -> "ValuePrior":
        if data.get("format") != PRIOR_FORMAT:
            raise ValueError(f"not a value prior ({PRIOR_FORMAT}): format {data.get('format')!r}")
        bins = data.get("bins", {})
        if (bins.get("small"), bins.get("quarter_decades"), bins.get("ratio_bins")) != (SMALL, QUARTER_BINS, RATIO_BINS):
            raise ValueError(f"value prior bins {bins} do not match this code's")

        def dist(d: dict) -> ValueDistribution:
            return ValueDistribution(d["log_zero"], d["log_nonzero"], d["log_negative"], d["log_positive"],
                                     list(d["log_bins"]), d.get("count", 0.0))
        return ValuePrior(fields={k: dist(d) for k, d in data["fields"].items()},
                          kinds={k: dist(d) for k, d in data["kinds"].items()},
                          relations={k: list(v) for k, v in data.get("relations", {}).items()},
                          trust_margin=data.get("trust_margin"), provenance=data.get("provenance", {}))

    def save(self, path: Path) -> None:
        """Provenance readable, one line per distribution; written atomically."""
        data = self.to_json()
        parts = []
        for name, value in data.items():
            if name in ("kinds", "fields", "relations"):
                body = ",\n".join(f"  {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, separators=(',', ':'))}"
                                   for k, v in value.items())
                parts.append(f" {json.dumps(name)}: {{\n{body}\n }}")
            else:
                parts.append(f" {json.dumps(name)}: " + json.dumps(value, ensure_ascii=False, indent=1).replace("\n", "\n "))
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> "ValuePrior":
        return ValuePrior.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


_UNSET = object()
_active: object = _UNSET


def prior_path() -> Path:
    """Where the learned prior is looked for: the models folder in use (nianbao.resources, which
    honours NIANBAO_MODEL_DIR), else the checkout's models/."""
    try:
        from nianbao.resources import value_prior_path
        return value_prior_path()
    except (ImportError, FileNotFoundError):
        return PRIOR_PATH


def active_prior() -> Optional[ValuePrior]:
    """The learned prior in use: value_prior.json of the models folder when there (read once,
    at first use), else None (the hand-made prior)."""
    global _active
    if _active is _UNSET:
        path = prior_path()
        _active = ValuePrior.load(path) if path.is_file() else None
    return _active  # type: ignore[return-value]


def set_prior(prior: Optional[ValuePrior]) -> None:
    """Use this prior (None: the hand-made one) from now on; for training, tests and benchmarks."""
    global _active
    _active = prior
    log_prior.cache_clear()


@lru_cache(maxsize=65536)
def log_prior(value: float, key: str) -> float:
    """log P(value) for one field: the learned prior where installed, else the hand-made one."""
    prior = active_prior()
    return prior.log_prob(value, key) if prior is not None else handmade_log_prior(value, key)


def log_relation(values: Mapping[str, Optional[float]], row_prefix: str) -> float:
    """Relations between the fields of one Table A row (learned where installed)."""
    prior = active_prior()
    return prior.log_relation(values) if prior is not None else handmade_log_relation(values, row_prefix)


def relation_upper_bound() -> float:
    prior = active_prior()
    return prior.relation_bound() if prior is not None else 0.0


def prior_trust_margin() -> Optional[float]:
    prior = active_prior()
    return prior.trust_margin if prior is not None else None
