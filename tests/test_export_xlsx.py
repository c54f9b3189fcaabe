"""`nianbao export --format xlsx --shape tables`: each document's tables as printed, read back with openpyxl."""
from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from nianbao.cli import main
from nianbao.inference.output import to_record
from nianbao.inference.pipeline import Pipeline
from nianbao.ingest.export import ExportError, export
from nianbao.ingest.export_xlsx import CHECKS_SHEET, INDEX_SHEET, header_rows, label_cells
from nianbao.ingest.store import DocumentResult, SQLiteStore
from nianbao.ingest.worker import file_hash

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REPORTS = ("real_005.txt", "000_0f54907597b54157.txt")  # v2021 and v2019


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    root = tmp_path_factory.mktemp("xlsx")
    db = root / "store.sqlite"
    pipeline = Pipeline()
    records = {}
    with SQLiteStore(db) as store:
        for name in REPORTS:
            path = EXAMPLES / name
            record = to_record(pipeline.run(path))
            records[name] = record
            digest, size = file_hash(path)
            store.write_document(DocumentResult(path=str(path), content_hash=digest, size=size, status="done",
                                                pipeline_version="test", record=record), overwrite=False)
        store.write_document(DocumentResult(path="/r/=HYPERLINK(\"x\").pdf", content_hash="ab" * 32, size=3,
                                            status="failed", pipeline_version="test", error_code="corrupt_pdf",
                                            error_message="not a PDF"), overwrite=False)
    out = root / "tables.xlsx"
    assert main(["export", "--db", str(db), "--format", "xlsx", "--shape", "tables", "--out", str(out)]) == 0
    return load_workbook(out), records, db


def _find(ws, text):
    for row in ws.iter_rows():
        for c in row:
            if c.value == text:
                return c
    raise AssertionError(f"{text!r} not on sheet {ws.title}")


def _merged(ws, cell) -> str:
    for rng in ws.merged_cells.ranges:
        if cell.coordinate in rng:
            return str(rng)
    return cell.coordinate


