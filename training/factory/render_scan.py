"""Scanned rendering: a digital PDF printed, stamped and scanned, as an image-only PDF.

Each page of the digital PDF is rasterised with pdfium at the document's scan resolution (150-300
dpi) and degraded the way real scans of 政府信息公开工作年度报告 are, in physical order:

1. printing: stroke weight (toner spread or starved strokes: grey-level gamma, erode/dilate),
   ink not quite black, paper not quite white (tinted in colour scans), the digits of some printed
   values faint or broken (``ScanOptions.faint_digits``; drawn from a side stream of ``rng``);
2. the paper: bleed-through of the other side (the next page, mirrored, blurred, faint);
3. stamping: a red official seal (ring, star, the agency's name around the rim), semi-transparent
   and multiplied over the print, sometimes over the last table;
4. scanning: the page lies a little rotated (±2°), shifted and in mild perspective on the glass
   (a dark scanner-lid border where it shows, sometimes), uneven illumination, optical blur,
   sensor noise and dust specks;
5. saving: grayscale or colour JPEG (quality 40-90), sometimes a 1-bit black-and-white image.

A **phone photo** (``ScanOptions.phone``; never drawn, off unless set) replaces step 4: the page
lies on a desk and is photographed from above at a slant — a keystone (the far edge narrower), a
few degrees of rotation, the page filling 75-90% of the frame with the desk around it, off-white
paper, a lighting gradient across the frame and often a soft shadow, slight blur, sensor noise,
colour JPEG. Its draws come from a side stream, so the rest of the scan is the same.

The result is a PDF with one image per page and no text layer, pages sized to the image at its
dpi. Every box given (value cells, text lines; PDF points, origin top-left) is carried through the
same geometric transform, so its label is known in pixel coordinates of the output image.

All randomness comes from the ``rng`` given; the same PDF and seed give the same bytes.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np

__all__ = ["ScanOptions", "ScanBox", "ScanPage", "ScanRenderInfo", "render_scan", "make_seal"]

Box = tuple[float, float, float, float]


@dataclass
class ScanOptions:
    """What the scan may vary; ``None`` means drawn from the rng. Sizes are in output pixels."""

    dpi: Optional[int] = None              # 150-300
    mode: Optional[str] = None             # "gray" | "color" | "bw"
    severity: Optional[float] = None       # 0 (clean office scan) .. 1 (poor copy); scales the rest
    rotation: Optional[float] = None       # degrees, per document (pages vary a little around it)
    perspective: Optional[float] = None    # corner displacement as a fraction of the page size
    blur: Optional[float] = None           # Gaussian sigma in pixels at 200 dpi
    noise: Optional[float] = None          # Gaussian noise sigma (grey levels)
    specks: Optional[float] = None         # dust specks per page
    jpeg_quality: Optional[int] = None
    bleed: Optional[float] = None          # bleed-through strength 0..1 (0: none)
    seal: Optional[bool] = None            # stamp a red seal on the page of the last table
    seal_text: Optional[str] = None        # text around the seal's rim (the agency)
    stroke: Optional[str] = None           # "thin" | "normal" | "thick" | "bold"
    illumination: Optional[float] = None   # depth of uneven lighting 0..1
    dark_border: Optional[bool] = None     # scanner lid shows as dark edges where the page is rotated
    resolution_loss: Optional[float] = None  # optical/file resolution ratio (1: none; 0.55: strong)
    sharpen: Optional[float] = None        # scanner unsharp-mask amount (0: none)
    paper_texture: Optional[float] = None  # amplitude of the paper's mottle (grey levels)
    shadow: Optional[str] = None           # "none" | "left" | "top" | "right": a binding-edge shadow
    # Share of the printed values whose digits come out faint (starved toner) or broken (dropouts);
    # drawn from a side stream of the rng, so every other draw, and a scan without them, is as before.
    faint_digits: Optional[float] = None
    # A phone photo of the printed page instead of a scan (see the module docstring). Never drawn.
    phone: Optional[bool] = None
    return_images: bool = False            # keep the page images (PIL) in the info
    png_dir: Optional[Path] = None         # also write page PNGs here


@dataclass
class ScanBox:
    """A box from the digital PDF carried into the scan image (pixels, origin top-left)."""

    page: int                 # 1-based
    bbox: Optional[Box]       # axis-aligned box of the transformed quad, clipped to the image (None: blank)
    quad: Optional[list[tuple[float, float]]]  # the four transformed corners (TL, TR, BR, BL)
    kind: str = "box"         # "value" | "cell" | a line kind | "box"
    key: Optional[str] = None
    text: str = ""
    cell_bbox: Optional[Box] = None  # the ruled cell, transformed the same way (cells and values)


@dataclass
class ScanPage:
    page: int
    width: int
    height: int
    dpi: int
    matrix: list[list[float]]  # 3x3: PDF points (top-left origin) -> output pixels
    params: dict


@dataclass
class ScanRenderInfo:
    n_pages: int
    dpi: int
    mode: str
    pages: list[ScanPage]
    values: list[ScanBox] = field(default_factory=list)
    cells: list[ScanBox] = field(default_factory=list)
    lines: list[ScanBox] = field(default_factory=list)
    boxes: list[ScanBox] = field(default_factory=list)
    seal: Optional[dict] = None
    seconds: float = 0.0
    images: Optional[list] = field(default=None, repr=False)
    png_paths: list[str] = field(default_factory=list)
    style: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("images", None)
        return d


# ---------------------------------------------------------------------------------------------
# Document-level style
# ---------------------------------------------------------------------------------------------

def _resolve(options: ScanOptions, rng: np.random.Generator) -> dict:
    """Draw every choice (always all, in a fixed order), then apply what the options fix."""
    sev = float(rng.beta(1.6, 2.4))
    d: dict[str, Any] = {}
    d["severity"] = sev
    d["dpi"] = int(rng.choice([150, 200, 200, 240, 300, 300]) if rng.random() < 0.85 else int(rng.integers(150, 301)))
    d["mode"] = str(rng.choice(["gray", "color", "bw"], p=[0.5, 0.42, 0.08]))
    d["rotation"] = float(np.clip(rng.normal(0, 0.35 + 0.9 * sev), -2.0, 2.0))
    d["perspective"] = float(rng.uniform(0, 0.002 + 0.006 * sev))
    d["blur"] = float(rng.uniform(0.3, 0.6 + 0.8 * sev))
    d["noise"] = float(rng.uniform(2.0, 3.5 + 7.0 * sev))
    d["specks"] = float(rng.uniform(0, 15 + 110 * sev))
    d["jpeg_quality"] = int(rng.integers(int(85 - 40 * sev), int(94 - 30 * sev)))
    d["bleed"] = float(rng.uniform(0.02, 0.08 + 0.12 * sev)) if rng.random() < 0.35 else 0.0
    d["seal"] = bool(rng.random() < 0.5)
    d["seal_text"] = None
    d["stroke"] = str(rng.choice(["thin", "normal", "thick", "bold"], p=[0.15, 0.5, 0.25, 0.1]))
    d["illumination"] = float(rng.uniform(0.02, 0.08 + 0.17 * sev))
    d["dark_border"] = bool(rng.random() < 0.15)
    # The scanner's optical resolution below the file's: detail lost, edges soft and stepped.
    d["resolution_loss"] = float(rng.uniform(0.55, 0.9)) if rng.random() < 0.25 + 0.5 * sev else 1.0
    d["sharpen"] = float(rng.uniform(0.4, 1.2)) if rng.random() < 0.3 else 0.0
    d["paper_texture"] = float(rng.uniform(1.0, 3.0 + 5.0 * sev))
    d["shadow"] = str(rng.choice(["none", "left", "top", "right"], p=[0.7, 0.15, 0.1, 0.05]))
    mode = options.mode if options.mode is not None else d["mode"]
    if mode == "bw":
        # A 1-bit scan is thresholded at capture: crisp, stepped edges; what blur or starved
        # strokes would turn light grey is lost, so those stay mild.
        d["blur"] = min(d["blur"], 0.6)
        d["resolution_loss"] = max(d["resolution_loss"], 0.85) if d["resolution_loss"] < 1 else 1.0
        d["stroke"] = "normal" if d["stroke"] == "thin" else d["stroke"]
        d["bleed"] = min(d["bleed"], 0.08)
    for f in fields(ScanOptions):
        if f.name in d and getattr(options, f.name) is not None:
            d[f.name] = getattr(options, f.name)
    d["dpi"] = int(d["dpi"])
    return d


# ---------------------------------------------------------------------------------------------
# The seal
# ---------------------------------------------------------------------------------------------

_PIL_FONTS: dict[int, Any] = {}


def _pil_font(size: int):
    from PIL import ImageFont

    f = _PIL_FONTS.get(size)
    if f is None:
        from .render_pdf import _font

        f = ImageFont.truetype(io.BytesIO(_font("cjk").buffer), size)
        _PIL_FONTS[size] = f
    return f


def _glyph(ch: str, size: int) -> np.ndarray:
    """A character as a float mask (1 = ink), square ``size`` pixels."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    font = _pil_font(max(4, int(size * 0.92)))
    l, t, r, b = draw.textbbox((0, 0), ch, font=font)
    draw.text(((size - (r - l)) / 2 - l, (size - (b - t)) / 2 - t), ch, fill=255, font=font)
    return np.asarray(img, dtype=np.float32) / 255.0


