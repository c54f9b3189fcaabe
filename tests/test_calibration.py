"""The accept policy measured by training/calibrate.py: threshold choice, error rates, coverage, and the
contract review.queue reads from models/calibration.json."""
import json

import numpy as np
import pytest

from nianbao.training.calibrate import (THRESHOLDS, accept_policy, accept_table, apply_map, choose_threshold, ece,
                                        upper_bound)


def _fields(spec):
    """[(confidence, how many fields, how many of them wrong)] -> (conf, correct) arrays."""
    conf, correct = [], []
    for c, n, wrong in spec:
        conf += [c] * n
        correct += [0.0] * wrong + [1.0] * (n - wrong)
    return np.asarray(conf), np.asarray(correct)


def test_table_counts_fields_at_or_above_each_threshold():
    conf, correct = _fields([(0.5, 10, 5), (0.95, 40, 2), (0.99, 50, 0)])
    rows = {r["threshold"]: r for r in accept_table(conf, correct, (0.9, 0.95, 0.99, 0.999))}
    assert rows[0.9]["fields"] == 90 and rows[0.9]["errors"] == 2
    assert rows[0.9]["error_rate"] == pytest.approx(2 / 90, abs=1e-6)
    assert rows[0.9]["coverage"] == pytest.approx(0.9)
    assert rows[0.95]["fields"] == 90          # at or above: 0.95 itself is accepted at 0.95
    assert rows[0.99]["fields"] == 50 and rows[0.99]["error_rate"] == 0.0 and rows[0.99]["coverage"] == 0.5
    assert rows[0.999]["fields"] == 0 and rows[0.999]["error_rate"] is None and rows[0.999]["coverage"] == 0.0
    # The upper bound of 0 errors in 50 is the rule of three's ~3/50, not 0.
    assert 0.05 < rows[0.99]["error_rate_upper95"] < 0.065


def test_lowest_threshold_meeting_the_target_is_chosen():
    # 0.9 and above: 2 wrong of 2000 (0.1% is met exactly, ≤); 0.95 and above: 0 wrong.
    conf, correct = _fields([(0.92, 1000, 2), (0.999, 1000, 0)])
    row, met = choose_threshold(accept_table(conf, correct), target=0.001)
    assert met and row["threshold"] == 0.9 and row["coverage"] == 1.0
    # 3 wrong in the low band: 0.9 misses the target, 0.95 is the lowest that meets it.
    conf, correct = _fields([(0.92, 1000, 3), (0.999, 1000, 0)])
    row, met = choose_threshold(accept_table(conf, correct), target=0.001)
    assert met and row["threshold"] == 0.95 and row["fields"] == 1000 and row["coverage"] == 0.5
    # A stricter target moves it up; a looser one down.
    conf, correct = _fields([(0.92, 1000, 1), (0.985, 1000, 1), (0.9992, 1000, 0)])
    assert choose_threshold(accept_table(conf, correct), target=0.001)[0]["threshold"] == 0.9    # 2 / 3000
    assert choose_threshold(accept_table(conf, correct), target=0.0006)[0]["threshold"] == 0.95  # 1 / 2000
    assert choose_threshold(accept_table(conf, correct), target=0.0)[0]["threshold"] == 0.99     # 0 / 1000


def test_no_threshold_meets_the_target_falls_back_to_099_marked():
    conf, correct = _fields([(0.999, 100, 5)])
    policy = accept_policy(conf, correct, "test data")
    assert policy["threshold"] == 0.99 and policy["meets_target"] is False
    assert policy["error_rate"] == pytest.approx(0.05) and policy["fields"] == 100
    # A threshold no field reaches is never chosen, even though it has no measured errors.
    conf, correct = _fields([(0.5, 100, 0)])
    policy = accept_policy(conf, correct, "test data")
    assert policy["threshold"] == 0.99 and not policy["meets_target"] and policy["error_rate"] is None


def test_every_set_must_meet_the_target_unless_pooled():
    # Set "a" misreads in the 0.95 band; set "b" never misreads and dilutes the pooled error rate.
    ca, ka = _fields([(0.96, 1000, 4), (0.9995, 1000, 0)])
    cb, kb = _fields([(0.96, 8000, 0), (0.9995, 8000, 0)])
    conf, correct = np.concatenate([ca, cb]), np.concatenate([ka, kb])
    sets = np.asarray(["a"] * len(ca) + ["b"] * len(cb), dtype=object)
    pooled = accept_policy(conf, correct, "x")
    each = accept_policy(conf, correct, "x", sets=sets)
    assert pooled["threshold"] == 0.9 and pooled["error_rate"] == pytest.approx(4 / 18000, abs=1e-6)
    assert each["threshold"] == 0.98 and each["error_rate"] == 0.0 and each["meets_target"]
    assert each["coverage"] == pytest.approx(0.5) and each["target_in_every_set"]


