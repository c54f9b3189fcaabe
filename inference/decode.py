"""From printed value runs to field values: split run-together digits, place lost cells, choose.

A row's printed run is a small graph of positions (chunk boundaries and the cuts between digits
run together); a reading is a path through it that emits exactly one value per field, lost cells
read as blanks. The decoder walks that graph once per field (dynamic programming), carrying only
what the rules need (the running difference between a group's parts and its total; for Table A
the row's values, three at most), so it never enumerates the splits. A rule group's states are
its distinct partial sums, and those that can no longer close at zero merge into one; states
whose every reading scores 16 below a real reading's (under e^-16 of the mass each) and that
cannot tie the best hard evidence are dropped. (A run with a handful of readings, e.g. one cell
per value, is simply listed.) Table B's column rules are then weighed jointly over the tied
readings of its ambiguous rows (one broadcast sum, no per-combination loop).

Hard evidence (how many cells had to be assumed lost, the reconciliation rules) decides first;
soft evidence (the value prior, the report's prose, OCR probabilities) only ranks readings the hard
evidence leaves tied, and such a choice is reported as doubted with its alternatives. Confidence is
the posterior mass of the chosen value, summed exactly over every reading (forward-backward).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Iterable, Optional

from nianbao.document import FieldValue
from nianbao.numfmt import full_number

from . import reconcile
from .locate import Chunk, RowRun, _NUMBER
from .plausibility import log_prior, log_relation, prior_trust_margin, prose_support, relation_upper_bound

RULE_PENALTY = 9.0       # a broken rule: real reports do break them, but rarely in one row
BLANK_PENALTY = 4.0      # assuming a printed cell was lost where digits could have been split instead
LOST_CELL_PENALTY = 0.5  # assuming a lost cell where nothing could be split (cell formats lose cells)
EXTRA_VALUE_PENALTY = 2.0
TRAILING_BLANK_BONUS = 0.3  # lost cells are most often the row's last ones (ragged exports)
MAX_PIECE_DIGITS = 12
MAX_CANDIDATES = 20000   # the enumerator's cap (it lists only runs of <= MAX_LISTED readings, and tests)
K_BEST = 2               # readings kept explicitly per row (best first; the marginals cover the rest)
K_SURVIVORS = 4          # readings the rules leave tied, kept for the joint Table B decision
BASE_CLEAR = 0.995       # a number read from its own cell of a text layer, under a matched label
DOUBT_CAP = 0.85         # a value chosen by plausibility alone stays well below 0.9
TRUSTED_PRIOR_CAP = 0.97  # ... unless the learned prior's margin is one measured right >= 99.9% (see plausibility)
EMPTY_ROW = 0.95         # a printed row with no number after its label: its cells were printed empty
BASE_OCR = 0.98          # a number read by OCR, cleanly: OCR probabilities are not calibrated for 0.99
OCR_DOUBT_CAP = 0.85     # an uncertain OCR digit stays doubted, even when the rules chose its reading
_EPS = 1e-6


@dataclass(frozen=True)
class Piece:
    text: str            # what was printed for this value ("" for a lost/blank cell)
    value: float
    chunk: Optional[Chunk]
    unit: Optional[str] = None
    logp: float = 0.0    # log probability relative to the chunk's main reading (OCR candidates)


@dataclass
class Reading:
    pieces: tuple[Piece, ...]
    hard: float = 0.0     # log evidence from structure and rules
    soft: float = 0.0     # log evidence from priors and prose
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.hard + self.soft


@dataclass
class RowDecision:
    keys: list[str]
    readings: list[Reading]          # the best readings, best first (not all of them: see marginals)
    base: float
    reason: Optional[str] = None
    # Posterior mass of each value per field, summed over every reading of the run.
    marginals: list[dict[float, float]] = field(default_factory=list)
    # Per field, the values the tied readings give it, most probable first (the rules' ties: the
    # readings with the best hard evidence, or within _tie_slack of it).
    ties: list[list[float]] = field(default_factory=list)
    # The best of the tied readings (for the joint Table B decision).
    survivors: list[Reading] = field(default_factory=list)
    log_z: float = 0.0
    # Per field, id(chunk) -> values any reading gives the field from that chunk (OCR doubt).
    chunk_values: list[dict[int, set]] = field(default_factory=list)
    header_unit: Optional[str] = None
    # How many readings are tied (the joint decision weighs at most K_SURVIVORS).
    tied_count: int = 1
    model: Optional["RowModel"] = None
    splittable: bool = False          # the run had digits run together (its cuts are the decoder's)
    # Set by the joint decision: the survivors consistent with the column rules, best first; and
    # whether that decision may drop the other readings (it saw every tied one and broke no rule).
    consistent: Optional[list[Reading]] = None
    joint_settles: bool = False

    def best(self) -> Reading:
        if self.consistent:
            return self.consistent[0]
        return self.readings[0]


# -- the readings of one printed chunk -----------------------------------------------------------
def _parse(text: str) -> tuple[str, Optional[str], Optional[str], bool]:
    m = _NUMBER.match(text.replace("−", "-"))
    if not m:
        return "", None, None, False
    return m.group("int").replace(",", ""), m.group("dec"), m.group("unit"), bool(m.group("sign"))


def _value(digits: str, dec: Optional[str], negative: bool) -> float:
    v: float = float(f"{digits}.{dec}") if dec else int(digits)
    return -v if negative else v


def split_digits(digits: str, parts: int) -> Iterable[list[str]]:
    """All ways to cut a digit string into `parts` numbers without leading zeros."""
    n = len(digits)
    if parts == 1:
        if (len(digits) == 1 or digits[0] != "0") and len(digits) <= MAX_PIECE_DIGITS:
            yield [digits]
        return
    for cut in range(1, n - parts + 2):
        head = digits[:cut]
        if len(head) > 1 and head[0] == "0":
            break
        if len(head) > MAX_PIECE_DIGITS:
            break
        for rest in split_digits(digits[cut:], parts - 1):
            yield [head] + rest


def chunk_options(chunk: Chunk, max_parts: int, placeholders_in_use: bool = False) -> list[list[Piece]]:
    """The ways one printed chunk can be read: one value, or several run together."""
    if chunk.kind in ("blank", "unread"):
        # An unread cell takes a place in the row like a blank; field_values gives it no value.
        return [[Piece(text="", value=0, chunk=chunk)]]
    if chunk.kind == "placeholder":
        if chunk.segment.from_grid or len(chunk.raw) == 1:
            return [[Piece(text=chunk.raw, value=0, chunk=chunk)]]
        # "-----" in a run-together export is several empty cells, "——" often one: let the count decide.
        options = [[Piece(text=chunk.raw, value=0, chunk=chunk)]]
        if len(set(chunk.raw)) == 1:
            for width in (1, 2):
                k = len(chunk.raw) // width
                if 1 < k <= max_parts and len(chunk.raw) % width == 0:
                    options.append([Piece(text=chunk.raw[:width], value=0, chunk=chunk) for _ in range(k)])
        return options
    digits, dec, unit, negative = _parse(chunk.raw)
    if not digits:
        return []
    whole = [[Piece(text=chunk.raw, value=_value(digits, dec, negative), chunk=chunk, unit=unit)]]
    candidates = ocr_candidates(chunk)
    if candidates:
        return whole + candidates
    options: list[list[Piece]] = [] if chunk.splittable else list(whole)
    for parts in range(1, min(max_parts, len(digits)) + 1 if chunk.splittable else 0):
        for cut in split_digits(digits, parts):
            pieces = []
            for i, d in enumerate(cut):
                last = i == len(cut) - 1
                # "4-30" is 4 | -3 | 0: a sign belongs to the first number of its run.
                sign = negative and i == 0
                text = ("-" if sign else "") + d + (f".{dec}" if last and dec else "") + (unit or "" if last else "")
                pieces.append(Piece(text=text, value=_value(d, dec if last else None, sign), chunk=chunk,
                                    unit=unit if last else None))
            options.append(pieces)
    if negative and not chunk.segment.from_grid and placeholders_in_use:
        # "-2" run together may be a "-" placeholder (an empty cell) followed by 2.
        for rest in chunk_options(Chunk(raw=chunk.raw.lstrip("-−"), segment=chunk.segment, kind="number",
                                        end=chunk.end), max_parts - 1, placeholders_in_use):
            options.append([Piece(text="-", value=0, chunk=chunk)] + rest)
    return options


def ocr_candidates(chunk: Chunk) -> list[list[Piece]]:
    """Other readings of an OCR cell whose digits the recogniser was unsure of (its top-k rivals),
    each weighted by its probability relative to the main reading; the rules choose among them."""
    seg = chunk.segment
    if seg.source != "ocr" or not seg.alternatives or chunk.raw.strip() != seg.text.strip():
        return []
    main = max(1e-6, 1.0 - sum(p for _, p in seg.alternatives))
    out = []
    for text, p in seg.alternatives:
        digits, dec, unit, negative = _parse(text)
        if digits:
            out.append([Piece(text=text, value=_value(digits, dec, negative), chunk=chunk, unit=unit,
                              logp=math.log(max(p, 1e-6) / main))])
    return out


# -- values of pieces ------------------------------------------------------------------------
def money_value(piece: Piece, key: str, header_unit: Optional[str]) -> float:
    v = piece.value
    if key.endswith("amount_yuan"):
        unit = piece.unit or header_unit
        if unit == "万元":
            return round(v * 10000, 6)
    return v


def reading_values(reading: Reading, keys: list[str], header_unit: Optional[str] = None) -> dict[str, float]:
    return {k: money_value(p, k, header_unit) for k, p in zip(keys, reading.pieces)}


# -- the enumerator: lists small runs, and is the reference the tests hold the decoder to ------------
def enumerate_readings(chunks: list[Chunk], n: int, placeholders_in_use: bool = False) -> list[Reading]:
    """All readings of a run as exactly n values (lost cells filled as blanks), capped in number.
    Used for runs with a handful of readings; for the rest it is the reference the tests hold
    decode_run's lattice to (it lists what the lattice weighs without listing)."""
    if not chunks:
        return []
    # Empty cells beyond the row's width carry nothing: a label displaced into its own cell leaves
    # one before the numbers, ragged tails leave them after.
    while len(chunks) > n and chunks[0].kind == "blank":
        chunks = chunks[1:]
    while len(chunks) > n and chunks[-1].kind == "blank":
        chunks = chunks[:-1]
    if len(chunks) > n:
        # More printed values than cells: keep the first n (later ones are prose or a stray cell).
        readings = enumerate_readings(chunks[:n], n, placeholders_in_use)
        for r in readings:
            r.notes.append(f"{len(chunks) - n} extra printed value(s) ignored")
            r.hard -= EXTRA_VALUE_PENALTY
        return readings
    splittable = any(c.splittable for c in chunks)
    # Every other chunk prints at least one value: no chunk gives more than the rest leave.
    per_chunk = [chunk_options(c, n - len(chunks) + 1, placeholders_in_use) for c in chunks]
    if any(not opts for opts in per_chunk):
        return []
    results: list[Reading] = []

    def rec(i: int, acc: list[Piece]) -> None:
        if len(results) >= MAX_CANDIDATES or len(acc) > n:
            return
        if i == len(per_chunk):
            results.extend(_place_blanks(acc, n, splittable))
            return
        remaining_min = len(per_chunk) - i - 1
        for opt in per_chunk[i]:
            if len(acc) + len(opt) + remaining_min <= n:
                rec(i + 1, acc + opt)

    rec(0, [])
    return results


