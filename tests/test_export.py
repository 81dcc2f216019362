"""rekogan.export: fonts and SVG lines traced from glyph bitmaps (fast: a tiny run, synthetic bitmaps,
a handful of glyphs of the shipped fixed run)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageFont

from conftest import REPO, run_py
from fontcheck import check_font, sanitize, shape
from rekogan.export import build as build_mod
from rekogan.export import build_font, line_svg, syllable_set, ExportError
from rekogan.export.font import ADVANCE, ASCENDER, SPACE, FontNames, assemble, font_from_bitmaps, make_glyph
from rekogan.export.smooth import render_char, staircase_score
from rekogan.studio.crisp import enlarge

FIXED = REPO / "checkpoints" / "fixed" / "epoch_186.safetensors"
NAMES = FontNames(family="ReKOGAN test", postscript="ReKOGAN-test", unique_id="test", version="Version 1.0",
                  description="test", licence="test", copyright="test")


def ring(size: int = 64) -> np.ndarray:
    """A dark ring on white: one outer contour and one hole."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    return np.where((r > size * 0.18) & (r < size * 0.38), 0, 255).astype(np.uint8)


def tiny_syllables(tiny_model) -> list[str]:
    return tiny_model[1]["class_list"].to_list()


def ink(img: np.ndarray) -> int:
    return int((img < 128).sum())


# ---- fonts from a checkpoint -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_font(tiny_ckpt, tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("font") / "tiny.ttf"
    wanted = "".join(tiny_syllables(tiny_model)) + "뷁"  # 뷁 is not among the tiny run's 4 classes
    calls = []
    report = build_font(checkpoint=tiny_ckpt, seed=3, truncation=0.8, syllables=wanted, out=out,
                        progress=lambda done, total: calls.append((done, total)))
    return report, out, calls


def test_font_reopens_with_the_tables_a_font_needs(tiny_font, tiny_model):
    report, out, _ = tiny_font
    font = TTFont(out)
    for table in ("cmap", "hmtx", "hhea", "OS/2", "name", "glyf", "head", "maxp", "post"):
        assert table in font, f"the font has no {table} table"
    order = font.getGlyphOrder()
    assert order[0] == ".notdef" and "space" in order, f"glyph order starts {order[:4]}"
    cmap = font.getBestCmap()
    assert cmap[0x20] == "space"
    for s in tiny_syllables(tiny_model):
        assert cmap[ord(s)] == f"uni{ord(s):04X}", f"{s} maps to {cmap.get(ord(s))}"
        assert font["hmtx"][f"uni{ord(s):04X}"][0] == ADVANCE
    assert font["hmtx"]["space"][0] == SPACE
    assert font["head"].unitsPerEm == 1000
    assert font["hhea"].ascent == ASCENDER and font["OS/2"].sTypoAscender == ASCENDER
    assert font["OS/2"].usWinAscent >= font["head"].yMax and font["OS/2"].usWinDescent >= -font["head"].yMin, \
        "the Windows metrics must hold every glyph, or it is clipped"


def test_name_table_carries_run_epoch_writer_and_provenance(tiny_font, tiny_ckpt):
    font = TTFont(tiny_font[1])
    name = font["name"]
    family = name.getDebugName(1)
    assert "e2" in family and "s3p080" in family, f"family name {family!r} should carry epoch 2 and the writer"
    licence = name.getDebugName(13)
    run = tiny_ckpt.parent.name
    assert f"run {run}" in licence and "epoch 2" in licence and "seed 3, psi 0.8" in licence, licence
    assert "claims no rights" in licence, "the provenance must not claim rights in the outlines"
    # the tiny run trained on the installed fonts: its data.json names each face's package and licence
    data = json.loads((tiny_ckpt.parent / "data.json").read_text(encoding="utf-8"))
    held = set(data["heldout_faces"])
    trained = [f for f in data["faces"] if f not in held]
    assert f"rendered from {len(trained)} font faces under these licences" in licence, licence
    for face in trained:
        info = data["face_files"][face]
        assert info["licence"] in licence and info["package"] in licence, (face, info, licence)
    from rekogan.export.provenance import training_licences
    assert "provenance was not recorded" in training_licences(None), "a run without data.json says so"


