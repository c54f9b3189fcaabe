"""Baseline vs classifier, in one run, on the same documents.

    python benchmarks/bench_mappers.py [--factory DIR] [--split test] [--max-docs 200] [--noisy 100]

Sets: the 12 labelled real documents (held-out ones marked in the model card); the report
factory's test split per rendering kind; noisy copies of text renderings (labels with look-alike
characters, dropped and truncated characters). Prints docs exact, non-zero field accuracy and
fabricated values per set and mapper, then speed (ms per table, model load time).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def factory_docs(folder: Path, split: str, max_docs: int) -> dict[str, list]:
    from nianbao.labels import document_kind, labelled_documents

    by_kind: dict[str, list] = defaultdict(list)
    for gold in labelled_documents(folder, split=split or None, max_per_kind=max_docs):
        by_kind[document_kind(gold)].append(gold)
    return by_kind


def score(pipeline, golds) -> dict:
    from nianbao.evaluate import score_document

    exact = nz = nz_ok = fab = 0
    for g in golds:
        s = score_document(g, pipeline.run(Path(g.document)))
        exact += s.exact
        nz += s.nonzero_total
        nz_ok += s.nonzero_correct
        fab += s.fabricated
    n = max(1, len(golds))
    return {"docs": len(golds), "exact": exact / n, "nonzero": nz_ok / max(1, nz), "fabricated": fab}


def noisy_set(golds, n: int, seed: int, workdir: Path):
    from nianbao.training.noisy_docs import noisy_labelled

    return noisy_labelled(golds[:n], workdir, seed)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--factory", type=Path, help="a folder made by `nianbao synth`")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-docs", type=int, default=100, help="per kind")
    ap.add_argument("--noisy", type=int, default=100, help="noisy copies of text documents")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    from nianbao.inference.pipeline import Pipeline, PipelineOptions
    from nianbao.labels import gold_dir, gold_files, load_labelled

    t0 = time.perf_counter()
    classifier = Pipeline(PipelineOptions(spotter="classifier"))
    from nianbao.inference.classifier import load_classifier, model_available

    if not model_available():
        print("no trained model in models/token_classifier: run `nianbao train` first", file=sys.stderr)
        return 1
    load_classifier()
    load_s = time.perf_counter() - t0
    baseline = Pipeline(PipelineOptions(spotter="baseline"))
    print(f"command: {' '.join(sys.argv)}")
    sets: dict[str, list] = {}
    real = [load_labelled(p) for p in gold_files(gold_dir())]
    sets["real (12 docs)"] = real
    card = ROOT / "models" / "token_classifier" / "labels.json"
    held = json.loads((ROOT / "models" / "token_classifier" / "metrics.json").read_text("utf-8"))["data"]["holdout"] if card.exists() else []
    sets["real, held out of training"] = [g for g in real if g.id in held]
    texts: list = [g for g in real if Path(g.document).suffix == ".txt"]
    if args.factory:
        for kind, golds in sorted(factory_docs(args.factory, args.split, args.max_docs).items()):
            sets[f"factory {args.split}: {kind}"] = golds
            if kind in ("txt", "text"):
                texts = golds + texts
    with tempfile.TemporaryDirectory() as tmp:
        sets["noisy labels (text)"] = noisy_set(texts, args.noisy, args.seed, Path(tmp))
        print("\n| set | docs | baseline: exact / non-zero acc / fabricated | classifier: exact / non-zero acc / fabricated |")
        print("|---|---:|---|---|")
        for name, golds in sets.items():
            if not golds:
                continue
            b, c = score(baseline, golds), score(classifier, golds)
            print(f"| {name} | {len(golds)} | {b['exact']:.1%} / {b['nonzero']:.1%} / {b['fabricated']} | "
                  f"{c['exact']:.1%} / {c['nonzero']:.1%} / {c['fabricated']} |")
    # Speed: the classifier's own time per located table.
    from nianbao.inference.classifier import ClassifierSpotter
    from nianbao import extract

    spotter = ClassifierSpotter()
    times = []
    for g in real:
        doc = extract(Path(g.document))
        if doc.linear is None or not doc.located:
            continue
        t = time.perf_counter()
        spotter._cache.clear()
        spotter._spans(doc.linear)
        times.append((time.perf_counter() - t) * 1000 / max(1, len(doc.located)))
    print(f"\nclassifier: {statistics.median(times):.1f} ms per table (median over {len(times)} documents, "
          f"whole document text tagged), model load {load_s * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
