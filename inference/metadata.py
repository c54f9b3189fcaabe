"""Agency and report year from the title, the signature and the text (not the publication date)."""
from __future__ import annotations

import re
from collections import Counter
from typing import Optional

from .linearize import LinearText
from .locate import approximate_find
from .normalize import compact

_TITLE = re.compile(r"(?:标题:)?(?P<pre>[^\s。，,；;:]{0,40}?)(?P<year>20[0-4]\d)年度?(?P<post>[^\s。，,；;]{0,30}?)(?:政府)?(?:信息公开|政务公开)(?:工作)?(?:年度)?(?:工作)?(?:年度)?(?:报告|年报)")
_PERIOD = re.compile(r"统计期限(?:为|自|是)?(20[0-4]\d)年1月1日")
_YEAR = re.compile(r"(20[0-4]\d)年(?!\d{1,2}月)")
_ORG_SUFFIX = r"(?:街道办事处|办事处|人民政府|管理委员会|管委会|委员会|管理局|分局|局|厅|委|办公室|街道|镇|乡|中心|研究院|院|署|部)"
_ORG = re.compile(rf"^(?P<org>[\u4e00-\u9fff()（）]{{2,30}}?{_ORG_SUFFIX})(?:20[0-4]\d年\d{{1,2}}月\d{{1,2}}日)?$")
_DATE_ONLY = re.compile(r"^[（(]?20[0-4]\d年\d{1,2}月\d{1,2}日[)）]?$")


def _title_text(lin: LinearText) -> str:
    """The opening of the document, compacted (titles are often split across lines)."""
    parts, size = [], 0
    for seg in lin.segments[:12]:
        parts.append(compact(seg.text))
        size += len(parts[-1])
        if size > 400:
            break
    return "".join(parts)[:400]


# A title without the year (or with it where _TITLE does not expect it): 信息公开…报告 in the opening.
_LOOSE_TITLE = re.compile(r"(?:信息公开|政务公开)[^。，,；;]{0,12}?(?:报告|年报)")
TITLE_WORDS = "信息公开工作年度报告"


def report_title(lin: LinearText) -> Optional[str]:
    """The annual report's title if the opening of the document prints one, else None."""
    head = _title_text(lin)
    m = _TITLE.search(head) or _LOOSE_TITLE.search(head)
    if m:
        return m.group(0)
    # A title OCR damaged (信息公工作年度报告, 信息公开工作年庋报告): the words, with a few edits.
    hit = approximate_find(TITLE_WORDS, head[:200], len(TITLE_WORDS) // 4)
    return head[hit[0]:hit[1]] if hit else None


def detect_year(lin: LinearText) -> Optional[int]:
    head = _title_text(lin)
    m = _TITLE.search(head)
    if m:
        return int(m.group("year"))
    norm = lin.norm
    m = _PERIOD.search(norm)
    if m:
        return int(m.group(1))
    counts = Counter(int(y) for y in _YEAR.findall(norm[:20000]))
    if counts:
        return counts.most_common(1)[0][0]
    return None


def _signature(lin: LinearText) -> Optional[str]:
    tail = [compact(s.text) for s in lin.segments[-8:]]
    for text in reversed(tail):
        if not text or _DATE_ONLY.match(text):
            continue
        m = _ORG.match(text)
        if m:
            return m.group("org")
    # A one-line export ends with "…事项无 <agency><date>": take the org before the date.
    if lin.segments:
        last = compact(lin.segments[-1].text)[-60:]
        m = re.search(rf"([\u4e00-\u9fff]{{2,30}}?{_ORG_SUFFIX})(20[0-4]\d年\d{{1,2}}月\d{{1,2}}日)$", last)
        if m:
            return m.group(1)
    return None


def detect_agency(lin: LinearText) -> Optional[str]:
    head = _title_text(lin)
    title_agency = None
    m = _TITLE.search(head)
    if m:
        title_agency = m.group("pre") or m.group("post") or None
        if title_agency:
            title_agency = re.sub(r"^(?:标题:|名称:)", "", title_agency).strip("：:") or None
    sig = _signature(lin)
    if title_agency and sig:
        # The fullest form of the same body: 兴华街道 in the title, 兴华街道办事处 in the signature.
        if sig.startswith(title_agency):
            return sig
        return title_agency  # the signature line carries other text before the name
    if title_agency:
        return title_agency
    if sig:
        return sig
    # No title and no signature: the body the text names most often.
    return _most_named_body(lin.norm[:50000])


def _most_named_body(norm: str) -> Optional[str]:
    """The body named most often, its name cut where the text around it stops repeating
    (在关岭县政务信息顶云街道办事处专栏 -> 顶云街道办事处, since 顶云 recurs but 息顶云 does not)."""
    counts: Counter[str] = Counter()
    for m in re.finditer(r"(街道办事处|人民政府|管委会|办事处)", norm):
        pos = m.start()
        stems = [norm[pos - k:pos] for k in range(2, 9) if pos - k >= 0]
        stems = [s for s in stems if re.fullmatch(r"[\u4e00-\u9fff]+", s)]
        if not stems:
            continue
        base = norm.count(stems[0])
        best = stems[0]
        for s in stems[1:]:
            if norm.count(s) == base:
                best = s
            else:
                break
        counts[best + m.group(1)] += 1
    if counts:
        return counts.most_common(1)[0][0]
    return None
