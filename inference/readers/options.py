from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReaderOptions:
    """Limits and switches shared by all readers (one options object, see pipeline options)."""

    # Files above this size are refused before reading (a decompression bomb or a dump, not a report).
    max_bytes: int = 200_000_000
    # PDF pages above this count are not read; the document gets an error, not a partial answer.
    max_pdf_pages: int = 1000
    # Zip-based formats (DOCX): python-docx inflates every part into memory and lxml parses the XML
    # at several times its size, so the inflated sizes are capped, per part and for the whole package,
    # before anything is inflated for reading. A report's document.xml is a few MB.
    max_part_bytes: int = 100_000_000
    max_inflated_bytes: int = 400_000_000
    max_zip_parts: int = 10_000
    # Images: pixels of one frame (a scanned A4 page at 600 dpi is about 35 MP).
    max_image_pixels: int = 120_000_000
