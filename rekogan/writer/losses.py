"""What "looks like the same hand" means while fitting, and SSIM for measuring.

  ReaderFeatures  the reader's CNN as a perceptual feature extractor (LPIPS-like): the activation
                  map after every stage, unit-normalised across channels, plus the pooled feature
                  vector of rekogan.reader's `read`. The pooled vector alone is trained to ignore
                  style (it names the syllable whatever the face); the earlier maps still see
                  stroke width, slant and shape, which is the hand. `read_loss`: the reader's own
                  head on that pooled vector, the cross-entropy for a given syllable (the adapter's
                  `read` term).
  pixel_loss      L1 at full size and on 4x4-averaged images: the coarse term gives a gradient
                  when a stroke is a few pixels off, where plain L1 has none.
  ssim            the usual Gaussian-window SSIM (11 px, sigma 1.5) on ink in [0, 1], averaged over
                  the window centres whose window lies in the image ('valid', as Wang et al.'s code
                  and scikit-image); equal to torchmetrics' SSIM map on that region (tests/test_ssim.py).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..classifier import _inference_body


class ReaderFeatures(nn.Module):
    """Differentiable multi-layer features of a reader (ClassReader or JamoReader), frozen."""

    def __init__(self, reader):
        super().__init__()
        model = reader.model
        self.size = model.cfg.size
        body = _inference_body(model).to(memory_format=torch.contiguous_format)   # BN folded into the convs
        mods = [nn.ReLU() if isinstance(m, nn.ReLU) else m for m in body]       # no in-place: autograd keeps maps
        self.body = nn.Sequential(*mods).eval()
        for p in self.body.parameters():
            p.requires_grad_(False)
        # the reader's head, for read_loss: which syllable a glyph reads as (frozen, no dropout)
        self.head = nn.Linear(model.head.in_features, model.head.out_features)
        self.head.load_state_dict({k: v.float() for k, v in model.head.state_dict().items()})
        self.head.requires_grad_(False)
        self.kind = getattr(reader, "kind", "class")
        self.head_classes = frozenset(model.class_list) if self.kind == "class" else None   # None: reads any
        if self.kind == "class":                 # syllable code (ord - 0xAC00) -> output index, -1: not read
            lut = torch.full((11172,), -1, dtype=torch.int64)
            lut[torch.tensor([ord(c) - 0xAC00 for c in model.class_list])] = torch.arange(len(model.class_list))
            self.register_buffer("class_of", lut, persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 1, S, S) in [-1, 1] -> [map after each stage (B, C, h, w) unit-normalised, pooled (B, D)]."""
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.size)
        out, h = [], x
        for m in self.body:
            h = m(h)
            if isinstance(m, nn.ReLU):
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-6))
        out.append(h.mean(dim=(2, 3)))
        return out

    def read_loss(self, pooled: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """(B,) the reader's cross-entropy for reading glyphs (their pooled features, forward()[-1]) as
        the syllables `codes` (ord - 0xAC00); 0 for a syllable a class reader cannot read."""
        logits = self.head(pooled)
        if self.kind == "jamo":
            from ..hangul import LCOUNT, TCOUNT, VCOUNT, jamo_of
            li, vi, ti = jamo_of(codes)
            a, b, c = logits.split([LCOUNT, VCOUNT, TCOUNT], 1)
            return sum(F.cross_entropy(x, t, reduction="none") for x, t in ((a, li), (b, vi), (c, ti)))
        idx = self.class_of[codes]
        ce = F.cross_entropy(logits, idx.clamp(min=0), reduction="none")
        return torch.where(idx >= 0, ce, torch.zeros_like(ce))

    @torch.no_grad()
    def reads(self, pooled: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the reader reads each glyph (its pooled features) as its syllable `codes` (ord - 0xAC00),
        every component of it for the component reader; True for a syllable a class reader cannot read."""
        logits = self.head(pooled)
        if self.kind == "jamo":
            from ..hangul import LCOUNT, TCOUNT, VCOUNT, jamo_of
            a, b, c = logits.split([LCOUNT, VCOUNT, TCOUNT], 1)
            return torch.stack([x.argmax(1) == t for x, t in zip((a, b, c), jamo_of(codes))]).all(0)
        idx = self.class_of[codes]
        return (idx < 0) | (logits.argmax(1) == idx)


class JointFeatures(nn.Module):
    """Two readers' features as one (fit(reader_features=) takes it like a ReaderFeatures): the maps of both,
    then both pooled vectors side by side. Two networks trained apart see a hand through different maps, a
    richer description of it than either's. Reading (read_loss, reads) is the first reader's, on its part of
    the pooled vector."""

    def __init__(self, first: ReaderFeatures, second: ReaderFeatures):
        super().__init__()
        self.first, self.second = first, second
        self.size, self.kind = first.size, first.kind
        self.split = first.head.in_features

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        a, b = self.first(x), self.second(x)
        return [*a[:-1], *b[:-1], torch.cat([a[-1], b[-1]], 1)]

    def read_loss(self, pooled: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self.first.read_loss(pooled[:, :self.split], codes)

    def reads(self, pooled: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self.first.reads(pooled[:, :self.split], codes)


def feature_distance(fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
    """(B,) perceptual distance between two feature lists of ReaderFeatures: mean over the maps of
    the squared difference (summed over channels), plus the pooled vectors' cosine distance."""
    maps = [(a - b).pow(2).sum(1).mean(dim=(1, 2)) for a, b in zip(fa[:-1], fb[:-1])]
    cos = 1 - F.cosine_similarity(fa[-1], fb[-1], dim=1)
    return torch.stack(maps, 0).mean(0) + cos


def pixel_loss(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B,) L1 at full size plus L1 of the 4x4 averages (both on [-1, 1] images)."""
    fine = (x - t).abs().mean(dim=(1, 2, 3))
    k = max(1, x.shape[-1] // 16)
    coarse = (F.avg_pool2d(x, k) - F.avg_pool2d(t, k)).abs().mean(dim=(1, 2, 3))
    return fine + coarse


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-(torch.arange(size, dtype=torch.float32) - size // 2) ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) SSIM of images (B, 1, S, S) in [-1, 1] (Wang et al. 2004; window 11, sigma 1.5, on [0, 1]).
    Images smaller than the window use a window of their size."""
    a = (a.float() + 1) / 2
    b = (b.float() + 1) / 2
    win = min(11, a.shape[-1])
    w = _gauss(win, 1.5 * win / 11)
    mu_a, mu_b = F.conv2d(a, w), F.conv2d(b, w)
    saa = F.conv2d(a * a, w) - mu_a ** 2
    sbb = F.conv2d(b * b, w) - mu_b ** 2
    sab = F.conv2d(a * b, w) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return m.mean(dim=(1, 2, 3))
