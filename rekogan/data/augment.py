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


# The declared ranges at strength 1; each scales with the strength (the stroke blend with min(strength, 1)).
ROTATION_DEG = 8.0            # rotation, ± degrees
SHEAR = 0.25                  # x-shear, ±
SCALE = 0.12                  # x and y scale, 1 ± this, drawn apart
SHIFT = 0.08                  # translation, ± in [-1, 1] image coordinates
ELASTIC = 0.05                # the 4x4 elastic field's control-point displacement, ±
STROKE_BLEND = (0.3, 1.0)     # how far a thicker / thinner glyph moves toward the 3x3 dilation / erosion


def draw(b: int, *, strength: float, generator: torch.Generator | None = None, device="cpu") -> dict:
    """The random parameters of `b` augmentations, drawn from `generator` in a fixed order (CPU, so
    a seeded generator gives the same draws on every device): rotation (radians), shear, scale (B, 2),
    shift (B, 2), the elastic field (B, 2, 4, 4), stroke pick (< 1/3 thicker, > 2/3 thinner) and blend."""
    def u(*shape, lo=-1.0, hi=1.0):  # uniform in [lo, hi)
        return torch.rand(*shape, generator=generator, device="cpu").to(device) * (hi - lo) + lo

    s = strength
    return {"rotation": u(b) * math.radians(ROTATION_DEG) * s,
            "shear": u(b) * SHEAR * s,
            "scale": 1 + u(b, 2) * SCALE * s,
            "shift": u(b, 2) * SHIFT * s,
            "elastic": u(b, 2, 4, 4) * ELASTIC * s,
            "pick": u(b, lo=0, hi=1),
            "blend": u(b, lo=STROKE_BLEND[0], hi=STROKE_BLEND[1]) * min(s, 1.0)}


def augment(x: torch.Tensor, *, strength: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    if strength <= 0:
        return x
    b, _, h, w = x.shape
    p = draw(b, strength=strength, generator=generator, device=x.device)
    rot, shear, scale, shift = p["rotation"], p["shear"], p["scale"], p["shift"]
    cos, sin = torch.cos(rot), torch.sin(rot)
    # inverse map output -> input coordinates in [-1, 1]
    theta = torch.stack([
        torch.stack([cos / scale[:, 0], (-sin + shear) / scale[:, 0], shift[:, 0]], 1),
        torch.stack([sin / scale[:, 1], cos / scale[:, 1], shift[:, 1]], 1),
    ], 1)                                                           # (B, 2, 3)
    grid = F.affine_grid(theta, (b, 1, h, w), align_corners=False)  # (B, H, W, 2)
    # elastic: a 4x4 random displacement field, smoothly upsampled
    disp = F.interpolate(p["elastic"], size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    out = F.grid_sample(x, grid + disp, mode="bilinear", padding_mode="border", align_corners=False)
    # stroke weight: a third thicker, a third thinner, a third unchanged
    pick = p["pick"]
    thick = F.max_pool2d(out, 3, 1, 1)
    thin = -F.max_pool2d(-out, 3, 1, 1)
    # blend so the change is partial (a 3x3 dilation at 64 px is a big step)
    a = p["blend"][:, None, None, None]
    out = torch.where((pick < 1 / 3)[:, None, None, None], out + a * (thick - out),
                      torch.where((pick > 2 / 3)[:, None, None, None], out + a * (thin - out), out))
    return out.clamp(-1, 1)
