"""Per-occurrence variation within one writer: a hand draws 가 a little differently each time.

The k-th occurrence of a syllable in a text (k = 0, 1, 2, ...: `occurrence_indexes`) is drawn by
the writer plus a small variation of its own, scaled by `natural` in [0, 1]:
  latents   noise of std natural * LATENT_SIGMA on the latents of every conditional BatchNorm
            (per-layer latents, rekogan.writer.latent.layered_forward), not on the first layer
            (the fc that lays out the 4x4 plan of the syllable's parts): strokes, their weight and
            their ends change, the letter's plan stays
  weight    the stroke weight (runs with the input) moved by natural * WEIGHT_SIGMA: pen pressure
  warp      a smooth displacement field (a 4x4 grid of offsets, bicubic) of std natural * WARP_PX
            px at 64 px (the same share of the glyph at any size): strokes a little longer,
            shorter, bent, as a pen's path wanders
DESIGN.md (2026-12-02) found that a plain z perturbation changes letters as well as hands; here the
first layer (the plan of the parts) is left alone, and much of the variation is geometric (the
warp) and pen pressure. A probe on the hangul run's SERI95 syllables (16 writers, 4 occurrences)
did not separate the two by numbers: plain z at SSIM 0.73 read 99.3 %, as these do; the choice
rests on the pictures (a plain z shifts the whole glyph's style; this varies its strokes).
Generators without per-layer latents (the 'dcgan' family) get the warp only (and the weight,
where a run has that input).

Deterministic: each glyph's noise comes from its own torch.Generator seeded (through SHA-256)
from (the writer's latents, the label, k), never the global RNG, drawn in a fixed order and
scaled by natural, so the same inputs give the same pixels on any CPU, and moving the slider
moves each occurrence along one direction (further with larger natural). natural = 0 is
rekogan.sampling.generate / render_tokens exactly (the same calls).

The k-th occurrence is the same picture wherever it is asked for: in a line, in a sheet of
variants (occurrence j - 1 is variant j) and as a font's alternate k.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import conventions
from .conventions import WEIGHT_RANGE, to_paper
from .hangul import Token
from .layout import check_natural_amount, layout_page
from .sampling import generate, seed_to_z
from .writer.latent import WriterGenerator, layered_forward, n_layers

__all__ = ["NATURAL_DEFAULT", "LATENT_SIGMA", "WEIGHT_SIGMA", "WARP_PX", "writer_latents", "writer_key", "writer_seed",
           "occurrence_indexes", "Varied", "varied_inputs", "warp_glyphs", "generate_varied", "draw_glyphs", "variants", "render_natural"]

# The slider's default, chosen by scripts/eval_natural.py's rule (docs/natural_eval.md): of the
# naturals meeting every target on the hangul and fixed runs, the one whose occurrence SSIM is
# nearest the middle of 0.6-0.9 (0.749 hangul, 0.753 fixed; readable 99.6 % / 99.5 %).
NATURAL_DEFAULT = conventions.NATURAL_DEFAULT   # one place: rekogan/conventions.py

# natural = 1 amounts (with these, natural 0.25 / 0.5 / 1 give occurrence SSIM ~0.89 / 0.72 / 0.47)
LATENT_SIGMA = 0.5      # std of the noise on the conditional BNs' latents (z itself has std ~psi)
WEIGHT_SIGMA = 0.4      # std of the stroke-weight change, in the weight input's units (per-syllable std)
WARP_PX = 1.6           # std of the warp's control offsets, px at 64 px
CLIP = 2.5              # every normal draw is clipped to ±CLIP
FIRST_VARIED = 1        # the first latent layer that varies: 1 = every conditional BN, not the fc


def writer_latents(generator: nn.Module, z: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """A writer -> (the generator that draws it, its (L, Z) per-layer latents, L = n_layers).
    A plain generator's writer is z at every layer; a WriterGenerator (a fitted per-layer writer)
    draws latents + (z - centre), as its forward does."""
    z = torch.as_tensor(z, dtype=torch.float32).reshape(-1)
    if isinstance(generator, WriterGenerator):
        # the WriterGenerator itself draws: layered_forward applies its adapter (issue 25), if any
        base = generator if generator.adapter else generator.generator
        return base, generator.latents.float().cpu() + (z - generator.centre.float().cpu())[None]
    return generator, z[None].expand(n_layers(generator), -1).clone()


def writer_key(generator: nn.Module, z: torch.Tensor) -> bytes:
    """32 bytes that name a writer: SHA-256 of its per-layer latents (float32). The same seed and psi,
    or the same writer code, give the same key on every machine."""
    _, lat = writer_latents(generator, z)
    return hashlib.sha256(b"rekogan-writer-v1" + repr(tuple(lat.shape)).encode()
                          + lat.contiguous().numpy().tobytes()).digest()


def writer_seed(generator: nn.Module, z: torch.Tensor) -> int:
    """A layout seed (rekogan.layout) from the writer: the same writer lays a text out the same way."""
    return int.from_bytes(writer_key(generator, z)[:8], "little") & (2**31 - 1)


def occurrence_indexes(labels: Sequence[int]) -> list[int]:
    """[how many times each label appeared before it]: 가나가가 -> [0, 0, 1, 2]."""
    seen: dict[int, int] = {}
    out = []
    for y in labels:
        y = int(y)
        out.append(seen.get(y, 0))
        seen[y] = out[-1] + 1
    return out


def _noise(key: bytes, label: int, k: int, *, layers: int, z_dim: int) -> tuple[torch.Tensor, float, torch.Tensor]:
    """One glyph's unit noise: (latent noise (layers, z_dim), weight noise, warp offsets (2, 4, 4)),
    from a generator seeded by (writer, label, occurrence), in this fixed order."""
    h = hashlib.sha256(key + int(label).to_bytes(8, "little", signed=True) + int(k).to_bytes(8, "little")).digest()
    g = torch.Generator(device="cpu").manual_seed(int.from_bytes(h[:8], "little") & (2**63 - 1))
    lat = torch.randn(layers, z_dim, generator=g)
    w = float(torch.randn(1, generator=g).clamp(-CLIP, CLIP))
    warp = torch.randn(2, 4, 4, generator=g).clamp(-CLIP, CLIP)
    return lat, w, warp


@functools.lru_cache(maxsize=8)
def _field_basis(size: int) -> torch.Tensor:
    """(size, 4): bicubic upsampling of 4 control points to `size` samples along one axis, as
    F.interpolate(mode='bicubic', align_corners=False) does it (the 2-D field is separable)."""
    eye = torch.eye(4)[:, None, :, None]                                   # (4, 1, 4, 1): one point each
    return F.interpolate(eye, size=(size, 1), mode="bicubic", align_corners=False)[:, 0, :, 0].T.contiguous()


@functools.lru_cache(maxsize=8)
def _identity_grid(h: int, w: int) -> torch.Tensor:
    return F.affine_grid(torch.eye(2, 3)[None], (1, 1, h, w), align_corners=False)[0]      # (h, w, 2)


def _warp(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """x (N, 1, S, S) in [-1, 1], white on black, through smooth fields: offsets (N, 2, 4, 4) in
    normalised coordinates (2 = the image's width), upsampled bicubically (a cached basis, not
    F.interpolate and F.affine_grid on every call: a line is ~20 glyphs and every ms counts)."""
    n, _, h, w = x.shape
    bh, bw = _field_basis(h), _field_basis(w)
    disp = torch.einsum("hk,nckl,wl->nhwc", bh, offsets, bw)            # (N, H, W, 2)
    return F.grid_sample(x, _identity_grid(h, w)[None] + disp, mode="bilinear", padding_mode="border",
                         align_corners=False)


@dataclass(frozen=True)
class Varied:
    """What draws N varied glyphs (varied_inputs): the module that draws them, each glyph's per-layer
    latents (N, L, Z), stroke weight (N,) (None: the run has no weight input) and warp offsets
    (N, 2, 4, 4) in normalised coordinates. The studio's batcher draws these in passes shared with
    other requests on the same module; generate_varied draws them here."""
    generator: nn.Module
    latents: torch.Tensor
    weight: torch.Tensor | None
    offsets: torch.Tensor


@torch.inference_mode()
def varied_inputs(generator: nn.Module, labels: torch.Tensor, z: torch.Tensor, *, natural: float,
                  occurrences: Sequence[int] | None = None, weight=None) -> Varied:
    """The inputs of generate_varied's forward pass and warp for labels (N,) by the writer z, occurrence
    k of each (default: occurrence_indexes(labels)); natural > 0 (natural 0 is a plain generate)."""
    natural = check_natural_amount(natural)
    labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    occ = occurrence_indexes(labels.tolist()) if occurrences is None else [int(k) for k in occurrences]
    if len(occ) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(occ)} occurrence indexes")
    base, lat = writer_latents(generator, z)
    layers, z_dim = lat.shape
    key = writer_key(generator, z)
    noise = [_noise(key, int(y), k, layers=layers, z_dim=z_dim) for y, k in zip(labels.tolist(), occ)]
    has_weight = getattr(generator.cfg, "weight_cond", False)
    if not has_weight and weight is not None:
        raise ValueError("this run has no stroke-weight control (it was trained without a weight condition)")
    mask = torch.zeros(layers, 1)
    mask[FIRST_VARIED:] = 1.0
    if not noise:
        latents = lat[None].expand(0, -1, -1)
    elif layers > 1:
        latents = lat[None] + natural * LATENT_SIGMA * torch.stack([n[0] for n in noise]) * mask   # (N, L, Z)
    else:
        latents = lat[None].expand(len(noise), -1, -1)             # one latent: nothing to vary but weight and warp
    w = None
    if has_weight:
        lo, hi = WEIGHT_RANGE
        w = (torch.tensor([n[1] for n in noise]) * natural * WEIGHT_SIGMA + float(weight or 0.0)).clamp(lo, hi)
    offsets = torch.stack([n[2] for n in noise]) if noise else torch.zeros(0, 2, 4, 4)
    return Varied(generator=base, latents=latents, weight=w, offsets=offsets * (natural * WARP_PX * 2 / 64))


def warp_glyphs(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """A varied forward pass's glyphs (N, 1, S, S) in [-1, 1] through their warps (Varied.offsets)."""
    return _warp(x, offsets).clamp(-1, 1)


