"""OFD (GB/T 33190, 版式文档): the national fixed-layout format, read into the PDF reader's cell grids.

An OFD file is a zip of XML parts: ``OFD.xml`` names the document root (``DocBody/DocRoot``); the
document (``Document.xml``) lists its pages (``Pages/Page@BaseLoc``), the default page box and the
page templates; each page's ``Content.xml`` holds layers of graphic units. Two kinds matter here:

* ``TextObject`` (``Boundary``, optional ``CTM``, ``Size``) with ``TextCode`` runs: the baseline
  origin ``X``/``Y`` relative to the boundary and ``DeltaX``/``DeltaY``, the advance from each glyph
  to the next (``g N d`` repeats ``d`` N times);
* ``PathObject`` (``Boundary``, ``CTM``, ``LineWidth``, ``Stroke``/``Fill``) whose ``AbstractData``
  draws the table rules (``M``/``L``/``C``; curves are not rules).

Each glyph becomes a character with a box (its advance, or an estimate for the last glyph of a
run, and the usual ascent and descent), each straight visible path segment a ruling edge; from
there the page goes through the PDF reader's own path: ``pdf.tables_from_edges`` finds the ruled
grids with pdfplumber's lines strategy and ``pdf.page_blocks`` builds the cells and lines (a
table turned a quarter turn by a CTM is read upright, as in PDF). Coordinates are converted from
millimetres to PDF points, so boxes and tolerances mean the same as for PDF.

A scanned OFD (images only, no text) marks its pages ``needs_ocr``; ``page_images`` draws a page's
images (``ImageObject`` → ``MultiMedia`` resource → media file) on a white page for the OCR stage.

The package's inflated sizes are capped before anything is parsed (``docx.check_zip_sizes``);
XML is parsed without entities, DTDs or network. Errors: ``corrupt_file`` (not a zip, a part
missing or not XML), ``too_large`` (caps), ``too_many_pages``, ``unsupported_format`` (encrypted).
"""
from __future__ import annotations

import math
import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from lxml import etree

from nianbao.document import Document, Page
from nianbao.errors import ReadError

from .docx import check_zip_sizes
from .options import ReaderOptions
from .pdf import Char, ocr_reason, page_blocks, tables_from_edges

PT_PER_MM = 72.0 / 25.4
_A4_MM = (210.0, 297.0)
# Glyph box around the baseline, as shares of the font size (what pdfplumber gives CJK fonts).
_ASCENT = 0.88
_DESCENT = 0.12
# A path segment this close to horizontal or vertical (points) is a rule.
_AXIS_TOL = 0.5
_DEFAULT_LINE_WIDTH_MM = 0.353
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# AbstractData: operators and their numbers; how many numbers each operator takes.
_PATH_TOKEN = re.compile(rf"[A-Za-z]|{_NUMBER.pattern}")
_PATH_ARITY = {"S": 2, "M": 2, "L": 2, "Q": 4, "B": 6, "A": 7, "C": 0}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _local(el: Any) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _children(el: Any, name: str) -> Iterator[Any]:
    """Children with local name ``name``, whatever the namespace (producers differ)."""
    for child in el:
        if _local(child) == name:
            yield child


def _child(el: Any, name: str) -> Optional[Any]:
    return next(_children(el, name), None)


def _numbers(text: Optional[str]) -> list[float]:
    return [float(v) for v in _NUMBER.findall(text or "")]


def _box(text: Optional[str]) -> Optional[tuple[float, float, float, float]]:
    """A ``Boundary``/``PhysicalBox`` "x y w h" (mm)."""
    v = _numbers(text)
    return (v[0], v[1], v[2], v[3]) if len(v) >= 4 else None


def _ctm(text: Optional[str]) -> Matrix:
    v = _numbers(text)
    return (v[0], v[1], v[2], v[3], v[4], v[5]) if len(v) >= 6 else _IDENTITY


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def deltas(text: Optional[str]) -> list[float]:
    """A DeltaX/DeltaY list with ``g N d`` (N times d) expanded."""
    tokens = (text or "").split()
    out: list[float] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "g" and i + 2 < len(tokens):
            try:
                n, d = int(float(tokens[i + 1])), float(tokens[i + 2])
            except ValueError:
                break
            out.extend([d] * max(0, min(n, 100_000)))
            i += 3
            continue
        try:
            out.append(float(tok))
        except ValueError:
            break
        i += 1
    return out


