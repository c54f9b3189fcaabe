"""Reviewed documents become labelled documents (``nianbao/labelled-document@1``) with provenance.

Pure functions of a stored record and the reviewer's values: the web app, the Label Studio import
and the simulated reviewer all write labels through here, so a label looks the same whoever made it.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nianbao.labels import FORMAT, TABLES

REVIEWED_SPLIT = "reviewed"


@dataclass
class Provenance:
    """Who made a label, when, from which model's reading, and how."""

    reviewer: str
    approved_at: str
    model_version: Optional[str] = None
    pipeline_version: Optional[str] = None
    tool: str = "nianbao review"
    changes: int = 0  # values the reviewer changed (the rest were confirmed as read)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"reviewer": self.reviewer, "approved_at": self.approved_at, "model_version": self.model_version,
               "pipeline_version": self.pipeline_version, "tool": self.tool, "changes": self.changes}
        out.update(self.extra)
        return out


def label_id(content_hash: str) -> str:
    """A reviewed label is named by its document's content, so re-approving overwrites, never duplicates."""
    if not re.fullmatch(r"[0-9a-f]{12,64}", content_hash or ""):
        raise ValueError(f"not a content hash: {content_hash!r}")
    return f"reviewed_{content_hash[:16]}"


def labelled_document(record: dict, values: dict[str, Optional[float]], found: dict[str, bool],
                      provenance: Provenance, label_path: Path, content_hash: str,
                      model_values: Optional[dict[str, Optional[float]]] = None) -> dict[str, Any]:
    """The labelled-document JSON of a reviewed record: ``values`` are the reviewer's final values
    (None = printed blank), ``found`` which statutory tables the document prints, ``model_values``
    what the model had read for the fields the reviewer changed (kept as ``model_value``)."""
    fields: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        read = (record.get("fields") or {}).get(key) or {}
        item: dict[str, Any] = {"value": value, "raw": read.get("raw"), "page": read.get("page"), "bbox": read.get("bbox")}
        if model_values and key in model_values and model_values[key] != value:
            item["model_value"] = model_values[key]
        fields[key] = item
    source = record.get("source")
    document = None
    if source:
        # Relative to the label file, like the gold files; an absolute path when on another drive.
        try:
            document = os.path.relpath(Path(source).resolve(), Path(label_path).resolve().parent)
        except ValueError:
            document = str(Path(source).resolve())
    return {
        "format": FORMAT,
        "id": label_id(content_hash),
        "document": document,
        "sha256": content_hash,
        "agency": record.get("agency"),
        "year": record.get("year"),
        "template": record.get("template"),
        "tables": {t: {"found": bool(found.get(t))} for t in TABLES},
        "fields": fields,
        "notes": "",
        "provenance": provenance.as_dict(),
        "split": REVIEWED_SPLIT,
    }


def write_label(record: dict, values: dict[str, Optional[float]], found: dict[str, bool], provenance: Provenance,
                labels_dir: Path, content_hash: str, model_values: Optional[dict[str, Optional[float]]] = None) -> Path:
    """Write (atomically) ``labels_dir/reviewed_<hash>.json`` and return its path."""
    labels_dir = Path(labels_dir)
    labels_dir.mkdir(parents=True, exist_ok=True)
    path = labels_dir / f"{label_id(content_hash)}.json"
    data = labelled_document(record, values, found, provenance, path, content_hash, model_values)
    tmp = path.with_suffix(".json.tmp")
    # Strict JSON: a label never carries Infinity or NaN (readers of JSON elsewhere refuse them).
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)
    return path
