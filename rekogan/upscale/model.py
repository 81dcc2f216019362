"""The upscaler network: a 64 px glyph -> 128 and 256 px, as logits of ink, residual over bilinear.

    x (B, 1, 64, 64) ink in [0, 1]
      -> a small U-Net at 64 / 32 px (which pixels are stroke, which are speckle or grey fuzz)
      -> head256: a 3 x 3 conv to 16 channels at 64 px, pixel shuffle x4 -> 256 px logits
      -> head128: a 3 x 3 conv to 4 channels at 64 px, pixel shuffle x2 -> 128 px logits
Every convolution runs at 64 or 32 px: on a CPU, convolutions with few channels at 128 or 256 px
cost far more than their multiply-adds (measured: a 4 -> 1 channel 3 x 3 conv at 256 px ran at
under 0.1 G multiply-adds per second), so the enlargement is all sub-pixel (ESPCN).
Each head adds its correction to an enlargement of the input in logits (the prior:
PRIOR_GAIN * (bilinear ink - 0.5)), so an untrained network already draws the glyph and training
spends its steps on edges and artefacts. sigmoid(logits) is ink in [0, 1], white ink on black.
With the defaults: 54 k parameters, 83 M multiply-adds per glyph at 256 px (count_macs).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

PRIOR_GAIN = 8.0     # the prior's logit slope: ink 0.5 +- 0.25 -> logit +-2


@dataclass
class UpscalerConfig:
    c64: int = 16          # channels at 64 px
    c32: int = 32          # channels at 32 px (the U-Net's bottom: context for strokes vs specks)
    blocks32: int = 2      # residual blocks at 32 px
    blocks64: int = 0      # residual blocks at 64 px after the U-Net

    def __post_init__(self):
        for k, v in asdict(self).items():
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                raise ValueError(f"upscaler config {k} must be a whole number >= 0, got {v!r}")
        if self.c64 < 1 or self.c32 < 1:
            raise ValueError("the upscaler needs at least one channel at 64 and at 32 px")

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class _Block(nn.Module):
    """conv-act-conv with a skip: keeps the signal path short in a small network."""

    def __init__(self, c: int):
        super().__init__()
        self.a, self.b = _conv(c, c), _conv(c, c)

    def forward(self, x):
        return x + self.b(F.silu(self.a(x)))


class Upscaler(nn.Module):
    def __init__(self, cfg: UpscalerConfig):
        super().__init__()
        self.cfg = cfg
        c64, c32 = cfg.c64, cfg.c32
        self.inp = _conv(1, c64)
        self.enc = _conv(c64, c64)
        self.down = nn.Conv2d(c64, c32, 3, stride=2, padding=1)
        self.mid = nn.Sequential(*[_Block(c32) for _ in range(cfg.blocks32)])
        self.up = nn.Conv2d(c32, c64 * 4, 1)                    # 32 -> 64 px by pixel shuffle
        self.dec = _conv(2 * c64, c64)                          # [skip, up] -> c64
        self.post = nn.Sequential(*[_Block(c64) for _ in range(cfg.blocks64)])
        self.head128 = _conv(c64, 4)                            # 2 x 2 sub-pixels
        self.head256 = _conv(c64, 16)                           # 4 x 4 sub-pixels
        for head in (self.head128, self.head256):               # start at the prior
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    @staticmethod
    def prior(x: torch.Tensor, size: int) -> torch.Tensor:
        """The bilinear enlargement of x as logits."""
        return PRIOR_GAIN * (F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False) - 0.5)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) ink -> (B, c64, H, W) features (H, W even; 64 for glyphs)."""
        a = F.silu(self.enc(F.silu(self.inp(x))))
        m = self.mid(F.silu(self.down(a)))
        u = F.silu(F.pixel_shuffle(self.up(m), 2))
        return self.post(F.silu(self.dec(torch.cat([a, u], 1))))

    def forward(self, x: torch.Tensor, *, sizes: tuple[int, ...] = (256,)) -> dict[int, torch.Tensor]:
        """x (B, 1, H, W) ink in [0, 1] (64 x 64 glyphs) -> {s: logits (B, 1, s/64 H, s/64 W)} for s in
        `sizes` (128 and / or 256: x2 and x4)."""
        h = self.features(x)
        out = {}
        for size, head, factor in ((128, self.head128, 2), (256, self.head256, 4)):
            if size in sizes:
                out[size] = F.pixel_shuffle(head(h), factor) + self.prior(x, x.shape[-1] * factor)
        return out