def _glyph_width(ch: str, size: float) -> float:
    """A glyph's width when nothing says it: full width for CJK and full-width forms, half for ASCII."""
    return 0.5 * size if ord(ch) < 0x2E80 else size


# ---------------------------------------------------------------------------------------------
# The package
# ---------------------------------------------------------------------------------------------

class _Package:
    """The zip's parts by normalised name; locations resolved as the standard says (absolute from
    the package root when they start with '/', else relative to the referring part's folder)."""

    def __init__(self, zf: zipfile.ZipFile, name: str):
        self.zf = zf
        self.name = name
        self.parts = {posixpath.normpath(i.filename.lstrip("/")): i.filename for i in zf.infolist() if not i.is_dir()}
        self.folded = {k.lower(): v for k, v in self.parts.items()}

    def resolve(self, base_dir: str, loc: str) -> str:
        loc = loc.strip().replace("\\", "/")
        full = loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc)
        return posixpath.normpath(full)

    def member(self, part: str) -> Optional[str]:
        """The zip member of a part, by exact name or else case-folded (producers differ)."""
        return self.parts.get(part) or self.folded.get(part.lower())

    def xml(self, part: str) -> Any:
        member = self.member(part)
        if member is None:
            raise ReadError("corrupt_file", f"{self.name} is not a readable OFD: part {part} is missing")
        try:
            return etree.fromstring(self.zf.read(member), _PARSER)
        except etree.XMLSyntaxError as exc:
            raise ReadError("corrupt_file", f"{self.name} is not a readable OFD: part {part} is not XML ({exc})") from exc


@dataclass
class _PageRef:
    part: str
    box_mm: tuple[float, float, float, float]


@dataclass
class _OfdDocument:
    pages: list[_PageRef]
    templates: dict[str, str]  # template ID -> its content part
    resources: list[str]       # resource parts (PublicRes, DocumentRes), for images


def _physical_box(parent: Any, area_name: str) -> Optional[tuple[float, float, float, float]]:
    """``parent/<area_name>/PhysicalBox`` (mm), when present and well formed."""
    area = _child(parent, area_name)
    physical = _child(area, "PhysicalBox") if area is not None else None
    return _box(physical.text) if physical is not None else None


def _document(pkg: _Package) -> _OfdDocument:
    root = pkg.xml("OFD.xml")
    if _local(root) != "OFD":
        raise ReadError("corrupt_file", f"{pkg.name} is not an OFD: OFD.xml has no OFD root element")
    body = _child(root, "DocBody")
    doc_root = _child(body, "DocRoot") if body is not None else None
    if doc_root is None or not (doc_root.text or "").strip():
        raise ReadError("corrupt_file", f"{pkg.name} is not a readable OFD: OFD.xml names no DocRoot")
    doc_part = pkg.resolve("", doc_root.text)
    doc_dir = posixpath.dirname(doc_part)
    document = pkg.xml(doc_part)
    common = _child(document, "CommonData")
    default_box = (0.0, 0.0) + _A4_MM
    templates: dict[str, str] = {}
    resources: list[str] = []
    if common is not None:
        for name in ("PublicRes", "DocumentRes"):
            resources += [pkg.resolve(doc_dir, el.text) for el in _children(common, name) if (el.text or "").strip()]
        default_box = _physical_box(common, "PageArea") or default_box
        for tpl in _children(common, "TemplatePage"):
            if tpl.get("ID") and tpl.get("BaseLoc"):
                templates[tpl.get("ID")] = pkg.resolve(doc_dir, tpl.get("BaseLoc"))
    pages_el = _child(document, "Pages")
    refs = []
    for page in _children(pages_el, "Page") if pages_el is not None else ():
        loc = page.get("BaseLoc")
        if loc:
            refs.append(_PageRef(pkg.resolve(doc_dir, loc), default_box))
    return _OfdDocument(pages=refs, templates=templates, resources=resources)


