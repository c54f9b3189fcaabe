"""Train the token classifier: data check, optional masked-LM pretraining, fine-tuning, export.

    nianbao train --config training/configs/token_classifier.cfg [--set section.key=value ...]

Saves to [export] out_dir: ``model.onnx`` (what inference runs, on onnxruntime, without torch),
``labels.json`` (vocabulary and label map), ``torch/`` (weights to resume or fine-tune), ``metrics.json``.
"""
from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from nianbao.labels import gold_dir, gold_files, labelled_documents, load_labelled

from .augment import add_label_noise
from .token_model import CLS, MASK, PAD, SEP, SPECIALS, UNK, build_vocab, make_config, save_vocab
from .tagging import OUTSIDE, TaggedSequence, tag_document_windows, tag_names

log = logging.getLogger("nianbao.train")

# The tag of a character whose right tag is unknown (a table of a corrected document no reading got
# right, see retrain.py): it is fed to the model but has no loss.
IGNORE = "X"


@dataclass
class Dataset:
    train: list[TaggedSequence]
    validation: list[TaggedSequence]
    report: dict


def _exact_documents(paths: Iterable[tuple[str, Path, Optional[dict]]]):
    """Read each document with the baseline; keep those whose extraction equals their gold, so the
    tags taken from the baseline's label spans are right."""
    from nianbao import extract
    from nianbao.evaluate import score_document

    for doc_id, path, gold in paths:
        doc = extract(path)
        if doc.error is not None or not doc.located:
            yield doc_id, doc, False
            continue
        ok = True
        if gold is not None:
            ok = score_document(gold, doc).exact
        yield doc_id, doc, ok


def _factory_documents(folder: Path, kinds: set[str], max_docs: int):
    """(id, path, gold) of a factory folder: its gold files are in the labelled-document format."""
    return [(g.id, Path(g.document), g) for g in labelled_documents(folder, kinds=kinds, max_total=max_docs)]


def build_dataset(cfg: dict) -> Dataset:
    d = cfg["data"]
    rng = random.Random(d["seed"])
    holdout = {h.strip() for h in str(d["holdout"]).split(",") if h.strip()}
    real = [(p.stem, load_labelled(p).document, load_labelled(p)) for p in gold_files(gold_dir())]
    real_train = [r for r in real if r[0] not in holdout]
    factory = _factory_documents(Path(d["factory_dir"]), set(str(d["kinds"]).split(",")), d["max_docs"]) if d["factory_dir"] else []
    rng.shuffle(factory)
    n_val = int(len(factory) * cfg["train"]["validation"])
    val_ids = {f[0] for f in factory[:n_val]}
    train, validation = [], []
    skipped = []
    for doc_id, doc, ok in _exact_documents(real_train + factory):
        if not ok:
            skipped.append(doc_id)
            continue
        seqs = tag_document_windows(doc, doc_id, size=d["window"], stride=d["stride"])
        target = validation if doc_id in val_ids else train
        target.extend(seqs)
        for _ in range(d["noisy_copies"]):
            target.extend(add_label_noise(s, rng) for s in seqs)
    report = data_check(train, validation, holdout, skipped)
    return Dataset(train=train, validation=validation, report=report)


def data_check(train: list[TaggedSequence], validation: list[TaggedSequence], holdout: set[str],
               skipped: list[str]) -> dict:
    """Label coverage and train/validation overlap by document, checked before any training."""
    train_docs = {s.doc_id for s in train}
    val_docs = {s.doc_id for s in validation}
    overlap = train_docs & val_docs
    leaked = train_docs & holdout
    if overlap:
        raise ValueError(f"documents in both train and validation: {sorted(overlap)[:5]}")
    if leaked:
        raise ValueError(f"held-out documents in training data: {sorted(leaked)}")
    counts: dict[str, int] = {}
    for s in train:
        for t in s.tags:
            if t.startswith("B-"):
                counts[t[2:]] = counts.get(t[2:], 0) + 1
    entities = {t[2:] for t in tag_names() if t != OUTSIDE}
    missing = sorted(entities - set(counts))
    return {"train_sequences": len(train), "validation_sequences": len(validation),
            "train_documents": len(train_docs), "validation_documents": len(val_docs),
            "skipped_documents_not_exact": len(skipped), "holdout": sorted(holdout),
            "entities_never_seen": missing, "entity_counts": dict(sorted(counts.items()))}


