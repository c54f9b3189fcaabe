"""Can a scan's numbers be trusted? Exactness, confident wrong fields and unread cells on factory scans.

    nianbao synth --n 6 --kinds scan --seed 713 --out /tmp/scans --force layout.placeholder=-
    python benchmarks/bench_scan_trust.py /tmp/scans/docs/scan
    python benchmarks/scan_set.py --n 40 --seed 8131 --out /tmp/scanset      # turned tables among them
    python benchmarks/bench_scan_trust.py /tmp/scanset --ocr-cache /tmp/scanset.ocr

Per document and in total: exact documents, fields wrong, fields wrong at confidence >= 0.99 and
>= 0.98 (the review app's auto-accept threshold), wrong fields stored as 0 where the gold is not 0
(a lost digit read as a printed blank), null fields with an "unread" reason (ink the recogniser
could not read), documents sent to review (all, and those whose gold breaks no rule: a clean
report should not be queued), and the fields read from placeholders ('-', '/', '无': how many are
confident, how many wrong). The gold is the factory's labelled document beside each scan.

``--ocr-cache DIR``: each document is kept there as the OCR stage left it (pickled) and read back
from there on the next run, so the stages after OCR (locate ... triage) can be measured again in
seconds; delete the folder after a change to the OCR code. ``--no-rule-trust``: the same without
the rules re-ranking uncertain readings or corroborating them (``inference/ocr/trust.py``).
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Tally:
    docs: int = 0
    exact: int = 0
    fields: int = 0
    wrong: int = 0
    wrong_99: int = 0
    wrong_98: int = 0
    zero_for_number: int = 0
    unread: int = 0
    unread_gold_nonzero: int = 0   # unread fields whose gold is not 0 (a real digit was there)
    review: int = 0
    clean_docs: int = 0            # documents whose gold breaks no rule
    clean_review: int = 0
    placeholders: int = 0          # fields read from a printed placeholder (value 0)
    placeholders_90: int = 0
    placeholders_98: int = 0
    placeholders_wrong: int = 0
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)


def _placeholder(f) -> bool:
    return (f is not None and f.source == "ocr" and f.value == 0 and bool(f.raw)
            and not any(ch.isdigit() for ch in f.raw))


def run_document(pipeline, pdf: Path, cache: Path | None):
    """Pipeline.run on one file, the document as the OCR stage left it kept in ``cache``."""
    if cache is None:
        return pipeline.run(pdf)
    from nianbao.document import Document

    after_ocr = [s.name for s in pipeline.stages].index("ocr") + 1
    saved = cache / f"{pdf.stem}.pkl"
    if saved.exists():
        doc = pickle.loads(saved.read_bytes())
    else:
        doc = pipeline.run_stages(Document(source=str(pdf)), pipeline.stages[:after_ocr])
        if doc.error is not None:
            return doc
        saved.write_bytes(pickle.dumps(doc))
    return pipeline.run_stages(doc, pipeline.stages[after_ocr:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="folder of factory scans (*.pdf with *.json gold beside)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="list every wrong field")
    ap.add_argument("--ocr-cache", type=Path, default=None, help="keep/read the documents as OCR left them here")
    ap.add_argument("--no-rule-trust", action="store_true",
                    help="ablation: no re-ranking of uncertain readings by failing rules, no corroboration by rules that hold")
    args = ap.parse_args(argv)
    if args.no_rule_trust:
        from nianbao.inference import reconcile_stage

        reconcile_stage.rerank_by_rules = lambda *a, **k: []
        reconcile_stage.corroborate_by_rules = lambda *a, **k: []

    from nianbao.evaluate import same_value
    from nianbao.inference.pipeline import Pipeline
    from nianbao.labels import load_labelled

    pipeline = Pipeline()
    if args.ocr_cache:
        args.ocr_cache.mkdir(parents=True, exist_ok=True)
    golds = sorted(args.folder.glob("*.json"))
    if args.limit:
        golds = golds[:args.limit]
    t = Tally()
    for gpath in golds:
        gold = load_labelled(gpath)
        broken = json.loads(gpath.read_text(encoding="utf-8")).get("provenance", {}).get("broken_rules")
        pdf = gpath.with_suffix(".pdf")
        if not pdf.exists():
            continue
        t0 = time.perf_counter()
        doc = run_document(pipeline, pdf, args.ocr_cache)
        t.seconds += time.perf_counter() - t0
        t.docs += 1
        wrong = unread = w99 = 0
        for key, g in gold.values.items():
            f = doc.fields.get(key)
            p = f.value if f is not None else None
            t.fields += 1
            if f is not None and f.value is None and f.reason and "unread" in f.reason:
                unread += 1
                t.unread += 1
                t.unread_gold_nonzero += g not in (None, 0)
            if _placeholder(f):
                t.placeholders += 1
                t.placeholders_90 += f.confidence >= 0.9
                t.placeholders_98 += f.confidence >= 0.98
                t.placeholders_wrong += not same_value(g, p)
            if same_value(g, p):
                continue
            wrong += 1
            t.wrong += 1
            conf = f.confidence if f is not None else 0.0
            if p is not None and conf >= 0.99:
                w99 += 1
                t.wrong_99 += 1
            if p is not None and conf >= 0.98:
                t.wrong_98 += 1
            if p == 0 and g not in (None, 0):
                t.zero_for_number += 1
            if args.verbose:
                t.lines.append(f"    {gpath.stem} {key}: gold={g} got={p} conf={conf:.4f} reason={f.reason if f else None}")
        t.exact += wrong == 0
        t.review += bool(doc.review.needed)
        if broken == []:
            t.clean_docs += 1
            t.clean_review += bool(doc.review.needed)
        print(f"{gpath.stem}: wrong {wrong} (>=0.99: {w99}), unread {unread}, review {doc.review.needed}"
              f"{'' if broken == [] else ' (gold breaks ' + ', '.join(broken or ['?']) + ')'}", flush=True)
    print("\n".join(t.lines))
    print(f"documents {t.docs}: exact {t.exact}, fields {t.fields}, wrong {t.wrong}, wrong at >=0.99 {t.wrong_99}, "
          f"wrong at >=0.98 {t.wrong_98}, stored 0 for a number {t.zero_for_number}, "
          f"unread (null, doubted) {t.unread} of which gold non-zero {t.unread_gold_nonzero}, "
          f"sent to review {t.review} (of the {t.clean_docs} whose gold breaks no rule: {t.clean_review}), "
          f"{t.seconds:.1f} s")
    print(f"placeholder fields {t.placeholders}: at >=0.9 {t.placeholders_90}, at >=0.98 {t.placeholders_98}, "
          f"wrong {t.placeholders_wrong}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
