"""One retraining round: fine-tune the installed token classifier on reviewed documents (plus factory
documents, to keep it general), evaluate the installed and the new model on the same held-out
documents, and promote the new one only if it is better.

    nianbao retrain [--config training/configs/retrain.cfg] [--set section.key=value ...] [--dry-run]

Data. Reviewed documents (``labels/reviewed/``, written by the review app) were mostly reviewed
because a reading was wrong, so their tags cannot come from "the reading that matched": each one is
read twice, with the installed classifier and with the schema's labels alone, and for each statutory
table the tags come from a reading whose values for that table equal the corrected values (the
baseline's first, being the schema's exact matches), with every printed row's whole label tagged as
its row (rows placed by structure included). A table no reading gets right is taught from row-level
labels (``row_labels.py``: which printed row the reviewed values say is which row) or from value
alignment (``align_values.py``), else masked (no loss there: its right tags are unknown) and counted
in the data report; a document with no usable table is skipped. Factory and labelled real documents
go through the same function, so every training tag comes from a reading or a row the labels confirm.

Held out, never trained on, read by both models: the configured labelled real documents, a share of
the reviewed documents chosen by content hash, the factory's held-out splits, and noisy copies of
held-out factory text reports (label characters damaged as OCR damages them, where the classifier
earns its keep).

Decision (``RULE``): see ``decide``. Everything is written down: a report JSON for every run, and
for a real run (not ``--dry-run``) a registry entry and a model card.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nianbao.document import TABLE_NAMES, Document
from nianbao.evaluate import DocScore, same_value, score_document
from nianbao.inference.classifier import read_model_version
from nianbao.labels import LabelledDocument, document_kind, gold_dir, gold_files, labelled_documents, load_labelled

from .registry import ModelRegistry, now, sha256_file

log = logging.getLogger("nianbao.retrain")

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "retrain.cfg"
GROUPS = ("gold", "reviewed", "factory", "noisy")
READINGS = ("baseline", "classifier")  # the order tags are taken in when both readings match a table
UNUSABLE = "not usable for training: no reading matched the corrections"
ALIGNED = "alignment"  # a table tagged from its corrected values (``align_values``), not from a reading
ROWS = "row labels"  # a table tagged from the printed rows the reviewed values identify (``row_labels``)

RULE = ("promote only if, on the same held-out documents, the new model (1) fabricates no more values than "
        "the installed one, (2) still reads exactly every protected held-out document (promote.protect: "
        "by default the labelled real documents) that the installed one reads exactly, and (3) is better by "
        "(exact documents, correct non-zero fields, correct fields), compared in that order; a tie keeps "
        "the installed model")


@dataclass
class Item:
    """One labelled document of the round: where it comes from and its file's content hash."""

    id: str
    group: str  # gold | reviewed | factory | noisy
    gold: LabelledDocument
    path: Path
    sha256: str


@dataclass
class TaggedDoc:
    seqs: list
    sources: dict[str, Optional[str]]  # table -> the reading its tags came from (None: masked)
    used: bool
    reason: str = ""


@dataclass
class Round:
    """What a round decided, with everything measured (``report`` is what the JSON holds)."""

    version: str
    parent: Optional[str]
    promoted: bool
    reason: str
    report: dict[str, Any] = field(default_factory=dict)
    report_path: Optional[Path] = None


# -- collecting the documents -------------------------------------------------------------------
def _listed(value: Any) -> list[str]:
    return [x.strip() for x in str(value or "").split(",") if x.strip()]


def _folder(value: Any, default: Path) -> Path:
    return Path(str(value)) if str(value or "").strip() else default


def _shown(path: Path | str) -> str:
    """A path as cards and reports show it: relative to the project when inside it."""
    try:
        return Path(path).resolve().relative_to(PROJECT).as_posix()
    except ValueError:
        return str(path)


def reviewed_held_out(sha256: str, percent: float) -> bool:
    """A reviewed document is held out by its content, so it stays held out (or in training) every round."""
    return int(hashlib.sha256(("holdout:" + sha256).encode()).hexdigest()[:8], 16) % 10000 < percent * 100


