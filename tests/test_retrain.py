"""Retraining: one round on a tiny config promotes a better model and refuses a worse one; the registry
keeps versions, the installed model and cards consistent; a corrected document is tagged table by table.

Everything is written under tmp dirs: the project's models/ is only read."""
import dataclasses
import json
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from nianbao.cli import main  # noqa: E402
from nianbao.evaluate import DocScore  # noqa: E402
from nianbao.inference.classifier import model_version  # noqa: E402
from nianbao.inference.output import to_record  # noqa: E402
from nianbao.labels import gold_dir, load_labelled  # noqa: E402
from nianbao.training import train as T  # noqa: E402
from nianbao.training.config import load_config  # noqa: E402
from nianbao.training.registry import ModelRegistry, set_model_version, sha256_file  # noqa: E402
from nianbao.training.retrain import (ROWS, UNUSABLE, Item, collect, corrected_tags, decide, load_weights,  # noqa: E402
                                      make_pipeline, retrain, tag_item)
from nianbao.training.tagging import document_tags, tag_document_windows, tag_names  # noqa: E402

REPO = gold_dir().parents[1]
RETRAIN_CFG = REPO / "training" / "configs" / "retrain.cfg"
TRAIN_CFG = REPO / "training" / "configs" / "token_classifier.cfg"
# A tiny LayoutLM for the installed model of the tests (the retrain keeps its architecture and vocabulary).
TINY = ["model.hidden_size=64", "model.num_hidden_layers=1", "model.num_attention_heads=2",
        "model.intermediate_size=128", "model.use_ocr_alphabet=false", "pretrain.steps=0", "train.lr=3e-3",
        "train.warmup=2", "train.eval_every=1000", "train.batch_size=8", "export.quantize=false",
        "data.window=128", "data.stride=96", "train.validation=0"]


@pytest.fixture(scope="module")
def factory(tmp_path_factory) -> Path:
    from nianbao.training.factory.dataset import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("factory")
    synthesize(SynthConfig(n=24, out=out, seed=5, kinds=("text",)), progress=False)
    return out


def _round_overrides(models: Path, factory: Path, reviewed: Path) -> list[str]:
    return [f"registry.root={models}", f"data.factory_dir={factory}", f"data.reviewed_dir={reviewed}",
            "data.factory_kinds=text", "data.gold_holdout=real_014", "data.gold_train=false",
            "data.noisy_held_out=10", "export.quantize=false"]


def _install_weak_model(models: Path, factory: Path, reviewed: Path) -> None:
    """token_classifier@1: the tiny LayoutLM after 5 steps (it tags nothing: it reads as the baseline)."""
    cfg = load_config(RETRAIN_CFG, _round_overrides(models, factory, reviewed))
    train_items, _, _ = collect(cfg, models.parent / "work")
    baseline = make_pipeline(None)
    seqs = [s for i in train_items for s in tag_document_windows(baseline.run(i.path), i.id, size=128, stride=96)]
    installed = models / "token_classifier"
    tcfg = load_config(TRAIN_CFG, TINY + ["train.max_steps=5", f"export.out_dir={installed}"])
    T.train(tcfg, out_dir=installed, dataset=T.Dataset(train=seqs, validation=[], report={}))
    set_model_version(installed, "token_classifier@1")
    reg = ModelRegistry(models)
    card = reg.write_card("token_classifier@1", "# token_classifier@1\n\nA weak tiny model.\n")
    reg.record({"version": "token_classifier@1", "created": "2026-01-01", "parent": None, "promoted": True,
                "reason": "first", "card": reg.rel(card), "files": reg.rel(installed)})
    data = reg.load()
    data["current"] = "token_classifier@1"
    reg.save(data)


def _write_reviewed(reviewed: Path, tmp: Path, models: Path) -> int:
    """Reviewed labels as the review app writes them: damaged-label copies of new factory reports that
    the installed model misread, with the reviewer's (true) values."""
    from nianbao.review.labels import Provenance, write_label
    from nianbao.training.factory.dataset import SynthConfig, synthesize
    from nianbao.training.noisy_docs import noisy_text

    src = tmp / "reviewed_src"
    synthesize(SynthConfig(n=4, out=src, seed=77, kinds=("text",)), progress=False)
    reader = make_pipeline(models / "token_classifier")
    n = 0
    for k, path in enumerate(sorted(src.glob("docs/text/*.json"))):
        gold = load_labelled(path)
        if not any(gold.found.values()):
            continue
        doc_path = tmp / "inbox" / f"report_{k}.txt"
        doc_path.parent.mkdir(exist_ok=True)
        doc_path.write_text(noisy_text(Path(gold.document), random.Random(k)), encoding="utf-8")
        record = to_record(reader.run(doc_path))
        write_label(record, gold.values, gold.found, Provenance(reviewer="test", approved_at="2026-01-01",
                                                                 model_version="token_classifier@1"),
                    reviewed, sha256_file(doc_path))
        n += 1
    return n


