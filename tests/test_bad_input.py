"""Bad and hostile inputs: every one ends in a clear ``error`` (a stable code) or in tables not
found — never in fields filled with zeros or invented values, and never in a crash or a hang.

Every bad file is built here, in ``tmp_path``; nothing large is committed. The two large inputs
(a 300-page PDF, a 50 MB HTML page) are marked ``slow`` and print their wall time.
"""
from __future__ import annotations

import json
import random
import resource
import shutil
import time
from pathlib import Path

import pytest

from nianbao import extract
from nianbao.cli import expand_inputs, main
from nianbao.document import TABLE_NAMES
from nianbao.inference.output import to_record

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TXT = EXAMPLES / "real_014.txt"
HTML = EXAMPLES / "real2_004.html"
PDF = EXAMPLES / "real2_002.pdf"

# A hang is a failure; these limits are far above what a 2-core machine needs.
HANG_LIMIT_S = 180


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def record(path) -> dict:
    rec = to_record(extract(path))
    json.dumps(rec, ensure_ascii=False)  # the record is always serialisable
    return rec


def values(rec: dict) -> dict:
    return {k: f["value"] for k, f in rec["fields"].items()}


def assert_no_data(rec: dict) -> None:
    """Nothing was read: no table found, no field (not even a zero), no rule evaluated."""
    assert {t: rec["tables"][t]["found"] for t in TABLE_NAMES} == {t: False for t in TABLE_NAMES}
    assert rec["fields"] == {}
    assert rec["checks"] == []


def assert_error(rec: dict, codes) -> None:
    codes = {codes} if isinstance(codes, str) else set(codes)
    err = rec["error"]
    assert err is not None, f"expected an error in {sorted(codes)}, got a document: {rec['tables']}"
    assert set(err) >= {"code", "message"}
    assert err["code"] in codes, err
    assert isinstance(err["message"], str) and err["message"].strip()
    assert_no_data(rec)


def assert_error_api(path, codes) -> None:
    """The typed Document carries the same error and no fields."""
    codes = {codes} if isinstance(codes, str) else set(codes)
    doc = extract(path)
    assert doc.error is not None and doc.error.code in codes, doc.error
    assert doc.fields == {}
    assert not any(doc.found.values())


def assert_not_fabricated(rec: dict, reference: dict) -> None:
    """Every number read is the number the intact document gives for that key."""
    ref = values(reference)
    for key, f in rec["fields"].items():
        if f["value"] is not None:
            assert key in ref and f["value"] == ref[key], (key, f, ref.get(key))


def assert_same_extraction(rec: dict, reference: dict) -> None:
    assert rec["error"] is None, rec["error"]
    assert rec["tables"] == reference["tables"]
    assert values(rec) == values(reference)
    assert {k: f["raw"] for k, f in rec["fields"].items()} == {k: f["raw"] for k, f in reference["fields"].items()}
    assert (rec["year"], rec["template"], rec["agency"]) == (reference["year"], reference["template"], reference["agency"])


def rand_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def say(capsys, text: str) -> None:
    """Print past pytest's capture so the line shows up in the test output."""
    with capsys.disabled():
        print(f"\n[bad-input] {text}")


@pytest.fixture(scope="module")
def ref_txt() -> dict:
    rec = record(TXT)
    assert rec["error"] is None and all(rec["tables"][t]["found"] for t in TABLE_NAMES)
    return rec


@pytest.fixture(scope="module")
def ref_pdf() -> dict:
    rec = record(PDF)
    assert rec["error"] is None and all(rec["tables"][t]["found"] for t in TABLE_NAMES)
    return rec


@pytest.fixture(scope="module")
def ref_html() -> dict:
    rec = record(HTML)
    assert rec["error"] is None and all(rec["tables"][t]["found"] for t in TABLE_NAMES)
    return rec


# ---------------------------------------------------------------------------------------------
# empty files
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.html", "empty.docx", "empty.md"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert_error(record(path), "empty_file")
    assert_error_api(path, "empty_file")


