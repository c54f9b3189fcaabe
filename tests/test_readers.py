"""Readers: HTML, DOCX and PDF files become pages of lines and table grids."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from nianbao.document import Cell, Document, Line, Table
from nianbao.errors import ReadError
from nianbao.inference.readers import read_document
from nianbao.inference.readers.docx import read_docx
from nianbao.inference.readers.encoding import decode_bytes, decode_text, recording_decodes
from nianbao.inference.readers.html import decode_html, parse_html_text
from nianbao.inference.readers.options import ReaderOptions
from nianbao.inference.readers.pdf import read_pdf

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HTML_EXAMPLE = EXAMPLES / "real2_004.html"
PDF_EXAMPLE = EXAMPLES / "real2_002.pdf"

NEW_REQUESTS = "一、本年新收政府信息公开申请数量"


def tables(doc: Document, page: Optional[int] = None) -> list[Table]:
    return [b for p in doc.pages for b in p.blocks if isinstance(b, Table) and (page is None or p.number == page)]


def lines(doc: Document, page: Optional[int] = None) -> list[str]:
    return [b.text for p in doc.pages for b in p.blocks if isinstance(b, Line) and (page is None or p.number == page)]


def squash(text: str) -> str:
    return "".join(text.split())


def find_row(table: Table, label: str) -> Optional[list[Cell]]:
    for row in table.rows():
        if any(squash(label) in squash(c.text) for c in row):
            return row
    return None


def table_with(doc: Document, label: str) -> Table:
    for t in tables(doc):
        if find_row(t, label) is not None:
            return t
    raise AssertionError(f"no table has a row {label!r}")


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def html_doc() -> Document:
    return read_document(HTML_EXAMPLE)


def test_html_example_tables_and_title(html_doc: Document) -> None:
    assert html_doc.format == "html" and html_doc.encoding == "utf-8"
    assert len(html_doc.pages) == 1
    first = html_doc.pages[0].blocks[0]
    assert isinstance(first, Line) and "沭阳县发展和改革局2023年政府信息公开年度报告" in first.text
    assert len(tables(html_doc)) >= 3
    # The <title> pasted inside the body is not repeated.
    assert not any(text.strip() == "沭阳县人民政府" for text in lines(html_doc))
    assert any("一、总体情况" == text for text in lines(html_doc))


def test_html_statutory_table_b_grid(html_doc: Document) -> None:
    table = table_with(html_doc, NEW_REQUESTS)
    assert table.n_cols == 10
    grid = {(c.row, c.col): c for c in table.cells}
    row = find_row(table, NEW_REQUESTS)
    assert row is not None
    label = row[0]
    assert (label.col, label.colspan) == (0, 3)
    by_col = {c.col: c for c in row}
    assert by_col[3].text == "26" and by_col[9].text == "26"
    # The empty 法人或其他组织 cells are in the grid, as empty cells.
    assert [by_col[c].text for c in range(4, 9)] == [""] * 5
    # Header merges: 申请人情况 spans the 7 value columns; 自然人 and 总计 span two header rows.
    assert grid[(0, 3)].text == "申请人情况" and grid[(0, 3)].colspan == 7
    assert grid[(1, 3)].text == "自然人" and grid[(1, 3)].rowspan == 2
    assert grid[(1, 4)].text == "法人或其他组织" and grid[(1, 4)].colspan == 5
    assert grid[(0, 0)].rowspan == 3 and grid[(0, 0)].colspan == 3
    results = find_row(table, "三、本年度办理结果")
    assert results is not None and results[0].rowspan == 22
    # Every grid position is covered exactly once.
    covered: dict[tuple[int, int], int] = {}
    for c in table.cells:
        for r in range(c.row, c.row + c.rowspan):
            for k in range(c.col, c.col + c.colspan):
                covered[(r, k)] = covered.get((r, k), 0) + 1
    assert set(covered.values()) == {1}
    assert len(covered) == table.n_rows * table.n_cols


def test_html_nested_tables_spans_and_whitespace() -> None:
    blocks = parse_html_text(
        "<html><head><title>T</title><script>var x;</script></head><body>"
        "<p>before&nbsp;&nbsp;one\u3000two</p>"
        "<table><tr><td>left<table><tr><td colspan='99999' rowspan='99999'>k</td></tr>"
        "<tr><td>a<br>b</td><td colspan='0'>c</td></tr></table></td><td>right</td></tr></table>"
        "<div>after<style>p{}</style></div></body></html><p>past the end</p>"
    )
    kinds = [type(b).__name__ for b in blocks]
    assert kinds == ["Line", "Line", "Line", "Table", "Line", "Line", "Line"]
    texts = [b.text for b in blocks if isinstance(b, Line)]
    assert texts == ["T", "before one two", "left", "right", "after", "past the end"]
    inner = blocks[3]
    assert isinstance(inner, Table)
    k = inner.cells[0]
    # Spans are clamped to the table's extent: 2 rows; a colspan no row could fill counts as 1
    # column, the widest row has 2 (and k still covers row 1, as in a browser).
    assert (k.text, k.rowspan, k.colspan) == ("k", 2, 2)
    assert [(c.text, c.row, c.col) for c in inner.cells[1:]] == [("a b", 1, 2), ("c", 1, 3)]


def test_html_declared_gbk_and_deep_nesting() -> None:
    page = "<html><head><meta charset='gb2312'></head><body><p>政府信息公开</p></body></html>"
    text, encoding = decode_html(page.encode("gbk"))
    assert encoding == "gb18030" and "政府信息公开" in text
    # A page that declares GBK but is UTF-8 is read as UTF-8.
    text, encoding = decode_html(page.encode("utf-8"))
    assert encoding == "utf-8" and "政府信息公开" in text
    # Nesting deeper than libxml2's limit: no crash, and the text survives.
    deep = "<p>start</p>" + "<div><span>" * 5000 + "深处" + "</span></div>" * 5000
    deep += "<table><tr><td>a</td><td>b</td></tr></table>"
    blocks = parse_html_text(deep)
    assert [b.text for b in blocks if isinstance(b, Line)] == ["start", "深处"]
    assert isinstance(blocks[-1], Table) and len(blocks[-1].cells) == 2


# ---------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------

def test_docx_merges_nested_and_block_order(tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    word = docx.Document()
    word.add_paragraph("前言")
    t = word.add_table(rows=3, cols=3)
    for r in range(3):
        for c in range(3):
            t.cell(r, c).text = f"{r}{c}"
    t.cell(0, 0).merge(t.cell(0, 1)).text = "横向"
    t.cell(1, 2).merge(t.cell(2, 2)).text = "纵向"
    inner = t.cell(2, 0).add_table(rows=1, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "内1", "内2"
    after = word.add_paragraph("后记")
    after.add_run().add_break()
    after.add_run("第二行")
    path = tmp_path / "report.docx"
    word.save(str(path))

    doc = read_document(path)
    assert doc.format == "docx"
    blocks = doc.pages[0].blocks
    assert [type(b).__name__ for b in blocks] == ["Line", "Table", "Table", "Line", "Line"]
    assert [b.text for b in blocks if isinstance(b, Line)] == ["前言", "后记", "第二行"]
    outer = blocks[1]
    assert isinstance(outer, Table)
    got = sorted((c.row, c.col, c.rowspan, c.colspan, c.text) for c in outer.cells)
    assert got == [
        (0, 0, 1, 2, "横向"), (0, 2, 1, 1, "02"),
        (1, 0, 1, 1, "10"), (1, 1, 1, 1, "11"), (1, 2, 2, 1, "纵向"),
        (2, 0, 1, 1, "20"), (2, 1, 1, 1, "21"),
    ]
    nested = blocks[2]
    assert isinstance(nested, Table)
    assert [(c.row, c.col, c.text) for c in nested.cells] == [(0, 0, "内1"), (0, 1, "内2")]


def test_docx_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    with pytest.raises(ReadError) as err:
        read_docx(path, ReaderOptions())
    assert err.value.code == "corrupt_file"


# ---------------------------------------------------------------------------------------------
# Text decoding: damaged bytes are replaced and recorded; binary stays not_text
# ---------------------------------------------------------------------------------------------

REPORT_TEXT = "平潭综合实验区海坛片区管理局2023年度政府信息公开工作年度报告。本报告由总体情况等六个部分组成。\n" * 40


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_decode_text_replaces_one_invalid_byte(encoding: str) -> None:
    data = REPORT_TEXT.encode(encoding)
    cut = data.index("总体情况".encode(encoding))
    with recording_decodes() as lossy:
        decoded = decode_text(data[:cut] + b"\xff" + data[cut:])
    assert decoded.encoding == encoding
    assert decoded.replaced_bytes == 1 and decoded.text.count("\ufffd") == 1
    assert decoded.text.replace("\ufffd", "", 1) == REPORT_TEXT
    assert lossy == [decoded] and decoded.note.startswith("decoded_with_replacement: 1 of")


def test_decode_text_clean_files_record_nothing() -> None:
    for encoding in ("utf-8", "gb18030", "utf-16"):
        with recording_decodes() as lossy:
            decoded = decode_text(REPORT_TEXT.encode(encoding))
        assert decoded.text.lstrip("\ufeff") == REPORT_TEXT and decoded.replaced_bytes == 0
        assert lossy == [] and decoded.note is None


def test_decode_text_outside_a_recording_block_still_decodes() -> None:
    data = REPORT_TEXT.encode("utf-8")
    assert decode_bytes(data[:10] + b"\x80" + data[10:])[1] == "utf-8"


def test_decode_text_gb18030_is_not_mistaken_for_damaged_utf8() -> None:
    # Mostly ASCII with a few Chinese characters in GB18030: every Chinese byte is invalid UTF-8,
    # which is far more than "a few damaged bytes" of UTF-8.
    text = "No. 2023-01\t0\t0\t0\n" * 300 + "政府信息公开\n"
    decoded = decode_text(text.encode("gb18030"))
    assert decoded.encoding == "gb18030" and decoded.text == text and decoded.replaced_bytes == 0


def test_read_document_puts_the_decode_note_in_the_document(tmp_path: Path) -> None:
    data = REPORT_TEXT.encode("utf-8")
    path = tmp_path / "damaged.txt"
    path.write_bytes(data[:30] + b"\xfe" + data[30:])
    doc = read_document(path)
    assert doc.encoding == "utf-8" and len(doc.warnings) == 1 and "1 of" in doc.warnings[0]
    html = tmp_path / "damaged.html"
    html.write_bytes(b"<html><body><p>" + data[:30] + b"\xfe" + data[30:] + b"</p></body></html>")
    assert read_document(html).warnings[0].startswith("decoded_with_replacement")


def test_html_declared_charset_decoded_with_replacement_says_so(tmp_path: Path) -> None:
    # 2% of the bytes are damaged: too many for detection, but the page declares its charset, so it
    # is read in it with the bad bytes replaced, and the document says how many.
    body = REPORT_TEXT.encode("gb18030")
    damaged = bytearray(body)
    for pos in range(0, len(damaged), 50):
        damaged[pos] = 0xFF
    path = tmp_path / "declared.html"
    path.write_bytes(b"<html><head><meta charset='gb2312'></head><body><p>" + bytes(damaged) + b"</p></body></html>")
    doc = read_document(path)
    assert doc.encoding == "gb18030"
    (warning,) = doc.warnings
    assert warning.startswith("decoded_with_replacement") and "not valid gb18030" in warning


def test_decode_text_lets_memory_errors_through(monkeypatch) -> None:
    # Running out of memory is a cap (the pipeline reports "memory"), not proof the file is not text.
    import random

    import charset_normalizer

    def out_of_memory(data):
        raise MemoryError()

    monkeypatch.setattr(charset_normalizer, "from_bytes", out_of_memory)
    with pytest.raises(MemoryError):
        decode_text(random.Random(0).randbytes(4096))


@pytest.mark.parametrize("seed", range(5))
def test_decode_text_random_bytes_are_not_text(seed: int) -> None:
    import random

    with pytest.raises(ReadError) as err:
        decode_text(random.Random(seed).randbytes(4096))
    assert err.value.code == "not_text"


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pdf_doc() -> Document:
    return read_document(PDF_EXAMPLE)


def test_pdf_example_tables_on_pages_2_to_4(pdf_doc: Document) -> None:
    assert pdf_doc.format == "pdf" and len(pdf_doc.pages) == 5
    assert pdf_doc.pages_needing_ocr == []
    assert {t.page for t in tables(pdf_doc)} == {2, 3, 4}
    # The prose in page frames (white rectangles per line) is text, not a one-column table.
    assert tables(pdf_doc, 1) == [] and tables(pdf_doc, 5) == []
    for t in tables(pdf_doc):
        assert t.bbox is not None and all(c.bbox is not None for c in t.cells)

    row = find_row(table_with(pdf_doc, "行政许可"), "行政许可")
    assert row is not None and [c.text for c in row] == ["行政许可", "9487"]

    table_b = table_with(pdf_doc, NEW_REQUESTS)
    assert table_b.page == 3 and table_b.n_cols == 10
    row = find_row(table_b, NEW_REQUESTS)
    assert row is not None
    by_col = {c.col: c.text for c in row}
    assert (row[0].colspan, by_col[3], by_col[9]) == (3, "95", "95")
    assert [by_col[c] for c in range(4, 9)] == ["0"] * 5
    header = {(c.row, c.col): c for c in table_b.cells}
    assert header[(0, 3)].text == "申请人情况" and header[(0, 3)].colspan == 7
    assert header[(2, 4)].text == "商业企业"  # a wrapped CJK label joins without a space
    # The table continues on page 4, up to the 总计 row.
    continued = table_with(pdf_doc, "（七）总计")
    total = find_row(continued, "（七）总计")
    assert continued.page == 4 and continued.n_cols == 10
    assert total is not None and total[-1].text == "95"


def test_pdf_example_prose_lines_in_reading_order(pdf_doc: Document) -> None:
    page1 = lines(pdf_doc, 1)
    assert page1[0] == "淮安市洪泽区人民政府"
    assert any("一、总体情况" in t for t in page1)
    assert all(b.bbox is not None for b in pdf_doc.pages[0].blocks)
    # On page 2 the section heading comes right before the table it introduces.
    blocks = pdf_doc.pages[1].blocks
    idx = next(i for i, b in enumerate(blocks) if isinstance(b, Table))
    before = blocks[idx - 1]
    assert isinstance(before, Line) and before.text == "二、主动公开政府信息情况"
    tops = [b.bbox.top for b in blocks if b.bbox is not None]
    assert tops == sorted(tops)


def test_pdf_too_many_pages() -> None:
    with pytest.raises(ReadError) as err:
        read_pdf(PDF_EXAMPLE, ReaderOptions(max_pdf_pages=2))
    assert err.value.code == "too_many_pages"


def test_pdf_truncated(tmp_path: Path) -> None:
    data = PDF_EXAMPLE.read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError) as err:
        read_document(path)
    assert err.value.code == "corrupt_pdf"


def _minimal_pdf(page_extra: bytes = b"", objects: tuple[bytes, ...] = (), trailer_extra: bytes = b"") -> bytes:
    """A one-page PDF, written by hand (objects 1-3 are catalog, pages, page; extras follow)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] " + page_extra + b" >>",
        *objects,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objs) + 1) + trailer_extra + b">>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d " % len(content) + extra + b">>\nstream\n" + content + b"\nendstream"