def _place_blanks(pieces: list[Piece], n: int, splittable: bool) -> list[Reading]:
    missing = n - len(pieces)
    if missing == 0:
        return [Reading(pieces=tuple(pieces))]
    penalty = (BLANK_PENALTY if splittable else LOST_CELL_PENALTY) * missing
    out = []
    for pos in itertools.combinations(range(n), missing):
        it = iter(pieces)
        row = [Piece(text="", value=0, chunk=None) if i in pos else next(it) for i in range(n)]
        # Lost cells after the last printed value (the row's ragged end) are the usual case.
        last_printed = max(i for i in range(n) if i not in pos) if len(pos) < n else -1
        trailing = sum(1 for p in pos if p > last_printed)
        r = Reading(pieces=tuple(row), hard=-penalty, soft=TRAILING_BLANK_BONUS * trailing)
        r.notes.append(f"{missing} cell(s) not printed, read as blank")
        out.append(r)
    return out


def score_row(readings: list[Reading], keys: list[str], table: str, prose_numbers: frozenset[float],
              header_unit: Optional[str] = None) -> None:
    for r in readings:
        values = reading_values(r, keys, header_unit)
        soft = sum(log_prior(v, k) for k, v in values.items())
        if table == "proactive":
            soft += log_relation(values, keys[0].rsplit(".", 1)[0])
        soft += prose_support(list(values.values()), prose_numbers)
        soft += sum(p.logp for p in r.pieces)
        r.soft += soft
        if table == "requests":
            row = keys[0].split(".")[1:-1]
            check = reconcile.rule1(values, ".".join(row))
            if not check.passed:
                r.hard -= RULE_PENALTY
                r.notes.append("rule R1 fails")
        elif table == "appeals":
            for g in reconcile.C_GROUPS:
                if not reconcile.rule4(values, g).passed:
                    r.hard -= RULE_PENALTY
    readings.sort(key=lambda r: -r.score)


