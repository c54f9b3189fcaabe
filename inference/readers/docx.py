"""Word .docx: the body's paragraphs and tables in order, on one page.

python-docx opens the package; the body XML is then read directly, because python-docx's
``row.cells`` repeats a horizontally merged cell once per grid column and knows nothing of
vertical merges. Here ``w:gridSpan`` becomes ``colspan`` and a ``w:vMerge`` run becomes one
cell with ``rowspan``, so each merged cell appears once, at its top-left grid position.
Tables nested in cells are emitted right after their outer table, as tables of their own.
"""
from __future__ import annotations

import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

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

# A zip local file header (signature, versions, flags, method, time, date, crc, sizes, name and extra lengths).
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
# Compressed bytes read, and inflated bytes held, at a time while counting a part's real size.
_CHUNK = 1 << 20


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


def _declared_part_count(fp: BinaryIO) -> Optional[int]:
    """The entry count of the end-of-central-directory record, read before zipfile builds one
    object per entry (a 200 MB file could declare millions)."""
    endrec = zipfile._EndRecData(fp)  # stable since Python 2; None when there is no such record
    return None if endrec is None else int(endrec[zipfile._ECD_ENTRIES_TOTAL])


def _inflated_size(fp: BinaryIO, info: zipfile.ZipInfo, limit: int) -> int:
    """How many bytes the part really inflates to, counted while inflating in bounded chunks and
    stopped as soon as it passes ``limit``. The size the archive declares is not trusted: zipfile
    cuts a part at its declared size and then fails on the checksum, which would make a lying bomb
    look like a damaged file."""
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
    name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
    fp.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    if info.compress_type == zipfile.ZIP_STORED:
        return min(info.compress_size, limit + 1)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        return info.file_size  # zipfile never yields more than the declared size for other methods
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left, total = info.compress_size, 0
    while left > 0 and not inflater.eof:
        data = fp.read(min(left, _CHUNK))
        if not data:
            break
        left -= len(data)
        while data and not inflater.eof:
            total += len(inflater.decompress(data, _CHUNK))  # at most _CHUNK bytes in memory
            if total > limit:
                return total
            data = inflater.unconsumed_tail
    return total


def check_zip_sizes(path: Path, options: ReaderOptions, kind: str = ".docx") -> None:
    """Refuse a package whose parts inflate past the caps (``too_large``), before any part is
    inflated for reading; a package zipfile cannot open is ``corrupt_file``."""
    name = path.name
    try:
        with path.open("rb") as fp:
            declared_parts = _declared_part_count(fp)
            if declared_parts is not None and declared_parts > options.max_zip_parts:
                raise ReadError("too_large", f"{name} is a zip package of {declared_parts} parts, over the "
                                             f"{options.max_zip_parts}-part limit")
            with zipfile.ZipFile(fp) as zf:
                infos = zf.infolist()
            if len(infos) > options.max_zip_parts:
                raise ReadError("too_large", f"{name} is a zip package of {len(infos)} parts, over the "
                                             f"{options.max_zip_parts}-part limit")
            # Declared sizes first: an honest bomb is refused without inflating a byte.
            for info in infos:
                if info.file_size > options.max_part_bytes:
                    raise ReadError("too_large", _part_message(name, info.filename, info.file_size, options.max_part_bytes))
            declared_total = sum(info.file_size for info in infos)
            if declared_total > options.max_inflated_bytes:
                raise ReadError("too_large", _total_message(name, declared_total, options.max_inflated_bytes))
            # Then the real sizes, inflated in bounded chunks and counted.
            total = 0
            for info in infos:
                size = _inflated_size(fp, info, options.max_part_bytes)
                if size > options.max_part_bytes:
                    raise ReadError("too_large", _part_message(name, info.filename, size, options.max_part_bytes, "more than "))
                total += size
                if total > options.max_inflated_bytes:
                    raise ReadError("too_large", _total_message(name, total, options.max_inflated_bytes, "more than "))
    except ReadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, struct.error) as exc:
        raise ReadError("corrupt_file", f"{name} is not a readable {kind} (zip) file: {type(exc).__name__}: {exc}") from exc


def _part_message(name: str, part: str, size: int, limit: int, qualifier: str = "") -> str:
    return f"{name}: part {part} inflates to {qualifier}{size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB per-part limit"


def _total_message(name: str, size: int, limit: int, qualifier: str = "") -> str:
    return f"{name} inflates to {qualifier}{size / 1e6:.0f} MB in all, over the {limit / 1e6:.0f} MB limit for a package"


def read_docx(path: Path, options: ReaderOptions) -> Document:
    import docx  # python-docx; imported here so other formats do not pay for it

    path = Path(path)
    check_zip_sizes(path, options)
    try:
        word = docx.Document(str(path))
        body = word.element.body
    except MemoryError:
        raise  # a cap, not damage: the pipeline reports it as ``memory``
    except Exception as exc:  # python-docx raises many types for a broken package
        detail = f"{type(exc).__name__}: {exc}"
        raise ReadError("corrupt_file", f"{path.name} is not a readable .docx file: {detail}") from exc
    blocks = _body_blocks(body)
    return Document(source=str(path), format="docx", pages=[Page(number=1, blocks=blocks)])
