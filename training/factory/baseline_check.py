"""How the extraction baseline does on factory renderings, variant by variant.

    python -m nianbao.training.factory.baseline_check                 # controlled, 30 docs per variant
    python -m nianbao.training.factory.baseline_check --n 10 --kinds text --json out.json
    python -m nianbao.training.factory.baseline_check --mode natural --n 300

``controlled``: every trait at its plainest value (the CLEAN profile: zeros printed "0", no
broken rule, row-per-line text, ...), then one trait value at a time forced on top of it, so a
drop in exactness belongs to that variant alone. ``natural``: documents as the factory makes them,
exactness grouped by each trait value (variants mix, so read it as exposure, not cause).

A document is exact when every gold field is extracted with its value and the tables found are
the gold's (``nianbao.evaluate.score_document``). For each variant that loses documents the
first failing one is shown: its seed and forced traits (enough to rebuild it with
``build_report(seed, FactoryOptions(force=...))``) and the first wrong fields.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from nianbao.evaluate import score_document
from nianbao.inference.pipeline import Pipeline
from nianbao.labels import LabelledDocument

from .build import build_report
from .dataset import OWN_KINDS, render_own
from .synthetic_report import SyntheticReport
from .options import FactoryOptions
from .rng import document_seed

# The plainest document: what every variant is measured against.
CLEAN: dict[str, object] = {
    "content.break": "none", "layout.placeholder": "0", "layout.parens": "full", "layout.normative_variant": False,
    "layout.other_services_short": False, "layout.partial_short": False, "layout.overdue_fee_missing_word": False,
    "layout.header_typo": False, "layout.corner": "official", "layout.enum_dot": ".", "layout.a_trailing_cell": False,
    "layout.page_break": False, "content.amount_format": "yuan_unit",
    "text.style": "tsv", "text.header_split": "none", "text.label_spaces": False, "text.displaced_label": "none",
    "text.missing_label": False, "text.lost_cells": 0, "text.padding": "none", "text.page_sep": "blank_lines",
    "text.colspan_empties": False, "text.trailing_tab": False, "text.blank_lines": False, "text.indent": False,
    "text.prose_breaks": False, "text.newline": "lf", "text.encoding": "utf-8", "text.crawler_header": False,
    "text.one_line": False, "text.misleading_spaces": False, "text.spacer_cells": True, "text.ocr_damage": 0.0,
    "html.style": "cms", "html.nbsp_padding": False, "html.split_runs": False, "html.site_header": False,
    "html.split_table": False, "html.encoding": "utf-8", "html.footer": False,
    "docx.split_table": False, "docx.header_paragraphs": False,
}

# Variants measured in controlled mode: (trait, value[, extra forced traits]).
COMMON_VARIANTS: list[tuple] = [
    ("content.break", b) for b in ("blank_total_column", "zero_results_total", "stray_value", "row_total_off",
                                   "unbalanced_new", "results_mismatch", "appeals_total_off")
] + [
    ("content.requests_zero", True), ("content.requests_zero", False),
    ("content.single_other_row", True), ("content.no_rules_row", True), ("content.late_v2019", True),
    ("content.tables", "no_appeals"), ("content.tables", "appeals_heading_only"), ("content.tables", "no_proactive"),
    ("content.tables", "none"),
    ("content.amount_format", "plain"), ("content.amount_format", "wan_unit"), ("content.amount_format", "header_wan"),
    ("content.amount_format", "thousands"), ("content.negative_change", True),
] + [("layout.placeholder", p) for p in ("-", "—", "/", "无", "blank_parts", "blank")] + [
    ("layout.parens", "half"), ("layout.parens", "mixed"), ("layout.normative_variant", True),
    ("layout.other_services_short", True), ("layout.partial_short", True), ("layout.overdue_fee_missing_word", True),
    ("layout.header_typo", True), ("layout.corner", "gouji_typo"), ("layout.corner", "he"),
    ("layout.enum_dot", "．"), ("layout.enum_dot", "、"), ("layout.a_trailing_cell", True),
    ("layout.page_break", True, {"layout.repeat_header": False}), ("layout.page_break", True, {"layout.repeat_header": True}),
    ("prose.title", "year_first"), ("prose.title", "split_lines"), ("prose.title", "none"),
    ("prose.signature", "one_line"), ("prose.signature", "none"), ("prose.numbers", "disagree"),
]
KIND_VARIANTS: dict[str, list[tuple]] = {
    "text": [("text.style", s) for s in ("cell_per_line", "pipes", "run_together")] + [
        ("text.style", "run_together", {"text.misleading_spaces": True}),
        ("text.style", "run_together", {"text.one_line": True, "text.crawler_header": True}),
        ("text.header_split", "chars"), ("text.header_split", "pieces"), ("text.header_split", "spaces"),
        ("text.label_spaces", True), ("text.displaced_label", "column0"), ("text.displaced_label", "after_numbers"),
        ("text.missing_label", True), ("text.missing_label", True, {"text.style": "pipes"}),
        ("text.missing_label", True, {"text.style": "cell_per_line"}), ("text.lost_cells", 1), ("text.lost_cells", 3),
        ("text.padding", "ideographic"), ("text.padding", "nbsp"), ("text.padding", "mixed"),
        ("text.page_sep", "formfeed", {"layout.page_break": True}),
        ("text.page_sep", "page_number", {"layout.page_break": True}),
        ("text.repeat_group_labels", True, {"layout.page_break": True, "layout.repeat_header": True}),
        ("text.colspan_empties", True), ("text.trailing_tab", True), ("text.spacer_cells", False, {"text.style": "cell_per_line"}),
        ("text.blank_lines", True), ("text.indent", True), ("text.prose_breaks", True),
        ("text.newline", "crlf"), ("text.encoding", "gb18030"), ("text.encoding", "utf-8-sig"),
        ("text.style", "cell_per_line", {"layout.placeholder": "-"}),
        ("text.style", "run_together", {"layout.placeholder": "-"}),
        ("text.style", "run_together", {"layout.placeholder": "无"}),
        ("text.style", "markdown_subtables"), ("text.style", "markdown_subtables", {"text.md_b_header": "real"}),
        ("text.style", "broken_conversion"), ("text.style", "broken_conversion", {"layout.page_break": True}),
        ("text.ocr_damage", 0.1), ("text.ocr_damage", 0.1, {"text.style": "markdown_subtables"}),
    ],
    "html": [("html.style", "word_export"), ("html.style", "th_header"), ("html.split_runs", True, {"html.style": "word_export"}),
             ("html.nbsp_padding", True), ("html.site_header", True), ("html.footer", True),
             ("html.split_table", True, {"layout.page_break": True, "layout.repeat_header": False}),
             ("html.split_table", True, {"layout.page_break": True, "layout.repeat_header": True}),
             ("html.repeat_group_labels", True, {"layout.page_break": True, "html.split_table": True}),
             ("html.encoding", "gbk")],
    "docx": [("docx.header_paragraphs", True),
             ("docx.split_table", True, {"layout.page_break": True, "layout.repeat_header": False}),
             ("docx.split_table", True, {"layout.page_break": True, "layout.repeat_header": True}),
             ("docx.repeat_group_labels", True, {"layout.page_break": True, "docx.split_table": True})],
}


@dataclass
class Outcome:
    docs: int = 0
    exact: int = 0
    agency: int = 0
    year: int = 0
    template: int = 0
    example: Optional[dict] = None

    def rate(self) -> float:
        return self.exact / self.docs if self.docs else 0.0


@dataclass
class Checker:
    """Renders documents, runs the baseline, scores them against the factory's gold."""

    workdir: Path
    pipeline: Pipeline = field(default_factory=Pipeline)

    def score(self, report: SyntheticReport, kind: str, force: dict) -> tuple[bool, dict]:
        rendered = render_own(kind, report, self.workdir, report.id, FactoryOptions(force=force))
        path = self.workdir / f"{report.id}{rendered.suffix}"
        doc = self.pipeline.run(path)
        gold = LabelledDocument(id=report.id, document=path, agency=report.agency, year=report.year,
                                template=report.template, found=report.found, values=report.values)
        s = score_document(gold, doc)
        info = {"seed": report.seed, "kind": kind, "error": s.error, "wrong": [list(w) for w in s.wrong[:4]],
                "tables_found": {t: bool(doc.found.get(t)) for t in report.found}, "agency_ok": s.agency_ok,
                "year_ok": s.year_ok, "template_ok": s.template_ok, "traits": {**report.traits, **rendered.traits}}
        path.unlink()
        return s.exact, info

    def run(self, kind: str, force: dict, n: int, seed: int) -> Outcome:
        out = Outcome()
        for i in range(n):
            report = build_report(document_seed(seed, i), FactoryOptions(force=force))
            exact, info = self.score(report, kind, force)
            out.docs += 1
            out.exact += exact
            out.agency += info["agency_ok"]
            out.year += info["year_ok"]
            out.template += info["template_ok"]
            if not exact and out.example is None:
                out.example = {k: v for k, v in info.items() if k != "traits"} | {"force": force}
        return out