def collect(cfg: dict, work: Path) -> tuple[list[Item], list[Item], dict]:
    """(training items, held-out items, what was found and left out)."""
    d = cfg["data"]
    notes: dict[str, Any] = {"reviewed_unreadable": [], "reviewed_missing_document": [],
                             "reviewed_same_as_gold": [], "factory": None}
    train: list[Item] = []
    held: list[Item] = []

    # Labelled real documents: the configured ones held out, the others (optionally) trained on.
    holdout_ids = _listed(d["gold_holdout"])
    golds = [load_labelled(p) for p in gold_files(_folder(d["gold_dir"], gold_dir()))]
    golds = [g for g in golds if g.document is not None and Path(g.document).exists()]
    unknown = sorted(set(holdout_ids) - {g.id for g in golds})
    if unknown:
        raise ValueError(f"data.gold_holdout names documents that are not there: {unknown}")
    gold_hashes = {}
    for g in golds:
        item = Item(g.id, "gold", g, Path(g.document), sha256_file(g.document))
        gold_hashes[item.sha256] = g.id
        if g.id in holdout_ids:
            held.append(item)
        elif d["gold_train"]:
            train.append(item)

    # Reviewed documents: a share held out by content hash.
    reviewed_dir = _folder(d["reviewed_dir"], PROJECT / "labels" / "reviewed")
    notes["reviewed_dir"] = _shown(reviewed_dir)
    for path in gold_files(reviewed_dir) if reviewed_dir.is_dir() else []:
        try:
            g = load_labelled(path)
        except (ValueError, KeyError, json.JSONDecodeError):
            notes["reviewed_unreadable"].append(path.name)
            continue
        if g.document is None or not Path(g.document).exists():
            notes["reviewed_missing_document"].append(g.id)
            continue
        sha = sha256_file(g.document)
        if sha in gold_hashes:  # the labelled real copy is the reference (and may be held out)
            notes["reviewed_same_as_gold"].append(f"{g.id} = {gold_hashes[sha]}")
            continue
        item = Item(g.id, "reviewed", g, Path(g.document), sha)
        (held if reviewed_held_out(sha, float(d["reviewed_holdout_percent"])) else train).append(item)

    # Factory documents: a folder given, or a small set made now.
    if str(d["factory_dir"] or "").strip():
        folder = Path(str(d["factory_dir"]))
        notes["factory"] = f"the factory folder {folder}"
    elif int(d["factory_n"]) > 0:
        from .factory.dataset import SynthConfig, synthesize

        folder = work / "factory"
        kinds = tuple(_listed(d["factory_kinds"]))
        notes["factory"] = (f"made for this round: nianbao synth --n {int(d['factory_n'])} --seed {int(d['factory_seed'])} "
                            f"--kinds {','.join(kinds)}")
        synthesize(SynthConfig(n=int(d["factory_n"]), out=folder, seed=int(d["factory_seed"]), kinds=kinds),
                   progress=False)
    else:
        folder = None
    if folder is not None:
        hold_splits = set(_listed(d["factory_holdout_splits"]))
        f_train, f_held = [], []
        for g in labelled_documents(folder, kinds=set(_listed(d["factory_kinds"]))):
            item = Item(g.id, "factory", g, Path(g.document), sha256_file(g.document))
            (f_held if g.extra.get("split") in hold_splits else f_train).append(item)
        if int(d["factory_max_train"]):
            f_train = f_train[: int(d["factory_max_train"])]
        if int(d["factory_max_held_out"]):
            f_held = f_held[: int(d["factory_max_held_out"])]
        train += f_train
        held += f_held
        held += noisy_copies([i for i in f_held if document_kind(i.gold) == "text"][: int(d["noisy_held_out"])],
                             work / "noisy", int(d["seed"]))

    # Content seen on both sides would make the held-out scores a test on training data.
    held_hashes = {i.sha256 for i in held}
    leaked = [i.id for i in train if i.sha256 in held_hashes]
    train = [i for i in train if i.sha256 not in held_hashes]
    notes["dropped_from_training_same_content_as_held_out"] = leaked
    return train, held, notes


def noisy_copies(items: list[Item], out: Path, seed: int) -> list[Item]:
    """Text reports with their row and group labels damaged (look-alike, dropped, truncated characters);
    the numbers stay, so the clean document's labels still hold."""
    from .noisy_docs import noisy_text

    out.mkdir(parents=True, exist_ok=True)
    made = []
    for n, item in enumerate(items):
        try:
            text = noisy_text(item.path, random.Random(seed * 1000 + n))
        except ValueError:
            continue
        path = out / f"{Path(item.id).stem}.noisy.txt"
        path.write_text(text, encoding="utf-8")
        gold = dataclasses.replace(item.gold, id=f"{item.id}~noisy", document=path)
        made.append(Item(gold.id, "noisy", gold, path, sha256_file(path)))
    return made


