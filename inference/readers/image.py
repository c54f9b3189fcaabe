"""Image files (PNG, JPEG, TIFF including multi-page TIFF, BMP, WebP): every frame is a page to OCR.

The reader only checks that the file decodes and counts its frames; the OCR stage reads them.
The size in the header is checked before a pixel is decoded: a frame over the pixel cap is
``too_large`` (PIL's own decompression-bomb guard says the same). A file that cannot be decoded
gets ``corrupt_image``.
"""
from __future__ import annotations

from pathlib import Path

from nianbao.document import Document, Page
from nianbao.errors import ReadError

from .options import ReaderOptions


def read_image(path: Path, options: ReaderOptions) -> Document:
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    limit = options.max_image_pixels
    try:
        with Image.open(str(path)) as im:
            n = int(getattr(im, "n_frames", 1) or 1)
            if n > options.max_pdf_pages:
                raise ReadError("too_many_pages", f"{path.name} has {n} pages, over the {options.max_pdf_pages}-page limit")
            # Every frame's size from its header (nothing is decoded yet): the OCR stage reads them all.
            for frame in range(n):
                if frame:
                    im.seek(frame)
                fw, fh = im.size
                if fw * fh > limit:
                    where = f" (page {frame + 1})" if n > 1 else ""
                    raise ReadError("too_large", f"{path.name} is {fw}x{fh} pixels{where}, over the {limit // 1_000_000} MP limit")
            im.seek(0)
            w, h = im.size
            # Decode the first frame fully: a truncated or corrupt file fails here, not later.
            im.load()
            if w < 16 or h < 16:
                raise ReadError("corrupt_image", f"{path.name} is {w}x{h} pixels: too small to be a page")
    except ReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # PIL refuses the header's size before decoding (the warning too, where warnings are errors).
        raise ReadError("too_large", f"{path.name} is too many pixels to be a scanned page ({e})") from e
    except MemoryError:
        raise  # a cap, not damage: the pipeline reports it as ``memory``
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ReadError("corrupt_image", f"{path.name} cannot be decoded as an image ({type(e).__name__}: {e})") from e
    pages = [Page(number=i + 1, needs_ocr=True, ocr_reason="image") for i in range(n)]
    return Document(source=str(path), format="image", pages=pages)