# ---------------------------------------------------------------------------------------------
# A page's graphic units
# ---------------------------------------------------------------------------------------------

@dataclass
class _PageContent:
    chars: list[Char]
    edges: list[dict[str, Any]]
    image_area: float  # pt², images drawn on the page (a scanned OFD is images only)


def _units(page_xml: Any) -> Iterator[Any]:
    """Graphic units of a page's layers in drawing order, page blocks opened up (iteratively)."""
    layers = [layer for content in _children(page_xml, "Content") for layer in _children(content, "Layer")]
    pending = [iter(layers)]
    while pending:
        el = next(pending[-1], None)
        if el is None:
            pending.pop()
            continue
        name = _local(el)
        if name in ("Layer", "PageBlock"):
            pending.append(iter(el))
        elif name in ("TextObject", "PathObject", "ImageObject"):
            yield el


def _visible(el: Any) -> bool:
    return el.get("Visible", "true").strip().lower() != "false"


def _white(el: Any, color_name: str) -> bool:
    color = _child(el, color_name)
    if color is None:
        return False
    v = _numbers(color.get("Value"))
    return len(v) >= 3 and min(v[:3]) >= 242


def _text_chars(obj: Any, out: list[Char]) -> None:
    boundary = _box(obj.get("Boundary"))
    if boundary is None:
        return
    bx, by = boundary[0], boundary[1]
    size = _numbers(obj.get("Size"))
    size_mm = size[0] if size and size[0] > 0 else 3.7
    m = _ctm(obj.get("CTM"))
    a, b, c, d = m[:4]
    scale = math.sqrt(abs(a * d - b * c)) or 1.0
    # The direction for pdf.char_direction, in PDF's y-up convention (OFD's y runs down).
    upright = a > 0 and d > 0 and abs(b) < 1e-6 * abs(a) and abs(c) < 1e-6 * abs(d)
    matrix = (a, -b, -c, d, 0.0, 0.0)
    pen_x = pen_y = 0.0
    for code in _children(obj, "TextCode"):
        text = code.text or ""
        if not text:
            continue
        xs, ys = _numbers(code.get("X")), _numbers(code.get("Y"))
        pen_x = xs[0] if xs else pen_x
        pen_y = ys[0] if ys else pen_y
        dx, dy = deltas(code.get("DeltaX")), deltas(code.get("DeltaY"))
        for i, ch in enumerate(text):
            est = _glyph_width(ch, size_mm)
            advance = dx[i] if i < len(dx) else (est if not dy else 0.0)
            width = min(advance, est) if 0 < advance else est
            corners = [
                _apply(m, pen_x + u, pen_y + v)
                for u in (0.0, width) for v in (-_ASCENT * size_mm, _DESCENT * size_mm)
            ]
            xs_pt = [(bx + x) * PT_PER_MM for x, _ in corners]
            ys_pt = [(by + y) * PT_PER_MM for _, y in corners]
            out.append({
                "text": ch, "x0": min(xs_pt), "x1": max(xs_pt), "top": min(ys_pt), "bottom": max(ys_pt),
                "size": size_mm * scale * PT_PER_MM, "upright": upright, "matrix": matrix,
            })
            pen_x += advance
            pen_y += dy[i] if i < len(dy) else 0.0


def _path_points(data: str) -> list[list[tuple[float, float]]]:
    """Straight polylines of an AbstractData path (a curve ends the polyline it is in)."""
    tokens = _PATH_TOKEN.findall(data)
    arity = _PATH_ARITY
    lines: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    start: Optional[tuple[float, float]] = None
    i = 0
    while i < len(tokens):
        op = tokens[i].upper()
        if op not in arity:
            i += 1
            continue
        n = arity[op]
        try:
            args = [float(t) for t in tokens[i + 1:i + 1 + n]]
        except ValueError:
            break
        if len(args) < n:
            break
        i += 1 + n
        if op in ("M", "S"):
            if len(current) > 1:
                lines.append(current)
            current = [(args[0], args[1])]
            start = current[0]
        elif op == "L":
            current.append((args[0], args[1]))
        elif op == "C":
            if start is not None and current:
                current.append(start)
        else:  # a curve: what came before is a polyline, the curve's end starts the next one
            if len(current) > 1:
                lines.append(current)
            current = [(args[-2], args[-1])]
    if len(current) > 1:
        lines.append(current)
    return lines


