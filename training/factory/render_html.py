"""HTML renderings like government sites and Word "save as web page" exports.

Tables keep their colspan/rowspan. Styles (``html.style``): ``word_export`` (MsoNormal <p> and
<span> runs split at arbitrary points, ``<o:p>&nbsp;</o:p>`` in empty cells, widths and borders
inline, real2_004), ``cms`` (bare <td> text, <br> in header cells), ``th_header`` (header cells as
<th>). Options: a site header block before the article (navigation, a metadata table with the
title, publisher and date), &nbsp; padding in value cells, the page break of Table B printed as two
tables (with the header rows repeated or not), GBK-declared encoding. Traits ``html.*``.
"""
from __future__ import annotations

import html
import random

from .synthetic_report import Paragraph, PrintedCell, PrintedTable, SyntheticReport
from .render_base import Rendered, Units, blank_unit, cell_label, paragraph_label, rows_of, table_parts
from .rng import Chooser

_WORD_HEAD = ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
              'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">')
_NAV = ("首页", "走进本地", "政务公开", "政务服务", "政民互动", "政府信息公开", "数据开放")


class HtmlWriter:
    def __init__(self, report: SyntheticReport, choose: Chooser):
        self.report = report
        self.choose = choose
        self.rng: random.Random = choose.rng
        self.style = choose.pick("style", ("word_export", "cms", "th_header"), (0.45, 0.4, 0.15))
        self.nbsp = choose.flag("nbsp_padding", 0.3)
        self.split_runs = self.style == "word_export" and choose.flag("split_runs", 0.7)
        self.parts: list[str] = []
        self.units = Units()

    # -- text ------------------------------------------------------------------------------------
    def runs(self, text: str) -> str:
        """Text as Word runs: <span>s split at random points (申请人情 + 况)."""
        if not self.split_runs or len(text) < 3 or self.rng.random() < 0.5:
            return f'<span style="font-family:宋体">{html.escape(text)}</span>'
        cuts = sorted(self.rng.sample(range(1, len(text)), min(len(text) - 1, self.rng.randint(1, 3))))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        return "".join(f'<span style="font-family:宋体">{html.escape(p)}</span>' for p in pieces)

    def paragraph(self, p: Paragraph) -> None:
        label = paragraph_label(p)
        self.units.add(p.text, label)
        if self.style == "word_export":
            align = ' align="center"' if p.kind == "title" else (' align="right"' if p.kind in ("signature", "date") else "")
            indent = ' style="text-indent:2em"' if p.kind == "prose" else ""
            self.parts.append(f'<p class="MsoNormal"{align}{indent}>{self.runs(p.text)}<span><o:p></o:p></span></p>\n')
        elif p.kind == "title":
            self.parts.append(f'<h1 class="article-title">{html.escape(p.text)}</h1>\n')
        elif p.kind == "heading":
            self.parts.append(f"<p><strong>{html.escape(p.text)}</strong></p>\n")
        else:
            style = ' style="text-align:right"' if p.kind in ("signature", "date") else ' style="text-indent:2em"'
            self.parts.append(f"<p{style}>{html.escape(p.text)}</p>\n")

    # -- tables ----------------------------------------------------------------------------------
    def cell_html(self, cell: PrintedCell, table: PrintedTable) -> str:
        tag = "th" if self.style == "th_header" and cell.role in ("header", "corner") else "td"
        attrs = ""
        if cell.rowspan > 1:
            attrs += f' rowspan="{cell.rowspan}"'
        if cell.colspan > 1:
            attrs += f' colspan="{cell.colspan}"'
        text = cell.text
        label = cell_label(cell, table.name)
        if not text:
            self.units.items.append(blank_unit(cell, table.name))
            inner = '<p class="MsoNormal"><span><o:p>&nbsp;</o:p></span></p>' if self.style == "word_export" else \
                ("&nbsp;" if self.rng.random() < 0.5 else "")
            return f"<{tag}{attrs}>{inner}</{tag}>"
        self.units.add(text, label)
        if self.style == "word_export":
            lines = _header_lines(text) if cell.role == "header" and self.rng.random() < 0.5 else [text]
            body = "".join(f'<p class="MsoNormal" align="center">{self.runs(t)}<span><o:p></o:p></span></p>' for t in lines)
            width = f' width="{40 + 20 * cell.colspan}" valign="center" style="border:solid windowtext 1.0pt"'
            return f"<{tag}{width}{attrs}>{body}</{tag}>"
        body = html.escape(text)
        if cell.role == "header" and len(text) == 4 and self.rng.random() < 0.5:
            body = html.escape(text[:2]) + "<br>" + html.escape(text[2:])
        if cell.role == "value" and self.nbsp and self.rng.random() < 0.5:
            body = "&nbsp;" + body if self.rng.random() < 0.5 else body + "&nbsp;"
        return f"<{tag}{attrs}>{body}</{tag}>"

    def table(self, table: PrintedTable, split: bool, repeat_groups: bool) -> None:
        for i, part in enumerate(table_parts(table, split, repeat_groups)):
            if i:
                self.parts.append('<p class="MsoNormal"><span><o:p>&nbsp;</o:p></span></p>\n'
                                  if self.style == "word_export" else "<p>&nbsp;</p>\n")
            border = ' border="1" cellspacing="0" cellpadding="2"' if self.style != "word_export" else \
                ' class="MsoNormalTable" border="1" cellspacing="0" cellpadding="0" style="border-collapse:collapse"'
            self.parts.append(f"<table{border}>\n<tbody>\n")
            for row in rows_of(part):
                self.parts.append("<tr>" + "".join(self.cell_html(c, part) for c in row) + "</tr>\n")
            self.parts.append("</tbody>\n</table>\n")

    # -- page ------------------------------------------------------------------------------------
    def site_header(self, title: str, date: str) -> None:
        """Navigation and a metadata table, as government sites print before the article."""
        site = self.report.agency
        self.parts.append('<div class="header"><ul class="nav">')
        for item in _NAV:
            self.units.add(item)
            self.parts.append(f"<li><a href=\"#\">{item}</a></li>")
        self.parts.append("</ul></div>\n")
        rows = (("名称", title, "title"), ("索引号", f"{self.rng.randint(10**8, 10**9 - 1)}/{date[:4]}-{self.rng.randint(1, 99999):05d}", "O"),
                ("发布机构", site, "O"), ("公开日期", date, "O"))
        self.parts.append('<div class="article-tb"><table class="table_content"><tbody>\n')
        for name, value, label in rows:
            self.units.add(name)
            self.units.add(value, label)
            self.parts.append(f'<tr><td class="c1">{name}</td><td class="c4">{html.escape(value)}</td></tr>\n')
        self.parts.append("</tbody></table></div>\n")

    def footer(self) -> None:
        text = f"主办单位：{self.report.agency}　网站标识码：{self.rng.randint(10**9, 10**10 - 1)}"
        self.units.add(text)
        self.parts.append(f'<div class="footer"><p>{html.escape(text)}</p></div>\n')


