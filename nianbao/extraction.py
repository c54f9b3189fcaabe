"""One input file as a Document, whatever the file is: what `nianbao extract` and `nianbao serve` run
per file (library code: the commands import it, it imports no command)."""
from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nianbao.document import Document, ExtractionError
from nianbao.inputs import SKIP_REASONS
from nianbao.limits import document_memory_cap, is_memory_error


@dataclass
class ExtractInput:
    path: Path
    skip: Optional[str] = None  # a nianbao.inputs.SKIP_REASONS code: the file is never opened


def failed_document(source, code: str, message: str) -> Document:
    """A document that was not read: its source and why (``code`` as in the output contract's errors)."""
    doc = Document(source=str(source))
    doc.error = ExtractionError(code=code, message=message)
    return doc


def extract_one(pipeline, item: ExtractInput, max_memory_mb: int) -> Document:
    """One input as a Document: never raises for the file, whatever it is (a cap reached is ``memory``)."""
    if item.skip:
        return failed_document(item.path, item.skip, f"not read: {SKIP_REASONS.get(item.skip, item.skip)}")
    try:
        with document_memory_cap(max_memory_mb):
            doc = pipeline.run(item.path)
    except MemoryError:
        doc = None
    if doc is None or (doc.error is not None and is_memory_error(doc.error.message)):
        gc.collect()
        return failed_document(item.path, "memory", f"stopped at the memory cap (--max-memory-mb {max_memory_mb})")
    return doc