# -- reading and tagging ------------------------------------------------------------------------
def make_pipeline(model_dir: Optional[Path]):
    """The extraction pipeline with the classifier of ``model_dir`` (None: the schema's labels alone)."""
    from nianbao.inference.classifier import ClassifierSpotter
    from nianbao.inference.locate import LocateStage, RegexSpotter
    from nianbao.inference.pipeline import Pipeline, PipelineOptions
    from nianbao.schema import load_schema

    pipeline = Pipeline(PipelineOptions(mapper="baseline"))
    spotter = ClassifierSpotter(Path(model_dir)) if model_dir is not None else RegexSpotter()
    pipeline.stages = [LocateStage(load_schema(), spotter) if s.name == "locate" else s for s in pipeline.stages]
    return pipeline


def table_matches(gold: LabelledDocument, doc: Document, table: str) -> bool:
    """Whether a reading got one statutory table right: found as labelled, every value equal, nothing
    read where the label has no value."""
    if doc.error is not None or bool(doc.found.get(table)) != bool(gold.found.get(table)):
        return False
    pred = doc.values()
    prefix = table + "."
    for key, value in gold.values.items():
        if key.startswith(prefix) and (key not in pred or not same_value(pred[key], value)):
            return False
    return not any(k.startswith(prefix) and v is not None and gold.values.get(k) is None for k, v in pred.items())


def corrected_tags(gold: LabelledDocument, readings: dict[str, Document],
                   align: bool = True, rows: bool = True, reviewed: bool = False) -> tuple[Optional[list[str]], dict]:
    """Per-character tags from the readings that the labels confirm, table by table.

    A table some reading got right (its values, and its rows where the reviewed values and the row order
    tell them: ``row_labels.reading_confirmed``; every row of it for a reviewed document) takes that
    reading's tags over its region, with the labels of the
    rows structure placed (whose values the labels confirm) tagged as those rows instead of O. A table
    no reading got right but some reading located is tagged from row-level labels (``rows``, the
    default: ``row_labels.table_row_labels``, source ``ROWS``: which printed row the reviewed values
    say is which row) or, with ``align``, from its corrected values lined up with the printed numbers
    (``align_values.align_table``: source ``ALIGNED``), whichever identifies more rows; else it is masked
    (IGNORE) over every region a reading gave it. When no reading even located a labelled table,
    everything outside the confirmed tables is masked too (its "O" tags could be wrong). ``reviewed``: the
    document was reviewed (likely misread, labels likely damaged): in tables a reading got right, Chinese
    text between the rows that no label covers is masked rather than taught as O."""
    from .align_values import align_table, table_span
    from .row_labels import LABELLED_TABLES, reading_confirmed, row_label_tags, table_row_labels
    from .tagging import OUTSIDE, document_tags
    from .train import IGNORE

    docs = {k: d for k, d in readings.items() if d.error is None and d.linear is not None}
    if not docs:
        return None, {t: None for t in TABLE_NAMES}
    norms = {d.linear.norm for d in docs.values()}
    if len(norms) != 1:
        raise ValueError(f"{gold.id}: the readings linearised the document differently")
    n = len(next(iter(norms)))
    sources: dict[str, Optional[str]] = {}
    for table in TABLE_NAMES:
        # A reading whose values match but whose rows the values and the row order place elsewhere
        # (zeros fit every zero row) teaches the wrong labels: its table is taught from row labels.
        sources[table] = next((name for name in READINGS if name in docs and table_matches(gold, docs[name], table)
                               and reading_confirmed(gold, docs[name], table, strict=reviewed)), None)
    tags = [OUTSIDE] * n
    if any(s is None and gold.found.get(t) and not any(t in d.located for d in docs.values())
           for t, s in sources.items()):
        tags = [IGNORE] * n
    for table, source in sources.items():
        if source is None:
            for d in docs.values():
                if table in d.located:
                    r = d.located[table].region
                    tags[r.start:r.end] = [IGNORE] * (r.end - r.start)
    # A table no reading got right but some reading located: tags from the printed rows the reviewed
    # values identify, or from the values lined up with the printed numbers; the rest stays masked.
    taught: dict[str, tuple[tuple[int, int], list[str]]] = {}
    for table, source in sources.items():
        if source is not None or not gold.found.get(table):
            continue
        best: tuple[int, Optional[str], Any] = (0, None, None)
        if rows and table in LABELLED_TABLES:
            for name in READINGS[::-1]:  # the classifier's reading first: it places more rows
                if name in docs and table in docs[name].located:
                    labels = table_row_labels(gold, docs[name], table)
                    found = sum(1 for r in labels.rows if r.label)
                    if found > best[0]:
                        best = (found, ROWS, row_label_tags(docs[name], labels, OUTSIDE, IGNORE))
        if align:
            aligned = align_table(gold, docs, table, ignore=IGNORE)
            if aligned is not None and aligned.convincing and len(aligned.matched) > best[0]:
                best = (len(aligned.matched), ALIGNED, (aligned.span, aligned.tags))
        if best[1] is not None:
            taught[table] = best[2]
            sources[table] = best[1]
    for (lo, hi), table_tags in taught.values():
        tags[lo:hi] = table_tags
    full: dict[str, list[str]] = {}
    for table, source in sources.items():
        if source in (ALIGNED, ROWS):
            continue
        if source is not None and table in docs[source].located:
            if source not in full:
                full[source] = document_tags(docs[source])
                confirmed_rows(gold, docs[source], full[source], sources, source, mask_between=reviewed)
            lo, hi = table_span(docs[source], table)
            tags[lo:hi] = full[source][lo:hi]
    return tags, sources