@dataclass
class FastX2Config:
    """The x2 network's shape (`FastX2`): a file whose metadata has "arch": "fast_x2" holds one."""
    channels: int = 32     # channels at 32 px
    convs: int = 4         # 3 x 3 convolutions at 32 px before the head (the first reads the 4 sub-images)

    def __post_init__(self):
        for k, v in asdict(self).items():
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"fast x2 config {k} must be a whole number >= 1, got {v!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class FastX2(nn.Module):
    """64 -> 128 px only, for the app's default size, cheap on a CPU (distilled from the x4 Upscaler's
    finished 128 px output: scripts/distill_upscaler.py).

        x (B, 1, 64, 64) -> pixel unshuffle: (B, 4, 32, 32), each 64 px pixel's 2 x 2 neighbourhood
          -> `convs` 3 x 3 convolutions with `channels` channels at 32 px (ReLU, residual after the first)
          -> a 3 x 3 conv to 16 channels, pixel shuffle x4 -> 128 px logits, + the bilinear prior
    Why this shape: on this CPU a 3 x 3 convolution with 32 channels at 32 px runs ~2x more multiply-adds
    a second than one with 16 (or 4) channels at 64 px, and the U-Net's element-wise work (SiLU, the
    skip's concatenation, two pixel shuffles at 64 px) was a third of its time; ReLU costs less than SiLU
    in bf16. 34 M multiply-adds per glyph (the U-Net's 128 px head: 76 M)."""

    def __init__(self, cfg: FastX2Config):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.inp = nn.Conv2d(4, c, 3, padding=1)
        self.body = nn.ModuleList([_conv(c, c) for _ in range(cfg.convs - 1)])
        self.head = _conv(c, 16)
        nn.init.zeros_(self.head.weight)                        # start at the prior
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, *, sizes: tuple[int, ...] = (128,)) -> dict[int, torch.Tensor]:
        """x (B, 1, 64, 64) ink in [0, 1] -> {128: logits (B, 1, 128, 128)}; it has no other size."""
        if tuple(sizes) != (128,):
            raise ValueError(f"this network draws 128 px only, asked for {sizes}")
        if torch.is_grad_enabled():                   # training: out-of-place (autograd keeps what it needs)
            h = F.relu(self.inp(F.pixel_unshuffle(x, 2)))
            for conv in self.body:
                h = h + F.relu(conv(h))
            return {128: F.pixel_shuffle(self.head(h), 4) + Upscaler.prior(x, 2 * x.shape[-1])}
        # serving: the same sums in place, and the pixel shuffle done by the prior's in-place add, whose
        # view reads the head's sub-pixels where the shuffle would put them (no shuffled copy, no new
        # 128 px tensor): bit for bit the lines above, ~1/4 less CPU (elementwise passes were half of it)
        h = self.inp(F.pixel_unshuffle(x, 2)).relu_()
        for conv in self.body:
            h = conv(h).relu_().add_(h)
        sub = self.head(h)                                          # (B, 16, H/2, W/2): 4 x 4 sub-pixels
        b, s = len(x), sub.shape[-1]
        out = Upscaler.prior(x, 2 * x.shape[-1])                    # (B, 1, 2H, 2W) fp32, a new tensor
        # out[b, 0, 4i + r, 4j + c] += sub[b, 4r + c, i, j]  (F.pixel_shuffle's order)
        out.view(b, s, 4, s, 4).add_(sub.view(b, 4, 4, s, s).permute(0, 3, 1, 4, 2))
        return {128: out}


def count_macs(model: Upscaler, *, size: int = 256) -> int:
    """Multiply-accumulates of the convolutions in one glyph's forward pass to `size`."""
    total = 0

    def hook(m, inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 1, 64, 64), sizes=(size,))
    finally:
        for h in handles:
            h.remove()
    return total
