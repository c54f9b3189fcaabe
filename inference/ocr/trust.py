"""How far OCR-read numbers are trusted once the table's rules have been checked.

A sum rule (R1-R4) broken on numbers read by OCR is far more often a misreading than a misprint,
and the rule cannot say which of its cells was misread: every OCR-read cell of the failing rule
is doubted (below the review threshold), with the rule as its reason. Cells read from a text layer
keep their confidence: a broken rule there is the report's own finding.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, MutableMapping, Optional, Sequence

from nianbao.document import BBox, Cell, Check, Document, FieldValue, Table

from ..reconcile import SUM_RULES

RULE_DOUBT_CAP = 0.85   # an OCR-read cell of a failing sum rule: below 0.9, so a person looks


def doubt_cells_of_failing_rules(fields: MutableMapping[str, FieldValue], checks: Iterable[Check]) -> list[str]:
    """Cap the confidence of every OCR-read value under a failing sum rule; the keys doubted."""
    doubted: list[str] = []
    for c in checks:
        if c.passed or c.rule not in SUM_RULES:
            continue
        for key in c.cells:
            f = fields.get(key)
            if f is None or f.value is None or f.source != "ocr" or f.confidence <= RULE_DOUBT_CAP:
                continue
            f.confidence = RULE_DOUBT_CAP
            why = f"rule {c.rule} fails on numbers read by OCR ({c.detail}): this cell may be misread"
            f.reason = f"{f.reason}; {why}" if f.reason else why
            doubted.append(key)
    return doubted


# ---------------------------------------------------------------------------------------------
# The rules re-rank readings of uncertain cells
# ---------------------------------------------------------------------------------------------

# Digits the recogniser takes for one another on scans (thin strokes lost or added).
LOOK_ALIKE = {"0": "689", "1": "740", "2": "7", "3": "859", "4": "1", "5": "63", "6": "508", "7": "12",
              "8": "3069", "9": "08"}
# A cell read with a probability below this is uncertain: the rules may choose another reading of it.
# A clearer reading is never changed by the rules (it stays as read, doubted by its failing rule).
UNCERTAIN_READING = 0.98
# Below this a reading is as likely ink that is no digit as a digit: the rules may read the cell as 0.
NOISE_READING = 0.5
RERANK_CONFIDENCE = 0.7   # a value the rules chose among readings of an uncertain cell: doubted
RERANK_MAX_CELLS = 2      # cells changed together at most
RERANK_MAX_TRIALS = 4000  # combinations weighed at most per document


def reading_options(text: str, alternatives: Sequence[tuple[str, float]] = ()) -> list[str]:
    """Other readings of an uncertain number: the recogniser's own candidates first, the number
    without its sign, then each digit swapped for a look-alike, and the number without one of its
    digits (a speck or a rule's remnant read as a digit or a sign). No leading zeros; the text's
    own reading is not among them."""
    out: list[str] = []

    def add(t: str) -> None:
        digits = t.lstrip("-−")
        if not digits or not digits[0].isdigit() or (len(digits) > 1 and digits[0] == "0" and digits[1] != "."):
            return
        if t != text and t not in out:
            out.append(t)

    for a, _p in alternatives:
        add(a)
    if text[:1] in ("-", "−"):
        add(text[1:])   # a rule's remnant or a stroke before the number read as its sign
    for i, ch in enumerate(text):
        for other in LOOK_ALIKE.get(ch, ""):
            add(text[:i] + other + text[i + 1:])
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if len(digits) > 1:
        for i in digits:
            add(text[:i] + text[i + 1:])
    return out


@dataclass
class Rerank:
    key: str
    old: float
    new: float
    read: str
    probability: float
    rules: list[str]


def _cells_by_box(doc: Document) -> dict[tuple[int, BBox], Cell]:
    out: dict[tuple[int, BBox], Cell] = {}
    for page in doc.pages:
        for b in page.blocks:
            if isinstance(b, Table):
                for c in b.cells:
                    if c.source == "ocr" and c.bbox is not None:
                        out[(b.page, c.bbox)] = c
    return out


def _number(text: str) -> Optional[float]:
    t = text.replace(",", "").replace("−", "-")
    for unit in ("万元", "元"):
        t = t.removesuffix(unit)
    try:
        v = float(t)
    except ValueError:
        return None
    return int(v) if v == int(v) and "." not in t else v


def rerank_by_rules(doc: Document, schema=None) -> list[Rerank]:
    """Where sum rules (R1-R4) fail on numbers read by OCR, weigh other readings of the uncertain
    cells under them (``reading_options``): the fewest cells changed that make every failing rule
    hold and break none that held is chosen, when it is the only such change. A value so chosen
    is doubted (RERANK_CONFIDENCE) with the reading it replaces as its alternative; a cell read
    clearly (probability >= UNCERTAIN_READING) is never changed. Returns what was changed; the
    caller runs the rules again."""
    from .. import reconcile

    if not doc.template or not doc.checks:
        return []
    failing = [c for c in doc.checks if not c.passed and c.rule in SUM_RULES]
    if not failing:
        return []
    cells = _cells_by_box(doc)
    options: dict[str, list[tuple[float, str]]] = {}
    read: dict[str, tuple[str, float]] = {}
    for c in failing:
        for key in c.cells:
            f = doc.fields.get(key)
            if key in options or f is None or f.value is None or f.source != "ocr" or f.page is None or f.bbox is None:
                continue
            cell = cells.get((f.page, f.bbox))
            if cell is None or not cell.text or cell.confidence is None or cell.confidence >= UNCERTAIN_READING:
                continue
            if _number(cell.text) != f.value:   # f.value is a number here: None never equals it
                continue   # a money cell in 万元, a cut of run-together digits: not this cell's whole reading
            opts = [(v, "a look-alike reading of the uncertain cell")
                    for t in reading_options(cell.text, cell.alternatives) if (v := _number(t)) is not None]
            # The decoder's own alternatives, and for a reading as likely noise as a digit (a seal's
            # stroke, a speck, bleed-through read as '7'), the empty cell.
            more = [(a, "the decoder's alternative reading") for a in f.alternatives if isinstance(a, (int, float))]
            if cell.confidence < NOISE_READING:
                more.append((0, "the cell printing no number: its ink read as a digit at low probability"))
            for v, kind in more:
                if v != f.value and all(v != o for o, _k in opts):
                    opts.append((v, kind))
            if opts:
                options[key] = opts
                read[key] = (cell.text, cell.confidence)
    if not options:
        return []
    values = doc.values()
    held = {(c.rule, tuple(c.cells)) for c in doc.checks if c.passed and c.rule in SUM_RULES}

    def verdict(changed: dict[str, float], group: set[str]) -> Optional[list[str]]:
        """The failing rules of ``group`` the change makes hold, when every sum rule over a changed
        cell holds and none that held breaks; None otherwise."""
        trial = {**values, **changed}
        fixed = []
        for c in reconcile.run_checks(trial, doc.template, doc.found, schema):
            if c.rule not in SUM_RULES:
                continue
            if not c.passed and (any(k in changed for k in c.cells) or (c.rule, tuple(c.cells)) in held):
                return None
            if c.passed and (c.rule, tuple(c.cells)) not in held and group.intersection(c.cells):
                fixed.append(c.rule)
        return sorted(set(fixed)) or None

    out: list[Rerank] = []
    for group in _independent(failing):
        keys = sorted(k for k in options if k in group)
        rules_of_group = [set(c.cells) for c in failing if group.intersection(c.cells)]
        found = _search(keys, options, lambda changed: verdict(changed, group), rules_of_group)
        if found is None:
            continue
        changed, rules = found
        kinds = {k: dict(options[k])[v] for k, v in changed.items()}
        for key, new in changed.items():
            f = doc.fields[key]
            text, p = read[key]
            old = f.value
            f.alternatives = [old] + [a for a in f.alternatives if a not in (old, new)]
            f.value, f.raw = new, str(new)
            f.confidence = min(f.confidence, RERANK_CONFIDENCE)
            why = (f"OCR read '{text}' (probability {p:.2f}), which breaks rule(s) {', '.join(rules)}; the rules hold "
                   f"only with {new} ({kinds[key]}): chose {new}, alternative {text}")
            f.reason = why
            out.append(Rerank(key, old, new, text, p, rules))
        values.update(changed)
    return out


def _independent(failing: Sequence) -> list[set[str]]:
    """The cells of the failing rules, grouped: rules that share a cell are one group (Table B's rows
    and columns), rules that share none are settled apart (a misreading in 行政复议 and another in
    行政诉讼 are two questions, each with its own answer)."""
    groups: list[set[str]] = []
    for c in failing:
        cells = set(c.cells)
        joined = [g for g in groups if g & cells]
        for g in joined:
            groups.remove(g)
            cells |= g
        groups.append(cells)
    return groups


# What a pass of the search ends with when it has no one change: none fits (None), two fit (the
# rules do not decide), or it ran out of trials (a wider pass may still decide).
_AMBIGUOUS = object()
_UNDECIDED = object()


def _search(keys: list[str], options: dict, verdict,
            failing_cells: Sequence[set[str]] = ()) -> Optional[tuple[dict[str, float], list[str]]]:
    """The one change of the fewest cells (at most RERANK_MAX_CELLS) among ``keys`` that the rules
    accept (``verdict``); None when there is none, or more than one, or the search ran out of trials.

    First only the changes that touch a cell of every failing rule (``failing_cells``: their cells)
    are weighed: those that make every failing rule hold (the verdict refuses a change that leaves a
    rule over a changed cell failing). A large group (Table B's rows and columns) is settled so
    within the trial budget. Where that pass finds none (or runs out), any change is weighed, with
    a budget of its own: one that mends a misreading beside a rule the report itself breaks."""
    passes = [failing_cells, ()] if failing_cells else [()]
    for must_touch in passes:
        found = _weigh(keys, options, verdict, must_touch)
        if found is _AMBIGUOUS:
            return None
        if found is not None and found is not _UNDECIDED:
            return found
    return None


def _weigh(keys: list[str], options: dict, verdict, must_touch: Sequence[set[str]]):
    """One pass of ``_search``: the change found, _AMBIGUOUS where two fit, None where none fits,
    _UNDECIDED where the trials ran out."""
    found: list[tuple[dict[str, float], list[str]]] = []
    trials = 0
    for n in range(1, RERANK_MAX_CELLS + 1):
        for combo in itertools.combinations(keys, n):
            if any(cells.isdisjoint(combo) for cells in must_touch):
                continue
            for choice in itertools.product(*(options[k] for k in combo)):
                trials += 1
                if trials > RERANK_MAX_TRIALS:
                    return _UNDECIDED
                changed = {k: v for k, (v, _t) in zip(combo, choice)}
                rules = verdict(changed)
                if rules is not None:
                    found.append((changed, rules))
                    if len(found) > 1:
                        return _AMBIGUOUS   # two different changes fit the rules: they do not decide
        if found:
            return found[0]
    return None


# ---------------------------------------------------------------------------------------------
# A rule that holds corroborates the one doubtful reading it pins down
# ---------------------------------------------------------------------------------------------

CORROBORATED_CONFIDENCE = 0.95   # above the review threshold, below auto-accept (0.98)
_TRUSTED = 0.9


def corroborate_by_rules(doc: Document) -> list[str]:
    """A sum rule (R1-R4) that holds, every cell of it printed and read, with exactly one cell read
    uncertainly by OCR (below 0.9) and every other cell trusted: the rule alone fixes that cell's
    value (the total less the other parts), and the reading is that value; a misreading would have
    had to land on it. The cell is raised to CORROBORATED_CONFIDENCE (not to auto-accept), with the
    rule as its reason. A cell read with candidate readings (the rules chose among them: evidence
    used once), a value with alternatives, one under a failing sum rule, and an unread cell are
    left alone. Repeated until nothing changes: a cell
    corroborated by one rule may pin the last uncertain cell of another (Table B's rows and columns)."""
    fields, sums = doc.fields, [c for c in doc.checks if c.rule in SUM_RULES]
    cells = _cells_by_box(doc)
    failing = {k for c in sums if not c.passed for k in c.cells}
    lifted: list[str] = []

    def trusted(key: str) -> bool:
        f = fields.get(key)
        # Any source: a value assumed by the decoder (no reading placed, source None) is not trusted.
        return f is not None and f.value is not None and f.confidence >= _TRUSTED

    changed = True
    while changed:
        changed = False
        for c in sums:
            if not c.passed or any(fields.get(k) is None or fields[k].value is None for k in c.cells):
                continue
            doubtful = [k for k in c.cells if not trusted(k)]
            if len(doubtful) != 1:
                continue
            key = doubtful[0]
            f = fields[key]
            if key in failing or f.alternatives or f.source != "ocr":
                continue
            cell = cells.get((f.page, f.bbox)) if f.page is not None and f.bbox is not None else None
            if cell is None or cell.alternatives:
                continue
            f.confidence = CORROBORATED_CONFIDENCE
            why = f"rule {c.rule} holds with this reading and fixes its value (every other cell of the rule read clearly)"
            f.reason = f"{f.reason}; {why}" if f.reason else why
            lifted.append(key)
            changed = True
    return lifted
