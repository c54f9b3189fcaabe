"""The review loop, measured: a new kind of layout, a simulated reviewer, one retraining round.

    python benchmarks/bench_review_loop.py                       # the default run (8-15 min on 2 CPUs)
    python benchmarks/bench_review_loop.py --no-retrain --review-n 20 --eval-n 20   # steps 1-2 only
    python benchmarks/bench_review_loop.py --new-layout pdf      # force the choice of the new layout
    python benchmarks/bench_review_loop.py --json --review-n 15 --eval-n 20 --candidate-n 15 --scan-n 0
        # ... and end with one JSON line: installed_exact, retrained_exact, control_exact, promoted
    python benchmarks/bench_review_loop.py --json --new-layout agency --candidates agency --known-n 10 \
        --candidate-n 10 --review-n 20 --eval-n 20 --scan-n 0       # the README's run (2 shared CPUs)

1. **Which layout is new.** The shipped classifier learned from factory text, HTML and DOCX renderings
   (its card: PDF and scans were not in its data; label noise only as light augmentation of its
   training windows). Fresh factory seeds (held out by construction) give candidate sets it has not
   seen — digital PDF, a few scans, text with heavy label noise (``training/noisy_docs.py``; ``ocr``:
   10% of every Chinese character OCR-damaged), text with forced traits — scored beside known ones (factory text and HTML). The new layout is the
   candidate furthest below the known layout of its own rendering (or ``--new-layout``).

   ``agency``: one agency family's own wording of Table B (factory traits ``layout.label_wording=agency``
   and ``content.zero_rows=omitted``, forced only): every row and group label of Table B is a local
   paraphrase that shares no word with the statutory labels (同意公开 for 予以公开, 涉密信息 for 属于国家秘密,
   四、转入下一年度办理 ...; some rows with two wordings), and some all-zero rows of the reason groups are not
   printed (their gold is null). Real reports do both. It is the fair test of "corrections teach" because
   it is what a label model can learn and nothing else can: the schema's labels and their approximate
   matches find no row, and with rows left out the statutory row order and the number of cells no longer
   say which printed row is which. The damaged-label layouts (``noisy``, ``ocr``) are no longer that test:
   the structure-first reader already reads most of them, and their remaining misses are Table B columns
   shifted, which no label model fixes. Their candidates stay available.
2. **A simulated reviewer.** A review set of the new layout is ingested into a temporary store with
   the installed model; the reviewer walks ``review_queue`` in order and records the gold values of
   each document with ``record_review`` (labels go to a temporary folder, never ``labels/``). Counted:
   fields the queue asks about (below the accept threshold, or cells of a failing rule), corrections
   (stored value differs from gold), and whether each wrong field was flagged or wrong-but-confident.
   Documents the queue does not hold (not ``review.needed``) are then reviewed as a spot check
   (``--queue-only`` skips them) and their wrong fields counted as missed by the queue.
   What retraining can learn from the labels is counted with retrain's own tagging functions: the
   printed tables a reading gets right (tags come only from those; the others are masked), and in
   those, the share of Chinese characters tagged O (label characters the matching reading skipped).
3. **One retraining round.** ``nianbao retrain`` fine-tunes a copy of the installed model (in a
   temporary registry, ``registry.root``: the project's ``models/`` is only read) on the reviewed
   labels (``data.reviewed_dir``) plus its default factory data; a control round does the same
   without the reviewed labels (``--no-control`` skips it). The installed and the new models are then
   scored on an evaluation set of the new layout that was never reviewed, and on the known layouts.

Scores are ``nianbao.evaluate.score_document``: documents exact, field accuracy, non-zero field
accuracy, fabricated values. Writes ``benchmarks/results/review_loop.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Optional

from nianbao.evaluate import same_value

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "review_loop.json"
REVIEWER = "simulated (gold)"

# Which known set a candidate is compared with: the same rendering without the new trait.
REFERENCE = {"text": "text", "html": "html", "pdf": "html", "scan": "html"}


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# sets
# ---------------------------------------------------------------------------------------------

def synth(out: Path, n: int, kinds: str, seed: int, force: tuple[str, ...] = ()) -> list:
    """Generate ``n`` factory documents (fresh seed) and return their gold, in document order."""
    from nianbao.labels import labelled_documents

    if n <= 0:
        return []
    cmd = [sys.executable, "-m", "nianbao.cli", "synth", "--n", str(n), "--kinds", kinds, "--seed", str(seed),
           "--out", str(out), "--quiet", "--overwrite"]
    for f in force:
        cmd += ["--force", f]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return labelled_documents(out)


def by_kind(golds: list) -> dict[str, list]:
    from nianbao.labels import document_kind

    out: dict[str, list] = {}
    for g in golds:
        out.setdefault(document_kind(g), []).append(g)
    return out


def noisy_copies(golds: list, folder: Path, seed: int, kind: str = "labels") -> list:
    """Text reports with heavy label noise (look-alike, dropped and truncated label characters), or
    (``kind="ocr"``) 10% of every Chinese character damaged as OCR damages it; the printed numbers are
    untouched, so the clean document's gold holds."""
    from nianbao.training.noisy_docs import noisy_labelled

    return noisy_labelled(golds, folder, seed, kind=kind)