def confirmed_rows(gold: LabelledDocument, doc: Document, tags: list[str], sources: dict[str, Optional[str]],
                   source: str, mask_between: bool = False) -> None:
    """In a reading's tags of the tables the labels confirm, each printed row's whole label (the piece
    printed before its numbers) is tagged as its row, the rows structure placed included (their label
    was not recognised, so the reading tags it O); with ``mask_between``, other Chinese text between the
    rows (a damaged group line as often as furniture) is masked."""
    from .row_labels import LABELLED_TABLES, mark_label, mask_between_rows, table_row_labels
    from .train import IGNORE

    for table, s in sources.items():
        if s != source or table not in LABELLED_TABLES or table not in doc.located:
            continue
        rows = table_row_labels(gold, doc, table).rows
        for row in rows:
            if row.label:
                mark_label(tags, 0, row.label, f"{table}.{row.key}")
        if mask_between:
            mask_between_rows(tags, 0, doc.linear.norm, rows, IGNORE)


def tag_windows(doc: Document, doc_id: str, tags: list[str], size: int, stride: int, regions: list[tuple[int, int]],
                margin: int = 64, prose_windows: int = 1) -> list:
    """Windows over the tables' area (plus a margin) and a prose window, as ``tag_document_windows``
    makes them, with the given tags; windows with no tag to learn from are dropped."""
    from nianbao.inference.classifier import windows

    from .tagging import TaggedSequence, char_features
    from .train import IGNORE

    chars, starts, boxes = char_features(doc)
    n = len(chars)
    if regions:
        lo, hi = max(0, min(a for a, _ in regions) - margin), min(n, max(b for _, b in regions) + margin)
    else:
        lo = hi = 0
    spans = [(lo + a, lo + b) for a, b in windows(hi - lo, size, stride)] if hi > lo else []
    prose = [(s, e) for s, e in windows(n, size, size) if e <= lo or s >= hi][:prose_windows]
    out = []
    for s, e in spans + prose:
        if all(t == IGNORE for t in tags[s:e]):
            continue
        out.append(TaggedSequence(doc_id=doc_id, chars=chars[s:e], starts=starts[s:e], boxes=boxes[s:e],
                                  tags=tags[s:e], meta={"offset": s}))
    return out


