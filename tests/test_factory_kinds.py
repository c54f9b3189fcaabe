"""The messy kinds of issue 12 the report factory renders: Markdown sub-tables, broken PDF-to-Markdown
conversions, OCR-like label damage, realistic run-together Table A digits, and the realistic values
behind them. Each rendering keeps a gold that fits the schema and the rules as recorded, prints
its gold values, and carries the defect it is named for."""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from nianbao.schema import load_schema
from nianbao.training.factory.align import align
from nianbao.training.factory.build import build_report
from nianbao.training.factory.content import failing_rules
from nianbao.training.factory.dataset import render_own
from nianbao.training.factory.synthetic_report import SyntheticReport
from nianbao.training.factory.ocr_damage import OcrDamage, damage_text, is_cjk
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.render_base import Rendered
from nianbao.training.factory.rng import document_seed

FULL = {"content.tables": "all", "content.requests_zero": False, "text.encoding": "utf-8", "text.newline": "lf",
        "text.ocr_damage": 0.0}
NEW_STYLES = ("markdown_subtables", "broken_conversion")


def render(seed: int, folder: Path, **force: object) -> tuple[SyntheticReport, Rendered, str]:
    options = FactoryOptions(force={**FULL, **force})
    report = build_report(seed, options)
    rendered = render_own("text", report, folder, report.id, options)
    return report, rendered, rendered.data.decode(str(rendered.traits["text.encoding"]))


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n")]


@pytest.mark.parametrize("style", NEW_STYLES)
@pytest.mark.parametrize("damage", (0.0, 0.1))
def test_new_kinds_keep_a_valid_gold_printed_in_the_file(style, damage, tmp_path):
    schema = load_schema()
    for i in range(6):
        report, rendered, text = render(document_seed(41, i), tmp_path, **{"text.style": style, "text.ocr_damage": damage})
        assert rendered.suffix == ".md" and rendered.traits["text.style"] == style
        tables = tuple(t for t in ("proactive", "requests", "appeals") if report.found[t])
        assert set(report.values) == set(schema.field_keys(report.template, tables))
        assert failing_rules(report.values, report.template, report.found) == report.broken_rules
        cells = {c.strip() for line in lines_of(text) if line.startswith("|") for c in line.strip("|").split("|")}
        printed = set(lines_of(text)) | cells
        for key, value in report.values.items():
            if value:  # a non-zero value prints its raw text as a cell of its own
                assert report.raw[key] in printed, (style, report.id, key, report.raw[key])
        # The aligner labels what the reader sees (token labels for training).
        assert align(tmp_path / f"{report.id}{rendered.suffix}", rendered.units, report).aligned == 1.0


def test_markdown_subtables_print_generic_headers_delimiters_and_three_appeals_tables(tmp_path):
    _, _, text = render(7, tmp_path, **{"text.style": "markdown_subtables", "text.md_b_header": "generic",
                                        "text.md_b_grouping": "row"})
    lines = lines_of(text)
    generic = "| 类别 | 数据1 | 数据2 | 数据3 | 数据4 | 数据5 | 数据6 | 总计 |"
    assert lines.count(generic) >= 20  # one small table per Table B row
    for i, line in enumerate(lines):
        if line == generic:
            assert re.fullmatch(r"\|(---\|){8}", lines[i + 1]), lines[i + 1]
    assert lines.count("| 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 |") == 3
    for title in ("行政复议", "行政诉讼（未经复议直接起诉）", "行政诉讼（复议后起诉）"):
        assert title in lines or f"**{title}**" in lines
    assert "| 信息内容 | 本年" in text and "|---|---|---|---|" in lines  # Table A as a pipe table too