# An agency family's own wording of Table B's row and group labels, with some all-zero rows not printed
# (factory traits, forced: ``training/factory/printed_tables.py`` AGENCY_B_LABELS, ``content.py`` omit_zero_rows).
ALIASES = {"agency": "force:layout.label_wording=agency+content.zero_rows=omitted"}


def make_layout(name: str, n: int, seed: int, work: Path) -> list:
    """``n`` documents of one candidate layout: text | html | pdf | scan | noisy | ocr | agency |
    force:TRAIT=VALUE[+TRAIT=VALUE]."""
    folder = work / name.replace(":", "_").replace("=", "-")
    name = ALIASES.get(name, name)
    if name in ("text", "html", "docx", "pdf", "scan"):
        return synth(folder, n, name, seed)
    if name in ("noisy", "ocr"):
        kind = "labels" if name == "noisy" else "ocr"
        return noisy_copies(synth(folder / "clean", n, "text", seed), folder / name, seed, kind)
    if name.startswith("force:"):
        return synth(folder, n, "text", seed, tuple(name[len("force:"):].split("+")))
    raise ValueError(f"unknown layout {name!r}")


def rendering(layout: str) -> str:
    if layout in REFERENCE:
        return layout
    return "text"  # noisy and forced-trait candidates are text renderings


# ---------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------

def pipeline_with_model(model_dir: Optional[Path] = None):
    """The extraction pipeline (classifier mapper) with the token classifier in ``model_dir``
    (default: the installed one), without installing anything."""
    from nianbao.inference.pipeline import Pipeline, PipelineOptions

    pipe = Pipeline(PipelineOptions(mapper="classifier"))
    if model_dir is not None:
        from nianbao.inference.classifier import ClassifierSpotter

        for stage in pipe.stages:
            if stage.name == "locate":
                stage.locator.spotter = ClassifierSpotter(Path(model_dir))
    return pipe


def score_set(pipe, golds: list) -> dict:
    from nianbao.evaluate import score_document

    t0 = time.perf_counter()
    docs = exact = ft = fc = nz = nzc = fab = review = 0
    failing = []
    for g in golds:
        s = score_document(g, pipe.run(Path(g.document)))
        docs += 1
        exact += s.exact
        ft += s.fields_total
        fc += s.fields_correct
        nz += s.nonzero_total
        nzc += s.nonzero_correct
        fab += s.fabricated
        review += s.review_needed
        if not s.exact:
            failing.append(g.id)
    return {"docs": docs, "exact": exact, "docs_exact": exact / max(1, docs), "fields": ft,
            "field_accuracy": fc / max(1, ft), "nonzero_fields": nz, "nonzero_accuracy": nzc / max(1, nz),
            "fabricated": fab, "review_needed": review, "seconds": round(time.perf_counter() - t0, 1),
            "not_exact": failing}


def fmt(s: dict) -> str:
    return (f"{s['exact']}/{s['docs']} exact ({s['docs_exact']:.0%}), fields {s['field_accuracy']:.2%}, "
            f"non-zero {s['nonzero_accuracy']:.1%}, fabricated {s['fabricated']}")


# ---------------------------------------------------------------------------------------------
# step 2: the simulated reviewer
# ---------------------------------------------------------------------------------------------


