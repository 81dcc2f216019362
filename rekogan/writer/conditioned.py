"""Paired training of a style encoder with a fine-tune of the generator (spike for issue 25).

The training data is rendered from fonts, so for any training face and syllable the true glyph
exists: E reads k reference glyphs of a face, G draws other syllables of that face from E's writer,
and the loss compares them with the face's real glyphs:

  recon    L1 (on ink in [0, 1]) + (1 - SSIM), per glyph: what issue 25 measures
  read     the reader's cross-entropy of each drawn glyph as its own syllable: it stays readable
  feature  (off by default) the fit's perceptual distance (losses.feature_distance) between the drawn
           and the real glyphs in a reader's features: what style top-1 compares, so G learns to draw
           a writer's other syllables close in those features and not only in pixels
  anchor   sum of (theta - theta_0)^2 over G's parameters: G keeps what the GAN learnt (its prior
           for letters the faces never showed); mean square per parameter tensor, summed
  shell    the latents near the Gaussian shell |z| ~ sqrt(Z), where G's training latents lie

G stays in eval mode (BatchNorm keeps its running statistics: a glyph never depends on its batch).

Against overfitting the few training faces (the hangul spike's training faces reached SSIM 0.78 while
unseen faces stalled at ~0.64): `jitter_faces` (PairedConfig.augment) turns a sampled face into a
nearby new one, and `validation_split` holds a few training faces out of training, so that the
best weights are chosen without looking at the measured unseen faces.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .latent import layered_forward
from .losses import ReaderFeatures, feature_distance, ssim


@dataclass
class PairedConfig:
    faces: int = 4              # training faces per step
    k: int = 8                  # references per face
    targets: int = 16           # drawn and compared syllables per face
    lr_e: float = 3e-4
    lr_g: float = 3e-5
    read: float = 0.1           # weight of the reader's cross-entropy
    anchor: float = 10.0        # weight of the pull of G toward its original weights
    shell: float = 0.01
    augment: float = 0.0        # probability that a sampled face is jittered (jitter_faces); 0: never
    adapter_reg: float = 0.01   # weight of the mean square of E's predicted modulation (encoders with that head)
    feature: float = 0.0        # weight of the reader-feature distance of drawn to real glyphs (style_feats); 0: off

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Batch:
    refs: torch.Tensor          # (B, k, 1, S, S) in [-1, 1]
    ref_labels: torch.Tensor    # (B, k) G's class indices
    targets: torch.Tensor       # (B, T, 1, S, S)
    target_labels: torch.Tensor # (B, T)


def validation_split(names: list[str], n: int, *, seed: int) -> list[str]:
    """n of the training faces `names`, drawn by `seed` and kept out of training, in names' order."""
    if not 0 <= n < len(names):
        raise ValueError(f"--val-faces must be in 0..{len(names) - 1} (there are {len(names)} training faces), got {n}")
    chosen = set(torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))[:n].tolist())
    return [name for i, name in enumerate(names) if i in chosen]


