"""Scanned versions of digital PDFs for tests and benchmarks: pages rendered to images (pypdfium2),
optionally degraded a little (rotation, blur, noise, JPEG), wrapped in an image-only PDF (pymupdf).

The report factory's ``training/factory/render_scan.py`` makes realistic scans (seals, perspective,
bleed-through); this is the small, dependency-free version the OCR tests use on real documents.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import numpy as np


def render_pages(pdf: Path, dpi: int, pages: Optional[Sequence[int]] = None) -> list[np.ndarray]:
    """Grey page images of a PDF at dpi (1-based page numbers; all pages by default)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    numbers = list(pages) if pages else list(range(1, len(doc) + 1))
    out = [np.asarray(doc[n - 1].render(scale=dpi / 72).to_pil().convert("L")) for n in numbers]
    doc.close()
    return out


def degrade(img: np.ndarray, seed: int, rotation: float = 0.7, blur: float = 0.6, noise: float = 6.0) -> np.ndarray:
    """A light scan: a small rotation, optical blur, sensor noise, a grey paper level."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rotation * (1 if rng.random() < 0.5 else -1), 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    out = out.astype(np.float32) * 0.93 + 8 + rng.normal(0, noise, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def image_only_pdf(images: Sequence[np.ndarray], out: Path, dpi: int, jpeg_quality: Optional[int] = None) -> Path:
    """One image per page, pages sized to the image at dpi, no text layer."""
    import pymupdf
    from PIL import Image

    doc = pymupdf.open()
    for img in images:
        h, w = img.shape[:2]
        page = doc.new_page(width=w * 72 / dpi, height=h * 72 / dpi)
        buf = io.BytesIO()
        pil = Image.fromarray(img)
        if jpeg_quality:
            pil.save(buf, format="JPEG", quality=jpeg_quality)
        else:
            pil.save(buf, format="PNG")
        page.insert_image(page.rect, stream=buf.getvalue())
    doc.save(str(out))
    doc.close()
    return Path(out)


def scanned_copy(pdf: Path, out: Path, dpi: int, seed: Optional[int] = None,
                 pages: Optional[Sequence[int]] = None) -> Path:
    """An image-only copy of ``pdf`` at ``dpi``; with a seed, lightly degraded and JPEG-compressed."""
    images = render_pages(pdf, dpi, pages)
    if seed is not None:
        images = [degrade(img, seed + i) for i, img in enumerate(images)]
    return image_only_pdf(images, out, dpi, jpeg_quality=75 if seed is not None else None)
