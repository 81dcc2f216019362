"""A hand, not a font: per-occurrence variation (rekogan.variation) and the natural layout (rekogan.layout).

Determinism, natural 0 = render_tokens' pixels, occurrences that differ more as natural grows, the
layout's proportional advance, bounds, and no glyph flipped or lost. The tiny run for the model
side; synthetic glyphs for the layout; the shipped hangul run for one behavioural check."""
from __future__ import annotations

import hashlib
import math

import pytest
import torch

from rekogan import layout
from rekogan.hangul import Token, tokenize
from rekogan.sampling import render_tokens, seed_to_z
from rekogan.variation import (draw_glyphs, generate_varied, occurrence_indexes, render_natural, variants,
                               writer_key, writer_seed)
from rekogan.writer.latent import WriterGenerator, n_layers

from conftest import REPO

TEXTS = ["{a}{b}{c} {a}\n{b}  {c}{a}A☃{b}\n\n{c} ", "{a}", "", "\n", " {a}{a}{a}{a} ", "xyz"]


def texts(classes):
    a, b, c = classes.syllable(0), classes.syllable(1), classes.syllable(2)
    return [t.format(a=a, b=b, c=c) for t in TEXTS]


def sha(t: torch.Tensor) -> str:
    return hashlib.sha256(repr(tuple(t.shape)).encode() + t.contiguous().numpy().tobytes()).hexdigest()


def fitted_writer(G) -> WriterGenerator:
    """A per-layer writer like a fitted one: a different latent at every layer."""
    g = torch.Generator().manual_seed(11)
    return WriterGenerator(G, 0.8 * torch.randn(n_layers(G), G.cfg.z_dim, generator=g))


# ---- natural 0 is today ---------------------------------------------------------------------

@pytest.mark.parametrize("cell", [None, 24])
def test_natural_zero_is_render_tokens_pixel_for_pixel(tiny_model, cell):
    G, meta = tiny_model
    classes = meta["class_list"]
    wg = fitted_writer(G)
    for text in texts(classes):
        tokens = tokenize(text, classes)
        for gen, z in ((G, seed_to_z(5, G.cfg.z_dim, truncation=0.7)), (wg, wg.centre)):
            want = render_tokens(gen, tokens, seed=0, z=z, cell=cell)
            got = render_natural(gen, tokens, seed=0, z=z, natural=0.0, cell=cell)
            assert got.dtype == torch.uint8 and torch.equal(got, want), repr(text)
        # the seed path too, and a caller's glyph for characters the run cannot write
        printed = lambda ch, size: torch.full((size, size), 120, dtype=torch.uint8)  # noqa: E731
        assert torch.equal(render_natural(G, tokens, seed=9, truncation=0.5, natural=0, cell=cell, unknown_glyph=printed),
                           render_tokens(G, tokens, seed=9, truncation=0.5, cell=cell, unknown_glyph=printed))


def test_natural_zero_glyphs_are_generate(tiny_model):
    from rekogan.sampling import generate
    G, _ = tiny_model
    labels = torch.tensor([0, 1, 0, 3, 0])
    z = seed_to_z(2, G.cfg.z_dim)
    assert torch.equal(generate_varied(G, labels, z, natural=0), generate(G, labels, z))


# ---- determinism ----------------------------------------------------------------------------

def test_same_inputs_same_bytes_and_the_global_rng_untouched(tiny_model):
    G, meta = tiny_model
    classes = meta["class_list"]
    tokens = tokenize(texts(classes)[0], classes)
    wg = fitted_writer(G)
    for gen, z in ((G, seed_to_z(5, G.cfg.z_dim)), (wg, wg.centre)):
        torch.manual_seed(1)
        state = torch.get_rng_state()
        a = render_natural(gen, tokens, seed=0, z=z, natural=0.6)
        assert torch.equal(torch.get_rng_state(), state), "the global RNG was used"
        torch.manual_seed(2)                                   # another global state: no effect
        b = render_natural(gen, tokens, seed=0, z=z, natural=0.6)
        assert sha(a) == sha(b)
    # the writer is what seeds it: another writer, another variation
    z1, z2 = seed_to_z(5, G.cfg.z_dim), seed_to_z(6, G.cfg.z_dim)
    assert writer_key(G, z1) == writer_key(G, z1.clone()) != writer_key(G, z2)
    assert writer_seed(G, z1) == writer_seed(G, z1.clone())
    assert writer_key(wg, wg.centre) != writer_key(G, wg.centre)      # a fitted writer is its layers, not its centre


def test_occurrence_indexes():
    assert occurrence_indexes([3, 1, 3, 3, 1, 0]) == [0, 0, 1, 2, 1, 0]
    assert occurrence_indexes([]) == []