def _header_lines(text: str) -> list[str]:
    if len(text) >= 4:
        mid = len(text) // 2
        return [text[:mid], text[mid:]]
    return [text]


def render_html(report: SyntheticReport, choose: Chooser) -> Rendered:
    """The report as an HTML page; traits under ``html.*``."""
    w = HtmlWriter(report, choose)
    title_paras = [b.text for b in report.blocks if isinstance(b, Paragraph) and b.kind == "title"]
    title = "".join(t.replace(" ", "") for t in title_paras) or f"{report.agency}{report.year}年政府信息公开工作年度报告"
    pub = f"{report.year + 1}-{choose.rng.randint(1, 3):02d}-{choose.rng.randint(1, 28):02d}"
    head_title = title + (f"-{report.agency}" if choose.flag("site_suffix_in_title", 0.4) else "")
    encoding = choose.pick("encoding", ("utf-8", "gbk"), (0.85, 0.15))
    charset = "gb2312" if encoding == "gbk" else "utf-8"
    w.parts.append(_WORD_HEAD if w.style == "word_export" else "<!DOCTYPE html>\n<html>")
    w.parts.append(f'\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n'
                   f"<title>{html.escape(head_title)}</title>\n<style>td{{border:1px solid #000}}</style>\n</head>\n<body>\n")
    w.units.add(head_title, "title")
    if choose.flag("site_header", 0.5):
        w.site_header(title, pub)
    w.parts.append('<div class="article-content" id="zoomcon">\n')
    split = choose.flag("split_table", 0.6)
    repeat_groups = choose.flag("repeat_group_labels", 0.3)
    for block in report.blocks:
        if isinstance(block, PrintedTable):
            w.table(block, split, repeat_groups)
        else:
            w.paragraph(block)
    w.parts.append("</div>\n")
    if choose.flag("footer", 0.5):
        w.footer()
    w.parts.append("</body>\n</html>\n")
    data = "".join(w.parts).encode("gb18030" if encoding == "gbk" else "utf-8")
    return Rendered(data=data, suffix=".html", traits=dict(choose.traits), units=w.units.items)