def simulate_review(golds: list, work: Path, queue_only: bool) -> dict:
    """Ingest ``golds``' documents into a fresh store, walk the queue, record gold as the review."""
    from nianbao.inference.pipeline import PipelineOptions
    from nianbao.ingest.runner import IngestOptions, ingest
    from nianbao.ingest.store import SQLiteStore, load_record
    from nianbao.review.corrections import history, record_review
    from nianbao.review.queue import QueueFilters, load_accept_policy, review_queue

    db, labels_dir = work / "review.sqlite", work / "labels_reviewed"
    for p in (db, Path(str(db) + "-wal"), Path(str(db) + "-shm")):
        p.unlink(missing_ok=True)
    shutil.rmtree(labels_dir, ignore_errors=True)
    gold_by_path = {str(Path(g.document).resolve()): g for g in golds}
    t0 = time.perf_counter()
    ingest([str(Path(g.document).resolve()) for g in golds], db,
                     IngestOptions(workers=1, pipeline_options=PipelineOptions(mapper="classifier"), progress=False,
                                   cross_year=False))
    ingest_s = time.perf_counter() - t0
    store = SQLiteStore(db)
    policy = load_accept_policy()
    rows = list(store.query("SELECT * FROM documents ORDER BY id"))

    def gold_of(row):
        return gold_by_path.get(str(Path(row["path"]).resolve()))

    # What the model read, before anyone looked: wrong fields and whether the queue flags them.
    before: dict[int, dict] = {}
    for row in rows:
        g = gold_of(row)
        rec = load_record(store, row)
        fields = rec["fields"]
        # As the app marks them: any cell below the threshold, blanks included (review/app.py build_grids).
        flagged = {k for k, f in fields.items() if f.get("reason") != "reviewed" and f.get("confidence") is not None
                   and f["confidence"] < policy.threshold}
        rule_cells = {c for chk in rec["checks"] if not chk["passed"] for c in chk["cells"]}
        look = flagged | (rule_cells & set(fields))
        wrong = {k for k in set(fields) | set(g.values) if not same_value(fields.get(k, {}).get("value"), g.values.get(k))}
        # Keys the gold has but the store lacks: a table the model did not find (the app cannot add it).
        unfixable = {k for k in g.values if k not in fields and g.values[k] is not None}
        tables_ok = all(bool(rec["tables"].get(t, {}).get("found")) == g.found[t] for t in g.found)
        before[row["id"]] = {"gold": g, "record": rec, "look": look, "doubtful": flagged, "rule_cells": rule_cells & set(fields),
                             "wrong": wrong, "unfixable": unfixable, "exact": not wrong and tables_ok,
                             "review_needed": bool(row["review_needed"]), "tables_ok": tables_ok}
    queue = review_queue(store, QueueFilters(status="open"), policy)
    queued = [it.id for it in queue]
    # A document whose extraction failed cannot be approved: it stays as read (counted as not exact).
    order = queued + ([] if queue_only else [r["id"] for r in rows if r["id"] not in set(queued) and r["status"] == "done"])
    n = len(rows)
    exact_now = sum(b["exact"] for b in before.values())
    curve = [{"reviewed": 0, "corrections": 0, "fields_looked_at": 0, "exact": exact_now, "docs_exact": exact_now / max(1, n)}]
    per_doc = []
    corrections = looked = 0
    t1 = time.perf_counter()
    for rank, doc_id in enumerate(order):
        b = before[doc_id]
        g, rec = b["gold"], b["record"]
        values = {k: g.values.get(k) for k in rec["fields"]}
        label = record_review(store, doc_id, values, REVIEWER, labels_dir, tool="benchmarks/bench_review_loop.py")
        edits = [h for h in history(store, doc_id) if h["action"] != "confirm" and not same_value(h["old_value"], h["new_value"])]
        data = json.loads(Path(label).read_text(encoding="utf-8"))
        label_exact = (all(same_value((data["fields"].get(k) or {}).get("value"), v) for k, v in g.values.items())
                       and all(data["tables"][t]["found"] == g.found[t] for t in g.found))
        if not b["exact"] and label_exact:
            exact_now += 1
        corrections += len(edits)
        in_queue = doc_id in set(queued)
        looked += len(b["look"]) if in_queue else len(rec["fields"])  # a spot check reads every cell
        wrong_fixable = b["wrong"] - b["unfixable"]
        missed = wrong_fixable - b["look"]
        blank_missed = {k for k in missed if rec["fields"].get(k, {}).get("value") is None}
        per_doc.append({"id": g.id, "queue_rank": rank + 1 if in_queue else None, "in_queue": in_queue,
                        "exact_before": b["exact"], "exact_after": label_exact, "fields": len(rec["fields"]),
                        "doubtful": len(b["doubtful"]), "rule_cells": len(b["rule_cells"]), "looked_at": len(b["look"]),
                        "wrong": len(b["wrong"]), "corrections": len(edits),
                        "wrong_flagged": len(wrong_fixable & b["look"]),
                        "wrong_confident": len(missed - blank_missed), "wrong_blank_unflagged": len(blank_missed),
                        "wrong_blank_below_threshold": sum(1 for k in blank_missed
                                                           if (rec["fields"][k].get("confidence") or 1) < policy.threshold),
                        "unfixable": len(b["unfixable"]),
                        "tables_ok": b["tables_ok"], "corrected_tables": sorted({h["key"].split(".")[0] for h in edits}),
                        "label": Path(label).name})
        curve.append({"reviewed": rank + 1, "in_queue": in_queue, "corrections": corrections, "fields_looked_at": looked,
                      "exact": exact_now, "docs_exact": exact_now / max(1, n)})
    review_s = time.perf_counter() - t1
    # Documents never reviewed (--queue-only): their wrong fields stay.
    missed_docs = [b for i, b in before.items() if i not in set(order)]
    q = [d for d in per_doc if d["in_queue"]]
    spot = [d for d in per_doc if not d["in_queue"]]
    wrong_total = sum(len(b["wrong"]) for b in before.values())
    wrong_in_queue = sum(d["wrong"] for d in q)
    flagged = sum(d["wrong_flagged"] for d in q)
    store.close()
    return {
        "documents": n, "failed_extraction": sum(r["status"] != "done" for r in rows), "ingest_seconds": round(ingest_s, 1), "review_seconds": round(review_s, 1),
        "accept_threshold": policy.threshold, "accept_policy": policy.describe(),
        "exact_before": sum(b["exact"] for b in before.values()),
        "exact_after": exact_now,
        "queue": {"documents": len(q), "wrong_documents": sum(not d["exact_before"] for d in q),
                  "fields_looked_at": sum(d["looked_at"] for d in q), "printed_fields": sum(d["fields"] for d in q),
                  "corrections": sum(d["corrections"] for d in q), "wrong_fields": wrong_in_queue,
                  "wrong_flagged": flagged, "wrong_confident": sum(d["wrong_confident"] for d in q),
                  "wrong_blank_unflagged": sum(d["wrong_blank_unflagged"] for d in q),
                  "wrong_blank_below_threshold": sum(d["wrong_blank_below_threshold"] for d in q),
                  "doubtful": sum(d["doubtful"] for d in q), "rule_cells": sum(d["rule_cells"] for d in q),
                  "unfixable": sum(d["unfixable"] for d in q)},
        "not_queued": {"documents": len(spot) + len(missed_docs),
                       "wrong_documents": sum(not d["exact_before"] for d in spot) + sum(not b["exact"] for b in missed_docs),
                       "wrong_fields": sum(d["wrong"] for d in spot) + sum(len(b["wrong"]) for b in missed_docs),
                       "reviewed_as_spot_check": len(spot), "corrections": sum(d["corrections"] for d in spot)},
        "wrong_fields_total": wrong_total,
        "corrections_total": corrections,
        "corrections_per_document": corrections / max(1, len(order)),
        "corrections_per_wrong_document": corrections / max(1, sum(not d["exact_before"] for d in per_doc)),
        "labels_dir": str(labels_dir), "labels": len(list(labels_dir.glob("*.json"))) if labels_dir.exists() else 0,
        "curve": curve, "per_document": per_doc,
    }


