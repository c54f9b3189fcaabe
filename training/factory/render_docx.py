"""Word .docx renderings: python-docx documents whose tables carry real merged cells.

Paragraphs are added through python-docx; each table is written as WordprocessingML with
``w:gridSpan`` for horizontal merges and ``w:vMerge`` runs for vertical ones (the grid as the
official format draws it, built in one pass: python-docx's cell API is quadratic on big tables).
Options (``docx.*``): header words as separate paragraphs in their cell, Table B's page break as
two tables with a page break between (header rows repeated or not), or as one table whose header
rows repeat by the ``w:tblHeader`` property. Files are byte-identical for one seed: fixed core
properties and fixed zip timestamps.
"""
from __future__ import annotations

import io
import random
import zipfile
from xml.sax.saxutils import escape

from .synthetic_report import Paragraph, PrintedCell, PrintedTable, SyntheticReport
from .render_base import Rendered, Units, blank_unit, cell_label, paragraph_label, slots, table_parts
from .rng import Chooser

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _run(text: str) -> str:
    return f'<w:r><w:rPr><w:rFonts w:hint="eastAsia"/></w:rPr><w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def _cell_paragraphs(lines: list[str]) -> str:
    return "".join(f'<w:p><w:pPr><w:jc w:val="center"/></w:pPr>{_run(t) if t else ""}</w:p>' for t in lines) or "<w:p/>"


class DocxTables:
    def __init__(self, choose: Chooser, units: Units):
        self.rng: random.Random = choose.rng
        self.units = units
        self.header_paragraphs = choose.flag("header_paragraphs", 0.4)

    def cell_xml(self, cell: PrintedCell, table: PrintedTable) -> str:
        if cell.text:
            self.units.add(cell.text, cell_label(cell, table.name))
        else:
            self.units.items.append(blank_unit(cell, table.name))
        lines = [cell.text]
        if cell.role == "header" and self.header_paragraphs and len(cell.text) >= 4:
            mid = len(cell.text) // 2
            lines = [cell.text[:mid], cell.text[mid:]]
        pr = f'<w:tcW w:w="{600 * cell.colspan}" w:type="dxa"/>'
        if cell.colspan > 1:
            pr += f'<w:gridSpan w:val="{cell.colspan}"/>'
        if cell.rowspan > 1:
            pr += '<w:vMerge w:val="restart"/>'
        return f"<w:tc><w:tcPr>{pr}</w:tcPr>{_cell_paragraphs(lines)}</w:tc>"

    def table_xml(self, table: PrintedTable, header_rows: int = 0) -> str:
        grid = "".join('<w:gridCol w:w="600"/>' for _ in range(table.n_cols))
        rows = []
        for r, row_slots in enumerate(slots(table)):
            cells = []
            for s in row_slots:
                c = s.cell
                if s.start:
                    cells.append(self.cell_xml(c, table))
                elif s.from_above and s.col == c.col:
                    span = f'<w:gridSpan w:val="{c.colspan}"/>' if c.colspan > 1 else ""
                    cells.append(f"<w:tc><w:tcPr>{span}<w:vMerge/></w:tcPr><w:p/></w:tc>")
            tr_pr = "<w:trPr><w:tblHeader/></w:trPr>" if r < header_rows else ""
            rows.append(f"<w:tr>{tr_pr}{''.join(cells)}</w:tr>")
        return (f'<w:tbl {_W}><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="0" w:type="auto"/>'
                f'<w:tblLook w:val="04A0"/></w:tblPr><w:tblGrid>{grid}</w:tblGrid>{"".join(rows)}</w:tbl>')


def _deterministic_zip(data: bytes) -> bytes:
    """The same package with fixed timestamps (python-docx stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def render_docx(report: SyntheticReport, choose: Chooser) -> Rendered:
    """The report as a .docx; traits under ``docx.*``."""
    import datetime

    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import parse_xml

    document = docx.Document()
    props = document.core_properties
    fixed = datetime.datetime(2000, 1, 1)
    props.author = report.agency
    props.title = ""
    props.created = props.modified = props.last_printed = fixed
    props.revision = 1
    units = Units()
    tables = DocxTables(choose, units)
    split = choose.flag("split_table", 0.5)
    repeat_groups = choose.flag("repeat_group_labels", 0.3)
    body = document.element.body
    sect = body[-1]  # w:sectPr stays last
    for block in report.blocks:
        if isinstance(block, Paragraph):
            units.add(block.text, paragraph_label(block))
            par = document.add_paragraph(block.text, style="Title" if block.kind == "title" and choose.rng.random() < 0.3 else None)
            if block.kind in ("title", "heading") and par.runs:
                par.runs[0].bold = True
            if block.kind == "title":
                par.alignment = WD_ALIGN_PARAGRAPH.CENTER
            elif block.kind in ("signature", "date"):
                par.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            continue
        parts = list(table_parts(block, split, repeat_groups))
        for i, part in enumerate(parts):
            if i:
                sect.addprevious(parse_xml(f'<w:p {_W}><w:r><w:br w:type="page"/></w:r></w:p>'))
            header_rows = block.repeat_header_rows if len(parts) == 1 else 0
            sect.addprevious(parse_xml(tables.table_xml(part, header_rows)))
    buf = io.BytesIO()
    document.save(buf)
    return Rendered(data=_deterministic_zip(buf.getvalue()), suffix=".docx", traits=dict(choose.traits), units=units.items)
