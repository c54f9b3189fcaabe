"""Word .docx: the body's paragraphs and tables in order, on one page.

python-docx opens the package; the body XML is then read directly, because python-docx's
``row.cells`` repeats a horizontally merged cell once per grid column and knows nothing of
vertical merges. Here ``w:gridSpan`` becomes ``colspan`` and a ``w:vMerge`` run becomes one
cell with ``rowspan``, so each merged cell appears once, at its top-left grid position.
Tables nested in cells are emitted right after their outer table, as tables of their own.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Iterator, Optional

from lxml import etree

from nianbao.document import Block, Cell, Document, Line, Page, Table
from nianbao.errors import ReadError

from .options import ReaderOptions

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def _w(name: str) -> str:
    return f"{{{_W}}}{name}"


W_P, W_TBL, W_TR, W_TC = _w("p"), _w("tbl"), _w("tr"), _w("tc")
W_R, W_T, W_TAB, W_BR, W_CR = _w("r"), _w("t"), _w("tab"), _w("br"), _w("cr")
W_VAL = _w("val")
# Wrappers whose children are ordinary body/row/cell content (content controls, custom XML).
_WRAPPERS = frozenset({_w("sdt"), _w("sdtContent"), _w("customXml"), _w("smartTag")})
# Paragraph subtrees whose text is not shown: deleted or moved-away revisions, the fallback
# copy of AlternateContent (the Choice copy is read), field instructions, paragraph properties.
_SKIP_IN_P = frozenset({_w("del"), _w("moveFrom"), f"{{{_MC}}}Fallback", _w("instrText"), _w("pPr"), _w("rPr")})

_HSPACE = re.compile(r"[ \u00a0\u3000\u2002-\u200a\u202f]+")
_TABS = re.compile(r"\s*\t[\s\t]*")

# Uncompressed document.xml above this many times max_bytes is a zip bomb, not a report.
_INFLATE_FACTOR = 5


def _clean(text: str) -> str:
    """Collapse space runs to one space and tab runs to one tab; strip the ends."""
    return _TABS.sub("\t", _HSPACE.sub(" ", text)).strip()


def _children(el: etree._Element) -> Iterator[etree._Element]:
    """Children with content-control/custom-XML wrappers opened up (iteratively)."""
    stack = list(reversed(el))
    while stack:
        child = stack.pop()
        if child.tag in _WRAPPERS:
            stack.extend(reversed(child))
        else:
            yield child


def _hidden(run: etree._Element) -> bool:
    vanish = run.find(f"{_w('rPr')}/{_w('vanish')}")
    return vanish is not None and vanish.get(W_VAL, "true") not in ("0", "false", "off")


def paragraph_lines(p: etree._Element) -> list[str]:
    """The visible text of a w:p, split at line breaks (and at text-box paragraphs)."""
    lines: list[str] = []
    buf: list[str] = []

    def newline() -> None:
        lines.append("".join(buf))
        buf.clear()

    walker = etree.iterwalk(p, events=("start", "end"))
    for event, el in walker:
        tag = el.tag
        if event == "end":
            if tag == W_P and el is not p:  # a paragraph inside a text box
                newline()
            continue
        if tag in _SKIP_IN_P or (tag == W_R and _hidden(el)):
            walker.skip_subtree()
        elif tag == W_T:
            buf.append(el.text or "")
        elif tag == W_TAB and el.getparent() is not None and el.getparent().tag == W_R:
            buf.append("\t")  # (w:tab under w:tabs is a tab stop definition, not a tab)
        elif tag in (W_BR, W_CR):
            newline()
        elif tag == _w("noBreakHyphen"):
            buf.append("-")
        elif tag == W_P and el is not p:
            newline()
    newline()
    return [t for t in (_clean(line) for line in lines) if t]


def _int_attr(el: Optional[etree._Element], default: int) -> int:
    if el is None:
        return default
    try:
        return int(el.get(W_VAL, default))
    except ValueError:
        return default


def _table(tbl: etree._Element, nested: list[etree._Element]) -> Table:
    """Resolve a w:tbl into a grid; nested w:tbl found in its cells are appended to ``nested``."""
    cells: list[Cell] = []
    # Vertical merges still open, keyed by the grid column they start in.
    open_merges: dict[int, Cell] = {}
    rows = [row for row in _children(tbl) if row.tag == W_TR]
    for r, tr in enumerate(rows):
        col = max(0, _int_attr(tr.find(f"{_w('trPr')}/{_w('gridBefore')}"), 0))
        prev: Optional[Cell] = None
        for tc in _children(tr):
            if tc.tag != W_TC:
                continue
            tc_pr = tc.find(_w("tcPr"))
            span = 1
            v_merge = h_merge = None
            if tc_pr is not None:
                span = max(1, min(_int_attr(tc_pr.find(_w("gridSpan")), 1), 1000))
                vm = tc_pr.find(_w("vMerge"))
                v_merge = None if vm is None else vm.get(W_VAL, "continue")
                hm = tc_pr.find(_w("hMerge"))
                h_merge = None if hm is None else hm.get(W_VAL, "continue")
            texts: list[str] = []
            for child in _children(tc):
                if child.tag == W_P:
                    texts.extend(paragraph_lines(child))
                elif child.tag == W_TBL:
                    nested.append(child)
            if v_merge == "continue" and col in open_merges:
                # Continuation of a vertical merge: extend the top cell, emit nothing.
                top = open_merges[col]
                top.rowspan = r - top.row + 1
                if texts and not top.text:
                    top.text = " ".join(texts)
            elif h_merge == "continue" and prev is not None:
                # Legacy horizontal merge (pre-2007 files): widen the cell to the left.
                prev.colspan += span
            else:
                cell = Cell(text=" ".join(texts), row=r, col=col, colspan=span)
                cells.append(cell)
                for c in range(col, col + span):
                    open_merges.pop(c, None)
                if v_merge == "restart":
                    open_merges[col] = cell
                prev = cell
            col += span
    return Table(cells=cells, page=1)


def _body_blocks(body: etree._Element) -> list[Block]:
    blocks: list[Block] = []
    for el in _children(body):
        if el.tag == W_P:
            blocks.extend(Line(text=t, page=1) for t in paragraph_lines(el))
        elif el.tag == W_TBL:
            # Outer table first, then its nested tables depth-first in document order.
            stack = [el]
            while stack:
                nested: list[etree._Element] = []
                table = _table(stack.pop(), nested)
                if table.cells:
                    blocks.append(table)
                stack.extend(reversed(nested))
    return blocks


def _check_inflated_size(path: Path, options: ReaderOptions) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("word/document.xml")
    except KeyError:
        return  # unusual part name: python-docx finds it through the relationships
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError("corrupt_file", f"{path.name} is not a readable .docx (zip) file: {exc}") from exc
    if info.file_size > options.max_bytes * _INFLATE_FACTOR:
        raise ReadError("too_large", f"{path.name} inflates to {info.file_size / 1e6:.0f} MB of document XML")


def read_docx(path: Path, options: ReaderOptions) -> Document:
    import docx  # python-docx; imported here so other formats do not pay for it

    path = Path(path)
    _check_inflated_size(path, options)
    try:
        word = docx.Document(str(path))
        body = word.element.body
    except Exception as exc:  # python-docx raises many types for a broken package
        detail = f"{type(exc).__name__}: {exc}"
        raise ReadError("corrupt_file", f"{path.name} is not a readable .docx file: {detail}") from exc
    blocks = _body_blocks(body)
    return Document(source=str(path), format="docx", pages=[Page(number=1, blocks=blocks)])
