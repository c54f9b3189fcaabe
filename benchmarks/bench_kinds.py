"""Extraction per kind of text rendering: the factory's styles, the messy kinds of issue 12, damaged labels.

    python benchmarks/bench_kinds.py [--kinds tsv,broken_conversion,tsv+ocr] [--n 30] [--seed 2026] [--json]

For each kind the report factory renders ``--n`` documents (document seeds from ``--seed``, which
is not a training seed: 11 and 211 are) into a temporary folder, forcing only ``text.style`` and
``text.ocr_damage`` (none, or for ``<style>+ocr`` OCR-like damage to about 10% of the Chinese
characters); every other trait is drawn as the factory draws it. Each file is read with ``nianbao.extract`` (default options) and
scored against its gold:

- exact: every gold field right and the tables found as printed (``nianbao.evaluate.score_document``);
- accounted for: exact, or every wrong field was doubted (confidence < 0.9) — a wrong field with no
  value at all counts as doubted only when the document is flagged for review;
- non-zero accuracy: share of the non-zero gold fields read right;
- wrong >= 0.99: wrong fields the extractor was (almost) sure of;
- fabricated: values where the gold has none (an unprinted row or table), plus values whose digits
  are printed nowhere in the file (a number taken from a separator line, a footer, thin air);
- errors: documents ``extract`` returned with an error (scored as read: nothing right);
- s/doc: seconds per document spent in ``extract``.

With ``--json`` the last line is one JSON object: ``{"seed", "n", "kinds": {kind: {metric: value}}}``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from nianbao.inference.triage import DOUBT_THRESHOLD
from nianbao.training.factory.render_text import OCR_DAMAGE_RATE, STYLES

DEFAULT_KINDS = STYLES + ("tsv+ocr", "markdown_subtables+ocr")
OCR_SUFFIX = "+ocr"
DOUBTED = DOUBT_THRESHOLD  # the pipeline's doubt threshold (a field below it is doubted)
SURE = 0.99
_DIGIT_RUN = re.compile(r"\d[\d.,]*")


@dataclass
class KindScore:
    docs: int = 0
    exact: int = 0
    accounted: int = 0
    nonzero_total: int = 0
    nonzero_correct: int = 0
    wrong_sure: int = 0
    fabricated: int = 0
    errors: int = 0           # documents the extractor returned with an error (read as all wrong)
    seconds: float = 0.0
    # "document-seed key gold=.. read=.. confidence=.." for every wrong field at >= 0.99 and every
    # fabricated value, to rebuild the document: build_report(seed, FactoryOptions(force=kind_force(kind))).
    findings: list[str] = field(default_factory=list)
    # How the rows whose labels were not read as printed fared: fields placed by structure (order and
    # cell count) and fields under approximately matched labels, [right, total] each.
    placed: dict[str, list[int]] = field(default_factory=lambda: {"structure": [0, 0], "approximate": [0, 0]})

    def row(self) -> dict[str, float]:
        n = max(1, self.docs)
        return {"docs": self.docs, "exact": self.exact / n, "accounted": self.accounted / n,
                "nonzero_accuracy": self.nonzero_correct / max(1, self.nonzero_total),
                "wrong_at_0.99": self.wrong_sure, "fabricated": self.fabricated, "errors": self.errors, "seconds_per_doc": self.seconds / n,
                **{f"{k}_placed": f"{right}/{total}" for k, (right, total) in self.placed.items()}}


def placement(reason: Optional[str]) -> Optional[str]:
    """Which placement a field's reason names (mapping.STRUCTURE_REASON / APPROXIMATE_REASON)."""
    from nianbao.inference.mapping import APPROXIMATE_REASON, STRUCTURE_REASON

    if reason and reason.startswith(STRUCTURE_REASON):
        return "structure"
    if reason and reason.startswith(APPROXIMATE_REASON):
        return "approximate"
    return None


def kind_force(kind: str) -> dict[str, object]:
    """Forced traits of a benchmark kind: ``<style>`` or ``<style>+ocr``."""
    style, _, extra = kind.partition("+")
    if style not in STYLES or extra not in ("", OCR_SUFFIX[1:]):
        raise SystemExit(f"unknown kind {kind!r}: a text style ({', '.join(STYLES)}), optionally with '+ocr'")
    return {"text.style": style, "text.ocr_damage": OCR_DAMAGE_RATE if extra else 0.0}


def significant_digits(text: str) -> str:
    """Digits of a number without sign, point, grouping, leading or trailing zeros ("" for zero)."""
    return re.sub(r"\D", "", text).strip("0")


def value_digits(value: float) -> str:
    return significant_digits(f"{abs(value):.6f}")


def printed_digit_runs(text: str) -> list[str]:
    return [significant_digits(m.group()) for m in _DIGIT_RUN.finditer(text)]


def digits_printed(value: float, runs: list[str]) -> bool:
    """The value's digits appear inside one printed run of digits (a run-together row prints
    ``5712`` for 5 and 712, so a part of a run counts)."""
    digits = value_digits(value)
    return not digits or any(digits in run for run in runs)


