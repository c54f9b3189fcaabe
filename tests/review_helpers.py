"""Shared set-up of the review tests: a small store of real example reports, and a headless chromium."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from nianbao.inference.pipeline import PipelineOptions
from nianbao.ingest.store import SQLiteStore
from nianbao.ingest.runner import IngestOptions, ingest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Three text reports; at least one of them needs review (doubted run-together digits).
REPORTS = ("000_0f54907597b54157.txt", "002_a15c5311e6238bad.txt", "real_005.txt")


def build_store(root: Path, extra: dict[str, str] | None = None) -> Path:
    """Copy a few example reports (and ``extra`` files: name -> text) to ``root/docs`` and ingest them."""
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name in REPORTS:
        shutil.copy(EXAMPLES / name, docs / name)
    for name, text in (extra or {}).items():
        (docs / name).write_text(text, encoding="utf-8")
    db = root / "store.sqlite"
    ingest([str(docs)], db, IngestOptions(workers=1, progress=False, cross_year=False, timeout=None, max_memory_mb=0,
                                          pipeline_options=PipelineOptions(spotter="classifier")))
    return db


def copy_store(db: Path, tmp_path: Path) -> SQLiteStore:
    """A fresh copy of a built store (tests change values) with at least one document to review."""
    copy_path = tmp_path / "store.sqlite"
    with SQLiteStore(db) as s:
        s.conn.execute(f"VACUUM INTO '{copy_path}'")
    s = SQLiteStore(copy_path)
    if not list(s.query("SELECT id FROM documents WHERE review_needed = 1 AND status = 'done'")):
        # Whatever the calibration says today, the queue needs a document: make one doubtful.
        doc_id = s.scalar("SELECT id FROM documents WHERE status = 'done' ORDER BY id LIMIT 1")
        s.conn.execute("UPDATE documents SET review_needed = 1, review_status = 'pending' WHERE id = ?", (doc_id,))
        s.conn.execute("UPDATE fields SET confidence = 0.42 WHERE document_id = ? AND key = 'requests.new.total'", (doc_id,))
    return s


# Fixtures for the review test modules (import them there: ``from review_helpers import db, store``).
@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("review"))


@pytest.fixture()
def store(db, tmp_path):
    s = copy_store(db, tmp_path)
    yield s
    s.close()


def require_browser():
    """Skip the calling test module where chromium or chromedriver is missing; under CI, which
    installs them, their absence is a failure, not a skip. Call it at module level."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            raise RuntimeError("CI: chromium and chromedriver are missing (.ci/run installs them)")
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
                    allow_module_level=True)
    pytest.importorskip("selenium.webdriver")


def headless_chromium():
    """A headless chromium driven by Selenium through Debian's chromedriver (the caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver
