"""`nianbao export --format xlsx --shape tables`: each document's three tables as printed.

One sheet per document read: the title, then 主动公开 / 收到和处理申请 / 行政复议、行政诉讼 with the
official Chinese row and column headers of its template (``headers`` in ``labels/schema.json``),
header cells merged as on paper, frozen panes (the title rows and the row-header columns), column
widths, cells in a failing rule tinted red and values the extractor doubts (other readings fit) yellow; a ``文件`` sheet lists every document (failed ones too, with
their error) and a ``检查`` sheet lists every rule evaluated.

Layout is computed as plain data first (``table_blocks``: cells with their spans), then written; the
writer only places cells. Text from documents is always written as text (never a formula). The
workbook is built in memory (merged cells need openpyxl's normal mode): about 0.3 MB of memory and
40 ms of CPU per document (measured: 200 copies of real_005, 65 MB more peak RSS than one); filter a large store
(--year, --template, --needs-review) into several workbooks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

from nianbao.schema import TABLE_NAMES, TEMPLATES, TableHeaders, load_schema

TABLE_NUMBERS = {"proactive": "二、", "requests": "三、", "appeals": "四、"}  # their sections in the report
LABEL_COLUMNS = 3          # row headers take columns A-C in every table (Table B nests three deep)
TITLE_ROWS = 2             # the document's title and its facts, frozen with the row headers
LABEL_WIDTHS = (16, 18, 44)
VALUE_WIDTH = 12
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
INDEX_SHEET, CHECKS_SHEET = "文件", "检查"
CHECK_HEADERS = ["工作表 sheet", "文件 source", "机关 agency", "年度 year", "规则 rule", "通过 passed", "说明 detail",
                 "差额 difference", "单元格 cells"]
INDEX_HEADERS = ["工作表 sheet", "文件 source", "机关 agency", "年度 year", "模板 template", "状态 status",
                 "错误 error", "需复核 review needed", "未通过规则 failed checks"]


@dataclass(frozen=True)
class Cell:
    """One placed cell: row and column from 0 inside its block, spans for merges."""
    row: int
    col: int
    value: Any
    rowspan: int = 1
    colspan: int = 1
    kind: str = "value"          # title | header | label | value
    key: Optional[str] = None    # the field key of a value cell


@dataclass
class Block:
    """One table (or one section of Table A) laid out as cells; ``height`` rows tall."""
    cells: list[Cell] = field(default_factory=list)
    height: int = 0

    def add(self, cell: Cell) -> None:
        self.cells.append(cell)
        self.height = max(self.height, cell.row + cell.rowspan)


# -- layout (pure) ---------------------------------------------------------------------------------
def _groups(paths: Sequence[tuple[str, ...]], levels: int) -> Iterator[tuple[int, int, str, int, bool]]:
    """(level, index, text, span, own) for each merged header cell of paths that run outermost first:
    a group shared by ``span`` consecutive paths, or (``own``) a path's last element."""
    for level in range(levels):
        i = 0
        while i < len(paths):
            path = paths[i]
            if level >= len(path):
                i += 1
                continue
            if level == len(path) - 1:
                yield level, i, path[level], 1, True
                i += 1
                continue
            j = i
            while j + 1 < len(paths) and len(paths[j + 1]) > level + 1 and paths[j + 1][:level + 1] == path[:level + 1]:
                j += 1
            yield level, i, path[level], j - i + 1, False
            i = j + 1


def header_rows(paths: Sequence[tuple[str, ...]], top: int, left: int) -> list[Cell]:
    """Column headers for value columns whose header paths run outermost first: a group over several
    columns is one merged cell; a column's own header is merged down to the last header row."""
    depth = max(len(p) for p in paths)
    return [Cell(top + level, left + i, text, rowspan=depth - level, kind="header") if own
            else Cell(top + level, left + i, text, colspan=span, kind="header")
            for level, i, text, span, own in _groups(paths, depth)]


def label_cells(paths: Sequence[tuple[str, ...]], top: int, width: int = LABEL_COLUMNS) -> list[Cell]:
    """Row headers for rows whose label paths run outermost first: a group beside several rows is one
    merged cell; a row's own label is merged right to the last label column."""
    return [Cell(top + i, level, text, colspan=width - level, kind="label") if own
            else Cell(top + i, level, text, rowspan=span, kind="label")
            for level, i, text, span, own in _groups(paths, width)]


