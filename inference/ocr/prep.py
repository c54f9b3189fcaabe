"""Page images: rasterising PDF pages, loading image frames, and preparing a page for reading.

Preparation: a photographed page's outline found and warped to a rectangle (``rectify_page``),
grey levels (with red seals suppressed), background normalisation (the page divided by
its own blurred background, so shadows and yellowed paper become white), binarisation, the text
size (em, in pixels), orientation (0/90/180/270) and skew.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from nianbao.errors import ReadError

# A page with less ink than this share of its pixels is blank.
BLANK_INK_SHARE = 0.0008
# Seal ink (OpenCV HSV: hue 0-180): red and orange hues, saturated, not dark.
SEAL_HUE_MAX = 22
SEAL_HUE_WRAP = 12
SEAL_MIN_SATURATION = 70
SEAL_MIN_VALUE = 110
SEAL_EDGE_PX = 3          # the seal's colourless edge: pixels this close to seal ink...
SEAL_EDGE_PRINT = 120     # ...and lighter than this grey level are paper (print is darker)
# Round official seals: 38-45 mm across (radius 19-22.5 mm); special-purpose seals are smaller.
SEAL_RADIUS_MM = (14.0, 26.0)
SEAL_RING_SUPPORT = 0.9   # share of the circle along which a seal's ring shows ink (a table's lines: < 0.75)
SEAL_SCALE = 4.0          # pixels per mm the seal search runs at
# Mean character probability of a few lines read upright above which the page is taken as upright.
UPRIGHT_SCORE = 0.9


@dataclass
class PageImage:
    """One page to read: colour pixels (BGR) and how pixels map to the page's own units."""

    number: int
    image: np.ndarray
    unit_per_px: float   # PDF points per pixel (PDF pages) or 1.0 (image files: boxes in pixels)
    unit: str            # "pt" or "px"
    dpi: Optional[float] = None


def _pil_to_bgr(img) -> np.ndarray:
    import cv2

    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)


