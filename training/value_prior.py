"""Train the learned value prior (models/value_prior.json) and measure what it picks on held-out data.

    python -m nianbao.training.value_prior                         # train, measure, save
    python -m nianbao.training.value_prior --factory-n 400 --out /tmp/prior.json --no-measure

The prior (``inference/plausibility.ValuePrior``) ranks readings of run-together digits that the
rules leave tied: per field a probability of zero and a histogram of log-magnitudes (backed off
to the field's kind: stock, flow, change, money, total, category), plus, between the fields of a
Table A row, how their log-ratio differs from that of independent values (a stock is usually
larger than the year's flows).

Data: report-factory documents (``build_report``, fresh seeds) and the labelled real documents in
labels/gold, each real one counted ``--real-weight`` times, EXCEPT the held-out ones named in
training/configs/token_classifier.cfg (``data.holdout``; the model card's held-out set): those are
never trained on. The measurement uses factory documents of another seed plus those held-out real
documents: each row's printed digits are concatenated and decoded with the rules off; the prior
picks right when its best reading is the row. The trust margin is the smallest margin (log score
between the chosen reading and the best rival) above which the measured pick is right >= 99.9% of
the time with 95% confidence (an upper confidence bound on the error rate), with no real held-out
row wrong above it; below it (or with too little data: no margin) a choice by the prior alone stays
doubted (<= 0.85).
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from nianbao.inference.plausibility import (N_BINS, PRIOR_PATH, RATIO_BINS, ValueDistribution, ValuePrior, field_kind,
                                            magnitude_bin, ratio_bin)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "training" / "configs" / "token_classifier.cfg"
KIND_SMOOTHING = 0.5     # pseudo-count per magnitude bin of a kind
FIELD_BACKOFF = 10.0     # pseudo-count of the kind's distribution in a field's
TRUST_TARGET = 0.999
RELATION_SHRINK = 50.0   # weighted rows at which a row-pair factor keeps half its strength


@dataclass
class ValueSample:
    """The printed values of one labelled document."""

    doc_id: str
    template: str
    values: dict[str, Optional[float]]
    weight: float = 1.0
    source: str = "factory"


@dataclass
class _Counts:
    zero: float = 0.0
    negative: float = 0.0
    positive: float = 0.0
    bins: list[float] = field(default_factory=lambda: [0.0] * N_BINS)

    def add(self, value: float, weight: float) -> None:
        if value == 0:
            self.zero += weight
            return
        if value < 0:
            self.negative += weight
        else:
            self.positive += weight
        self.bins[magnitude_bin(value)] += weight

    @property
    def total(self) -> float:
        return self.zero + self.negative + self.positive


# -- data -------------------------------------------------------------------------------------
def holdout_ids(config: Path = CONFIG) -> list[str]:
    """The labelled real documents never trained on (the model card's held-out set)."""
    from nianbao.training.config import load_config

    raw = load_config(config)["data"]["holdout"]
    return [s.strip() for s in str(raw).split(",") if s.strip()]


def factory_samples(n: int, seed: int) -> list[ValueSample]:
    from nianbao.training.factory.build import build_report
    from nianbao.training.factory.rng import document_seed

    out = []
    for i in range(n):
        report = build_report(document_seed(seed, i))
        out.append(ValueSample(doc_id=f"factory:{seed}:{i}", template=report.template, values=dict(report.values)))
    return out


def gold_samples(ids: Optional[set[str]] = None, exclude: Iterable[str] = (), weight: float = 1.0,
                 folder: Optional[Path] = None) -> list[ValueSample]:
    """Labelled real documents (labels/gold): those in ``ids`` (all when None), never ``exclude``."""
    from nianbao.labels import gold_dir, gold_files, load_labelled

    excluded = set(exclude)
    out = []
    for path in gold_files(folder or gold_dir()):
        g = load_labelled(path)
        if g.id in excluded or (ids is not None and g.id not in ids) or not g.template:
            continue
        if not any(v is not None for v in g.values.values()):
            continue
        out.append(ValueSample(doc_id=g.id, template=g.template, values=dict(g.values), weight=weight, source="real"))
    return out


def rows_of(sample: ValueSample) -> list[tuple[str, list[str]]]:
    """(table, field keys) of each row the decoder reads as one run (Table C is one run)."""
    from nianbao.schema import load_schema

    schema = load_schema()
    rows = []
    for name in ("proactive", "requests", "appeals"):
        spec = schema.table(sample.template, name)
        if name == "appeals":
            rows.append((name, spec.field_keys()))
        else:
            rows.extend((name, r.field_keys()) for r in spec.rows)
    return [(t, keys) for t, keys in rows if any(sample.values.get(k) is not None for k in keys)]


# -- training ---------------------------------------------------------------------------------
def _distribution(c: _Counts, backoff: Optional[ValueDistribution], strength: float) -> ValueDistribution:
    n = c.total
    nonzero = c.negative + c.positive
    if backoff is None:
        p_zero = (c.zero + 1.0) / (n + 2.0)
        p_neg = (c.negative + 0.5) / (nonzero + 1.0)
        bins = [(b + KIND_SMOOTHING) / (nonzero + KIND_SMOOTHING * N_BINS) for b in c.bins]
    else:
        p_zero = (c.zero + strength * math.exp(backoff.log_zero)) / (n + strength)
        p_neg = (c.negative + strength * math.exp(backoff.log_negative)) / (nonzero + strength)
        bins = [(b + strength * math.exp(lb)) / (nonzero + strength) for b, lb in zip(c.bins, backoff.log_bins)]
    # Six decimals of a log-probability are plenty, and keep the shipped file small.
    return ValueDistribution(log_zero=round(math.log(p_zero), 6), log_nonzero=round(math.log(1 - p_zero), 6),
                             log_negative=round(math.log(p_neg), 6), log_positive=round(math.log(1 - p_neg), 6),
                             log_bins=[round(math.log(b), 6) for b in bins], count=round(n, 3))


def train_prior(samples: Sequence[ValueSample], seed: int = 0, independent_pairs: int = 4000) -> ValuePrior:
    """Count values per field and kind, and row-pair log-ratios (same row vs independent)."""
    by_field: dict[str, _Counts] = {}
    by_kind: dict[str, _Counts] = {}
    joint: dict[str, list[float]] = {}
    pair_values: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
    for s in samples:
        for key, v in s.values.items():
            if v is None:
                continue
            by_field.setdefault(key, _Counts()).add(float(v), s.weight)
            by_kind.setdefault(field_kind(key), _Counts()).add(float(v), s.weight)
        for table, keys in rows_of(s):
            if table != "proactive":
                continue
            for i, a in enumerate(keys):
                for b in keys[i + 1:]:
                    va, vb = s.values.get(a), s.values.get(b)
                    if va is None or vb is None:
                        continue
                    pair = f"{a}|{b}"
                    joint.setdefault(pair, [0.0] * RATIO_BINS)[ratio_bin(va, vb)] += s.weight
                    lists = pair_values.setdefault(pair, ([], []))
                    lists[0].append((float(va), s.weight))
                    lists[1].append((float(vb), s.weight))
    kinds = {k: _distribution(c, None, 0.0) for k, c in by_kind.items()}
    fields = {k: _distribution(c, kinds[field_kind(k)], FIELD_BACKOFF) for k, c in by_field.items()}
    rng = random.Random(seed)
    relations: dict[str, list[float]] = {}
    for pair, counts in joint.items():
        a_vals, b_vals = pair_values[pair]
        indep = [0.0] * RATIO_BINS
        wa = [w for _, w in a_vals]
        wb = [w for _, w in b_vals]
        for (va, _), (vb, _) in zip(rng.choices(a_vals, weights=wa, k=independent_pairs),
                                    rng.choices(b_vals, weights=wb, k=independent_pairs)):
            indep[ratio_bin(va, vb)] += 1.0
        jn, inn = sum(counts), sum(indep)
        # The same smoothing share in both (a bin empty in both scores 0), and a factor learned
        # from few rows is shrunk towards 0.
        a_joint, a_indep = 0.5, 0.5 * inn / max(jn, 1e-9)
        shrink = jn / (jn + RELATION_SHRINK)
        relations[pair] = [round(shrink * (math.log((j + a_joint) / (jn + a_joint * RATIO_BINS))
                                           - math.log((x + a_indep) / (inn + a_indep * RATIO_BINS))), 6)
                           for j, x in zip(counts, indep)]
    return ValuePrior(fields=fields, kinds=kinds, relations=relations)


# -- measuring what the prior picks -----------------------------------------------------------
@dataclass
class SplitCase:
    doc_id: str
    source: str
    keys: list[str]
    printed: str
    right: bool
    margin: Optional[float]   # None: no rival reading differs


@dataclass
class SplitReport:
    rows: int = 0                 # rows whose every value is printed as a non-negative integer
    ambiguous: int = 0            # of which more than one split exists
    right: int = 0                # of the ambiguous, the prior's pick is the row
    cases: list[SplitCase] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.ambiguous if self.ambiguous else float("nan")

    def summary(self) -> dict:
        """The counts and accuracy, as the model's provenance and the benchmark print them."""
        return {"rows": self.rows, "ambiguous": self.ambiguous, "right": self.right,
                "accuracy": None if not self.ambiguous else round(self.accuracy, 4)}


def split_cases(samples: Sequence[ValueSample], prior: Optional[ValuePrior]) -> SplitReport:
    """Concatenate each row's printed digits and decode them with the rules off: how often is the
    prior's best reading the row? (``prior`` None: the hand-made prior.)"""
    from nianbao.document import Segment
    from nianbao.inference import decode, plausibility
    from nianbao.inference.locate import Chunk

    report = SplitReport()
    previous = plausibility.active_prior()
    plausibility.set_prior(prior)
    try:
        for s in samples:
            for table, keys in rows_of(s):
                values = [s.values.get(k) for k in keys]
                if len(keys) < 2 or any(v is None or v < 0 or v != int(v) for v in values):
                    continue
                printed = "".join(str(int(v)) for v in values)
                if len(printed) < len(keys) or len(printed) > 40:
                    continue
                report.rows += 1
                chunk = Chunk(raw=printed, segment=Segment(text=printed), kind="number")
                d = decode.decode_run([chunk], keys, table, frozenset(), rules=False)
                if d is None or d.tied_count < 2:
                    continue
                report.ambiguous += 1
                best = [p.value for p in d.best().pieces]
                right = best == [int(v) for v in values]
                report.right += right
                report.cases.append(SplitCase(doc_id=s.doc_id, source=s.source, keys=keys, printed=printed,
                                              right=right, margin=decode.soft_margin(d)))
    finally:
        plausibility.set_prior(previous)
    return report


def error_upper_bound(wrong: int, n: int, z: float = 1.645) -> float:
    """One-sided upper confidence bound (Wilson; z=1.645: 95%) of an error rate seen as wrong/n."""
    if n == 0:
        return 1.0
    p = wrong / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)


