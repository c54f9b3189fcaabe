"""Confirming and dismissing a finding in a real headless browser (chromium + chromedriver, Selenium).

Skipped where the browser is missing; .ci/run installs it."""
from __future__ import annotations

import threading

import pytest

from nianbao.ingest.store import finding_key, open_store
from nianbao.review.app import ReviewConfig, create_app

from review_helpers import headless_chromium, require_browser
from test_audit_workflow import CARRIED_OVER, _two_years

pytestmark = pytest.mark.browser
require_browser()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def test_a_finding_is_confirmed_then_dismissed_in_the_browser(tmp_path):
    from werkzeug.serving import make_server

    db = str(tmp_path / "s.sqlite")
    with open_store(db) as store:
        _, later = _two_years(store)
    key = finding_key("P2", [CARRIED_OVER], 40)
    httpd = make_server("127.0.0.1", 0, create_app(ReviewConfig(db=db, labels_dir=tmp_path / "labels",
                                                                reviewer="selenium")), threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    driver = headless_chromium()
    try:
        driver.get(f"http://127.0.0.1:{httpd.server_port}/doc/{later}")

        def item():
            return driver.find_element(By.CSS_SELECTOR, f'li.finding[data-finding="{key}"]')

        def wait(condition):
            # The item is re-rendered when a decision lands: a lookup may catch the old node.
            return WebDriverWait(driver, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: condition())

        assert item().get_attribute("data-status") == "open"
        note = item().find_element(By.NAME, "note")
        note.send_keys("the prose is right", Keys.ENTER)  # Enter in the note decides nothing
        assert item().get_attribute("data-status") == "open"
        item().find_element(By.CSS_SELECTOR, "button.confirm-finding").click()
        wait(lambda: item().get_attribute("data-status") == "confirmed")
        assert wait(lambda: "selenium" in item().text and "the prose is right" in item().text)
        item().find_element(By.CSS_SELECTOR, "button.dismiss-finding").click()
        wait(lambda: item().get_attribute("data-status") == "dismissed")
    finally:
        driver.quit()
        httpd.shutdown()
    with open_store(db) as store:
        assert [(v.status, v.reviewer, v.note) for v in store.check_reviews(later)] == \
            [("confirmed", "selenium", "the prose is right"), ("dismissed", "selenium", None)]
