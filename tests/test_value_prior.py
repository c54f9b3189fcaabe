"""The learned value prior: trains, saves, reloads with the same scores; never sees held-out documents."""
import json
import math

import pytest

from nianbao.document import Segment
from nianbao.inference import decode, plausibility
from nianbao.inference.locate import Chunk, RowRun
from nianbao.inference.plausibility import ValuePrior
from nianbao.schema import load_schema
from nianbao.training import value_prior as vp

NORMATIVE = ["proactive.normative.issued", "proactive.normative.repealed", "proactive.normative.in_force"]


def tiny_samples(n: int = 40) -> list[vp.ValueSample]:
    """Reports of every size where, within a report, the stock is ~20x the year's flows: the
    magnitudes overlap across reports, the ratio within one does not."""
    out = []
    for i in range(n):
        scale = int(10 ** (i % 10 / 3))  # 1 .. ~500
        values = {NORMATIVE[0]: scale, NORMATIVE[1]: scale + i % 3, NORMATIVE[2]: 20 * scale + i,
                  "requests.new.natural": 0 if i % 2 else 12, "requests.new.total": 0 if i % 2 else 12}
        out.append(vp.ValueSample(doc_id=f"t{i}", template="v2021", values=values))
    return out


@pytest.fixture
def restore_prior():
    previous = plausibility.active_prior()
    yield
    plausibility.set_prior(previous)


def test_overfit_then_save_then_reload_gives_the_same_scores(tmp_path, restore_prior):
    prior = vp.train_prior(tiny_samples(), seed=1)
    # Overfit: what the data shows is far more likely than what it never shows.
    assert prior.log_prob(0, "requests.new.commercial") > prior.log_prob(5, "requests.new.commercial")
    assert prior.log_prob(2, NORMATIVE[0]) > prior.log_prob(20000, NORMATIVE[0]) + 5
    stock_large = dict(zip(NORMATIVE, (20, 21, 400)))
    stock_small = dict(zip(NORMATIVE, (400, 21, 20)))
    assert prior.log_relation(stock_large) > prior.log_relation(stock_small)
    path = tmp_path / "prior.json"
    prior.save(path)
    again = ValuePrior.load(path)
    for key in NORMATIVE + ["requests.new.natural", "appeals.review.total", "proactive.fees.amount_wan"]:
        for v in (0, 1, 3, 12, 350, 2000, 7.5, -3):
            assert again.log_prob(v, key) == prior.log_prob(v, key)
    assert again.log_relation(stock_large) == prior.log_relation(stock_large)
    assert again.relation_bound() == prior.relation_bound()
    # And the decoder, given the reloaded prior, reads "5712" as a stock after its flows.
    plausibility.set_prior(again)
    row = load_schema().table("v2021", "proactive").row("normative")
    run = RowRun(row=row, label="行政规范性文件", chunks=[Chunk(raw="56112", segment=Segment(text=""), kind="number")])
    fields = decode.field_values(decode.decide_row(run, NORMATIVE, "proactive", frozenset()))
    assert [f.value for f in fields.values()] == [5, 6, 112]
    # Chosen by the prior alone (no rule binds Table A): doubted, alternatives listed.
    assert all(f.confidence <= 0.85 and f.alternatives and f.reason for f in fields.values())


def test_a_prior_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "prior.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a value prior"):
        ValuePrior.load(path)


def test_held_out_documents_are_never_trained_on(tmp_path, restore_prior):
    held = vp.holdout_ids()
    assert held and "real_010" in held
    out = tmp_path / "prior.json"
    assert vp.main(["--factory-n", "3", "--no-measure", "--out", str(out)]) == 0
    prov = json.loads(out.read_text())["provenance"]
    assert prov["held_out_never_trained_on"] == held
    assert not set(prov["real"]["documents"]) & set(held)
    assert prov["factory"]["documents"] == 3


def test_split_measurement_counts_right_picks(restore_prior):
    prior = vp.train_prior(tiny_samples(), seed=1)
    report = vp.split_cases(tiny_samples(8), prior)
    assert report.ambiguous > 0 and report.right <= report.ambiguous
    assert all(c.printed.isdigit() for c in report.cases)


def test_trust_margin_needs_enough_right_picks():
    cases = [vp.SplitCase("d", "factory", [], "1", right=True, margin=float(m)) for m in range(1, 6001)]
    cases.append(vp.SplitCase("d", "factory", [], "1", right=False, margin=1500.0))
    margin, stats = vp.trust_margin(cases)
    assert margin is not None and stats["error_upper_bound_95"] <= 0.001 and stats["rows_at_or_above"] >= 2700
    assert vp.trust_margin(cases[:2000])[0] is None  # 2,000 right picks do not show 99.9% with confidence
    real_wrong = [vp.SplitCase("r", "real", [], "1", right=False, margin=5900.0)]
    assert vp.trust_margin(cases, real_cases=real_wrong)[0] is None
    assert vp.error_upper_bound(0, 3000) < 0.001 < vp.error_upper_bound(0, 2000)
