"""Labelled documents: the project's own gold format, and the field schema (``schema.json``).

A labelled document (``labels/gold/*.json``) records what a report prints in its statutory tables:
    {"format": "nianbao/labelled-document@1", "id", "document" (path relative to this file),
     "sha256", "agency", "year", "template", "tables": {name: {"found": bool}},
     "fields": {key: {"value": number|null, "raw": str|null, "page": int|null, "bbox": [x0,top,x1,bottom]|null}},
     "notes", "provenance": {...}, "split": "seed"|"dev"|...}
Later stages extend a field with more keys (OCR text, reviewer); readers ignore keys they do not know.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nianbao.schema import TABLE_NAMES

FORMAT = "nianbao/labelled-document@1"
TABLES = TABLE_NAMES  # the schema's table names (kept under the name callers import)


@dataclass
class LabelledDocument:
    id: str
    document: Optional[Path]
    agency: Optional[str]
    year: Optional[int]
    template: Optional[str]
    found: dict[str, bool]
    values: dict[str, Optional[float]]
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def load_labelled(path: Path) -> LabelledDocument:
    """Read a gold file in the project's format or in the spec's plain format (``*.gold.json``)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") == FORMAT:
        doc = (path.parent / data["document"]).resolve() if data.get("document") else None
        values = {k: v.get("value") for k, v in data["fields"].items()}
        found = {t: bool(data["tables"][t]["found"]) for t in TABLES}
        return LabelledDocument(id=data["id"], document=doc, agency=data.get("agency"), year=data.get("year"),
                                template=data.get("template"), found=found, values=values,
                                notes=data.get("notes", ""), extra=data)
    # The spec's plain gold: fields are plain values; absent tables are listed.
    stem = path.name[: -len(".gold.json")] if path.name.endswith(".gold.json") else path.stem
    candidates = [p for p in path.parent.glob(stem + ".*") if not p.name.endswith(".json")]
    absent = set(data.get("absent_tables", []))
    return LabelledDocument(id=stem, document=candidates[0] if candidates else None, agency=data.get("agency"),
                            year=data.get("year"), template=data.get("template"),
                            found={t: t not in absent for t in TABLES}, values=dict(data.get("fields", {})),
                            notes=data.get("notes") or data.get("raw_notes") or "", extra=data)


def gold_files(directory: Path) -> list[Path]:
    """Gold files in a folder and its subfolders (a factory output keeps them beside each rendering)."""
    directory = Path(directory)
    return sorted(p for p in directory.rglob("*.json") if p.name != "schema.json" and not p.name.startswith("."))


def gold_dir() -> Path:
    return Path(__file__).resolve().parent / "gold"


def document_kind(gold: LabelledDocument) -> str:
    """The rendering kind of a labelled document: its own "kind" field, else its file suffix."""
    kind = gold.extra.get("kind") or (Path(gold.document).suffix.lstrip(".") if gold.document else "")
    return {"txt": "text", "htm": "html"}.get(kind, kind)


def labelled_documents(folder: Path, kinds: Optional[set[str]] = None, split: Optional[str] = None,
                       max_per_kind: int = 0, max_total: int = 0) -> list[LabelledDocument]:
    """The labelled documents under a folder whose document exists, filtered by kind and split."""
    out: list[LabelledDocument] = []
    per_kind: dict[str, int] = {}
    for path in gold_files(folder):
        try:
            gold = load_labelled(path)
        except (ValueError, KeyError):
            continue
        if gold.document is None or not Path(gold.document).exists():
            continue
        kind = document_kind(gold)
        if (kinds and kind not in kinds) or (split and gold.extra.get("split") not in (split, None)):
            continue
        if max_per_kind and per_kind.get(kind, 0) >= max_per_kind:
            continue
        per_kind[kind] = per_kind.get(kind, 0) + 1
        out.append(gold)
        if max_total and len(out) >= max_total:
            break
    return out
