"""The statutory tables as printed: the official grids with their merged cells and label variants.

Each table is a grid of :class:`PrintedCell` exactly as the national format draws it (国办公开办函
〔2019〕60号 / 〔2021〕30号): Table A's 第二十条 groups with their 信息内容 header rows, Table B's three
header rows under the corner note, the vertical merged 三、本年度办理结果 cell and the （三）…（六）
group cells, Table C's three header rows. Per document, the layout picks how labels are printed
(variants real reports show: 规范性文件, 先行有效件数, 钩稽关系, a missing 公开, half-width
parentheses) and how a zero is printed ("0", "-", "—", "/", "无", blank). Every value cell carries
its field key, so the renderers' labels come from the layout, never from parsing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .content import B_COLUMNS, B_PARTS, C_GROUPS, C_PARTS, Content
from .synthetic_report import PrintedCell, PrintedTable
from .rng import Chooser

PLACEHOLDERS = ("0", "-", "—", "/", "无", "blank_parts", "blank")
PLACEHOLDER_WEIGHTS = (0.62, 0.1, 0.04, 0.04, 0.03, 0.1, 0.07)

B_HEADERS = {"natural": "自然人", "commercial": "商业企业", "research": "科研机构", "social": "社会公益组织",
             "legal": "法律服务机构", "other": "其他", "total": "总计"}
C_HEADERS = {"upheld": "结果维持", "corrected": "结果纠正", "other": "其他结果", "pending": "尚未审结", "total": "总计"}
C_GROUP_LABELS = {"review": "行政复议", "litigation_direct": "未经复议直接起诉", "litigation_after_review": "复议后起诉"}

# Table B row labels as officially printed (the prefix is printed with the label).
B_LABELS = {
    "new": "一、本年新收政府信息公开申请数量",
    "carried_over": "二、上年结转政府信息公开申请数量",
    "granted": "（一）予以公开",
    "partial": "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
    "denied.state_secret": "1.属于国家秘密",
    "denied.prohibited_by_law": "2.其他法律行政法规禁止公开",
    "denied.three_safeties": "3.危及“三安全一稳定”",
    "denied.third_party": "4.保护第三方合法权益",
    "denied.internal_affairs": "5.属于三类内部事务信息",
    "denied.process_info": "6.属于四类过程性信息",
    "denied.enforcement_file": "7.属于行政执法案卷",
    "denied.query_matter": "8.属于行政查询事项",
    "unavailable.not_held": "1.本机关不掌握相关政府信息",
    "unavailable.needs_creation": "2.没有现成信息需要另行制作",
    "unavailable.unclear": "3.补正后申请内容仍不明确",
    "not_processed.petition": "1.信访举报投诉类申请",
    "not_processed.duplicate": "2.重复申请",
    "not_processed.publication": "3.要求提供公开出版物",
    "not_processed.excessive": "4.无正当理由大量反复申请",
    "not_processed.confirmation": "5.要求行政机关确认或重新出具已获取信息",
    "other": "（六）其他处理",
    "other.overdue_correction": "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
    "other.overdue_fee": "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
    "other.other": "3.其他",
    "results_total": "（七）总计",
    "carried_forward": "四、结转下年度继续办理",
}
B_GROUP_LABELS = {"results": "三、本年度办理结果", "denied": "（三）不予公开", "unavailable": "（四）无法提供",
                  "not_processed": "（五）不予处理", "other": "（六）其他处理"}
# One agency family's own wording of Table B's labels (``layout.label_wording=agency``, forced only;
# default off): local paraphrases real reports print instead of the statutory wording. They keep the
# ordinals and the row order but share none of the schema's label words, so the schema's labels (and
# approximate matching of them) do not find the rows: only a model that has seen this family's wording
# can. Some rows have two wordings (a document picks one of each).
AGENCY_B_LABELS = {
    "new": ("一、本年度受理的信息公开申请", "一、本年度收到申请件数"),
    "carried_over": ("二、上一年度转入的申请",),
    "granted": ("（一）同意公开",),
    "partial": ("（二）区分处理后提供部分信息", "（二）同意提供部分信息"),
    "denied.state_secret": ("1.涉密信息",),
    "denied.prohibited_by_law": ("2.法律法规明令不得公开",),
    "denied.three_safeties": ("3.可能危及国家安全、社会稳定",),
    "denied.third_party": ("4.可能损害第三方权益",),
    "denied.internal_affairs": ("5.机关内部管理信息",),
    "denied.process_info": ("6.讨论研究中的过程信息",),
    "denied.enforcement_file": ("7.执法案卷材料",),
    "denied.query_matter": ("8.可通过查询渠道获取",),
    "unavailable.not_held": ("1.本机关未制作或获取",),
    "unavailable.needs_creation": ("2.需加工汇总才能形成",),
    "unavailable.unclear": ("3.申请描述经补正仍不清楚",),
    "not_processed.petition": ("1.按信访途径办理的诉求",),
    "not_processed.duplicate": ("2.同一内容多次申请",),
    "not_processed.publication": ("3.申请获取正式出版物",),
    "not_processed.excessive": ("4.无理由频繁申请",),
    "not_processed.confirmation": ("5.要求对已获信息再确认",),
    "other": ("（六）另作处理",),
    "other.overdue_correction": ("1.逾期未补正材料，终止办理",),
    "other.overdue_fee": ("2.逾期未缴费，终止办理",),
    "other.other": ("3.其余情形",),
    "results_total": ("（七）合计",),
    "carried_forward": ("四、转入下一年度办理",),
}
AGENCY_B_GROUPS = {"results": "三、办理情况", "denied": "（三）决定不公开", "unavailable": "（四）不能提供",
                   "not_processed": "（五）不作处理", "other": "（六）另作处理"}


CORNER = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"


@dataclass
class ProactiveGroup:
    item: str                 # the 第二十条 item: "一", "五", ...
    rows: tuple[str, ...]
    headers: tuple[str, ...]
    columns: tuple[str, ...]


PROACTIVE_GROUPS = {
    "v2019": (
        ProactiveGroup("一", ("rules", "normative"), ("本年新制作数量", "本年新公开数量", "对外公开总数量"),
                       ("new_made", "new_published", "total_published")),
        ProactiveGroup("五", ("licensing", "other_services"), ("上一年项目数量", "本年增/减", "处理决定数量"),
                       ("prev_items", "change", "decisions")),
        ProactiveGroup("六", ("punishment", "enforcement"), ("上一年项目数量", "本年增/减", "处理决定数量"),
                       ("prev_items", "change", "decisions")),
        ProactiveGroup("八", ("fees",), ("上一年项目数量", "本年增/减"), ("prev_items", "change")),
        ProactiveGroup("九", ("procurement",), ("采购项目数量", "采购总金额"), ("items", "amount_yuan")),
    ),
    "v2021": (
        ProactiveGroup("一", ("rules", "normative"), ("本年制发件数", "本年废止件数", "现行有效件数"),
                       ("issued", "repealed", "in_force")),
        ProactiveGroup("五", ("licensing",), ("本年处理决定数量",), ("decisions",)),
        ProactiveGroup("六", ("punishment", "enforcement"), ("本年处理决定数量",), ("decisions",)),
        ProactiveGroup("八", ("fees",), ("本年收费金额（单位：万元）",), ("amount_wan",)),
    ),
}
ITEM_NUMBERS = {"一": 1, "五": 5, "六": 6, "八": 8, "九": 9}
A_LABELS = {"rules": "规章", "normative": "行政规范性文件", "licensing": "行政许可", "other_services": "其他对外管理服务事项",
            "punishment": "行政处罚", "enforcement": "行政强制", "fees": "行政事业性收费", "procurement": "政府集中采购"}


@dataclass
class Style:
    """How one document prints its tables."""

    placeholder: str
    parens: str                                     # "full" | "half" | "mixed"
    labels: dict[str, str] = field(default_factory=dict)   # "requests.partial" -> printed label
    groups: dict[str, str] = field(default_factory=dict)   # Table B group -> printed group label
    headers: dict[str, str] = field(default_factory=dict)  # official header -> printed header
    corner: str = CORNER
    enum_dot: str = "."
    a_trailing_cell: bool = False                   # v2019 two-value rows print an empty 4th cell


def _half(text: str) -> str:
    return text.replace("（", "(").replace("）", ")").replace("：", ":").replace("，", ",")


class Printer:
    """Applies a document's style to labels and values."""

    def __init__(self, choose: Chooser, style: Style, content: Content):
        self.choose = choose
        self.style = style
        self.content = content
        self.blank_keys = self._blank_part_keys()

    def label(self, text: str) -> str:
        half = self.style.parens == "half" or (self.style.parens == "mixed" and self.choose.rng.random() < 0.5)
        if self.style.enum_dot != "." and len(text) > 2 and text[0].isdigit() and text[1] == ".":
            text = text[0] + self.style.enum_dot + text[2:]
        return _half(text) if half else text

    def _blank_part_keys(self) -> set[str]:
        """With placeholder "blank_parts", zero cells of Table B's organisation columns that are
        zero all the way down print blank, as Word tables of small bodies do (real2_004)."""
        if self.style.placeholder != "blank_parts" or "requests" not in self.content.rows:
            return set()
        v = self.content.values
        rows = self.content.rows["requests"]
        out = set()
        for c in B_PARTS[1:]:
            keys = [f"requests.{r}.{c}" for r in rows]
            if not any(v[k] for k in keys):
                out.update(keys)
        return out

    def value(self, key: str) -> str:
        fixed = self.content.fixed_text.get(key)
        if fixed is not None:
            return fixed
        v = self.content.values[key]
        if v == 0:
            ph = self.style.placeholder
            if ph == "blank" or key in self.blank_keys:
                return ""
            return "0" if ph == "blank_parts" else ph
        if isinstance(v, float) and not v.is_integer():
            return repr(v)
        return str(int(v))  # type: ignore[arg-type]


