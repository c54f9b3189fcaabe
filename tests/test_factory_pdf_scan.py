"""The report factory's digital-PDF and scanned renderings (training/factory/render_pdf, render_scan).

A digital PDF must read back, through the project's own PDF reader, as the grid that was printed
(values in their cells, a table cut by a page break as cells on both pages), with the value boxes
the renderer reports where pdfplumber finds those strings; a scan must have no text layer, carry
its boxes onto ink, and both must be byte-for-byte reproducible from their seed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from nianbao.document import Table
from nianbao.inference.readers import read_document
from nianbao.training.factory.synthetic_report import Paragraph, PrintedCell, PrintedTable, SyntheticReport
from nianbao.training.factory.render_pdf import PdfOptions, render_pdf
from nianbao.training.factory.render_scan import ScanOptions, render_scan

COLS = ("natural", "commercial", "total")
ROWS = [
    ("granted", "（一）予以公开"),
    ("partial", "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"),
    ("denied.state_secret", "1.属于国家秘密"),
    ("denied.prohibited_by_law", "2.其他法律行政法规禁止公开"),
    ("unavailable.not_held", "1.本机关不掌握相关政府信息"),
    ("results_total", "（七）总计"),
]


def small_table(n_groups: int = 1, break_before_row=None, repeat_header_rows: int = 0) -> PrintedTable:
    """A Table-B-like grid: a merged corner and header, a vertical group cell spanning rows, values."""
    cells = [
        PrintedCell("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", 0, 0, rowspan=2, colspan=2,
                    role="corner"),
        PrintedCell("申请人情况", 0, 2, colspan=3, role="header"),
        PrintedCell("自然人", 1, 2, role="header"),
        PrintedCell("商业企业", 1, 3, role="header"),
        PrintedCell("总计", 1, 4, role="header"),
        PrintedCell("一、本年新收政府信息公开申请数量", 2, 0, colspan=2, role="row_label"),
    ]
    for j, c in enumerate(COLS):
        cells.append(PrintedCell(str(10 * j + 7), 2, 2 + j, key=f"requests.new.{c}"))
    r = 3
    for g in range(n_groups):
        cells.append(PrintedCell("三、本年度办理结果", r, 0, rowspan=len(ROWS), role="group_label"))
        for i, (key, label) in enumerate(ROWS):
            cells.append(PrintedCell(label, r, 1, role="row_label"))
            for j, c in enumerate(COLS):
                text = "" if (i + j) % 5 == 4 else str((g * 131 + i * 17 + j * 5) % 997)
                cells.append(PrintedCell(text, r, 2 + j, key=f"requests.{key}.{c}" + (f"#{g}" if g else "")))
            r += 1
    cells.append(PrintedCell("四、结转下年度继续办理", r, 0, colspan=2, role="row_label"))
    for j, c in enumerate(COLS):
        cells.append(PrintedCell("1690.9913", r, 2 + j, key=f"requests.carried_forward.{c}"))
    r += 1
    return PrintedTable("requests", cells, r, 5, break_before_row=break_before_row,
                        repeat_header_rows=repeat_header_rows)


def small_report(table: PrintedTable, prose_repeat: int = 1) -> SyntheticReport:
    prose = ("本年度，我局坚持以公开为常态、不公开为例外，全面落实《中华人民共和国政府信息公开条例》，"
             "全年主动公开政府信息1234条，其中通过门户网站公开987条。") * prose_repeat
    blocks = [
        Paragraph("某某县人民政府办公室2023年政府信息公开工作年度报告", "title"),
        Paragraph(prose),
        Paragraph("三、收到和处理政府信息公开申请情况", "heading"),
        table,
        Paragraph("某某县人民政府办公室", "signature"),
        Paragraph("2024年1月20日", "date"),
    ]
    values = {c.key: float(c.text) if c.text else 0.0 for c in table.cells if c.key}
    return SyntheticReport(id="t", seed=0, agency="某某县人民政府办公室", year=2023, template="v2021", blocks=blocks,
                           values=values, found={"proactive": False, "requests": True, "appeals": False})


def tables_by_page(path: Path) -> dict[int, list[Table]]:
    doc = read_document(path)
    out: dict[int, list[Table]] = {}
    for page in doc.pages:
        out[page.number] = [b for b in page.blocks if isinstance(b, Table)]
    return out


def cell_at(tables: list[Table], x: float, y: float):
    for t in tables:
        for c in t.cells:
            b = c.bbox
            if b and b.x0 - 0.5 <= x <= b.x1 + 0.5 and b.top - 0.5 <= y <= b.bottom + 0.5:
                return c
    return None


def assert_values_read_back(path: Path, info) -> None:
    """Every value cell's printed text is what the reader reads in the cell at that place."""
    pages = tables_by_page(path)
    assert info.values
    for v in info.values:
        x0, top, x1, bottom = v.cell_bbox
        cell = cell_at(pages[v.page], (x0 + x1) / 2, (top + bottom) / 2)
        assert cell is not None, f"{v.key}: no table cell read on page {v.page}"
        assert cell.text == v.text, f"{v.key}: printed {v.text!r}, read {cell.text!r}"


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


