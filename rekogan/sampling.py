"""Sampling: seed -> latent, truncation, batched generation, uint8 out, text -> one handwritten line.

A seed is a writer: z is drawn from the seed with a dedicated torch.Generator (never the global
RNG), so the same checkpoint, class and seed give the same pixels on any CPU, and one z is used
for every syllable of a text so a line looks like one hand.

Truncation (the slider): psi-truncation towards the mean latent, z' = psi * z with psi in [0, 1]
(StyleGAN's variant; our prior's mean is 0). psi = 1 is the full variety of writers, psi = 0 the
"average" writer, most legible and least varied. Unlike BigGAN's resampling variant it is smooth
in psi, so moving the slider morphs the writer instead of jumping to another one.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .conventions import MAX_SEED, check_seed, check_truncation, to_paper, truncate
from .hangul import Token

__all__ = ["MAX_SEED", "seed_to_z", "slerp", "generate", "to_uint8", "sample", "grid", "tile", "render_tokens",
           "layout_tokens", "hatched"]


def seed_to_z(seed: int, z_dim: int, *, truncation: float = 1.0) -> torch.Tensor:
    """(z_dim,) float32 latent for a seed; identical on every CPU and PyTorch build.
    Takes values already parsed (an int seed, a number psi): text is parsed at the boundary
    (rekogan.conventions.check_seed), this only refuses what is not a valid writer."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int in 0..{MAX_SEED}, got {seed!r}")
    if isinstance(truncation, (bool, str)):
        raise ValueError(f"truncation psi must be a number in [0, 1], got {truncation!r}")
    seed, psi = check_seed(seed), check_truncation(truncation)
    g = torch.Generator(device="cpu").manual_seed(seed)
    return truncate(torch.randn(z_dim, generator=g), psi)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between two latents (keeps the norm typical of a Gaussian sample)."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    if omega.abs() < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.inference_mode()
def generate(generator: torch.nn.Module, labels: torch.Tensor, z: torch.Tensor, *, weight=None,
             batch: int = 1024, forward=None) -> torch.Tensor:
    """labels (N,) and z (N, Z) or (Z,) -> images (N, 1, S, S) float in [-1, 1], white ink on black.

    weight: the stroke weight (a float or (N,) tensor, in per-syllable standard deviations: 0 is the
    syllable's typical weight, -2 thin, +2 bold) for runs trained with a weight condition; None is 0.
    A run without the condition accepts only None. forward: what computes a batch, called like the
    module (default: the module; the app passes rekogan.studio.forward.plan(generator))."""
    assert not generator.training, "put the generator in eval mode: in train mode BatchNorm makes a glyph depend on its batch"
    p = next(iter(generator.parameters()), None)
    dev = p.device if p is not None else torch.device("cpu")
    labels = labels.to(dev)
    if z.ndim == 1:
        z = z.expand(len(labels), -1)
    z = z.to(dev)
    forward = generator if forward is None else forward
    if not getattr(generator.cfg, "weight_cond", False):
        if weight is not None:
            raise ValueError("this run has no stroke-weight control (it was trained without a weight condition)")
        outs = [forward(z[i:i + batch], labels[i:i + batch]).float() for i in range(0, len(labels), batch)]
        return torch.cat(outs).cpu() if outs else torch.zeros(0, 1, 1, 1)
    w = torch.zeros(len(labels)) if weight is None else torch.as_tensor(weight, dtype=torch.float32).expand(len(labels))
    w = w.to(dev)
    outs = [forward(z[i:i + batch], labels[i:i + batch], w[i:i + batch]).float() for i in range(0, len(labels), batch)]
    return torch.cat(outs).cpu() if outs else torch.zeros(0, 1, 1, 1)


to_uint8 = to_paper   # (N, 1, S, S) in [-1, 1], white on black -> (N, S, S) uint8, dark ink on white paper


def sample(generator: torch.nn.Module, classes: list[int], *, seed: int, truncation: float = 1.0,
           weight=None) -> torch.Tensor:
    """Class indices -> (N, S, S) uint8, dark on white, all drawn by the writer `seed`."""
    z = seed_to_z(seed, generator.cfg.z_dim, truncation=truncation)
    return to_uint8(generate(generator, torch.as_tensor(classes, dtype=torch.int64), z, weight=weight))


