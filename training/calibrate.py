"""Calibrate field confidences on held-out labelled documents (isotonic regression, scikit-learn).

    python -m nianbao.training.calibrate --factory DIR [--split test] [--max-docs 300] [--out models/calibration.json]

Collects (confidence, correct) for every printed field the pipeline outputs on documents it never
trained on, fits a monotone map from raw to calibrated confidence, and reports the expected
calibration error before and after and the error rate above 0.99. The map is saved as breakpoints
that inference applies with numpy alone (``nianbao.inference.calibration``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterable

import numpy as np


def collect(pipeline, golds: Iterable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, correct, plain) per printed field; ``plain``: a reading the calibration map
    applies to (not OCR, no alternatives, no structural reason), as ``CalibrateStage`` does."""
    conf, correct, plain = [], [], []
    for g in golds:
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
    return np.asarray(conf, dtype=float), np.asarray(correct, dtype=float), np.asarray(plain, dtype=bool)


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


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            rows.append({"bin": f"({lo:.1f}, {hi:.1f}]", "n": int(m.sum()), "confidence": round(float(conf[m].mean()), 4),
                         "accuracy": round(float(correct[m].mean()), 4)})
    return rows


def summary(conf: np.ndarray, correct: np.ndarray) -> dict:
    high = conf >= 0.99
    return {"fields": int(len(conf)), "accuracy": round(float(correct.mean()), 5) if len(conf) else None,
            "ece": round(ece(conf, correct), 5), "at_or_above_0.99": int(high.sum()),
            "error_rate_at_or_above_0.99": round(float(1 - correct[high].mean()), 5) if high.any() else None}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--factory", type=Path, required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-docs", type=int, default=200, help="per kind")
    ap.add_argument("--mapper", default="classifier")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "calibration.json")
    args = ap.parse_args()
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_mappers import factory_docs  # the same document selection as the benchmark

    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    pipeline = Pipeline(PipelineOptions(mapper=args.mapper, calibrate=False))
    golds = [g for docs in factory_docs(args.factory, args.split, args.max_docs).values() for g in docs]
    conf, correct, plain = collect(pipeline, golds)
    # Fit on half the fields (plain readings only: the others keep their scores), report on the other half.
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(conf))
    fit_idx, eval_idx = idx[: len(idx) // 2], idx[len(idx) // 2:]
    fit_plain = fit_idx[plain[fit_idx]]
    mapping = fit(conf[fit_plain], correct[fit_plain])
    calibrated = np.where(plain[eval_idx], np.interp(conf[eval_idx], mapping["x"], mapping["y"]), conf[eval_idx])
    report = {"documents": len(golds), "split": args.split, "mapper": args.mapper,
              "before": summary(conf[eval_idx], correct[eval_idx]),
              "after": summary(calibrated, correct[eval_idx]),
              "reliability_before": reliability(conf[eval_idx], correct[eval_idx]),
              "reliability_after": reliability(calibrated, correct[eval_idx])}
    final = fit(conf[plain], correct[plain])
    args.out.write_text(json.dumps({**final, "report": report}, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