@torch.inference_mode()
def generate_varied(generator: nn.Module, labels: torch.Tensor, z: torch.Tensor, *, natural: float,
                    occurrences: Sequence[int] | None = None, weight=None, batch: int = 1024) -> torch.Tensor:
    """labels (N,) drawn by the writer z (a WriterGenerator: its fitted hand), occurrence k of each
    (default: occurrence_indexes(labels)) -> (N, 1, S, S) float in [-1, 1], white on black.
    natural 0 is sampling.generate(generator, labels, z, weight=weight) itself. weight: a float or
    None, as for generate (runs without the stroke-weight input accept only None)."""
    natural = check_natural_amount(natural)
    labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    if natural == 0 or len(labels) == 0:
        return generate(generator, labels, z, weight=weight, batch=batch)
    assert not generator.training, "put the generator in eval mode: in train mode BatchNorm makes a glyph depend on its batch"
    v = varied_inputs(generator, labels, z, natural=natural, occurrences=occurrences, weight=weight)
    p = next(iter(v.generator.parameters()), None)
    dev = p.device if p is not None else torch.device("cpu")
    outs = []
    for i in range(0, len(labels), batch):
        w = v.weight[i:i + batch].to(dev) if v.weight is not None else None
        x = layered_forward(v.generator, v.latents[i:i + batch].to(dev), labels[i:i + batch].to(dev), w).float().cpu()
        outs.append(warp_glyphs(x, v.offsets[i:i + batch]))
    return torch.cat(outs)


