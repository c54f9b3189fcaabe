"""Agency names across documents: one key per reporting body, with a confidence.

Reports name the same body in several ways: 平潭综合实验区 in one title, 平潭综合实验区管委会 or
平潭综合实验区党工委管委会 in another; 兴华街道 and 兴华街道办事处; 淮安市洪泽区 and 淮安市洪泽区人民政府.
``normalise_agency`` folds those spellings to one key. It strips only the suffixes that name the
*government of a place* (人民政府, 管委会/管理委员会 of a zone, 街道办事处 → 街道), never the word
that makes a department a different body (局, 委员会 of a department, 办公室, 人民政府办公室): 平潭综合实验区
and 平潭综合实验区财政金融局 stay apart. Each stripping lowers the confidence that the key names the
same body as the printed name.

``possible_matches`` flags pairs of keys that may be one body but are not folded: a name that
repeats another with a place prefix (下城区长庆街道 / 长庆街道). They are reported, not merged, and
rule 5 across years runs over them with the lower confidence of a possible match.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Optional

# Bump when the rules below change: stored keys are recomputed from the raw names on every refresh.
NORMALISER_VERSION = 1

# Spellings of one thing, folded before anything is stripped (no loss of confidence).
_SYNONYMS = (
    ("管理委员会", "管委会"),
    ("党工委、管委会", "党工委管委会"),
    ("党工委和管委会", "党工委管委会"),
)
# Where a zone/place ends: what is left before a stripped suffix must end like this.
_PLACE_END = re.compile(r"(?:省|自治区|市|地区|自治州|州|盟|县|自治县|旗|区|镇|乡|街道|实验区|新区|开发区|园区|片区|示范区|合作区|试验区)$")
_ZONE_END = re.compile(r"(?:区|园|岛|港|城)$")
# (suffix, replacement, confidence, condition on what is left)
_SUFFIXES: tuple[tuple[str, str, float, re.Pattern], ...] = (
    ("党工委管委会", "", 0.9, _ZONE_END),
    ("管委会", "", 0.9, _ZONE_END),
    ("街道办事处", "街道", 0.95, re.compile(r"[\u4e00-\u9fff]$")),
    ("人民政府", "", 0.9, _PLACE_END),
    ("政府", "", 0.85, _PLACE_END),  # 某某区政府 (not 人民政府, handled above)
)
_PAREN = re.compile(r"[（(][^（）()]*[）)]$")
_NOISE = re.compile(r"[\s\u3000·•\-—_\"'“”‘’《》<>]")


@dataclass(frozen=True)
class NormalisedAgency:
    key: str
    confidence: float  # probability that ``key`` names the same body as the printed name
    stripped: tuple[str, ...] = ()


def clean(name: str) -> str:
    """Width-folded, whitespace and quote-free text of a printed name."""
    text = unicodedata.normalize("NFKC", name)
    return _NOISE.sub("", text).strip("：:，,。.;；")


def normalise_agency(name: Optional[str]) -> Optional[NormalisedAgency]:
    if not name:
        return None
    key = clean(name)
    if not key:
        return None
    confidence = 1.0
    stripped: list[str] = []
    for a, b in _SYNONYMS:
        key = key.replace(a, b)
    # A trailing remark in brackets (a second name of a merged body, 挂牌) is not part of the key.
    m = _PAREN.search(key)
    if m and m.start() >= 2:
        stripped.append(key[m.start():])
        key = key[:m.start()]
        confidence *= 0.9
    changed = True
    while changed:
        changed = False
        for suffix, repl, conf, cond in _SUFFIXES:
            if key.endswith(suffix):
                rest = key[: -len(suffix)]
                if len(rest) >= 2 and cond.search(rest):
                    stripped.append(suffix)
                    key = rest + repl
                    confidence *= conf
                    changed = True
                    break
    return NormalisedAgency(key=key, confidence=round(confidence, 3), stripped=tuple(stripped))


def same_body(a: Optional[str], b: Optional[str]) -> tuple[str, float]:
    """('same' | 'possible' | 'different', confidence) for two printed names."""
    na, nb = normalise_agency(a), normalise_agency(b)
    if na is None or nb is None:
        return "different", 0.0
    if na.key == nb.key:
        return "same", round(min(na.confidence, nb.confidence), 3)
    conf = _prefix_match(na.key, nb.key) or _prefix_match(nb.key, na.key)
    if conf:
        return "possible", round(conf * min(na.confidence, nb.confidence), 3)
    return "different", 0.0


# A place prefix: text up to and including an administrative-division word.
_PLACE_PREFIX = re.compile(r"^(?:[\u4e00-\u9fff]{1,12}?(?:省|自治区|市|地区|自治州|州|盟|县|区|旗))+$")
_MIN_SHORT = 3


def _prefix_match(longer: str, shorter: str) -> float:
    """Confidence that ``longer`` is ``shorter`` with its place named in front (0 if not)."""
    if len(shorter) < _MIN_SHORT or len(longer) <= len(shorter) or not longer.endswith(shorter):
        return 0.0
    prefix = longer[: -len(shorter)]
    if _PLACE_PREFIX.match(prefix):
        return 0.6
    return 0.0


def possible_matches(keys: Iterable[str]) -> list[tuple[str, str, float]]:
    """Pairs (longer, shorter, confidence) of distinct keys that may name one body.

    Linear in the number of keys times their length: each key is cut after every division word
    and the rest looked up, instead of comparing every pair."""
    keyset = set(keys)
    out = []
    for k in sorted(keyset):
        for m in re.finditer(r"(?:省|自治区|市|地区|自治州|州|盟|县|区|旗)", k):
            rest = k[m.end():]
            if rest in keyset and rest != k:
                conf = _prefix_match(k, rest)
                if conf:
                    out.append((k, rest, conf))
    return out


# A direct child of a county-level body named inside its name: 西湖区 → 西湖区北山街道 / 西湖区龙井镇.
_CHILD_UNIT = re.compile(r"^[\u4e00-\u9fff]{1,8}?(?:街道|镇|乡)$")
_PARENT_END = re.compile(r"(?:区|县|市|旗)$")


def infer_hierarchy(keys: Iterable[str]) -> list[tuple[str, str]]:
    """(parent, child) pairs of normalised agency keys whose names nest: a district, county or city
    and a 街道/乡/镇 named with it in front. Inferred, not known: a report's scope may differ."""
    keyset = sorted(set(keys))
    parents = [k for k in keyset if _PARENT_END.search(k) and len(k) >= 2]
    out = []
    for child in keyset:
        for parent in parents:
            if child.startswith(parent) and child != parent and _CHILD_UNIT.match(child[len(parent):]):
                out.append((parent, child))
    return out