def choose_style(choose: Chooser, template: str) -> Style:
    style = Style(placeholder=choose.pick("placeholder", PLACEHOLDERS, PLACEHOLDER_WEIGHTS),
                  parens=choose.pick("parens", ("full", "half", "mixed"), (0.6, 0.3, 0.1)))
    official_normative = "规范性文件" if template == "v2019" else "行政规范性文件"
    other_normative = "行政规范性文件" if template == "v2019" else "规范性文件"
    style.labels["proactive.normative"] = other_normative if choose.flag("normative_variant", 0.25) else official_normative
    if choose.flag("other_services_short", 0.1):
        style.labels["proactive.other_services"] = "其他对外管理服务"
    if choose.flag("partial_short", 0.15):
        style.labels["requests.partial"] = "（二）部分公开"
    if choose.flag("overdue_fee_missing_word", 0.15):
        style.labels["requests.other.overdue_fee"] = B_LABELS["other.overdue_fee"].replace("政府信息公开申请", "政府信息申请")
    if choose.flag("header_typo", 0.08):
        style.headers.update({"现行有效件数": "先行有效件数", "本年新公开数量": "本年公开数量"})
    corner = choose.pick("corner", ("official", "gouji_typo", "he", "he_gouji"), (0.75, 0.1, 0.1, 0.05))
    if corner in ("gouji_typo", "he_gouji"):
        style.corner = style.corner.replace("勾稽", "钩稽")
    if corner in ("he", "he_gouji"):
        style.corner = style.corner.replace("加", "和")
    style.enum_dot = choose.pick("enum_dot", (".", "．", "、"), (0.85, 0.1, 0.05))
    style.a_trailing_cell = choose.flag("a_trailing_cell", 0.3)
    # Drawn only when forced, so that the other documents' draws (and files) stay as they were.
    if choose.forced("label_wording") and choose.pick("label_wording", ("official", "agency")) == "agency":
        for key, wordings in AGENCY_B_LABELS.items():
            style.labels[f"requests.{key}"] = wordings[choose.rng.randrange(len(wordings))]
        style.groups.update(AGENCY_B_GROUPS)
    return style