def _value(fields: dict, key: str) -> Any:
    item = fields.get(key)
    return None if item is None else item.get("value")


def proactive_block(template: str, fields: dict) -> Block:
    """Table A: one header block per article item, 信息内容 and its columns, then its rows."""
    schema = load_schema()
    headers = schema.headers(template, "proactive")
    block = Block()
    row = 0
    for section in headers.sections:
        block.add(Cell(row, 0, section.title, colspan=LABEL_COLUMNS + max(len(s.columns) for s in headers.sections),
                       kind="header"))
        block.add(Cell(row + 1, 0, section.label_header, colspan=LABEL_COLUMNS, kind="header"))
        for i, (_, text) in enumerate(section.columns):
            block.add(Cell(row + 1, LABEL_COLUMNS + i, text, kind="header"))
        for r, (row_key, text) in enumerate(section.rows):
            block.add(Cell(row + 2 + r, 0, text, colspan=LABEL_COLUMNS, kind="label"))
            for i, (col, _) in enumerate(section.columns):
                key = f"proactive.{row_key}.{col}"
                block.add(Cell(row + 2 + r, LABEL_COLUMNS + i, _value(fields, key), key=key))
        row += 2 + len(section.rows)
    return block


def requests_block(template: str, fields: dict) -> Block:
    """Table B: the corner with its rule, 申请人情况 over 自然人 / 法人或其他组织 (five) / 总计, rows nested
    三、本年度办理结果 > （三）不予公开 > 1.属于国家秘密."""
    schema = load_schema()
    spec, headers = schema.table(template, "requests"), schema.headers(template, "requests")
    columns = list(dict.fromkeys(c for r in spec.rows for c in r.columns))
    paths = [column_path(headers, c) for c in columns]
    depth = max(len(p) for p in paths)
    block = Block()
    block.add(Cell(0, 0, headers.corner or "", rowspan=depth, colspan=LABEL_COLUMNS, kind="header"))
    for c in header_rows(paths, 0, LABEL_COLUMNS):
        block.add(c)
    for c in label_cells([headers.row_path(r) for r in spec.rows], depth):
        block.add(c)
    for i, r in enumerate(spec.rows):
        for j, col in enumerate(columns):
            key = f"requests.{r.key}.{col}"
            block.add(Cell(depth + i, LABEL_COLUMNS + j, _value(fields, key), key=key))
    return block


def appeals_block(template: str, fields: dict) -> Block:
    """Table C: one row of 15 numbers under 行政复议 | 行政诉讼 (未经复议直接起诉 | 复议后起诉)."""
    schema = load_schema()
    spec, headers = schema.table(template, "appeals"), schema.headers(template, "appeals")
    keys, paths = [], []
    for r in spec.rows:  # the groups, in printed order
        group_path = headers.row_path(r)
        for col in r.columns:
            keys.append(f"appeals.{r.key}.{col}")
            paths.append((*group_path, headers.column(col)))
    depth = max(len(p) for p in paths)
    block = Block()
    block.add(Cell(0, 0, "", rowspan=depth + 1, colspan=LABEL_COLUMNS, kind="header"))
    for c in header_rows(paths, 0, LABEL_COLUMNS):
        block.add(c)
    for j, key in enumerate(keys):
        block.add(Cell(depth, LABEL_COLUMNS + j, _value(fields, key), key=key))
    return block


def column_path(headers: TableHeaders, column: str) -> tuple[str, ...]:
    """A column's header cells, outermost first (申请人情况 > 法人或其他组织 > 商业企业)."""
    return (*[g.title for g in headers.column_groups if column in g.keys], headers.column(column))


BLOCKS = {"proactive": proactive_block, "requests": requests_block, "appeals": appeals_block}


@lru_cache(maxsize=1)
def _only_v2019_keys() -> frozenset[str]:
    schema = load_schema()
    return frozenset(schema.field_keys("v2019")) - frozenset(schema.field_keys("v2021"))


