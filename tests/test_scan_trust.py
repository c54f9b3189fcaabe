"""Scans you can trust (issue 13): a blank is 0 only when the page says so, an unread cell is null
and doubted, a failing rule doubts its OCR-read cells, red seals are removed by colour.

No model is loaded: the cell ink measure and the seal mask run on drawn images, the page reader
runs with a stand-in recogniser, and documents are the digital real2_002 with cells marked as read
by OCR (as in test_ocr_units.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nianbao.document import FieldValue, Table
from nianbao.inference.ocr import OcrOptions, prep
from nianbao.inference.ocr.engine import CharReading, LineReading
from nianbao.inference.ocr.layout import Layout, Rect
from nianbao.inference.ocr.page import INK_CELL_SHARE, PageReader, cell_ink
from nianbao.inference.ocr.trust import RULE_DOUBT_CAP
from nianbao.inference.normalize import UNREAD
from nianbao.inference.linearize import linearize
from nianbao.inference.readers import read_document
from nianbao.inference.ocr.prep import PageImage
from test_ocr_units import after_read, as_ocr

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "examples" / "real2_002.pdf"


def _cell(doc, label: str, offset: int = 1):
    for page in doc.pages:
        for b in page.blocks:
            if isinstance(b, Table):
                for row in b.rows():
                    texts = [c.text for c in row]
                    if label in texts:
                        return row[texts.index(label) + offset]
    raise AssertionError(f"row {label} not found")


# ---------------------------------------------------------------------------------------------
# the ink of a cell
# ---------------------------------------------------------------------------------------------

def _cell_image(draw=None, size=(120, 50)) -> np.ndarray:
    """A grey cell with its rules already painted out (white), something drawn in it."""
    img = np.full((size[1], size[0]), 250, np.uint8)
    if draw:
        draw(img)
    return img


def _digit(level: int, thickness: int = 2):
    import cv2

    return lambda img: cv2.putText(img, "5", (50, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.0, level, thickness)


def test_cell_ink_tells_clean_cells_from_printed_ones():
    rect, em = Rect(0, 0, 120, 50), 28.0
    rng = np.random.default_rng(0)
    clean = _cell_image()
    assert cell_ink(clean, rect, em).share < INK_CELL_SHARE and cell_ink(clean, rect, em).box is None
    # Sensor noise and a few dust specks are not print.
    noisy = np.clip(clean.astype(np.int16) + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8)
    noisy[20, 30] = noisy[33, 90] = 30
    noisy[38:44, 100:106] = 40      # a round speck of dust, 6 px
    assert cell_ink(noisy, rect, em).share < INK_CELL_SHARE
    # What is left of a rule right at the cell's edge is not print.
    edge = clean.copy()
    edge[:, 0:2] = 40
    assert cell_ink(edge, rect, em).share < INK_CELL_SHARE
    # A digit, a faint digit, a '-' placeholder: print.
    for draw in (_digit(20), _digit(170, 1)):
        ink = cell_ink(_cell_image(draw), rect, em)
        assert ink.share >= INK_CELL_SHARE and ink.box is not None and 40 <= ink.box.x0 < ink.box.x1 <= 80
    dash = _cell_image(lambda img: img.__setitem__((slice(24, 27), slice(50, 66)), 30))
    assert cell_ink(dash, rect, em).share >= INK_CELL_SHARE and cell_ink(dash, rect, em).dash
    assert not cell_ink(_cell_image(_digit(20)), rect, em).dash
    two = _cell_image(lambda img: [img.__setitem__((slice(24, 27), slice(x, x + 14)), 30) for x in (30, 70)])
    assert not cell_ink(two, rect, em).dash


# ---------------------------------------------------------------------------------------------
# the page reader with a recogniser that reads nothing (a faint or broken digit)
# ---------------------------------------------------------------------------------------------

class SilentEngine:
    """Reads nothing in any crop, except (``on_retry``) in the crops of the second pass."""

    def __init__(self, on_retry: str = ""):
        self.calls: list[int] = []
        self.on_retry = on_retry

    def recognize(self, crops):
        self.calls.append(len(crops))
        if self.on_retry and len(self.calls) > 1:
            return [LineReading(self.on_retry, [CharReading(ch, 0.97) for ch in self.on_retry]) for _ in crops]
        return [LineReading("") for _ in crops]

    def detect(self, image):
        return []


def _empty_ruled_page() -> tuple[np.ndarray, list[int]]:
    """A white page with a 3x5 ruled table, labels in column 0 (a page needs text to have an em);
    the rows' top rules."""
    import cv2

    img = np.full((400, 700, 3), 255, np.uint8)
    xs, ys = [40, 240, 340, 440, 540, 640], [60, 110, 160, 210]
    for x in xs:
        cv2.line(img, (x, ys[0]), (x, ys[-1]), (0, 0, 0), 2)
    for y in ys:
        cv2.line(img, (xs[0], y), (xs[-1], y), (0, 0, 0), 2)
    for r in range(3):
        cv2.putText(img, "Label", (55, ys[r] + 35), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    return img, ys


def _ruled_page() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The 3x5 ruled table: row 1 holds a digit in column 1, a '-' in column 2, a faint digit in
    column 3 and nothing in column 4."""
    import cv2

    img, ys = _empty_ruled_page()
    cv2.putText(img, "7", (280, ys[1] + 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    cv2.line(img, (380, ys[1] + 25), (400, ys[1] + 25), (0, 0, 0), 3)
    cv2.putText(img, "3", (480, ys[1] + 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (175, 175, 175), 1)
    # Row 2, column 3: two short scratches far apart (dust, a rule's remnant): ink, but no digit.
    cv2.line(img, (455, ys[2] + 14), (468, ys[2] + 15), (0, 0, 0), 2)
    cv2.line(img, (512, ys[2] + 36), (525, ys[2] + 35), (0, 0, 0), 2)
    return img, [(1, 1), (1, 2), (1, 3), (1, 4)]


def _read(engine) -> Table:
    class NoLayout:
        def __call__(self, image, threshold=0.5):
            return Layout()

    opts = OcrOptions(orientation=False, deskew=False, title_share=0.0)
    img, _ = _ruled_page()
    result = PageReader(engine, NoLayout(), opts).read(PageImage(1, img, 1.0, "px"), read_title=False)
    tables = [b for b in result.blocks if isinstance(b, Table)]
    assert len(tables) == 1
    return tables[0]


def test_a_cell_with_ink_and_no_reading_is_retried_then_unread_and_a_clean_cell_is_blank():
    engine = SilentEngine()
    table = _read(engine)
    by_pos = {(c.row, c.col): c for c in table.cells}
    # Digit, faint digit: ink the recogniser could not read -> unread, never a printed empty.
    for pos in ((1, 1), (1, 3)):
        assert by_pos[pos].unread and by_pos[pos].text == "" and by_pos[pos].confidence < 0.5, pos
    # One short horizontal stroke is the '-' placeholder by its shape.
    assert by_pos[(1, 2)].text == "-" and not by_pos[(1, 2)].unread and by_pos[(1, 2)].confidence > 0.9
    # The clean cell is a printed empty cell.
    assert not by_pos[(1, 4)].unread and by_pos[(1, 4)].text == "" and by_pos[(1, 4)].confidence > 0.9
    # Ink of which no piece is half a digit high, still unread after the retry: no number is
    # printed there; the cell is empty, a little less sure than a clean one.
    from nianbao.inference.ocr.page import SPECK_CONFIDENCE

    specks = by_pos[(2, 3)]
    assert not specks.unread and specks.text == "" and specks.confidence == SPECK_CONFIDENCE
    # The unread cells were read a second time (two scales each), after the first pass.
    assert len(engine.calls) == 2 and engine.calls[1] >= 3 * 2


def test_a_retry_that_reads_the_cell_gives_it_its_text():
    table = _read(SilentEngine(on_retry="3"))
    by_pos = {(c.row, c.col): c for c in table.cells}
    assert by_pos[(1, 3)].text == "3" and not by_pos[(1, 3)].unread
    assert by_pos[(1, 4)].text == ""   # a clean cell is not read again


# ---------------------------------------------------------------------------------------------
# an unread cell in the document: null, a reason, doubted, queued for review
# ---------------------------------------------------------------------------------------------

def test_an_unread_cell_is_null_doubted_and_queued_never_a_confident_zero():
    doc = as_ocr(read_document(REAL))
    cell = _cell(doc, "（一）予以公开")
    assert cell.text == "50"
    cell.text, cell.confidence, cell.unread = "", 0.0, True
    doc = after_read(doc)
    assert UNREAD in doc.linear.raw
    f = doc.fields["requests.granted.natural"]
    assert f.value is None and f.confidence < 0.5 and "unread" in f.reason and f.source == "ocr"
    assert f.page == 3 and f.bbox is not None          # the app shows its crop
    assert doc.review.needed and any("unread" in r for r in doc.review.reasons)
    # The row's other cells keep their places (an unread cell is a cell, not a lost one).
    assert doc.fields["requests.granted.total"].value == 50


def test_a_clean_empty_cell_is_still_a_printed_zero():
    doc = as_ocr(read_document(REAL))
    cell = _cell(doc, "（一）予以公开", offset=2)
    assert cell.text == "0"
    cell.text, cell.confidence = "", 0.97          # printed empty, no ink: not unread
    doc = after_read(doc)
    f = doc.fields["requests.granted.commercial"]
    assert f.value == 0 and f.confidence > 0.9


def test_unread_marker_becomes_an_unread_chunk():
    doc = as_ocr(read_document(REAL))
    cell = _cell(doc, "（一）予以公开")
    cell.text, cell.unread = "", True
    lin = linearize(doc)
    seg = next(s for s in lin.segments if s.text == UNREAD)
    assert seg.from_grid and seg.source == "ocr"
    from nianbao.inference.locate import read_chunks

    start = lin.raw.index("（一）予以公开")
    chunks = read_chunks(lin, start, start + 200, max_values=7)
    assert [c.kind for c in chunks][:2] == ["unread", "number"]


# ---------------------------------------------------------------------------------------------
# a failing rule doubts each of its OCR-read cells
# ---------------------------------------------------------------------------------------------

def test_each_ocr_cell_of_a_failing_rule_drops_below_0_9():
    doc = as_ocr(read_document(REAL))
    cell = _cell(doc, "（一）予以公开")
    cell.text, cell.confidence, cell.alternatives = "58", 0.995, []   # a clear misreading of 50
    doc = after_read(doc)
    failed = [c for c in doc.checks if not c.passed and c.rule == "R1"]
    assert failed
    for key in failed[0].cells:
        f = doc.fields[key]
        if f.value is not None:
            assert f.confidence <= RULE_DOUBT_CAP < 0.9, key
            assert "fails on numbers read by OCR" in f.reason
    # A cell outside the failing rule keeps its confidence.
    assert doc.fields["requests.new.natural"].confidence > 0.9


def test_a_failing_rule_on_a_text_layer_leaves_its_cells_confident():
    doc = read_document(REAL)
    _cell(doc, "（一）予以公开").text = "58"
    doc = after_read(doc)
    assert any(not c.passed and c.rule == "R1" for c in doc.checks)
    assert doc.fields["requests.granted.total"].confidence > 0.9


# ---------------------------------------------------------------------------------------------
# red seals removed by colour
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seal_bgr", [(45, 35, 215), (40, 110, 235), (90, 90, 200)])
def test_a_red_or_orange_seal_is_not_ink_and_print_under_it_is(seal_bgr):
    import cv2

    img = np.full((300, 400, 3), 255, np.uint8)
    cv2.putText(img, "8", (180, 170), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    seal = np.zeros((300, 400), np.float32)
    cv2.circle(seal, (200, 150), 90, 1.0, 6)
    cv2.circle(seal, (200, 150), 40, 1.0, 5)   # a ring right over the digit
    colour = np.array(seal_bgr, np.float32) / 255.0
    stamped = (img.astype(np.float32) * (1.0 - seal[..., None] * (1.0 - colour))).astype(np.uint8)
    gray = prep.normalize_background(prep.to_gray(stamped))
    binary = prep.binarize(gray)
    outer_ring = np.zeros_like(seal, dtype=bool)
    cv2.circle(outer_ring.view(np.uint8), (200, 150), 90, 1, 6)
    assert np.count_nonzero(binary[outer_ring]) < 0.02 * np.count_nonzero(outer_ring)
    digit = np.zeros((300, 400), np.uint8)
    cv2.putText(digit, "8", (180, 170), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 255, 3)
    assert np.count_nonzero(binary[digit > 0]) > 0.8 * np.count_nonzero(digit)


def test_a_lone_stroke_read_as_yi_is_the_dash_placeholder():
    from nianbao.inference.ocr.page import cell_text

    def reading(text, p=0.6):
        return LineReading(text, [CharReading(ch, p) for ch in text])

    ct = cell_text([reading("一")], OcrOptions())
    assert ct.text == "-" and ct.confidence == pytest.approx(0.6) and "placeholder" in ct.note
    assert cell_text([reading("一、本年新收", 0.99)], OcrOptions()).text == "一、本年新收"


# ---------------------------------------------------------------------------------------------
# the factory's scans: faint and broken digits
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_digital(tmp_path_factory):
    from nianbao.training.factory.render_pdf import render_pdf
    from test_factory_pdf_scan import FIXED, small_report, small_table

    path = tmp_path_factory.mktemp("faint") / "digital.pdf"
    info = render_pdf(small_report(small_table()), path, np.random.default_rng(7), FIXED)
    return path, info


def _value_contrast(scan) -> list[float]:
    out = []
    for sv in scan.values:
        if sv.bbox is None:
            continue
        img = np.asarray(scan.images[sv.page - 1].convert("L"), dtype=np.float32)
        x0, top, x1, bottom = (int(v) for v in sv.bbox)
        out.append(float(np.median(img)) - float(img[top:bottom + 1, x0:x1 + 1].min()))
    return out


def test_factory_scan_prints_faint_and_broken_digits_on_request_and_stays_reproducible(tmp_path, small_digital):
    from nianbao.training.factory.render_scan import ScanOptions, render_scan

    path, info = small_digital
    opts = dict(dpi=150, mode="gray", seal=False, noise=2.0, blur=0.3, jpeg_quality=92, resolution_loss=1.0,
                bleed=0.0, return_images=True)
    plain = render_scan(path, tmp_path / "plain.pdf", np.random.default_rng(5), ScanOptions(faint_digits=0.0, **opts),
                        boxes=info)
    faint = render_scan(path, tmp_path / "faint.pdf", np.random.default_rng(5), ScanOptions(faint_digits=1.0, **opts),
                        boxes=info)
    render_scan(path, tmp_path / "again.pdf", np.random.default_rng(5), ScanOptions(faint_digits=1.0, **opts),
                boxes=info)
    assert (tmp_path / "faint.pdf").read_bytes() == (tmp_path / "again.pdf").read_bytes()
    assert plain.style["faint_values"] == [] and len(faint.style["faint_values"]) == sum(
        1 for v in info.values if v.bbox is not None)
    before, after = _value_contrast(plain), _value_contrast(faint)
    assert len(before) == len(after) > 5
    # Every printed value lost contrast (faint) or strokes (broken): on average much lighter.
    assert np.mean(after) < 0.8 * np.mean(before)
    # The page's geometry is the main stream's: value boxes land where they did without faint digits.
    assert [v.bbox for v in plain.values] == [v.bbox for v in faint.values]


def test_a_value_cell_read_as_no_value_is_unread_and_a_label_is_left_alone():
    from nianbao.inference.ocr import structure
    from nianbao.inference.ocr.page import table_from_grid, unreadable_value_cells

    row = [(2, 0, "四、结转下年度继续办理"), (2, 1, "88"), (2, 2, "="), (2, 3, "-"), (2, 4, "US"), (2, 5, "88")]
    header = [(1, 0, "项目"), (1, 1, "自然人"), (1, 2, "其他"), (1, 3, "总计")]
    assert unreadable_value_cells(header + row) == [len(header) + 2, len(header) + 4]
    # A header row, a label, a long text in a value column: not values, not unread.
    assert unreadable_value_cells(header) == []
    assert unreadable_value_cells([(0, 0, "行政复议结果维持"), (0, 1, "3"), (0, 2, "4"), (0, 3, "本机关不掌握相关信息")]) == []
    # Short labels of data rows ("规章 2 3 47", a group's "3.其他" row) are labels.
    assert unreadable_value_cells([(0, 0, "规章"), (0, 1, "2"), (0, 2, "3"), (0, 3, "47")]) == []
    assert unreadable_value_cells([(5, 1, "3.其他"), (5, 2, "1"), (5, 3, "-"), (5, 4, "=")]) == [3]
    # In a table: the garbled cells are unread (null later), the others keep their readings.

    def reading(text):
        return LineReading(text, [CharReading(ch, 0.95) for ch in text])

    grid = structure.Grid(rect=Rect(0, 0, 600, 40), xs=[0, 200, 280, 360, 440, 520, 600], ys=[0, 40])
    cells = [(structure.GridCell(0, col, 1, 1, Rect(grid.xs[col], 0, grid.xs[col + 1], 40)), [reading(text)])
             for _r, col, text in row]
    table = table_from_grid(grid, cells, OcrOptions(), None, page=1)
    assert [c.unread for c in table.cells] == [False, False, True, False, True, False]
    assert [c.text for c in table.cells] == ["四、结转下年度继续办理", "88", "", "-", "", "88"]
    # Junk read where the ink measure found the cell clean (specks read as characters): printed
    # empty, a little less sure than a clean cell; with ink (or not measured) it stays unread.
    from nianbao.inference.ocr.page import SPECK_CONFIDENCE

    table = table_from_grid(grid, cells, OcrOptions(), None, page=1, inked=[None, None, False, None, True, None])
    assert [c.unread for c in table.cells] == [False, False, False, False, True, False]
    assert table.cells[2].text == "" and table.cells[2].confidence == SPECK_CONFIDENCE


def test_specks_beside_a_placeholder_are_dropped():
    from nianbao.inference.ocr.page import cell_text

    ct = cell_text([LineReading(",-", [CharReading(",", 0.4), CharReading("-", 0.9)])], OcrOptions())
    assert ct.text == "-" and ct.confidence == pytest.approx(0.9 * 0.9)


def test_a_stroke_after_a_number_is_dropped_and_a_leading_minus_is_kept():
    from nianbao.inference.ocr.page import cell_text

    ct = cell_text([LineReading("2一", [CharReading("2", 0.95), CharReading("一", 0.9)])], OcrOptions())
    assert ct.text == "2" and ct.confidence < 0.95 and "dropped" in ct.note
    ct = cell_text([LineReading("-5", [CharReading("-", 0.95), CharReading("5", 0.95)])], OcrOptions())
    assert ct.text == "-5"


def test_a_short_junk_reading_takes_the_digit_the_recogniser_weighed_at_its_own_probability():
    from nianbao.inference.ocr.page import cell_text

    ct = cell_text([LineReading("G", [CharReading("G", 0.89, [("0", 0.085), ("O", 0.01)])])], OcrOptions())
    assert ct.text == "0" and ct.confidence == pytest.approx(0.085)
    # No digit weighed (or too little), or a Chinese text: left as read.
    assert cell_text([LineReading("m", [CharReading("m", 0.9, [("n", 0.05)])])], OcrOptions()).text == "m"
    assert cell_text([LineReading("=", [CharReading("=", 0.9, [("0", 0.01)])])], OcrOptions()).text == "="
    assert cell_text([LineReading("规章", [CharReading("规", 0.9, [("0", 0.05)]), CharReading("章", 0.9, [("0", 0.05)])])],
                     OcrOptions()).text == "规章"


def test_a_stroke_read_as_two_is_the_dash_and_a_look_alike_of_wu_is_wu():
    from nianbao.inference.ocr.page import cell_text

    def reading(text, p=0.6):
        return LineReading(text, [CharReading(ch, p) for ch in text])

    for text in ("一一", "-一", "—-", "--"):
        assert cell_text([reading(text)], OcrOptions()).text == "-", text
    ct = cell_text([reading("天")], OcrOptions())
    assert ct.text == "无" and ct.confidence < 0.6
    # Labels and longer texts are left alone.
    assert cell_text([reading("一二")], OcrOptions()).text == "一二"
    assert cell_text([reading("天津")], OcrOptions()).text == "天津"


def test_in_a_row_of_numbers_without_a_label_every_cell_is_a_value():
    from nianbao.inference.ocr.page import unreadable_value_cells

    row_c = [(3, c, t) for c, t in enumerate(["=", "=", "-", "-", "2", "m", "-"])]
    assert unreadable_value_cells(row_c) == [0, 1, 5]


def test_a_tiny_faint_dash_with_a_speck_beside_it_is_still_a_dash():
    rect, em = Rect(0, 0, 120, 50), 27.0

    def draw(img):
        img[24:28, 55:61] = 120     # a 6x4 dash, faint
        img[10:12, 20:22] = 60      # dust
    ink = cell_ink(_cell_image(draw), rect, em)
    assert ink.share >= INK_CELL_SHARE and ink.dash



def test_a_small_faint_hyphen_the_recogniser_doubts_is_a_dash_by_its_own_contrast():
    import cv2
    from nianbao.inference.ocr.page import dash_stroke

    rect, em = Rect(0, 0, 120, 50), 31.0

    def hyphen(img):
        img[24:28, 55:61] = 160     # a 6x4 hyphen, light (blurred to a roundish blob)
    img = cv2.GaussianBlur(_cell_image(hyphen), (3, 3), 0)
    assert not cell_ink(img, rect, em).dash          # too small and round for the ink measure alone
    assert dash_stroke(img, rect, em) is not None
    # A digit, two strokes ("="), a stroke with other print beside it: no dash.
    assert dash_stroke(_cell_image(_digit(60)), rect, em) is None

    def equals(img):
        img[20:23, 50:62] = 60
        img[28:31, 50:62] = 60
    assert dash_stroke(_cell_image(equals), rect, em) is None

    def dash_and_digit(img):
        img[24:27, 30:42] = 60
        _digit(60)(img)
    assert dash_stroke(_cell_image(dash_and_digit), rect, em) is None
    assert dash_stroke(_cell_image(), rect, em) is None

# ---------------------------------------------------------------------------------------------
# a table printed a quarter turn
# ---------------------------------------------------------------------------------------------

class WidthEngine:
    """Stands in for the recogniser: a crop reads as one confident character per line height of
    its width, so a long line reads as a long text and a character on its own as one."""

    def recognize(self, crops):
        out = []
        for c in crops:
            h, w = c.shape[:2]
            k = max(1, int(w / max(h, 1)))
            out.append(LineReading("x" * k, [CharReading("x", 0.99) for _ in range(k)]))
        return out

    def detect(self, image):
        return []


def _table_page() -> np.ndarray:
    import cv2

    img = np.full((600, 900, 3), 255, np.uint8)
    xs, ys = [40, 440, 540, 640, 740, 840], [60, 120, 180, 240, 300]
    for x in xs:
        cv2.line(img, (x, ys[0]), (x, ys[-1]), (0, 0, 0), 2)
    for y in ys:
        cv2.line(img, (xs[0], y), (xs[-1], y), (0, 0, 0), 2)
    for r in range(4):
        cv2.putText(img, "Label of a row", (55, ys[r] + 42), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
        for c in range(1, 5):
            cv2.putText(img, str(r + c), (xs[c] + 40, ys[r] + 42), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    return img


@pytest.mark.parametrize("turned", [0, 1, 3])
def test_a_table_printed_a_quarter_turn_is_read_upright(turned):
    class NoLayout:
        def __call__(self, image, threshold=0.5):
            return Layout()

    import cv2

    # The table turned on a page whose own text is upright (a heading, a page number): the page
    # test reads that text well, and only the table's labels tell.
    img = np.ascontiguousarray(prep.rotate_quarter(_table_page(), turned))
    canvas = np.full((img.shape[0] + 80, max(img.shape[1], 700), 3), 255, np.uint8)
    canvas[80:, :img.shape[1]] = img
    cv2.putText(canvas, "An upright heading line", (40, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    img = canvas
    reader = PageReader(WidthEngine(), NoLayout(), OcrOptions(deskew=False, title_share=0.0))
    result = reader.read(PageImage(1, img, 1.0, "px"), read_title=False)
    tables = [b for b in result.blocks if isinstance(b, Table)]
    assert len(tables) == 1 and (tables[0].n_rows, tables[0].n_cols) == (4, 5)
    # Its text runs across again (which of the two quarter turns is the recogniser's to say: this
    # stand-in reads both the same).
    assert (result.info["rotation"] // 90 + turned) % 2 == 0


# ---------------------------------------------------------------------------------------------
# the rules re-rank readings of uncertain cells
# ---------------------------------------------------------------------------------------------

def test_reading_options_are_look_alikes_and_dropped_specks_without_leading_zeros():
    from nianbao.inference.ocr.trust import reading_options

    opts = reading_options("58")
    assert "50" in opts and "53" in opts and "5" in opts and "8" in opts
    assert "58" not in opts
    assert all(not (len(o) > 1 and o[0] == "0") for o in reading_options("10"))
    # The recogniser's own candidates come first.
    assert reading_options("7", [("1", 0.2)])[0] == "1"
    # A sign may be a stroke before the number.
    assert reading_options("-1")[0] == "1"


def test_a_failing_rule_rereads_an_uncertain_cell_and_the_choice_stays_doubted():
    from nianbao.inference.ocr.trust import RERANK_CONFIDENCE

    doc = as_ocr(read_document(REAL))
    cell = _cell(doc, "（一）予以公开")
    gold = float(cell.text)
    misread = cell.text.replace("0", "8", 1) if "0" in cell.text else None
    assert misread, "the row's natural cell prints a 0 in the fixture"
    cell.text, cell.confidence, cell.alternatives = misread, 0.93, []   # an uncertain look-alike misreading
    doc = after_read(doc)
    f = doc.fields["requests.granted.natural"]
    assert f.value == gold
    assert f.confidence <= RERANK_CONFIDENCE < 0.9
    assert float(misread) in f.alternatives and "look-alike" in f.reason
    assert all(c.passed for c in doc.checks if c.rule in ("R1", "R2", "R3"))
    assert doc.review.needed


def test_a_clear_reading_is_never_changed_by_the_rules():
    doc = as_ocr(read_document(REAL))
    cell = _cell(doc, "（一）予以公开")
    misread = cell.text.replace("0", "8", 1)
    cell.text, cell.confidence, cell.alternatives = misread, 0.995, []
    doc = after_read(doc)
    assert doc.fields["requests.granted.natural"].value == float(misread)
    assert any(not c.passed and c.rule == "R1" for c in doc.checks)


def _appeals_doc(texts: dict[str, tuple[str, float]]):
    """A document with Table C's review group read by OCR: key suffix -> (text, cell probability)."""
    from nianbao.document import BBox, Cell, Document, FieldValue, Page
    from nianbao.inference import reconcile

    doc = Document(source="x")
    doc.template, doc.found = "v2021", {"appeals": True}
    cells = []
    for i, (part, (text, p)) in enumerate(texts.items()):
        box = BBox(10 * i, 0, 10 * i + 9, 9)
        cells.append(Cell(text=text, row=0, col=i, bbox=box, confidence=p, source="ocr"))
        doc.fields[f"appeals.review.{part}"] = FieldValue(value=float(text), raw=text, confidence=0.98 * p, page=1,
                                                          bbox=box, source="ocr")
    doc.pages = [Page(number=1, blocks=[Table(cells=cells, page=1)])]
    doc.checks = reconcile.run_checks(doc.values(), doc.template, doc.found)
    return doc


def test_two_readings_that_both_fit_the_rules_change_nothing():
    from nianbao.inference.ocr.trust import rerank_by_rules

    # 3 + 0 + 0 + 0 vs total 8: the total may be a 3, or the 3 an 8; both cells uncertain.
    doc = _appeals_doc({"upheld": ("3", 0.9), "corrected": ("0", 0.99), "other": ("0", 0.99),
                        "pending": ("0", 0.99), "total": ("8", 0.9)})
    assert any(not c.passed and c.rule == "R4" for c in doc.checks)
    assert rerank_by_rules(doc) == []
    assert doc.fields["appeals.review.upheld"].value == 3 and doc.fields["appeals.review.total"].value == 8
    # The total read clearly: only the uncertain 3 can change, and only to 8.
    doc = _appeals_doc({"upheld": ("3", 0.9), "corrected": ("0", 0.99), "other": ("0", 0.99),
                        "pending": ("0", 0.99), "total": ("8", 0.995)})
    changes = rerank_by_rules(doc)
    assert [(c.key, c.old, c.new) for c in changes] == [("appeals.review.upheld", 3, 8)]
    assert doc.fields["appeals.review.upheld"].confidence < 0.9


def test_a_rule_that_holds_corroborates_the_one_uncertain_reading_it_pins_down():
    from nianbao.inference.ocr.trust import CORROBORATED_CONFIDENCE, corroborate_by_rules

    clear = ("0", 0.995)
    doc = _appeals_doc({"upheld": ("3", 0.6), "corrected": clear, "other": clear, "pending": clear,
                        "total": ("3", 0.995)})
    assert all(c.passed for c in doc.checks)
    assert corroborate_by_rules(doc) == ["appeals.review.upheld"]
    f = doc.fields["appeals.review.upheld"]
    assert f.confidence == CORROBORATED_CONFIDENCE < 0.98 and "R4 holds" in f.reason
    # Two uncertain cells in the rule: it pins neither (one misreading could offset the other).
    doc = _appeals_doc({"upheld": ("3", 0.6), "corrected": clear, "other": clear, "pending": clear,
                        "total": ("3", 0.6)})
    assert corroborate_by_rules(doc) == []
    assert doc.fields["appeals.review.upheld"].confidence < 0.9
    # A failing rule corroborates nothing; a value the rules chose among candidates is left doubted.
    doc = _appeals_doc({"upheld": ("3", 0.6), "corrected": clear, "other": clear, "pending": clear,
                        "total": ("4", 0.995)})
    assert corroborate_by_rules(doc) == []
    doc = _appeals_doc({"upheld": ("3", 0.6), "corrected": clear, "other": clear, "pending": clear,
                        "total": ("3", 0.995)})
    doc.fields["appeals.review.upheld"].alternatives = [8]
    assert corroborate_by_rules(doc) == []
    # A cell whose value the decoder assumed (no reading placed in it: no source, doubted) is not
    # a trusted part of the rule: the rule pins nothing.
    doc = _appeals_doc({"upheld": ("3", 0.6), "corrected": clear, "other": clear, "pending": clear,
                        "total": ("3", 0.995)})
    doc.fields["appeals.review.pending"] = FieldValue(value=0, raw=None, confidence=0.8, reason="assumed")
    assert corroborate_by_rules(doc) == []


# ---------------------------------------------------------------------------------------------
# a hyphen the recogniser takes for a digit; Table C's value row by structure; noise read as digits
# ---------------------------------------------------------------------------------------------

class ConstEngine:
    """Reads every crop as ``text`` at probability ``p`` (a recogniser that takes a hyphen for '8')."""

    def __init__(self, text: str, p: float):
        self.text, self.p = text, p

    def recognize(self, crops):
        return [LineReading(self.text, [CharReading(ch, self.p) for ch in self.text]) for _ in crops]

    def detect(self, image):
        return []


def test_a_flat_stroke_read_as_a_doubted_digit_is_the_dash_and_a_clear_or_tall_reading_is_kept():
    from nianbao.inference.ocr.page import DASH_OVER_DIGIT_CONFIDENCE

    by_pos = {(c.row, c.col): c for c in _read(ConstEngine("8", 0.3)).cells}
    # Row 1, column 2 prints one short flat stroke in the cell's middle: no digit has that shape.
    dash = by_pos[(1, 2)]
    assert dash.text == "-" and dash.confidence == pytest.approx(DASH_OVER_DIGIT_CONFIDENCE) and DASH_OVER_DIGIT_CONFIDENCE < 0.98
    # The printed 7 (tall ink) keeps the recogniser's reading, doubted as it was.
    assert by_pos[(1, 1)].text == "8" and by_pos[(1, 1)].confidence < 0.5
    # A clear reading is never overruled by the shape.
    assert {(c.row, c.col): c for c in _read(ConstEngine("8", 0.99)).cells}[(1, 2)].text == "8"


def _grid_lin(rows: list[list[tuple[str, float]]]):
    """A LinearText of one grid: rows of (cell text, cell width in points)."""
    from nianbao.document import BBox, Segment
    from nianbao.inference.linearize import LinearText
    from nianbao.inference.normalize import NormText

    segments, starts, pos = [], [], 0
    for r, row in enumerate(rows):
        x = 0.0
        for text, width in row:
            segments.append(Segment(text=text, bbox=BBox(x, 20.0 * r, x + width, 20.0 * r + 18), from_grid=True,
                                    grid_row=(0, r), source="ocr", confidence=0.9))
            starts.append(pos)
            pos += len(text) + 1
            x += width
    raw = "\n".join(s.text for s in segments)
    return LinearText(text=NormText.build(raw), segments=segments, starts=starts)


def test_table_c_values_come_from_the_grid_row_of_values_not_from_digits_in_header_cells():
    from nianbao.inference.locate import grid_value_row

    header = [("行政复议", 150), ("1", 30), ("行政诉讼", 300)]   # a seal's stroke read as '1' in a header cell
    words = [(w, 30) for w in ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")] * 3
    values = [(v, 30) for v in ("0", "0", "2", "0", "2", "-", "-", "-", "-", "-", "0", "0", "0", "0", "0")]
    lin = _grid_lin([header, words, values])
    chunks = grid_value_row(lin, 0, len(lin.raw), 15)
    assert [c.raw for c in chunks] == [v for v, _ in values]
    # A sliver the seal's ring cut off beside the table is dropped; a wide extra cell is not.
    lin = _grid_lin([header, words, values + [("专", 8)]])
    assert [c.raw for c in grid_value_row(lin, 0, len(lin.raw), 15)] == [v for v, _ in values]
    assert grid_value_row(_grid_lin([header, words, values + [("9", 30)]]), 0, 10_000, 15) is None
    # An empty cell beside the table, of a width no value cell has: dropped; of a value cell's width,
    # dropped where the other end prints a value, kept (no row by structure) where both ends are empty.
    from nianbao.inference.normalize import BLANK

    lin = _grid_lin([header, words, values + [(BLANK, 40)]])
    assert [c.raw for c in grid_value_row(lin, 0, len(lin.raw), 15)] == [v for v, _ in values]
    lin = _grid_lin([header, words, [(BLANK, 31)] + values])
    assert [c.raw for c in grid_value_row(lin, 0, len(lin.raw), 15)] == [v for v, _ in values]
    both = [(BLANK, 30)] + values[1:] + [(BLANK, 31)]
    assert grid_value_row(_grid_lin([header, words, both]), 0, 10_000, 15) is None
    # Text among the values (a seal's characters read in a value cell): the cell is unread, the row
    # stays by structure; more than three such cells and it is no row of values.
    from nianbao.inference.normalize import UNREAD

    broken = values[:10] + [("场盟", 30)] + values[11:]
    chunks = grid_value_row(_grid_lin([header, words, broken]), 0, 10_000, 15)
    assert [c.raw for c in chunks] == [v for v, _ in values[:10]] + [UNREAD] + [v for v, _ in values[11:]]
    assert chunks[10].kind == "unread"
    words_row = [("结果", 30)] * 4 + values[4:]
    assert grid_value_row(_grid_lin([header, words, words_row]), 0, 10_000, 15) is None
    # The '-' placeholder with a seal's characters and strokes read around it: the placeholder, doubted.
    sealed = values[:11] + [("一文公", 30)] + values[12:]
    chunks = grid_value_row(_grid_lin([header, words, sealed]), 0, 10_000, 15)
    assert chunks[11].raw == "-" and chunks[11].kind == "placeholder" and chunks[11].segment.confidence <= 0.5
    # A digit among them is the cell's number ("一'1", "r 0 r"), doubted: no placeholder.
    for junk, number in (("一'1", "1"), ("r 0 r", "0")):
        stroked = values[:11] + [(junk, 30)] + values[12:]
        chunk = grid_value_row(_grid_lin([header, words, stroked]), 0, 10_000, 15)[11]
        assert chunk.raw == number and chunk.kind == "number" and chunk.segment.confidence <= 0.5
    # Two numbers in one cell: no value to take, the cell is unread.
    doubled = values[:11] + [("1 a 2", 30)] + values[12:]
    assert grid_value_row(_grid_lin([header, words, doubled]), 0, 10_000, 15)[11].kind == "unread"
    # A stroke of a seal's character before a cell's number: the number, doubted.
    stamped = values[:12] + [("可0", 30)] + values[13:]
    chunks = grid_value_row(_grid_lin([header, words, stamped]), 0, 10_000, 15)
    assert [c.raw for c in chunks] == [v for v, _ in values]
    assert chunks[12].segment.confidence <= 0.5 and chunks[11].segment.confidence == 0.9


def test_independent_failing_rules_are_settled_apart_and_a_noise_reading_may_be_an_empty_cell():
    from nianbao.inference.ocr.trust import RERANK_CONFIDENCE, rerank_by_rules
    from nianbao.document import BBox, Cell
    from nianbao.inference import reconcile

    clear = ("0", 0.995)
    doc = _appeals_doc({"upheld": ("7", 0.2), "corrected": clear, "other": clear, "pending": clear, "total": clear})
    # A second group, litigation_direct, breaks its own rule with its own low-probability reading.
    table = doc.pages[0].blocks[0]
    for i, (part, (text, p)) in enumerate({"upheld": clear, "corrected": ("4", 0.3), "other": clear,
                                           "pending": clear, "total": clear}.items()):
        box = BBox(100 + 10 * i, 0, 109 + 10 * i, 9)
        table.cells.append(Cell(text=text, row=0, col=5 + i, bbox=box, confidence=p, source="ocr"))
        doc.fields[f"appeals.litigation_direct.{part}"] = FieldValue(value=float(text), raw=text, confidence=0.98 * p,
                                                                      page=1, bbox=box, source="ocr")
    doc.checks = reconcile.run_checks(doc.values(), doc.template, doc.found)
    assert sum(1 for c in doc.checks if not c.passed and c.rule == "R4") == 2
    changes = sorted((c.key, c.new) for c in rerank_by_rules(doc))
    assert changes == [("appeals.litigation_direct.corrected", 0), ("appeals.review.upheld", 0)]
    f = doc.fields["appeals.review.upheld"]
    assert f.confidence <= RERANK_CONFIDENCE and 7 in f.alternatives and "no number" in f.reason
    # A reading above the noise level keeps its digit candidates only: 7 is no look-alike of 0.
    doc = _appeals_doc({"upheld": ("7", 0.8), "corrected": clear, "other": clear, "pending": clear, "total": clear})
    assert rerank_by_rules(doc) == []


# ---------------------------------------------------------------------------------------------
# a seal in grey: found by its ring, taken out by its level, the table's rules under it kept
# ---------------------------------------------------------------------------------------------

def _grey_seal_page(seal_level: float = 0.55):
    """A page at 8 px/mm: a ruled table (thin, light rules), a digit in one cell, and a grey seal
    (ring of radius 20 mm, a solid star, a bar of rim text) stamped over them by multiplication."""
    import cv2

    mm = 8.0
    page = np.full((900, 900), 235, np.uint8)
    for x in range(100, 801, 100):
        cv2.line(page, (x, 300), (x, 600), 120, 2)
    for y in range(300, 601, 60):
        cv2.line(page, (100, y), (800, y), 120, 2)
    cv2.putText(page, "7", (535, 528), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 30, 3)
    seal = np.zeros(page.shape, np.float32)
    centre, r = (450, 440), int(20 * mm)
    cv2.circle(seal, centre, r, 1.0, int(1.0 * mm))
    star = np.array([[450, 380], [465, 425], [510, 425], [473, 450], [487, 495], [450, 468], [413, 495],
                     [427, 450], [390, 425], [435, 425]], np.int32)
    cv2.fillPoly(seal, [star], 1.0)
    cv2.rectangle(seal, (330, 340), (372, 352), 1.0, -1)    # a stroke of the rim's characters
    stamped = page.astype(np.float32) * (1.0 - seal * (1.0 - seal_level))
    bgr = cv2.cvtColor(cv2.GaussianBlur(stamped, (3, 3), 0).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    return bgr, mm, centre, r


def test_a_grey_seal_is_found_by_its_ring_and_taken_out_by_level_keeping_rules_and_print():
    import cv2

    bgr, mm, (cx, cy), r = _grey_seal_page()
    seals = prep.find_seals(bgr, mm)
    assert len(seals) == 1 and abs(seals[0].cx - cx) < 1.5 * mm and abs(seals[0].cy - cy) < 1.5 * mm
    assert abs(seals[0].r - r) < 2 * mm
    gray = prep.normalize_background(prep.to_gray(bgr))
    unsealed = gray.copy()
    assert prep.drop_seal(gray, unsealed, seals[0], mm) and seals[0].grey
    binary = prep.binarize(gray)
    ring = np.zeros(gray.shape, np.uint8)
    cv2.circle(ring, (cx, cy), r, 1, int(mm))
    ring[:, [x + dx for x in range(100, 801, 100) for dx in range(-5, 6)]] = 0   # less the rules it crosses (and their crossings)
    ring[[y + dy for y in range(300, 601, 60) for dy in range(-5, 6)], :] = 0
    assert np.count_nonzero(binary[ring > 0]) < 0.05 * np.count_nonzero(ring)
    assert np.count_nonzero(binary[427:447, 440:460]) < 0.1 * 400   # the star's body
    # The digit under the seal is print (darker than the seal: the inks multiply).
    assert np.count_nonzero(binary[496:530, 534:562]) > 60
    # The rules inside the disc are kept, ready for the grid.
    assert np.count_nonzero(binary[418:422, 300:400]) > 0.8 * 100
    assert np.count_nonzero(binary[330:400, 399:402]) > 0.8 * 70


def test_a_page_without_a_seal_has_none_and_a_table_alone_is_not_a_seal():
    import cv2

    bgr, mm, _c, _r = _grey_seal_page(seal_level=1.0)   # nothing stamped
    assert prep.find_seals(bgr, mm) == []


def test_rules_broken_inside_a_seal_are_bridged_there_only():
    from nianbao.inference.ocr import structure

    binary = np.zeros((300, 600), np.uint8)
    binary[100:102, 20:580] = 255
    binary[100:102, 250:330] = 0          # a break under the seal
    binary[200:202, 20:580] = 255
    binary[200:202, 450:520] = 0          # a break outside it: a merged cell, kept
    masks = structure.line_masks(binary, 20.0)
    disc = np.zeros(binary.shape, bool)
    disc[50:160, 230:350] = True
    structure.bridge_rules(masks, [disc], 20.0)
    assert np.all(masks.horizontal[100, 250:330] > 0)
    assert not np.any(masks.horizontal[200, 455:515] > 0)


def test_a_blank_cell_a_grey_seal_covered_is_doubted_and_one_far_from_it_is_not():
    import cv2
    from nianbao.inference.ocr.page import BLANK_CONFIDENCE, SEAL_BLANK_CONFIDENCE

    class NoLayout:
        def __call__(self, image, threshold=0.5):
            return Layout()

    bgr, mm, (cx, cy), r = _grey_seal_page()
    for y in range(300, 600, 60):   # labels in the first column (a page needs text to have an em)
        cv2.putText(bgr, "Lab", (110, y + 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    opts = OcrOptions(orientation=False, deskew=False, title_share=0.0)
    result = PageReader(SilentEngine(), NoLayout(), opts).read(PageImage(1, bgr, 1.0, "px", dpi=mm * 25.4),
                                                             read_title=False)
    assert result.info["seals"] and result.info["seals"][0]["grey"]
    table = next(b for b in result.blocks if isinstance(b, Table))
    assert (table.n_rows, table.n_cols) == (5, 7)   # the seal's ring made no rule, hid none
    blank = [c for c in table.cells if not c.text and not c.unread and c.col > 0]
    near = [c for c in blank if c.col in (3, 4) and c.row in (1, 2)]      # under the star and the ring's top
    far = [c for c in blank if c.col == 6 and c.row == 4]
    assert near and all(c.confidence <= SEAL_BLANK_CONFIDENCE for c in near)
    assert far and all(c.confidence == pytest.approx(BLANK_CONFIDENCE) for c in far)


def test_a_slash_placeholder_read_as_one_is_the_slash_and_an_upright_one_stays():
    import cv2
    from nianbao.inference.ocr.page import slash_stroke

    em = 30.0
    rect = Rect(0, 0, 120, 50)

    def cell(draw):
        img = np.full((50, 120), 235, np.uint8)
        draw(img)
        return cv2.GaussianBlur(img, (3, 3), 0)

    slash = cell(lambda im: cv2.line(im, (52, 40), (66, 10), 40, 2))
    assert slash_stroke(slash, rect, em) is not None
    one = cell(lambda im: cv2.putText(im, "1", (50, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 40, 2))
    assert slash_stroke(one, rect, em) is None
    upright = cell(lambda im: cv2.line(im, (60, 40), (61, 10), 40, 2))
    assert slash_stroke(upright, rect, em) is None
    backslash = cell(lambda im: cv2.line(im, (52, 10), (66, 40), 40, 2))
    assert slash_stroke(backslash, rect, em) is None
    seven = cell(lambda im: cv2.putText(im, "7", (50, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 40, 2))
    assert slash_stroke(seven, rect, em) is None
    # In the page reader: a '/' cell the recogniser reads as a clear '1' is the placeholder.
    img, ys = _empty_ruled_page()
    cv2.line(img, (285, ys[1] + 36), (295, ys[1] + 14), (0, 0, 0), 2)     # '/' in row 1, column 1
    cv2.putText(img, "1", (380, ys[1] + 38), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)   # a 1 in column 2

    class NoLayout:
        def __call__(self, image, threshold=0.5):
            return Layout()

    opts = OcrOptions(orientation=False, deskew=False, title_share=0.0)
    result = PageReader(ConstEngine("1", 0.99), NoLayout(), opts).read(PageImage(1, img, 1.0, "px"), read_title=False)
    table = next(b for b in result.blocks if isinstance(b, Table))
    by_pos = {(c.row, c.col): c for c in table.cells}
    assert by_pos[(1, 1)].text == "/" and by_pos[(1, 1)].confidence < 0.98
    assert by_pos[(1, 2)].text == "1"


# ---------------------------------------------------------------------------------------------
# broken strokes, one-row strips, junk beside a placeholder, broken zeros, specks read as digits
# ---------------------------------------------------------------------------------------------

def test_a_slash_the_scan_broke_in_two_is_still_the_slash_and_a_one_is_not():
    import cv2
    from nianbao.inference.ocr.page import slash_stroke

    em, rect = 23.0, Rect(0, 0, 140, 48)

    def cell(draw):
        img = np.full((48, 140), 235, np.uint8)
        draw(img)
        return img

    def broken(im):
        cv2.line(im, (70, 12), (67, 21), 60, 2)     # the top half of a '/' leaning 18 degrees
        cv2.line(im, (66, 24), (63, 33), 60, 2)     # the bottom half, two pixels below
        im[30, 110] = 90                            # dust elsewhere in the cell

    assert slash_stroke(cell(broken), rect, em) is not None
    one = cell(lambda im: cv2.putText(im, "1", (60, 33), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 40, 2))
    assert slash_stroke(one, rect, em) is None
    # The lower part of a '/' whose top the scan lost (a third of an em): still the slash; upright, not.
    assert slash_stroke(cell(lambda im: cv2.line(im, (68, 26), (65, 34), 60, 2)), rect, em) is not None
    assert slash_stroke(cell(lambda im: cv2.line(im, (66, 26), (66, 34), 60, 2)), rect, em) is None


def test_a_one_row_ruled_strip_is_a_table_and_a_boxed_heading_is_not():
    import cv2
    from nianbao.inference.ocr import structure

    def page(n_cells: int) -> np.ndarray:
        img = np.zeros((300, 900), np.uint8)
        # A strip 46 px high: shorter than the rules a page of 40 px text usually has (1.3 em).
        x0, x1, y0, y1 = 40, 840, 100, 146
        cv2.line(img, (x0, y0), (x1, y0), 255, 2)
        cv2.line(img, (x0, y1), (x1, y1), 255, 2)
        for x in np.linspace(x0, x1, n_cells + 1):
            cv2.line(img, (int(x), y0), (int(x), y1), 255, 2)
        return img

    grids = structure.find_grids(page(8), 40.0)
    assert len(grids) == 1 and grids[0].n_rows == 1 and grids[0].n_cols == 8
    assert structure.find_grids(page(1), 40.0) == []     # a heading in a box
    assert structure.find_grids(page(3), 40.0) == []     # too few cells to tell from a framed line
    # A character's stroke between two rules that touches neither, or only one of them, is no rule.
    for top, bottom in ((108, 138), (100, 136), (106, 146)):
        img = page(1)
        cv2.line(img, (400, top), (400, bottom), 255, 2)
        assert structure.find_grids(img, 40.0) == []


def test_a_placeholder_with_a_stray_character_in_a_value_cell_is_the_placeholder_doubted():
    from nianbao.inference.ocr import structure
    from nianbao.inference.ocr.page import JUNK_PLACEHOLDER_CONFIDENCE, placeholder_with_junk, table_from_grid

    assert placeholder_with_junk("由无") == "无" and placeholder_with_junk("无 :") == "无"
    assert placeholder_with_junk("中-") == "-" and placeholder_with_junk("/a") == "/"
    assert placeholder_with_junk("无法提供") is None and placeholder_with_junk("无1") is None
    assert placeholder_with_junk("-无") is None   # two placeholders: which one?
    assert placeholder_with_junk("无") is None   # the placeholder itself needs no mending

    def reading(text):
        return LineReading(text, [CharReading(ch, 0.95) for ch in text])

    row = ["4.保护第三方合法权益", "3", "无", "无", "由无", "无", "3"]
    grid = structure.Grid(rect=Rect(0, 0, 700, 40), xs=[0, 200, 280, 360, 440, 520, 600, 700], ys=[0, 40])
    cells = [(structure.GridCell(0, col, 1, 1, Rect(grid.xs[col], 0, grid.xs[col + 1], 40)), [reading(text)])
             for col, text in enumerate(row)]
    table = table_from_grid(grid, cells, OcrOptions(), None, page=1)
    assert [c.text for c in table.cells] == ["4.保护第三方合法权益", "3", "无", "无", "无", "无", "3"]
    assert table.cells[4].confidence <= JUNK_PLACEHOLDER_CONFIDENCE and not table.cells[4].unread
    # A number with a stray character beside it ("0中", "一31"): the number, doubted.
    from nianbao.inference.ocr.page import JUNK_NUMBER_CONFIDENCE, number_with_junk

    assert number_with_junk("0中") == "0" and number_with_junk("一31") == "31" and number_with_junk("3 1") is None
    assert number_with_junk("1a2") is None and number_with_junk("规章") is None and number_with_junk("12") is None
    junk = [(structure.GridCell(0, col, 1, 1, c.rect), [reading("0中" if col == 2 else t)])
            for col, ((c, _r), t) in enumerate(zip(cells, row))]
    cell = table_from_grid(grid, junk, OcrOptions(), None, page=1).cells[2]
    assert cell.text == "0" and cell.confidence <= JUNK_NUMBER_CONFIDENCE
    # In a label column, a short text with 无 is left as read.
    label = [(structure.GridCell(0, 0, 1, 1, Rect(0, 0, 200, 40)), [reading("无法")])] + cells[1:]
    assert table_from_grid(grid, label, OcrOptions(), None, page=1).cells[0].text == "无法"


def test_a_lone_open_ring_is_a_broken_zero_doubted_and_other_junk_is_not():
    from nianbao.inference.ocr.page import BROKEN_ZERO_CONFIDENCE, cell_text

    ct = cell_text([LineReading("C", [CharReading("C", 0.97)])], OcrOptions())
    assert ct.text == "0" and ct.confidence == BROKEN_ZERO_CONFIDENCE and "broken 0" in ct.note
    assert cell_text([LineReading("U", [CharReading("U", 0.4)])], OcrOptions()).confidence == pytest.approx(0.4)
    assert cell_text([LineReading("CC", [CharReading("C", 0.9), CharReading("C", 0.9)])], OcrOptions()).text == "CC"
    assert cell_text([LineReading("m", [CharReading("m", 0.9)])], OcrOptions()).text == "m"


def test_a_digit_read_from_a_speck_beside_a_zero_is_dropped_by_the_ink():
    import cv2
    from nianbao.inference.ocr.page import SPECK_DIGIT_CONFIDENCE, _Crop, digit_pieces, kept_on_ink

    em, rect = 28.0, Rect(0, 0, 120, 50)
    img = np.full((50, 120), 245, np.uint8)
    cv2.putText(img, "0", (50, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 30, 2)
    cv2.circle(img, (80, 33), 2, 40, -1)                      # a speck after the 0, read as '4'
    pieces = digit_pieces(img, rect, em)
    assert len(pieces) == 1 and pieces[0][0] < 70 < 75 < 80
    # The crop spans x 40..90 (the line 46..84 with 6 px margins): '0' centred at 60, '4' at 80.
    crop = _Crop(0, Rect(46, 10, 84, 40), np.zeros((40, 50), np.uint8))
    reading = LineReading("04", [CharReading("0", 0.97, [], 0.3, 0.5), CharReading("4", 0.9, [], 0.75, 0.85)])
    kept = kept_on_ink(reading, crop, pieces, 0.15 * em)
    assert kept is not None and kept.text == "0" and kept.chars[0].prob == SPECK_DIGIT_CONFIDENCE
    # Both characters on ink of a digit's height ('0' and '4' printed): nothing dropped.
    img2 = img.copy()
    cv2.putText(img2, "4", (72, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 30, 2)
    assert kept_on_ink(reading, crop, digit_pieces(img2, rect, em), 0.15 * em) is None


def test_a_speck_under_a_digit_is_not_read_as_a_line_of_the_cell():
    import cv2

    img, ys = _empty_ruled_page()
    cv2.putText(img, "0", (280, ys[1] + 36), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    cv2.circle(img, (272, ys[1] + 44), 2, (0, 0, 0), -1)        # a speck under the 0, on a line of its own

    class ShapeEngine:
        """Reads a crop of a digit's height as '0', anything smaller as '4' (a speck read as a digit)."""

        def recognize(self, crops):
            return [LineReading(t, [CharReading(t, 0.95)]) for t in ("0" if c.shape[0] >= 26 else "4" for c in crops)]

        def detect(self, image):
            return []

    class NoLayout:
        def __call__(self, image, threshold=0.5):
            return Layout()

    opts = OcrOptions(orientation=False, deskew=False, title_share=0.0)
    result = PageReader(ShapeEngine(), NoLayout(), opts).read(PageImage(1, img, 1.0, "px"), read_title=False)
    table = next(b for b in result.blocks if isinstance(b, Table))
    assert {(c.row, c.col): c.text for c in table.cells}[(1, 1)] == "0"


def test_the_rules_search_weighs_first_the_changes_that_touch_every_failing_rule():
    from nianbao.inference.ocr import trust

    # 24 uncertain cells with 4 readings each; two rules fail, each over its own 12 cells, and only
    # changing cell a3 to 0 and cell b7 to 0 makes both hold: too many pairs to weigh them all.
    keys = [f"a{i}" for i in range(12)] + [f"b{i}" for i in range(12)]
    options = {k: [(v, "look-alike") for v in (0, 6, 8, 9)] for k in keys}
    answer = {"a3": 0, "b7": 0}
    verdict = lambda changed: ["R1", "R1"] if changed == answer else None
    rules = [{f"a{i}" for i in range(12)}, {f"b{i}" for i in range(12)}]
    assert trust._search(keys, options, verdict) is None            # the budget runs out first
    assert trust._search(keys, options, verdict, rules) == (answer, ["R1", "R1"])
    # Where no change touching every failing rule fits, a change of one rule's cells still may.
    one = {"a3": 0}
    assert trust._search(keys[:5], options, lambda c: ["R1"] if c == one else None, rules) == (one, ["R1"])


def _value_table(missing_lines=(), broken_in_values=()) -> np.ndarray:
    """A binary page: a table of 15 columns 60 px wide (a header row, a row of values), its column
    rules at ``missing_lines`` gone top to bottom and those at ``broken_in_values`` gone in the
    value row only (what a seal's ring takes)."""
    import cv2

    img = np.zeros((400, 1100), np.uint8)
    xs = [100 + 60 * i for i in range(16)]
    ys = [100, 150, 200]
    for y in ys:
        cv2.line(img, (xs[0], y), (xs[-1], y), 255, 2)
    for i, x in enumerate(xs):
        if i in missing_lines:
            continue
        cv2.line(img, (x, ys[0]), (x, ys[1] if i in broken_in_values else ys[-1]), 255, 2)
    return img


def test_a_cell_a_seal_merged_in_a_row_of_single_cells_is_split_again():
    from nianbao.inference.ocr import structure

    em = 30.0
    img = _value_table(missing_lines=(6, 11))
    yy, xx = np.ogrid[0:img.shape[0], 0:img.shape[1]]
    sealed = (xx - 560) ** 2 + (yy - 150) ** 2 <= 190 ** 2
    grid = structure.find_grids(img, em)[0]
    assert grid.n_cols == 13
    assert structure.split_sealed_cells(grid, sealed) == 2
    assert grid.n_cols == 15 and [c.colspan for c in grid.cells if c.row == 1] == [1] * 15
    # Away from a seal, a double-width cell is a merged cell.
    grid = structure.find_grids(img, em)[0]
    assert structure.split_sealed_cells(grid, np.zeros_like(sealed)) == 0 and grid.n_cols == 13
    # A column rule broken under the seal in the value row only: the cells stay apart there.
    img = _value_table(broken_in_values=(7,))
    assert sum(1 for c in structure.find_grids(img, em)[0].cells if c.row == 1) == 14
    assert sum(1 for c in structure.find_grids(img, em, sealed=sealed)[0].cells if c.row == 1) == 15


def test_a_speck_read_as_any_symbol_beside_a_number_is_dropped_and_a_bracket_is_not_a_speck():
    from nianbao.inference.ocr.page import cell_text

    def read(text):
        return cell_text([LineReading(text, [CharReading(ch, 0.95) for ch in text])], OcrOptions())

    ct = read("296 ★")
    assert ct.text == "296" and ct.confidence < 0.95 and "specks" in ct.note
    assert read("°7").text == "7" and read("-5").text == "-5"
    assert read("(3)").text == "(3)"


def test_strokes_and_dots_read_after_a_label_are_dropped_and_a_label_ending_in_yi_is_kept():
    from nianbao.inference.ocr.page import cell_text

    def read(text):
        return cell_text([LineReading(text, [CharReading(ch, 0.95) for ch in text])], OcrOptions())

    ct = read("行政许可—-—……-")
    assert ct.text == "行政许可" and "dropped" in ct.note
    assert read("(七)总计——").text == "(七)总计"
    assert read("统一").text == "统一" and read("-").text == "-" and read("--").text == "-"


def test_a_faint_digit_in_a_clean_looking_cell_is_read_again_and_doubted_and_a_faint_stroke_is_no_one():
    import cv2
    from nianbao.inference.ocr.page import FAINT_DIGIT_CONFIDENCE, faint_digits

    em, rect = 28.0, Rect(0, 0, 120, 50)
    faint = _cell_image(lambda img: cv2.putText(img, "5", (50, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 222, 2))
    assert cell_ink(faint, rect, em).share < INK_CELL_SHARE        # too light for the ink measure
    assert faint_digits(faint, rect, em) is not None
    assert faint_digits(_cell_image(), rect, em) is None
    assert faint_digits(_cell_image(lambda img: cv2.circle(img, (60, 25), 2, 222, -1)), rect, em) is None

    class NoLayout:
        def __call__(self, image, threshold=0.5):
            return Layout()

    def page(text_drawn):
        img, ys = _empty_ruled_page()
        text_drawn(img, ys)
        return PageImage(1, img, 1.0, "px")

    def dotted(draw):
        # Print the toner starved: the strokes only every other pixel, too broken for the binary
        # image to hold a piece of text, a faint stroke once the cell is lightly blurred.
        def paint(img, ys):
            ink = np.full(img.shape[:2], 255, np.uint8)
            draw(ink, ys)
            yy, xx = np.indices(ink.shape)
            holes = (yy % 2 == 1) | (xx % 2 == 1)   # one pixel in four, none touching another
            img[(ink < 128) & ~holes] = 150
        return paint

    opts = OcrOptions(orientation=False, deskew=False, title_share=0.0)
    five = page(dotted(lambda ink, ys: cv2.putText(ink, "5", (280, ys[1] + 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 3)))
    table = next(b for b in PageReader(ConstEngine("5", 0.99), NoLayout(), opts).read(five, read_title=False).blocks
                 if isinstance(b, Table))
    cell = {(c.row, c.col): c for c in table.cells}[(1, 1)]
    assert cell.text == "5" and cell.confidence <= FAINT_DIGIT_CONFIDENCE
    # One faint upright stroke read as '1': no faint 1, the cell prints no value.
    stroke = page(dotted(lambda ink, ys: cv2.line(ink, (290, ys[1] + 18), (290, ys[1] + 36), 0, 3)))
    table = next(b for b in PageReader(ConstEngine("1", 0.99), NoLayout(), opts).read(stroke, read_title=False).blocks
                 if isinstance(b, Table))
    cell = {(c.row, c.col): c for c in table.cells}[(1, 1)]
    assert cell.text == "" and not cell.unread and cell.confidence < 0.97
