"""Can a scan's numbers be trusted? Exactness, confident wrong fields and unread cells on factory scans.

    nianbao synth --n 6 --kinds scan --seed 713 --out /tmp/scans --force layout.placeholder=-
    python benchmarks/bench_scan_trust.py /tmp/scans/docs/scan

Per document and in total: exact documents, fields wrong, fields wrong at confidence >= 0.99 and
>= 0.98 (the review app's auto-accept threshold), wrong fields stored as 0 where the gold is not 0
(a lost digit read as a printed blank), null fields with an "unread" reason (ink the recogniser
could not read), documents sent to review. The gold is the factory's labelled document beside each
scan.
"""
from __future__ import annotations

import argparse
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
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="folder of factory scans (*.pdf with *.json gold beside)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="list every wrong field")
    args = ap.parse_args(argv)

    from nianbao.evaluate import same_value
    from nianbao.inference.pipeline import Pipeline
    from nianbao.labels import load_labelled

    pipe = Pipeline()
    golds = sorted(args.folder.glob("*.json"))
    if args.limit:
        golds = golds[:args.limit]
    t = Tally()
    for gpath in golds:
        gold = load_labelled(gpath)
        pdf = gpath.with_suffix(".pdf")
        if not pdf.exists():
            continue
        t0 = time.perf_counter()
        doc = pipe.run(pdf)
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
        print(f"{gpath.stem}: wrong {wrong} (>=0.99: {w99}), unread {unread}, review {doc.review.needed}",
              flush=True)
    print("\n".join(t.lines))
    print(f"documents {t.docs}: exact {t.exact}, fields {t.fields}, wrong {t.wrong}, wrong at >=0.99 {t.wrong_99}, "
          f"wrong at >=0.98 {t.wrong_98}, stored 0 for a number {t.zero_for_number}, "
          f"unread (null, doubted) {t.unread} of which gold non-zero {t.unread_gold_nonzero}, "
          f"sent to review {t.review}, {t.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
