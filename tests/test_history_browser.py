"""The trend page in a real browser: headless Chromium draws every point and the change
marker. Uses Debian's ``chromium`` and ``chromium-driver`` through selenium, with the driver
at ``/usr/bin/chromedriver`` so nothing is downloaded; skips, saying what is missing, where
they are not installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_gpubench.history.analysis import analyse
from pytest_gpubench.history.page import page

from .history_support import scripted_repo

DRIVER = Path("/usr/bin/chromedriver")
SLOWER_AT = 17


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not DRIVER.exists() or not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium and chromium-driver are not installed (apt-get install both)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(DRIVER)), options=options)
    driver.set_window_size(900, 900)
    yield driver
    driver.quit()


def test_headless_chromium_draws_the_points_and_the_marker(browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    repo, storage, shas = scripted_repo(tmp_path, slower_at=SLOWER_AT)
    html = tmp_path / "history.html"
    html.write_text(page(analyse(storage, repo)), encoding="utf-8")
    browser.get(html.as_uri())
    points = browser.find_elements(By.CSS_SELECTOR, "svg circle.point")
    assert [p.get_attribute("data-commit") for p in points] == shas
    assert all(p.is_displayed() and p.rect["width"] > 0 for p in points)
    tops = [p.rect["y"] for p in points]  # a slower device: lower speedups, drawn lower
    assert max(tops[:SLOWER_AT]) < min(tops[SLOWER_AT:])
    [marker] = browser.find_elements(By.CSS_SELECTOR, "svg line.change")
    assert marker.get_attribute("data-commit") == shas[SLOWER_AT]
    assert points[SLOWER_AT - 1].rect["x"] < marker.rect["x"] < points[SLOWER_AT].rect["x"]
    data = browser.execute_script(
        "return JSON.parse(document.getElementById('gpubench-history').textContent)"
    )
    assert data["change_points"][0]["commit"] == shas[SLOWER_AT]
