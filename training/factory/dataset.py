"""A labelled dataset of synthetic reports: rendered files, their gold, token labels, Parquet splits.

Layout of the output folder (everything a function of the run seed, byte for byte):

    README.md                      dataset card: settings, counts per kind / template / trait
    docs/<kind>/<doc_id>.<ext>     the rendered report (.txt .html .docx .pdf .png...)
    docs/<kind>/<doc_id>.json      its gold in the labelled-document format (nianbao evaluate --gold)
    data/<split>-NNNNN.parquet     one row per rendering: gold, traits, segments and token labels

Splits are by document (every rendering of a document is in the same split), decided by the
document's own seed, so a document's split does not depend on how many were generated.
Documents are independent: worker processes make them in any order and the rows are written in
document order, so ``--workers`` never changes the output.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import multiprocessing as mp
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from .align import Alignment, align, gold_record
from .build import build_report
from .synthetic_report import SyntheticReport
from .options import FactoryOptions
from .render_base import Rendered
from .rng import Chooser, document_seed, numpy_stream, stream

KINDS = ("text", "html", "docx", "pdf", "scan", "ofd", "pdf_turned")
OWN_KINDS = {"text": "render_text", "html": "render_html", "docx": "render_docx"}
# Rendered by render_pdf / render_scan (image-only PDF) / render_ofd; pdf_turned is the digital PDF
# with every table printed a quarter turn on pages of its own (render_pdf, PdfOptions.turned_tables).
EXTERNAL_KINDS = {"pdf": ".pdf", "scan": ".pdf", "ofd": ".ofd", "pdf_turned": ".pdf"}
_RENDER_MODULE = {"pdf_turned": "render_pdf"}  # kinds rendered by another kind's module
SPLITS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))
SHARD_ROWS = 2000


@dataclass(frozen=True)
class SynthConfig:
    n: int
    out: Path
    seed: int = 0
    kinds: tuple[str, ...] = ("text", "html")
    workers: int = 1
    options: FactoryOptions = field(default_factory=FactoryOptions)


def available_kinds(kinds: Iterable[str]) -> tuple[list[str], list[str]]:
    """(kinds that can be rendered, kinds skipped because their renderer module is missing)."""
    ok, missing = [], []
    for kind in kinds:
        module = _RENDER_MODULE.get(kind, f"render_{kind}")
        if kind in OWN_KINDS or importlib.util.find_spec(f"nianbao.training.factory.{module}") is not None:
            ok.append(kind)
        else:
            missing.append(kind)
    return ok, missing


def split_of(doc_seed: int) -> str:
    u = stream(doc_seed, "split").random()
    acc = 0.0
    for name, share in SPLITS:
        acc += share
        if u < acc:
            return name
    return SPLITS[-1][0]


def doc_id(index: int, doc_seed: int) -> str:
    return f"{index:06d}_{doc_seed:016x}"


# ---------------------------------------------------------------------------------------------
# One document
# ---------------------------------------------------------------------------------------------

def _scalar_traits(prefix: str, style: dict) -> dict[str, object]:
    """Categorical choices of a renderer's style as traits (measurements like margins left out)."""
    return {f"{prefix}.{k}": v for k, v in style.items() if isinstance(v, (str, bool, int))}


def render_own(kind: str, report: SyntheticReport, folder: Path, name: str, options: FactoryOptions) -> Rendered:
    module = importlib.import_module(f"nianbao.training.factory.{OWN_KINDS[kind]}")
    fn: Callable[..., Rendered] = getattr(module, OWN_KINDS[kind])
    rendered = fn(report, Chooser(stream(report.seed, kind), {}, options.force, f"{kind}."))
    (folder / f"{name}{rendered.suffix}").write_bytes(rendered.data)
    return rendered


def _value_boxes(info) -> dict[str, tuple[int, Optional[list[float]]]]:
    """Gold boxes from a rendering's value cells: key -> (page, bbox or None)."""
    return {c.key: (c.page, list(c.bbox) if c.bbox else None) for c in info.values if c.key}


def render_pdf_kind(report: SyntheticReport, path: Path) -> tuple[Rendered, object]:
    """The digital PDF (render_pdf.render_pdf(report, path, rng) -> PdfRenderInfo): gold boxes from
    its value cells, units from every drawn line and cell."""
    from .align import pdf_units
    from .render_pdf import render_pdf

    info = render_pdf(report, path, numpy_stream(report.seed, "pdf"))
    style = asdict(info.style) if is_dataclass(info.style) else dict(info.style or {})
    rendered = Rendered(data=path.read_bytes(), suffix=".pdf", traits=_scalar_traits("pdf", style),
                        units=pdf_units(report, info), boxes=_value_boxes(info))
    return rendered, info


