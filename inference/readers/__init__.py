"""Readers turn a file into a :class:`~nianbao.document.Document` with pages of lines and tables.

Which reader runs is chosen by sniffing the file's first bytes, then by its suffix, so a
mislabelled file is still read (or refused with a clear error), never guessed at.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from nianbao.document import Document
from nianbao.errors import ReadError

from .encoding import recording_decodes
from .options import ReaderOptions

Reader = Callable[[Path, ReaderOptions], Document]

# PNG, JPEG, TIFF (both byte orders): pages for the OCR stage; BMP and WebP by name and magic.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".shtml", ".xhtml"})
# Legacy binary office files (OLE2 compound documents): Word .doc, WPS 文字 .wps, WPS 表格 .et, read
# through a LibreOffice conversion (see legacy.py). An .xls named on the command line is read the same
# way, but a folder walk leaves .xls out: folders of reports carry spreadsheets that are not reports.
LEGACY_SUFFIXES = frozenset({".doc", ".wps", ".et"})
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The one list of report file names a folder walk takes (nianbao extract, nianbao ingest).
REPORT_SUFFIXES = frozenset(
    {".txt", ".md", ".docx", ".pdf", ".ofd"} | HTML_SUFFIXES - {".xhtml"} | IMAGE_SUFFIXES | LEGACY_SUFFIXES
)


def _is_image(head: bytes, suffix: str) -> bool:
    if head.startswith(IMAGE_MAGIC):
        return True
    if suffix == ".bmp" and head.startswith(b"BM"):
        return True
    return suffix == ".webp" and head.startswith(b"RIFF") and head[8:12] == b"WEBP"


def sniff_format(path: Path, head: bytes) -> str:
    """Return one of: text, html, docx, ofd, legacy, pdf, image — or raise ReadError for what no reader takes."""
    suffix = path.suffix.lower()
    if not head:
        raise ReadError("empty_file", f"{path.name} is empty")
    if head.startswith(b"%PDF") or b"%PDF-" in head[:1024]:
        return "pdf"
    if _is_image(head, suffix):
        return "image"
    if suffix in IMAGE_SUFFIXES:
        raise ReadError("corrupt_image", f"{path.name} has an image name but is not a PNG, JPEG, TIFF, BMP or WebP image")
    if head.startswith(b"PK\x03\x04"):
        # An OFD package names OFD.xml first (the first local header's file name, at byte 30).
        if suffix == ".ofd" or head[30:37] == b"OFD.xml":
            return "ofd"
        if suffix in (".docx", ".docm", "", ".doc", ".wps"):  # a Word 2007 file saved under an old name too
            return "docx"
        raise ReadError("unsupported_format", f"{path.name} is a zip archive, not a .docx or .ofd report")
    if head.startswith(OLE2_MAGIC[:4]):
        if suffix in LEGACY_SUFFIXES or suffix in (".xls", ".dot", ".wpt", ".ett", ""):
            return "legacy"
        raise ReadError("unsupported_format", f"{path.name} is a legacy Office file (OLE2) with an unknown name; "
                                              "name it .doc, .wps, .et or .xls, or convert it to .docx or PDF")
    if suffix == ".ofd":
        raise ReadError("corrupt_file", f"{path.name} has an .ofd name but is not a zip package")
    # RTF, often saved as .doc: LibreOffice converts it like a .doc (an HTML page saved as .doc is read
    # as HTML below, plain text as text).
    if head.lstrip()[:5] == b"{\\rtf" and suffix in LEGACY_SUFFIXES | {".rtf", ""}:
        return "legacy"
    if suffix in HTML_SUFFIXES:
        return "html"
    lowered = head[:4096].lower()
    if b"<html" in lowered or b"<!doctype html" in lowered or b"<table" in lowered:
        return "html"
    if suffix in (".docx",):
        raise ReadError("corrupt_file", f"{path.name} has a .docx name but is not a zip archive")
    if suffix == ".pdf":
        raise ReadError("corrupt_pdf", f"{path.name} has a .pdf name but no PDF header")
    return "text"


def reader_for(fmt: str) -> Reader:
    if fmt == "text":
        from .text import read_text
        return read_text
    if fmt == "html":
        from .html import read_html
        return read_html
    if fmt == "docx":
        from .docx import read_docx
        return read_docx
    if fmt == "pdf":
        from .pdf import read_pdf
        return read_pdf
    if fmt == "ofd":
        from .ofd import read_ofd
        return read_ofd
    if fmt == "legacy":
        from .legacy import read_legacy
        return read_legacy
    if fmt == "image":
        from .image import read_image
        return read_image
    raise ReadError("unsupported_format", f"no reader for format {fmt!r}")


def read_document(path: Path, options: ReaderOptions | None = None) -> Document:
    options = options or ReaderOptions()
    path = Path(path)
    if not path.exists():
        raise ReadError("not_found", f"{path} does not exist")
    if path.is_dir():
        raise ReadError("is_directory", f"{path} is a directory")
    size = path.stat().st_size
    if size > options.max_bytes:
        raise ReadError("too_large", f"{path.name} is {size / 1e6:.0f} MB, over the {options.max_bytes / 1e6:.0f} MB limit")
    with path.open("rb") as fh:
        head = fh.read(8192)
    fmt = sniff_format(path, head)
    with recording_decodes() as lossy_decodes:
        doc = reader_for(fmt)(path, options)
    doc.format = fmt
    doc.warnings.extend(d.note for d in lossy_decodes if d.note)
    return doc


class ReadStage:
    """The first stage: the file at ``doc.source`` becomes a Document of pages (raises ReadError)."""

    name = "read"

    def __init__(self, options: ReaderOptions | None = None):
        self.options = options or ReaderOptions()

    def __call__(self, doc: Document) -> Document:
        read = read_document(Path(doc.source), self.options)
        read.source = doc.source
        return read
