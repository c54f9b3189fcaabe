"""Deciding run-together digits: time per document, and how often the value prior picks right.

    python benchmarks/bench_decode.py                  # 200 crawler-style documents, then the prior
    python benchmarks/bench_decode.py --n 500 --seed 7 --json
    python benchmarks/bench_decode.py --skip-prior     # timing only

Timing: factory documents rendered as crawler text with every row's cells run together
(``text.style=run_together``: concatenated digits, or spaces in misleading places; the factory's
own choice of the other defects), written to a temporary folder and read by the pipeline (the
default spotter; ``--mapper baseline`` for the schema's labels). The clock covers what the decoder
does per document: every ``decide_row``, ``joint_requests`` and ``field_values`` call, summed, as
wall-clock time and as the thread's CPU time (on a shared machine the wall clock includes waiting
for a core; the CPU time does not). Each
document is read once warm (after one untimed read of the first document). The machine may be
shared: compare runs made close together.

The same documents are scored against their gold: exact documents, and fields wrong at
confidence >= 0.99 (which must be 0).

Prior: each held-out row's printed digits concatenated (``training/value_prior.split_cases``: the
held-out real documents of the model card and factory documents of ``--prior-seed``, never trained
on) and decoded with the rules off; right = the best reading is the row. Printed for the learned
prior (models/value_prior.json) and the hand-made one, with the trust margin stored in the model.

``--json`` prints one JSON object as the last line.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


class TimedDecoder:
    """The decode module as mapping.py sees it, with its calls timed."""

    def __init__(self, module):
        self._module = module
        self.seconds = 0.0       # wall clock
        self.cpu_seconds = 0.0   # this thread's CPU time (what a shared, loaded machine does not inflate)

    def __getattr__(self, name: str):
        target = getattr(self._module, name)
        if name not in ("decide_row", "joint_requests", "field_values"):
            return target

        def timed(*args, **kwargs):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return target(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.cpu_seconds += time.thread_time() - c
        return timed


def render_documents(n: int, seed: int, folder: Path) -> list[tuple[Path, dict]]:
    from nianbao.training.factory.build import build_report
    from nianbao.training.factory.dataset import render_own
    from nianbao.training.factory.options import FactoryOptions
    from nianbao.training.factory.rng import document_seed

    options = FactoryOptions().with_force({"text.style": "run_together"})
    out = []
    for i in range(n):
        report = build_report(document_seed(seed, i), options)
        rendered = render_own("text", report, folder, f"doc{i:04d}", options)
        out.append((folder / f"doc{i:04d}{rendered.suffix}", dict(report.values)))
    return out


def bench_timing(docs: list[tuple[Path, dict]], mapper: str) -> dict:
    from nianbao.evaluate import same_value
    from nianbao.inference import mapping
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    pipeline = Pipeline(PipelineOptions(spotter=mapper))
    timer = TimedDecoder(mapping.decode)
    original = mapping.decode
    mapping.decode = timer  # type: ignore[assignment]
    try:
        if docs:
            pipeline.run(docs[0][0])  # warm-up: imports, schema, model
        per_doc: list[float] = []
        per_doc_cpu: list[float] = []
        exact = wrong_high = errors = 0
        slowest = ("", 0.0)
        for path, gold in docs:
            timer.seconds = timer.cpu_seconds = 0.0
            doc = pipeline.run(path)
            ms = 1000 * timer.seconds
            per_doc.append(ms)
            per_doc_cpu.append(1000 * timer.cpu_seconds)
            if ms > slowest[1]:
                slowest = (path.name, ms)
            if doc.error is not None:
                errors += 1
                continue
            wrong = [k for k, v in gold.items()
                     if not same_value(doc.fields[k].value if k in doc.fields else None, v)]
            exact += not wrong
            wrong_high += sum(1 for k in wrong if k in doc.fields and doc.fields[k].confidence >= 0.99)
    finally:
        mapping.decode = original  # type: ignore[assignment]
    return {"documents": len(docs), "max_ms": round(max(per_doc), 2) if per_doc else None,
            "mean_ms": round(statistics.fmean(per_doc), 2) if per_doc else None,
            "p95_ms": round(sorted(per_doc)[int(0.95 * (len(per_doc) - 1))], 2) if per_doc else None,
            "over_50ms": sum(1 for t in per_doc if t > 50), "slowest": slowest[0],
            "cpu_max_ms": round(max(per_doc_cpu), 2) if per_doc_cpu else None,
            "cpu_mean_ms": round(statistics.fmean(per_doc_cpu), 2) if per_doc_cpu else None,
            "cpu_over_50ms": sum(1 for t in per_doc_cpu if t > 50),
            "exact": exact, "wrong_at_0_99": wrong_high, "errors": errors}


def bench_prior(n: int, seed: int) -> dict:
    from nianbao.inference import plausibility
    from nianbao.training import value_prior as vp

    learned = plausibility.active_prior()
    held = vp.holdout_ids()
    samples = {"factory": vp.factory_samples(n, seed), "real_held_out": vp.gold_samples(ids=set(held))}
    trained_seed = (learned.provenance.get("factory", {}) or {}).get("seed") if learned else None
    out: dict = {"held_out_real": held, "factory_seed": seed,
                 "trust_margin": learned.trust_margin if learned else None,
                 "learned_installed": learned is not None}
    if trained_seed == seed:
        out["warning"] = f"factory seed {seed} is the prior's training seed: not held out"
    for name, golds in samples.items():
        row: dict = {"documents": len(golds)}
        for label, prior in (("learned", learned), ("handmade", None)):
            if label == "learned" and learned is None:
                continue
            r = vp.split_cases(golds, prior)
            row[label] = r.summary()
            if label == "learned" and learned is not None and learned.trust_margin is not None:
                above = [c for c in r.cases if c.margin is not None and c.margin >= learned.trust_margin]
                row[label]["at_or_above_trust_margin"] = {"rows": len(above), "right": sum(c.right for c in above)}
        out[name] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="crawler-style documents to time")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mapper", default="classifier", choices=("classifier", "baseline"))
    ap.add_argument("--prior-n", type=int, default=500, help="held-out factory documents for the prior's accuracy")
    ap.add_argument("--prior-seed", type=int, default=79)
    ap.add_argument("--skip-prior", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result: dict = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                    "command": "python benchmarks/bench_decode.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    with tempfile.TemporaryDirectory() as tmp:
        docs = render_documents(args.n, args.seed, Path(tmp))
        timing = bench_timing(docs, args.mapper)
    result["timing"] = timing
    print(f"digit decisions on {timing['documents']} crawler-style documents (run together, seed {args.seed}, "
          f"{args.mapper}): max {timing['max_ms']} ms, mean {timing['mean_ms']} ms, p95 {timing['p95_ms']} ms, "
          f"{timing['over_50ms']} over 50 ms (slowest {timing['slowest']}); CPU time max {timing['cpu_max_ms']} ms, "
          f"mean {timing['cpu_mean_ms']} ms, {timing['cpu_over_50ms']} over 50 ms; exact {timing['exact']}, "
          f"fields wrong at >= 0.99: {timing['wrong_at_0_99']}, errors {timing['errors']}")
    if not args.skip_prior:
        prior = bench_prior(args.prior_n, args.prior_seed)
        result["prior"] = prior
        for name in ("factory", "real_held_out"):
            row = prior[name]
            parts = [f"{label} {row[label]['right']}/{row[label]['ambiguous']} ({row[label]['accuracy']})"
                     for label in ("learned", "handmade") if label in row]
            print(f"prior picks the right split ({name}, {row['documents']} docs, rules off): " + ", ".join(parts))
        print(f"trust margin (stored in models/value_prior.json): {prior['trust_margin']}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