@pytest.mark.parametrize("content", [b"   \r\n\t \n", b"\x00" * 64], ids=["whitespace", "nul-bytes"])
def test_blank_text_file_is_empty(tmp_path, content):
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    assert_error(record(path), "empty_file")


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xff\xfe", b"\xef\xbb\xbf\r\n  \r\n"], ids=["utf8-bom", "utf16-bom", "bom-space"])
def test_bom_only_file_reads_nothing(tmp_path, content):
    # Notepad saves an "empty" file as a bare BOM: an empty_file error or an empty document, never data.
    path = tmp_path / "bom.txt"
    path.write_bytes(content)
    rec = record(path)
    if rec["error"] is not None:
        assert_error(rec, "empty_file")
    else:
        assert_no_data(rec)


# ---------------------------------------------------------------------------------------------
# binary files that are not reports
# ---------------------------------------------------------------------------------------------

PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
BINARY_CASES = {
    "random.txt": (lambda: rand_bytes(8192, 1), {"not_text", "unsupported_format"}),
    "random.pdf": (lambda: rand_bytes(8192, 2), {"corrupt_pdf", "unsupported_format"}),
    "random.html": (lambda: rand_bytes(8192, 3), {"not_text", "unsupported_format"}),
    "random_nosuffix": (lambda: rand_bytes(8192, 4), {"not_text", "unsupported_format"}),
    # A PNG header makes the file an image whatever its name (issue 5): a broken one is corrupt_image.
    "png.txt": (lambda: PNG_HEAD + rand_bytes(4096, 5), {"not_text", "unsupported_format", "corrupt_image"}),
    "png.pdf": (lambda: PNG_HEAD + rand_bytes(4096, 6), {"corrupt_pdf", "unsupported_format", "corrupt_image"}),
    "zip.txt": (lambda: b"PK\x03\x04" + rand_bytes(4096, 7), {"unsupported_format"}),
    "ole.txt": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rand_bytes(4096, 8), {"unsupported_format"}),
    "pdf_header_only.pdf": (lambda: b"%PDF-1.4\n", {"corrupt_pdf"}),
    "pdf_header_junk.pdf": (lambda: b"%PDF-1.7\n" + rand_bytes(20000, 9), {"corrupt_pdf"}),
    "random.docx": (lambda: rand_bytes(4096, 10), {"corrupt_file", "unsupported_format"}),
}


@pytest.mark.parametrize("name", sorted(BINARY_CASES))
def test_binary_file_is_refused(tmp_path, name):
    make, codes = BINARY_CASES[name]
    path = tmp_path / name
    path.write_bytes(make())
    assert_error(record(path), codes)
    assert_error_api(path, codes)


def test_zip_that_is_not_a_docx(tmp_path):
    import zipfile

    path = tmp_path / "report.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "主动公开信息300条")
    assert_error(record(path), {"corrupt_file", "unsupported_format"})


# ---------------------------------------------------------------------------------------------
# zip packages (DOCX) whose parts inflate past the caps: too_large, quickly, in bounded memory
# ---------------------------------------------------------------------------------------------

_MB = 1 << 20