def _path_edges(obj: Any, out: list[dict[str, Any]]) -> None:
    boundary = _box(obj.get("Boundary"))
    data = _child(obj, "AbstractData")
    if boundary is None or data is None or not data.text:
        return
    stroke = obj.get("Stroke", "true").strip().lower() != "false"
    fill = obj.get("Fill", "false").strip().lower() == "true"
    visible = (stroke and not _white(obj, "StrokeColor")) or (fill and not _white(obj, "FillColor"))
    if not visible:  # an invisible or white box (a text background) is no rule
        return
    m = _ctm(obj.get("CTM"))
    bx, by = boundary[0], boundary[1]
    for polyline in _path_points(data.text):
        pts = [_apply(m, x, y) for x, y in polyline]
        pts = [((bx + x) * PT_PER_MM, (by + y) * PT_PER_MM) for x, y in pts]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            if abs(y1 - y0) <= _AXIS_TOL and abs(x1 - x0) > _AXIS_TOL:
                y = (y0 + y1) / 2
                out.append({"x0": min(x0, x1), "x1": max(x0, x1), "top": y, "bottom": y, "width": abs(x1 - x0),
                            "height": 0.0, "orientation": "h", "object_type": "line"})
            elif abs(x1 - x0) <= _AXIS_TOL and abs(y1 - y0) > _AXIS_TOL:
                x = (x0 + x1) / 2
                out.append({"x0": x, "x1": x, "top": min(y0, y1), "bottom": max(y0, y1), "width": 0.0,
                            "height": abs(y1 - y0), "orientation": "v", "object_type": "line"})


def _content(page_xml: Any, into: _PageContent) -> None:
    for unit in _units(page_xml):
        if not _visible(unit):
            continue
        name = _local(unit)
        if name == "TextObject":
            # Unfilled (invisible) text is read, as the PDF reader reads invisible text: it is the
            # OCR layer of a scanned OFD (双层OFD), and the only text such a page has.
            _text_chars(unit, into.chars)
        elif name == "PathObject":
            _path_edges(unit, into.edges)
        else:
            box = _box(unit.get("Boundary"))
            if box is not None:
                into.image_area += abs(box[2] * box[3]) * PT_PER_MM * PT_PER_MM


def _read_page(pkg: _Package, doc: _OfdDocument, ref: _PageRef, number: int) -> Page:
    page_xml = pkg.xml(ref.part)
    box = _physical_box(page_xml, "Area") or ref.box_mm
    content = _PageContent(chars=[], edges=[], image_area=0.0)
    # Templates (background headers, footers, rules) first, as they are drawn.
    for tpl in _children(page_xml, "Template"):
        part = doc.templates.get(tpl.get("TemplateID", ""))
        if part:
            _content(pkg.xml(part), content)
    _content(page_xml, content)
    width, height = box[2] * PT_PER_MM, box[3] * PT_PER_MM
    reason = ocr_reason(content.chars, min(content.image_area / max(width * height, 1.0), 1.0), 0)
    if reason:
        return Page(number=number, needs_ocr=True, ocr_reason=f"OFD page: {reason}")
    found = tables_from_edges(content.edges) if content.edges else []
    return Page(number=number, blocks=page_blocks(content.chars, found, number, width, height))


def read_ofd(path: Path, options: ReaderOptions) -> Document:
    path = Path(path)
    check_zip_sizes(path, options, kind=".ofd")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError("corrupt_file", f"{path.name} is not a readable .ofd (zip) file: {exc}") from exc
    with zf:
        pkg = _Package(zf, path.name)
        if any(p.lower().endswith("encryptions.xml") for p in pkg.parts):
            raise ReadError("unsupported_format", f"{path.name} is an encrypted OFD; export it without encryption")
        doc = _document(pkg)
        if not doc.pages:
            raise ReadError("corrupt_file", f"{path.name} is not a readable OFD: its document lists no pages")
        if len(doc.pages) > options.max_pdf_pages:
            raise ReadError(
                "too_many_pages", f"{path.name} has {len(doc.pages)} pages, over the {options.max_pdf_pages}-page limit"
            )
        pages = []
        for number, ref in enumerate(doc.pages, start=1):
            try:
                pages.append(_read_page(pkg, doc, ref, number))
            except (ReadError, MemoryError):
                raise
            except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
                raise ReadError("corrupt_file", f"{path.name} is not a readable OFD: page {number}: "
                                                f"{type(exc).__name__}: {exc}") from exc
    return Document(source=str(path), format="ofd", pages=pages)


