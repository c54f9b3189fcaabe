"""The review app in a real headless browser (Debian's chromium + chromedriver, driven by Selenium).

Skipped where the browser is missing; .ci/run installs it (apt-get install chromium chromium-driver).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from nianbao.ingest.store import SQLiteStore
from nianbao.review.app import ReviewConfig, create_app
from nianbao.review.queue import review_queue

from review_helpers import EXAMPLES, build_store, headless_chromium, require_browser

pytestmark = pytest.mark.browser
require_browser()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# A report whose title carries script, in the text and in an HTML rendering.
HOSTILE_TITLE = "<script>window.pwned=1;document.title='pwned'</script><img src=x onerror=\"window.pwned=2\">"


def _hostile_report() -> str:
    text = (EXAMPLES / "002_a15c5311e6238bad.txt").read_text(encoding="utf-8")
    return HOSTILE_TITLE + "\n" + text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    db = build_store(root, extra={"hostile.txt": _hostile_report()})
    labels = root / "labels"
    app = create_app(ReviewConfig(db=db, labels_dir=labels, reviewer="selenium"))
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{httpd.server_port}", "db": db, "labels": labels}
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 15):
    return WebDriverWait(driver, timeout).until(condition)


# Screenshots for the README (docs/screenshots): written only where this names a folder, so a test run
# never rewrites the committed images by accident: NIANBAO_SCREENSHOTS=docs/screenshots pytest ...
SCREENSHOTS = os.environ.get("NIANBAO_SCREENSHOTS")
SCREENSHOT_SIZE = (1280, 800)
MAX_SCREENSHOT_BYTES = 300_000


def _screenshot(driver) -> bytes:
    """The window as a PNG made small: a 256-colour palette (the pages are flat colours and text)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, format="PNG",
                                                                                               optimize=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def showcase(tmp_path_factory):
    """A review app over every text example (several documents in the queue), for the screenshots."""
    root = tmp_path_factory.mktemp("showcase")
    others = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.txt"))}
    app = create_app(ReviewConfig(db=build_store(root, extra=others), labels_dir=root / "labels", reviewer="审核员"))
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_screenshots_of_the_queue_and_a_document_page(showcase, browser):
    # The viewport itself is 1280 x 800 (a window of that size has less room for the page).
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": SCREENSHOT_SIZE[0], "height": SCREENSHOT_SIZE[1], "deviceScaleFactor": 1,
                             "mobile": False})
    try:
        browser.get(showcase + "/")
        assert len(browser.find_elements(By.CSS_SELECTOR, "tr.item")) >= 2
        queue = _screenshot(browser)
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)
        _wait(browser, EC.presence_of_element_located((By.ID, "document")))
        cell = browser.switch_to.active_element
        _wait(browser, lambda d: d.find_element(By.ID, "detail-key").get_attribute("data-key") == cell.get_attribute("data-key"))
        assert "一、本年新收政府信息公开申请数量" in browser.find_element(By.TAG_NAME, "body").text
        document = _screenshot(browser)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    for name, png in (("queue.png", queue), ("document.png", document)):
        assert png.startswith(b"\x89PNG") and 10_000 < len(png) < MAX_SCREENSHOT_BYTES, (name, len(png))
        if SCREENSHOTS:
            folder = Path(SCREENSHOTS)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(png)


