"""Labelled documents: the project's own gold format, and the field schema (``schema.json``).

A labelled document (``labels/gold/*.json``) records what a report prints in its statutory tables:
    {"format": "nianbao/labelled-document@1", "id", "document" (path relative to this file),
     "sha256", "agency", "year", "template", "tables": {name: {"found": bool}},
     "fields": {key: {"value": number|null, "raw": str|null, "page": int|null, "bbox": [x0,top,x1,bottom]|null}},
     "notes", "provenance": {...}, "split": "seed"|"dev"|...}
Later stages extend a field with more keys (OCR text, reviewer); readers ignore keys they do not know.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

# The format is read and written by nianbao.record (one module for the record and the label format).
from nianbao.record import FORMAT, LabelledDocument, load_labelled
from nianbao.schema import TABLE_NAMES

TABLES = TABLE_NAMES  # the schema's table names (kept under the name callers import)

__all__ = ["FORMAT", "TABLES", "LabelledDocument", "document_kind", "gold_dir", "gold_files", "labelled_documents",
           "load_labelled"]


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
