"""Splitting run-together digits and choosing readings: no document, no model."""
from nianbao.document import Segment
from nianbao.inference import decode
from nianbao.inference.locate import Chunk

TEXT = Segment(text="")
GRID = Segment(text="", from_grid=True)


def chunks(*raws, segment=TEXT):
    return [Chunk(raw=r, segment=segment, kind="number" if any(c.isdigit() for c in r) else "placeholder") for r in raws]


def values(reading):
    return [p.value for p in reading.pieces]


def test_split_digits_has_no_leading_zeros():
    assert sorted(decode.split_digits("018", 2)) == [["0", "18"]]
    assert list(decode.split_digits("00", 2)) == [["0", "0"]]
    assert list(decode.split_digits("00", 1)) == []


def test_row_split_unique_by_rule_1():
    keys = [f"requests.new.{c}" for c in ("natural", "commercial", "research", "social", "legal", "other", "total")]
    run = chunks("713000074")
    readings = decode.enumerate_readings(run, 7)
    decode.score_row(readings, keys, "requests", frozenset())
    assert values(readings[0]) == [71, 3, 0, 0, 0, 0, 74]
    consistent = [r for r in readings if r.hard == 0]
    assert len(consistent) == 1


def test_misleading_spaces_are_resolved():
    keys = [f"requests.new.{c}" for c in ("natural", "commercial", "research", "social", "legal", "other", "total")]
    readings = decode.enumerate_readings(chunks("160", "02", "0", "018"), 7)
    decode.score_row(readings, keys, "requests", frozenset())
    assert values(readings[0]) == [16, 0, 0, 2, 0, 0, 18]


def test_grid_cells_are_never_split():
    readings = decode.enumerate_readings(chunks("396", "0", "181", segment=GRID), 3)
    assert [values(r) for r in readings] == [[396, 0, 181]]
    assert decode.enumerate_readings(chunks("3960181", segment=GRID), 3)[0].hard < 0  # a lost-cell reading only


def test_ambiguous_table_a_row_is_doubted():
    from nianbao.inference.locate import RowRun
    from nianbao.schema import load_schema

    row = load_schema().table("v2019", "proactive").row("licensing")
    run = RowRun(row=row, label="行政许可", chunks=chunks("3960181"))
    d = decode.decide_row(run, row.field_keys(), "proactive", frozenset())
    fields = decode.field_values(d)
    assert [f.value for f in fields.values()] == [396, 0, 181]
    assert all(f.confidence < 0.9 for f in fields.values())
    assert all(f.alternatives for f in fields.values())


def test_lost_cells_of_zeros_are_certain():
    keys = [f"requests.granted.{c}" for c in ("natural", "commercial", "research", "social", "legal", "other", "total")]
    from nianbao.inference.locate import RowRun
    from nianbao.schema import load_schema

    row = load_schema().table("v2019", "requests").row("granted")
    run = RowRun(row=row, label="予以公开", chunks=chunks(*["0"] * 6))
    fields = decode.field_values(decode.decide_row(run, keys, "requests", frozenset()))
    assert all(f.value == 0 and f.confidence > 0.95 for f in fields.values())


def test_money_in_wan_yuan_is_converted_to_yuan():
    keys = ["proactive.procurement.items", "proactive.procurement.amount_yuan"]
    readings = decode.enumerate_readings(chunks("3", "1690.9913万元", segment=GRID), 2)
    assert decode.reading_values(readings[0], keys) == {keys[0]: 3, keys[1]: 16909913.0}


def test_prose_evidence_breaks_a_tie():
    from nianbao.inference.locate import RowRun
    from nianbao.schema import load_schema

    row = load_schema().table("v2021", "proactive").row("normative")
    run = RowRun(row=row, label="行政规范性文件", chunks=chunks("8855698"))
    with_prose = decode.field_values(decode.decide_row(run, row.field_keys(), "proactive", frozenset({88.0, 698.0})))
    assert [f.value for f in with_prose.values()] == [88, 55, 698]
