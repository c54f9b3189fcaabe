"""The CLI is a thin layer: extract --jsonl follows the output contract, in input order."""
import json
from pathlib import Path

from nianbao.cli import main
from nianbao.schema import load_schema

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_extract_jsonl_contract(capsys):
    files = [EXAMPLES / "real_014.txt", EXAMPLES / "001_920a4b5d549ad15c.txt"]
    assert main(["extract", "--jsonl", *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["source"].endswith("real_014.txt") and second["source"].endswith("001_920a4b5d549ad15c.txt")
    for rec in (first, second):
        assert set(rec) >= {"source", "agency", "year", "template", "tables", "fields", "checks", "review", "error"}
        assert set(rec["tables"]) == {"proactive", "requests", "appeals"}
    # Every key of the template for each found table; unprinted rows are null (real_014 has no 规章 row).
    assert set(first["fields"]) == set(load_schema().field_keys("v2021"))
    assert first["fields"]["proactive.rules.issued"]["value"] is None
    assert first["fields"]["requests.other.overdue_fee.total"]["value"] is None
    other = first["fields"]["requests.other.other.total"]
    assert (other["value"], other["raw"]) == (0, "0") and other["confidence"] >= 0.99  # a clear reading
    for f in first["fields"].values():
        assert 0.0 <= f["confidence"] <= 1.0
    for c in first["checks"]:  # the contract's five keys; audit findings add more (README: the audit catalogue)
        assert {"rule", "passed", "detail", "cells", "difference"} <= set(c)
        assert 0.0 <= c["confidence"] <= 1.0
    assert second["fields"] == {} and second["template"] == "v2019"
    assert not any(t["found"] for t in second["tables"].values())


def test_human_summary(capsys):
    main(["extract", str(EXAMPLES / "real_010.txt")])
    out = capsys.readouterr().out
    assert "平潭综合实验区自然资源与生态环境局" in out
    assert "R2" in out and "failed" in out


def test_evaluate_command(capsys):
    assert main(["evaluate"]) == 0
    out = capsys.readouterr().out
    assert "documents 12: exact 100.0%" in out


def test_evaluate_reads_spec_gold_beside_documents(tmp_path, capsys):
    src = json.loads((Path(__file__).resolve().parents[1] / "labels" / "gold" / "real_017.json").read_text("utf-8"))
    (tmp_path / "doc.txt").write_bytes((EXAMPLES / "real_017.txt").read_bytes())
    plain = {"agency": src["agency"], "year": src["year"], "template": src["template"], "absent_tables": [],
             "fields": {k: v["value"] for k, v in src["fields"].items()}}
    (tmp_path / "doc.gold.json").write_text(json.dumps(plain, ensure_ascii=False), "utf-8")
    main(["evaluate", "--gold", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["docs_exact"] == 1.0


def test_extraction_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from nianbao.cli import main; main(['extract', '--jsonl', %r]); "
            "sys.stderr.write('TORCH' if 'torch' in sys.modules else 'NOTORCH')") % str(EXAMPLES / "real_014.txt")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stderr.strip().endswith("NOTORCH"), out.stderr[-500:]


def test_spotter_option_and_its_former_name_mapper(capsys):
    doc = str(Path(__file__).resolve().parents[1] / "examples" / "real_005.txt")
    records = []
    for argv in (["extract", "--jsonl", "--spotter", "baseline", doc], ["extract", "--jsonl", "--mapper", "baseline", doc],
                 ["extract", "--jsonl", doc]):
        assert main(argv) == 0
        records.append(json.loads(capsys.readouterr().out.strip().split("\n")[-1]))
    assert records[0] == records[1]  # the alias picks the same spotter
    assert records[0]["fields"].keys() == records[2]["fields"].keys()