def test_retrain_round_promotes_a_better_model_and_refuses_a_worse_one(tmp_path, factory, capsys):
    models, reviewed = tmp_path / "models", tmp_path / "reviewed"
    _install_weak_model(models, factory, reviewed)
    n_reviewed = _write_reviewed(reviewed, tmp_path, models)
    assert n_reviewed >= 2
    reg = ModelRegistry(models)
    installed = models / "token_classifier"
    base = _round_overrides(models, factory, reviewed)

    # Round 1: 200 steps on the same kind of data: better on the held-out documents, so promoted.
    better = retrain(load_config(RETRAIN_CFG, base + ["train.max_steps=200", "train.lr=3e-3", "train.batch_size=8",
                                                      "train.warmup=10", "train.eval_every=100"]))
    old, new = better.report["held_out"]["old"], better.report["held_out"]["new"]
    with capsys.disabled():  # the figures, for the log of a test run
        print("\nround 1:", better.reason, better.report["seconds"], better.report["data"]["groups"],
              better.report["data"]["tables"])
    assert better.version == "token_classifier@2" and better.parent == "token_classifier@1"
    assert better.promoted, better.reason
    assert better.reason.startswith("better")
    # It reads more fields right, and loses nothing on the labelled real document. (On the damaged-label
    # copies structure placement already reads most rows without the classifier, so a tiny model's
    # non-zero fields there move by a field or two either way between runs: not asserted.)
    assert new["all"]["fields_correct"] > old["all"]["fields_correct"]
    assert new["gold"]["exact"] == old["gold"]["exact"] == 1
    assert new["all"]["fabricated"] <= old["all"]["fabricated"]
    # Reviewed documents were read: some held out by content hash, the rest offered for training.
    data = better.report["data"]
    held_reviewed = better.report["held_out"]["documents"]["reviewed"]
    assert data["groups"]["reviewed"]["documents"] + len(held_reviewed) == n_reviewed
    assert data["groups"]["factory"]["used"] > 10
    # Promotion: the candidate is installed with its version, the old model archived, caches cleared.
    assert reg.current == "token_classifier@2"
    assert json.loads((installed / "labels.json").read_text(encoding="utf-8"))["model_version"] == "token_classifier@2"
    assert model_version(str(installed)) == "token_classifier@2"
    assert (models / "archive" / "token_classifier@1" / "model.onnx").exists()
    assert not (models / "candidates" / "token_classifier@2").exists()
    assert (installed / "torch" / "model.safetensors").exists() and (installed / "MODEL_CARD.md").exists()
    assert sha256_file(installed / "model.onnx") == reg.entry("token_classifier@2")["onnx_sha256"]
    card = (models / reg.entry("token_classifier@2")["card"]).read_text(encoding="utf-8")
    assert "Promoted" in card and "token_classifier@1" in card and "real_014" in card
    assert (installed / "MODEL_CARD.md").read_text(encoding="utf-8") == card
    assert reg.entry("token_classifier@1")["files"] == "archive/token_classifier@1"
    assert reg.entry("token_classifier@1")["replaced_by"] == "token_classifier@2"

    # Round 2: a reset (fresh weights, no steps) evaluated against the promoted model: worse, refused.
    worse = retrain(load_config(RETRAIN_CFG, base + ["train.max_steps=0", "train.from_scratch=true"]))
    old, new = worse.report["held_out"]["old"], worse.report["held_out"]["new"]
    with capsys.disabled():
        print("round 2:", worse.reason, worse.report["seconds"])
    assert worse.version == "token_classifier@3" and worse.parent == "token_classifier@2"
    assert not worse.promoted and worse.reason.startswith("worse"), worse.reason
    assert new["all"]["fields_correct"] < old["all"]["fields_correct"]
    assert reg.current == "token_classifier@2" and model_version(str(installed)) == "token_classifier@2"
    assert (models / "candidates" / "token_classifier@3" / "model.onnx").exists()
    assert reg.entry("token_classifier@3")["promoted"] is False
    assert "Not promoted" in (models / "cards" / "token_classifier@3.md").read_text(encoding="utf-8")
    assert [e["version"] for e in reg.versions()] == [f"token_classifier@{i}" for i in (1, 2, 3)]
    assert reg.check() == []
    assert json.loads(worse.report_path.read_text(encoding="utf-8"))["per_document"]

    # The command: a dry run prints old vs new and the decision and records nothing.
    before = reg.path.read_bytes()
    args = ["retrain", "--config", str(RETRAIN_CFG), "--dry-run", "--set", "train.max_steps=0"]
    assert main(args + [x for o in base for x in ("--set", o)]) == 0
    out = capsys.readouterr().out
    assert "token_classifier@4 (parent token_classifier@2)" in out and "noisy" in out and "reason:" in out
    assert reg.path.read_bytes() == before
    assert (models / "reports" / "token_classifier@4.dry-run.json").exists()
    assert not (models / "cards" / "token_classifier@4.md").exists()


