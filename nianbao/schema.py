"""The field schema of the statutory tables, loaded from ``labels/schema.json`` (data, not code)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Optional

TEMPLATES = ("v2019", "v2021")


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

    def table(self, template: str, name: str) -> TableSpec:
        return self.tables[template][name]

    def field_keys(self, template: str, tables: tuple[str, ...] = ("proactive", "requests", "appeals")) -> list[str]:
        return [k for t in tables for k in self.tables[template][t].field_keys()]


@lru_cache(maxsize=1)
def load_schema() -> Schema:
    text = resources.files("nianbao.labels").joinpath("schema.json").read_text(encoding="utf-8")
    return Schema(json.loads(text))
