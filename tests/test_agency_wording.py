"""An agency family's own wording of Table B (factory traits ``layout.label_wording=agency`` and
``content.zero_rows=omitted``, forced only) and the row-level labels a review of such a report yields:
the printed rows told by the reviewed values, the printed ordinals and the statutory order."""
import re

import pytest

from nianbao.inference.classifier import DEFAULT_MODEL_DIR, model_available
from nianbao.labels import LabelledDocument
from nianbao.schema import load_schema
from nianbao.training.factory.build import build_report
from nianbao.training.factory.content import B_COLUMNS
from nianbao.training.factory.dataset import render_own
from nianbao.training.factory.options import FactoryOptions
from nianbao.training.factory.printed_tables import AGENCY_B_GROUPS, AGENCY_B_LABELS
from nianbao.training.factory.rng import document_seed
from nianbao.training.retrain import corrected_tags, make_pipeline
from nianbao.training.row_labels import by_order, table_row_labels

AGENCY = {"layout.label_wording": "agency", "content.zero_rows": "omitted"}
SUB_GROUPS = ("denied", "unavailable", "not_processed", "other")


def _canon(text: str) -> str:
    """Without punctuation and spaces (the document's style prints parentheses and dots its own way)."""
    return re.sub(r"[\W_]", "", text)


def test_default_reports_do_not_draw_the_traits():
    for i in range(20):
        r = build_report(document_seed(11, i))
        assert "layout.label_wording" not in r.traits and "content.zero_rows" not in r.traits


def test_agency_wording_replaces_every_schema_label_of_table_b():
    schema = load_schema()
    seen = 0
    for i in range(20):
        r = build_report(document_seed(12, i), FactoryOptions(force=AGENCY))
        assert r.traits["layout.label_wording"] == "agency"
        if not r.found.get("requests"):
            continue
        seen += 1
        printed = {c.ref: c.text for b in r.blocks if getattr(b, "name", None) == "requests"
                   for c in b.cells if c.role in ("row_label", "group_label")}
        for ref, text in printed.items():
            key = ref.split(".", 1)[1]
            plain = _canon(text)
            assert plain in {_canon(w) for w in AGENCY_B_LABELS.get(key, ()) + tuple(AGENCY_B_GROUPS.values())}, (ref, text)
            # No word of the schema's labels (what the schema's spotter looks for) is printed.
            for row in schema.table(r.template, "requests").rows:
                for label in row.labels:
                    if not label.startswith("re:"):
                        assert _canon(label) not in plain, (ref, text, label)
    assert seen >= 10


def test_omitted_rows_are_zero_rows_of_groups_and_null_in_the_gold():
    dropped = 0
    for i in range(30):
        forced = build_report(document_seed(13, i), FactoryOptions(force=AGENCY))
        if not forced.found.get("requests"):
            continue
        keys = {r.key for r in load_schema().table(forced.template, "requests").rows}
        printed = {c.ref.split(".", 1)[1] for b in forced.blocks if getattr(b, "name", None) == "requests"
                   for c in b.cells if c.role == "row_label"}
        for key in keys - printed:
            if forced.values.get(f"requests.{key}.total") is None and key.split(".")[0] in SUB_GROUPS:
                dropped += 1
                assert all(forced.values[f"requests.{key}.{c}"] is None for c in B_COLUMNS)
        for key in printed:
            assert forced.values[f"requests.{key}.total"] is not None
        for group in SUB_GROUPS:
            members = [k for k in printed if k.startswith(group + ".")]
            assert not members or len(members) >= 2 or members == ["other.other"]  # v2021: one （六） row
    assert dropped >= 10


