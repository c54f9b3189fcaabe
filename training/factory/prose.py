"""The words around the tables: agency names, titles, sections of prose, signature and date.

Real reports surround the tables with prose that prints numbers of its own (主动公开政府信息78条,
办理依申请公开0件, 孝政办〔2020〕35号), sometimes restating a table value and sometimes
disagreeing with it; the title comes in several forms or not at all; the signature's date is the
publication date (the year after the report year). All of that is drawn here, so an extractor
trained or tested on the factory meets the same traps. Numbers in prose are glued to their
counter word (条, 件, 次), as Chinese prose prints them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from .synthetic_report import Paragraph
from .rng import Chooser

_FIRST = "兴长崇东西南北青临平安永新金龙凤白红清明华宁阳江山湖河泉桥林石云海丰和康德泰福瑞嘉顺昌文武定乐宝松"
_SECOND = "华庆文湖山江阳宁平安兴城源河州桥溪峰林泉口坪关台营岭洲塘"

DEPARTMENTS = (
    "发展和改革局", "教育局", "科学技术局", "工业和信息化局", "公安局", "民政局", "司法局", "财政局",
    "人力资源和社会保障局", "自然资源局", "生态环境局", "住房和城乡建设局", "交通运输局", "水利局",
    "农业农村局", "商务局", "文化和旅游局", "卫生健康委员会", "退役军人事务局", "应急管理局", "审计局",
    "市场监督管理局", "统计局", "医疗保障局", "城市管理局", "林业局", "体育局", "行政审批局",
    "民族宗教事务委员会", "自然资源和规划局",
)
# Departments whose Table A rows are large (licensing, punishment in the thousands).
_ENFORCERS = {"公安局", "市场监督管理局", "交通运输局", "城市管理局", "生态环境局", "行政审批局", "自然资源局"}


@dataclass(frozen=True)
class Agency:
    full: str            # the fullest form the document prints (the gold ``agency``)
    short: str           # the form a title may use (a prefix of ``full``, or ``full`` itself)
    kind: str            # "street" | "town" | "county" | "city" | "department" | "zone"
    size: str            # "small" | "medium" | "large": scales the table values
    self_ref: str        # how the body names itself in prose: 我街道, 我局, 我县
    department: Optional[str] = None


def _place(rng: random.Random) -> str:
    return rng.choice(_FIRST) + rng.choice(_SECOND)


def make_agency(choose: Chooser) -> Agency:
    """A made-up but real-looking reporting body."""
    rng = choose.rng
    kind = choose.pick("agency_kind", ("street", "town", "county", "city", "department", "zone"),
                       (0.22, 0.14, 0.1, 0.06, 0.42, 0.06))
    place = _place(rng)
    if kind == "street":
        prefix = f"{_place(rng)}区" if rng.random() < 0.25 else ""
        return Agency(f"{prefix}{place}街道办事处", f"{prefix}{place}街道", kind, "small",
                      rng.choice(("我街道", "我办", "本街道")))
    if kind == "town":
        unit = rng.choice(("镇", "乡"))
        return Agency(f"{place}{unit}人民政府", f"{place}{unit}", kind, "small", f"我{unit}")
    if kind == "county":
        unit = rng.choice(("县", "区"))
        return Agency(f"{place}{unit}人民政府", f"{place}{unit}", kind, rng.choice(("medium", "large")), f"我{unit}")
    if kind == "city":
        return Agency(f"{place}市人民政府", f"{place}市", kind, "large", "我市")
    if kind == "zone":
        name = f"{place}{rng.choice(('经济技术开发区', '高新技术产业开发区', '工业园区'))}"
        return Agency(f"{name}管理委员会", name, kind, "medium", "我委")
    dept = rng.choice(DEPARTMENTS)
    level = rng.choice(("县", "区", "市"))
    full = f"{place}{level}{dept}"
    size = "large" if dept in _ENFORCERS and rng.random() < 0.5 else rng.choice(("small", "medium", "medium"))
    self_ref = "我委" if dept.endswith("委员会") else "我局"
    return Agency(full, full, kind, size, self_ref, department=dept)


def publication_date(rng: random.Random, year: int) -> str:
    """The date a report is signed: early in the year after the report year."""
    month = rng.choices((1, 2, 3), (0.7, 0.2, 0.1))[0]
    return f"{year + 1}年{month}月{rng.randint(1, 28)}日"


# ---------------------------------------------------------------------------------------------
# Title and signature
# ---------------------------------------------------------------------------------------------

def title_paragraphs(choose: Chooser, agency: Agency, year: int) -> list[Paragraph]:
    """The title in one of the forms real reports use; the agency in its full or short form."""
    form = choose.pick("title", ("agency_year", "year_first", "split_lines", "none"), (0.5, 0.15, 0.2, 0.15))
    if form == "none":
        return []
    name = agency.short if agency.short != agency.full and choose.flag("title_short_agency", 0.5) else agency.full
    tail = choose.rng.choice(("政府信息公开工作年度报告", "政府信息公开工作年度报告", "年度政府信息公开工作报告",
                              "政府信息公开年度报告", "年度政府信息公开工作年度报告"))
    year_text = f"{year}" if tail.startswith("年度") else f"{year}年"
    if form == "year_first":
        return [Paragraph(f"{year_text}{name}{tail}", kind="title")]
    if form == "split_lines":
        second = choose.rng.choice(("年 度 报 告", "年度报告", "工作年度报告"))
        head = f"{name}{year}年政府信息公开" + ("工作" if second != "工作年度报告" else "")
        return [Paragraph(head, kind="title"), Paragraph(second, kind="title")]
    return [Paragraph(f"{name}{year_text}{tail}", kind="title")]


def signature_paragraphs(choose: Chooser, agency: Agency, date: str) -> list[Paragraph]:
    form = choose.pick("signature", ("lines", "one_line", "date_only", "none"), (0.6, 0.1, 0.15, 0.15))
    if form == "lines":
        return [Paragraph(agency.full, kind="signature"), Paragraph(date, kind="date")]
    if form == "one_line":
        return [Paragraph(f"{agency.full}　　{date}", kind="signature")]
    if form == "date_only":
        return [Paragraph(date, kind="date")]
    return []


# ---------------------------------------------------------------------------------------------
# Prose
# ---------------------------------------------------------------------------------------------

@dataclass
class ProseFacts:
    """Table facts the prose may restate (or misstate): totals of Table B, a Table A count."""

    requests_new: Optional[int]
    requests_carried: Optional[int]
    granted: Optional[int]
    normative: Optional[int]     # this year's normative documents (new_made / issued)
    appeals_total: Optional[int]
    # For the audit plants (P4-P7, N2): more totals the prose may state; None when not printed.
    results_total: Optional[int] = None
    carried_forward: Optional[int] = None
    review_total: Optional[int] = None
    litigation_total: Optional[int] = None
    fees_wan: Optional[float] = None   # v2021 Table A 本年收费金额 (万元)


def _n(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(lo, hi)


def _stated(choose: Chooser, true: Optional[int], mode: str) -> Optional[int]:
    """The number the prose states for a table fact: the same, a different one, or none."""
    if true is None or mode == "none":
        return None
    if mode == "agree":
        return true
    return max(0, true + choose.rng.choice((-3, -2, -1, 1, 2, 5, 10)))


def intro_paragraphs(choose: Chooser, agency: Agency, year: int) -> list[Paragraph]:
    rng = choose.rng
    text = (f"根据《中华人民共和国政府信息公开条例》（以下简称《条例》）"
            f"{rng.choice(('规定', '要求', '和上级有关文件要求'))}，现向社会公布{agency.full}{year}年度政府信息公开工作年度报告。")
    if choose.flag("stat_period", 0.6):
        text += f"本报告所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。"
    if rng.random() < 0.5:
        text += (f"本报告电子版可在{agency.short}门户网站下载。如对本报告有任何疑问，请与{agency.full}办公室联系"
                 f"（地址：{_place(rng)}路{_n(rng, 1, 300)}号，邮编：{_n(rng, 100000, 850000)}，"
                 f"电话：0{_n(rng, 100, 999)}-{_n(rng, 2000000, 8999999)}）。")
    return [Paragraph(text)]


def overview_paragraphs(choose: Chooser, agency: Agency, year: int, facts: ProseFacts, mode: str) -> list[Paragraph]:
    """Section 一: prose with numbers of its own, some restating (or misstating) the tables."""
    rng = choose.rng
    me = agency.self_ref
    out = [Paragraph("一、总体情况", kind="heading")]
    published = _n(rng, 20, 3000)
    web = _n(rng, 0, published)
    # A report copied from last year's that kept last year's opening (N3).
    opening_year = year - 1 if audit_chooser(choose, agency, year, "opening").flag("N3", N3_RATE) else year
    first = (f"{opening_year}年，{agency.short}认真贯彻落实《条例》和上级关于政务公开工作的部署要求，坚持以公开为常态、"
             f"不公开为例外，全年主动公开政府信息{published}条，其中通过政府网站公开{web}条，"
             f"通过政务微博、微信公众号公开{published - web}条。")
    normative = _stated(choose, facts.normative, mode)
    if normative is not None:
        first += f"本年制发规范性文件{normative}件，均按规定及时公开。"
    out.append(Paragraph("（一）主动公开情况。" + first))
    new = _stated(choose, facts.requests_new, mode)
    if new:
        text = f"全年共收到政府信息公开申请{new}件"
        granted = _stated(choose, facts.granted, mode)
        if granted is not None:
            text += f"，其中予以公开{granted}件"
        text += "，均在法定期限内答复。"
    elif new == 0:
        text = f"{year}年{me}未收到公民、法人或其他组织提出的政府信息公开申请。"
    else:
        text = "严格按照《条例》规定的时限和程序办理依申请公开事项，规范答复文书格式。"
    text += audit_request_sentences(audit_chooser(choose, agency, year), year, facts, new)
    out.append(Paragraph("（二）依申请公开情况。" + text))
    out.append(Paragraph("（三）政府信息管理。" + rng.choice((
        f"建立健全政府信息公开审查机制，坚持“先审后发”，全年开展保密审查{_n(rng, 5, 300)}次，未发生泄密事件。",
        f"严格落实政府信息公开属性源头认定制度，对{_n(rng, 10, 500)}件公文逐件确定公开属性。",
        "进一步规范政府信息公开目录，动态更新政府信息公开指南，确保信息发布及时、准确。",
    ))))
    out.append(Paragraph("（四）政府信息公开平台建设。" + rng.choice((
        f"持续优化门户网站政府信息公开专栏，新增、调整栏目{_n(rng, 1, 20)}个，政务新媒体发布信息{_n(rng, 10, 2000)}条。",
        f"依托政务服务大厅设置政府信息查阅点{_n(rng, 1, 9)}个，方便群众就近查阅。",
        "加强政务新媒体管理，做好内容审核和日常维护，杜绝“僵尸网站”和“睡眠栏目”现象。",
    ))))
    out.append(Paragraph("（五）监督保障。" + rng.choice((
        f"将政府信息公开工作纳入年度绩效考核，组织业务培训{_n(rng, 1, 12)}次，参训{_n(rng, 10, 400)}人次。",
        "明确分管领导和专人负责，定期自查整改，主动接受社会监督，本年度未发生责任追究情况。",
    ))))
    if choose.flag("bookmark_noise", 0.05):
        out[-1] = Paragraph("[bookmark: _GoBack]" + out[-1].text)
    return out


def no_table_sections(choose: Chooser, agency: Agency, year: int) -> list[Paragraph]:
    """Sections 二-四 of a report that prints no statutory table (older, 2008-style headings)."""
    rng = choose.rng
    total = _n(rng, 10, 400)
    k = _n(rng, 0, 5)
    m = _n(rng, 0, total - k)
    return [
        Paragraph("二、主动公开政府信息情况", kind="heading"),
        Paragraph(f"主动公开政府信息数量{total}条，其中制发规范性文件总数{k}条，政务微博、微信公开{m}条，"
                  f"其他方式公开政府信息{total - k - m}条。"),
        Paragraph("三、行政机关收到和处理政府信息公开申请的情况", kind="heading"),
        Paragraph("共受理信息公开申请0件，其中通过网站提交的申请有0件，通过信函提交的申请有0件，"
                  "当面提交的申请有0件，其他方式提交的申请有0件。"),
        Paragraph("四、因政府信息公开工作被申请行政复议及提起行政诉讼的情况", kind="heading"),
        Paragraph(f"{year}年，{agency.short}未发生与信息公开相关的行政复议和诉讼案件。"),
    ]


def appeals_absent_paragraphs(choose: Chooser, agency: Agency, year: int) -> list[Paragraph]:
    """Section 四 when Table C is not printed: a sentence, or nothing under the heading."""
    if choose.flag("appeals_sentence", 0.6):
        return [Paragraph(f"{year}年度，{agency.self_ref}未发生因政府信息公开引起的行政复议、行政诉讼案件。")]
    return []


def closing_sections(choose: Chooser, agency: Agency, year: int, facts: Optional[ProseFacts] = None) -> list[Paragraph]:
    """Sections 五 and 六; the prose names the next year ("2021年，我局将…"). Section 五 is left empty
    or '无' (N1) and section 六 states the year's fees, agreeing with Table A or not (N2), at the
    audit plants' rates."""
    rng = choose.rng
    plants = audit_chooser(choose, agency, year, "closing")
    heading5 = choose.pick("heading5", ("五、存在的主要问题及改进情况", "五、政府信息公开工作存在的主要问题及改进情况",
                                        "5、 存在主要问题及改进情况"), (0.7, 0.25, 0.05))
    issues = rng.choice((
        "一是信息公开的及时性和全面性有待提高；二是政策解读形式较为单一，解读质量有待提升；三是工作人员业务能力需进一步加强。",
        "主要表现在缺乏专职工作人员进行管理维护，还存在信息公布不及时、内容不够全面的现象。",
        "政府信息公开工作与上级要求和人民群众期待相比还有一定差距，公开内容的规范性有待改善。",
    ))
    plans = (f"{year + 1}年，{agency.self_ref}将继续深入贯彻《条例》，加强业务培训，完善公开制度，"
             f"进一步提升政府信息公开工作质量和水平。")
    other = rng.choice(("无。", "无", f"{year}年度，{agency.short}政府信息公开未发生收费情况。",
                        "本年度未收取政府信息公开信息处理费。"))
    # What section 六 states about Table A's fees (N2 truth): None when it names no such fee.
    stated_fee: Optional[float] = 0.0 if "未发生收费" in other else None
    fee = facts.fees_wan if facts is not None else None
    if fee is not None and plants.flag("fee_sentence", N2_SENTENCE_RATE):
        stated_fee = fee if not plants.flag("N2_conflict", N2_CONFLICT_RATE) else (
            0.0 if fee else round(plants.rng.uniform(0.5, 80.0), 2))
        other = (f"本年度{agency.self_ref}未收取行政事业性收费。" if stated_fee == 0 else
                 f"本年度{agency.self_ref}共收取行政事业性收费{_money(stated_fee)}万元。")
    plants.note("N2", _relation(stated_fee, fee))
    body5 = [Paragraph(issues), Paragraph(plans)]
    if plants.flag("N1", N1_RATE):  # section 五 left empty, or only '无'
        body5 = [Paragraph(t) for t in plants.rng.choice(((), ("无",), ("无。",), ("暂无。",)))]
    return [Paragraph(heading5, kind="heading"), *body5,
            Paragraph("六、其他需要报告的事项", kind="heading"), Paragraph(other)]


