"""The review app speaks the tables' Chinese: official row and column headers from the schema, merged as
printed, never a schema key or a regular expression as a label; a CJK font stack in the CSS."""
from __future__ import annotations

import re
from pathlib import Path

from nianbao.review.app import ReviewConfig, create_app
from nianbao.schema import load_schema

from review_helpers import db, store  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]


def _page(store, tmp_path, template: str) -> str:
    doc_id = store.scalar("SELECT id FROM documents WHERE status = 'done' AND template = ? ORDER BY id LIMIT 1",
                          (template,))
    assert doc_id, f"the example store holds a {template} document"
    client = create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path / "labels")).test_client()
    page = client.get(f"/doc/{doc_id}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _section(html: str, table: str) -> str:
    return re.search(r'<section class="table" data-table="' + table + r'">(.*?)</section>', html, re.S).group(1)


def test_document_page_has_official_headers(store, tmp_path):
    for template in ("v2019", "v2021"):
        html = _page(store, tmp_path, template)
        schema = load_schema()
        requests = _section(html, "requests")
        # 申请人情况 over the seven columns, 法人或其他组织 over five, 自然人 and 总计 down two rows
        assert re.search(r'<th colspan="7">申请人情况</th>', requests)
        assert re.search(r'<th colspan="5">法人或其他组织</th>', requests)
        assert re.search(r'<th rowspan="2" data-column="natural"[^>]*>自然人</th>', requests)
        assert "本列数据的勾稽关系为" in requests
        for row in schema.table(template, "requests").rows:
            assert schema.headers(template, "requests").row(row.key) in requests, row.key
        assert "1.属于国家秘密" in requests and "（三）不予公开" in requests
        appeals = _section(html, "appeals")
        assert re.search(r'<th data-column="upheld"[^>]*>结果维持</th>', appeals) and "未经复议直接起诉" in appeals
        proactive = _section(html, "proactive")
        for _, text in [c for s in schema.headers(template, "proactive").sections for c in s.columns]:
            assert text in proactive
        # no schema key and no regular expression shown as a header or a label
        shown = re.findall(r"<th[^>]*>(.*?)</th>", html, re.S)
        assert not any("re:" in t or "(?!" in t for t in shown)
        assert not any(re.fullmatch(r"\s*[a-z_.]+\s*", t) for t in shown if t.strip()), shown
    assert "3.其他" in _page(store, tmp_path, "v2021")  # the row whose schema label is a regular expression


def test_css_asks_for_a_cjk_font_first():
    css = (ROOT / "review" / "static" / "review.css").read_text(encoding="utf-8")
    body = re.search(r"body \{ font-family: ([^;]+);", css).group(1)
    faces = [f.strip().strip('"') for f in body.split(",")]
    assert faces[0] == "Noto Sans CJK SC" and "Microsoft YaHei" in faces and faces[-1] == "sans-serif"


def test_reasons_rule_statements_and_the_cell_panel_name_fields_by_their_headers(store, tmp_path):
    client = create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path / "labels")).test_client()
    key_pattern = re.compile(r"\b(?:proactive|requests|appeals)\.[a-z_.]+")
    for doc_id in [r[0] for r in store.conn.execute("SELECT id FROM documents WHERE status = 'done'").fetchall()]:
        html = client.get(f"/doc/{doc_id}").get_data(as_text=True)
        reasons = re.search(r'<details class="reasons">(.*?)</details>', html, re.S)
        rules = re.search(r'<ul id="rule-list">(.*?)</ul>', html, re.S).group(1)
        for text in ([reasons.group(1)] if reasons else []) + [rules]:
            assert not key_pattern.search(text), key_pattern.search(text).group(0)
    doc_id = store.conn.execute("SELECT id FROM documents WHERE status = 'done' AND template = 'v2021'").fetchone()[0]
    info = client.get(f"/api/doc/{doc_id}/cell/requests.new.natural").get_json()
    assert info["key"] == "requests.new.natural" and "自然人" in info["label"] and "requests." not in info["label"]


def test_the_accept_policy_is_said_in_chinese_in_the_app(store, tmp_path):
    client = create_app(ReviewConfig(db=Path(store.path), labels_dir=tmp_path / "labels")).test_client()
    header = re.search(r'<span class="policy" id="policy"[^>]*>(.*?)</span>', client.get("/").get_data(as_text=True)).group(1)
    assert "自动接受" in header and "accepted" not in header