def test_sheets_index_and_checks(workbook):
    wb, records, _ = workbook
    assert wb.sheetnames[:2] == [INDEX_SHEET, CHECKS_SHEET] and len(wb.sheetnames) == 4  # the failed one: no sheet
    index = wb[INDEX_SHEET]
    rows = list(index.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 3 and rows[2][0] is None and rows[2][6].startswith("corrupt_pdf")
    assert index.cell(row=4, column=2).value.startswith("/r/=HYPERLINK") and index.cell(row=4, column=2).data_type == "s"
    checks = list(wb[CHECKS_SHEET].iter_rows(min_row=2, values_only=True))
    assert len(checks) == sum(len(r["checks"]) for r in records.values())
    assert {c[4] for c in checks} >= {"R1", "R2", "R3", "R4"}


def test_v2021_sheet_headers_merges_values(workbook):
    wb, records, _ = workbook
    record = records["real_005.txt"]
    ws = wb[wb.sheetnames[2]]
    assert ws.title.startswith("001 ") and record["agency"] in _find(ws, ws["A1"].value).value
    assert ws.freeze_panes == "D3"
    assert ws.column_dimensions["C"].width > ws.column_dimensions["D"].width
    # Table B: 申请人情况 over seven columns, 法人或其他组织 over five, 自然人 and 总计 down two rows, the corner rule
    top = _find(ws, "申请人情况")
    assert _merged(ws, top) == f"D{top.row}:J{top.row}"
    assert _merged(ws, _find(ws, "法人或其他组织")) == f"E{top.row + 1}:I{top.row + 1}"
    assert _merged(ws, _find(ws, "自然人")) == f"D{top.row + 1}:D{top.row + 2}"
    corner = _find(ws, "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）")
    assert _merged(ws, corner) == f"A{top.row}:C{top.row + 2}"
    assert [ws.cell(row=top.row + 2, column=c).value for c in range(5, 10)] == ["商业企业", "科研机构", "社会公益组织",
                                                                             "法律服务机构", "其他"]
    # rows: nested labels, values where the record has them
    new = _find(ws, "一、本年新收政府信息公开申请数量")
    assert _merged(ws, new) == f"A{new.row}:C{new.row}"
    assert [ws.cell(row=new.row, column=c).value for c in range(4, 11)] == [
        record["fields"][f"requests.new.{k}"]["value"]
        for k in ("natural", "commercial", "research", "social", "legal", "other", "total")]
    denied = _find(ws, "（三）不予公开")
    assert _merged(ws, denied) == f"B{denied.row}:B{denied.row + 7}"
    results = _find(ws, "三、本年度办理结果")
    assert _merged(ws, results).startswith(f"A{results.row}:A")
    other = _find(ws, "3.其他")  # the row whose schema label is a regular expression
    assert ws.cell(row=other.row, column=10).value == record["fields"]["requests.other.other.total"]["value"]
    # Table A: article items, 信息内容 and the v2021 column headers
    assert _find(ws, "第二十条第（一）项") and _find(ws, "本年收费金额（单位：万元）")
    issued = _find(ws, "本年制发件数")
    normative = _find(ws, "行政规范性文件")
    assert ws.cell(row=normative.row, column=issued.column).value == record["fields"]["proactive.normative.issued"]["value"]
    # Table C: 行政复议 over five, 行政诉讼 over ten, then 未经复议直接起诉 / 复议后起诉
    review = _find(ws, "行政复议")
    assert _merged(ws, review) == f"D{review.row}:H{review.row}"
    assert _merged(ws, _find(ws, "行政诉讼")) == f"I{review.row}:R{review.row}"
    assert _merged(ws, _find(ws, "复议后起诉")) == f"N{review.row + 1}:R{review.row + 1}"
    values = [ws.cell(row=review.row + 3, column=c).value for c in range(4, 19)]
    assert values == [record["fields"][f"appeals.{g}.{k}"]["value"]
                      for g in ("review", "litigation_direct", "litigation_after_review")
                      for k in ("upheld", "corrected", "other", "pending", "total")]


def test_v2019_sheet_uses_its_own_headers(workbook):
    wb, records, _ = workbook
    ws = wb[wb.sheetnames[3]]
    record = records["000_0f54907597b54157.txt"]
    assert record["template"] == "v2019"
    for text in ("本年新制作数量", "上一年项目数量", "本年增/减", "第二十条第（九）项", "采购总金额", "规范性文件", "（六）其他处理"):
        _find(ws, text)
    with pytest.raises(AssertionError):
        _find(ws, "3.其他")


def test_flat_shapes_unchanged_and_tables_is_xlsx_only(workbook, tmp_path):
    _, _, db = workbook
    with pytest.raises(ExportError, match="xlsx"):
        export(db, "csv", shape="tables")
    export(db, "xlsx", shape="wide", out=tmp_path / "wide.xlsx")
    wide = load_workbook(tmp_path / "wide.xlsx")
    assert wide.sheetnames == ["wide"] and wide["wide"].max_row == 4


def test_header_layout_is_pure():
    cells = header_rows([("A", "x"), ("A", "G", "y"), ("A", "G", "z"), ("A", "w")], 0, 0)
    spans = {(c.value, c.row, c.col): (c.rowspan, c.colspan) for c in cells}
    assert spans == {("A", 0, 0): (1, 4), ("x", 1, 0): (2, 1), ("G", 1, 1): (1, 2), ("y", 2, 1): (1, 1),
                     ("z", 2, 2): (1, 1), ("w", 1, 3): (2, 1)}
    labels = label_cells([("一",), ("三", "（一）"), ("三", "（三）", "1."), ("三", "（三）", "2.")], 0)
    spans = {(c.value, c.row, c.col): (c.rowspan, c.colspan) for c in labels}
    assert spans == {("一", 0, 0): (1, 3), ("三", 1, 0): (3, 1), ("（一）", 1, 1): (1, 2), ("（三）", 2, 1): (2, 1),
                     ("1.", 2, 2): (1, 1), ("2.", 3, 2): (1, 1)}


def test_doubted_and_failing_cells_are_tinted(tmp_path):
    from nianbao.ingest.export_xlsx import write_tables_xlsx

    record = to_record(Pipeline().run(EXAMPLES / "real_005.txt"))
    record["fields"]["requests.new.natural"].update(confidence=0.6, alternatives=[17], reason="two readings fit")
    record["checks"].append({"rule": "R1", "passed": False, "detail": "x", "cells": ["requests.new.total"],
                             "difference": 1})
    write_tables_xlsx([record], tmp_path / "t.xlsx")
    ws = load_workbook(tmp_path / "t.xlsx").worksheets[2]
    new = _find(ws, "一、本年新收政府信息公开申请数量")
    natural, commercial, total = (ws.cell(row=new.row, column=c) for c in (4, 5, 10))
    assert natural.style == "nb_doubted" and total.style == "nb_failing" and commercial.style == "nb_value"
    assert natural.fill.fgColor.rgb.endswith("FFE08A") and total.fill.fgColor.rgb.endswith("F8D7DA")
