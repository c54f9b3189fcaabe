"""The extraction pipeline: one Document flows through a visible list of stages.

    read -> ocr -> locate -> report -> map -> reconcile -> calibrate -> triage

Each stage lives in its own module (the README's stage table names them); this module only builds
the list (``build_stages``) and runs it (``Pipeline``). ocr reads the pages a reader marked
``needs_ocr``; on a document without such pages it does nothing. report refuses a file that is no
annual report at all, ``not_a_report``, before any value is read. calibrate runs unless
``PipelineOptions.calibrate`` is off. triage decides whether a person reviews the document.

Each stage takes the document and returns it. A stage that fails records an error on the
document; the document is returned, never raised, so a batch goes on with the next file.
"""
from __future__ import annotations

import time
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from nianbao.document import Document, ExtractionError
from nianbao.errors import ReadError
from nianbao.schema import Schema, load_schema

from .calibration import CalibrateStage
from .locate import LocateStage, RegexSpotter
from .mapping import BaselineMapper, MapStage
from .ocr import OcrOptions, OcrStage
from .readers import ReadStage
from .readers.options import ReaderOptions
from .reconcile_stage import ReconcileStage
from .report_gate import ReportStage
from .triage import DOUBT_THRESHOLD, TriageStage


@dataclass
class PipelineOptions:
    """Everything that configures a run; swapping a stage is a change here, not in code."""

    reader: ReaderOptions = field(default_factory=ReaderOptions)
    ocr: OcrOptions = field(default_factory=OcrOptions)
    # What spots the row labels: "classifier", the shipped trained model (missing, it is an error), or
    # "baseline", the schema's labels alone. (The mapper that places values is one, whatever spots.)
    spotter: str = "classifier"
    doubt_threshold: float = DOUBT_THRESHOLD
    # Map raw confidences to measured ones (models/calibration.json, when present).
    calibrate: bool = True
    # The spotter's former name, still accepted: PipelineOptions(mapper="baseline").
    mapper: InitVar[Optional[str]] = None

    def __post_init__(self, mapper: Optional[str]) -> None:
        if mapper is not None:
            self.spotter = mapper


SPOTTERS = ("baseline", "classifier")


def make_spotter(name: str):
    """Row labels are spotted by the schema's regexes (baseline) or by the trained classifier, which
    raises ModelMissing when no model is installed (never a silent fallback to other readings)."""
    if name not in SPOTTERS:
        raise ValueError(f"unknown spotter {name!r} (available: {', '.join(SPOTTERS)})")
    if name == "classifier":
        from .classifier import ClassifierSpotter

        return ClassifierSpotter()
    return RegexSpotter()


def make_ocr_stage(options: OcrOptions) -> OcrStage:
    return OcrStage(options)


class Stage(Protocol):
    name: str

    def __call__(self, doc: Document) -> Document: ...


def build_stages(options: PipelineOptions, schema: Optional[Schema] = None) -> list[Stage]:
    schema = schema or load_schema()
    return [
        ReadStage(options.reader),
        make_ocr_stage(options.ocr),
        LocateStage(schema, make_spotter(options.spotter)),
        ReportStage(schema),
        MapStage(schema, BaselineMapper()),
        ReconcileStage(schema),
        *([CalibrateStage()] if options.calibrate else []),
        TriageStage(options.doubt_threshold),
    ]


class Pipeline:
    def __init__(self, options: Optional[PipelineOptions] = None):
        self.options = options or PipelineOptions()
        self.stages = build_stages(self.options)

    def run(self, path: str | Path) -> Document:
        return self.run_stages(Document(source=str(path)))

    def run_stages(self, doc: Document, stages: Optional[list[Stage]] = None) -> Document:
        """Runs ``stages`` (all of them when None) on ``doc``: a benchmark can stop after one stage,
        keep the document and go on from there (``self.stages[i:]``)."""
        for stage in self.stages if stages is None else stages:
            t0 = time.perf_counter()
            try:
                doc = stage(doc)
                if doc.error is not None:  # a stage refused the document (e.g. not_a_report)
                    return doc
            except ReadError as e:
                doc.error = ExtractionError(code=e.code, message=e.message)
                return doc
            except MemoryError as e:  # a cap (ingest's per-worker limit), not a damaged file
                doc.error = ExtractionError(code="memory", message=f"MemoryError: out of memory in the {stage.name} stage {e}".rstrip())
                return doc
            except Exception as e:  # a bug or an unforeseen file must not stop a batch
                doc.error = ExtractionError(code=f"{stage.name}_failed", message=f"{type(e).__name__}: {e}")
                return doc
            finally:
                doc.timings[stage.name] = round(time.perf_counter() - t0, 4)
        return doc


def extract(path: str | Path, options: Optional[PipelineOptions] = None) -> Document:
    return Pipeline(options).run(path)