# ---------------------------------------------------------------------------------------------
# Audit plants: prose that states (or misstates) the tables, at known rates
# ---------------------------------------------------------------------------------------------

P_SENTENCE_RATE = 0.6   # a document with Table B states some of its totals in prose
P_CONFLICT_RATE = 0.2   # each stated total disagrees with the table
LAST_YEAR_RATE = 0.3    # and states last year's number too (never a finding)
N1_RATE = 0.12
N2_SENTENCE_RATE = 0.5
N2_CONFLICT_RATE = 0.3
N3_RATE = 0.1


def _money(value: float) -> str:
    return format(Decimal(repr(float(value))).normalize(), "f")


def _relation(stated: Optional[float], true: Optional[float]) -> Optional[str]:
    """A plant's truth as a category (traits are counted by value in the dataset card): what the
    prose states against the table — "agree", "conflict", or None when nothing is stated."""
    if stated is None or true is None:
        return None
    return "agree" if abs(float(stated) - float(true)) < 1e-9 else "conflict"


def audit_chooser(choose: Chooser, agency: Agency, year: int, part: str = "requests") -> Chooser:
    """The audit plants' own random stream, so adding them leaves every other prose choice as it was;
    their truths are recorded as ``prose.audit.*`` traits (``benchmarks/bench_audit.py`` reads them)."""
    return Chooser(random.Random(f"audit|{part}|{agency.full}|{year}"), choose.traits, choose.force,
                   choose.prefix + "audit.")