FIXED = PdfOptions(page_numbers="center", latin_font="tiro", table_size=10.5, table_width=1.0, forced_breaks="honour")


# ---------------------------------------------------------------------------------------------
# Digital PDF
# ---------------------------------------------------------------------------------------------

def test_pdf_grid_reads_back_cell_for_cell(tmp_path):
    table = small_table()
    path = tmp_path / "r.pdf"
    info = render_pdf(small_report(table), path, np.random.default_rng(1), FIXED)
    assert info.n_pages == 1
    [read] = tables_by_page(path)[1]
    got = {(c.row, c.col): c for c in read.cells}
    for cell in table.cells:
        assert (cell.row, cell.col) in got, cell
        r = got[(cell.row, cell.col)]
        assert (r.rowspan, r.colspan) == (cell.rowspan, cell.colspan), cell
        assert r.text == cell.text, (r.text, cell.text)
    # Every keyed cell is reported once, on page 1.
    assert sorted(v.key for v in info.values) == sorted(c.key for c in table.cells if c.key)
    assert_values_read_back(path, info)


def test_vertical_group_label_one_character_per_line(tmp_path):
    path = tmp_path / "r.pdf"
    info = render_pdf(small_report(small_table()), path, np.random.default_rng(1),
                      PdfOptions(vertical_group_labels=True, table_size=10.5))
    [line] = [ln for ln in info.lines if ln.text == "三、本年度办理结果"]
    assert line.vertical
    x0, top, x1, bottom = line.bbox
    assert bottom - top > 5 * (x1 - x0)


def test_value_boxes_match_pdfplumber_characters(tmp_path):
    import pdfplumber

    path = tmp_path / "r.pdf"
    info = render_pdf(small_report(small_table()), path, np.random.default_rng(3), PdfOptions(latin_font="helv"))
    with pdfplumber.open(path) as pdf:
        for v in info.values:
            if not v.text:
                assert v.bbox is None
                continue
            x0, top, x1, bottom = v.bbox
            page = pdf.pages[v.page - 1]
            chars = [c for c in page.chars
                     if x0 - 2 <= (c["x0"] + c["x1"]) / 2 <= x1 + 2 and top - 2 <= (c["top"] + c["bottom"]) / 2 <= bottom + 2]
            assert "".join(c["text"] for c in chars) == v.text, v
            found = (min(c["x0"] for c in chars), min(c["top"] for c in chars),
                     max(c["x1"] for c in chars), max(c["bottom"] for c in chars))
            assert np.allclose(found, v.bbox, atol=2.0), (v.key, found, v.bbox)


@pytest.mark.parametrize("repeat", [0, 2])
def test_forced_break_splits_the_table_across_pages(tmp_path, repeat):
    table = small_table(n_groups=4, break_before_row=13, repeat_header_rows=repeat)
    path = tmp_path / "r.pdf"
    info = render_pdf(small_report(table), path, np.random.default_rng(5), FIXED)
    [placed] = info.tables
    assert placed["breaks"] == [13] and len(placed["pages"]) == 2
    assert placed["repeated_header_rows"] == repeat
    pages = tables_by_page(path)
    p1, p2 = placed["pages"]
    assert pages[p1] and pages[p2], "a table on both pages"
    assert {v.page for v in info.values} == {p1, p2}
    # Rows before the break on the first page, the rest on the second.
    for v in info.values:
        cell = next(c for c in table.cells if c.key == v.key)
        assert v.page == (p1 if cell.row < 13 else p2), v.key
    assert_values_read_back(path, info)
    # The repeated header is read on the second page.
    texts = {c.text for t in pages[p2] for c in t.cells}
    assert ("申请人情况" in texts) == bool(repeat)
    # The group cell cut by the break is drawn on both pages.
    cut = [c for c in info.cells if c.role == "group_label" and c.row == 9]
    assert {c.page for c in cut} == {p1, p2}


def test_long_table_breaks_where_the_page_ends(tmp_path):
    table = small_table(n_groups=9)
    path = tmp_path / "r.pdf"
    info = render_pdf(small_report(table, prose_repeat=4), path, np.random.default_rng(2),
                      PdfOptions(repeat_header=True, table_size=10.5))
    [placed] = info.tables
    assert len(placed["pages"]) >= 2 and placed["breaks"]
    assert placed["repeated_header_rows"] == 2
    assert len({v.page for v in info.values}) >= 2
    assert_values_read_back(path, info)
    height = info.page_size[1]
    for c in info.cells:
        assert c.cell_bbox[3] <= height - info.style.margins[3] + 0.5


