"""Detect a text file's encoding: UTF-8, GB18030/GBK and UTF-16 are detected, not assumed.

A report with a few damaged bytes (a bad sector, a truncated copy, one byte of another encoding
pasted in) is still a report: when nearly every byte decodes, the bad ones become U+FFFD and the
decode is recorded (see :func:`recording_decodes`), so the document says what was lost instead of
being refused as ``not_text``. Binary data stays ``not_text``.
"""
from __future__ import annotations

import codecs
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator, Optional

from nianbao.errors import ReadError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# At most this share of a file's bytes may be undecodable for it to be read with replacement.
MAX_INVALID_SHARE = 0.005
# UTF-8 with replacement is chosen only when its valid non-ASCII characters outnumber the invalid
# bytes this many times: text in GB18030 read as UTF-8 is mostly invalid, a damaged UTF-8 file is not.
_UTF8_VALID_PER_INVALID = 20

# surrogateescape turns each undecodable byte into one lone surrogate of this range.
_ESCAPED = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    # Bytes that did not decode and were replaced by U+FFFD (0 for a clean decode).
    replaced_bytes: int = 0
    total_bytes: int = 0

    @property
    def note(self) -> Optional[str]:
        """A one-line account of a lossy decode, for the document's warnings."""
        if not self.replaced_bytes:
            return None
        return (f"decoded_with_replacement: {self.replaced_bytes} of {self.total_bytes} bytes are not valid "
                f"{self.encoding} and were replaced by U+FFFD; a number printed there may have lost a digit")


_recorded: ContextVar[Optional[list[DecodedText]]] = ContextVar("nianbao_decodes", default=None)


@contextmanager
def recording_decodes() -> Iterator[list[DecodedText]]:
    """Collect the lossy decodes made inside the block (readers return only text and encoding)."""
    sink: list[DecodedText] = []
    token = _recorded.set(sink)
    try:
        yield sink
    finally:
        _recorded.reset(token)


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    sample = text[:20000]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\ufffd")
    return bad / len(sample) > 0.02


def _decode_escaped(data: bytes, encoding: str) -> tuple[str, int]:
    """Decode with each undecodable byte replaced by U+FFFD; return the text and how many."""
    return _ESCAPED.subn("\ufffd", data.decode(encoding, errors="surrogateescape"))


def _few_invalid(invalid: int, size: int) -> bool:
    """Some bytes did not decode, but at most MAX_INVALID_SHARE of them (at least one is allowed)."""
    return 0 < invalid <= max(1, int(size * MAX_INVALID_SHARE))


def _lossy_utf8(data: bytes) -> Optional[DecodedText]:
    text, invalid = _decode_escaped(data, "utf-8")
    if not _few_invalid(invalid, len(data)):
        return None
    non_ascii = len(text) - len(text.encode("ascii", "ignore")) - invalid
    if non_ascii < _UTF8_VALID_PER_INVALID * invalid or _looks_binary(text):
        return None
    return DecodedText(text, "utf-8", invalid, len(data))


def _lossy_gb18030(data: bytes) -> Optional[DecodedText]:
    text, invalid = _decode_escaped(data, "gb18030")
    if not _few_invalid(invalid, len(data)) or _looks_binary(text):
        return None
    return DecodedText(text, "gb18030", invalid, len(data))


def decode_text(data: bytes) -> DecodedText:
    """Decode a text file's bytes. Raise ReadError for data that is not text."""
    if not data.strip(b" \t\r\n\x00"):
        raise ReadError("empty_file", "the file has no text")
    for bom, name in _BOMS:
        if data.startswith(bom):
            text = data.decode(name)
            if not text.strip("\ufeff \t\r\n\x00"):
                raise ReadError("empty_file", "the file has no text")
            return DecodedText(text, name, 0, len(data))
    # UTF-16 without a BOM: every other byte is NUL for CJK-free stretches, and the decode is clean.
    if len(data) >= 4 and data.count(b"\x00") > len(data) // 8:
        for name in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                continue
            if not _looks_binary(text):
                return DecodedText(text, name, 0, len(data))
    try:
        return DecodedText(data.decode("utf-8"), "utf-8", 0, len(data))
    except UnicodeDecodeError:
        pass
    # Damaged UTF-8 before a clean GB18030 decode: GB18030 decodes most UTF-8 into valid nonsense.
    lossy = _lossy_utf8(data)
    if lossy is not None:
        return _recorded_decode(lossy)
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        if not _looks_binary(text):
            return DecodedText(text, "gb18030", 0, len(data))
    lossy = _lossy_gb18030(data)
    if lossy is not None:
        return _recorded_decode(lossy)
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except MemoryError:
        raise  # a cap: the pipeline reports it as ``memory``, not as a file that is not text
    except Exception:  # pragma: no cover - the detector is best effort
        best = None
    if best is not None:
        text = str(best)
        if not _looks_binary(text):
            return DecodedText(text, best.encoding, 0, len(data))
    raise ReadError("not_text", "the file is binary or in an encoding that is not text")


def decode_declared_lossy(data: bytes, encoding: str) -> str:
    """Decode in a declared encoding with undecodable bytes replaced, and record it (HTML pages
    whose declared charset is trusted over detection)."""
    text, invalid = _decode_escaped(data, encoding)
    if invalid:
        _recorded_decode(DecodedText(text, encoding, invalid, len(data)))
    return text


def _recorded_decode(decoded: DecodedText) -> DecodedText:
    sink = _recorded.get()
    if sink is not None:
        sink.append(decoded)
    return decoded


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Return (text, encoding). Raise ReadError for data that is not text. A lossy decode is
    recorded for :func:`recording_decodes`."""
    decoded = decode_text(data)
    return decoded.text, decoded.encoding
