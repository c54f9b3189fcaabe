"""The OCR stage: between read and locate, every page marked ``needs_ocr`` is read from its image.

Pages with a usable text layer are left as the reader made them, so one document may mix both
kinds. A page read here gets Line/Table blocks whose cells carry ``source="ocr"``, a confidence and
candidate readings, ``needs_ocr`` False and ``page.ocr`` (what was done). A page that cannot be read
(the models cannot load, the page cannot be rasterised) stays ``needs_ocr`` with the reason; the
review stage reports it. Nothing is invented for a page that was not read.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Optional

from nianbao.document import Document
from nianbao.errors import ReadError

from .options import OcrOptions
from .prep import PageImage, image_frames, pdf_pages


def page_images(doc: Document, numbers: list[int], options: OcrOptions) -> Iterator[PageImage]:
    path = Path(doc.source)
    if doc.format == "pdf":
        return pdf_pages(path, numbers, options.dpi, options.max_side)
    if doc.format == "image":
        return image_frames(path, numbers, options.max_side)
    if doc.format == "ofd":  # a scanned OFD: its page images, drawn by the OFD reader
        from nianbao.inference.readers.ofd import page_images as ofd_page_images

        return ofd_page_images(path, numbers, options.dpi, options.max_side)
    raise ReadError("unsupported_format", f"pages of a {doc.format} document cannot be rasterised")


class OcrStage:
    name = "ocr"

    def __init__(self, options: Optional[OcrOptions] = None):
        self.options = options or OcrOptions()
        self._reader = None

    def reader(self):
        """Models are loaded on the first page that needs them (a text document never pays)."""
        if self._reader is None:
            from .engine import get_engine
            from .layout import get_layout_model
            from .page import PageReader

            self._reader = PageReader(get_engine(self.options.threads), get_layout_model(self.options.threads), self.options)
        return self._reader

    def __call__(self, doc: Document) -> Document:
        pending = [p for p in doc.pages if p.needs_ocr]
        if not pending or not self.options.enabled:
            return doc
        if len(pending) > self.options.max_pages:
            raise ReadError("too_many_pages", f"{len(pending)} pages need OCR, over the {self.options.max_pages}-page OCR limit")
        try:
            reader = self.reader()
        except Exception as e:  # models missing or broken: the pages stay unread, with the reason
            for p in pending:
                p.ocr_reason = f"{p.ocr_reason or 'needs OCR'}; OCR unavailable: {type(e).__name__}: {e}"
            return doc
        by_number = {p.number: p for p in pending}
        first = min(by_number)
        debug = Path(self.options.debug_dir) if self.options.debug_dir else None
        t0 = time.perf_counter()
        for image in page_images(doc, sorted(by_number), self.options):
            page = by_number[image.number]
            try:
                result = reader.read(image, read_title=image.number == first)
            except Exception as e:  # one bad page must not lose the others
                page.ocr_reason = f"{page.ocr_reason or 'needs OCR'}; OCR failed: {type(e).__name__}: {e}"
                continue
            page.blocks = result.blocks
            page.needs_ocr = False
            page.ocr = result.info
            if debug is not None and (result.info.get("tables") or result.cells):
                from .debug import write_page_picture

                result.info["picture"] = str(write_page_picture(debug, doc.source, image.number, result))
        doc.timings["ocr_pages"] = round(time.perf_counter() - t0, 4)
        return doc
