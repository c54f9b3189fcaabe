"""Locating the statutory tables: label matching on normalised text, tolerant to how exports break them.

The locator finds where each table lies, which rows are printed (their labels, in schema order),
and the run of printed numbers that follows each label. It does not decide values: splitting
run-together digits and choosing among readings is the decoder's job.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Optional, Protocol

from nianbao.document import Document, Region, Segment
from nianbao.schema import DEFAULT_TEMPLATE, TABLE_NAMES, RowSpec, Schema, TableSpec, template_for_year

from .linearize import LinearText, linearize
from .normalize import BLANK, PLACEHOLDER_MARKS, SEPARATORS, UNREAD, fold

# A printed number (with an optional unit) or a placeholder that means 0.
_VALUE_TOKEN = re.compile(r"[-−]?\d+(?:,\d{3})*(?:\.\d+)?(?:万元|元)?|[-—－/／]+|无|" + BLANK + "|" + UNREAD)
_NUMBER = re.compile(r"(?P<sign>[-−])?(?P<int>\d+(?:,\d{3})*)(?:\.(?P<dec>\d+))?(?P<unit>万元|元)?$")
_VALUE_START = re.compile(r"[\d\-−—－/／无]|" + BLANK + "|" + UNREAD)
# A number glued to a counter word or a sentence mark is prose ("申请12件，", "2021年"), not a cell.
_PROSE_AFTER_NUMBER = re.compile(r"[件条项个人次家年月日号%％，。；、：,;:]")
# How far after its start a table's rows may run (a table is a few thousand characters).
TABLE_WINDOW = 20000
_CJK = re.compile(r"[\u4e00-\u9fff]")
_DIGIT = re.compile(r"\d")
_ORDINAL = re.compile(r"[1-9][.．、]\s*[\u4e00-\u9fff]")
_SENTENCE = re.compile(r"[，。；！？]")
_CN_NUM = "一二三四五六七八九十"


@dataclass
class Chunk:
    """A maximal printed token of a value run: one number, digits run together, or a placeholder."""

    raw: str
    segment: Segment
    kind: str  # "number" | "placeholder" | "blank" | "unread" (ink OCR could not read)
    end: int = 0  # raw offset just after the chunk

    @property
    def splittable(self) -> bool:
        # A grid cell's boundaries are the format's; digits inside it are one number.
        return self.kind == "number" and not self.segment.from_grid and len(self.digits) > 1

    @property
    def digits(self) -> str:
        m = _NUMBER.match(self.raw.replace("−", "-"))
        return m.group("int").replace(",", "") if m else ""


@dataclass
class LabelMatch:
    row: Optional[RowSpec]
    group: Optional[str]
    start: int  # norm offsets
    end: int
    quality: float
    # Probability that this is really the label: 1 for a schema match, the classifier's otherwise.
    confidence: float = 1.0
    # Matched with a few characters damaged (add_approximate_labels), not as printed in the schema.
    approximate: bool = False


@dataclass
class RowRun:
    """A matched row label (or a group line that carries numbers) and the chunks printed after it."""

    row: RowSpec
    label: str
    chunks: list[Chunk]
    via_group: bool = False
    label_confidence: float = 1.0
    # Placed by structure: its label was not recognised, but its place in the statutory row order
    # (between two recognised rows) and its number of cells say which row it is.
    by_structure: bool = False
    approximate: bool = False  # its label matched with a few characters damaged


@dataclass
class OrphanRun:
    """Numbers printed inside a table after text that no spotter recognised as a row label."""

    label: str
    chunks: list[Chunk]


@dataclass
class LocatedTable:
    name: str
    region: Region
    runs: list[RowRun] = field(default_factory=list)
    missing_rows: list[str] = field(default_factory=list)
    # The row and group labels the table was read by (norm offsets): training data for the classifier.
    labels: list[LabelMatch] = field(default_factory=list)
    # Rows of numbers under unrecognised labels that structure could not place: their missing rows are
    # doubted, since one of them may be printed there.
    unplaced: list[OrphanRun] = field(default_factory=list)


def _prefix_patterns(prefix: Optional[str]) -> list[str]:
    if not prefix:
        return []
    if prefix.startswith("(") and prefix.endswith(")"):
        x = re.escape(prefix[1:-1])
        return [rf"\({x}\)", rf"{x}、"]
    if prefix.endswith("、"):
        x = re.escape(prefix[:-1])
        return [rf"{x}、", rf"\({x}\)"]
    if prefix.endswith("."):
        x = re.escape(prefix[:-1])
        return [rf"{x}[.、]"]
    return [re.escape(prefix)]


def _label_regex(label: str) -> str:
    return label[3:] if label.startswith("re:") else re.escape(label)


@lru_cache(maxsize=256)
def _compiled(labels: tuple[str, ...], prefix: Optional[str], required: bool) -> list[tuple[re.Pattern, float]]:
    pats = []
    prefixes = _prefix_patterns(prefix)
    pre = f"(?:{'|'.join(prefixes)})" if prefixes else ""
    for i, label in enumerate(labels):
        body = _label_regex(label)
        quality = 1.0 if i == 0 else 0.8
        if pre:
            pats.append((re.compile(pre + body), quality + 0.1))
        if not required or not pre:
            pats.append((re.compile(body), quality))
    return pats


def trim_next_ordinal(lin: LinearText, chunks: list[Chunk], next_row: Optional[RowSpec]) -> list[Chunk]:
    """Crawler text glues the next row's ordinal to this row's last number ("0 0 02.其他法律…"):
    when the next row's label was not recognised from its start, its ordinal is cut off the run."""
    if not chunks or next_row is None or not next_row.prefix or not next_row.prefix.endswith("."):
        return chunks
    ordinal = next_row.prefix[:-1]
    last = chunks[-1]
    after = lin.raw[last.end:last.end + 2]
    if (last.kind != "number" or last.segment.from_grid or not last.raw.endswith(ordinal)
            or not re.match(r"[.．、]\s*[\u4e00-\u9fff]", after)):
        return chunks
    rest = last.raw[:-len(ordinal)]
    if not rest:
        return chunks[:-1]
    return chunks[:-1] + [Chunk(raw=rest, segment=last.segment, kind="number", end=last.end - len(ordinal))]


NEVER = 10_000