def test_policy_keeps_the_contract_review_queue_reads(tmp_path):
    from nianbao.review.queue import load_accept_policy

    conf, correct = _fields([(0.9, 500, 5), (0.9992, 4000, 1)])
    policy = accept_policy(conf, correct, "4 factory docs + 1 real doc")
    assert {"threshold", "error_rate", "fields", "measured_on", "table"} <= set(policy)
    assert [r["threshold"] for r in policy["table"]] == list(THRESHOLDS)
    assert all({"threshold", "error_rate", "fields", "coverage"} <= set(r) for r in policy["table"])
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"x": [0, 1], "y": [0, 1], "accept_policy": policy}), encoding="utf-8")
    loaded = load_accept_policy(path)
    assert loaded.threshold == 0.95 and loaded.fields == 4000 and loaded.error_rate == pytest.approx(0.00025)
    assert loaded.measured_on == "4 factory docs + 1 real doc"
    at_09 = load_accept_policy(path, threshold=0.9)
    assert at_09.fields == 4500 and at_09.error_rate == pytest.approx(6 / 4500, abs=1e-6)


def test_apply_map_remaps_plain_readings_as_the_pipeline_does():
    mapping = {"x": [0.0, 0.9, 0.995, 1.0], "y": [0.1, 0.5, 0.99993, 0.99993]}
    conf = np.asarray([0.995, 0.95, 0.95, 0.45])
    plain = np.asarray([True, True, False, True])
    out = apply_map(conf, plain, mapping)
    assert out[0] == 0.9999                      # rounded to 4 places, as CalibrateStage stores it
    assert out[1] == round(0.5 + (0.05 / 0.095) * 0.49993, 4)
    assert out[2] == 0.95                        # a doubted reading keeps its score
    assert out[3] == 0.3


def test_ece_and_upper_bound():
    conf = np.full(1000, 0.9)
    assert ece(conf, np.r_[np.ones(900), np.zeros(100)]) == pytest.approx(0.0)
    assert ece(conf, np.ones(1000)) == pytest.approx(0.1)
    assert upper_bound(0, 0) is None and upper_bound(5, 5) == 1.0
    assert upper_bound(0, 3000) == pytest.approx(1 - 0.05 ** (1 / 3000), rel=1e-6)
    assert upper_bound(10, 10000) > 0.001


def test_shipped_policy_is_measured_on_held_out_data():
    from pathlib import Path

    data = json.loads((Path(__file__).resolve().parents[1] / "models" / "calibration.json").read_text("utf-8"))
    policy = data["accept_policy"]
    assert policy["threshold"] in THRESHOLDS and policy["fields"] > 10_000
    assert "real" in policy["measured_on"] and "factory" in policy["measured_on"]
    row = next(r for r in policy["table"] if r["threshold"] == policy["threshold"])
    assert row["error_rate"] == policy["error_rate"] and row["fields"] == policy["fields"]
    if policy["meets_target"]:
        assert policy["error_rate"] <= policy["target_error"]
        lower = [r for r in policy["table"] if r["threshold"] < policy["threshold"] and r["fields"]]
        assert all(r["error_rate"] > policy["target_error"] for r in lower) or policy.get("target_in_every_set")


# --- per-source maps (text layer / OCR) -----------------------------------------------------------

def _doc_with_fields():
    from nianbao.document import Document, FieldValue

    doc = Document(source="x")
    doc.fields = {"a.text": FieldValue(1.0, "1", 0.9, source="text"),
                  "b.ocr": FieldValue(2.0, "2", 0.9, source="ocr"),
                  "c.ocr_doubted": FieldValue(3.0, "3", 0.9, source="ocr", reason="rule R1 fails"),
                  "d.ocr_alternatives": FieldValue(4.0, "4", 0.9, source="ocr", alternatives=[40.0]),
                  "e.blank": FieldValue(None, None, 0.9)}
    return doc


