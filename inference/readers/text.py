"""Plain text and Markdown: one page of lines (form feeds start new pages)."""
from __future__ import annotations

from pathlib import Path

from nianbao.document import Document, Line, Page

from .encoding import decode_bytes
from .options import ReaderOptions


def read_text(path: Path, options: ReaderOptions) -> Document:
    text, encoding = decode_bytes(Path(path).read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pages = []
    for number, chunk in enumerate(text.split("\f"), start=1):
        pages.append(Page(number=number, blocks=[Line(text=line, page=number) for line in chunk.split("\n")]))
    return Document(source=str(path), format="text", encoding=encoding, pages=pages)
