"""The app's forward pass: a generator's eval-mode computation rearranged for a CPU, the same pixels within PIXEL_TOLERANCE.

  plan(generator)  -> a callable like generator(z, y) / generator(z, y, w) for the two architectures
                      of rekogan/models.py, or None for any other module (e.g. a writer code's
                      WriterGenerator): the caller then calls the module itself
  layered(generator, latents, y, w)
                   -> rekogan.writer.latent.layered_forward (per-glyph, per-layer latents: natural
                      variation, rekogan/variation.py) through the plan when there is one

Why (docs/RESULTS.md, "Many writers at once (issue 22)"): at one thread a 20-glyph forward pass
took ~29 ms of CPU, of which the last transposed convolution (one output channel) was ~5 ms and the
conditional BatchNorms' separate passes (batch_norm, mul, add, relu, each a new tensor) ~2 ms.
The rearrangement is exact algebra, only the floating-point rounding differs:

  ProjGenerator  every CondBatchNorm's gain and bias read the same condition c: one matrix product
                 gives them all. A CondBatchNorm in eval mode is, per (sample, channel), x * scale
                 + shift with scale = (1 + gain(c)) / sqrt(var + eps) and shift = bias(c) - mean *
                 scale: one addcmul, then an in-place ReLU.
  DCGANGenerator the first transposed convolution reads a 1x1 input: a matrix product.
  both           the last transposed convolution (4x4, stride 2, one output channel) is a matrix
                 product and a col2im (F.fold), ~2.5x cheaper than oneDNN's deconvolution here;
                 activations are channels_last from the first layer on.

bf16 autocast (this CPU has avx512_bf16), torch.compile and ONNX Runtime were measured too: bf16
moved 19 % of the pixels (up to 18 grey levels), torch.compile took minutes to compile for ~the
same speed, ONNX Runtime matched this plan's speed (a new dependency for nothing): none is used for
glyphs shown at the generators' own size. Glyphs the upscaler enlarges (128 / 256 px) run this plan
under bf16 autocast when asked ($REKOGAN_GENERATOR_BF16=1) and the CPU has bf16 (batcher._bf16, within
batcher.BF16_TOLERANCE as enlarged).

A plan shares the module's weights (its own tensors are ~1 MB: the norms' matrix), is built once
per module and kept while the module lives (a WeakKeyDictionary keyed by the module); it holds
submodules, never the module, so it does not keep the module alive.
"""
from __future__ import annotations

import threading
import weakref

import torch
import torch.nn.functional as F

from ..models import DCGANGenerator, ProjGenerator

# How far a plan's pixels may be from the module's (uint8 pages, tests/test_forward.py): the
# rounding of a rearranged sum moves a value by ~1e-6, which changes a rounded grey level only next
# to a .5 boundary. The same rule as the pinned renders (tests/behaviour_pixels.py).
PIXEL_TOLERANCE = {"max_levels": 1, "max_share": 1e-4}

_PLANS: "weakref.WeakKeyDictionary[torch.nn.Module, object]" = weakref.WeakKeyDictionary()
_NONE = object()                  # "this module has no plan", cached like a plan
_LOCK = threading.Lock()


def plan(generator):
    """The fused forward of `generator` (built on first use, then cached), or None when it is not a
    plain eval-mode ProjGenerator / DCGANGenerator."""
    with _LOCK:
        p = _PLANS.get(generator)
        if p is None:
            p = _build(generator)
            _PLANS[generator] = _NONE if p is None else p
    return None if p is _NONE else p


def _build(generator):
    if generator.training or type(generator) not in (ProjGenerator, DCGANGenerator):
        return None                       # a subclass or a wrapper may compute something else
    with torch.inference_mode():
        return ProjPlan(generator) if isinstance(generator, ProjGenerator) else DCGANPlan(generator)


def _last_layer(up: torch.nn.ConvTranspose2d) -> torch.Tensor:
    """The last ConvTranspose2d's weight (Cin, Cout, 4, 4) as the (Cin, Cout*16) matrix of col2im."""
    assert (up.kernel_size, up.stride, up.padding) == ((4, 4), (2, 2), (1, 1)) and up.bias is None, up
    return up.weight.detach().reshape(up.in_channels, -1).contiguous()


