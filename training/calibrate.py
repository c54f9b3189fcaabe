"""Calibrate field confidences on held-out labelled documents (isotonic regression, scikit-learn), and
measure the auto-accept threshold the review queue uses.

    # fit the text-layer map (and measure it on a fresh factory run + the real held-out documents)
    python -m nianbao.training.calibrate --factory DIR [DIR ...] [--split test] [--max-docs 200] --measure FRESH [FRESH ...]
    # fit the OCR map on factory scans (the text-layer map and the accept policy stay as they are)
    python -m nianbao.training.calibrate --source ocr --factory SCANS --split '' --max-docs 0 --measure FRESH_SCANS
    # keep the map in --out, only measure the accept policy
    python -m nianbao.training.calibrate --keep-map --measure FRESH [--target-error 0.001]

One map per field source (``models/calibration.json``): the top-level map for text-layer readings
(``--source text``, the default) and ``sources.ocr`` for values read by OCR (``--source ocr``), each
fitted on the plain readings of its own source only. Fitting collects (confidence, correct) for every
printed field the pipeline outputs on factory documents it never trained on, fits a monotone map from
raw to calibrated confidence, and reports the expected calibration error before and after (fit on half
the fields, measured on the other half). The map is then capped where the fitting data cannot support
it (``support_cap``): no raw confidence is mapped to a value v above the one-sided 95% lower bound of
the accuracy of the fitting fields mapped at or above v: with N fields and no error there, nothing
goes above about 1 - 3/N. ``--max-confidence`` clips the map further. The map is saved as breakpoints
that inference applies with numpy alone (``nianbao.inference.calibration``).

Measuring runs the pipeline on held-out labelled data that neither the classifier nor the map saw:
factory folders made with a new seed (``nianbao synth --seed N`` with N not the training run's;
their documents whose per-document seed is in the training factory's train/validation splits are
dropped) plus, for the text-layer map, the real labelled documents held out of training (the model
card's ``holdout``). For each threshold it counts the fields read at or above it, their error rate and
the coverage (share of fields read that would be auto-accepted), and picks the lowest threshold whose
measured error rate is at most ``--target-error``; if none is, 0.99, marked as not meeting the target.
The accept tables count null fields too (a row left blank is wrong where the gold prints a number:
the queue does not ask about it above the threshold); the maps are fitted and scored on printed
fields. Each source's own policy is kept (``heldout.accept_policy``, ``sources.ocr.accept_policy``);
the top-level ``accept_policy`` that ``review.queue`` reads is the joint one (``joint_policy``: the
target in every text-layer set and in each scan set's OCR-read fields), and
``sources.ocr.at_shipped_threshold`` says what it means for OCR-read fields.
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

from nianbao.inference.triage import DOUBT_THRESHOLD

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
TARGET_ERROR = 0.001
FALLBACK_THRESHOLD = 0.99
TOP = 0.9999  # the highest calibrated confidence (4 places, as CalibrateStage stores it): never a certain 1.0
DOUBT = DOUBT_THRESHOLD  # the pipeline's doubt threshold (PipelineOptions.doubt_threshold): the map keeps a score below it below it
# Reliability bins of the held-out measurement: fine at the top, where almost every field is.
HELDOUT_EDGES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)


def _field_rows(doc, values: dict) -> list[tuple]:
    """(confidence, correct, plain, ocr, null) for each field of a document read by the pipeline; a null
    field (no value: a row not printed, an unread cell) is right when the gold has no number there."""
    from nianbao.inference.calibration import is_plain, map_source

    rows = []
    for key, f in doc.fields.items():
        truth = values.get(key)
        if f.value is None:
            rows.append((f.confidence, truth is None, False, getattr(f, "source", None) == "ocr", True))
            continue
        rows.append((f.confidence, truth is not None and abs(float(truth) - float(f.value)) < 1e-6, is_plain(f),
                     map_source(f) == "ocr", False))
    return rows


_WORKER_PIPELINE = None


def _worker_init(mapper: str) -> None:
    global _WORKER_PIPELINE
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    _WORKER_PIPELINE = Pipeline(PipelineOptions(mapper=mapper, calibrate=False))


def _worker_read(item: tuple) -> tuple:
    i, document, values = item
    doc = _WORKER_PIPELINE.run(Path(document))
    return i, (None if doc.error is not None else _field_rows(doc, values))


def field_records(pipeline, golds: Sequence, workers: int = 1, mapper: str = "classifier") -> dict[str, np.ndarray]:
    """Every printed field the pipeline (calibration off) outputs on the gold documents: arrays
    ``conf``, ``correct``, ``plain`` (a reading the maps apply to: no alternatives, no structural reason),
    ``ocr`` (read by OCR: the OCR map's source) and ``group`` (index of its document in ``golds``).
    ``workers`` > 1 reads the documents in that many processes (each with its own pipeline)."""
    items = [(i, str(g.document), dict(g.values)) for i, g in enumerate(golds)]
    out: dict[int, Optional[list]] = {}
    if workers > 1 and len(items) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers, _worker_init, (mapper,)) as pool:
            for i, rows in pool.imap_unordered(_worker_read, items):
                out[i] = rows
    else:
        for i, document, values in items:
            doc = pipeline.run(Path(document))
            out[i] = None if doc.error is not None else _field_rows(doc, values)
    rows = [(*r, i) for i in sorted(out) if out[i] is not None for r in out[i]]
    cols = list(zip(*rows)) if rows else [(), (), (), (), (), ()]
    return {"conf": np.asarray(cols[0], dtype=float), "correct": np.asarray(cols[1], dtype=float),
            "plain": np.asarray(cols[2], dtype=bool), "ocr": np.asarray(cols[3], dtype=bool),
            "null": np.asarray(cols[4], dtype=bool), "group": np.asarray(cols[5], dtype=int)}


def printed(r: dict) -> dict:
    """The records of ``field_records`` without the null fields (what the maps are fitted and scored on)."""
    keep = ~r["null"] if "null" in r else np.ones(len(r["conf"]), dtype=bool)
    return {k: v[keep] for k, v in r.items()}


def apply_map(conf: np.ndarray, plain: np.ndarray, mapping: Optional[dict]) -> np.ndarray:
    """The confidences ``CalibrateStage`` outputs: plain readings remapped and rounded to 4 places."""
    if mapping is None:
        return np.asarray(conf, dtype=float)
    from nianbao.inference.calibration import mapped

    return np.where(plain, mapped(conf, (np.asarray(mapping["x"]), np.asarray(mapping["y"]))), conf)


def apply_maps(conf: np.ndarray, plain: np.ndarray, ocr: np.ndarray, maps: dict) -> np.ndarray:
    """Per-source ``apply_map``: OCR readings through ``maps["ocr"]``, the others through
    ``maps["text"]``; a source without a map (None or absent) keeps its raw scores."""
    ocr = np.asarray(ocr, dtype=bool)
    plain = np.asarray(plain, dtype=bool)
    out = apply_map(conf, plain & ~ocr, maps.get("text"))
    return apply_map(out, plain & ocr, maps.get("ocr"))


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


def support_cap(conf: np.ndarray, correct: np.ndarray, mapping: dict, level: float = 0.95,
                max_confidence: Optional[float] = None, doubt: Optional[float] = DOUBT) -> dict:
    """The map with each knot value y lowered to what the fitting data support: at most the one-sided
    ``level`` lower bound (Clopper-Pearson) of the accuracy of the fitting fields the map puts at or
    above y, then made monotone again from the top (each knot at most the next). With N such fields
    and no error the bound is about 1 - 3/N: a sample too small to show an error rate below 1 - y
    cannot put a field at y. ``max_confidence`` (and ``TOP``, 0.9999) clips every knot too.

    ``doubt`` (the pipeline's doubt threshold): a raw confidence below it is never raised (the map is
    at most the identity there) and so stays below it. The readers lower a score under it to doubt a
    reading (an unsure look-alike digit, a re-ranked candidate); the map may lower such a score
    further, but never makes a doubted reading more confident or lifts it out of review."""
    conf = np.asarray(conf, dtype=float)
    wrong = np.asarray(correct, dtype=float) < 0.5
    mapped = np.interp(conf, mapping["x"], mapping["y"])
    xs = [float(x) for x in mapping["x"]]
    ys = []
    for y in mapping["y"]:
        m = mapped >= y - 1e-12
        ub = upper_bound(int(wrong[m].sum()), int(m.sum()), level)
        ys.append(min(float(y), 1.0 - ub) if ub is not None else float(y))
    return cap_map({"x": xs, "y": ys}, max_confidence, doubt)


def cap_map(mapping: dict, max_confidence: Optional[float] = None, doubt: Optional[float] = DOUBT) -> dict:
    """The caps of ``support_cap`` that need no data: below ``doubt`` at most the identity (and below
    it), nothing above ``max_confidence`` or ``TOP``, monotone. Idempotent; ``--keep-map`` applies it
    to a kept map."""
    xs = [float(x) for x in mapping["x"]]
    ys = [float(y) for y in mapping["y"]]
    if doubt is not None and xs[0] < doubt <= xs[-1]:
        # Knots at the threshold and just under it, so that no raw score below it is interpolated
        # above it and the scores at and above it map as before.
        for edge in (doubt, doubt - 1e-6):
            if edge not in xs:
                k = int(np.searchsorted(xs, edge))
                y = float(np.interp(edge, xs, ys))
                xs.insert(k, edge)
                ys.insert(k, y)
        ys = [min(y, x, round(doubt - 1e-4, 6)) if x < doubt else y for x, y in zip(xs, ys)]
    # Confidences are stored to 4 places: nothing rounds up to a certain 1.0.
    top = TOP if max_confidence is None else min(max_confidence, TOP)
    ys = [min(y, top) for y in ys]
    for k in range(len(ys) - 2, -1, -1):
        ys[k] = min(ys[k], ys[k + 1])
    return {"x": [round(x, 6) for x in xs], "y": [round(float(y), 6) for y in ys]}


def fit_supported(conf: np.ndarray, correct: np.ndarray, max_confidence: Optional[float] = None) -> dict:
    """The isotonic map (``fit``) capped by ``support_cap``."""
    return support_cap(conf, correct, fit(conf, correct), max_confidence=max_confidence)


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


def _folders(measure) -> list[Path]:
    if measure is None:
        return []
    return [Path(m) for m in ([measure] if isinstance(measure, (str, Path)) else measure)]


def _folder_tag(folder: Path) -> str:
    """What sets a factory folder apart in a set name: its forced traits (``text.style=pipes``), or ""."""
    import re

    forced = re.findall(r"--force[ =](\S+)", _synth_command(folder))
    return f" ({', '.join(forced)})" if forced else ""


def heldout_sets(measure, split: str, max_docs: int, real_ids: Sequence[str],
                 exclude_seeds: Iterable = ()) -> tuple[dict, dict]:
    """{set name: golds} for the measurement, and notes on what was dropped: factory reports the
    classifier trained on, or (``exclude_seeds``) the map was fitted on. ``measure``: a factory folder
    or several; each rendering kind of each folder is a set (a folder made with forced traits is
    named by them)."""
    from nianbao.labels import document_kind, gold_dir, gold_files, labelled_documents, load_labelled

    sets: dict[str, list] = {}
    notes: dict = {"factory_dropped_seen_in_training": 0, "factory_dropped_seen_in_fitting": 0} if measure else {}
    folder, seeds = training_seeds() if measure else (None, set())
    for m in _folders(measure):
        golds = labelled_documents(m, split=split or None, max_per_kind=max_docs)
        if folder is not None and m.resolve() == folder.resolve() and split != "test":
            raise SystemExit(f"{m} is the classifier's training factory: measure on its test split or a fresh seed")
        kept = [g for g in golds if g.extra.get("provenance", {}).get("seed") not in seeds]
        notes["factory_dropped_seen_in_training"] += len(golds) - len(kept)
        fitted = set(exclude_seeds) - {None}
        notes["factory_dropped_seen_in_fitting"] += sum(g.extra.get("provenance", {}).get("seed") in fitted for g in kept)
        kept = [g for g in kept if g.extra.get("provenance", {}).get("seed") not in fitted]
        by_kind: dict[str, list] = defaultdict(list)
        for g in kept:
            by_kind[document_kind(g)].append(g)
        tag = _folder_tag(m)
        for kind in sorted(by_kind):
            sets.setdefault(f"factory {kind}{tag}", []).extend(by_kind[kind])
    if real_ids:
        real = [load_labelled(p) for p in gold_files(gold_dir())]
        sets["real held out"] = [g for g in real if g.id in set(real_ids)]
        missing = sorted(set(real_ids) - {g.id for g in sets["real held out"]})
        if missing:
            notes["real_missing"] = missing
    return sets, notes


def measured_on_text(sets: dict, measure, split: str) -> str:
    factory = {name.split(" ", 1)[1]: len(golds) for name, golds in sets.items() if name.startswith("factory ")}
    parts = []
    if factory:
        kinds = ", ".join(f"{k} {n}" for k, n in factory.items())
        seeds = [s for s in (_factory_seed(m) for m in _folders(measure)) if s]
        reports = {g.extra.get("provenance", {}).get("seed", g.id) for name, golds in sets.items()
                   if name.startswith("factory ") for g in golds}
        seed_text = (" of synth seed" + ("s " if len(seeds) > 1 else " ") + ", ".join(seeds)) if seeds else ""
        parts.append(f"{sum(factory.values())} factory documents never trained on ({kinds}: {len(reports)} reports"
                     f"{seed_text}{', ' + split + ' split' if split else ''})")
    real = sets.get("real held out", [])
    if real:
        parts.append(f"{len(real)} real documents held out of training ({', '.join(sorted(g.id for g in real))})")
    return " + ".join(parts) or "nothing"


def _synth_command(folder: Optional[Path]) -> str:
    """The command that made a factory folder (``nianbao synth ...`` from its card, or the scan-set
    maker's ``python benchmarks/scan_set.py ...``), or ""."""
    import re

    readme = Path(folder) / "README.md" if folder else None
    if readme and readme.exists():
        m = re.search(r"^(nianbao synth|python benchmarks/scan_set\.py) .*$", readme.read_text("utf-8"), re.M)
        if m:
            return m.group(0).strip()
    return ""


def _factory_seed(folder: Optional[Path]) -> str:
    import re

    m = re.search(r"--seed (\d+)", _synth_command(folder))
    return m.group(1) if m else ""


def measure_heldout(pipeline, maps: dict, sets: dict, measured_on: str, target: float,
                    thresholds: Sequence[float] = THRESHOLDS, pooled: bool = False, source: str = "text",
                    workers: int = 1, mapper: str = "classifier") -> tuple[dict, dict]:
    """(accept_policy, heldout report) for the calibrated confidences on the held-out sets, each
    field through the map of its source (``maps``: {"text": map, "ocr": map or None}; a bare map is the
    text one). ``source="ocr"`` measures the OCR-read fields only. The target must hold in each set
    unless ``pooled``."""
    if "x" in maps:
        maps = {"text": maps}
    confs, corrects, names, accept_cal, accept_correct = [], [], [], [], []
    by_set: dict[str, dict] = {}
    for name, golds in sets.items():
        full = field_records(pipeline, golds, workers=workers, mapper=mapper)
        # The accept tables count every field the queue would not ask about: null ones too (a row left
        # blank is wrong when the gold prints a number there); calibration is scored on printed fields.
        cal_all = apply_maps(full["conf"], full["plain"], full["ocr"], maps)
        mine = full["ocr"] if source == "ocr" else np.ones(len(full["conf"]), dtype=bool)
        keep = mine & ~full["null"]
        conf, correct, calibrated = full["conf"][keep], full["correct"][keep], cal_all[keep]
        confs.append((conf, calibrated))
        corrects.append(correct)
        accept_cal.append(cal_all[mine])
        accept_correct.append(full["correct"][mine])
        names += [name] * int(mine.sum())
        by_set[name] = {"documents": len(golds), "documents_read": len(set(full["group"].tolist())), "fields": int(len(conf)),
                        "null_fields": int((mine & full["null"]).sum()),
                        "accuracy": round(float(correct.mean()), 5) if len(conf) else None,
                        "table": accept_table(cal_all[mine], full["correct"][mine], thresholds)}
    raw = np.concatenate([c[0] for c in confs]) if confs else np.zeros(0)
    cal = np.concatenate([c[1] for c in confs]) if confs else np.zeros(0)
    correct = np.concatenate(corrects) if corrects else np.zeros(0)
    policy = accept_policy(np.concatenate(accept_cal) if accept_cal else np.zeros(0),
                           np.concatenate(accept_correct) if accept_correct else np.zeros(0), measured_on, target,
                           thresholds, sets=None if pooled else np.asarray(names, dtype=object))
    policy["null_fields_counted"] = True
    report = {"measured_on": measured_on, "source": source, "documents": {k: len(v) for k, v in sets.items()},
              "before": summary(raw, correct), "after": summary(cal, correct),
              "reliability_before": reliability(raw, correct, edges=HELDOUT_EDGES),
              "reliability_after": reliability(cal, correct, edges=HELDOUT_EDGES),
              "by_set": by_set}
    return policy, report


def joint_policy(text_policy: dict, text_heldout: dict, ocr_policy: dict, ocr_heldout: dict,
                 target: float = TARGET_ERROR) -> dict:
    """The one auto-accept threshold for every field the review queue sees, text-layer and OCR-read: the
    lowest threshold whose error rate is at most ``target`` over both held-out measurements together
    and in each of their sets (each rendering kind, the real documents, each scan set's OCR-read fields).
    Per threshold the table adds the two measurements' fields and errors."""
    table = []
    read = text_policy.get("fields_read", 0) + ocr_policy.get("fields_read", 0)
    for a in text_policy["table"]:
        b = next((r for r in ocr_policy["table"] if abs(r["threshold"] - a["threshold"]) < 1e-9), None)
        n = a["fields"] + (b["fields"] if b else 0)
        errors = a["errors"] + (b["errors"] if b else 0)
        ub = upper_bound(errors, n)
        table.append({"threshold": a["threshold"], "error_rate": round(errors / n, 6) if n else None, "fields": n,
                      "coverage": round(n / read, 6) if read else 0.0, "errors": errors,
                      "error_rate_upper95": round(ub, 6) if ub is not None else None})
    set_tables = {name: s["table"] for name, s in (text_heldout.get("by_set") or {}).items()}
    set_tables.update({f"{name}, OCR-read fields": s["table"] for name, s in (ocr_heldout.get("by_set") or {}).items()})
    row, met = choose_threshold(table, target, set_tables=set_tables)
    return {"threshold": row["threshold"], "error_rate": row["error_rate"], "fields": row["fields"],
            "measured_on": f"{text_policy['measured_on']} + OCR-read fields of {ocr_policy['measured_on']}",
            "coverage": row["coverage"], "errors": row["errors"], "error_rate_upper95": row["error_rate_upper95"],
            "target_error": target, "meets_target": met, "target_in_every_set": True, "fields_read": read,
            "sources": ["text", "ocr"], "table": table}


def with_joint_policy(data: dict, target: float = TARGET_ERROR) -> dict:
    """``data`` (a calibration file's content) with its top-level ``accept_policy`` made the joint one
    when the OCR map has a measured policy too; the text-layer policy alone stays in ``heldout``."""
    ocr = (data.get("sources") or {}).get("ocr") or {}
    held = data.get("heldout") or {}
    text_policy = held.get("accept_policy") or (data.get("accept_policy") if "sources" not in (data.get("accept_policy") or {}) else None)
    if not (ocr.get("accept_policy") and ocr.get("heldout") and text_policy):
        return data
    out = dict(data)
    out["heldout"] = {**held, "accept_policy": text_policy}
    out["accept_policy"] = joint_policy(text_policy, held, ocr["accept_policy"], ocr["heldout"], target)
    return out


def clip_measured(policy: dict, heldout: dict, cap: float, target: float = TARGET_ERROR) -> tuple[dict, dict]:
    """The stored measurement of a map as it reads once the map is clipped at ``cap`` (``--keep-map
    --max-confidence``), without reading the documents again. Exact for the accept tables when no raw
    confidence measured is above 0.98 (OCR readings: a clipped field at ``cap`` >= 0.98 stays counted at
    every threshold up to ``cap`` and no field reaches a threshold above it); the reliability bins above
    0.98 merge into (0.98, 0.99] with the clipped fields at ``cap``. ECE stays as measured before the clip."""
    if cap < 0.98 or any(float(r["bin"].split(",")[0].strip("( ")) >= 0.98 and r["n"] for r in heldout.get("reliability_before", [])):
        raise SystemExit("--max-confidence on a kept measurement needs a cap >= 0.98 and no raw confidence above 0.98: "
                         "measure again (--measure)")

    def clip_table(table):
        return [r if r["threshold"] <= cap else {**r, "fields": 0, "errors": 0, "error_rate": None,
                                                 "error_rate_upper95": None, "coverage": 0.0} for r in table]

    held = {**heldout, "by_set": {k: {**v, "table": clip_table(v["table"])} for k, v in heldout["by_set"].items()}}
    rel, top = [], []
    for r in heldout.get("reliability_after", []):
        (top if float(r["bin"].split(",")[0].strip("( ")) >= 0.98 else rel).append(r)
    if top:
        n = sum(r["n"] for r in top)
        errors = sum(r["errors"] for r in top)
        kept = [r for r in top if r["bin"].startswith("(0.98,")]
        conf = (sum(r["n"] * r["confidence"] for r in kept) + (n - sum(r["n"] for r in kept)) * cap) / n
        rel.append({"bin": "(0.98, 0.99]", "n": n, "confidence": round(conf, 6), "accuracy": round(1 - errors / n, 6),
                    "errors": errors})
    held["reliability_after"] = rel
    if cap < 0.99:
        held["after"] = {**heldout["after"], "at_or_above_0.99": 0, "error_rate_at_or_above_0.99": None}
    table = clip_table(policy["table"])
    row, met = choose_threshold(table, target, set_tables={k: v["table"] for k, v in held["by_set"].items()})
    new = {**policy, "threshold": row["threshold"], "error_rate": row["error_rate"], "fields": row["fields"],
           "coverage": row["coverage"], "errors": row["errors"], "error_rate_upper95": row["error_rate_upper95"],
           "meets_target": met, "table": table}
    return new, held


def _print_table(table: list[dict]) -> None:
    print("\n| threshold | fields | wrong | error rate | 95% upper | coverage |\n|---:|---:|---:|---:|---:|---:|")
    for r in table:
        rate = "—" if r["error_rate"] is None else f"{r['error_rate']:.3%}"
        ub = "—" if r["error_rate_upper95"] is None else f"{r['error_rate_upper95']:.3%}"
        print(f"| {r['threshold']:g} | {r['fields']} | {r['errors']} | {rate} | {ub} | {r['coverage']:.1%} |")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", choices=("text", "ocr"), default="text",
                    help="which map to fit: text-layer readings (the top-level map and the accept policy) or "
                         "values read by OCR (sources.ocr; fit and measure on factory scans)")
    ap.add_argument("--factory", type=Path, nargs="+",
                    help="factory folder(s) to fit the map on (their documents never trained on)")
    ap.add_argument("--split", default="test", help="split of --factory to fit on")
    ap.add_argument("--max-docs", type=int, default=200, help="per kind and folder, for fitting")
    ap.add_argument("--keep-map", action="store_true", help="keep the map (and its report) in --out; only measure")
    ap.add_argument("--measure", type=Path, nargs="+",
                    help="factory folder(s) for the accept policy, made with new seeds (never trained on, never fitted on)")
    ap.add_argument("--measure-split", default="", help="split of --measure ('' = all: a fresh seed is held out whole)")
    ap.add_argument("--measure-max-docs", type=int, default=0, help="per kind (0 = all)")
    ap.add_argument("--real", default=None,
                    help="comma-separated ids of real labelled documents held out (default: the model card's holdout "
                         "for --source text, none for --source ocr: they are digital)")
    ap.add_argument("--target-error", type=float, default=TARGET_ERROR)
    ap.add_argument("--max-confidence", type=float, default=None,
                    help="clip the fitted map below this value (e.g. 0.9899: nothing reaches 0.99)")
    ap.add_argument("--pooled", action="store_true",
                    help="choose the threshold on all held-out fields together (default: the target must also "
                         "hold in each set: each factory rendering kind and the real documents)")
    ap.add_argument("--workers", type=int, default=1, help="processes reading the documents (each loads the pipeline)")
    ap.add_argument("--mapper", default="classifier")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "calibration.json")
    args = ap.parse_args(argv)
    if not args.keep_map and not args.factory:
        ap.error("--factory is required unless --keep-map")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    t0 = time.perf_counter()
    command = "python -m nianbao.training.calibrate " + shlex.join(sys.argv[1:] if argv is None else argv)
    pipeline = Pipeline(PipelineOptions(mapper=args.mapper, calibrate=False))
    old = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    old_sources = dict(old.get("sources") or {})
    # The entry this run writes: the top level (text) or sources[<source>].
    entry = old if args.source == "text" else dict(old_sources.get(args.source) or {})
    fit_seeds: set = set()
    if args.keep_map:
        if "x" not in entry:
            raise SystemExit(f"--keep-map: {args.out} has no {args.source} map")
        final, report = cap_map({"x": entry["x"], "y": entry["y"]}, args.max_confidence), dict(entry.get("report", {}))
        if final != {"x": entry["x"], "y": entry["y"]}:
            report["recapped"] = command  # the kept map, capped as the current support_cap caps
        if args.max_confidence is not None and not args.measure and entry.get("heldout") and entry.get("accept_policy"):
            policy, held = clip_measured(entry["accept_policy"], entry["heldout"], args.max_confidence, args.target_error)
            held["clipped"] = {"max_confidence": args.max_confidence, "command": command,
                               "note": "measured with the map before the clip; tables and reliability as clipped, ECE as measured"}
            entry = {**entry, "accept_policy": policy, "heldout": held}
    else:
        from bench_mappers import factory_docs  # the same document selection as the benchmark

        fit_golds = [g for f in args.factory for docs in factory_docs(f, args.split, args.max_docs).values() for g in docs]
        folder, seeds = training_seeds()
        if folder is not None and any(f.resolve() == folder.resolve() for f in args.factory) and args.split != "test":
            raise SystemExit(f"{folder} is the classifier's training factory: fit on its test split or a fresh seed")
        fit_golds = [g for g in fit_golds if g.extra.get("provenance", {}).get("seed") not in seeds]
        fit_seeds = {g.extra.get("provenance", {}).get("seed") for g in fit_golds}
        r = printed(field_records(pipeline, fit_golds, workers=args.workers, mapper=args.mapper))
        mine = r["ocr"] if args.source == "ocr" else ~r["ocr"]
        conf, correct, plain = r["conf"][mine], r["correct"][mine], r["plain"][mine]
        # Fit on half the fields (plain readings only: the others keep their scores), report on the other half.
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(conf))
        fit_idx, eval_idx = idx[: len(idx) // 2], idx[len(idx) // 2:]
        fit_plain = fit_idx[plain[fit_idx]]
        mapping = fit_supported(conf[fit_plain], correct[fit_plain], args.max_confidence)
        calibrated = apply_map(conf[eval_idx], plain[eval_idx], mapping)
        report = {"source": args.source, "documents": len(fit_golds), "documents_read": len(set(r["group"].tolist())),
                  "split": args.split, "mapper": args.mapper,
                  "factory": "; ".join(_synth_command(f) or str(f) for f in args.factory),
                  "fields": int(len(conf)), "plain_fields": int(plain.sum()),
                  "before": summary(conf[eval_idx], correct[eval_idx]),
                  "after": summary(calibrated, correct[eval_idx]),
                  "reliability_before": reliability(conf[eval_idx], correct[eval_idx]),
                  "reliability_after": reliability(calibrated, correct[eval_idx])}
        iso = fit(conf[plain], correct[plain])
        final = support_cap(conf[plain], correct[plain], iso, max_confidence=args.max_confidence)
        report["map_top_uncapped"] = iso["y"][-1]
        report["map_top"] = final["y"][-1]
        report["max_confidence"] = args.max_confidence
        report["command"] = command
        print(json.dumps({k: v for k, v in report.items() if not k.startswith("reliability")}, indent=1))
    new_entry = {k: v for k, v in entry.items() if k not in ("x", "y", "report", "sources")}
    new_entry.update({**final, "report": report})
    default_real = model_holdout() if args.source == "text" else []
    real_ids = default_real if args.real is None else [r.strip() for r in args.real.split(",") if r.strip()]
    if not args.keep_map:
        for stale in ("accept_policy", "heldout", "at_shipped_threshold"):  # measured with the map replaced
            new_entry.pop(stale, None)
    if args.measure or real_ids:
        if args.measure and not args.keep_map and args.factory and args.measure_split in ("", args.split) and \
                {m.resolve() for m in args.measure} & {f.resolve() for f in args.factory}:
            raise SystemExit("--measure must not hold the documents the map is fitted on: use a fresh factory seed")
        sets, notes = heldout_sets(args.measure, args.measure_split, args.measure_max_docs, real_ids, fit_seeds)
        measured_on = measured_on_text(sets, args.measure, args.measure_split)
        text_map = final if args.source == "text" else ({"x": old["x"], "y": old["y"]} if "x" in old else None)
        maps = {"text": text_map, "ocr": final if args.source == "ocr" else old_sources.get("ocr")}
        policy, heldout = measure_heldout(pipeline, maps, sets, measured_on, args.target_error, pooled=args.pooled,
                                          source=args.source, workers=args.workers, mapper=args.mapper)
        heldout.update(notes)
        if args.measure:
            heldout["factory"] = "; ".join(_synth_command(m) or str(m) for m in args.measure)
        heldout["command"] = command
        new_entry["accept_policy"] = policy
        new_entry["heldout"] = heldout
        _print_table(policy["table"])
        print(f"\nECE on held-out data: {heldout['before']['ece']:.4f} before, {heldout['after']['ece']:.4f} after")
        print(describe_policy(policy))
        if args.source == "text":
            heldout["accept_policy"] = policy  # the text-layer fields alone (the top level may be joint)
    if args.source == "text":
        out = {**new_entry, **({"sources": old_sources} if old_sources else {})}
    else:
        out = {**old, "sources": {**old_sources, args.source: new_entry}}
    out = with_joint_policy(out, args.target_error)
    ocr = (out.get("sources") or {}).get("ocr") or {}
    if ocr.get("accept_policy") and out.get("accept_policy"):
        # The review queue accepts every field at the one shipped threshold: what it means for OCR-read fields.
        shipped = out["accept_policy"]["threshold"]
        row = next((r for r in ocr["accept_policy"]["table"] if abs(r["threshold"] - shipped) < 1e-9), None)
        ocr["at_shipped_threshold"] = row
        if row is not None:
            rate = "n/a" if row["error_rate"] is None else f"{row['error_rate']:.3%}"
            print(f"OCR-read fields at the shipped accept threshold ≥ {shipped:g}: {row['errors']} wrong of "
                  f"{row['fields']} ({rate}; 95% upper bound {row['error_rate_upper95']}).")
        print("shipped: " + describe_policy(out["accept_policy"]))
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
