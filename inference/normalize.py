"""Text normalisation for label matching: whitespace removed, full-width forms folded to ASCII.

Matching runs on the normalised string; ``NormText.to_raw`` maps a match back to the raw text,
so values are always read from what the document printed.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass

_FOLD = {0x3000: " ", 0x201C: '"', 0x201D: '"', 0x2018: "'", 0x2019: "'", 0xFE50: ",", 0xFF5E: "~",
         0x3010: "[", 0x3011: "]", 0x2014: "—", 0x2212: "-", 0xFE58: "-", 0x2010: "-", 0x2011: "-", 0x2013: "-"}
# Separators between cells and words: never part of a label.
SEPARATORS = frozenset(" \t\n\r\f\v|\u3000\xa0\u200b\u2002\u2003\u2009\ufeff\u00ad")
BLANK = "\u2400"  # a printed-empty cell of a grid, in a value column
UNREAD = "\u2047"  # a cell with ink that OCR could not read: no value, never a printed empty (0)
# The characters a placeholder (no value: 0) is printed with, and the placeholder each stands for.
PLACEHOLDER_MARKS = {"-": "-", "—": "-", "－": "-", "/": "/", "／": "/", "无": "无"}


def fold_char(ch: str) -> str:
    o = ord(ch)
    if 0xFF01 <= o <= 0xFF5E:
        return chr(o - 0xFEE0)
    return _FOLD.get(o, ch)


def fold(text: str) -> str:
    return "".join(fold_char(c) for c in text)


def compact(text: str) -> str:
    """Folded text with every separator removed (what labels are matched against)."""
    return "".join(fold_char(c) for c in text if c not in SEPARATORS)


@dataclass
class NormText:
    raw: str
    norm: str
    to_raw: "array[int]"  # norm index -> raw index (an array: a 50 MB page must not cost gigabytes)

    @classmethod
    def build(cls, raw: str) -> "NormText":
        norm_chars: list[str] = []
        to_raw = array("q")
        for i, ch in enumerate(raw):
            if ch in SEPARATORS:
                continue
            norm_chars.append(fold_char(ch))
            to_raw.append(i)
        to_raw.append(len(raw))
        return cls(raw=raw, norm="".join(norm_chars), to_raw=to_raw)

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Raw offsets of norm[start:end] (end exclusive)."""
        if end <= start:
            r = self.to_raw[start]
            return r, r
        return self.to_raw[start], self.to_raw[end - 1] + 1
