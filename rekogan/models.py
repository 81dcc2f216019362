"""Generators and discriminators, built from one ModelConfig.

Two families:
  'proj'  - the fixed recipe. G: z and a learned class embedding -> DCGAN transposed-conv stack
            whose BatchNorms take their scale and shift from the class embedding (conditional BN),
            so the label reaches every resolution, not only the input. D: spectral-normalised conv
            stack ending in a 4x4 'valid' conv to features h, output = linear(h) + <embed(y), h> (projection
            discriminator, Miyato & Koyama 2018) plus an auxiliary classifier head on h (AC-GAN),
            which teaches G the label far sooner than the projection term alone.
  'dcgan' - the original ReKOGAN recipe. G: [z, embed(y)] -> transposed convs with BN.
            D: the label embedding broadcast as extra input feature maps, conv + BN, one logit.
            With embed_dim=10 and 520 classes this is the recipe that collapsed.
The condition (cond):
  'class' - one learned embedding per class of the run's class list (the 520-class runs).
  'jamo'  - the label is an index into all 11,172 syllables; the embedding is the sum of three
            learned embeddings of its initial, medial and final (19 + 21 + 28 rows), so a syllable
            never seen in training is still a valid condition (DM-Font's positional components).
            D's auxiliary head then classifies the three components instead of 11,172 classes.
weight_cond adds one scalar input to G, the stroke weight (ink ratio normalised per syllable).
Images are (B, 1, S, S) in [-1, 1], white ink on black; S is a power of two >= 16.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm
from torch.nn.utils.parametrize import is_parametrized

from .hangul import LCOUNT, SCOUNT, TCOUNT, VCOUNT, jamo_of


@dataclass
class ModelConfig:
    arch: str = "proj"        # 'proj' | 'dcgan'
    n_classes: int = 520
    size: int = 64
    z_dim: int = 128
    embed_dim: int = 128      # class-condition width (the original collapsed at 10)
    ngf: int = 32
    ndf: int = 32
    cond: str = "class"       # 'class' | 'jamo'
    weight_cond: bool = False  # G takes a stroke weight w (B,) as a third input

    def __post_init__(self):
        # ValueError, not assert: a config comes from presets, the command line and checkpoint
        # metadata (input), and python -O drops asserts
        if self.arch not in ("proj", "dcgan"):
            raise ValueError(f"arch must be 'proj' or 'dcgan', got {self.arch!r}")
        if self.cond not in ("class", "jamo"):
            raise ValueError(f"cond must be 'class' or 'jamo', got {self.cond!r}")
        if self.cond != "class" and not (self.arch == "proj" and self.n_classes == SCOUNT):
            raise ValueError(f"cond='jamo' needs arch 'proj' and the {SCOUNT} syllables as classes "
                             f"(got {self.arch!r}, {self.n_classes})")
        if self.weight_cond and self.arch != "proj":
            raise ValueError("weight_cond needs arch 'proj'")
        if not (self.size >= 16 and self.size & (self.size - 1) == 0):
            raise ValueError(f"size must be a power of two >= 16, got {self.size}")
        if not (self.n_classes >= 1 and self.z_dim >= 1 and self.embed_dim >= 1):
            raise ValueError(f"n_classes, z_dim, embed_dim must be >= 1, got {self.n_classes}, {self.z_dim}, {self.embed_dim}")

    @property
    def n_up(self) -> int:  # 4x4 -> size
        return int(math.log2(self.size)) - 2

    def to_dict(self) -> dict:
        return asdict(self)


def _widths(base: int, n: int) -> list[int]:
    """n+1 channel widths from 4x4 upwards: base*8, base*4, base*2, base, base, ..."""
    return [base * min(8, 2 ** (n - i)) for i in range(n + 1)]


class JamoEmbedding(nn.Module):
    """Syllable index (into all 11,172) -> sum of its initial, medial and final embeddings."""

    def __init__(self, dim: int, *, wrap=lambda m: m):
        super().__init__()
        self.initial = wrap(nn.Embedding(LCOUNT, dim))
        self.medial = wrap(nn.Embedding(VCOUNT, dim))
        self.final = wrap(nn.Embedding(TCOUNT, dim))

    def forward(self, y):
        li, vi, ti = jamo_of(y)
        return self.initial(li) + self.medial(vi) + self.final(ti)         # (B, dim)


def condition_embedding(cfg: ModelConfig, dim: int, *, wrap=lambda m: m) -> nn.Module:
    return JamoEmbedding(dim, wrap=wrap) if cfg.cond == "jamo" else wrap(nn.Embedding(cfg.n_classes, dim))


def aux_classes(cfg: ModelConfig) -> int:
    """Outputs of D's auxiliary classifier: one per class, or 19 + 21 + 28 component logits."""
    return LCOUNT + VCOUNT + TCOUNT if cfg.cond == "jamo" else cfg.n_classes