def _misstate(plants: Chooser, true: int) -> int:
    return max(0, true + plants.rng.choice((-3, -2, -1, 1, 2, 4, 7, 12))) if true else plants.rng.randint(1, 9)


def audit_request_sentences(plants: Chooser, year: int, facts: ProseFacts, stated_new: Optional[int]) -> str:
    """Sentences stating Table B and C totals (P2 and P4-P7), each disagreeing at a known rate, and
    last year's figures beside them. The truth of each rule is the number stated (trait
    ``prose.audit.P<n>``); the sentence before this one states P1 (``stated_new``)."""
    plants.note("P1", _relation(stated_new, facts.requests_new))
    text = ""
    if facts.requests_new is None or not plants.flag("sentence", P_SENTENCE_RATE):
        for rule in ("P2", "P4", "P5", "P6", "P7"):
            plants.note(rule, None)
        return text

    def state(rule: str, true: Optional[int]) -> Optional[int]:
        if true is None:
            plants.note(rule, None)
            return None
        value = _misstate(plants, true) if plants.flag(f"{rule}_conflict", P_CONFLICT_RATE) else true
        plants.note(rule, _relation(value, true))
        return value

    parts = []
    carried = state("P2", facts.requests_carried)
    if carried is not None:
        parts.append(plants.rng.choice((f"上年结转申请{carried}件", f"上一年度结转{carried}件",
                                        f"{carried}件为上年结转件", f"上年度结转至本年度办理{carried}件")))
    results = state("P4", facts.results_total)
    if results is not None:
        parts.append(plants.rng.choice((f"已办结{results}件", f"全年共办结申请{results}件", f"按时答复{results}件",
                                        f"均已依法作出答复，共答复{results}件")))
    forward = state("P5", facts.carried_forward)
    if forward is not None:
        parts.append(plants.rng.choice((f"结转至下一年度办理{forward}件", f"转入下年度继续办理{forward}件",
                                        f"截至{year}年12月31日尚有{forward}件正在办理", f"结转到{year + 1}年度继续办理{forward}件")))
    plants.rng.shuffle(parts)
    if parts:
        text += plants.rng.choice(("另外，", "其中，", "", f"截至{year}年底，")) + "，".join(parts) + "。"
    review, lawsuits = state("P6", facts.review_total), state("P7", facts.litigation_total)
    if review is not None and lawsuits is not None:
        if review == 0 and lawsuits == 0 and plants.flag("appeals_in_words", 0.5):
            text += plants.rng.choice((f"{year}年未发生因政府信息公开引起的行政复议、行政诉讼案件。",
                                       "全年发生政府信息公开行政复议、行政诉讼案件0件。",
                                       "本年度没有发生政府信息公开方面的行政复议和行政诉讼。"))
        else:
            text += plants.rng.choice((f"全年发生政府信息公开行政复议案件{review}件、行政诉讼案件{lawsuits}件。",
                                       f"全年因政府信息公开被申请行政复议{review}件、被提起行政诉讼{lawsuits}件。",
                                       f"{year}年，共有行政诉讼案件{lawsuits}件、行政复议案件{review}件。"))
    if plants.flag("last_year", LAST_YEAR_RATE):
        before = plants.rng.randint(0, 60)
        text += plants.rng.choice((f"上年共收到政府信息公开申请{before}件。",
                                   f"{year - 1}年同期，共收到政府信息公开申请{before}件，办结{before}件。",
                                   f"申请数量较上年增加{plants.rng.randint(1, 9)}件。",
                                   f"去年同期受理申请{before}件，行政复议{plants.rng.randint(0, 3)}件。",
                                   f"与{year - 1}年相比，收到申请同比减少{plants.rng.randint(1, 9)}件。"))
    return text


@dataclass(frozen=True)
class PlantedTruth:
    """What a factory report's prose states, read back from its ``prose.audit.*`` traits: per P rule
    "agree", "conflict" or None (not stated); N2 the same for section 六's fees against Table A's."""

    stated: dict[str, Optional[str]]
    n1_empty_section5: bool
    n2_fee: Optional[str]
    n3_other_year: bool


def planted_truth(traits: dict[str, object]) -> PlantedTruth:
    def get(name: str) -> object:
        return traits.get(f"prose.audit.{name}")

    stated = {r: get(r) for r in ("P1", "P2", "P4", "P5", "P6", "P7")}
    return PlantedTruth(stated=stated, n1_empty_section5=bool(get("N1")),  # type: ignore[arg-type]
                        n2_fee=get("N2"), n3_other_year=bool(get("N3")))  # type: ignore[arg-type]
