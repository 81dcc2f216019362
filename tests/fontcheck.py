"""Checks every font a test builds goes through: the OpenType Sanitizer and HarfBuzz shaping.

  check_font(path, text=...)   sanitize(path), then shape(text) must give each Hangul syllable its
                               own glyph (uniXXXX), a space its half cell, and nothing .notdef
  sanitize(path)               OTS (opentype-sanitizer), the checker Chrome and Firefox run on a web
                               font before they use it: it must accept the font and keep every table
                               (a browser would otherwise refuse the font, or silently drop a table)
  shape(path, text)            HarfBuzz (uharfbuzz): [(glyph name, x advance in font units)]
                               (features=: OpenType features on or off, or an alternate's number)

Both packages are in requirements-dev.txt; when one is missing the check fails and names it (a
font test that skipped would let a font that browsers refuse pass).
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from rekogan.export.font import ADVANCE, SPACE


def _need(module: str, package: str):
    try:
        return __import__(module)
    except ImportError:
        pytest.fail(f"{package} is not installed (pip install -r requirements-dev.txt): every font a test "
                    f"builds is checked with it", pytrace=False)


def sanitize(path) -> None:
    """OTS must accept the font at `path` and keep every one of its tables."""
    ots = _need("ots", "opentype-sanitizer")
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        r = ots.sanitize(str(path), str(out), capture_output=True)
        said = (r.stdout + r.stderr).decode("utf-8", "replace").strip()
        assert r.returncode == 0, f"the OpenType Sanitizer rejects {path.name}: {said}"
        before, after = set(TTFont(path).keys()), set(TTFont(out).keys())
    assert before <= after, f"the OpenType Sanitizer dropped {sorted(before - after)} from {path.name}: {said}"


def shape(path, text: str, *, features: dict | None = None) -> list[tuple[str, int]]:
    """`text` shaped by HarfBuzz with the font at `path` (and `features`, e.g. {"calt": False}):
    (glyph name, x advance) per glyph."""
    hb = _need("uharfbuzz", "uharfbuzz")
    face = hb.Face(Path(path).read_bytes())
    font = hb.Font(face)
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(font, buf, features or {})
    order = TTFont(path).getGlyphOrder()
    return [(order[info.codepoint], pos.x_advance) for info, pos in zip(buf.glyph_infos, buf.glyph_positions)]


def check_font(path, *, text: str = "") -> None:
    """sanitize(path); then every character of `text` (Hangul syllables and spaces) must shape to
    its own glyph with its advance: the cmap maps typed syllables to the glyphs drawn for them (in a
    font with alternates, calt may pick uniXXXX.altK, an alternate of the same syllable)."""
    sanitize(path)
    if not text:
        return
    want = [("space", SPACE) if c == " " else (f"uni{ord(c):04X}", ADVANCE) for c in text]
    got = [(re.sub(r"\.alt[1-9]$", "", name), advance) for name, advance in shape(path, text)]
    assert got == want, f"{Path(path).name}: HarfBuzz shaped {text!r} as {got}, expected {want}"