def render_ofd_kind(report: SyntheticReport, path: Path) -> Rendered:
    """The OFD package (render_ofd.render_ofd: the digital PDF's layout written as OFD): gold boxes in
    points, as the OFD reader reports them; units from every drawn line and cell."""
    from .align import pdf_units
    from .render_ofd import render_ofd

    info = render_ofd(report, path, numpy_stream(report.seed, "ofd"))
    traits = {**_scalar_traits("ofd", asdict(info.style)), "ofd.text_style": info.text_style}
    return Rendered(data=path.read_bytes(), suffix=".ofd", traits=traits, units=pdf_units(report, info), boxes=_value_boxes(info))


def render_turned_pdf(report: SyntheticReport, path: Path):
    """render_pdf with every table a quarter turn, ccw or cw drawn from the document's own stream
    (the pdf_turned kind; benchmarks/scan_set.py scans it) -> PdfRenderInfo."""
    from .render_pdf import PdfOptions, render_pdf

    turn = "ccw" if numpy_stream(report.seed, "pdf_turned.turn").random() < 0.7 else "cw"
    return render_pdf(report, path, numpy_stream(report.seed, "pdf_turned"), PdfOptions(turned_tables=turn))


def render_pdf_turned_kind(report: SyntheticReport, path: Path) -> Rendered:
    """The digital PDF with its tables turned a quarter turn (ccw or cw, drawn from the document's
    own stream); units are ordered in the turned pages' reading frame."""
    from .align import pdf_units
    from .render_pdf import in_reading_frame

    info = render_turned_pdf(report, path)
    traits = _scalar_traits("pdf_turned", asdict(info.style))
    return Rendered(data=path.read_bytes(), suffix=".pdf", traits=traits,
                    units=pdf_units(report, in_reading_frame(info)), boxes=_value_boxes(info))


def _scan_trait(report: SyntheticReport, options: Optional[FactoryOptions], name: str) -> bool:
    """Whether the scan trait ``scan.<name>`` is on for this document: forced true/false, or a share
    (0..1) drawn from the document's own stream for that trait. Off unless forced, so a run that
    forces nothing makes the same files as before these traits existed."""
    forced = (options.force if options is not None else {}).get(f"scan.{name}")
    if forced is None or forced is False:
        return False
    if forced is True:
        return True
    return bool(numpy_stream(report.seed, f"scan.{name}").random() < float(forced))


def _split_table_choice(report: SyntheticReport) -> Optional[tuple[str, int, bool]]:
    """(table, body rows left on the first page, header repeated) for a scan whose statutory table
    starts near the bottom of a page and continues on the next; None when no table can split."""
    from .synthetic_report import PrintedTable

    names = [b.name for b in report.blocks if isinstance(b, PrintedTable) and b.name in ("requests", "proactive")]
    if not names:
        return None
    rng = numpy_stream(report.seed, "scan.split_table.how")
    name = "requests" if "requests" in names and (rng.random() < 0.75 or len(names) == 1) else names[0]
    return name, int(rng.integers(1, 5)), bool(rng.random() < 0.5)


def render_scan_kind(report: SyntheticReport, path: Path, pdf: Optional[tuple[Path, object]],
                     options: Optional[FactoryOptions] = None) -> Rendered:
    """The scan of the digital PDF (render_scan.render_scan(pdf_path, out_path, rng, boxes=info));
    gold boxes carried through the scan, in the scan PDF's points (pixels x 72 / dpi).

    Traits (``--force``; off unless forced; a number is the share of documents): ``scan.split_table``
    prints a statutory table from near the bottom of a page onto the next (its own digital PDF,
    header repeated or not), ``scan.phone`` photographs the pages with a phone instead of scanning."""
    from .render_scan import ScanOptions, render_scan

    split = _split_table_choice(report) if _scan_trait(report, options, "split_table") else None
    phone = _scan_trait(report, options, "phone")
    with tempfile.TemporaryDirectory() as tmp:
        if pdf is None or split is not None:
            from .render_pdf import PdfOptions, render_pdf

            source = Path(tmp) / "source.pdf"
            popts = PdfOptions(split_table=(split[0], split[1]), repeat_header=split[2], forced_breaks="natural") \
                if split is not None else None
            info = render_pdf(report, source, numpy_stream(report.seed, "pdf"), popts)
            pdf = (source, info)
        sopts = ScanOptions(phone=True) if phone else None
        sinfo = render_scan(pdf[0], path, numpy_stream(report.seed, "scan"), options=sopts, boxes=pdf[1])
    scale = 72.0 / sinfo.dpi
    boxes = {b.key: (b.page, [x * scale for x in b.bbox] if b.bbox else None) for b in sinfo.values if b.key}
    traits = {**_scalar_traits("scan", dict(sinfo.style or {})), "scan.dpi": sinfo.dpi, "scan.mode": sinfo.mode}
    if split is not None:
        tables = {t["name"]: t for t in pdf[1].tables}
        t = tables.get(split[0], {})
        traits.update({"scan.split_table": split[0], "scan.split_header_repeated": bool(t.get("repeated_header_rows")),
                       "scan.split_pages": len(t.get("pages", []))})
    return Rendered(data=path.read_bytes(), suffix=path.suffix, traits=traits, units=[], boxes=boxes)


