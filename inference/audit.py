"""Every check an auditor runs beyond rules 1-4: findings about a document, never corrections.

The catalogue (each rule evaluated only when its evidence is present; not evaluated = not listed):

    P1-P7  prose vs table: the number the report's own text states for this year, against the table
    A1-A3  Table A sanity: counts are non-negative integers; placeholders are "not applicable";
           money has no more decimals than its unit prints
    N1-N3  narrative: section 五 empty or only '无'; fees of Table A vs section 六; work described
           for another year than the report's
    R5, H1 across documents (reports of the same agency in other years; a parent and its children):
           pure functions in ``inference/crossdoc.py`` over stored records

Each finding is a :class:`nianbao.document.Check` with the cells it rests on, the sentence and its
character offset in the reading-order text where prose is involved, and a ``confidence``: how sure
the verdict is (an ambiguous phrase, a fee named differently, a doubted cell lower it).

Everything here is a pure function of the document's text and values; ``audit_document`` runs them
all and is called by the pipeline's reconcile stage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Iterable, Mapping, Optional, Sequence

from nianbao.document import Check, Document, FieldValue
from nianbao.inference.reconcile import B_PARTS
from nianbao.numfmt import full_number

# Rule id -> meaning (README and the output contract list the same).
RULES: dict[str, str] = {
    "R1": "Table B row: total = the six applicant columns",
    "R2": "Table B column: （七）总计 = the sum of the result rows",
    "R3": "Table B column: new + carried over = results total + carried forward",
    "R4": "Table C group: total = upheld + corrected + other + pending",
    "R5": "across years, same agency: carried over = last year's carried forward; v2021 stock in force",
    "P1": "prose vs table: 本年新收申请 (requests.new.total)",
    "P2": "prose vs table: 上年结转 (requests.carried_over.total)",
    "P3": "prose vs table: 收到申请总数 (new + carried over)",
    "P4": "prose vs table: 办结/答复 (requests.results_total.total)",
    "P5": "prose vs table: 结转下年度 (requests.carried_forward.total)",
    "P6": "prose vs table: 行政复议 total (appeals.review.total)",
    "P7": "prose vs table: 行政诉讼 total (direct + after review)",
    "A1": "Table A: decisions and counts are non-negative integers",
    "A2": "Table A: cells printed '/', '—', 不适用 are recorded as not applicable (listed), not as counts of 0",
    "A3": "Table A: money has at most the decimals its unit prints (yuan: 2, 万元: 6)",
    "N1": "narrative: section 五 (problems and improvements) is empty or only '无'",
    "N2": "narrative: fees of Table A and section 六 contradict each other",
    "N3": "narrative: the statistical period, the report it publishes, or the year's work named for another year",
    "H1": "parent vs children: a parent's Table B/C totals = the sum of its children's, same year",
}


def family(rule: str) -> str:
    """The family of a rule id: R (sums), P (prose), A (Table A), N (narrative), H (hierarchy)."""
    return rule[:1]


# ---------------------------------------------------------------------------------------------
# Prose: sentences outside the tables, with their offsets
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sentence:
    text: str      # normalised (whitespace removed, full-width folded)
    start: int     # offset in the normalised text
    end: int


_SENTENCE_END = re.compile(r"[。!?]")
_CLAUSE_SPLIT = re.compile(r"[,;、:]")


def prose_sentences(norm: str, table_spans: Iterable[tuple[int, int]]) -> list[Sentence]:
    """The normalised text cut into sentences (at 。!?), table regions left out."""
    spans = sorted(table_spans)
    pieces, pos = [], 0
    for s, e in spans:
        if s > pos:
            pieces.append((pos, s))
        pos = max(pos, e)
    pieces.append((pos, len(norm)))
    out: list[Sentence] = []
    for a, b in pieces:
        start = a
        for m in _SENTENCE_END.finditer(norm, a, b):
            if m.end() > start:
                out.append(Sentence(norm[start:m.end()], start, m.end()))
            start = m.end()
        if b > start:
            out.append(Sentence(norm[start:b], start, b))
    return [s for s in out if s.text.strip()]


# ---------------------------------------------------------------------------------------------
# P1-P7: the numbers the prose states
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    """A number the prose states for one of the P rules."""

    rule: str                # P1..P7; "P1|P3" for 收到/受理 申请 (new alone, or new + carried over)
    value: float
    sentence: Sentence
    offset: int              # offset of the number in the normalised text
    specific: bool           # the words name the figure unambiguously (新收, 上年结转, 行政复议 ...)


_YEAR = re.compile(r"((?:19|20)\d\d)年(?!\d{1,2}月)")   # a year, not a date's year ("2022年1月1日")
_COUNT = re.compile(r"(?<![\d.])(\d+)(?:件|起)")
# Words after which the number is last year's, or a difference, not this year's figure.
_OTHER_YEAR = re.compile(r"上年(?!结转|度结转)|去年|上一年(?!度?结转)|前一年|同期")
_DIFFERENCE = re.compile(r"(?:增加|减少|增长|下降|多|少|上升|持平|同比|较上年|比上年|累计)$")
_KEYWORDS: tuple[tuple[str, re.Pattern], ...] = (
    # (rule, words that must end shortly before the number); the last match before the number wins.
    ("P2", re.compile(r"上一?年度?结转|结转上一?年度?|上年度?遗留|上年度?未办结")),
    ("P5", re.compile(r"结转(?:至|到|入)?下一?年度?|转入下一?年度?|结转(?:至|到|入)\d{4}年|下一?年度?继续办理|尚未办结|正在办理")),
    ("P1", re.compile(r"新收|新增|新接收|新受理|本年度?新")),
    ("P1|P3", re.compile(r"(?:收到|受理|接收|接到|办理)[^,;。]{0,14}?申请|申请(?:总数|总量|数量)|依申请公开|申请公开")),
    ("P4", re.compile(r"办结|答复|办理完毕|处理完毕|已办理|作出答复")),
    ("P6", re.compile(r"行政复议")),
    ("P7", re.compile(r"行政诉讼|提起诉讼|起诉")),
)
_PART_OF_FIGURE = re.compile(r"予以公开|部分公开|不予公开|不予处理|无法提供|其他处理|自然人|法人|企业|科研机构|公益组织|"
                             r"法律服务|当面|网上|网络|信函|传真|电子邮件|邮寄|窗口")
_TOTAL_WORDS = re.compile(r"共|总计|合计|总数|累计收到")
KEYWORD_REACH = 24  # characters from the end of the words to the number
# "0件为新增受理件": the number before its words.
_AFTER_NUMBER = (("P1", re.compile(r"^(?:件)?[^,;、。\d]?(?:本年)?(?:新增|新收|新受理)")),   # 为, or a damaged 为
                 ("P2", re.compile(r"^(?:件)?[^,;、。\d]?上一?年度?结转")),
                 ("P5", re.compile(r"^(?:件)?(?:仍|尚|还)?(?:在|正在)办理|^(?:件)?尚未办结|^(?:件)?(?:结转|转入)下一?年度?")))
# "新收25件,上年结转2件,共计27件": a bare total after both parts is the received total (P3).
_BARE_TOTAL = re.compile(r"^(?:共计|合计|总计|共)$")
# "未收到…申请", "未发生…行政复议、行政诉讼": zero stated in words.
_ZERO = re.compile(r"(?:未|没有|无)(?:收到|发生|产生|出现|接到|受理|有)|^无(?=[^,;]{0,8}(?:申请|复议|诉讼))")


def _year_context(sentence: str, upto: int) -> Optional[int]:
    """The last year named in the sentence before ``upto`` (None: no year named there)."""
    years = [int(m.group(1)) for m in _YEAR.finditer(sentence, 0, upto)]
    return years[-1] if years else None


def _clause_start(text: str, pos: int) -> int:
    starts = [m.end() for m in _CLAUSE_SPLIT.finditer(text, 0, pos)]
    return starts[-1] if starts else 0


def statements(sentences: Sequence[Sentence], year: Optional[int]) -> list[Statement]:
    """Every count the prose states for a P rule, for the report's own year.

    A number counts when it carries its unit (件/起), words naming the figure end at most
    ``KEYWORD_REACH`` characters before it inside its clause, and the sentence is about this year:
    a sentence naming another year before the number, or saying 上年/去年/同期, or a number that is a
    difference (同比增加5件) is skipped."""
    out: list[Statement] = []
    for s in sentences:
        text = s.text
        for m in _COUNT.finditer(text):
            num_at = m.start(1)
            clause_from = _clause_start(text, num_at)
            clause = text[clause_from:num_at]
            if "%" in clause or "率" in clause[-6:] or _DIFFERENCE.search(clause):
                continue
            rule, specific = _rule_for(clause, text[m.end(1):m.end(1) + 14])
            if rule is None and _BARE_TOTAL.match(clause) and re.search(r"新收|新增", text[:num_at]) \
                    and "结转" in text[:num_at]:
                rule, specific = "P3", True
            if rule in ("P6", "P7") and _joined_appeals(text, clause_from):
                rule = "P6|P7"
            if rule == "P6|P7":  # 行政复议、行政诉讼案件0件: a sum of both, which only 0 decides
                if m.group(1) == "0" and _about_this_year(text, num_at, clause, year, "P6"):
                    out += [Statement(r, 0.0, s, s.start + num_at, True) for r in ("P6", "P7")]
                continue
            if rule is None:
                continue
            if not _about_this_year(text, num_at, clause, year, rule):
                continue
            if rule == "P1|P3" and _TOTAL_WORDS.search(clause) and "结转" in text:
                rule, specific = "P3", True
            out.append(Statement(rule, float(m.group(1)), s, s.start + num_at, specific))
        out.extend(_zero_statements(s, year))
    return out


def _joined_appeals(text: str, clause_from: int) -> bool:
    """The clause follows "…行政复议、" (or 诉讼) with no number of its own: both name one number."""
    if clause_from == 0 or text[clause_from - 1] != "、":
        return False
    before = text[_clause_start(text, clause_from - 1):clause_from - 1]
    return bool(re.search(r"(?:复议|诉讼)$", before)) and not re.search(r"\d", before)


def _rule_for(clause: str, after: str) -> tuple[Optional[str], bool]:
    for rule, pattern in _AFTER_NUMBER:
        if pattern.search(after):
            return rule, True
    best: Optional[tuple[int, int, str]] = None
    for rule, pattern in _KEYWORDS:
        for k in pattern.finditer(clause):
            if len(clause) - k.end() <= KEYWORD_REACH and (best is None or k.end() > best[0]):
                best = (k.end(), k.start(), rule)
    if best is None:
        return None, False
    end, start, rule = best
    # "答复予以公开12件", "收到申请…自然人30件": a part of the figure (a result row, an applicant column,
    # a channel), not the figure itself.
    if _PART_OF_FIGURE.search(clause[max(0, start - 6):]):
        return None, False
    # 行政复议 and 行政诉讼 named together before one number ("复议和诉讼案件共3件"): a sum of both.
    if rule in ("P6", "P7") and "复议" in clause and "诉讼" in clause:
        return "P6|P7", False
    return rule, rule != "P1|P3"


# A clause that opens a sentence's talk of last year: what follows it in the sentence is last year's.
_LAST_YEAR_TOPIC = re.compile(r"^(?:去年|上年(?!度?结转)|上一年(?!度?结转)|同期|与?(?:19|20)\d\d年(?:度)?(?:同期|相比))")


def _about_this_year(text: str, num_at: int, clause: str, year: Optional[int], rule: str) -> bool:
    """Whether the number at ``num_at`` is stated for ``year``.

    Its own clause decides first (上年/去年/同期, or a year named in it); else the last earlier clause
    of the sentence that is a topic: a year alone ("2022年,…"), or last year's ("去年同期…"). A year
    inside another statement (结转到2023年度继续办理0件) says nothing about the next clause."""
    if _OTHER_YEAR.search(clause):
        return False
    named = _year_context(clause, len(clause))
    if named is None:
        clause_from = num_at - len(clause)
        for c in reversed([m for m in re.finditer(r"[^,;、]+", text[:clause_from])]):
            part = c.group(0)
            if _LAST_YEAR_TOPIC.match(part):
                return False
            years = [int(y.group(1)) for y in _YEAR.finditer(part)]
            if years and not re.search(r"\d", _YEAR.sub("", part)):
                named = years[-1]
                break
    if named is None or year is None or named == year:
        return True
    return rule == "P5" and named == year + 1  # 结转至2023年办理


def _zero_statements(s: Sentence, year: Optional[int]) -> list[Statement]:
    out = []
    for clause_m in re.finditer(r"[^,;]+", s.text):
        clause = clause_m.group(0)
        z = _ZERO.search(clause)
        if z is None or re.search(r"\d+(?:件|起)", clause) or _OTHER_YEAR.search(clause):
            continue
        named = _year_context(s.text, clause_m.start())
        own = _year_context(clause, len(clause))
        if (own or named) not in (None, year):
            continue
        tail = clause[z.start():]
        at = s.start + clause_m.start() + z.start()
        if "复议" in tail:
            out.append(Statement("P6", 0.0, s, at, True))
        if "诉讼" in tail:
            out.append(Statement("P7", 0.0, s, at, True))
        if "复议" not in tail and "诉讼" not in tail and re.search(r"(?:收到|接到|受理)[^,;]{0,20}申请", tail):
            out.append(Statement("P1", 0.0, s, at, True))
    return out


# The table side of each P rule: the cells summed.
P_CELLS: dict[str, tuple[str, ...]] = {
    "P1": ("requests.new.total",),
    "P2": ("requests.carried_over.total",),
    "P3": ("requests.new.total", "requests.carried_over.total"),
    "P4": ("requests.results_total.total",),
    "P5": ("requests.carried_forward.total",),
    "P6": ("appeals.review.total",),
    "P7": ("appeals.litigation_direct.total", "appeals.litigation_after_review.total"),
}


def _table_value(fields: Mapping[str, FieldValue], cells: Sequence[str]) -> Optional[float]:
    vals = [fields.get(k) for k in cells]
    if any(f is None or f.value is None for f in vals):
        return None
    return float(sum(f.value for f in vals))  # type: ignore[misc]


def _cells_confidence(fields: Mapping[str, FieldValue], cells: Sequence[str]) -> float:
    return min((fields[k].confidence for k in cells if k in fields and fields[k].value is not None), default=1.0)


def prose_checks(doc: Document, sentences: Optional[Sequence[Sentence]] = None) -> list[Check]:
    """P1-P7: one finding per rule whose figure the prose states (for this year) and the table holds."""
    if doc.linear is None:
        return []
    if sentences is None:
        sentences = prose_sentences(doc.linear.norm, [(r.start, r.end) for r in doc.regions.values()])
    found = statements(sentences, doc.year)
    by_rule: dict[str, list[Statement]] = {}
    for st in found:
        if st.rule == "P1|P3":
            rule = _resolve_received(doc.fields, st.value)
            by_rule.setdefault(rule, []).append(st)
        else:
            by_rule.setdefault(st.rule, []).append(st)
    checks = []
    for rule in sorted(by_rule):
        cells = P_CELLS[rule]
        table = _table_value(doc.fields, cells)
        if table is None:
            continue
        stated = by_rule[rule]
        # The most specific statements speak for the rule; any of them disagreeing is the finding.
        if any(s.specific for s in stated):
            stated = [s for s in stated if s.specific]
        wrong = [s for s in stated if abs(s.value - table) > 1e-9]
        st = wrong[0] if wrong else stated[0]
        checks.append(_prose_check(doc, rule, cells, table, st, passed=not wrong))
    return checks


def _resolve_received(fields: Mapping[str, FieldValue], value: float) -> str:
    """收到/受理 申请 N件 names new requests or all requests handled: the one the table matches
    (new first); neither matching, new (P1), the likelier reading."""
    new = _table_value(fields, P_CELLS["P1"])
    total = _table_value(fields, P_CELLS["P3"])
    if new is not None and abs(new - value) < 1e-9:
        return "P1"
    if total is not None and abs(total - value) < 1e-9:
        return "P3"
    return "P1"


def _prose_check(doc: Document, rule: str, cells: Sequence[str], table: float, st: Statement, passed: bool) -> Check:
    raw_sentence, position, page = _locate(doc, st.sentence, st.offset)
    conf = 0.95 if st.specific else 0.7
    detail = f"prose states {full_number(st.value)} ({RULES[rule].split(': ', 1)[1]}), table {full_number(table)}"
    if not passed:
        # A blank or mistyped total beside parts that agree with the prose: the table's own error (R1).
        parts = _column_sum(doc.fields, cells)
        if parts is not None and abs(parts - st.value) < 1e-9:
            detail += f"; the applicant columns sum to {full_number(parts)}, as the prose says (see R1)"
            conf = min(conf, 0.6)
    conf *= _cells_confidence(doc.fields, cells)
    return Check(rule=rule, passed=passed, detail=detail, cells=list(cells), difference=round(table - st.value, 6),
                 confidence=round(conf, 3), sentence=raw_sentence, position=position, page=page,
                 table_value=table, stated_value=st.value)


def _column_sum(fields: Mapping[str, FieldValue], cells: Sequence[str]) -> Optional[float]:
    if not all(k.startswith("requests.") and k.endswith(".total") for k in cells):
        return None
    keys = [k.rsplit(".", 1)[0] + "." + c for k in cells for c in B_PARTS]
    return _table_value(fields, keys)


SENTENCE_CHARS = 160  # a longer sentence is cut to this many characters around the number


def _locate(doc: Document, s: Sentence, at: Optional[int] = None) -> tuple[str, Optional[int], Optional[int]]:
    """The sentence as printed (raw text, cut around ``at`` when long), the character offset in the
    reading-order text of ``at`` (the stated number) or of the sentence, and its page."""
    lin = doc.linear
    if lin is None:
        return s.text, None, None
    start, end = s.start, s.end
    if at is not None and end - start > SENTENCE_CHARS:
        start = max(start, at - SENTENCE_CHARS // 2)
        end = min(end, start + SENTENCE_CHARS)
    a, b = lin.text.raw_span(start, end)
    text = " ".join(lin.raw[a:b].split())
    where = lin.text.raw_span(at, at + 1)[0] if at is not None else a
    page = lin.segment_at(where).page if lin.segments else None
    return text, where, page


# ---------------------------------------------------------------------------------------------
# A1-A3: Table A sanity
# ---------------------------------------------------------------------------------------------

# '/', '—' and 不适用 say "not applicable"; a hyphen '-' (or '无') is a printed zero (the spec's values).
NOT_APPLICABLE_MARKS = frozenset({"/", "／", "//", "—", "——", "—/—", "不适用", "无此项"})
_MONEY_KEYS = ("amount_yuan", "amount_wan")
_SIGNED_KEYS = ("change",)  # v2019 本年增/减 may be negative


def _is_placeholder(raw: Optional[str]) -> bool:
    return raw is not None and "".join(raw.split()) in NOT_APPLICABLE_MARKS


def table_a_checks(fields: Mapping[str, FieldValue]) -> list[Check]:
    keys = [k for k in fields if k.startswith("proactive.")]
    if not keys:
        return []
    checks = []
    counts = [k for k in keys if not k.endswith(_MONEY_KEYS) and fields[k].value is not None]
    bad = [k for k in counts if not _non_negative_integer(fields[k].value, signed=k.endswith(_SIGNED_KEYS))]
    checks.append(Check(
        rule="A1", passed=not bad, cells=bad or counts, difference=float(len(bad)),
        detail=("every count of Table A is a non-negative integer" if not bad else
                "counts that are not non-negative integers: " + ", ".join(f"{k} = {full_number(fields[k].value)}" for k in bad)),
        confidence=round(min((fields[k].confidence for k in bad), default=_cells_confidence(fields, counts)), 3)))
    na = [k for k in keys if _is_placeholder(fields[k].raw)]
    if na:
        # A record, not a failure: the value 0 stays (the contract's reading of a printed placeholder),
        # and the finding lists the cells a reader must take as "not applicable", not as a count of 0.
        marks = ", ".join(sorted({"".join(fields[k].raw.split()) for k in na}))  # type: ignore[union-attr]
        checks.append(Check(rule="A2", passed=True, cells=na, difference=0.0, confidence=0.95, not_applicable=na,
                            detail=f"{len(na)} cell(s) printed as not applicable ({marks}): value 0 there means "
                                   "not applicable, not a count of 0"))
    money = [k for k in keys if k.endswith(_MONEY_KEYS) and fields[k].value is not None and fields[k].raw
             and not _is_placeholder(fields[k].raw)]
    if money:
        over = [(k, why) for k in money for why in [_money_problem(k, fields[k])] if why]
        checks.append(Check(
            rule="A3", passed=not over, cells=[k for k, _ in over] or money, difference=float(len(over)),
            detail="; ".join(why for _, why in over) if over else "money printed within its unit's decimals",
            confidence=round(min(0.9, _cells_confidence(fields, money)), 3)))
    return checks


def _non_negative_integer(value: Optional[float], signed: bool) -> bool:
    if value is None:
        return True
    return float(value).is_integer() and (signed or value >= 0)


def _decimals(text: str) -> int:
    m = re.search(r"\d\.(\d+)", text)
    return len(m.group(1)) if m else 0


def _money_problem(key: str, f: FieldValue) -> Optional[str]:
    raw = "".join((f.raw or "").split()).replace(",", "").replace("，", "")
    number = re.search(r"\d+(?:\.\d+)?", raw)
    # A yuan amount under a 万元 header prints no unit: its value is the printed number × 10000.
    scaled = number is not None and f.value is not None and abs(float(number.group(0)) - float(f.value)) > 1e-6
    in_wan = key.endswith("amount_wan") or "万" in raw or scaled
    allowed = 6 if in_wan else 2  # a fen is 0.000001 万元
    printed = _decimals(raw)
    if printed > allowed:
        return f"{key}: '{f.raw}' prints {printed} decimals, more than a sum in {'万元' if in_wan else '元'} has ({allowed})"
    try:
        stored = Decimal(repr(float(f.value)))  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        return None
    exponent = stored.normalize().as_tuple().exponent
    stored_decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    limit = max(0, printed - 4) if in_wan and key.endswith("amount_yuan") else printed
    if stored_decimals > limit:
        return f"{key}: value {full_number(f.value)} carries more decimals than printed '{f.raw}'"
    return None


# ---------------------------------------------------------------------------------------------
# N1-N3: narrative
# ---------------------------------------------------------------------------------------------

_SECTION5 = re.compile(r"[五5]、(?:政府信息公开工作)?(?:存在的?|主要)?[^。]{0,10}?问题(?:和|及|与|以及)?[^。]{0,8}?"
                       r"(?:改进|整改)(?:情况|措施|方向|计划|举措)?")
_SECTION6 = re.compile(r"[六6]、其他需要报告的事项")
_NOTHING = re.compile(r"^(?:无|暂无|没有|无。|本年度?无|无问题|无改进情况)?$")


@dataclass(frozen=True)
class Sections:
    five: Optional[tuple[int, int]]   # body of section 五 (normalised offsets), heading excluded
    six: Optional[tuple[int, int]]    # body of section 六


def find_sections(norm: str, table_spans: Sequence[tuple[int, int]]) -> Sections:
    after_tables = max((e for _, e in table_spans), default=0)
    five = next((m for m in _SECTION5.finditer(norm) if m.start() >= after_tables), None) \
        or next(iter(_SECTION5.finditer(norm)), None)
    six = next((m for m in _SECTION6.finditer(norm) if five is None or m.start() >= five.end()), None)
    five_body = (five.end(), six.start() if six else len(norm)) if five else None
    six_body = (six.end(), len(norm)) if six else None
    return Sections(five_body, six_body)


def _strip_signature(text: str, agency: Optional[str]) -> str:
    """Section text without the signature and date that follow it in a flattened export."""
    cut = len(text)
    if agency:
        i = text.rfind(agency)
        if i >= 0 and re.fullmatch(r"(?:(?:19|20)\d\d年\d{1,2}月\d{1,2}日)?", text[i + len(agency):]):
            cut = i  # the name, then at most a date: the signature
    m = re.search(r"(?:19|20)\d\d年\d{1,2}月\d{1,2}日$", text[:cut])
    if m:
        cut = m.start()
    return text[:cut]


def section_five_check(doc: Document, sections: Sections) -> list[Check]:
    if doc.linear is None or sections.five is None:
        return []
    a, b = sections.five
    body = _strip_signature(doc.linear.norm[a:b], doc.agency)
    bare = re.sub(r"[\W_]", "", body)  # punctuation and markup (Markdown '#', '|') say nothing
    empty = bool(_NOTHING.match(bare))
    raw, position, page = _locate(doc, Sentence(doc.linear.norm[a:b], a, b))
    detail = ("section 五 (problems and improvements) is " + ("empty" if not bare else f"only '{bare}'")
              if empty else f"section 五 states problems and improvements ({len(bare)} characters)")
    return [Check(rule="N1", passed=not empty, detail=detail, cells=[], difference=0.0, confidence=0.9,
                  sentence=raw[:200], position=position, page=page)]


_FEE_NONE = re.compile(r"(?:未|没有|无|不|均未|并未)(?:发生|收取|产生|涉及|有)?[^。,;]{0,16}?(?:收费|费用|费)")
_FEE_AMOUNT = re.compile(r"(?:收取|收费|费)[^。;]{0,20}?(\d+(?:\.\d+)?)(万元|元)")
FEE_CONFIDENCE = {"行政事业性收费": 0.9, "generic": 0.6}


def fee_check(doc: Document, sections: Sections) -> list[Check]:
    """N2: what section 六 says about fees against Table A's fee amount (v2021 本年收费金额, 万元).

    A sentence about 信息处理费 (the fee for answering requests) is about another fee than Table A's
    行政事业性收费 and is not compared."""
    f = doc.fields.get("proactive.fees.amount_wan")
    if doc.linear is None or sections.six is None or f is None or f.value is None:
        return []
    a, b = sections.six
    body = _strip_signature(doc.linear.norm[a:b], doc.agency)
    for s in prose_sentences(body, []):
        if "信息处理费" in s.text or "处理费" in s.text:
            continue
        kind = "行政事业性收费" if "行政事业性收费" in s.text else "generic"
        amount = _FEE_AMOUNT.search(s.text)
        if amount:
            stated = float(amount.group(1)) / (1 if amount.group(2) == "万元" else 10000)
        elif _FEE_NONE.search(s.text):
            stated = 0.0
        else:
            continue
        table = float(f.value)
        passed = abs(table - stated) < 1e-6
        raw, position, page = _locate(doc, Sentence(s.text, a + s.start, a + s.end))
        return [Check(rule="N2", passed=passed, cells=["proactive.fees.amount_wan"], difference=round(table - stated, 6),
                      detail=f"section 六 states fees of {full_number(stated)} 万元, Table A {full_number(table)} 万元",
                      confidence=round(FEE_CONFIDENCE[kind] * f.confidence, 3), sentence=raw, position=position, page=page,
                      table_value=table, stated_value=stated)]
    return []


_PERIOD = re.compile(r"(?:统计|时限|期限|时间)[^。]{0,12}?((?:19|20)\d\d)年1月1日(?:起)?至((?:19|20)\d\d)年12月31日")
# "现向社会公布某局2022年度政府信息公开工作年度报告": the report names its own year.
_REPORT_NAMED = re.compile(r"公布[^。]{0,40}?((?:19|20)\d\d)年度?[^。]{0,16}?年度?报告")
_COMPARISON = re.compile(r"同比|同期|较|比上|相比|上年|去年|增长|下降|减少|增加|以来|至今|累计|截至|修订|印发|颁布|出台|"
                         r"结转|年度报告|年报")
_TITLE_SPAN = re.compile(r"《[^《》]{0,60}》")
_PLAN = re.compile(r"将|计划|拟|力争|继续|下一步|下步|今后|明年|做好")
# A year at the head of a clause that describes work: "2021年，我局…", "2021年全年共…".
_TOPIC_YEAR = re.compile(r"(?:^|[,;。)])((?:19|20)\d\d)年(?:度)?(?:,|全年|以来|我|本|全|共|,)")


def other_year_check(doc: Document, sentences: Sequence[Sentence], sections: Sections) -> list[Check]:
    """N3: the statistical period, or a sentence describing the year's work, names another year.

    Comparisons (同比, 较上年), plans (2023年将…), titles of documents and cumulative figures are not
    work described for another year; only prose before section 五 (the year's work) is read."""
    if doc.linear is None or doc.year is None:
        return []
    year = doc.year
    limit = sections.five[0] if sections.five else len(doc.linear.norm)
    evaluated = False
    for s in sentences:
        if s.start >= limit:
            break
        text = s.text
        named = _REPORT_NAMED.search(text)
        if named:
            evaluated = True
            if int(named.group(1)) != year:
                return [_n3(doc, s, int(named.group(1)), 0.8, "the report it publishes is named for")]
        period = _PERIOD.search(text)
        if period:
            evaluated = True
            if int(period.group(1)) != year or int(period.group(2)) != year:
                return [_n3(doc, s, int(period.group(1)), 0.9, "the statistical period is")]
            continue
        titles = [t.span() for t in _TITLE_SPAN.finditer(text)]
        for m in _TOPIC_YEAR.finditer(text):
            if any(a <= m.start(1) < b for a, b in titles):  # 《2022年政务公开工作要点》 names a document
                continue
            y = int(m.group(1))
            evaluated = True
            if y == year:
                continue
            if _COMPARISON.search(text) or (y > year and _PLAN.search(text)) or re.search(r"\d+月", text[m.end(1):m.end(1) + 4]):
                continue
            return [_n3(doc, s, y, 0.7, "work is described for")]
    if not evaluated:
        return []
    return [Check(rule="N3", passed=True, cells=[], difference=0.0, confidence=0.8,
                  detail=f"the prose describes the work of {year}, the report's year")]


def _n3(doc: Document, s: Sentence, y: int, conf: float, what: str) -> Check:
    raw, position, page = _locate(doc, s)
    return Check(rule="N3", passed=False, cells=[], difference=float(y - (doc.year or y)), confidence=conf,
                 detail=f"{what} {y}, the report is for {doc.year}", sentence=raw, position=position, page=page,
                 stated_value=float(y))


# ---------------------------------------------------------------------------------------------
# Everything for one document
# ---------------------------------------------------------------------------------------------

def audit_document(doc: Document) -> list[Check]:
    """The P, A and N findings of one extracted document (R1-R4 are ``reconcile.run_checks``)."""
    if doc.linear is None or doc.error is not None:
        return []
    spans = [(r.start, r.end) for r in doc.regions.values()]
    sentences = prose_sentences(doc.linear.norm, spans)
    sections = find_sections(doc.linear.norm, spans)
    checks: list[Check] = []
    if doc.found.get("requests") or doc.found.get("appeals"):
        checks += prose_checks(doc, sentences)
    if doc.found.get("proactive"):
        checks += table_a_checks(doc.fields)
    checks += section_five_check(doc, sections)
    checks += fee_check(doc, sections)
    checks += other_year_check(doc, sentences, sections)
    return checks


def rule_confidence(check: Check, fields: Mapping[str, FieldValue]) -> float:
    """How sure a sum rule's verdict is: as sure as the least sure cell it reads."""
    return round(_cells_confidence(fields, check.cells), 3)


@dataclass(frozen=True)
class FamilyCount:
    family: str
    rules: tuple[str, ...]
    checks: int
    failed: int
    documents_failing: int  # summed over the family's rules: a document failing two rules counts twice

    @property
    def failed_rate(self) -> float:
        return self.failed / self.checks if self.checks else 0.0


FAMILY_NAMES = {"R": "sums (rules 1-5)", "P": "prose vs table", "A": "Table A sanity", "N": "narrative",
                "H": "parent and children"}


def family_counts(rule_rows: Iterable[Mapping[str, object]]) -> list[FamilyCount]:
    """Rule rows (rule, checks, failed, documents) grouped by family, in catalogue order."""
    acc: dict[str, list] = {}
    for r in rule_rows:
        rule = str(r["rule"]).split(" ")[0]
        a = acc.setdefault(family(rule), [set(), 0, 0, 0])
        a[0].add(rule)
        a[1] += int(r.get("checks") or 0)  # type: ignore[call-overload]
        a[2] += int(r.get("failed") or 0)  # type: ignore[call-overload]
        a[3] += int(r.get("documents") or 0)  # type: ignore[call-overload]
    order = list(FAMILY_NAMES)
    return [FamilyCount(f, tuple(sorted(a[0])), a[1], a[2], a[3])
            for f, a in sorted(acc.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))]