def test_broken_conversion_prints_the_defects_of_real_conversions(tmp_path):
    seen = {"footer": 0, "own_line": 0, "fragment_row": 0, "appeals_row": 0, "zhengwen": 0, "lost_cell": 0}
    for i in range(8):
        report, _, text = render(document_seed(43, i), tmp_path, **{
            "text.style": "broken_conversion", "text.md_zhengwen": True, "text.md_label_own_line": 0.35,
            "layout.page_break": True, "content.year": 2023, "content.late_v2019": False})
        lines = lines_of(text)
        seen["zhengwen"] += lines[0] == "正文"
        seen["footer"] += any(re.fullmatch(r"(— \d+ —|- \d+ -|第 \d+ 页)", line) for line in lines)
        # A row label on its own line, its numbers in a pipe row below.
        seen["own_line"] += any(line.endswith("本年新收政府信息公开申请数量") and lines[k + 1].startswith("| ")
                                or re.fullmatch(r"\d[．.、]属于.*", line) and lines[k + 1].startswith("|")
                                for k, line in enumerate(lines[:-1]))
        # A fragment of a vertical group label fused with a member row: | （三）不 | 4.保护第三方合法权益 | 0 | ...
        seen["fragment_row"] += any(re.match(r"\| [^|]{1,6} \| \d[．.、]", line) for line in lines)
        seen["appeals_row"] += any(len(line.strip("|").split("|")) == 15 for line in lines if line.startswith("|"))
        v = report.values
        if report.template == "v2021" and v.get("proactive.normative.repealed") == 0 and v["proactive.normative.in_force"]:
            label = next(c.text for t in report.tables() for c in t.cells if c.ref == "proactive.normative")
            rows = [line for line in lines if line.startswith(f"| {label} |")]
            seen["lost_cell"] += bool(rows) and all(len(r.strip("|").split("|")) == 3 for r in rows)
    assert seen["zhengwen"] == 8
    assert all(seen[k] >= 2 for k in ("footer", "own_line", "fragment_row", "appeals_row")), seen
    assert seen["lost_cell"] >= 1, seen


def test_ocr_damage_hits_about_a_tenth_of_chinese_characters_and_no_digit():
    text = "三、收到和处理政府信息公开申请情况（二）部分公开 2024年 本年新收 12 件，" * 200
    damaged = damage_text(text, random.Random(3), OcrDamage(rate=0.1))
    assert re.sub(r"\D", "", damaged) == re.sub(r"\D", "", text)
    before = sum(map(is_cjk, text))
    # Drops shorten the text, splits add spaces, look-alikes change characters: ~10% overall.
    dropped = before - sum(map(is_cjk, damaged))
    spaces = damaged.count(" ") - text.count(" ")
    lookalikes = sum(1 for a, b in zip(re.sub(r"\s", "", damaged), re.sub(r"\s", "", text)) if a != b)
    assert 0.01 < dropped / before < 0.05 and 0.01 < spaces / before < 0.05 and lookalikes > 0


def test_ocr_damage_on_a_style_keeps_every_value_and_changes_labels(tmp_path):
    for i in range(4):
        seed = document_seed(47, i)
        report, _, clean = render(seed, tmp_path, **{"text.style": "tsv"})
        (tmp_path / "d").mkdir(exist_ok=True)
        _, rendered, damaged = render(seed, tmp_path / "d", **{"text.style": "tsv", "text.ocr_damage": 0.1})
        assert rendered.traits["text.ocr_damage"] == 0.1
        # The same digits in the same order (a dropped 年 may join two runs: that is what OCR does).
        assert re.sub(r"\D", "", damaged) == re.sub(r"\D", "", clean)
        assert damaged != clean and report.agency in damaged  # labels damaged; the title line left alone


def test_run_together_table_a_prints_stock_and_flows_as_one_digit_run(tmp_path):
    runs = 0
    for i in range(30):
        report, _, text = render(document_seed(53, i), tmp_path, **{
            "text.style": "run_together", "text.misleading_spaces": False, "text.label_spaces": False,
            "content.year": 2022, "content.late_v2019": False})
        v = report.values
        if report.template != "v2021" or v.get("proactive.normative.in_force") is None:
            continue
        label = next(c.text for t in report.tables() for c in t.cells if c.ref == "proactive.normative")
        raws = "".join(report.raw[f"proactive.normative.{c}"] for c in ("issued", "repealed", "in_force"))
        assert label + raws in text
        runs += v["proactive.normative.in_force"] > 0 and len(raws) >= 4
    assert runs >= 5