def _score(doc_id: str, exact: bool, nonzero: int, fields: int, fabricated: int = 0) -> DocScore:
    return DocScore(id=doc_id, source=None, error=None, exact=exact, fields_total=10, fields_correct=fields,
                    nonzero_total=5, nonzero_correct=nonzero, fabricated=fabricated, missed=0, tables_correct=3,
                    agency_ok=True, year_ok=True, template_ok=True, review_needed=False)


def test_decision_rule():
    gold = load_labelled(gold_dir() / "real_014.json")
    held = [Item("g", "gold", gold, Path("g"), "0"), Item("f", "factory", gold, Path("f"), "1")]
    old = {"g": _score("g", True, 5, 10), "f": _score("f", False, 3, 8)}
    # A tie keeps the installed model; one more exact document promotes.
    assert decide(held, old, dict(old), ["gold"])[0] is False
    assert decide(held, old, {**old, "f": _score("f", True, 5, 10)}, ["gold"])[0] is True
    # Same exact count: more correct non-zero fields decide, then all fields.
    assert decide(held, old, {**old, "f": _score("f", False, 4, 8)}, ["gold"])[0] is True
    assert decide(held, old, {**old, "f": _score("f", False, 3, 9)}, ["gold"])[0] is True
    assert decide(held, old, {**old, "f": _score("f", False, 2, 10)}, ["gold"])[0] is False
    # Never more fabricated values, whatever else improves.
    ok, why = decide(held, old, {**old, "f": _score("f", True, 5, 10, fabricated=1)}, ["gold"])
    assert not ok and "fabricated" in why
    # A protected document read exactly before must stay exact, even when the total improves.
    new = {"g": _score("g", False, 5, 9), "f": _score("f", True, 5, 10)}
    ok, why = decide(held, old, new, ["gold"])
    assert not ok and "g" in why
    assert decide(held, old, new, [])[0] is True
    assert decide([], {}, {}, ["gold"])[0] is False