# -- the decoder: dynamic programming over the printed run ----------------------------------------
@dataclass(frozen=True)
class Step:
    """One printed value between two positions of a run (a whole chunk, or digits cut from one)."""

    dst: int
    piece: Piece


def _digit_steps(chunk: Chunk, src: int, dst: int, digits: str, dec: Optional[str], unit: Optional[str],
                 negative: bool, new_node) -> list[tuple[int, Step]]:
    """Every cut of a splittable chunk's digits: pieces digits[a:b] between inner positions, no
    leading zeros, a sign on the first piece, decimals and unit on the last (as chunk_options)."""
    n = len(digits)
    inner = {0: src, n: dst}
    for i in range(1, n):
        inner[i] = new_node()
    out = []
    for a in range(n):
        if digits[a] == "0":
            ends = [a + 1]  # a piece starting with 0 is the number 0
        else:
            ends = range(a + 1, min(n, a + MAX_PIECE_DIGITS) + 1)
        for b in ends:
            d = digits[a:b]
            last, sign = b == n, negative and a == 0
            text = ("-" if sign else "") + d + (f".{dec}" if last and dec else "") + ((unit or "") if last else "")
            piece = Piece(text=text, value=_value(d, dec if last else None, sign), chunk=chunk, unit=unit if last else None)
            out.append((inner[a], Step(inner[b], piece)))
    return out


def printed_graph(chunks: list[Chunk], max_parts: int, placeholders_in_use: bool) -> Optional[tuple[dict[int, list[Step]], int]]:
    """The run as a graph: node 0 is its start, the returned node its end; every path from start
    to end reads each printed chunk once (the readings chunk_options lists, without listing them)."""
    graph: dict[int, list[Step]] = {}
    counter = itertools.count(len(chunks) + 1)

    def new_node() -> int:
        return next(counter)

    def add(src: int, step: Step) -> None:
        graph.setdefault(src, []).append(step)

    def chain(src: int, dst: int, pieces: list[Piece]) -> None:
        for j, p in enumerate(pieces):
            nxt = dst if j == len(pieces) - 1 else new_node()
            add(src, Step(nxt, p))
            src = nxt

    def number(chunk: Chunk, src: int, dst: int, raw: str, parts: int, sub: bool) -> bool:
        digits, dec, unit, negative = _parse(raw)
        if not digits:
            return False
        whole = Piece(text=raw, value=_value(digits, dec, negative), chunk=chunk, unit=unit)
        candidates = [] if sub else ocr_candidates(chunk)
        splittable = not chunk.segment.from_grid and len(digits) > 1
        if candidates:
            add(src, Step(dst, whole))
            for opt in candidates:
                chain(src, dst, opt)
        elif splittable and parts > 1:
            for s, step in _digit_steps(chunk, src, dst, digits, dec, unit, negative, new_node):
                add(s, step)
        else:
            add(src, Step(dst, whole))
        if negative and not sub and not chunk.segment.from_grid and placeholders_in_use and parts > 1:
            # "-2" run together may be a "-" placeholder (an empty cell) followed by 2.
            mid = new_node()
            add(src, Step(mid, Piece(text="-", value=0, chunk=chunk)))
            number(chunk, mid, dst, raw.lstrip("-−"), parts - 1, True)
        return True

    for i, chunk in enumerate(chunks):
        src, dst = i, i + 1
        if chunk.kind == "number":
            if not number(chunk, src, dst, chunk.raw, max_parts, False):
                return None
        else:
            for opt in chunk_options(chunk, max_parts, placeholders_in_use):
                chain(src, dst, opt)
    return graph, len(chunks)


@dataclass(frozen=True)
class RowModel:
    """What scores a reading of one row, field by field: the prior, prose and the rules."""

    keys: tuple[str, ...]
    table: str
    prose_numbers: frozenset[float]
    header_unit: Optional[str]
    # Per field: (group, is_total) for a field under a sum rule (R1, R4), else None.
    roles: tuple[Optional[tuple[str, bool]], ...]
    # Per field: True where its rule group ends (the rule is checked there).
    group_ends: tuple[bool, ...]
    relation: bool            # Table A: the row's values are scored together (log_relation)

    @staticmethod
    def of(keys: list[str], table: str, prose_numbers: frozenset[float], header_unit: Optional[str],
           rules: bool = True) -> "RowModel":
        roles: list[Optional[tuple[str, bool]]] = []
        for k in keys:
            parts = k.split(".")
            if not rules:
                roles.append(None)
            elif table == "requests" and parts[-1] in reconcile.B_COLUMNS:
                roles.append((".".join(parts[1:-1]), parts[-1] == "total"))
            elif table == "appeals" and len(parts) == 3 and parts[1] in reconcile.C_GROUPS and \
                    parts[2] in reconcile.C_PARTS + ("total",):
                roles.append((parts[1], parts[2] == "total"))
            else:
                roles.append(None)
        groups = [r[0] if r else None for r in roles]
        # A group is checked only when its total and at least one part are in the row.
        checked = {g for g in groups if g is not None and (g, True) in roles and (g, False) in roles}
        roles = [r if r and r[0] in checked else None for r in roles]
        ends = tuple(r is not None and all(not (q and q[0] == r[0]) for q in roles[i + 1:]) for i, r in enumerate(roles))
        return RowModel(tuple(keys), table, prose_numbers, header_unit, tuple(roles), ends, table == "proactive")

    def broken_groups(self, values: list[float]) -> set[str]:
        """The rule groups (R1 row, R4 group) these values break."""
        diff: dict[str, float] = {}
        for role, v in zip(self.roles, values):
            if role is not None:
                diff[role[0]] = diff.get(role[0], 0.0) + (-v if role[1] else v)
        return {g for g, d in diff.items() if abs(d) >= _EPS}

    def relation_bound(self) -> float:
        """The most the row relation can add to a reading's score (0 where there is none)."""
        return relation_upper_bound() if self.relation else 0.0

    def value(self, piece: Piece, f: int) -> float:
        return money_value(piece, self.keys[f], self.header_unit)

    def soft(self, value: float, piece: Piece, f: int) -> float:
        return _value_soft(value, self.keys[f], self.prose_numbers) + piece.logp

    def advance(self, f: int, aux, value: float):
        """(aux after field f, hard, soft) for value at field f; aux is the rule group's running
        difference (parts - total) or, for Table A, the values so far."""
        if self.relation:
            aux = aux + (value,)
            soft = log_relation(dict(zip(self.keys, aux)), self.keys[0].rsplit(".", 1)[0]) if f == len(self.keys) - 1 else 0.0
            return aux, 0.0, soft
        role = self.roles[f]
        if role is None:
            return aux, 0.0, 0.0
        if aux is DOOMED:
            return (0, -RULE_PENALTY, 0.0) if self.group_ends[f] else (DOOMED, 0.0, 0.0)
        diff = aux - value if role[1] else aux + value
        if self.group_ends[f]:
            return 0, (-RULE_PENALTY if abs(diff) >= _EPS else 0.0), 0.0
        return round(diff, 6), 0.0, 0.0