def test_by_order_identifies_rows_only_where_every_largest_assignment_agrees():
    keys = ["a", "b", "c", "d"]
    zeros = {"a", "b", "c", "d"}
    # Four printed rows of zeros, four printed reviewed rows: one way to keep the order.
    assert by_order([zeros] * 4, [None] * 4, keys) == keys
    # Three printed rows for four reviewed rows (one not read): any could be missing, nothing is told...
    assert by_order([zeros] * 3, [None] * 3, keys) == [None] * 3
    # ... unless the values or the ordinals pin them down.
    assert by_order([{"a"}, zeros, {"d"}], [None] * 3, keys) == ["a", None, "d"]
    assert by_order([{"a"}, {"b"}, {"c", "d"}], [None] * 3, keys) == ["a", "b", None]
    # A row already identified (the schema's label) stays what it is and anchors the rest.
    assert by_order([zeros, zeros, zeros], [None, "c", None], keys) == [None, "c", "d"]


@pytest.mark.parametrize("i", range(3))
def test_review_of_an_agency_report_labels_its_printed_rows(tmp_path, i):
    force = {**AGENCY, "content.tables": "all", "content.requests_zero": bool(i % 2)}
    r = build_report(document_seed(14, i), FactoryOptions(force=force))
    rendered = render_own("html", r, tmp_path, "doc", FactoryOptions(force=force))
    path = tmp_path / f"doc{rendered.suffix}"
    gold = LabelledDocument(id=r.id, document=path, agency=r.agency, year=r.year, template=r.template,
                            found=dict(r.found), values=dict(r.values))
    if not model_available():
        pytest.skip("no installed token classifier")
    # The schema's labels find no row of Table B (nor the table); the installed model finds the table
    # and some rows, not reliably: its guesses are not evidence.
    doc = make_pipeline(DEFAULT_MODEL_DIR).run(path)
    labels = table_row_labels(gold, doc, "requests")
    wordings = {k: {_canon(w) for w in ws} for k, ws in AGENCY_B_LABELS.items()}
    printed = [k for k in wordings if r.values.get(f"requests.{k}.total") is not None]
    assert len(labels.rows) >= len(printed) - 2
    for row in labels.rows:  # every identified row is the row printed there, its label the family's wording
        text = _canon(doc.linear.norm[row.label[0]:row.label[1]]) if row.label else ""
        assert text in wordings[row.key] or (row.key == "other" and text.endswith("另作处理")), (row.key, text)


@pytest.mark.parametrize("i", range(3))
def test_reviewed_zero_tables_teach_no_wrong_row_label(tmp_path, i):
    """An all-zero Table B matches any reading of it, rows misplaced or not: retraining must still tag
    each printed label as its own row (or mask it), never as the row a model guessed."""
    if not model_available():
        pytest.skip("no installed token classifier")
    force = {**AGENCY, "content.tables": "all", "content.requests_zero": True}
    r = build_report(document_seed(15, i), FactoryOptions(force=force))
    rendered = render_own("text", r, tmp_path, "doc", FactoryOptions(force=force))
    path = tmp_path / f"doc{rendered.suffix}"
    gold = LabelledDocument(id=r.id, document=path, agency=r.agency, year=r.year, template=r.template,
                            found=dict(r.found), values=dict(r.values))
    readings = {"baseline": make_pipeline(None).run(path), "classifier": make_pipeline(DEFAULT_MODEL_DIR).run(path)}
    tags, _ = corrected_tags(gold, readings, reviewed=True)
    norm = readings["baseline"].linear.norm
    wordings = {k: {_canon(w) for w in ws} for k, ws in AGENCY_B_LABELS.items()}
    taught = 0
    for a, t in enumerate(tags):
        if not t.startswith("B-requests.") or t.startswith("B-requests.group."):
            continue
        key = t[len("B-requests."):]
        b = a + 1
        while b < len(tags) and tags[b] == f"I-requests.{key}":
            b += 1
        text = _canon(norm[a:b])  # the row's own wording (or a piece of it)
        assert any(text in w for w in wordings[key]) or (key == "other" and "另作处理".startswith(text)), (key, norm[a:b])
        taught += 1
    assert taught >= 8