def _spaces_deflate(megabytes: int) -> bytes:
    """A raw deflate stream of ``megabytes`` MiB of spaces, built from one compressed MiB repeated
    (full flushes make the blocks independent): a 3 GB part costs 3 MB and milliseconds."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = packer.compress(b" " * _MB) + packer.flush(zlib.Z_FULL_FLUSH)
    return block * megabytes + packer.flush()


def _write_zip(path: Path, parts: list[tuple[str, bytes, int, int]]) -> None:
    """Write (name, raw deflate data, declared inflated size, crc) parts byte by byte, so that a
    test can declare any size, true or not."""
    import struct

    body, central = bytearray(), bytearray()
    for name, raw, size, crc in parts:
        encoded = name.encode()
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(raw), size, len(encoded), 0)
        body += encoded + raw
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(raw), size,
                               len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(parts), len(parts), len(central), len(body), 0)
    path.write_bytes(bytes(body + central + end))


def _docx_parts(tmp_path: Path) -> list[tuple[str, bytes, int, int]]:
    """The parts of a real (empty) python-docx document, as raw deflate streams."""
    import zipfile
    import zlib

    docx = pytest.importorskip("docx")
    src = tmp_path / "base.docx"
    docx.Document().save(str(src))
    parts = []
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            data = zf.read(info)
            packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            parts.append((info.filename, packer.compress(data) + packer.flush(), len(data), zlib.crc32(data)))
    return parts


def _with_part(parts, name: str, raw: bytes, declared: int) -> list[tuple[str, bytes, int, int]]:
    return [p for p in parts if p[0] != name] + [(name, raw, declared, 0)]


def _refused_quickly(path: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    rec = record(path)
    seconds = time.perf_counter() - t0
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert_error(rec, "too_large")
    assert seconds < 10, f"took {seconds:.1f} s"
    assert grown < 300, f"peak memory grew by {grown:.0f} MB"
    return rec


def test_docx_round_trip_through_the_raw_zip_writer(tmp_path):
    # The helpers write a package python-docx reads: the refusals below are about sizes, not format.
    path = tmp_path / "plain.docx"
    _write_zip(path, _docx_parts(tmp_path))
    rec = record(path)
    assert rec["error"] is None or rec["error"]["code"] not in {"corrupt_file", "too_large"}, rec["error"]


def test_docx_styles_part_declaring_3gb_is_too_large(tmp_path):
    path = tmp_path / "styles_bomb.docx"
    _write_zip(path, _with_part(_docx_parts(tmp_path), "word/styles.xml", _spaces_deflate(3072), 3072 * _MB))
    assert path.stat().st_size < 8 * _MB
    rec = _refused_quickly(path)
    assert "word/styles.xml" in rec["error"]["message"]


def test_docx_part_lying_about_its_size_is_too_large(tmp_path):
    # The central directory says 2 kB; the data inflates to 3 GB. zipfile would cut it at 2 kB and
    # fail on the checksum (corrupt_file): the real size is counted instead.
    path = tmp_path / "lying_bomb.docx"
    _write_zip(path, _with_part(_docx_parts(tmp_path), "word/styles.xml", _spaces_deflate(3072), 2048))
    rec = _refused_quickly(path)
    assert "word/styles.xml" in rec["error"]["message"] and "more than" in rec["error"]["message"]


def test_docx_900mb_document_part_is_too_large(tmp_path):
    path = tmp_path / "big_body.docx"
    _write_zip(path, _with_part(_docx_parts(tmp_path), "word/document.xml", _spaces_deflate(900), 900 * _MB))
    _refused_quickly(path)


def test_docx_parts_over_the_package_total_are_too_large(tmp_path):
    from nianbao.inference.readers.options import ReaderOptions

    per_part = ReaderOptions().max_part_bytes // _MB - 1  # each part under the per-part cap
    count = ReaderOptions().max_inflated_bytes // (per_part * _MB) + 1
    raw = _spaces_deflate(per_part)
    parts = _docx_parts(tmp_path) + [(f"word/media/pad{i}.xml", raw, per_part * _MB, 0) for i in range(count)]
    path = tmp_path / "many_big_parts.docx"
    _write_zip(path, parts)
    rec = _refused_quickly(path)
    assert "in all" in rec["error"]["message"]


def test_docx_with_too_many_parts_is_too_large(tmp_path):
    from nianbao.inference.readers.options import ReaderOptions

    empty = _spaces_deflate(0)
    parts = _docx_parts(tmp_path) + [(f"x/{i}", empty, 0, 0) for i in range(ReaderOptions().max_zip_parts + 1)]
    path = tmp_path / "many_parts.docx"
    _write_zip(path, parts)
    _refused_quickly(path)


# ---------------------------------------------------------------------------------------------
# images too large to be a page: too_large from the header, before decoding
# ---------------------------------------------------------------------------------------------

def _png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of width x height white pixels (a 30000x30000 one is 110 kB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte, then the packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_of_30000_by_30000_pixels_is_too_large(tmp_path):
    # 900 MP: PIL's own guard fires while opening (DecompressionBombError), once corrupt_image.
    path = tmp_path / "huge.png"
    path.write_bytes(_png(30000, 30000))
    rec = _refused_quickly(path)
    assert "pixels" in rec["error"]["message"]


def test_png_over_the_reader_cap_but_under_pils_guard_is_too_large(tmp_path):
    from nianbao.inference.readers.image import read_image
    from nianbao.inference.readers.options import ReaderOptions
    from nianbao.errors import ReadError

    path = tmp_path / "big.png"
    path.write_bytes(_png(2000, 1000))
    with pytest.raises(ReadError) as err:
        read_image(path, ReaderOptions(max_image_pixels=1_000_000))
    assert err.value.code == "too_large" and "2000x1000" in err.value.message
    assert read_image(path, ReaderOptions()).pages[0].needs_ocr  # under the default cap it is a page


def test_tiff_with_one_oversized_page_is_too_large(tmp_path):
    from PIL import Image

    from nianbao.errors import ReadError
    from nianbao.inference.readers.image import read_image
    from nianbao.inference.readers.options import ReaderOptions

    path = tmp_path / "scan.tiff"
    first, second = Image.new("L", (200, 300), 255), Image.new("1", (2000, 1000), 1)
    first.save(path, save_all=True, append_images=[second])
    with pytest.raises(ReadError) as err:
        read_image(path, ReaderOptions(max_image_pixels=1_000_000))
    assert err.value.code == "too_large" and "(page 2)" in err.value.message


def test_memory_error_while_reading_is_memory_not_corrupt(tmp_path, monkeypatch):
    # ingest's per-worker cap turns an allocation past the limit into MemoryError: the document is
    # stopped by a cap ("memory"), which the python-docx catch-all once called corrupt_file.
    import docx

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    path = tmp_path / "plain.docx"
    docx.Document().save(str(path))
    monkeypatch.setattr(docx, "Document", out_of_memory)
    rec = record(path)
    assert_error(rec, "memory")
    assert rec["error"]["message"].startswith("MemoryError")  # what ingest's worker recognises


def test_bmp_header_of_900_megapixels_is_too_large(tmp_path):
    # A BMP header alone (no pixel data): the size is refused before anything is decoded.
    import struct

    info = struct.pack("<IiiHHIIiiII", 40, 30000, 30000, 1, 1, 0, 0, 2835, 2835, 0, 0)
    path = tmp_path / "huge.bmp"
    path.write_bytes(b"BM" + struct.pack("<IHHI", 14 + 40 + 8, 0, 0, 14 + 40 + 8) + info + b"\x00" * 8)
    _refused_quickly(path)


# ---------------------------------------------------------------------------------------------
# PDFs: encrypted, truncated, without pages
# ---------------------------------------------------------------------------------------------

def _encrypt(src: Path, dst: Path, user: str, owner: str, algorithm: str) -> None:
    pypdf = pytest.importorskip("pypdf")  # test dependency (the `test` extra)
    writer = pypdf.PdfWriter(clone_from=str(src))
    writer.encrypt(user_password=user, owner_password=owner, algorithm=algorithm)
    with dst.open("wb") as fh:
        writer.write(fh)


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_encrypted_pdf(tmp_path, algorithm):
    path = tmp_path / "locked.pdf"
    _encrypt(PDF, path, user="secret", owner="owner", algorithm=algorithm)
    assert_error(record(path), "encrypted_pdf")
    assert_error_api(path, "encrypted_pdf")


def test_owner_password_only_pdf_reads_like_the_original(tmp_path, ref_pdf):
    # Encrypted with an empty user password: every viewer opens it, so should we.
    path = tmp_path / "restricted.pdf"
    _encrypt(PDF, path, user="", owner="owner", algorithm="AES-128")
    assert_same_extraction(record(path), ref_pdf)


def test_truncated_pdf_40_percent(tmp_path):
    data = PDF.read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: int(len(data) * 0.4)])
    rec = record(path)
    if rec["error"] is not None:
        assert_error(rec, "corrupt_pdf")
    else:
        assert_no_data(rec)


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.7, 0.9, 0.99])
def test_truncated_pdf_never_invents_numbers(tmp_path, ref_pdf, fraction):
    data = PDF.read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: int(len(data) * fraction)])
    rec = record(path)
    if rec["error"] is not None:
        assert_error(rec, "corrupt_pdf")
    else:
        assert_not_fabricated(rec, ref_pdf)


@pytest.mark.parametrize("n_pages", [0, 1], ids=["no-pages", "blank-page"])
def test_pdf_without_text(tmp_path, n_pages):
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument.new()
    for _ in range(n_pages):
        pdf.new_page(595, 842)
    path = tmp_path / "blank.pdf"
    pdf.save(str(path))
    pdf.close()
    rec = record(path)
    if rec["error"] is not None:
        # A blank page is read by OCR, which finds no table and no title: not a report.
        assert_error(rec, {"empty_file", "corrupt_pdf", "no_text", "not_a_report"})
    else:
        assert_no_data(rec)


# ---------------------------------------------------------------------------------------------
# a report without the statutory tables
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("year, template", [(2021, "v2021"), (2020, "v2019")])
def test_report_without_tables(tmp_path, year, template):
    path = tmp_path / "no_tables.txt"
    path.write_text(
        f"某某街道{year}年政府信息公开工作年度报告\n\n"
        "一、总体情况\n"
        f"{year}年，本街道认真贯彻落实《中华人民共和国政府信息公开条例》，共受理申请12件，主动公开信息300条，"
        "更新公开目录45项，答复率100%。\n"
        "二、存在的主要问题及改进情况\n下一步将进一步加强培训。\n",
        encoding="utf-8",
    )
    rec = record(path)
    assert rec["error"] is None
    assert_no_data(rec)
    assert rec["year"] == year
    assert rec["template"] == template


CRAWL_NOTES = """# Crawl notes, batch 7