def test_missing_syllable_is_reported_and_the_rest_is_built(tiny_font, tiny_model):
    report, out, _ = tiny_font
    assert report.missing == ("뷁",)
    assert set(report.written) == set(tiny_syllables(tiny_model))
    assert ord("뷁") not in TTFont(out).getBestCmap()
    assert any("cannot write 1" in line and "뷁" in line for line in report.lines()), report.lines()


def test_font_passes_the_sanitizer_and_harfbuzz_maps_each_syllable_to_its_glyph(tiny_font, tiny_model):
    syl = "".join(tiny_syllables(tiny_model))
    check_font(tiny_font[1], text=f"{syl} {syl[::-1]}")
    assert shape(tiny_font[1], "뷁")[0][0] == ".notdef", "a syllable the font lacks must not borrow a glyph"


def test_os2_says_installable_hangul_korean_and_regular(tiny_font):
    os2 = TTFont(tiny_font[1])["OS/2"]
    assert os2.fsType == 0, "fsType: installable, no embedding restriction"
    assert os2.ulUnicodeRange2 >> (56 - 32) & 1, "Unicode range bit 56 (Hangul Syllables) is not set"
    assert os2.ulUnicodeRange1 == 0 and os2.ulUnicodeRange2 == 1 << (56 - 32), "claims ranges it does not cover"
    assert os2.ulCodePageRange1 >> 19 & 1, "code page bit 19 (Korean Wansung, 949) is not set"
    assert os2.usWeightClass == 400, "a writer without a stroke weight is Regular"
    assert os2.fsSelection & 0x40 and not os2.fsSelection & 0x21, "Regular: neither italic nor bold"


def test_weight_class_follows_the_stroke_weight(tmp_path):
    # the shipped hangul run has the stroke-weight control: -2 (thin) and +2 (bold) on two syllables
    hangul = REPO / "checkpoints" / "hangul" / "epoch_068.safetensors"
    classes = {}
    for weight in (-2.0, 0.0, 2.0):
        out = tmp_path / f"w{weight:+g}.ttf"
        build_font(checkpoint=hangul, seed=1, truncation=0.8, weight=weight, syllables="한글", out=out, processes=1)
        check_font(out, text="한글 글한")
        classes[weight] = TTFont(out)["OS/2"].usWeightClass
    assert classes == {-2.0: 200, 0.0: 400, 2.0: 600}, classes


