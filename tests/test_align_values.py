"""Value alignment: a corrected table no reading gets right is tagged from its values (the damaged
label text before each matched row's numbers as that row, the numbers as VALUE), only where the
values pin the rows down; a table a reading gets right keeps that reading's tags."""
import dataclasses
import random
from pathlib import Path

import pytest

from nianbao.labels import gold_dir, load_labelled
from nianbao.training.align_values import align_table, row_matches
from nianbao.training.noisy_docs import noisy_text
from nianbao.training.retrain import ALIGNED, corrected_tags, make_pipeline
from nianbao.training.tagging import document_tags
from nianbao.training.train import IGNORE

GOLD = "real_005"  # a bundled real text report the baseline reads exactly


def same_tags_up_to_label_tails(tags, read):
    """The reading's tags, except that a row label may run on to its numbers (its printed tail)."""
    diff = [i for i in range(len(tags)) if tags[i] != read[i]]
    return all(read[i] == "O" and tags[i].startswith("I-") and tags[i - 1][2:] == tags[i][2:] and ".group." not in tags[i]
               for i in diff) and any(t.startswith("B-") for t in tags)


def _spans(tags, norm):
    """{entity: [text, ...]} of the B-/I- spans of tags."""
    out, cur = {}, None
    for i, t in enumerate(tags):
        if t.startswith("B-"):
            cur = [t[2:], i, i + 1]
            out.setdefault(cur[0], []).append(cur)
        elif t.startswith("I-") and cur is not None and t[2:] == cur[0]:
            cur[2] = i + 1
        else:
            cur = None
    return {e: [norm[a:b] for _, a, b in v] for e, v in out.items()}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """real_005 with its row labels damaged (noisy_docs), the gold of the clean report, both readings."""
    gold = load_labelled(gold_dir() / f"{GOLD}.json")
    out = tmp_path_factory.mktemp("aligned")
    # Damage until the baseline no longer reads Table B right (a seed where it does not, found by trying).
    base = make_pipeline(None)
    for seed in range(40):
        path = out / f"{GOLD}.{seed}.noisy.txt"
        path.write_text(noisy_text(Path(gold.document), random.Random(seed)), encoding="utf-8")
        noisy = dataclasses.replace(gold, id=f"{gold.id}~noisy", document=path)
        readings = {"baseline": base.run(path)}
        tags, sources = corrected_tags(noisy, readings, align=True)
        if sources["requests"] is not None and sources["requests"] != "baseline":
            return noisy, readings, tags, sources
    pytest.skip("no damaged copy defeats the baseline")


def test_damaged_labels_are_tagged_from_the_values(damaged):
    noisy, readings, tags, sources = damaged
    assert sources["requests"] == ALIGNED
    doc = readings["baseline"]
    norm = doc.linear.norm
    spans = _spans(tags, norm)
    clean = load_labelled(gold_dir() / f"{GOLD}.json")
    clean_doc = make_pipeline(None).run(Path(clean.document))
    clean_spans = _spans(document_tags(clean_doc), clean_doc.linear.norm)
    rows = [e for e in spans if e.startswith("requests.") and ".group." not in e]
    assert len(rows) >= 4 and {"requests.new", "requests.results_total"} <= set(rows)
    for entity in rows:
        # The damaged label text sits where the clean label did: most of its characters are the clean ones.
        assert len(spans[entity]) == 1, entity
        got, want = spans[entity][0], clean_spans[entity][0]
        assert sum(c in want for c in got) >= 0.5 * min(len(got), len(want)), (entity, got, want)
    # The matched numbers are VALUE: every value the gold gives a matched row is printed as one.
    values = spans.get("VALUE", [])
    assert values
    a = align_table(noisy, readings, "requests", ignore=IGNORE)
    assert a.convincing and a.nonzero_matched >= 0.5 * a.nonzero_rows
    lo, hi = a.span
    value_texts = [norm[i] for i in range(lo, hi) if tags[i] in ("B-VALUE", "I-VALUE")]
    assert value_texts and all(c.isdigit() or c in "-—/无" for c in value_texts)
    nonzero = [v for k, v in noisy.values.items() if k.startswith("requests.") and v]
    assert sum(t == "B-VALUE" for t in tags[lo:hi]) >= len(a.matched)
    assert any(str(int(v)) in "".join(value_texts) for v in nonzero)
    # Nothing of the table's span is taught as O except printed-empty cells: unsure parts are masked.
    assert IGNORE in tags[lo:hi]


