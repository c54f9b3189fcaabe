"""From printed value runs to field values: split run-together digits, place lost cells, choose.

Every row's run gives a set of candidate readings. Hard evidence (how many cells had to be
assumed lost, the reconciliation rules) decides first; soft evidence (plausibility priors, the
report's prose) only ranks readings the hard evidence leaves tied, and such a choice is reported
as doubted with its alternatives. Confidence is the posterior mass of the chosen value.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Iterable, Optional

from nianbao.document import FieldValue

from . import reconcile
from .locate import Chunk, RowRun, _NUMBER
from .plausibility import log_prior, log_relation, prose_support

RULE_PENALTY = 9.0       # a broken rule: real reports do break them, but rarely in one row
BLANK_PENALTY = 4.0      # assuming a printed cell was lost where digits could have been split instead
LOST_CELL_PENALTY = 0.5  # assuming a lost cell where nothing could be split (cell formats lose cells)
MAX_PIECE_DIGITS = 12
MAX_CANDIDATES = 20000
BASE_CLEAR = 0.995       # a number read from its own cell of a text layer, under a matched label
DOUBT_CAP = 0.85         # a value chosen by plausibility alone stays well below 0.9
EMPTY_ROW = 0.95         # a printed row with no number after its label: its cells were printed empty
STRUCTURE_PLACED = 0.88  # a row placed by order and cell count under an unrecognised label: doubted until measured
BASE_OCR = 0.98          # a number read by OCR, cleanly: OCR probabilities are not calibrated for 0.99
OCR_DOUBT_CAP = 0.85     # an uncertain OCR digit stays doubted, even when the rules chose its reading


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
    readings: list[Reading]          # sorted best first
    base: float
    reason: Optional[str] = None

    def best(self) -> Reading:
        return self.readings[0]


# -- enumerating readings ---------------------------------------------------------------------
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
    if chunk.kind == "blank":
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


def enumerate_readings(chunks: list[Chunk], n: int, placeholders_in_use: bool = False) -> list[Reading]:
    """All readings of a run as exactly n values (lost cells filled as blanks), capped in number."""
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
            r.hard -= 2.0
        return readings
    splittable = any(c.splittable for c in chunks)
    per_chunk = [chunk_options(c, n, placeholders_in_use) for c in chunks]
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
    positions = list(itertools.combinations(range(n), missing))
    if len(positions) > 400:
        positions = [tuple(range(len(pieces), n))]  # too many: lost cells at the end only
    out = []
    for pos in positions:
        it = iter(pieces)
        row = [Piece(text="", value=0, chunk=None) if i in pos else next(it) for i in range(n)]
        trailing = sum(1 for p in pos if p >= n - missing)
        r = Reading(pieces=tuple(row), hard=-penalty, soft=0.3 * trailing)
        r.notes.append(f"{missing} cell(s) not printed, read as blank")
        out.append(r)
    return out


# -- scoring ----------------------------------------------------------------------------------
def money_value(piece: Piece, key: str, header_unit: Optional[str]) -> float:
    v = piece.value
    if key.endswith("amount_yuan"):
        unit = piece.unit or header_unit
        if unit == "万元":
            return round(v * 10000, 6)
    return v


def reading_values(reading: Reading, keys: list[str], header_unit: Optional[str] = None) -> dict[str, float]:
    return {k: money_value(p, k, header_unit) for k, p in zip(keys, reading.pieces)}


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


def _posterior(scores: list[float]) -> list[float]:
    m = max(scores)
    ws = [math.exp(s - m) for s in scores]
    z = sum(ws)
    return [w / z for w in ws]


def _survivors(readings: list[Reading]) -> list[Reading]:
    top = max(r.hard for r in readings)
    return [r for r in readings if r.hard >= top - 1e-9]


def field_values(decision: RowDecision, header_unit: Optional[str] = None) -> dict[str, FieldValue]:
    """Field values of a decided row, with confidence = posterior mass of the chosen value."""
    readings = decision.readings
    post = _posterior([r.score for r in readings])
    survivors = _survivors(readings)
    best = readings[0]
    best_vals = reading_values(best, decision.keys, header_unit)
    out: dict[str, FieldValue] = {}
    for i, key in enumerate(decision.keys):
        piece = best.pieces[i]
        chosen = best_vals[key]
        mass = sum(p for r, p in zip(readings, post) if money_value(r.pieces[i], key, header_unit) == chosen)
        alts: list[float] = []
        for r in survivors:
            v = money_value(r.pieces[i], key, header_unit)
            if v != chosen and v not in alts:
                alts.append(v)
        conf = decision.base * mass
        reason = decision.reason
        if alts:
            conf = min(conf, DOUBT_CAP * mass)
            chunk_text = piece.chunk.raw if piece.chunk else ""
            reason = (f"several readings of the printed digits '{chunk_text}' fit the table; "
                      f"chose {chosen:g} by plausibility, alternatives {', '.join(f'{a:g}' for a in alts[:4])}")
        seg = piece.chunk.segment if piece.chunk else None
        if seg is not None and seg.source == "ocr":
            read_as = {money_value(r.pieces[i], key, header_unit) for r in readings if r.pieces[i].chunk is piece.chunk}
            conf, reason = ocr_confidence(seg, chosen, conf, mass, reason, alts, len(read_as) > 1)
        out[key] = FieldValue(value=chosen, raw=piece.text if piece.chunk else None, confidence=round(conf, 4),
                              page=seg.page if seg else None, bbox=seg.bbox if seg else None,
                              alternatives=alts[:4], reason=reason, source=seg.source if seg else None)
    return out


def ocr_confidence(seg, chosen: float, conf: float, mass: float, reason: Optional[str], alts: list[float],
                   had_candidates: bool) -> tuple[float, Optional[str]]:
    """An OCR-read value: the reading's own probability enters the confidence; an uncertain digit
    keeps the value doubted with a reason, whether the rules or the OCR probabilities chose it."""
    ocr_p = seg.confidence if seg.confidence is not None else 0.9
    conf = min(conf, BASE_OCR * mass) * (1.0 if seg.alternatives else ocr_p)
    if seg.alternatives:
        cands = ", ".join(f"{t} ({p:.2f})" for t, p in seg.alternatives[:3])
        how = ("the only candidate the table's rules accept" if had_candidates and not alts
               else "by OCR probability; the rules do not decide")
        conf = min(conf, OCR_DOUBT_CAP * mass)
        reason = (f"OCR unsure of a digit in '{seg.text}' (read with probability {ocr_p:.2f}; other readings "
                  f"{cands}); chose {chosen:g}, {how}")
    elif conf < 0.9 and reason is None:
        reason = f"read by OCR as '{seg.text}' with probability {ocr_p:.2f}"
    return conf, reason


def decide_row(run: RowRun, keys: list[str], table: str, prose_numbers: frozenset[float],
               header_unit: Optional[str] = None, placeholders_in_use: bool = False) -> Optional[RowDecision]:
    """Readings of one row's run, scored; ``placeholders_in_use``: the document prints empty cells
    as "-" elsewhere, so a "-" glued to digits may be one too (else it is a minus sign)."""
    if not run.chunks:
        # A row printed with every cell empty: blank cells of a printed row are 0 (spec: Values).
        empty = Reading(pieces=tuple(Piece(text="", value=0, chunk=None) for _ in keys))
        return RowDecision(keys=keys, readings=[empty], base=EMPTY_ROW,
                           reason="row printed with empty cells, read as 0")
    readings = enumerate_readings(run.chunks, len(keys), placeholders_in_use)
    if not readings:
        return None
    score_row(readings, keys, table, prose_numbers, header_unit)
    base = BASE_CLEAR * run.label_confidence
    reason = None if run.label_confidence >= 0.99 else (
        f"row label read by the classifier from '{run.label.strip()}' (probability {run.label_confidence:.2f})")
    if run.by_structure:
        base = STRUCTURE_PLACED
        reason = (f"row placed by its position in the statutory row order and its number of cells; "
                  f"its label '{run.label.strip()[:40]}' was not recognised")
    if run.via_group:
        base = 0.95
        reason = (f"numbers assigned to this row by position (after '{run.label.strip()}'): "
                  "its label is missing or printed apart from them")
    notes = readings[0].notes
    if any("extra printed value" in n for n in notes):
        base = min(base, 0.8)
        reason = "; ".join(notes)
    return RowDecision(keys=keys, readings=readings, base=base, reason=reason)


# -- joint decoding of Table B with the column rules ------------------------------------------
def joint_requests(decisions: dict[str, RowDecision], template: str, max_rows: int = 6, per_row: int = 4) -> None:
    """Re-rank ambiguous Table B rows jointly by rules 2 and 3 (columns), in place."""
    ambiguous = [k for k, d in decisions.items()
                 if len(_survivors(d.readings)) > 1 and _disagree(_survivors(d.readings))]
    if not ambiguous:
        return
    ambiguous = ambiguous[:max_rows]
    options = {k: _survivors(decisions[k].readings)[:per_row] for k in ambiguous}
    fixed: dict[str, float] = {}
    for k, d in decisions.items():
        if k not in options:
            fixed.update(reading_values(d.best(), d.keys))
    combos = list(itertools.product(*(options[k] for k in ambiguous)))
    if len(combos) > 5000:
        return  # too many to weigh jointly: each row keeps its own best reading (and its doubt)
    scored = []
    for combo in combos:
        values = dict(fixed)
        for k, r in zip(ambiguous, combo):
            values.update(reading_values(r, decisions[k].keys))
        violations = sum(1 for c in reconcile.B_COLUMNS for chk in (reconcile.rule2(values, template, c), reconcile.rule3(values, c))
                         if not chk.passed)
        scored.append((-RULE_PENALTY * violations + sum(r.score for r in combo), -violations, combo))
    best_violations = max(s[1] for s in scored)
    # Each row's readings get the joint evidence: a reading in no rule-consistent combination loses.
    for idx, k in enumerate(ambiguous):
        d = decisions[k]
        consistent = {id(s[2][idx]) for s in scored if s[1] == best_violations}
        for r in d.readings:
            if id(r) not in consistent:
                r.hard -= RULE_PENALTY
                r.notes.append("column rules fail")
        d.readings.sort(key=lambda r: -r.score)


def _disagree(readings: list[Reading]) -> bool:
    first = tuple(p.value for p in readings[0].pieces)
    return any(tuple(p.value for p in r.pieces) != first for r in readings[1:])

