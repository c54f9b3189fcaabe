"""OFD rendering (GB/T 33190) of a :class:`SyntheticReport`, laid out exactly like the digital PDF.

The page layout is the PDF render's (``render_pdf.lay_out``: the same style draws, the same pages,
the same boxes); only the writing differs. The package is written the way office converters write
one (数科, 福昕, WPS exports): ``OFD.xml`` pointing at ``Doc_0/Document.xml``, which lists the pages
and the public resources (fonts by name, no font files: readers substitute, as for 宋体), and per page
a ``Content.xml`` with one layer of

* ``TextObject`` per text run: ``Boundary`` (the run's box, mm), ``Font``, ``Size`` (mm) and one
  ``TextCode`` with the baseline origin relative to the boundary and ``DeltaX``, the advance from each
  glyph to the next (runs of equal advances written ``g N d``, as the standard allows). Converters
  differ here, so the text style is drawn: ``runs`` (as above), ``chars`` (one ``TextCode`` per
  glyph with its own ``X``, no DeltaX) or ``scaled`` (``Size`` 1 and the font size in a ``CTM``);
* ``PathObject`` per table rule: a stroked ``M 0 0 L dx dy`` in a boundary around the line, with its
  ``LineWidth``; shaded header cells as filled, unstroked rectangles.

Coordinates are millimetres, origin top-left, y down. Render info boxes stay in PDF points (what the
OFD reader reports, converting mm to points), so the same gold boxes serve both.
No dates or random IDs are written and zip entries carry a fixed time: the same report and seed
give the same bytes.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from .synthetic_report import SyntheticReport
from .render_pdf import PdfOptions, PdfRenderInfo, _char_w, lay_out

__all__ = ["render_ofd", "OfdRenderInfo", "OFD_NS", "MM_PER_PT", "TEXT_STYLES"]

TEXT_STYLES = ("runs", "chars", "scaled")

OFD_NS = "http://www.ofdspec.org/2016"
MM_PER_PT = 25.4 / 72.0
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# Font resources: the PDF render's font names -> the names an OFD converter writes.
_FONTS = {"nbcjk": ("宋体", "SimSun"), "tiro": ("Times New Roman", "Times New Roman"), "helv": ("Arial", "Arial")}
# Ascent of a text run above its baseline, as a share of its size (the boundary's top).
_ASCENT = 0.88
_DESCENT = 0.27


def _mm(v: float) -> str:
    """Points to millimetres, written short (3 decimals, no trailing zeros)."""
    text = f"{v * MM_PER_PT:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _delta_x(advances: list[float]) -> str:
    """DeltaX with runs of equal advances compressed to ``g N d`` (GB/T 33190 §11.3)."""
    parts: list[str] = []
    i = 0
    while i < len(advances):
        j = i
        while j + 1 < len(advances) and _mm(advances[j + 1]) == _mm(advances[i]):
            j += 1
        n = j - i + 1
        parts.append(f"g {n} {_mm(advances[i])}" if n >= 3 else " ".join([_mm(advances[i])] * n))
        i = j + 1
    return " ".join(parts)


@dataclass
class OfdRenderInfo(PdfRenderInfo):
    text_style: str = "runs"


class _Writer:
    def __init__(self, text_style: str) -> None:
        self.text_style = text_style
        self.next_id = 0
        self.font_ids: dict[str, int] = {}

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def font(self, name: str) -> int:
        if name not in self.font_ids:
            self.font_ids[name] = self.new_id()
        return self.font_ids[name]

    def text_object(self, x: float, baseline: float, run: str, fontname: str, size: float, bold: bool) -> str:
        measure = "cjk" if fontname == "nbcjk" else fontname  # a run is in one font (render_pdf._runs)
        widths = [_char_w(ch, measure) * size for ch in run]
        top = baseline - _ASCENT * size
        box = (x, top, sum(widths), (_ASCENT + _DESCENT) * size)
        weight = ' Weight="700"' if bold else ""
        y = baseline - top
        if self.text_style == "chars":
            codes, x_at = [], 0.0
            for ch, w in zip(run, widths):
                codes.append(f'<ofd:TextCode X="{_mm(x_at)}" Y="{_mm(y)}">{escape(ch)}</ofd:TextCode>')
                x_at += w
            size_attr, ctm, text = _mm(size), "", "".join(codes)
        elif self.text_style == "scaled":
            # Glyph space of size 1 mm scaled by the CTM: positions and advances are divided by the size.
            # (_mm converts points to mm, so a glyph-space length v is passed as v / MM_PER_PT.)
            k = size * MM_PER_PT
            unit = size * MM_PER_PT
            delta = f' DeltaX="{_delta_x([w / unit for w in widths[:-1]])}"' if len(run) > 1 else ""
            size_attr, ctm = "1", f' CTM="{k:.4f} 0 0 {k:.4f} 0 0"'
            text = f'<ofd:TextCode X="0" Y="{_mm(y / unit)}"{delta}>{escape(run)}</ofd:TextCode>'
        else:
            delta = f' DeltaX="{_delta_x(widths[:-1])}"' if len(run) > 1 else ""
            size_attr, ctm = _mm(size), ""
            text = f'<ofd:TextCode X="0" Y="{_mm(y)}"{delta}>{escape(run)}</ofd:TextCode>'
        return (
            f'<ofd:TextObject ID="{self.new_id()}" Boundary="{" ".join(_mm(v) for v in box)}" '
            f'Font="{self.font(fontname)}" Size="{size_attr}"{ctm}{weight}>'
            f'<ofd:FillColor Value="0 0 0"/>{text}</ofd:TextObject>'
        )

    def rule(self, x0: float, y0: float, x1: float, y1: float, width: float) -> str:
        bx, by = min(x0, x1), min(y0, y1)
        bw, bh = max(abs(x1 - x0), width), max(abs(y1 - y0), width)
        return (
            f'<ofd:PathObject ID="{self.new_id()}" Boundary="{_mm(bx)} {_mm(by)} {_mm(bw)} {_mm(bh)}" '
            f'LineWidth="{_mm(width)}"><ofd:StrokeColor Value="0 0 0"/>'
            f"<ofd:AbstractData>M {_mm(x0 - bx)} {_mm(y0 - by)} L {_mm(x1 - bx)} {_mm(y1 - by)}</ofd:AbstractData>"
            f"</ofd:PathObject>"
        )

    def fill(self, box: tuple[float, float, float, float], color: tuple) -> str:
        x0, top, x1, bottom = box
        w, h = _mm(x1 - x0), _mm(bottom - top)
        rgb = " ".join(str(int(round(255 * c))) for c in color)
        return (
            f'<ofd:PathObject ID="{self.new_id()}" Boundary="{_mm(x0)} {_mm(top)} {w} {h}" Stroke="false" Fill="true">'
            f'<ofd:FillColor Value="{rgb}"/>'
            f"<ofd:AbstractData>M 0 0 L {w} 0 L {w} {h} L 0 {h} C</ofd:AbstractData></ofd:PathObject>"
        )


def _xml(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


def render_ofd(report: SyntheticReport, path: Path, rng: np.random.Generator,
               options: Optional[PdfOptions] = None, text_style: Optional[str] = None) -> OfdRenderInfo:
    """Write ``report`` as an OFD package at ``path``; return where every value (and line) landed.

    The layout draws come first (the PDF render's, in its order), then the text style (unless given)."""
    # OFD tables are printed upright (turned pages are a PDF rendering of their own).
    options = replace(options or PdfOptions(), turned_tables="none")
    style, canvas, flow = lay_out(report, rng, options)
    drawn_style = TEXT_STYLES[int(rng.choice(len(TEXT_STYLES), p=[0.5, 0.3, 0.2]))]
    writer = _Writer(text_style or drawn_style)
    w, h = style.page_size
    pages: list[bytes] = []
    for p in range(canvas.n):
        layer_id = writer.new_id()
        objects = [writer.fill(box, color) for box, color in canvas.fills[p]]
        seen = set()
        for x0, y0, x1, y1, lw in canvas.segments[p]:
            key = (round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2))
            if key not in seen:
                seen.add(key)
                objects.append(writer.rule(x0, y0, x1, y1, lw))
        for x, baseline, run, fontname, size, bold in canvas.texts[p]:
            objects.append(writer.text_object(x, baseline, run, fontname, size, bold))
        pages.append(_xml(
            f'<ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content><ofd:Layer ID="{layer_id}" Type="Body">'
            + "".join(objects) + "</ofd:Layer></ofd:Content></ofd:Page>"
        ))
    page_ids = [writer.new_id() for _ in pages]
    fonts = "".join(
        f'<ofd:Font ID="{fid}" FontName={quoteattr(_FONTS[name][0])} FamilyName={quoteattr(_FONTS[name][1])}/>'
        for name, fid in writer.font_ids.items()
    )
    physical = f"0 0 {_mm(w)} {_mm(h)}"
    document = _xml(
        f'<ofd:Document xmlns:ofd="{OFD_NS}"><ofd:CommonData><ofd:MaxUnitID>{writer.next_id}</ofd:MaxUnitID>'
        f"<ofd:PageArea><ofd:PhysicalBox>{physical}</ofd:PhysicalBox></ofd:PageArea>"
        f"<ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData><ofd:Pages>"
        + "".join(f'<ofd:Page ID="{pid}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i, pid in enumerate(page_ids))
        + "</ofd:Pages></ofd:Document>"
    )
    public_res = _xml(f'<ofd:Res xmlns:ofd="{OFD_NS}" BaseLoc="Res"><ofd:Fonts>{fonts}</ofd:Fonts></ofd:Res>')
    ofd = _xml(
        f'<ofd:OFD xmlns:ofd="{OFD_NS}" Version="1.1" DocType="OFD"><ofd:DocBody><ofd:DocInfo>'
        f"<ofd:DocID>{report.seed:032x}</ofd:DocID><ofd:Creator>nianbao factory</ofd:Creator></ofd:DocInfo>"
        f"<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [("OFD.xml", ofd), ("Doc_0/Document.xml", document), ("Doc_0/PublicRes.xml", public_res)]
    parts += [(f"Doc_0/Pages/Page_{i}/Content.xml", data) for i, data in enumerate(pages)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return OfdRenderInfo(
        n_pages=canvas.n, page_size=(w, h), values=flow.values, cells=flow.cells, lines=canvas.lines,
        tables=flow.tables, style=style, text_style=writer.text_style,
    )