def test_a_field_read_by_ocr_goes_through_the_ocr_map(tmp_path):
    from nianbao.inference.calibration import CalibrateStage, load_map, load_maps

    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"x": [0, 1], "y": [0.5, 0.5],
                                "sources": {"ocr": {"x": [0, 1], "y": [0.2, 0.2]}}}), encoding="utf-8")
    assert set(load_maps(str(path))) == {"text", "ocr"} and load_map(str(path))[1].tolist() == [0.5, 0.5]
    doc = CalibrateStage(path)(_doc_with_fields())
    conf = {k: f.confidence for k, f in doc.fields.items()}
    assert conf["a.text"] == 0.5          # text-layer map
    assert conf["b.ocr"] == 0.2           # the OCR map, not the text one
    # A doubted reading and one with surviving alternatives keep their scores, whatever the source.
    assert conf["c.ocr_doubted"] == 0.9 and conf["d.ocr_alternatives"] == 0.9 and conf["e.blank"] == 0.9


def test_the_one_map_format_is_still_read_and_leaves_ocr_raw(tmp_path):
    from nianbao.inference.calibration import CalibrateStage, load_maps

    path = tmp_path / "old.json"
    path.write_text(json.dumps({"x": [0, 1], "y": [0.5, 0.5], "report": {}}), encoding="utf-8")
    assert set(load_maps(str(path))) == {"text"}
    doc = CalibrateStage(path)(_doc_with_fields())
    assert doc.fields["a.text"].confidence == 0.5 and doc.fields["b.ocr"].confidence == 0.9
    # The shipped file reads as well, whichever sources it holds.
    shipped = CalibrateStage()
    assert "text" in shipped.maps and shipped.map is shipped.maps["text"]


def test_apply_maps_routes_each_field_by_source():
    from nianbao.training.calibrate import apply_maps

    maps = {"text": {"x": [0, 1], "y": [0.5, 0.5]}, "ocr": {"x": [0, 1], "y": [0.2, 0.2]}}
    conf = np.asarray([0.9, 0.9, 0.9, 0.9])
    plain = np.asarray([True, True, False, False])
    ocr = np.asarray([False, True, False, True])
    assert apply_maps(conf, plain, ocr, maps).tolist() == [0.5, 0.2, 0.9, 0.9]
    assert apply_maps(conf, plain, ocr, {"text": maps["text"], "ocr": None}).tolist() == [0.5, 0.9, 0.9, 0.9]


def test_support_cap_claims_no_more_than_the_sample_shows():
    from nianbao.training.calibrate import fit, fit_supported, support_cap

    rng = np.random.default_rng(1)
    # 2,000 fields at raw 0.95, none wrong; 500 at 0.6, a quarter wrong.
    conf = np.r_[np.full(2000, 0.95), np.full(500, 0.6)] + rng.uniform(0, 1e-3, 2500)
    correct = np.r_[np.ones(2000), (rng.random(500) > 0.25).astype(float)]
    iso = fit(conf, correct)
    assert iso["y"][-1] == 1.0                       # isotonic alone: certainty from 2,000 fields
    capped = fit_supported(conf, correct)
    top = capped["y"][-1]
    assert 1 - 4 / 2000 < top < 1 - 2 / 2000         # about 1 - 3/N: the 95% bound of 0 errors in 2,000
    assert all(a <= b for a, b in zip(capped["y"], capped["y"][1:]))   # still monotone
    # Below the doubt threshold the map is at most the identity: 0.6 read right 3 times in 4 stays 0.6.
    assert np.interp(0.6008, iso["x"], iso["y"]) > 0.7
    assert 0.59 < np.interp(0.6008, capped["x"], capped["y"]) <= 0.6008
    # Too few fields for 0.99: nothing reaches it; --max-confidence clips further.
    small = support_cap(conf[:200], correct[:200], fit(conf[:200], correct[:200]))
    assert max(small["y"]) < 0.99
    assert max(fit_supported(conf, correct, max_confidence=0.9899)["y"]) <= 0.9899
    # However large the sample, a stored (4-place) confidence never rounds to a certain 1.0.
    big = np.full(200_000, 0.99)
    assert fit_supported(big, np.ones(len(big)))["y"][-1] == 0.9999


