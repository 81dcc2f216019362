"""End to end in a real browser: headless Debian Chromium types Korean into the Write tab, clicks
Write and waits until both panels show their image. Uses the app server of tests/test_app.py (one
per session). Skipped only when /usr/bin/chromium is missing."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 120_000     # the CI machine may be busy training

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_app import shared_app  # noqa: E402  (the same server as tests/test_app.py)


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_run):
    return shared_app(tmp_path_factory, tiny_run)


@contextlib.contextmanager
def app_page(app):
    """A headless Chromium page with the app loaded; the browser is closed afterwards."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(app.url, wait_until="domcontentloaded")
            yield page
        finally:
            browser.close()


def _wait_image(page, selector) -> tuple[int, int]:
    """Wait until the <img> inside `selector` has loaded; its natural (width, height)."""
    img = page.locator(f"{selector} img")
    img.wait_for(state="visible")
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    assert img.get_attribute("src"), f"{selector} image has no src"
    return tuple(img.evaluate("el => [el.naturalWidth, el.naturalHeight]"))


def test_write_tab_renders_both_panels(app):
    with app_page(app) as page:
        page.locator("#write-text textarea").fill("가각 간\n갈가")
        page.locator("#write-button").click()
        for side in ("left", "right"):
            w, h = _wait_image(page, f"#write-{side}")
            assert (w, h) == (56, 32), (side, w, h)          # 가각 간 / 갈가 at 16 px per glyph
            assert "epoch" in page.locator(f"#write-{side}-notice").inner_text()
    assert app.alive()


@pytest.mark.parametrize("tab, button, images", [
    ("Evolution", "#evolution-button", ["#evolution-a", "#evolution-b"]),
    ("Sheet", "#sheet-button", ["#sheet-image"]),
    ("Diagnostics", "#diagnostics-button", ["#diagnostics-loss", "#diagnostics-quality"]),
    ("Walk", "#walk-button", ["#walk-gif", "#walk-strip"]),
])
def test_every_other_tab_draws_its_images(app, tab, button, images):
    with app_page(app) as page:
        page.get_by_role("tab", name=tab).click()
        page.locator(button).click()
        for sel in images:
            w, h = _wait_image(page, sel)
            assert w > 0 and h > 0, (tab, sel, w, h)
    assert app.alive()
