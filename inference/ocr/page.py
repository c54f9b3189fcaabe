"""Reading one scanned page into the document model: Line and Table blocks with OCR confidences.

    prepare (grey, background, orientation, skew) -> layout (CDLA + ruled grids)
      -> tables: cells from rules (or text boxes), recognition on cell crops, digits re-read
      -> text: only the title zone of the first OCR page and the headings above tables

Boxes of the produced blocks are in the page's units (PDF points for PDF pages, pixels for image
files), in the upright, deskewed frame of the page.
"""
from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from nianbao.document import BBox, Block, Cell, Line, Table

from . import prep, structure
from ..normalize import PLACEHOLDER_MARKS
from .engine import CharReading, LineReading, OcrEngine
from .layout import Layout, LayoutBlock, LayoutModel, Rect
from .lexicon import Lexicon, default_lexicon
from .options import OcrOptions
from .prep import PageImage

BLANK_CONFIDENCE = 0.97   # a cell with no ink at all: printed empty (a faint digit could be lost)
# A cell whose inner area (rules and a margin inside them left out) holds less ink than this share
# is clean: printed empty. More ink and no reading is an unread cell, never a printed empty (0).
INK_CELL_SHARE = 0.004
INK_CONTRAST = 45          # grey levels below the cell's paper that count as ink (after a light blur)
# A cell whose ink is one short horizontal stroke, read as '-' or as nothing/no value: the '-'
# placeholder, as sure as its shape (the recogniser often doubts a lone dash, or calls it "=").
DASH_CONFIDENCE = 0.97
# A centred flat stroke the recogniser read as a digit at low probability: the shape says '-' (no
# digit is one stroke 0.3 em high), against the recogniser, so not above the doubt line.
DASH_OVER_DIGIT_CONFIDENCE = 0.9
# A short reading with a character below this probability may be overruled by the ink's shape.
SHAPE_OVERRULES = 0.97
# A blank or placeholder cell a grey seal covered (its strokes taken out by level): doubted.
SEAL_BLANK_CONFIDENCE = 0.85
# A value cell read as a placeholder with a stray character beside it: doubted.
JUNK_PLACEHOLDER_CONFIDENCE = 0.8
# A value cell read as a number with a stray character or two beside it: doubted.
JUNK_NUMBER_CONFIDENCE = 0.5
# A cell whose ink the recogniser cannot read and whose every piece of ink is shorter than this
# share of the em (half a digit's height) holds specks or a stroke, not a number: printed empty.
SPECK_HEIGHT = 0.35
SPECK_CONFIDENCE = 0.93
SPECK_DOT = 0.3   # a line of ink no larger than this (em) either way, beside a line of text: a speck
# OCR confusions of digits, applied only when the whole cell then reads as a number.
_DIGIT_LIKE = str.maketrans({"O": "0", "o": "0", "〇": "0", "Ｏ": "0", "D": "0", "Q": "0",
                             "l": "1", "I": "1", "|": "1", "丨": "1", "i": "1", "！": "1", "!": "1",
                             "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8", "g": "9"})
_NUMBER_TEXT = re.compile(r"^[-−]?\d[\d,]*(?:\.\d+)?(?:万元|元)?$")
_PLACEHOLDER = re.compile(r"^(?:[-—－/／]+|无)$")
_DASH_AS_ONE = re.compile(r"^[一–_~～]$")
# One stroke read as two or three ("一一", "-一", "—-"): the '-' placeholder too.
_DASH_RUN = re.compile(r"^[-—－一–_~～]{2,3}$")
# A lone open ring: a 0 that lost a side to a faint or broken scan (read as a value, doubted).
_BROKEN_ZERO = set("CcUuＣ∪")
BROKEN_ZERO_CONFIDENCE = 0.5
# Chinese text followed by strokes and dots only (not 一, a character of its own): a label with a
# rule's remnant or leader dots after it.
_TRAILING_STROKES = re.compile(r"^(.*[\u4e00-\u9fff）)])[-—－–_~～…·.。,，:：]{2,}$")
# Characters the recogniser takes for the placeholder 无 (no cell of the tables prints them alone).
_WU_LIKE = set("天元尤旡兀")
_DIGITS = set("0123456789")
# Specks and dust read as punctuation at the ends of a number ("* 0", "2776 ·", "0."): not print.
_SPECK_CHARS = "*·•+'`\"、。，,.:;：；°^~_|‘’“”"


@dataclass
class CellDraw:
    rect: Rect
    confidence: Optional[float]
    text: str


@dataclass
class PageResult:
    """What reading a page produced: blocks for the document, and what a picture needs."""

    blocks: list[Block] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    image: Optional[np.ndarray] = None          # the prepared (upright, deskewed) page, BGR
    layout: Layout = field(default_factory=Layout)
    cells: list[CellDraw] = field(default_factory=list)
    lines: list[CellDraw] = field(default_factory=list)


@dataclass
class PreparedPage:
    """A page made ready to read: upright, deskewed (and rectified, for a photo)."""

    image: np.ndarray            # colour (BGR)
    gray: np.ndarray             # normalised grey, a grey seal's strokes taken out
    binary: np.ndarray
    em: float                    # the page's text height, pixels
    info: dict[str, Any]         # what was done (rotation, skew, seals, ...)
    seals: list[prep.Seal] = field(default_factory=list)
    # Where a grey seal's strokes were taken out by level (a blank there is doubted).
    seal_ink: Optional[np.ndarray] = None


@dataclass
class _Crop:
    owner: int           # index of the cell or text item the crop belongs to
    rect: Rect           # where the crop's text is on the page (pixels)
    image: np.ndarray
    scale: float = 1.0   # image pixels per page pixel


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3000 <= o <= 0x9FFF or 0xFF00 <= o <= 0xFFEF


def _join(texts: Sequence[str]) -> str:
    out = ""
    for t in texts:
        t = t.strip()
        if not t:
            continue
        if out and not (_is_cjk(out[-1]) or _is_cjk(t[0])):
            out += " "
        out += t
    return out


# ---------------------------------------------------------------------------------------------
# Readings of a cell: text, confidence, candidate readings
# ---------------------------------------------------------------------------------------------

@dataclass
class CellText:
    text: str
    confidence: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    note: Optional[str] = None