def corrections_to_reach(curve: list[dict], target: float) -> Optional[dict]:
    """The first point of the walk where the review set's exact share reaches ``target``."""
    for p in curve:
        if p["docs_exact"] + 1e-9 >= target:
            return p
    return None


# ---------------------------------------------------------------------------------------------
# step 3: one retraining round
# ---------------------------------------------------------------------------------------------

def outside_share(golds: list, pipes: dict, reviewed: bool = False) -> dict:
    """Of the Chinese characters inside tables that retrain tags from a matching reading, the share
    tagged O (not a label): label characters a reading skipped (damaged, truncated) are taught as O.
    ``reviewed``: tagged as retrain tags reviewed documents (text between rows no label covers masked)."""
    from nianbao.training.retrain import corrected_tags

    out: dict[str, list[int]] = {}
    for g in golds:
        readings = {name: p.run(Path(g.document)) for name, p in pipes.items()}
        tags, sources = corrected_tags(g, readings, reviewed=reviewed)
        for t in ("proactive", "requests"):
            src = sources.get(t)
            if tags is None or src not in readings or t not in readings[src].located:  # aligned: no reading's region
                continue
            r, norm = readings[src].located[t].region, readings[src].linear.norm
            cjk = [i for i in range(r.start, r.end) if "\u4e00" <= norm[i] <= "\u9fff"]
            c = out.setdefault(t, [0, 0])
            c[0] += len(cjk)
            c[1] += sum(tags[i] == "O" for i in cjk)
    return {t: {"characters": n, "outside": o, "share": round(o / n, 4) if n else None} for t, (n, o) in out.items()}


