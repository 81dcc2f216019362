"""The web-font subsets used as extra evaluation writers merge back into one usable face."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

from fontcheck import check_font
from rekogan.data.fonts import Face, render_available
from rekogan.data.webfonts import merge_subsets, subset_files
from rekogan.hangul import ClassList


def _box(pen, x0, y0, x1, y1):
    pen.moveTo((x0, y0)); pen.lineTo((x0, y1)); pen.lineTo((x1, y1)); pen.lineTo((x1, y0)); pen.closePath()


def _subset(path: Path, chars: dict[str, int], flavor: str = "woff") -> None:
    """A one-family subset font: each char a box whose width codes which char it is."""
    names = [".notdef"] + [f"uni{ord(c):04X}" for c in chars]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({ord(c): f"uni{ord(c):04X}" for c in chars})
    glyphs = {}
    for n in names:
        pen = TTGlyphPen(None)
        if n == ".notdef":
            _box(pen, 100, 0, 900, 800)
        else:
            w = chars[chr(int(n[3:], 16))]
            _box(pen, 100, 100, 100 + w, 700)
        glyphs[n] = pen.glyph()
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({n: (1000, 100) for n in names})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": "Sub", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    fb.setupPost()
    fb.font.flavor = flavor
    fb.save(str(path))


def test_merge_joins_every_subset(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    _subset(d / "sub-0-400-normal.woff", {"가": 200, "각": 300})
    _subset(d / "sub-1-400-normal.woff", {"나": 500})
    _subset(d / "sub-1-700-normal.woff", {"다": 600})          # another weight: not merged
    files = subset_files(tmp_path, "sub", 400)
    assert [f.name for f in files] == ["sub-0-400-normal.woff", "sub-1-400-normal.woff"]
    out = tmp_path / "sub.ttf"
    assert merge_subsets(files, out) == 3
    font = TTFont(str(out))
    assert font.flavor is None
    assert {chr(c) for c in font.getBestCmap()} == {"가", "각", "나"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files", "sub.ttf"]   # no temporary file left
    check_font(out, text="가각나")                            # what a merged face maps, OTS and HarfBuzz agree on
    time.sleep(1.1)                                           # fonts carry whole-second timestamps
    merge_subsets(files, tmp_path / "again.ttf")             # same subsets, same bytes (faces.json's sha256)
    assert (tmp_path / "again.ttf").read_bytes() == out.read_bytes()
    # the loader opens the merged face and tells its glyphs apart from a missing one
    kept, glyphs = render_available(Face(str(out), 0, "sub"), ClassList(tuple("가나다")), size=32)
    assert kept == [0, 1]
    ink = glyphs.astype(float).sum(axis=(1, 2))
    assert ink[0] > 0 and ink[1] > 0


def test_merge_refuses_nothing():
    with pytest.raises(AssertionError, match="no subset files"):
        merge_subsets([], "/tmp/never.ttf")


def _eval_writer():
    import importlib.util
    from conftest import REPO
    spec = importlib.util.spec_from_file_location("eval_writer", REPO / "scripts" / "eval_writer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_extra_faces_keep_only_faces_with_every_measured_syllable(tmp_path):
    _subset(tmp_path / "full.ttf", {"가": 200, "나": 400}, flavor=None)
    _subset(tmp_path / "part.ttf", {"가": 300}, flavor=None)
    extra_faces = _eval_writer().extra_faces
    got = extra_faces(str(tmp_path), ClassList(tuple("가나")), 32, known={"NanumPen"})
    assert list(got) == ["web:full"] and got["web:full"].shape == (2, 32, 32)
    # a web face with the name of an installed (maybe trained-on) face is not an unseen writer
    with pytest.raises(SystemExit, match="also a face of the font source"):
        extra_faces(str(tmp_path), ClassList(tuple("가")), 32, known={"part"})


def test_an_interrupted_fetch_keeps_what_it_got(tmp_path, monkeypatch):
    import json
    from rekogan.data import webfonts
    fetched = []

    def fake_fetch(name, version, dest):
        if name == "bad" and not fetched.count("retry"):
            raise RuntimeError("npm pack failed")
        fetched.append(name)
        (dest / f"{name}.ttf").write_bytes(b"x")
        return {"package": f"@fontsource/{name}", "version": version, "file": f"{name}.ttf", "syllables": 1,
                "category": "handwriting", "licence": "OFL-1.1"}

    monkeypatch.setattr(webfonts, "fetch_package", fake_fetch)
    pk = {"good": "1.0.0", "bad": "1.0.0"}
    with pytest.raises(RuntimeError):
        webfonts.fetch_all(tmp_path, packages=pk, log=lambda m: None)
    assert [m["package"] for m in json.loads((tmp_path / "faces.json").read_text())] == ["@fontsource/good"]
    fetched.append("retry")
    got = webfonts.fetch_all(tmp_path, packages=pk, log=lambda m: None)
    assert fetched == ["good", "retry", "bad"]                 # good was not fetched again
    assert [m["package"] for m in got] == ["@fontsource/good", "@fontsource/bad"]
