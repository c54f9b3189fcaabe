"""The audit catalogue (inference/audit.py): P prose vs table, A Table A sanity, N narrative.

On the real dev documents (examples/, values checked against labels/gold/) and on factory documents
whose prose states, misstates and restates last year's figures at forced (known) plants.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nianbao.document import Check, FieldValue
from nianbao.inference import audit
from nianbao.inference.audit import Sentence, statements, table_a_checks
from nianbao.inference.output import to_record
from nianbao.inference.pipeline import Pipeline
from nianbao.jsonio import dumps_strict
from nianbao.training.factory.baseline_check import CLEAN
from nianbao.training.factory.build import build_report
from nianbao.training.factory.dataset import render_own
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.prose import planted_truth
from nianbao.training.factory.rng import document_seed

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


@pytest.fixture(scope="module")
def real(pipeline):
    return {p.stem: pipeline.run(p) for p in sorted(EXAMPLES.iterdir()) if p.suffix in (".txt", ".html", ".pdf")}


def by_rule(doc) -> dict[str, Check]:
    return {c.rule: c for c in doc.checks}


# ---------------------------------------------------------------------------------------------
# P1-P7 on real reports
# ---------------------------------------------------------------------------------------------

def test_real_prose_totals_agree_with_the_tables_and_point_at_their_sentence(real):
    doc = real["real_005"]  # 收到申请75件 = 74 new + 1 carried over; 行政诉讼1件, 行政复议2件
    checks = by_rule(doc)
    assert checks["P3"].passed and checks["P3"].stated_value == 75 and checks["P3"].table_value == 75
    assert checks["P6"].passed and checks["P6"].stated_value == 2
    assert checks["P7"].passed and checks["P7"].stated_value == 1
    for rule in ("P3", "P6", "P7"):
        c = checks[rule]
        # The position is the stated number's offset in the reading-order text; the sentence holds it.
        assert doc.linear.raw[c.position:].startswith(str(int(c.stated_value)))
        assert str(int(c.stated_value)) + "件" in c.sentence.replace(" ", "")
        assert c.confidence is not None and 0 < c.confidence <= 1
    assert "P1" not in checks  # 75 is not the 74 new requests: the statement is read as P3 only


def test_real_prose_that_disagrees_is_a_finding_not_a_correction(real):
    doc = real["real2_002"]  # 区政府办代表区政府受理政府信息公开申请17件; the district's table: 95
    p1 = by_rule(doc)["P1"]
    assert not p1.passed and p1.stated_value == 17 and p1.table_value == 95
    assert doc.fields["requests.new.total"].value == 95
    assert p1.confidence < 0.9  # 受理申请 may name the new or all requests: not a specific phrase


def test_real_zero_statements_and_numbers_before_their_words(real):
    checks = by_rule(real["003_ab964e0bbb01e447"])  # 0件为新增受理件，0件为上年结转件
    assert checks["P1"].passed and checks["P2"].passed and checks["P2"].stated_value == 0
    assert by_rule(real["real_014"])["P1"].passed  # 2023年我局未收到依申请公开事宜
    assert by_rule(real["000_0f54907597b54157"])["P1"].stated_value == 0


def test_real_reports_without_request_prose_are_not_evaluated(real):
    for name in ("real_017", "real_002", "002_a15c5311e6238bad"):
        assert not [c for c in real[name].checks if c.rule.startswith("P")], name


# ---------------------------------------------------------------------------------------------
# P statements: what is and is not this year's figure
# ---------------------------------------------------------------------------------------------

def _stated(text: str, year: int = 2022) -> list[tuple[str, float]]:
    return [(s.rule, s.value) for s in statements([Sentence(text, 0, len(text))], year)]


@pytest.mark.parametrize("text,expected", [
    ("2022年,本机关新收政府信息公开申请12件。", [("P1", 12)]),
    ("上年结转申请3件,结转至下一年度办理2件。", [("P2", 3), ("P5", 2)]),
    ("共受理申请15件(含上年结转3件)。", [("P3", 15), ("P2", 3)]),
    ("全年共办结申请9件。", [("P4", 9)]),
    ("共有行政诉讼案件1件、行政复议案件2件。", [("P7", 1), ("P6", 2)]),
    ("结转至2023年继续办理4件。", [("P5", 4)]),
    ("2022年未发生因政府信息公开引起的行政复议、行政诉讼案件。", [("P6", 0), ("P7", 0)]),
    ("本年度新收政府信息公开申请25件,上年结转2件,共计27件。", [("P1", 25), ("P2", 2), ("P3", 27)]),
    ("截至2022年12月31日,尚有3件正在办理中。", [("P5", 3)]),
    ("全年因政府信息公开被申请行政复议1件、被提起行政诉讼2件。", [("P6", 1), ("P7", 2)]),
    ("发生政府信息公开行政复议、行政诉讼案件0件。", [("P6", 0), ("P7", 0)]),  # a joint 0 is 0 for both
])
def test_statements_read_this_years_figures(text, expected):
    assert sorted(_stated(text)) == sorted(expected)


@pytest.mark.parametrize("text", [
    "上年共收到政府信息公开申请40件。",                 # last year
    "2021年同期,共收到政府信息公开申请40件。",          # an explicit other year
    "2021年收到政府信息公开申请40件。",
    "申请数量较上年增加5件。",                          # a difference
    "收到申请同比增长3件。",
    "行政复议和行政诉讼案件共3件。",                    # a sum of two rules
    "发生政府信息公开行政复议、行政诉讼案件2件。",
    "其中,当面申请3件,网上申请29件。",                 # how requests came, not how many
    "其中答复予以公开12件。",                           # a result row, not all answers
    "收到自然人申请30件。",                             # an applicant column
    "办结率100%,答复及时。",                            # no count with its unit
    "全年主动公开政府信息128条。",                      # no request words
])
def test_statements_skip_what_is_not_this_years_figure(text):
    assert _stated(text) == []


# ---------------------------------------------------------------------------------------------
# A1-A3 on fields
# ---------------------------------------------------------------------------------------------

def fv(value, raw=None, conf=0.999) -> FieldValue:
    return FieldValue(value=value, raw=raw if raw is not None else (None if value is None else str(value)), confidence=conf)


def test_a1_counts_are_non_negative_integers():
    ok = table_a_checks({"proactive.licensing.decisions": fv(5), "proactive.licensing.change": fv(-3, "-3")})
    assert by_rule_list(ok)["A1"].passed  # 本年增/减 may be negative
    bad = by_rule_list(table_a_checks({"proactive.licensing.decisions": fv(-5, "-5"),
                                       "proactive.punishment.decisions": fv(2.5, "2.5")}))["A1"]
    assert not bad.passed and set(bad.cells) == {"proactive.licensing.decisions", "proactive.punishment.decisions"}


def test_a2_records_not_applicable_cells_without_changing_them():
    fields = {"proactive.rules.issued": fv(0, "/"), "proactive.rules.in_force": fv(0, "不适用"),
              "proactive.normative.issued": fv(0, "-"), "proactive.normative.in_force": fv(4)}
    a2 = by_rule_list(table_a_checks(fields))["A2"]
    assert a2.passed and a2.not_applicable == ["proactive.rules.issued", "proactive.rules.in_force"]
    assert fields["proactive.rules.issued"].value == 0  # a finding, the value stays
    assert "A2" not in by_rule_list(table_a_checks({"proactive.normative.issued": fv(0, "-")}))  # '-' is a printed 0


def test_a3_money_within_its_units_decimals():
    good = {"proactive.fees.amount_wan": fv(0.123456, "0.123456"),
            "proactive.procurement.amount_yuan": fv(16909913, "1690.9913万元")}
    assert by_rule_list(table_a_checks(good))["A3"].passed
    bad = by_rule_list(table_a_checks({"proactive.procurement.amount_yuan": fv(12.345, "12.345元")}))["A3"]
    assert not bad.passed and bad.cells == ["proactive.procurement.amount_yuan"]
    # a yuan amount under a 万元 header prints no unit: 247.1987 (万元) is 2471987 yuan, within 6 decimals
    assert by_rule_list(table_a_checks({"proactive.procurement.amount_yuan": fv(2471987, "247.1987")}))["A3"].passed


def by_rule_list(checks: list[Check]) -> dict[str, Check]:
    return {c.rule: c for c in checks}


def test_real_table_a_checked_on_every_report_with_table_a(real):
    for name, doc in real.items():
        rules = by_rule(doc)
        if doc.found.get("proactive"):
            assert rules["A1"].passed, name
        else:
            assert "A1" not in rules, name


# ---------------------------------------------------------------------------------------------
# N1-N3 on real reports
# ---------------------------------------------------------------------------------------------

def test_real_narrative(real):
    for name, doc in real.items():
        rules = by_rule(doc)
        if not any(doc.found.values()):
            assert not rules, name  # nothing read, nothing evaluated (001: a report without tables)
            continue
        assert rules["N1"].passed, name  # every dev report with tables writes its section 五
        assert rules.get("N3") is None or rules["N3"].passed, name
    n2 = by_rule(real["real2_004"])["N2"]  # 政府信息公开未发生收费情况; Table A fees 0
    assert n2.passed and n2.stated_value == 0 and n2.table_value == 0
    # real2_002: 全年收取政府信息公开信息处理费0元 is another fee than Table A's 7545 万元: not compared
    assert "N2" not in by_rule(real["real2_002"])
    assert "N2" not in by_rule(real["real_005"])  # 无收取信息处理费情况 (Table A 9116.36 万元)


def test_audit_never_changes_a_value(real, pipeline):
    for doc in real.values():
        before = doc.values()
        audit.audit_document(doc)
        assert doc.values() == before


def test_findings_in_the_output_contract(real):
    rec = to_record(real["real2_002"])
    p1 = next(c for c in rec["checks"] if c["rule"] == "P1")
    assert {"rule", "passed", "detail", "cells", "difference", "confidence", "sentence", "position", "page",
            "table_value", "stated_value"} <= set(p1)
    assert p1["page"] == 1 and p1["cells"] == ["requests.new.total"]
    json.loads(dumps_strict(rec))  # strict JSON
    r1 = next(c for c in rec["checks"] if c["rule"] == "R1")
    assert "sentence" not in r1 and 0 < r1["confidence"] <= 1


def test_every_rule_has_a_meaning_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for rule in audit.RULES:
        assert f"| {rule} |" in readme, rule


# ---------------------------------------------------------------------------------------------
# Factory documents with planted conflicts (forced plants: the truth is known)
# ---------------------------------------------------------------------------------------------

PLANTED = {**CLEAN, "content.requests_zero": False, "content.tables": "all", "content.break": "none",
           "prose.numbers": "agree", "prose.audit.sentence": True}


def _factory(pipeline, tmp_path, force: dict, index: int = 0, kind: str = "text"):
    options = FactoryOptions(force={**PLANTED, **force})
    report = build_report(document_seed(11, index), options)
    rendered = render_own(kind, report, tmp_path, report.id, options)
    return report, pipeline.run(tmp_path / f"{report.id}{rendered.suffix}")


@pytest.mark.parametrize("rule", ["P2", "P4", "P5", "P6", "P7"])
def test_factory_planted_prose_conflict_is_found(rule, pipeline, tmp_path):
    conflicts = {f"prose.audit.{r}_conflict": r == rule for r in ("P2", "P4", "P5", "P6", "P7")}
    report, doc = _factory(pipeline, tmp_path, {**conflicts, "prose.audit.last_year": True})
    truth = planted_truth(report.traits)
    failed = {c.rule for c in doc.checks if not c.passed and c.rule.startswith("P")}
    assert failed == {rule}, [c.detail for c in doc.checks if not c.passed]
    assert truth.stated[rule] == "conflict"
    c = by_rule(doc)[rule]
    assert c.stated_value != c.table_value and str(int(c.stated_value)) in c.sentence
    assert doc.linear.raw[c.position:].startswith(str(int(c.stated_value)))


def test_factory_agreeing_prose_and_last_years_numbers_pass(pipeline, tmp_path):
    conflicts = {f"prose.audit.{r}_conflict": False for r in ("P2", "P4", "P5", "P6", "P7")}
    for i in range(3):
        report, doc = _factory(pipeline, tmp_path, {**conflicts, "prose.audit.last_year": True}, index=i)
        p = [c for c in doc.checks if c.rule.startswith("P")]
        assert p and all(c.passed for c in p), [c.detail for c in p if not c.passed]
        assert {"P2", "P4", "P5", "P6", "P7"} <= {c.rule for c in p}


@pytest.mark.parametrize("kind", ["text", "html"])
def test_factory_planted_narrative_conflicts(kind, pipeline, tmp_path):
    force = {"prose.audit.N1": True, "prose.audit.N3": True, "prose.audit.fee_sentence": True,
             "prose.audit.N2_conflict": True, "content.late_v2019": False, "content.year": 2022}
    report, doc = _factory(pipeline, tmp_path, force, kind=kind)
    truth = planted_truth(report.traits)
    assert truth.n1_empty_section5 and truth.n3_other_year
    rules = by_rule(doc)
    assert not rules["N1"].passed
    assert not rules["N3"].passed and rules["N3"].stated_value == doc.year - 1
    assert not rules["N2"].passed and truth.n2_fee == "conflict" and rules["N2"].sentence
    clean = {"prose.audit.N1": False, "prose.audit.N3": False, "prose.audit.fee_sentence": True,
             "prose.audit.N2_conflict": False, "content.late_v2019": False, "content.year": 2022}
    _, doc = _factory(pipeline, tmp_path, clean, kind=kind)
    rules = by_rule(doc)
    assert rules["N1"].passed and rules["N2"].passed and rules["N3"].passed


# ---------------------------------------------------------------------------------------------
# R5 as evidence and H1 (pure functions over stored records; the store glue)
# ---------------------------------------------------------------------------------------------

from nianbao.inference.crossdoc import (Edge, HierarchyError, StoredField, YearRecord, expectations,  # noqa: E402
                                        parent_child_checks, read_hierarchy_csv, redecide)


def _rec(doc_id, year, values, template="v2021"):
    return YearRecord(doc_id, f"r{year}.txt", year, template, values)


def test_r5_evidence_decides_a_doubted_reading_among_its_own_candidates():
    earlier = _rec(1, 2021, {"requests.carried_forward.total": 13, "proactive.normative.in_force": 40})
    this = _rec(2, 2022, {"proactive.normative.issued": 5, "proactive.normative.repealed": 2})
    exp = expectations(this, earlier, None)
    fields = {"requests.carried_over.total": StoredField(31, 0.6, (13.0, 3.0)),      # doubted: 31 | 13 | 3
              "proactive.normative.in_force": StoredField(43, 0.99, (4.0,)),        # clear: never changed
              "requests.carried_over.natural": StoredField(1, 0.6, ())}             # no candidate to choose
    out = redecide(2, fields, exp)
    assert [(r.key, r.old_value, r.new_value) for r in out] == [("requests.carried_over.total", 31, 13.0)]
    r = out[0]
    assert r.evidence_document_id == 1 and r.evidence_year == 2021 and "r2021.txt" in r.reason
    assert r.confidence < 0.9  # still doubted: the neighbour may restate its numbers


def test_r5_evidence_needs_the_neighbours_to_agree_and_the_years_to_be_consecutive():
    this = _rec(2, 2022, {})
    fields = {"requests.carried_over.total": StoredField(31, 0.6, (13.0, 3.0)),
              "requests.carried_forward.total": StoredField(70, 0.6, (7.0,))}
    two_years_before = _rec(1, 2020, {"requests.carried_forward.total": 13})
    assert redecide(2, fields, expectations(this, two_years_before, None)) == []
    later = _rec(3, 2023, {"requests.carried_over.total": 7})
    assert [(r.key, r.new_value, r.evidence_year) for r in redecide(2, fields, expectations(this, None, later))] \
        == [("requests.carried_forward.total", 7.0, 2023)]


def test_h1_parent_against_its_children_or_not_evaluated_with_the_missing_listed():
    edges = [Edge("西湖区", "西湖区北山街道"), Edge("西湖区", "西湖区龙井镇")]
    reports = {("西湖区", 2022): _rec(1, 2022, {"requests.new.total": 10, "appeals.review.total": 1}),
               ("西湖区北山街道", 2022): _rec(2, 2022, {"requests.new.total": 4, "appeals.review.total": 0}),
               ("西湖区龙井镇", 2022): _rec(3, 2022, {"requests.new.total": 5, "appeals.review.total": 1}),
               ("西湖区", 2023): _rec(4, 2023, {"requests.new.total": 3}),
               ("西湖区北山街道", 2023): _rec(5, 2023, {"requests.new.total": 3})}
    out = parent_child_checks(edges, reports)
    y22 = {f.cells[0]: f for f in out if f.year == 2022}
    assert not y22["requests.new.total"].passed and y22["requests.new.total"].difference == 1
    assert y22["appeals.review.total"].passed and y22["appeals.review.total"].child_document_ids == [2, 3]
    (y23,) = [f for f in out if f.year == 2023]
    assert not y23.evaluated and y23.passed is None and y23.missing_children == ["西湖区龙井镇"]


def test_hierarchy_csv_is_read_or_refused_with_the_line():
    assert read_hierarchy_csv("parent,child\n西湖区人民政府,北山街道办事处\n\n") == [Edge("西湖区人民政府", "北山街道办事处")]
    with pytest.raises(HierarchyError, match="line 2"):
        read_hierarchy_csv("甲区,乙街道\n丙区\n")


def test_store_hierarchy_inferred_from_nesting_names(tmp_path):
    from nianbao.ingest.audit_store import cross_year_redecisions, hierarchy_findings
    from nianbao.ingest.export import open_existing
    from nianbao.ingest.runner import IngestOptions, ingest

    text = (EXAMPLES / "000_0f54907597b54157.txt").read_text(encoding="utf-8")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "child.txt").write_text(text.replace("崇文街道办事处", "西湖区北山街道办事处").replace("崇文街道", "西湖区北山街道"),
                                      encoding="utf-8")
    (folder / "parent.txt").write_text(text.replace("崇文街道办事处", "西湖区人民政府").replace("崇文街道", "西湖区"),
                                       encoding="utf-8")
    db = tmp_path / "r.sqlite"
    ingest([str(folder)], db, IngestOptions(workers=1, progress=False))
    store = open_existing(db)
    try:
        found = hierarchy_findings(store)
        assert found and all(f.inferred and f.evaluated and f.passed for f in found)  # all zeros: 0 = 0
        csv_path = tmp_path / "h.csv"
        csv_path.write_text("西湖区人民政府,西湖区北山街道办事处\n西湖区人民政府,西湖区龙井镇人民政府\n", encoding="utf-8")
        (given,) = hierarchy_findings(store, csv_path)
        assert not given.inferred and not given.evaluated and given.missing_children == ["西湖区龙井镇"]
        assert cross_year_redecisions(store) == []  # one year per agency: no evidence
    finally:
        store.close()
    from nianbao.cli import main

    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out), "--hierarchy", str(csv_path)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "Findings by family" in page and "not evaluated: no 2020 report of 西湖区龙井镇" in page
    csv_path.write_text("西湖区人民政府\n", encoding="utf-8")
    assert main(["report", "--db", str(db), "--out", str(out), "--hierarchy", str(csv_path)]) == 2


def test_report_groups_findings_by_family_with_rates():
    from nianbao.inference.crossdoc import HierarchyFinding
    from nianbao.ingest.report import _audit_sections

    rules = [{"rule": "R1", "checks": 10, "failed": 1, "documents": 1},
             {"rule": "R5 (across years)", "checks": 2, "failed": 0, "documents": 0},
             {"rule": "P1", "checks": 4, "failed": 2, "documents": 2}, {"rule": "P6", "checks": 4, "failed": 0, "documents": 0}]
    h1 = [HierarchyFinding("H1", "西湖区", 2022, False, None, "not evaluated: no 2022 report of 西湖区龙井镇", [], None, 0.5,
                           True, 1, missing_children=["西湖区龙井镇"])]
    page = "\n".join(_audit_sections({"rules": rules, "hierarchy": h1, "redecisions": []}))
    assert "<td>P prose vs table</td><td>P1 P6</td><td class=\"num\">8</td><td class=\"num\">2</td><td class=\"num\">25.0%</td>" in page
    assert "<td>R1 R5</td><td class=\"num\">12</td>" in page
    assert "not evaluated" in page and "西湖区龙井镇" in page and "inferred from names" in page


@pytest.mark.parametrize("plant", ["A1", "A3"])
@pytest.mark.parametrize("kind", ["text", "html"])
def test_factory_planted_table_a_errors(plant, kind, pipeline, tmp_path):
    for i in range(2):
        report, doc = _factory(pipeline, tmp_path, {"content.audit.table_a": plant}, index=i, kind=kind)
        key = report.traits["content.audit.table_a_key"]
        assert report.traits["content.audit.table_a"] == plant and key
        failed = {c.rule: c for c in doc.checks if not c.passed and c.rule.startswith("A")}
        assert set(failed) == {plant} and key in failed[plant].cells
        assert doc.fields[key].value == report.values[key]  # the finding changes nothing


def test_factory_prints_no_table_a_error_unless_asked(pipeline, tmp_path):
    for i in range(3):
        report, doc = _factory(pipeline, tmp_path, {}, index=i)
        assert report.traits["content.audit.table_a"] == "none"
        assert not [c for c in doc.checks if not c.passed and c.rule.startswith("A")]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = ["2022年", "2021年", "上年", "结转", "新收", "申请", "收到", "办结", "行政复议", "行政诉讼", "、", ",", "。",
           "件", "起", "0", "7", "12", "未发生", "同期", "较上年增加", "共计", "其中", "下一年度", "%", "五、", "六、", "无"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.sampled_from([None, 2021, 2022]))
def test_statements_never_raise_and_stay_in_their_sentence(pieces, year):
    text = "".join(pieces)
    sentences = audit.prose_sentences(text, [])
    for s in statements(sentences, year):
        assert s.sentence.start <= s.offset < s.sentence.end
        assert s.value >= 0 and s.rule in {"P1", "P2", "P3", "P4", "P5", "P6", "P7", "P1|P3"}
    audit.find_sections(text, [])


def test_n3_intro_naming_another_years_report(pipeline, tmp_path):
    text = (EXAMPLES / "real_014.txt").read_text(encoding="utf-8")
    copied = text.replace("公布平潭综合实验区海坛片区管理局2023年", "公布平潭综合实验区海坛片区管理局2022年")
    assert copied != text
    (tmp_path / "r.txt").write_text(copied, encoding="utf-8")
    doc = pipeline.run(tmp_path / "r.txt")
    n3 = by_rule(doc)["N3"]
    assert doc.year == 2023 and not n3.passed and n3.stated_value == 2022 and "2022年" in n3.sentence
    assert by_rule(pipeline.run(EXAMPLES / "real_014.txt"))["N3"].passed
