"""The report factory: gold that fits the schema, rules broken exactly as recorded, determinism,
token labels that match what inference reads, the synth command, and the baseline on renderings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nianbao.inference import reconcile
from nianbao.inference.normalize import BLANK, compact
from nianbao.inference.pipeline import Pipeline
from nianbao.labels import LabelledDocument, load_labelled
from nianbao.evaluate import score_document
from nianbao.schema import load_schema
from nianbao.training.factory.align import align
from nianbao.training.factory.baseline_check import CLEAN
from nianbao.training.factory.build import build_report
from nianbao.training.factory.content import BREAKS, failing_rules
from nianbao.training.factory.dataset import render_own
from nianbao.training.factory.synthetic_report import PrintedTable
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.rng import document_seed

N_REPORTS = 300
UNPRINTABLE_ROWS = {"proactive.rules", "requests.other.overdue_correction", "requests.other.overdue_fee"}


@pytest.fixture(scope="module")
def reports():
    return [build_report(document_seed(7, i)) for i in range(N_REPORTS)]


def _row_of(key: str) -> str:
    return key.rsplit(".", 1)[0]


def test_gold_has_the_template_keys_of_found_tables(reports):
    schema = load_schema()
    for r in reports:
        tables = tuple(t for t in ("proactive", "requests", "appeals") if r.found[t])
        assert set(r.values) == set(schema.field_keys(r.template, tables)), r.id
        assert set(r.raw) == set(r.values)
        printed = {c.key for t in r.tables() for c in t.cells if c.key}
        for key, value in r.values.items():
            # None exactly for the keys of rows the layout does not print, and only those rows may be unprinted.
            assert (value is None) == (key not in printed), (r.id, key)
            assert (r.raw[key] is None) == (value is None)
            if value is None:
                assert _row_of(key) in UNPRINTABLE_ROWS and r.template == "v2021", (r.id, key)
        if not any(r.found.values()):
            assert r.values == {} and r.template == ("v2019" if r.year <= 2020 else "v2021")


def test_variety_of_structures(reports):
    traits = [r.traits for r in reports]
    assert {r.template for r in reports} == {"v2019", "v2021"}
    assert any(r.template == "v2019" and r.year >= 2021 for r in reports)
    assert any(t.get("content.single_other_row") for t in traits)
    assert any(t.get("content.no_rules_row") for t in traits)
    assert {t["content.tables"] for t in traits} >= {"all", "no_appeals", "none"}
    assert any(v is not None and v < 0 for r in reports for k, v in r.values.items() if k.endswith(".change"))
    assert any(v is not None and v >= 1000 for r in reports for k, v in r.values.items() if k.startswith("proactive."))
    zero_b = [r for r in reports if r.found["requests"] and not any(
        v for k, v in r.values.items() if k.startswith("requests.") and v)]
    assert 0.2 < len(zero_b) / len(reports) < 0.6


def test_broken_documents_break_exactly_the_recorded_rules(reports):
    broken = [r for r in reports if r.broken_rules]
    assert 0.15 < len(broken) / len(reports) < 0.45
    for r in reports:
        failing = [c for c in reconcile.run_checks(r.values, r.template, r.found) if not c.passed]
        assert failing_rules(r.values, r.template, r.found) == r.broken_rules
        assert len(failing) == len(r.broken_rules)
        assert (r.traits["content.break"] == "none") == (not r.broken_rules), r.id


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_every_break_kind_breaks_rules(kind):
    options = FactoryOptions(force={"content.break": kind, "content.requests_zero": False, "content.tables": "all"})
    r = build_report(11, options)
    assert r.traits["content.break"] == kind and r.broken_rules
    rule = "R4" if kind == "appeals_total_off" else ("R1", "R2", "R3")
    assert all(b.startswith(rule) for b in r.broken_rules)


def _number(text: str, header_wan: bool) -> float:
    t = text.strip()
    if t in ("", "-", "—", "/", "无"):
        return 0.0
    scale = 1.0
    if t.endswith("万元"):
        t, scale = t[:-2], 10000.0
    elif t.endswith("元"):
        t = t[:-1]
    elif header_wan:
        scale = 10000.0
    return round(float(t.replace(",", "")) * scale, 6)


def test_printed_cells_read_back_as_the_gold(reports):
    for r in reports:
        for table in r.tables():
            wan = any("万元" in c.text and "采购" in c.text for c in table.cells)
            for c in table.cells:
                if c.key:
                    assert abs(_number(c.text, wan and c.key.endswith("amount_yuan")) - r.values[c.key]) < 1e-6, (r.id, c)
                    assert c.text == r.raw[c.key]


def test_prose_and_signature(reports):
    for r in reports[:50]:
        kinds = [b.kind for b in r.blocks if not isinstance(b, PrintedTable)]
        dates = [b.text for b in r.blocks if not isinstance(b, PrintedTable) and b.kind == "date"]
        assert all(f"{r.year + 1}年" in d for d in dates)
        assert "heading" in kinds
        assert any(isinstance(b, PrintedTable) for b in r.blocks) == any(r.found.values())


def test_same_seed_same_report_and_bytes(tmp_path):
    a, b = build_report(123), build_report(123)
    assert a == b and build_report(124) != a
    for kind in ("text", "html", "docx"):
        first = render_own(kind, a, tmp_path, "a", FactoryOptions())
        second = render_own(kind, b, tmp_path, "b", FactoryOptions())
        assert first.data == second.data and first.traits == second.traits


def test_forced_traits_are_used_and_recorded():
    force = {"layout.placeholder": "—", "text.style": "pipes", "prose.title": "none"}
    r = build_report(5, FactoryOptions(force=force))
    assert r.traits["layout.placeholder"] == "—" and r.traits["prose.title"] == "none"
    assert not any(getattr(b, "kind", None) == "title" for b in r.blocks)


@pytest.mark.parametrize("kind", ["text", "html", "docx"])
def test_alignment_labels_what_the_reader_sees(kind, tmp_path):
    """Every segment is matched to printed text, and every span labelled with a field key prints
    that key's raw cell text (a BLANK segment: an empty cell)."""
    for i in range(12):
        r = build_report(document_seed(3, i))
        rendered = render_own(kind, r, tmp_path, r.id, FactoryOptions())
        a = align(tmp_path / f"{r.id}{rendered.suffix}", rendered.units, r)
        assert a.aligned == 1.0, (kind, r.id)
        for seg, start, end, label in zip(a.span_segment, a.span_start, a.span_end, a.span_label):
            if label in r.values:
                text = a.segments[seg][start:end]
                assert compact(text) == compact(r.raw[label]) or (text == BLANK and r.raw[label] == ""), (label, text)


