"""Scans of issue 13's last kinds: a statutory table split from the bottom of a page onto the next,
and a page photographed with a phone (keystone, desk around it, lighting gradient); the page outline
found and warped flat (inference/ocr/prep.py); the debug picture's legend and captions.

The factory and geometry tests load no model; the two reading tests run the real OCR (marked
``ocr``) on tiny documents: one table over two pages, one photographed page with Table C.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nianbao.inference.ocr import prep
from nianbao.training.factory.build import build_report
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.render_pdf import PdfOptions, render_pdf
from nianbao.training.factory.render_scan import ScanOptions, render_scan
from nianbao.training.factory.synthetic_report import Paragraph, PrintedTable, SyntheticReport

SEED = 12345   # a v2019 report printing all three tables


def tiny_report(table: str, prose: bool = True) -> SyntheticReport:
    """The factory report of SEED cut down to its title, one paragraph, and one table with its heading."""
    r = build_report(SEED, FactoryOptions())
    blocks = list(r.blocks)
    i = next(k for k, b in enumerate(blocks) if isinstance(b, PrintedTable) and b.name == table)
    keep = [blocks[0]] + ([blocks[1]] if prose else []) + [blocks[i - 1], blocks[i]] + \
        [b for b in blocks if isinstance(b, Paragraph) and b.kind in ("signature", "date")]
    values = {k: v for k, v in r.values.items() if k.startswith(table + ".")}
    found = {name: name == table for name in r.found}
    return SyntheticReport(id="tiny", seed=SEED, agency=r.agency, year=r.year, template=r.template, blocks=keep,
                           values=values, found=found)


def _mild() -> ScanOptions:
    return ScanOptions(dpi=200, mode="gray", severity=0.1, faint_digits=0.0, seal=False, bleed=0.0, stroke="normal",
                       specks=5.0, jpeg_quality=88, dark_border=False, resolution_loss=1.0, shadow="none")


# ---------------------------------------------------------------------------------------------
# the factory
# ---------------------------------------------------------------------------------------------

def test_split_table_starts_near_the_bottom_and_continues(tmp_path):
    report = tiny_report("proactive")
    info = render_pdf(report, tmp_path / "split.pdf", np.random.default_rng(1),
                      PdfOptions(split_table=("proactive", 2), repeat_header=True))
    assert next(t for t in info.tables if t["name"] == "proactive")["pages"] == [1, 2]
    on_first = [c for c in info.values if c.page == 1]
    on_second = [c for c in info.values if c.page == 2]
    assert on_first and len(on_second) > len(on_first)
    # The first page's piece is at its bottom: its last value lies in the page's lowest fifth.
    page_h = info.page_size[1]
    assert max(c.cell_bbox[3] for c in on_first) > 0.8 * page_h
    # Table B with its header rows repeated on the next page.
    req = render_pdf(tiny_report("requests"), tmp_path / "req.pdf", np.random.default_rng(1),
                     PdfOptions(split_table=("requests", 1), repeat_header=True))
    t = next(t for t in req.tables if t["name"] == "requests")
    assert t["pages"][:2] == [1, 2] and t["repeated_header_rows"] > 0
    # Without the option the same report keeps the table on one page.
    plain = render_pdf(report, tmp_path / "plain.pdf", np.random.default_rng(1))
    assert next(t for t in plain.tables if t["name"] == "proactive")["pages"] == [1]


def test_phone_photo_has_a_desk_around_a_keystoned_page_and_is_found_again(tmp_path):
    report = tiny_report("appeals", prose=False)
    info = render_pdf(report, tmp_path / "a.pdf", np.random.default_rng(2))
    opts = _mild()
    opts.phone, opts.return_images = True, True
    scan = render_scan(tmp_path / "a.pdf", tmp_path / "photo.pdf", np.random.default_rng(3), opts, boxes=info)
    assert scan.style["phone"] is True
    img = np.asarray(scan.images[0].convert("RGB"))[:, :, ::-1].copy()
    h, w = img.shape[:2]
    # Where the page went: its corners through the page's matrix (points -> pixels).
    m = np.array(scan.pages[0].matrix)
    pw, ph = info.page_size
    corners = np.array([[0, 0, 1], [pw, 0, 1], [pw, ph, 1], [0, ph, 1]], float) @ m.T
    corners = corners[:, :2] / corners[:, 2:]
    assert (corners >= 0).all() and (corners[:, 0] <= w).all() and (corners[:, 1] <= h).all()
    top, bottom = np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[2] - corners[3])
    left, right = np.linalg.norm(corners[3] - corners[0]), np.linalg.norm(corners[2] - corners[1])
    assert abs(top - bottom) / max(top, bottom) > 0.02 or abs(left - right) / max(left, right) > 0.02  # keystone
    # The desk shows in the frame's corners; every value box is carried into the image (none clipped away).
    gray = img.mean(axis=2)
    assert max(gray[:8, :8].mean(), gray[-8:, -8:].mean()) < 0.8 * np.median(gray)
    assert all(v.bbox is not None for v in scan.values)
    # The reader finds the page's outline within a few pixels of where the factory put it.
    quad = prep.find_page_quad(img)
    assert quad is not None
    assert np.abs(quad - corners).max() < 0.02 * max(w, h)
    flat, q = prep.rectify_page(img)
    assert q is not None and abs(flat.shape[0] / flat.shape[1] - prep.A4_RATIO) < 0.02


def test_a_scan_is_not_taken_for_a_photo(tmp_path):
    report = tiny_report("appeals", prose=False)
    info = render_pdf(report, tmp_path / "a.pdf", np.random.default_rng(2))
    for dark_border in (False, True):
        opts = _mild()
        opts.dark_border, opts.rotation, opts.return_images = dark_border, 1.5, True
        scan = render_scan(tmp_path / "a.pdf", tmp_path / "scan.pdf", np.random.default_rng(4), opts, boxes=info)
        img = np.asarray(scan.images[0].convert("RGB"))
        assert prep.find_page_quad(img) is None
        assert prep.rectify_page(img)[1] is None
    # Nor is a photo without a page (a blurred random picture).
    import cv2

    photo = cv2.GaussianBlur(np.random.default_rng(2).integers(0, 255, (900, 1200, 3), dtype=np.uint8), (0, 0), 12)
    assert prep.find_page_quad(photo) is None


def test_scan_traits_are_off_unless_forced():
    from nianbao.training.factory.dataset import _scan_trait

    report = build_report(SEED, FactoryOptions())
    assert not _scan_trait(report, FactoryOptions(), "phone")
    assert _scan_trait(report, FactoryOptions(force={"scan.phone": True}), "phone")
    assert not _scan_trait(report, FactoryOptions(force={"scan.split_table": False}), "split_table")
    shares = [_scan_trait(build_report(s, FactoryOptions()), FactoryOptions(force={"scan.phone": 0.5}), "phone")
              for s in range(1, 21)]
    assert 0 < sum(shares) < 20


# ---------------------------------------------------------------------------------------------
# the debug picture
# ---------------------------------------------------------------------------------------------

def test_debug_picture_has_a_legend_margin_and_tags_apart():
    from nianbao.inference.ocr.debug import GREEN, LEGEND, UNREAD, draw_page, place_tags
    from nianbao.inference.ocr.layout import Layout, LayoutBlock, Rect
    from nianbao.inference.ocr.page import CellDraw, PageResult

    img = np.full((1200, 850, 3), 250, np.uint8)
    cells = [CellDraw(Rect(100 + 100 * c, 300, 200 + 100 * c, 350), conf, text)
             for c, (conf, text) in enumerate([(0.98, "12"), (0.3, "?"), (None, ""), (0.97, "-")])]
    # A model region and a ruled grid at the same place: their captions must not land on each other.
    layout = Layout([LayoutBlock("table", 0.95, Rect(98, 298, 502, 352)),
                     LayoutBlock("table", 1.0, Rect(100, 300, 500, 350), "rules")])
    out = draw_page(PageResult(image=img, layout=layout, cells=cells, info={"rotation": 90}), 2)
    assert out.shape[0] >= img.shape[0] and out.shape[1] > img.shape[1] + 200
    margin = out[:, img.shape[1] + 4:]
    for col in (GREEN, UNREAD):
        assert col in [c for c, _ in LEGEND]
        assert (np.abs(margin.astype(int) - np.array(col)).sum(axis=2) == 0).any(), col
    assert (margin < 100).any()  # the legend's words
    tags = place_tags([(98, 298, 502, 352), (100, 300, 500, 350), (100, 300, 500, 350)], (30, 20), (850, 1200))
    for i in range(len(tags)):
        for j in range(i):
            a, b = tags[i], tags[j]
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


# ---------------------------------------------------------------------------------------------
# reading them (real OCR)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from nianbao.inference.ocr import OcrOptions
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    return Pipeline(PipelineOptions(ocr=OcrOptions(debug_dir=str(tmp_path_factory.mktemp("pictures")))))


def _wrong(report: SyntheticReport, doc) -> list:
    from nianbao.evaluate import same_value

    out = []
    for k, v in report.values.items():
        f = doc.fields.get(k)
        got = f.value if f is not None else None
        if not same_value(v, got):
            out.append((k, v, got, f.confidence if f is not None else None))
    return out


@pytest.mark.ocr
def test_a_table_split_across_scanned_pages_is_read_whole(pipeline, tmp_path):
    report = tiny_report("proactive")
    info = render_pdf(report, tmp_path / "split.pdf", np.random.default_rng(1),
                      PdfOptions(split_table=("proactive", 2), repeat_header=False))
    assert next(t for t in info.tables if t["name"] == "proactive")["pages"] == [1, 2]
    opts = _mild()
    opts.dpi = 150
    render_scan(tmp_path / "split.pdf", tmp_path / "split_scan.pdf", np.random.default_rng(5), opts, boxes=info)
    doc = pipeline.run(tmp_path / "split_scan.pdf")
    assert doc.error is None and doc.found.get("proactive")
    pages = {doc.fields[k].page for k in report.values if k in doc.fields and doc.fields[k].value is not None}
    assert pages == {1, 2}
    wrong = _wrong(report, doc)
    assert not [w for w in wrong if w[2] is not None and (w[3] or 0) >= 0.99], wrong
    assert len(wrong) <= 1, wrong


@pytest.mark.ocr
def test_a_phone_photo_is_flattened_and_read(pipeline, tmp_path):
    report = tiny_report("appeals", prose=False)
    info = render_pdf(report, tmp_path / "a.pdf", np.random.default_rng(2))
    opts = _mild()
    opts.phone = True
    render_scan(tmp_path / "a.pdf", tmp_path / "photo.pdf", np.random.default_rng(3), opts, boxes=info)
    doc = pipeline.run(tmp_path / "photo.pdf")
    assert doc.error is None and doc.found.get("appeals")
    assert doc.pages[0].ocr.get("rectified") is True
    wrong = _wrong(report, doc)
    assert not [w for w in wrong if w[2] is not None and (w[3] or 0) >= 0.99], wrong
    assert len(wrong) <= 1, wrong
    # Its debug picture is written (its layout, page and margin, is checked on a sideways page below).
    pic = Path(doc.pages[0].ocr["picture"])
    assert pic.exists()


@pytest.mark.ocr
def test_a_sideways_page_is_pictured_upright(pipeline, tmp_path):
    import cv2

    report = tiny_report("appeals", prose=False)
    render_pdf(report, tmp_path / "a.pdf", np.random.default_rng(2))
    page = prep.pdf_pages(tmp_path / "a.pdf", [1], 150, 2400).__next__().image
    cv2.imwrite(str(tmp_path / "sideways.png"), cv2.rotate(page, cv2.ROTATE_90_CLOCKWISE))
    doc = pipeline.run(tmp_path / "sideways.png")
    assert doc.pages[0].ocr["rotation"] == 270
    pic = cv2.imread(doc.pages[0].ocr["picture"])
    h, w = page.shape[:2]
    # The picture is the upright page (portrait, as printed) with the margin beside it.
    assert pic.shape[0] >= h - 2 and pic.shape[1] > w
    assert (pic[:h, w + 4:] < 100).any()
