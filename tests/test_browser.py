"""End to end in a real browser: headless Debian Chromium types Korean into the Write tab, clicks
Write and waits until both panels show their image. Uses the app server of tests/test_app.py (one
per session). Skipped when /usr/bin/chromium or Playwright is missing, except where the browser is
required: with $CI set (any CI service) or REKOGAN_REQUIRE_BROWSER=1 (scripts/test.sh, which
installs Chromium) a missing browser fails every test here, since this is the only test in which a
real renderer (OTS, HarfBuzz) loads the fonts the app builds."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 120_000     # the CI machine may be busy training


def missing_browser() -> str | None:
    """What this machine lacks to run the browser tests, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is missing (pip install -r requirements-dev.txt)"
    return None


BROWSER_REQUIRED = os.environ.get("REKOGAN_REQUIRE_BROWSER") == "1" or bool(os.environ.get("CI"))
MISSING = missing_browser()
pytestmark = pytest.mark.skipif(MISSING is not None and not BROWSER_REQUIRED, reason=str(MISSING))


@pytest.fixture(scope="session", autouse=True)   # session: set up before the app's session fixtures
def browser_present():
    if MISSING is not None:      # only reached where the browser is required (else skipped above)
        pytest.fail(f"{MISSING}; the browser test is required here ($CI or REKOGAN_REQUIRE_BROWSER=1)", pytrace=False)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_app import shared_app  # noqa: E402  (the same server as tests/test_app.py)
from fontcheck import check_font  # noqa: E402


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


def _size_and_natural(page, *, size: int, natural: float):
    """Choose the Write tab's Size and type its Natural."""
    page.locator("#write-size").get_by_text(f"{size} px", exact=True).click()
    box = page.locator("#write-natural input[type='number']")
    box.fill(f"{natural:g}")
    box.press("Tab")


def test_write_tab_renders_both_panels(app):
    from rekogan.conventions import DEFAULT_GLYPH_SIZE
    with app_page(app) as page:
        page.locator("#write-text textarea").fill("가각 간\n갈가")
        page.locator("#write-button").click()
        for side in ("left", "right"):                     # the defaults: sharp, natural
            w, h = _wait_image(page, f"#write-{side}")
            assert h >= 2 * DEFAULT_GLYPH_SIZE and w >= 2 * DEFAULT_GLYPH_SIZE, (side, w, h)
            assert "epoch" in page.locator(f"#write-{side}-notice").inner_text()
        # the right panel opens on the run that writes any syllable: typed 안녕하세요 comes back whole
        assert page.locator("#write-right-run input").input_value() == "hangul"
        _size_and_natural(page, size=64, natural=0)
        page.locator("#write-text textarea").fill("안녕하세요")
        page.locator("#write-button").click()
        page.wait_for_function("() => (document.querySelector('#write-right img') || {}).naturalWidth === 5 * 64")
        note = page.locator("#write-right-notice").inner_text()
        assert "hangul" in note and "not among" not in note.lower() and "grey print" not in note, note
    assert app.alive()


def _grey_share(png_bytes: bytes) -> tuple[float, tuple[int, int]]:
    """(the share of grey pixels among the marked ones, the picture's size) of a screenshot: ink edges
    drawn sharp are ink next to white; an enlarged 64 px glyph's edges are ramps of grey. Levels are
    taken relative to the picture's own ink (its 1st percentile among marked pixels), because the
    upscaler keeps a faint glyph's ink level (keep_exact): a tiny run's pale strokes come out as a
    uniform dark grey (33-38 of 255) with sharp edges, which is ink here, not grey."""
    import io

    import numpy as np
    from PIL import Image
    with Image.open(io.BytesIO(png_bytes)) as im:
        a = np.asarray(im.convert("L")).astype(float)
    if (a < 224).any():
        ink = float(np.percentile(a[a < 224], 1))
        a = (a - ink) / max(1.0, 255 - ink) * 255                    # the ink's level -> 0, paper stays 255
    marked = a < 224
    return float((marked & (a > 32)).sum() / max(1, marked.sum())), (a.shape[1], a.shape[0])


def test_a_256_px_line_is_shown_sharp_at_its_own_resolution(app):
    """Size 256: the page's image is 256 px a glyph (naturalWidth), the browser shows it 1:1 (a panel of
    a wide window is ~920 px wide: three glyphs fit), and its ink edges in the screenshot are sharp:
    far fewer grey pixels than the same line at 64 px enlarged 4x by the browser."""
    with app_page(app) as page:
        page.set_viewport_size({"width": 2600, "height": 1200})
        _size_and_natural(page, size=256, natural=0)
        page.locator("#write-text textarea").fill("가각간")
        page.locator("#write-button").click()
        page.wait_for_function("() => (document.querySelector('#write-right img') || {}).naturalWidth === 3 * 256")
        img = page.locator("#write-right img")
        assert img.evaluate("el => [el.naturalWidth, el.naturalHeight]") == [768, 256]
        shown = img.evaluate("el => [el.getBoundingClientRect().width, el.getBoundingClientRect().height]")
        assert shown == [768, 256], f"the 256 px line is shown at {shown}, not at its own 768 x 256"
        sharp, size = _grey_share(img.screenshot())
        assert abs(size[0] - 768) <= 1 and abs(size[1] - 256) <= 1, size     # a sub-pixel offset may add a row
        _size_and_natural(page, size=64, natural=0)
        page.locator("#write-button").click()
        page.wait_for_function("() => (document.querySelector('#write-right img') || {}).naturalWidth === 3 * 64")
        img.evaluate("el => { el.style.width = '768px'; el.style.height = '256px'; el.style.maxWidth = 'none'; }")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        blurred, _ = _grey_share(img.screenshot())
        assert sharp < 0.25 and sharp < 0.6 * blurred, (sharp, blurred)
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
            _wait_image(page, sel)
            dark, light = _grey_range(page, sel)
            # the browser decoded a drawing, ink on paper (a tiny run's glyphs are pale: its darkest was 104),
            # not a blank or a black picture
            assert light > 200 and light - dark >= 100, (tab, sel, dark, light)
    assert app.alive()