def jitter_faces(g: torch.Tensor, *, p: float, gen: torch.Generator) -> torch.Tensor:
    """g (B, N, 1, S, S) in [-1, 1], white on black: each face b, with probability p, gets ONE small
    random affine (scale +-8 %, rotation +-3 deg, shear +-0.08, shift +-1.5 px) and stroke-weight
    change (up to half a 3x3 dilation or erosion), the same for all N of its glyphs: references and
    targets still come from one (new, nearby) face, so E learns hands between the training faces
    rather than the training faces themselves."""
    b, n, _, s, _ = g.shape
    u = torch.rand(b, 6, generator=gen) * 2 - 1
    on = (torch.rand(b, generator=gen) < p).float()
    u = u * on[:, None]                                      # off: the identity transform
    scale, ang, shear = 1 + 0.08 * u[:, 0], math.radians(3) * u[:, 1], 0.08 * u[:, 2]
    shift, thick = 1.5 * 2 / s * u[:, 3:5], 0.5 * u[:, 5]
    cos, sin = torch.cos(ang), torch.sin(ang)
    # output -> input coordinates: rotation x shear, over the scale
    a = torch.stack([torch.stack([cos, cos * shear - sin], 1), torch.stack([sin, sin * shear + cos], 1)], 1) / scale[:, None, None]
    theta = torch.cat([a, shift[:, :, None]], 2).repeat_interleave(n, 0)          # (B*N, 2, 3)
    ink = (g.flatten(0, 1) + 1) / 2                          # ink in [0, 1]: padding 0 is the background
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    ink = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    t = thick.repeat_interleave(n)[:, None, None, None]
    grown, thinned = F.max_pool2d(ink, 3, 1, 1), -F.max_pool2d(-ink, 3, 1, 1)
    ink = torch.where(t >= 0, ink + t * (grown - ink), ink - t * (thinned - ink))
    return (ink.clamp(0, 1) * 2 - 1).view_as(g)


def sample_batch(images: torch.Tensor, pool: torch.Tensor, *, faces: int, k: int, targets: int,
                 gen: torch.Generator, label_of: torch.Tensor | None = None, augment: float = 0.0) -> Batch:
    """images (F, C, S, S) uint8 white on black, one row per training face; pool: the columns (classes)
    that may be drawn. Each face gets k references and `targets` other syllables, all distinct.
    label_of maps a column to G's class index (identity when None). augment > 0: jitter_faces with
    that probability (0 draws nothing more from gen: the same batches as before the option)."""
    if k + targets > len(pool):
        raise ValueError(f"k + targets = {k + targets} but only {len(pool)} syllables to choose from")
    fi = torch.randint(len(images), (faces,), generator=gen)
    cols = torch.stack([pool[torch.randperm(len(pool), generator=gen)[:k + targets]] for _ in range(faces)])  # (B, k+T)
    g = images[fi[:, None], cols].float().div(127.5).sub(1)[:, :, None]           # (B, k+T, 1, S, S)
    if augment > 0:
        g = jitter_faces(g, p=augment, gen=gen)
    lab = cols if label_of is None else label_of[cols]
    return Batch(g[:, :k], lab[:, :k], g[:, k:], lab[:, k:])


def draw(G, latents: torch.Tensor, weight: torch.Tensor | None, labels: torch.Tensor,
         adapter: dict | None = None) -> torch.Tensor:
    """Each writer b (latents (B, L, Z), weight (B,), adapter {name: (B, C)}) draws its labels (B, T)
    -> (B*T, 1, S, S)."""
    t = labels.shape[1]
    lat = latents.repeat_interleave(t, 0)
    w = None if weight is None else weight.repeat_interleave(t, 0)
    ad = {k: v.repeat_interleave(t, 0) for k, v in (adapter or {}).items()}      # (B*T, C): one per glyph
    return layered_forward(G, lat, labels.flatten(), w, adapter=ad or None)


