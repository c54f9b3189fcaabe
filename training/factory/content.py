"""What a report says in its tables: template, which tables and rows are printed, and the values.

Values are drawn the way real reports fill them: mostly small counts, many zeros (most small
bodies print an all-zero Table B and Table C), a few large Table A rows (licensing, punishment in
the thousands for enforcement bodies), money in 元 or 万元, negative 本年增/减. Tables are made
consistent with rules 1-4 first; then a set fraction of documents is broken the way real ones
are (a blank 总计 column, a 总计 of 0, a stray value in the wrong column, a total off by one), and
the rules that fail are recorded exactly, as ``reconcile.run_checks`` reports them.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Optional

from nianbao.inference import reconcile
from nianbao.schema import load_schema, template_for_year

from .options import FactoryOptions
from .prose import Agency
from .rng import Chooser

B_PARTS = reconcile.B_PARTS
B_COLUMNS = reconcile.B_COLUMNS
C_GROUPS = reconcile.C_GROUPS
C_PARTS = reconcile.C_PARTS
SCALE = {"small": 1.0, "medium": 6.0, "large": 40.0}


@dataclass
class Content:
    template: str
    year: int
    found: dict[str, bool]
    values: dict[str, Optional[float]]
    # Row keys printed per table, in schema order (a found table may leave rows unprinted).
    rows: dict[str, list[str]]
    # Printed text fixed by the content, whatever the document's zero placeholder: money as
    # printed ("12850元", "1690.9913万元"), and cells a break prints blank ("") or as "0".
    fixed_text: dict[str, str] = field(default_factory=dict)
    broken_rules: list[str] = field(default_factory=list)
    appeals_heading: bool = False   # Table C absent but its heading printed
    amount_header_wan: bool = False  # Table A's 采购总金额 header carries the unit (万元)



# ---------------------------------------------------------------------------------------------
# Small distributions
# ---------------------------------------------------------------------------------------------

def count(rng: random.Random, mean: float, p_zero: float) -> int:
    """A count: zero with probability ``p_zero``, else heavy-tailed around ``mean`` (at least 1)."""
    if rng.random() < p_zero:
        return 0
    return max(1, int(rng.lognormvariate(math.log(max(mean, 1.0)), 0.9)))


def split_count(rng: random.Random, total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into len(weights) non-negative parts (a multinomial draw)."""
    parts = [0] * len(weights)
    cum = []
    s = 0.0
    for w in weights:
        s += w
        cum.append(s)
    for _ in range(total):
        x = rng.random() * s
        i = 0
        while cum[i] < x:
            i += 1
        parts[i] += 1
    return parts


# ---------------------------------------------------------------------------------------------
# Template and tables
# ---------------------------------------------------------------------------------------------

def choose_structure(choose: Chooser, options: FactoryOptions) -> tuple[int, str, dict[str, bool], bool]:
    """Year, template, which tables are printed, and whether an absent Table C keeps its heading."""
    year = choose.pick("year", tuple(range(options.years[0], options.years[1] + 1)))
    o = options
    rest = max(0.0, 1.0 - o.no_tables_fraction - o.no_appeals_fraction - o.appeals_heading_only_fraction - o.no_proactive_fraction)
    tables = choose.pick("tables", ("all", "no_appeals", "appeals_heading_only", "no_proactive", "none"),
                         (rest, o.no_appeals_fraction, o.appeals_heading_only_fraction, o.no_proactive_fraction, o.no_tables_fraction))
    found = {"proactive": tables in ("all", "no_appeals", "appeals_heading_only"),
             "requests": tables != "none",
             "appeals": tables in ("all", "no_proactive")}
    template = template_for_year(year)
    # A late v2019 print is told apart by Table A's headers: without Table A it would be undecidable.
    if template == "v2021" and found["proactive"] and choose.flag("late_v2019", o.late_v2019_fraction):
        template = "v2019"
    return year, template, found, tables == "appeals_heading_only"


# ---------------------------------------------------------------------------------------------
# Table A
# ---------------------------------------------------------------------------------------------