# ---------------------------------------------------------------------------------------------
# Grids
# ---------------------------------------------------------------------------------------------

class Grid:
    """Cells added row by row; n_rows follows the cells."""

    def __init__(self, name: str, n_cols: int):
        self.name = name
        self.n_cols = n_cols
        self.cells: list[PrintedCell] = []
        self.n_rows = 0

    def add(self, text: str, row: int, col: int, role: str, *, key: Optional[str] = None, ref: Optional[str] = None,
            rowspan: int = 1, colspan: int = 1) -> PrintedCell:
        cell = PrintedCell(text=text, row=row, col=col, rowspan=rowspan, colspan=colspan, key=key, role=role, ref=ref)
        self.cells.append(cell)
        self.n_rows = max(self.n_rows, row + rowspan)
        return cell

    def table(self) -> PrintedTable:
        return PrintedTable(name=self.name, cells=self.cells, n_rows=self.n_rows, n_cols=self.n_cols)


def proactive_table(p: Printer, template: str, header_wan: bool) -> PrintedTable:
    g = Grid("proactive", 4)
    printed = set(p.content.rows["proactive"])
    r = 0
    for group in PROACTIVE_GROUPS[template]:
        rows = [x for x in group.rows if x in printed]
        if not rows:
            continue
        g.add(p.label(f"第二十条第（{group.item}）项"), r, 0, "group_label", ref=f"proactive.item{ITEM_NUMBERS[group.item]}", colspan=4)
        r += 1
        spans = _value_spans(len(group.columns), p.style.a_trailing_cell)
        g.add("信息内容", r, 0, "header")
        for (col, span), header, column in zip(spans, group.headers, group.columns):
            text = p.style.headers.get(header, header)
            if column == "amount_yuan" and header_wan:
                text = p.label(p.choose.pick("amount_header", ("采购总金额（万元）", "采购总金额（单位：万元）")))
            elif "（" in text:
                text = p.label(text)
            g.add(text, r, col, "header", ref=f"proactive.{column}", colspan=span)
        _trailing(g, r, spans)
        r += 1
        for row in rows:
            label = p.style.labels.get(f"proactive.{row}", A_LABELS[row])
            g.add(label, r, 0, "row_label", ref=f"proactive.{row}")
            for (col, span), column in zip(spans, group.columns):
                key = f"proactive.{row}.{column}"
                g.add(p.value(key), r, col, "value", key=key, colspan=span)
            _trailing(g, r, spans)
            r += 1
    return g.table()


