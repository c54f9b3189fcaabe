"""Row-level labels from a reviewed document: which printed row is which schema row.

A reviewer confirms values, not label positions. The reading of the document already knows its
printed rows: the rows whose labels a spotter recognised, the rows structure placed by their
position in the statutory row order and their number of cells (``RowRun.by_structure``), and the
numbers structure could not place (``LocatedTable.unplaced``). For each of those printed rows:

* **confirmed**: its numbers equal the reviewed values of the row the reading gave it: the reading's
  assignment stands (``how`` "label" when its label was recognised, "structure" when structure placed it);
* **by values**: otherwise, its numbers equal the reviewed values of exactly one row of the table that
  no other printed row is confirmed as (``how`` "values");
* **by order**: otherwise, the one row it must be for the printed rows to keep the statutory order: the
  review also says which rows are printed (an unprinted row is null), so where every largest
  order-keeping assignment of printed rows to printed reviewed rows (each to a row whose values its
  numbers equal, and whose ordinal its label piece shows when it shows one: ``ordinal_keys``) gives a
  printed row the same row, that is its row (``how`` "order"; ``by_order``). The reading's own
  assignment is kept fixed only where the schema's label found the row: a classifier's or structure's
  placement is no evidence when zeros fit every zero row;
* anything else (numbers that fit several rows in several ways, or none) teaches nothing and stays masked.

The assignments must keep the statutory row order; a printed row out of order is dropped. The label
span of a row is the text just before its numbers in the same printed piece (the recognised label's
span when there is one), cut at the row's own ordinal when a group label is glued in front of it.

``row_label_tags`` turns them into per-character tags: label spans ``B-/I-table.key``, the row's
numbers ``VALUE``, everything else in the table's region masked, unless every printed row and every
reviewed row of the table is accounted for (then the rest is ``O``, as a matching reading tags it).
Pure functions of (labels, reading): no model, no files.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Optional

from nianbao.document import Document
from nianbao.inference.locate import Chunk, LocatedTable, _prefix_patterns
from nianbao.labels import LabelledDocument
from nianbao.schema import DEFAULT_TEMPLATE, RowSpec, TableSpec, load_schema

from .align_values import Token, _classify, _gold_row, row_matches, table_span

LABELLED_TABLES = ("proactive", "requests")  # the tables whose row labels the classifier tags
_SPACE = " \t\n\r|\u3000\xa0"
MAX_OWN_LABEL = 40  # characters: a row label in an agency's own wording, from its ordinal to its numbers


@dataclass(frozen=True)
class PrintedRow:
    """A row of numbers as the reading found it (norm offsets)."""

    label: Optional[tuple[int, int]]  # the row label's span; None when nothing is printed before the numbers
    values: tuple[tuple[int, int], ...]  # the spans of its printed values (numbers and placeholders)
    read_as: Optional[str]  # the row key the reading gave it (None: numbers structure could not place)
    by_structure: bool = False
    via_group: bool = False  # the numbers sit on a group line (the row's own label is not printed)
    recognised: bool = False  # ``label`` starts at a label a spotter recognised (else: the printed piece)
    schema_label: bool = False  # that label is one of the schema's, as printed (not approximate, not the classifier's)
    cells: tuple[Token, ...] = field(default=(), compare=False)  # every printed cell, blanks included


@dataclass(frozen=True)
class RowLabel:
    """One printed row identified by the reviewed values."""

    table: str
    key: str
    label: Optional[tuple[int, int]]
    values: tuple[tuple[int, int], ...]
    how: str  # "label" | "structure" | "values" | "order"


@dataclass
class TableRowLabels:
    table: str
    rows: list[RowLabel] = field(default_factory=list)
    # Printed rows no reviewed row could be told for (masked), and reviewed non-blank rows found in no printed row.
    unresolved: int = 0
    unprinted: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unresolved and not self.unprinted


def _norm_pos(doc: Document, raw_pos: int) -> int:
    return bisect.bisect_left(doc.linear.text.to_raw, raw_pos)


def _chunk_span(doc: Document, ch: Chunk) -> tuple[int, int]:
    return _norm_pos(doc, ch.end - len(ch.raw)), _norm_pos(doc, ch.end)


def _tokens(doc: Document, chunks: list[Chunk]) -> list[Token]:
    out = []
    norm = doc.linear.norm
    for ch in chunks:
        a, b = _chunk_span(doc, ch)
        text = norm[a:b]
        kind, value = ("blank", 0.0) if ch.kind == "blank" else _classify(text)
        if kind == "text":  # a chunk the locator read as a value but the value pattern does not take
            kind, value = "number", None
        out.append(Token(a, b, 0, text, kind, value, splittable=ch.splittable and "." not in text and "," not in text))
    return out


def _piece_before(doc: Document, first_raw: int, floor_raw: int) -> Optional[tuple[int, int]]:
    """The printed piece just before a row's first value (raw offsets): back over separators to the text,
    then back to the start of its line, never past ``floor_raw`` (the previous row's last value)."""
    raw = doc.linear.raw
    end = first_raw
    while end > floor_raw and raw[end - 1] in _SPACE:
        end -= 1
    start = max(floor_raw, raw.rfind("\n", 0, end) + 1)
    while start < end and raw[start] in _SPACE:
        start += 1
    if end <= start:
        return None
    a, b = _norm_pos(doc, start), _norm_pos(doc, end)
    return (a, b) if b > a else None


def _fitting_start(text: str, label: str) -> Optional[tuple[int, int]]:
    """Where ``label`` best fits inside ``text`` (edit distance, free start and end): (start, cost)."""
    n, m = len(text), len(label)
    prev = [(0, j) for j in range(n + 1)]  # (cost, start) of label[:0] ending at j
    for i in range(1, m + 1):
        cur = [(i, 0)] + [(0, 0)] * n
        for j in range(1, n + 1):
            sub = (prev[j - 1][0] + (text[j - 1] != label[i - 1]), prev[j - 1][1])
            dele = (prev[j][0] + 1, prev[j][1])  # a label character dropped
            ins = (cur[j - 1][0] + 1, cur[j - 1][1])  # a character inserted
            cur[j] = min(sub, dele, ins, key=lambda c: (c[0], -c[1]))
        prev = cur
    best = min(prev[1:], key=lambda c: (c[0], -c[1]), default=None)
    return None if best is None else (best[1], best[0])


def _row_label_span(norm: str, piece: Optional[tuple[int, int]], row: RowSpec) -> Optional[tuple[int, int]]:
    """The row's label inside the piece printed before its numbers: the piece itself when it is about a
    label's length (a cell of its own), else from where the row's schema label best fits (damaged as it
    may be) to the numbers; cut at the row's ordinal when a group label is glued in front of it."""
    if piece is None:
        return None
    a, b = piece
    cut = [m.start() for p in _prefix_patterns(row.prefix) for m in re.finditer(p, norm[a:b])]
    if cut and max(cut) > 0:
        a += max(cut)
    plain = [v for v in row.labels if not v.startswith("re:")]
    full = max(plain, key=len) if plain else ""
    if b - a > len(full) + 4 + len(row.prefix or ""):
        if not full:
            return None
        fit = _fitting_start(norm[a:b], full)
        if fit is None or fit[1] > len(full) // 2:
            # Not the schema's wording (an agency's own): the piece from the row's ordinal, if short.
            return (a, b) if cut and b - a <= MAX_OWN_LABEL else None
        start = a + fit[0]
        ordinal = [m.start() for p in _prefix_patterns(row.prefix) for m in re.finditer(p + "$", norm[a:start])]
        a = a + ordinal[-1] if ordinal else start
    return (a, b) if b > a else None


def _printed(doc: Document, label: Optional[tuple[int, int]], chunks: list[Chunk], read_as: Optional[str],
             by_structure: bool = False, via_group: bool = False, recognised: bool = False,
             schema_label: bool = False) -> PrintedRow:
    cells = tuple(_tokens(doc, chunks))
    values = tuple((t.start, t.end) for t in cells if t.kind != "blank" and t.end > t.start)
    return PrintedRow(label, values, read_as, by_structure, via_group, recognised, schema_label, cells)


def printed_rows(doc: Document, table: str) -> list[PrintedRow]:
    """The rows of numbers the reading found in one table, in printed order. A row's label is the
    printed piece before its numbers (joined with the recognised label's span, when there is one)."""
    located: LocatedTable = doc.located[table]
    label_of = {m.row.key: (m.start, m.end) for m in located.labels if m.row is not None}
    schema = {m.row.key for m in located.labels if m.row is not None and m.confidence >= 1.0 and not m.approximate}
    found: list[tuple[list[Chunk], Optional[str], bool, bool]] = [
        (run.chunks, run.row.key, run.by_structure, run.via_group) for run in located.runs if run.chunks]
    found += [(o.chunks, None, False, False) for o in located.unplaced if o.chunks]
    found.sort(key=lambda f: f[0][0].end)
    rows, floor = [], 0
    for chunks, key, by_structure, via_group in found:
        first = chunks[0].end - len(chunks[0].raw)
        piece = None if via_group else _piece_before(doc, first, floor)
        floor = max(floor, chunks[-1].end)
        match = label_of.get(key) if key and not via_group else None
        # The schema's label where it found the row; a classifier's span (a guess, maybe a piece of
        # the label) does not replace the printed piece.
        if match and key in schema and piece and piece[0] <= match[1] <= piece[1]:
            piece = (match[0], piece[1])  # the recognised label, with its tail up to the numbers
        elif match and (key in schema or piece is None):
            piece = match  # a recognised label printed apart from its numbers (a line of its own)
        rows.append(_printed(doc, piece, chunks, key, by_structure, via_group, recognised=match is not None,
                             schema_label=match is not None and key in schema))
    return rows


def table_row_labels(gold: LabelledDocument, doc: Document, table: str, spec: Optional[TableSpec] = None) -> TableRowLabels:
    """Which printed row of ``table`` is which schema row, by the reviewed values (see the module doc)."""
    out = TableRowLabels(table)
    if doc.linear is None or table not in doc.located or not gold.found.get(table):
        return out
    spec = spec or load_schema().table(gold.template or doc.template or DEFAULT_TEMPLATE, table)
    order = {r.key: i for i, r in enumerate(spec.rows)}
    reviewed = {r.key: g for r in spec.rows if (g := _gold_row(gold, r)) is not None}
    printed = printed_rows(doc, table)
    fits = [{k for k, g in reviewed.items() if row_matches(list(p.cells), g)} & ordinal_keys(doc, p, spec, reviewed)
            for p in printed]
    # The reading's own assignments stand where the schema's labels found the row (printed as the law
    # words it) and the reviewed values confirm it: a classifier's or structure's guess is not evidence
    # (zeros fit every zero row). Every other row is told by its values and the statutory order.
    fixed = [p.read_as if p.schema_label and p.read_as in fits[i] else None for i, p in enumerate(printed)]
    chosen: list[Optional[tuple[str, str]]] = [None] * len(printed)
    for i, key in enumerate(by_order(fits, fixed, sorted(reviewed, key=order.get))):
        if key is None:
            continue
        p = printed[i]
        how = ("label" if p.recognised else "structure" if p.by_structure else "order") if key == p.read_as \
            else "values" if fits[i] == {key} else "order"
        chosen[i] = (key, how)
    for p, c in zip(printed, chosen):
        if c is None:
            out.unresolved += 1
            continue
        label = None if p.via_group else p.label if p.recognised and p.read_as == c[0] and p.schema_label \
            else _row_label_span(doc.linear.norm, p.label, spec.row(c[0]))
        out.rows.append(RowLabel(table, c[0], label, p.values, c[1]))
    got = {r.key for r in out.rows}
    out.unprinted = [k for k, g in reviewed.items() if k not in got and any(v not in (None, 0.0) for v in g)]
    return out


def ordinal_keys(doc: Document, p: PrintedRow, spec: TableSpec, keys) -> set[str]:
    """The rows ``p`` may be by the ordinals printed in its label piece ("6." is a sixth row of its group,
    "（二）" a second): the rows whose ordinal appears there, or all of ``keys`` when none does."""
    if p.label is None:
        return set(keys)
    text = doc.linear.norm[p.label[0]:p.label[1]]
    shown = {k for k in keys if any(re.search(pat, text) for pat in _prefix_patterns(spec.row(k).prefix))}
    return shown or set(keys)


def by_order(fits: list[set[str]], fixed: list[Optional[str]], keys: list[str]) -> list[Optional[str]]:
    """The row each printed row must be, by the statutory order: ``keys`` are the reviewed rows that are
    printed (an unprinted row is null in the review), in template order; printed row ``i`` may be a row
    whose values its numbers equal (``fits[i]``), or only ``fixed[i]`` when already identified. Among the
    largest order-keeping assignments, a printed row is identified when every one of them gives it a row
    and all give it the same one; otherwise (numbers that fit several rows in several ways) None."""
    n, m = len(fits), len(keys)
    ok = [[(keys[j] == fixed[i]) if fixed[i] is not None else keys[j] in fits[i] for j in range(m)] for i in range(n)]
    pre = [[0] * (m + 1) for _ in range(n + 1)]  # largest assignment of printed[:i] to keys[:j]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            pre[i][j] = max(pre[i - 1][j], pre[i][j - 1], pre[i - 1][j - 1] + ok[i - 1][j - 1])
    suf = [[0] * (m + 2) for _ in range(n + 2)]  # largest assignment of printed[i:] to keys[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            suf[i][j] = max(suf[i + 1][j], suf[i][j + 1], suf[i + 1][j + 1] + ok[i][j])
    best = pre[n][m]
    out: list[Optional[str]] = [None] * n
    for i in range(n):
        without = max(pre[i][j] + suf[i + 1][j] for j in range(m + 1))
        partners = [j for j in range(m) if ok[i][j] and pre[i][j] + 1 + suf[i + 1][j + 1] == best]
        if best and without < best and len(partners) == 1:
            out[i] = keys[partners[0]]
    return out


def reading_confirmed(gold: LabelledDocument, doc: Document, table: str, strict: bool = False) -> bool:
    """Whether the reviewed values confirm a reading's rows of ``table``, not only its values: no printed
    row the reading placed is identified (``table_row_labels``) as another row; with ``strict``, every
    row it placed is identified as that row. (Zeros fit every zero row: a reading can read a table's
    values right with its rows in the wrong places, and its tags would teach the wrong labels.)"""
    if table not in LABELLED_TABLES or doc.linear is None or table not in doc.located:
        return True
    told = {r.values: r.key for r in table_row_labels(gold, doc, table).rows}
    for p in printed_rows(doc, table):
        if p.read_as is None or p.via_group or not p.values:
            continue
        key = told.get(p.values)
        if (key is not None and key != p.read_as) or (strict and key is None):
            return False
    return True


def row_labels(gold: LabelledDocument, doc: Document) -> dict[str, TableRowLabels]:
    """``table_row_labels`` for every labelled table the reading located."""
    return {t: table_row_labels(gold, doc, t) for t in LABELLED_TABLES if doc.linear is not None and t in doc.located}


def mark_label(tags: list[str], offset: int, span: tuple[int, int], entity: str) -> None:
    """Tag ``span`` (norm offsets; ``tags`` starts at ``offset``) as ``entity``, from after the last character
    another entity holds (a group label the reading recognised in front of the row's)."""
    a, b = span
    for p in range(b - 1, a - 1, -1):
        t = tags[p - offset]
        if t[:2] in ("B-", "I-") and t[2:] != entity:
            a = p + 1
            break
    if b <= a:
        return
    tags[a - offset] = f"B-{entity}"
    for p in range(a + 1, b):
        tags[p - offset] = f"I-{entity}"


def mask_between_rows(tags: list[str], offset: int, norm: str, rows: list[RowLabel], ignore: str) -> None:
    """Chinese characters tagged O between a table's first row label and its last value are damaged labels
    (a group line, a row's wrapped half) as often as furniture: masked, never taught as O."""
    starts = [r.label[0] if r.label else r.values[0][0] for r in rows if r.values or r.label]
    ends = [r.values[-1][1] for r in rows if r.values]
    if not starts or not ends:
        return
    for p in range(max(min(starts), offset), min(max(ends), offset + len(tags))):
        if tags[p - offset] == "O" and "\u4e00" <= norm[p] <= "\u9fff":
            tags[p - offset] = ignore


def row_label_tags(doc: Document, labels: TableRowLabels, outside: str = "O", ignore: str = "X") -> tuple[tuple[int, int], list[str]]:
    """(span, tags over the span) for one table: identified rows' labels and values tagged, group labels
    the reading recognised kept where the table is complete, the rest masked (``O`` before the first row
    and after the last where complete)."""
    located = doc.located[labels.table]
    lo, hi = table_span(doc, labels.table)
    for r in labels.rows:
        for a, b in ([r.label] if r.label else []) + list(r.values):
            lo, hi = min(lo, a), max(hi, b)
    complete = labels.complete and bool(labels.rows)
    tags = [outside if complete else ignore] * (hi - lo)
    if complete:
        for m in located.labels:
            if m.row is None:
                mark_label(tags, lo, (m.start, m.end), f"{labels.table}.group.{m.group}")
    for r in labels.rows:
        for a, b in r.values:
            mark_label(tags, lo, (a, b), "VALUE")
    for r in labels.rows:
        if r.label:
            mark_label(tags, lo, r.label, f"{labels.table}.{r.key}")
    if complete:
        mask_between_rows(tags, lo, doc.linear.norm, labels.rows, ignore)
    return (lo, hi), tags