def test_a_doubted_raw_score_stays_doubted():
    """Readers doubt a reading by scoring it below 0.9; however right such readings were in the fitting
    data, the map never raises such a score (it may lower it; it lifts none out of review)."""
    from nianbao.training.calibrate import apply_map, fit_supported

    conf = np.r_[np.full(5000, 0.85), np.full(5000, 0.97)]
    mapping = fit_supported(conf, np.ones(10000))
    out = apply_map(np.asarray([0.5, 0.85, 0.8999, 0.97]), np.ones(4, bool), mapping)
    assert out[0] <= 0.5 and out[1] <= 0.85 and out[2] < 0.9 and out[3] > 0.99   # never raised below 0.9
    assert all(a <= b for a, b in zip(mapping["y"], mapping["y"][1:]))


def test_fit_save_reload_keeps_the_other_source(tmp_path, monkeypatch):
    """`calibrate --source ocr` writes sources.ocr and keeps the text-layer map and policy; a later
    text fit keeps sources.ocr; the pipeline's stage then applies both."""
    import sys
    import types

    from nianbao.document import Document, FieldValue
    from nianbao.inference.calibration import CalibrateStage
    from nianbao.record import LabelledDocument
    from nianbao.training import calibrate as cal

    golds = [LabelledDocument(id=f"d{i}", document=tmp_path / f"d{i}.png", agency=None, year=None, template=None,
                              found={}, values={}, extra={"kind": "scan"}) for i in range(3)]
    monkeypatch.setitem(sys.modules, "bench_mappers",
                        types.SimpleNamespace(factory_docs=lambda folder, split, n: {"scan": golds}))
    rng = np.random.default_rng(2)
    n = 6000

    def records(pipeline, gs, workers=1, mapper="classifier"):
        ocr = np.r_[np.ones(n // 2, bool), np.zeros(n // 2, bool)]
        conf = np.where(ocr, 0.97, 0.995) + rng.uniform(0, 1e-3, n)
        return {"conf": conf, "correct": np.ones(n), "plain": np.ones(n, bool), "ocr": ocr,
                "group": np.arange(n) % len(gs)}

    monkeypatch.setattr(cal, "field_records", records)
    out = tmp_path / "calibration.json"
    out.write_text(json.dumps({"x": [0.0, 1.0], "y": [0.3, 0.7], "accept_policy": {"threshold": 0.98}}), "utf-8")
    assert cal.main(["--source", "ocr", "--factory", str(tmp_path), "--split", "", "--real", "", "--out", str(out)]) == 0
    data = json.loads(out.read_text("utf-8"))
    assert data["x"] == [0.0, 1.0] and data["y"] == [0.3, 0.7] and data["accept_policy"] == {"threshold": 0.98}
    ocr_map = data["sources"]["ocr"]
    assert ocr_map["report"]["source"] == "ocr" and ocr_map["report"]["fields"] == n // 2
    assert 0.99 < ocr_map["y"][-1] < 1 - 2 / n                 # 3,000 right OCR fields support ~1 - 3/3000
    doc = Document(source="x")
    doc.fields = {"o": FieldValue(1.0, "1", 0.9705, source="ocr"), "t": FieldValue(1.0, "1", 0.9705, source="text")}
    CalibrateStage(out)(doc)
    assert doc.fields["o"].confidence == round(float(np.interp(0.9705, ocr_map["x"], ocr_map["y"])), 4) > 0.99
    assert doc.fields["t"].confidence == round(0.3 + 0.4 * 0.9705, 4)
    # A text-layer fit replaces the top-level map and keeps the OCR one.
    assert cal.main(["--factory", str(tmp_path), "--split", "", "--real", "", "--out", str(out)]) == 0
    again = json.loads(out.read_text("utf-8"))
    assert again["sources"]["ocr"] == ocr_map and again["report"]["source"] == "text" and again["y"] != [0.3, 0.7]


def test_the_shipped_threshold_holds_for_ocr_read_fields_too():
    """One accept threshold serves every field: with an OCR measurement it must meet the target on the
    OCR-read fields of each scan set as well as on each text-layer set."""
    from nianbao.training.calibrate import accept_policy, with_joint_policy

    tc, tk = _fields([(0.92, 5000, 0), (0.9999, 20000, 0)])
    oc, ok = _fields([(0.93, 2000, 6), (0.9995, 3000, 0)])
    text = accept_policy(tc, tk, "text docs", sets=np.asarray(["factory text"] * len(tc), dtype=object))
    ocr = accept_policy(oc, ok, "scans", sets=np.asarray(["factory scan"] * len(oc), dtype=object))
    assert text["threshold"] == 0.9 and ocr["threshold"] == 0.95
    data = {"x": [0, 1], "y": [0, 1], "accept_policy": text,
            "heldout": {"by_set": {"factory text": {"table": text["table"]}}},
            "sources": {"ocr": {"x": [0, 1], "y": [0, 1], "accept_policy": ocr,
                                "heldout": {"by_set": {"factory scan": {"table": ocr["table"]}}}}}}
    joint = with_joint_policy(data)["accept_policy"]
    # Pooled, 0.9 would pass (6 wrong of 30,000); the OCR set alone is at 0.12% there: 0.95 is chosen.
    assert joint["threshold"] == 0.95 and joint["meets_target"] and joint["sources"] == ["text", "ocr"]
    assert joint["fields"] == 23000 and joint["errors"] == 0 and joint["fields_read"] == 30000
    assert with_joint_policy(data)["heldout"]["accept_policy"] == text
    # Re-joining a joint file keeps the text-layer policy it saved, not the joint one.
    again = with_joint_policy(with_joint_policy(data))
    assert again["accept_policy"] == joint and again["heldout"]["accept_policy"] == text


def test_cap_map_is_idempotent_and_recaps_an_older_map():
    from nianbao.training.calibrate import cap_map, fit_supported

    conf = np.r_[np.full(3000, 0.85), np.full(3000, 0.97)]
    fitted = fit_supported(conf, np.ones(len(conf)))
    assert cap_map(fitted) == fitted
    old = {"x": [0.0, 0.3653, 0.7699, 0.995, 1.0], "y": [0.25, 0.41, 0.9469, 0.99992, 0.99992]}
    capped = cap_map(old)
    ys = np.interp([0.1, 0.5, 0.85, 0.8999, 0.9, 0.995], capped["x"], capped["y"])
    assert ys[0] <= 0.1 and ys[1] <= 0.5 and ys[2] <= 0.85 and ys[3] < 0.9   # never raised below 0.9
    assert ys[5] == 0.9999 and all(a <= b for a, b in zip(capped["y"], capped["y"][1:]))
    assert max(cap_map(old, max_confidence=0.9899)["y"]) == 0.9899


def test_clipping_a_kept_measurement_moves_the_top_fields_to_the_cap():
    from nianbao.training.calibrate import HELDOUT_EDGES, accept_table, clip_measured, reliability, summary

    raw, correct = _fields([(0.85, 100, 10), (0.97, 3000, 2)])
    cal = np.where(raw >= 0.9, 0.9986, raw)
    sets = np.asarray(["factory scan"] * len(cal), dtype=object)
    policy = accept_policy(cal, correct, "scans", sets=sets)
    held = {"by_set": {"factory scan": {"table": accept_table(cal, correct)}}, "after": summary(cal, correct),
            "reliability_before": reliability(raw, correct, edges=HELDOUT_EDGES),
            "reliability_after": reliability(cal, correct, edges=HELDOUT_EDGES)}
    new, clipped = clip_measured(policy, held, 0.9899)
    again = accept_table(np.minimum(cal, 0.9899), correct)
    assert new["table"] == again and clipped["by_set"]["factory scan"]["table"] == again
    assert new["threshold"] == 0.9 and clipped["after"]["at_or_above_0.99"] == 0
    top = clipped["reliability_after"][-1]
    assert top["bin"] == "(0.98, 0.99]" and top["n"] == 3000 and top["errors"] == 2 and top["confidence"] == 0.9899
    with pytest.raises(SystemExit):   # raw readings above 0.98 would not be exact: measure again
        clip_measured(policy, {**held, "reliability_before": reliability(cal, correct, edges=HELDOUT_EDGES)}, 0.9899)


def test_a_doubted_score_is_never_interpolated_out_of_doubt():
    # Knots that step up at the doubt threshold (as the shipped maps do): a raw score between the
    # last knot under 0.9 and 0.9 itself would interpolate upward without the guard.
    import numpy as np
    from nianbao.inference.calibration import mapped

    knots = (np.array([0.0, 0.899999, 0.9, 1.0]), np.array([0.0, 0.8999, 0.9999, 0.9999]))
    assert float(mapped(0.8999995, knots)) <= 0.8999995
    assert float(mapped(0.5, knots)) <= 0.5
    assert float(mapped(0.95, knots)) == 0.9999
