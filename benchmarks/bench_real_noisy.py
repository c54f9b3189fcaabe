"""The labelled real reports, clean and OCR-damaged, read by the default spotter and by the baseline.

    python benchmarks/bench_real_noisy.py [--seeds 5] [--rate 0.1] [--gold labels/gold] [--copies DIR] [--json]

The real reports in ``--gold`` whose file is text (crawler text, exports) or HTML are read as they are
("clean") and as ``--seeds`` damaged copies each ("ocr"): ``--rate`` of their Chinese characters
become a look-alike, are dropped, or get a space before them (``training/noisy_docs.ocr_damaged_text``;
digits are never touched, so the clean gold still holds). PDFs are read clean only. Each set is read
with the classifier spotter (default, structure-first placement included) and with ``baseline``
(the schema's labels alone), and scored as ``benchmarks/bench_kinds.py`` scores: documents exact,
accounted for (exact, or every wrong field doubted below 0.9), non-zero field accuracy, fields wrong
at >= 0.99, fabricated values. With ``--json`` the last line is one JSON object.

Which of these documents the shipped model trained on is in its card (``models/cards``): the damaged
copies are new text either way, but the clean figures of trained-on documents are optimistic.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kinds import KindScore, report, score_kind_document  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DAMAGEABLE = {".txt", ".md", ".html", ".htm"}


def run(gold_dir: Path, seeds: int, rate: float, spotter: str, folder: Path) -> dict[str, KindScore]:
    from nianbao.inference.pipeline import Pipeline, PipelineOptions
    from nianbao.inference.readers.encoding import decode_bytes
    from nianbao.labels import labelled_documents

    pipeline = Pipeline(PipelineOptions(spotter=spotter))
    scores = {"clean": KindScore(), "ocr": KindScore()}
    for gold in labelled_documents(gold_dir):
        path = Path(gold.document)
        copies = [("clean", path, decode_bytes(path.read_bytes())[0] if path.suffix.lower() in DAMAGEABLE else "")]
        if path.suffix.lower() in DAMAGEABLE:
            for s in range(seeds):
                copy = folder / f"{gold.id}.s{s}{path.suffix}"
                if copy.exists():  # --copies: the same damaged copies for another checkout to read
                    text = copy.read_text(encoding="utf-8")
                else:
                    from nianbao.training.noisy_docs import ocr_damaged_text

                    text = ocr_damaged_text(path, random.Random(f"{gold.id}/{s}"), rate)
                    copy.write_text(text, encoding="utf-8")
                copies.append(("ocr", copy, text))
        for kind, p, text in copies:
            t = time.perf_counter()
            doc = pipeline.run(p)
            scores[kind].seconds += time.perf_counter() - t
            score_kind_document(gold, doc, text or "\n".join(s.text for s in doc.segments), scores[kind], p.name)
    return scores


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", type=Path, default=ROOT / "labels" / "gold")
    ap.add_argument("--seeds", type=int, default=5, help="damaged copies per text/HTML document")
    ap.add_argument("--rate", type=float, default=0.1, help="share of Chinese characters damaged")
    ap.add_argument("--copies", type=Path, help="keep the damaged copies here (reused when present)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows, findings = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.copies or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for spotter in ("classifier", "baseline"):
            for kind, score in run(args.gold, args.seeds, args.rate, spotter, folder).items():
                rows[f"{kind} ({spotter})"] = score.row()
                findings[f"{kind} ({spotter})"] = score.findings
    report("bench_real_noisy.py", argv, rows, findings, "wrong at >= 0.99 and fabricated (copy, key):",
           {"seeds": args.seeds, "rate": args.rate, "sets": rows} if args.json else None, most=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
