"""The quickstart notebook runs as written (its code cells, in order, from the repository root)."""
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_notebook_runs(capsys):
    nb = json.loads((ROOT / "notebooks" / "quickstart.ipynb").read_text("utf-8"))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        scope: dict = {}
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec("".join(cell["source"]), scope)
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "proactive.normative.in_force 698" in out
    assert "documents 12: exact 100.0%" in out


def test_calibration_notebook_runs(capsys, tmp_path, monkeypatch):
    nb = json.loads((ROOT / "notebooks" / "calibration.ipynb").read_text("utf-8"))
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    code = code.replace('"notebooks/figures/reliability.png"', repr(str(tmp_path / "reliability.png")))
    monkeypatch.chdir(ROOT)
    exec(code, {})
    assert (tmp_path / "reliability.png").stat().st_size > 10_000
    assert "ece" in capsys.readouterr().out