def label_usability(labels_dir: Path, corrected_tables: dict[str, list[str]], known: list) -> dict:
    """What ``nianbao retrain`` can learn from the reviewed labels: a table's tags come from a reading
    (the schema's labels, or the installed classifier) whose values equal the corrected ones, or from
    the corrected values lined up with the printed numbers (value alignment); other tables are masked.
    Counted here with retrain's own tagging function, per printed table."""
    try:
        from nianbao.training.retrain import corrected_tags, make_pipeline
    except ImportError as e:  # retrain not there yet
        return {"available": False, "why": str(e)}
    from nianbao.document import TABLE_NAMES
    from nianbao.inference.classifier import DEFAULT_MODEL_DIR
    from nianbao.labels import gold_files, load_labelled

    pipes = {"baseline": make_pipeline(None), "classifier": make_pipeline(DEFAULT_MODEL_DIR)}
    out = {"available": True, "documents": 0, "documents_with_no_usable_table": 0, "tables": 0, "tables_usable": 0,
           "tables_corrected": 0, "tables_corrected_usable": 0, "usable_from": Counter()}
    for path in gold_files(labels_dir):
        g = load_labelled(path)
        corrected = set(corrected_tables.get(path.name, ()))
        readings = {name: p.run(Path(g.document)) for name, p in pipes.items()}
        _, sources = corrected_tags(g, readings, reviewed=True)
        out["documents"] += 1
        usable_here = 0
        for t in TABLE_NAMES:
            if not g.found.get(t):
                continue
            source = sources.get(t)
            out["tables"] += 1
            out["tables_usable"] += source is not None
            usable_here += source is not None
            if source:
                out["usable_from"][source] += 1
            if t in corrected:
                out["tables_corrected"] += 1
                out["tables_corrected_usable"] += source is not None
        out["documents_with_no_usable_table"] += usable_here == 0
    out["usable_from"] = dict(out["usable_from"])
    out["outside_share"] = {"reviewed": outside_share([load_labelled(p) for p in gold_files(labels_dir)], pipes, reviewed=True),
                            "known": outside_share(known, pipes)}
    return out