def _value_spans(n: int, trailing: bool) -> list[tuple[int, int]]:
    """(col, colspan) of n value cells in Table A's 3 value columns; a trailing empty cell when asked."""
    if n == 3:
        return [(1, 1), (2, 1), (3, 1)]
    if n == 2:
        return [(1, 1), (2, 1)] if trailing else [(1, 1), (2, 2)]
    return [(1, 3)]


def _trailing(g: Grid, row: int, spans: list[tuple[int, int]]) -> None:
    end = spans[-1][0] + spans[-1][1]
    if end < g.n_cols:
        g.add("", row, end, "value", colspan=g.n_cols - end)


def _b_group(key: str) -> Optional[str]:
    head = key.split(".")[0]
    return head if "." in key and head in ("denied", "unavailable", "not_processed", "other") else None


def requests_table(p: Printer, choose: Chooser, page_break_fraction: float) -> PrintedTable:
    g = Grid("requests", 10)
    g.add(p.label(p.style.corner), 0, 0, "corner", ref="requests", rowspan=3, colspan=3)
    g.add("申请人情况", 0, 3, "header", colspan=7)
    g.add("自然人", 1, 3, "header", ref="requests.natural", rowspan=2)
    g.add("法人或其他组织", 1, 4, "header", colspan=5)
    g.add("总计", 1, 9, "header", ref="requests.total", rowspan=2)
    for i, c in enumerate(B_PARTS[1:]):
        g.add(B_HEADERS[c], 2, 4 + i, "header", ref=f"requests.{c}")
    rows = p.content.rows["requests"]
    results = [k for k in rows if k not in ("new", "carried_over", "carried_forward")]
    r = 3
    for key in rows:
        label = p.label(p.style.labels.get(f"requests.{key}", B_LABELS[key]))
        group = _b_group(key)
        if key in ("new", "carried_over", "carried_forward"):
            g.add(label, r, 0, "row_label", ref=f"requests.{key}", colspan=3)
        else:
            if key == results[0]:
                g.add(p.label(p.style.groups.get("results", B_GROUP_LABELS["results"])), r, 0, "group_label",
                      ref="requests.results", rowspan=len(results))
            members = [k for k in rows if _b_group(k) == group] if group else []
            if group and len(members) == 1:
                # （六）其他处理 printed as one row in a v2021 table: the group line is the row's label.
                g.add(p.label(p.style.groups.get(group, B_GROUP_LABELS[group])), r, 1, "row_label", ref=f"requests.{key}", colspan=2)
            elif group:
                if key == members[0]:
                    g.add(p.label(p.style.groups.get(group, B_GROUP_LABELS[group])), r, 1, "group_label", ref=f"requests.{group}", rowspan=len(members))
                g.add(label, r, 2, "row_label", ref=f"requests.{key}")
            else:
                g.add(label, r, 1, "row_label", ref=f"requests.{key}", colspan=2)
        for i, c in enumerate(B_COLUMNS):
            k = f"requests.{key}.{c}"
            g.add(p.value(k), r, 3 + i, "value", key=k)
        r += 1
    table = g.table()
    if choose.flag("page_break", page_break_fraction):
        # A page ends somewhere after the first body rows (3 header rows, then 一、二、（一）).
        table.break_before_row = choose.rng.randint(6, table.n_rows - 1)
        table.repeat_header_rows = 3 if choose.flag("repeat_header", 0.4) else 0
        choose.note("page_break_row", table.break_before_row)
    return table


