"""Row-level labels from a reviewed document: which printed row is which schema row, from the
reviewed values and the structure placement they confirm; retraining tags those label spans."""
import dataclasses

import pytest

from nianbao.labels import LabelledDocument
from nianbao.training.retrain import ROWS, corrected_tags, make_pipeline
from nianbao.training.row_labels import row_label_tags, row_labels, table_row_labels
from nianbao.training.train import IGNORE

# Table A of a v2021 report as tab-separated text. The normative row's label is unrecognisable (structure
# places it by order and its three cells); the punishment row's label too, with the enforcement row not
# printed, so structure cannot tell which of the two rows its one cell is (left unplaced).
REPORT = """某某市某某局2021年政府信息公开工作年度报告
一、总体情况
本年度我局认真落实政府信息公开工作。
二、主动公开政府信息情况
第二十条第（一）项
信息内容\t本年制发件数\t本年废止件数\t现行有效件数
规章\t2\t0\t15
甲乙丙丁文件\t8\t3\t40
第二十条第（五）项
信息内容\t本年处理决定数量
行政许可\t120
第二十条第（六）项
信息内容\t本年处理决定数量
戊己庚\t35
第二十条第（八）项
信息内容\t本年收费金额（单位：万元）
行政事业性收费\t1.5
"""

REVIEWED = {"proactive.rules.issued": 2, "proactive.rules.repealed": 0, "proactive.rules.in_force": 15,
            "proactive.normative.issued": 8, "proactive.normative.repealed": 3, "proactive.normative.in_force": 40,
            "proactive.licensing.decisions": 121,  # the reviewer's correction: printed 120
            "proactive.punishment.decisions": 35, "proactive.enforcement.decisions": None,
            "proactive.fees.amount_wan": 1.5}


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    path = tmp_path_factory.mktemp("rows") / "report.txt"
    path.write_text(REPORT, encoding="utf-8")
    gold = LabelledDocument(id="constructed", document=path, agency=None, year=2021, template="v2021",
                            found={"proactive": True, "requests": False, "appeals": False}, values=dict(REVIEWED))
    doc = make_pipeline(None).run(path)
    located = doc.located["proactive"]
    # The reading this test is about: one row placed by structure, one left unplaced.
    assert any(r.row.key == "normative" and r.by_structure for r in located.runs)
    assert [o.chunks[0].raw for o in located.unplaced] == ["35"]
    return gold, doc


def _text(doc, span):
    return doc.linear.norm[span[0]:span[1]] if span else None


def test_printed_rows_are_told_by_the_reviewed_values(reviewed):
    gold, doc = reviewed
    labels = table_row_labels(gold, doc, "proactive")
    got = {r.key: (r.how, _text(doc, r.label), [_text(doc, v) for v in r.values]) for r in labels.rows}
    assert got == {
        "rules": ("label", "规章", ["2", "0", "15"]),
        "normative": ("structure", "甲乙丙丁文件", ["8", "3", "40"]),  # the placement the values confirm
        "punishment": ("values", "戊己庚", ["35"]),  # unplaced numbers only one reviewed row has
        "fees": ("label", "行政事业性收费", ["1.5"]),
    }
    # The corrected row's printed numbers are not the reviewed ones: it teaches nothing.
    assert labels.unresolved == 1 and labels.unprinted == ["licensing"] and not labels.complete
    assert set(row_labels(gold, doc)) == {"proactive"}


def test_numbers_several_rows_share_or_out_of_order_teach_nothing(reviewed):
    gold, doc = reviewed
    # The unplaced 35 also equals the enforcement row's reviewed value: it could be either row.
    both = dataclasses.replace(gold, values={**gold.values, "proactive.enforcement.decisions": 35})
    keys = {r.key for r in table_row_labels(both, doc, "proactive").rows}
    assert "punishment" not in keys and "enforcement" not in keys and "normative" in keys
    # Numbers equal to the reviewed values of a row printed before a confirmed one break the row order.
    swapped = dataclasses.replace(gold, values={**gold.values, "proactive.punishment.decisions": 0,
                                                                "proactive.rules.in_force": 35,
                                                                "proactive.rules.issued": None,
                                                                "proactive.rules.repealed": None})
    keys = {r.key for r in table_row_labels(swapped, doc, "proactive").rows}
    assert "rules" not in keys and "punishment" not in keys


def test_retraining_tags_the_identified_label_spans(reviewed):
    gold, doc = reviewed
    tags, sources = corrected_tags(gold, {"baseline": doc})
    assert sources["proactive"] == ROWS
    norm = doc.linear.norm

    def spans(entity):
        return [norm[i:j] for i in range(len(tags)) if tags[i] == f"B-{entity}"
                for j in [next((k for k in range(i + 1, len(tags) + 1) if k == len(tags) or tags[k] != f"I-{entity}"))]]

    assert spans("proactive.normative") == ["甲乙丙丁文件"]
    assert spans("proactive.punishment") == ["戊己庚"]
    assert spans("proactive.rules") == ["规章"]
    assert "40" in spans("VALUE") and "35" in spans("VALUE") and "120" not in spans("VALUE")
    # The corrected row is masked, not taught as O or as its row; so is the rest of the incomplete table.
    at = norm.index("行政许可")
    assert set(tags[at:at + 4]) == {IGNORE}
    (lo, hi), table_tags = row_label_tags(doc, table_row_labels(gold, doc, "proactive"), "O", IGNORE)
    assert "O" not in table_tags and tags[lo:hi] == table_tags


def test_a_complete_table_teaches_the_rest_as_outside(reviewed):
    gold, doc = reviewed
    printed = dataclasses.replace(gold, values={**gold.values, "proactive.licensing.decisions": 120})
    labels = table_row_labels(printed, doc, "proactive")
    assert labels.complete
    (lo, hi), table_tags = row_label_tags(doc, labels, "O", IGNORE)
    assert "B-proactive.licensing" in table_tags
    norm = doc.linear.norm[lo:hi]
    # The header before the first row is taught as O; text between rows (a sub-header here, a damaged
    # group line elsewhere) is masked, never taught as O.
    assert set(table_tags[:norm.index("规章")]) == {"O"}
    between = norm.index("本年处理决定数量")
    assert set(table_tags[between:between + 8]) == {IGNORE}
