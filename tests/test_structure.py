"""Reading tables by their structure: Markdown grids, rows placed by the statutory row order when
their labels are damaged, approximate labels, ordinals glued to numbers, and the confidence each
placement earns. The placement functions are pure and tested without a model."""
from __future__ import annotations

from pathlib import Path

import pytest

from nianbao import extract
from nianbao.document import Document, FieldValue, Line, Page, Segment, Table
from nianbao.evaluate import same_value
from nianbao.inference.linearize import linearize
from nianbao.inference.locate import (Chunk, OrphanRun, approximate_find, fits_row, monotone_matching,
                                      place_orphans)
from nianbao.inference.readers.text import page_blocks
from nianbao.schema import load_schema

SCHEMA = load_schema()
B = SCHEMA.table("v2021", "requests")
A = SCHEMA.table("v2021", "proactive")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def orphan(*values: str, grid: bool = True) -> OrphanRun:
    seg = Segment(text=" ".join(values), from_grid=grid)
    return OrphanRun(label="?", chunks=[Chunk(raw=v, segment=seg, kind="number", end=0) for v in values])


# -- readers and linearisation ---------------------------------------------------------------
def test_markdown_pipe_table_is_a_grid_and_its_delimiter_no_value():
    lines = ["| 类别 | 数据1 | 数据2 | 总计 |", "|---|:---:|---|", "| 行政许可 | 5 |  | 5 |"]
    blocks = page_blocks(lines, 1)
    assert len(blocks) == 1 and isinstance(blocks[0], Table)
    texts = [c.text for c in blocks[0].cells]
    assert "---" not in " ".join(texts)
    doc = Document(source="x.md", pages=[Page(number=1, blocks=blocks)])
    segs = [s.text for s in linearize(doc).segments]
    # the generic headers name no field and their digits are no values; the empty cell is a blank
    assert "数据1" not in segs and "数据2" not in segs
    assert segs == ["类别", "总计", "行政许可", "5", "\u2400", "5"]


def test_lone_pipe_lines_of_one_cell_per_line_exports_stay_lines():
    blocks = page_blocks(["规章 |", "| ||", "0 |"], 1)
    assert all(not isinstance(b, Table) for b in blocks)


# -- pure placement ---------------------------------------------------------------------------
def test_fits_row_counts_cells_and_splittable_digits():
    new = B.row("new")
    assert fits_row(orphan(*"1234567"), new)
    assert not fits_row(orphan("1", "2"), new)
    assert fits_row(orphan("1600200", "18", grid=False), new)  # run-together digits can be split
    assert fits_row(orphan("407"), A.row("licensing"))


def test_unique_matching_is_placed_and_an_ambiguous_one_is_not():
    rows = [A.row("rules"), A.row("normative"), A.row("licensing")]
    three, one = orphan("0", "0", "0"), orphan("407")
    assert monotone_matching([three, three, one], rows) == [(0, 0), (1, 1), (2, 2)]
    # one three-cell row before licensing: rules or normative? structure cannot tell
    assert monotone_matching([three], rows[:2]) is None


def test_place_orphans_fills_a_gap_between_recognised_rows():
    events = [("row", "new"), ("row", "carried_over"), ("orphan", orphan(*"1000001")), ("row", "partial")]
    placed, unplaced = place_orphans(events, B)
    assert [k for k, _ in placed] == ["granted"] and not unplaced


def test_orphans_that_cannot_be_placed_inside_a_table_are_kept_as_doubt():
    events = [("row", "new"), ("orphan", orphan(*"1000001")), ("orphan", orphan(*"2000002")),
              ("row", "granted")]
    placed, unplaced = place_orphans(events, B)  # two candidates for the one missing carried_over
    assert not placed and len(unplaced) == 2


def test_approximate_label_tolerates_damage_but_never_takes_a_digit():
    hit = approximate_find("行政强制", "行政处罚60政强制0", 1)
    assert hit is not None
    start, end, edits = hit
    assert "行政处罚60政强制0"[start:end] == "政强制" and edits == 1
    assert approximate_find("属于国家秘密", "属于国家秘蜜", 1)[2] == 1
    assert approximate_find("保护第三方合法权益", "无关的文字内容", 2) is None


# -- end to end ----------------------------------------------------------------------------------
def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


