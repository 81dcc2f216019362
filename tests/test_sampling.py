"""Sampling: seed -> latent, determinism, truncation, uint8 convention, text layout."""
from __future__ import annotations

import hashlib
import math

import pytest
import torch

from rekogan.hangul import tokenize
from rekogan.sampling import MAX_SEED, grid, render_tokens, sample, seed_to_z, to_uint8

from conftest import run_py

# torch.Generator().manual_seed(s); torch.randn(16, generator=g)  (the CPU Mersenne Twister stream)
EXPECTED_Z = {
    0: [-1.1258398, -1.1523602, -0.2505786, -0.4338788, 0.8487104, 0.6920092, -0.3160128, -2.1152194,
        0.3222749, -1.2633348, 0.3499832, 0.3081339, 0.1198415, 1.2376579, 1.1167772, -0.2472782],
    1234: [-0.1117186, -0.4965901, 0.1630737, -0.8816878, 0.0539002, 0.6683737, -0.0596576, -0.4674979,
           -0.2152529, 0.8839616, -0.7584169, -0.3688679, -0.3423936, -1.4019718, 0.3206480, -1.0218575],
}


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


# ---- seed -> z -------------------------------------------------------------------------------

def test_seed_to_z_matches_the_torch_generator_stream():
    for seed, want in EXPECTED_Z.items():
        z = seed_to_z(seed, 16)
        assert z.dtype == torch.float32 and z.shape == (16,)
        torch.testing.assert_close(z, torch.tensor(want), atol=1e-6, rtol=0)


def test_seed_to_z_does_not_touch_the_global_rng():
    torch.manual_seed(42)
    state = torch.get_rng_state()
    seed_to_z(7, 128)
    assert torch.equal(torch.get_rng_state(), state)


def test_seed_to_z_truncation_scales_towards_the_mean():
    z = seed_to_z(5, 32)
    torch.testing.assert_close(seed_to_z(5, 32, truncation=0.5), 0.5 * z)
    assert torch.equal(seed_to_z(5, 32, truncation=0.0), torch.zeros(32))
    assert not torch.equal(seed_to_z(5, 32), seed_to_z(6, 32))
    seed_to_z(0, 4), seed_to_z(MAX_SEED, 4)                          # both ends are valid


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 2**40, 1.5, "3", None])
def test_invalid_seeds_raise(seed):
    with pytest.raises((AssertionError, ValueError, TypeError)):
        seed_to_z(seed, 16)


@pytest.mark.parametrize("psi", [-0.01, 1.01, math.nan, math.inf])
def test_invalid_truncations_raise(psi, tiny_model):
    with pytest.raises((AssertionError, ValueError)):
        seed_to_z(0, 16, truncation=psi)
    with pytest.raises((AssertionError, ValueError)):
        sample(tiny_model[0], [0], seed=0, truncation=psi)


def test_invalid_seed_raises_in_sample(tiny_model):
    for seed in (-1, MAX_SEED + 1):
        with pytest.raises((AssertionError, ValueError)):
            sample(tiny_model[0], [0], seed=seed)


# ---- determinism --------------------------------------------------------------------------------

def test_same_checkpoint_class_seed_give_identical_pixels(tiny_ckpt):
    from rekogan.checkpoints import load_generator
    G1, _ = load_generator(tiny_ckpt)
    G2, _ = load_generator(tiny_ckpt)                                 # a second, independent load
    a = sample(G1, [0, 1, 2, 3], seed=31337, truncation=0.8)
    b = sample(G1, [0, 1, 2, 3], seed=31337, truncation=0.8)
    c = sample(G2, [0, 1, 2, 3], seed=31337, truncation=0.8)
    assert a.dtype == torch.uint8 and a.shape == (4, 16, 16)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, sample(G1, [0, 1, 2, 3], seed=31338, truncation=0.8))


def test_identical_pixels_in_a_fresh_process(tiny_ckpt):
    from rekogan.checkpoints import load_generator
    G, _ = load_generator(tiny_ckpt)
    here = digest(sample(G, [0, 1, 2, 3], seed=2024, truncation=0.7))
    code = ("import hashlib, sys; from rekogan.checkpoints import load_generator; from rekogan.sampling import sample;"
            "G, _ = load_generator(sys.argv[1]);"
            "print(hashlib.sha256(sample(G, [0, 1, 2, 3], seed=2024, truncation=0.7).numpy().tobytes()).hexdigest())")
    proc = run_py(["-c", code, tiny_ckpt], check=True)
    assert proc.stdout.strip() == here


