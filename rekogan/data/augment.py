"""Augmentation on tensors, per sample, batched: turns ~80 font faces into handwriting-like glyphs.

One grid_sample applies a random affine (rotation, shear, anisotropic scale, translation) plus a
smooth elastic warp; then a random share of the batch gets thicker (max-pool dilation) or thinner
(min-pool erosion) strokes. Never flips: a mirrored syllable is a different (or no) syllable.
Input and output: (B, 1, H, W) float in [-1, 1], white ink on black.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, *, strength: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    if strength <= 0:
        return x
    b, _, h, w = x.shape
    dev = x.device

    def u(*shape, lo=-1.0, hi=1.0):  # uniform in [lo, hi)
        return torch.rand(*shape, generator=generator, device="cpu").to(dev) * (hi - lo) + lo

    s = strength
    rot = u(b) * math.radians(8) * s
    shear = u(b) * 0.25 * s
    scale = 1 + u(b, 2) * 0.12 * s                                  # (B, 2): x and y scale
    shift = u(b, 2) * 0.08 * s
    cos, sin = torch.cos(rot), torch.sin(rot)
    # inverse map output -> input coordinates in [-1, 1]
    theta = torch.stack([
        torch.stack([cos / scale[:, 0], (-sin + shear) / scale[:, 0], shift[:, 0]], 1),
        torch.stack([sin / scale[:, 1], cos / scale[:, 1], shift[:, 1]], 1),
    ], 1)                                                           # (B, 2, 3)
    grid = F.affine_grid(theta, (b, 1, h, w), align_corners=False)  # (B, H, W, 2)
    # elastic: a 4x4 random displacement field, smoothly upsampled
    disp = u(b, 2, 4, 4) * 0.05 * s
    disp = F.interpolate(disp, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)  # (B, H, W, 2)
    out = F.grid_sample(x, grid + disp, mode="bilinear", padding_mode="border", align_corners=False)
    # stroke weight: a third thicker, a third thinner, a third unchanged
    pick = u(b, lo=0, hi=1)
    thick = F.max_pool2d(out, 3, 1, 1)
    thin = -F.max_pool2d(-out, 3, 1, 1)
    # blend so the change is partial (a 3x3 dilation at 64 px is a big step)
    a = (u(b, lo=0.3, hi=1.0) * min(s, 1.0))[:, None, None, None]
    out = torch.where((pick < 1 / 3)[:, None, None, None], out + a * (thick - out),
                      torch.where((pick > 2 / 3)[:, None, None, None], out + a * (thin - out), out))
    return out.clamp(-1, 1)
