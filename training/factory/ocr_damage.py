"""OCR-like damage to a rendering's Chinese characters (trait ``text.ocr_damage``: the rate).

At the rate real OCR output shows (about 10% of Chinese characters), a character becomes its
look-alike (形近字, the pairs in ``training/augment.py``), is dropped, or gets a space before it
(a word split by a space). Digits and every printed value are untouched, so the gold still holds;
title, signature and date lines are left alone so the gold's agency and date still hold too.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from nianbao.training.augment import LOOKALIKE

from .render_base import OUTSIDE, Unit

# Units whose text is damaged: furniture and prose (O), headings, and every label of a table.
DAMAGED_PREFIXES = ("row:", "group:", "col:", "header:", "corner:")
# Look-alikes that are Chinese characters (一 -> "-" would print a zero placeholder: not a label defect).
CJK_LOOKALIKE = {a: b for a, b in LOOKALIKE.items() if "\u4e00" <= b <= "\u9fff"}


@dataclass(frozen=True)
class OcrDamage:
    rate: float = 0.1          # share of Chinese characters damaged
    lookalike: float = 0.55    # of the damaged ones: look-alike substitution...
    drop: float = 0.25         # ...dropped; the rest get a space before them


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def damaged_label(label: str) -> bool:
    return label in (OUTSIDE, "heading") or label.startswith(DAMAGED_PREFIXES)


def damage_text(text: str, rng: random.Random, damage: OcrDamage) -> str:
    out = []
    for ch in text:
        if not is_cjk(ch) or rng.random() >= damage.rate:
            out.append(ch)
            continue
        r = rng.random()
        if r < damage.lookalike and ch in CJK_LOOKALIKE:
            out.append(CJK_LOOKALIKE[ch])
        elif r < damage.lookalike + damage.drop:
            continue
        else:
            out.append(" " + ch)
    return "".join(out)


def damage_units(units: list[Unit], rng: random.Random, damage: OcrDamage) -> list[Unit]:
    """The units with their labels' and prose's Chinese characters damaged; values untouched."""
    out = []
    for u in units:
        if u.virtual or u.unread or not damaged_label(u.label):
            out.append(u)
            continue
        text = damage_text(u.text, rng, damage)
        if text:
            out.append(Unit(text, u.label))
    return out