def _grey_range(page, selector) -> tuple[int, int]:
    """(darkest, lightest) grey of the loaded <img> inside `selector`, as the browser decoded it."""
    return tuple(page.locator(f"{selector} img").evaluate("""el => {
        const c = document.createElement('canvas');
        c.width = el.naturalWidth; c.height = el.naturalHeight;
        const ctx = c.getContext('2d');
        ctx.drawImage(el, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let lo = 255, hi = 0;
        for (let i = 0; i < d.length; i += 4) {
            const a = d[i + 3] / 255;                 // on white paper, as the page shows it
            const g = Math.round(a * (d[i] + d[i + 1] + d[i + 2]) / 3 + (1 - a) * 255);
            if (g < lo) lo = g;
            if (g > hi) hi = g;
        }
        return [lo, hi];
    }"""))


def _stroke(page, box, points):
    """One pen stroke through `points` given as fractions (x, y) of the canvas's bounding box."""
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        # one pointer move a segment: the editor joins moves with straight lines, and each move costs
        # a redraw (8 steps a segment took 88 s of this test on a busy 2-core machine)
        page.mouse.move(x, y)
    page.mouse.up()


# four glyph-like shapes of equal width (a ㄱ beside a ㅏ) in the middle of the box (the editor shows
# the 800x240 canvas zoomed to fit, centred: the box's edges are outside the picture), with far wider
# gaps between them than inside them (the cutter splits the row at its widest gaps)
def _glyph(x0):
    return [[(x0, 0.30), (x0 + 0.045, 0.30), (x0 + 0.045, 0.70)], [(x0 + 0.065, 0.22), (x0 + 0.065, 0.78)],
            [(x0 + 0.065, 0.50), (x0 + 0.085, 0.50)]]


HAND_STROKES = [_glyph(0.22 + 0.15 * i) for i in range(4)]
BRUSH_SELECTED = "() => document.querySelector(\"#hand-canvas button[aria-label='Brush']\")?.classList.contains('highlight')"


def test_my_hand_tab_fits_mouse_strokes_and_gives_a_writer(app):
    with app_page(app) as page:
        page.get_by_role("tab", name="My hand").click()
        page.locator("#hand-text textarea").fill("가각간갈")          # the tiny run's four classes
        page.locator("#hand-text textarea").press("Tab")
        canvas = page.locator("#hand-canvas canvas").first
        canvas.wait_for(state="visible")
        # the canvas opens ready to draw: its brush is selected without a click (widgets.brush_ready)
        page.wait_for_function(BRUSH_SELECTED)
        box = canvas.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 20, box
        for glyph in HAND_STROKES:
            for points in glyph:
                _stroke(page, box, points)
        page.locator("#hand-button").click()
        page.wait_for_function("() => (document.querySelector('#hand-code textarea') || {}).value?.startsWith('rkw1.')"
                               " || document.querySelector('.toast-body')")
        toasts = page.locator(".toast-body").all_inner_texts()
        assert not toasts, f"the fit failed: {toasts}"
        code = page.locator("#hand-code textarea").input_value()
        w, h = _wait_image(page, "#hand-pair")
        from rekogan.conventions import DEFAULT_GLYPH_SIZE as px     # the pair view's default size
        assert (w, h) == (2 + 4 * (px + 2), 2 + 2 * (px + 2)), (w, h)   # your 4 glyphs over the fitted 4
        notice = page.locator("#hand-notice").inner_text()
        assert "fitted in" in notice and "canvas" in notice, notice
        # Clear canvas puts the editor back in its no-tool state (its hint, .empty.wrap, is added): the
        # brush is selected again and the hint goes
        page.evaluate("""() => { window.hintAdded = false; new MutationObserver(records => {
            for (const r of records) for (const n of r.addedNodes)
                if (n.nodeType === 1 && (n.matches('.empty.wrap') || n.querySelector('.empty.wrap'))) window.hintAdded = true;
        }).observe(document.querySelector('#hand-canvas'), {childList: true, subtree: true}); }""")
        page.locator("#hand-canvas button[aria-label='Clear canvas']").click()
        page.wait_for_function("() => window.hintAdded && !document.querySelector('#hand-canvas .empty.wrap')")
        page.wait_for_function(BRUSH_SELECTED)
        page.locator("#hand-use").click()                            # the Write tab now writes in this hand
        page.get_by_role("tab", name="Write").click()
        page.wait_for_function("c => document.querySelector('#write-writer textarea').value === c", arg=code)
        page.wait_for_function("() => document.querySelector('#write-right-notice').innerText.includes('Writer code')")
        page.get_by_role("tab", name="Font").click()                # ... and so does the Font tab
        page.wait_for_function("c => document.querySelector('#font-writer textarea').value === c", arg=code)
    assert app.alive()