def test_corrected_document_is_tagged_table_by_table():
    """real_005 (a bundled real report): tables whose corrected values a reading gives are tagged from it;
    a table no reading gets right is masked; a document with nothing usable is skipped."""
    gold = load_labelled(gold_dir() / "real_005.json")
    path = Path(gold.document)
    readings = {"baseline": make_pipeline(None).run(path), "classifier": make_pipeline(REPO / "models" / "token_classifier").run(path)}
    base = readings["baseline"]
    assert base.found == {"proactive": True, "requests": True, "appeals": True}

    # The labels as read: every table from the baseline's reading, the same tags as before (a row label
    # running on to its numbers: its printed tail is the row's too).
    tags, sources = corrected_tags(gold, readings)
    assert sources == {"proactive": "baseline", "requests": "baseline", "appeals": "baseline"}
    read = document_tags(base)
    extended = [i for i in range(len(tags)) if tags[i] != read[i]]
    assert all(read[i] == "O" and tags[i].startswith("I-requests.") and tags[i - 1][2:] == tags[i][2:] for i in extended)
    assert 0 < len(extended) < 60

    # A reviewer corrected a value of Table B that no reading gives: Table B is taught row by row (the
    # rows whose printed numbers are the reviewed ones), the corrected row and the rest masked; Table A kept.
    values = dict(gold.values)
    values["requests.new.natural"] = (values["requests.new.natural"] or 0) + 1
    corrected = dataclasses.replace(gold, values=values)
    tags, sources = corrected_tags(corrected, readings)
    assert sources["requests"] == ROWS and sources["proactive"] == "baseline" and sources["appeals"] == "baseline"
    full = document_tags(base)
    r = base.located["requests"].region
    assert T.IGNORE in tags[r.start:r.end] and "O" not in tags[r.start:r.end]
    assert not any(t.endswith("requests.new") for t in tags)  # its printed numbers are not the reviewed ones
    taught = {i for i in range(len(tags)) if tags[i].startswith("B-requests.")}
    assert len(taught) >= 10 and all(tags[i] == full[i] for i in taught)  # where the reading put them
    a = base.located["proactive"].region
    assert tags[a.start:a.end] == full[a.start:a.end]
    assert any(t.startswith("B-proactive.") for t in tags)
    # Without row labels (nor alignment), the table is masked.
    tags, sources = corrected_tags(corrected, readings, align=False, rows=False)
    assert sources["requests"] is None and not any(t.startswith(("B-requests.", "I-requests.")) for t in tags)
    known = set(tag_names())
    item = Item(corrected.id, "reviewed", corrected, path, "x")
    tagged = tag_item(item, {"baseline": make_pipeline(None)}, 128, 96, known)
    assert tagged.used and tagged.sources["requests"] == ROWS
    assert tagged.seqs and all(any(t != T.IGNORE for t in s.tags) for s in tagged.seqs)
    assert any(t.startswith("B-proactive.") for s in tagged.seqs for t in s.tags)

    # A document labelled with a table that no reading even locates: nothing outside is trusted.
    none = load_labelled(gold_dir() / "001_920a4b5d549ad15c.json")  # prints no statutory table
    claimed = dataclasses.replace(none, found={**none.found, "proactive": True}, values={"proactive.rules.issued": 3})
    item = Item(claimed.id, "reviewed", claimed, Path(none.document), "y")
    tagged = tag_item(item, {"baseline": make_pipeline(None)}, 128, 96, known)
    assert not tagged.used and tagged.reason == UNUSABLE and tagged.sources["proactive"] is None
    # The same document as labelled (no tables) teaches its prose holds no row.
    tagged = tag_item(Item(none.id, "gold", none, Path(none.document), "z"), {"baseline": make_pipeline(None)}, 128, 96, known)
    assert tagged.used and all(t == "O" for s in tagged.seqs for t in s.tags)


def test_project_registry_is_consistent_and_its_weights_fine_tune():
    """models/registry.json names the installed model; its card exists; the committed fp16 weights load
    (as fp32) with the installed vocabulary and label map, so a fresh clone can retrain."""
    reg = ModelRegistry()
    assert reg.check() == []
    current = reg.entry(reg.current)
    assert current["onnx_sha256"] == sha256_file(reg.installed_dir / "model.onnx")
    meta = json.loads((reg.installed_dir / "labels.json").read_text(encoding="utf-8"))
    model = load_weights(reg.installed_dir / "torch")
    assert next(model.parameters()).dtype == torch.float32
    assert model.config.vocab_size == len(meta["vocab"]) and model.config.num_labels == len(meta["labels"])
    assert list(meta["labels"]) == list(tag_names())


def test_registry_versions_and_a_failed_promotion(tmp_path):
    reg = ModelRegistry(tmp_path)
    (tmp_path / "token_classifier").mkdir()
    (tmp_path / "token_classifier" / "labels.json").write_text(json.dumps({"model_version": "token_classifier@4"}))
    # No registry.json yet: the installed model is its first entry, and numbering goes on from it.
    assert reg.current == "token_classifier@4" and reg.next_version() == "token_classifier@5"
    reg.record({"version": "token_classifier@7", "promoted": False})
    reg.record({"version": "token_classifier@7", "promoted": False, "reason": "again"})
    assert [e["version"] for e in reg.versions()] == ["token_classifier@4", "token_classifier@7"]
    assert reg.entry("token_classifier@7")["reason"] == "again" and reg.next_version() == "token_classifier@8"
    assert any("card" in p for p in reg.check())
    # A candidate without its graph is not installed, and the installed model stays in place.
    reg.candidate_dir("token_classifier@7").mkdir(parents=True)
    with pytest.raises(FileNotFoundError):
        reg.promote("token_classifier@7")
    assert reg.current == "token_classifier@4" and (tmp_path / "token_classifier" / "labels.json").exists()
