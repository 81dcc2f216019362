"""One typed training config, resolved from a named preset plus explicit overrides.

`fixed` is the project's best 520-class recipe; `hangul` is the same recipe conditioned on the
syllable's components (initial, medial, final) plus a stroke weight, so it writes all 11,172
syllables after training on 2,115; `collapsed` is the original ReKOGAN recipe (the original drew
'차', '핀', '긴' when asked for '가'): DCGAN conditioning through a 10-dimensional label embedding
for 520 classes. Every field can be overridden on the command line (train.py --FIELD VALUE).
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, fields

from .models import ModelConfig


@dataclass
class TrainConfig:
    # data
    data: str = "fonts"            # fonts | fonts:DIR | hgu1:PATH | folder:PATH
    classes: str = "seri95"        # the label space: 'seri95' (520), 'ksx1001', 'all' (11,172), a count n (the
                                   # first n SERI95 classes), or the syllables themselves
    split: str = ""                # '' = train on every class; 'ksx1001' = train on KS X 1001 minus held-out
                                   # syllables (rekogan/split.py; jamo runs), written to split.json;
                                   # 'ksx1001+restN' adds N syllables from outside KS X 1001 (may be
                                   # set on --resume of a 'ksx1001' run: the held-out ones stay out)
    size: int = 64
    augment: float = 1.0           # augmentation strength (0 = off); never flips
    # model
    arch: str = "proj"
    z_dim: int = 128
    embed_dim: int = 128
    ngf: int = 32
    ndf: int = 24
    cond: str = "class"            # 'class': one embedding per class; 'jamo': initial + medial + final embeddings
    weight_cond: bool = False      # G takes a stroke weight: the glyph's ink ratio, normalised per syllable
    # loss
    loss: str = "hinge"            # hinge | bce
    real_label: float = 1.0        # BCE target for real images (0.9 = one-sided label smoothing)
    aux_weight: float = 1.0        # auxiliary classification loss on D's features, D's side: classify reals (proj only)
    aux_weight_g: float = 1.0      # G's side of it: be classified as the asked class (AC-GAN pulls G towards
                                   # each class's most readable form, at the cost of intra-class diversity)
    ink_weight: float = 1.0        # weight_cond runs: G's Huber loss between asked and drawn weight (per-syllable SDs)
    ms_weight: float = 0.0         # mode-seeking term (MSGAN, Mao et al. 2019): pairs of fakes with one class and
                                   # two latents are pushed apart, 1 / (mean|G(z1)-G(z2)| / mean|z1-z2|)
    # optimisation
    batch: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = 0.998             # EMA decay of G's weights for sampling (0 = sample the raw G)
    ema_start: int = 500           # steps before the EMA starts tracking (early weights are noise)
    # schedule
    epochs: int = 60
    epoch_images: int = 8192       # images seen per epoch (the data is augmented, so epochs are a unit of time)
    seed: int = 0
    # logging and evaluation
    grid_classes: int = 16         # rows of the per-epoch sample grid (classes spread over the list)
    grid_seeds: int = 8            # columns: fixed seeds 0..grid_seeds-1
    eval_every: int = 1            # evaluate with the project classifier every N epochs (0 = never)
    classifier: str = "checkpoints/classifier/classifier.safetensors"
    keep_states: int = 1           # resume states kept (older ones deleted)
    # plumbing
    device: str = "auto"           # auto | cpu | cuda | cuda:N
    amp: bool = True               # bf16 autocast for the training step where bf16 is native: GPUs from Ampere on,
                                   # CPUs with AVX512-BF16 or AMX; fp32 elsewhere. Sampling is always fp32.
    threads: int = 0               # torch CPU threads (0 = all cores)
    preset: str = "fixed"

    def model_config(self, n_classes: int) -> ModelConfig:
        return ModelConfig(arch=self.arch, n_classes=n_classes, size=self.size, z_dim=self.z_dim,
                           embed_dim=self.embed_dim, ngf=self.ngf, ndf=self.ndf, cond=self.cond,
                           weight_cond=self.weight_cond)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


PRESETS: dict[str, dict] = {
    # The v1 recipe (the dataclass defaults) plus the mode-seeking term: with it the intra-class
    # diversity stayed at or above the data's while readability rose faster (docs/RESULTS.md).
    "fixed": dict(ms_weight=1.0),
    # The fixed recipe conditioned on components: writes any of the 11,172 syllables. Trained on
    # KS X 1001 minus 235 held-out syllables; the per-epoch evaluation needs the component reader.
    "hangul": dict(ms_weight=1.0, classes="all", split="ksx1001", cond="jamo", weight_cond=True,
                   grid_classes=20, eval_every=0),
    # The original: DCGAN, 10-d label embedding concatenated to z and broadcast as maps into D,
    # BCE with 0.9 real labels, Adam 2e-4 (0.5, 0.999), batch 128, no EMA, no auxiliary loss.
    "collapsed": dict(arch="dcgan", z_dim=100, embed_dim=10, ngf=64, ndf=64, loss="bce", real_label=0.9,
                      aux_weight=0.0, aux_weight_g=0.0, batch=128, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, ema=0.0),
    # The original's fix: the same DCGAN with a 50-d condition.
    "original50": dict(arch="dcgan", z_dim=100, embed_dim=50, ngf=64, ndf=64, loss="bce", real_label=0.9,
                       aux_weight=0.0, aux_weight_g=0.0, batch=128, ema=0.0),
    # Seconds-long runs for tests: 4 classes at 16x16.
    "tiny": dict(classes="4", size=16, ngf=8, ndf=8, z_dim=16, embed_dim=8, batch=16, epochs=2,
                 epoch_images=64, grid_classes=4, grid_seeds=4, eval_every=0, ema_start=0),
}


def resolve(preset: str = "fixed", **overrides) -> TrainConfig:
    """Preset values, then overrides (unknown names are an error, not ignored). Bad values raise
    ValueError with a one-line message (not assert: input checks must survive python -O)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown config fields {unknown}; valid: {sorted(names)}")
    cfg = TrainConfig(**{**PRESETS[preset], **overrides, "preset": preset})
    if cfg.loss not in ("hinge", "bce"):
        raise ValueError(f"loss must be hinge or bce, got {cfg.loss!r}")
    if not (cfg.batch >= 2 and cfg.epochs >= 1 and cfg.epoch_images >= cfg.batch):
        raise ValueError(f"need batch >= 2, epochs >= 1 and epoch_images >= batch "
                         f"(got {cfg.batch}, {cfg.epochs}, {cfg.epoch_images})")
    if not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"ema decay must be in [0, 1), got {cfg.ema}")
    if not re.fullmatch(r"|ksx1001(\+rest\d+)?", cfg.split):
        raise ValueError(f"split must be '', 'ksx1001' or 'ksx1001+restN' (N extra syllables), got {cfg.split!r}")
    if cfg.cond not in ("class", "jamo"):
        raise ValueError(f"cond must be 'class' or 'jamo', got {cfg.cond!r}")
    if cfg.cond != "class" and cfg.classes != "all":
        raise ValueError("cond 'jamo' conditions on any syllable: it needs classes 'all'")
    return cfg


def from_dict(d: dict) -> TrainConfig:
    """Rebuild a config from config.json (fields added later keep their defaults)."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in d.items() if k in names})