def retrain_round(labels_dir: Path, work: Path, args, registry_name: str = "registry") -> dict:
    """``nianbao retrain`` on a temporary copy of the registry (``registry.root``), with the reviewed
    labels as ``data.reviewed_dir``; the project's ``models/`` is only read. Returns the round's
    decision and figures, and ``model_dir``: the new model (installed in the copy, or the candidate)."""
    from nianbao.inference.classifier import DEFAULT_MODEL_DIR

    models = DEFAULT_MODEL_DIR.parent
    reg = work / registry_name
    shutil.rmtree(reg, ignore_errors=True)
    reg.mkdir(parents=True)
    shutil.copytree(DEFAULT_MODEL_DIR, reg / DEFAULT_MODEL_DIR.name)
    if (models / "registry.json").exists():
        shutil.copy2(models / "registry.json", reg / "registry.json")
    if (models / "cards").is_dir():
        shutil.copytree(models / "cards", reg / "cards")
    if not (reg / DEFAULT_MODEL_DIR.name / "torch" / "config.json").exists():
        return {"ran": False, "why": f"no torch weights in {DEFAULT_MODEL_DIR}/torch: retrain fine-tunes them"}
    sets = [f"registry.root={reg}", f"data.reviewed_dir={labels_dir}"]
    if args.factory_dir:
        sets.append(f"data.factory_dir={args.factory_dir}")
    sets += args.retrain_set
    cmd = [sys.executable, "-m", "nianbao.cli", "retrain"] + [x for kv in sets for x in ("--set", kv)]
    log(f"\n$ nianbao retrain {' '.join('--set ' + kv for kv in sets)}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    (work / "retrain.log").write_text(proc.stdout + "\n" + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"ran": False, "why": f"nianbao retrain exited {proc.returncode}: " + " | ".join(tail), "seconds": round(seconds, 1)}
    reports = sorted((reg / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime)
    report = json.loads(reports[-1].read_text(encoding="utf-8"))
    version, promoted = report["version"], bool(report["promoted"])
    model_dir = reg / DEFAULT_MODEL_DIR.name if promoted else reg / "candidates" / version
    data = report.get("data", {})
    return {"ran": True, "seconds": round(seconds, 1), "stage_seconds": report.get("seconds"), "version": version,
            "parent": report.get("parent"), "promoted": promoted, "reason": report.get("reason"), "rule": report.get("rule"),
            "overrides": sets[2:], "held_out": report.get("held_out"),
            "data": {k: data.get(k) for k in ("groups", "tables", "tables_tagged_from", "tables_not_usable",
                                                "train_sequences", "not_used")},
            "model_dir": str(model_dir)}


# ---------------------------------------------------------------------------------------------

def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=9200, help="base of the fresh factory seeds (held out by construction)")
    ap.add_argument("--known-n", type=int, default=30, help="documents per known layout (factory text, HTML)")
    ap.add_argument("--candidate-n", type=int, default=30, help="documents per candidate layout")
    ap.add_argument("--scan-n", type=int, default=3, help="scanned documents (OCR: seconds per page)")
    ap.add_argument("--candidates", default="pdf,noisy,agency,force:text.displaced_label=after_numbers,force:text.style=run_together",
                    help="candidate new layouts, comma-separated: pdf, scan, noisy (damaged row labels), ocr (10%% of every "
                         "Chinese character OCR-damaged), agency (an agency family's own wording of Table B, some zero "
                         "rows not printed), force:TRAIT=VALUE[+TRAIT=VALUE] (text)")
    ap.add_argument("--new-layout", help="use this layout as the new one instead of the furthest below its known layout")
    ap.add_argument("--min-gap", type=float, default=0.15, help="how far below its known layout a new layout must be")
    ap.add_argument("--review-n", type=int, default=25, help="documents of the new layout given to the reviewer")
    ap.add_argument("--eval-n", type=int, default=40, help="documents of the new layout to score old vs new model (never reviewed)")
    ap.add_argument("--queue-only", action="store_true", help="review only the queue (not the documents it does not hold)")
    ap.add_argument("--no-retrain", action="store_true", help="steps 1-2 only")
    ap.add_argument("--no-control", action="store_true",
                    help="skip the control round (the same retraining without the reviewed labels)")
    ap.add_argument("--retrain-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a key of the retrain config (repeatable)")
    ap.add_argument("--factory-dir", type=Path, help="factory data for retraining (default: the retrain config's)")
    ap.add_argument("--workdir", type=Path, help="keep generated sets, store, labels and registry here")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--json", action="store_true",
                    help="end with one JSON line: installed_exact, retrained_exact, control_exact (shares of the unseen "
                         "documents of the new layout read exactly) and promoted (the registry promoted the retrained model)")
    args = ap.parse_args(argv)

    from nianbao.inference.classifier import DEFAULT_MODEL_DIR, model_available, model_version

    if not model_available():
        print("no trained model in models/token_classifier", file=sys.stderr)
        return 1
    t_start = time.perf_counter()
    tmp = None
    if args.workdir:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="review_loop_")
        work = Path(tmp.name)
    result: dict = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
                    "installed_model": model_version(str(DEFAULT_MODEL_DIR)), "seed": args.seed, "sizes": {
                        "known": args.known_n, "candidate": args.candidate_n, "scan": args.scan_n,
                        "review": args.review_n, "eval": args.eval_n}}
    log(f"command: python benchmarks/{result['command']}")
    log(f"installed model: {result['installed_model']}; work folder {work}")

    # -- 1. candidates vs known layouts, with the installed model -------------------------------
    old = pipeline_with_model()
    sets: dict[str, list] = {}
    known = by_kind(synth(work / "known", args.known_n, "text,html", args.seed + 1))
    for k in ("text", "html"):
        sets[k] = known.get(k, [])
    candidates = [c.strip() for c in args.candidates.split(",") if c.strip()]
    if args.scan_n > 0 and "scan" not in candidates:
        candidates.append("scan")
    for i, c in enumerate(candidates):
        n = args.scan_n if c == "scan" else args.candidate_n
        sets[c] = make_layout(c, n, args.seed + 10 + i, work / "candidates")
    log("\n## 1. Layouts, installed model (classifier mapper), fresh factory seeds\n")
    log("| set | docs | exact | field acc. | non-zero acc. | fabricated | under review |")
    log("|---|---:|---:|---:|---:|---:|---:|")
    scores = {}
    for name, golds in sets.items():
        s = score_set(old, golds)
        scores[name] = s
        tag = "known" if name in ("text", "html") else "candidate"
        log(f"| {name} ({tag}) | {s['docs']} | {s['docs_exact']:.0%} | {s['field_accuracy']:.2%} | "
            f"{s['nonzero_accuracy']:.1%} | {s['fabricated']} | {s['review_needed']} |")
    result["layouts"] = {k: {kk: vv for kk, vv in v.items() if kk != "not_exact"} for k, v in scores.items()}

    gaps = {c: scores[REFERENCE[rendering(c)]]["docs_exact"] - scores[c]["docs_exact"] for c in candidates}
    eligible = {c: g for c, g in gaps.items() if c != "scan" and scores[c]["docs"] >= 5}
    if args.new_layout:
        new = args.new_layout
        why = f"chosen on the command line (--new-layout {new})"
    else:
        new = max(eligible, key=eligible.get) if eligible else None
        if new is None or eligible[new] < args.min_gap:
            log(f"\nno candidate is {args.min_gap:.0%} below its known layout: nothing to learn; stopping")
            result["new_layout"] = None
            _write(result, args.out)
            if args.json:
                print(json.dumps(summary_line(result), ensure_ascii=False), flush=True)
            return 0
        ref = REFERENCE[rendering(new)]
        why = (f"furthest below its known layout: {scores[new]['docs_exact']:.0%} exact vs {scores[ref]['docs_exact']:.0%} "
               f"on factory {ref} (gap {eligible[new]:.0%}; others: "
               + ", ".join(f"{c} {g:+.0%}" for c, g in sorted(gaps.items(), key=lambda x: -x[1]) if c != new)
               + "; scans are measured for context only: their misses are OCR misreadings a label model cannot fix)")
    ref = REFERENCE[rendering(new)]
    target = scores[ref]["docs_exact"]
    log(f"\nnew layout: {new} — {why}")
    result["new_layout"] = {"name": new, "why": why, "reference": ref, "target_docs_exact": target}

    # -- 2. the simulated reviewer ------------------------------------------------------------
    review_set = make_layout(new, args.review_n, args.seed + 100, work / "review_set")
    eval_set = make_layout(new, args.eval_n, args.seed + 200, work / "eval_set")
    log(f"\n## 2. Simulated reviewer: {len(review_set)} documents of {new} ingested, queue walked in order\n")
    rv = simulate_review(review_set, work / "review", args.queue_only)
    q, nq = rv["queue"], rv["not_queued"]
    log(f"accept threshold {rv['accept_threshold']}: {rv['accept_policy']}")
    log(f"review set: {rv['exact_before']}/{rv['documents']} exact as read; {q['documents']} in the queue "
        f"({q['wrong_documents']} of them not exact), {nq['documents']} not queued ({nq['wrong_documents']} of them not exact)")
    log(f"queue: {q['fields_looked_at']} cells asked about of {q['printed_fields']} "
        f"({q['fields_looked_at'] / max(1, q['documents']):.0f} per document: {q['doubtful']} below the threshold, "
        f"{q['rule_cells']} cells of failing rules); {q['corrections']} corrections")
    log(f"wrong fields in the queue {q['wrong_fields']}: {q['wrong_flagged']} flagged (doubtful or a failing rule's cell), "
        f"{q['wrong_blank_unflagged']} read as blank (a row label not found) and not flagged — "
        f"{q['wrong_blank_below_threshold']} of them below the threshold — "
        f"{q['wrong_confident']} wrong values above the threshold, {q['unfixable']} in tables the model did not find")
    if nq["reviewed_as_spot_check"]:
        log(f"spot check of the {nq['reviewed_as_spot_check']} documents not queued: {nq['corrections']} corrections "
            f"(missed by the queue: {nq['wrong_fields']} wrong fields in {nq['wrong_documents']} documents)")
    log(f"corrections: {rv['corrections_total']} in all, {rv['corrections_per_document']:.1f} per reviewed document, "
        f"{rv['corrections_per_wrong_document']:.1f} per document that was not exact; after review "
        f"{rv['exact_after']}/{rv['documents']} exact ({rv['labels']} labels written)")
    hit = corrections_to_reach(rv["curve"], target)
    if hit:
        log(f"the review set reaches the known layout's exactness ({target:.0%}) after {hit['reviewed']} documents "
            f"reviewed, {hit['corrections']} corrections, {hit['fields_looked_at']} fields looked at")
    else:
        log(f"the review set never reaches the known layout's exactness ({target:.0%}) by review alone")
    rv["reach_known"] = hit
    result["review"] = rv
    # The same queue on the known layout, for scale (its queued documents reviewed the same way).
    kv = simulate_review(sets[ref], work / "review_known", queue_only=True)
    kq = kv["queue"]
    log(f"for comparison, factory {ref} (known): {kv['exact_before']}/{kv['documents']} exact as read, {kq['documents']} "
        f"queued, {kq['fields_looked_at'] / max(1, kq['documents']):.0f} cells asked about per queued document, "
        f"{kq['corrections']} corrections ({kq['wrong_flagged']} flagged, {kq['wrong_blank_unflagged']} blank not flagged, "
        f"{kq['wrong_confident']} confident); {kv['not_queued']['wrong_fields']} wrong fields in "
        f"{kv['not_queued']['wrong_documents']} documents not queued")
    result["review_known_layout"] = {k: v for k, v in kv.items() if k not in ("curve", "per_document", "labels_dir")}

    use = label_usability(Path(rv["labels_dir"]), {d["label"]: d["corrected_tables"] for d in rv["per_document"]},
                          sets[ref])
    result["label_usability"] = use
    if use.get("available"):
        log(f"what retraining can learn from the {use['documents']} labels: {use['tables_usable']} of {use['tables']} printed "
            f"tables have a reading equal to the corrected values (tags from {use['usable_from']}); of the "
            f"{use['tables_corrected']} tables the reviewer corrected, {use['tables_corrected_usable']} (the others are "
            f"masked: no reading equals the corrections); {use['documents_with_no_usable_table']} documents have no usable table")
        sh = use["outside_share"]
        log("in the tables it can use, Chinese characters tagged O (not a label): " + "; ".join(
            f"{t} {sh['reviewed'][t]['share']:.1%} in the reviewed documents vs {sh['known'][t]['share']:.1%} on factory {ref}"
            for t in sh["reviewed"] if t in sh["known"] and sh["reviewed"][t]["share"] is not None))

    # -- 3. one retraining round ----------------------------------------------------------------
    models: dict[str, object] = {"installed": old}
    rounds: dict[str, dict] = {}
    if not args.no_retrain:
        runs = [("retrained", Path(rv["labels_dir"]))]
        if not args.no_control:
            empty = work / "no_reviewed_labels"
            empty.mkdir(exist_ok=True)
            runs.append(("control", empty))  # the same round without the reviewed labels
        for name, labels in runs:
            rt = retrain_round(labels, work, args, registry_name=f"registry_{name}")
            rounds[name] = {k: v for k, v in rt.items() if k != "model_dir"}
            if not rt["ran"]:
                log(f"\nretrain ({name}) did not run: {rt['why']}")
                continue
            models[name] = pipeline_with_model(Path(rt["model_dir"]))
            log(f"{name}: {rt['seconds']:.0f} s ({rt['stage_seconds']}); candidate {rt['version']} of {rt['parent']}; "
                f"promoted by the registry: {rt['promoted']} ({rt['reason']})")
            d = rt["data"]
            if d.get("groups"):
                log("  training data: " + "; ".join(f"{g}: {v['used']}/{v['documents']} documents used, {v['sequences']} windows"
                                                    for g, v in d["groups"].items())
                    + f"; printed tables masked (no reading equals the labels): {(d.get('tables_not_usable') or {}).get('count')}")
            ho = rt.get("held_out") or {}
            if ho.get("old"):
                log("  retrain's own held-out sets, exact documents installed -> new: " + ", ".join(
                    f"{g} {ho['old'][g]['exact']} -> {ho['new'][g]['exact']} of {ho['old'][g]['documents']}" for g in ho["old"]))
    result["retrain"] = rounds
    title = "Before / after one retraining round" if len(models) > 1 else "Installed model (no retraining)"
    log(f"\n## 3. {title}: exact documents / non-zero field accuracy / fabricated values\n")
    log("| set | docs | " + " | ".join(models) + " |")
    log("|---|---:|" + "---|" * len(models))
    compare = {}
    for name, golds in ((f"{new} (eval, never reviewed)", eval_set), ("text (known)", sets["text"]),
                        ("html (known)", sets["html"])):
        row = {m: score_set(p, golds) for m, p in models.items()}
        for m, sc in row.items():
            if m != "installed":
                before_bad, after_bad = set(row["installed"]["not_exact"]), set(sc["not_exact"])
                sc["gained"], sc["lost"] = len(before_bad - after_bad), len(after_bad - before_bad)
        compare[name] = row
        log(f"| {name} | {len(golds)} | " + " | ".join(
            f"{sc['docs_exact']:.0%} / {sc['nonzero_accuracy']:.1%} / {sc['fabricated']}"
            + (f" (+{sc['gained']} −{sc['lost']} docs)" if "gained" in sc else "") for sc in row.values()) + " |")
    result["before_after"] = compare
    ev = compare[f"{new} (eval, never reviewed)"]
    verdict = {}
    for m in models:
        if m != "installed":
            verdict[m] = {"eval_docs_exact": ev[m]["docs_exact"], "reaches_known": ev[m]["docs_exact"] + 1e-9 >= target,
                          "promoted": rounds[m].get("promoted")}
    result["verdict"] = {"target_docs_exact": target, "installed_eval_docs_exact": ev["installed"]["docs_exact"], **verdict}
    for m, v in verdict.items():
        log(f"{m}: {v['eval_docs_exact']:.0%} exact on the new layout (installed {ev['installed']['docs_exact']:.0%}, "
            f"known layout {target:.0%}): {'reaches' if v['reaches_known'] else 'does not reach'} the known layout's exactness; "
            f"promoted: {v['promoted']}")
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    log(f"\ntotal {result['seconds'] / 60:.1f} min")
    result["summary"] = summary_line(result)
    _write(result, args.out)
    if tmp is not None:
        tmp.cleanup()
    if args.json:
        print(json.dumps(result["summary"], ensure_ascii=False), flush=True)
    return 0


def summary_line(result: dict) -> dict:
    """The benchmark in one object: exactness of the unseen documents of the new layout under the
    installed, retrained and control models (None where a model was not made) and the registry's decision."""
    layout = result.get("new_layout") or {}
    ev = next((v for k, v in (result.get("before_after") or {}).items() if k.endswith("(eval, never reviewed)")), {})

    def exact(model: str):
        return round(ev[model]["docs_exact"], 4) if model in ev else None

    rounds = result.get("retrain") or {}
    return {"new_layout": layout.get("name"), "eval_documents": (ev.get("installed") or {}).get("docs"),
            "installed_exact": exact("installed"), "retrained_exact": exact("retrained"),
            "control_exact": exact("control"), "promoted": bool((rounds.get("retrained") or {}).get("promoted")),
            "control_promoted": bool((rounds.get("control") or {}).get("promoted")),
            "seconds": result.get("seconds")}


def _write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