def appeals_table(p: Printer) -> PrintedTable:
    g = Grid("appeals", 15)
    g.add("行政复议", 0, 0, "group_label", ref="appeals.review", colspan=5)
    g.add("行政诉讼", 0, 5, "header", colspan=10)
    for i, c in enumerate(C_PARTS + ("total",)):
        g.add(C_HEADERS[c], 1, i, "header", ref=f"appeals.{c}", rowspan=2)
    g.add(C_GROUP_LABELS["litigation_direct"], 1, 5, "group_label", ref="appeals.litigation_direct", colspan=5)
    g.add(C_GROUP_LABELS["litigation_after_review"], 1, 10, "group_label", ref="appeals.litigation_after_review", colspan=5)
    for j in range(2):
        for i, c in enumerate(C_PARTS + ("total",)):
            g.add(C_HEADERS[c], 2, 5 + 5 * j + i, "header", ref=f"appeals.{c}")
    for gi, group in enumerate(C_GROUPS):
        for i, c in enumerate(C_PARTS + ("total",)):
            key = f"appeals.{group}.{c}"
            g.add(p.value(key), 3, 5 * gi + i, "value", key=key)
    return g.table()


def build_tables(choose: Chooser, content: Content, page_break_fraction: float) -> dict[str, PrintedTable]:
    """The printed grids of the tables the content has, in one document style."""
    style = choose_style(choose, content.template)
    printer = Printer(choose, style, content)
    out: dict[str, PrintedTable] = {}
    if content.found.get("proactive"):
        out["proactive"] = proactive_table(printer, content.template, content.amount_header_wan)
    if content.found.get("requests"):
        out["requests"] = requests_table(printer, choose, page_break_fraction)
    if content.found.get("appeals"):
        out["appeals"] = appeals_table(printer)
    return out


def printed_raw(tables: dict[str, PrintedTable]) -> dict[str, str]:
    """The printed text of every value cell, by field key (the gold's ``raw``)."""
    return {c.key: c.text for t in tables.values() for c in t.cells if c.key}
