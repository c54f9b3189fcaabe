"""Known table wording: an OCR-read label cell close to a row label of the schema is read as it.

The locator matches row labels exactly (after whitespace and width folding), so one misread
character (重复由请 for 重复申请) would lose the row. Table cells that are not numbers are compared
with the schema's labels (row labels with their variants, group labels, header words, the
template markers); a cell within a small edit distance of exactly one of them, clearly closer than
to any other, takes that wording. The enumeration prefix (一、 (二) 3.) is kept as read.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from nianbao.inference.normalize import compact

_PREFIX = re.compile(r"^(?:[一二三四五六七八九十]{1,3}、|[(（][一二三四五六七八九十]{1,3}[)）]|\d{1,2}[.、．])")
_LITERAL = re.compile(r"^[\u4e00-\u9fff()（）/、,，:：]+$")


def _levenshtein(a: str, b: str, limit: int) -> int:
    """Edit distance, giving up (returning limit + 1) once it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            best = min(best, cur[j])
        if best > limit:
            return limit + 1
        prev = cur
    return prev[-1]


class Lexicon:
    def __init__(self, words: set[str]):
        self.words = sorted(w for w in words if len(w) >= 2)
        self.exact = set(self.words)
        self.chars = [set(w) for w in self.words]

    @classmethod
    def from_schema(cls, schema) -> "Lexicon":
        words: set[str] = set()
        for template in ("v2019", "v2021"):
            for name in ("proactive", "requests", "appeals"):
                try:
                    spec = schema.table(template, name)
                except (KeyError, ValueError):
                    continue
                for r in spec.rows:
                    words.update(compact(label) for label in r.labels if not label.startswith("re:"))
                for g in spec.groups:
                    words.update(compact(label) for label in g.labels if not label.startswith("re:"))
        for info in schema.table_info.values():
            words.update(compact(w) for w in info.get("header_words", []))
            if info.get("title"):
                words.add(compact(info["title"]))
        for pats in schema.template_markers.values():
            for p in pats:
                if _LITERAL.match(p.pattern):
                    words.add(compact(p.pattern))
        words.update({"信息内容", "本年处理决定数量", "申请人情况", "自然人", "法人或其他组织", "商业企业", "科研机构",
                      "社会公益组织", "法律服务机构", "总计"})
        return cls(words)

    def snap(self, text: str) -> Optional[str]:
        """The lexicon's wording for an OCR-read label, or None when none is clearly meant."""
        flat = compact(text)
        m = _PREFIX.match(flat)
        prefix, body = (flat[:m.end()], flat[m.end():]) if m else ("", flat)
        body = body.lstrip(".、,．")
        if len(body) < 2 or body in self.exact or sum(1 for ch in body if "\u4e00" <= ch <= "\u9fff") < 2:
            return None
        limit = max(1, len(body) // 4)
        chars = set(body)
        scored = []
        for w, cs in zip(self.words, self.chars):
            if abs(len(w) - len(body)) > limit or len(cs & chars) < 0.5 * len(cs):
                continue
            d = _levenshtein(body, w, limit + 1)
            if d <= limit + 1:
                scored.append((d, w))
        if not scored:
            return None
        scored.sort()
        d, w = scored[0]
        if d > limit or (len(scored) > 1 and scored[1][0] < d + 2 and scored[1][1] != w):
            return None
        return prefix + w


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    from nianbao.schema import load_schema

    return Lexicon.from_schema(load_schema())
