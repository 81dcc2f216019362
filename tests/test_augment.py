"""rekogan.data.augment: its declared ranges, its output, determinism with a generator, and never a flip."""
from __future__ import annotations

import math

import pytest
import torch

from rekogan.data import augment as aug
from rekogan.data.augment import augment, draw


def giyeok(size: int = 32) -> torch.Tensor:
    """A bold ㄱ (white ink on black, [-1, 1]): a top bar and a stem on the right; its left-right
    mirror and its upside-down image are other shapes."""
    x = torch.full((size, size), -1.0)
    x[4:10, 4:28] = 1.0          # the bar
    x[4:28, 20:27] = 1.0         # the stem, on the right
    return x[None, None]


def corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per sample of (B, 1, H, W) against (B or 1, 1, H, W)."""
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


@pytest.mark.parametrize("strength", [0.5, 1.0, 2.0])
def test_drawn_parameters_fill_the_declared_ranges_and_no_more(strength):
    n = 4096
    p = draw(n, strength=strength, generator=torch.Generator().manual_seed(1))
    s, blend = strength, min(strength, 1.0)
    bounds = {"rotation": math.radians(aug.ROTATION_DEG) * s, "shear": aug.SHEAR * s, "shift": aug.SHIFT * s,
              "elastic": aug.ELASTIC * s}
    for name, bound in bounds.items():
        m = p[name].abs().max().item()
        assert m <= bound and m >= 0.95 * bound, (name, m, bound)         # the whole range, not a narrower one
    dev = (p["scale"] - 1).abs()
    assert dev.max() <= aug.SCALE * s and dev.max() >= 0.95 * aug.SCALE * s
    assert not torch.equal(p["scale"][:, 0], p["scale"][:, 1])             # x and y scale are drawn apart
    lo, hi = aug.STROKE_BLEND
    assert p["blend"].min() >= lo * blend and p["blend"].max() <= hi * blend
    assert ((p["pick"] >= 0) & (p["pick"] < 1)).all()
    thicker, thinner = (p["pick"] < 1 / 3).float().mean(), (p["pick"] > 2 / 3).float().mean()
    assert abs(thicker - 1 / 3) < 0.03 and abs(thinner - 1 / 3) < 0.03    # a third each, a third unchanged
    # the affine part never mirrors: det of the inverse map's 2x2 is (1 - shear sin(rot)) / (sx sy) > 0
    det = (1 - p["shear"] * torch.sin(p["rotation"])) / (p["scale"][:, 0] * p["scale"][:, 1])
    assert (det > 0).all()


def test_output_keeps_shape_dtype_and_range():
    x = giyeok().repeat(64, 1, 1, 1)
    out = augment(x, strength=1.0, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= -1 and out.max() <= 1 and torch.isfinite(out).all()
    assert not torch.equal(out, x) and len({o.numpy().tobytes() for o in out}) == 64   # each sample its own draw
    assert augment(x, strength=0.0) is x                                    # strength 0: untouched
    # a blank page stays blank and a full one full (border padding: no ink comes in from the edges)
    for value in (-1.0, 1.0):
        flat = torch.full((16, 1, 32, 32), value)
        out = augment(flat, strength=2.0, generator=torch.Generator().manual_seed(0))
        assert (out - value).abs().max() < 1e-5          # bilinear weights sum to 1 up to rounding


def test_a_generator_makes_it_deterministic_and_leaves_the_global_rng_alone():
    x = giyeok().repeat(32, 1, 1, 1)
    state = torch.get_rng_state()
    a = augment(x, generator=torch.Generator().manual_seed(7))
    b = augment(x, generator=torch.Generator().manual_seed(7))
    c = augment(x, generator=torch.Generator().manual_seed(8))
    assert torch.equal(torch.get_rng_state(), state), "a seeded generator must not draw from the global RNG"
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = torch.Generator().manual_seed(7)                 # one generator, two calls: the stream moves on
    assert torch.equal(augment(x, generator=g), a) and not torch.equal(augment(x, generator=g), a)
    torch.manual_seed(3)                                 # without one: the global RNG, seedable as usual
    d = augment(x)
    torch.manual_seed(3)
    assert torch.equal(augment(x), d)


@pytest.mark.parametrize("strength", [0.5, 1.0])      # 1.0: the training and classifier default
def test_never_a_flip(strength):
    """Over many draws every augmented ㄱ is closer to the ㄱ than to its left-right or up-down mirror."""
    f = giyeok()
    lr, ud = f.flip(3), f.flip(2)
    assert corr(lr, lr) > corr(lr, f) and corr(ud, ud) > corr(ud, f)    # the measure tells a mirror from the ㄱ
    out = augment(f.repeat(1024, 1, 1, 1), strength=strength, generator=torch.Generator().manual_seed(2))
    to_f, to_lr, to_ud = corr(out, f), corr(out, lr), corr(out, ud)
    assert (to_f > to_lr).all() and (to_f > to_ud).all(), (
        f"{int((to_f <= to_lr).sum())} draws look mirrored left-right, {int((to_f <= to_ud).sum())} up-down")
    assert to_f.min() > 0.3                              # still the ㄱ, however strong the draw