def tag_item(item: Item, pipelines: dict, size: int, stride: int, known_tags: set[str]) -> TaggedDoc:
    from .train import IGNORE

    readings = {name: p.run(item.path) for name, p in pipelines.items()}
    tags, sources = corrected_tags(item.gold, readings, align=True, reviewed=item.group == "reviewed")
    if tags is None:
        return TaggedDoc([], sources, False, "no reading could read the document")
    tags = [t if t in known_tags or t == IGNORE else IGNORE for t in tags]  # a label the installed model lacks
    doc = next(d for name in READINGS if (d := readings.get(name)) is not None and d.linear is not None)
    regions = [(d.located[t].region.start, d.located[t].region.end) for d in readings.values() if d.linear is not None
               for t in d.located]
    if any(s in (ALIGNED, ROWS) for s in sources.values()):  # aligned rows may lie past the readings' regions
        tagged_at = [i for i, t in enumerate(tags) if t != IGNORE and t != "O"]
        regions.append((tagged_at[0], tagged_at[-1] + 1))
    seqs = tag_windows(doc, item.id, tags, size, stride, regions)
    # A document without statutory tables, read as such, still teaches that its prose holds no row.
    return TaggedDoc(seqs, sources, bool(seqs), "" if seqs else UNUSABLE)


# -- weights ------------------------------------------------------------------------------------
def load_weights(torch_dir: Path):
    """The LayoutLM of a model folder's ``torch/`` in fp32 (committed weights are fp16: exact to cast up)."""
    from transformers import LayoutLMForTokenClassification

    if not (Path(torch_dir) / "config.json").exists():
        raise FileNotFoundError(f"no torch weights in {torch_dir}: retraining fine-tunes them "
                                "(train a model with `nianbao train` first)")
    return LayoutLMForTokenClassification.from_pretrained(str(torch_dir)).float()


def save_weights(model, torch_dir: Path) -> None:
    """fp16 safetensors (half the size; the int8 ONNX graph is what inference runs)."""
    import copy

    copy.deepcopy(model).half().save_pretrained(str(torch_dir))


# -- evaluation and decision --------------------------------------------------------------------
def summarise(scores: list[DocScore]) -> dict[str, Any]:
    n = len(scores)
    fields = sum(s.fields_total for s in scores)
    nonzero = sum(s.nonzero_total for s in scores)
    out = {"documents": n, "exact": sum(s.exact for s in scores), "fields": fields,
           "fields_correct": sum(s.fields_correct for s in scores), "nonzero_fields": nonzero,
           "nonzero_correct": sum(s.nonzero_correct for s in scores), "fabricated": sum(s.fabricated for s in scores),
           "errors": sum(1 for s in scores if s.error)}
    out["docs_exact"] = round(out["exact"] / n, 4) if n else None
    out["nonzero_field_accuracy"] = round(out["nonzero_correct"] / nonzero, 4) if nonzero else None
    out["field_accuracy"] = round(out["fields_correct"] / fields, 4) if fields else None
    return out


def evaluate_models(held: list[Item], models: dict[str, Optional[Path]]) -> dict[str, dict[str, DocScore]]:
    """Each model reads every held-out document: {model: {item id: score}} (``nianbao.evaluate``'s scoring)."""
    out: dict[str, dict[str, DocScore]] = {}
    for name, model_dir in models.items():
        pipeline = make_pipeline(model_dir)
        out[name] = {i.id: score_document(i.gold, pipeline.run(i.path)) for i in held}
    return out


def scores_by_group(held: list[Item], scores: dict[str, DocScore]) -> dict[str, dict[str, Any]]:
    groups = {"all": summarise([scores[i.id] for i in held])}
    for g in GROUPS:
        items = [i for i in held if i.group == g]
        if items:
            groups[g] = summarise([scores[i.id] for i in items])
    return groups


def decide(held: list[Item], old: dict[str, DocScore], new: dict[str, DocScore], protect: list[str]) -> tuple[bool, str]:
    """``RULE``, on per-document scores of the same held-out documents."""
    if not held:
        return False, "no held-out documents: nothing shows the new model is better"
    o, n = summarise([old[i.id] for i in held]), summarise([new[i.id] for i in held])
    if n["fabricated"] > o["fabricated"]:
        return False, f"more fabricated values ({o['fabricated']} -> {n['fabricated']})"
    lost = [i.id for i in held if i.group in protect and old[i.id].exact and not new[i.id].exact]
    if lost:
        return False, f"protected held-out documents no longer read exactly: {', '.join(lost)}"
    key_o = (o["exact"], o["nonzero_correct"], o["fields_correct"])
    key_n = (n["exact"], n["nonzero_correct"], n["fields_correct"])
    words = f"exact documents {o['exact']} -> {n['exact']} of {n['documents']}, correct non-zero fields " \
            f"{o['nonzero_correct']} -> {n['nonzero_correct']} of {n['nonzero_fields']}, correct fields " \
            f"{o['fields_correct']} -> {n['fields_correct']} of {n['fields']}, fabricated {o['fabricated']} -> {n['fabricated']}"
    if key_n > key_o:
        return True, f"better: {words}"
    if key_n == key_o:
        return False, f"not better (a tie keeps the installed model): {words}"
    return False, f"worse: {words}"