def test_font_tab_builds_a_font_and_the_browser_renders_the_preview_in_it(app, tmp_path):
    with app_page(app) as page:
        page.get_by_role("tab", name="Font").click()
        # the Font tab starts on the hangul run when there is one (here: the tiny jamo run)
        page.locator("#font-text textarea").fill("가나다")
        page.locator("#font-preview-input textarea").fill("가나다")
        page.locator("#font-button").click()
        preview = page.locator("#font-preview-text")
        preview.wait_for(state="visible")
        family = preview.get_attribute("data-family")
        assert family and family.startswith("ReKOGAN hangul"), family
        page.wait_for_function("""f => Array.from(document.fonts).some(
            x => x.family.replace(/["']/g, '') === f && x.status === 'loaded')""", arg=family)
        assert page.evaluate("f => document.fonts.check('32px \"' + f + '\"')", family)
        assert page.evaluate("el => getComputedStyle(el).fontFamily", preview.element_handle()).startswith(f'"{family}"')
        assert "3 syllables" in page.locator("#font-notice").inner_text()
        ours = preview.screenshot()
        preview.evaluate("el => { el.style.fontFamily = 'sans-serif'; }")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        fallback = preview.screenshot()
        assert ours != fallback, "the preview looks the same in the generated font and in the fallback font"
        href = page.locator("#font-file a").first.get_attribute("href")     # the .ttf is offered for download
        assert href
        got = page.request.get(href if "://" in href else page.url.split("?")[0].rstrip("/") + "/" + href.lstrip("/"))
        assert got.ok, (href, got.status)
        downloaded = tmp_path / "font.ttf"
        downloaded.write_bytes(got.body())
    check_font(downloaded, text="가나다")       # the file the visitor downloads: OTS accepts it, HarfBuzz shapes it
    assert app.alive()


def test_chromium_draws_typed_repeats_with_the_fonts_alternates(tmp_path):
    # issue 24: a font with 3 alternates a syllable (the fixed run, traced from 256 px); Chromium
    # cycles them in 가가가가 (calt, and clig for its Hangul shaper: rekogan/export/alternates.py), so
    # the first three cells differ and the fourth is the first again; with the cycle off (the
    # control) all four cells are the same glyph
    import base64
    import io

    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from conftest import REPO
    from rekogan.export import build_font
    out = tmp_path / "alts.ttf"
    build_font(checkpoint=REPO / "checkpoints" / "fixed" / "epoch_186.safetensors", seed=0, truncation=1.0,
               syllables="가", out=out, alternates=3, processes=1)
    check_font(out, text="가가가가")
    url = "data:font/ttf;base64," + base64.b64encode(out.read_bytes()).decode("ascii")
    page_html = (f"<style>@font-face {{ font-family: 'Alts'; src: url({url}) format('truetype'); }} "
                 "body { margin: 0; background: #fff; } .t { position: absolute; left: 0; top: 0; font: 64px/1 'Alts'; "
                 "white-space: pre; color: #000; } .off { top: 100px; font-feature-settings: 'calt' 0, 'clig' 0; }</style>"
                 "<div class='t' id='on'>가가가가</div><div class='t off' id='off'>가가가가</div>")

    def cells(page, selector) -> list[np.ndarray]:
        png = page.locator(selector).screenshot()
        img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)
        assert img.shape[1] == 256, f"{selector}: 4 glyphs of one em should be 256 px wide, got {img.shape}"
        return [img[:, 64 * k:64 * (k + 1)] for k in range(4)]

    def differ(a, b) -> bool:
        return int((np.abs(a - b) > 64).sum()) > 20        # more than a few anti-aliasing pixels

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 400, "height": 240}, device_scale_factor=1)
            page.set_default_timeout(TIMEOUT_MS)
            page.set_content(page_html)
            page.wait_for_function("() => document.fonts.check(\"64px 'Alts'\", '가')")
            page.evaluate("() => document.fonts.ready")
            on, off = cells(page, "#on"), cells(page, "#off")
        finally:
            browser.close()
    assert all(int((c < 128).sum()) > 50 for c in on + off), "a cell is blank: the font was not used"
    assert not any(differ(off[0], c) for c in off[1:]), "with the cycle off the repeats should be the same glyph"
    assert differ(on[0], on[1]) and differ(on[1], on[2]) and differ(on[0], on[2]), \
        "Chromium drew typed repeats alike: the calt alternates are not applied"
    assert not differ(on[0], on[3]), "the fourth repeat should cycle back to the default glyph"