def _fit(img: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return img, scale


def pdf_pages(path: Path, numbers: list[int], dpi: int, max_side: int) -> Iterator[PageImage]:
    """Render the given (1-based) PDF pages with pypdfium2."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except Exception as e:
        raise ReadError("corrupt_pdf", f"{Path(path).name} cannot be rasterised ({type(e).__name__}: {e})") from e
    try:
        for n in numbers:
            page = pdf[n - 1]
            w_pt, h_pt = page.get_size()
            scale = dpi / 72.0
            if max(w_pt, h_pt) * scale > max_side:
                scale = max_side / max(w_pt, h_pt)
            bitmap = page.render(scale=scale)
            img = _pil_to_bgr(bitmap.to_pil())
            page.close()
            yield PageImage(number=n, image=img, unit_per_px=1.0 / scale, unit="pt", dpi=scale * 72.0)
    finally:
        pdf.close()


def image_frames(path: Path, numbers: list[int], max_side: int) -> Iterator[PageImage]:
    """Frames of an image file (a multi-page TIFF has several), scaled to at most max_side."""
    from PIL import Image, ImageOps

    try:
        im = Image.open(str(path))
    except Exception as e:
        raise ReadError("corrupt_image", f"{Path(path).name} cannot be decoded ({type(e).__name__}: {e})") from e
    with im:
        for n in numbers:
            try:
                im.seek(n - 1)
                frame = ImageOps.exif_transpose(im.copy()) if n == 1 else im.copy()
                bgr = _pil_to_bgr(frame)
            except Exception as e:
                raise ReadError("corrupt_image", f"{Path(path).name}: page {n} cannot be decoded ({type(e).__name__}: {e})") from e
            bgr, scale = _fit(bgr, max_side)
            dpi = im.info.get("dpi", (None,))[0]
            yield PageImage(number=n, image=bgr, unit_per_px=1.0 / scale, unit="px",
                            dpi=float(dpi) * scale if dpi else None)


# ---------------------------------------------------------------------------------------------
# Photographed pages: the page's quadrilateral, warped to a rectangle
# ---------------------------------------------------------------------------------------------

# The background around a page must cover at least this share of the image (a scanner's dark lid
# edges, a few slivers, are left to deskewing), and the page be at least this share.
PAGE_MIN_BACKGROUND = 0.06
PAGE_MIN_SHARE = 0.3
# The page must be clearly lighter than what is around it (ratio of their median levels).
PAGE_MIN_CONTRAST = 1.25
# Along the outline kept, the paper must be lighter than just outside it (by this share of its level)
# at this share of the points.
PAGE_EDGE_DROP = 0.12
PAGE_MIN_EDGE_SUPPORT = 0.8
# A4 portrait/landscape: a rectified page whose sides come within this share of it is given its shape.
A4_RATIO = 297.0 / 210.0
A4_SNAP = 0.12


def _order_quad(pts: np.ndarray) -> np.ndarray:
    """Four points as TL, TR, BR, BL."""
    pts = pts.reshape(4, 2).astype(np.float32)
    s = pts.sum(axis=1)
    d = pts[:, 1] - pts[:, 0]
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], np.float32)


def _quad_of(region: np.ndarray) -> Optional[np.ndarray]:
    """The convex quadrilateral outlining a mask's largest region (small-image pixels), or None."""
    import cv2

    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(outline)
    peri = cv2.arcLength(hull, True)
    quad = None
    for eps in (0.01, 0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            quad = approx
            break
    if quad is None or not cv2.isContourConvex(quad):
        return None
    if cv2.contourArea(quad) < 0.85 * cv2.contourArea(hull) or cv2.contourArea(outline) < 0.85 * cv2.contourArea(quad):
        return None
    return _order_quad(quad)


def _edge_support(level: np.ndarray, quad: np.ndarray, step: float) -> float:
    """The share of points along the quadrilateral's sides where the page is clearly lighter just
    inside than just outside (outside below ``1 - PAGE_EDGE_DROP`` of inside: a ratio, so the
    lighting gradient does not matter); points whose outside falls off the image count as unsupported."""
    h, w = level.shape
    centre = quad.mean(axis=0)
    hits = total = 0
    for a, b in zip(quad, np.roll(quad, -1, axis=0)):
        for t in np.linspace(0.05, 0.95, 24):
            p = a + (b - a) * t
            normal = np.array([-(b - a)[1], (b - a)[0]], np.float64)
            normal /= max(1e-6, float(np.linalg.norm(normal)))
            if np.dot(centre - p, normal) < 0:
                normal = -normal
            xi, yi = p + normal * step
            xo, yo = p - normal * step
            total += 1
            if not (0 <= xo < w and 0 <= yo < h and 0 <= xi < w and 0 <= yi < h):
                continue
            inside, outside = float(level[int(yi), int(xi)]), float(level[int(yo), int(xo)])
            hits += outside < (1.0 - PAGE_EDGE_DROP) * inside
    return hits / max(1, total)


def find_page_quad(bgr: np.ndarray) -> Optional[np.ndarray]:
    """The corners (TL, TR, BR, BL; pixels) of a sheet of paper photographed on a darker
    background, or None when the image is the page itself (a scan, a rendered page).

    On a small copy, print is closed away (paper level everywhere on the page); the light part is
    taken at a few thresholds from Otsu's upwards (a brightly lit desk can pass the first and join
    the page); at each, the largest light region must leave enough background around it
    (``PAGE_MIN_BACKGROUND``: a scan's slivers of scanner lid are left to deskewing), be clearly
    lighter than it (``PAGE_MIN_CONTRAST``) and have a convex quadrilateral outline filling most of
    its hull. The outline kept is the one whose sides lie best on a real edge of the paper
    (``_edge_support``), and it must lie on one almost all round. The lighting gradient of a
    photo is divided out with the rest of the background (``normalize_background``) later.
    """
    import cv2

    gray = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    scale = min(1.0, 640.0 / max(h, w))
    small = cv2.resize(gray, (max(8, int(w * scale)), max(8, int(h * scale))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    sh, sw = small.shape
    # Text and rules out: a closing as large as a line of print.
    k = max(5, (min(sh, sw) // 30) | 1)
    level = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    otsu, _ = cv2.threshold(level, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # The same with the light divided out: the level over its upper envelope (a shadow over a
    # corner of the page leaves that corner below any global threshold, not below its envelope).
    kk = max(5, (min(sh, sw) // 4) | 1)
    env = cv2.GaussianBlur(cv2.dilate(level, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kk, kk))), (0, 0), kk / 4)
    rel = np.clip(level.astype(np.float32) / np.maximum(env.astype(np.float32), 1.0) * 255.0, 0, 255).astype(np.uint8)
    rel_otsu, _ = cv2.threshold(rel, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    masks = [level > t for t in (otsu, otsu + 10, otsu + 20, otsu + 35, otsu + 50) if t < 250]
    masks += [rel > t for t in (rel_otsu, rel_otsu + 10) if t < 250]
    best, best_support = None, 0.0
    for light in masks:
        mask = light.astype(np.uint8) * 255
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        if n <= 1:
            continue
        big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = float(stats[big, cv2.CC_STAT_AREA])
        if area < PAGE_MIN_SHARE * sh * sw or area > (1.0 - PAGE_MIN_BACKGROUND) * sh * sw:
            continue
        region = (labels == big).astype(np.uint8) * 255
        if float(np.median(level[region > 0])) < PAGE_MIN_CONTRAST * max(1.0, float(np.median(level[region == 0]))):
            continue
        quad = _quad_of(region)
        if quad is None:
            continue
        support = _edge_support(level, quad, max(3.0, 0.012 * max(sh, sw)))
        if support > best_support:
            best, best_support = quad, support
    if best is None or best_support < PAGE_MIN_EDGE_SUPPORT:
        return None
    return best / scale


def rectify_page(bgr: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """A photographed page warped to a rectangle (its quadrilateral from ``find_page_quad``), and
    the quadrilateral; the image unchanged and None when no page outline is found. The rectangle's
    sides are the quadrilateral's longer opposite sides; a shape near A4 is given A4's shape (a
    slanted photo foreshortens the page)."""
    import cv2

    quad = find_page_quad(bgr)
    if quad is None:
        return bgr, None
    tl, tr, br, bl = quad
    width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    ratio = height / max(width, 1.0)
    for target in (A4_RATIO, 1.0 / A4_RATIO):
        if abs(ratio - target) <= A4_SNAP * target:
            if target > 1:
                height = width * target
            else:
                width = height / target
    W, H = max(8, int(round(width))), max(8, int(round(height)))
    dst = np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    out = cv2.warpPerspective(bgr, m, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return out, quad


# ---------------------------------------------------------------------------------------------
# Grey, background, binary
# ---------------------------------------------------------------------------------------------

def seal_mask(bgr: np.ndarray) -> np.ndarray:
    """Pixels of red or orange seal ink (True): a red/orange hue, clearly saturated, and bright
    enough that no black print lies under them (print under a seal stays dark in every channel)."""
    import cv2

    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    h, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    red_hue = (h <= SEAL_HUE_MAX) | (h >= 180 - SEAL_HUE_WRAP)
    return red_hue & (sat >= SEAL_MIN_SATURATION) & (val >= SEAL_MIN_VALUE)


def to_gray(bgr: np.ndarray, suppress_red: bool = True) -> np.ndarray:
    """Grey levels; with suppress_red, a red or orange seal stamped over the table is removed by
    its colour before anything is read: seal ink becomes paper (``seal_mask``), and red pixels
    darker than that (print under the seal's edge) take their red channel, since the red channel of
    red ink is bright while black print stays dark in all channels."""
    import cv2

    if bgr.ndim == 2:
        return bgr
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if suppress_red:
        b, g, r = (bgr[:, :, i].astype(np.int16) for i in range(3))
        red = (r - np.maximum(g, b)) > 60
        seal = seal_mask(bgr)
        if red.any() or seal.any():
            gray = gray.copy()
            gray[red] = np.maximum(gray[red], bgr[:, :, 2][red])
            # Seal ink is paper, so no threshold sees its strokes.
            # Its edges lose their colour (anti-aliasing, JPEG's half-resolution colour): next to
            # seal ink, whatever is not dark print is paper too.
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * SEAL_EDGE_PX + 1, 2 * SEAL_EDGE_PX + 1))
            edge = cv2.dilate(seal.astype(np.uint8), k) > 0
            zone = seal | (edge & (gray > SEAL_EDGE_PRINT))
            # The paper's own level there (a white patch on grey paper would leave the seal's outline).
            gray[zone] = paper_background(gray)[zone].astype(np.uint8)
    return gray


def paper_background(gray: np.ndarray) -> np.ndarray:
    """The page's paper level at each pixel (float32): a large closing removes the print (and a
    seal's strokes), a blur smooths it."""
    import cv2

    h, w = gray.shape
    k = max(15, (min(h, w) // 40) | 1)
    small = cv2.resize(gray, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k // 4 | 1, k // 4 | 1)))
    bg = cv2.GaussianBlur(bg, (0, 0), max(1.0, k / 8))
    return cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def normalize_background(gray: np.ndarray) -> np.ndarray:
    """Divide by the page's background (a large closing removes the print, a blur smooths it)."""
    bg = paper_background(gray)
    out = gray.astype(np.float32) / np.maximum(bg, 1.0) * 255.0
    return np.clip(out, 0, 255).astype(np.uint8)


def binarize(gray: np.ndarray) -> np.ndarray:
    """Ink = 255: dark print by a global threshold (Otsu on the normalised page, never lighter than
    200, so a blank page's paper grain does not become ink) together with whatever is clearly darker
    than its neighbourhood (a local threshold: the faint, broken rules and thin strokes of a poor
    scan, which the global threshold loses)."""
    import cv2

    t, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    dark = gray < min(t, 200)
    local = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    return np.where(dark | (local > 0), 255, 0).astype(np.uint8)


def ink_share(binary: np.ndarray) -> float:
    return float(np.count_nonzero(binary)) / max(1, binary.size)


def estimate_em(binary: np.ndarray) -> float:
    """Typical character height in pixels: the median height of character-sized components."""
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return 20.0
    hs = stats[1:, cv2.CC_STAT_HEIGHT].astype(np.float32)
    ws = stats[1:, cv2.CC_STAT_WIDTH].astype(np.float32)
    areas = stats[1:, cv2.CC_STAT_AREA]
    page_h, page_w = binary.shape
    ok = (hs >= 6) & (hs < page_h / 15) & (ws < page_w / 10) & (areas >= 12)
    cand = hs[ok]
    if cand.size < 5:
        return 20.0
    # Chinese characters fall apart into radicals; the tall components are the whole characters.
    return float(max(8.0, np.percentile(cand, 75)))


# ---------------------------------------------------------------------------------------------
# Skew and orientation
# ---------------------------------------------------------------------------------------------

def rotate(img: np.ndarray, degrees: float, border: int = 255) -> np.ndarray:
    """Rotate counter-clockwise by a small angle about the centre, keeping the size."""
    import cv2

    if abs(degrees) < 1e-3:
        return img
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    value = (border, border, border) if img.ndim == 3 else border
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=value)


def rotate_quarter(img: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Rotate by multiples of 90 degrees clockwise."""
    import cv2

    q = quarter_turns % 4
    if q == 0:
        return img
    return cv2.rotate(img, {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}[q])


def estimate_skew(binary: np.ndarray, max_degrees: float = 5.0) -> float:
    """The small rotation (degrees, counter-clockwise positive as in ``rotate``) that makes the
    page's lines horizontal: the angle maximising the sharpness of the row profile."""
    import cv2

    h, w = binary.shape
    scale = min(1.0, 900.0 / max(h, w))
    small = cv2.resize(binary, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)

    def sharpness(angle: float) -> float:
        prof = rotate(small, angle, border=0).astype(np.float32).sum(axis=1)
        return float(np.sum(np.diff(prof) ** 2))

    coarse = np.arange(-max_degrees, max_degrees + 1e-6, 0.5)
    scores = [sharpness(a) for a in coarse]
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - 0.4, best + 0.41, 0.1)
    scores = [sharpness(a) for a in fine]
    angle = float(fine[int(np.argmax(scores))])
    return 0.0 if abs(angle) < 0.15 else round(angle, 2)


def line_crops(gray: np.ndarray, binary: np.ndarray, em: float, limit: int = 4) -> list[np.ndarray]:
    """A few wide horizontal text lines of a page, each cut to at most 12 em, as grey crops."""
    import cv2

    kx = max(3, int(em * 0.8))
    smear = cv2.dilate(binary, cv2.getStructuringElement(cv2.MORPH_RECT, (kx, 1)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(smear, connectivity=8)
    cands = []
    for i in range(1, n):
        x, y, w, h, _a = stats[i]
        if 0.6 * em <= h <= 1.8 * em and w >= 4 * em:
            cands.append((w, x, y, w, h))
    cands.sort(reverse=True)
    out = []
    for _, x, y, w, h in cands[:limit]:
        pad = int(0.2 * em)
        w = min(w, int(12 * em))
        out.append(gray[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad])
    return out


def orientation(gray: np.ndarray, binary: np.ndarray, em: float,
                read: Callable[[list[np.ndarray]], list[float]]) -> tuple[int, float]:
    """Quarter turns clockwise (0..3) that make the page upright, and the evidence for it.

    ``read`` scores crops (the recogniser's mean character probability per crop): text read the
    right way up scores high, upside-down or sideways text scores low. Upright is tried first and
    kept when it reads well (the common case costs one small batch of four short lines).
    """
    def score(q: int) -> float:
        g = rotate_quarter(gray, q)
        b = rotate_quarter(binary, q)
        crops = line_crops(g, b, em)
        if not crops:
            return 0.0
        return float(np.mean(read(crops)))

    scores = {0: score(0)}
    if scores[0] >= UPRIGHT_SCORE:
        return 0, scores[0]
    for q in (2, 1, 3):
        scores[q] = score(q)
    best = max(scores, key=lambda q: scores[q])
    if scores[best] < 0.5 or scores[best] - scores[0] < 0.1:
        return 0, scores[0]  # no orientation reads clearly better: leave the page as it is
    return best, scores[best]


def mean_prob(readings) -> list[float]:
    out = []
    for r in readings:
        if not r.chars:
            out.append(0.0)
            continue
        # Long confident readings are stronger evidence than one confident character.
        out.append(float(np.mean([c.prob for c in r.chars])) * min(1.0, len(r.chars) / 4.0))
    return out


# ---------------------------------------------------------------------------------------------
# Seals in grey: found by their ring, their strokes told from print by their level
# ---------------------------------------------------------------------------------------------

@dataclass
class Seal:
    """A round seal on the page (page pixels): its centre and its ring's radius; ``grey``: stamped
    in a colour the grey page could not drop (a grey scan), so its strokes were taken out by level."""

    cx: float
    cy: float
    r: float
    grey: bool = False

    def disc(self, shape: tuple[int, int], margin: float = 0.0) -> np.ndarray:
        h, w = shape
        yy, xx = np.ogrid[0:h, 0:w]
        return (xx - self.cx) ** 2 + (yy - self.cy) ** 2 <= (self.r + margin) ** 2


def px_per_mm(page: "PageImage") -> Optional[float]:
    """The page's pixels per millimetre, where its scale is known (PDF pages, images with a dpi)
    and gives a paper-sized page (an image's dpi tag is often a default: 1, 72)."""
    mm = None
    if page.unit == "pt" and page.unit_per_px > 0:
        mm = 72.0 / 25.4 / page.unit_per_px
    elif page.dpi:
        mm = page.dpi / 25.4
    if mm is None or not 100.0 <= max(page.image.shape[:2]) / mm <= 1000.0:
        return None
    return mm


def ring_support(gray: np.ndarray, cx: float, cy: float, r: float, band: float, ink: int = 200) -> float:
    """Share of 360 directions from (cx, cy) in which a pixel darker than ``ink`` lies within
    ``band`` of radius r: near 1 for a seal's ring, far less for a circle drawn through a table."""
    h, w = gray.shape
    angles = np.linspace(0, 2 * np.pi, 360, endpoint=False)[:, None]
    radii = r + np.arange(-int(band), int(band) + 1)[None, :]
    xs = np.rint(cx + radii * np.cos(angles)).astype(int)
    ys = np.rint(cy + radii * np.sin(angles)).astype(int)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    vals = np.full(xs.shape, 255, np.int32)
    vals[inside] = gray[ys[inside], xs[inside]]
    seen = inside.any(axis=1)
    return float(np.count_nonzero((vals < ink).any(axis=1) & seen)) / max(1, int(np.count_nonzero(seen)))


def find_seals(bgr: np.ndarray, mm: float) -> list[Seal]:
    """Round seals on a page by their ring (a circle of a seal's size along which ink runs almost
    all the way round), in any colour: the grey levels before red is dropped. At most two."""
    import cv2

    s = SEAL_SCALE / mm
    small = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    grey = normalize_background(to_gray(small, suppress_red=False))
    lo, hi = (int(v * SEAL_SCALE) for v in SEAL_RADIUS_MM)
    circles = cv2.HoughCircles(cv2.GaussianBlur(grey, (5, 5), 1.5), cv2.HOUGH_GRADIENT, dp=1, minDist=lo,
                               param1=80, param2=30, minRadius=lo, maxRadius=hi)
    out: list[Seal] = []
    for cx, cy, r in (circles[0] if circles is not None else [])[:8]:
        if ring_support(grey, cx, cy, r, SEAL_SCALE) < SEAL_RING_SUPPORT:
            continue
        # The seal's outer ring (the circle found may be an inner one, or the rim's characters):
        # the outermost radius along which ink runs all the way round.
        outer = [rr for rr in np.arange(r, r + 6 * SEAL_SCALE, 1.0)
                 if ring_support(grey, cx, cy, rr, 1) >= SEAL_RING_SUPPORT]
        r = float(max(outer, default=r))
        if any((cx / s - o.cx) ** 2 + (cy / s - o.cy) ** 2 < (o.r + r / s) ** 2 for o in out):
            continue
        out.append(Seal(float(cx / s), float(cy / s), float(r / s)))
        if len(out) == 2:
            break
    return out


def seal_band(mm: float) -> float:
    """Half the width of the band around a seal's ring that its ring's ink fills (1 mm, 2 px at least)."""
    return max(2.0, 1.0 * mm)


def _seal_window(shape: tuple[int, int], seal: Seal, band: float):
    """The seal's square window (slices) and each pixel's distance from its centre there."""
    h, w = shape
    m = int(seal.r + 2 * band)
    x0, y0, x1, y1 = max(0, int(seal.cx) - m), max(0, int(seal.cy) - m), min(w, int(seal.cx) + m), min(h, int(seal.cy) + m)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    return (slice(y0, y1), slice(x0, x1)), np.sqrt((xx - seal.cx) ** 2 + (yy - seal.cy) ** 2)


def rules_under_seal(unsealed: np.ndarray, d: np.ndarray, seal: Seal, mm: float, band: float) -> np.ndarray:
    """A table's rules inside a seal's window (True), from the grey levels with the seal still on:
    thin straight runs of a row's height (5 mm) or more, less the ring (whose arcs run straight
    for ~12 mm) and the star's solid body (a rule is a fraction of a millimetre across; where the
    rim's characters cross it, the two inks multiply and the level keeps it). Rules are often
    no darker than the seal (thin, blurred lines). ``band``: ``seal_band(mm)``."""
    import cv2

    inked = binarize(unsealed)
    run = int(5 * mm)
    rules = (cv2.morphologyEx(inked, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1)))
             | cv2.morphologyEx(inked, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, run))))
    k = max(3, int(round(1.2 * mm)))
    solid = cv2.dilate(cv2.morphologyEx(inked, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)), np.ones((3, 3), np.uint8))
    return (rules > 0) & (solid == 0) & (np.abs(d - seal.r) > 2.5 * band)


def drop_seal(gray: np.ndarray, unsealed: np.ndarray, seal: Seal, mm: float,
              removed: Optional[np.ndarray] = None) -> bool:
    """Take a seal out of the normalised grey page, in place; ``unsealed``: the same page with the
    seal's colour kept. A red seal is already gone by its colour (``to_gray``), with the pieces of
    rules it covered: those rules are put back. A seal still on the page (a grey scan: its colour
    was never there to drop) is taken out by level: inside its disc, a pixel whose darkest
    neighbour is no darker than the seal's own strokes (measured on its ring) is paper, its rules
    kept. Print is darker than the seal, and print under it darker still (the inks multiply), so
    print keeps its strokes with their edges (an edge's darkest neighbour is the stroke's core).
    Sets ``seal.grey`` when it was taken out by level, and marks what it took in ``removed``
    (page-sized, True: seal ink turned to paper)."""
    import cv2

    band = seal_band(mm)
    window, d = _seal_window(gray.shape, seal, band)
    sub, before = gray[window], unsealed[window]
    rules = rules_under_seal(before, d, seal, mm, band) & (d <= seal.r + 2 * band)
    if ring_support(gray, seal.cx, seal.cy, seal.r, band) < SEAL_RING_SUPPORT:
        sub[rules] = np.minimum(sub[rules], before[rules])   # dropped by its colour: its rules back
        return False
    ring = (np.abs(d - seal.r) <= band) & (sub < 200)
    if np.count_nonzero(ring) < 50:
        return False
    cut = float(np.percentile(sub[ring], 25)) - 10.0
    k = max(3, int(round(0.3 * mm)) | 1)
    darkest = cv2.erode(sub, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    seal_ink = (d <= seal.r + 2 * band) & (darkest >= cut) & (sub < 250)
    taken = seal_ink & ~rules
    sub[taken] = 255
    if removed is not None:
        removed[window] |= taken
    seal.grey = True
    return True
