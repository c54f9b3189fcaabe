"""Convert the hand-checked gold of ../shared (seeds, real-dev) into labels/gold/ (project format).

    python scripts/import_shared_gold.py ../shared/seeds ../shared/real-dev
The documents themselves are copied to examples/ so a clone without ../shared has everything.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from labels import FORMAT, TABLES, load_labelled  # noqa: E402


def main(dirs: list[str]) -> None:
    out_dir = ROOT / "labels" / "gold"
    out_dir.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        split = "seed" if "seed" in Path(d).name else "dev"
        for gold_path in sorted(Path(d).glob("*.gold.json")):
            g = load_labelled(gold_path)
            if g.document is None:
                print(f"skip {gold_path}: no document beside it")
                continue
            target = ROOT / "examples" / g.document.name
            shutil.copyfile(g.document, target)
            rec = {
                "format": FORMAT,
                "id": g.id,
                "document": os.path.relpath(target, out_dir),
                "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                "agency": g.agency,
                "year": g.year,
                "template": g.template,
                "tables": {t: {"found": g.found[t]} for t in TABLES},
                "fields": {k: {"value": v, "raw": None, "page": None, "bbox": None} for k, v in g.values.items()},
                "notes": g.notes,
                "split": split,
                "provenance": {"imported_from": f"shared/{Path(d).name}/{gold_path.name}",
                               "source": g.extra.get("source")},
            }
            (out_dir / f"{g.id}.json").write_text(json.dumps(rec, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            print(f"wrote labels/gold/{g.id}.json")


if __name__ == "__main__":
    main(sys.argv[1:])