def test_a_row_matches_its_cells_or_its_run_together_digits():
    from nianbao.training.align_values import Token

    def toks(*texts, splittable=True):
        out = []
        for t in texts:
            from nianbao.training.align_values import _classify

            kind, value = _classify(t)
            out.append(Token(0, len(t), 0, t, kind, value, splittable=splittable and kind == "number" and len(t) > 1))
        return out

    assert row_matches(toks("3", "0", "12"), [3.0, 0.0, 12.0])
    assert row_matches(toks("3", "-", "12"), [3.0, 0.0, 12.0])
    assert row_matches(toks("3", "12"), [3.0, None, 12.0])  # a blank value: no cell
    assert not row_matches(toks("3", "0", "13"), [3.0, 0.0, 12.0])
    assert row_matches(toks("3012"), [3.0, 0.0, 12.0])  # digits run together
    assert not row_matches(toks("3012", splittable=False), [3.0, 0.0, 12.0])  # a grid cell is one number
    assert not row_matches(toks("3", "0", "12", "5"), [3.0, 0.0, 12.0])


def test_zero_only_and_contradicted_tables_are_masked(damaged):
    noisy, readings, _, _ = damaged
    # Every value zero: no row is pinned by its values, the table stays masked.
    zeros = {k: (0 if v is not None else None) if k.startswith("requests.") else v for k, v in noisy.values.items()}
    z = dataclasses.replace(noisy, values=zeros)
    a = align_table(z, readings, "requests", ignore=IGNORE)
    assert a is not None and not a.convincing
    tags, sources = corrected_tags(z, readings, align=True, rows=False)
    assert sources["requests"] is None
    r = readings["baseline"].located["requests"].region
    assert set(tags[r.start:r.end]) == {IGNORE}
    assert not any(t.startswith(("B-requests.", "I-requests.")) for t in tags)
    # Row labels: only rows the reading placed (by label or by structure) and read as the reviewed
    # zeros are taught; zeros identify no other row by their values.
    from nianbao.training.row_labels import table_row_labels

    labels = table_row_labels(z, readings["baseline"], "requests")
    assert labels.rows and all(row.how in ("label", "structure") for row in labels.rows)
    assert labels.unresolved > 0


def test_a_table_a_reading_matches_keeps_its_tags():
    gold = load_labelled(gold_dir() / f"{GOLD}.json")
    base = make_pipeline(None).run(Path(gold.document))
    tags, sources = corrected_tags(gold, {"baseline": base}, align=True)
    assert sources == {"proactive": "baseline", "requests": "baseline", "appeals": "baseline"}
    assert same_tags_up_to_label_tails(tags, document_tags(base))
    # And the alignment alone, on the clean report, finds the same row labels the reading tags.
    a = align_table(gold, {"baseline": base}, "requests", ignore=IGNORE)
    assert a.convincing
    lo, hi = a.span
    full = document_tags(base)
    aligned_rows = {i for i in range(lo, hi) if a.tags[i - lo].startswith("B-requests.")}
    read_rows = {i for i in range(lo, hi) if full[i].startswith("B-requests.") and ".group." not in full[i]}
    assert aligned_rows and aligned_rows <= read_rows | {i for i in range(lo, hi) if full[i].startswith("B-requests.")}
    assert all(a.tags[i - lo] == full[i] for i in aligned_rows)