def record_template(record: dict) -> str:
    """The template the record was read in; from its keys when the record does not say."""
    if record.get("template") in TEMPLATES:
        return record["template"]
    return "v2019" if _only_v2019_keys() & set(record.get("fields") or {}) else "v2021"


def document_cells(record: dict) -> tuple[list[Cell], int]:
    """Every cell of one document's sheet (title rows, then each table under its title) and its width."""
    schema = load_schema()
    template = record_template(record)
    fields = record.get("fields") or {}
    found = record.get("tables") or {}
    year = record.get("year")
    title = f"{record.get('agency') or '（机关未识别）'}{f' {year}年' if year else ''}政府信息公开工作年度报告"
    cells = [Cell(0, 0, title, colspan=LABEL_COLUMNS + 5, kind="title"),
             Cell(1, 0, f"文件 {record.get('source') or ''}　模板 {template}"
                        f"　需复核 {'是' if (record.get('review') or {}).get('needed') else '否'}"
                        "　（黄色：存疑的读数；红色：未通过勾稽规则）",
                  colspan=LABEL_COLUMNS + 5)]
    row, width = TITLE_ROWS + 1, LABEL_COLUMNS + 1
    for name in TABLE_NAMES:
        cells.append(Cell(row, 0, f"{TABLE_NUMBERS[name]}{schema.table_info[name]['title']}",
                          colspan=LABEL_COLUMNS + 5, kind="title"))
        row += 1
        if not (found.get(name) or {}).get("found"):
            cells.append(Cell(row, 0, "未找到此表（没有数值，不以零填充）", colspan=LABEL_COLUMNS + 5))
            row += 2
            continue
        block = BLOCKS[name](template, fields)
        for c in block.cells:
            cells.append(Cell(c.row + row, c.col, c.value, c.rowspan, c.colspan, c.kind, c.key))
            width = max(width, c.col + c.colspan)
        row += block.height + 1
    return cells, width


# -- writing ---------------------------------------------------------------------------------------
def sheet_name(number: int, record: dict, taken: set[str]) -> str:
    """``001 机关名`` cut to Excel's 31 characters, without the characters Excel refuses, unique."""
    base = SHEET_NAME_BAD.sub("_", f"{number:03d} {record.get('agency') or Path(str(record.get('source') or '')).stem}")
    name = base[:31].strip().strip("'") or f"{number:03d}"
    while name in taken:
        name = f"{name[:27]}~{number % 1000:03d}"
    taken.add(name)
    return name


