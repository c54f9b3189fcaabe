"""Tags for a corrected table from its values: value alignment.

A reviewed table no reading got right (its labels too damaged to match, say) still prints the
reviewer's numbers. The schema's rows, in order, are aligned to the runs of numeric cells of the
table's region; a row whose gold values equal a run's numbers (one number per cell, or digits run
together that split into exactly those values) is matched, and the text just before that run is the
row's label. Only alignments the values pin down are used:

* rows in schema order to runs in position order (dynamic programming, maximising matched rows);
* a row whose values are all zero (or blank) is ambiguous alone: it counts only where the order pins
  it, i.e. the rows and runs between two matched non-zero neighbours pair up one to one;
* a non-zero row that could take another run between its matched neighbours, or whose run another
  row could take, is ambiguous and dropped;
* the table is used only when at least half of its non-zero rows are matched, and no non-zero row is
  contradicted (its values printed nowhere while a reading read other numbers under its label: the
  correction is not in the text, so the text cannot show where the labels are).

Everything in the table's span that is not confidently tagged is ``IGNORE`` (no loss).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from nianbao.document import Document
from nianbao.evaluate import same_value
from nianbao.inference.locate import _prefix_patterns
from nianbao.inference.normalize import BLANK, SEPARATORS
from nianbao.labels import LabelledDocument
from nianbao.schema import DEFAULT_TEMPLATE, RowSpec, TableSpec, load_schema

# A cell that is one printed value: a number (optional unit) or a placeholder meaning 0.
_NUMBER = re.compile(r"(?P<sign>-)?(?P<int>\d+(?:,\d{3})*)(?:\.(?P<dec>\d+))?(?:万元|元)?")
_PLACEHOLDER = re.compile(r"(?:[-—/]+|无|" + BLANK + ")")
# How far past the readings' region a table's last rows may lie (labels the readings did not find).
EXTEND = 1500
MIN_SHARE = 0.5  # of the non-zero rows, matched


@dataclass
class Token:
    start: int  # norm offsets
    end: int
    segment: int
    text: str
    kind: str  # "number" | "placeholder" | "blank" | "text"
    value: Optional[float] = None
    splittable: bool = False


@dataclass
class Run:
    tokens: list[Token]

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end


@dataclass
class Alignment:
    table: str
    span: tuple[int, int]  # norm offsets the tags cover
    tags: list[str]  # tags over span (IGNORE where unsure)
    matched: dict[str, int] = field(default_factory=dict)  # row key -> run index
    nonzero_rows: int = 0
    nonzero_matched: int = 0
    convincing: bool = False
    why: str = ""


def _classify(text: str) -> tuple[str, Optional[float]]:
    if text == BLANK:
        return "blank", 0.0
    m = _NUMBER.fullmatch(text)
    if m:
        v = float(m.group("int").replace(",", "") + ("." + m.group("dec") if m.group("dec") else ""))
        return "number", -v if m.group("sign") else v
    if _PLACEHOLDER.fullmatch(text):
        return "placeholder", 0.0
    return "text", None


# Inside a token, the numbers glued to text (one-line exports): digits not followed by an enumerator's
# dot (the digits before a glued "6." are a number), runs of placeholders, a lone placeholder next to a digit.
_GLUED = re.compile(r"\d+(?=\d[.、．][^\d])|\d+(?:\.\d+)?(?![.、．\d])|无{2,}|(?<=\d)无|无(?=\d)|[-—/]{2,}|(?<=[\d无])[-—/]|[-—/](?=[\d无])")


def _glued(text: str) -> list[tuple[int, int]]:
    """Parts of one token: the whole token when it is one value or plain text, else text and values apart."""
    if _classify(text)[0] != "text" or not _GLUED.search(text):
        return [(0, len(text))]
    out, pos = [], 0
    for m in _GLUED.finditer(text):
        if m.start() > pos:
            out.append((pos, m.start()))
        if m.group(0)[0] in "无-—/" and len(m.group(0)) > 1:
            out.extend((k, k + 1) for k in range(m.start(), m.end()))
        else:
            out.append((m.start(), m.end()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def tokens_in(doc: Document, lo: int, hi: int) -> list[Token]:
    """The window's tokens (norm offsets): split at segment boundaries and at separators."""
    lin = doc.linear
    norm, to_raw, raw = lin.norm, lin.text.to_raw, lin.raw
    out: list[Token] = []
    i = lo
    while i < hi:
        seg = bisect.bisect_right(lin.starts, to_raw[i]) - 1
        j = i + 1
        while j < hi and not (raw[to_raw[j] - 1] in SEPARATORS):
            j += 1
        from_grid = lin.segments[max(seg, 0)].from_grid if lin.segments else False
        for a, b in _glued(norm[i:j]):  # a label with its numbers glued on: split them apart
            text = norm[i + a:i + b]
            kind, value = _classify(text)
            out.append(Token(i + a, i + b, seg, text, kind, value,
                             splittable=kind == "number" and not from_grid and "." not in text and "," not in text
                             and len(text.lstrip("-")) > 1))
        i = j
    return out