Fetched again on 2021-03-02; the 兴华街道办事处 page moved.

## What the parser gets wrong

- 兴华街道办事处 2020: the rows `本年新收政府信息公开申请数量` and `上年结转政府信息公开申请数量` are prose, 6 and 4.
- `（三）不予公开` then `4.保护第三方合法权益` 6 — a heading parser will take the 6.
- `（七）总计` 2, and `结转下年度继续办理` 4: the totals do not add up.
- Table A mentions `规范性文件` 19 and `行政许可` 3 in prose only.
"""
SHARED_NOTES = Path("/work/shared/seeds/NOTES.md")


def assert_not_a_report(rec: dict) -> None:
    assert_error(rec, "not_a_report")
    assert (rec["agency"], rec["year"], rec["template"]) == (None, None, None)
    assert rec["review"] == {"needed": False, "reasons": []}


def test_notes_naming_an_office_a_year_and_numbers_are_not_a_report(tmp_path):
    # Once read as 兴华街道办事处's report with 6 in two request rows, and queued for review.
    path = tmp_path / "NOTES.md"
    path.write_text(CRAWL_NOTES, encoding="utf-8")
    rec = record(path)
    assert_not_a_report(rec)
    assert "no statutory table" in rec["error"]["message"]


@pytest.mark.skipif(not SHARED_NOTES.exists(), reason="the shared seeds are not on this machine")
def test_the_seeds_notes_file_is_not_a_report():
    assert_not_a_report(record(SHARED_NOTES))


@pytest.mark.parametrize("name", ["001_920a4b5d549ad15c.txt", "004_370a2057b485fcf4.txt"])
def test_a_report_with_a_title_or_with_tables_is_a_report(name):
    # 001 has a title and no tables (all absent, not zeros); 004 has tables and no title.
    rec = record(EXAMPLES / name)
    assert rec["error"] is None and rec["agency"] and rec["year"]


@pytest.mark.parametrize("evidence, refused", [
    (dict(title=None, table_rows={}, unread_tables_possible=False), True),
    (dict(title=None, table_rows={"requests": (10, 25), "proactive": (1, 6)}, unread_tables_possible=False), True),
    (dict(title="某某街道2021年政府信息公开工作年度报告", table_rows={}, unread_tables_possible=False), False),
    (dict(title=None, table_rows={"requests": (23, 25)}, unread_tables_possible=False), False),
    (dict(title=None, table_rows={"appeals": (1, 1)}, unread_tables_possible=False), False),
    (dict(title=None, table_rows={}, unread_tables_possible=True), False),
])
def test_not_a_report_decision(evidence, refused):
    from nianbao.inference.report_gate import ReportEvidence, not_a_report

    assert (not_a_report(ReportEvidence(**evidence)) is not None) is refused


def test_a_page_read_by_ocr_is_never_refused_as_not_a_report():
    # One page of a scan (Table B's continuation, no title) is part of a report: OCR may misread.
    from nianbao.document import Document, Line, Page
    from nianbao.inference.report_gate import ReportStage, report_evidence
    from nianbao.schema import load_schema

    doc = Document(source="page3.png", format="image",
                   pages=[Page(number=1, blocks=[Line(text="（一）予以公开 50 0 0 0 0 0 50", source="ocr")], ocr={"tables": 1})])
    assert report_evidence(doc, load_schema()).unread_tables_possible
    assert ReportStage(load_schema())(doc).error is None


def test_html_report_with_a_non_statutory_table(tmp_path):
    path = tmp_path / "no_tables.html"
    path.write_text(
        "<html><head><meta charset='utf-8'><title>某某街道2021年政府信息公开工作年度报告</title></head><body>"
        "<h1>某某街道2021年政府信息公开工作年度报告</h1><p>本年度共受理申请12件，主动公开信息300条。</p>"
        "<table><tr><td>序号</td><td>项目</td><td>数量</td></tr>"
        "<tr><td>1</td><td>主动公开信息</td><td>300</td></tr><tr><td>2</td><td>受理申请</td><td>12</td></tr></table>"
        "</body></html>",
        encoding="utf-8",
    )
    rec = record(path)
    assert rec["error"] is None
    assert_no_data(rec)
    assert (rec["year"], rec["template"]) == (2021, "v2021")


def test_prose_that_names_the_rows_is_not_a_table(tmp_path):
    path = tmp_path / "prose_only.txt"
    path.write_text(
        "某某街道2021年政府信息公开工作年度报告\n\n"
        "一、总体情况\n2021年，本街道共受理申请12件，主动公开信息300条。\n"
        "二、主动公开政府信息情况\n本年新制发规范性文件3件，废止1件，现行有效20件。行政许可处理决定45件。\n"
        "三、收到和处理政府信息公开申请情况\n"
        "本年新收政府信息公开申请12件，上年结转2件，予以公开8件，部分公开1件，不予公开0件，结转下年度继续办理3件。\n"
        "四、政府信息公开行政复议、行政诉讼情况\n本年度发生政府信息公开行政复议1件，结果维持1件；行政诉讼0件。\n"
        "五、存在的主要问题及改进情况\n无。\n",
        encoding="utf-8",
    )
    rec = record(path)
    assert rec["error"] is None
    assert_no_data(rec)


# ---------------------------------------------------------------------------------------------
# encodings
# ---------------------------------------------------------------------------------------------

ENCODINGS = {
    "utf-16-bom": lambda s: s.encode("utf-16"),  # BOM + native (little-endian) order
    "utf-16-be-bom": lambda s: b"\xfe\xff" + s.encode("utf-16-be"),
    "utf-16-le-no-bom": lambda s: s.encode("utf-16-le"),
    "gb18030": lambda s: s.encode("gb18030"),
    "utf-8-bom": lambda s: s.encode("utf-8-sig"),
    "utf-8-crlf": lambda s: s.replace("\n", "\r\n").encode("utf-8"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_encoded_copy_extracts_the_same(tmp_path, ref_txt, encoding):
    path = tmp_path / f"real_014.{encoding}.txt"
    path.write_bytes(ENCODINGS[encoding](TXT.read_text(encoding="utf-8")))
    assert_same_extraction(record(path), ref_txt)


# ---------------------------------------------------------------------------------------------
# a report with a few damaged bytes is read, with the damage said in the record
# ---------------------------------------------------------------------------------------------

def _damaged(encoding: str, at_text: str, bad: bytes = b"\xff") -> bytes:
    """real_014 in ``encoding`` with ``bad`` inserted just after the first ``at_text``."""
    text = TXT.read_text(encoding="utf-8")
    cut = text.index(at_text) + len(at_text)
    return text[:cut].encode(encoding) + bad + text[cut:].encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_one_invalid_byte_in_prose_is_read_and_said(tmp_path, ref_txt, encoding):
    path = tmp_path / f"real_014.{encoding}.damaged.txt"
    path.write_bytes(_damaged(encoding, "存在的主要问题及改进措施"))
    rec = record(path)
    assert_same_extraction(rec, ref_txt)
    assert rec["review"] == ref_txt["review"]  # the damage is outside the tables
    (warning,) = rec["warnings"]
    assert warning.startswith("decoded_with_replacement") and f"not valid {encoding}" in warning
    assert "warnings" not in ref_txt


def test_a_few_invalid_bytes_in_utf8_are_read(tmp_path, ref_txt):
    text = TXT.read_text(encoding="utf-8")
    data = text.encode("utf-8")
    cuts = [data.index(w.encode()) for w in ("存在的主要问题", "如对本报告有任何疑问", "六、其他需要报告的事项")]
    for cut in sorted(cuts, reverse=True):
        data = data[:cut] + b"\x80\xfe" + data[cut:]
    path = tmp_path / "real_014.six_bad_bytes.txt"
    path.write_bytes(data)
    rec = record(path)
    assert_same_extraction(rec, ref_txt)
    assert "6 of" in rec["warnings"][0]


def test_invalid_byte_inside_a_table_puts_the_document_under_review(tmp_path):
    path = tmp_path / "real_014.table_damaged.txt"
    path.write_bytes(_damaged("utf-8", "本年新收政府信息公开申请数量000"))
    rec = record(path)
    assert rec["error"] is None and rec["tables"]["requests"]["found"]
    assert rec["review"]["needed"]
    assert any("replaced inside the" in r and "requests" in r for r in rec["review"]["reasons"])
    assert rec["warnings"][0].startswith("decoded_with_replacement")


@pytest.mark.parametrize("share", [0.02, 0.2])
def test_text_with_many_invalid_bytes_is_still_not_text(tmp_path, share):
    # Overwhelmingly valid is the bar: a file with 2% or 20% undecodable bytes is refused.
    data = bytearray(TXT.read_bytes())
    rng = random.Random(7)
    for pos in rng.sample(range(len(data)), int(len(data) * share)):
        data[pos] = 0xFF
    path = tmp_path / "mostly_broken.txt"
    path.write_bytes(bytes(data))
    assert_error(record(path), "not_text")


# ---------------------------------------------------------------------------------------------
# missing paths and folders
# ---------------------------------------------------------------------------------------------

def test_missing_path(tmp_path):
    path = tmp_path / "no_such_report.pdf"
    assert_error(record(path), "not_found")
    assert_error_api(path, "not_found")


def test_directory_through_the_api_is_an_error(tmp_path):
    assert_error(record(tmp_path), {"is_directory", "not_a_file", "unsupported_format"})


def _report_folder(root: Path) -> list[Path]:
    (root / "sub").mkdir(parents=True)
    shutil.copy(TXT, root / "b_report.txt")
    shutil.copy(HTML, root / "a_report.HTML")  # suffixes are matched case-insensitively
    shutil.copy(EXAMPLES / "real_010.txt", root / "sub" / "c_report.txt")
    (root / "notes.json").write_text("{}", encoding="utf-8")
    (root / "logo.gif").write_bytes(b"GIF89a")  # PNG/JPEG/TIFF are reports since issue 5 (OCR); GIF is not
    (root / "sub" / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return sorted([root / "a_report.HTML", root / "b_report.txt", root / "sub" / "c_report.txt"])


def test_folder_argument_is_expanded(tmp_path):
    folder = tmp_path / "reports"
    expected = _report_folder(folder)
    assert expand_inputs([str(folder)]) == expected
    # A folder between two files keeps the argument order; its files come in sorted order.
    assert expand_inputs([str(TXT), str(folder), str(HTML)]) == [TXT, *expected, HTML]


def test_folder_argument_extracts_every_report(tmp_path, capsys):
    folder = tmp_path / "reports"
    expected = _report_folder(folder)
    assert main(["extract", "--jsonl", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(expected)
    recs = [json.loads(line) for line in lines]
    assert [r["source"] for r in recs] == [str(p) for p in expected]
    for rec in recs:
        assert rec["error"] is None, rec["error"]
        assert all(rec["tables"][t]["found"] for t in TABLE_NAMES), rec["source"]


# ---------------------------------------------------------------------------------------------
# a batch goes on after a bad file
# ---------------------------------------------------------------------------------------------

def test_batch_keeps_order_and_goes_on(tmp_path, capsys, ref_txt, ref_html):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.pdf"
    data = PDF.read_bytes()
    corrupt.write_bytes(data[: len(data) * 2 // 5])
    inputs = [TXT, empty, corrupt, HTML]

    assert main(["extract", "--jsonl", *map(str, inputs)]) == 1  # exit 1: some inputs failed (README)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 4, out[:2000]
    recs = [json.loads(line) for line in lines]
    assert [r["source"] for r in recs] == [str(p) for p in inputs]

    good1, bad1, bad2, good2 = recs
    assert_error(bad1, "empty_file")
    if bad2["error"] is not None:
        assert_error(bad2, "corrupt_pdf")
    else:
        assert_no_data(bad2)
    for got, ref in ((good1, ref_txt), (good2, ref_html)):
        assert got["error"] is None
        assert all(got["tables"][t]["found"] for t in TABLE_NAMES)
        assert values(got) == values(ref)


def test_batch_with_a_missing_path(tmp_path, capsys):
    missing = tmp_path / "missing.txt"
    assert main(["extract", "--jsonl", str(missing), str(TXT)]) == 1  # exit 1: some inputs failed
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in recs] == [str(missing), str(TXT)]
    assert_error(recs[0], "not_found")
    assert recs[1]["error"] is None and recs[1]["fields"]


# ---------------------------------------------------------------------------------------------
# large inputs (slow)
# ---------------------------------------------------------------------------------------------

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


@pytest.mark.slow
def test_300_page_pdf(tmp_path, capsys, ref_pdf):
    pdfium = pytest.importorskip("pypdfium2")
    src = pdfium.PdfDocument(str(PDF))
    big = pdfium.PdfDocument.new()
    copies = 300 // len(src)
    for _ in range(copies):
        big.import_pages(src)
    n_pages = len(big)
    path = tmp_path / "long.pdf"
    big.save(str(path))
    big.close()
    src.close()

    t0 = time.perf_counter()
    doc = extract(path)
    wall = time.perf_counter() - t0
    rec = to_record(doc)
    say(capsys, f"{n_pages}-page PDF ({path.stat().st_size / 1e6:.1f} MB): {wall:.1f} s, "
                f"stages {doc.timings}, error {rec['error'] and rec['error']['code']}, peak RSS {_peak_rss_mb():.0f} MB")
    assert n_pages == 300
    assert wall < HANG_LIMIT_S
    if rec["error"] is not None:
        assert_error(rec, {"too_many_pages", "too_large"})
    else:
        # Sixty copies of one report: the tables of that report, nothing invented.
        assert rec["tables"] == ref_pdf["tables"]
        assert values(rec) == values(ref_pdf)


@pytest.mark.slow
def test_50mb_html(tmp_path, capsys, ref_html):
    html = HTML.read_text(encoding="utf-8")
    junk = "".join(
        f"<p>这是用于填充的无关段落，第{i}段，包含数字 2023 年 12 月与 345 条说明文字，不属于任何统计表格。</p>\n"
        for i in range(1000)
    )
    cut = html.rfind("</body>")
    reps = 50_000_000 // len(junk.encode("utf-8")) + 1
    path = tmp_path / "huge.html"
    path.write_text(html[:cut] + junk * reps + html[cut:], encoding="utf-8")
    size_mb = path.stat().st_size / 1e6

    t0 = time.perf_counter()
    doc = extract(path)
    wall = time.perf_counter() - t0
    rec = to_record(doc)
    say(capsys, f"{size_mb:.0f} MB HTML: {wall:.1f} s, stages {doc.timings}, "
                f"error {rec['error'] and rec['error']['code']}, peak RSS {_peak_rss_mb():.0f} MB")
    assert size_mb >= 50
    assert wall < HANG_LIMIT_S
    if rec["error"] is not None:
        assert_error(rec, {"too_large"})
    else:
        assert rec["tables"] == ref_html["tables"]
        assert values(rec) == values(ref_html)