def _to_cell(drawn: torch.Tensor, cell: int) -> torch.Tensor:
    """(N, S, S) uint8 -> (N, cell, cell): render_tokens' resize (bilinear, rounded)."""
    if drawn.shape[-1] == cell:
        return drawn
    return F.interpolate(drawn[:, None].float(), size=(cell, cell), mode="bilinear",
                         align_corners=False).round().clamp(0, 255).to(torch.uint8)[:, 0]


@torch.inference_mode()
def draw_glyphs(generator: nn.Module, tokens: Sequence[Token], *, z: torch.Tensor, natural: float, weight=None,
                cell: int | None = None, batch: int = 1024) -> torch.Tensor:
    """The 'syllable' tokens of a text, each its own occurrence -> (N, cell, cell) uint8, dark on white
    (the glyphs render_tokens would place, varied)."""
    idx = [t.index for t in tokens if t.kind == "syllable"]
    s = generator.cfg.size
    cell = cell or s
    if not idx:
        return torch.zeros(0, cell, cell, dtype=torch.uint8)
    x = generate_varied(generator, torch.tensor(idx, dtype=torch.int64), z, natural=natural, weight=weight, batch=batch)
    return _to_cell(to_paper(x), cell)


@torch.inference_mode()
def variants(generator: nn.Module, labels: torch.Tensor, z: torch.Tensor, *, n: int, natural: float,
             weight=None, batch: int = 1024) -> torch.Tensor:
    """Occurrences 0..n-1 of each label, as a line draws them without the layout's jitter ->
    (len(labels), n, S, S) uint8, dark on white (a sheet's variants 1..n, a font's n alternates)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of variants must be a whole number >= 1, got {n!r}")
    labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    rep = labels.repeat_interleave(n)
    occ = list(range(n)) * len(labels)
    x = generate_varied(generator, rep, z, natural=natural, occurrences=occ, weight=weight, batch=batch)
    return to_paper(x).view(len(labels), n, *x.shape[-2:])


@torch.inference_mode()
def render_natural(generator: nn.Module, tokens: list[Token], *, seed: int, truncation: float = 1.0,
                   z: torch.Tensor | None = None, natural: float = 0.0, unknown_glyph: Callable | None = None,
                   cell: int | None = None, weight=None, batch: int = 1024, layout_seed: int | None = None
                   ) -> torch.Tensor:
    """render_tokens with a hand's variation: tokens -> one uint8 page (dark on white). The same
    arguments as sampling.render_tokens plus natural (and the layout's seed, by default the writer's:
    writer_seed). natural 0 gives render_tokens' page, pixel for pixel."""
    natural = check_natural_amount(natural)
    cell = cell or generator.cfg.size
    if z is None:
        z = seed_to_z(seed, generator.cfg.z_dim, truncation=truncation)
    glyphs = draw_glyphs(generator, tokens, z=z, natural=natural, weight=weight, cell=cell, batch=batch)
    if layout_seed is None:
        layout_seed = writer_seed(generator, z) if natural else 0
    return layout_page(tokens, glyphs, cell=cell, natural=natural, seed=layout_seed, unknown_glyph=unknown_glyph)
