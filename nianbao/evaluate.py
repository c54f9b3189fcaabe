"""Score extraction output against gold labels.

Many real values are 0, so plain field accuracy flatters; this reports per-document exact match,
accuracy on non-zero gold fields, fabricated values, table detection and metadata as well.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from nianbao.document import TABLE_NAMES, Document
from nianbao.labels import LabelledDocument, gold_files, load_labelled


@dataclass
class DocScore:
    id: str
    source: Optional[str]
    error: Optional[str]
    exact: bool
    fields_total: int
    fields_correct: int
    nonzero_total: int
    nonzero_correct: int
    fabricated: int
    missed: int
    tables_correct: int
    agency_ok: bool
    year_ok: bool
    template_ok: bool
    review_needed: bool
    wrong: list[tuple[str, object, object]] = field(default_factory=list)


def same_value(a, b) -> bool:
    """Two printed values are the same: both blank, or equal numbers."""
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 1e-6


def score_document(gold: LabelledDocument, doc: Document) -> DocScore:
    pred = doc.values() if doc.error is None else {}
    wrong = []
    correct = nz_total = nz_correct = 0
    for key, g in gold.values.items():
        p = pred.get(key, "missing")
        ok = p != "missing" and same_value(p, g)
        correct += ok
        if g not in (None, 0):
            nz_total += 1
            nz_correct += ok
        if not ok:
            wrong.append((key, g, None if p == "missing" else p))
    fabricated = sum(1 for k, v in pred.items() if v is not None and gold.values.get(k) is None)
    for k, v in pred.items():
        if v is not None and gold.values.get(k) is None:
            wrong.append((k, None, v))
    missed = sum(1 for k, g in gold.values.items() if g is not None and pred.get(k) is None)
    found = {t: bool(doc.found.get(t)) and doc.error is None for t in TABLE_NAMES}
    tables_correct = sum(found[t] == gold.found[t] for t in TABLE_NAMES)
    exact = not wrong and tables_correct == len(TABLE_NAMES)
    return DocScore(id=gold.id, source=doc.source, error=doc.error.code if doc.error else None, exact=exact,
                    fields_total=len(gold.values), fields_correct=correct, nonzero_total=nz_total,
                    nonzero_correct=nz_correct, fabricated=fabricated, missed=missed, tables_correct=tables_correct,
                    agency_ok=(doc.agency == gold.agency), year_ok=(doc.year == gold.year),
                    template_ok=(doc.template == gold.template), review_needed=doc.review.needed, wrong=wrong)


@dataclass
class Report:
    docs: list[DocScore]

    def totals(self) -> dict[str, float]:
        n = len(self.docs) or 1
        ft = sum(d.fields_total for d in self.docs) or 1
        nz = sum(d.nonzero_total for d in self.docs) or 1
        return {
            "documents": len(self.docs),
            "docs_exact": sum(d.exact for d in self.docs) / n,
            "field_accuracy": sum(d.fields_correct for d in self.docs) / ft,
            "nonzero_field_accuracy": sum(d.nonzero_correct for d in self.docs) / nz,
            "fields": sum(d.fields_total for d in self.docs),
            "nonzero_fields": sum(d.nonzero_total for d in self.docs),
            "fabricated": sum(d.fabricated for d in self.docs),
            "table_detection": sum(d.tables_correct for d in self.docs) / (3 * n),
            "agency": sum(d.agency_ok for d in self.docs) / n,
            "year": sum(d.year_ok for d in self.docs) / n,
            "template": sum(d.template_ok for d in self.docs) / n,
            "errors": sum(1 for d in self.docs if d.error),
            "review_needed": sum(d.review_needed for d in self.docs),
        }

    def as_text(self) -> str:
        rows = ["| document | exact | fields | non-zero | fabricated | tables | agency | year | template | review |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for d in self.docs:
            rows.append(f"| {d.id} | {'yes' if d.exact else 'NO'} | {d.fields_correct}/{d.fields_total} | "
                        f"{d.nonzero_correct}/{d.nonzero_total} | {d.fabricated} | {d.tables_correct}/3 | "
                        f"{'ok' if d.agency_ok else 'x'} | {'ok' if d.year_ok else 'x'} | {'ok' if d.template_ok else 'x'} | "
                        f"{'yes' if d.review_needed else 'no'} |")
        t = self.totals()
        rows.append("")
        rows.append(f"documents {t['documents']}: exact {t['docs_exact']:.1%}, field accuracy {t['field_accuracy']:.2%} "
                    f"({t['fields']} fields), non-zero field accuracy {t['nonzero_field_accuracy']:.2%} "
                    f"({t['nonzero_fields']} fields), fabricated {t['fabricated']}, table detection {t['table_detection']:.1%}, "
                    f"agency {t['agency']:.1%}, year {t['year']:.1%}, template {t['template']:.1%}, "
                    f"errors {t['errors']}, under review {t['review_needed']}")
        for d in self.docs:
            for key, g, p in d.wrong[:10]:
                rows.append(f"  {d.id}: {key} gold={g} predicted={p}")
        return "\n".join(rows)


def evaluate(gold_dir: Path, extract: Callable[[Path], Document]) -> Report:
    scores = []
    for path in gold_files(gold_dir):
        gold = load_labelled(path)
        if gold.document is None or not Path(gold.document).exists():
            raise FileNotFoundError(f"{path}: the labelled document {gold.document} is missing")
        scores.append(score_document(gold, extract(Path(gold.document))))
    return Report(scores)