def trust_margin(cases: Sequence[SplitCase], target: float = TRUST_TARGET, real_cases: Sequence[SplitCase] = (),
                 z: float = 1.645) -> tuple[Optional[float], dict]:
    """The smallest margin m such that, among held-out picks at margin >= m, the error rate's
    upper confidence bound is <= 1 - target (>= 99.9% right, measured with confidence: about 2,700
    right picks and no wrong one, or more with some), and no real held-out pick is wrong at
    margin >= m. None where no margin qualifies."""
    scored = sorted((c.margin, c.right) for c in cases if c.margin is not None)
    # Margins at or below the largest one of a wrong real pick do not qualify.
    real_wrong_top = max((c.margin for c in real_cases if not c.right and c.margin is not None), default=-math.inf)
    best: Optional[float] = None
    stats: dict = {}
    wrong = 0
    for i in range(len(scored) - 1, -1, -1):  # from the largest margin down
        m, right = scored[i]
        wrong += not right
        n = len(scored) - i
        bound = error_upper_bound(wrong, n, z)
        if bound <= 1 - target:
            if m <= real_wrong_top:
                break
            best, stats = m, {"rows_at_or_above": n, "wrong_at_or_above": wrong,
                              "accuracy_at_or_above": round((n - wrong) / n, 5), "error_upper_bound_95": round(bound, 5)}
    return best, stats