# -- the round ----------------------------------------------------------------------------------
def _dataset(cfg: dict, train_items: list[Item], held: list[Item], installed: Path, meta: dict) -> tuple[Any, dict]:
    from .augment import add_label_noise
    from .train import Dataset, data_check

    d = cfg["data"]
    rng = random.Random(int(d["seed"]))
    pipelines = {"baseline": make_pipeline(None), "classifier": make_pipeline(installed)}
    known = set(meta["labels"])
    train, skipped = [], []
    # Printed statutory tables (labelled found) of the training documents: tagged from a reading, or not usable.
    per_table = {t: {"tagged": 0, "not_usable": 0} for t in TABLE_NAMES}
    per_group: dict[str, dict[str, int]] = {}
    from_reading = {r: 0 for r in READINGS + (ROWS, ALIGNED)}
    unusable = []
    for item in train_items:
        tagged = tag_item(item, pipelines, int(meta["window"]), int(meta["stride"]), known)
        g = per_group.setdefault(item.group, {"documents": 0, "used": 0, "skipped": 0, "sequences": 0})
        g["documents"] += 1
        for t, s in tagged.sources.items():
            if item.gold.found.get(t):
                per_table[t]["tagged" if s and tagged.used else "not_usable"] += 1
                if s and tagged.used:
                    from_reading[s] += 1
        if not tagged.used:
            g["skipped"] += 1
            skipped.append(item.id)
            unusable.append({"id": item.id, "group": item.group, "why": tagged.reason})
            continue
        g["used"] += 1
        seqs = tagged.seqs * (int(d["reviewed_repeat"]) if item.group == "reviewed" else 1)
        g["sequences"] += len(seqs)
        train.extend(seqs)
        for _ in range(int(d["noisy_copies"])):
            train.extend(add_label_noise(s, rng) for s in seqs)
    report = data_check(train, [], {i.id for i in held}, skipped)
    vocab = meta["vocab"]
    chars = [c for s in train for c in s.chars]
    report.update({"groups": per_group, "tables": per_table, "tables_tagged_from": from_reading,
                   "tables_not_usable": {"count": sum(v["not_usable"] for v in per_table.values()), "why": UNUSABLE},
                   "not_used": unusable, "unknown_characters": sum(c not in vocab for c in chars),
                   "characters": len(chars)})
    return Dataset(train=train, validation=[], report=report), report


def _finetune(cfg: dict, dataset, installed: Path, meta: dict):
    from .train import finetune

    t = cfg["train"]
    model = load_weights(installed / "torch")
    if model.config.vocab_size != len(meta["vocab"]) or model.config.num_labels != len(meta["labels"]):
        raise ValueError(f"{installed}: torch weights do not fit labels.json (vocabulary or label map differ)")
    if t["from_scratch"]:  # a deliberate reset (tests: a candidate that must lose)
        from transformers import LayoutLMForTokenClassification

        model = LayoutLMForTokenClassification(model.config)
    run_cfg = {"train": {k: t[k] for k in ("max_steps", "batch_size", "lr", "warmup", "eval_every")},
               "data": {"window": int(meta["window"])}}
    if not dataset.train and int(t["max_steps"]) > 0:
        raise ValueError("no training sequences: no document had a table a reading got right")
    # finetune() builds the label ids from the schema's tag names: the installed label map must be that.
    from .tagging import tag_names

    if list(tag_names()) != list(meta["labels"]):
        raise ValueError("the schema's tag names differ from the installed model's label map: retrain with `nianbao train`")
    return finetune(model.config, None, dataset, meta["vocab"], run_cfg, int(cfg["data"]["seed"]), model=model)