def score_kind_document(gold, doc, file_text: str, score: KindScore, seed: int = 0) -> None:
    from nianbao.evaluate import score_document

    s = score_document(gold, doc)
    score.docs += 1
    score.errors += doc.error is not None
    score.exact += s.exact
    score.nonzero_total += s.nonzero_total
    score.nonzero_correct += s.nonzero_correct
    runs = printed_digit_runs(file_text)
    unprinted = [k for k, f in doc.fields.items() if f.value is not None and gold.values.get(k) is not None
                 and not digits_printed(f.value, runs)]
    score.fabricated += s.fabricated + len(unprinted)
    for key, g, p in s.wrong:
        f = doc.fields.get(key)
        if g is None and p is not None or key in unprinted:
            score.findings.append(f"{seed} {key} gold={g} read={p} fabricated")
        elif f is not None and f.confidence >= SURE:
            score.findings.append(f"{seed} {key} gold={g} read={p} confidence={f.confidence:.4f}")
    doubted_all = True
    for key, _, _ in s.wrong:
        field = doc.fields.get(key)
        if field is None:  # no reading at all (a table not found)
            doubted_all &= doc.review.needed
            continue
        if field.confidence >= SURE:
            score.wrong_sure += 1
        if field.confidence >= DOUBTED:
            doubted_all = False
    if not s.wrong and not s.exact:  # only the tables found differ
        doubted_all = doc.review.needed
    score.accounted += s.exact or doubted_all
    wrong = {key for key, _, _ in s.wrong}
    for key, f in doc.fields.items():
        how = placement(f.reason)
        if how and key in gold.values:
            score.placed[how][0] += key not in wrong
            score.placed[how][1] += 1


def run_kind(kind: str, n: int, seed: int, folder: Path) -> KindScore:
    from nianbao import extract
    from nianbao.labels import LabelledDocument
    from nianbao.training.factory.build import build_report
    from nianbao.training.factory.dataset import render_own
    from nianbao.training.factory.options import FactoryOptions
    from nianbao.training.factory.rng import document_seed

    options = FactoryOptions(force=kind_force(kind))
    score = KindScore()
    out = folder / kind.replace("+", "_")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        report = build_report(document_seed(seed, i), options)
        rendered = render_own("text", report, out, report.id, options)
        path = out / f"{report.id}{rendered.suffix}"
        gold = LabelledDocument(id=report.id, document=path, agency=report.agency, year=report.year,
                                template=report.template, found=report.found, values=report.values)
        t = time.perf_counter()
        doc = extract(path)
        score.seconds += time.perf_counter() - t
        text = rendered.data.decode(str(rendered.traits.get("text.encoding", "utf-8")))
        score_kind_document(gold, doc, text, score, report.seed)
    return score


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| kind | docs | exact | accounted for | non-zero acc | wrong >= 0.99 | fabricated | errors | s/doc "
             "| placed by structure (right/all) | approximate labels (right/all) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, r in rows.items():
        lines.append(f"| {kind} | {r['docs']} | {r['exact']:.0%} | {r['accounted']:.0%} | {r['nonzero_accuracy']:.1%} | "
                     f"{r['wrong_at_0.99']} | {r['fabricated']} | {r['errors']} | {r['seconds_per_doc']:.3f} "
                     f"| {r['structure_placed']} | {r['approximate_placed']} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kinds", default=",".join(DEFAULT_KINDS),
                    help=f"comma-separated: {', '.join(STYLES)}, each optionally with '+ocr'")
    ap.add_argument("--n", type=int, default=30, help="documents per kind")
    ap.add_argument("--seed", type=int, default=2026, help="run seed of the rendered documents (not a training seed)")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object with every kind's figures")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for k in kinds:
        kind_force(k)  # unknown kinds fail before any work
    rows: dict[str, dict[str, float]] = {}
    findings: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            score = run_kind(kind, args.n, args.seed, Path(tmp))
            rows[kind], findings[kind] = score.row(), score.findings
    report("bench_kinds.py", argv, rows, findings,
           "wrong at >= 0.99 and fabricated (document seed, key; rebuild with build_report(seed, "
           "FactoryOptions(force=kind_force(kind)))):",
           {"seed": args.seed, "n": args.n, "kinds": rows} if args.json else None)
    return 0


def report(script: str, argv: Optional[list[str]], rows: dict[str, dict], findings: dict[str, list[str]],
           findings_title: str, summary: Optional[dict] = None, most: int = 20) -> None:
    """The command, the table, the findings (up to ``most`` per set) and, with --json, one JSON line."""
    print(f"command: python benchmarks/{script} {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(table(rows))
    if any(findings.values()):
        print("\n" + findings_title)
        for name, lines in findings.items():
            for line in lines[:most]:
                print(f"  {name}: {line}")
    if summary is not None:
        print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