@lru_cache(maxsize=4096)
def approximate_find(pattern: str, text: str, max_edits: int) -> Optional[tuple[int, int, int]]:
    """The best approximate occurrence of pattern in text (Sellers' edit-distance search):
    (start, end, edits), or None when every occurrence needs more than max_edits edits.
    (Cached: a table's candidate starts search the same gaps again.)"""
    m = len(pattern)
    # Each edit loses at most one of the pattern's characters: too few of them in the text, no match.
    chars = set(text)
    if sum(1 for c in pattern if c in chars) < m - max_edits:
        return None
    prev = [(0, j) for j in range(len(text) + 1)]  # (edits, start) ending at text[:j] for pattern[:0]
    for i in range(1, m + 1):
        cur = [(i, 0)] + [(0, 0)] * len(text)
        for j in range(1, len(text) + 1):
            # A digit of the text is never part of a label (it is the cell before or after it).
            edit = NEVER if text[j - 1].isdigit() else 1
            sub = prev[j - 1][0] + (0 if pattern[i - 1] == text[j - 1] else edit)
            best = (sub, prev[j - 1][1])
            if prev[j][0] + 1 < best[0]:  # pattern character dropped in the text
                best = (prev[j][0] + 1, prev[j][1])
            if cur[j - 1][0] + edit < best[0]:  # an extra character in the text
                best = (cur[j - 1][0] + edit, cur[j - 1][1])
            cur[j] = best
        prev = cur
    edits, end = min((prev[j][0], -j) for j in range(len(text) + 1))
    if edits > max_edits:
        return None
    return prev[-end][1], -end, edits


# How far from a recognised row a missed label is looked for (four times that between two rows).
APPROXIMATE_GAP = 400