def test_a_glyph_does_not_depend_on_its_batch(tiny_model):
    G, _ = tiny_model
    together = sample(G, [0, 1, 2, 3, 0], seed=9)
    for i, cls in enumerate([0, 1, 2, 3, 0]):
        alone = sample(G, [cls], seed=9)[0]
        assert (together[i].int() - alone.int()).abs().max() <= 1
    assert (together[0].int() - together[4].int()).abs().max() <= 1


def test_truncation_zero_makes_every_seed_the_same_writer(tiny_model):
    G, _ = tiny_model
    ref = sample(G, [0, 1, 2, 3], seed=0, truncation=0.0)
    for seed in (1, 17, 123456, MAX_SEED):
        assert torch.equal(sample(G, [0, 1, 2, 3], seed=seed, truncation=0.0), ref)
    assert not torch.equal(sample(G, [0, 1, 2, 3], seed=1, truncation=1.0),
                           sample(G, [0, 1, 2, 3], seed=17, truncation=1.0))


# ---- pixel convention -------------------------------------------------------------------------

def test_to_uint8_is_dark_ink_on_white():
    x = torch.tensor([-1.0, 1.0, 0.0, -5.0, 5.0]).view(1, 1, 1, 5)   # model space: -1 paper, +1 ink
    assert to_uint8(x).tolist() == [[[255, 0, 128, 255, 0]]]


def test_grid_layout():
    imgs = torch.arange(6, dtype=torch.uint8).view(6, 1, 1).expand(6, 4, 4).contiguous()
    g = grid(imgs, 2, 3, pad=2)
    assert g.shape == (2 * 6 + 2, 3 * 6 + 2)
    assert g[0].eq(255).all() and g[2, 2] == 0 and g[2, 8] == 1 and g[8, 2] == 3 and g[8 + 3, 14 + 3] == 5


# ---- text layout --------------------------------------------------------------------------------

def test_render_tokens_layout(tiny_model):
    G, meta = tiny_model
    classes, s = meta["class_list"], 16
    a, b, c = classes.syllable(0), classes.syllable(1), classes.syllable(2)

    def page(text, **kw):
        return render_tokens(G, tokenize(text, classes), seed=3, **kw)

    assert page(a).shape == (s, s)
    assert page(a + b + c).shape == (s, 3 * s)
    assert page(a + " " + b).shape == (s, 2 * s + s // 2)               # a space is half a cell
    assert page(a + "  " + b).shape == (s, 3 * s)
    assert page(a + "\n" + b + c).shape == (2 * s, 2 * s)               # a newline starts a line
    assert page(a + b + c + "\n" + a).shape == (2 * s, 3 * s)           # width is the longest line
    assert page(a + "\n").shape == (2 * s, s)                           # a trailing newline adds a line
    assert page("\n\n").shape == (3 * s, s)
    assert page("").shape == (s, s) and page("").eq(255).all()          # empty text: one blank cell
    assert page(a, cell=32).shape == (32, 32)

    # the syllables are the model's glyphs for the same writer, in order; spaces are paper
    p = page(a + " " + b + "\n" + c)
    glyphs = sample(G, [0, 1, 2], seed=3)
    assert (p[:s, :s].int() - glyphs[0].int()).abs().max() <= 1
    assert p[:s, s:s + s // 2].eq(255).all()
    assert (p[:s, s + s // 2:].int() - glyphs[1].int()).abs().max() <= 1
    assert (p[s:, :s].int() - glyphs[2].int()).abs().max() <= 1
    assert p[s:, s:].eq(255).all()                                     # short line padded with paper


def test_render_tokens_draws_unknown_characters(tiny_model):
    G, meta = tiny_model
    classes, s = meta["class_list"], 16
    a = classes.syllable(0)
    text = a + "A😀똠\x07"
    p = render_tokens(G, tokenize(text, classes), seed=3)
    assert p.shape == (s, 5 * s), "every unknown character takes a cell: none is dropped"
    for k in range(1, 5):
        cell = p[:, k * s:(k + 1) * s]
        assert not cell.eq(255).all(), f"unknown character {k} was not drawn"
    # a caller-supplied glyph for unknown characters receives each character and the cell size
    seen = []

    def printed(ch, size):
        seen.append((ch, size))
        return torch.full((size, size), 100, dtype=torch.uint8)

    p = render_tokens(G, tokenize(text, classes), seed=3, unknown_glyph=printed)
    assert seen == [("A", s), ("😀", s), ("똠", s), ("\x07", s)]
    assert p[:, s:].eq(100).all()


def test_render_tokens_only_unknown(tiny_model):
    G, meta = tiny_model
    p = render_tokens(G, tokenize("xyz", meta["class_list"]), seed=0)
    assert p.shape == (16, 48) and p.dtype == torch.uint8
