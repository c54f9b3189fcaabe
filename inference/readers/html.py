"""HTML (including Word "Save as web page" exports): one page of lines and table grids.

Block elements become :class:`Line` s in document order; every ``<table>`` with no nested
``<table>`` becomes a :class:`Table` whose colspan/rowspan are resolved into a grid. Tables that
contain tables are layout scaffolding: they are walked like ordinary blocks so their inner grids
and text come out in order. The walk is iterative (``lxml.etree.iterwalk``), so deeply nested
junk cannot exhaust the Python stack, and a 50 MB page is read in seconds.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Optional

from lxml import etree

from nianbao.document import Block, Cell, Document, Line, Page, Table
from nianbao.errors import ReadError

from .encoding import decode_bytes, decode_declared_lossy
from .options import ReaderOptions

# Elements whose content is never report text. <title> is read once from <head> and then
# skipped wherever it appears (pages pasted into pages repeat their <title> in the body).
_SKIP = frozenset({
    "script", "style", "noscript", "template", "head", "title", "meta", "link", "iframe", "object", "svg", "select",
})

# Elements that start and end a line of text (HTML's block-level elements, plus row/cell
# elements of layout tables, which are walked like blocks).
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "dir", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "frameset", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "thead", "tfoot", "tr", "td", "th", "ul", "option", "textarea",
})

# HTML caps colspan at 1000 and rowspan at 65534; we also cap both at the table's real extent.
_MAX_COLSPAN = 1000

_WS = re.compile(r"[\s\u00a0\u3000\u2002-\u200a\u202f\u205f]+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

# Content after </body></html> still belongs to the page (HTML5 puts it in <body>); libxml2
# would drop it, so these end tags are removed before parsing.
_END_BODY = re.compile(r"</\s*(?:body|html)\s*>", re.IGNORECASE)
# libxml2 refuses trees deeper than 2048 and then returns nothing; on that error the markup is
# flattened (inline tags dropped, block tags turned into <br>) and parsed again.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_-]*)\b[^>]*>")
_TABLE_TAGS = frozenset({"table", "tr", "td", "th", "thead", "tbody", "tfoot", "caption"})
_KEEP_FLAT = frozenset({"script", "style", "title", "head", "br", "meta", "noscript", "template"})

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def normalize_ws(text: str) -> str:
    """Collapse whitespace runs (including &nbsp; and the ideographic space) to one space."""
    return _WS.sub(" ", text.translate(_INVISIBLE)).strip()


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

_WESTERN = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})


def _declared_charset(data: bytes) -> Optional[str]:
    head = data[:16384]
    m = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if not m:
        return None
    name = m.group(1).decode("ascii", "ignore").lower()
    try:
        name = codecs.lookup(name).name
    except LookupError:
        return None
    # GB2312/GBK pages routinely use characters outside the declared set; GB18030 is a superset.
    if name in ("gb2312", "gbk", "hz", "euc_cn", "cp936"):
        return "gb18030"
    return name


def decode_html(data: bytes) -> tuple[str, str]:
    """Return (text, encoding): a BOM wins, then the declared charset, then detection."""
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode_bytes(data)
    declared = _declared_charset(data)
    if declared in _WESTERN:
        # A Chinese report declared as a Western single-byte charset is mislabelled: any byte
        # string decodes in those, so the declaration proves nothing. Detect instead.
        declared = None
    if declared and declared != "utf-8":
        # Pages that declare GBK but are UTF-8 are common; a clean UTF-8 decode of non-ASCII
        # bytes is near-proof of UTF-8, while GB18030 would decode UTF-8 bytes into garbage.
        if not data.isascii():
            try:
                return data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
    if declared:
        try:
            return data.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return decode_bytes(data)
    except ReadError:
        # A few stray bytes in an otherwise declared page: keep the page, lose those bytes.
        if declared:
            return decode_declared_lossy(data, declared), declared
        raise


# ---------------------------------------------------------------------------------------------
# Walking
# ---------------------------------------------------------------------------------------------

def _tag(el: etree._Element) -> Optional[str]:
    tag = el.tag
    if not isinstance(tag, str):  # comments, processing instructions, entities
        return None
    return tag.lower()


def _tables_with_nested_tables(root: etree._Element) -> set[etree._Element]:
    """The <table>s that contain another <table> (one linear pass, no ancestor walks)."""
    nested: set[etree._Element] = set()
    stack: list[bool] = []
    for event, el in etree.iterwalk(root, events=("start", "end"), tag="table"):
        if event == "start":
            stack.append(False)
        else:
            if stack.pop():
                nested.add(el)
            if stack:
                stack[-1] = True
    return nested


def _cell_text(cell: etree._Element) -> str:
    """A cell's text; its paragraphs and <br> breaks are joined by single spaces."""
    if len(cell) == 0:  # the common case: a bare text cell
        return normalize_ws(cell.text or "")
    parts: list[str] = []
    walker = etree.iterwalk(cell, events=("start", "end"))
    for event, el in walker:
        tag = _tag(el)
        if event == "start":
            if tag in _SKIP:
                walker.skip_subtree()
                continue
            if tag in _BLOCK or tag == "br":
                parts.append(" ")
            if el.text and tag is not None:
                parts.append(el.text)
        else:
            if tag in _BLOCK:
                parts.append(" ")
            if el is not cell and el.tail:
                parts.append(el.tail)
    return normalize_ws("".join(parts))