def add_approximate_labels(norm: str, spec: TableSpec, chain: list[LabelMatch], start: int, end: int,
                           max_gap: int = APPROXIMATE_GAP) -> list[LabelMatch]:
    """Rows the spotter missed, found by their labels with look-alike, dropped or extra characters
    (about one edit in four characters), searched only where the row order puts them: between the
    recognised rows before and after it. Labels under four characters are too short to tell apart."""
    order = {r.key: i for i, r in enumerate(spec.rows)}
    chain = sorted(chain, key=lambda m: m.start)
    found = {m.row.key for m in chain}
    for row in spec.rows:
        if row.key in found:
            continue
        i = order[row.key]
        before = [m for m in chain if order[m.row.key] < i]
        after = [m for m in chain if order[m.row.key] > i]
        lo = before[-1].end if before else max(start, (after[0].start if after else end) - max_gap)
        hi = after[0].start if after else min(end, lo + max_gap)
        if hi - lo < 4 or hi - lo > 4 * max_gap:
            continue
        best = None
        for label in row.labels:
            if label.startswith("re:") or len(label) < 4:
                continue
            hit = approximate_find(fold(label), norm[lo:hi], len(label) // 4)
            if hit and (best is None or (hit[2], -(hit[1] - hit[0])) < (best[2], -(best[1] - best[0]))):
                best = hit
        if best is None:
            continue
        s, e, edits = best
        match = LabelMatch(row=row, group=None, start=lo + s, end=lo + e, quality=0.5, confidence=APPROXIMATE_LABEL,
                           approximate=True)
        chain = sorted(chain + [with_prefix(norm, match)], key=lambda m: m.start)
        found.add(row.key)
    return chain


def approximate_group_labels(norm: str, spec: TableSpec, chain: list[LabelMatch],
                             hits: list[LabelMatch]) -> list[LabelMatch]:
    """Group lines the spotter missed whose rows were all missed too ("（六）其他处埋" printed as one
    row): found approximately between the recognised rows before and after the group."""
    order = {r.key: i for i, r in enumerate(spec.rows)}
    seen = {h.group for h in hits}
    out = []
    for g in spec.groups:
        rows = [order[r.key] for r in spec.rows if r.group == g.name]
        if g.name in seen or not rows or any(order[m.row.key] in rows for m in chain):
            continue
        before = [m.end for m in chain if order[m.row.key] < min(rows)]
        after = [m.start for m in chain if order[m.row.key] > max(rows)]
        if not before or not after or after[0] - before[-1] > 4 * APPROXIMATE_GAP:
            continue
        lo, hi = max(before), min(after)
        for label in g.labels:
            if len(label) < 4:
                continue
            hit = approximate_find(fold(label), norm[lo:hi], len(label) // 4)
            if hit:
                out.append(LabelMatch(row=None, group=g.name, start=lo + hit[0], end=lo + hit[1], quality=0.5,
                                      confidence=APPROXIMATE_LABEL))
                break
    return out


def with_prefix(norm: str, m: LabelMatch) -> LabelMatch:
    """A label matched without its printed ordinal ("保护第三方…" after "…00000004."): the ordinal is
    part of the label, not the last digit of the previous row's numbers."""
    if m.row is None or not m.row.prefix:
        return m
    pats = [re.compile(p) for p in _prefix_patterns(m.row.prefix)]
    # The ordinal ends where the match starts, or inside it ("4" + ".保护…").
    for k in range(1, 6):
        pos = m.start - k
        if pos < 0:
            break
        for pat in pats:
            hit = pat.match(norm, pos)
            if hit and hit.end() >= m.start:
                return LabelMatch(row=m.row, group=m.group, start=pos, end=max(m.end, hit.end()),
                                  quality=m.quality, confidence=m.confidence, approximate=m.approximate)
    return m


def find_label(norm: str, labels: tuple[str, ...], prefix: Optional[str], required: bool, start: int, end: int) -> list[tuple[int, int, float]]:
    """All matches (start, end, quality) of a row's labels in norm[start:end], best per position."""
    found: dict[int, tuple[int, float]] = {}
    for pat, quality in _compiled(labels, prefix, required):
        for m in pat.finditer(norm, start, end):
            s = m.start()
            # A prefixed match and its bare core describe the same label: keep the wider one.
            prev = found.get(s)
            if prev is None or (quality, m.end()) > (prev[1], prev[0]):
                found[s] = (m.end(), quality)
    hits = sorted((s, e, q) for s, (e, q) in found.items())
    # Drop a bare core when a prefixed match covers it.
    out: list[tuple[int, int, float]] = []
    for s, e, q in hits:
        if out and s < out[-1][1]:
            if q > out[-1][2]:
                out[-1] = (s, e, q)
            continue
        out.append((s, e, q))
    return out


def best_chain(candidates: list[LabelMatch], order: dict[str, int]) -> list[LabelMatch]:
    """The chain of row labels, increasing in schema order and in position, with the largest weight."""
    cands = sorted(candidates, key=lambda c: c.start)
    n = len(cands)
    best = [0.0] * n
    back = [-1] * n
    for i, c in enumerate(cands):
        best[i] = c.quality
        oi = order[c.row.key]
        for j in range(i):
            p = cands[j]
            if p.end <= c.start and order[p.row.key] < oi and best[j] + c.quality > best[i]:
                best[i] = best[j] + c.quality
                back[i] = j
    if not n:
        return []
    i = max(range(n), key=lambda k: (best[k], -cands[k].start))
    chain = []
    while i >= 0:
        chain.append(cands[i])
        i = back[i]
    return chain[::-1]


# A row label matched with a few characters damaged, where the row order puts it: nearly sure.
APPROXIMATE_LABEL = 0.93
# A classifier label below this probability yields to structure when its cells do not fit its row.
WEAK_LABEL = 0.9
ROW_OF_C = 5  # cells in a row of Table C: a whole row printed empty is a row of zeros
# How much unrecognised text may sit between two of Table C's value rows.
APPEALS_GAP = 60
# How far before a table's first recognised row its unrecognised first rows may be looked for.
LOOKBACK = 600
# How much text may sit between a label and its numbers (the rest of a long label, a header cell).
MAX_LABEL_TAIL = 80


def read_chunks(lin: LinearText, raw_start: int, raw_end: int, stop_words=None,
                max_values: Optional[int] = None, max_skip: int = MAX_LABEL_TAIL, label_row: bool = False) -> list[Chunk]:
    """Read the value run in raw[raw_start:raw_end]: skip the label's tail, stop at the next text."""
    raw = lin.raw
    chunks: list[Chunk] = []
    skipped = 0
    i = raw_start
    while i < raw_end:
        ch = raw[i]
        if ch in SEPARATORS:
            i += 1
            continue
        m = _VALUE_TOKEN.match(raw, i, raw_end)
        token_end = i
        while token_end < raw_end and raw[token_end] not in SEPARATORS:
            token_end += 1
        if m and m.end() > i:
            text = m.group(0)
            is_placeholder = not any(c.isdigit() for c in text) and text not in (BLANK, UNREAD)
            if is_placeholder and m.end() != token_end and not _VALUE_START.match(raw, m.end()):
                # "无法提供", "—第..." : a placeholder character starting a word is text, not a value.
                m = None
        if m and m.end() > i:
            text = m.group(0)
            kind = chunk_kind(text)
            if kind == "number" and (
                    (m.end() < raw_end and _PROSE_AFTER_NUMBER.match(raw, m.end()))
                    # A lone digit starting a word and followed by "." and a character is a row's
                    # ordinal ("5.属于三类…"), not a cell (digits glued after a number stay theirs).
                    or (_ORDINAL.match(raw, i) and (i == 0 or raw[i - 1] in SEPARATORS))):
                if chunks:
                    break
                i = m.end()
                skipped += m.end() - m.start()
                if skipped > max_skip:
                    break
                continue
            if label_row and not chunks and crosses_a_grid_row(lin, raw_start, i):
                break
            chunks.append(Chunk(raw=text, segment=lin.segment_at(i), kind=kind, end=m.end()))
            i = m.end()
            if max_values and len(chunks) >= max_values:
                break
            continue
        # Text: part of the label (before any value) or the end of the run (after values).
        word = raw[i:token_end]
        if chunks:
            if not (stop_words and stop_words.fullmatch(re.sub(r"\s", "", word))):
                break
            # A header word between value rows (Table C printed as three small tables): skip it whole,
            # so its tail is not taken for text that ends the run.
            skipped += token_end - i
            i = token_end
            continue
        # Skip this text character by character so digits glued after it are still seen.
        i += 1
        skipped += 1
        if skipped > max_skip:
            break
    return chunks


def orphan_runs(lin: LinearText, raw_start: int, raw_end: int, limit: int = 60) -> list[OrphanRun]:
    """Value runs after the first one in raw[raw_start:raw_end], each after text that ended the
    previous run: rows whose labels were not recognised (or prose and furniture, which placement
    filters by the number of cells)."""
    out: list[OrphanRun] = []
    pos = raw_start
    while pos < raw_end and len(out) < limit:
        chunks = read_chunks(lin, pos, raw_end)
        if not chunks:
            # More text than a label's tail: go on from the next printed digit.
            nxt = _DIGIT.search(lin.raw, pos + MAX_LABEL_TAIL, raw_end)
            if nxt is None:
                break
            pos = max(pos + 1, nxt.start() - MAX_LABEL_TAIL // 2)
            continue
        first = chunks[0].end - len(chunks[0].raw)
        out.append(OrphanRun(label=lin.raw[pos:first].strip(), chunks=chunks))
        pos = chunks[-1].end
    return out


def overfull(chunks: list[Chunk], row: RowSpec) -> bool:
    """More separate printed numbers than the row has cells."""
    return sum(1 for c in chunks if c.kind != "blank") > len(row.columns) and not any(c.splittable for c in chunks)


def fits_row(orphan: OrphanRun, row: RowSpec) -> bool:
    """An orphan run can be a row's cells when it prints as many cells as the row has (or fewer
    cells whose digits, run together, are enough to split into them)."""
    n = len(row.columns)
    chunks = orphan.chunks
    filled = sum(1 for c in chunks if c.kind != "blank")
    if len(chunks) == n or (0 < filled <= n <= len(chunks)):
        return True  # (a grid row prints empty cells past a short row's last value)
    digits = sum(len(c.digits) if c.kind == "number" else 1 for c in chunks)
    return len(chunks) < n and any(c.splittable for c in chunks) and digits >= n


def monotone_matching(orphans: list[OrphanRun], rows: list[RowSpec]) -> Optional[list[tuple[int, int]]]:
    """The largest order-preserving matching of orphans to rows they fit, if it is the only one of
    its size (None when two differ: structure cannot tell, so nothing is placed)."""
    fit = [[fits_row(o, r) for r in rows] for o in orphans]

    @lru_cache(maxsize=None)
    def best(i: int, j: int) -> int:
        if i >= len(orphans) or j >= len(rows):
            return 0
        b = best(i + 1, j)
        for k in range(j, len(rows)):
            if fit[i][k]:
                b = max(b, 1 + best(i + 1, k + 1))
        return b

    found: list[list[tuple[int, int]]] = []

    def walk(i: int, j: int, need: int, acc: list[tuple[int, int]]) -> None:
        if len(found) > 1:
            return
        if need == 0:
            found.append(list(acc))
            return
        if i >= len(orphans):
            return
        for k in range(j, len(rows)):
            if fit[i][k] and 1 + best(i + 1, k + 1) >= need:
                walk(i + 1, k + 1, need - 1, acc + [(i, k)])
        if best(i + 1, j) >= need:
            walk(i + 1, j, need, acc)

    size = best(0, 0)
    if size == 0:
        return []
    walk(0, 0, size, [])
    return found[0] if len(found) == 1 else None


def place_orphans(events: list[tuple[str, object]], spec: TableSpec, empty: frozenset[str] = frozenset()) -> tuple[list[tuple[str, "OrphanRun"]], list["OrphanRun"]]:
    """Monotone alignment of unrecognised rows to the statutory row order, one gap at a time.

    Between two recognised rows, the template's rows not found there are the only ones the orphans
    can be (the row order is fixed by law). In each gap the largest order-preserving matching of
    orphans to missing rows they fit (by number of cells) is placed when it is the only one of its
    size; otherwise the gap is left to review. Returns (key, orphan) placements and the orphans left
    inside the table (those before its first or after its last recognised row are outside it, most
    likely: headers, prose, the next table)."""
    order = {r.key: i for i, r in enumerate(spec.rows)}
    found = {k for kind, k in events if kind == "row"}
    placed: list[tuple[str, OrphanRun]] = []
    unplaced: list[OrphanRun] = []
    gaps: list[tuple[int, list[OrphanRun], int]] = []
    prev, pending = -1, []
    for kind, item in events:
        if kind == "row":
            gaps.append((prev, pending, order[item]))
            prev, pending = order[item], []
        else:
            pending.append(item)
    gaps.append((prev, pending, len(spec.rows)))
    for lo, orphans, hi in gaps:
        if not orphans:
            continue
        if lo >= 0 and spec.rows[lo].key in empty and fits_row(orphans[0], spec.rows[lo]):
            # A recognised row that printed nothing within a label's reach, then numbers no row took:
            # its numbers, past a damaged header (or the label was a header cell taken for it).
            placed.append((spec.rows[lo].key, orphans[0]))
            orphans = orphans[1:]
            if not orphans:
                continue
        missing = [r for r in spec.rows[lo + 1:hi] if r.key not in found] if lo < hi else []
        matching = monotone_matching(orphans, missing)
        inside = lo != -1 and hi != len(spec.rows)
        if matching is None:
            # Inside the table every orphan is doubt; before or after it, those that could be a row.
            unplaced.extend(o for o in orphans if inside or any(fits_row(o, r) for r in missing))
            continue
        for i, k in matching:
            placed.append((missing[k].key, orphans[i]))
            found.add(missing[k].key)
        used = {i for i, _ in matching}
        if hi < len(spec.rows) and spec.rows[hi].key in empty and len(orphans) - 1 not in used \
                and fits_row(orphans[-1], spec.rows[hi]):
            # A recognised row that printed nothing after its label, right after numbers no row took:
            # its label was printed after them (or a header cell was taken for it).
            placed.append((spec.rows[hi].key, orphans[-1]))
            used.add(len(orphans) - 1)
        if inside:
            unplaced.extend(o for i, o in enumerate(orphans) if i not in used)
    return placed, unplaced


class HeaderWords:
    """Table C's header words between its value rows, matched exactly or, when OCR or an export
    damaged them ("行政诉松（未经复议直接起诉）"), by most of their characters being header characters."""

    def __init__(self, exact: re.Pattern, chars: frozenset[str], share: float = 0.6):
        self.exact, self.chars, self.share = exact, chars, share

    def fullmatch(self, word: str) -> bool:
        if self.exact.fullmatch(word):
            return True
        cjk = [c for c in word if _CJK.match(c)]
        if not cjk or any(c.isdigit() for c in word) or len(word) > 24:
            return False
        if len(cjk) == 1:  # a header printed vertically, one character a line
            return cjk[0] in self.chars
        return sum(c in self.chars for c in cjk) >= max(2, self.share * len(cjk))


def crosses_a_grid_row(lin: LinearText, label_end: int, value_start: int) -> bool:
    """Between a label in a grid row and a first value in another, a whole printed row (a header
    row, another row's label): the value is not the label's. A label's tail wrapped onto the next row
    with its values is still the label's (no row in between)."""
    if label_end <= 0:
        return False
    first = bisect.bisect_right(lin.starts, label_end - 1) - 1
    last = bisect.bisect_right(lin.starts, value_start) - 1
    label_row, value_row = lin.segments[max(first, 0)].grid_row, lin.segments[last].grid_row
    if label_row is None or value_row is None or label_row == value_row:
        return False
    return any(s.grid_row not in (label_row, value_row) for s in lin.segments[first + 1:last])


class LabelSpotter(Protocol):
    """Finds row and group labels in the normalised text; the swappable part of locating."""

    name: str

    def rows(self, lin: LinearText, spec: TableSpec, start: int, end: int) -> list[LabelMatch]: ...

    def groups(self, lin: LinearText, spec: TableSpec, start: int, end: int) -> list[LabelMatch]: ...


class RegexSpotter:
    """The transparent baseline: the schema's label variants matched literally (prefixes optional)."""

    name = "baseline"

    def rows(self, lin: LinearText, spec: TableSpec, start: int, end: int) -> list[LabelMatch]:
        return [LabelMatch(row=r, group=None, start=s, end=e, quality=q)
                for r in spec.rows
                for s, e, q in find_label(lin.norm, r.labels, r.prefix, r.prefix_required, start, end)]

    def groups(self, lin: LinearText, spec: TableSpec, start: int, end: int) -> list[LabelMatch]:
        used = {r.group for r in spec.rows if r.group}
        return [LabelMatch(row=None, group=g.name, start=s, end=e, quality=q)
                for g in spec.groups if g.name in used
                for s, e, q in find_label(lin.norm, g.labels, g.prefix, False, start, end)]


class TableLocator:
    """Finds the three tables' regions, their printed rows and value runs."""

    def __init__(self, schema: Schema, spotter: Optional[LabelSpotter] = None):
        self.schema = schema
        self.spotter = spotter or RegexSpotter()

    # -- regions -------------------------------------------------------------------------------
    def _first(self, norm: str, patterns: list[str], start: int = 0, end: Optional[int] = None) -> Optional[int]:
        end = len(norm) if end is None else end
        best = None
        for p in patterns:
            m = re.compile(p).search(norm, start, end)
            if m and (best is None or m.start() < best):
                best = m.start()
        return best

    def _best_start(self, lin: LinearText, spec: TableSpec, anchors: list[str], start: int, end: int,
                    min_rows: int, min_labels: int = 12) -> Optional[LocatedTable]:
        """Try each anchor occurrence (headings recur in prose and in the intro); keep the one whose
        rows carry the most printed values, the latest on a tie (nearest the table). A table whose
        cells are all printed empty is found by its labels alone (min_labels rows in order)."""
        norm = lin.norm
        headed = {m.start() for a in anchors for m in re.finditer(a, norm[start:end])}
        # A spotter that reads past noise also says where a table's rows begin; without the table's
        # own header there, one label with a number is likelier prose ("制发规范性文件4条") than a table.
        spotted = {p - start for p in getattr(self.spotter, "anchors", lambda *_: [])(lin, spec) if start <= p < end}
        positions = sorted(headed | spotted)
        best: Optional[LocatedTable] = None
        best_count = 0
        for p in positions[:50]:
            table = self._rows(lin, spec, start + p, min(end, start + p + TABLE_WINDOW))
            # Rows placed by structure do not vote for where a table starts: only recognised ones do.
            count = sum(1 for r in table.runs if r.chunks and not r.by_structure)
            need = min_rows if p in headed else max(min_rows, 2)
            ok = count >= need or len(table.runs) >= min_labels
            # More rows with values first; then rows whose labels are surer (a start inside a label loses it).
            score = 100 * count + sum(r.label_confidence for r in table.runs)
            if ok and score >= best_count:
                best, best_count = table, score
        return best

    def locate(self, lin: LinearText, template: str) -> dict[str, LocatedTable]:
        norm = lin.norm
        n = len(norm)
        out: dict[str, LocatedTable] = {}
        b_spec = self.schema.table(template, "requests")
        # Table B first: its header and first rows are the strongest landmarks of the document.
        b_table = self._best_start(lin, b_spec, [r"[勾钩]稽关系", r"申请人情况", r"本年新收政府信息公开申请", r"收到和处理政府信息公开申请"], 0, n, 3)
        if b_table is not None:
            out["requests"] = b_table
        b_start = b_table.region.start if b_table else n
        b_end = b_table.region.end if b_table else 0
        # Table A lies before Table B and starts at its own header (第二十条第(一)项 / 信息内容).
        a_table = self._best_start(lin, self.schema.table(template, "proactive"), [r"第二十条第", r"信息内容"], 0, b_start, 1,
                                   min_labels=4)
        if a_table is None:
            # Without the table's own header, a lone label is prose ("制发规范性文件0条").
            a_table = self._best_start(lin, self.schema.table(template, "proactive"), [r"主动公开政府信息情况"], 0, b_start, 3,
                                       min_labels=99)
        if a_table is not None:
            out["proactive"] = a_table
        # Table C follows Table B.
        c_start = self._first(norm, [r"行政复议"], b_end)
        if c_start is None:  # the heading damaged: its other words
            c_start = self._first(norm, [r"政复议", r"行政复", r"行政诉讼", r"复议", r"诉讼"], b_end)
        if c_start is not None:
            c_end_m = re.compile(r"五、|5、|存在的?主要问题|其他需要报告").search(norm, c_start)
            c_end = c_end_m.start() if c_end_m else n
            c_table = self._appeals(lin, c_start, c_end)
            if c_table is not None:
                out["appeals"] = c_table
        return out

    # -- rows ----------------------------------------------------------------------------------
    def _rows(self, lin: LinearText, spec: TableSpec, start: int, end: int) -> LocatedTable:
        norm = lin.norm
        order = {r.key: i for i, r in enumerate(spec.rows)}
        chain = [with_prefix(norm, m) for m in best_chain(self.spotter.rows(lin, spec, start, end), order)]
        chain = add_approximate_labels(norm, spec, chain, start, end)
        group_hits = [g for g in self.spotter.groups(lin, spec, start, end)
                      # A group label inside a chained row label (其他处理 as the v2019 row) is that row.
                      if not any(c.start <= g.start < c.end for c in chain)]
        group_hits += approximate_group_labels(norm, spec, chain, group_hits)
        other_tables = self._other_tables(spec.name)
        boundaries = sorted([(m.start, m.end, m) for m in chain + group_hits], key=lambda t: t[0])
        located = LocatedTable(name=spec.name, region=Region(spec.name, start, end), labels=chain + group_hits)
        found_keys = {m.row.key for m in chain}  # (a demoted unsure label leaves its key below)
        single = dict(spec.single_row_groups)
        last_end = start  # norm offset where the table's printed content ends
        # The table's rows in printed order: ("row", key) for a recognised row, ("orphan", run) for
        # numbers under text no spotter recognised; structure places the orphans afterwards.
        events: list[tuple[str, object]] = []
        for idx, (s, e, m) in enumerate(boundaries):
            nxt = boundaries[idx + 1][0] if idx + 1 < len(boundaries) else end
            # A row's numbers never lie past another statutory table's title or header.
            other = other_tables.search(norm, e, nxt)
            if other:
                nxt = other.start()
            raw_s = lin.text.raw_span(e, e)[0]
            raw_e = lin.text.raw_span(nxt, nxt)[0] if nxt < len(norm) else len(lin.raw)
            label_text = lin.raw[slice(*lin.text.raw_span(s, e))]
            if m.row is not None:
                chunks = read_chunks(lin, raw_s, raw_e, label_row=True)
                nxt_row = spec.rows[order[m.row.key] + 1] if order[m.row.key] + 1 < len(spec.rows) else None
                chunks = trim_next_ordinal(lin, chunks, nxt_row)
                late = [] if chunks else orphan_runs(lin, raw_s, raw_e)
                if late and fits_row(late[0], m.row):
                    # Numbers further after the label than a label's tail (a damaged header between):
                    # this row's, by order and cell count; doubted like any row placed by structure.
                    located.runs.append(RowRun(row=m.row, label=label_text, chunks=late[0].chunks,
                                               label_confidence=m.confidence, by_structure=True))
                    last_end = max(last_end, self._norm_pos(lin, late[0].chunks[-1].end))
                    events.append(("row", m.row.key))
                    events.extend(("orphan", o) for o in late[1:])
                    continue
                if m.confidence < WEAK_LABEL and overfull(chunks, m.row):
                    # An unsure label over more cells than its row has: the row is likely another,
                    # so structure places it (or leaves it to review) like an unrecognised one.
                    found_keys.discard(m.row.key)
                    located.labels.remove(m)
                    events.append(("orphan", OrphanRun(label=label_text, chunks=chunks)))
                    events.extend(("orphan", o) for o in orphan_runs(lin, chunks[-1].end, raw_e))
                    continue
                located.runs.append(RowRun(row=m.row, label=label_text, chunks=chunks, label_confidence=m.confidence,
                                           approximate=m.approximate))
                last_end = max(last_end, e, self._norm_pos(lin, chunks[-1].end) if chunks else e)
                events.append(("row", m.row.key))
                events.extend(("orphan", o) for o in (orphan_runs(lin, chunks[-1].end, raw_e) if chunks else late))
                continue
            # A group line: numbers right after it belong to a row whose own label is not printed.
            chunks = read_chunks(lin, raw_s, raw_e)
            target = single.get(m.group)
            group_rows = [r for r in spec.rows if r.group == m.group]
            if not chunks:
                # （六）其他处理 printed as one row of empty cells (no sub-rows): that row, read as 0.
                if target and target not in found_keys and not any(r.key in found_keys for r in group_rows) \
                        and idx + 1 < len(boundaries):
                    found_keys.add(target)
                    located.runs.append(RowRun(row=spec.row(target), label=label_text, chunks=[]))
                    events.append(("row", target))
                events.extend(("orphan", o) for o in orphan_runs(lin, raw_s, raw_e))
                continue
            if target and any(r.key in found_keys for r in group_rows if r.key != target):
                target = None
            # （六）其他处理 printed as one row in a v2021 table is that row by definition, not a guess.
            guessed = target is None
            if target is None:
                first = group_rows[0] if group_rows else None
                target = first.key if first and first.key not in found_keys else None
            if target is None:
                # Numbers no row of the group can take here: rows for structure to place.
                events.append(("orphan", OrphanRun(label=label_text, chunks=chunks)))
                events.extend(("orphan", o) for o in orphan_runs(lin, chunks[-1].end, raw_e))
                continue
            found_keys.add(target)
            located.runs.append(RowRun(row=spec.row(target), label=label_text, chunks=chunks, via_group=guessed))
            last_end = max(last_end, self._norm_pos(lin, chunks[-1].end))
            events.append(("row", target))
            events.extend(("orphan", o) for o in orphan_runs(lin, chunks[-1].end, raw_e))
        if boundaries and (not chain or order[chain[0].row.key] > 0):
            # The table may begin with rows whose labels were not recognised, before the anchor the
            # region starts at: look back a little for them (placement keeps only rows that fit).
            first_norm = boundaries[0][0]
            base = window = max(0, first_norm - LOOKBACK)
            # Not past the table's own title or header: what precedes it is another table or prose.
            # (An anchor that recurs in the table, like Table A's 信息内容, heads a group, not the table.)
            info = self.schema.table_info.get(spec.name, {})
            stops = [re.escape(info["title"])] if info.get("title") else []
            anchors = info.get("anchors", [])
            stops += [a for a in anchors if len(re.findall(a, norm[start:end])) <= 1]
            for a in stops:
                for hit in re.finditer(a, norm[base:first_norm]):
                    window = max(window, base + hit.end())
            lookback = orphan_runs(lin, lin.text.raw_span(window, window)[0], lin.text.raw_span(first_norm, first_norm)[0])
            # Before the first recognised row, only numbers under a label-like text (two characters or
            # more, no sentence) can be a row: a year or a count in the prose before a table is not.
            events[:0] = [("orphan", o) for o in lookback
                          if not _SENTENCE.search(o.label) and len(_CJK.findall(o.label)) >= 2]
        empty = frozenset(r.row.key for r in located.runs if not r.chunks)
        placed, located.unplaced = place_orphans(events, spec, empty)
        for key, orphan in placed:
            found_keys.add(key)
            located.runs = [r for r in located.runs if r.row.key != key]
            located.runs.append(RowRun(row=spec.row(key), label=orphan.label, chunks=orphan.chunks, by_structure=True))
            last_end = max(last_end, self._norm_pos(lin, orphan.chunks[-1].end))
            first = self._norm_pos(lin, orphan.chunks[0].end - len(orphan.chunks[0].raw) - len(orphan.label))
            located.region.start = min(located.region.start, first)
        located.runs.sort(key=lambda r: order[r.row.key])
        located.missing_rows = [r.key for r in spec.rows if r.key not in found_keys]
        if located.runs:
            located.region.end = min(end, last_end)
        return located

    def _other_tables(self, name: str) -> re.Pattern:
        """Where another statutory table begins: its title, or (for the table before Table C) the
        heading of Table C, whose anchor 行政复议 is no row label of Tables A and B."""
        pats = [re.escape(info["title"]) for t, info in self.schema.table_info.items() if t != name and info.get("title")]
        if name != "appeals":
            pats.append("行政复议")
        return re.compile("|".join(pats))

    @staticmethod
    def _norm_pos(lin: LinearText, raw_pos: int) -> int:

        return bisect.bisect_left(lin.text.to_raw, raw_pos)

    def _appeals(self, lin: LinearText, start: int, end: int) -> Optional[LocatedTable]:
        info = self.schema.table_info["appeals"]
        header = "|".join(sorted(info["header_words"], key=len, reverse=True))
        header_re = HeaderWords(re.compile(rf"(?:{header}|[、,.:：()（）])+"), frozenset("".join(info["header_words"])))
        norm = lin.norm
        region = norm[start:end]
        # The header must be printed (a prose heading about appeals is not the table).
        if sum(1 for w in ("维持", "纠正", "审结", "结果", "总计") if w in region) < 2:
            return None
        spec = self.schema.table("v2019", "appeals")  # (both templates print the same Table C)
        raw_s = lin.text.raw_span(start, start)[0]
        raw_e = lin.text.raw_span(end, end)[0] if end < len(norm) else len(lin.raw)
        chunks = read_chunks(lin, raw_s, raw_e, stop_words=header_re, max_skip=10_000)
        # Header cells damaged past recognition ("给维特") end the run early; the table's cells go on
        # after a short stretch of such text, up to the table's 15 cells. An empty cell among the
        # header's words (a header cell whose text was lost) is no value cell.
        n_cells = sum(len(r.columns) for r in spec.rows)
        row_chunks = grid_value_row(lin, raw_s, raw_e, n_cells)
        if row_chunks is not None:
            # The grid says which printed row holds the values: digits in header cells (a seal's
            # stroke read as '1', a damaged header word) are not among them.
            chunks = row_chunks
        while chunks and len(chunks) < n_cells:
            # Only empty cells so far (a header cell lost its text): the header goes on; read past it.
            only_blanks = len(chunks) < ROW_OF_C and all(c.kind == "blank" for c in chunks)
            more = read_chunks(lin, chunks[-1].end, raw_e, stop_words=header_re,
                               max_skip=10_000 if only_blanks else APPEALS_GAP)
            if not more:
                break
            if only_blanks and _CJK.search(lin.raw, chunks[-1].end, more[0].end - len(more[0].raw)):
                chunks = []
            chunks.extend(more[:n_cells - len(chunks)])
        if not chunks and not (region.count("维持") >= 2 and region.count("审结") >= 2 and "纠正" in region):
            # Only the full column header with no number after it is a table of empty cells (zeros);
            # a heading or a sentence about appeals is not a table.
            return None
        run = RowRun(row=RowSpec(table="appeals", key="*", labels=(), columns=tuple(k for r in spec.rows for k in r.field_keys())),
                     label="", chunks=chunks)
        return LocatedTable(name="appeals", region=Region("appeals", start, end), runs=[run])


def grid_value_row(lin: LinearText, raw_start: int, raw_end: int, n_cells: int) -> Optional[list[Chunk]]:
    """The chunks of the first grid row in raw[raw_start:raw_end] whose cells are exactly ``n_cells``
    values (numbers, placeholders, printed-empty or unread cells, no text): Table C's value row, read
    by structure. None where no grid row is that (text formats, a row split or merged by damage)."""
    lo = bisect.bisect_left(lin.starts, raw_start)
    rows: dict[tuple[int, int], list[int]] = {}
    for k in range(lo, len(lin.segments)):
        if lin.starts[k] >= raw_end:
            break
        seg = lin.segments[k]
        if seg.grid_row is not None:
            rows.setdefault(seg.grid_row, []).append(k)
    for members in rows.values():
        members = _trim_slivers(lin, members, n_cells)
        if len(members) != n_cells or members[-1] - members[0] != n_cells - 1:
            continue
        chunks = [_value_chunk(lin, k) for k in members]
        garbled = [i for i, c in enumerate(chunks) if c is None]
        if len(garbled) > MAX_GARBLED_VALUE_CELLS:
            continue
        # A cell of the row of values read as text (a seal's characters over it): its place is
        # known, its value is not: unread (null, doubted), never a shift of the row.
        for i in garbled:
            k = members[i]
            chunks[i] = Chunk(raw=UNREAD, segment=replace(lin.segments[k], text=UNREAD), kind="unread",
                              end=lin.starts[k] + len(lin.segments[k].text))
        return chunks
    return None


# At most this many cells of Table C's value row may be read as text and the row still be taken
# by structure (the rest, 12 of 15 at least, read as values).
MAX_GARBLED_VALUE_CELLS = 3


# A value cell's reading with a stroke or two of something else before or after its number (a
# seal's character over the cell, '可0', 'r 0 r'; no other digit): the number, doubted.
_JUNK_AROUND_VALUE = re.compile(r"^(\D{0,2}?)\s*(" + _VALUE_TOKEN.pattern + r")\s*(\D{0,2})$")
JUNK_VALUE_CONFIDENCE = 0.5
_DASH_IN_JUNK = {c for c, mark in PLACEHOLDER_MARKS.items() if mark == "-"} | {"一"}


def chunk_kind(token: str) -> str:
    """What a value token is: "blank", "unread", "number" or "placeholder"."""
    if token in (BLANK, UNREAD):
        return "blank" if token == BLANK else "unread"
    return "number" if any(c.isdigit() for c in token) else "placeholder"


def _junk_doubted(seg: Segment) -> Segment:
    """The segment of a value read out of junk, its confidence at most JUNK_VALUE_CONFIDENCE."""
    return replace(seg, confidence=min(seg.confidence if seg.confidence is not None else 1.0, JUNK_VALUE_CONFIDENCE))


def _value_chunk(lin: LinearText, k: int) -> Optional[Chunk]:
    """Segment k as one value cell's chunk, or None when it holds text."""
    seg = lin.segments[k]
    text = seg.text.strip()
    start = lin.starts[k] + (len(seg.text) - len(seg.text.lstrip()))
    token = text
    if _VALUE_TOKEN.fullmatch(text) is None:
        dashes = [c for c in text if c in _DASH_IN_JUNK]
        if len(dashes) == 1 and not any(c.isdigit() for c in text) and len(text) <= 5:
            # '一文公': the '-' placeholder with a seal's characters read around it (a digit among
            # them may be the cell's number: no placeholder then).
            i = text.index(dashes[0])
            return Chunk(raw="-", segment=_junk_doubted(seg), kind="placeholder", end=start + i + 1)
        m = _JUNK_AROUND_VALUE.match(text)
        if m is None or not (m.group(1) or m.group(3)):
            return None
        token = m.group(2)
        start += text.index(token, len(m.group(1)))
        seg = _junk_doubted(seg)
    return Chunk(raw=token, segment=seg, kind=chunk_kind(token), end=start + len(token))


def _trim_slivers(lin: LinearText, members: list[int], n_cells: int) -> list[int]:
    """A grid row with more cells than Table C's, less the stray cells at its ends: narrow ones (under
    0.6 of the row's median width), empty ones of a width no value cell has (20% off the median), and
    an empty one at one end where the other end holds a value.
    A seal's ring or a margin's stroke taken for a rule cuts such a cell off beside the table, and it
    holds no value."""
    widths = {k: (lin.segments[k].bbox.x1 - lin.segments[k].bbox.x0) if lin.segments[k].bbox else None
              for k in members}
    known = sorted(w for w in widths.values() if w is not None)
    if len(members) <= n_cells or len(known) != len(members):
        return members
    median = known[len(known) // 2]

    def blank(k: int) -> bool:
        return lin.segments[k].text.strip() in (BLANK, "")

    def stray(k: int) -> bool:
        # A sliver, or an empty cell of a width no value cell has (a ring's arc beside the table).
        return widths[k] < 0.6 * median or (blank(k) and abs(widths[k] - median) > 0.2 * median)

    out = list(members)
    while len(out) > n_cells:
        if stray(out[-1]):
            out.pop()
        elif stray(out[0]):
            out.pop(0)
        elif blank(out[0]) != blank(out[-1]):
            # One end printed empty, the other not: the empty one is the cell cut off beside the
            # table (a value row of Table C prints its numbers, or placeholders, to both ends).
            out.pop(0 if blank(out[0]) else -1)
        else:
            break
    return out


def missing_row_doubt(key: str, spec: TableSpec, found: set[str], unplaced_numbers: bool) -> Optional[str]:
    """Why a row not found in a found table may be printed after all (None: it is most likely not
    printed). Reports leave out a table's first rows (规章) or print a group as one row (其他处理);
    a statutory row missing between printed ones is more likely unrecognised than unprinted."""
    if unplaced_numbers:
        return "row not recognised; numbers printed under labels that were not recognised may be this row"
    order = [r.key for r in spec.rows]
    i = order.index(key)
    row = spec.rows[i]
    for group, target in spec.single_row_groups:
        if row.group == group and target in found and key != target:
            return None  # the group printed as its one row
    if any(k in found for k in order[:i]) and any(k in found for k in order[i + 1:]):
        return "row not recognised between printed rows (its label may be damaged or missing)"
    return None


# ---------------------------------------------------------------------------------------------
# The locate stage: template detection, then the tables' rows, agency and year
# ---------------------------------------------------------------------------------------------

def detect_template(schema: Schema, norm: str, year: Optional[int]) -> Optional[str]:
    """The template whose header words the text prints more of; on a tie, the year's (None: no year)."""
    scores = {t: sum(1 for p in pats if p.search(norm)) for t, pats in schema.template_markers.items()}
    if scores["v2019"] != scores["v2021"]:
        return max(scores, key=scores.get)
    if year is None:
        return None
    return template_for_year(year)


# A table's own header words: where they are printed and the table was not found, the model looks.
_TABLE_HEADINGS = {"proactive": re.compile(r"第二十条|信息内容"), "appeals": re.compile(r"维持|纠正|审结"),
                   "requests": re.compile(r"申请人情况|本年新收|[勾钩]稽|予以公开")}


def located_completely(located: dict, requests_spec, norm: str) -> bool:
    """Every statutory table found, every label matched exactly, no row placed by structure or left
    doubted, Table C with all its cells: nothing a trained spotter could add."""
    if "requests" not in located:  # the heart of a report: when its labels were not found, the model looks
        return False
    for name in set(TABLE_NAMES) - set(located):
        # A table the schema's labels did not find, where its heading is printed: let the model look.
        if _TABLE_HEADINGS[name].search(norm):
            return False
    for name, table in located.items():
        if table.unplaced or any(r.by_structure or r.via_group for r in table.runs):
            return False
        if any(m.confidence < 0.99 for m in table.labels):
            return False
        if name == "appeals":
            chunks, n = table.runs[0].chunks, len(table.runs[0].row.columns)
            cells = sum(len(c.digits) if c.kind == "number" else len(c.raw) if c.kind == "placeholder" else 1
                        for c in chunks)
            if chunks and (len(chunks) > n or cells < n):  # cells lost or extra: labels alone do not settle it
                return False
            continue
        if name == "requests":
            found = {r.row.key for r in table.runs}
            if any(missing_row_doubt(k, requests_spec, found, False) for k in table.missing_rows):
                return False
    return True


class LocateStage:
    """Linearise, detect the template, find the tables' rows and value runs, agency and year."""

    name = "locate"

    def __init__(self, schema: Schema, spotter=None):
        self.schema = schema
        self.locator = TableLocator(schema, spotter)
        # A cascade: the schema's labels first; the trained spotter (seconds of model time per hundred
        # documents) only where they leave a table incomplete. A complete reading by the schema's labels
        # is the same one the classifier gives, which adds candidates only where labels are missing.
        self.schema_first = TableLocator(schema, RegexSpotter()) if self.locator.spotter.name != "baseline" else None

    def _locate(self, lin, template: str) -> dict:
        if self.schema_first is not None:
            located = self.schema_first.locate(lin, template)
            if located_completely(located, self.schema.table(template, "requests"), lin.norm):
                return located
        return self.locator.locate(lin, template)

    def __call__(self, doc: Document) -> Document:
        from . import metadata  # metadata uses approximate_find from this module

        # Approximate label searches are reused across a document's candidate table starts, never
        # across documents: a long-running worker keeps no other document's text.
        approximate_find.cache_clear()
        lin = linearize(doc)
        doc.linear = lin
        doc.year = metadata.detect_year(lin)
        doc.agency = metadata.detect_agency(lin)
        template = detect_template(self.schema, lin.norm, doc.year) or DEFAULT_TEMPLATE
        doc.spotter = self.locator.spotter.name
        doc.model_version = getattr(self.locator.spotter, "model_version", None)
        doc.located = self._locate(lin, template)
        if doc.located:
            # The tables' own headers decide the template; locate again only if they disagree with
            # the whole text's first guess (the two templates' rows differ).
            region = lin.norm[min(t.region.start for t in doc.located.values()):max(t.region.end for t in doc.located.values())]
            region_template = detect_template(self.schema, region, doc.year) or template
            if region_template != template:
                template = region_template
                doc.located = self._locate(lin, template)
        doc.template = template
        doc.regions = {k: Region(k, t.region.start, t.region.end) for k, t in doc.located.items()}
        return doc
