"""Digital PDFs with a table turned a quarter turn on a portrait page (a landscape table in a portrait
document): the reader finds the turned characters by their text matrix and reads the table upright;
the factory renders such PDFs (PdfOptions.turned_tables, dataset kind ``pdf_turned``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pdfplumber
import pytest

from nianbao.document import Table
from nianbao.evaluate import score_document
from nianbao.inference.pipeline import Pipeline
from nianbao.inference.readers import read_document
from nianbao.inference.readers.pdf import CCW, CW, UPRIGHT, Turn, char_direction
from nianbao.labels import LabelledDocument
from nianbao.training.factory.baseline_check import CLEAN
from nianbao.training.factory.build import build_report
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.render_pdf import PdfOptions, in_reading_frame, page_to_frame, render_pdf, turn_to_page
from nianbao.training.factory.rng import document_seed, numpy_stream


def render_turned(seed: int, turn: str, path: Path):
    report = build_report(seed, FactoryOptions(force=dict(CLEAN)))
    info = render_pdf(report, path, numpy_stream(seed, "pdf"), PdfOptions(turned_tables=turn))
    return report, info


def exact(report, path: Path, pipeline: Pipeline) -> bool:
    gold = LabelledDocument(id=report.id, document=None, agency=report.agency, year=report.year,
                            template=report.template, found=report.found, values=report.values)
    return score_document(gold, pipeline.run(path)).exact


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline()


@pytest.mark.parametrize("turn,i", [("ccw", 0), ("cw", 1), ("ccw", 2)])
def test_turned_tables_extract_exactly(turn, i, pipeline, tmp_path):
    path = tmp_path / f"{i}.pdf"
    report, info = render_turned(document_seed(5, i), turn, path)
    assert info.turned_pages and set(info.turned_pages.values()) == {turn}
    with pdfplumber.open(path) as pdf:
        page = pdf.pages[min(info.turned_pages) - 1]
        assert page.width < page.height  # a portrait page...
        directions = {char_direction(c) for c in page.chars}
    assert directions == {CCW if turn == "ccw" else CW}  # ...whose text is turned
    assert exact(report, path, pipeline), (turn, i)


def test_turned_cells_read_where_the_render_put_them(tmp_path):
    """Cell boxes come back in page coordinates: each value reads in the cell at its printed place."""
    path = tmp_path / "t.pdf"
    _, info = render_turned(document_seed(5, 2), "ccw", path)
    doc = read_document(path)
    tables = {p.number: [b for b in p.blocks if isinstance(b, Table)] for p in doc.pages}
    turned_values = [v for v in info.values if v.page in info.turned_pages]
    assert turned_values
    for v in turned_values:
        x = (v.cell_bbox[0] + v.cell_bbox[2]) / 2
        y = (v.cell_bbox[1] + v.cell_bbox[3]) / 2
        hits = [c for t in tables[v.page] for c in t.cells
                if c.bbox and c.bbox.x0 - 0.5 <= x <= c.bbox.x1 + 0.5 and c.bbox.top - 0.5 <= y <= c.bbox.bottom + 0.5]
        assert hits and hits[0].text == v.text, (v.key, v.text, [h.text for h in hits])


def test_without_turning_the_table_reads_as_garbage(tmp_path, monkeypatch):
    """The turn is what makes it read: taking every character as upright loses the values."""
    import nianbao.inference.readers.pdf as pdf_reader

    path = tmp_path / "t.pdf"
    report, _ = render_turned(document_seed(5, 0), "ccw", path)
    monkeypatch.setattr(pdf_reader, "char_direction", lambda ch: UPRIGHT)
    assert not exact(report, path, Pipeline())


def test_upright_pdf_render_is_unchanged_by_the_option(tmp_path):
    report = build_report(document_seed(5, 1), FactoryOptions(force=dict(CLEAN)))
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    render_pdf(report, a, np.random.default_rng(3))
    info = render_pdf(report, b, np.random.default_rng(3), PdfOptions(turned_tables="none"))
    assert a.read_bytes() == b.read_bytes() and info.turned_pages == {}


@pytest.mark.parametrize("turn", ["ccw", "cw"])
def test_turn_boxes_round_trip(turn):
    w, h = 595.0, 842.0
    frame_box = (100.0, 40.0, 180.0, 52.0)  # in the landscape frame (h wide, w high)
    page_box = turn_to_page(frame_box, turn, w, h)
    assert page_to_frame(page_box, turn, w, h) == pytest.approx(frame_box)
    reader = Turn(CCW if turn == "ccw" else CW, w, h)
    assert reader.box(page_box) == pytest.approx(frame_box)  # reader and renderer agree on the turn
    assert reader.back(reader.box(page_box)) == pytest.approx(page_box)


def test_reading_frame_info_orders_turned_pages_like_the_reader(tmp_path):
    path = tmp_path / "t.pdf"
    _, info = render_turned(document_seed(5, 0), "cw", path)
    frame = in_reading_frame(info)
    page = min(info.turned_pages)
    on_page = [ln for ln in info.lines if ln.page == page]
    in_frame = [ln for ln in frame.lines if ln.page == page]
    # A turned page's line boxes are taller than wide on the page, wider than tall in the frame.
    assert all(b.bbox[3] - b.bbox[1] >= b.bbox[2] - b.bbox[0] - 0.01 for b in on_page if len(b.text) > 3 and not b.vertical)
    assert all(b.bbox[2] - b.bbox[0] >= b.bbox[3] - b.bbox[1] - 0.01 for b in in_frame if len(b.text) > 3 and not b.vertical)


def test_dataset_renders_the_pdf_turned_kind_with_aligned_labels(tmp_path):
    from nianbao.training.factory.dataset import make_document

    (row,) = make_document((1, 4, ("pdf_turned",), str(tmp_path), FactoryOptions()))
    assert row["kind"] == "pdf_turned" and row["path"].endswith(".pdf") and row["aligned"] == 1.0
    with pdfplumber.open(tmp_path / row["path"]) as pdf:
        assert any(not c["upright"] for p in pdf.pages for c in p.chars)
