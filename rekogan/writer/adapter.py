"""The writer's adapter: a few parameters that move the generator toward a hand after the latent fit.

A latent can only move within what the generator learnt from its training faces; a person's hand
lies partly outside it (issue 25). Pivotal tuning (PTI) adapts the generator's weights to the
person; here the generator stays shared and read-only, and the writer carries a small delta:

  'channels'  per-channel modulation of the conditional BatchNorms' outputs, h * (1 + scale) + shift,
              at the layers in `layers` (default all four: 2 x 480 numbers on the 64 px runs)
  'lowrank'   a rank-r delta on the transposed convolutions' weights at `layers`,
              W + (down @ up).view_as(W) (down (Cin, r), up (r, Cout*16))
  'both'      the two together at the same layers (each looked up by name in modulate / upsample)

All start at exactly no change (scale = shift = 0; up = 0), so an adapter fitted for 0 steps
draws the latent's pixels; or, for a run whose style encoder predicts a writer's modulation
(encoder.py), at that prediction (fit_adapter(start=)). `fit_adapter` fits one after the latent
fit, on the references, with two terms for the syllables the person never drew (DESIGN.md
2026-12-02: tuning on the references alone overfits them):
  content  on `others` random other syllables per step: the reader's pooled features (trained to
           name the syllable whatever the face) of the adapted glyph stay those of the unadapted
           one: the letter stays readable
  keep     the same glyphs' pixels pulled (L1 of 4x4 averages) toward the unadapted ones, and the
           parameters toward zero: the hand moves, it does not become another letter
  read     the reader's cross-entropy for each of those glyphs read as its own syllable (losses.py
           ReaderFeatures.read_loss; needs the syllable of each class, `codes`): `content` only keeps
           what the unadapted glyph was, and on bold or odd hands that was already misread
           (off by default: docs/writer_eval_adapter_notes.md, night: read 0.1 lifts readable 93 -> 97 % but costs
           style top-1, and with a weak reader it pulls the fit away from the drawing)
  style    those glyphs' reader-feature statistics (per channel of every map before the pooled one:
           mean and standard deviation over glyphs and positions, as in AdaIN) pulled toward the
           references'. `content` and `keep` hold the never-drawn syllables at the unadapted hand,
           so the hand moved only on the references; this term moves it on the others too, with
           statistics that do not depend on which syllables were drawn (off by default: on hangul-hand's hard
           validation set style 30 / 300 cost style top-1 and readability, docs/writer_eval_val_hard_hand_hangul_sweep.md).
           style_mode 'delta': the change the adapter makes to those statistics pulled toward the change the
           references need (their real statistics minus the unadapted glyphs' of the same syllables): the
           absolute statistics of 8 random syllables differ from the references' by what the syllables
           are, not only by the hand, and the delta takes that part out
The adapter's tensors are named 'scale.i', 'shift.i', 'down.i', 'up.i' (i: the layer) and travel in
the writer code and writer.safetensors (value.py), fp16, with two optional ones: 'mix' (n_classes,),
the adapter's strength per class (1: all of it; fit.py's legibility guard lowers it for the classes the
reader misreads; per_glyph applies it), and 'geometry' (6,) (geometry.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import geometry

KINDS = ("none", "channels", "lowrank", "both")


def _layer_list(spec: str, n: int) -> list[int]:
    """'all' or '1,2,3' (negative = from the end) -> sorted layer indices in range(n)."""
    if spec == "all":
        return list(range(n))
    out = sorted({int(v) % n for v in str(spec).split(",") if v.strip()})
    if not out:
        raise ValueError(f"adapter layers must be 'all' or indices like '2,3', got {spec!r}")
    return out


def init_adapter(generator, *, kind: str, layers: str = "all", rank: int = 2) -> dict[str, torch.Tensor]:
    """Zero-change adapter parameters for a ProjGenerator (float32, requires_grad)."""
    if kind not in KINDS:
        raise ValueError(f"adapter must be one of {KINDS}, got {kind!r}")
    params: dict[str, torch.Tensor] = {}
    if kind == "none":
        return params
    g = torch.Generator().manual_seed(0)
    for i in _layer_list(layers, len(generator.norms)):
        if kind in ("channels", "both"):
            c = generator.norms[i].bn.num_features
            params[f"scale.{i}"] = torch.zeros(c)
            params[f"shift.{i}"] = torch.zeros(c)
        if kind in ("lowrank", "both"):
            w = generator.ups[i].weight                          # (Cin, Cout, 4, 4)
            params[f"down.{i}"] = torch.randn(w.shape[0], rank, generator=g) / math.sqrt(w.shape[0])
            params[f"up.{i}"] = torch.zeros(rank, w[0].numel())
    return {k: v.requires_grad_(True) for k, v in params.items()}


def check_adapter(adapter: dict, generator) -> None:
    """Raise ValueError when an adapter's tensors do not fit this generator's layers."""
    n = len(getattr(generator, "norms", ()))
    for name, t in adapter.items():
        if name == geometry.NAME:                    # the writer's slant, size, place and weight (geometry.py)
            geometry.check(t)
            continue
        if name == MIX:                              # the adapter's strength per class (the legibility guard)
            n_classes = int(getattr(generator.cfg, "n_classes", 0))
            if tuple(t.shape) != (n_classes,):
                raise ValueError(f"adapter tensor {MIX!r} is {tuple(t.shape)}; this generator has {n_classes} classes")
            continue
        kind, _, idx = name.partition(".")
        if kind not in ("scale", "shift", "down", "up") or not idx.isdigit() or int(idx) >= n:
            raise ValueError(f"adapter tensor {name!r} does not belong to this generator ({n} layers)")
        i = int(idx)
        w = generator.ups[i].weight
        want = {"scale": (generator.norms[i].bn.num_features,), "shift": (generator.norms[i].bn.num_features,)}
        if kind in want and tuple(t.shape) != want[kind]:
            raise ValueError(f"adapter tensor {name!r} is {tuple(t.shape)}; this generator's layer {i} needs {want[kind]}")
        if kind == "down" and (t.ndim != 2 or t.shape[0] != w.shape[0]):
            raise ValueError(f"adapter tensor {name!r} is {tuple(t.shape)}; layer {i} has {w.shape[0]} input channels")
        if kind == "up" and (t.ndim != 2 or t.shape[1] != w[0].numel()):
            raise ValueError(f"adapter tensor {name!r} is {tuple(t.shape)}; layer {i} needs (r, {w[0].numel()})")
        if kind in ("down", "up") and f"{'up' if kind == 'down' else 'down'}.{i}" not in adapter:
            raise ValueError(f"adapter tensor {name!r} has no partner")


MIX = "mix"     # (n_classes,): how much of the adapter each class is drawn with (fit.py's legibility guard)


def per_glyph(adapter: dict, y: torch.Tensor) -> dict:
    """An adapter with a 'mix' -> the same adapter for the glyphs of classes y (B,), each at its class's
    strength: scale, shift and geometry become (B, ...) and a low-rank delta is weighted in upsample
    ('_mix' (B,)). Without a 'mix': the adapter as it is."""
    if MIX not in adapter:
        return adapter
    a = adapter[MIX].to(y.device)[y].float().clamp(0, 1)                # (B,); a strength is a share of the adapter
    out = {}
    for name, v in adapter.items():
        if name == MIX:
            continue
        kind = name.partition(".")[0]
        if kind in ("scale", "shift") or name == geometry.NAME:
            out[name] = (v[None] if v.ndim == 1 else v) * a[:, None].to(v)
        else:                                        # down / up: weighted in upsample
            out[name] = v
    out["_mix"] = a
    return out


def modulate(adapter: dict | None, i: int, h: torch.Tensor) -> torch.Tensor:
    """A conditional BN's output h (B, C, H, W) through the adapter's per-channel modulation at layer i."""
    if not adapter or f"scale.{i}" not in adapter:
        return h
    s, b = adapter[f"scale.{i}"].to(h), adapter[f"shift.{i}"].to(h)
    if s.ndim == 1:                                  # one writer's (C,): every glyph; (B, C): one per glyph
        s, b = s[None], b[None]
    return h * (1 + s)[:, :, None, None] + b[:, :, None, None]


def upsample(adapter: dict | None, i: int, up: torch.nn.ConvTranspose2d, h: torch.Tensor) -> torch.Tensor:
    """ups[i](h), with the adapter's low-rank weight delta at layer i when it has one."""
    if not adapter or f"down.{i}" not in adapter:
        return up(h)
    delta = (adapter[f"down.{i}"].to(h) @ adapter[f"up.{i}"].to(h)).view_as(up.weight)
    if "_mix" in adapter:                            # per glyph: conv_t(h, W + a D) = conv_t(h, W) + a conv_t(h, D)
        a = adapter["_mix"].to(h)[:, None, None, None]
        return up(h) + a * F.conv_transpose2d(h, delta, None, up.stride, up.padding)
    return F.conv_transpose2d(h, up.weight + delta, up.bias, up.stride, up.padding)