def _empty_alignment() -> Alignment:
    a = Alignment()
    a.aligned = float("nan")
    return a


def make_document(task: tuple[int, int, tuple[str, ...], str, FactoryOptions]) -> list[dict[str, Any]]:
    """Build, render, write, label one document; one row per rendering."""
    index, run_seed, kinds, out, options = task
    seed = document_seed(run_seed, index)
    report = build_report(seed, options)
    name = doc_id(index, seed)
    split = split_of(seed)
    rows = []
    pdf: Optional[tuple[Path, object]] = None
    for kind in kinds:
        folder = Path(out) / "docs" / kind
        folder.mkdir(parents=True, exist_ok=True)
        if kind in OWN_KINDS:
            rendered = render_own(kind, report, folder, name, options)
        elif kind == "pdf":
            rendered, info = render_pdf_kind(report, folder / f"{name}.pdf")
            pdf = (folder / f"{name}.pdf", info)
        elif kind == "ofd":
            rendered = render_ofd_kind(report, folder / f"{name}.ofd")
        elif kind == "pdf_turned":
            rendered = render_pdf_turned_kind(report, folder / f"{name}.pdf")
        else:
            rendered = render_scan_kind(report, folder / f"{name}{EXTERNAL_KINDS[kind]}", pdf, options)
        path = folder / f"{name}{rendered.suffix}"
        gold = gold_record(report, path.name, rendered.data, kind, split, {**report.traits, **rendered.traits},
                           rendered.boxes)
        (folder / f"{name}.json").write_text(json.dumps(gold, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                             encoding="utf-8")
        alignment = _empty_alignment() if kind == "scan" else align(path, rendered.units or None, report)
        rows.append(_row(report, name, index, kind, split, path.relative_to(out), gold, rendered, alignment))
    return rows


def _row(report: SyntheticReport, name: str, index: int, kind: str, split: str, path: Path, gold: dict,
         rendered: Rendered, a: Alignment) -> dict[str, Any]:
    traits = {**report.traits, **rendered.traits}
    keys = list(report.values)
    return {
        "id": f"{name}.{kind}", "doc_id": name, "index": index, "seed": report.seed, "split": split, "kind": kind,
        "path": str(path), "gold_path": str(path.with_suffix(".json")), "sha256": gold["sha256"],
        "agency": report.agency, "year": report.year, "template": report.template,
        "found_proactive": bool(report.found.get("proactive")), "found_requests": bool(report.found.get("requests")),
        "found_appeals": bool(report.found.get("appeals")),
        "keys": keys, "values": [None if report.values[k] is None else float(report.values[k]) for k in keys],
        "raw": [report.raw.get(k) for k in keys],
        "pages": [gold["fields"][k]["page"] for k in keys], "bboxes": [gold["fields"][k]["bbox"] or [] for k in keys],
        "broken_rules": list(report.broken_rules),
        "traits": json.dumps(traits, ensure_ascii=False, sort_keys=True),
        "trait_tags": [f"{k}={v}" for k, v in sorted(traits.items())],
        "segments": a.segments, "segment_labels": a.segment_labels, "span_segment": a.span_segment,
        "span_start": a.span_start, "span_end": a.span_end, "span_label": a.span_label,
        "aligned": None if a.aligned != a.aligned else a.aligned,
    }


def features():  # a function: importing datasets costs a second, only the writer needs it
    from datasets import Features, Sequence, Value

    s, i, f, b = Value("string"), Value("int64"), Value("float64"), Value("bool")
    return Features({
        "id": s, "doc_id": s, "index": i, "seed": i, "split": s, "kind": s, "path": s, "gold_path": s, "sha256": s,
        "agency": s, "year": Value("int32"), "template": s,
        "found_proactive": b, "found_requests": b, "found_appeals": b,
        "keys": Sequence(s), "values": Sequence(f), "raw": Sequence(s),
        "pages": Sequence(Value("int32")), "bboxes": Sequence(Sequence(Value("float32"))), "broken_rules": Sequence(s),
        "traits": s, "trait_tags": Sequence(s),
        "segments": Sequence(s), "segment_labels": Sequence(s), "span_segment": Sequence(Value("int32")),
        "span_start": Sequence(Value("int32")), "span_end": Sequence(Value("int32")), "span_label": Sequence(s),
        "aligned": f,
    })


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

def documents(config: SynthConfig, kinds: tuple[str, ...]) -> Iterator[list[dict[str, Any]]]:
    """Rows of each document, in document order (made in worker processes when asked)."""
    tasks = ((i, config.seed, kinds, str(config.out), config.options) for i in range(config.n))
    if config.workers <= 1:
        yield from map(make_document, tasks)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(config.workers) as pool:
        yield from pool.imap(make_document, tasks, chunksize=4)


class ShardWriter:
    """Rows per split into Parquet shards of SHARD_ROWS rows, in arrival order."""

    def __init__(self, out: Path):
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()  # the run has its own progress bar
        self.out = out / "data"
        self.out.mkdir(parents=True, exist_ok=True)
        self.buffers: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SPLITS}
        self.shards: Counter[str] = Counter()
        self.features = features()

    def add(self, row: dict[str, Any]) -> None:
        buf = self.buffers[row["split"]]
        buf.append(row)
        if len(buf) >= SHARD_ROWS:
            self.flush(row["split"])

    def flush(self, split: str) -> None:
        from datasets import Dataset

        rows = self.buffers[split]
        path = self.out / f"{split}-{self.shards[split]:05d}.parquet"
        columns = {name: [row[name] for row in rows] for name in self.features}  # also for an empty split
        Dataset.from_dict(columns, features=self.features).to_parquet(str(path))
        self.shards[split] += 1
        self.buffers[split] = []

    def close(self) -> None:
        for split, _ in SPLITS:
            if self.buffers[split] or not self.shards[split]:
                self.flush(split)


