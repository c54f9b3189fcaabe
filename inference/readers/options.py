from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReaderOptions:
    """Limits and switches shared by all readers (one options object, see pipeline options)."""

    # Files above this size are refused before reading (a decompression bomb or a dump, not a report).
    max_bytes: int = 200_000_000
    # PDF pages above this count are not read; the document gets an error, not a partial answer.
    max_pdf_pages: int = 1000