def test_queue_correct_a_value_approve_and_the_label_appears(server, browser):
    browser.get(server["url"] + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.item")
    assert rows, "the queue shows documents that need review"
    # Keyboard: the first row is selected; Enter opens it.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)
    main = _wait(browser, EC.presence_of_element_located((By.ID, "document")))
    doc_id = int(main.get_attribute("data-doc-id"))
    # The page opens on the first doubtful cell; its detail (source text) is shown beside the grid.
    cell = browser.switch_to.active_element
    assert "doubtful" in cell.get_attribute("class") or "failing" in cell.get_attribute("class")
    key = cell.get_attribute("data-key")
    _wait(browser, lambda d: d.find_element(By.ID, "detail-key").get_attribute("data-key") == key)
    # Text documents show the row's source text (the value marked where it has a print of its own;
    # run-together digits shared by several fields mark none); PDFs and scans show the cell's crop.
    _wait(browser, lambda d: (d.find_element(By.ID, "detail-source").is_displayed() and
                              d.find_element(By.ID, "detail-source").text.strip() != "") or
          d.find_element(By.ID, "detail-image").is_displayed())
    # Correct it: type a new value, Enter saves and moves to the next doubtful cell.
    cell.send_keys(Keys.CONTROL, "a")
    cell.send_keys("4242", Keys.ENTER)
    _wait(browser, lambda d: "reviewed" in d.find_element(By.CSS_SELECTOR, f'input[data-key="{key}"]').get_attribute("class"))
    assert browser.switch_to.active_element.get_attribute("data-key") != key
    # Live rules: typing a wrong total turns its rule red before anything is saved.
    total = browser.find_element(By.CSS_SELECTOR, 'input[data-key="requests.new.total"]')
    total.click()
    total.send_keys(Keys.CONTROL, "a")
    total.send_keys("987654")
    _wait(browser, lambda d: "failing" in total.get_attribute("class"))
    assert any("R1" in li.text for li in browser.find_elements(By.CSS_SELECTOR, "#rule-list li.fail"))
    total.send_keys(Keys.ESCAPE)
    _wait(browser, lambda d: "failing" not in total.get_attribute("class"))
    # Approve (Alt+A) and the label file appears with the corrected value and its provenance.
    browser.switch_to.active_element.send_keys(Keys.ALT, "a")
    _wait(browser, EC.presence_of_element_located((By.ID, "notice")))
    labels = list(server["labels"].glob("reviewed_*.json"))
    assert len(labels) == 1
    data = json.loads(labels[0].read_text(encoding="utf-8"))
    assert data["fields"][key]["value"] == 4242
    assert data["fields"]["requests.new.total"]["value"] != 987654  # typed then undone: never saved
    assert data["provenance"]["reviewer"] == "selenium" and data["provenance"]["changes"] >= 1
    with SQLiteStore(server["db"]) as store:
        row = next(store.query("SELECT review_status, content_hash FROM documents WHERE id = ?", (doc_id,)))
        assert row["review_status"] == "approved" and data["sha256"] == row["content_hash"]
        changes = list(store.query("SELECT key, action, new_value FROM field_changes WHERE document_id = ?", (doc_id,)))
        assert (key, "edit", 4242) in [(c["key"], c["action"], c["new_value"]) for c in changes]


def test_a_report_carrying_script_renders_inert(server, browser):
    with SQLiteStore(server["db"]) as store:
        hostile = next(store.query("SELECT d.id, d.agency FROM documents d JOIN sources s ON s.document_id = d.id "
                                   "WHERE s.path LIKE '%hostile.txt'"))
        # Make sure it is in the queue and its agency carries the script, whatever the reader kept of the title.
        store.conn.execute("UPDATE documents SET review_needed = 1, review_status = 'pending', agency = ? WHERE id = ?",
                           (HOSTILE_TITLE + "测试局", hostile["id"]))
        assert hostile["id"] in [i.id for i in review_queue(store)]
    errors = []
    for page in ("/", f"/doc/{hostile['id']}"):
        browser.get(server["url"] + page)
        time.sleep(0.5)
        assert browser.execute_script("return window.pwned === undefined")
        assert browser.title != "pwned"
        # The script is shown as the text it is.
        assert "<script>window.pwned=1" in browser.find_element(By.TAG_NAME, "body").text
        errors += [e for e in browser.get_log("browser") if "pwned" in e.get("message", "")]
    assert browser.find_elements(By.CSS_SELECTOR, "main img[src='x']") == []
    # The source text beside a cell is the report's own text, also inert.
    cell = browser.find_element(By.CSS_SELECTOR, "input.cell")
    cell.click()
    _wait(browser, lambda d: d.find_element(By.ID, "detail-key").get_attribute("data-key") == cell.get_attribute("data-key"))
    assert browser.execute_script("return window.pwned === undefined")