def prepare_output(out: Path, overwrite: bool) -> None:
    """An empty output folder; with ``overwrite`` the factory's own earlier output is removed."""
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty (use --overwrite to replace an earlier factory run)")
        for name in ("docs", "data"):
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        if (out / "README.md").exists():
            (out / "README.md").unlink()
    out.mkdir(parents=True, exist_ok=True)


@dataclass
class RunSummary:
    documents: int = 0
    renderings: Counter = field(default_factory=Counter)     # kind -> count
    splits: Counter = field(default_factory=Counter)         # split -> documents
    templates: Counter = field(default_factory=Counter)      # template -> documents
    broken: int = 0
    tables: Counter = field(default_factory=Counter)         # content.tables value -> documents
    doc_traits: Counter = field(default_factory=Counter)     # "name=value" -> documents
    kind_traits: Counter = field(default_factory=Counter)    # (kind, "name=value") -> renderings
    aligned_min: dict = field(default_factory=dict)          # kind -> lowest alignment
    skipped_kinds: list = field(default_factory=list)

    def add(self, rows: list[dict[str, Any]]) -> None:
        first = rows[0]
        traits = json.loads(first["traits"])
        self.documents += 1
        self.splits[first["split"]] += 1
        self.templates[first["template"]] += 1
        self.broken += bool(first["broken_rules"])
        self.tables[str(traits.get("content.tables"))] += 1
        for k, v in traits.items():
            if k.split(".")[0] in ("content", "layout", "prose"):
                self.doc_traits[f"{k}={v}"] += 1
        for row in rows:
            kind = row["kind"]
            self.renderings[kind] += 1
            for k, v in json.loads(row["traits"]).items():
                if k.startswith(kind + "."):
                    self.kind_traits[(kind, f"{k}={v}")] += 1
            if row["aligned"] is not None:
                self.aligned_min[kind] = min(self.aligned_min.get(kind, 1.0), row["aligned"])


def synthesize(config: SynthConfig, overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Generate ``config.n`` documents in every available kind, write files, gold, Parquet and card."""
    from tqdm import tqdm

    from .card import write_card

    kinds, missing = available_kinds(config.kinds)
    out = Path(config.out)
    prepare_output(out, overwrite)
    config = SynthConfig(n=config.n, out=out, seed=config.seed, kinds=tuple(kinds), workers=config.workers,
                         options=config.options)
    summary = RunSummary(skipped_kinds=missing)
    writer = ShardWriter(out)
    bar = tqdm(total=config.n, unit="doc", desc="synth", disable=not progress)
    for rows in documents(config, tuple(kinds)):
        for row in rows:
            writer.add(row)
        if rows:
            summary.add(rows)
        bar.update(1)
    bar.close()
    writer.close()
    write_card(out, config, summary, asdict(config.options))
    return summary