def cell_text(readings: Sequence[LineReading], options: OcrOptions) -> CellText:
    """A cell's text from its line readings; a number keeps candidate readings of uncertain digits.

    Candidates: every character read with probability below ``uncertain_char`` whose rival digits
    reach ``alternative_min_prob`` is varied (at most the two least certain characters); each
    candidate's probability is the product of its characters' probabilities, normalised over the
    candidates. The cell's own text is the most probable reading; its confidence is the product of
    its characters' probabilities.
    """
    chars = [c for r in readings for c in r.chars]
    raw = _join([r.text for r in readings])
    if not chars:
        return CellText(text="", confidence=0.0 if readings else BLANK_CONFIDENCE)
    confidence = float(math.prod(c.prob for c in chars))
    compact = re.sub(r"\s+", "", raw)
    note = None
    if _DASH_AS_ONE.match(compact):
        # A cell that is one short stroke: the '-' placeholder, which the recogniser often names 一
        # (no cell of the statutory tables prints 一 alone).
        return CellText(text="-", confidence=confidence, note=f"OCR read '{compact}', taken as the placeholder '-'")
    if _DASH_RUN.match(compact):
        return CellText(text="-", confidence=confidence, note=f"OCR read '{compact}', taken as the placeholder '-'")
    if len(compact) == 1 and compact in _WU_LIKE:
        return CellText(text="无", confidence=confidence * 0.8, note=f"OCR read '{compact}', taken as the placeholder '无'")
    trail = _TRAILING_STROKES.match(compact)
    if trail is not None:
        # "行政许可—-—……-": a label followed by a rule's remnant or leader dots, read as dashes.
        # A label never ends in them, and as placeholders they would be values of the row.
        note = f"OCR read '{compact}', the strokes after the text dropped"
        return CellText(text=trail.group(1), confidence=confidence, note=note)
    if compact and not _NUMBER_TEXT.match(compact) and not _PLACEHOLDER.match(compact):
        core = _strip_specks(compact)
        if core.endswith(("一", "-", "—")) and _NUMBER_TEXT.match(core.rstrip("一-—").translate(_DIGIT_LIKE) or "x"):
            # "2一": a stroke after the number (a rule's remnant, a speck), never part of it.
            core = core.rstrip("一-—")
        if core != compact and core and (_PLACEHOLDER.match(core) or _DASH_AS_ONE.match(core)):
            # ",-": a speck beside the '-' placeholder.
            chars = _strip_chars(chars, core)
            confidence = float(math.prod(c.prob for c in chars)) * 0.9 ** (len(compact) - len(core))
            return CellText(text="-" if _DASH_AS_ONE.match(core) else core, confidence=confidence,
                            note=f"OCR read '{compact}', specks around the placeholder dropped")
        if core != compact and core and _NUMBER_TEXT.match(core.translate(_DIGIT_LIKE)):
            n_specks = len(compact) - len(core)
            note = f"OCR read '{compact}', specks around the number dropped"
            chars = _strip_chars(chars, core)
            confidence = float(math.prod(c.prob for c in chars)) * 0.9 ** n_specks
            compact = core
    mapped = compact.translate(_DIGIT_LIKE)
    if compact and not _NUMBER_TEXT.match(compact) and _NUMBER_TEXT.match(mapped) and any(ch in _DIGITS for ch in mapped):
        n_mapped = sum(1 for a, b in zip(compact, mapped) if a != b)
        if n_mapped * 2 <= len(mapped) or len(mapped) <= 2:
            note = (note + "; " if note else "") + f"OCR read '{compact}', taken as the number {mapped}"
            confidence *= 0.8 ** n_mapped
            compact = mapped
    if compact and not _NUMBER_TEXT.match(compact) and not _PLACEHOLDER.match(compact):
        # A short reading that is no number ("G" for a broken 0): a digit the recogniser weighed at
        # that position takes the character's place, at that digit's own (low) probability.
        flat = [c for c in chars if not c.char.isspace()]
        if len(flat) == len(compact) <= 3 and not _has_cjk(compact):
            swapped, p = list(compact), 1.0
            for i, c in enumerate(flat):
                p_i = c.prob
                if compact[i] not in _DIGITS:
                    digit = max(((a, q) for a, q in c.alternatives if a in _DIGITS), key=lambda x: x[1], default=None)
                    if digit is None or digit[1] < options.alternative_min_prob:
                        break
                    swapped[i], p_i = digit
                p *= p_i
            else:
                number = "".join(swapped)
                n_swapped = sum(1 for a, b in zip(compact, number) if a != b)
                if _NUMBER_TEXT.match(number) and (n_swapped * 2 <= len(number) or len(number) <= 2):
                    note = (note + "; " if note else "") + f"OCR read '{compact}', its digit candidate {number} taken"
                    return CellText(text=number, confidence=p, note=note)
    if len(compact) == 1 and compact in _BROKEN_ZERO:
        # A 0 the scan broke open reads as a C or a U: the open ring is a zero's, doubted.
        note = (note + "; " if note else "") + f"OCR read '{compact}', the shape of a broken 0"
        return CellText(text="0", confidence=min(confidence, BROKEN_ZERO_CONFIDENCE), note=note)
    if not _NUMBER_TEXT.match(compact):
        return CellText(text=raw if not _PLACEHOLDER.match(compact) else compact, confidence=confidence, note=note)
    # A number: one cell holds one number, so spaces inside it are not separators.
    text = compact
    chars_no_space = [c for c in chars if not c.char.isspace()]
    if len(chars_no_space) != len(text):
        return CellText(text=text, confidence=confidence, note=note)
    uncertain = sorted((i for i, c in enumerate(chars_no_space) if c.prob < options.uncertain_char and text[i] in _DIGITS),
                       key=lambda i: chars_no_space[i].prob)[:2]
    if not uncertain:
        return CellText(text=text, confidence=confidence, note=note)
    choices = []
    for i in uncertain:
        c = chars_no_space[i]
        rivals = [(a, p) for a, p in c.alternatives if a in _DIGITS and p >= options.alternative_min_prob and a != text[i]]
        # The character may not be there at all (a speck read as a digit): the mass the model gave
        # to no digit at this position.
        absent = max(0.0, 1.0 - c.prob - sum(p for _, p in c.alternatives))
        opts = [(text[i], c.prob)] + rivals + ([("", absent)] if absent >= options.alternative_min_prob else [])
        choices.append(opts)
    cands: dict[str, float] = {}
    mass = 0.0   # of every combination, well-formed or not
    for combo in itertools.product(*choices):
        t = list(text)
        p = 1.0
        for (ch, prob), i in zip(combo, uncertain):
            t[i] = ch
            p *= prob
        s = "".join(t)
        mass += p
        digits = s.lstrip("-−")
        if not digits or not digits[0].isdigit() or (len(digits) > 1 and digits[0] == "0" and digits[1] != "."):
            continue  # no leading zeros in a printed count
        cands[s] = cands.get(s, 0.0) + p
    if not cands:
        return CellText(text=text, confidence=confidence, note=note)
    total = sum(cands.values())
    # The cell's text is the most probable well-formed reading ("04" with a doubtful 4 is "0").
    best = max(cands, key=lambda k: cands[k])
    if best != text:
        note = (note + "; " if note else "") + f"OCR read '{text}', most probable well-formed reading '{best}'"
        certain = confidence / max(1e-9, math.prod(chars_no_space[i].prob for i in uncertain))
        confidence = min(1.0, certain) * cands[best] / max(mass, 1e-9)
        text = best
    alts = sorted(((s, p / total) for s, p in cands.items() if s != text), key=lambda x: -x[1])
    return CellText(text=text, confidence=confidence, alternatives=alts[:4], note=note)


def _is_speck_char(ch: str) -> bool:
    """A character a speck of dust is read as: punctuation or a symbol ('.', '*', '★', '°'), never a
    digit, a letter, a Chinese character, a bracket (a label's '(1)'), nor a placeholder's
    stroke ('-', '/')."""
    import unicodedata

    return ch in _SPECK_CHARS or (ch not in "-−—－/／" and unicodedata.category(ch)[0] in "PS"
                                  and unicodedata.category(ch) not in ("Ps", "Pe"))


def _strip_specks(text: str) -> str:
    """``text`` without the speck characters at its ends."""
    i, j = 0, len(text)
    while i < j and _is_speck_char(text[i]):
        i += 1
    while j > i and _is_speck_char(text[j - 1]):
        j -= 1
    return text[i:j]


def _strip_chars(chars: list, core: str) -> list:
    """The characters of ``core`` within the reading's characters (spaces and the stripped ends out)."""
    flat = [c for c in chars if not c.char.isspace()]
    text = "".join(c.char for c in flat)
    i = text.find(core)
    return flat[i:i + len(core)] if i >= 0 else flat


# ---------------------------------------------------------------------------------------------
# The page reader
# ---------------------------------------------------------------------------------------------