def aux_loss(logits: torch.Tensor, y: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Cross-entropy of D's auxiliary head; for jamo runs the sum over the three components."""
    if cfg.cond != "jamo":
        return F.cross_entropy(logits, y)
    li, vi, ti = jamo_of(y)
    a, b, c = logits.split([LCOUNT, VCOUNT, TCOUNT], 1)
    return F.cross_entropy(a, li) + F.cross_entropy(b, vi) + F.cross_entropy(c, ti)


def aux_correct(logits: torch.Tensor, y: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """(B,) bool: the auxiliary head reads the label (all three components, for jamo runs)."""
    if cfg.cond != "jamo":
        return logits.argmax(1) == y
    li, vi, ti = jamo_of(y)
    a, b, c = logits.split([LCOUNT, VCOUNT, TCOUNT], 1)
    return (a.argmax(1) == li) & (b.argmax(1) == vi) & (c.argmax(1) == ti)


class CondBatchNorm(nn.Module):
    """BatchNorm whose affine parameters are predicted from the class embedding."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        nn.init.zeros_(self.gain.weight); nn.init.zeros_(self.gain.bias)
        nn.init.zeros_(self.bias.weight); nn.init.zeros_(self.bias.bias)

    def forward(self, x, c):
        g = 1 + self.gain(c)[:, :, None, None]   # (B, C, 1, 1)
        b = self.bias(c)[:, :, None, None]
        return self.bn(x) * g + b


class ProjGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w = _widths(cfg.ngf, cfg.n_up - 1)                      # ngf*8 @4x4 ... ngf @size/2
        self.embed = condition_embedding(cfg, cfg.embed_dim)
        c_dim = cfg.z_dim + cfg.embed_dim + int(cfg.weight_cond)
        self.fc = nn.Linear(c_dim, w[0] * 16)
        # BigGAN-style skip-z: every conditional BN sees [z, class embedding (, weight)], so the
        # latent (the writer) reaches each resolution directly and G cannot learn to ignore it.
        self.norms = nn.ModuleList(CondBatchNorm(c, c_dim) for c in w)
        # transposed 4x4/2 convs: on a CPU they cost 4 taps per output where upsample+3x3 costs 9
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(w, w[1:] + [1]))

    def forward(self, z, y, w=None):
        e = self.embed(y)                                       # (B, E)
        parts = [z, e]
        if self.cfg.weight_cond:
            assert w is not None, "this generator has a stroke-weight input: pass w (B,)"
            parts.append(w.to(z.dtype)[:, None])                # (B, 1)
        c = torch.cat(parts, 1)                                 # (B, Z+E(+1))
        h = self.fc(c).view(len(z), -1, 4, 4)                   # (B, C0, 4, 4)
        for norm, up in zip(self.norms, self.ups):
            h = up(F.relu(norm(h, c)))                          # (B, C_next, 2H, 2W)
        return torch.tanh(h)                                    # (B, 1, S, S)


def minibatch_std(f: torch.Tensor, group: int = 4) -> torch.Tensor:
    """StyleGAN's minibatch-stddev feature: one extra map holding the feature spread within groups
    of `group` consecutive samples. A G that ignores z draws groups with zero spread, which D can
    now see, so the 'one image per class' mode collapse is penalised. Groups never straddle the
    real/fake halves of a concatenated batch when each half is a multiple of `group`."""
    b, c, hh, ww = f.shape
    g = min(group, b)
    while b % g:
        g -= 1
    s = f.float().view(b // g, g, c, hh, ww).std(1, unbiased=False).mean(dim=(1, 2, 3))  # (B/g,)
    return s.repeat_interleave(g)[:, None, None, None].expand(b, 1, hh, ww).to(f.dtype)  # (B, 1, H, W)


class ProjDiscriminator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w = _widths(cfg.ndf, cfg.n_up - 1)[::-1]                # ndf @size/2 ... ndf*8 @4x4
        layers, c_in = [], 1
        for c in w:
            layers += [spectral_norm(nn.Conv2d(c_in, c, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c
        # a 4x4 'valid' conv reads the 4x4 map as a whole: the features know *where* strokes are.
        # (Sum-pooling the 4x4 map instead made D position-blind, and G learnt to tile one 16 px
        # patch over the canvas.)
        self.body = nn.Sequential(*layers)                     # (B, 1, S, S) -> (B, C, 4, 4)
        self.head = nn.Sequential(spectral_norm(nn.Conv2d(c_in + 1, c_in, 4, 1, 0)), nn.LeakyReLU(0.2, inplace=True))
        self.linear = spectral_norm(nn.Linear(c_in, 1))
        self.embed = condition_embedding(cfg, c_in, wrap=spectral_norm)
        self.aux = nn.Linear(c_in, aux_classes(cfg))           # AC head: not spectral-normalised, it is a classifier

    def forward(self, x, y):
        """-> (adversarial logit (B,), auxiliary logits (B, aux_classes(cfg)))"""
        f = self.body(x)                                        # (B, C, 4, 4)
        h = self.head(torch.cat([f, minibatch_std(f)], 1)).flatten(1)  # (B, C)
        out = self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)
        return out, self.aux(h)


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w = _widths(cfg.ngf, cfg.n_up - 1)                      # ngf*8 @4x4 ... ngf @size/2
        self.embed = nn.Embedding(cfg.n_classes, cfg.embed_dim)
        layers = [nn.ConvTranspose2d(cfg.z_dim + cfg.embed_dim, w[0], 4, 1, 0, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(True)]
        for i in range(cfg.n_up - 1):
            layers += [nn.ConvTranspose2d(w[i], w[i + 1], 4, 2, 1, bias=False), nn.BatchNorm2d(w[i + 1]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(w[-1], 1, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, y):
        h = torch.cat([z, self.embed(y)], 1)[:, :, None, None]   # (B, Z+E, 1, 1)
        return self.net(h)


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w = _widths(cfg.ndf, cfg.n_up - 1)[::-1]                # ndf @size/2 ... ndf*8 @4x4
        self.embed = nn.Embedding(cfg.n_classes, cfg.embed_dim)
        layers, c_in = [], 1 + cfg.embed_dim
        for i, c in enumerate(w):
            layers.append(nn.Conv2d(c_in, c, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c
        layers.append(nn.Conv2d(c_in, 1, 4, 1, 0, bias=False))  # 4x4 -> 1x1
        self.net = nn.Sequential(*layers)

    def forward(self, x, y):
        b, _, s, _ = x.shape
        maps = self.embed(y)[:, :, None, None].expand(b, -1, s, s)  # (B, E, S, S)
        return self.net(torch.cat([x, maps], 1)).view(b), None


def build_generator(cfg: ModelConfig) -> nn.Module:
    return (ProjGenerator if cfg.arch == "proj" else DCGANGenerator)(cfg)


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    return (ProjDiscriminator if cfg.arch == "proj" else DCGANDiscriminator)(cfg)


def init_weights(m: nn.Module):
    """DCGAN init: N(0, 0.02) convs, N(1, 0.02) BN scales. Applied to both families."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and not is_parametrized(m):
        if m.weight.requires_grad and not isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
