"""Real reports printed and scanned: the labelled real PDF and HTML reports, each scanned several ways.

    python benchmarks/bench_real_scans.py --scans 4 --out /tmp/realscans [--verbose] [--json]

The held-out scans of issue 13 are real reports rasterised and degraded, and real HTML reports printed
and scanned; no one here sees them. This is the nearest set that can be built here: every labelled
real report in ``--gold`` whose file is a PDF (rasterised as it is) or an HTML page (printed to PDF
by headless chromium, as a browser prints it: the site's own table layout, headers turned, tables
across pages), each scanned ``--scans`` times by the factory's scanner
(``training/factory/render_scan.py``, every scan's dpi, colour mode, severity, seal, skew, specks and
faint digits drawn from its own seed). Text reports are left out: a crawled text export is one line
of run-together text, nothing a person would print.

Scored as ``bench_kinds.py`` scores (documents exact, accounted for, non-zero field accuracy, fields
wrong at >= 0.99, fabricated values), plus the fields wrong at >= 0.98 (the review app's
auto-accept line). The printed PDFs and the scans are kept in ``--out`` and reused on the next run.
Which of these reports the shipped models trained on is in their cards (``models/cards``); their
scans are new images either way, but the layouts are not unseen.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kinds import KindScore, report, score_kind_document  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AUTO_ACCEPT = 0.98


def chromium() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def printed_pdf(document: Path, out: Path) -> Optional[Path]:
    """The report as a printed PDF: a PDF as it is, an HTML page printed by headless chromium (None
    where chromium is missing), anything else None."""
    suffix = document.suffix.lower()
    if suffix == ".pdf":
        return document
    if suffix not in (".html", ".htm"):
        return None
    target = out / f"{document.stem}.printed.pdf"
    if target.exists():
        return target
    browser = chromium()
    if browser is None:
        print(f"skipped {document.name}: chromium is not installed", file=sys.stderr)
        return None
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={target}", document.resolve().as_uri()],
                   check=True, capture_output=True, timeout=180)
    return target


def scans_of(pdf: Path, doc_id: str, n: int, out: Path) -> list[Path]:
    """``n`` scans of ``pdf``, each drawn from a seed of its own (the document's id and the scan's number)."""
    import numpy as np

    from nianbao.training.factory.render_scan import ScanOptions, render_scan

    paths = []
    for s in range(n):
        path = out / f"{doc_id}.scan{s}.pdf"
        if not path.exists():
            seed = int.from_bytes(hashlib.sha256(f"{doc_id}/scan/{s}".encode()).digest()[:8], "big")
            render_scan(pdf, path, np.random.default_rng(seed), ScanOptions())
        paths.append(path)
    return paths


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", type=Path, default=ROOT / "labels" / "gold")
    ap.add_argument("--scans", type=int, default=4, help="scans per report")
    ap.add_argument("--out", type=Path, required=True, help="printed PDFs and scans are kept (and reused) here")
    ap.add_argument("--verbose", action="store_true", help="list every wrong field")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from nianbao.inference.pipeline import Pipeline, PipelineOptions
    from nianbao.labels import labelled_documents

    args.out.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(PipelineOptions())
    score, wrong_98 = KindScore(), 0
    for gold in labelled_documents(args.gold):
        pdf = printed_pdf(Path(gold.document), args.out)
        if pdf is None:
            continue
        for scan in scans_of(pdf, gold.id, args.scans, args.out):
            t = time.perf_counter()
            doc = pipeline.run(scan)
            score.seconds += time.perf_counter() - t
            before = score.exact
            score_kind_document(gold, doc, "\n".join(s.text for s in doc.segments), score, scan.name)
            wrong = [(k, g, doc.fields[k].value if k in doc.fields else None, doc.fields[k].confidence if k in doc.fields else None)
                     for k, g in gold.values.items() if (doc.fields[k].value if k in doc.fields else None) != g]
            wrong_98 += sum(1 for *_x, c in wrong if c is not None and c >= AUTO_ACCEPT)
            print(f"{scan.name}: exact {score.exact > before}, wrong {len(wrong)}, review {doc.review.needed}", flush=True)
            if args.verbose:
                for k, g, v, c in wrong:
                    f = doc.fields.get(k)
                    print(f"    {k}: gold={g} got={v} conf={c if c is None else round(c, 4)} "
                          f"reason={f.reason if f is not None else None}")
    row = score.row()
    report("bench_real_scans.py", argv, {"real scans": row}, {"real scans": score.findings},
           "wrong at >= 0.99 and fabricated (scan, key):",
           {"scans": args.scans, "set": row, "wrong_at_0.98": wrong_98} if args.json else None)
    print(f"fields wrong at >= {AUTO_ACCEPT}: {wrong_98}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