# -- tensors ----------------------------------------------------------------------------------
def _batch(seqs: list[TaggedSequence], vocab: dict[str, int], label_ids: dict[str, int], max_len: int):
    import torch

    n = min(max_len, max(len(s.chars) for s in seqs) + 2)
    ids = torch.full((len(seqs), n), PAD, dtype=torch.long)
    types = torch.zeros((len(seqs), n), dtype=torch.long)
    boxes = torch.zeros((len(seqs), n, 4), dtype=torch.long)
    labels = torch.full((len(seqs), n), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        m = min(len(s.chars), n - 2)
        ids[i, 0], ids[i, m + 1] = CLS, SEP
        ids[i, 1:m + 1] = torch.tensor([vocab.get(c, UNK) for c in s.chars[:m]])
        types[i, 1:m + 1] = torch.tensor(s.starts[:m])
        boxes[i, 1:m + 1] = torch.tensor(s.boxes[:m])
        labels[i, 1:m + 1] = torch.tensor([-100 if t == IGNORE else label_ids[t] for t in s.tags[:m]])
        mask[i, : m + 2] = 1
    return ids, types, boxes, mask, labels


def _mask_tokens(ids, mask_prob: float, vocab_size: int, gen):
    import torch

    labels = ids.clone()
    special = ids < len(SPECIALS)
    prob = torch.rand(ids.shape, generator=gen)
    chosen = (prob < mask_prob) & ~special
    labels[~chosen] = -100
    ids = ids.clone()
    replace = chosen & (torch.rand(ids.shape, generator=gen) < 0.8)
    ids[replace] = MASK
    rand = chosen & ~replace & (torch.rand(ids.shape, generator=gen) < 0.5)
    ids[rand] = torch.randint(len(SPECIALS), vocab_size, ids.shape, generator=gen)[rand]
    return ids, labels


def _schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.05, 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def pretrain(config, data: list[TaggedSequence], vocab: dict[str, int], cfg: dict, seed: int):
    """Masked-LM steps on the report text itself; returns the encoder's state dict."""
    import torch
    from transformers import LayoutLMForMaskedLM

    p = cfg["pretrain"]
    model = LayoutLMForMaskedLM(config)
    encoder, head = model.layoutlm, model.cls
    opt = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    dummy = {t: 0 for t in tag_names()}
    model.train()
    for step in range(p["steps"]):
        batch = rng.sample(data, min(p["batch_size"], len(data)))
        ids, types, boxes, mask, _ = _batch(batch, vocab, dummy, cfg["data"]["window"] + 2)
        ids, labels = _mask_tokens(ids, p["mask_prob"], len(vocab), gen)
        for g in opt.param_groups:
            g["lr"] = p["lr"] * _schedule(step, p["steps"], max(1, p["steps"] // 10))
        hidden = encoder(input_ids=ids, bbox=boxes, token_type_ids=types, attention_mask=mask).last_hidden_state
        # The vocabulary is the OCR's alphabet (~19k): predict only at masked positions, not everywhere.
        where = labels != -100
        loss = torch.nn.functional.cross_entropy(head(hidden[where]), labels[where])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            log.info("pretrain step %d loss %.3f", step, loss.item())
    return model.layoutlm.state_dict()


def evaluate_tags(model, data: list[TaggedSequence], vocab, label_ids, max_len: int, batch_size: int = 32) -> dict:
    """Entity-level F1 on label spans (row/group labels) and token accuracy."""
    import torch

    names = list(label_ids)
    tp = fp = fn = 0
    correct = total = 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            batch = data[i:i + batch_size]
            ids, types, boxes, mask, labels = _batch(batch, vocab, label_ids, max_len)
            logits = model(input_ids=ids, bbox=boxes, token_type_ids=types, attention_mask=mask).logits
            pred = logits.argmax(-1)
            for j, s in enumerate(batch):
                m = min(len(s.chars), ids.shape[1] - 2)
                p_tags = [names[k] for k in pred[j, 1:m + 1].tolist()]
                g_tags = s.tags[:m]
                correct += sum(a == b for a, b in zip(p_tags, g_tags))
                total += m
                ps, gs = spans(p_tags), spans(g_tags)
                tp += len(ps & gs)
                fp += len(ps - gs)
                fn += len(gs - ps)
    model.train()
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"span_f1": round(f1, 4), "span_precision": round(prec, 4), "span_recall": round(rec, 4),
            "token_accuracy": round(correct / max(1, total), 4)}


def spans(tags: list[str]) -> set[tuple[int, int, str]]:
    out, start, ent = set(), None, None
    for i, t in enumerate(tags + [OUTSIDE]):
        if start is not None and not (t.startswith("I-") and t[2:] == ent):
            out.add((start, i, ent))
            start = ent = None
        if t.startswith("B-") or (t.startswith("I-") and start is None):
            start, ent = i, t[2:]
    return out


def finetune(config, encoder_state, dataset: Dataset, vocab, cfg: dict, seed: int, model=None):
    """Token-classification steps; a new model from ``config`` (and a pretrained encoder), or further
    steps on ``model`` (``nianbao retrain``)."""
    import torch
    from transformers import LayoutLMForTokenClassification

    t = cfg["train"]
    torch.manual_seed(seed)
    if model is None:
        model = LayoutLMForTokenClassification(config)
        if encoder_state is not None:
            model.layoutlm.load_state_dict(encoder_state, strict=False)
    label_ids = {name: i for i, name in enumerate(tag_names())}
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=0.01)
    rng = random.Random(seed)
    history = []
    model.train()
    for step in range(t["max_steps"]):
        batch = rng.sample(dataset.train, min(t["batch_size"], len(dataset.train)))
        ids, types, boxes, mask, labels = _batch(batch, vocab, label_ids, cfg["data"]["window"] + 2)
        for g in opt.param_groups:
            g["lr"] = t["lr"] * _schedule(step, t["max_steps"], t["warmup"])
        out = model(input_ids=ids, bbox=boxes, token_type_ids=types, attention_mask=mask, labels=labels)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if dataset.validation and ((step + 1) % t["eval_every"] == 0 or step + 1 == t["max_steps"]):
            metrics = evaluate_tags(model, dataset.validation, vocab, label_ids, cfg["data"]["window"] + 2)
            history.append({"step": step + 1, "loss": round(out.loss.item(), 4), **metrics})
            log.info("step %d loss %.4f %s", step + 1, out.loss.item(), metrics)
        elif not dataset.validation and ((step + 1) % t["eval_every"] == 0 or step + 1 == t["max_steps"]):
            history.append({"step": step + 1, "loss": round(out.loss.item(), 4)})
            log.info("step %d loss %.4f", step + 1, out.loss.item())
    return model, history


def export_onnx(model, out_dir: Path, quantize: bool) -> Path:
    """The graph inference runs: inputs ids/types/boxes/mask, output per-token logits."""
    import torch

    model.eval()
    ids = torch.full((1, 16), 7, dtype=torch.long)
    args = (ids, torch.zeros_like(ids), torch.zeros((1, 16, 4), dtype=torch.long), torch.ones_like(ids))

    class Wrapped(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, token_type_ids, bbox, attention_mask):
            return self.m(input_ids=input_ids, bbox=bbox, token_type_ids=token_type_ids,
                          attention_mask=attention_mask).logits

    path = out_dir / "model.fp32.onnx"
    axes = {"input_ids": {0: "batch", 1: "seq"}, "token_type_ids": {0: "batch", 1: "seq"},
            "bbox": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    torch.onnx.export(Wrapped(model), args, str(path), input_names=list(axes)[:4], output_names=["logits"],
                      dynamic_axes=axes, opset_version=17, dynamo=False)
    final = out_dir / "model.onnx"
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(path), str(final), weight_type=QuantType.QInt8)
        path.unlink()
    else:
        path.rename(final)
    return final


def train(cfg: dict, out_dir: Optional[Path] = None, dataset: Optional[Dataset] = None) -> dict:
    """The whole run; returns its metrics (also written to metrics.json)."""
    import torch

    torch.set_num_threads(int(cfg["train"].get("threads", 2)))
    seed = int(cfg["data"]["seed"])
    out_dir = Path(out_dir or cfg["export"]["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    dataset = dataset or build_dataset(cfg)
    if not dataset.train:
        raise ValueError("no training sequences: check [data] factory_dir and the labelled documents")
    vocab = build_vocab((s.chars for s in dataset.train + dataset.validation), cfg["model"]["use_ocr_alphabet"])
    labels = list(tag_names())
    config = make_config(len(vocab), len(labels), cfg["model"])
    encoder = pretrain(config, dataset.train, vocab, cfg, seed) if cfg["pretrain"]["steps"] > 0 else None
    model, history = finetune(config, encoder, dataset, vocab, cfg, seed)
    (out_dir / "torch").mkdir(exist_ok=True)
    model.save_pretrained(out_dir / "torch")
    save_vocab(out_dir / "labels.json", vocab, labels, {"window": cfg["data"]["window"], "stride": cfg["data"]["stride"]})
    onnx_path = export_onnx(model, out_dir, bool(cfg["export"]["quantize"]))
    metrics = {"data": dataset.report, "history": history, "seconds": round(time.time() - t0, 1),
               "onnx_bytes": onnx_path.stat().st_size, "config": cfg}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1), encoding="utf-8")
    return metrics
