"""The token classifier: overfit two tiny examples, save, reload through ONNX, same predictions."""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nianbao import extract  # noqa: E402
from nianbao.inference.classifier import TokenClassifier  # noqa: E402
from nianbao.labels import gold_dir  # noqa: E402
from nianbao.training import train as T  # noqa: E402
from nianbao.training.augment import add_label_noise  # noqa: E402
from nianbao.training.config import load_config  # noqa: E402
from nianbao.training.tagging import tag_document_windows, tag_names  # noqa: E402

EXAMPLES = gold_dir().parents[1] / "examples"
CONFIG = gold_dir().parents[1] / "training" / "configs" / "token_classifier.cfg"
TINY = ["model.hidden_size=64", "model.num_hidden_layers=1", "model.num_attention_heads=2",
        "model.intermediate_size=128", "model.use_ocr_alphabet=false", "pretrain.steps=0",
        "train.max_steps=120", "train.lr=3e-3", "train.warmup=10", "train.eval_every=120",
        "train.batch_size=2", "export.quantize=false"]


def two_tiny_examples():
    seqs = []
    for name in ("real_014.txt", "real_017.txt"):
        doc = extract(EXAMPLES / name)
        windows = tag_document_windows(doc, name, size=96, stride=96, prose_windows=0)
        seqs.append(max(windows, key=lambda s: sum(t != "O" for t in s.tags)))
    return seqs


def test_config_overrides_are_checked():
    cfg = load_config(CONFIG, ["train.max_steps=7"])
    assert cfg["train"]["max_steps"] == 7 and cfg["export"]["quantize"] is True
    with pytest.raises(KeyError):
        load_config(CONFIG, ["train.max_stepz=7"])


def test_noise_keeps_tags_aligned():
    seq = two_tiny_examples()[0]
    noisy = add_label_noise(seq, random.Random(0))
    assert len(noisy.chars) == len(noisy.tags) == len(noisy.starts) == len(noisy.boxes)
    assert noisy.chars != seq.chars
    assert all(t in tag_names() for t in noisy.tags)


def test_overfit_save_reload_same_predictions(tmp_path):
    seqs = two_tiny_examples()
    cfg = load_config(CONFIG, TINY + [f"export.out_dir={tmp_path}"])
    data = T.Dataset(train=seqs, validation=seqs, report={})
    metrics = T.train(cfg, out_dir=tmp_path, dataset=data)
    last = metrics["history"][-1]
    assert last["token_accuracy"] > 0.95, last
    # The ONNX graph (what inference runs, without torch) predicts what the torch model predicts.
    from transformers import LayoutLMForTokenClassification

    reloaded = LayoutLMForTokenClassification.from_pretrained(tmp_path / "torch")
    onnx = TokenClassifier(tmp_path)
    labels = list(tag_names())
    for s in seqs:
        ids, types, boxes, mask, _ = T._batch([s], onnx.vocab, {t: i for i, t in enumerate(labels)}, 512)
        with torch.no_grad():
            ref = reloaded(input_ids=ids, bbox=boxes, token_type_ids=types, attention_mask=mask).logits.argmax(-1)[0, 1:-1]
        pred, _ = onnx.predict(s.chars, s.starts, s.boxes)
        assert np.array_equal(pred, ref.numpy())
        assert sum(labels[p] == t for p, t in zip(pred, s.tags)) / len(s.tags) > 0.95
