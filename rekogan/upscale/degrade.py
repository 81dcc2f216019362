"""Training pairs made to look like generator output, on tensors, deterministic with a generator.

Two kinds of change:
  `jitter_pair`  changes the glyph itself, at 256 px, before the 64 px input is made from it, so
                 the truth changes with the input: a small affine and elastic warp, and thicker
                 or thinner strokes (max / min pooling). The upscaler must keep these: a writer's
                 wobble and weight are what is written.
  `degrade`      roughens the 64 px input only, like the generators' artefacts (look at any
                 grid_NNN.png): blur, grey and textured strokes, faint smudges beside strokes,
                 speckle, broken strokes, grey fringes. The truth stays clean, so the upscaler
                 learns to clean these, not to enlarge them.
A share of the batch (CLEAN) gets no `degrade`: real glyphs must come through faithfully too.
All draws come from the given torch.Generator on the CPU, in a fixed order, so a step's batch is
the same on every run (training resumes exactly).
Images are (B, 1, H, W) float ink in [0, 1], white ink on black.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CLEAN = 0.25                  # share of inputs left as they are (only rounded to uint8 levels)
WARP = 0.5                    # share of glyphs warped (jitter_pair)
WEIGHT = 0.5                  # share of glyphs made thicker or thinner (half each)


def _u(g: torch.Generator, *shape, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return torch.rand(*shape, generator=g) * (hi - lo) + lo


def _pick(g: torch.Generator, b: int, p: float) -> torch.Tensor:
    """(B, 1, 1, 1) bool: which samples get a change of probability p."""
    return (torch.rand(b, generator=g) < p)[:, None, None, None]


def _smooth_noise(g: torch.Generator, b: int, size: int, cells: int) -> torch.Tensor:
    """(B, 1, size, size) noise in [0, 1], smooth over size / cells pixels."""
    return F.interpolate(torch.rand(b, 1, cells, cells, generator=g), size=(size, size), mode="bilinear",
                         align_corners=False)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """A per-sample Gaussian blur (sigma (B,) in pixels, 0 = none), 5 x 5 taps, separable."""
    t = torch.arange(-2, 3, dtype=x.dtype)
    k = torch.exp(-(t[None] ** 2) / (2 * sigma.clamp(min=1e-3)[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)                                     # (B, 5)
    b, _, h, w = x.shape
    y = F.conv2d(x.view(1, b, h, w), k.view(b, 1, 1, 5), padding=(0, 2), groups=b)
    y = F.conv2d(y, k.view(b, 1, 5, 1), padding=(2, 0), groups=b)
    return y.view(b, 1, h, w)


def _dilate(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.max_pool2d(x, k, 1, k // 2)


def _erode(x: torch.Tensor, k: int) -> torch.Tensor:
    return -F.max_pool2d(-x, k, 1, k // 2)


def jitter_pair(hi: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Warp and re-weight glyphs at 256 px (the truth and, reduced, the input both follow)."""
    b, _, h, w_ = hi.shape
    rot = _u(g, b, lo=-1, hi=1) * math.radians(4)
    shear = _u(g, b, lo=-1, hi=1) * 0.1
    scale = 1 + _u(g, b, 2, lo=-1, hi=1) * 0.06
    shift = _u(g, b, 2, lo=-1, hi=1) * 0.03
    elastic = _u(g, b, 2, 4, 4, lo=-1, hi=1) * 0.02
    warp, weight, kernel = torch.rand(b, generator=g) < WARP, _u(g, b), _u(g, b)
    out = hi.clone()
    w = warp.nonzero()[:, 0]                                  # only the chosen glyphs: 256 px is costly
    if len(w):
        cos, sin = torch.cos(rot[w]), torch.sin(rot[w])
        sc, sh = scale[w], shift[w]
        theta = torch.stack([torch.stack([cos / sc[:, 0], (-sin + shear[w]) / sc[:, 0], sh[:, 0]], 1),
                             torch.stack([sin / sc[:, 1], cos / sc[:, 1], sh[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, (len(w), 1, h, w_), align_corners=False)
        disp = F.interpolate(elastic[w], size=(h, w_), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
        out[w] = F.grid_sample(hi[w], grid + disp, mode="bilinear", padding_mode="zeros", align_corners=False)
    # stroke weight: 3 or 5 px pooling at 256 moves each edge 1 or 2 px (0.25 or 0.5 px at 64)
    k = 3 + 2 * (kernel * 2).long().clamp(max=1)
    for size in (3, 5):
        thick = ((weight < WEIGHT / 2) & (k == size)).nonzero()[:, 0]
        thin = ((weight >= WEIGHT / 2) & (weight < WEIGHT) & (k == size)).nonzero()[:, 0]
        if len(thick):
            out[thick] = _dilate(out[thick], size)
        if len(thin):
            out[thin] = _erode(out[thin], size)
    return out


LEVEL_MIN = 0.55              # the faintest overall stroke level
SMUDGE = 0.5                  # the strongest smudge beside strokes (ink)
FRINGE = 0.4                  # the strongest grey halo (share of the dilation added)


def degrade(x: torch.Tensor, g: torch.Generator, *, smudge_max: float = SMUDGE,
            fringe_max: float = FRINGE, level_min: float = LEVEL_MIN, grid_max: float = 0.0,
            haze_max: float = 0.0, blur_max: float = 0.0) -> torch.Tensor:
    """Roughen 64 px inputs like generator output; CLEAN of them are left as they are.
    smudge_max / fringe_max scale the smudges beside strokes and the grey halos (the draws stay
    the same: a run with other amplitudes sees the same batches otherwise). level_min: the faintest
    overall stroke level. grid_max: the strongest period-2 pattern over strokes (the checkered
    texture of some generators' faint glyphs); 0 draws nothing more, so older runs' batches stay.
    haze_max: the strongest haze (`_haze`: grey, checkered fill between nearby strokes, a heavier
    blur, strokes short of full ink), on HAZE of the degraded inputs; blur_max: that blur's strongest
    sigma (default 1.5); with haze_max 0 it blurs (and checkers) without the grey fill. Both 0 draw
    nothing more."""
    b, _, h, w = x.shape
    # every draw is made for every sample, in this order, whether used or not: a fixed stream
    clean = _pick(g, b, CLEAN)
    sigma = _u(g, b, lo=0.0, hi=0.9) * (torch.rand(b, generator=g) < 0.6)
    level = _u(g, b, lo=level_min, hi=1.0)[:, None, None, None]               # grey strokes overall
    texture_amp = _u(g, b, lo=0.0, hi=0.6)[:, None, None, None] * _pick(g, b, 0.5)
    texture = torch.rand(b, 1, h, w, generator=g)                          # pixel-level: blotchy strokes
    patchy = _smooth_noise(g, b, h, 6)                                     # some strokes fainter than others
    patchy_amp = _u(g, b, lo=0.0, hi=0.6)[:, None, None, None] * _pick(g, b, 0.5)
    smudge = _smooth_noise(g, b, h, 12) * _u(g, b, lo=0.0, hi=1.0)[:, None, None, None] * smudge_max * _pick(g, b, 0.5)
    speck = torch.rand(b, 1, h, w, generator=g)
    speck_rate = _u(g, b, lo=0.0, hi=0.015)[:, None, None, None] * _pick(g, b, 0.5)
    speck_level = torch.rand(b, 1, h, w, generator=g) * 0.8 + 0.2
    holes = torch.rand(b, 1, h, w, generator=g)
    hole_rate = _u(g, b, lo=0.0, hi=0.01)[:, None, None, None] * _pick(g, b, 0.3)
    fringe = _u(g, b, lo=0.0, hi=1.0)[:, None, None, None] * fringe_max * _pick(g, b, 0.3)
    noise = torch.randn(b, 1, h, w, generator=g) * _u(g, b, lo=0.0, hi=0.04)[:, None, None, None]

    y = x + fringe * (_dilate(x, 3) - x)                                    # grey halo
    y = y * level * (1 - texture_amp * texture) * (1 - patchy_amp * patchy)
    # broken strokes: a few 2 x 2 holes, softened
    gaps = _dilate((holes < hole_rate).float(), 2)[..., :h, :w]
    y = y * (1 - _blur(gaps, torch.full((b,), 0.7)).clamp(0, 1))
    near = _dilate(x, 5) - x                                                # beside the strokes, not on them
    y = y + smudge * near.clamp(0, 1)
    y = torch.maximum(y, (speck < speck_rate) * speck_level)                # isolated specks anywhere
    if grid_max:
        amp = _u(g, b, lo=0.0, hi=1.0)[:, None, None, None] * grid_max * _pick(g, b, 0.3)
        phase = torch.randint(0, 2, (b, 2, 1, 1), generator=g)
        i, j = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
        grid = (((i + phase[:, 0]) % 2) + ((j + phase[:, 1]) % 2)).unsqueeze(1) / 2   # 0, 0.5, 1: a checker
        y = y * (1 - amp * grid)
    y = _blur(y, sigma) + noise
    if haze_max or blur_max:
        y = _haze(x, y, g, haze_max, blur_max or 1.5)
    return torch.where(clean, x, y.clamp(0, 1))


HAZE = 0.4                    # share of the degraded inputs that haze_max hazes


def _haze(x: torch.Tensor, y: torch.Tensor, g: torch.Generator, haze_max: float, blur_max: float) -> torch.Tensor:
    """Some generated writers are hazy, not faint (hangul seed 1006: darkest strokes ~0.9, the gaps
    between nearby strokes a checkered mid-grey 0.3-0.5, everything blurred by ~1 px). The gaps are
    where a closing (dilate, then erode) of the strokes adds ink; the truth stays the clean glyph,
    so the upscaler learns to leave that grey out. Measured (2026-12-03, 1,000-step fine-tunes from the
    shipped file): neither the fill (haze 0.7-1) nor the blur alone (blur 1.5) made seed 1006 read
    better after upscaling; with the fill it read worse (its grey carries strokes)."""
    b, _, h, w = x.shape
    pick = _pick(g, b, HAZE)
    amp = _u(g, b, lo=0.5, hi=1.0)[:, None, None, None] * haze_max * pick
    sigma = _u(g, b, lo=1.0, hi=max(1.0, blur_max))
    top = _u(g, b, lo=0.85, hi=1.0)[:, None, None, None]
    reach = torch.randint(0, 2, (b,), generator=g)
    blotch = _smooth_noise(g, b, h, 10) * 0.5 + 0.5
    phase = torch.randint(0, 2, (b, 2, 1, 1), generator=g)
    i, j = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    checker = (((i + phase[:, 0]) % 2) + ((j + phase[:, 1]) % 2)).unsqueeze(1) / 2
    checker_amp = _u(g, b, lo=0.0, hi=0.5)[:, None, None, None]
    gaps = torch.where((reach == 0)[:, None, None, None], _erode(_dilate(x, 7), 7), _erode(_dilate(x, 9), 9))
    gaps = torch.maximum(gaps, 0.5 * _dilate(x, 5)) - x                 # between and beside strokes
    hazy = _blur(torch.maximum(y * top, amp * gaps.clamp(0, 1) * blotch), sigma)
    hazy = hazy * (1 - checker_amp * checker)                          # the checker survives the blur
    return torch.where(pick, hazy, y)