def test_pdf_is_deterministic(tmp_path):
    report = small_report(small_table(n_groups=3))
    a, b, c = tmp_path / "a.pdf", tmp_path / "b.pdf", tmp_path / "c.pdf"
    render_pdf(report, a, np.random.default_rng(11))
    render_pdf(report, b, np.random.default_rng(11))
    render_pdf(report, c, np.random.default_rng(12))
    assert sha(a) == sha(b)
    assert sha(a) != sha(c)


def test_built_reports_read_back(tmp_path):
    """Reports from the factory's own builder: every value cell reads back where it was printed."""
    build = pytest.importorskip("nianbao.training.factory.build")
    from nianbao.training.factory.rng import numpy_stream

    split = 0
    for seed in (0, 3, 5):
        report = build.build_report(seed)
        path = tmp_path / f"{seed}.pdf"
        info = render_pdf(report, path, numpy_stream(seed, "pdf"))
        assert {v.key for v in info.values} == {c.key for t in report.tables() for c in t.cells if c.key}
        assert_values_read_back(path, info)
        split += any(t["breaks"] for t in info.tables)
    assert split, "one of these seeds has a table cut by a page break"


# ---------------------------------------------------------------------------------------------
# Scan
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digital(tmp_path_factory):
    d = tmp_path_factory.mktemp("scan")
    report = small_report(small_table(n_groups=4, break_before_row=13, repeat_header_rows=2))
    path = d / "digital.pdf"
    info = render_pdf(report, path, np.random.default_rng(7), FIXED)
    assert info.n_pages == 2
    return path, info


@pytest.mark.parametrize("mode", ["gray", "color", "bw"])
def test_scan_has_no_text_layer_and_boxes_land_on_ink(tmp_path, digital, mode):
    path, info = digital
    out = tmp_path / f"scan_{mode}.pdf"
    opts = ScanOptions(dpi=150, mode=mode, seal=True, rotation=1.8, perspective=0.004, bleed=0.1,
                       return_images=True)
    scan = render_scan(path, out, np.random.default_rng(3), opts, boxes=info)
    doc = read_document(out)
    assert len(doc.pages) == info.n_pages
    assert all(p.needs_ocr for p in doc.pages), [p.ocr_reason for p in doc.pages]
    assert all(not p.blocks for p in doc.pages)
    assert scan.dpi == 150 and len(scan.images) == info.n_pages
    assert len(scan.values) == len(info.values)
    assert scan.seal is not None and scan.seal["page"] == info.n_pages
    for sv, v in zip(scan.values, info.values):
        assert (sv.key, sv.page) == (v.key, v.page)
        img = np.asarray(scan.images[sv.page - 1].convert("L"), dtype=np.float32)
        h, w = img.shape
        for box in (sv.cell_bbox, sv.bbox):
            if box is not None:
                assert 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h, sv
        if not v.text:
            assert sv.bbox is None
            continue
        x0, top, x1, bottom = sv.bbox
        crop = img[int(top):int(np.ceil(bottom)) + 1, int(x0):int(np.ceil(x1)) + 1]
        paper = float(np.median(img))
        assert crop.min() < paper - 80, (sv.key, crop.min(), paper)
        # The ink sits in the middle of the box, not off to one side (the transform is right).
        ys, xs = np.nonzero(crop < paper - 80)
        cy, cx = ys.mean() / crop.shape[0], xs.mean() / crop.shape[1]
        assert 0.2 < cx < 0.8 and 0.2 < cy < 0.8, (sv.key, cx, cy)


def test_scan_is_deterministic(tmp_path, digital):
    path, info = digital
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    ia = render_scan(path, a, np.random.default_rng(21), ScanOptions(dpi=150), boxes=info)
    ib = render_scan(path, b, np.random.default_rng(21), ScanOptions(dpi=150), boxes=info)
    assert sha(a) == sha(b)
    assert [v.bbox for v in ia.values] == [v.bbox for v in ib.values]


def test_scan_boxes_from_a_plain_list(tmp_path, digital):
    path, info = digital
    boxes = [(v.page, v.cell_bbox) for v in info.values]
    scan = render_scan(path, tmp_path / "s.pdf", np.random.default_rng(4), ScanOptions(dpi=150, seal=False),
                       boxes=boxes)
    assert len(scan.boxes) == len(boxes)
    assert all(b.bbox is not None and b.quad and len(b.quad) == 4 for b in scan.boxes)
    assert scan.seal is None
