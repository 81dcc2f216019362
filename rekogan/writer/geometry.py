"""The writer's geometry: a hand's slant, width, height, place and stroke weight, as six numbers.

A latent and an adapter move the generator's drawing; what they reach is bounded by what it learnt
from its training faces. A person's slant or a narrow, heavy hand is mostly a global transform of
the glyph, the same for every syllable: the writer carries it as the adapter tensor 'geometry' (6,)
and layered_forward applies it to every glyph it draws (so Write, Font, the sheet and the API draw
it without knowing), after the generator, at its size:

  shear   a slant: ink at height y (down, in half-heights) moves by -shear * y half-widths, so 0.2 moves
          the top 0.2 half-widths right and the bottom as far left
  log_sx  the glyph's width  x exp(log_sx), about the centre
  log_sy  its height         x exp(log_sy)
  dx, dy  a shift, in half-widths
  stroke  + toward one 3x3 dilation of the ink (1: the whole of it), - toward one erosion

Each value is clamped to +-LIMITS when drawn, so a damaged or hand-edited file cannot turn a glyph
into a blot. All zeros is no change, and draws the generator's pixels bit for bit (nothing runs).
`fit_geometry` fits it on the references with everything else fixed; it has six numbers against
k glyphs, so what it learns is what all the references share.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NAME = "geometry"
FIELDS = ("shear", "log_sx", "log_sy", "dx", "dy", "stroke")
LIMITS = (0.35, 0.25, 0.25, 0.15, 0.15, 1.0)


def zero() -> torch.Tensor:
    return torch.zeros(len(FIELDS))


def check(t: torch.Tensor) -> None:
    if tuple(t.shape) != (len(FIELDS),):             # a writer holds one (per_glyph makes one per glyph when drawing)
        raise ValueError(f"adapter tensor {NAME!r} is {tuple(t.shape)}; it holds {len(FIELDS)} numbers ({', '.join(FIELDS)})")


def apply(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """x (B, 1, S, S) in [-1, 1], ink +1 (white on black); g (6,) for every glyph or (B, 6) one each -> x transformed."""
    g = g.to(x)
    if not g.requires_grad and not bool(g.any()):
        return x                                                  # no change: the generator's pixels exactly
    if g.ndim == 1:
        g = g[None].expand(len(x), -1)
    lim = torch.tensor(LIMITS, dtype=x.dtype, device=x.device)
    g = torch.maximum(torch.minimum(g, lim), -lim)
    shear, lsx, lsy, dx, dy, s = g.unbind(1)                      # each (B,)
    ink = (x + 1) / 2                                             # (B, 1, S, S) in [0, 1]
    # stroke: s > 0 toward a 3x3 dilation, s < 0 toward an erosion; written with |s| so that the
    # gradient at s = 0 is (dilation - erosion) / 2, not zero (a fit starts there)
    dil = F.max_pool2d(ink, 3, 1, 1)
    ero = -F.max_pool2d(-ink, 3, 1, 1)
    s4 = s.view(-1, 1, 1, 1)
    ink = ink + s4 * (dil - ero) / 2 + s4.abs() * ((dil + ero) / 2 - ink)
    # output -> input coordinates (affine_grid's theta): x_in = (x_out - dx + shear (y_out - dy)) / sx
    sx, sy = lsx.exp(), lsy.exp()
    theta = torch.stack([torch.stack([1 / sx, shear / sx, -(dx + shear * dy) / sx], 1),
                         torch.stack([torch.zeros_like(sy), 1 / sy, -dy / sy], 1)], 1)   # (B, 2, 3)
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    ink = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return ink * 2 - 1


def fit_geometry(x0: torch.Tensor, targets: torch.Tensor, target_feats, *, objective, steps: int, lr: float,
                 prior: float, start: torch.Tensor | None = None, trace: list | None = None, offset: int = 0) -> torch.Tensor:
    """Adam on the six numbers with the drawn glyphs x0 (k, 1, S, S) fixed: objective(apply(x0, g),
    targets, target_feats) per glyph (fit's pixel + feature term), mean, + prior * sum((g / LIMITS)^2).
    Returns g (6,) float32, detached (not yet rounded)."""
    g = (start if start is not None else zero()).detach().float().clone().requires_grad_(True)
    lim = torch.tensor(LIMITS)
    opt = torch.optim.Adam([g], lr=lr)
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))
        loss = objective(apply(x0, g), targets, target_feats).mean() + prior * (g / lim).pow(2).sum()
        (grad,) = torch.autograd.grad(loss, [g])
        g.grad = grad
        opt.step()
        with torch.no_grad():
            g.copy_(torch.maximum(torch.minimum(g, lim), -lim))
        if trace is not None and (step % 10 == 0 or step == steps - 1):
            trace.append((offset + step, round(float(loss.detach()), 5)))
    return g.detach()