def grid(images: torch.Tensor, rows: int, cols: int, *, pad: int = 2, fill: int = 255) -> torch.Tensor:
    """(rows*cols, S, S) uint8 -> one (rows*(S+pad)+pad, cols*(S+pad)+pad) uint8 sheet."""
    n = images.shape[0]
    assert n == rows * cols, f"grid of {rows}x{cols} needs {rows * cols} images, got {n}"
    return tile(images, columns=cols, pad=pad, fill=fill)


def tile(images, *, columns: int, pad: int = 2, fill: int = 255):
    """(N, H, W) uint8 (a tensor or a numpy array) -> one uint8 picture of the same kind: `columns`
    cells a row (at most N), `pad` pixels of `fill` around every cell; the cells missing from a short
    last row are `fill`. torchvision's make_grid layout, written straight into one array (make_grid
    copies the cells into three channels first: +180 MB for a 260-glyph sheet at 256 px)."""
    as_tensor = isinstance(images, torch.Tensor)
    cells = images.detach().cpu().numpy() if as_tensor else np.asarray(images)
    n, h, w = cells.shape
    cols = min(columns, n)
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), fill, dtype=np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = cell
    return torch.from_numpy(out) if as_tensor else out


@torch.inference_mode()
def render_tokens(generator: torch.nn.Module, tokens: list[Token], *, seed: int, truncation: float = 1.0,
                  z: torch.Tensor | None = None, unknown_glyph=None, cell: int | None = None,
                  weight=None, batch: int = 1024) -> torch.Tensor:
    """Tokens -> one uint8 page (dark on white): batched forward passes of at most `batch` syllables.

    Spaces leave a half-cell gap, newlines start a new line, and 'unknown' tokens (characters the
    model cannot write) are drawn by `unknown_glyph(char, size) -> (S, S) uint8` (e.g. a grey
    printed glyph) or, by default, as a hatched box, so nothing is dropped silently."""
    if z is None:
        z = seed_to_z(seed, generator.cfg.z_dim, truncation=truncation)
    idx = [t.index for t in tokens if t.kind == "syllable"]
    drawn = to_uint8(generate(generator, torch.tensor(idx, dtype=torch.int64), z, weight=weight, batch=batch)) if idx else None
    return layout_tokens(tokens, drawn, size=generator.cfg.size, cell=cell, unknown_glyph=unknown_glyph)


def layout_tokens(tokens: list[Token], drawn: torch.Tensor | None, *, size: int, cell: int | None = None,
                  unknown_glyph=None) -> torch.Tensor:
    """The page of render_tokens from its drawn glyphs: `drawn` (n, size, size) uint8, one per
    'syllable' token in order (None when there is none)."""
    s = size
    cell = cell or s
    if drawn is not None and cell != s:
        drawn = F.interpolate(drawn[:, None].float(), size=(cell, cell), mode="bilinear",
                              align_corners=False).round().clamp(0, 255).to(torch.uint8)[:, 0]
    # layout: lines of (kind, width) boxes. Hand-written: make_grid tiles equal cells, and a page has
    # half-cell spaces and lines of different lengths
    lines, line, k = [], [], 0
    for t in tokens:
        if t.kind == "newline":
            lines.append(line); line = []
        elif t.kind == "space":
            line.append((None, cell // 2))
        elif t.kind == "syllable":
            line.append((drawn[k], cell)); k += 1
        else:
            g = unknown_glyph(t.char, cell) if unknown_glyph else hatched(cell)
            line.append((g, cell))
    lines.append(line)
    width = max([sum(w for _, w in ln) for ln in lines] + [cell])
    page = torch.full((len(lines) * cell, width), 255, dtype=torch.uint8)
    for r, ln in enumerate(lines):
        x = 0
        for img, w in ln:
            if img is not None:
                page[r * cell:(r + 1) * cell, x:x + w] = img
            x += w
    return page


def hatched(cell: int) -> torch.Tensor:
    """A light hatched box: 'this character could not be written'."""
    yy, xx = torch.meshgrid(torch.arange(cell), torch.arange(cell), indexing="ij")
    box = torch.full((cell, cell), 255, dtype=torch.uint8)
    box[((xx + yy) % 8) == 0] = 200
    m = max(1, cell // 16)
    box[:m, :] = box[-m:, :] = 170
    box[:, :m] = box[:, -m:] = 170
    return box

