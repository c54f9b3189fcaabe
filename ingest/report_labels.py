"""Labels people read in the audit report: the tables' official Chinese headers, never schema keys.

Every label comes from the ``headers`` block of labels/schema.json (``Schema.headers``): a field
``requests.denied.state_secret.natural`` reads 三、本年度办理结果 · （三）不予公开 · 1.属于国家秘密 · 自然人.
The reading patterns of the schema (``RowSpec.labels``, regular expressions) are never shown.
Pure functions, so the report and its tests agree on what a label is.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from nianbao.schema import TABLE_NAMES, TEMPLATES, Schema, TableHeaders, load_schema

# A schema field key where it stands in free text: table.row[.subrow].column.
FIELD_KEY_IN_TEXT = re.compile(r"\b(?:proactive|requests|appeals)(?:\.[a-z][a-z0-9_]*){2,3}\b")
# A bare row or column name in a check's statement ("natural: results_total 18 vs ...").
NAME_IN_TEXT = re.compile(r"(?<![\w.])[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)?(?![\w.])")
SEPARATOR = " · "


@dataclass(frozen=True)
class FieldName:
    """A field key taken apart: table, row (may be dotted: denied.state_secret), column."""
    table: str
    row: str
    column: str

    @classmethod
    def parse(cls, key: str) -> Optional["FieldName"]:
        parts = key.split(".")
        if len(parts) < 3 or parts[0] not in TABLE_NAMES:
            return None
        return cls(parts[0], ".".join(parts[1:-1]), parts[-1])


def _templates(template: Optional[str]) -> list[str]:
    """The template asked for first, then the others (a key of one template is labelled by it)."""
    first = [template] if template in TEMPLATES else []
    return first + [t for t in reversed(TEMPLATES) if t not in first]


def _headers_knowing(name: FieldName, template: Optional[str], schema: Schema) -> Optional[tuple[str, TableHeaders]]:
    """The template and headers that print this field's row and column."""
    for t in _templates(template):
        headers = schema.headers(t, name.table)
        if name.row in headers.rows and name.column in headers.columns:
            return t, headers
    return None


def _row_path(schema: Schema, template: str, headers: TableHeaders, row: str) -> tuple[str, ...]:
    """The row headers printed left of ``row``, outermost first; Table A's section title in front."""
    for section in headers.sections:
        if row in dict(section.rows):
            return (section.title, dict(section.rows)[row])
    try:
        return headers.row_path(schema.table(template, headers.table).row(row))
    except KeyError:  # a group's own line (（六）其他处理): the groups around it
        path = [headers.row(row)]
        group = headers.group_within.get(row)
        while group:
            path.insert(0, headers.groups.get(group, group))
            group = headers.group_within.get(group)
        return tuple(path)


def field_label(key: str, template: Optional[str] = None, schema: Optional[Schema] = None) -> str:
    """The official headers of a field: its row path, then its column. A key no header knows is
    returned as it is (it is data, not a label we invent)."""
    schema = schema or load_schema()
    name = FieldName.parse(key)
    known = _headers_knowing(name, template, schema) if name else None
    if name is None or known is None:
        return key
    template, headers = known
    return SEPARATOR.join((*_row_path(schema, template, headers, name.row), headers.column(name.column)))


def label_keys_in_text(text: str, template: Optional[str] = None, schema: Optional[Schema] = None) -> str:
    """``text`` with every schema field key in it replaced by its official headers (review reasons,
    rule meanings: 'requests.new.total: several readings ...')."""
    if not text:
        return text
    schema = schema or load_schema()
    return FIELD_KEY_IN_TEXT.sub(lambda m: field_label(m.group(0), template, schema), text)


def _cell_names(cells: object) -> list[FieldName]:
    if isinstance(cells, str):
        try:
            cells = json.loads(cells)
        except ValueError:
            return []
    if not isinstance(cells, (list, tuple)):
        return []
    return [n for n in (FieldName.parse(c) for c in cells if isinstance(c, str)) if n is not None]


def check_statement(detail: Optional[str], cells: object, template: Optional[str] = None,
                    schema: Optional[Schema] = None) -> str:
    """A rule check's statement under the official headers of the cells it checks.

    The statements of rules 1-5 name rows and columns by key ('natural: results_total 18 vs sum of
    results 16'). What comes before the colon is the line all the check's cells share (a row for R1/R4,
    a column for R2/R3); the names after it are rows, row groups or columns of the same table."""
    if not detail:
        return detail or ""
    schema = schema or load_schema()
    names = _cell_names(cells)
    tables = {n.table for n in names}
    if len(tables) != 1:
        return label_keys_in_text(detail, template, schema)
    known = _headers_knowing(names[0], template, schema)
    if known is None:
        return label_keys_in_text(detail, template, schema)
    headers = known[1]
    rows, columns = {n.row for n in names}, {n.column for n in names}

    def label_of(name: str, prefer_column: bool = False) -> str:
        if prefer_column and name in headers.columns:
            return headers.column(name)
        if name in headers.rows:
            return headers.row(name)
        if name in headers.groups:
            return headers.groups[name]
        if name in headers.columns:
            return headers.column(name)
        return name

    subject, colon, rest = detail.partition(": ")
    if colon and re.fullmatch(NAME_IN_TEXT, subject):
        shared_column = columns == {subject} and rows != {subject}
        subject = label_of(subject, prefer_column=shared_column)
    else:
        subject, colon, rest = "", "", detail
    rest = NAME_IN_TEXT.sub(lambda m: label_of(m.group(0)), rest)
    return label_keys_in_text(subject + colon + rest, template, schema)


def review_reason_fields(reasons: Iterable[str]) -> list[str]:
    """The field keys a document's review reasons name first ('proactive.normative.issued: several
    readings ...'), each once, in order."""
    seen: list[str] = []
    for reason in reasons:
        m = FIELD_KEY_IN_TEXT.match(reason or "")
        if m and m.group(0) not in seen:
            seen.append(m.group(0))
    return seen


# -- a CJK font for the plots ------------------------------------------------------------------

# Families that carry the tables' glyphs, best first (sans serif reads best in small plot labels).
CJK_FONT_PREFERENCE = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
                       "WenQuanYi Micro Hei", "Noto Sans SC", "Microsoft YaHei", "SimHei", "PingFang SC",
                       "Noto Serif CJK SC", "Source Han Serif SC", "AR PL UMing CN", "Droid Sans Fallback")
# Font files worth registering with matplotlib when its cache was made before they were installed.
CJK_FONT_FILE = re.compile(r"cjk|wqy|wenquanyi|sourcehan|droidsansfallback|uming|ukai|simhei|msyh|notosanssc",
                           re.IGNORECASE)


def pick_cjk_font(families: Iterable[str]) -> Optional[str]:
    """The preferred CJK family among ``families``; else any family named CJK; else None."""
    available = set(families)
    for family in CJK_FONT_PREFERENCE:
        if family in available:
            return family
    named = sorted(f for f in available if "CJK" in f and ("SC" in f or "CN" in f))
    return named[0] if named else None


def has_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef" for ch in text)


def plot_labels(labels: Sequence[str], font: Optional[str]) -> list[str]:
    """What the plot prints under its bars: the labels where a CJK font draws them; without one,
    labels carrying CJK become their numbers (1, 2, ...) in the table printed beside the plot, so no
    label is drawn as empty boxes."""
    if font is not None:
        return list(labels)
    return [label if not has_cjk(label) else str(i) for i, label in enumerate(labels, start=1)]
