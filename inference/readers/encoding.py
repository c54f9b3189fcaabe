"""Detect a text file's encoding: UTF-8, GB18030/GBK and UTF-16 are detected, not assumed."""
from __future__ import annotations

import codecs

from nianbao.errors import ReadError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    sample = text[:20000]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\ufffd")
    return bad / len(sample) > 0.02


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name). Raise ReadError for data that is not text."""
    if not data.strip(b" \t\r\n\x00"):
        raise ReadError("empty_file", "the file has no text")
    for bom, name in _BOMS:
        if data.startswith(bom):
            text = data.decode(name)
            if not text.strip("\ufeff \t\r\n\x00"):
                raise ReadError("empty_file", "the file has no text")
            return text, name
    # UTF-16 without a BOM: every other byte is NUL for CJK-free stretches, and the decode is clean.
    if len(data) >= 4 and data.count(b"\x00") > len(data) // 8:
        for name in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                continue
            if not _looks_binary(text):
                return text, name
    for name in ("utf-8", "gb18030"):
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            break
        return text, name
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except Exception:  # pragma: no cover - the detector is best effort
        best = None
    if best is not None:
        text = str(best)
        if not _looks_binary(text):
            return text, best.encoding
    raise ReadError("not_text", "the file is binary or in an encoding that is not text")
