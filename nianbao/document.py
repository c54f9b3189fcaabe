"""The one typed document object that flows through every pipeline stage.

Readers fill ``pages``; the locate stage fills ``regions``, ``template``, ``agency`` and ``year``;
the mapper fills ``fields``; the reconcile stage fills ``checks``; the triage stage fills ``review``
(whether a person reviews the document, and why).
Each stage takes a :class:`Document` and returns it (see ``nianbao.inference.pipeline``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

from nianbao.schema import TABLE_NAMES  # defined once, by the schema

if TYPE_CHECKING:  # the stages' own types; imported lazily so the model has no stage dependency
    from nianbao.inference.linearize import LinearText
    from nianbao.inference.locate import LocatedTable


@dataclass(frozen=True)
class BBox:
    """A box on a page in PDF points (x0, top, x1, bottom), origin at the top left."""

    x0: float
    top: float
    x1: float
    bottom: float

    def as_list(self) -> list[float]:
        return [round(self.x0, 1), round(self.top, 1), round(self.x1, 1), round(self.bottom, 1)]


@dataclass
class Line:
    """A line of running text (prose, a heading, or a flattened table row in a text export)."""

    text: str
    page: int = 1
    bbox: Optional[BBox] = None
    # Read by OCR: "ocr", with the reading's probability (product of its characters' probabilities).
    confidence: Optional[float] = None
    source: str = "text"


@dataclass
class Cell:
    """One cell of a table grid; a merged cell appears once, at its top-left grid position."""

    text: str
    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1
    bbox: Optional[BBox] = None
    # Read by OCR: "ocr"; confidence = probability of the text as read; alternatives = other
    # readings of uncertain digits with their (normalised) probabilities, most probable first.
    confidence: Optional[float] = None
    source: str = "text"
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    # OCR saw ink in the cell but read nothing from it: not a printed-empty cell (text stays "").
    unread: bool = False


@dataclass
class Table:
    """A table whose cell structure the format gives (HTML, DOCX, ruled PDF)."""

    cells: list[Cell]
    page: int = 1
    bbox: Optional[BBox] = None

    @property
    def n_rows(self) -> int:
        return max((c.row + c.rowspan for c in self.cells), default=0)

    @property
    def n_cols(self) -> int:
        return max((c.col + c.colspan for c in self.cells), default=0)

    def rows(self) -> list[list[Cell]]:
        """Cells grouped by the grid row they start in, left to right."""
        out: list[list[Cell]] = [[] for _ in range(self.n_rows)]
        for c in self.cells:
            out[c.row].append(c)
        for r in out:
            r.sort(key=lambda c: c.col)
        return out


Block = Union[Line, Table]


@dataclass
class Page:
    number: int
    blocks: list[Block] = field(default_factory=list)
    # A page whose text layer is missing or garbled: a later OCR stage reads it.
    needs_ocr: bool = False
    ocr_reason: Optional[str] = None
    # Set by the OCR stage on a page it read (needs_ocr is then False): rotation, skew, units of
    # the boxes ("pt" for PDF pages, "px" for image files), tables found, seconds.
    ocr: Optional[dict[str, Any]] = None


@dataclass
class Segment:
    """A piece of text in reading order with where it came from: one cell, or one line part."""

    text: str
    page: int = 1
    bbox: Optional[BBox] = None
    # True for a cell of a real grid (its boundaries are the format's, not guessed from spaces).
    from_grid: bool = False
    # Copied from the Cell/Line: "ocr" segments carry the reading's confidence and alternatives.
    confidence: Optional[float] = None
    source: str = "text"
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    # (table number in the document, row) for a cell of a grid: which printed row it belongs to.
    grid_row: Optional[tuple[int, int]] = None
    # An empty tab cell after a row's last number: printed empty, or a ragged tail of the export.
    tail: bool = False


@dataclass
class Region:
    """Where one statutory table lies in the linearised text (character offsets)."""

    table: str
    start: int
    end: int


@dataclass
class FieldValue:
    value: Optional[float]
    raw: Optional[str]
    confidence: float
    page: Optional[int] = None
    bbox: Optional[BBox] = None
    # Other readings that survived (run-together digits), most plausible first.
    alternatives: list[float] = field(default_factory=list)
    reason: Optional[str] = None
    # "ocr" when the value was read by OCR ("text" otherwise; None for unprinted rows).
    source: Optional[str] = None


@dataclass
class Check:
    rule: str
    passed: bool
    detail: str
    cells: list[str]
    difference: float
    # The audit families (inference/audit.py) say more; None/empty where a rule has no such thing.
    confidence: Optional[float] = None   # how sure the verdict is (a finding against doubted cells is less sure)
    sentence: Optional[str] = None       # the prose sentence the finding rests on (P, N rules)
    position: Optional[int] = None       # its character offset in the document's reading-order text
    page: Optional[int] = None
    table_value: Optional[float] = None
    stated_value: Optional[float] = None  # the number the prose states
    not_applicable: list[str] = field(default_factory=list)  # cells printed '/', '—', 不适用 (A2)


@dataclass
class Review:
    needed: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass
class ExtractionError:
    code: str
    message: str


@dataclass
class Document:
    source: str
    format: Optional[str] = None
    encoding: Optional[str] = None
    pages: list[Page] = field(default_factory=list)
    # Filled by the stages, in pipeline order.
    segments: list[Segment] = field(default_factory=list)
    linear: Optional["LinearText"] = field(default=None, repr=False)
    located: dict[str, "LocatedTable"] = field(default_factory=dict, repr=False)
    regions: dict[str, Region] = field(default_factory=dict)
    found: dict[str, bool] = field(default_factory=lambda: {t: False for t in TABLE_NAMES})
    template: Optional[str] = None
    agency: Optional[str] = None
    year: Optional[int] = None
    fields: dict[str, FieldValue] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    review: Review = field(default_factory=Review)
    error: Optional[ExtractionError] = None
    # What reading had to give up without stopping, one line each; a line starts with its kind,
    # e.g. "decoded_with_replacement: 3 of 7035 bytes are not valid utf-8 ...".
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # What spotted the row labels ("classifier" or "baseline"); the record writes it as ``mapper``,
    # the output contract's name for it.
    spotter: Optional[str] = None
    # The version of the trained model that read the tables (models/registry.json); None for the baseline.
    model_version: Optional[str] = None

    @property
    def pages_needing_ocr(self) -> list[int]:
        return [p.number for p in self.pages if p.needs_ocr]

    def values(self) -> dict[str, Optional[float]]:
        return {k: f.value for k, f in self.fields.items()}