# ---------------------------------------------------------------------------------------------
# Page images (a scanned OFD, for the OCR stage)
# ---------------------------------------------------------------------------------------------

def _media_files(pkg: _Package, resource_parts: list[str]) -> dict[str, str]:
    """MultiMedia ID -> the media file's part, from resource parts (missing or broken ones skipped:
    a page whose image cannot be found is drawn without it)."""
    out: dict[str, str] = {}
    for part in resource_parts:
        try:
            res = pkg.xml(part)
        except ReadError:
            continue
        base = pkg.resolve(posixpath.dirname(part), res.get("BaseLoc", "")) if res.get("BaseLoc") else posixpath.dirname(part)
        for media_list in _children(res, "MultiMedias"):
            for media in _children(media_list, "MultiMedia"):
                file_el = _child(media, "MediaFile")
                if media.get("ID") and file_el is not None and (file_el.text or "").strip():
                    out[media.get("ID")] = pkg.resolve(base, file_el.text)
    return out


def page_images(path: Path, numbers: list[int], dpi: float, max_side: int,
                max_pixels: int = ReaderOptions.max_image_pixels):
    """The given (1-based) pages drawn from their images at ``dpi`` (long side at most ``max_side``),
    as the OCR stage's ``PageImage`` (boxes in PDF points)."""
    import io

    from PIL import Image

    from nianbao.inference.ocr.prep import PageImage, _pil_to_bgr

    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        pkg = _Package(zf, path.name)
        doc = _document(pkg)
        doc_media = _media_files(pkg, doc.resources)  # the document's resources: parsed once, not per page
        for number in numbers:
            if not 1 <= number <= len(doc.pages):
                raise ReadError("corrupt_file", f"{path.name} has no page {number}")
            ref = doc.pages[number - 1]
            page_xml = pkg.xml(ref.part)
            box = _physical_box(page_xml, "Area") or ref.box_mm
            page_res = [pkg.resolve(posixpath.dirname(ref.part), el.text) for el in _children(page_xml, "PageRes")
                        if (el.text or "").strip()]
            media = {**doc_media, **_media_files(pkg, page_res)}
            scale = dpi / 25.4  # px per mm
            if max(box[2], box[3]) * scale > max_side:
                scale = max_side / max(box[2], box[3])
            canvas = Image.new("RGB", (max(1, round(box[2] * scale)), max(1, round(box[3] * scale))), "white")
            for unit in _units(page_xml):
                if _local(unit) != "ImageObject" or not _visible(unit):
                    continue
                target = _box(unit.get("Boundary"))
                part = media.get(unit.get("ResourceID", ""))
                member = pkg.member(part or "")
                if target is None or member is None:
                    continue
                try:
                    with Image.open(io.BytesIO(zf.read(member))) as im:
                        if im.width * im.height > max_pixels:
                            raise ReadError("too_large", f"{path.name}: an image on page {number} has "
                                                         f"{im.width * im.height / 1e6:.0f} MP, over the limit")
                        size = (max(1, round(target[2] * scale)), max(1, round(target[3] * scale)))
                        canvas.paste(im.convert("RGB").resize(size), (round(target[0] * scale), round(target[1] * scale)))
                except ReadError:
                    raise
                except Exception:  # one undecodable image: the page is drawn without it
                    continue
            # Boxes in PDF points, like the text path of this reader: points per pixel.
            yield PageImage(number=number, image=_pil_to_bgr(canvas), unit_per_px=PT_PER_MM / scale, unit="pt",
                            dpi=scale * 25.4)