def test_run_together_text_labels_each_digit_run(tmp_path):
    force = {"text.style": "run_together", "content.requests_zero": False, "content.tables": "all"}
    r = build_report(21, FactoryOptions(force=force))
    rendered = render_own("text", r, tmp_path, "x", FactoryOptions(force=force))
    a = align(tmp_path / "x.txt", rendered.units, r)
    row = next(i for i, s in enumerate(a.segments) if "本年新收" in s)
    labels = [lab for _, _, lab in a.labels_of(row)]
    assert "row:requests.new" in labels
    assert [lab for lab in labels if lab.startswith("requests.new.")] == [f"requests.new.{c}" for c in reconcile.B_COLUMNS]


def test_synth_command_is_deterministic_and_evaluable(tmp_path, capsys):
    from nianbao.cli import main

    runs = []
    for name, workers in (("a", "1"), ("b", "2")):
        out = tmp_path / name / "run"
        assert main(["synth", "--n", "5", "--kinds", "text,html,docx", "--seed", "9", "--out", str(out),
                     "--workers", workers, "--quiet"]) == 0
        runs.append(out)
    files = sorted(p.relative_to(runs[0]) for p in runs[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(runs[1]) for p in runs[1].rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".json"]) == 15
    for f in files:
        assert (runs[0] / f).read_bytes() == (runs[1] / f).read_bytes(), f
    card = (runs[0] / "README.md").read_text("utf-8")
    assert "5 documents, 15 renderings" in card and "text.style" in card

    import pyarrow.parquet as pq

    rows = [r for f in sorted((runs[0] / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 15 and {r["kind"] for r in rows} == {"text", "html", "docx"}
    assert all(len({x["split"] for x in rows if x["doc_id"] == r["doc_id"]}) == 1 for r in rows)
    gold = load_labelled(runs[0] / rows[0]["gold_path"])
    assert gold.document is not None and gold.document.exists()
    assert gold.values == {k: v for k, v in zip(rows[0]["keys"], rows[0]["values"])}
    capsys.readouterr()
    main(["evaluate", "--gold", str(runs[0] / "docs" / "html"), "--json"])
    assert json.loads(capsys.readouterr().out)["totals"]["documents"] == 5


def test_synth_refuses_a_used_folder(tmp_path, capsys):
    from nianbao.cli import main

    (tmp_path / "keep.txt").write_text("x")
    assert main(["synth", "--n", "1", "--out", str(tmp_path), "--quiet"]) == 2
    assert (tmp_path / "keep.txt").exists()


# ---------------------------------------------------------------------------------------------
# The extraction baseline on renderings (see training/factory/baseline_check.py for all variants)
# ---------------------------------------------------------------------------------------------

PASSING = [
    ("text", {}), ("text", {"text.style": "cell_per_line", "text.header_split": "chars", "layout.placeholder": "-"}),
    ("text", {"text.style": "pipes", "layout.parens": "half", "layout.corner": "he"}),
    ("text", {"layout.page_break": True, "layout.repeat_header": True, "text.repeat_group_labels": True,
              "text.page_sep": "page_number"}),
    ("text", {"text.label_spaces": True, "text.padding": "mixed", "text.missing_label": True, "text.lost_cells": 1,
              "text.encoding": "gb18030", "text.newline": "crlf"}),
    ("text", {"text.displaced_label": "column0", "content.single_other_row": True, "content.no_rules_row": True}),
    ("text", {"content.break": "row_total_off", "layout.placeholder": "—"}),
    ("html", {"html.style": "word_export", "html.split_runs": True, "html.site_header": True}),
    ("html", {"html.nbsp_padding": True, "layout.page_break": True, "html.split_table": True, "layout.placeholder": "blank_parts"}),
    ("html", {"content.amount_format": "header_wan", "content.late_v2019": True, "content.break": "blank_total_column"}),
    ("docx", {"docx.split_table": True, "layout.page_break": True, "docx.header_paragraphs": True}),
    ("docx", {"content.tables": "none"}),
    # Fixed after the factory found them: printed-empty rows and tables read as 0, tab cells as values,
    # an empty pipe cell for a missing label dropped when the row has one cell too many.
    ("html", {"layout.placeholder": "blank", "content.year": 2022, "content.late_v2019": False,
              "content.single_other_row": True, "content.requests_zero": True}),
    ("docx", {"layout.placeholder": "blank", "content.year": 2022, "content.late_v2019": False,
              "content.single_other_row": True, "content.requests_zero": True}),
    ("text", {"layout.placeholder": "blank"}),
    ("text", {"text.style": "pipes", "text.missing_label": True, "content.requests_zero": False}),
    # read since the structure-first locator, tab tails and the dynamic-programming decoder
    ("text", {"content.break": "blank_total_column", "content.requests_zero": False}),
    ("text", {"text.style": "run_together", "content.requests_zero": False, "content.tables": "all"}),
]
# Variants the baseline does not read exactly yet (measured with baseline_check; reported to the lead).
FAILING = [
    ("text", {"text.style": "run_together", "layout.placeholder": "无"}),  # Table A splits no rule decides
]


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline()


def _exact(kind: str, force: dict, seed: int, pipeline: Pipeline, folder: Path) -> bool:
    options = FactoryOptions(force={**CLEAN, **force})
    r = build_report(seed, options)
    rendered = render_own(kind, r, folder, r.id, options)
    doc = pipeline.run(folder / f"{r.id}{rendered.suffix}")
    gold = LabelledDocument(id=r.id, document=None, agency=r.agency, year=r.year, template=r.template,
                            found=r.found, values=r.values)
    return score_document(gold, doc).exact


@pytest.mark.parametrize("kind,force", PASSING, ids=lambda x: str(x) if isinstance(x, str) else ",".join(
    f"{k.split('.', 1)[1]}={v}" for k, v in x.items()) or "clean")
def test_baseline_reads_renderings_exactly(kind, force, pipeline, tmp_path):
    for i in range(3):
        assert _exact(kind, force, document_seed(5, i), pipeline, tmp_path), (kind, force, i)


@pytest.mark.xfail(reason="baseline limits found by the factory (see FAILING); passes once the baseline reads them",
                   strict=False)
@pytest.mark.parametrize("kind,force", FAILING, ids=lambda x: str(x) if isinstance(x, str) else ",".join(
    f"{k.split('.', 1)[1]}={v}" for k, v in x.items()))
def test_baseline_known_failures(kind, force, pipeline, tmp_path):
    assert all(_exact(kind, force, document_seed(5, i), pipeline, tmp_path) for i in range(4))
