"""The rules as pure functions of values."""
from nianbao.inference import reconcile

COLS = ("natural", "commercial", "research", "social", "legal", "other", "total")


def table_b(new=(1, 0, 0, 0, 0, 0, 1), granted=(1, 0, 0, 0, 0, 0, 1)):
    v = {}
    for c, x in zip(COLS, new):
        v[f"requests.new.{c}"] = x
        v[f"requests.carried_over.{c}"] = 0
        v[f"requests.results_total.{c}"] = x
        v[f"requests.carried_forward.{c}"] = 0
    for c, x in zip(COLS, granted):
        v[f"requests.granted.{c}"] = x
    return v


def test_all_rules_pass_on_a_consistent_table():
    checks = reconcile.run_checks(table_b(), "v2021", {"requests": True})
    assert checks and all(c.passed for c in checks)
    assert {c.rule for c in checks} == {"R1", "R2", "R3"}


def test_broken_row_total_reports_cells_and_difference():
    v = table_b(new=(5, 1, 0, 0, 0, 0, 5))
    c = reconcile.rule1(v, "new")
    assert not c.passed and c.difference == -1
    assert "requests.new.total" in c.cells and "requests.new.commercial" in c.cells


def test_rule_2_uses_the_template_rows():
    v = table_b()
    v["requests.other.other.natural"] = 2  # v2021 sub-row counts toward results_total
    assert not reconcile.rule2(v, "v2021", "natural").passed
    assert reconcile.rule2(v, "v2019", "natural").passed  # v2019 has no other.other


def test_rule_4_appeals():
    v = {"appeals.review.upheld": 1, "appeals.review.corrected": 1, "appeals.review.other": 0,
         "appeals.review.pending": 0, "appeals.review.total": 3}
    c = reconcile.rule4(v, "review")
    assert not c.passed and c.difference == 1


def test_cross_year_rule_5():
    earlier = {"requests.carried_forward.total": 2, "proactive.normative.in_force": 665}
    later = {"requests.carried_over.total": 2, "proactive.normative.in_force": 698,
             "proactive.normative.issued": 88, "proactive.normative.repealed": 55}
    checks = reconcile.cross_year_checks(earlier, later, "v2021")
    assert checks and all(c.passed for c in checks)