def test_pdf_encrypted(tmp_path: Path) -> None:
    # Standard security handler with a user password: the empty password does not open it.
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>"
    file_id = b"<0123456789abcdef0123456789abcdef>"
    path = tmp_path / "locked.pdf"
    trailer = b"/Encrypt 4 0 R /ID [" + file_id + file_id + b"] "
    path.write_bytes(_minimal_pdf(objects=(encrypt,), trailer_extra=trailer))
    with pytest.raises(ReadError) as err:
        read_document(path)
    assert err.value.code == "encrypted_pdf"


def test_pdf_cid_text_layer_needs_ocr(tmp_path: Path) -> None:
    # A Type0 font with Identity-H and no ToUnicode: every glyph extracts as (cid:N).
    content = b"BT /F1 12 Tf 20 150 Td <00410042004300440045004600470048004900500051> Tj ET"
    path = tmp_path / "cid.pdf"
    path.write_bytes(_minimal_pdf(
        page_extra=b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R",
        objects=(
            _stream(content),
            b"<< /Type /Font /Subtype /Type0 /BaseFont /F /Encoding /Identity-H /DescendantFonts [6 0 R] >>",
            b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /F /DW 1000 /FontDescriptor 7 0 R"
            b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
            b"<< /Type /FontDescriptor /FontName /F /Flags 4 /FontBBox [0 0 1000 1000] /ItalicAngle 0"
            b" /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>",
        ),
    ))
    doc = read_pdf(path, ReaderOptions())
    page = doc.pages[0]
    assert page.needs_ocr and page.ocr_reason == "garbled text layer (cid)"
    assert page.blocks == []


