"""Property-based tests (hypothesis) of the readers, the digit decoder and the JSON record.

For arbitrary bytes, arbitrary text and report-like text written to .txt/.md/.html files,
``nianbao.extract``:
  - never raises and never crashes inside a stage (no ``*_failed`` error code);
  - never produces a value that is not printed: every non-zero value's digits are a substring of one
    printed number of what the reader read (zeros may stand for empty cells of a printed row);
  - gives a record that ``json.dumps(..., allow_nan=False, ensure_ascii=False)`` writes as valid UTF-8.
The decoder cuts run-together digits only between printed digits: every reading of a run gives
back exactly the printed digits, in order, with no leading zeros.

Example counts are kept small so the whole file runs in well under 30 s on 2 cores.
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nianbao.document import Line, Segment, Table  # noqa: E402
from nianbao.inference import decode  # noqa: E402
from nianbao.inference.locate import Chunk, RowRun  # noqa: E402
from nianbao.inference.output import to_record  # noqa: E402
from nianbao.inference.pipeline import Pipeline, PipelineOptions  # noqa: E402
from nianbao.inference.readers import read_document  # noqa: E402
from nianbao.errors import ReadError  # noqa: E402
from nianbao.schema import load_schema  # noqa: E402

SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])

# -- what the pipeline is given ------------------------------------------------------------------

_SCHEMA = load_schema()
ROW_LABELS = sorted({(row.prefix or "") + label for template in ("v2019", "v2021") for name in ("proactive", "requests")
                     for row in _SCHEMA.table(template, name).rows for label in row.labels
                     if not label.startswith("re:")})
TITLE = "某某街道办事处2021年政府信息公开工作年度报告"
HEADERS = ["自然人", "法人或其他组织", "商业企业", "总计", "信息内容", "本年新制作数量", "处理决定数量",
           "行政复议", "行政诉讼", "维持", "纠正", "尚未审结", "第二十条第（一）项", "三、本年度办理结果"]

printed_numbers = st.one_of(
    st.from_regex(r"[0-9]{1,9}", fullmatch=True),
    st.from_regex(r"[0-9]{1,6}\.[0-9]{1,2}(元|万元)?", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,3}(,[0-9]{3}){0,2}", fullmatch=True),
    st.sampled_from(["-", "—", "/", "无", "０", "１２", "٣", "①", "1e308", "NaN", "Infinity", "9" * 40]),
)
separators = st.sampled_from(["\t", " ", "\u3000", "\xa0", "\t\t", " | "])
noise = st.one_of(st.sampled_from(HEADERS), st.text(max_size=6), st.sampled_from(["\n", "\f", "\n\n"]))
# A report-like text: an optional title, then rows of a schema label and printed numbers, with noise.
report_rows = st.lists(
    st.tuples(st.sampled_from(ROW_LABELS), st.lists(printed_numbers, max_size=8), separators, st.lists(noise, max_size=2)),
    min_size=3, max_size=30)


titled = st.sampled_from([True, True, True, False])  # mostly titled: untitled scraps are refused early


def report_text(title: bool, rows) -> str:
    lines = [TITLE] if title else []
    for label, numbers, sep, extra in rows:
        lines.append(sep.join([label, *numbers]) + "".join(extra))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(PipelineOptions())


# -- what "printed" means -------------------------------------------------------------------------

def _fold_digits(text: str) -> str:
    """Compatibility forms folded (full-width, circled), then every decimal digit made ASCII."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.decimal(ch, None) is not None else ch for ch in text)


def printed_digit_runs(text: str) -> list[str]:
    """The digits of every number printed in ``text`` (thousands separators and a decimal point
    kept inside one number)."""
    return [re.sub(r"[^0-9]", "", m) for m in re.findall(r"[0-9](?:[0-9,.]*[0-9])?", _fold_digits(text))]


