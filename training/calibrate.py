"""Calibrate field confidences on held-out labelled documents (isotonic regression, scikit-learn), and
measure the auto-accept threshold the review queue uses.

    # fit the map (and measure it on a fresh factory run + the real held-out documents)
    python -m nianbao.training.calibrate --factory DIR [--split test] [--max-docs 200] --measure FRESH
    # keep the map in --out, only measure the accept policy
    python -m nianbao.training.calibrate --keep-map --measure FRESH [--target-error 0.001]

Fitting collects (confidence, correct) for every printed field the pipeline outputs on factory
documents it never trained on, fits a monotone map from raw to calibrated confidence, and reports
the expected calibration error before and after (fit on half the fields, measured on the other
half). The map is saved as breakpoints that inference applies with numpy alone
(``nianbao.inference.calibration``).

Measuring runs the pipeline on held-out labelled data that neither the classifier nor the map saw:
a factory folder made with a new seed (``nianbao synth --seed N`` with N not the training run's;
its documents whose per-document seed is in the training factory's train/validation splits are
dropped) plus the real labelled documents held out of training (the model card's ``holdout``).
For each threshold it counts the fields read at or above it, their error rate and the coverage
(share of fields read that would be auto-accepted), and picks the lowest threshold whose measured
error rate is at most ``--target-error``; if none is, 0.99, marked as not meeting the target. The
result is the ``accept_policy`` entry of ``models/calibration.json`` that ``review.queue`` reads.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
TARGET_ERROR = 0.001
FALLBACK_THRESHOLD = 0.99
# Reliability bins of the held-out measurement: fine at the top, where almost every field is.
HELDOUT_EDGES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)


def collect(pipeline, golds: Iterable, groups: Optional[list] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, correct, plain) per printed field; ``plain``: a reading the calibration map
    applies to (not OCR, no alternatives, no structural reason), as ``CalibrateStage`` does.
    ``groups``, when given, receives the index of the gold document of each field."""
    conf, correct, plain = [], [], []
    for i, g in enumerate(golds):
        doc = pipeline.run(Path(g.document))
        if doc.error is not None:
            continue
        for key, f in doc.fields.items():
            if f.value is None:
                continue
            truth = g.values.get(key)
            conf.append(f.confidence)
            correct.append(truth is not None and abs(float(truth) - float(f.value)) < 1e-6)
            plain.append(getattr(f, "source", None) != "ocr" and not f.alternatives and not f.reason)
            if groups is not None:
                groups.append(i)
    return np.asarray(conf, dtype=float), np.asarray(correct, dtype=float), np.asarray(plain, dtype=bool)