def _yuan_text(cents: int, fmt: str) -> str:
    yuan = Decimal(cents) / 100
    plain = f"{yuan:.2f}" if cents % 100 else f"{cents // 100}"
    if fmt == "yuan_unit":
        return plain + "元"
    if fmt == "thousands":
        return (f"{yuan:,.2f}" if cents % 100 else f"{cents // 100:,}") + "元"
    if fmt in ("wan_unit", "header_wan"):
        wan = (Decimal(cents) / 1_000_000).normalize()
        text = format(wan, "f")
        return text + ("万元" if fmt == "wan_unit" else "")
    return plain


def _cents_value(cents: int) -> float:
    return cents // 100 if cents % 100 == 0 else cents / 100


def proactive_v2019(choose: Chooser, size: str) -> tuple[dict[str, float], dict[str, str], bool]:
    rng = choose.rng
    k = SCALE[size]
    v: dict[str, float] = {}
    made = count(rng, 1 + k * 0.3, 0.9 if size != "large" else 0.6)
    v.update({"rules.new_made": made, "rules.new_published": made,
              "rules.total_published": made + (count(rng, 5 * k, 0.5) if made or rng.random() < 0.2 else 0)})
    made = count(rng, 2 + k, 0.5)
    published = made if rng.random() < 0.8 else max(0, made + rng.randint(-2, 3))
    v.update({"normative.new_made": made, "normative.new_published": published,
              "normative.total_published": published + count(rng, 10 * k, 0.3)})
    negative = choose.flag("negative_change", 0.2)
    for row, mean, p_zero in (("licensing", 20 * k, 0.35), ("other_services", 10 * k, 0.55),
                              ("punishment", 30 * k, 0.4), ("enforcement", 3 * k, 0.7)):
        prev = count(rng, mean / 4, p_zero)
        change = 0
        if prev and rng.random() < 0.35:
            change = rng.randint(1, max(1, prev // 3 + 2))
            if negative and rng.random() < 0.6:
                change = -min(change, prev)
        v.update({f"{row}.prev_items": prev, f"{row}.change": change,
                  f"{row}.decisions": count(rng, mean * 3, p_zero)})
    prev = count(rng, 3, 0.6)
    v.update({"fees.prev_items": prev, "fees.change": -rng.randint(0, prev) if negative and prev else 0})
    items = count(rng, 2 + k, 0.45)
    cents = 0
    if items:
        cents = int(items * rng.lognormvariate(math.log(250_000), 1.0)) * 100
        if rng.random() < 0.3:
            cents += rng.randint(1, 99)
    fmt = choose.pick("amount_format", ("yuan_unit", "plain", "wan_unit", "header_wan", "thousands"), (0.35, 0.25, 0.2, 0.15, 0.05))
    v.update({"procurement.items": items, "procurement.amount_yuan": _cents_value(cents)})
    text = {"procurement.amount_yuan": _yuan_text(cents, fmt)} if cents else {}
    return v, text, fmt == "header_wan"


def stock_and_flows(rng: random.Random, mean: float, p_zero: float) -> tuple[int, int, int]:
    """本年制发 / 本年废止 / 现行有效 as real reports print them: the stock in force is many years of
    issues (most often several times the year's flows: 88 / 55 / 698, 5 / 0 / 66), what is repealed
    comes out of that stock, and a body that issues nothing mostly has nothing in force either."""
    issued = count(rng, mean, p_zero)
    has_stock = rng.random() < (0.92 if issued else 0.35)
    if not has_stock:
        return issued, 0, issued
    stock = max(1, int(rng.lognormvariate(math.log(10 * mean + 2), 0.8)))
    repealed = min(stock, count(rng, 0.08 * stock + 1, 0.6))
    return issued, repealed, issued + stock - repealed


def proactive_v2021(choose: Chooser, size: str) -> tuple[dict[str, float], dict[str, str], bool]:
    rng = choose.rng
    k = SCALE[size]
    v: dict[str, float] = {}
    for row, mean, p_zero in (("rules", 1 + 0.2 * k, 0.85 if size != "large" else 0.5), ("normative", 2 + k, 0.45)):
        issued, repealed, in_force = stock_and_flows(rng, mean, p_zero)
        v.update({f"{row}.issued": issued, f"{row}.repealed": repealed, f"{row}.in_force": in_force})
    for row, mean, p_zero in (("licensing", 60 * k, 0.35), ("punishment", 40 * k, 0.4), ("enforcement", 3 * k, 0.7)):
        v[f"{row}.decisions"] = count(rng, mean, p_zero)
    text: dict[str, str] = {}
    fee = 0.0
    if rng.random() < 0.3:
        decimals = choose.pick("fee_decimals", (0, 1, 2, 4, 6), (0.2, 0.15, 0.4, 0.15, 0.1))
        raw = f"{rng.lognormvariate(math.log(20 * k), 1.2):.{decimals}f}"
        fee = float(raw) if decimals else int(raw)
        if fee:
            text["fees.amount_wan"] = raw
    elif choose.flag("fee_zero_decimals", 0.15):
        text["fees.amount_wan"] = "0.00"
    v["fees.amount_wan"] = fee
    return v, text, False


# ---------------------------------------------------------------------------------------------
# Table B
# ---------------------------------------------------------------------------------------------

# How the year's requests end up, by result row (weights; v2021 splits （六）其他处理 in three).
RESULT_WEIGHTS = {
    "granted": 45, "partial": 5, "denied.state_secret": 0.3, "denied.prohibited_by_law": 0.5,
    "denied.three_safeties": 0.3, "denied.third_party": 1.0, "denied.internal_affairs": 1.0,
    "denied.process_info": 1.5, "denied.enforcement_file": 0.5, "denied.query_matter": 0.8,
    "unavailable.not_held": 24, "unavailable.needs_creation": 4, "unavailable.unclear": 3,
    "not_processed.petition": 4, "not_processed.duplicate": 3, "not_processed.publication": 0.5,
    "not_processed.excessive": 0.8, "not_processed.confirmation": 0.8,
    "other": 6, "other.overdue_correction": 4, "other.overdue_fee": 0.3, "other.other": 2,
}
_COLUMN_SHARE = {"natural": 1.0, "commercial": 0.25, "research": 0.03, "social": 0.05, "legal": 0.08, "other": 0.05}
_COLUMN_P = {"natural": 0.95, "commercial": 0.45, "research": 0.06, "social": 0.1, "legal": 0.15, "other": 0.1}


def requests_table(rng: random.Random, size: str, template: str, zero: bool) -> dict[str, dict[str, int]]:
    """Table B as rows x columns, consistent with rules 1-3."""
    rows = [r.key for r in load_schema().table(template, "requests").rows]
    results = reconcile.result_rows(template)
    table = {r: {c: 0 for c in B_COLUMNS} for r in rows}
    if zero:
        return table
    base = {"small": 3, "medium": 25, "large": 300}[size]
    for c in B_PARTS:
        if rng.random() > _COLUMN_P[c]:
            continue
        new = count(rng, base * _COLUMN_SHARE[c] + 1, 0.0)
        carried = count(rng, new * 0.1 + 1, 0.7)
        forward = min(new + carried, count(rng, (new + carried) * 0.1 + 1, 0.7))
        done = new + carried - forward
        table["new"][c], table["carried_over"][c], table["carried_forward"][c] = new, carried, forward
        table["results_total"][c] = done
        for r, n in zip(results, split_count(rng, done, [RESULT_WEIGHTS[r] for r in results])):
            table[r][c] = n
    for r in rows:
        table[r]["total"] = sum(table[r][c] for c in B_PARTS)
    return table


def appeals_table(rng: random.Random, size: str) -> dict[str, dict[str, int]]:
    """Table C, each group consistent with rule 4; mostly zeros."""
    p = {"small": (0.06, 0.04, 0.02), "medium": (0.25, 0.15, 0.08), "large": (0.6, 0.4, 0.25)}[size]
    out = {}
    for g, pg in zip(C_GROUPS, p):
        parts = {c: 0 for c in C_PARTS}
        if rng.random() < pg:
            total = count(rng, 2 + SCALE[size] / 4, 0.0)
            for c, n in zip(C_PARTS, split_count(rng, total, [5, 1, 2, 2])):
                parts[c] = n
        parts["total"] = sum(parts.values())
        out[g] = parts
    return out


# ---------------------------------------------------------------------------------------------
# Breaking the rules on purpose
# ---------------------------------------------------------------------------------------------

Values = dict[str, Optional[float]]
Break = Callable[[random.Random, Values, "Content"], bool]


def _nonzero_b(values: Values) -> list[str]:
    return [k for k, v in values.items() if k.startswith("requests.") and v]


def _blank_total_column(rng: random.Random, values: Values, content: Content) -> bool:
    """The 总计 column printed empty: every row's total reads 0."""
    keys = [f"requests.{r}.total" for r in content.rows["requests"]]
    if not any(values[k] for k in keys):
        return False
    for k in keys:
        values[k] = 0
        content.fixed_text[k] = ""
    return True


def _zero_results_total(rng: random.Random, values: Values, content: Content) -> bool:
    """（七）总计 printed as 0 across the row."""
    keys = [f"requests.results_total.{c}" for c in B_COLUMNS]
    if not any(values[k] for k in keys):
        return False
    for k in keys:
        values[k] = 0
        content.fixed_text[k] = "0"
    return True


def _stray_value(rng: random.Random, values: Values, content: Content) -> bool:
    """A number printed one column off, in a row of Table B."""
    cands = [k for k in _nonzero_b(values) if not k.endswith(".total") and not k.startswith("requests.results_total")]
    if not cands:
        return False
    key = rng.choice(cands)
    row, col = key.rsplit(".", 1)
    i = B_PARTS.index(col)
    j = i + 1 if i + 1 < len(B_PARTS) and (i == 0 or rng.random() < 0.5) else i - 1
    target = f"{row}.{B_PARTS[j]}"
    values[target] = (values[target] or 0) + values[key]
    values[key] = 0
    return True


def _row_total_off(rng: random.Random, values: Values, content: Content) -> bool:
    """One row's 总计 off by one (a typing slip)."""
    cands = [f"requests.{r}.total" for r in content.rows["requests"] if values[f"requests.{r}.total"]]
    if not cands:
        return False
    key = rng.choice(cands)
    values[key] = values[key] + rng.choice((-1, 1))
    return True


def _unbalanced_new(rng: random.Random, values: Values, content: Content) -> bool:
    """A request counted as received but in no result (or result row)."""
    col = rng.choice(("natural", "natural", "commercial"))
    values[f"requests.new.{col}"] = (values[f"requests.new.{col}"] or 0) + 1
    values["requests.new.total"] = (values["requests.new.total"] or 0) + 1
    return True


def _results_mismatch(rng: random.Random, values: Values, content: Content) -> bool:
    """（七）总计 that does not add up to its result rows (real_010's natural column)."""
    col = rng.choice(("natural", "natural", "commercial", "social"))
    for c in (col, "total"):
        key = f"requests.results_total.{c}"
        values[key] = (values[key] or 0) + 2
    return True


def _appeals_total_off(rng: random.Random, values: Values, content: Content) -> bool:
    """A Table C group whose 总计 is off, or printed 0 over non-zero parts."""
    g = rng.choice(C_GROUPS)
    key = f"appeals.{g}.total"
    if values[key] and rng.random() < 0.4:
        values[key] = 0
        content.fixed_text[key] = "0"
    else:
        values[key] = values[key] + 1
    return True


BREAKS: dict[str, tuple[str, Break]] = {
    # name: (table it needs, function)
    "blank_total_column": ("requests", _blank_total_column),
    "zero_results_total": ("requests", _zero_results_total),
    "stray_value": ("requests", _stray_value),
    "row_total_off": ("requests", _row_total_off),
    "unbalanced_new": ("requests", _unbalanced_new),
    "results_mismatch": ("requests", _results_mismatch),
    "appeals_total_off": ("appeals", _appeals_total_off),
}
BREAK_WEIGHTS = {"blank_total_column": 0.12, "zero_results_total": 0.1, "stray_value": 0.2, "row_total_off": 0.2,
                 "unbalanced_new": 0.15, "results_mismatch": 0.1, "appeals_total_off": 0.13}


def failing_rules(values: Values, template: str, found: dict[str, bool]) -> list[str]:
    """The checks that fail, named "R1:requests.<row>", "R2:<column>", "R3:<column>", "R4:<group>"."""
    out = []
    for c in reconcile.run_checks(values, template, found):
        if c.passed:
            continue
        last = c.cells[-1]
        if c.rule == "R1":
            out.append("R1:" + last.rsplit(".", 1)[0])
        elif c.rule == "R2":
            out.append("R2:" + last.rsplit(".", 1)[1])
        elif c.rule == "R3":
            out.append("R3:" + c.cells[0].rsplit(".", 1)[1])
        else:
            out.append("R4:" + last.split(".")[1])
    return out


def apply_break(choose: Chooser, content: Content, fraction: float) -> None:
    """Break rules 1-4 the way real reports do (for a ``fraction`` of documents, or as forced by the
    "break" trait), and record exactly the checks that fail."""
    usable = [b for b, (table, _) in BREAKS.items() if content.found.get(table)]
    forced = choose.force.get(choose.prefix + "break") if choose.forced("break") else None
    wanted = forced != "none" if forced is not None else choose.rng.random() < fraction
    kind = "none"
    if wanted and usable:
        # Kinds in a weighted random order; the first that actually breaks a rule is kept (moving a
        # value in an all-zero table breaks nothing).
        order = sorted(usable, key=lambda b: choose.rng.random() ** (1.0 / BREAK_WEIGHTS[b]), reverse=True)
        if forced in usable:
            order.insert(0, str(forced))
        for b in order:
            trial = dict(content.values)
            saved = dict(content.fixed_text)
            if BREAKS[b][1](choose.rng, trial, content) and failing_rules(trial, content.template, content.found):
                content.values = trial
                kind = b
                break
            content.fixed_text = saved
    choose.note("break", kind)
    content.broken_rules = failing_rules(content.values, content.template, content.found)


# ---------------------------------------------------------------------------------------------
# The whole content
# ---------------------------------------------------------------------------------------------

def printed_rows(choose: Chooser, template: str, table: str, options: FactoryOptions) -> list[str]:
    """Row keys a table prints: all of the template's, or a v2021 table without 规章 / with one （六） row."""
    keys = [r.key for r in load_schema().table(template, table).rows]
    if template != "v2021":
        return keys
    if table == "proactive" and choose.flag("no_rules_row", options.no_rules_row_fraction):
        return [k for k in keys if k != "rules"]
    if table == "requests" and choose.flag("single_other_row", options.single_other_row_fraction):
        return [k for k in keys if k not in ("other.overdue_correction", "other.overdue_fee")]
    return keys


def omit_zero_rows(choose: Chooser, rows: list[str], table: dict) -> list[str]:
    """``content.zero_rows=omitted`` (forced only; default off): Table B printed without some of its
    all-zero sub-rows (of 不予公开, 无法提供, 不予处理, 其他处理), as some agencies print only the reasons they
    used; each group keeps at least two of its rows (its group line stays a group). An unprinted row is
    null in the gold, like any row a table does not print. With the rows' own wording unknown, their
    printed order alone no longer says which rows they are."""
    if not choose.forced("zero_rows") or choose.pick("zero_rows", ("printed", "omitted")) != "omitted":
        return rows
    out = list(rows)
    for group in ("denied", "unavailable", "not_processed", "other"):
        members = [k for k in out if k.startswith(group + ".")]
        zero = [k for k in members if not any(table[k][c] for c in B_COLUMNS)]
        choose.rng.shuffle(zero)
        drop = [k for k in zero if choose.rng.random() < 0.6][: max(0, len(members) - 2)]
        out = [k for k in out if k not in drop]
    return out


def make_content(choose: Chooser, options: FactoryOptions, agency: Agency) -> Content:
    year, template, found, heading_only = choose_structure(choose, options)
    schema = load_schema()
    values: Values = {}
    fixed: dict[str, str] = {}
    rows: dict[str, list[str]] = {}
    header_wan = False
    if found["proactive"]:
        rows["proactive"] = printed_rows(choose, template, "proactive", options)
        maker = proactive_v2019 if template == "v2019" else proactive_v2021
        table_values, money, header_wan = maker(choose, agency.size)
        for key in schema.table(template, "proactive").field_keys():
            row = key.split(".")[1]
            values[key] = table_values[key.split(".", 1)[1]] if row in rows["proactive"] else None
        fixed.update({f"proactive.{k}": t for k, t in money.items() if values.get(f"proactive.{k}") is not None})
    if found["requests"]:
        rows["requests"] = printed_rows(choose, template, "requests", options)
        zero = choose.flag("requests_zero", options.zero_requests_fraction)
        table = requests_table(choose.rng, agency.size, template, zero)
        if template == "v2021" and "other.overdue_correction" not in rows["requests"]:
            # One （六）其他处理 row: it carries the sum of the three sub-rows (rules still hold).
            for c in B_COLUMNS:
                table["other.other"][c] += table["other.overdue_correction"][c] + table["other.overdue_fee"][c]
        rows["requests"] = omit_zero_rows(choose, rows["requests"], table)
        for r in schema.table(template, "requests").rows:
            for c in B_COLUMNS:
                values[f"requests.{r.key}.{c}"] = table[r.key][c] if r.key in rows["requests"] else None
    if found["appeals"]:
        rows["appeals"] = list(C_GROUPS)
        table_c = appeals_table(choose.rng, agency.size)
        for g in C_GROUPS:
            for c in C_PARTS + ("total",):
                values[f"appeals.{g}.{c}"] = table_c[g][c]
    content = Content(template=template, year=year, found=found, values=values, rows=rows, fixed_text=fixed,
                      appeals_heading=heading_only, amount_header_wan=header_wan)
    apply_break(choose, content, options.broken_fraction)
    plant_table_a_error(choose, content)
    return content


# ---------------------------------------------------------------------------------------------
# Audit plants in Table A (opt-in): a negative count (A1), money with a decimal too many (A3)
# ---------------------------------------------------------------------------------------------

# 0 by default: the training and test sets carry no Table A errors unless asked for
# (``benchmarks/bench_audit.py`` sets it; a test forces the trait ``content.audit.table_a``).
TABLE_A_ERROR_RATE = 0.0


def plant_table_a_error(choose: Chooser, content: Content) -> None:
    """Print one Table A error the way careless reports do, recorded as ``content.audit.table_a``
    ("none" | "A1" | "A3") with the key in ``content.audit.table_a_key``. Its own stream: other
    content choices stay as they were."""
    plants = Chooser(random.Random(f"audit|table_a|{content.year}|{sorted(content.values.items())!r}"),
                     choose.traits, choose.force, choose.prefix + "audit.")
    kind = plants.pick("table_a", ("none", "A1", "A3"),
                       (1.0 - TABLE_A_ERROR_RATE, TABLE_A_ERROR_RATE / 2, TABLE_A_ERROR_RATE / 2))
    key = None
    if kind != "none" and "proactive" in content.rows:
        if kind == "A1":
            counts = [k for k, v in content.values.items() if k.startswith("proactive.") and k.endswith(".decisions")
                      and v is not None and k.split(".")[1] in content.rows["proactive"]]
            if counts:
                key = plants.rng.choice(sorted(counts))
                n = plants.rng.randint(1, 30)
                content.values[key] = -n
                content.fixed_text[key] = f"-{n}"
        else:
            money = "proactive.fees.amount_wan" if content.template == "v2021" else "proactive.procurement.amount_yuan"
            if content.values.get(money) is not None:
                unit = "万元" if money.endswith("_wan") else "元"
                places = 7 if unit == "万元" else 3
                digits = plants.rng.randint(10 ** places, 10 ** (places + 3)) // 10 * 10 + plants.rng.randint(1, 9)
                amount = Decimal(digits).scaleb(-places)  # its last decimal is not 0: one decimal too many
                key = money
                content.values[key] = float(amount)
                content.fixed_text[key] = f"{amount}" + ("" if unit == "万元" else "元")
    plants.note("table_a", kind if key else "none")
    plants.note("table_a_key", key)
