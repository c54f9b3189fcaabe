from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class OcrOptions:
    """How scanned pages are read (one options object; see ``PipelineOptions.ocr``)."""

    # Off: pages without a usable text layer stay ``needs_ocr`` and go to review, as before.
    enabled: bool = True
    # Rasterisation of PDF pages that need OCR (pypdfium2). Images are used at their own size,
    # scaled so that the page's long side is at most ``max_side`` pixels.
    dpi: int = 200
    max_side: int = 2400
    # onnxruntime threads per model session (one session per worker process): 2 on a 2-core
    # machine with one worker, 1 with a pool of two workers.
    threads: int = 2
    # Layout model: boxes below this score are ignored.
    layout_threshold: float = 0.5
    # Page preparation.
    deskew: bool = True
    max_skew_degrees: float = 5.0
    orientation: bool = True
    # Round seals found by their ring: a grey seal's strokes are taken out by level, and rules the
    # seal hides are bridged across its disc.
    seals: bool = True
    # Cheap text outside tables: the top of the first OCR page (title: agency and year) and a strip
    # above each table (its heading). Everything else outside tables is not read.
    title_share: float = 0.3
    heading_strip_pt: float = 60.0
    # A character read with a probability below this is uncertain: its cell keeps alternatives.
    uncertain_char: float = 0.9
    # Alternatives of an uncertain digit with at least this probability are kept as candidates.
    alternative_min_prob: float = 0.02
    # Pictures of each table page (regions, cells coloured by confidence) are written here.
    debug_dir: Optional[str] = None
    # Pages above this count are not OCRed (the document gets an error, not a partial answer).
    max_pages: int = 300