def _col2im(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """ConvTranspose2d(k=4, s=2, p=1) of h (B, C, H, W) as one matrix product and F.fold."""
    b, c, hh, ww = h.shape
    cols = h.permute(0, 2, 3, 1).reshape(b * hh * ww, c) @ weight          # (B*H*W, Cout*16)
    cols = cols.view(b, hh * ww, weight.shape[1]).transpose(1, 2)          # (B, Cout*16, H*W)
    return F.fold(cols, (2 * hh, 2 * ww), 4, stride=2, padding=1)          # (B, Cout, 2H, 2W)


class ProjPlan:
    """ProjGenerator.forward (eval): the conditional BatchNorms' gains and biases as one matrix
    product, addcmul + ReLU per layer, the last layer as a col2im. Shares the module's fc and
    convolution weights; its own tensors are the norms' matrix (~1 MB) and statistics."""

    def __init__(self, g: ProjGenerator):
        self.cfg = g.cfg
        self.embed, self.fc = g.embed, g.fc                    # submodules: the plan never holds g
        weights, biases, self.norms = [], [], []
        at = 0
        for norm in g.norms:
            bn, n = norm.bn, norm.gain.out_features
            weights += [norm.gain.weight, norm.bias.weight]
            biases += [norm.gain.bias, norm.bias.bias]
            self.norms.append((at, n, torch.rsqrt(bn.running_var + bn.eps), bn.running_mean.clone()))
            at += 2 * n
        self.weight = torch.cat(weights).t()                   # (C, 2 * sum(channels)): gain_0 | bias_0 | ...
        self.bias = torch.cat(biases)
        self.c0 = g.ups[0].in_channels
        self.ups = [u.weight.detach() for u in g.ups[:-1]]     # channels_last, as loaded
        self.last = _last_layer(g.ups[-1])

    def __call__(self, z, y, w=None):
        parts = [z, self.embed(y)]
        if self.cfg.weight_cond:
            assert w is not None, "this generator has a stroke-weight input: pass w (B,)"
            parts.append(w.to(z.dtype)[:, None])
        c = torch.cat(parts, 1)
        # channels_last from the start: the deconvolutions run fastest in it (~5 % on the first)
        h = self.fc(c).view(len(c), self.c0, 4, 4).contiguous(memory_format=torch.channels_last)
        out = torch.addmm(self.bias, c, self.weight)
        for i, (at, n, inv_std, mean) in enumerate(self.norms):
            scale = (1 + out[:, at:at + n]) * inv_std
            shift = out[:, at + n:at + 2 * n] - mean * scale
            h = torch.addcmul(shift[:, :, None, None], h, scale[:, :, None, None]).relu_()
            h = F.conv_transpose2d(h, self.ups[i], stride=2, padding=1) if i < len(self.ups) else _col2im(h, self.last)
        return h.tanh_()

    def layered(self, latents, y, w=None):
        """layered_forward(G, latents, y, w) with latents (B, L, Z), L = 1 + the norms: the fc reads
        layer 0, norm i layer i + 1 (the same algebra as __call__, one addmm per norm)."""
        assert latents.shape[1] == 1 + len(self.norms), f"expected {1 + len(self.norms)} latent layers"
        extra = [self.embed(y)]
        if self.cfg.weight_cond:
            assert w is not None, "this generator has a stroke-weight input: pass w (B,)"
            extra.append(w.to(latents.dtype)[:, None])
        e = torch.cat(extra, 1)
        h = self.fc(torch.cat([latents[:, 0], e], 1)).view(len(latents), self.c0, 4, 4)
        h = h.contiguous(memory_format=torch.channels_last)
        for i, (at, n, inv_std, mean) in enumerate(self.norms):
            c = torch.cat([latents[:, i + 1], e], 1)
            out = torch.addmm(self.bias[at:at + 2 * n], c, self.weight[:, at:at + 2 * n])
            scale = (1 + out[:, :n]) * inv_std
            shift = out[:, n:] - mean * scale
            h = torch.addcmul(shift[:, :, None, None], h, scale[:, :, None, None]).relu_()
            h = F.conv_transpose2d(h, self.ups[i], stride=2, padding=1) if i < len(self.ups) else _col2im(h, self.last)
        return h.tanh_()


def layered(generator, latents, y, w=None):
    """Glyphs (B, 1, S, S) in [-1, 1] from per-glyph latents (B, L, Z) (rekogan.variation.Varied):
    a ProjGenerator's plan (ProjPlan.layered), a plain forward when L = 1, else layered_forward
    itself (a writer code's wrapper, with its adapter)."""
    p = plan(generator)
    if isinstance(p, ProjPlan) and latents.shape[1] > 1:
        return p.layered(latents, y, w)
    if p is not None and latents.shape[1] == 1:
        return p(latents[:, 0], y, w) if getattr(generator.cfg, "weight_cond", False) else p(latents[:, 0], y)
    from ..writer.latent import layered_forward
    return layered_forward(generator, latents, y, w)


class DCGANPlan:
    """DCGANGenerator.forward (eval) with its two ends as matrix products: the first transposed
    convolution reads a 1x1 input, the last has one output channel. Shares the module's weights."""

    def __init__(self, g: DCGANGenerator):
        self.cfg = g.cfg
        self.embed = g.embed
        layers = list(g.net)
        convs = [m for m in layers if isinstance(m, torch.nn.ConvTranspose2d)]
        self.norms = [m for m in layers if isinstance(m, torch.nn.BatchNorm2d)]
        assert len(self.norms) == len(convs) - 1 and all(c.bias is None for c in convs), g
        first = convs[0].weight.detach()                       # (Z+E, C0, 4, 4), channels_last as loaded
        self.c0 = first.shape[1]
        # in channels_last memory the weight is (Z+E, 4, 4, C0): a (Z+E, 16*C0) matrix without a copy,
        # whose product with c is h in channels_last order
        self.first = first.permute(0, 2, 3, 1).reshape(first.shape[0], -1)
        self.ups = [c.weight.detach() for c in convs[1:-1]]
        self.last = _last_layer(convs[-1])

    def __call__(self, z, y):
        c = torch.cat([z, self.embed(y)], 1)
        h = (c @ self.first).view(len(c), 4, 4, self.c0).permute(0, 3, 1, 2)     # (B, C0, 4, 4) channels_last
        for i, bn in enumerate(self.norms):
            h = bn(h).relu_()
            h = F.conv_transpose2d(h, self.ups[i], stride=2, padding=1) if i < len(self.ups) else _col2im(h, self.last)
        return h.tanh_()