def anchor_loss(G, originals: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum((p - originals[n]).pow(2).mean() for n, p in G.named_parameters() if p.requires_grad)


def paired_loss(E, G, batch: Batch, *, feats: ReaderFeatures, codes: torch.Tensor | None,
                originals: dict[str, torch.Tensor], cfg: PairedConfig,
                style_feats=None) -> tuple[torch.Tensor, dict]:
    """(loss, {part: float}) for one batch. codes: the syllable (ord - 0xAC00) of each of G's classes.
    style_feats: the features cfg.feature compares in (a ReaderFeatures or JointFeatures; None: feats)."""
    latents, weight, adapter = E.writer(batch.refs, G.embed(batch.ref_labels.flatten()).detach().view(*batch.ref_labels.shape, -1))
    x = draw(G, latents, weight, batch.target_labels, adapter)
    t = batch.targets.flatten(0, 1)
    l1 = (x - t).abs().mean(dim=(1, 2, 3)) / 2
    s = ssim(x, t)
    loss = (l1 + 1 - s).mean()
    parts = {"l1": float(l1.detach().mean()), "ssim": float(s.detach().mean())}
    style_feats = feats if style_feats is None else style_feats
    fx = None
    if cfg.feature:
        fx = style_feats(x)
        with torch.no_grad():
            ft = style_feats(t)                       # the real glyphs: a target, no gradient
        fd = feature_distance(fx, ft).mean()
        loss = loss + cfg.feature * fd
        parts["feature"] = float(fd.detach())
    if cfg.read and codes is not None:
        pooled = fx[-1] if fx is not None and style_feats is feats else feats(x)[-1]   # one pass when shared
        ce = feats.read_loss(pooled, codes[batch.target_labels.flatten()]).mean()
        loss = loss + cfg.read * ce
        parts["read_ce"] = float(ce.detach())
    if cfg.anchor and originals:
        a = anchor_loss(G, originals)
        loss = loss + cfg.anchor * a
        parts["anchor"] = float(a.detach())
    if cfg.adapter_reg and adapter:                   # the predicted modulation stays small, as a fit's (its anchor)
        a = sum(v.pow(2).mean() for v in adapter.values())
        loss = loss + cfg.adapter_reg * a
        parts["adapter_ms"] = float(a.detach())
    if cfg.shell:
        z = latents.shape[-1]
        loss = loss + cfg.shell * ((latents.norm(dim=-1) / math.sqrt(z) - 1) ** 2).mean()
    parts["loss"] = float(loss.detach())
    return loss, parts


def make_optimizer(E, G, cfg: PairedConfig) -> torch.optim.Optimizer:
    groups = [{"params": list(E.parameters()), "lr": cfg.lr_e}]
    if cfg.lr_g:
        groups.append({"params": [p for p in G.parameters() if p.requires_grad], "lr": cfg.lr_g})
    return torch.optim.Adam(groups, betas=(0.5, 0.999))


def train_step(E, G, batch: Batch, opt: torch.optim.Optimizer, *, feats, codes, originals, cfg: PairedConfig,
               autocast: bool = False, clip: float = 1.0, style_feats=None) -> dict:
    """One Adam step on E (and G's trainable parameters); returns the loss parts before the step."""
    E.train()
    G.eval()                                             # BatchNorm: running statistics, always
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss, parts = paired_loss(E, G, batch, feats=feats, codes=codes, originals=originals, cfg=cfg,
                                  style_feats=style_feats)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
    # one bad batch must not end the run: a non-finite gradient is skipped (Adam would carry the NaN
    # into every parameter), a large one clipped
    norm = torch.nn.utils.clip_grad_norm_(params, clip) if clip else None
    finite = bool(torch.isfinite(loss.detach())) and (norm is None or bool(torch.isfinite(norm)))
    if finite:
        opt.step()
    parts["skipped"] = float(not finite)
    return parts


def save_resume(path, *, E, G, opt: torch.optim.Optimizer, counters: dict, gen: torch.Generator) -> None:
    """Everything a resumed run needs (E, G, Adam, counters, both random streams), written atomically."""
    from ..checkpoints import save_state
    save_state(path, modules={"E": E, "G": G}, optimizers={"opt": opt}, counters=counters,
               rng={"gen": gen.get_state(), "torch": torch.get_rng_state()})


def load_resume(path, *, E, G, opt: torch.optim.Optimizer, gen: torch.Generator) -> dict:
    """Load save_resume's file into E, G, opt and the random streams; returns the counters."""
    from ..checkpoints import load_state
    counters, rng = load_state(path, modules={"E": E, "G": G}, optimizers={"opt": opt})
    gen.set_state(rng["gen"])
    torch.set_rng_state(rng["torch"])
    return counters