def test_the_font_checks_can_fail(tiny_font, tmp_path):
    data = tiny_font[1].read_bytes()
    cut = tmp_path / "cut.ttf"
    cut.write_bytes(data[:len(data) // 2])      # a font cut short, as by a killed download
    with pytest.raises(AssertionError, match="Sanitizer rejects"):
        sanitize(cut)
    font = TTFont(tiny_font[1])
    first, second = sorted(c for c in font.getBestCmap() if c >= 0xAC00)[:2]
    for table in font["cmap"].tables:           # two syllables swapped: the cmap lies
        if first in table.cmap:                 # (a new dict: subtables may share one)
            table.cmap = {**table.cmap, first: table.cmap[second], second: table.cmap[first]}
    swapped = tmp_path / "swapped.ttf"
    font.save(str(swapped))
    sanitize(swapped)                           # a valid font ...
    with pytest.raises(AssertionError, match="HarfBuzz shaped"):
        check_font(swapped, text=chr(first))   # ... that draws the wrong syllable


def test_progress_reaches_the_total(tiny_font, tiny_model):
    calls = tiny_font[2]
    n = len(tiny_syllables(tiny_model))
    assert calls[0] == (0, n) and calls[-1] == (n, n), calls
    assert [d for d, _ in calls] == sorted(d for d, _ in calls), "progress must not go backwards"


def test_every_glyph_renders_with_freetype(tiny_font, tiny_model):
    pil = ImageFont.truetype(str(tiny_font[1]), 64)
    for s in tiny_syllables(tiny_model):
        assert ink(render_char(pil, s, px=64)) > 0, f"{s} renders blank"


def test_written_atomically_no_temporary_left(tiny_font):
    out = tiny_font[1]
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_a_failed_save_keeps_the_old_font_and_leaves_no_temporary(tiny_font, tiny_ckpt, tmp_path, monkeypatch):
    out = tmp_path / "f.ttf"
    out.write_bytes(tiny_font[1].read_bytes())

    def disk_full(self, target, *args, **kwargs):
        with open(target, "wb") as f:
            f.write(b"half a font")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(TTFont, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        build_font(checkpoint=tiny_ckpt, seed=3, truncation=0.8, syllables="seri95", out=out, processes=1)
    assert out.read_bytes() == tiny_font[1].read_bytes(), "a failed save changed the old font"
    assert [p.name for p in tmp_path.iterdir()] == ["f.ttf"], "a temporary file was left behind"


def test_pool_gives_the_same_glyphs_as_one_process(tiny_ckpt, tmp_path, monkeypatch):
    build_font(checkpoint=tiny_ckpt, seed=1, truncation=1.0, syllables="seri95", out=tmp_path / "a.ttf", processes=1)
    monkeypatch.setattr(build_mod, "PARALLEL_MIN", 0)
    monkeypatch.setattr(build_mod, "TASK", 1)  # one glyph per task: the order must survive the pool
    build_font(checkpoint=tiny_ckpt, seed=1, truncation=1.0, syllables="seri95", out=tmp_path / "b.ttf", processes=2)
    sanitize(tmp_path / "a.ttf")
    sanitize(tmp_path / "b.ttf")
    a, b = TTFont(tmp_path / "a.ttf"), TTFont(tmp_path / "b.ttf")
    assert a.getGlyphOrder() == b.getGlyphOrder()
    for g in a.getGlyphOrder():
        assert list(a["glyf"][g].getCoordinates(a["glyf"])[0]) == list(b["glyf"][g].getCoordinates(b["glyf"])[0]), g


# ---- outlines ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cff", [False, True], ids=["truetype", "cff"])
def test_hole_stays_open_in_both_outline_formats(tmp_path, cff):
    path = tmp_path / ("ring.otf" if cff else "ring.ttf")
    font_from_bitmaps({"가": ring()}, names=NAMES, cff=cff).save(str(path))
    check_font(path, text="가 가")
    font = TTFont(path)
    assert ("CFF " in font) == cff and ("glyf" in font) != cff
    img = render_char(ImageFont.truetype(str(path), 64), "가", px=64)
    assert img[32, 32] > 200, "the ring's hole is filled: contour directions are wrong for non-zero winding"
    assert img[32, 32 + 18] < 60, "the ring itself is not drawn"
    source = ring()
    agree = ((img < 128) == (source < 128)).mean()
    assert agree > 0.98, f"the rendered ring matches its bitmap on only {agree:.1%} of pixels"


def _pixel_squares(bitmap: np.ndarray) -> list[np.ndarray]:
    """An outline of one square per ink pixel: the pixel staircase itself (a negative control)."""
    out = []
    for y, x in zip(*np.nonzero(bitmap < 128)):
        pts = np.array([(x, y), (x, y + 1), (x + 1, y + 1), (x + 1, y)], dtype=np.float64)  # screen CCW
        prev = np.roll(pts, 1, axis=0)
        out.append(np.stack([prev, pts, pts], axis=1))
    return out


@pytest.fixture(scope="module")
def fixed_bitmaps():
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import sample
    g, meta = load_generator(FIXED)
    syl = meta["class_list"].to_list()[::40][:12]
    imgs = sample(g, [meta["class_list"].index(s) for s in syl], seed=0, truncation=1.0).numpy()
    return dict(zip(syl, imgs))


def test_outlines_show_no_pixel_staircase_at_256px(fixed_bitmaps, tmp_path):
    font_from_bitmaps(fixed_bitmaps, names=NAMES).save(str(tmp_path / "smooth.ttf"))
    few = list(fixed_bitmaps)[:3]  # a square per ink pixel is slow to convert: three glyphs are enough
    squares = {c: make_glyph(_pixel_squares(fixed_bitmaps[c]), size=64, cff=False) for c in few}
    assemble(squares, names=NAMES).save(str(tmp_path / "stairs.ttf"))
    check_font(tmp_path / "smooth.ttf", text="".join(fixed_bitmaps))
    check_font(tmp_path / "stairs.ttf", text="".join(few))
    smooth = ImageFont.truetype(str(tmp_path / "smooth.ttf"), 256)
    stairs = ImageFont.truetype(str(tmp_path / "stairs.ttf"), 256)
    for c, bitmap in fixed_bitmaps.items():
        nearest = np.asarray(Image.fromarray(bitmap).resize((256, 256), Image.NEAREST))
        # the measure must see a staircase where there is one ...
        assert staircase_score(nearest, period=4) > 0.9
        if c in few:
            assert staircase_score(render_char(stairs, c, px=256), period=4) > 0.9
        # ... and the traced outline must not have one
        score = staircase_score(render_char(smooth, c, px=256), period=4)
        assert score < 0.5, f"{c}: {score:.2f} of the edges at 256 px lie on the 64 px grid (staircase)"


def test_rendered_at_64px_the_font_lands_on_its_bitmaps(fixed_bitmaps, tmp_path):
    font_from_bitmaps(fixed_bitmaps, names=NAMES).save(str(tmp_path / "f.ttf"))
    sanitize(tmp_path / "f.ttf")
    pil = ImageFont.truetype(str(tmp_path / "f.ttf"), 64)
    for c, bitmap in fixed_bitmaps.items():
        agree = ((render_char(pil, c, px=64) < 128) == (bitmap < 128)).mean()
        assert agree > 0.94, f"{c}: the rendered glyph agrees with its bitmap on {agree:.1%} of pixels"


# ---- SVG of a line -----------------------------------------------------------------------------

def test_line_svg_has_one_path_group_per_syllable(tiny_model):
    g, meta = tiny_model
    syl = tiny_syllables(tiny_model)
    text = f"{syl[0]}{syl[1]} {syl[2]}\n{syl[3]}뷁"
    svg = line_svg(generator=g, classes=meta["class_list"], text=text, seed=5, truncation=0.7)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    groups = root.findall(f"{ns}g")
    assert [grp.get("data-char") for grp in groups] == syl, "one <g> per syllable, in text order"
    assert all(grp.find(f"{ns}path") is not None for grp in groups)
    unknown = [r for r in root.findall(f"{ns}rect") if r.get("class") == "unknown"]
    assert [r.get("data-char") for r in unknown] == ["뷁"], "a character the run cannot write is marked, not dropped"
    from rekogan.hangul import tokenize
    from rekogan.sampling import render_tokens
    page = render_tokens(g, tokenize(text, meta["class_list"]), seed=5, truncation=0.7)
    assert (float(root.get("height")), float(root.get("width"))) == tuple(page.shape), \
        "the SVG is laid out like the PNG line (cells, half-cell spaces, rows)"


def test_line_svg_rejects_empty_text(tiny_model):
    g, meta = tiny_model
    with pytest.raises(ExportError, match="empty"):
        line_svg(generator=g, classes=meta["class_list"], text="  ", seed=0)


# ---- bad input -----------------------------------------------------------------------------------

def test_syllable_sets():
    assert len(syllable_set("seri95").syllables) == 520
    ks = syllable_set("ksx1001").syllables
    assert len(ks) == 2350 and ks[0] == "가" and ks[-1] == "힝"
    allset = syllable_set("all").syllables
    assert len(allset) == 11172 and allset[0] == "가" and allset[-1] == "힣"
    text = syllable_set("가나 가A!")
    assert text.syllables == ("가", "나") and text.ignored == ("A", "!")


@pytest.mark.parametrize("spec", ["", "   ", "seri96", "abc"])
def test_unknown_or_empty_syllable_set_is_an_error(spec):
    with pytest.raises(ExportError):
        syllable_set(spec)


def test_out_path_in_a_missing_folder_is_an_error(tiny_ckpt, tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        build_font(checkpoint=tiny_ckpt, seed=0, truncation=1.0, syllables="seri95", out=tmp_path / "no" / "f.ttf")
    with pytest.raises(ExportError, match=r"\.ttf"):
        build_font(checkpoint=tiny_ckpt, seed=0, truncation=1.0, syllables="seri95", out=tmp_path / "f.woff")


def test_a_run_that_can_write_none_of_the_set_is_an_error(tiny_ckpt, tmp_path):
    with pytest.raises(ExportError, match="none of the 1"):
        build_font(checkpoint=tiny_ckpt, seed=0, truncation=1.0, syllables="뷁", out=tmp_path / "f.ttf")
    assert not list(tmp_path.iterdir()), "nothing is written when nothing can be built"


def test_weight_on_a_run_without_weight_condition_is_an_error(tiny_ckpt, tmp_path):
    with pytest.raises(ExportError, match="stroke-weight"):
        build_font(checkpoint=tiny_ckpt, seed=0, truncation=1.0, weight=1.0, syllables="seri95", out=tmp_path / "f.ttf")


@pytest.mark.parametrize("args, message", [
    (["--syllables", "seri96"], "not a syllable set"),
    (["--syllables", ""], "empty"),
    (["--seed", "-1"], "--seed"),
    (["--truncation", "2"], "--truncation"),
    (["--writer", "hand.json"], "not both"),
    (["--seed", None, "--writer", "hand.json"], "writer"),
    (["--seed", None, "--writer", "rkw1.AAAA"], "damaged"),
    (["--out", "missing/dir/f.ttf"], "does not exist"),
    (["--alternates", "0"], "--alternates must be one of 1-4"),
    (["--alternates", "5"], "--alternates must be one of 1-4"),
    (["--size", "100"], "--size must be one of 64, 128, 256"),
    (["--natural", "1.5"], "--natural"),
    (["--alternates", "2", "--natural", "0"], "alternates need a hand that varies"),
])
def test_cli_bad_input_is_one_error_line_and_status_2(tiny_ckpt, tmp_path, args, message):
    base = {"--checkpoint": str(tiny_ckpt), "--seed": "0", "--syllables": "seri95", "--out": str(tmp_path / "f.ttf")}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    base = {k: v for k, v in base.items() if v is not None}
    argv = [x for kv in base.items() for x in kv]
    proc = run_py(["-m", "rekogan.export", "font", *argv], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr


def test_cli_writes_a_font(tiny_ckpt, tiny_model, tmp_path):
    out = tmp_path / "hand.otf"
    proc = run_py(["-m", "rekogan.export", "font", "--checkpoint", tiny_ckpt, "--seed", "2", "--truncation", "0.5",
                   "--syllables", "seri95", "--out", out, "--no-progress"])
    assert proc.returncode == 0, proc.stderr
    assert "CFF " in TTFont(out), ".otf is CFF"
    syl = "".join(tiny_syllables(tiny_model))
    check_font(out, text=f"{syl} {syl}")
    assert f"{len(tiny_syllables(tiny_model))} syllables" in proc.stdout
    assert "cannot write 516 of the 520" in proc.stdout, proc.stdout


# ---- a fitted writer (the "own hand" issue) -----------------------------------------------------

@pytest.mark.parametrize("per_layer", [False, True])
def test_font_of_a_fitted_writer_is_traced_from_that_writers_glyphs(tiny_ckpt, tiny_model, tmp_path, per_layer):
    import torch
    from rekogan.sampling import generate, to_uint8
    from rekogan.writer.latent import n_layers
    from rekogan.writer.value import encode, writer_latent
    G, meta = tiny_model
    layers = n_layers(G) if per_layer else 1
    code = encode(torch.randn(layers, G.cfg.z_dim, generator=torch.Generator().manual_seed(5)))
    report = build_font(checkpoint=tiny_ckpt, writer=code, syllables="seri95", out=tmp_path / "w.ttf", processes=1)
    check_font(report.path, text="".join(tiny_syllables(tiny_model)))
    classes = tiny_syllables(tiny_model)
    wl = writer_latent(code, generator=G)
    bitmaps = to_uint8(generate(wl.generator, torch.arange(len(classes)), wl.z)).numpy()
    bitmaps, _ = enlarge(bitmaps, size=256)          # fonts are traced from 256 px glyphs by default
    want = font_from_bitmaps(dict(zip(classes, bitmaps)), names=NAMES)
    got = TTFont(report.path)
    for s in classes:
        g = f"uni{ord(s):04X}"
        assert list(got["glyf"][g].getCoordinates(got["glyf"])[0]) == \
            list(want["glyf"][g].getCoordinates(want["glyf"])[0]), f"{s}: not the writer's glyph"
    licence = got["name"].getDebugName(13)
    assert f"fitted writer {code}" in licence, licence
    assert "seed" not in got["name"].getDebugName(1), "a fitted writer's family name must not name a seed"


def test_font_needs_exactly_one_writer(tiny_ckpt, tmp_path):
    with pytest.raises(ExportError, match="not both"):
        build_font(checkpoint=tiny_ckpt, seed=0, writer="rkw1.x", syllables="seri95", out=tmp_path / "f.ttf")
    with pytest.raises(ExportError, match="give the writer"):
        build_font(checkpoint=tiny_ckpt, syllables="seri95", out=tmp_path / "f.ttf")


def test_cli_writes_a_font_from_a_writer_file(tiny_ckpt, tiny_model, tmp_path):
    import torch
    from rekogan.writer.value import Writer, encode
    G = tiny_model[0]
    path = Writer(code=encode(torch.zeros(1, G.cfg.z_dim))).save(tmp_path / "writer.json")
    out = tmp_path / "mine.ttf"
    proc = run_py(["-m", "rekogan", "font", "--checkpoint", tiny_ckpt, "--writer", path, "--syllables", "seri95",
                   "--out", out, "--no-progress"])
    assert proc.returncode == 0, proc.stderr
    assert "fitted writer" in TTFont(out)["name"].getDebugName(13)
    check_font(out, text="".join(tiny_syllables(tiny_model)))


def test_vtracer_svg_parser_reads_lines_curves_and_translate():
    from rekogan.export.trace import parse_vtracer_svg
    svg = ('<svg><path d="M0 0 L10 0 C10 5 10 5 10 10 L0 10 Z M2 2 L2 8 L8 8 Z" fill="#000000" '
           'transform="translate(5,6)"/></svg>')
    outer, inner = parse_vtracer_svg(svg)
    assert outer.shape == (4, 3, 2), "three drawn segments and the closing line back to the start"
    assert outer[0].tolist() == [[5, 6], [15, 6], [15, 6]], "a line is a cubic with controls at its ends, translated"
    assert outer[-1, 2].tolist() == [5, 6], "the contour closes on its start"
    assert inner.shape == (3, 3, 2) and inner[-1, 2].tolist() == [7, 8]


def test_vtracer_svg_parser_reads_any_attribute_order_and_spaced_transforms():
    from rekogan.export.trace import parse_vtracer_svg
    square = "M0 0 L10 0 L10 10 L0 10 Z"
    plain, = parse_vtracer_svg(f'<svg><path d="{square}" transform="translate(3,4)"/></svg>')
    assert plain[0].tolist() == [[3, 4], [13, 4], [13, 4]]
    for svg in (f'<svg><path fill="#000000" transform="translate(3,4)" d="{square}"/></svg>',   # d not first
                f'<svg><path d="{square}" transform="translate(3, 4)"/></svg>',                # a space
                f"<svg><path transform='translate(3 4)' d='{square}' /></svg>",               # other quotes
                '<svg><g transform="translate(1, 1)"><path d="m2 3 l10 0 l0 10 l-10 0 z" '     # relative, a group
                'transform="translate(0 0)"/></g></svg>'):
        got = parse_vtracer_svg(svg)
        assert len(got) == 1 and np.array_equal(got[0], plain), svg


@pytest.mark.parametrize("transform", ["translate(3,4", "shear(2)", "translate(a,b)", "translate(1,2) junk"])
def test_vtracer_svg_parser_refuses_a_transform_it_cannot_read(transform):
    from rekogan.export.trace import parse_vtracer_svg
    with pytest.raises(ValueError, match="SVG transform"):
        parse_vtracer_svg(f'<svg><path d="M0 0 L1 0 L1 1 Z" transform="{transform}"/></svg>')


# ---- fonts traced from 256 px, and alternates (issues 23 and 24) --------------------------------

def test_fonts_traced_from_each_size_land_on_the_64px_bitmaps(tmp_path):
    # the fixed run's glyphs, enlarged by the upscaler to 128 / 256 px before tracing (the default
    # 256): each font passes the checks and, rendered at 64 px, still draws the generated glyph
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import sample
    g, meta = load_generator(FIXED)
    text = "한글가나"
    bitmaps = sample(g, [meta["class_list"].index(s) for s in text], seed=0, truncation=1.0).numpy()
    coords = {}
    for size in (64, 128, 256):
        out = tmp_path / f"s{size}.ttf"
        build_font(checkpoint=FIXED, seed=0, truncation=1.0, syllables=text, out=out, size=size, processes=1)
        check_font(out, text=f"{text} {text[::-1]}")
        pil = ImageFont.truetype(str(out), 64)
        for s, bitmap in zip(text, bitmaps):
            agree = ((render_char(pil, s, px=64) < 128) == (bitmap < 128)).mean()
            assert agree > 0.94, f"size {size}, {s}: the rendered glyph agrees with its bitmap on {agree:.1%} of pixels"
        font = TTFont(out)
        coords[size] = list(font["glyf"]["uniD55C"].getCoordinates(font["glyf"])[0])
    assert coords[64] != coords[256], "--size 256 traced the same outline as 64 px"
    default = tmp_path / "default.ttf"
    build_font(checkpoint=FIXED, seed=0, truncation=1.0, syllables=text, out=default, processes=1)
    font = TTFont(default)
    assert list(font["glyf"]["uniD55C"].getCoordinates(font["glyf"])[0]) == coords[256], "the default is not 256 px"


def test_cli_font_size(tiny_ckpt, tiny_model, tmp_path):
    out = tmp_path / "s128.ttf"
    proc = run_py(["-m", "rekogan", "font", "--checkpoint", tiny_ckpt, "--seed", "1", "--syllables", "seri95",
                   "--size", "128", "--out", out, "--no-progress"])
    assert proc.returncode == 0, proc.stderr
    check_font(out, text="".join(tiny_syllables(tiny_model)))


def _shapes() -> list[np.ndarray]:
    """Three clearly different dark-on-white bitmaps: a ring, a square, a bar."""
    square, bar = np.full((64, 64), 255, np.uint8), np.full((64, 64), 255, np.uint8)
    square[16:48, 16:48] = 0
    bar[8:56, 28:36] = 0
    return [ring(), square, bar]


def _gsub_features(path) -> set[str]:
    font = TTFont(path)
    return {r.FeatureTag for r in font["GSUB"].table.FeatureList.FeatureRecord} if "GSUB" in font else set()


def test_calt_cycles_the_alternates_so_typed_repeats_differ(tmp_path):
    ring_, square, bar = _shapes()
    path = tmp_path / "alts.ttf"
    font_from_bitmaps({"가": ring_, "나": bar}, names=NAMES, alternates={"가": [square, bar], "나": [ring_, square]}
                      ).save(str(path))
    check_font(path, text="가가가가 나가")
    names = [g for g, _ in shape(path, "가가가가")]
    assert names == ["uniAC00", "uniAC00.alt1", "uniAC00.alt2", "uniAC00"], names
    # one space between repeats is looked through; a different syllable counts as the glyph before
    assert [g for g, _ in shape(path, "가 가")] == ["uniAC00", "space", "uniAC00.alt1"]
    assert [g for g, _ in shape(path, "나가")] == ["uniB098", "uniAC00.alt1"]
    assert {"calt", "clig", "salt", "aalt"} <= _gsub_features(path)
    # clig carries the same cycle (for shapers that switch calt off for Hangul, as Chromium's does)
    assert [g for g, _ in shape(path, "가가가", features={"calt": False})] == ["uniAC00", "uniAC00.alt1", "uniAC00.alt2"]
    off = {"calt": False, "clig": False}
    assert [g for g, _ in shape(path, "가가", features=off)] == ["uniAC00"] * 2
    # salt / aalt pick one alternate (the cycle off, as a user choosing a form does)
    for feature, k in (("salt", 1), ("salt", 2), ("aalt", 2)):
        got = [g for g, _ in shape(path, "가가", features={**off, feature: k})]
        assert got == [f"uniAC00.alt{k}"] * 2, (feature, k, got)
    # the alternates are the bitmaps given, in order: the ring has a hole, the square none
    font = TTFont(path)
    assert font["glyf"]["uniAC00.alt1"].numberOfContours == 1 and font["glyf"]["uniAC00"].numberOfContours == 2


def test_a_font_without_alternates_has_no_features(tiny_font):
    assert _gsub_features(tiny_font[1]) == set()
    assert not any(".alt" in g for g in TTFont(tiny_font[1]).getGlyphOrder())


def test_font_with_alternates_from_a_checkpoint(tmp_path):
    # 2 syllables x 3 alternates of the fixed run: occurrences 0, 1, 2 of the hand, all different
    out = tmp_path / "alts.ttf"
    report = build_font(checkpoint=FIXED, seed=0, truncation=1.0, syllables="가나", out=out, size=64, alternates=3,
                        processes=1)
    assert report.alternates == 3 and "x 3 alternates" in report.lines()[0]
    assert report.family.endswith("a3n045"), f"the family must tell this font from the plain one: {report.family}"
    check_font(out, text="가가가가 나나")
    font = TTFont(out)
    order = font.getGlyphOrder()
    assert {f"uni{ord(s):04X}.alt{k}" for s in "가나" for k in (1, 2)} <= set(order)
    glyf = font["glyf"]
    outlines = {g: tuple(glyf[g].getCoordinates(glyf)[0]) for g in ("uniAC00", "uniAC00.alt1", "uniAC00.alt2")}
    assert len(set(outlines.values())) == 3, "the alternates are drawn the same"
    shaped = [g for g, _ in shape(out, "가가가가")]
    assert len(set(shaped)) >= 3, f"HarfBuzz maps 가가가가 to {shaped}"


@pytest.mark.parametrize("kwargs, message", [
    (dict(alternates=0), "alternates must be a whole number in 1..4"),
    (dict(alternates=5), "alternates must be a whole number in 1..4"),
    (dict(alternates=2.0), "alternates must be a whole number in 1..4"),
    (dict(size=100), "size must be one of"),
    (dict(alternates=2, natural=0), "alternates need a hand that varies"),
    (dict(alternates=2, natural=2), "Natural must be a number"),
])
def test_bad_size_alternates_or_natural_is_an_error(tiny_ckpt, tmp_path, kwargs, message):
    with pytest.raises(ExportError, match=message):
        build_font(checkpoint=tiny_ckpt, seed=0, syllables="seri95", out=tmp_path / "f.ttf", **kwargs)
    assert not (tmp_path / "f.ttf").exists()