def apply_map(conf: np.ndarray, plain: np.ndarray, mapping: dict) -> np.ndarray:
    """The confidences ``CalibrateStage`` outputs: plain readings remapped and rounded to 4 places."""
    mapped = np.round(np.interp(conf, mapping["x"], mapping["y"]), 4)
    return np.where(plain, mapped, conf)


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error over equal-width confidence bins."""
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)


def fit(conf: np.ndarray, correct: np.ndarray) -> dict:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    iso.fit(conf, correct)
    xs = np.unique(np.concatenate([[0.0, 1.0], conf]))
    ys = iso.predict(xs)
    # Keep only the breakpoints (where the step function changes) to stay small.
    keep = [0] + [i for i in range(1, len(xs)) if ys[i] != ys[i - 1] or i == len(xs) - 1]
    return {"x": [round(float(xs[i]), 6) for i in keep], "y": [round(float(ys[i]), 6) for i in keep]}


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int = 10, edges: Optional[Sequence[float]] = None) -> list[dict]:
    edges = np.asarray(edges, dtype=float) if edges is not None else np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            rows.append({"bin": f"({lo:g}, {hi:g}]", "n": int(m.sum()), "confidence": round(float(conf[m].mean()), 6),
                         "accuracy": round(float(correct[m].mean()), 6), "errors": int((correct[m] < 0.5).sum())})
    return rows


def summary(conf: np.ndarray, correct: np.ndarray) -> dict:
    high = conf >= 0.99
    return {"fields": int(len(conf)), "accuracy": round(float(correct.mean()), 5) if len(conf) else None,
            "ece": round(ece(conf, correct), 5), "at_or_above_0.99": int(high.sum()),
            "error_rate_at_or_above_0.99": round(float(1 - correct[high].mean()), 5) if high.any() else None}


# --- the accept policy --------------------------------------------------------------------------

def upper_bound(errors: int, n: int, level: float = 0.95) -> Optional[float]:
    """One-sided exact (Clopper-Pearson) upper bound of an error rate seen as ``errors`` in ``n``."""
    if n == 0:
        return None
    if errors >= n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(level, errors + 1, n - errors))


def accept_table(conf: np.ndarray, correct: np.ndarray, thresholds: Sequence[float] = THRESHOLDS) -> list[dict]:
    """Per threshold: the fields read at or above it, how many of them are wrong, their error rate
    (None when no field reaches it), its 95% upper bound, and coverage (their share of all fields read)."""
    conf = np.asarray(conf, dtype=float)
    wrong = np.asarray(correct, dtype=float) < 0.5
    rows = []
    for t in thresholds:
        m = conf >= t
        n, errors = int(m.sum()), int(wrong[m].sum())
        ub = upper_bound(errors, n)
        rows.append({"threshold": float(t), "error_rate": round(errors / n, 6) if n else None, "fields": n,
                     "coverage": round(n / len(conf), 6) if len(conf) else 0.0, "errors": errors,
                     "error_rate_upper95": round(ub, 6) if ub is not None else None})
    return rows


def _meets(row: Optional[dict], target: float) -> bool:
    return row is None or row["fields"] == 0 or (row["error_rate"] is not None and row["error_rate"] <= target + 1e-12)


def choose_threshold(table: list[dict], target: float = TARGET_ERROR, fallback: float = FALLBACK_THRESHOLD,
                     set_tables: Optional[dict[str, list[dict]]] = None) -> tuple[dict, bool]:
    """The lowest threshold whose measured error rate is at most ``target`` (and that some field
    reaches): (its row, True); else (the row of ``fallback``, False). With ``set_tables`` ({set name:
    its table}), the error rate must also be at most ``target`` in every set that has fields at the
    threshold: a rendering kind that misreads more is not averaged away by the kinds that never do."""
    for row in sorted(table, key=lambda r: r["threshold"]):
        if row["fields"] == 0 or not _meets(row, target):
            continue
        others = [next((r for r in t if abs(r["threshold"] - row["threshold"]) < 1e-9), None)
                  for t in (set_tables or {}).values()]
        if all(_meets(r, target) for r in others):
            return row, True
    for row in table:
        if abs(row["threshold"] - fallback) < 1e-9:
            return row, False
    return {"threshold": fallback, "error_rate": None, "fields": 0, "coverage": 0.0, "errors": 0,
            "error_rate_upper95": None}, False


def accept_policy(conf: np.ndarray, correct: np.ndarray, measured_on: str, target: float = TARGET_ERROR,
                  thresholds: Sequence[float] = THRESHOLDS, sets: Optional[np.ndarray] = None) -> dict:
    """The ``accept_policy`` entry of ``models/calibration.json`` (read by ``review.queue.load_accept_policy``).
    ``sets``: the held-out set of each field (e.g. its rendering kind); the target then holds in each."""
    table = accept_table(conf, correct, thresholds)
    set_tables = None
    if sets is not None:
        sets = np.asarray(sets)
        set_tables = {str(n): accept_table(conf[sets == n], np.asarray(correct)[sets == n], thresholds)
                      for n in dict.fromkeys(sets.tolist())}
    row, met = choose_threshold(table, target, set_tables=set_tables)
    return {"threshold": row["threshold"], "error_rate": row["error_rate"], "fields": row["fields"],
            "measured_on": measured_on, "coverage": row["coverage"], "errors": row["errors"],
            "error_rate_upper95": row["error_rate_upper95"], "target_error": target, "meets_target": met,
            "target_in_every_set": set_tables is not None, "fields_read": int(len(conf)), "table": table}


def describe_policy(policy: dict) -> str:
    rate = "n/a" if policy["error_rate"] is None else f"{policy['error_rate']:.3%}"
    verdict = "meets" if policy["meets_target"] else "does NOT meet"
    where = " (in every held-out set)" if policy.get("target_in_every_set") else ""
    return (f"accept fields at ≥ {policy['threshold']:g}: measured error rate on held-out labelled data is {rate} "
            f"({policy['errors']} wrong of {policy['fields']}; coverage {policy['coverage']:.1%}); {verdict} the "
            f"{policy['target_error']:.2%} target{where}. Measured on {policy['measured_on']}.")


# --- held-out data -------------------------------------------------------------------------------

def model_holdout() -> list[str]:
    """Ids of the real labelled documents the shipped classifier never trained on (its model card)."""
    metrics = ROOT / "models" / "token_classifier" / "metrics.json"
    if metrics.exists():
        held = json.loads(metrics.read_text("utf-8")).get("data", {}).get("holdout")
        if held:
            return list(held)
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "training" / "configs" / "token_classifier.cfg", encoding="utf-8")
    return [h.strip() for h in cfg.get("data", "holdout", fallback="").split(",") if h.strip()]


def training_seeds() -> tuple[Optional[Path], set]:
    """The factory folder the shipped classifier trained on and the per-document seeds of its
    train and validation documents (empty when the folder is not here)."""
    metrics = ROOT / "models" / "token_classifier" / "metrics.json"
    if not metrics.exists():
        return None, set()
    folder = json.loads(metrics.read_text("utf-8")).get("config", {}).get("data", {}).get("factory_dir")
    if not folder or not Path(folder).is_dir():
        return (Path(folder) if folder else None), set()
    from nianbao.labels import labelled_documents

    seeds = {g.extra.get("provenance", {}).get("seed") for g in labelled_documents(Path(folder))
             if g.extra.get("split") in ("train", "validation")}
    return Path(folder), seeds - {None}


def heldout_sets(measure: Optional[Path], split: str, max_docs: int, real_ids: Sequence[str],
                 exclude_seeds: Iterable = ()) -> tuple[dict, dict]:
    """{set name: golds} for the measurement, and notes on what was dropped: factory reports the
    classifier trained on, or (``exclude_seeds``) the map was fitted on."""
    from nianbao.labels import document_kind, gold_dir, gold_files, labelled_documents, load_labelled

    sets: dict[str, list] = {}
    notes: dict = {}
    if measure is not None:
        folder, seeds = training_seeds()
        golds = labelled_documents(measure, split=split or None, max_per_kind=max_docs)
        if folder is not None and Path(measure).resolve() == folder.resolve() and split != "test":
            raise SystemExit(f"{measure} is the classifier's training factory: measure on its test split or a fresh seed")
        kept = [g for g in golds if g.extra.get("provenance", {}).get("seed") not in seeds]
        notes["factory_dropped_seen_in_training"] = len(golds) - len(kept)
        fitted = set(exclude_seeds) - {None}
        notes["factory_dropped_seen_in_fitting"] = sum(g.extra.get("provenance", {}).get("seed") in fitted for g in kept)
        kept = [g for g in kept if g.extra.get("provenance", {}).get("seed") not in fitted]
        by_kind: dict[str, list] = defaultdict(list)
        for g in kept:
            by_kind[document_kind(g)].append(g)
        for kind in sorted(by_kind):
            sets[f"factory {kind}"] = by_kind[kind]
    if real_ids:
        real = [load_labelled(p) for p in gold_files(gold_dir())]
        sets["real held out"] = [g for g in real if g.id in set(real_ids)]
        missing = sorted(set(real_ids) - {g.id for g in sets["real held out"]})
        if missing:
            notes["real_missing"] = missing
    return sets, notes


def measured_on_text(sets: dict, measure: Optional[Path], split: str) -> str:
    factory = {name.split(" ", 1)[1]: len(golds) for name, golds in sets.items() if name.startswith("factory ")}
    parts = []
    if factory:
        kinds = ", ".join(f"{k} {n}" for k, n in factory.items())
        seed = _factory_seed(measure)
        reports = {g.extra.get("provenance", {}).get("seed", g.id) for name, golds in sets.items()
                   if name.startswith("factory ") for g in golds}
        parts.append(f"{sum(factory.values())} factory documents never trained on ({kinds}: {len(reports)} reports"
                     f"{' of synth seed ' + seed if seed else ''}{', ' + split + ' split' if split else ''}"
                     f"{', each in ' + str(len(factory)) + ' renderings' if len(factory) > 1 else ''})")
    real = sets.get("real held out", [])
    if real:
        parts.append(f"{len(real)} real documents held out of training ({', '.join(sorted(g.id for g in real))})")
    return " + ".join(parts) or "nothing"


def _synth_command(folder: Optional[Path]) -> str:
    """The ``nianbao synth`` command that made a factory folder (from its card), or ""."""
    import re

    readme = Path(folder) / "README.md" if folder else None
    if readme and readme.exists():
        m = re.search(r"^nianbao synth .*$", readme.read_text("utf-8"), re.M)
        if m:
            return m.group(0).strip()
    return ""


def _factory_seed(folder: Optional[Path]) -> str:
    import re

    m = re.search(r"--seed (\d+)", _synth_command(folder))
    return m.group(1) if m else ""


def measure_heldout(pipeline, mapping: dict, sets: dict, measured_on: str, target: float,
                    thresholds: Sequence[float] = THRESHOLDS, pooled: bool = False) -> tuple[dict, dict]:
    """(accept_policy, heldout report) for the calibrated confidences on the held-out sets; the
    target must hold in each set unless ``pooled``."""
    confs, corrects, names = [], [], []
    by_set: dict[str, dict] = {}
    for name, golds in sets.items():
        groups: list = []
        conf, correct, plain = collect(pipeline, golds, groups)
        calibrated = apply_map(conf, plain, mapping)
        confs.append((conf, calibrated))
        corrects.append(correct)
        names += [name] * len(conf)
        by_set[name] = {"documents": len(golds), "documents_read": len(set(groups)), "fields": int(len(conf)),
                        "accuracy": round(float(correct.mean()), 5) if len(conf) else None,
                        "table": accept_table(calibrated, correct, thresholds)}
    raw = np.concatenate([c[0] for c in confs]) if confs else np.zeros(0)
    cal = np.concatenate([c[1] for c in confs]) if confs else np.zeros(0)
    correct = np.concatenate(corrects) if corrects else np.zeros(0)
    policy = accept_policy(cal, correct, measured_on, target, thresholds,
                           sets=None if pooled else np.asarray(names, dtype=object))
    report = {"measured_on": measured_on, "documents": {k: len(v) for k, v in sets.items()},
              "before": summary(raw, correct), "after": summary(cal, correct),
              "reliability_before": reliability(raw, correct, edges=HELDOUT_EDGES),
              "reliability_after": reliability(cal, correct, edges=HELDOUT_EDGES),
              "by_set": by_set}
    return policy, report


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--factory", type=Path, help="factory folder to fit the map on (its documents never trained on)")
    ap.add_argument("--split", default="test", help="split of --factory to fit on")
    ap.add_argument("--max-docs", type=int, default=200, help="per kind, for fitting")
    ap.add_argument("--keep-map", action="store_true", help="keep the map (and its report) in --out; only measure")
    ap.add_argument("--measure", type=Path,
                    help="factory folder for the accept policy, made with a new seed (never trained on, never fitted on)")
    ap.add_argument("--measure-split", default="", help="split of --measure ('' = all: a fresh seed is held out whole)")
    ap.add_argument("--measure-max-docs", type=int, default=0, help="per kind (0 = all)")
    ap.add_argument("--real", default=None,
                    help="comma-separated ids of real labelled documents held out (default: the model card's holdout)")
    ap.add_argument("--target-error", type=float, default=TARGET_ERROR)
    ap.add_argument("--pooled", action="store_true",
                    help="choose the threshold on all held-out fields together (default: the target must also "
                         "hold in each set: each factory rendering kind and the real documents)")
    ap.add_argument("--mapper", default="classifier")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "calibration.json")
    args = ap.parse_args(argv)
    if not args.keep_map and args.factory is None:
        ap.error("--factory is required unless --keep-map")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    t0 = time.perf_counter()
    pipeline = Pipeline(PipelineOptions(mapper=args.mapper, calibrate=False))
    fit_seeds: set = set()
    if args.keep_map:
        old = json.loads(args.out.read_text(encoding="utf-8"))
        final, report = {"x": old["x"], "y": old["y"]}, old.get("report", {})
        extra = {k: v for k, v in old.items() if k not in ("x", "y", "report")}
    else:
        from bench_mappers import factory_docs  # the same document selection as the benchmark

        fit_golds = [g for docs in factory_docs(args.factory, args.split, args.max_docs).values() for g in docs]
        folder, seeds = training_seeds()
        if folder is not None and args.factory.resolve() == folder.resolve() and args.split != "test":
            raise SystemExit(f"{args.factory} is the classifier's training factory: fit on its test split or a fresh seed")
        fit_golds = [g for g in fit_golds if g.extra.get("provenance", {}).get("seed") not in seeds]
        fit_seeds = {g.extra.get("provenance", {}).get("seed") for g in fit_golds}
        extra = {}
        conf, correct, plain = collect(pipeline, fit_golds)
        # Fit on half the fields (plain readings only: the others keep their scores), report on the other half.
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(conf))
        fit_idx, eval_idx = idx[: len(idx) // 2], idx[len(idx) // 2:]
        fit_plain = fit_idx[plain[fit_idx]]
        mapping = fit(conf[fit_plain], correct[fit_plain])
        calibrated = apply_map(conf[eval_idx], plain[eval_idx], mapping)
        report = {"documents": len(fit_golds), "split": args.split, "mapper": args.mapper,
                  "factory": _synth_command(args.factory) or str(args.factory),
                  "before": summary(conf[eval_idx], correct[eval_idx]),
                  "after": summary(calibrated, correct[eval_idx]),
                  "reliability_before": reliability(conf[eval_idx], correct[eval_idx]),
                  "reliability_after": reliability(calibrated, correct[eval_idx])}
        final = fit(conf[plain], correct[plain])
        print(json.dumps(report, indent=1))
    out = {**final, "report": report, **extra}
    real_ids = model_holdout() if args.real is None else [r.strip() for r in args.real.split(",") if r.strip()]
    if args.measure is not None or real_ids:
        if args.measure is not None and not args.keep_map and args.factory and \
                Path(args.measure).resolve() == Path(args.factory).resolve() and args.measure_split in ("", args.split):
            raise SystemExit("--measure must not hold the documents the map is fitted on: use a fresh factory seed")
        sets, notes = heldout_sets(args.measure, args.measure_split, args.measure_max_docs, real_ids, fit_seeds)
        measured_on = measured_on_text(sets, args.measure, args.measure_split)
        policy, heldout = measure_heldout(pipeline, final, sets, measured_on, args.target_error, pooled=args.pooled)
        heldout.update(notes)
        if args.measure is not None:
            heldout["factory"] = _synth_command(args.measure) or str(args.measure)
        heldout["command"] = "python -m nianbao.training.calibrate " + shlex.join(sys.argv[1:] if argv is None else argv)
        out["accept_policy"] = policy
        out["heldout"] = heldout
        print("\n| threshold | fields | wrong | error rate | 95% upper | coverage |\n|---:|---:|---:|---:|---:|---:|")
        for r in policy["table"]:
            rate = "—" if r["error_rate"] is None else f"{r['error_rate']:.3%}"
            ub = "—" if r["error_rate_upper95"] is None else f"{r['error_rate_upper95']:.3%}"
            print(f"| {r['threshold']:g} | {r['fields']} | {r['errors']} | {rate} | {ub} | {r['coverage']:.1%} |")
        print(f"\nECE on held-out data: {heldout['before']['ece']:.4f} before, {heldout['after']['ece']:.4f} after")
        print(describe_policy(policy))
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