def size_of(adapter: dict) -> int:
    return sum(t.numel() for t in adapter.values())


@dataclass
class AdapterTerms:
    """Weights of fit_adapter's objective (FitConfig carries them)."""
    content: float
    keep: float
    anchor: float
    read: float = 0.0
    read_margin: float = 0.0
    style: float = 0.0
    style_mode: str = "absolute"     # 'absolute' | 'delta' (see the module's docstring)


STYLE_MODES = ("absolute", "delta")


def feature_stats(maps: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per map (B, C, h, w): the channels' mean and standard deviation over glyphs and positions, (2, C).
    What a set of glyphs has in common whichever syllables they are: stroke width, slant, curvature."""
    return [torch.stack([m.mean(dim=(0, 2, 3)), m.std(dim=(0, 2, 3))]) for m in maps]


def style_distance(fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
    """() squared distance between two feature_stats lists, summed over channels, mean over maps."""
    return torch.stack([(a - b).pow(2).sum() for a, b in zip(fa, fb)]).mean()


def fit_adapter(G, feats, latents: torch.Tensor, weight: float | None, y: torch.Tensor, targets: torch.Tensor,
                target_feats, *, kind: str, layers: str, rank: int, steps: int, lr: float, others: int,
                terms: AdapterTerms, objective, trace: list, offset: int, seed: int = 0,
                codes: torch.Tensor | None = None, start: dict | None = None) -> dict[str, torch.Tensor]:
    """Adam on the adapter's parameters with the latents fixed (the pivot, as in PTI). `objective`
    is fit._objective's glyph term (pixel + features per reference). codes: the syllable (ord -
    0xAC00) of each of G's classes, for the `read` term (skipped without them). start: the style
    encoder's adapter (encoder.start_writer): the fit starts there instead of at no change, and
    'unadapted' (content, keep, anchor) means that start; a tensor of it that this kind and these
    layers do not fit stays as it is. Returns detached float32 tensors (not yet rounded)."""
    from .latent import layered_forward
    start = {k: v.detach().float() for k, v in (start or {}).items()}
    params = init_adapter(G, kind=kind, layers=layers, rank=rank)
    for name in set(params) & set(start):
        params[name] = start[name].clone().requires_grad_(True)
    fixed = {k: v for k, v in start.items() if k not in params}
    if not params or steps == 0:
        return {**fixed, **{k: v.detach() for k, v in params.items()}}
    origin = {k: start.get(k, torch.zeros_like(v)) for k, v in params.items()}
    whole = lambda: {**fixed, **params}                                       # noqa: E731
    k = len(y)
    n = int(getattr(G.cfg, "n_classes", 0)) or 1
    gen = torch.Generator().manual_seed(seed)
    refs = set(y.tolist())
    pool = torch.tensor([c for c in range(n) if c not in refs] or list(range(n)))
    wk = None if weight is None else torch.full((k,), float(weight))
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    lat_k = latents[None].expand(k, -1, -1)
    # the references' statistics (unit-normalised maps: each channel's share of the activity there)
    target_stats = feature_stats(list(target_feats[:-1])) if terms.style else None
    assert terms.style_mode in STYLE_MODES, terms.style_mode
    delta = bool(terms.style) and terms.style_mode == "delta"
    if delta:   # the change the references need: real minus the unadapted glyphs of the same syllables
        with torch.no_grad():
            ref0 = feature_stats(list(feats(layered_forward(G, lat_k, y, wk, adapter=start or None))[:-1]))
        target_stats = [t - r for t, r in zip(target_stats, ref0)]
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))
        loss = objective(layered_forward(G, lat_k, y, wk, adapter=whole()), targets, target_feats).mean()
        if others:
            yo = pool[torch.randint(len(pool), (others,), generator=gen)]
            wo = None if weight is None else torch.full((others,), float(weight))
            lat_o = latents[None].expand(others, -1, -1)
            with torch.no_grad():
                x0 = layered_forward(G, lat_o, yo, wo, adapter=start or None)
                fx0 = feats(x0)
                f0 = fx0[-1]
            x = layered_forward(G, lat_o, yo, wo, adapter=whole())
            fx = feats(x)
            pooled = fx[-1]
            content = (1 - F.cosine_similarity(pooled, f0, dim=1)).mean()
            keep = (F.avg_pool2d(x, 4) - F.avg_pool2d(x0, 4)).abs().mean()
            loss = loss + terms.content * content + terms.keep * keep
            if terms.read and codes is not None:     # the reader names each one as its own syllable
                # a hinge: only glyphs the reader is unsure of (cross-entropy over the margin) are
                # pushed; a glyph it reads well keeps its hand (the plain loss makes every glyph generic)
                ce = feats.read_loss(pooled, codes[yo])
                loss = loss + terms.read * (ce - terms.read_margin).clamp(min=0).mean()
            if terms.style:                          # the never-drawn glyphs, as a set, in the references' hand
                stats = feature_stats(fx[:-1])
                if delta:                            # the change made to these syllables' statistics
                    stats = [a - b for a, b in zip(stats, feature_stats(list(fx0[:-1])))]
                loss = loss + terms.style * style_distance(stats, target_stats)
        loss = loss + terms.anchor * sum((p - origin[n]).pow(2).mean() for n, p in params.items())
        grads = torch.autograd.grad(loss, list(params.values()))
        for p, g in zip(params.values(), grads):
            p.grad = g
        opt.step()
        if step % 10 == 0 or step == steps - 1:
            trace.append((offset + step, round(float(loss.detach()), 5)))
    return {**fixed, **{k: v.detach() for k, v in params.items()}}
