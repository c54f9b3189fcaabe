"""The audit report speaks the tables' Chinese: official headers from the schema, a CJK font for its
plots where one is installed, and numbered labels (never empty boxes) where none is."""
from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from pathlib import Path
from unittest import mock

import pytest

from nianbao.ingest import report
from nianbao.ingest.report_labels import (FIELD_KEY_IN_TEXT, check_statement, field_label, label_keys_in_text,
                                          pick_cjk_font, plot_labels, review_reason_fields)
from nianbao.ingest.runner import IngestOptions, ingest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_a_field_reads_as_its_official_row_and_column_headers():
    assert field_label("requests.denied.state_secret.natural") == "三、本年度办理结果 · （三）不予公开 · 1.属于国家秘密 · 自然人"
    assert field_label("requests.new.total") == "一、本年新收政府信息公开申请数量 · 总计"
    assert field_label("requests.other.other") == "三、本年度办理结果 · （六）其他处理 · 其他"
    assert field_label("appeals.litigation_direct.upheld") == "行政诉讼 · 未经复议直接起诉 · 结果维持"
    # Table A by its template: the same row is printed differently in 2019 and 2021.
    assert field_label("proactive.normative.issued") == "第二十条第（一）项 · 行政规范性文件 · 本年制发件数"
    assert field_label("proactive.normative.new_made") == "第二十条第（一）项 · 规范性文件 · 本年新制作数量"
    assert field_label("proactive.licensing.decisions", "v2019") == "第二十条第（五）项 · 行政许可 · 处理决定数量"
    assert field_label("proactive.licensing.decisions", "v2021") == "第二十条第（五）项 · 行政许可 · 本年处理决定数量"
    assert field_label("requests.no_such_row.total") == "requests.no_such_row.total"  # shown as the data it is


def test_a_check_statement_names_rows_and_columns_by_their_headers():
    r2_cells = ["requests.granted.other", "requests.partial.other", "requests.results_total.other"]
    # 'other' before the colon of R2 is the column all its cells share (其他), not the row （六）其他处理.
    assert check_statement("other: results_total 18 vs sum of results 16 (differs by 2)", r2_cells, "v2021") == \
        "其他: （七）总计 18 vs sum of 三、本年度办理结果 16 (differs by 2)"
    # In R1 it is the row all its cells share.
    assert check_statement("other: total 3 vs sum of applicant columns 2 (differs by 1)",
                           '["requests.other.natural", "requests.other.total"]', "v2021") == \
        "（六）其他处理: 总计 3 vs sum of applicant columns 2 (differs by 1)"
    assert check_statement("review: total 3 vs upheld + corrected + other + pending 2 (differs by 1)",
                           ["appeals.review.upheld", "appeals.review.total"]) == \
        "行政复议: 总计 3 vs 结果维持 + 结果纠正 + 其他结果 + 尚未审结 2 (differs by 1)"
    # Without cells nothing is guessed; a full key in the text is still labelled.
    assert check_statement("sum differs", None) == "sum differs"
    assert label_keys_in_text("本年新收申请 (requests.new.total)") == "本年新收申请 (一、本年新收政府信息公开申请数量 · 总计)"


def test_review_reasons_name_their_fields_first():
    reasons = ["proactive.normative.issued: several readings of '5066' fit", "proactive.normative.issued: again",
               "template guessed", "requests.new.total: doubted"]
    assert review_reason_fields(reasons) == ["proactive.normative.issued", "requests.new.total"]


def test_the_preferred_installed_cjk_font_is_picked():
    assert pick_cjk_font(["DejaVu Sans", "Noto Serif CJK SC", "Noto Sans CJK SC"]) == "Noto Sans CJK SC"
    assert pick_cjk_font(["DejaVu Sans", "Noto Serif CJK JP", "Some CJK SC"]) == "Some CJK SC"
    assert pick_cjk_font(["DejaVu Sans", "Liberation Serif"]) is None


def _glyph_warnings(draw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


LABELS = ["三、本年度办理结果 · （一）予以公开 · 自然人", "R1"]


def test_without_a_cjk_font_plot_labels_are_numbers_not_boxes():
    assert plot_labels(LABELS, None) == ["1", "R1"]
    assert plot_labels(LABELS, "Noto Sans CJK SC") == LABELS
    assert _glyph_warnings(lambda: report._ranked_bars("t", LABELS, [3, 1], "documents", None)) == []
    # The detector works: Chinese drawn in matplotlib's own font is reported as missing glyphs (boxes).
    with mock.patch.object(report, "plot_labels", lambda labels, font: list(labels)):
        assert _glyph_warnings(lambda: report._ranked_bars("t", LABELS, [3, 1], "documents", None))


def test_with_an_installed_cjk_font_plots_draw_the_headers():
    font = report.cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    assert _glyph_warnings(lambda: report._ranked_bars("t", LABELS, [3, 1], "documents", font)) == []


@pytest.fixture(scope="module")
def store_db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    docs = root / "docs"
    docs.mkdir()
    for name in ("real_002.txt", "real_010.txt", "000_0f54907597b54157.txt"):  # review reasons and failed checks
        shutil.copy(EXAMPLES / name, docs / name)
    db = root / "r.sqlite"
    ingest([str(docs)], db, IngestOptions(workers=1, progress=False, cross_year=False, timeout=None, max_memory_mb=0))
    return db


def _visible_text(page: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)


@pytest.mark.parametrize("font", ["installed", None])
def test_the_report_names_fields_by_official_headers_never_keys(store_db, tmp_path, font):
    if font and report.cjk_font() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    with contextlib.nullcontext() if font else mock.patch.object(report, "cjk_font", lambda: None):
        glyphs = _glyph_warnings(lambda: report.write_report(store_db, tmp_path / "r.html"))
    page = _visible_text((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert glyphs == []
    assert FIELD_KEY_IN_TEXT.findall(page) == []
    for key_word in ("results_total", "carried_over", "new_made", "in_force"):
        assert key_word not in page
    assert "（七）总计" in page and "第二十条第（一）项 · 规范性文件 · 本年新制作数量" in page
    assert "Fields whose readings sent documents to review" in page
    assert not re.search(r"\\d|\(\?:|\[\^", page)  # no reading pattern shown as a label