def make_seal(radius: int, text: str, rng: np.random.Generator, bottom_text: str = "") -> np.ndarray:
    """A round official seal as an ink mask (float32, 0..1), square of side 2·radius+4.

    A ring, a five-pointed star, the agency's name along the upper rim (characters rotated to
    the tangent), optionally a short line under the star; the ink is uneven (worn stamp pad).
    """
    side = 2 * radius + 4
    c = side / 2
    ss = 2  # supersampling for smooth edges
    big = np.zeros((side * ss, side * ss), np.float32)
    ring = max(2, int(radius * rng.uniform(0.055, 0.08)))
    cv2.circle(big, (int(c * ss), int(c * ss)), int((radius - ring / 2) * ss), 1.0, int(ring * ss), cv2.LINE_AA)
    # Star.
    rs = radius * rng.uniform(0.26, 0.32)
    pts = []
    for k in range(10):
        ang = -math.pi / 2 + k * math.pi / 5
        rr = rs if k % 2 == 0 else rs * 0.382
        pts.append((c + rr * math.cos(ang), c + rr * math.sin(ang)))
    cv2.fillPoly(big, [np.round(np.array(pts) * ss).astype(np.int32)], 1.0, cv2.LINE_AA)
    mask = cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)
    # Text along the rim: tall, bold, squeezed sideways when the name is long (as seal fonts are).
    text = (text or "").strip()
    if text:
        n = len(text)
        span = math.radians(min(265.0, max(200.0, 40.0 + 16.0 * n)))
        gh = max(6, int(radius * rng.uniform(0.25, 0.3)))
        r_text = radius - ring - gh * 0.62
        gw = max(4, min(gh, int(0.95 * r_text * span / n)))
        box = int(math.ceil(math.hypot(gw, gh))) + 2
        bold = np.ones((max(1, gh // 12),) * 2, np.uint8)
        for i, ch in enumerate(text):
            a = -math.pi / 2 - span / 2 + span * (i + 0.5) / n  # clockwise from the left
            g = cv2.resize(_glyph(ch, gh), (gw, gh), interpolation=cv2.INTER_AREA)
            g = cv2.dilate(g, bold)
            canvas = np.zeros((box, box), np.float32)
            oy, ox = (box - gh) // 2, (box - gw) // 2
            canvas[oy:oy + gh, ox:ox + gw] = g
            rot = cv2.getRotationMatrix2D((box / 2, box / 2), -math.degrees(a + math.pi / 2), 1.0)
            g = cv2.warpAffine(canvas, rot, (box, box), flags=cv2.INTER_LINEAR)
            x = int(round(c + r_text * math.cos(a) - box / 2))
            y = int(round(c + r_text * math.sin(a) - box / 2))
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + box, side), min(y + box, side)
            if x1 > x0 and y1 > y0:
                sub = g[y0 - y:y1 - y, x0 - x:x1 - x]
                mask[y0:y1, x0:x1] = np.maximum(mask[y0:y1, x0:x1], sub)
    if bottom_text:
        gsize = max(6, int(radius * 0.2))
        w = gsize * len(bottom_text)
        y = int(c + radius * 0.45 - gsize / 2)
        for i, ch in enumerate(bottom_text):
            g = cv2.dilate(_glyph(ch, gsize), np.ones((max(1, gsize // 12),) * 2, np.uint8))
            x = int(c - w / 2 + i * gsize)
            if 0 <= x and x + gsize <= side and 0 <= y and y + gsize <= side:
                mask[y:y + gsize, x:x + gsize] = np.maximum(mask[y:y + gsize, x:x + gsize], g)
    # Uneven ink: low-frequency density times fine grain, with a few starved patches.
    low = cv2.resize(rng.uniform(0.55, 1.0, (6, 6)).astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)
    grain = rng.uniform(0.75, 1.0, (side, side)).astype(np.float32)
    mask = np.clip(mask * low * grain, 0, 1)
    return cv2.GaussianBlur(mask, (0, 0), max(0.6, radius / 160))


# ---------------------------------------------------------------------------------------------
# Page degradation
# ---------------------------------------------------------------------------------------------

def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int = 5) -> np.ndarray:
    """A smooth random field in 0..1 (bicubic upsampling of a coarse grid)."""
    coarse = rng.random((cells, max(2, int(cells * w / max(h, 1))))).astype(np.float32)
    f = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(f, 0, 1)


def _noise_tile(rng: np.random.Generator, sigma: float) -> np.ndarray:
    return (rng.standard_normal((512, 512), dtype=np.float32) * sigma)


def _tiled(tile: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    th, tw = tile.shape
    oy, ox = int(rng.integers(0, th)), int(rng.integers(0, tw))
    reps = (math.ceil((h + oy) / th), math.ceil((w + ox) / tw))
    return np.tile(tile, reps)[oy:oy + h, ox:ox + w]


def _stroke(gray: np.ndarray, kind: str, dpi: int) -> np.ndarray:
    """Change the weight of dark strokes on a white page (uint8 gray in, uint8 out)."""
    if kind == "normal":
        return gray
    lut = np.arange(256, dtype=np.float32) / 255.0
    if kind == "thin":
        lut = lut ** 0.6
        out = cv2.LUT(gray, np.clip(lut * 255, 0, 255).astype(np.uint8))
        if dpi >= 240:
            out = cv2.dilate(out, np.ones((2, 2), np.uint8))  # white grows: strokes thin
        return out
    lut = lut ** (1.8 if kind == "thick" else 2.6)
    out = cv2.LUT(gray, np.clip(lut * 255, 0, 255).astype(np.uint8))
    if kind == "bold" or dpi >= 240:
        out = cv2.erode(out, np.ones((2, 2), np.uint8))  # dark grows: strokes thicken
    return out


def _page_matrix(w: int, h: int, rng: np.random.Generator, rotation: float, perspective: float) -> np.ndarray:
    """A homography for the page on the glass: rotation about a point, shift, scale, corner jitter."""
    ang = math.radians(rotation + float(rng.normal(0, 0.15)))
    scale = 1.0 + float(rng.uniform(-0.012, 0.012))
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
    tx, ty = rng.uniform(-0.008, 0.008) * w, rng.uniform(-0.006, 0.006) * h
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    ca, sa = math.cos(ang) * scale, math.sin(ang) * scale
    dst = []
    for x, y in src:
        dx, dy = x - cx, y - cy
        px = cx + ca * dx - sa * dy + tx
        py = cy + sa * dx + ca * dy + ty
        px += rng.uniform(-1, 1) * perspective * w
        py += rng.uniform(-1, 1) * perspective * h
        dst.append((px, py))
    return cv2.getPerspectiveTransform(src, np.array(dst, np.float32))


def _stamp(img: np.ndarray, mask: np.ndarray, cx: float, cy: float, color: np.ndarray) -> None:
    """Multiply a seal mask (coloured ink) into a float32 image in place (H×W or H×W×3)."""
    h, w = img.shape[:2]
    s = mask.shape[0]
    x, y = int(round(cx - s / 2)), int(round(cy - s / 2))
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + s, w), min(y + s, h)
    if x1 <= x0 or y1 <= y0:
        return
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x]
    region = img[y0:y1, x0:x1]
    if img.ndim == 2:
        lum = float(color @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0
        region *= 1.0 - m * (1.0 - lum)
    else:
        region *= 1.0 - m[..., None] * (1.0 - color[None, None, :] / 255.0)


def _stamp_chroma(chroma: np.ndarray, mask: np.ndarray, cx: float, cy: float, color: np.ndarray) -> None:
    """The seal's colour in a chroma-ratio image: its per-channel factor over its luminance factor."""
    h, w = chroma.shape[:2]
    s = mask.shape[0]
    x, y = int(round(cx - s / 2)), int(round(cy - s / 2))
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + s, w), min(y + s, h)
    if x1 <= x0 or y1 <= y0:
        return
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x][..., None]
    col = color[None, None, :] / 255.0
    lum = float(color @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0
    chroma[y0:y1, x0:x1] *= (1.0 - m * (1.0 - col)) / (1.0 - m * (1.0 - lum))


def _agency_of(signature: str) -> str:
    """The agency in a signature line ("某某局　　2024年1月20日" -> "某某局")."""
    text = re.split(r"\s|\u3000", signature.strip())[0]
    return re.sub(r"[0-9０-９]{4}年.*$", "", text)


def _seal_place(info: Any, n_pages: int, rng: np.random.Generator):
    """Where the seal goes: (page index, centre in points), over the last table / the signature."""
    from .render_pdf import PdfRenderInfo

    if isinstance(info, PdfRenderInfo) and info.values:
        last_table = info.values[-1].table
        cells = [c for c in info.cells if c.table == last_table]
        page = max(c.page for c in cells)
        on = [c.cell_bbox for c in cells if c.page == page]
        x0 = min(b[0] for b in on)
        x1 = max(b[2] for b in on)
        top = min(b[1] for b in on)
        bottom = max(b[3] for b in on)
        sig = [ln for ln in info.lines if ln.page == page and ln.kind in ("signature", "date") and ln.bbox[1] >= bottom]
        if sig and rng.random() < 0.6:
            b = sig[0].bbox
            cx = (b[0] + b[2]) / 2 + rng.uniform(-20, 20)
            cy = (b[1] + b[3]) / 2 + rng.uniform(-25, 10)
        else:
            cx = rng.uniform(x0 + 0.45 * (x1 - x0), x1 - 20)
            cy = rng.uniform(max(top, bottom - 80), bottom + 25)
        return page - 1, (float(cx), float(cy))
    return n_pages - 1, None


def _side_rng(rng: np.random.Generator, salt: int = 0xFA1D) -> np.random.Generator:
    """A second generator seeded from ``rng``'s state without drawing from it."""
    state = rng.bit_generator.state.get("state", {})
    seed = state.get("state", 0) if isinstance(state, dict) else 0
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, int(seed) >> 64, salt])


# ---------------------------------------------------------------------------------------------
# Phone photos
# ---------------------------------------------------------------------------------------------

# Desk colours (RGB) around a photographed page: wood, dark wood, grey laminate, dark cloth.
_DESKS = ((128, 92, 60), (84, 60, 42), (118, 118, 112), (46, 46, 50))


def _phone_style(prng: np.random.Generator) -> dict:
    """The photo's draws (all of them, in a fixed order)."""
    return dict(
        fill=float(prng.uniform(0.75, 0.9)),                 # page height / frame height
        keystone=float(prng.uniform(0.02, 0.08)),            # far edge shortened by this share per side
        keystone_side=str(prng.choice(["top", "bottom", "left", "right"], p=[0.55, 0.2, 0.125, 0.125])),
        angle=float(prng.uniform(-4.0, 4.0)),
        jitter=float(prng.uniform(0.002, 0.01)),
        desk=int(prng.integers(0, len(_DESKS))),
        paper=float(prng.uniform(200, 232)),                 # off-white paper
        warm=float(prng.uniform(0.0, 1.0)),                  # tint of the light (0 neutral, 1 warm)
        light_low=float(prng.uniform(0.72, 0.9)),            # the darkest end of the lighting gradient
        light_angle=float(prng.uniform(0, 2 * math.pi)),
        shadow=bool(prng.random() < 0.6),                    # a soft shadow (the phone, a hand) over part
        shadow_depth=float(prng.uniform(0.12, 0.3)),
        blur=float(prng.uniform(0.7, 1.5)),                  # sigma in pixels at 200 dpi
        noise=float(prng.uniform(3.0, 7.0)),
        jpeg_quality=int(prng.integers(72, 93)),
        colour=bool(prng.random() < 0.85),
    )


def _phone_matrix(w: int, h: int, prng: np.random.Generator, ph: dict) -> np.ndarray:
    """A homography for the page photographed on a desk: scaled into the frame, keystoned, rotated,
    its corners jittered, and always whole inside the frame."""
    s = ph["fill"]
    pw, phh = w * s, h * s
    k = ph["keystone"]
    # Corners TL, TR, BR, BL of the page, centred at the origin, before the keystone.
    pts = np.array([[-pw / 2, -phh / 2], [pw / 2, -phh / 2], [pw / 2, phh / 2], [-pw / 2, phh / 2]], np.float64)
    side = ph["keystone_side"]
    if side == "top":
        pts[0, 0] += k * pw; pts[1, 0] -= k * pw; pts[0, 1] += k * phh; pts[1, 1] += k * phh  # noqa: E702
    elif side == "bottom":
        pts[3, 0] += k * pw; pts[2, 0] -= k * pw; pts[3, 1] -= k * phh; pts[2, 1] -= k * phh  # noqa: E702
    elif side == "left":
        pts[0, 1] += k * phh; pts[3, 1] -= k * phh; pts[0, 0] += k * pw; pts[3, 0] += k * pw  # noqa: E702
    else:
        pts[1, 1] += k * phh; pts[2, 1] -= k * phh; pts[1, 0] -= k * pw; pts[2, 0] -= k * pw  # noqa: E702
    a = math.radians(ph["angle"])
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = pts @ rot.T
    pts += prng.uniform(-1, 1, pts.shape) * ph["jitter"] * np.array([w, h])
    # Shrink to fit with a margin, then place the page somewhere in the room left.
    span = pts.max(axis=0) - pts.min(axis=0)
    fit = min(1.0, 0.97 * w / span[0], 0.97 * h / span[1])
    pts *= fit
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    room = np.array([w, h]) - (hi - lo)
    off = -lo + room * prng.uniform(0.25, 0.75, 2)
    dst = (pts + off).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def _phone_desk(h: int, w: int, prng: np.random.Generator, ph: dict) -> np.ndarray:
    """The desk around the page (RGB float32), with a smooth grain."""
    base = np.array(_DESKS[ph["desk"]], np.float32)
    vary = (_smooth_field(prng, h, w, 8) - 0.5)[..., None] * 30.0
    streak = (_smooth_field(prng, max(2, h // 40), w, 40) - 0.5)
    streak = cv2.resize(streak, (w, h), interpolation=cv2.INTER_LINEAR)[..., None] * 14.0
    return np.clip(base[None, None, :] + vary + streak, 0, 255)


def _phone_light(h: int, w: int, prng: np.random.Generator, ph: dict) -> np.ndarray:
    """Uneven lighting of a photo: a gradient across the frame and often a soft-edged shadow."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ca, sa = math.cos(ph["light_angle"]), math.sin(ph["light_angle"])
    t = (xx / w - 0.5) * ca + (yy / h - 0.5) * sa
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    light = ph["light_low"] + (1.0 - ph["light_low"]) * t
    if ph["shadow"]:
        # A half-plane through a point of the frame, its edge blurred over 3-8% of the width.
        px, py = prng.uniform(0.2, 0.8) * w, prng.uniform(0.2, 0.8) * h
        b = prng.uniform(0, 2 * math.pi)
        d = (xx - px) * math.cos(b) + (yy - py) * math.sin(b)
        soft = prng.uniform(0.03, 0.08) * w
        light *= 1.0 - ph["shadow_depth"] / (1.0 + np.exp(-d / soft))
    else:
        prng.uniform(0, 1, 4)  # the same draws either way
    return light.astype(np.float32)


def _fade_digits(img: np.ndarray, box: Box, scale: float, paper: float, how: str, amount: float,
                 rng: np.random.Generator) -> None:
    """A printed value (box in points) made faint (its ink keeps ``amount`` of its contrast) or
    broken (about ``amount`` of its strokes dropped out in blotches), in place (float32 image)."""
    h, w = img.shape[:2]
    x0, y0 = max(0, int(box[0] * scale) - 2), max(0, int(box[1] * scale) - 2)
    x1, y1 = min(w, int(math.ceil(box[2] * scale)) + 2), min(h, int(math.ceil(box[3] * scale)) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    region = img[y0:y1, x0:x1]
    if how == "faint":
        region[...] = paper - (paper - region) * amount
        return
    field = rng.random((max(2, (y1 - y0) // 4), max(2, (x1 - x0) // 4))).astype(np.float32)
    field = cv2.resize(field, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    drop = field < np.quantile(field, amount)
    region[drop] = paper - (paper - region[drop]) * 0.15


def _box_to_scan(page: int, box: Optional[Box], m: np.ndarray, w: int, h: int):
    if box is None:
        return None, None
    x0, t, x1, b = box
    pts = np.array([[[x0, t], [x1, t], [x1, b], [x0, b]]], np.float64)
    q = cv2.perspectiveTransform(pts, m)[0]
    xs, ys = q[:, 0], q[:, 1]
    bb = (float(max(0.0, xs.min())), float(max(0.0, ys.min())), float(min(w, xs.max())), float(min(h, ys.max())))
    return bb, [(round(float(x), 2), round(float(y), 2)) for x, y in q]


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

BoxesArg = Union[None, Any, Sequence[tuple[int, Box]]]


def render_scan(pdf_path: Path, out_path: Path, rng: np.random.Generator,
                options: Optional[ScanOptions] = None, boxes: BoxesArg = None) -> ScanRenderInfo:
    """Print, stamp and scan ``pdf_path`` into an image-only PDF at ``out_path``.

    ``boxes``: the :class:`~.render_pdf.PdfRenderInfo` of the digital PDF (its values, cells and
    lines are carried into the scan, and the seal goes over its last table), or a list of
    ``(page, (x0, top, x1, bottom))`` in PDF points, carried into :attr:`ScanRenderInfo.boxes`.
    """
    import time

    import pymupdf
    import pypdfium2 as pdfium

    from .render_pdf import PdfRenderInfo

    t_start = time.perf_counter()
    options = options or ScanOptions()
    st = _resolve(options, rng)
    phone = bool(options.phone)
    prng = _side_rng(rng, 0x9407E) if phone else None
    ph = _phone_style(prng) if prng is not None else {}
    if phone:
        # What a scanner does and a phone does not (a lid, a binding shadow, a 1-bit file, sharpening).
        st.update(phone=True, keystone_side=ph["keystone_side"], dark_border=False, shadow="none",
                  resolution_loss=1.0, sharpen=0.0, blur=ph["blur"], noise=ph["noise"],
                  jpeg_quality=ph["jpeg_quality"], illumination=0.0)
        if options.mode is None:
            st["mode"] = "color" if ph["colour"] else "gray"
    dpi = st["dpi"]
    mode = st["mode"]
    sev = st["severity"]
    colour = mode == "color"
    scale = dpi / 72.0

    src = pdfium.PdfDocument(str(pdf_path))
    n_pages = len(src)
    page_pts = [src[i].get_size() for i in range(n_pages)]

    def raster(i: int) -> np.ndarray:
        page = src[i]
        if colour:
            bgr = page.render(scale=scale).to_numpy()
            return np.ascontiguousarray(bgr[..., ::-1])  # RGB
        return page.render(scale=scale, grayscale=True).to_numpy()

    # Document-level draws.
    ink_level = float(rng.uniform(8, 30 + 35 * sev))
    paper = float(rng.uniform(212, 250))
    tint = np.array([1.0, rng.uniform(0.975, 1.0), rng.uniform(0.92, 0.99)], np.float32) if colour else None
    if phone:
        paper = ph["paper"]
        if colour:
            tint = np.array([1.0, 0.985 - 0.04 * ph["warm"], 0.97 - 0.12 * ph["warm"]], np.float32)
    seal_color = np.array([rng.uniform(195, 235), rng.uniform(15, 60), rng.uniform(25, 70)], np.float32)
    seal_alpha = float(rng.uniform(0.65, 0.95))
    if mode == "bw":
        seal_alpha *= 0.45  # a 1-bit scan drops most of the red; what is left must not hide digits
    seal_page, seal_centre = (None, None)
    if st["seal"]:
        seal_page, seal_centre = _seal_place(boxes if isinstance(boxes, PdfRenderInfo) else None, n_pages, rng)
    seal_text = st["seal_text"]
    if seal_text is None:
        # The agency as the document signs it (the seal's owner), else no rim text.
        sig = [ln.text for ln in boxes.lines if ln.kind == "signature"] if isinstance(boxes, PdfRenderInfo) else []
        seal_text = _agency_of(sig[0]) if sig else ""
    seal_radius_mm = float(rng.uniform(19, 22))
    # Faint and broken digits: a side stream (the main stream's draws stay where they were).
    side = _side_rng(rng)
    faint_share = options.faint_digits if options.faint_digits is not None else (
        float(side.uniform(0.04, 0.15)) if side.random() < 0.5 else 0.0)
    st["faint_digits"] = faint_share
    faint_on: dict[int, list[tuple[Box, str, float]]] = {}
    faint_keys: list[str] = []
    if faint_share > 0 and isinstance(boxes, PdfRenderInfo):
        for c in boxes.values:
            if c.bbox is not None and side.random() < faint_share:
                how = "broken" if side.random() < 0.35 else "faint"
                amount = float(side.uniform(0.25, 0.45)) if how == "faint" else float(side.uniform(0.2, 0.35))
                faint_on.setdefault(c.page, []).append((c.bbox, how, amount))
                faint_keys.append(f"{c.key}:{how}")
    st["faint_values"] = faint_keys
    seal_rot = float(rng.uniform(-40, 40))
    bottom_text = str(rng.choice(["", "", "政务公开专用章", "公章"]))
    noise_tile = _noise_tile(rng, 1.0)

    out = pymupdf.open()
    pages: list[ScanPage] = []
    images = [] if options.return_images else None
    png_paths: list[str] = []
    seal_info = None
    cache: dict[int, np.ndarray] = {}

    def clean(i: int) -> np.ndarray:
        if i not in cache:
            for k in [k for k in cache if k < i - 1]:
                del cache[k]
            cache[i] = raster(i)
        return cache[i]

    for i in range(n_pages):
        page_img = clean(i)
        gray8 = cv2.cvtColor(page_img, cv2.COLOR_RGB2GRAY) if colour else page_img
        h, w = gray8.shape
        # Everything runs on luminance; a colour scan carries its colour as a chroma ratio at half
        # resolution (as JPEG's 4:2:0 does), multiplied in at the end: three times less work.
        chroma = None
        if colour:
            hw, hh = (w + 1) // 2, (h + 1) // 2
            small = cv2.resize(page_img, (hw, hh), interpolation=cv2.INTER_AREA).astype(np.float32)
            chroma = (small + 8.0) / (cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)[..., None] + 8.0)
        # 1. Print: stroke weight, ink and paper levels.
        img = _stroke(gray8, st["stroke"], dpi).astype(np.float32)
        img *= (paper - ink_level) / 255.0
        img += ink_level
        for box, how, amount in faint_on.get(i + 1, []):
            _fade_digits(img, box, scale, paper, how, amount, side)
        # 2. Bleed-through of the other side.
        if st["bleed"] > 0 and n_pages > 1:
            j = i + 1 if i + 1 < n_pages else i - 1
            other = clean(j)
            if other.ndim == 3:
                other = cv2.cvtColor(other, cv2.COLOR_RGB2GRAY)
            other = cv2.flip(other, 1)
            if other.shape != (h, w):
                other = cv2.resize(other, (w, h))
            sig = max(1.0, dpi / 100 * rng.uniform(0.8, 1.6))
            dark = 1.0 - cv2.GaussianBlur(other, (0, 0), sig).astype(np.float32) / 255.0
            shift = np.float32([[1, 0, rng.uniform(-0.01, 0.01) * w], [0, 1, rng.uniform(-0.01, 0.01) * h]])
            dark = cv2.warpAffine(dark, shift, (w, h))
            img *= 1.0 - (st["bleed"] * rng.uniform(0.7, 1.0)) * dark
        # 3. The seal.
        if seal_page == i:
            r_px = int(seal_radius_mm / 25.4 * dpi)
            mask = make_seal(r_px, seal_text, rng, bottom_text)
            rot = cv2.getRotationMatrix2D((mask.shape[1] / 2, mask.shape[0] / 2), seal_rot, 1.0)
            mask = cv2.warpAffine(mask, rot, mask.shape[::-1]) * seal_alpha
            if seal_centre is None:
                cx, cy = w * rng.uniform(0.55, 0.75), h * rng.uniform(0.6, 0.8)
            else:
                cx, cy = seal_centre[0] * scale, seal_centre[1] * scale
            _stamp(img, mask, cx, cy, seal_color)
            if chroma is not None:
                half = cv2.resize(mask, (max(1, mask.shape[1] // 2), max(1, mask.shape[0] // 2)),
                                  interpolation=cv2.INTER_AREA)
                _stamp_chroma(chroma, half, cx / 2, cy / 2, seal_color)
            seal_info = dict(page=i + 1, centre_px_before_warp=(float(cx), float(cy)), radius_px=r_px)
        # 4. Scan: geometry, light, optics, sensor.
        m = _page_matrix(w, h, rng, st["rotation"], st["perspective"])
        if phone:
            m = _phone_matrix(w, h, prng, ph)
        border = float(rng.uniform(20, 70)) if st["dark_border"] else paper
        img = cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=border)
        if chroma is not None:
            half_m = np.diag([0.5, 0.5, 1.0]) @ m @ np.diag([2.0, 2.0, 1.0])
            chroma = cv2.warpPerspective(chroma, half_m, (chroma.shape[1], chroma.shape[0]), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=(1.0, 1.0, 1.0))
        if phone:
            # The desk around the page (the page's edge anti-aliased by the warp of its coverage).
            cover = cv2.warpPerspective(np.ones((h, w), np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
            desk = _phone_desk(h, w, prng, ph)
            desk_lum = cv2.cvtColor(desk, cv2.COLOR_RGB2GRAY)
            img = img * cover + desk_lum * (1.0 - cover)
            if chroma is not None:
                hh2, hw2 = chroma.shape[:2]
                c2 = cv2.resize(cover, (hw2, hh2), interpolation=cv2.INTER_AREA)[..., None]
                d2 = cv2.resize(desk, (hw2, hh2), interpolation=cv2.INTER_AREA)
                desk_chroma = (d2 + 8.0) / (cv2.cvtColor(d2, cv2.COLOR_RGB2GRAY)[..., None] + 8.0)
                chroma = chroma * c2 + desk_chroma * (1.0 - c2)
        light = 1.0 - st["illumination"] * _smooth_field(rng, h, w, 4)
        gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * float(rng.uniform(-1, 1)) * st["illumination"] * 0.5
        light = light - np.abs(gx) if rng.random() < 0.5 else light + gx * 0.5
        if phone:
            light = _phone_light(h, w, prng, ph)
        if st["shadow"] != "none":
            depth = float(rng.uniform(0.08, 0.3))
            width = float(rng.uniform(0.02, 0.07))
            if st["shadow"] in ("left", "right"):
                x = np.linspace(0, 1, w, dtype=np.float32)
                x = x if st["shadow"] == "left" else x[::-1]
                light = light * (1.0 - depth * np.exp(-x / width))[None, :]
            else:
                y = np.linspace(0, 1, h, dtype=np.float32)
                light = light * (1.0 - depth * np.exp(-y / width))[:, None]
        img *= light
        tex = st["paper_texture"]
        if tex > 0:
            # The paper's mottle shows on paper, hardly in ink.
            mottle = (_smooth_field(rng, h, w, int(rng.integers(30, 90))) - 0.5) * (2 * tex / 255.0)
            img += mottle * np.clip(img, 0, 255)
        loss = st["resolution_loss"]
        if loss < 0.999:
            small = cv2.resize(img, (max(1, int(w * loss)), max(1, int(h * loss))), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        sigma = st["blur"] * dpi / 200.0 * float(rng.uniform(0.85, 1.15))
        if sigma > 0.2:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        if st["sharpen"] > 0:
            soft = cv2.GaussianBlur(img, (0, 0), max(1.0, dpi / 150))
            img = cv2.addWeighted(img, 1 + st["sharpen"], soft, -st["sharpen"], 0)
        img += _tiled(noise_tile, h, w, rng) * (st["noise"] * float(rng.uniform(0.8, 1.2)))
        n_specks = int(rng.poisson(st["specks"]))
        if n_specks:
            xs = rng.integers(0, w, n_specks)
            ys = rng.integers(0, h, n_specks)
            rs = np.maximum(1, (rng.exponential(0.6, n_specks) * dpi / 150)).astype(int)
            # Mostly dark dust; some light specks (toner dropouts where they fall on ink).
            vs = np.where(rng.random(n_specks) < 0.2, rng.uniform(200, 250, n_specks), rng.uniform(0, 140, n_specks))
            for x, y, r, v in zip(xs, ys, rs, vs):
                cv2.circle(img, (int(x), int(y)), int(r), float(v), -1, cv2.LINE_AA)
        if chroma is not None:
            chroma *= tint[None, None, :]
            rgb = cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
            rgb *= img[..., None]
            img8 = np.clip(rgb, 0, 255).astype(np.uint8)
        else:
            img8 = np.clip(img, 0, 255).astype(np.uint8)
        # 5. Save.
        if mode == "bw":
            otsu, _ = cv2.threshold(img8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            thr = float(otsu) + float(rng.uniform(-12, 12))
            bw = np.where(img8 > thr, 255, 0).astype(np.uint8)
            ok, enc = cv2.imencode(".png", bw, [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 6])
            final = bw
        else:
            q = int(np.clip(st["jpeg_quality"] + rng.integers(-3, 4), 30, 98))
            if colour:
                ok, enc = cv2.imencode(".jpg", img8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
            else:
                ok, enc = cv2.imencode(".jpg", img8, [cv2.IMWRITE_JPEG_QUALITY, q])
            final = None
            if images is not None or options.png_dir:
                final = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
                if colour:
                    final = final[..., ::-1]
        data = enc.tobytes()
        wpt, hpt = w * 72.0 / dpi, h * 72.0 / dpi
        page = out.new_page(width=wpt, height=hpt)
        page.insert_image(page.rect, stream=data)
        # pt -> px on the clean raster, then the page homography.
        sx, sy = w / page_pts[i][0], h / page_pts[i][1]
        full = m @ np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], np.float64)
        pages.append(ScanPage(i + 1, w, h, dpi, full.tolist(), dict(
            rotation=float(math.degrees(math.atan2(m[1, 0], m[0, 0]))), blur_sigma=round(sigma, 3),
            specks=n_specks,
        )))
        if images is not None or options.png_dir:
            from PIL import Image

            pil = Image.fromarray(final)
            if images is not None:
                images.append(pil)
            if options.png_dir:
                p = Path(options.png_dir) / f"{Path(out_path).stem}_p{i + 1}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                pil.save(p)
                png_paths.append(str(p))
    src.close()
    out.set_metadata({})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out.save(str(out_path), garbage=4, deflate=True, no_new_id=True)
    out.close()

    info = ScanRenderInfo(n_pages=n_pages, dpi=dpi, mode=mode, pages=pages, seal=seal_info, images=images,
                          png_paths=png_paths, style={k: v for k, v in st.items()})

    def carry(page: int, box: Optional[Box]):
        if not (1 <= page <= n_pages):
            return None, None
        pg = pages[page - 1]
        return _box_to_scan(page, box, np.array(pg.matrix), pg.width, pg.height)

    if isinstance(boxes, PdfRenderInfo):
        for c in boxes.values:
            bb, q = carry(c.page, c.bbox)
            cb, _ = carry(c.page, c.cell_bbox)
            info.values.append(ScanBox(c.page, bb, q, "value", c.key, c.text, cb))
        for c in boxes.cells:
            bb, q = carry(c.page, c.bbox)
            cb, _ = carry(c.page, c.cell_bbox)
            info.cells.append(ScanBox(c.page, bb, q, c.role, c.key, c.text, cb))
        for ln in boxes.lines:
            bb, q = carry(ln.page, ln.bbox)
            info.lines.append(ScanBox(ln.page, bb, q, ln.kind, None, ln.text))
    elif boxes is not None:
        for page, box in boxes:
            bb, q = carry(page, box)
            info.boxes.append(ScanBox(page, bb, q))
    info.seconds = time.perf_counter() - t_start
    return info