class PageReader:
    def __init__(self, engine: OcrEngine, layout_model: LayoutModel, options: OcrOptions,
                 lexicon: Optional[Lexicon] = None):
        self.engine = engine
        self.layout_model = layout_model
        self.options = options
        self.lexicon = lexicon or default_lexicon()

    # -- preparation -----------------------------------------------------------------------------
    def prepare(self, page: PageImage, orient: bool = True) -> "PreparedPage":
        """Upright, deskewed colour page; its normalised grey and binary images; em; its seals; what
        was done."""
        info: dict[str, Any] = {}
        seals: list[prep.Seal] = []
        seal_ink: Optional[np.ndarray] = None
        # A photographed page: its outline warped to a rectangle (boxes are then in that frame).
        img, quad = prep.rectify_page(page.image)
        if quad is not None:
            info["rectified"] = True
            info["page_quad"] = [[round(float(x), 1), round(float(y), 1)] for x, y in quad]
        gray = prep.normalize_background(prep.to_gray(img))
        binary = prep.binarize(gray)
        share = prep.ink_share(binary)
        info["ink"] = round(share, 4)
        if share < prep.BLANK_INK_SHARE:
            info["blank"] = True
            return PreparedPage(img, gray, binary, 20.0, info)
        em = prep.estimate_em(binary)
        if self.options.orientation and orient:
            q, evidence = prep.orientation(gray, binary, em, lambda crops: prep.mean_prob(self.engine.recognize(crops)))
            info["rotation"] = q * 90
            info["orientation_score"] = round(evidence, 3)
            if q:
                img = prep.rotate_quarter(img, q)
                gray = prep.rotate_quarter(gray, q)
                binary = prep.rotate_quarter(binary, q)
        if self.options.deskew:
            angle = prep.estimate_skew(binary, self.options.max_skew_degrees)
            info["skew"] = angle
            if angle:
                img = prep.rotate(img, angle)
                gray = prep.normalize_background(prep.to_gray(img))
                binary = prep.binarize(gray)
        mm = prep.px_per_mm(page) if self.options.seals else None
        if mm:
            seals = prep.find_seals(img, mm)
            if seals:
                unsealed = prep.normalize_background(prep.to_gray(img, suppress_red=False))
                removed = np.zeros(gray.shape, bool)
                for seal in seals:
                    prep.drop_seal(gray, unsealed, seal, mm, removed)
                binary = prep.binarize(gray)
                seal_ink = removed if removed.any() else None
                info["seals"] = [dict(cx=round(x.cx, 1), cy=round(x.cy, 1), r=round(x.r, 1), grey=x.grey) for x in seals]
        em = prep.estimate_em(binary)
        info["em_px"] = round(em, 1)
        return PreparedPage(img, gray, binary, em, info, seals, seal_ink)

    # -- the page --------------------------------------------------------------------------------
    def read(self, page: PageImage, read_title: bool, _turned: Optional[int] = None) -> PageResult:
        """``_turned``: quarter turns already applied to ``page`` by the table-text test (a second
        read, which neither tests the page's orientation nor turns it again)."""
        t0 = time.perf_counter()
        prepared = self.prepare(page, orient=_turned is None)
        img, gray, binary, em, info = prepared.image, prepared.gray, prepared.binary, prepared.em, prepared.info
        if _turned is not None:
            info["rotation"] = _turned * 90
            info["turned_by"] = "table text"
        result = PageResult(info=info, image=img)
        info["unit"] = page.unit
        if page.dpi:
            info["dpi"] = round(page.dpi, 1)
        info["size_px"] = [int(img.shape[1]), int(img.shape[0])]
        if info.get("blank"):
            info["seconds"] = round(time.perf_counter() - t0, 3)
            return result
        h, w = binary.shape
        t1 = time.perf_counter()
        layout = self.layout_model(img, threshold=self.options.layout_threshold)
        masks = structure.line_masks(binary, em)
        sealed = None
        if prepared.seals:
            # Rules the seal's ring (or its red ink, dropped) broke: bridged across its disc.
            discs = [s.disc(binary.shape, margin=0.2 * s.r) for s in prepared.seals]
            structure.bridge_rules(masks, discs, em)
            sealed = np.logical_or.reduce(discs)
        grids = structure.find_grids(binary, em, masks, sealed)
        if sealed is not None:
            info["column_lines_under_seal"] = sum(structure.split_sealed_cells(g, sealed) for g in grids)
        info["t_layout"] = round(time.perf_counter() - t1, 3)
        if grids and self.options.orientation and _turned is None:
            # A table still a quarter turn off after the page test (a turned table on an upright
            # page, or a turned page taken the wrong way round: characters and digits read well
            # one by one, sideways too): its labels decide, and the page is read again turned.
            turn = self._turned_table(grids, gray, binary, masks, em)
            if turn:
                total = (info.get("rotation", 0) // 90 + turn) % 4
                return self.read(PageImage(page.number, prep.rotate_quarter(page.image, total), page.unit_per_px,
                                           page.unit, page.dpi), read_title, _turned=total)
        for g in grids:
            layout.blocks.append(LayoutBlock(type="table", score=1.0, rect=g.rect, source="rules"))
        result.layout = layout
        # Unruled tables: model table regions that no ruled grid covers.
        model_tables = [b for b in layout.blocks if b.type == "table" and b.source == "cdla"]
        unruled = [b for b in model_tables
                   if not any(b.rect.overlap_share(g.rect) > 0.3 or g.rect.overlap_share(b.rect) > 0.5 for g in grids)]
        info["tables"] = len(grids) + len(unruled)
        info["ruled_tables"] = len(grids)
        # Ink without the rules, for reading cells.
        import cv2

        rules = cv2.dilate(cv2.bitwise_or(masks.horizontal, masks.vertical), np.ones((3, 3), np.uint8))
        clean = cv2.bitwise_and(binary, cv2.bitwise_not(rules))
        gray_clean = gray.copy()
        gray_clean[rules > 0] = 255

        table_rects = [g.rect for g in grids] + [b.rect for b in unruled]
        text_rects = self._text_regions(layout, table_rects, (w, h), em, page.unit_per_px, read_title)
        crops: list[_Crop] = []
        cell_refs: list[tuple[int, structure.GridCell, float]] = []   # (grid index, cell, table em)
        for gi, g in enumerate(grids):
            t_em = self._table_em(clean, g.rect, em)
            for cell in g.cells:
                owner = len(cell_refs)
                cell_refs.append((gi, cell, t_em))
                crops.extend(self._cell_crops(owner, cell.rect, clean, gray_clean, t_em))
        text_base = len(cell_refs)
        for k, r in enumerate(text_rects):
            crops.extend(self._text_crops(text_base + k, r, clean, gray))
        t2 = time.perf_counter()
        readings = self.engine.recognize([c.image for c in crops]) if crops else []
        info["t_recognize"] = round(time.perf_counter() - t2, 3)
        info["crops"] = len(crops)
        per_owner: dict[int, list[tuple[_Crop, LineReading]]] = {}
        for c, r in zip(crops, readings):
            per_owner.setdefault(c.owner, []).append((c, r))
        # Digits re-read: uncertain numeric cells once more with a wider margin.
        t3 = time.perf_counter()
        self._reread(per_owner, cell_refs, gray_clean)
        info["t_reread"] = round(time.perf_counter() - t3, 3)
        info["cells_speck_digits_dropped"] = self._drop_speck_digits(per_owner, cell_refs, gray_clean, em)
        # A cell the recogniser left empty is judged by its ink: clean is printed empty; ink is
        # read again (whole cell, contrast stretched, two scales), and what stays unread is flagged.
        inked: dict[int, bool] = {}
        retry: list[tuple[int, Rect]] = []
        texts = [cell_text([r for _, r in per_owner.get(owner, [])], self.options).text for owner in range(len(cell_refs))]
        owners_of_grid = [[o for o, (gj, _c, _e) in enumerate(cell_refs) if gj == gi] for gi in range(len(grids))]
        garbled: set[int] = set()
        for owners in owners_of_grid:
            garbled |= {owners[k] for k in unreadable_value_cells([(cell_refs[o][1].row, cell_refs[o][1].col, texts[o])
                                                                   for o in owners])}
        dashes: dict[int, tuple[Rect, float]] = {}
        slashes: dict[int, Rect] = {}
        faint: set[int] = set()
        inks: dict[int, CellInk] = {}
        for owner, (_gi, cell, t_em) in enumerate(cell_refs):
            doubted_dash = texts[owner] == "-" and min(
                (ch.prob for _, r in per_owner.get(owner, []) for ch in r.chars), default=1.0) < DASH_CONFIDENCE
            if texts[owner] and owner not in garbled and not doubted_dash:
                if _doubted_short(per_owner.get(owner, []), texts[owner]):
                    # A lone hyphen the recogniser takes for a digit ('8', '4' at 0.3): a digit is
                    # never one short flat stroke, so the shape decides.
                    stroke = dash_stroke(gray_clean, cell.rect, max(t_em, em))
                    if stroke is not None and abs((stroke.y0 + stroke.y1) - (cell.rect.y0 + cell.rect.y1)) <= 0.5 * max(t_em, em):
                        dashes[owner] = (stroke, DASH_OVER_DIGIT_CONFIDENCE)
                if texts[owner].strip() in _SLASH_LIKE:
                    # A '/' placeholder read as '1' (even clearly): a 1 stands upright, a slash leans.
                    stroke = slash_stroke(gray_clean, cell.rect, max(t_em, em))
                    if stroke is not None:
                        slashes[owner] = stroke
                continue
            # (The page's em too: a table of few characters, as Table C, can look smaller than it is.)
            ink = cell_ink(gray_clean, cell.rect, max(t_em, em))
            inks[owner] = ink
            inked[owner] = ink.share >= INK_CELL_SHARE
            # A '-' the recogniser doubts, whose ink is one short flat stroke by a measure that
            # keeps small and faint hyphens (the two judgments agree): the placeholder.
            stroke = dash_stroke(gray_clean, cell.rect, max(t_em, em)) if doubted_dash and not ink.dash else None
            if ink.dash and ink.box is not None:
                dashes[owner] = (ink.box, DASH_CONFIDENCE)
            elif stroke is not None:
                dashes[owner] = (stroke, DASH_CONFIDENCE)
            elif inked[owner] and ink.box is not None and not doubted_dash:
                retry.append((owner, ink.box))
            elif not inked[owner] and not doubted_dash:
                # Clean by the ink measure, yet strokes of a digit's size a little darker than the
                # paper: print the toner starved. Read like an inked cell; a number so read is
                # doubted, and nothing read leaves the cell printed empty (less sure than clean).
                box = faint_digits(gray_clean, cell.rect, max(t_em, em))
                if box is not None:
                    retry.append((owner, box))
                    faint.add(owner)
        specks: set[int] = set()
        if retry:
            self._retry_unread(retry, per_owner, cell_refs, gray_clean, garbled)
            info["cells_speck_digits_dropped"] += self._drop_speck_digits(per_owner, cell_refs, gray_clean, em,
                                                                          [o for o, _box in retry])
            for owner in faint:
                items = per_owner.get(owner, [])
                text = cell_text([r for _, r in items], self.options).text
                t_em = max(cell_refs[owner][2], em)
                if text.strip() in _SLASH_LIKE:
                    # One faint stroke: the '/' placeholder where it leans, else no value to stand on
                    # (a faint placeholder is likelier than a faint 1): printed empty, as specks.
                    stroke = slash_stroke(gray_clean, cell_refs[owner][1].rect, t_em)
                    if stroke is not None:
                        slashes[owner] = stroke
                    else:
                        per_owner[owner] = []
                elif _doubted_short(items, text) and (stroke := dash_stroke(gray_clean, cell_refs[owner][1].rect, t_em)):
                    dashes[owner] = (stroke, DASH_OVER_DIGIT_CONFIDENCE)
                elif _NUMBER_TEXT.match(text):
                    per_owner[owner] = [(c, _capped(r, FAINT_DIGIT_CONFIDENCE)) for c, r in items]
            # Still unread, and no piece of its ink is as tall as half a digit: specks, a rule's
            # remnant or a stroke, never a number; the cell prints no value (0, less sure than clean).
            for owner, _box in retry:
                text = cell_text([r for _, r in per_owner.get(owner, [])], self.options).text
                if not _is_value_text(text) and inks[owner].tallest < SPECK_HEIGHT * max(cell_refs[owner][2], em):
                    specks.add(owner)
                    inked[owner] = False
                    per_owner[owner] = []
        for owner, (box, sure) in dashes.items():
            per_owner[owner] = [(_Crop(owner, box, np.zeros((1, 1), np.uint8)),
                                 LineReading("-", [CharReading("-", sure)]))]
        for owner, box in slashes.items():
            # A stroke shorter than a digit (the rest of a '/' the scan lost): the placeholder, doubted.
            short = box.y1 - box.y0 < SLASH_FULL_HEIGHT * max(cell_refs[owner][2], em)
            sure = SHORT_SLASH_CONFIDENCE if short else DASH_OVER_DIGIT_CONFIDENCE
            per_owner[owner] = [(_Crop(owner, box, np.zeros((1, 1), np.uint8)), LineReading("/", [CharReading("/", sure)]))]
        info["cells_slash_by_shape"] = len(slashes)
        info["cells_dash_by_shape"] = len(dashes)
        info["cells_specks_only"] = len(specks)
        info["cells_inked_unread_first"] = len(retry) - len(faint)
        info["cells_faint_retried"] = len(faint)

        u = page.unit_per_px
        bbox = lambda r: BBox(r.x0 * u, r.y0 * u, r.x1 * u, r.y1 * u)
        blocks: list[Block] = []
        for gi, g in enumerate(grids):
            owned = [(owner, cell_refs[owner][1]) for owner in owners_of_grid[gi]]
            table = table_from_grid(g, [(cell, [r for _, r in per_owner.get(owner, [])]) for owner, cell in owned],
                                    self.options, self.lexicon, page.number, u,
                                    inked=[inked.get(owner) for owner, _ in owned])
            for (owner, _), c in zip(owned, table.cells):
                if owner in specks and not c.text and not c.unread:
                    c.confidence = SPECK_CONFIDENCE
            if prepared.seal_ink is not None:
                for (_, cell), c in zip(owned, table.cells):
                    if (not c.text or _PLACEHOLDER.match(c.text)) and not c.unread and c.confidence is not None \
                            and _seal_covered(prepared.seal_ink, cell.rect):
                        # Seal strokes were taken out of this cell by their level: a faint digit
                        # under them may have gone too, so its blank is not sure.
                        c.confidence = min(c.confidence, SEAL_BLANK_CONFIDENCE)
            info["cells_unread"] = info.get("cells_unread", 0) + sum(1 for c in table.cells if c.unread)
            for (_, cell), c in zip(owned, table.cells):
                result.cells.append(CellDraw(cell.rect, c.confidence if c.text or c.unread else None,
                                             "?" if c.unread else c.text))
            blocks.append(table)
        for b in unruled:
            table = self._unruled_table(b.rect, gray, page, result)
            if table is not None:
                blocks.append(table)
        for k, r in enumerate(text_rects):
            got = per_owner.get(text_base + k, [])
            for c, rd in sorted(got, key=lambda x: (x[0].rect.y0, x[0].rect.x0)):
                if rd.text.strip() and rd.mean_prob >= 0.5:
                    blocks.append(Line(text=rd.text.strip(), page=page.number, bbox=bbox(c.rect),
                                       confidence=round(rd.confidence, 4), source="ocr"))
                    result.lines.append(CellDraw(c.rect, rd.confidence, rd.text))
        blocks.sort(key=lambda b: (b.bbox.top, b.bbox.x0) if b.bbox else (0.0, 0.0))
        result.blocks = blocks
        info["seconds"] = round(time.perf_counter() - t0, 3)
        return result

    def _turned_table(self, grids: list[structure.Grid], gray: np.ndarray, binary: np.ndarray,
                      masks: structure.LineMasks, em: float) -> int:
        """0 when the largest table's text runs across; 1 or 3 (quarter turns clockwise that make
        it upright) when its label cells read clearly better turned. The longest ink line of each
        of the four inkiest cells is read as it is and turned both ways; a long line read well
        outweighs single characters (``prep.mean_prob``), which read well sideways too."""
        import cv2

        g = max(grids, key=lambda g: g.rect.area)
        rules = cv2.bitwise_or(masks.horizontal, masks.vertical)
        inky = []
        for c in g.cells:
            x0, y0, x1, y1 = _inner(c.rect)
            if x1 - x0 > 3 and y1 - y0 > 3:
                sub = cv2.bitwise_and(binary[y0:y1, x0:x1], cv2.bitwise_not(rules[y0:y1, x0:x1]))
                inky.append((int(np.count_nonzero(sub)), (x0, y0, x1, y1), sub))
        inky.sort(key=lambda t: -t[0])
        crops: list[tuple[int, np.ndarray]] = []
        for n, (x0, y0, x1, y1), sub in inky[:4]:
            if n == 0:
                break
            for q in (0, 1, 3):
                b = prep.rotate_quarter(sub, q)
                gq = prep.rotate_quarter(gray[y0:y1, x0:x1], q)
                lines = structure.ink_lines(b, em)
                if lines:
                    r = max(lines, key=lambda r: r.width)
                    crops.append((q, self._crop(gq, r, 0.2 * em)))
        if not crops:
            return 0
        probs = prep.mean_prob(self.engine.recognize([c for _, c in crops]))
        # Each way's two best cells (a merged cell or a column of digits reads poorly any way).
        score = {q: float(np.mean(sorted([p for (k, _), p in zip(crops, probs) if k == q] or [0.0])[-2:]))
                 for q in (0, 1, 3)}
        best = max((1, 3), key=lambda q: score[q])
        return best if score[best] >= 0.8 and score[best] >= score[0] + 0.25 else 0

    # -- regions of text outside tables ----------------------------------------------------------
    def _text_regions(self, layout: Layout, tables: list[Rect], size: tuple[int, int], em: float,
                      unit_per_px: float, read_title: bool) -> list[Rect]:
        w, h = size
        rects: list[Rect] = []
        if read_title:
            rects.append(Rect(0, 0, w, h * self.options.title_share))
        for b in layout.blocks:
            if b.source == "cdla" and b.type in ("title", "table_caption"):
                rects.append(b.rect.pad(0.3 * em, (w, h)))
        strip = self.options.heading_strip_pt / max(unit_per_px, 1e-6) if unit_per_px != 1.0 else 3 * em
        for t in tables:
            rects.append(Rect(max(0.0, t.x0 - em), max(0.0, t.y0 - strip), min(float(w), t.x1 + em), max(0.0, t.y0 - 2)))
        # Merge overlapping rectangles; drop parts inside tables.
        rects = [r for r in rects if r.height > 0.5 * em and r.width > em]
        merged: list[Rect] = []
        for r in sorted(rects, key=lambda r: (r.y0, r.x0)):
            for i, m in enumerate(merged):
                if m.intersect(r) is not None:
                    merged[i] = m.union(r)
                    break
            else:
                merged.append(r)
        out = []
        for r in merged:
            for t in tables:
                if r.intersect(t) is not None:
                    # Keep the part above the table (headings), or below it.
                    if r.y0 < t.y0:
                        r = Rect(r.x0, r.y0, r.x1, min(r.y1, t.y0 - 1))
                    elif r.y1 > t.y1:
                        r = Rect(r.x0, max(r.y0, t.y1 + 1), r.x1, r.y1)
            if r.height > 0.5 * em:
                out.append(r)
        return out

    # -- crops -----------------------------------------------------------------------------------
    @staticmethod
    def _table_em(clean: np.ndarray, rect: Rect, em: float) -> float:
        x0, y0, x1, y1 = rect.ints()
        sub = clean[y0:y1, x0:x1]
        if sub.size == 0:
            return em
        return prep.estimate_em(sub)

    @staticmethod
    def _crop(gray: np.ndarray, r: Rect, pad: float, clip: Optional[tuple[int, int, int, int]] = None) -> np.ndarray:
        """A grey crop of r with a white margin of pad pixels; pixels outside ``clip`` (the cell's
        own area) are painted white, so a crop never shows a neighbour's ink or the rules."""
        import cv2

        h, w = gray.shape
        x0, y0, x1, y1 = (int(math.floor(r.x0 - pad)), int(math.floor(r.y0 - pad)),
                          int(math.ceil(r.x1 + pad)), int(math.ceil(r.y1 + pad)))
        sub = gray[max(0, y0):min(h, y1), max(0, x0):min(w, x1)].copy()
        if clip is not None:
            cx0, cy0, cx1, cy1 = clip
            ox, oy = max(0, x0), max(0, y0)
            mask = np.zeros(sub.shape, dtype=bool)
            mask[max(0, cy0 - oy):max(0, cy1 - oy), max(0, cx0 - ox):max(0, cx1 - ox)] = True
            sub[~mask] = 255
        top, left = max(0, -y0), max(0, -x0)
        bottom, right = max(0, y1 - h), max(0, x1 - w)
        if top or left or bottom or right:
            sub = cv2.copyMakeBorder(sub, top, bottom, left, right, cv2.BORDER_CONSTANT, value=255)
        return sub

    def _cell_crops(self, owner: int, rect: Rect, clean: np.ndarray, gray: np.ndarray, em: float) -> list[_Crop]:
        # The rules are already painted out of ``clean`` and ``gray``: text printed right against
        # a rule (1.属于… at the left edge) keeps its first character.
        x0, y0, x1, y1 = _inner(rect)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return []
        sub = clean[y0:y1, x0:x1]
        out = []
        for lr in structure.ink_lines(sub, em):
            r = Rect(lr.x0 + x0, lr.y0 + y0, lr.x1 + x0, lr.y1 + y0)
            # Only the cell's own pixels: the white margin is added, never the neighbour's ink.
            crop = self._crop(gray, r, 0.2 * em, clip=(x0, y0, x1, y1))
            out.append(_Crop(owner, r, crop))
        return out

    def _text_crops(self, owner: int, rect: Rect, clean: np.ndarray, gray: np.ndarray) -> list[_Crop]:
        x0, y0, x1, y1 = rect.ints()
        sub = clean[y0:y1, x0:x1]
        if sub.size == 0:
            return []
        em = prep.estimate_em(sub)
        out = []
        for lr in structure.ink_lines(sub, em):
            if lr.height < 0.4 * em:
                continue
            r = Rect(lr.x0 + x0, lr.y0 + y0, lr.x1 + x0, lr.y1 + y0)
            out.append(_Crop(owner, r, self._crop(gray, r, 0.2 * em)))
        return out

    def _reread(self, per_owner: dict[int, list[tuple[_Crop, LineReading]]],
                cell_refs: list[tuple[int, structure.GridCell, float]], gray: np.ndarray) -> None:
        """Uncertain digits: read the cell's line again with a wider margin; keep the more
        confident reading, and the rivals of both."""
        redo: list[tuple[int, int, _Crop]] = []
        for owner, items in per_owner.items():
            if owner >= len(cell_refs):
                continue
            for k, (c, r) in enumerate(items):
                if not r.chars or not any(ch.char in _DIGITS for ch in r.chars):
                    continue
                if min(ch.prob for ch in r.chars) >= self.options.uncertain_char:
                    continue
                em = cell_refs[owner][2]
                wide = self._crop(gray, c.rect, 0.45 * em, clip=_inner(cell_refs[owner][1].rect))
                redo.append((owner, k, _Crop(owner, c.rect, wide)))
        if not redo:
            return
        again = self.engine.recognize([c.image for _, _, c in redo])
        for (owner, k, c), r2 in zip(redo, again):
            c1, r1 = per_owner[owner][k]
            per_owner[owner][k] = (c1, _better(r1, _reframe(r2, c, c1)))

    def _drop_speck_digits(self, per_owner: dict[int, list[tuple[_Crop, LineReading]]],
                           cell_refs: list[tuple[int, structure.GridCell, float]], gray: np.ndarray, em: float,
                           owners: Optional[Sequence[int]] = None) -> int:
        """A number read with a leading zero ('04', '011'), which no count prints: a speck beside
        the digit was read as a digit too. On one line, the digits that stand on a piece of ink of
        a digit's height are kept and the rest dropped; on several, a line that is a dot is dropped;
        when what is kept is a well-formed number it is the reading, doubted
        (SPECK_DIGIT_CONFIDENCE). Returns the cells so mended."""
        mended = 0
        for owner in (owners if owners is not None else list(per_owner)):
            items = per_owner.get(owner, [])
            if owner >= len(cell_refs) or not items:
                continue
            t_em = max(cell_refs[owner][2], em)
            if not re.fullmatch(r"0\d+", cell_text([r for _, r in items], self.options).text):
                continue
            if len(items) > 1:
                # The number's digits on two lines of the cell: a line that is a dot (no larger than
                # SPECK_DOT em either way) is a speck read as a digit ('0' with a speck under it).
                kept = [(c, r) for c, r in items
                        if max(c.rect.x1 - c.rect.x0, c.rect.y1 - c.rect.y0) >= SPECK_DOT * t_em]
                text = cell_text([r for _, r in kept], self.options).text
                if kept and len(kept) < len(items) and re.fullmatch(r"0|[1-9]\d*", text):
                    per_owner[owner] = [(c, _capped(r, SPECK_DIGIT_CONFIDENCE)) for c, r in kept]
                    mended += 1
                continue
            crop, reading = items[0]
            pieces = digit_pieces(gray, cell_refs[owner][1].rect, t_em)
            kept = kept_on_ink(reading, crop, pieces, 0.15 * t_em)
            if kept is None:
                continue
            per_owner[owner] = [(crop, kept)]
            mended += 1
        return mended

    def _retry_unread(self, retry: list[tuple[int, Rect]], per_owner: dict[int, list[tuple[_Crop, LineReading]]],
                      cell_refs: list[tuple[int, structure.GridCell, float]], gray: np.ndarray,
                      garbled: set[int]) -> None:
        """Cells with ink that the first pass read as nothing: the ink's box, contrast stretched
        (faint print turns dark), read at two scales; the best reading that gives the cell a text
        replaces the silent one (for a value cell read as no value, only a number or a placeholder does)."""
        import cv2

        jobs: list[tuple[int, _Crop]] = []
        for owner, box in retry:
            em = cell_refs[owner][2]
            base = self._crop(gray, box, 0.3 * em, clip=_inner(cell_refs[owner][1].rect))
            stretched = stretch_contrast(base)
            for scale in (1.0, 2.0):
                img = stretched if scale == 1.0 else cv2.resize(stretched, None, fx=scale, fy=scale,
                                                                  interpolation=cv2.INTER_CUBIC)
                jobs.append((owner, _Crop(owner, box, img, scale)))
        readings = self.engine.recognize([c.image for _, c in jobs])
        best: dict[int, tuple[float, _Crop, LineReading]] = {}
        for (owner, crop), r in zip(jobs, readings):
            ct = cell_text([r], self.options)
            if not ct.text or (owner in garbled and not _is_value_text(ct.text)):
                continue
            if owner not in best or ct.confidence > best[owner][0]:
                best[owner] = (ct.confidence, crop, r)
        for owner, (_p, crop, r) in best.items():
            per_owner[owner] = [(crop, r)]

    # -- unruled tables --------------------------------------------------------------------------
    def _unruled_table(self, rect: Rect, gray: np.ndarray, page: PageImage, result: PageResult) -> Optional[Table]:
        x0, y0, x1, y1 = rect.ints()
        sub = gray[y0:y1, x0:x1]
        if sub.size == 0:
            return None
        boxes = self.engine.detect(sub)
        if not boxes:
            return None
        crops = []
        for b in boxes:
            bx0, by0, bx1, by1 = b.rect
            crops.append(self._crop(sub, Rect(bx0, by0, bx1, by1), 2))
        readings = self.engine.recognize(crops)
        for b, r in zip(boxes, readings):
            b.reading = r
        table = table_from_text_boxes([(b.rect, b.reading) for b in boxes], self.options, page.number,
                                      offset=(x0, y0), unit_per_px=page.unit_per_px, lexicon=self.lexicon)
        if table is not None:
            for c in table.cells:
                u = page.unit_per_px
                r = Rect(c.bbox.x0 / u, c.bbox.top / u, c.bbox.x1 / u, c.bbox.bottom / u)
                result.cells.append(CellDraw(r, c.confidence, c.text))
        return table


def _seal_covered(removed: np.ndarray, rect: Rect) -> bool:
    """A cell whose interior lost ink to a grey seal's removal (over 2% of it)."""
    x0, y0, x1, y1 = _inner(rect)
    sub = removed[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    return sub.size > 0 and np.count_nonzero(sub) > 0.02 * sub.size


def _doubted_short(items, text: str) -> bool:
    """One or two characters read with a character under SHAPE_OVERRULES: a reading the ink's
    shape may overrule."""
    probs = [ch.prob for _, r in items for ch in r.chars]
    return 0 < len(text.strip()) <= 2 and bool(probs) and min(probs) < SHAPE_OVERRULES


def _is_value_text(text: str) -> bool:
    return bool(_NUMBER_TEXT.match(text) or _PLACEHOLDER.match(text))


def value_cells(cells: Sequence[tuple[int, int, str]]) -> list[int]:
    """Indexes of the cells in value positions: ``cells`` are (row, col, text). A data row prints at
    least two numbers or placeholders; value columns start at the leftmost column holding one in a
    data row (in a row without a Chinese label, every cell is a value)."""
    rows: dict[int, list[tuple[int, str]]] = {}
    for row, col, text in cells:
        rows.setdefault(row, []).append((col, text))
    data_rows = {r for r, cs in rows.items() if sum(1 for _, t in cs if t and _is_value_text(t)) >= 2}
    value_cols = [col for row, col, text in cells if row in data_rows and text and _is_value_text(text)]
    if not value_cols:
        return []
    first = min(value_cols)
    # A data row without a label (Table C's row of numbers): all its cells are values.
    unlabelled = {r for r in data_rows if not any(_has_cjk(t) for _, t in rows[r])}
    return [i for i, (row, col, _text) in enumerate(cells) if row in data_rows and (col >= first or row in unlabelled)]


def unreadable_value_cells(cells: Sequence[tuple[int, int, str]]) -> list[int]:
    """Indexes of the value cells (``value_cells``) whose reading is neither a number nor a
    placeholder ("=", "m", "US"). A text with a Chinese character, or a long one, is left alone:
    "规章", "3.其他" are short labels, and a label the grid put in the wrong column is no value."""
    return [i for i in value_cells(cells) if (text := cells[i][2]) and not _is_value_text(text)
            and len(text) <= 4 and not _has_cjk(text)]


# The placeholders as one character each, and what they stand for (the recogniser also reads a
# dash as 一).
_PLACEHOLDER_CHAR = {**PLACEHOLDER_MARKS, "一": "-"}


def number_with_junk(text: str) -> Optional[str]:
    """The number in a value cell's reading with one or two characters of something else before or
    after it and no other digit ("0中", "一31": a seal's stroke, a rule's remnant read as a
    character); None for any other reading."""
    m = re.fullmatch(r"(\D{0,2}?)(\d[\d,]*)(\D{0,2})", re.sub(r"\s+", "", text))
    if m is None or not (m.group(1) or m.group(3)):
        return None
    return m.group(2)


def placeholder_with_junk(text: str) -> Optional[str]:
    """The placeholder in a value cell's reading of two or three characters with no digit and one
    placeholder character ("由无", "无：", "中-"): a seal's stroke or a speck beside the placeholder
    read as a character of its own. None for any other reading."""
    t = re.sub(r"\s+", "", text)
    marks = [ch for ch in t if ch in _PLACEHOLDER_CHAR]
    if 2 <= len(t) <= 3 and len(marks) == 1 and not any(ch.isdigit() for ch in t):
        return _PLACEHOLDER_CHAR[marks[0]]
    return None


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def table_from_grid(grid: structure.Grid, cells: Sequence[tuple[structure.GridCell, Sequence[LineReading]]],
                    options: OcrOptions, lexicon: Optional[Lexicon], page: int, unit_per_px: float = 1.0,
                    inked: Optional[Sequence[Optional[bool]]] = None) -> Table:
    """A Table from a ruled grid and the line readings of each of its cells (in the grid's order).

    ``inked``: per cell, whether it holds ink (``cell_ink``). A cell read as nothing is printed
    empty only when it is clean; with ink it is unread (``Cell.unread``: no value, doubted).
    Without ``inked`` (older recordings) an empty reading is taken as printed empty. A value cell
    read as neither a number nor a placeholder is unread (``unreadable_value_cells``), unless its
    ink was measured clean (``inked`` False, not None): specks read as characters, printed empty.
    """
    u = unit_per_px
    out = []
    texts = [cell_text(readings, options) for _cell, readings in cells]
    # A value cell read as a placeholder or a number with a stray character beside it: that value.
    positions = [(c.row, c.col, ct.text) for (c, _r), ct in zip(cells, texts)]
    for i in value_cells(positions):
        if _is_value_text(texts[i].text):
            continue
        wu = placeholder_with_junk(texts[i].text)
        if wu is not None:
            texts[i] = CellText(text=wu, confidence=min(texts[i].confidence, JUNK_PLACEHOLDER_CONFIDENCE),
                                note=f"OCR read '{texts[i].text}' in a value cell, taken as the placeholder '{wu}'")
            continue
        number = number_with_junk(texts[i].text)
        if number is not None:
            texts[i] = CellText(text=number, confidence=min(texts[i].confidence, JUNK_NUMBER_CONFIDENCE),
                                note=f"OCR read '{texts[i].text}' in a value cell, taken as the number {number}")
    # A value cell read as neither a number nor a placeholder is unread too (its reading is no value).
    garbled = set(unreadable_value_cells([(c.row, c.col, ct.text) for (c, _r), ct in zip(cells, texts)]))
    for i, ((cell, _readings), ct) in enumerate(zip(cells, texts)):
        # Junk read in a cell whose ink measure found it clean: specks read as characters, no print.
        specks = i in garbled and inked is not None and inked[i] is False
        unread = (i in garbled and not specks) or (inked is not None and bool(inked[i]) and not ct.text)
        if specks:
            ct = CellText(text="", confidence=SPECK_CONFIDENCE)
        elif unread or (inked is not None and not ct.text):
            ct = CellText(text="", confidence=0.0 if unread else BLANK_CONFIDENCE)
        if lexicon is not None and ct.text and not _NUMBER_TEXT.match(ct.text) and not _PLACEHOLDER.match(ct.text):
            snapped = lexicon.snap(ct.text)
            if snapped is not None:
                ct.note, ct.text = f"OCR read '{ct.text}', taken as the table wording '{snapped}'", snapped
        r = cell.rect
        out.append(Cell(text=ct.text, row=cell.row, col=cell.col, rowspan=cell.rowspan, colspan=cell.colspan,
                        bbox=BBox(r.x0 * u, r.y0 * u, r.x1 * u, r.y1 * u), confidence=round(ct.confidence, 4),
                        source="ocr", alternatives=[(a, round(p, 4)) for a, p in ct.alternatives], unread=unread))
    g = grid.rect
    return Table(cells=out, page=page, bbox=BBox(g.x0 * u, g.y0 * u, g.x1 * u, g.y1 * u))


def split_at_gaps(rect: tuple[float, float, float, float], reading: LineReading,
                  gap: float = 1.6) -> list[tuple[tuple[float, float, float, float], LineReading]]:
    """Cut a detected line where its characters lie far apart: without rules, the detector runs the
    cells of a row together (``数量95``, ``0 0 0 0 0``). Character centres come from the CTC frames;
    a jump of more than ``gap`` line heights between two neighbours starts a new box."""
    x0, y0, x1, y1 = rect
    h = max(1.0, y1 - y0)
    w = x1 - x0
    chars = [c for c in reading.chars if not c.char.isspace()]
    if len(chars) < 2:
        return [(rect, reading)]
    centres = [x0 + w * (c.x0 + c.x1) / 2 for c in chars]
    groups: list[list[int]] = [[0]]
    for i in range(1, len(chars)):
        if centres[i] - centres[i - 1] > gap * h:
            groups.append([i])
        else:
            groups[-1].append(i)
    if len(groups) == 1:
        return [(rect, reading)]
    out = []
    for g in groups:
        cs = [chars[i] for i in g]
        left = x0 + w * cs[0].x0 - 0.5 * h
        right = x0 + w * cs[-1].x1 + 0.5 * h
        out.append(((max(x0, left), y0, min(x1, right), y1), LineReading("".join(c.char for c in cs), cs)))
    return out


def table_from_text_boxes(items: Sequence[tuple[tuple[float, float, float, float], LineReading]], options: OcrOptions,
                          page: int, offset: tuple[float, float] = (0.0, 0.0), unit_per_px: float = 1.0,
                          lexicon: Optional[Lexicon] = None) -> Optional[Table]:
    """A Table from text boxes and their readings (a table without rules)."""
    items = [piece for r, rd in items if rd is not None and rd.text.strip() for piece in split_at_gaps(r, rd)]
    if not items:
        return None
    groups = structure.cluster_boxes([r for r, _ in items])
    if not groups:
        return None
    n_cols = max(g.col + g.colspan for g in groups)
    if n_cols < 2:
        return None
    ox, oy = offset
    u = unit_per_px
    cells = []
    for g in groups:
        rs = [items[i][0] for i in g.indices]
        ct = cell_text([items[i][1] for i in g.indices], options)
        if lexicon is not None and ct.text and not _NUMBER_TEXT.match(ct.text) and not _PLACEHOLDER.match(ct.text):
            ct.text = lexicon.snap(ct.text) or ct.text
        x0, y0 = min(r[0] for r in rs) + ox, min(r[1] for r in rs) + oy
        x1, y1 = max(r[2] for r in rs) + ox, max(r[3] for r in rs) + oy
        cells.append(Cell(text=ct.text, row=g.row, col=g.col, colspan=g.colspan, bbox=BBox(x0 * u, y0 * u, x1 * u, y1 * u),
                          confidence=round(ct.confidence, 4), source="ocr",
                          alternatives=[(a, round(p, 4)) for a, p in ct.alternatives]))
    x0 = min(c.bbox.x0 for c in cells)
    y0 = min(c.bbox.top for c in cells)
    x1 = max(c.bbox.x1 for c in cells)
    y1 = max(c.bbox.bottom for c in cells)
    return Table(cells=cells, page=page, bbox=BBox(x0, y0, x1, y1))


@dataclass
class CellInk:
    share: float             # share of the cell's inner area that is ink
    box: Optional[Rect]      # where that ink is (page pixels), None when there is none
    dash: bool = False       # the ink is one short horizontal stroke: the '-' placeholder
    tallest: float = 0.0     # height (pixels) of its tallest piece of ink


def _cell_interior(gray: np.ndarray, rect: Rect, em: float) -> Optional[tuple[np.ndarray, int, int]]:
    """A cell's grey pixels inside its rules, less a margin of 0.15 em (what is left of a rule is not
    print), lightly blurred (sensor noise out), with the crop's top-left corner; None when too small."""
    import cv2

    x0, y0, x1, y1 = _inner(rect)
    m = max(1, int(round(0.15 * em)))
    x0, y0, x1, y1 = x0 + m, y0 + m, x1 - m, y1 - m
    h, w = gray.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    return cv2.GaussianBlur(gray[y0:y1, x0:x1], (3, 3), 0), x0, y0


def cell_ink(gray: np.ndarray, rect: Rect, em: float) -> CellInk:
    """How much print a cell holds, from its grey pixels (rules already painted out): a margin of
    0.15 em inside the rules is left out (what is left of a rule is not print), a light blur takes
    the sensor noise out, pixels INK_CONTRAST grey levels darker than the cell's paper are ink, and
    only pieces of a stroke's size count (dust specks are not print)."""
    import cv2

    interior = _cell_interior(gray, rect, em)
    if interior is None:
        return CellInk(0.0, None)
    sub, x0, y0 = interior
    x1, y1 = x0 + sub.shape[1], y0 + sub.shape[0]
    paper = float(np.percentile(sub, 90))
    dark = (sub < paper - INK_CONTRAST).astype(np.uint8)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    min_area = max(4.0, 0.01 * em * em)
    area = 0
    kept: list[tuple[int, int, int, int, int]] = []
    bx0, by0, bx1, by1 = x1 - x0, y1 - y0, 0, 0
    for i in range(1, n):
        x, y, cw, ch, a = (int(v) for v in stats[i])
        if a < min_area or max(cw, ch) < 0.15 * em:
            continue
        if max(cw, ch) < 0.3 * em and cw < 1.4 * ch:
            continue  # a round speck of dust (a small dash is flat)
        area += a
        kept.append((x, y, cw, ch, a))
        bx0, by0, bx1, by1 = min(bx0, x), min(by0, y), max(bx1, x + cw), max(by1, y + ch)
    if area == 0:
        return CellInk(0.0, None)
    # A dash: one short, flat stroke; anything else there only dust (under a third of its ink).
    _x, _y, dw, dh, da = max(kept, key=lambda k: k[4])
    dash = bool(dw >= 1.4 * dh and dh <= 0.4 * em and 0.2 * em <= dw <= 1.5 * em and area - da < da / 3)
    return CellInk(area / float(sub.size), Rect(float(bx0 + x0), float(by0 + y0), float(bx1 + x0), float(by1 + y0)),
                   dash, float(max(k[3] for k in kept)))


DIGIT_HEIGHT = 0.45   # a piece of ink at least this tall (in em) can be a digit; a speck is shorter
SPECK_DIGIT_CONFIDENCE = 0.8   # a number whose speck-read digits were dropped by the ink: doubted


def _ink_pieces(gray: np.ndarray, rect: Rect, em: float, contrast: float):
    """The pieces of ink in a cell's interior, ``contrast`` grey levels darker than its paper:
    their (x, y, w, h, area) in the interior, and the interior's corner x0, y0; None where the cell
    is too small."""
    import cv2

    interior = _cell_interior(gray, rect, em)
    if interior is None:
        return None
    sub, x0, y0 = interior
    paper = float(np.percentile(sub, 90))
    dark = (sub < paper - contrast).astype(np.uint8)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    return [tuple(int(v) for v in stats[i]) for i in range(1, n)], x0, y0


def digit_pieces(gray: np.ndarray, rect: Rect, em: float) -> list[tuple[float, float]]:
    """The x-extents (page pixels) of the pieces of ink in a cell tall enough to be digits."""
    found = _ink_pieces(gray, rect, em, INK_CONTRAST)
    if found is None:
        return []
    pieces, x0, _y0 = found
    return [(float(x + x0), float(x + w + x0)) for x, _y, w, h, _a in pieces if h >= DIGIT_HEIGHT * em]


def kept_on_ink(reading: LineReading, crop: "_Crop", pieces: Sequence[tuple[float, float]],
                slack: float) -> Optional[LineReading]:
    """The reading with only the characters whose centre (from the CTC frames) lies on one of the
    ink ``pieces`` (within ``slack`` pixels), when that drops some and leaves a well-formed count;
    None otherwise. The least sure kept character's probability is capped at SPECK_DIGIT_CONFIDENCE."""
    chars = [c for c in reading.chars if not c.char.isspace()]
    if not pieces or not chars:
        return None
    left, width = _crop_left(crop)
    kept = [c for c in chars
            if any(a - slack <= left + width * (c.x0 + c.x1) / 2 <= b + slack for a, b in pieces)]
    text = "".join(c.char for c in kept)
    if not kept or len(kept) == len(chars) or not re.fullmatch(r"0|[1-9]\d*", text):
        return None
    return _capped(LineReading(text, kept), SPECK_DIGIT_CONFIDENCE)


# Print a starved toner left: darker than the paper by this many grey levels at least (less than
# INK_CONTRAST), in pieces of a digit's size, one line of them.
FAINT_CONTRAST = 18
FAINT_DIGIT_CONFIDENCE = 0.8


def faint_digits(gray: np.ndarray, rect: Rect, em: float) -> Optional[Rect]:
    """Where a cell that holds no ink by ``cell_ink``'s measure holds faint digits: one to eight pieces
    FAINT_CONTRAST grey levels darker than its paper, each of a digit's size (DIGIT_HEIGHT to 1.3 em
    high, at most 1.3 em wide, not a dot), side by side on one line; None otherwise."""
    found = _ink_pieces(gray, rect, em, FAINT_CONTRAST)
    if found is None:
        return None
    every, x0, y0 = found
    pieces = [p for p in every if DIGIT_HEIGHT * em <= p[3] <= 1.3 * em and p[2] <= 1.3 * em and p[4] >= 0.04 * em * em]
    if not 1 <= len(pieces) <= 8:
        return None
    centres = [y + h / 2 for _x, y, _w, h, _a in pieces]
    if max(centres) - min(centres) > 0.5 * em:
        return None
    bx0, by0 = min(p[0] for p in pieces), min(p[1] for p in pieces)
    bx1, by1 = max(p[0] + p[2] for p in pieces), max(p[1] + p[3] for p in pieces)
    return Rect(float(bx0 + x0), float(by0 + y0), float(bx1 + x0), float(by1 + y0))


def _capped(reading: LineReading, cap: float) -> LineReading:
    """The reading with its least sure character's probability capped at ``cap``."""
    if not reading.chars:
        return reading
    i = min(range(len(reading.chars)), key=lambda k: reading.chars[k].prob)
    c = reading.chars[i]
    chars = list(reading.chars)
    chars[i] = CharReading(c.char, min(c.prob, cap), c.alternatives, c.x0, c.x1)
    return LineReading(reading.text, chars)


STROKE_GAP = 0.2    # breaks in a stroke closed before its pieces are counted, in em
STROKE_DUST = 0.2   # a piece of ink beside the stroke smaller than this (in em) is dust


def _lone_stroke(gray: np.ndarray, rect: Rect, em: float):
    """A cell's largest piece of ink, measured against the cell's own darkest ink (so a faint
    stroke counts), when everything else inked there is dust (each piece under STROKE_DUST em,
    together under a third of it): (its mask, its (x, y, w, h, area) in the interior, the interior's
    corner x0, y0), else None."""
    import cv2

    interior = _cell_interior(gray, rect, em)
    if interior is None:
        return None
    sub, x0, y0 = interior
    paper = float(np.percentile(sub, 90))
    contrast = paper - float(sub.min())
    if contrast < 25:
        return None
    dark = (sub < paper - max(20.0, 0.5 * contrast)).astype(np.uint8)
    # A stroke the scan broke (a faint '/' in two pieces) is one piece: gaps of a tenth of an em are
    # closed before the pieces are told apart; the stroke's own pixels are measured.
    close = max(3, int(round(STROKE_GAP * em)))
    joined = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    comps = [(i, tuple(int(v) for v in stats[i])) for i in range(1, n) if stats[i][4] >= 3]
    if not comps:
        return None
    k, box = max(comps, key=lambda c: c[1][4])
    rest = [c for i, c in comps if i != k]
    if any(max(c[2], c[3]) >= STROKE_DUST * em for c in rest) or sum(c[4] for c in rest) * 3 > box[4]:
        return None
    return ((labels == k) & (dark > 0)).astype(np.uint8), box, x0, y0


def dash_stroke(gray: np.ndarray, rect: Rect, em: float) -> Optional[Rect]:
    """The box of a cell's ink when it is one short flat stroke, else None: the '-' placeholder's
    shape, measured against the cell's own darkest ink (a faint hyphen is judged by its own
    contrast, not a fixed one), so small and light hyphens that ``cell_ink`` drops as specks pass.
    The stroke is at most 0.3 em high (no digit is that short), 0.12-1.6 em wide and wider than
    high; anything else inked in the cell is dust (under a third of the stroke, each piece under
    STROKE_DUST em). Only used where the recogniser read the cell as '-' too, or read one or two characters
    it doubts."""
    stroke = _lone_stroke(gray, rect, em)
    if stroke is None:
        return None
    _mask, (x, y, cw, ch, _a), x0, y0 = stroke
    if not (ch <= 0.3 * em and 0.12 * em <= cw <= 1.6 * em and cw >= 1.2 * ch):
        return None
    return Rect(float(x + x0), float(y + y0), float(x + cw + x0), float(y + ch + y0))


# Readings of one upright stroke; a '/' placeholder is often read as one of these.
_SLASH_LIKE = {"1", "l", "I", "|", "丨", "/", "7"}
SLASH_MIN_TILT = 12.0   # degrees from upright: a printed 1 leans less (its flag and foot balance)
# A slash's height in em: at least SLASH_MIN_HEIGHT (the lower part of a '/' whose top the scan
# lost; no digit is so short), and under SLASH_FULL_HEIGHT it is taken only doubted.
SLASH_MIN_HEIGHT = 0.3
SLASH_FULL_HEIGHT = 0.4
SHORT_SLASH_CONFIDENCE = 0.8


def slash_stroke(gray: np.ndarray, rect: Rect, em: float) -> Optional[Rect]:
    """The box of a cell's ink when it is one straight stroke leaning at least SLASH_MIN_TILT
    degrees from upright (the '/' placeholder), else None: measured against the cell's own
    darkest ink, as ``dash_stroke``; the stroke is SLASH_MIN_HEIGHT-1.6 em high and thin (its second moment
    across under a twelfth of the one along); anything else inked there is dust."""
    import cv2

    stroke = _lone_stroke(gray, rect, em)
    if stroke is None:
        return None
    mask, (x, y, cw, ch, _a), x0, y0 = stroke
    if not (SLASH_MIN_HEIGHT * em <= ch <= 1.6 * em):
        return None
    m = cv2.moments(mask, binaryImage=True)
    mu20, mu02, mu11 = m["mu20"], m["mu02"], m["mu11"]
    spread = np.sqrt(4 * mu11 ** 2 + (mu20 - mu02) ** 2)
    along, across = (mu20 + mu02 + spread) / 2, (mu20 + mu02 - spread) / 2
    # Thin: its spread across under ~0.3 of its spread along (a short stroke's own width weighs more).
    if along <= 0 or across > along / (12 if ch >= SLASH_FULL_HEIGHT * em else 6):
        return None
    # The long axis's angle from upright (image y points down: a '/' has negative covariance).
    tilt = abs(np.degrees(0.5 * np.arctan2(2 * mu11, mu02 - mu20)))
    if tilt < SLASH_MIN_TILT or tilt > 60 or mu11 >= 0:
        return None
    return Rect(float(x + x0), float(y + y0), float(x + cw + x0), float(y + ch + y0))


def stretch_contrast(crop: np.ndarray) -> np.ndarray:
    """Grey levels stretched so the crop's darkest print is black and its paper white (faint digits)."""
    lo, hi = float(np.percentile(crop, 1)), float(np.percentile(crop, 95))
    if hi - lo < 10:
        return crop
    out = (crop.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def _inner(rect: Rect) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = rect.ints()
    return x0 + 1, y0 + 1, x1 - 1, y1 - 1


def _crop_left(crop: "_Crop") -> tuple[float, float]:
    """Where a crop's image starts on the page (x, pixels) and how wide it is: its margin is even."""
    width = float(crop.image.shape[1]) / crop.scale
    return crop.rect.x0 - (width - (crop.rect.x1 - crop.rect.x0)) / 2, width


def _reframe(reading: LineReading, source: "_Crop", target: "_Crop") -> LineReading:
    """A reading of ``source`` with its characters' positions given in ``target``'s image."""
    (l0, w0), (l1, w1) = _crop_left(source), _crop_left(target)
    move = lambda f: (l0 + w0 * f - l1) / max(w1, 1.0)
    return LineReading(reading.text, [CharReading(c.char, c.prob, c.alternatives, move(c.x0), move(c.x1))
                                      for c in reading.chars])


def _better(a: LineReading, b: LineReading) -> LineReading:
    """The more confident of two readings of one line; when they agree on the text, the rivals
    of both are kept (a digit both readings doubt keeps its candidates)."""
    if a.text == b.text and len(a.chars) == len(b.chars):
        chars = []
        for ca, cb in zip(a.chars, b.chars):
            best, other = (ca, cb) if ca.prob >= cb.prob else (cb, ca)
            alts = {k: v for k, v in other.alternatives}
            for k, v in best.alternatives:
                alts[k] = max(v, alts.get(k, 0.0))
            best.alternatives = sorted(alts.items(), key=lambda x: -x[1])[:3]
            chars.append(best)
        return LineReading(text=a.text, chars=chars)
    return a if a.confidence >= b.confidence else b