TABLE_C_SUBTABLES = """四、政府信息公开行政复议、行政诉讼情况

行政复议

| 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 |
|---|---|---|---|---|
| 1 | 0 | 2 | 0 | 3 |

行政诉讼（未经复议直接起诉）

| 给维特 | 结果纠正 | 其他结果 | 尚未审结 | 总计 |
|---|---|---|---|---|
| 12 | 0 | 0 | 0 | 12 |

行政诉讼（复议后起诉）

| 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 |
|---|---|---|---|---|
| 0 | 0 | 0 | 0 | 0 |

五、存在的主要问题及改进情况
"""


def test_table_c_as_three_markdown_tables_with_a_damaged_header(tmp_path):
    real = EXAMPLES / "real_010.txt"
    head = real.read_text(encoding="utf-8").split("四、政府信息公开行政复议")[0]
    doc = extract(_write(tmp_path, "r.md", head + "\n" + TABLE_C_SUBTABLES))
    got = [doc.fields[k].value for k in SCHEMA.table("v2021", "appeals").field_keys()]
    assert got == [1, 0, 2, 0, 3, 12, 0, 0, 0, 12, 0, 0, 0, 0, 0]
    assert all(doc.fields[k].confidence >= 0.9 for k in SCHEMA.table("v2021", "appeals").field_keys())


def test_crawler_ordinal_glued_to_the_last_number_is_not_a_digit_of_it(tmp_path):
    real = EXAMPLES / "real_005.txt"
    text = real.read_text(encoding="utf-8")
    assert "4.保护第三方合法权益" in text
    # damage the label after its ordinal, as OCR does: the ordinal stays glued to the previous row
    damaged = text.replace("4.保护第三方合法权益", "4.保护第二方 合法 权", 1)
    doc = extract(_write(tmp_path, "r.txt", damaged))
    gold = extract(real)
    for key in B.row("denied.three_safeties").field_keys() + B.row("denied.third_party").field_keys():
        assert same_value(doc.fields[key].value, gold.fields[key].value), key


@pytest.mark.parametrize("seed", range(6))
def test_damaged_markdown_reports_are_never_confidently_wrong(tmp_path, seed):
    from nianbao.labels import LabelledDocument
    from nianbao.evaluate import score_document
    from nianbao.training.factory.build import build_report
    from nianbao.training.factory.dataset import render_own
    from nianbao.training.factory.options import FactoryOptions
    from nianbao.training.factory.rng import document_seed

    options = FactoryOptions(force={"text.style": "markdown_subtables", "text.ocr_damage": 0.1})
    report = build_report(document_seed(4242, seed), options)
    rendered = render_own("text", report, tmp_path, report.id, options)
    path = tmp_path / f"{report.id}{rendered.suffix}"
    doc = extract(path)
    gold = LabelledDocument(id=report.id, document=path, agency=report.agency, year=report.year,
                            template=report.template, found=report.found, values=report.values)
    score = score_document(gold, doc)
    for key, _, _ in score.wrong:
        assert doc.fields.get(key) is None or doc.fields[key].confidence < 0.99, key
    # a row placed by structure is doubted: review sees it
    for key, f in doc.fields.items():
        if f.reason and f.reason.startswith("row placed by its position"):
            assert f.confidence < 0.9 and doc.review.needed


def test_a_row_never_reads_past_the_next_tables_heading(tmp_path):
    # 四、结转下年度继续办理 printed with empty cells, right before Table C: its numbers are not Table C's
    real = EXAMPLES / "real_010.txt"
    head = real.read_text(encoding="utf-8").split("四、结转下年度继续办理")[0]
    tail = ("\n| 类别 | 数据1 | 数据2 | 数据3 | 数据4 | 数据5 | 数据6 | 总计 |\n|---|---|---|---|---|---|---|---|\n"
            "| 四、结转下年度继续办理 |  |  |  |  |  |  |  |\n\n" + TABLE_C_SUBTABLES)
    doc = extract(_write(tmp_path, "r.md", head + tail))
    assert [doc.fields[f"appeals.review.{c}"].value for c in ("upheld", "other", "total")] == [1, 2, 3]
    assert doc.fields["requests.carried_forward.total"].value in (0, None)


