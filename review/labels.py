"""Reviewed documents become labelled documents (``nianbao/labelled-document@1``) with provenance.

The label is built by ``nianbao.record.labelled_document`` (a pure function of a stored record and the
reviewer's values); the web app, the Label Studio import and the simulated reviewer all write labels
through ``write_label`` here, so a label looks the same whoever made it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from nianbao.jsonio import dumps_strict

# What a label holds is built by nianbao.record (the one module for the record and the label format).
from nianbao.record import REVIEWED_SPLIT, Provenance, Record, label_id, labelled_document

__all__ = ["REVIEWED_SPLIT", "Provenance", "label_id", "labelled_document", "write_label"]


def write_label(record: Record, values: dict[str, Optional[float]], found: dict[str, bool], provenance: Provenance,
                labels_dir: Path, content_hash: str, model_values: Optional[dict[str, Optional[float]]] = None) -> Path:
    """Write (atomically) ``labels_dir/reviewed_<hash>.json`` and return its path."""
    labels_dir = Path(labels_dir)
    labels_dir.mkdir(parents=True, exist_ok=True)
    path = labels_dir / f"{label_id(content_hash)}.json"
    data = labelled_document(record, values, found, provenance, path, content_hash, model_values)
    tmp = path.with_suffix(".json.tmp")
    # Strict JSON: a label never carries Infinity or NaN (readers of JSON elsewhere refuse them).
    tmp.write_text(dumps_strict(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
