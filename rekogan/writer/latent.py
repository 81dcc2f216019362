"""Per-layer latents for the projection generator (W+ in StyleGAN's terms), without touching it.

ProjGenerator feeds one vector c = [z, embed(y) (, w)] to its fc layer and to every conditional
BatchNorm. A writer fitted with one z per layer (fc, norms[0], norms[1], ...) can hold a hand that
no single z reaches: `layered_forward` is ProjGenerator.forward with c built per layer from its
submodules (embed, fc, norms, ups), so nothing in rekogan/models.py changes. With all layers equal
it is the same computation as G(z, y, w), op for op.

`WriterGenerator` packs a per-layer writer as a generator module: forward(z, y, w) draws with
latent latents_l + (z - centre) at layer l, through the writer's adapter when it has one
(adapter.py: per-channel modulation or low-rank deltas, applied inside layered_forward, so natural
variation's layered_forward(WriterGenerator, ...) draws the adapted hand too). Given z = centre (the mean latent), every function of the project
that takes (generator, z) — sampling.generate, sampling.render_tokens, the sheet, the font export
— writes in the fitted hand without knowing about layers.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import ProjGenerator
from . import geometry
from .adapter import check_adapter, modulate, per_glyph, upsample


def n_layers(generator: nn.Module) -> int:
    """Latents a writer of this generator may hold per layer: fc + each conditional BN (proj), else 1."""
    return 1 + len(generator.norms) if isinstance(generator, ProjGenerator) else 1


def layered_forward(generator: nn.Module, latents: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None,
                    *, adapter: dict | None = None) -> torch.Tensor:
    """latents (B, L, Z) with L = n_layers(G) (or L = 1: the plain forward), y (B,), w (B,) for
    runs with a stroke-weight input -> (B, 1, S, S) in [-1, 1], white on black.
    generator may be a WriterGenerator: its own generator draws, through its adapter (latents are
    then the absolute per-layer latents, not offsets). adapter: adapter.py's tensors (or None)."""
    assert latents.ndim == 3, f"latents must be (B, L, Z), got {tuple(latents.shape)}"
    if isinstance(generator, WriterGenerator):
        adapter = adapter if adapter is not None else generator.adapter
        generator = generator.generator
    if adapter and latents.shape[1] == 1:
        latents = latents.expand(-1, n_layers(generator), -1)     # one z at every layer: the same function
    if latents.shape[1] == 1:
        z = latents[:, 0]
        return generator(z, y, w) if getattr(generator.cfg, "weight_cond", False) else generator(z, y)
    G = generator
    assert isinstance(G, ProjGenerator), "per-layer latents need a projection ('proj') generator"
    assert latents.shape[1] == n_layers(G), f"this generator has {n_layers(G)} latent layers, got {latents.shape[1]}"
    extra = [G.embed(y)]
    if G.cfg.weight_cond:
        assert w is not None, "this generator has a stroke-weight input: pass w (B,)"
        extra.append(w.to(latents.dtype)[:, None])
    cond = [torch.cat([latents[:, i], *extra], 1) for i in range(latents.shape[1])]   # L x (B, Z+E(+1))
    h = G.fc(cond[0]).view(len(latents), -1, 4, 4)
    if not adapter:
        for norm, up, c in zip(G.norms, G.ups, cond[1:]):
            h = up(F.relu(norm(h, c)))
        return torch.tanh(h)
    adapter = per_glyph(adapter, y)                  # a legibility guard's 'mix': each class at its strength
    for i, (norm, up, c) in enumerate(zip(G.norms, G.ups, cond[1:])):
        h = upsample(adapter, i, up, F.relu(modulate(adapter, i, norm(h, c))))
    x = torch.tanh(h)
    return geometry.apply(x, adapter[geometry.NAME]) if geometry.NAME in adapter else x


class WriterGenerator(nn.Module):
    """A generator that draws in a per-layer writer's hand: layer l gets latents[l] + (z - centre).

    Written as latents + (z - centre), not centre + offsets: with z == centre the difference is
    exactly 0, so the layers get the fitted values bit for bit (centre + (latents - centre) may
    round differently), and a code draws exactly the pixels shown after fitting.

    Holds the wrapped generator as a submodule (same parameters, same cfg), so sampling.generate
    finds its device and stroke-weight input as for the plain one. Always in eval mode."""

    def __init__(self, generator: nn.Module, latents: torch.Tensor, adapter: dict | None = None):
        super().__init__()
        assert latents.ndim == 2 and latents.shape[0] == n_layers(generator), \
            f"latents must be ({n_layers(generator)}, Z), got {tuple(latents.shape)}"
        self.generator = generator
        self.cfg = generator.cfg
        self.register_buffer("latents", latents.float().clone())
        self.register_buffer("centre", self.latents.mean(0))
        if adapter:
            check_adapter(adapter, generator)
        # a plain dict of float32 tensors (not buffers: .to(device) is done once here, below)
        p = next(iter(generator.parameters()))
        self.adapter = {k: v.detach().float().to(p.device) for k, v in (adapter or {}).items()}
        self.eval()

    def train(self, mode: bool = True):
        # never put the wrapped generator in train mode through us: BatchNorm would use batch stats
        return super().train(False)

    def forward(self, z, y, w=None):
        latents = self.latents.to(z)[None] + (z - self.centre.to(z))[:, None, :]   # (B, L, Z)
        return layered_forward(self.generator, latents, y, w, adapter=self.adapter)
