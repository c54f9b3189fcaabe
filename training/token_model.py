"""The token classifier: a small LayoutLM (transformers) over characters, their cell boxes and a
new-cell flag, trained here (no pretrained Chinese encoder can be downloaded)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = range(5)


def ocr_alphabet() -> list[str]:
    """The characters PP-OCR can output: stored in the metadata of rapidocr's recognition model."""
    try:
        import importlib.util

        import onnxruntime as ort

        spec = importlib.util.find_spec("rapidocr")
        if spec is None or not spec.submodule_search_locations:
            return []
        models = Path(list(spec.submodule_search_locations)[0]) / "models"
        for path in sorted(models.glob("*rec*.onnx")):
            meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
            chars = meta.custom_metadata_map.get("character", "")
            if chars:
                return [c for c in chars.split("\n") if len(c) == 1]
    except Exception:  # the alphabet is an improvement, not a requirement
        return []
    return []


def build_vocab(texts: Iterable[str], use_ocr_alphabet: bool = True) -> dict[str, int]:
    chars = set(ocr_alphabet()) if use_ocr_alphabet else set()
    for t in texts:
        chars.update(t)
    chars.update(chr(c) for c in range(0x21, 0x7F))
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for c in sorted(chars):
        if c not in vocab:
            vocab[c] = len(vocab)
    return vocab


def make_config(vocab_size: int, num_labels: int, model_cfg: dict):
    from transformers import LayoutLMConfig

    return LayoutLMConfig(
        vocab_size=vocab_size,
        hidden_size=model_cfg["hidden_size"],
        num_hidden_layers=model_cfg["num_hidden_layers"],
        num_attention_heads=model_cfg["num_attention_heads"],
        intermediate_size=model_cfg["intermediate_size"],
        max_position_embeddings=512,
        max_2d_position_embeddings=1024,
        type_vocab_size=2,
        num_labels=num_labels,
        pad_token_id=PAD,
    )


def encode(chars: str, vocab: dict[str, int], max_len: int) -> list[int]:
    return [CLS] + [vocab.get(c, UNK) for c in chars[: max_len - 2]] + [SEP]


def save_vocab(path: Path, vocab: dict[str, int], labels: list[str], extra: Optional[dict] = None) -> None:
    data = {"vocab": vocab, "labels": labels, **(extra or {})}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