def _span(el: etree._Element, name: str) -> int:
    raw = el.get(name)
    if not raw:
        return 1
    m = re.match(r"\s*(\d+)", raw)
    if not m:
        return 1
    return max(1, min(int(m.group(1)[:7]), 65534))


def table_grid(table: etree._Element) -> list[Cell]:
    """Resolve a flat <table>'s rows into grid cells; a merged cell appears once, top-left."""
    rows = [[c for c in tr if _tag(c) in ("td", "th")] for tr in table.iter("tr")]
    rows = [r for r in rows if r] or []
    n_rows = len(rows)
    # Absurd colspans (colspan=9999 on a title) must not push later cells far right. A colspan
    # wider than the most cells any row has is not trusted: it counts as one column when sizing
    # the table, and no colspan may exceed the widest row so sized.
    most_cells = max((len(r) for r in rows), default=1)
    widest = max(
        (sum(s if s <= most_cells else 1 for s in (_span(el, "colspan") for el in row)) for row in rows), default=1
    )
    max_colspan = max(1, min(widest, _MAX_COLSPAN))
    cells: list[Cell] = []
    # Cells from earlier rows that still cover this row: (first col, end col, end row).
    active: list[tuple[int, int, int]] = []
    for r, row in enumerate(rows):
        active = [s for s in active if s[2] > r]
        col = 0
        for el in row:
            # Skip columns covered by rowspans from above (loop: one jump can land in another).
            moved = True
            while moved:
                moved = False
                for c0, c1, _ in active:
                    if c0 <= col < c1:
                        col, moved = c1, True
            rowspan = min(_span(el, "rowspan"), n_rows - r)
            colspan = min(_span(el, "colspan"), max_colspan)
            cells.append(Cell(text=_cell_text(el), row=r, col=col, rowspan=rowspan, colspan=colspan))
            if rowspan > 1:
                active.append((col, col + colspan, r + rowspan))
            col += colspan
    # A span reaching past the last column any cell starts in is padding (e.g. colspan=99 on a
    # title row): clamp it to the table's real width.
    width = max((c.col for c in cells), default=-1) + 1
    for c in cells:
        c.colspan = max(1, min(c.colspan, width - c.col))
    return cells


