"""The field schema of the statutory tables, loaded from ``labels/schema.json`` (data, not code)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Optional

TEMPLATES = ("v2019", "v2021")
# The template assumed where nothing in a report tells (the current one).
DEFAULT_TEMPLATE = "v2021"
# The last report year printed in the 2019 format by rule (the 2021 format applies from 2021's reports on).
LAST_V2019_YEAR = 2020
TABLE_NAMES = ("proactive", "requests", "appeals")


def template_for_year(year: int) -> str:
    """The template a report of ``year`` prints by rule (a late print may still use the old one)."""
    return "v2019" if year <= LAST_V2019_YEAR else "v2021"


@dataclass(frozen=True)
class RowSpec:
    table: str
    key: str
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    prefix: Optional[str] = None
    group: Optional[str] = None
    # True where the bare label is too common to trust without its printed number, e.g. （七）总计.
    prefix_required: bool = False

    def field_keys(self) -> list[str]:
        return [f"{self.table}.{self.key}.{c}" for c in self.columns]


@dataclass(frozen=True)
class GroupSpec:
    name: str
    prefix: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    name: str
    rows: tuple[RowSpec, ...]
    groups: tuple[GroupSpec, ...] = ()
    # group name -> the row that receives numbers printed on the group's own line.
    single_row_groups: tuple[tuple[str, str], ...] = ()

    def field_keys(self) -> list[str]:
        return [k for r in self.rows for k in r.field_keys()]

    def row(self, key: str) -> RowSpec:
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)


@dataclass(frozen=True)
class HeaderBlock:
    """Header cells printed over some columns (申请人情况, 法人或其他组织) or beside some rows (行政诉讼)."""
    title: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class PrintedSection:
    """One header block of Table A as printed: 第二十条第（一）项, then 信息内容 and its columns, then its rows."""
    title: str
    label_header: str
    rows: tuple[tuple[str, str], ...]     # (row key, official label)
    columns: tuple[tuple[str, str], ...]  # (column key, official header)


@dataclass(frozen=True)
class TableHeaders:
    """The official Chinese headers of one printed table (``headers`` in schema.json): what people read."""
    table: str
    rows: dict[str, str]                  # row key -> official label with its numbering, e.g. （一）予以公开
    columns: dict[str, str]               # column key -> official header
    groups: dict[str, str]                # row group -> its label, e.g. denied -> （三）不予公开
    group_within: dict[str, str]          # row group -> the group around it (denied -> results)
    column_groups: tuple[HeaderBlock, ...] = ()   # merged cells over columns, outermost first
    row_groups: tuple[HeaderBlock, ...] = ()      # merged cells beside rows (Table C: 行政诉讼)
    sections: tuple[PrintedSection, ...] = ()     # Table A's header blocks
    corner: Optional[str] = None          # Table B's corner text (the rule printed in it)

    def row(self, key: str) -> str:
        return self.rows.get(key, key)

    def column(self, key: str) -> str:
        return self.columns.get(key, key)

    def row_path(self, row: "RowSpec") -> tuple[str, ...]:
        """The headers printed left of a row, outermost first: 三、本年度办理结果 > （三）不予公开 > 1.属于国家秘密."""
        path: list[str] = [self.row(row.key)]
        group = row.group
        while group:
            if group in self.groups and self.groups[group] != path[0]:
                path.insert(0, self.groups[group])
            group = self.group_within.get(group)
        for block in self.row_groups:
            if row.key in block.keys:
                path.insert(0, block.title)
        return tuple(path)


class Schema:
    def __init__(self, data: dict):
        self.data = data
        self.tables: dict[str, dict[str, TableSpec]] = {}
        for template, tables in data["templates"].items():
            self.tables[template] = {name: self._table(name, spec) for name, spec in tables.items()}
        self.money_fields: dict[str, str] = data["money_fields"]
        self.signed_fields: frozenset[str] = frozenset(data["signed_fields"])
        self.template_markers = {t: [re.compile(p) for p in ps] for t, ps in data["template_markers"].items()}
        self.table_info = data["tables"]

    def table_title(self, name: str) -> str:
        """The official title of table ``name`` (主动公开政府信息情况), as the spec names it."""
        return self.table_info[name]["title"]

    def table_titles(self) -> dict[str, str]:
        return {name: info["title"] for name, info in self.table_info.items()}

    @staticmethod
    def _table(name: str, spec: dict) -> TableSpec:
        if name == "appeals":
            # Table C is 3 groups x 5 columns printed as one run of 15 numbers.
            rows = tuple(RowSpec(table=name, key=g, labels=(), columns=tuple(spec["columns"])) for g in spec["groups"])
            return TableSpec(name=name, rows=rows)
        cols = spec.get("columns")
        rows = tuple(
            RowSpec(
                table=name,
                key=r["key"],
                labels=tuple(r["labels"]),
                columns=tuple(r.get("columns") or cols),
                prefix=r.get("prefix"),
                group=r.get("group"),
                prefix_required=r.get("prefix_required", False),
            )
            for r in spec["rows"]
        )
        groups = tuple(GroupSpec(name=g, prefix=v["prefix"], labels=tuple(v["labels"])) for g, v in spec.get("groups", {}).items())
        single = tuple(spec.get("single_row_groups", {}).items())
        return TableSpec(name=name, rows=rows, groups=groups, single_row_groups=single)

    def headers(self, template: str, name: str) -> TableHeaders:
        """The official headers of table ``name`` as the template prints it."""
        data = self.data["headers"][name]
        if name == "proactive":
            sections = tuple(PrintedSection(title=s["title"], label_header=s["label_header"],
                                            rows=tuple(s["rows"].items()), columns=tuple(s["columns"].items()))
                             for s in data[template])
            return TableHeaders(table=name, rows={k: v for s in sections for k, v in s.rows},
                                columns={k: v for s in sections for k, v in s.columns}, groups={}, group_within={},
                                sections=sections)
        groups = data.get("groups", {})
        return TableHeaders(
            table=name, rows=dict(data["rows"]), columns=dict(data["columns"]),
            groups={g: v["text"] for g, v in groups.items()},
            group_within={g: v["within"] for g, v in groups.items() if v.get("within")},
            column_groups=tuple(HeaderBlock(b["title"], tuple(b["columns"])) for b in data.get("column_groups", [])),
            row_groups=tuple(HeaderBlock(b["title"], tuple(b["rows"])) for b in data.get("row_groups", [])),
            corner=data.get("corner"))

    def table(self, template: str, name: str) -> TableSpec:
        return self.tables[template][name]

    def field_keys(self, template: str, tables: tuple[str, ...] = TABLE_NAMES) -> list[str]:
        return [k for t in tables for k in self.tables[template][t].field_keys()]


@lru_cache(maxsize=1)
def load_schema() -> Schema:
    text = resources.files("nianbao.labels").joinpath("schema.json").read_text(encoding="utf-8")
    return Schema(json.loads(text))