def value_digits(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(abs(int(value)))  # exact, however many digits
    return format(abs(value), "f").rstrip("0").rstrip(".").replace(".", "")


def read_text_of(path: Path) -> str:
    """Everything the reader read: lines and cells (what the mapper may take numbers from)."""
    try:
        doc = read_document(path)
    except ReadError:
        return ""
    parts = []
    for page in doc.pages:
        for block in page.blocks:
            if isinstance(block, Line):
                parts.append(block.text)
            elif isinstance(block, Table):
                parts.extend(c.text for c in block.cells)
    return "\n".join(parts)


def assert_sound(path: Path, pipeline: Pipeline) -> dict:
    doc = pipeline.run(path)  # the API never raises for a bad file
    assert doc.error is None or not doc.error.code.endswith("_failed"), doc.error
    rec = to_record(doc)
    line = json.dumps(rec, allow_nan=False, ensure_ascii=False)
    line.encode("utf-8")  # strict: a lone surrogate would raise here
    assert json.loads(line) == json.loads(json.dumps(rec, allow_nan=False))
    runs = printed_digit_runs(read_text_of(path)) if rec["fields"] else []
    for key, field in rec["fields"].items():
        value = field["value"]
        if value is None or value == 0:
            continue  # 0 may be a printed-empty cell of a printed row ("-", "", "无")
        raw_digits = re.sub(r"[^0-9]", "", _fold_digits(field["raw"] or ""))
        assert raw_digits and any(raw_digits in run for run in runs), (key, field, runs[:20])
        if key.endswith("amount_yuan"):
            continue  # 万元 is multiplied out: 1.5万元 -> 15000
        assert value_digits(value) in raw_digits, (key, field)
    if doc.error is not None:
        assert rec["fields"] == {} and not any(t["found"] for t in rec["tables"].values())
    return rec


# -- extract on arbitrary files ---------------------------------------------------------------------

@settings(max_examples=40, **SETTINGS)
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".txt", ".md", ".html", "", ".pdf", ".docx"]))
def test_arbitrary_bytes_never_raise_or_invent(tmp_path, pipeline, data, suffix):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    assert_sound(path, pipeline)


@settings(max_examples=30, **SETTINGS)
@given(text=st.text(max_size=600), suffix=st.sampled_from([".txt", ".md", ".html"]),
       encoding=st.sampled_from(["utf-8", "gb18030", "utf-16"]))
def test_arbitrary_text_never_raises_or_invents(tmp_path, pipeline, text, suffix, encoding):
    path = tmp_path / f"input{suffix}"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:  # lone surrogates: not text any encoder writes
        path.write_bytes(text.encode(encoding, errors="replace"))
    assert_sound(path, pipeline)


@settings(max_examples=60, **SETTINGS)
@given(title=titled, rows=report_rows, suffix=st.sampled_from([".txt", ".md"]))
def test_report_like_text_never_invents_values(tmp_path, pipeline, title, rows, suffix):
    path = tmp_path / f"report{suffix}"
    path.write_text(report_text(title, rows), encoding="utf-8")
    assert_sound(path, pipeline)


@settings(max_examples=30, **SETTINGS)
@given(title=titled, rows=report_rows)
def test_report_like_html_tables_never_invent_values(tmp_path, pipeline, title, rows):
    from html import escape

    body = "".join("<tr><td>" + escape(label) + "</td>" + "".join(f"<td>{escape(v)}</td>" for v in numbers) + "</tr>"
                   for label, numbers, _, _ in rows)
    heading = f"<h1>{TITLE}</h1>" if title else ""
    path = tmp_path / "report.html"
    path.write_text(f"<html><head><meta charset='utf-8'></head><body>{heading}<table>{body}</table></body></html>",
                    encoding="utf-8")
    assert_sound(path, pipeline)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MUTATED = [EXAMPLES / "real_005.txt", EXAMPLES / "real2_004.html"]