class _Walker:
    """Collects lines and tables from a parsed tree in document order."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._buf: list[str] = []
        self._pre = 0

    def flush(self) -> None:
        if self._buf:
            text = normalize_ws("".join(self._buf))
            self._buf.clear()
            if text:
                self.blocks.append(Line(text=text, page=1))

    def add_text(self, text: Optional[str]) -> None:
        if not text:
            return
        if self._pre and "\n" in text:
            # Inside <pre>, newlines are line breaks.
            first, *rest = text.split("\n")
            self._buf.append(first)
            for piece in rest:
                self.flush()
                self._buf.append(piece)
        else:
            self._buf.append(text)

    def walk(self, root: etree._Element) -> None:
        nested = _tables_with_nested_tables(root)
        walker = etree.iterwalk(root, events=("start", "end"))
        for event, el in walker:
            tag = _tag(el)
            if event == "start":
                if tag is None or tag in _SKIP:
                    walker.skip_subtree()
                    continue
                if tag == "table" and el not in nested:
                    self.flush()
                    self._emit_table(el)
                    walker.skip_subtree()
                    continue
                if tag in _BLOCK or tag == "br":
                    self.flush()
                if tag == "pre":
                    self._pre += 1
                self.add_text(el.text)
            else:
                if tag in _BLOCK:
                    self.flush()
                if tag == "pre":
                    self._pre -= 1
                if el is not root:
                    self.add_text(el.tail)
        self.flush()

    def _emit_table(self, table: etree._Element) -> None:
        for caption in table.iterchildren("caption"):
            text = _cell_text(caption)
            if text:
                self.blocks.append(Line(text=text, page=1))
        cells = table_grid(table)
        if cells:
            self.blocks.append(Table(cells=cells, page=1))


def _flatten(text: str, keep_tables: bool) -> str:
    keep = _KEEP_FLAT | _TABLE_TAGS if keep_tables else _KEEP_FLAT

    def repl(m: re.Match[str]) -> str:
        name = m.group(2).lower()
        if name in keep:
            return m.group(0)
        return "<br>" if name in _BLOCK else ""

    return _TAG.sub(repl, text)


def _too_deep(parser: etree.HTMLParser) -> bool:
    return any(e.type == etree.ErrorTypes.ERR_RESOURCE_LIMIT for e in parser.error_log)  # type: ignore[attr-defined]


def _parse(text: str) -> Optional[etree._Element]:
    text = _END_BODY.sub("", text)
    attempts = (text, lambda: _flatten(text, keep_tables=True), lambda: _flatten(text, keep_tables=False))
    root = None
    for attempt in attempts:
        markup = attempt if isinstance(attempt, str) else attempt()
        # Feed UTF-8 bytes with an explicit encoding: lxml refuses str input that carries an XML
        # encoding declaration, and must not re-decode by the page's own (possibly wrong) <meta>.
        # The plain etree parser: lxml.html's per-element class lookup costs ~15% on big pages.
        parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True)
        try:
            root = etree.fromstring(markup.encode("utf-8", "surrogatepass"), parser=parser)
        except (etree.ParserError, etree.XMLSyntaxError, ValueError):
            return None
        if root is None:
            return None  # nothing parseable (e.g. only whitespace/comments)
        if not _too_deep(parser):
            break
    return root


def parse_html_text(text: str) -> list[Block]:
    """Blocks (title line first, then body lines and tables) of an HTML string."""
    root = _parse(text)
    if root is None:
        return []
    walker = _Walker()
    title = root.find("head/title")
    if title is not None:
        title_text = normalize_ws("".join(title.itertext()))
        if title_text:
            walker.blocks.append(Line(text=title_text, page=1))
    body = root.find("body")
    if body is None:
        body = root
    walker.walk(body)
    return walker.blocks


def read_html(path: Path, options: ReaderOptions) -> Document:
    text, encoding = decode_html(Path(path).read_bytes())
    blocks = parse_html_text(text)
    return Document(source=str(path), format="html", encoding=encoding, pages=[Page(number=1, blocks=blocks)])