def test_pdf_scanned_page_needs_ocr(tmp_path: Path) -> None:
    content = b"q 200 0 0 200 50 50 cm /Im1 Do Q"
    image = _stream(
        b"\x80" * 4, b"/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray /BitsPerComponent 8 "
    )
    path = tmp_path / "scan.pdf"
    path.write_bytes(_minimal_pdf(
        page_extra=b"/Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R",
        objects=(_stream(content), image),
    ))
    doc = read_pdf(path, ReaderOptions())
    assert doc.pages_needing_ocr == [1] and doc.pages[0].ocr_reason == "no text layer"


def test_pdf_framed_prose_above_a_ruled_grid(tmp_path: Path) -> None:
    # One stroked frame holds five lines of prose and, below them, a ruled 3x2 grid whose
    # outer border is the frame: the prose rows are text, the grid is a table.
    prose = b"".join(b"(Prose line %d of the report) Tj 0 -20 Td " % i for i in range(1, 6))
    content = (
        b"0.5 w 20 20 260 260 re S 20 140 m 280 140 l S 20 100 m 280 100 l S 20 60 m 280 60 l S"
        b" 150 20 m 150 140 l S"
        b" BT /F1 10 Tf 30 260 Td " + prose + b"ET"
        b" BT /F1 10 Tf 30 115 Td (Label A) Tj 130 0 Td (123) Tj ET"
        b" BT /F1 10 Tf 30 75 Td (Label B) Tj 130 0 Td (45) Tj ET"
        b" BT /F1 10 Tf 30 35 Td (Total) Tj 130 0 Td (168) Tj ET"
    )
    path = tmp_path / "framed.pdf"
    path.write_bytes(_minimal_pdf(
        page_extra=b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R",
        objects=(_stream(content), b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
    ))
    doc = read_pdf(path, ReaderOptions())
    blocks = doc.pages[0].blocks
    assert [type(b).__name__ for b in blocks] == ["Line"] * 5 + ["Table"]
    assert blocks[0].text == "Prose line 1 of the report"  # type: ignore[union-attr]
    table = blocks[-1]
    assert isinstance(table, Table)
    assert [[c.text for c in row] for row in table.rows()] == [["Label A", "123"], ["Label B", "45"], ["Total", "168"]]