def _put(ws, row: int, col: int, value: Any):
    """A cell with ``value``; text from documents stays text (a leading ``=`` is no formula)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def add_styles(wb) -> None:
    """The sheets' cell styles, registered once as named styles (a style object per cell is slow)."""
    from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side

    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    styles = {
        "nb_title": NamedStyle("nb_title", font=Font(bold=True, size=13)),
        "nb_subtitle": NamedStyle("nb_subtitle", font=Font(bold=True, size=11)),
        "nb_plain": NamedStyle("nb_plain"),
        "nb_header": NamedStyle("nb_header", font=Font(bold=True), border=border,
                                fill=PatternFill("solid", fgColor="EDEFF3"),
                                alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
        "nb_label": NamedStyle("nb_label", border=border, alignment=Alignment(vertical="center", wrap_text=True)),
        "nb_value": NamedStyle("nb_value", border=border, alignment=Alignment(horizontal="right", vertical="center")),
        "nb_doubted": NamedStyle("nb_doubted", border=border, fill=PatternFill("solid", fgColor="FFE08A"),
                                 alignment=Alignment(horizontal="right", vertical="center")),
        "nb_failing": NamedStyle("nb_failing", border=border, fill=PatternFill("solid", fgColor="F8D7DA"),
                                 alignment=Alignment(horizontal="right", vertical="center")),
    }
    for style in styles.values():
        wb.add_named_style(style)


def _style(c: Cell, failing: set[str], doubted: set[str] = frozenset()) -> str:
    if c.kind == "title":
        return "nb_title" if c.row == 0 else "nb_subtitle"
    if c.row < TITLE_ROWS:
        return "nb_plain"
    if c.kind == "value":
        return "nb_doubted" if c.key in doubted else "nb_failing" if c.key in failing else "nb_value"
    return {"header": "nb_header", "label": "nb_label"}.get(c.kind, "nb_plain")


def doubted_keys(record: dict) -> set[str]:
    """Fields the extractor doubts: other readings fit (alternatives) or it gives a reason below 0.99."""
    return {k for k, f in (record.get("fields") or {}).items()
            if f and (f.get("alternatives") or (f.get("reason") and (f.get("confidence") or 0) < 0.99))}


def write_document_sheet(ws, record: dict) -> None:
    """One document's sheet (the workbook has ``add_styles``)."""
    from openpyxl.utils import get_column_letter

    cells, width = document_cells(record)
    failing = {k for c in record.get("checks") or [] if not c.get("passed") for k in c.get("cells") or []}
    doubted = doubted_keys(record)
    for c in cells:
        style = _style(c, failing, doubted)
        _put(ws, c.row + 1, c.col + 1, c.value).style = style
        if c.rowspan > 1 or c.colspan > 1:
            ws.merge_cells(start_row=c.row + 1, start_column=c.col + 1, end_row=c.row + c.rowspan,
                           end_column=c.col + c.colspan)
            if style in ("nb_header", "nb_label", "nb_value"):  # the merged area's own borders
                for r in range(c.row + 1, c.row + c.rowspan + 1):
                    for k in range(c.col + 1, c.col + c.colspan + 1):
                        if (r, k) != (c.row + 1, c.col + 1):
                            ws.cell(row=r, column=k).style = style
    for i, w in enumerate(LABEL_WIDTHS):
        ws.column_dimensions[get_column_letter(i + 1)].width = w
    for col in range(LABEL_COLUMNS + 1, width + 1):
        ws.column_dimensions[get_column_letter(col)].width = VALUE_WIDTH
    ws.freeze_panes = ws.cell(row=TITLE_ROWS + 1, column=LABEL_COLUMNS + 1)


def write_tables_xlsx(records: Iterable[dict], path: str | Path) -> int:
    """The workbook: 文件 (every document), one sheet per document read, 检查 (every rule). Returns the
    number of documents."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    add_styles(wb)
    index = wb.active
    index.title = INDEX_SHEET
    index.append(INDEX_HEADERS)
    checks = wb.create_sheet(CHECKS_SHEET)
    checks.append(CHECK_HEADERS)
    taken = {INDEX_SHEET, CHECKS_SHEET}
    n = 0
    index_row = checks_row = 1  # counted here: openpyxl's max_row scans every cell (quadratic over a store)
    for record in records:
        n += 1
        error = record.get("error")
        name = None
        if not error:
            name = sheet_name(n, record, taken)
            write_document_sheet(wb.create_sheet(name), record)
        failed = [c for c in record.get("checks") or [] if not c.get("passed")]
        index_row += 1
        row = index_row
        for col, v in enumerate([name, record.get("source"), record.get("agency"), record.get("year"),
                                 record.get("template"), record.get("status") or ("failed" if error else "done"),
                                 f"{error['code']}: {error['message']}" if error else None,
                                 "是" if (record.get("review") or {}).get("needed") else "否",
                                 " ".join(c["rule"] for c in failed) or None], start=1):
            cell = _put(index, row, col, v)
            if col == 1 and name:
                cell.hyperlink = f"#'{name}'!A1"
                cell.font = Font(color="0563C1", underline="single")
        for c in record.get("checks") or []:
            checks_row += 1
            row = checks_row
            for col, v in enumerate([name, record.get("source"), record.get("agency"), record.get("year"), c.get("rule"),
                                     bool(c.get("passed")), c.get("detail"), c.get("difference"),
                                     " ".join(c.get("cells") or [])], start=1):
                _put(checks, row, col, v)
    for ws, widths in ((index, (16, 40, 30, 8, 10, 8, 40, 12, 14)), (checks, (16, 40, 30, 8, 6, 8, 60, 10, 60))):
        from openpyxl.utils import get_column_letter

        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = w
        ws.freeze_panes = "A2"
        for cell in ws[1]:
            cell.font = Font(bold=True)
    wb.save(str(path))
    return n
