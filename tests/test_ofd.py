"""OFD (GB/T 33190): the reader takes text objects with positions and ruling paths into the PDF
reader's cell grids; the factory renders OFD from a SyntheticReport, and those documents extract
exactly. Hand-written packages cover what converters write (g-notation DeltaX, CTM, page blocks,
templates, absolute locations) and the errors (corrupt_file, too_large, unsupported_format)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from nianbao.document import Line, Table
from nianbao.errors import ReadError
from nianbao.evaluate import score_document
from nianbao.inference.pipeline import Pipeline
from nianbao.inference.readers import read_document, sniff_format
from nianbao.inference.readers.ofd import deltas, read_ofd
from nianbao.inference.readers.options import ReaderOptions
from nianbao.labels import LabelledDocument
from nianbao.training.factory.baseline_check import CLEAN
from nianbao.training.factory.build import build_report
from nianbao.training.factory.dataset import render_ofd_kind
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.render_ofd import TEXT_STYLES, render_ofd
from nianbao.training.factory.render_pdf import PdfOptions
from nianbao.training.factory.rng import document_seed

NS = "http://www.ofdspec.org/2016"


# ---------------------------------------------------------------------------------------------
# Factory OFD documents
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline():
    return Pipeline()


@pytest.mark.parametrize("i", range(3))
@pytest.mark.parametrize("force", [{}, {"content.amount_format": "header_wan", "layout.page_break": True}],
                         ids=["clean", "wan_page_break"])
def test_factory_ofd_extracts_exactly(force, i, pipeline, tmp_path):
    report = build_report(document_seed(5, i), FactoryOptions(force={**CLEAN, **force}))
    path = tmp_path / f"{i}.ofd"
    rendered = render_ofd_kind(report, path)
    assert rendered.suffix == ".ofd" and rendered.boxes
    doc = pipeline.run(path)
    assert doc.error is None and doc.format == "ofd"
    gold = LabelledDocument(id=report.id, document=None, agency=report.agency, year=report.year,
                            template=report.template, found=report.found, values=report.values)
    assert score_document(gold, doc).exact, (force, i)


def test_factory_ofd_values_read_in_their_cells(tmp_path):
    report = build_report(document_seed(5, 3), FactoryOptions(force=dict(CLEAN)))
    path = tmp_path / "r.ofd"
    info = render_ofd(report, path, np.random.default_rng(2), PdfOptions(header_shading=True))
    doc = read_document(path)
    tables = {p.number: [b for b in p.blocks if isinstance(b, Table)] for p in doc.pages}
    assert len(doc.pages) == info.n_pages and info.values
    for v in info.values:
        x, y = (v.cell_bbox[0] + v.cell_bbox[2]) / 2, (v.cell_bbox[1] + v.cell_bbox[3]) / 2
        hits = [c for t in tables[v.page] for c in t.cells
                if c.bbox and c.bbox.x0 - 0.5 <= x <= c.bbox.x1 + 0.5 and c.bbox.top - 0.5 <= y <= c.bbox.bottom + 0.5]
        assert hits and hits[0].text == v.text, (v.key, v.text, [h.text for h in hits])


def test_factory_ofd_is_deterministic_and_a_real_package(tmp_path):
    report = build_report(document_seed(5, 0), FactoryOptions(force=dict(CLEAN)))
    a, b, c = tmp_path / "a.ofd", tmp_path / "b.ofd", tmp_path / "c.ofd"
    render_ofd(report, a, np.random.default_rng(1))
    render_ofd(report, b, np.random.default_rng(1))
    render_ofd(report, c, np.random.default_rng(2))
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
        assert names[0] == "OFD.xml" and "Doc_0/Document.xml" in names
        page = zf.read("Doc_0/Pages/Page_0/Content.xml").decode()
    assert "<ofd:TextObject" in page and "<ofd:PathObject" in page and "DeltaX=" in page
    assert sniff_format(Path("report"), a.read_bytes()[:8192]) == "ofd"  # found by its first part, any name


# ---------------------------------------------------------------------------------------------
# Hand-written packages
# ---------------------------------------------------------------------------------------------

def text_object(oid: int, x: float, y: float, text: str, size: float = 3.5, delta: str = "", ctm: str = "") -> str:
    attrs = f' DeltaX="{delta}"' if delta else ""
    ctm_attr = f' CTM="{ctm}"' if ctm else ""
    return (f'<ofd:TextObject ID="{oid}" Boundary="{x} {y} 80 6" Font="1" Size="{size}"{ctm_attr}>'
            f'<ofd:TextCode X="0" Y="{size}"{attrs}>{text}</ofd:TextCode></ofd:TextObject>')


def rule(oid: int, x0: float, y0: float, x1: float, y1: float) -> str:
    bx, by = min(x0, x1), min(y0, y1)
    return (f'<ofd:PathObject ID="{oid}" Boundary="{bx} {by} {abs(x1 - x0) + 0.2} {abs(y1 - y0) + 0.2}" LineWidth="0.2">'
            f"<ofd:AbstractData>M {x0 - bx} {y0 - by} L {x1 - bx} {y1 - by}</ofd:AbstractData></ofd:PathObject>")


def grid(x0: float, y0: float, col_w: list[float], row_h: float, n_rows: int, start_id: int) -> list[str]:
    xs = [x0]
    for w in col_w:
        xs.append(xs[-1] + w)
    ys = [y0 + i * row_h for i in range(n_rows + 1)]
    out = [rule(start_id + i, xs[0], y, xs[-1], y) for i, y in enumerate(ys)]
    out += [rule(start_id + 100 + i, x, ys[0], x, ys[-1]) for i, x in enumerate(xs)]
    return out


def package(path: Path, pages: list[str], *, doc_root: str = "Doc_0/Document.xml", page_loc: str = "Pages/Page_{i}/Content.xml",
            templates: dict[str, str] | None = None, extra: dict[str, bytes] | None = None,
            raw_page: bytes | str | None = None, common_extra: str = "") -> Path:
    tpl_decl = "".join(f'<ofd:TemplatePage ID="{tid}" BaseLoc="Tpl_{tid}.xml"/>' for tid in (templates or {}))
    document = (f'<ofd:Document xmlns:ofd="{NS}"><ofd:CommonData><ofd:MaxUnitID>999</ofd:MaxUnitID>'
                f"<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>{common_extra}{tpl_decl}"
                f"</ofd:CommonData>"
                f"<ofd:Pages>" + "".join(f'<ofd:Page ID="{500 + i}" BaseLoc="{page_loc.format(i=i)}"/>' for i in range(len(pages)))
                + "</ofd:Pages></ofd:Document>")
    ofd = (f'<ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>x</ofd:DocID>'
           f"</ofd:DocInfo><ofd:DocRoot>{doc_root}</ofd:DocRoot></ofd:DocBody></ofd:OFD>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("OFD.xml", ofd)
        zf.writestr("Doc_0/Document.xml", document)
        for i, body in enumerate(pages):
            xml = raw_page if raw_page is not None and i == 0 else f'<ofd:Page xmlns:ofd="{NS}">{body}</ofd:Page>'
            zf.writestr(f"Doc_0/Pages/Page_{i}/Content.xml", xml)
        for tid, body in (templates or {}).items():
            zf.writestr(f"Doc_0/Tpl_{tid}.xml", f'<ofd:Page xmlns:ofd="{NS}"><ofd:Content><ofd:Layer ID="9">{body}'
                                                 "</ofd:Layer></ofd:Content></ofd:Page>")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def layer(*objects: str, template: str = "") -> str:
    tpl = f'<ofd:Template TemplateID="{template}" ZOrder="Background"/>' if template else ""
    return f'{tpl}<ofd:Content><ofd:Layer ID="2">{"".join(objects)}</ofd:Layer></ofd:Content>'


def test_deltax_g_notation():
    assert deltas("g 3 1.5 2") == [1.5, 1.5, 1.5, 2.0]
    assert deltas("3.5 g 2 1.75") == [3.5, 1.75, 1.75]
    assert deltas("") == []


def test_hand_written_table_reads_into_cells(tmp_path):
    # A 3x3 ruled grid (mm) with text placed in its cells as a converter writes it: a whole label in one
    # TextCode with DeltaX (g-notation), numbers in their own objects, the table inside a page block.
    cells = [
        text_object(10, 22, 31, "信息内容", delta="g 3 3.5"), text_object(11, 62, 31, "本年新增"),
        text_object(12, 22, 41, "规章"), text_object(13, 62, 41, "12", delta="1.8"),
        text_object(14, 22, 51, "规范性文件", delta="g 4 3.5"), text_object(15, 62, 51, "1,024", delta="g 4 1.8"),
    ]
    heading = text_object(3, 20, 15, "二、主动公开政府信息情况", delta="g 11 3.5")
    body = layer(heading, "<ofd:PageBlock ID=\"4\">" + "".join(grid(20, 30, [40, 40], 10, 3, 100) + cells)
                 + "</ofd:PageBlock>", template="7")
    footer = text_object(8, 100, 280, "- 1 -", delta="g 4 1.8")
    path = package(tmp_path / "hand.ofd", [body], templates={"7": footer},
                   page_loc="/Doc_0/Pages/Page_{i}/Content.xml")  # an absolute location, from the package root
    doc = read_ofd(path, ReaderOptions())
    blocks = doc.pages[0].blocks
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables) == 1
    rows = [[c.text for c in row] for row in tables[0].rows()]
    assert rows == [["信息内容", "本年新增"], ["规章", "12"], ["规范性文件", "1,024"]]
    lines = [b.text for b in blocks if isinstance(b, Line)]
    assert lines == ["二、主动公开政府信息情况", "- 1 -"]  # the template's footer is read too
    assert isinstance(blocks[0], Line) and blocks[0].text.startswith("二、")  # in page order
    # Boxes are PDF points: 20 mm is 56.7 pt.
    assert tables[0].bbox.x0 == pytest.approx(20 * 72 / 25.4, abs=0.5)


def test_hand_written_turned_table_reads_upright(tmp_path):
    """A CTM turning text a quarter turn (reading bottom to top) is read upright, as in PDF."""
    ccw = "0 -1 1 0 0 0"  # in OFD's y-down space: the text's x axis points up the page
    objs = []
    # Grid on the page: columns are landscape rows. Landscape row r is page x band [20+10r, 30+10r].
    objs += grid(20, 100, [10, 10], 40, 2, 100)  # page: 2 x-bands of 10 mm, 2 y-bands of 40 mm
    # Landscape row 0 (page x 20..30): "规章" in the upper-left landscape cell = page y 140..180 (bottom band).
    objs.append(text_object(10, 27, 175, "规章", ctm=ccw, delta="3.5"))
    objs.append(text_object(11, 27, 135, "45", ctm=ccw, delta="1.8"))
    objs.append(text_object(12, 37, 175, "许可", ctm=ccw, delta="3.5"))
    objs.append(text_object(13, 37, 135, "7", ctm=ccw))
    path = package(tmp_path / "turned.ofd", [layer(*objs)])
    doc = read_ofd(path, ReaderOptions())
    tables = [b for b in doc.pages[0].blocks if isinstance(b, Table)]
    assert len(tables) == 1
    assert [[c.text for c in row] for row in tables[0].rows()] == [["规章", "45"], ["许可", "7"]]


def test_invisible_and_white_paths_are_not_rules(tmp_path):
    white_box = ('<ofd:PathObject ID="50" Boundary="20 30 80 30" Fill="true" Stroke="false"><ofd:FillColor Value="255 255 255"/>'
                 "<ofd:AbstractData>M 0 0 L 80 0 L 80 30 L 0 30 C</ofd:AbstractData></ofd:PathObject>")
    hidden = grid(20, 30, [40, 40], 10, 3, 100)
    hidden = [h.replace("<ofd:PathObject ", '<ofd:PathObject Visible="false" ') for h in hidden]
    texts = [text_object(10, 22, 31, "甲"), text_object(11, 62, 31, "乙")]
    path = package(tmp_path / "w.ofd", [layer(white_box, *hidden, *texts)])
    blocks = read_ofd(path, ReaderOptions()).pages[0].blocks
    assert not any(isinstance(b, Table) for b in blocks)
    assert [b.text for b in blocks] == ["甲\t乙"]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

def read_error(path: Path, options: ReaderOptions | None = None) -> ReadError:
    with pytest.raises(ReadError) as err:
        read_document(path, options)
    return err.value


def test_not_a_zip_with_an_ofd_name(tmp_path):
    path = tmp_path / "x.ofd"
    path.write_bytes(b"<ofd:OFD/>" * 10)
    err = read_error(path)
    assert err.code == "corrupt_file" and "not a zip" in err.message


def test_package_without_ofd_xml_or_document(tmp_path):
    path = tmp_path / "a.ofd"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Doc_0/Document.xml", "<x/>")
    err = read_error(path)
    assert err.code == "corrupt_file" and "OFD.xml" in err.message
    path = package(tmp_path / "b.ofd", [layer()], doc_root="Doc_9/Document.xml")
    err = read_error(path)
    assert err.code == "corrupt_file" and "Doc_9/Document.xml is missing" in err.message


def test_page_that_is_not_xml(tmp_path):
    path = package(tmp_path / "c.ofd", [layer()], raw_page=b"<ofd:Page><unclosed>")
    err = read_error(path)
    assert err.code == "corrupt_file" and "not XML" in err.message


def test_truncated_package(tmp_path):
    path = package(tmp_path / "d.ofd", [layer(text_object(1, 20, 20, "正文"))])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert read_error(path).code == "corrupt_file"


def test_inflation_caps(tmp_path):
    big = layer(text_object(1, 20, 20, "正文")) + "<!--" + " " * 3_000_000 + "-->"
    path = package(tmp_path / "e.ofd", [big])
    err = read_error(path, ReaderOptions(max_part_bytes=1_000_000))
    assert err.code == "too_large" and "per-part limit" in err.message


def test_entities_are_not_expanded(tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "啊啊啊啊啊啊啊啊"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            f'<ofd:Page xmlns:ofd="{NS}"><ofd:Content><ofd:Layer ID="1">'
            '<ofd:TextObject ID="2" Boundary="20 20 80 6" Size="3.5"><ofd:TextCode X="0" Y="3">&b;</ofd:TextCode>'
            "</ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>")
    path = package(tmp_path / "f.ofd", [layer()], raw_page=bomb)
    doc = read_ofd(path, ReaderOptions())
    assert "啊" not in "".join(b.text for b in doc.pages[0].blocks if isinstance(b, Line))


def test_encrypted_ofd_is_unsupported(tmp_path):
    path = package(tmp_path / "g.ofd", [layer()], extra={"Encryptions.xml": b"<ofd:Encryptions/>"})
    err = read_error(path)
    assert err.code == "unsupported_format" and "encrypted" in err.message


def test_too_many_pages(tmp_path):
    path = package(tmp_path / "h.ofd", [layer()] * 3)
    err = read_error(path, ReaderOptions(max_pdf_pages=2))
    assert err.code == "too_many_pages"


def test_pipeline_reports_a_broken_ofd_as_an_error(tmp_path, pipeline):
    path = tmp_path / "i.ofd"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    doc = pipeline.run(path)
    assert doc.error is not None and doc.error.code == "corrupt_file"


def test_invisible_text_layer_is_read_and_hidden_units_are_not(tmp_path):
    """Unfilled text over a scan is its OCR layer (read, as PDF's invisible text is); a unit marked
    Visible="false" is not drawn at all (not read)."""
    image = '<ofd:ImageObject ID="5" Boundary="0 0 210 297" ResourceID="9"/>'
    ocr_layer = text_object(2, 20, 40, "某某县人民政府办公室政府信息公开工作年度报告二〇二三年", delta="g 25 3.5").replace(
        'Size="3.5"', 'Size="3.5" Fill="false"')
    hidden = text_object(3, 20, 60, "不显示").replace("<ofd:TextObject ", '<ofd:TextObject Visible="false" ')
    doc = read_ofd(package(tmp_path / "u.ofd", [layer(image, ocr_layer, hidden)]), ReaderOptions())
    assert [b.text for b in doc.pages[0].blocks] == ["某某县人民政府办公室政府信息公开工作年度报告二〇二三年"]


def test_scanned_ofd_page_needs_ocr(tmp_path):
    image = '<ofd:ImageObject ID="5" Boundary="0 0 210 297" ResourceID="9"/>'
    doc = read_ofd(package(tmp_path / "scan.ofd", [layer(image)]), ReaderOptions())
    page = doc.pages[0]
    assert page.needs_ocr and "no text layer" in page.ocr_reason and not page.blocks


@pytest.mark.parametrize("text_style", TEXT_STYLES)
def test_ofd_reads_like_the_pdf_of_the_same_layout(text_style, tmp_path):
    """Both renders share one layout: whatever text style the converter used (DeltaX runs, one code per
    glyph, a CTM-scaled glyph space), the OFD reader gives the PDF reader's tables and lines."""
    from nianbao.training.factory.render_pdf import render_pdf

    def content(path: Path) -> tuple[list, list]:
        doc = read_document(path)
        blocks = [b for p in doc.pages for b in p.blocks]
        return ([[[c.text for c in row] for row in b.rows()] for b in blocks if isinstance(b, Table)],
                [b.text for b in blocks if isinstance(b, Line)])

    report = build_report(document_seed(9, TEXT_STYLES.index(text_style)))
    render_pdf(report, tmp_path / "r.pdf", np.random.default_rng(1))
    info = render_ofd(report, tmp_path / "r.ofd", np.random.default_rng(1), text_style=text_style)
    assert info.text_style == text_style
    pdf_tables, pdf_lines = content(tmp_path / "r.pdf")
    ofd_tables, ofd_lines = content(tmp_path / "r.ofd")
    assert pdf_tables and ofd_tables == pdf_tables
    assert ofd_lines == pdf_lines


def test_dataset_renders_the_ofd_kind_with_gold_and_aligned_labels(tmp_path):
    from nianbao.training.factory.dataset import available_kinds, make_document

    assert available_kinds(["ofd", "pdf_turned"]) == (["ofd", "pdf_turned"], [])
    (row,) = make_document((0, 4, ("ofd",), str(tmp_path), FactoryOptions()))
    assert row["kind"] == "ofd" and row["path"].endswith(".ofd") and row["aligned"] == 1.0
    assert (tmp_path / row["path"]).is_file() and (tmp_path / row["gold_path"]).is_file()


# ---------------------------------------------------------------------------------------------
# Scanned OFD: page images for the OCR stage
# ---------------------------------------------------------------------------------------------

def scanned_ofd(pdf_path: Path, out: Path, dpi: int = 150) -> Path:
    """An OFD of page images, as scanners and image converters write one: per page an ImageObject
    referring to a MultiMedia resource of DocumentRes, the media files under its BaseLoc."""
    import io

    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    media = []
    for i in range(len(pdf)):
        buf = io.BytesIO()
        pdf[i].render(scale=dpi / 72).to_pil().convert("L").save(buf, "PNG")
        media.append(buf.getvalue())
    pdf.close()
    pages = [f'<ofd:ImageObject ID="{200 + i}" Boundary="0 0 210 297" CTM="210 0 0 297 0 0" ResourceID="{300 + i}"/>'
             for i in range(len(media))]
    res = (f'<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res"><ofd:MultiMedias>'
           + "".join(f'<ofd:MultiMedia ID="{300 + i}" Type="Image" Format="PNG"><ofd:MediaFile>image_{i}.png'
                     "</ofd:MediaFile></ofd:MultiMedia>" for i in range(len(media)))
           + "</ofd:MultiMedias></ofd:Res>")
    return package(out, [layer(p) for p in pages], common_extra="<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>",
                   extra={"Doc_0/DocumentRes.xml": res.encode(),
                          **{f"Doc_0/Res/image_{i}.png": m for i, m in enumerate(media)}})


def test_scanned_ofd_pages_are_drawn_for_ocr(tmp_path):
    from nianbao.inference.ocr.options import OcrOptions
    from nianbao.inference.ocr.stage import page_images
    from nianbao.training.factory.render_pdf import render_pdf

    report = build_report(document_seed(5, 0), FactoryOptions(force=dict(CLEAN)))
    render_pdf(report, tmp_path / "src.pdf", np.random.default_rng(0))
    path = scanned_ofd(tmp_path / "src.pdf", tmp_path / "scan.ofd")
    doc = read_document(path)
    assert doc.format == "ofd" and all(p.needs_ocr for p in doc.pages)
    (image,) = list(page_images(doc, [1], OcrOptions(dpi=100)))
    assert image.unit == "pt" and image.unit_per_px == pytest.approx(72 / 100, rel=0.01)
    assert image.image.shape[:2] == (round(297 / 25.4 * 100), round(210 / 25.4 * 100))
    # The page's ink is the scan's: dark pixels where the title is printed, white margins.
    grey = image.image.mean(axis=2)
    assert grey[:20].min() > 250 and (grey < 128).mean() > 0.005


@pytest.mark.ocr
@pytest.mark.slow
def test_scanned_ofd_extracts_exactly_through_ocr(tmp_path, pipeline):
    from nianbao.training.factory.render_pdf import render_pdf

    report = build_report(document_seed(5, 0))
    render_pdf(report, tmp_path / "src.pdf", np.random.default_rng(0))
    doc = pipeline.run(scanned_ofd(tmp_path / "src.pdf", tmp_path / "scan.ofd"))
    assert doc.error is None and all(p.ocr for p in doc.pages)
    gold = LabelledDocument(id=report.id, document=None, agency=report.agency, year=report.year,
                            template=report.template, found=report.found, values=report.values)
    assert score_document(gold, doc).exact