def controlled(kinds: list[str], n: int, seed: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        checker = Checker(Path(tmp))
        for kind in kinds:
            base = checker.run(kind, dict(CLEAN), n, seed)
            rows.append(_row(kind, "clean", base))
            for variant in COMMON_VARIANTS + KIND_VARIANTS.get(kind, []):
                name, value = variant[0], variant[1]
                extra = variant[2] if len(variant) > 2 else {}
                force = {**CLEAN, **extra, name: value}
                label = f"{name}={value}" + "".join(f", {k}={v}" for k, v in extra.items())
                rows.append(_row(kind, label, checker.run(kind, force, n, seed)))
    return rows


def natural(kinds: list[str], n: int, seed: int) -> list[dict]:
    groups: dict[tuple[str, str], Outcome] = defaultdict(Outcome)
    with tempfile.TemporaryDirectory() as tmp:
        checker = Checker(Path(tmp))
        for kind in kinds:
            for i in range(n):
                report = build_report(document_seed(seed, i))
                exact, info = checker.score(report, kind, {})
                for k, v in sorted(info["traits"].items()):
                    if k.startswith(("content.year", "layout.page_break_row", "text.missing_label_row")):
                        continue
                    o = groups[(kind, f"{k}={v}")]
                    o.docs += 1
                    o.exact += exact
                    if not exact and o.example is None:
                        o.example = {kk: vv for kk, vv in info.items() if kk != "traits"}
                groups[(kind, "all")].docs += 1
                groups[(kind, "all")].exact += exact
    return [_row(kind, label, o) for (kind, label), o in sorted(groups.items())]


def _row(kind: str, variant: str, o: Outcome) -> dict:
    return {"kind": kind, "variant": variant, "docs": o.docs, "exact": o.exact, "rate": round(o.rate(), 3),
            "agency": o.agency, "year": o.year, "template": o.template, "example": o.example}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("controlled", "natural"), default="controlled")
    ap.add_argument("--kinds", default="text,html,docx")
    ap.add_argument("--n", type=int, default=30, help="documents per variant (controlled) or per kind (natural)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write all rows (with failing examples) to this file")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k in OWN_KINDS]
    rows = (controlled if args.mode == "controlled" else natural)(kinds, args.n, args.seed)
    print("| kind | variant | exact | rate |")
    print("|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['kind']} | {r['variant']} | {r['exact']}/{r['docs']} | {r['rate']:.0%} |")
    print()
    for r in rows:
        if r["example"] and r["rate"] < 1.0:
            ex = r["example"]
            print(f"- {r['kind']} {r['variant']}: seed {ex['seed']}; wrong (key, gold, extracted): {ex['wrong']}; "
                  f"tables found {ex['tables_found']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