def _gold_row(gold: LabelledDocument, row: RowSpec) -> Optional[list[Optional[float]]]:
    keys = row.field_keys()
    if not any(k in gold.values for k in keys):
        return None
    vals = [gold.values.get(k) for k in keys]
    if all(v is None for v in vals):
        return None
    return [None if v is None else float(v) for v in vals]


def _is_int(v: float) -> bool:
    return v >= 0 and abs(v - round(v)) < 1e-9


def row_matches(tokens: list[Token], gold: list[Optional[float]]) -> bool:
    """Whether a run's cells are the row's values: one value per cell (a blank value may be a placeholder
    or no cell), or digits run together that split into consecutive values."""

    @lru_cache(maxsize=None)
    def go(t: int, g: int) -> bool:
        if g == len(gold):
            return t == len(tokens)
        v = gold[g]
        if v is None and go(t, g + 1):
            return True
        if t == len(tokens):
            return False
        tok = tokens[t]
        want = 0.0 if v is None else v
        if tok.kind in ("placeholder", "blank"):
            return want == 0.0 and go(t + 1, g + 1)
        if tok.value is not None and abs(tok.value - want) < 1e-6 and go(t + 1, g + 1):
            return True
        if tok.splittable:
            digits, acc = tok.text, ""
            for k in range(g, len(gold)):
                w = gold[k]
                if w is None or not _is_int(w):
                    break
                acc += str(int(round(w)))
                if len(acc) > len(digits) or not digits.startswith(acc):
                    break
                if k > g and acc == digits and go(t + 1, k + 1):
                    return True
        return False

    return go(0, 0)


def _align(rows: list[tuple[RowSpec, list]], runs: list[Run], compat: list[list[bool]], nonzero: list[bool]) -> dict[int, int]:
    """Monotone alignment maximising matched non-zero rows (zero rows break ties): row index -> run index."""
    R, J = len(rows), len(runs)
    w = [1.0 if nz else 0.001 for nz in nonzero]
    # best[i][j]: best score using rows < i and runs < j.
    best = [[0.0] * (J + 1) for _ in range(R + 1)]
    move = [[0] * (J + 1) for _ in range(R + 1)]  # 1 skip row, 2 skip run, 3 match
    for i in range(R + 1):
        for j in range(J + 1):
            if i == 0 or j == 0:
                move[i][j] = 1 if i else 2
                continue
            cands = [(best[i - 1][j], 1), (best[i][j - 1], 2)]
            if compat[i - 1][j - 1]:
                cands.append((best[i - 1][j - 1] + w[i - 1], 3))
            best[i][j], move[i][j] = max(cands, key=lambda c: (c[0] + 1e-9 * c[1]))
    out: dict[int, int] = {}
    i, j = R, J
    while i > 0 and j > 0:
        m = move[i][j]
        if m == 3:
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif m == 1:
            i -= 1
        else:
            j -= 1
    return out


def table_span(doc: Document, table: str) -> tuple[int, int]:
    """A located table's region, widened to its labels (a row's ordinal may print before the region)."""
    t = doc.located[table]
    return (min([t.region.start] + [m.start for m in t.labels]), max([t.region.end] + [m.end for m in t.labels]))