def _value_soft(value: float, key: str, prose_numbers: frozenset[float]) -> float:
    soft = log_prior(value, key)
    if prose_numbers and abs(value) >= 10 and value in prose_numbers:
        soft += prose_support([value], prose_numbers)
    return soft


def _lse(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == -math.inf:
        return a
    return a + math.log1p(math.exp(b - a))


@dataclass
class _Lattice:
    keys: list[str]
    edges: list[list[tuple]]          # per field: (src state, dst state, value, piece, hard, soft)
    start: tuple
    finals: set


DOOMED = "doomed"   # a rule group's state once its total can no longer match its parts
PRUNE_MARGIN = 16.0  # a state whose every reading scores this far below a real one carries < e^-16 of the mass


def _build_lattice(chunks: list[Chunk], model: RowModel, placeholders_in_use: bool, blank_penalty: float) -> Optional[_Lattice]:
    n = len(model.keys)
    built = printed_graph(chunks, n, placeholders_in_use)
    if built is None:
        return None
    graph, end = built
    nodes = sorted(set(graph) | {s.dst for steps in graph.values() for s in steps})
    blank = Piece(text="", value=0, chunk=None)
    # Per field and node, every move: (next node, piece, value, hard, soft) before the rules; a
    # lost cell stays on its node. Scored once here, used by every pass below.
    all_moves: list[dict[int, list[tuple]]] = []
    for f in range(n):
        per_node: dict[int, list[tuple]] = {}
        blank_soft = model.soft(0, blank, f)
        for node in nodes:
            lst = []
            for step in graph.get(node, ()):
                v = model.value(step.piece, f)
                lst.append((step.dst, step.piece, v, 0.0, model.soft(v, step.piece, f)))
            lst.append((node, blank, 0, -blank_penalty, blank_soft + (TRAILING_BLANK_BONUS if node == end else 0.0)))
            per_node[node] = lst
        all_moves.append(per_node)
    # Upper bounds on the rest of a reading from a node with r fields left, rules left out (they
    # only subtract): its score and its hard evidence. Absent where the run cannot end in r fields.
    up_s: list[dict[int, float]] = [{end: model.relation_bound()}]
    up_h: list[dict[int, float]] = [{end: 0.0}]
    moves: list[dict[int, list[tuple]]] = [{} for _ in range(n)]
    for r in range(1, n + 1):
        f = n - r
        us, uh = up_s[r - 1], up_h[r - 1]
        cur_s: dict[int, float] = {}
        cur_h: dict[int, float] = {}
        for node in nodes:
            ok = [m for m in all_moves[f][node] if m[0] in us]
            if ok:
                moves[f][node] = ok
                cur_s[node] = max(m[3] + m[4] + us[m[0]] for m in ok)
                cur_h[node] = max(m[3] + uh[m[0]] for m in ok)
        up_s.append(cur_s)
        up_h.append(cur_h)
    if 0 not in up_s[n]:
        return None
    group_sums = None if model.relation or not any(model.roles) else _group_sums(moves, model)
    start = (0, () if model.relation else 0)
    floor_s, floor_h = _real_floors(moves, model, up_s, up_h, group_sums)
    edges: list[list[tuple]] = []
    layer = {start: (0.0, 0.0)}  # state -> (best score so far, best hard so far)
    advance = model.advance
    for f in range(n):
        r = n - f - 1
        us, uh = up_s[r], up_h[r]
        sums = group_sums[f + 1] if group_sums is not None and model.roles[f] is not None and not model.group_ends[f] else None
        out: list[tuple] = []
        nxt: dict = {}
        for st, (fs, fh) in layer.items():
            node, aux = st
            for dst_node, piece, v, hard0, soft0 in moves[f][node]:
                aux2, hard, soft = advance(f, aux, v)
                if sums is not None and aux2 is not DOOMED:
                    still = sums.get(dst_node)
                    if still is None or not _can_close(still, aux2):
                        # No way left to satisfy the rule: every such state reads the same from
                        # here on (the rule fails at the group's end), so they are one state.
                        aux2 = DOOMED
                dst = (dst_node, aux2)
                e = (st, dst, v, piece, hard + hard0, soft + soft0)
                out.append(e)
                es, eh = fs + e[4] + e[5], fh + e[4]
                prev = nxt.get(dst)
                nxt[dst] = (es, eh) if prev is None else (prev[0] if prev[0] > es else es, prev[1] if prev[1] > eh else eh)
        # Keep a state if a reading through it could come near a real reading's score or tie the
        # best hard evidence (the rules' ties must all be seen: they decide what stays doubted).
        # (A doomed rule group will pay its penalty: the bounds say so.)
        keep = {st: v for st, v in nxt.items()
                if v[0] + us[st[0]] - (RULE_PENALTY if st[1] is DOOMED else 0.0) >= floor_s - PRUNE_MARGIN
                or v[1] + uh[st[0]] - (RULE_PENALTY if st[1] is DOOMED else 0.0) >= floor_h - 1e-9}
        edges.append(out if len(keep) == len(nxt) else [e for e in out if e[1] in keep])
        layer = keep
    finals = {st for st in layer if st[0] == end}
    if not finals:
        return None
    return _Lattice(keys=list(model.keys), edges=edges, start=start, finals=finals)


_ZERO = frozenset((0,))


def _group_sums(moves: list[dict[int, list[tuple]]], model: RowModel, cap: int = 1000) -> list[dict[int, tuple]]:
    """Per field f inside a rule group and node: the signed sums (parts +, total -) the fields f..
    of the group's end can still add, as (members, low, high), members None where there would be
    more than ``cap`` (then the interval alone); a state whose difference is not minus one of
    them can no longer satisfy the rule."""
    n = len(model.keys)
    out: list[dict[int, tuple]] = [{} for _ in range(n + 1)]
    closing = (_ZERO, 0, 0)
    after: dict[int, tuple] = {}
    for f in range(n - 1, -1, -1):
        role = model.roles[f]
        if role is None:
            after = {}
            continue
        cur: dict[int, tuple] = {}
        for node, lst in moves[f].items():
            sums: Optional[set] = set()
            lo, hi = math.inf, -math.inf
            for dst, piece, v, _, _ in lst:
                signed = -v if role[1] else v
                rest = closing if model.group_ends[f] else after.get(dst)
                if rest is None:
                    continue
                members, rlo, rhi = rest
                if members is None:
                    sums = None
                elif sums is not None:
                    if isinstance(signed, int):
                        sums.update([signed + x for x in members] if signed else members)
                    else:
                        sums.update([round(signed + x, 6) for x in members])
                    if len(sums) > cap:
                        sums = None
                if signed + rlo < lo:
                    lo = signed + rlo
                if signed + rhi > hi:
                    hi = signed + rhi
            if lo <= hi:
                cur[node] = (frozenset(sums) if sums is not None else None, lo, hi)
        out[f] = cur
        after = cur
    return out


def _can_close(still: tuple, diff: float) -> bool:
    """Whether a rule group with this difference so far can still close at zero."""
    members, lo, hi = still
    if members is None:
        return lo - _EPS <= -diff <= hi + _EPS
    return -diff in members


def _real_floors(moves: list[dict[int, list[tuple]]], model: RowModel, up_s, up_h, group_sums=None) -> tuple[float, float]:
    """Score and hard evidence of real readings (lower bounds of the best ones): follow the
    bounds greedily, by score and by hard evidence (keeping rule groups satisfiable where the
    group sums say how), and score the two paths with the rules."""
    n = len(model.keys)
    floors = []
    for by_hard in (False, True):
        node, aux, total_s, total_h = 0, (() if model.relation else 0), 0.0, 0.0
        for f in range(n):
            r = n - f - 1
            us, uh = up_s[r], up_h[r]

            def viable(m, f=f, aux=aux) -> bool:
                if group_sums is None or model.roles[f] is None or aux is DOOMED:
                    return True
                after, _, _ = model.advance(f, aux, m[2])
                if model.group_ends[f]:
                    return after == 0
                still = group_sums[f + 1].get(m[0])
                return still is not None and after is not DOOMED and _can_close(still, after)

            if by_hard:
                m = max(moves[f][node], key=lambda m: (m[3] + uh[m[0]] - (0.0 if viable(m) else RULE_PENALTY),
                                                       m[3] + m[4] + us[m[0]]))
            else:
                m = max(moves[f][node], key=lambda m: m[3] + m[4] + us[m[0]])
            aux, hard, soft = model.advance(f, aux, m[2])
            total_s += m[3] + m[4] + hard + soft
            total_h += m[3] + hard
            node = m[0]
        floors.append((total_s, total_h))
    return max(s for s, _ in floors), max(h for _, h in floors)


def _kbest(lat: _Lattice, k: int, allowed=None) -> list[tuple[float, list[tuple]]]:
    """The k best paths (score, edges) through the lattice, optionally over allowed edges only."""
    best: dict = {lat.start: [(0.0, None, None)]}  # state -> [(score, edge, parent entry)]
    for f, layer in enumerate(lat.edges):
        nxt: dict = {}
        for e in layer:
            if allowed is not None and id(e) not in allowed:
                continue
            for entry in best.get(e[0], ()):
                nxt.setdefault(e[1], []).append((entry[0] + e[4] + e[5], e, entry))
        for st, lst in nxt.items():
            lst.sort(key=lambda x: -x[0])
            del lst[k:]
        best = nxt
    finals = sorted((x for st in lat.finals for x in best.get(st, ())), key=lambda x: -x[0])[:k]
    out = []
    for entry in finals:
        path = []
        e = entry
        while e[1] is not None:
            path.append(e[1])
            e = e[2]
        out.append((entry[0], path[::-1]))
    return out


def _reading(path: list[tuple], note: Optional[str] = None) -> Reading:
    pieces = tuple(e[3] for e in path)
    r = Reading(pieces=pieces, hard=sum(e[4] for e in path), soft=sum(e[5] for e in path))
    lost = sum(1 for p in pieces if p.chunk is None)
    if lost:
        r.notes.append(f"{lost} cell(s) not printed, read as blank")
    if note:
        r.hard -= EXTRA_VALUE_PENALTY
        r.notes.append(note)
    return r


MAX_LISTED = 36  # rows with at most this many readings (no digits to cut) are listed, not decoded


def _tie_slack(chunks: list[Chunk], keys: list[str], table: str, rules: bool = True,
               model: Optional["RowModel"] = None) -> float:
    """How far below the best hard evidence a reading still counts as a rival (its values are
    alternatives, and a choice against it is doubted). Where digits run together and no rule binds
    the row (Table A), a reading that assumes empty cells is such a rival: crawler text drops the
    empty cells of zeros ('5712' for 本年废止 5, 现行有效 712), so the count of printed values
    does not decide between cutting the digits and assuming a cell was empty. ``model``: the run's
    RowModel where the caller has built it (its roles are the rules'), else built here."""
    if not rules or not any(c.splittable for c in chunks):
        return 1e-9
    if any(r is not None for r in (model or RowModel.of(keys, table, frozenset(), None)).roles):
        return 1e-9
    return math.inf


def _readings_at_most(chunks: list[Chunk], n: int, placeholders_in_use: bool) -> int:
    """An upper bound on the number of readings of a run (cuts counted without the leading-zero
    rule), without listing them."""
    max_parts = n - len(chunks) + 1
    if max_parts < 1:
        return 0
    ways = {0: 1}  # pieces so far -> number of ways
    for c in chunks:
        hist: dict[int, int] = {}
        if c.splittable and not ocr_candidates(c):
            digits = len(c.digits)
            for k in range(1, min(max_parts, digits) + 1):
                hist[k] = math.comb(digits - 1, k - 1) * (2 if c.raw[:1] in "-−" else 1)
        else:
            for opt in chunk_options(c, max_parts, placeholders_in_use):
                hist[len(opt)] = hist.get(len(opt), 0) + 1
        nxt: dict[int, int] = {}
        for a, wa in ways.items():
            for k, wk in hist.items():
                if a + k <= n:
                    nxt[a + k] = nxt.get(a + k, 0) + wa * wk
        ways = nxt
    return sum(w * math.comb(n, n - m) for m, w in ways.items())


def _decide_by_listing(chunks: list[Chunk], keys: list[str], table: str, prose_numbers: frozenset[float],
                       header_unit: Optional[str], placeholders_in_use: bool, note: Optional[str]) -> Optional[RowDecision]:
    """decode_run for a run with a handful of readings: every reading listed and scored."""
    readings = enumerate_readings(chunks, len(keys), placeholders_in_use)
    if not readings:
        return None
    score_row(readings, keys, table, prose_numbers, header_unit)
    if note:
        for r in readings:
            r.hard -= EXTRA_VALUE_PENALTY
            r.notes.append(note)
        readings.sort(key=lambda r: -r.score)  # score_row sorted them before the penalty
    top = readings[0].score
    log_z = top + math.log(sum(math.exp(r.score - top) for r in readings))
    top_hard = max(r.hard for r in readings)
    model = RowModel.of(keys, table, prose_numbers, header_unit)
    slack = _tie_slack(chunks, keys, table, model=model)
    tied = [r for r in readings if r.hard >= top_hard - slack]  # best first, as readings
    marginals: list[dict[float, float]] = []
    ties: list[list[float]] = []
    chunk_values: list[dict[int, set]] = []
    masses = [math.exp(r.score - log_z) for r in readings]
    for i, key in enumerate(keys):
        marg: dict[float, float] = {}
        by_chunk: dict[int, set] = {}
        for r, mass in zip(readings, masses):
            v = money_value(r.pieces[i], key, header_unit)
            marg[v] = marg.get(v, 0.0) + mass
            by_chunk.setdefault(id(r.pieces[i].chunk), set()).add(v)
        marginals.append(marg)
        chunk_values.append(by_chunk)
        values = {money_value(r.pieces[i], key, header_unit) for r in tied}
        ties.append(sorted(values, key=lambda v: -marg[v]))
    return RowDecision(keys=list(keys), readings=readings[:K_BEST], base=BASE_CLEAR, marginals=marginals, ties=ties,
                       survivors=tied[:K_SURVIVORS], log_z=log_z, chunk_values=chunk_values, header_unit=header_unit,
                       tied_count=len(tied), model=model, splittable=any(c.splittable for c in chunks))


def _sweep(layers: list[list[tuple]], ends: Iterable, backward: bool) -> tuple[list[dict], list[dict]]:
    """Per position of the lattice (field boundary), per state: the log-sum of the scores of the
    paths from ``ends`` to it (forward from the start, or backward from the finals) and the best
    hard evidence among them."""
    near_i, far_i = (1, 0) if backward else (0, 1)
    mass = {st: 0.0 for st in ends}
    best_hard = dict(mass)
    masses, hards = [mass], [best_hard]
    for layer in (reversed(layers) if backward else layers):
        nm: dict = {}
        nh: dict = {}
        for e in layer:
            a = mass.get(e[near_i])
            if a is None:
                continue
            far, hard = e[far_i], e[4]
            nm[far] = _lse(nm.get(far, -math.inf), a + hard + e[5])
            h = best_hard[e[near_i]] + hard
            if h > nh.get(far, -math.inf):
                nh[far] = h
        mass, best_hard = nm, nh
        masses.append(mass)
        hards.append(best_hard)
    if backward:
        masses.reverse()
        hards.reverse()
    return masses, hards


def decode_run(chunks: list[Chunk], keys: list[str], table: str, prose_numbers: frozenset[float],
               header_unit: Optional[str] = None, placeholders_in_use: bool = False,
               rules: bool = True) -> Optional[RowDecision]:
    """Every reading of a run as exactly len(keys) values, weighed without listing them: the best
    ones, each field's posterior, and the values the hard evidence leaves tied. ``rules=False``
    leaves the reconciliation rules out (to measure what the prior alone picks)."""
    n = len(keys)
    while len(chunks) > n and chunks[0].kind == "blank":
        chunks = chunks[1:]
    while len(chunks) > n and chunks[-1].kind == "blank":
        chunks = chunks[:-1]
    note = None
    if len(chunks) > n:
        # More printed values than cells: keep the first n (later ones are prose or a stray cell).
        note = f"{len(chunks) - n} extra printed value(s) ignored"
        chunks = chunks[:n]
    splittable = any(c.splittable for c in chunks)
    if rules and _readings_at_most(chunks, n, placeholders_in_use) <= MAX_LISTED:
        # A handful of readings (e.g. one cell per value, or a cell or two lost): listing them is
        # cheaper than building the lattice, and decides the same (the tests hold the two equal).
        return _decide_by_listing(chunks, keys, table, prose_numbers, header_unit, placeholders_in_use, note)
    model = RowModel.of(keys, table, prose_numbers, header_unit, rules)
    lat = _build_lattice(chunks, model, placeholders_in_use, BLANK_PENALTY if splittable else LOST_CELL_PENALTY)
    if lat is None:
        return None
    # Forward: log-sum (posterior) and max hard (the rules' verdict); backward the same.
    fwds, fhards = _sweep(lat.edges, [lat.start], backward=False)
    bwds, bhards = _sweep(lat.edges, lat.finals, backward=True)
    log_z = bwds[0].get(lat.start, -math.inf)
    top_hard = bhards[0].get(lat.start, -math.inf)
    if log_z == -math.inf:
        return None
    slack = _tie_slack(chunks, keys, table, rules, model)
    marginals: list[dict[float, float]] = []
    ties: list[list[float]] = []
    chunk_values: list[dict[int, set]] = []
    allowed: set[int] = set()
    for f, layer in enumerate(lat.edges):
        marg: dict[float, float] = {}
        tied: dict[float, float] = {}
        by_chunk: dict[int, set] = {}
        fw, bw, fh, bh = fwds[f], bwds[f + 1], fhards[f], bhards[f + 1]
        for e in layer:
            src, dst, v, p, hard, soft = e
            if src not in fw or dst not in bw:
                continue
            mass = math.exp(fw[src] + hard + soft + bw[dst] - log_z)
            marg[v] = marg.get(v, 0.0) + mass
            by_chunk.setdefault(id(p.chunk), set()).add(v)
            if fh[src] + hard + bh[dst] >= top_hard - slack:
                allowed.add(id(e))
                tied[v] = tied.get(v, 0.0) + mass
        marginals.append(marg)
        ties.append(sorted(tied, key=lambda v: -tied[v]))
        chunk_values.append(by_chunk)
    # Number of readings with the best hard evidence (paths over the edges that keep it).
    count = {lat.start: 1}
    for layer in lat.edges:
        nxt_count: dict = {}
        for e in layer:
            if id(e) in allowed and e[0] in count:
                nxt_count[e[1]] = nxt_count.get(e[1], 0) + count[e[0]]
        count = nxt_count
    tied_count = sum(count.get(st, 0) for st in lat.finals)
    readings = [_reading(path, note) for _, path in _kbest(lat, K_BEST)]
    survivors = [_reading(path, note) for _, path in _kbest(lat, K_SURVIVORS if tied_count > 1 else 1, allowed)]
    if note:
        log_z -= EXTRA_VALUE_PENALTY
    return RowDecision(keys=list(keys), readings=readings, base=BASE_CLEAR, marginals=marginals, ties=ties,
                       survivors=survivors, log_z=log_z, chunk_values=chunk_values, header_unit=header_unit,
                       tied_count=tied_count, model=model, splittable=splittable)


def decide_row(run: RowRun, keys: list[str], table: str, prose_numbers: frozenset[float],
               header_unit: Optional[str] = None, placeholders_in_use: bool = False) -> Optional[RowDecision]:
    """The decided row of one run; ``placeholders_in_use``: the document prints empty cells
    as "-" elsewhere, so a "-" glued to digits may be one too (else it is a minus sign)."""
    if not run.chunks:
        # A row printed with every cell empty: blank cells of a printed row are 0 (spec: Values).
        empty = Reading(pieces=tuple(Piece(text="", value=0, chunk=None) for _ in keys))
        return RowDecision(keys=keys, readings=[empty], base=EMPTY_ROW, reason="row printed with empty cells, read as 0",
                           marginals=[{0: 1.0} for _ in keys], ties=[[0] for _ in keys], survivors=[empty],
                           chunk_values=[{} for _ in keys], header_unit=header_unit)
    decision = decode_run(run.chunks, keys, table, prose_numbers, header_unit, placeholders_in_use)
    if decision is None:
        return None
    base = BASE_CLEAR * run.label_confidence
    reason = None if run.label_confidence >= 0.99 else (
        f"row label read by the classifier from '{run.label.strip()}' (probability {run.label_confidence:.2f})")
    if run.via_group:
        base = 0.95
        reason = (f"numbers assigned to this row by position (after '{run.label.strip()}'): "
                  "its label is missing or printed apart from them")
    notes = decision.readings[0].notes
    if any("extra printed value" in n for n in notes):
        base = min(base, 0.8)
        reason = "; ".join(notes)
    decision.base, decision.reason = base, reason
    return decision


def _reading_values(reading: Reading, decision: RowDecision) -> list[float]:
    return [money_value(p, k, decision.header_unit) for k, p in zip(decision.keys, reading.pieces)]


def posterior(decision: RowDecision) -> tuple[list[dict[float, float]], list[list[float]]]:
    """Each field's posterior over values and the values left tied, after the joint decision:
    readings outside the rule-consistent set lose RULE_PENALTY (exactly, from the marginals)."""
    if not decision.consistent or not decision.joint_settles:
        return decision.marginals, decision.ties
    eps = math.exp(-RULE_PENALTY)
    kept = [(math.exp(r.score - decision.log_z), _reading_values(r, decision)) for r in decision.consistent]
    kept_mass = min(1.0, sum(p for p, _ in kept))
    z = kept_mass + eps * (1.0 - kept_mass)
    marginals, ties = [], []
    for i, marg in enumerate(decision.marginals):
        inside: dict[float, float] = {}
        for p, vals in kept:
            inside[vals[i]] = inside.get(vals[i], 0.0) + p
        marginals.append({v: (inside.get(v, 0.0) + eps * max(0.0, m - inside.get(v, 0.0))) / z for v, m in marg.items()})
        order: list[float] = []
        for _, vals in kept:
            if vals[i] not in order:
                order.append(vals[i])
        ties.append(order)
    return marginals, ties


def field_values(decision: RowDecision, header_unit: Optional[str] = None) -> dict[str, FieldValue]:
    """Field values of a decided row, with confidence = posterior mass of the chosen value.
    (``header_unit`` is the one the row was decided with; kept for callers that pass it.)"""
    marginals, ties = posterior(decision)
    best = decision.best()
    best_vals = _reading_values(best, decision)
    margin = soft_margin(decision)
    trusted = prior_trust_margin()
    # Digits cut (or cells assumed lost) by the decoder into a reading that still breaks its row's
    # rule: the rule says the cut is likely wrong, so those fields stay doubted.
    broken = decision.model.broken_groups(best_vals) if decision.model else set()
    guessed = decision.splittable or any(p.chunk is None for p in best.pieces)
    out: dict[str, FieldValue] = {}
    ocr_row = any(p.chunk is not None and p.chunk.segment is not None and p.chunk.segment.source == "ocr"
                  for p in best.pieces)
    for i, key in enumerate(decision.keys):
        piece = best.pieces[i]
        chosen = best_vals[i]
        mass = min(1.0, marginals[i].get(chosen, 0.0))
        alts = [v for v in ties[i] if v != chosen]
        conf = decision.base * mass
        reason = decision.reason
        if alts:
            chunk_text = piece.chunk.raw if piece.chunk else ""
            alt_text = _alt_text(alts)
            if trusted is not None and margin is not None and margin >= trusted:
                # The prior's margin is one measured to pick right >= 99.9% of the time: not
                # doubted, but kept below the auto-accept levels (the measurement is mostly factory rows).
                conf = min(conf, TRUSTED_PRIOR_CAP * mass)
                reason = (f"several readings of the printed digits '{chunk_text}' fit the table; chose {full_number(chosen)} "
                          f"by the value prior with margin {margin:.1f} (>= {full_number(trusted)}, measured), alternatives {alt_text}")
            else:
                conf = min(conf, DOUBT_CAP * mass)
                reason = (f"several readings of the printed digits '{chunk_text}' fit the table; "
                          f"chose {full_number(chosen)} by plausibility, alternatives {alt_text}")
        role = decision.model.roles[i] if decision.model else None
        if guessed and role is not None and role[0] in broken:
            conf = min(conf, DOUBT_CAP * mass)
            chunk_text = piece.chunk.raw if piece.chunk else ""
            reason = (f"no reading of the printed digits '{chunk_text}' satisfies the row's sum rule; "
                      f"chose {full_number(chosen)}" + (f", alternatives {_alt_text(alts)}" if alts else ""))
        seg = piece.chunk.segment if piece.chunk else None
        if piece.chunk is None and ocr_row:
            # No printed number was placed in this cell of an OCR-read row (the row's readings went
            # to other cells): its value is assumed, not read, and stays doubted.
            conf = min(conf, DOUBT_CAP * mass)
            reason = reason or "no OCR reading was placed in this cell of an OCR-read row; the value is assumed"
        if seg is not None and seg.source == "ocr":
            read_as = decision.chunk_values[i].get(id(piece.chunk), set()) if decision.chunk_values else set()
            conf, reason = ocr_confidence(seg, chosen, conf, mass, reason, alts, len(read_as) > 1)
        if piece.chunk is not None and piece.chunk.kind == "unread":
            out[key] = unread_field(seg)
            continue
        out[key] = FieldValue(value=chosen, raw=piece.text if piece.chunk else None, confidence=round(conf, 4),
                              page=seg.page if seg else None, bbox=seg.bbox if seg else None,
                              alternatives=alts[:4], reason=reason, source=seg.source if seg else None)
    return out


def _alt_text(alts: list[float], shown: int = 4) -> str:
    """Alternatives in full (7117339.04, not 7.11734e+06); a cut list says how many more there are."""
    text = ", ".join(full_number(a) for a in alts[:shown])
    return text + (f" +{len(alts) - shown} more" if len(alts) > shown else "")


def soft_margin(decision: RowDecision) -> Optional[float]:
    """How far (in log score) the chosen reading leads the best tied reading that reads
    differently; None where the chosen reading is not the best tied one or nothing differs."""
    pool = decision.consistent or decision.survivors
    if len(pool) < 2:
        return None
    best = _reading_values(pool[0], decision)
    if best != _reading_values(decision.best(), decision):
        return None
    rival = next((r for r in pool[1:] if _reading_values(r, decision) != best), None)
    return None if rival is None else pool[0].score - rival.score


def ocr_confidence(seg, chosen: float, conf: float, mass: float, reason: Optional[str], alts: list[float],
                   had_candidates: bool) -> tuple[float, Optional[str]]:
    """An OCR-read value: the reading's own probability enters the confidence; an uncertain digit
    keeps the value doubted with a reason, whether the rules or the OCR probabilities chose it."""
    ocr_p = seg.confidence if seg.confidence is not None else 0.9
    conf = min(conf, BASE_OCR * mass) * (1.0 if seg.alternatives else ocr_p)
    if seg.alternatives:
        cands = ", ".join(f"{t} ({p:.2f})" for t, p in seg.alternatives[:3]) + (
            f" +{len(seg.alternatives) - 3} more" if len(seg.alternatives) > 3 else "")
        how = ("the only candidate the table's rules accept" if had_candidates and not alts
               else "by OCR probability; the rules do not decide")
        conf = min(conf, OCR_DOUBT_CAP * mass)
        reason = (f"OCR unsure of a digit in '{seg.text}' (read with probability {ocr_p:.2f}; other readings "
                  f"{cands}); chose {full_number(chosen)}, {how}")
    elif conf < 0.9 and reason is None:
        reason = f"read by OCR as '{seg.text}' with probability {ocr_p:.2f}"
    return conf, reason


UNREAD_CONFIDENCE = 0.3  # a cell with ink that OCR could not read: no value, and a person looks


def unread_field(seg) -> FieldValue:
    """The field of a cell with ink that OCR could not read: null (never a printed-empty 0), doubted."""
    return FieldValue(value=None, raw=None, confidence=UNREAD_CONFIDENCE, page=seg.page, bbox=seg.bbox,
                      reason="unread: the cell has ink but OCR read no number or placeholder in it (see its crop)",
                      source=seg.source)


# -- joint decoding of Table B with the column rules ------------------------------------------
def _column_residuals(values: list[float], row: str, result_rows: frozenset[str]) -> list[float]:
    """What one Table B row adds to the 14 column-rule residuals (R2 then R3, column by column):
    a table satisfies a rule where the residuals of its rows sum to zero."""
    sign2 = 1.0 if row == "results_total" else -1.0 if row in result_rows else 0.0
    sign3 = 1.0 if row in ("new", "carried_over") else -1.0 if row in ("results_total", "carried_forward") else 0.0
    return [sign2 * v for v in values] + [sign3 * v for v in values]


def joint_requests(decisions: dict[str, RowDecision], template: str, max_rows: int = 8, per_row: int = K_SURVIVORS,
                   max_combinations: int = 65536) -> None:
    """Re-rank ambiguous Table B rows jointly by rules 2 and 3 (columns), in place: each row keeps
    the readings that appear in a combination breaking the fewest column rules. The rules are
    linear, so every combination's residuals are one broadcast sum (no per-combination Python)."""
    import numpy as np

    ambiguous = [k for k, d in decisions.items() if any(len(t) > 1 for t in d.ties) and len(d.survivors) > 1][:max_rows]
    if not ambiguous:
        return
    options = {k: decisions[k].survivors[:per_row] for k in ambiguous}
    if math.prod(len(o) for o in options.values()) > max_combinations:
        return  # too many to weigh jointly: each row keeps its own best reading (and its doubt)
    results = frozenset(reconcile.result_rows(template))

    def residuals(k: str, r: Reading) -> list[float]:
        d = decisions[k]
        by_col = dict(zip((key.rsplit(".", 1)[1] for key in d.keys), _reading_values(r, d)))
        return _column_residuals([by_col.get(c, 0.0) for c in reconcile.B_COLUMNS], k, results)

    total = np.zeros(2 * len(reconcile.B_COLUMNS))
    for k, d in decisions.items():
        if k not in options:
            total += residuals(k, d.best())
    m = len(ambiguous)
    for j, k in enumerate(ambiguous):
        shape = [1] * m + [total.shape[-1]]
        shape[j] = len(options[k])
        total = total + np.array([residuals(k, r) for r in options[k]]).reshape(shape)
    violations = (np.abs(total) >= _EPS).sum(axis=-1)
    winners = violations == violations.min()
    for j, k in enumerate(ambiguous):
        axes = tuple(a for a in range(m) if a != j)
        keep = winners.any(axis=axes) if axes else winners
        d = decisions[k]
        d.consistent = sorted((r for r, ok in zip(options[k], keep) if ok), key=lambda r: -r.score)
        d.joint_settles = bool(violations.min() == 0) and d.tied_count <= len(options[k])
        for r, ok in zip(options[k], keep):
            if not ok:
                r.notes.append("column rules fail")