@pytest.mark.parametrize("natural", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_natural_out_of_range_is_refused(tiny_model, natural):
    G, _ = tiny_model
    with pytest.raises(ValueError, match="natural"):
        generate_varied(G, torch.tensor([0]), seed_to_z(0, G.cfg.z_dim), natural=natural)


# ---- occurrences differ, more with natural --------------------------------------------------

def test_occurrences_differ_and_the_difference_grows_with_natural(tiny_model):
    G, _ = tiny_model
    labels = torch.tensor([0, 1, 2, 3]).repeat_interleave(4)           # 4 occurrences of each class
    for gen, z in ((G, seed_to_z(3, G.cfg.z_dim, truncation=0.8)), (fitted_writer(G), None)):
        z = gen.centre if z is None else z
        spread = []
        for natural in (0.0, 0.25, 0.5, 1.0):
            x = generate_varied(gen, labels, z, natural=natural).view(4, 4, -1)     # (class, occurrence, pixels)
            d = torch.stack([(x[:, i] - x[:, j]).abs().mean(1) for i in range(4) for j in range(i + 1, 4)])
            spread.append(float(d.mean()))
        assert spread[0] == 0, "natural 0 draws every occurrence alike"
        assert all(a < b for a, b in zip(spread, spread[1:])), spread
        # the k-th occurrence is one picture wherever it is asked for: a sheet's variant k + 1 is the line's
        v = variants(gen, torch.tensor([0, 2]), z, n=3, natural=0.5)
        toks = [Token("syllable", "?", 0), Token("syllable", "?", 2), Token("syllable", "?", 0), Token("syllable", "?", 0)]
        line = draw_glyphs(gen, toks, z=z, natural=0.5)
        assert v.shape == (2, 3, 16, 16) and v.dtype == torch.uint8
        assert torch.equal(line[0], v[0, 0]) and torch.equal(line[2], v[0, 1]) and torch.equal(line[3], v[0, 2])
        assert torch.equal(line[1], v[1, 0])


# ---- layout ---------------------------------------------------------------------------------

def bar(cell: int, width: int) -> torch.Tensor:
    """A dark rectangle `width` px wide in the middle of a white cell."""
    g = torch.full((cell, cell), 255, dtype=torch.uint8)
    x0 = (cell - width) // 2
    g[cell // 8:cell - cell // 8, x0:x0 + width] = 0
    return g


def corner(cell: int, k: int) -> torch.Tensor:
    """An asymmetric glyph (an L with a dot, varied by k): a mirror of it is another picture."""
    g = torch.full((cell, cell), 255, dtype=torch.uint8)
    g[8:cell - 8, 10:16] = 0                        # the stem, left
    g[cell - 16:cell - 10, 10:cell - 12] = 0        # the foot, bottom
    g[10 + 3 * k:16 + 3 * k, cell - 22:cell - 16] = 0   # a dot, top right
    return g


def syl(n: int) -> list[Token]:
    return [Token("syllable", "가", i) for i in range(n)]


def test_proportional_advance_puts_narrow_glyphs_closer(tmp_path):
    cell = 64
    for natural in (0.0, 0.3, 1.0):
        xs = {}
        for name, width in (("narrow", 8), ("wide", 48)):
            boxes = [layout.ink_box(bar(cell, width))] * 6
            placed = layout.place(syl(6), boxes, cell=cell, natural=natural, seed=4).glyphs
            xs[name] = sum(b.x - a.x for a, b in zip(placed, placed[1:])) / 5
        if natural == 0:
            assert xs["narrow"] == xs["wide"] == cell          # fixed cells
        else:
            assert xs["narrow"] < 0.5 * cell < xs["wide"], xs
            assert xs["wide"] - xs["narrow"] > 30, xs          # the advance follows the ink (48 - 8 px)


def test_word_spaces_are_wider_than_the_gaps_in_a_word():
    cell = 64
    box = layout.ink_box(bar(cell, 40))
    toks = syl(3) + [Token("space", " ")] + syl(3)
    p = layout.place(toks, [box] * 6, cell=cell, natural=0.5, seed=1).glyphs
    ink_gap = lambda a, b: (b.x + box[0]) - (a.x + box[2])  # noqa: E731  (scales are ~1)
    inside = [ink_gap(p[i], p[i + 1]) for i in (0, 1, 3, 4)]
    assert ink_gap(p[2], p[3]) > 2 * max(inside) > 0


def ink(t: torch.Tensor) -> float:
    return float((255 - t.float()).sum())


@pytest.mark.parametrize("natural", [0.0, 0.5, 1.0])
def test_layout_keeps_every_glyph_upright_and_inside_the_page(natural):
    cell = 64
    glyphs = [corner(cell, k % 4) for k in range(12)]
    text = [Token("syllable", "x", i) for i in range(5)] + [Token("space", " ")] + \
        [Token("syllable", "x", i) for i in range(5, 8)] + [Token("newline", "\n")] + \
        [Token("syllable", "x", i) for i in range(8, 12)]
    total = sum(ink(g) for g in glyphs)
    for seed in range(6):
        lay = layout.place(text, layout.ink_boxes(torch.stack(glyphs)), cell=cell, natural=natural, seed=seed)
        page, (ox, oy) = layout.paint_at(lay, glyphs)
        assert page.dtype == torch.uint8 and page.shape[0] >= lay.height and page.shape[1] >= lay.width
        # nothing lost: all the ink is on the page (resampling and the ±5 % sizes move the total a little)
        assert abs(ink(page) - total) <= 0.12 * total, (natural, seed)
        # every glyph is where it was placed, upright: its cell on the page matches it, not a mirror of it
        for p, g in zip(lay.glyphs, glyphs):
            x, y = ox + int(p.x), oy + int(p.y)
            crop = torch.full((cell, cell), 255, dtype=torch.uint8)          # the cell, clipped to the page
            y0, x0 = max(0, -y), max(0, -x)
            part = page[y + y0:y + cell, x + x0:x + cell]
            crop[y0:y0 + part.shape[0], x0:x0 + part.shape[1]] = part
            score = lambda ref: float(((255 - crop.float()) * (255 - ref.float())).sum())  # noqa: E731
            assert score(g) > 1.3 * max(score(g.flip(1)), score(g.flip(0))), (natural, seed, p)
    if natural == 0:
        assert page.shape == (2 * cell, int(8.5 * cell))         # render_tokens' page: 8 cells and a half-cell space


def test_layout_is_deterministic_and_seeded():
    cell = 32
    glyphs = [corner(64, k)[::2, ::2].contiguous() for k in range(4)]
    toks = [Token("syllable", "x", i) for i in range(2)] + [Token("space", " ")] + \
        [Token("syllable", "x", i) for i in range(2, 4)]
    a = layout.layout_page(toks, glyphs, cell=cell, natural=0.7, seed=3)
    b = layout.layout_page(toks, glyphs, cell=cell, natural=0.7, seed=3)
    c = layout.layout_page(toks, glyphs, cell=cell, natural=0.7, seed=4)
    assert sha(a) == sha(b) != sha(c)


def test_rotation_is_clockwise_on_screen_about_the_cell_centre():
    """The convention Placed documents (and an SVG's rotate() shares): +90 degrees takes the right
    of the cell to its bottom; scale grows the glyph about the centre."""
    g = torch.full((1, 33, 33), 255, dtype=torch.uint8)
    g[0, 15:18, 28:31] = 0                                   # a dot right of the centre (16, 16)
    out = layout.jitter_glyphs(g, scale=[1.0], angle=[90.0])[0]
    ys, xs = (out < 128).nonzero(as_tuple=True)
    assert abs(float(xs.float().mean()) - 16) < 1 and abs(float(ys.float().mean()) - 29) < 1
    big = layout.jitter_glyphs(g, scale=[1.5], angle=[0.0], pad=8)[0]
    ys, xs = (big < 128).nonzero(as_tuple=True)
    assert abs(float(xs.float().mean()) - (8 + 16 + 1.5 * 13)) < 1.5 and abs(float(ys.float().mean()) - 24) < 1


def whole_canvases(glyphs: torch.Tensor, *, scale, angle, shift, pad: int) -> torch.Tensor:
    """jitter_glyphs the plain way: every pixel of every padded canvas through F.affine_grid."""
    import torch.nn.functional as F
    n, s = glyphs.shape[0], glyphs.shape[-1]
    size = s + 2 * pad
    rows = []
    for sc, a, (dx, dy) in zip(scale, angle, shift):
        c, si = math.cos(math.radians(a)) / sc, math.sin(math.radians(a)) / sc
        fx, fy = dx * 2 / size, dy * 2 / size
        rows.append([[c, si, -(c * fx + si * fy)], [-si, c, -(-si * fx + c * fy)]])
    grid = F.affine_grid(torch.tensor(rows), (n, 1, size, size), align_corners=False)
    ink = F.pad(255 - glyphs.float(), (pad, pad, pad, pad))[:, None]
    got = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (255 - got[:, 0].round().clamp(0, 255)).to(torch.uint8)


@pytest.mark.parametrize("cell", [64, 256])
def test_jitter_samples_only_where_ink_reaches_and_loses_none(cell):
    """jitter_glyphs samples each glyph only over its ink's reach, in groups: the canvases equal the
    whole canvases resampled (within a grey level), at the sizes the app draws; a blank glyph stays
    paper; sub-pixel shifts and the largest jitter place() draws included."""
    g = torch.Generator().manual_seed(cell)
    glyphs = torch.full((7, cell, cell), 255, dtype=torch.uint8)
    for k in range(6):                                   # strokes up to the cell's edges, some grey
        m = int(cell * (0.03 + 0.02 * k))
        glyphs[k, m:cell - m, m:m + cell // 8] = 0
        glyphs[k, cell - m - cell // 10:cell - m, m:cell - m] = 90
        glyphs[k, cell // 3:cell // 3 + cell // 12, m:cell - m] = 0
    glyphs[5] = torch.randint(0, 256, (cell, cell), generator=g).to(torch.uint8)   # ink everywhere
    extreme = layout.CLIP * layout.ROTATION, math.exp(layout.CLIP * layout.SIZE)
    angle = [extreme[0], -extreme[0], 1.3, 0.0, -2.0, 0.7, 3.0]
    scale = [extreme[1], 1 / extreme[1], 1.02, 1.0, 0.97, 1.1, 1.0]
    shift = [(0.5, 0.25), (0.99, 0.0), (0.0, 0.75), (0.0, 0.0), (0.3, 0.6), (0.1, 0.9), (0.5, 0.5)]
    pad = layout._pad(cell)
    got = layout.jitter_glyphs(glyphs, scale=scale, angle=angle, shift=shift, pad=pad)
    want = whole_canvases(glyphs, scale=scale, angle=angle, shift=shift, pad=pad)
    assert got.shape == want.shape == (7, cell + 2 * pad, cell + 2 * pad)
    diff = (got.int() - want.int()).abs()
    assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 1e-3, int(diff.max())
    assert bool((got[6] == 255).all())                   # the blank glyph
    assert int((want[:6] < 255).sum()) > 0 and bool((got[:6] < 128).any())


def test_layout_refuses_a_glyph_count_that_does_not_match():
    with pytest.raises(ValueError, match="2 syllables but 1 glyphs"):
        layout.layout_page(syl(2), [bar(16, 4)], cell=16)
    with pytest.raises(ValueError, match="natural"):
        layout.layout_page(syl(1), [bar(16, 4)], cell=16, natural=2)
    with pytest.raises(ValueError, match="16x16"):
        layout.layout_page(syl(1), [bar(32, 4)], cell=16, natural=0.5)


# ---- the shipped hangul run: varied, the same writer, readable ------------------------------

HANGUL = REPO / "checkpoints" / "hangul" / "epoch_068.safetensors"
READER = REPO / "checkpoints" / "reader" / "reader.safetensors"


@pytest.mark.skipif(not (HANGUL.is_file() and READER.is_file()),
                    reason=f"needs the shipped hangul run and reader ({HANGUL.name}, {READER.name})")
def test_hangul_occurrences_vary_but_stay_readable_and_the_same_writer():
    from rekogan.checkpoints import load_generator
    from rekogan.hangul import SBASE
    from rekogan.reader import load_reader
    from rekogan.writer.losses import ssim
    G, meta = load_generator(HANGUL)
    reader = load_reader(READER)
    syllables = "가나다라한글손이"
    labels = torch.tensor([meta["class_list"].index(s) for s in syllables])
    target = torch.tensor([ord(s) - SBASE for s in syllables])
    zs = [seed_to_z(s, G.cfg.z_dim, truncation=0.8) for s in (1, 2)]
    own = [generate_varied(G, labels, z, natural=0.0, weight=0.0) for z in zs]
    for w, z in enumerate(zs):
        occ = [k for k in range(3) for _ in syllables]
        x = generate_varied(G, labels.repeat(3), z, natural=0.5, occurrences=occ, weight=0.0).view(3, len(syllables), 1, 64, 64)
        pair = float(torch.stack([ssim(x[i], x[j]) for i in range(3) for j in range(i + 1, 3)]).mean())
        assert 0.55 < pair < 0.95, f"occurrences at natural 0.5: SSIM {pair:.3f}"
        _, read = reader.read(x.flatten(0, 1))
        assert (read == target.repeat(3)).float().mean() >= 22 / 24
        # each occurrence is nearer its own writer's natural-0 glyphs than the other writer's
        for k in range(3):
            assert float(ssim(x[k], own[w]).mean()) > float(ssim(x[k], own[1 - w]).mean())