def _card(round_: dict) -> str:
    r = round_
    ho, data = r["held_out"], r["data"]
    lines = [f"# Model card: nianbao token classifier, {r['version']} ({r['created'][:10]})", "",
             f"**Decision.** {'Promoted' if r['promoted'] else 'Not promoted'}: {r['reason']}.",
             f"Rule: {RULE}.", "",
             f"**Parent.** `{r['parent']}`, fine-tuned (same architecture, vocabulary and label map, so the ONNX "
             "inputs are unchanged; characters outside the vocabulary read as [UNK]).", "",
             "**Data.** Tags come, table by table, from a reading (the schema's labels, or the parent classifier) "
             "whose values equal the labels; tables no reading got right are masked. Reviewed documents from "
             f"`{data.get('reviewed_dir')}`; factory documents: {data.get('factory') or 'none'}.", ""]
    lines += ["| group | documents | used | skipped | training windows |", "|---|---:|---:|---:|---:|"]
    for g, v in data.get("groups", {}).items():
        lines.append(f"| {g} | {v['documents']} | {v['used']} | {v['skipped']} | {v['sequences']} |")
    lines += ["", "Printed statutory tables of the training documents, tagged / not usable (no reading matched the "
              "corrections; masked): " + ", ".join(f"{t} {v['tagged']} / {v['not_usable']}" for t, v in data.get("tables", {}).items())
              + f". {len(data.get('not_used', []))} document(s) not used at all"
              + (": " + ", ".join(x["id"] for x in data["not_used"][:20]) if data.get("not_used") else "") + ".",
              f"Training windows {data.get('train_sequences')} (with noisy copies); characters read as [UNK]: "
              f"{data.get('unknown_characters')} of {data.get('characters')}.", "",
              f"**Training.** {r['config']['train']['max_steps']} steps, batch {r['config']['train']['batch_size']}, "
              f"AdamW lr {r['config']['train']['lr']} (warmup {r['config']['train']['warmup']}, cosine decay)"
              + (", from scratch" if r['config']['train']['from_scratch'] else "")
              + f"; {r['seconds'].get('train', 0):.0f} s. Config: `{r['config_path']}`"
              + (f" with `{' '.join('--set ' + o for o in r['overrides'])}`" if r["overrides"] else "") + ".", "",
              "**Held-out evaluation** (never trained on; both models read the same documents; exact documents / "
              "correct non-zero fields / fabricated values):", "",
              "| set | documents | installed (" + str(r["parent"]) + ") | new | schema labels alone (reference) |",
              "|---|---:|---|---|---|"]

    def cell(x: dict) -> str:
        return f"{x['exact']} / {x['nonzero_correct']} of {x['nonzero_fields']} / {x['fabricated']}"

    for g, o in ho["old"].items():
        lines.append(f"| {g} | {o['documents']} | {cell(o)} | {cell(ho['new'][g])} | {cell(ho['baseline'][g])} |")
    docs = ho["documents"]
    lines += ["", "Held-out documents: labelled real " + (", ".join(docs.get("gold", [])) or "none")
              + "; reviewed (by content hash, config data.reviewed_holdout_percent) " + (", ".join(docs.get("reviewed", [])) or "none")
              + f"; factory: {len(docs.get('factory', []))} renderings of the held-out splits "
              f"({r['config']['data']['factory_holdout_splits']}) of the factory documents ({data.get('factory') or 'none'})"
              + f"; noisy: damaged-label copies of {len(docs.get('noisy', []))} of those text reports. "
              "Every id is in the report.", "",
              f"**Files.** ONNX sha256 `{r['onnx_sha256']}` ({r['onnx_bytes']} bytes); report `{r['report']}`.", ""]
    return "\n".join(lines)


