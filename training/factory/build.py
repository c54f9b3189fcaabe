"""``build_report(seed, options)``: the single entry point from a seed to a report's content and layout.

Everything a renderer prints comes from here, deterministically from the document seed: the
agency and year, the values (content), the printed grids (layout) and the prose around them.
Renderers (text, HTML, DOCX here; PDF and scan in render_pdf / render_scan) only choose how to
print the same blocks, so every rendering of a document shares one gold.
"""
from __future__ import annotations

from typing import Optional

from .content import Content, make_content
from .printed_tables import build_tables, printed_raw
from .synthetic_report import Block, Paragraph, PrintedTable, SyntheticReport
from .options import FactoryOptions
from .prose import (Agency, ProseFacts, appeals_absent_paragraphs, closing_sections, intro_paragraphs, make_agency,
                    no_table_sections, overview_paragraphs, publication_date, signature_paragraphs, title_paragraphs)
from .rng import Chooser, stream

HEADINGS = {"proactive": "二、主动公开政府信息情况", "requests": "三、收到和处理政府信息公开申请情况",
            "appeals": "四、政府信息公开行政复议、行政诉讼情况"}


def _facts(content: Content) -> ProseFacts:
    v = content.values

    def get(key: str) -> Optional[int]:
        x = v.get(key)
        return None if x is None else int(x)

    normative = get("proactive.normative.new_made") if content.template == "v2019" else get("proactive.normative.issued")
    appeals = sum(int(v[f"appeals.{g}.total"] or 0) for g in ("review", "litigation_direct", "litigation_after_review")) \
        if content.found.get("appeals") else None
    litigation = None if get("appeals.litigation_direct.total") is None or get("appeals.litigation_after_review.total") is None \
        else get("appeals.litigation_direct.total") + get("appeals.litigation_after_review.total")
    return ProseFacts(requests_new=get("requests.new.total"), requests_carried=get("requests.carried_over.total"),
                      granted=get("requests.granted.total"), normative=normative, appeals_total=appeals,
                      results_total=get("requests.results_total.total"), carried_forward=get("requests.carried_forward.total"),
                      review_total=get("appeals.review.total"), litigation_total=litigation,
                      fees_wan=v.get("proactive.fees.amount_wan") if content.template == "v2021" else None)


def assemble(choose: Chooser, agency: Agency, content: Content, tables: dict[str, PrintedTable]) -> list[Block]:
    """Title, prose sections and tables in the order reports print them; signature and date last."""
    year = content.year
    date = publication_date(choose.rng, year)
    blocks: list[Block] = list(title_paragraphs(choose, agency, year))
    if blocks and choose.flag("title_date", 0.1):
        blocks.append(Paragraph(f"（{date}）", kind="date"))
    blocks += intro_paragraphs(choose, agency, year)
    mode = choose.pick("numbers", ("agree", "disagree", "none"), (0.45, 0.2, 0.35))
    facts = _facts(content)
    blocks += overview_paragraphs(choose, agency, year, facts, mode)
    if not any(content.found.values()):
        blocks += no_table_sections(choose, agency, year)
    else:
        blocks.append(Paragraph(HEADINGS["proactive"], kind="heading"))
        if "proactive" in tables:
            blocks.append(tables["proactive"])
        else:
            blocks.append(Paragraph("本年度主动公开政府信息情况详见政府信息公开专栏。"))
        blocks.append(Paragraph(HEADINGS["requests"], kind="heading"))
        blocks.append(tables["requests"])
        if "appeals" in tables:
            blocks += [Paragraph(HEADINGS["appeals"], kind="heading"), tables["appeals"]]
        elif content.appeals_heading:
            blocks.append(Paragraph(HEADINGS["appeals"], kind="heading"))
        elif choose.flag("appeals_heading_when_absent", 0.7):
            blocks.append(Paragraph(HEADINGS["appeals"], kind="heading"))
            blocks += appeals_absent_paragraphs(choose, agency, year)
    blocks += closing_sections(choose, agency, year, facts)
    blocks += signature_paragraphs(choose, agency, date)
    return blocks


def build_report(seed: int, options: Optional[FactoryOptions] = None) -> SyntheticReport:
    """The report of document seed ``seed``: content, printed grids, prose, gold and traits."""
    options = options or FactoryOptions()
    traits: dict[str, object] = {}
    prose = Chooser(stream(seed, "prose"), traits, options.force, "prose.")
    agency = make_agency(prose)
    content = make_content(Chooser(stream(seed, "content"), traits, options.force, "content."), options, agency)
    traits["content.template"] = content.template
    tables = build_tables(Chooser(stream(seed, "layout"), traits, options.force, "layout."), content,
                          options.page_break_fraction)
    blocks = assemble(prose, agency, content, tables)
    printed = printed_raw(tables)
    raw = {k: (printed.get(k) if v is not None else None) for k, v in content.values.items()}
    return SyntheticReport(id=f"syn-{seed:016x}", seed=seed, agency=agency.full, year=content.year,
                           template=content.template, blocks=blocks, values=dict(content.values),
                           found=dict(content.found), broken_rules=list(content.broken_rules), traits=traits, raw=raw)