@settings(max_examples=25, **SETTINGS)
@given(source=st.sampled_from(MUTATED),
       edits=st.lists(st.tuples(st.floats(min_value=0, max_value=1, exclude_max=True),
                                st.sampled_from([b"", b"\xff", b"0", b"7", b"\t", b"-", b"\n", b" 1 ", b"</td><td>"])),
                      min_size=1, max_size=12))
def test_a_damaged_real_report_never_invents_values(tmp_path, pipeline, source, edits):
    # Bytes dropped, replaced or inserted anywhere in a real report: whatever is read was printed.
    data = bytearray(source.read_bytes())
    for where, insert in edits:
        at = int(where * len(data))
        data[at:at + 1] = insert
    path = tmp_path / f"damaged{source.suffix}"
    path.write_bytes(bytes(data))
    assert_sound(path, pipeline)


# -- the digit decoder ------------------------------------------------------------------------------

def _all_splits(digits: str, parts: int) -> set[tuple[str, ...]]:
    """Every cut of ``digits`` into ``parts`` numbers without leading zeros, by brute force."""
    n = len(digits)
    out = set()
    for cuts in _combinations(range(1, n), parts - 1):
        bounds = (0, *cuts, n)
        pieces = tuple(digits[a:b] for a, b in zip(bounds, bounds[1:]))
        if all((len(p) == 1 or p[0] != "0") and len(p) <= decode.MAX_PIECE_DIGITS for p in pieces):
            out.add(pieces)
    return out


def _combinations(items, k):
    import itertools

    return itertools.combinations(items, k)


@settings(max_examples=200, **SETTINGS)
@given(digits=st.from_regex(r"[0-9]{1,11}", fullmatch=True), parts=st.integers(min_value=1, max_value=7))
def test_split_digits_gives_back_the_printed_digits(digits, parts):
    splits = [tuple(s) for s in decode.split_digits(digits, parts)]
    for split in splits:
        assert "".join(split) == digits and len(split) == parts
        assert all(len(p) == 1 or p[0] != "0" for p in split)
    assert len(splits) == len(set(splits))  # no cut is listed twice
    assert set(splits) == _all_splits(digits, parts)  # and none is missed


def _run(texts: list[str]) -> list[Chunk]:
    seg = Segment(text=" ".join(texts))
    return [Chunk(raw=t, segment=seg, kind="number") for t in texts]


@settings(max_examples=60, **SETTINGS)
@given(texts=st.lists(st.from_regex(r"[1-9][0-9]{0,9}|0", fullmatch=True), min_size=1, max_size=4),
       width=st.sampled_from([1, 3, 7]))
def test_every_reading_of_a_run_concatenates_back_to_its_digits(texts, width):
    chunks = _run(texts)
    printed = "".join(texts)
    for reading in decode.enumerate_readings(chunks, width):
        assert len(reading.pieces) == width
        got = "".join(p.text for p in reading.pieces)  # lost cells are "" (read as blank)
        kept = "".join(texts[:width]) if len(texts) > width else printed  # extra values are dropped
        assert got == kept, (texts, [p.text for p in reading.pieces])
        for p in reading.pieces:
            assert p.value == (int(p.text) if p.text else 0)


@settings(max_examples=60, **SETTINGS)
@given(texts=st.lists(st.from_regex(r"[1-9][0-9]{0,8}|0", fullmatch=True), min_size=1, max_size=3))
def test_the_decided_row_keeps_the_printed_digits(texts):
    row = _SCHEMA.table("v2021", "requests").row("new")
    keys = row.field_keys()
    run = RowRun(row=row, label=row.labels[0], chunks=_run(texts))
    decision = decode.decide_row(run, keys, "requests", frozenset())
    if decision is None:
        return  # no reading fits (e.g. more digits than seven numbers can hold): nothing is made up
    best = decision.best()
    assert "".join(p.text for p in best.pieces) == "".join(texts)  # at most 3 chunks for 7 cells: none dropped
    for key, fv in decode.field_values(decision).items():
        if fv.value:
            assert value_digits(fv.value) in "".join(texts)