def align_table(gold: LabelledDocument, docs: dict[str, Document], table: str, template: Optional[str] = None,
                ignore: str = "X") -> Optional[Alignment]:
    """Tags for one labelled table from its values, or None when no reading located its region."""
    located = [d for d in docs.values() if d.linear is not None and table in d.located]
    if not located or table not in ("proactive", "requests"):
        return None
    template = template or gold.template or located[0].template or DEFAULT_TEMPLATE
    spec: TableSpec = load_schema().table(template, table)
    doc = located[0]
    n = len(doc.linear.norm)
    # From the table's region or its first label (a row's ordinal may print before the region).
    lo = min(table_span(d, table)[0] for d in located)
    hi = max(d.located[table].region.end for d in located)
    # Up to the next table another reading located (the rows the readings missed lie before it).
    nxt = [d.located[t].region.start for d in docs.values() if d.linear is not None for t in d.located
           if t != table and d.located[t].region.start > lo]
    wend = min([n, hi + EXTEND] + [s for s in nxt if s >= hi])
    toks = tokens_in(doc, lo, wend)
    runs: list[Run] = []
    prev_numeric = False
    for t in toks:
        if t.kind != "text":
            if prev_numeric:
                runs[-1].tokens.append(t)
            else:
                runs.append(Run([t]))
        prev_numeric = t.kind != "text"
    rows = [(r, g) for r in spec.rows if (g := _gold_row(gold, r)) is not None]
    nonzero = [any(v not in (None, 0.0) for v in g) for _, g in rows]
    compat = [[row_matches(run.tokens, g) for run in runs] for _, g in rows]
    tags = [ignore] * (wend - lo)
    res = Alignment(table=table, span=(lo, wend), tags=tags, nonzero_rows=sum(nonzero))
    chain = _align(rows, runs, compat, nonzero)

    # Non-zero rows: drop ones that could take another run between their neighbours, or whose run
    # another row could take there.
    anchors = sorted((i, j) for i, j in chain.items() if nonzero[i])
    keep: dict[int, int] = {}
    for k, (i, j) in enumerate(anchors):
        pj = anchors[k - 1][1] if k else -1
        nj = anchors[k + 1][1] if k + 1 < len(anchors) else len(runs)
        pi = anchors[k - 1][0] if k else -1
        ni = anchors[k + 1][0] if k + 1 < len(anchors) else len(rows)
        other_runs = [jj for jj in range(pj + 1, nj) if jj != j and compat[i][jj]]
        other_rows = [ii for ii in range(pi + 1, ni) if ii != i and compat[ii][j]]
        if not other_runs and not other_rows:
            keep[i] = j
    # Zero rows only where order pins them: between two kept neighbours, k rows and k runs, pairwise.
    kept = sorted(keep.items())
    for (i0, j0), (i1, j1) in zip(kept, kept[1:]):
        mid_rows, mid_runs = list(range(i0 + 1, i1)), list(range(j0 + 1, j1))
        if mid_rows and len(mid_rows) == len(mid_runs) and all(compat[a][b] for a, b in zip(mid_rows, mid_runs)):
            keep.update(zip(mid_rows, mid_runs))
    res.matched = {rows[i][0].key: j for i, j in keep.items()}
    res.nonzero_matched = sum(1 for i in keep if nonzero[i])

    # Contradiction: a non-zero row printed nowhere while a reading read other numbers under its label.
    contradicted = []
    for i, (row, g) in enumerate(rows):
        if not nonzero[i] or i in keep or any(compat[i]):
            continue
        for d in located:
            pred = d.values()
            vals = [pred.get(k) for k in row.field_keys()]
            if any(v is not None for v in vals) and any(not same_value(v, w) for v, w in zip(vals, g)) and any(run.row.key == row.key and run.chunks for run in d.located[table].runs):
                contradicted.append(row.key)
                break
    if contradicted:
        res.why = f"the labels' values of {', '.join(contradicted[:3])} are not printed where a reading read the row"
        return res
    if not res.nonzero_rows or res.nonzero_matched < MIN_SHARE * res.nonzero_rows:
        res.why = f"{res.nonzero_matched} of {res.nonzero_rows} non-zero rows matched"
        return res
    if len(set(keep.values())) != len(keep):
        res.why = "two rows claim the same run"
        return res

    # Tags: the label text just before each matched run, the run's numbers as VALUE.
    def mark(a: int, b: int, entity: str) -> None:
        tags[a - lo] = f"B-{entity}"
        for p in range(a + 1, b):
            tags[p - lo] = f"I-{entity}"

    first_of_group = {}
    for r in spec.rows:
        if r.group and r.group not in first_of_group:
            first_of_group[r.group] = r.key
    group_chars = {g.name: set("".join(g.labels) + g.prefix) for g in spec.groups}
    tok_index = {id(t): k for k, t in enumerate(toks)}
    norm = doc.linear.norm
    for i, j in sorted(keep.items(), key=lambda x: x[1]):
        row = rows[i][0]
        run = runs[j]
        for t in run.tokens:
            if t.kind in ("number", "placeholder"):
                mark(t.start, t.end, "VALUE")
            else:
                tags[t.start - lo] = "O"
        # Text pieces back to the previous numeric run: consecutive text tokens of one segment are one piece.
        k = tok_index[id(run.tokens[0])] - 1
        pieces: list[list[Token]] = []
        while k >= 0 and toks[k].kind == "text":
            if pieces and pieces[-1][0].segment == toks[k].segment:
                pieces[-1].insert(0, toks[k])
            else:
                pieces.append([toks[k]])
            k -= 1
        if not pieces:
            continue
        label = pieces[0]
        a, b = label[0].start, label[-1].end
        # Text glued before the row's own number ("(三)不予公开1.属于国家秘密"): the label starts at it.
        cut = [m.start() for p in _prefix_patterns(row.prefix) for m in re.finditer(p, norm[a:b])]
        head = None
        if cut and max(cut) > 0:
            head = (a, a + max(cut))
            a += max(cut)
        mark(a, b, f"{table}.{row.key}")
        if row.group and first_of_group.get(row.group) == row.key and (head or len(pieces) > 1):
            ga, gb = head if head else (pieces[1][0].start, pieces[1][-1].end)
            text = norm[ga:gb]
            cjk = [c for c in text if "\u4e00" <= c <= "\u9fff"]
            if cjk and sum(c in group_chars.get(row.group, set()) for c in cjk) >= 0.5 * len(cjk):
                mark(ga, gb, f"{table}.group.{row.group}")
    res.convincing = True
    return res
