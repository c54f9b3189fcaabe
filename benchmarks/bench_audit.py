"""Precision and recall of the audit families (P prose vs table, N narrative, A Table A) on a fresh
factory set whose prose states its tables, misstates them at known rates and states last year's
numbers too; then the findings counted on the real dev documents (examples/).

    python benchmarks/bench_audit.py                 # 300 factory documents (text), then examples/
    python benchmarks/bench_audit.py --n 1000 --kind html --seed 7

A finding is "flagged" when it fails. Truth: the factory records each plant as a trait
(prose.audit.P<n> = "agree" | "conflict", None when the prose states nothing; N1 when section 五
was left empty; N2 when the fee stated in section 六 differs from Table A's; N3 when the opening names
last year). A statement of 收到…申请 may be read as P1 or P3: the two are scored together (P1). Table A errors are
planted only here (``--table-a-errors``, 0 in training sets): A1 a negative count, A3 money with a
decimal too many; A2 (a record, never a failure) is scored per cell against the cells printed '/' or '—'.
"""
from __future__ import annotations

import argparse
import glob
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from nianbao.document import Document
from nianbao.inference.audit import family
from nianbao.inference.pipeline import Pipeline, PipelineOptions
from nianbao.training.factory import content
from nianbao.training.factory.build import build_report
from nianbao.training.factory.dataset import render_own
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.prose import planted_truth
from nianbao.training.factory.rng import document_seed


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    evaluated: int = 0      # findings produced (passed or not)
    should_evaluate: int = 0  # statements / plants present
    examples: list[str] = field(default_factory=list)

    def add(self, truth: bool, flagged: bool, note: str) -> None:
        if truth and flagged:
            self.tp += 1
        elif flagged:
            self.fp += 1
            if len(self.examples) < 3:
                self.examples.append("FP " + note)
        elif truth:
            self.fn += 1
            if len(self.examples) < 3:
                self.examples.append("FN " + note)

    @property
    def precision(self) -> Optional[float]:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> Optional[float]:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def _rule(rule: str) -> str:
    return "P1" if rule == "P3" else rule


def score_document(doc: Document, report, scores: dict[str, Score]) -> None:
    if not any(report.found.values()):
        return  # a report without tables: nothing is evaluated, by design
    truth = planted_truth(report.traits)
    failed = {_rule(c.rule) for c in doc.checks if not c.passed}
    seen = {_rule(c.rule) for c in doc.checks}
    for rule, relation in truth.stated.items():
        s = scores[rule]
        if relation is not None:
            s.should_evaluate += 1
            s.evaluated += rule in seen
        s.add(relation == "conflict", rule in failed, f"{doc.source} {rule} prose {relation}")
    scores["N1"].add(truth.n1_empty_section5, "N1" in failed, f"{doc.source} N1")
    n2 = scores["N2"]
    if truth.n2_fee is not None:
        n2.should_evaluate += 1
        n2.evaluated += "N2" in seen
    n2.add(truth.n2_fee == "conflict", "N2" in failed, f"{doc.source} N2 {truth.n2_fee}")
    scores["N3"].add(truth.n3_other_year, "N3" in failed, f"{doc.source} N3")
    planted_a = report.traits.get("content.audit.table_a")
    for a in ("A1", "A3"):
        scores[a].add(planted_a == a, a in failed, f"{doc.source} {a}")
    # A2 records cells: scored per cell against the cells printed '/' or '—'.
    printed_na = {k for k, raw in report.raw.items() if k.startswith("proactive.") and raw in ("/", "—")}
    recorded = {k for c in doc.checks if c.rule == "A2" for k in c.not_applicable}
    a2 = scores["A2"]
    a2.tp += len(printed_na & recorded)
    a2.fp += len(recorded - printed_na)
    a2.fn += len(printed_na - recorded)


def run_factory(n: int, kind: str, seed: int, table_a_errors: float) -> dict[str, Score]:
    content.TABLE_A_ERROR_RATE = table_a_errors  # opt-in Table A plants (0 in training sets)
    options = FactoryOptions()
    pipeline = Pipeline(PipelineOptions())
    scores: dict[str, Score] = defaultdict(Score)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            report = build_report(document_seed(seed, i), options)
            rendered = render_own(kind, report, Path(tmp), f"d{i}", options)
            doc = pipeline.run(Path(tmp) / f"d{i}{rendered.suffix}")
            if doc.error is not None:
                continue
            score_document(doc, report, scores)
    return scores


def _pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def family_table(scores: dict[str, Score]) -> list[str]:
    lines = ["| family / rule | planted conflicts | flagged | precision | recall | evaluated where stated |",
             "|---|---|---|---|---|---|"]
    fams: dict[str, Score] = defaultdict(Score)
    for rule, s in sorted(scores.items()):
        f = fams[family(rule)]
        f.tp, f.fp, f.fn = f.tp + s.tp, f.fp + s.fp, f.fn + s.fn
        f.evaluated, f.should_evaluate = f.evaluated + s.evaluated, f.should_evaluate + s.should_evaluate
    for name, s in [(f"**{k}**", v) for k, v in sorted(fams.items())] + sorted(scores.items()):
        ev = f"{s.evaluated}/{s.should_evaluate}" if s.should_evaluate else "–"
        lines.append(f"| {name} | {s.tp + s.fn} | {s.tp + s.fp} | {_pct(s.precision)} | {_pct(s.recall)} | {ev} |")
    return lines


def real_counts(paths: list[str]) -> list[str]:
    pipeline = Pipeline(PipelineOptions())
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # documents evaluated, findings, failed
    for p in paths:
        doc = pipeline.run(p)
        rules = defaultdict(lambda: [0, 0])
        for c in doc.checks:
            rules[c.rule][0] += 1
            rules[c.rule][1] += not c.passed
        for r, (n, bad) in rules.items():
            per[r][0] += 1
            per[r][1] += n
            per[r][2] += bad
    lines = [f"| rule | documents evaluated (of {len(paths)}) | findings | failed |", "|---|---|---|---|"]
    for r in sorted(per, key=lambda r: (r[0] != "R", r)):
        d, n, bad = per[r]
        lines.append(f"| {r} | {d} | {n} | {bad} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--kind", default="text")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--real", default="examples")
    ap.add_argument("--table-a-errors", type=float, default=0.2,
                    help="share of documents with a planted Table A error (A1 negative count, A3 a decimal too many)")
    args = ap.parse_args()
    scores = run_factory(args.n, args.kind, args.seed, args.table_a_errors)
    print(f"Factory: {args.n} fresh documents ({args.kind}, run seed {args.seed})\n")
    print("\n".join(family_table(scores)))
    notes = [e for s in scores.values() for e in s.examples]
    if notes:
        print("\nexamples of misses:\n  " + "\n  ".join(notes[:12]))
    paths = sorted(p for p in glob.glob(f"{args.real}/*") if not p.endswith(".md"))
    print(f"\nReal dev documents ({args.real}/):\n")
    print("\n".join(real_counts(paths)))


if __name__ == "__main__":
    main()
