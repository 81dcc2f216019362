"""A style encoder: a writer (per-layer latents + stroke weight) from k glyphs in one forward pass.

Issue 25. The fitted writer (fit.py) searches a latent of a
generator that was trained as a GAN with random latents: it never learnt to reproduce a given face,
and the search stays below retrieval on the held-out system faces. Here a small CNN E reads each of
k reference glyphs with its syllable (the generator's own condition embedding, so E knows which
letter it looks at and can attribute the rest to the hand), the k features are mean-pooled (the
writer does not depend on the order or number of references), and a head maps the pooled feature
to the generator's per-layer latents (latent.py's layered_forward) and its stroke weight. E is
trained with a fine-tune of G on paired glyphs of the training faces (scripts/train_writer_encoder.py).

The head's last layer starts at zero: an untrained E gives the latent z = 0 at every layer (the
prior's mean) and weight 0, a valid writer of the unchanged generator.

With `adapter` (the channels of each conditional BatchNorm, encoder_for(adapter=True)) E also gives
the writer's per-channel modulation (adapter.py's 'channels' kind: scale.i, shift.i per layer), from a
second head that also starts at zero (no change). The latents alone move a hand only within what the
GAN learnt; the fitted adapter moved the fixed run's style top-1 from 26 to 49 % (issue 25), but a fit
sees only the k references. Trained on paired glyphs, E predicts the modulation that draws the OTHER
syllables in the hand, and G learns to draw through it; the fit then starts its adapter from E's.

A shipped hand run (scripts/ship_writer_run.py) keeps E as `encoder.safetensors` beside its epoch file
(fp16, FORMAT, the encoder's shape in the metadata's `config`): `encoder_beside(checkpoint)` finds it,
`load_encoder` reads it (WriterError for a damaged or foreign file), `start_writer` gives the fit its
start (fit.fit(encoder=...)).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import WriterError

ENCODER_FILE = "encoder.safetensors"
FORMAT = "rekogan-style-encoder-1"


class StyleEncoder(nn.Module):
    """refs (B, k, 1, S, S) in [-1, 1] white on black, cond (B, k, E) the references' syllable
    embeddings -> (latents (B, L, Z), weight (B,) or None)."""

    def __init__(self, *, size: int, z_dim: int, n_layers: int, cond_dim: int, weight_cond: bool,
                 width: int = 32, feat: int = 256, adapter: list[int] | None = None):
        super().__init__()
        if size < 16 or size & (size - 1):
            raise ValueError(f"size must be a power of two >= 16, got {size}")
        if adapter is not None and (len(adapter) != n_layers - 1 or any(int(c) < 1 for c in adapter)):
            raise ValueError(f"adapter must list the channels of each of the {n_layers - 1} BatchNorms, got {adapter}")
        self.config = dict(size=size, z_dim=z_dim, n_layers=n_layers, cond_dim=cond_dim,
                           weight_cond=weight_cond, width=width, feat=feat)
        if adapter is not None:                           # absent from older files' config: no adapter head
            self.config["adapter"] = [int(c) for c in adapter]
        chans, layers, c_in = [width, width * 2, width * 4, width * 4], [], 1
        for c in chans:                                   # /16: 64 px -> 4 x 4
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.cell = max(1, min(4, size // 16))            # pooled to 4 x 4 (64 px): keeps where strokes are
        self.per_ref = nn.Sequential(nn.Linear(c_in * self.cell ** 2 + cond_dim, feat), nn.LeakyReLU(0.2),
                                     nn.Linear(feat, feat), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(nn.Linear(feat, feat), nn.LeakyReLU(0.2),
                                  nn.Linear(feat, n_layers * z_dim + int(weight_cond)))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        if adapter is not None:                           # scale and shift of every layer's channels
            self.adapt = nn.Sequential(nn.Linear(feat, feat), nn.LeakyReLU(0.2), nn.Linear(feat, 2 * sum(adapter)))
            nn.init.zeros_(self.adapt[-1].weight)
            nn.init.zeros_(self.adapt[-1].bias)

    def features(self, refs: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(B, k, feat): one feature per reference."""
        b, k = refs.shape[:2]
        h = self.body(refs.flatten(0, 1))
        h = F.adaptive_avg_pool2d(h, self.cell).flatten(1)
        return self.per_ref(torch.cat([h, cond.flatten(0, 1).to(h.dtype)], 1)).view(b, k, -1)

    def forward(self, refs: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(latents (B, L, Z), weight (B,) or None): the writer without its adapter (see writer())."""
        latents, weight, _ = self.writer(refs, cond)
        return latents, weight

    def writer(self, refs: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
        """(latents (B, L, Z), weight (B,) or None, adapter {'scale.i' / 'shift.i': (B, C_i)}, {} without
        an adapter head)."""
        if refs.ndim != 5 or cond.ndim != 3 or refs.shape[:2] != cond.shape[:2]:
            raise ValueError(f"refs must be (B, k, 1, S, S) and cond (B, k, E), got {tuple(refs.shape)} and {tuple(cond.shape)}")
        pooled = self.features(refs, cond).mean(1)       # order- and count-free
        out = self.head(pooled).float()
        c = self.config
        latents = out[:, :c["n_layers"] * c["z_dim"]].view(len(out), c["n_layers"], c["z_dim"])
        weight = out[:, -1] if c["weight_cond"] else None
        adapter = {}
        if "adapter" in c:
            a = self.adapt(pooled).float()                # (B, 2 * sum(C)): per layer, C scales then C shifts
            at = 0
            for i, ch in enumerate(c["adapter"]):
                adapter[f"scale.{i}"], adapter[f"shift.{i}"] = a[:, at:at + ch], a[:, at + ch:at + 2 * ch]
                at += 2 * ch
        return latents, weight, adapter


def adapter_channels(generator) -> list[int]:
    """The channels of each conditional BatchNorm of a ProjGenerator: the 'channels' adapter's shape."""
    return [int(n.bn.num_features) for n in generator.norms]


def encoder_for(generator, *, adapter: bool = False, **kw) -> StyleEncoder:
    """A StyleEncoder shaped for a ProjGenerator (its size, latent, layers and condition width);
    adapter=True: with the head that predicts the writer's per-channel modulation."""
    from .latent import n_layers
    cfg = generator.cfg
    return StyleEncoder(size=cfg.size, z_dim=cfg.z_dim, n_layers=n_layers(generator), cond_dim=cfg.embed_dim,
                        weight_cond=bool(getattr(cfg, "weight_cond", False)),
                        adapter=adapter_channels(generator) if adapter else None, **kw)


def n_bytes_fp16(module: nn.Module) -> int:
    """The module's parameters at fp16 (2 bytes each): its size as a shipped safetensors file, less the header."""
    return 2 * sum(p.numel() for p in module.parameters())


def encoder_beside(checkpoint) -> Path | None:
    """The hand run's encoder file beside an epoch checkpoint, or None (a run without one)."""
    if not checkpoint:
        return None
    p = Path(checkpoint).parent / ENCODER_FILE
    return p if p.is_file() else None


def save_encoder(path, encoder: StyleEncoder, *, metadata: dict | None = None) -> None:
    """E as fp16 safetensors (atomic), its shape in the metadata's 'config'."""
    from ..checkpoints import save_tensors
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    meta.update(format=FORMAT, config=json.dumps(encoder.config))
    save_tensors(path, {k: v.half() for k, v in encoder.state_dict().items()}, meta)


def load_encoder(path, *, generator=None) -> StyleEncoder:
    """encoder.safetensors -> a StyleEncoder in eval mode (fp32); checked against `generator` (its
    latent, layers, condition width) when given. WriterError, one line, for a damaged or foreign file."""
    from ..checkpoints import CheckpointError, read_tensors
    path = Path(path)
    name = f"{path.parent.name}/{path.name}"
    try:
        tensors, meta = read_tensors(path)
    except CheckpointError:
        raise WriterError(f"the style encoder {name} is damaged (not a readable safetensors file); "
                          "ship the run again (scripts/ship_writer_run.py) or remove the file") from None
    if meta.get("format") != FORMAT:
        raise WriterError(f"{name} is not a style encoder (format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        cfg = json.loads(meta.get("config", ""))
        E = StyleEncoder(**cfg)
        E.load_state_dict({k: v.float() for k, v in tensors.items()})
    except (ValueError, TypeError, RuntimeError) as e:
        raise WriterError(f"the style encoder {name} is damaged ({str(e).splitlines()[0][:120]})") from None
    if not all(bool(torch.isfinite(v).all()) for v in E.state_dict().values()):
        raise WriterError(f"the style encoder {name} holds non-finite numbers")
    if generator is not None:
        check_fits(E, generator, name=name)
    return E.eval()


def check_fits(encoder: StyleEncoder, generator, *, name: str = "the style encoder") -> None:
    """WriterError unless E's writers fit the generator (its size, latent, layers, condition, weight input)."""
    from .latent import n_layers
    c, g = encoder.config, generator.cfg
    want = dict(size=g.size, z_dim=g.z_dim, n_layers=n_layers(generator), cond_dim=g.embed_dim,
                weight_cond=bool(getattr(g, "weight_cond", False)))
    if "adapter" in c:
        want["adapter"] = adapter_channels(generator)
    bad = {k: (c[k], v) for k, v in want.items() if c[k] != v}
    if bad:
        raise WriterError(f"the style encoder {name} does not fit this run's generator "
                          f"({', '.join(f'{k} {a} vs {b}' for k, (a, b) in bad.items())})")


@torch.no_grad()
def start_writer(encoder: StyleEncoder, generator, targets: torch.Tensor, labels: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """E's writer from k references: targets (k, 1, S, S) in [-1, 1], labels (k,) G's classes ->
    (latents (L, Z) float32, weight () or None, adapter {name: (C,)} or {}). One forward pass (a few ms)."""
    G = generator.generator if hasattr(generator, "centre") else generator      # a WriterGenerator: its own G
    cond = G.embed(labels.to(torch.int64))[None]
    lat, w, ad = encoder.eval().writer(targets[None].float(), cond)
    return lat[0], None if w is None else w[0], {k: v[0] for k, v in ad.items()}