def retrain(cfg: dict, dry_run: bool = False, config_path: str = "", overrides: list[str] = ()) -> Round:
    """One round; returns the decision and writes the report (and, unless ``dry_run``, the registry
    entry and the card; the promotion when the rule says so)."""
    import torch

    from .train import export_onnx

    t0 = time.time()
    seconds: dict[str, float] = {}
    torch.set_num_threads(int(cfg["train"]["threads"]))
    registry = ModelRegistry(_folder(cfg["registry"]["root"], ModelRegistry().root))
    installed = registry.installed_dir
    parent = read_model_version(installed)
    meta = json.loads((installed / "labels.json").read_text(encoding="utf-8"))
    version = registry.next_version()
    candidate = registry.candidates_dir / f"{version}.dry-run" if dry_run else registry.candidate_dir(version)
    if candidate.exists():
        shutil.rmtree(candidate)
    with tempfile.TemporaryDirectory(prefix="nianbao-retrain-") as tmp:
        work = Path(tmp)
        train_items, held, notes = collect(cfg, work)
        seconds["collect"] = round(time.time() - t0, 1)
        log.info("%d training documents, %d held out (%s)", len(train_items), len(held),
                 ", ".join(f"{g} {sum(i.group == g for i in held)}" for g in GROUPS))
        t1 = time.time()
        dataset, data_report = _dataset(cfg, train_items, held, installed, meta)
        data_report.update(notes)
        seconds["tag"] = round(time.time() - t1, 1)
        log.info("data: %s", {k: data_report[k] for k in ("train_sequences", "groups")})
        t1 = time.time()
        model, history = _finetune(cfg, dataset, installed, meta)
        seconds["train"] = round(time.time() - t1, 1)
        t1 = time.time()
        candidate.mkdir(parents=True)
        onnx = export_onnx(model, candidate, bool(cfg["export"]["quantize"]))
        save_weights(model, candidate / "torch")
        (candidate / "labels.json").write_text(json.dumps({**meta, "model_version": version}, ensure_ascii=False),
                                               encoding="utf-8")
        seconds["export"] = round(time.time() - t1, 1)
        t1 = time.time()
        # The schema's labels alone as a reference: what the classifier adds (not part of the decision).
        scores = evaluate_models(held, {"old": installed, "new": candidate, "baseline": None})
        seconds["evaluate"] = round(time.time() - t1, 1)
    protect = _listed(cfg["promote"]["protect"])
    promote, reason = decide(held, scores["old"], scores["new"], protect)
    seconds["total"] = round(time.time() - t0, 1)
    created = now()
    reports_dir = registry.root / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    report_path = reports_dir / f"{version}{'.dry-run' if dry_run else ''}.json"
    entry: dict[str, Any] = {
        "version": version, "created": created, "parent": parent, "promoted": bool(promote and not dry_run),
        "reason": reason + (" (dry run: nothing promoted)" if dry_run else ""), "rule": RULE,
        "held_out": {"documents": {g: [i.id for i in held if i.group == g] for g in GROUPS},
                     "old": scores_by_group(held, scores["old"]), "new": scores_by_group(held, scores["new"]),
                     "baseline": scores_by_group(held, scores["baseline"]),
                     "protect": protect},
        "data": data_report, "history": history, "seconds": seconds,
        "config": cfg, "config_path": _shown(config_path) if config_path else "", "overrides": list(overrides),
        "onnx_sha256": sha256_file(onnx), "onnx_bytes": onnx.stat().st_size,
        "card": registry.rel(registry.card_path(version)), "files": registry.rel(candidate),
        "report": registry.rel(report_path),
    }
    per_doc = {i.id: {"group": i.group, **{m: _doc(scores[m][i.id]) for m in scores}} for i in held}
    card = _card(entry)
    (candidate / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    (candidate / "metrics.json").write_text(json.dumps({"data": data_report, "history": history, "seconds": seconds,
                                                        "onnx_bytes": entry["onnx_bytes"], "config": cfg,
                                                        "parent": parent}, ensure_ascii=False, indent=1),
                                            encoding="utf-8")
    report_path.write_text(json.dumps({**entry, "would_promote": promote, "dry_run": dry_run, "per_document": per_doc},
                                      ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    if not dry_run:
        registry.write_card(version, card)
        registry.record({k: v for k, v in entry.items() if k not in ("history", "config")}
                        | {"config": {"path": config_path, "overrides": list(overrides)}})
        if promote:
            registry.promote(version)
    return Round(version=version, parent=parent, promoted=bool(promote and not dry_run), reason=reason,
                 report={**entry, "would_promote": promote, "dry_run": dry_run}, report_path=report_path)


def _doc(s: DocScore) -> dict[str, Any]:
    return {"exact": s.exact, "nonzero": f"{s.nonzero_correct}/{s.nonzero_total}", "fabricated": s.fabricated,
            "error": s.error, "wrong": [list(map(str, w)) for w in s.wrong[:20]]}