def test_a_yuan_amount_with_more_decimals_than_fen_is_doubted(tmp_path):
    text = (EXAMPLES / "003_ab964e0bbb01e447.txt").read_text(encoding="utf-8")
    clean = extract(_write(tmp_path, "a.txt", text))
    assert clean.fields["proactive.procurement.amount_yuan"].confidence >= 0.9  # 7117339.04元: two decimals
    raw = clean.fields["proactive.procurement.amount_yuan"].raw
    doc = extract(_write(tmp_path, "b.txt", text.replace(raw, "711.733904")))
    f = doc.fields["proactive.procurement.amount_yuan"]
    assert f.confidence < 0.9 and "万元" in f.reason and doc.review.needed


def test_a_statutory_row_missing_between_printed_ones_is_doubted_and_reviewed():
    from nianbao.inference.locate import missing_row_doubt
    from nianbao.inference.triage import TriageStage

    found = {"new", "carried_over", "granted", "denied.third_party"}
    assert missing_row_doubt("partial", B, found, False)          # between printed rows
    assert missing_row_doubt("results_total", B, found, False) is None  # after the last: not printed
    assert missing_row_doubt("results_total", B, found, True)     # numbers left unplaced in the table
    # the v2021 table printing （六）其他处理 as its one row: its sub-rows are not printed
    assert missing_row_doubt("other.overdue_fee", B, found | {"other.other", "results_total"}, False) is None

    doc = Document(source="x.txt")
    doc.fields = {f"requests.partial.{c}": FieldValue(value=None, raw=None, confidence=0.5, reason="row not recognised")
                  for c in ("natural", "total")}
    doc = TriageStage(0.9)(doc)
    assert doc.review.needed and len(doc.review.reasons) == 1 and "requests.partial" in doc.review.reasons[0]


def test_the_model_is_consulted_only_where_the_schemas_labels_leave_a_table_incomplete(tmp_path, monkeypatch):
    from nianbao.inference import classifier
    from nianbao.inference.pipeline import Pipeline

    calls = []
    real_spans = classifier.ClassifierSpotter._spans

    def counting(self, lin):
        calls.append(lin)
        return real_spans(self, lin)

    monkeypatch.setattr(classifier.ClassifierSpotter, "_spans", counting)
    pipeline = Pipeline()
    clean = EXAMPLES / "real_005.txt"
    doc = pipeline.run(clean)
    assert doc.error is None and not calls and doc.spotter == "classifier"
    damaged = clean.read_text(encoding="utf-8").replace("属于三类内部事务信息", "属于三娄内部亊务", 1)
    doc2 = pipeline.run(_write(tmp_path, "d.txt", damaged))
    assert calls  # a label the schema does not know: the model looks
    assert same_value(doc2.fields["requests.denied.internal_affairs.total"].value,
                      doc.fields["requests.denied.internal_affairs.total"].value)


def test_table_c_first_row_printed_empty_stays_zeros_and_a_lost_header_cell_is_no_value(tmp_path):
    real = EXAMPLES / "real_010.txt"
    head = real.read_text(encoding="utf-8").split("四、政府信息公开行政复议")[0]
    empty_first = TABLE_C_SUBTABLES.replace("| 1 | 0 | 2 | 0 | 3 |", "|  |  |  |  |  |")
    doc = extract(_write(tmp_path, "a.md", head + "\n" + empty_first))
    keys = SCHEMA.table("v2021", "appeals").field_keys()
    assert [doc.fields[k].value for k in keys] == [0] * 5 + [12, 0, 0, 0, 12] + [0] * 5
    # one cell per line with pipes: a header cell whose characters were lost leaves an empty cell line
    lines = ["四、政府信息公开行政复议、行政诉讼情况", "行政复议 |", "结果维持 |", " |", "其他结果 |", "尚未审结 |", "总计 |"]
    lines += [f"{v} |" for v in [1, 0, 2, 0, 3, 12, 0, 0, 0, 12, 0, 0, 0, 0, 0]] + ["五、存在的主要问题"]
    doc = extract(_write(tmp_path, "b.txt", head + "\n" + "\n".join(lines) + "\n"))
    assert [doc.fields[k].value for k in keys] == [1, 0, 2, 0, 3, 12, 0, 0, 0, 12, 0, 0, 0, 0, 0]


