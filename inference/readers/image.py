"""Image files (PNG, JPEG, TIFF including multi-page TIFF, BMP, WebP): every frame is a page to OCR.

The reader only checks that the file decodes and counts its frames; the OCR stage reads them.
A file that cannot be decoded gets ``corrupt_image``.
"""
from __future__ import annotations

from pathlib import Path

from nianbao.document import Document, Page
from nianbao.errors import ReadError

from .options import ReaderOptions

# Pixel count above which an image is refused (a decompression bomb, not a scanned page).
MAX_PIXELS = 120_000_000


def read_image(path: Path, options: ReaderOptions) -> Document:
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(str(path)) as im:
            n = int(getattr(im, "n_frames", 1) or 1)
            if n > options.max_pdf_pages:
                raise ReadError("too_many_pages", f"{path.name} has {n} pages, over the {options.max_pdf_pages}-page limit")
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ReadError("too_large", f"{path.name} is {w}x{h} pixels, over the {MAX_PIXELS // 1_000_000} MP limit")
            # Decode the first frame fully: a truncated or corrupt file fails here, not later.
            im.seek(0)
            im.load()
            if w < 16 or h < 16:
                raise ReadError("corrupt_image", f"{path.name} is {w}x{h} pixels: too small to be a page")
    except ReadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ReadError("corrupt_image", f"{path.name} cannot be decoded as an image ({type(e).__name__}: {e})") from e
    pages = [Page(number=i + 1, needs_ocr=True, ocr_reason="image") for i in range(n)]
    return Document(source=str(path), format="image", pages=pages)