def margin_table(cases: Sequence[SplitCase], margins: Sequence[float] = (0, 2, 4, 6, 8, 10, 12)) -> list[dict]:
    """How often the prior's pick is right among held-out picks with at least each margin."""
    out = []
    for m in margins:
        above = [c for c in cases if c.margin is not None and c.margin >= m]
        out.append({"margin_at_least": m, "rows": len(above), "right": sum(c.right for c in above),
                    "accuracy": round(sum(c.right for c in above) / len(above), 5) if above else None})
    return out


def _code_version() -> Optional[str]:
    """The checkout's commit (the factory's value generator changes between commits)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--factory-n", type=int, default=4000, help="factory documents to train on")
    ap.add_argument("--factory-seed", type=int, default=71)
    ap.add_argument("--real-weight", type=float, default=25.0, help="how many factory documents one real one counts as")
    ap.add_argument("--measure-n", type=int, default=4000, help="held-out factory documents for the measurement")
    ap.add_argument("--measure-seed", type=int, default=73)
    ap.add_argument("--no-measure", action="store_true")
    ap.add_argument("--out", type=Path, default=PRIOR_PATH)
    args = ap.parse_args(argv)
    if args.factory_seed == args.measure_seed:
        raise SystemExit("--factory-seed and --measure-seed must differ (the measurement is on unseen documents)")
    held = holdout_ids()
    factory = factory_samples(args.factory_n, args.factory_seed)
    real = gold_samples(exclude=held, weight=args.real_weight)
    leaked = {s.doc_id for s in real} & set(held)
    if leaked:
        raise SystemExit(f"held-out documents in training data: {sorted(leaked)}")
    prior = train_prior(factory + real, seed=args.factory_seed)
    prior.provenance = {
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "command": "python -m nianbao.training.value_prior " + " ".join(sys.argv[1:] if argv is None else argv),
        "factory": {"documents": len(factory), "seed": args.factory_seed, "how": "build_report(document_seed(seed, i))"},
        "code": _code_version(),
        "real": {"documents": [s.doc_id for s in real], "weight": args.real_weight},
        "held_out_never_trained_on": held,
        "fields": len(prior.fields), "kinds": len(prior.kinds), "relations": len(prior.relations),
    }
    if not args.no_measure:
        measure_factory = factory_samples(args.measure_n, args.measure_seed)
        measure_real = gold_samples(ids=set(held))
        learned_f, learned_r = split_cases(measure_factory, prior), split_cases(measure_real, prior)
        hand_f, hand_r = split_cases(measure_factory, None), split_cases(measure_real, None)
        margin, stats = trust_margin(learned_f.cases + learned_r.cases, real_cases=learned_r.cases)
        prior.trust_margin = margin
        prior.provenance["measured"] = {
            "how": "each held-out row's digits concatenated, decoded with the rules off; right = best reading is the row",
            "factory": {"documents": len(measure_factory), "seed": args.measure_seed,
                        "learned": learned_f.summary(), "handmade": hand_f.summary()},
            "real_held_out": {"documents": [s.doc_id for s in measure_real],
                              "learned": learned_r.summary(), "handmade": hand_r.summary()},
            "trust_margin": margin, "trust_target": TRUST_TARGET,
            "trust_rule": "smallest margin whose held-out picks at or above it have a 95% upper bound on the error "
                          "rate <= 0.1% (Wilson) and no real held-out pick wrong",
            "at_trust_margin": stats,
            "by_margin": margin_table(learned_f.cases + learned_r.cases),
        }
        print(f"held-out factory ({len(measure_factory)} docs): learned {learned_f.right}/{learned_f.ambiguous} "
              f"right, hand-made {hand_f.right}/{hand_f.ambiguous}")
        print(f"held-out real ({len(measure_real)} docs): learned {learned_r.right}/{learned_r.ambiguous} right, "
              f"hand-made {hand_r.right}/{hand_r.ambiguous}")
        print(f"trust margin: {margin} {stats}")
        for row in prior.provenance["measured"]["by_margin"]:
            print(f"  margin >= {row['margin_at_least']}: {row['right']}/{row['rows']} right ({row['accuracy']})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    prior.save(args.out)
    print(f"saved {args.out} ({len(prior.fields)} fields, {len(prior.relations)} row relations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