def test_an_empty_grid_row_does_not_take_the_numbers_of_a_row_below_a_header(tmp_path):
    from nianbao.inference.locate import crosses_a_grid_row

    lines = ["| 类别 | 自然人 | 总计 |", "|---|---|---|", "| 3.其他 |  |  |", "",
             "| 类别 | 自然人 | 总计 |", "|---|---|---|", "| （）计 | 22 | 22 |"]
    blocks = page_blocks(lines, 1)
    lin = linearize(Document(source="x.md", pages=[Page(number=1, blocks=blocks)]))
    label_end = lin.raw.index("3.其他") + len("3.其他")
    value = lin.raw.index("22")
    assert crosses_a_grid_row(lin, label_end, value)  # the header row lies between
    wrapped = linearize(Document(source="y.md", pages=[Page(number=1, blocks=page_blocks(
        ["| 5.要求行政机关确认或重新 |  |  |", "| 出具已获取信息 | 0 | 0 |"], 1))]))
    end = wrapped.raw.index("重新") + 2
    assert not crosses_a_grid_row(wrapped, end, wrapped.raw.index("0"))  # a label's tail wrapped with its values


def test_a_pdf_pages_bare_number_on_its_last_line_is_its_folio_not_a_cell():
    table_end = Line(text="（七）总计 3 0 0 0 0 0 3", page=2)
    folio = Line(text="2", page=2)
    doc = Document(source="x.pdf", format="pdf", pages=[Page(number=2, blocks=[table_end, folio])])
    assert [s.text for s in linearize(doc).segments][-1] != "2"
    text_doc = Document(source="x.txt", format="text", pages=[Page(number=2, blocks=[table_end, folio])])
    assert [s.text for s in linearize(text_doc).segments][-1] == "2"  # a text export's last line may be a cell


def test_empty_tab_cells_after_the_last_number_are_printed_empty_as_far_as_the_row_has_cells(tmp_path):
    from nianbao.inference.mapping import fit_tail

    lines = ["行政处罚\t455\t\t", "行政事业性收费\t0\t0\t"]
    lin = linearize(Document(source="x.txt", pages=[Page(number=1, blocks=page_blocks(lines, 1))]))
    assert [s.text for s in lin.segments] == ["行政处罚", "455", "\u2400", "\u2400", "行政事业性收费", "0", "0", "\u2400"]
    assert [s.tail for s in lin.segments] == [False, False, True, True, False, False, False, True]
    chunks = [Chunk(raw=s.text, segment=s, kind="blank" if s.text == "\u2400" else "number") for s in lin.segments[5:]]
    assert len(fit_tail(chunks, 2)) == 2  # fees has two cells: the third is the export's ragged tail
    row = [Chunk(raw=s.text, segment=s, kind="blank" if s.text == "\u2400" else "number") for s in lin.segments[1:4]]
    assert len(fit_tail(row, 3)) == 3  # 455 | empty | empty: the position of 455 is printed


def test_empty_cells_on_both_sides_of_a_rows_numbers_leave_its_columns_doubted(tmp_path):
    from nianbao.inference.mapping import columns_unsettled

    line = "一、本年新收政府信息公开申请数量\t\t\t5\t0\t0\t0\t0\t0\t"  # label over 3 cells, total printed empty
    lin = linearize(Document(source="x.txt", pages=[Page(number=1, blocks=page_blocks([line], 1))]))
    chunks = [Chunk(raw=s.text, segment=s, kind="blank" if s.text == "\u2400" else "number") for s in lin.segments[1:]]
    assert columns_unsettled(chunks, 7)
    zeros = [Chunk(raw="0", segment=c.segment, kind="number") if c.kind == "number" else c for c in chunks]
    assert not columns_unsettled(zeros, 7)  # all zeros: every reading gives the same values
    assert not columns_unsettled(chunks[:-1], 7)  # no tail: the surplus blank is the label's, as printed


def test_each_stage_lives_in_its_own_module_and_pipeline_only_builds_the_list():
    import ast

    from nianbao.inference import pipeline
    from nianbao.inference.pipeline import PipelineOptions, build_stages

    stages = build_stages(PipelineOptions(spotter="baseline"))
    assert [s.name for s in stages] == ["read", "ocr", "locate", "report", "map", "reconcile", "calibrate", "triage"]
    assert all(type(s).__module__ != pipeline.__name__ for s in stages)
    # No stage logic in pipeline.py: its classes are the options, the stage protocol and the runner.
    tree = ast.parse(Path(pipeline.__file__).read_text(encoding="utf-8"))
    assert {n.name for n in tree.body if isinstance(n, ast.ClassDef)} == {"PipelineOptions", "Stage", "Pipeline"}
    assert PipelineOptions(mapper="baseline").spotter == "baseline"  # the former option name still reads