def test_values_look_like_real_reports():
    reports = [build_report(document_seed(59, i)) for i in range(300)]
    rows = [(r.values[f"proactive.{row}.issued"], r.values[f"proactive.{row}.repealed"], r.values[f"proactive.{row}.in_force"])
            for r in reports if r.template == "v2021" and r.found["proactive"] for row in ("rules", "normative")
            if r.values.get(f"proactive.{row}.issued") is not None]
    active = [t for t in rows if any(t)]
    # A stock is never below what was issued this year, and mostly well above the year's flows.
    assert all(in_force >= issued for issued, _, in_force in rows)
    assert sum(in_force > max(issued, repealed) for issued, repealed, in_force in active) / len(active) > 0.75
    # Counts are small and often zero: most Table C cells and most Table B result cells are zero.
    c_cells = [v for r in reports for k, v in r.values.items() if k.startswith("appeals.")]
    assert sum(1 for v in c_cells if v == 0) / len(c_cells) > 0.8
    # Totals dwarf a single category: 本年新收's total is at least its largest organisation column.
    for r in reports:
        if r.found["requests"] and r.traits["content.break"] == "none":
            parts = [r.values[f"requests.new.{c}"] for c in ("natural", "commercial", "research", "social", "legal", "other")]
            assert r.values["requests.new.total"] >= max(parts)


def test_ocr_noisy_copies_keep_every_digit_and_the_gold(tmp_path):
    from nianbao.labels import LabelledDocument
    from nianbao.training.noisy_docs import noisy_labelled

    golds = []
    for i in range(3):
        report, rendered, _ = render(document_seed(61, i), tmp_path, **{"text.style": "pipes"})
        golds.append(LabelledDocument(id=report.id, document=tmp_path / f"{report.id}{rendered.suffix}",
                                      agency=report.agency, year=report.year, template=report.template,
                                      found=report.found, values=report.values))
    copies = noisy_labelled(golds, tmp_path / "noisy", seed=3, kind="ocr")
    assert len(copies) == 3
    for gold, copy in zip(golds, copies):
        clean, noisy = Path(gold.document).read_text("utf-8"), Path(copy.document).read_text("utf-8")
        assert noisy != clean and re.sub(r"\D", "", noisy) == re.sub(r"\D", "", clean)
        assert copy.values == gold.values
    with pytest.raises(ValueError, match="unknown noise kind"):
        noisy_labelled(golds, tmp_path / "x", seed=3, kind="blur")


def _bench_kinds():
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_kinds.py"
    spec = importlib.util.spec_from_file_location("bench_kinds", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_kinds"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_bench_kinds_counts_digits_the_file_prints_and_ends_with_json(capsys):
    import json

    bench = _bench_kinds()
    runs = bench.printed_digit_runs("行政规范性文件5712 — 5 — 采购总金额533.5万元 1,200")
    assert bench.digits_printed(571, runs) and bench.digits_printed(712, runs) and bench.digits_printed(5335000, runs)
    assert bench.digits_printed(1200, runs) and bench.digits_printed(0, runs)
    assert not bench.digits_printed(9, runs)
    assert not bench.digits_printed(68, runs)
    assert bench.kind_force("pipes+ocr") == {"text.style": "pipes", "text.ocr_damage": 0.1}
    with pytest.raises(SystemExit):
        bench.kind_force("latex")
    assert bench.main(["--kinds", "tsv", "--n", "1", "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["n"] == 1 and last["kinds"]["tsv"]["docs"] == 1


def test_aligner_labels_a_wrapped_label_the_reader_joined():
    from nianbao.training.factory.align import align_segments
    from nianbao.training.factory.render_base import Unit

    label = "row:requests.other.overdue_correction"
    units = [Unit("| "), Unit("1.申请人无正当理由逾期不补正、", label), Unit(" | "),
             Unit("3", "requests.other.overdue_correction.natural"), Unit(" |\n| "), Unit("行政机关不再处理", label), Unit(" |")]
    a = align_segments(units, ["1.申请人无正当理由逾期不补正、行政机关不再处理", "3"])
    assert a.aligned == 1.0 and a.segment_labels == [label, "requests.other.overdue_correction.natural"]
    # A segment printed nowhere stays unlabelled.
    assert align_segments(units, ["本年新收政府信息公开申请"]).aligned == 0.0
