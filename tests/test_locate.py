"""Locating rows in the flattened forms real exports take (small made-up reports)."""
from pathlib import Path

import pytest

from nianbao import extract

B_HEAD = "三、收到和处理政府信息公开申请情况\n申请人情况\t自然人\t商业企业\t科研机构\t社会公益组织\t法律服务机构\t其他\t总计\n"


def write(tmp_path: Path, body: str, name="r.txt") -> Path:
    path = tmp_path / name
    path.write_text("某某街道办事处2021年政府信息公开工作年度报告\n" + body, encoding="utf-8")
    return path


def test_label_printed_after_its_numbers(tmp_path):
    body = B_HEAD + (
        "一、本年新收政府信息公开申请数量\t3\t0\t0\t0\t0\t0\t3\n"
        "三、本年度办理结果\t（一）予以公开\t2\t0\t0\t0\t0\t0\t2\n"
        "1\t0\t0\t0\t0\t0\t1\n"
        "（二）部分公开（区分处理的，只计这一情形，不计其他情形）\n"
        "（七）总计\t3\t0\t0\t0\t0\t0\t3\n")
    doc = extract(write(tmp_path, body))
    assert doc.fields["requests.granted.natural"].value == 2
    assert doc.fields["requests.partial.natural"].value == 1
    assert doc.fields["requests.partial.natural"].confidence < 0.99  # assigned by position


def test_pipes_split_labels_and_spaced_headers(tmp_path):
    body = ("三、收到和处理政府信息公开申请情况\n申请人情况 | ||||\n自 然 人 |\n"
            "一、本年新收政府信息公开 申请数量 | |\n5 |\n0 |\n0 |\n0 |\n0 |\n0 |\n5 | ||\n"
            "二、上年结转政府信息公开申请数量 |\n0 |\n0 |\n0 |\n0 |\n0 |\n0 |\n0 |\n"
            "三、本年度办理结果 |\n（一）予以公开 |\n5 |\n0 |\n0 |\n0 |\n0 |\n0 |\n5 |\n"
            "（七）总计 |\n5 |\n0 |\n0 |\n0 |\n0 |\n0 |\n5 |\n")
    doc = extract(write(tmp_path, body))
    assert doc.found["requests"]
    assert doc.fields["requests.new.total"].value == 5
    assert doc.fields["requests.granted.total"].value == 5
    assert doc.fields["requests.results_total.natural"].value == 5
    # Rows not printed are null, not zero.
    assert doc.fields["requests.denied.state_secret.natural"].value is None


def test_placeholders_are_zero_and_keep_their_raw_text(tmp_path):
    body = B_HEAD + "一、本年新收政府信息公开申请数量\t-\t—\t/\t无\t-\t-\t-\n" \
        "二、上年结转政府信息公开申请数量\t0\t0\t0\t0\t0\t0\t0\n（七）总计\t0\t0\t0\t0\t0\t0\t0\n"
    doc = extract(write(tmp_path, body))
    f = doc.fields["requests.new.commercial"]
    assert f.value == 0 and f.raw == "—"


def test_publication_date_is_not_the_year(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("某某街道2022年政府信息公开工作\n年 度 报 告\n（2023年1月12日）\n一、总体情况\n无。\n某某街道办事处\n2023年1月12日\n",
                    encoding="utf-8")
    doc = extract(path)
    assert doc.year == 2022
    assert doc.agency == "某某街道办事处"
    assert doc.template == "v2021" and not any(doc.found.values())


@pytest.mark.parametrize("sep", ["\t", " | ", "\n"])
def test_table_c_in_any_separator(tmp_path, sep):
    values = ["0", "1", "0", "0", "1", "2", "0", "0", "0", "2", "0", "0", "0", "0", "0"]
    body = B_HEAD + "一、本年新收政府信息公开申请数量\t0\t0\t0\t0\t0\t0\t0\n（七）总计\t0\t0\t0\t0\t0\t0\t0\n" \
        "四、结转下年度继续办理\t0\t0\t0\t0\t0\t0\t0\n" \
        "四、政府信息公开行政复议、行政诉讼情况\n行政复议\t行政诉讼\n结果维持\t结果纠正\t其他结果\t尚未审结\t总计\t未经复议直接起诉\t复议后起诉\n" \
        + sep.join(values) + "\n五、存在的主要问题及改进情况\n2022年计划培训3次。\n"
    doc = extract(write(tmp_path, body))
    assert doc.found["appeals"]
    assert doc.fields["appeals.review.corrected"].value == 1
    assert doc.fields["appeals.litigation_direct.upheld"].value == 2
    assert all(c.passed for c in doc.checks if c.rule == "R4")
