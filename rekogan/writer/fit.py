"""Fitting a writer: invert the generator on k labelled glyphs of one hand.

The condition is known (the syllables the person wrote), so only the writer is searched:
  1. start: the best of the first `seeds` seed writers on the references (forward passes only),
     so the search starts from a real writer of the run, not from the prior's mean;
  2. one z for every layer (`steps_z` Adam steps): the coarse hand, always inside the space G
     was trained on;
  3. one latent per layer (`steps_layers` steps, ProjGenerator only): starts at that z and may
     move each layer's latent apart, which reaches hands no single z draws (the DESIGN probe
     found z alone lifts unseen syllables only 0.03-0.09 SSIM over a seed);
  4. an adapter (`adapter`, `steps_adapter` steps, ProjGenerator only; adapter.py): with the
     latents fixed, a few parameters of the generator's layers move toward the hand, held by a
     content term, the reader's reading of each as its own syllable (`read`, with fit(codes=)) and a
     pull toward the unadapted glyphs on random syllables the person never drew.
  5. with `guard` 'read' (needs fit(codes=)): every class the person did not draw is drawn in the fitted
     hand and read by the reader; a class it misreads is drawn with less of the adapter (the first of
     GUARD_LEVELS at which it reads right), stored per class as the adapter's 'mix'. The adapter moves
     the whole hand toward the references, and on a few syllables that move makes another letter (the
     issue's 쥐 toward 쉬); the guard takes the hand back only there, where the `read` term pulls every
     glyph a little (docs/RESULTS.md, 2026-12-04 evening, "the legibility guard").
`geometry` ('first' / 'last', off by default) fits the writer's slant, size, place and stroke weight
(geometry.py) before step 3 or after step 4.
`restarts` > 1 runs steps 3-4 again from jittered copies of their start and keeps the writer that
draws the references best (the plain fit is restart 0).
With a style encoder (a hand run's encoder.safetensors, encoder.py; fit(encoder=E)), steps 1 and 2
are replaced by E's writer from the references (per-layer latents and stroke weight, one forward
pass): steps 3 and 4 start there (a z-only fit: step 2 starts at the mean of E's layers).
Loss = pixel (L1, fine + coarse) + reader features (perceptual) per glyph, plus the latent's
place: every latent near the Gaussian shell (|z| ~ sqrt(Z), where all training latents lie) and,
for per-layer latents, near their mean (a pull that keeps the layers one writer; it is what makes
the hand carry over to syllables the person did not write). Runs with a stroke-weight input fit
the weight too (a scalar, with a N(0, 1) prior like in training).

The result is rounded to fp16, the precision of the writer code, before the fitted glyphs are
drawn: what the person sees is exactly what the code will draw.

A run may carry its own fit defaults: fit.json beside its checkpoint,
  {"fit": {FIELD: VALUE, ...}, "chosen_on": "<which faces, how>", "command": "<the command>"}
(FIELD a FitConfig field). run_defaults() reads and checks it; FitConfig.for_run() puts those values
over FitConfig's and explicit overrides (a command's --fit) over both.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import torch

from ..models import ProjGenerator
from ..sampling import seed_to_z
from . import geometry as geo
from .adapter import MIX, AdapterTerms, fit_adapter
from .latent import layered_forward, n_layers
from .losses import ReaderFeatures, feature_distance, pixel_loss, ssim


GEOMETRY_MODES = ("none", "first", "last")
GUARD_MODES = ("none", "read")
GUARD_LEVELS = (0.75, 0.5, 0.25, 0.0)   # the adapter's strengths a misread class is tried at, in order (fp16-exact)
RESTART_JITTER = 0.3   # a restart's start: the latents plus N(0, 0.3^2) per dimension (a latent's own scale is 1)


@dataclass
class FitConfig:
    latent: str = "layers"      # 'layers' (one latent per layer, proj runs) | 'z' (one z)
    seeds: int = 64             # start from the best of seeds 0..seeds-1 (0: from z = 0)
    steps_z: int = 40
    steps_layers: int = 30
    lr_z: float = 0.05
    lr_layers: float = 0.2
    pixel: float = 1.0          # weight of the pixel loss
    feature: float = 1.0        # weight of the reader-feature loss
    shell: float = 0.05         # weight of (|v| / sqrt(Z) - 1)^2 per latent
    spread: float = 0.2         # weight of |v_l - mean|^2 / Z (per-layer latents)
    stroke_prior: float = 0.02  # weight of w^2 (runs with a stroke-weight input)
    adapter: str = "channels"   # 'none' | 'channels' (per-channel modulation) | 'lowrank' (weight deltas); adapter.py
    adapter_layers: str = "all" # which layers: 'all' or indices such as '2,3'
    adapter_rank: int = 2       # rank of 'lowrank' deltas
    steps_adapter: int = 30
    lr_adapter: float = 0.05
    others: int = 8             # random never-drawn syllables per adapter step (content and keep terms)
    content: float = 1.0        # reader-content term on those syllables
    keep: float = 0.2           # L1 (4x4 averages) toward the unadapted glyphs on those syllables
    anchor: float = 0.01        # weight of the adapter parameters' mean square
    read: float = 0.0           # the reader's cross-entropy for those syllables as themselves (needs fit(codes=))
    read_margin: float = 0.0    # ... counted only above this (a hinge: a glyph read well enough is left alone)
    style: float = 0.0          # those syllables' reader-feature statistics toward the references' (adapter.py; 0: off)
    restarts: int = 1           # stages 3-4 also from restarts - 1 jittered starts; the best on the references is kept.
                                # 3 steadied hangul-hand's photos of hollow strokes on validation (24 of 24 within 0.02)
                                # but not the test faces' moirai-one (-0.050 -> -0.031), at 3x the fit time; fixed-hand's
                                # V25 top-1 unchanged (docs/RESULTS.md 2026-12-04 evening): 1 (off)
    style_mode: str = "absolute"  # 'absolute' | 'delta': what the style term matches (adapter.py); 'delta' +1 of 50
                                  # on fixed-hand's V25 (2 needed: docs/RESULTS.md 2026-12-04 evening), so 'absolute'
    geometry: str = "none"      # 'none' | 'first' | 'last': fit the writer's slant, size, place and stroke weight
                                # (geometry.py) before the per-layer stage (the latents then fit what is left) or last;
                                # fixed-hand's V25 top-1 39 / 38 of 50 against 38 (docs/RESULTS.md 2026-12-04, 19:06): off
    steps_geometry: int = 40
    lr_geometry: float = 0.03
    geometry_prior: float = 0.01  # weight of sum((g / LIMITS)^2)
    guard: str = "none"         # 'none' | 'read': after the fit, every class the person did not draw is read by the
                                # reader; one it misreads is drawn with less of the adapter (GUARD_LEVELS, the first
                                # that reads right), stored as the adapter's 'mix' (needs fit(codes=)). Without the read
                                # term it kept fixed-hand readable (test faces 97.0 %, judged 97.6 %) but its top-1 with
                                # the app's reader stayed 57 % (docs/RESULTS.md 2026-12-04, 19:06): off
    encoder_views: int = 1      # the encoder's writer averaged over this many views of the references, each blurred
                                # a little more (sigma 0..1 px); meant to steady photos of hollow strokes, it did not
                                # (3 views: docs/RESULTS.md 2026-12-04 afternoon), so 1 (off)

    def __post_init__(self):
        if self.latent not in ("layers", "z"):
            raise ValueError(f"latent must be 'layers' or 'z', got {self.latent!r}")
        from .adapter import KINDS
        if self.adapter not in KINDS:
            raise ValueError(f"adapter must be one of {KINDS}, got {self.adapter!r}")
        from .adapter import STYLE_MODES
        if self.style_mode not in STYLE_MODES:
            raise ValueError(f"style_mode must be one of {STYLE_MODES}, got {self.style_mode!r}")
        if self.geometry not in GEOMETRY_MODES:
            raise ValueError(f"geometry must be one of {GEOMETRY_MODES}, got {self.geometry!r}")
        if self.guard not in GUARD_MODES:
            raise ValueError(f"guard must be one of {GUARD_MODES}, got {self.guard!r}")
        if self.encoder_views < 1:
            raise ValueError(f"encoder_views must be >= 1, got {self.encoder_views}")
        if self.restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {self.restarts}")
        for name in ("seeds", "steps_z", "steps_layers", "steps_adapter", "others", "adapter_rank", "steps_geometry"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def overrides(cls, pairs) -> dict:
        """Command-line 'KEY=VALUE' strings -> {field: typed value}; ValueError naming a bad one."""
        over = {}
        for kv in pairs:
            key, _, value = kv.partition("=")
            kind = type(getattr(cls(), key, None))
            if kind not in (int, float, str) or not value:
                raise ValueError(f"--fit {kv!r}: expected a FitConfig field as KEY=VALUE")
            try:
                over[key] = kind(value)
            except ValueError:
                raise ValueError(f"--fit {kv!r}: {key} takes a {kind.__name__}") from None
        cls(**over)                                  # the config's own checks, now
        return over

    @classmethod
    def for_run(cls, checkpoint, overrides: dict | None = None) -> "FitConfig":
        """FitConfig's defaults, then the run's fit.json (beside `checkpoint`, if any), then `overrides`."""
        return cls(**{**run_defaults(checkpoint).values, **(overrides or {})})


FIT_FILE = "fit.json"
RECORD_KEYS = ("fit", "chosen_on", "command")


@dataclass(frozen=True)
class RunDefaults:
    """A run's fit defaults (fit.json); values {} and path None for a run without the file."""
    values: dict
    path: Path | None = None
    chosen_on: str = ""
    command: str = ""

    def describe(self) -> str:
        """One line for logs and reports: which defaults applied."""
        if self.path is None:
            return "FitConfig's defaults (no fit.json beside the checkpoint)"
        return f"{self.path.parent.name}/{self.path.name}: {json.dumps(self.values)}"

    def to_dict(self) -> dict:
        return {"file": None if self.path is None else str(self.path), "values": dict(self.values),
                "chosen_on": self.chosen_on, "command": self.command}


def fit_file_beside(checkpoint) -> Path | None:
    """fit.json in the checkpoint's folder, or None."""
    if not checkpoint:
        return None
    p = Path(checkpoint).parent / FIT_FILE
    return p if p.is_file() else None


def _check_value(name: str, value, path: Path):
    want = type(getattr(FitConfig(), name))
    # JSON has one number type: an int field takes only integers; a float field takes either. bool is
    # an int in Python but never a number here.
    ok = (isinstance(value, want) and not isinstance(value, bool)) or \
         (want is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise ValueError(f"{path}: fit.{name} must be a {want.__name__}, got {json.dumps(value)}")
    return float(value) if want is float else value


@lru_cache(maxsize=8)
def _read_defaults(path: str, mtime_ns: int) -> RunDefaults:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{p}: not a readable fit.json ({type(e).__name__}: {e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("fit"), dict):
        raise ValueError(f"{p}: expected a JSON object {{\"fit\": {{FIELD: VALUE, ...}}, \"chosen_on\": ..., "
                         "\"command\": ...}")
    extra = sorted(set(doc) - set(RECORD_KEYS))
    if extra:
        raise ValueError(f"{p}: unknown key(s) {', '.join(extra)}; a fit.json holds only {', '.join(RECORD_KEYS)}")
    for key in ("chosen_on", "command"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise ValueError(f"{p}: {key!r} must say (a non-empty string) how the values were chosen")
    known = {f.name for f in fields(FitConfig)}
    unknown = sorted(set(doc["fit"]) - known)
    if unknown:
        raise ValueError(f"{p}: unknown fit field(s) {', '.join(unknown)}; the fields are those of FitConfig")
    values = {k: _check_value(k, v, p) for k, v in doc["fit"].items()}
    try:
        FitConfig(**values)                              # the config's own checks (ranges, choices)
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from None
    return RunDefaults(values=values, path=p, chosen_on=doc["chosen_on"], command=doc["command"])


def run_defaults(checkpoint) -> RunDefaults:
    """The fit defaults of the run of `checkpoint` (its fit.json, read once until the file changes);
    ValueError naming the file when it is damaged or holds what FitConfig does not take."""
    p = fit_file_beside(checkpoint)
    if p is None:
        return RunDefaults(values={})
    return _read_defaults(str(p.resolve()), p.stat().st_mtime_ns)


@dataclass
class FitResult:
    latents: torch.Tensor       # (L, Z) float32 holding fp16 values; L = 1 for a z-only writer
    weight: float | None        # the fitted stroke weight (runs with that input), fp16 value
    glyphs: torch.Tensor        # (k, 1, S, S) in [-1, 1]: the references as the writer draws them
    losses: dict                # final pixel / feature / ssim on the references, start seed, seconds
    trace: list                 # (step, loss) every 10 steps
    adapter: dict = field(default_factory=dict)   # adapter.py's tensors (float32 holding fp16 values); {} without one


def _objective(G, feats, latents, y, w, targets, target_feats, cfg: FitConfig, adapter=None):
    """(mean loss over the references with the latent's penalties, per-glyph pixel, per-glyph feature)."""
    k = len(y)
    x = layered_forward(G, latents[None].expand(k, -1, -1), y, None if w is None else w.expand(k), adapter=adapter)
    pix = pixel_loss(x, targets)
    fea = feature_distance(feats(x), target_feats)
    z_dim = latents.shape[1]
    shell = ((latents.norm(dim=1) / math.sqrt(z_dim) - 1) ** 2).mean()
    loss = (cfg.pixel * pix + cfg.feature * fea).mean() + cfg.shell * shell
    if latents.shape[0] > 1:
        loss = loss + cfg.spread * (latents - latents.mean(0, keepdim=True)).pow(2).sum(1).mean() / z_dim
    if w is not None:
        loss = loss + cfg.stroke_prior * w.pow(2).sum()
    return loss, pix, fea


@torch.no_grad()
def _best_seed(G, feats, y, targets, target_feats, cfg: FitConfig, weight_cond: bool) -> tuple[int, torch.Tensor]:
    z_dim, k = G.cfg.z_dim, len(y)
    best, best_loss = 0, math.inf
    per = max(1, 256 // k)                                  # seeds per forward pass: ~256 glyphs
    for s0 in range(0, cfg.seeds, per):
        seeds = list(range(s0, min(cfg.seeds, s0 + per)))
        z = torch.stack([seed_to_z(s, z_dim) for s in seeds])                 # (n, Z)
        zz = z.repeat_interleave(k, 0)[:, None]                               # (n*k, 1, Z)
        yy = y.repeat(len(seeds))
        w = torch.zeros(len(yy)) if weight_cond else None
        x = layered_forward(G, zz, yy, w)
        tf = [f.repeat(len(seeds), *([1] * (f.ndim - 1))) for f in target_feats]
        per_glyph = cfg.pixel * pixel_loss(x, targets.repeat(len(seeds), 1, 1, 1)) + cfg.feature * feature_distance(feats(x), tf)
        scores = per_glyph.view(len(seeds), k).mean(1)
        i = int(scores.argmin())
        if float(scores[i]) < best_loss:
            best, best_loss = seeds[i], float(scores[i])
    return best, seed_to_z(best, z_dim)


def _adam(G, feats, params: list[torch.Tensor], make_latents, y, targets, target_feats, steps: int, lr: float,
          cfg: FitConfig, trace: list, offset: int, adapter: dict | None = None):
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(steps):
        for g in opt.param_groups:                          # cosine decay: big moves first, then settle
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))
        latents, w = make_latents()
        loss, _, _ = _objective(G, feats, latents, y, w, targets, target_feats, cfg, adapter=adapter)
        # autograd.grad, not backward(): only the latents get gradients, G's weights are neither
        # touched nor differentiated (G may be shared with the app's other sessions)
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        if step % 10 == 0 or step == steps - 1:
            trace.append((offset + step, round(float(loss.detach()), 5)))


@torch.no_grad()
def _legibility_guard(G, feats, latents, weight, adapter: dict, refs: torch.Tensor, codes: torch.Tensor,
                      batch: int = 256) -> torch.Tensor:
    """(n_classes,) the adapter's strength per class: 1 where the reader reads the class's glyph right (and
    for the classes in refs, which the person drew: those stay as fitted); for a misread class, the first of
    GUARD_LEVELS at which it reads right, or, when none does, the strength it reads best at."""
    n = int(G.cfg.n_classes)
    mix = torch.ones(n)
    drawn = set(refs.tolist())
    todo = torch.tensor([c for c in range(n) if c not in drawn], dtype=torch.int64)

    def reads_at(classes: torch.Tensor, a: float):
        ok, ce = [], []
        ad = {**{k: v for k, v in adapter.items() if k != MIX}, MIX: torch.full((n,), a)}
        for i in range(0, len(classes), batch):
            c = classes[i:i + batch]
            w = None if weight is None else torch.full((len(c),), float(weight))
            pooled = feats(layered_forward(G, latents[None].expand(len(c), -1, -1), c, w, adapter=ad))[-1]
            ok.append(feats.reads(pooled, codes[c]))
            ce.append(feats.read_loss(pooled, codes[c]))
        return torch.cat(ok), torch.cat(ce)

    ok, ce = reads_at(todo, 1.0)
    bad, best_ce, best_a = todo[~ok], ce[~ok], torch.ones(int((~ok).sum()))
    for a in GUARD_LEVELS:
        if not len(bad):
            break
        ok, ce = reads_at(bad, a)
        mix[bad[ok]] = a
        better = ce < best_ce
        best_ce, best_a = torch.where(better, ce, best_ce), torch.where(better, torch.full_like(best_a, a), best_a)
        bad, best_ce, best_a = bad[~ok], best_ce[~ok], best_a[~ok]
    mix[bad] = best_a
    return mix


def _blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(k, 1, S, S) glyphs under a Gaussian blur of `sigma` px (reflecting edges); sigma 0: as they are."""
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3 * sigma)))
    g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(x.dtype)
    x = torch.nn.functional.pad(x, (r, r, r, r), mode="reflect")
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, -1))                  # rows, then columns: separable
    return torch.nn.functional.conv2d(x, g.view(1, 1, -1, 1))


def _encoder_start(encoder, G, targets, y, views: int = 1) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """E's writer of the references ((L, Z), weight () or None, adapter {name: (C,)} or {}), fp32, detached.
    views > 1: the mean of E's writers of the references blurred by sigma 0, ..., 1 px (evenly spaced)."""
    from .encoder import start_writer
    outs = [start_writer(encoder, G, _blurred(targets, i / (views - 1) if views > 1 else 0.0), y) for i in range(views)]
    lat = torch.stack([o[0] for o in outs]).mean(0)
    w = None if outs[0][1] is None else torch.stack([o[1] for o in outs]).mean(0)
    ad = {k: torch.stack([o[2][k] for o in outs]).mean(0) for k in outs[0][2]}
    if lat.shape != (n_layers(G), G.cfg.z_dim):
        raise ValueError(f"the encoder gives {tuple(lat.shape)} latents; this generator takes ({n_layers(G)}, {G.cfg.z_dim})")
    return lat.detach().float(), None if w is None else w.detach().float(), {k: v.detach().float() for k, v in ad.items()}


def fit(generator: torch.nn.Module, targets: torch.Tensor, labels: torch.Tensor, *, reader_features: ReaderFeatures,
        config: FitConfig | None = None, codes: torch.Tensor | None = None, encoder=None) -> FitResult:
    """targets (k, 1, S, S) in [-1, 1] white on black at G's size, labels (k,) G's condition indices.
    codes: (n_classes,) the syllable (ord - 0xAC00) of each of G's classes, for the adapter's `read` term.
    encoder: a StyleEncoder of this generator (encoder.load_encoder): the fit starts from its writer."""
    cfg = config or FitConfig()
    G, feats = generator, reader_features
    assert not G.training, "put the generator in eval mode: in train mode BatchNorm makes a glyph depend on its batch"
    assert targets.ndim == 4 and targets.shape[1:] == (1, G.cfg.size, G.cfg.size), \
        f"targets must be (k, 1, {G.cfg.size}, {G.cfg.size}), got {tuple(targets.shape)}"
    t0 = time.perf_counter()
    y = labels.to(torch.int64)
    weight_cond = bool(getattr(G.cfg, "weight_cond", False))
    with torch.no_grad():
        target_feats = [f.detach() for f in feats(targets)]
    trace: list = []
    start = _encoder_start(encoder, G, targets, y, cfg.encoder_views) if encoder is not None else None
    per_layer = cfg.latent == "layers" and n_layers(G) > 1
    if start is not None:
        start_seed, z0 = None, start[0].mean(0)
    elif cfg.seeds:
        start_seed, z0 = _best_seed(G, feats, y, targets, target_feats, cfg, weight_cond)
    else:
        start_seed, z0 = None, torch.zeros(G.cfg.z_dim)
    z = z0[None].clone().requires_grad_(True)                                  # (1, Z)
    w = None
    if weight_cond:
        w0 = start[1] if start is not None and start[1] is not None else torch.zeros(())
        w = w0.reshape(1).clone().requires_grad_(True)
    extra = [w] if w is not None else []
    if start is None or not per_layer:                  # E's per-layer writer replaces the one-z stage
        _adam(G, feats, [z, *extra], lambda: (z, w), y, targets, target_feats, cfg.steps_z, cfg.lr_z, cfg, trace, 0)
    z_fit, w_fit = z.detach(), None if w is None else w.detach()

    def fit_shape(latents, weight, adapter, trace) -> torch.Tensor:
        """The writer's geometry (geometry.py) on the references as (latents, weight, adapter) draw them
        without it; every other part of the writer fixed."""
        with torch.no_grad():
            wt = None if weight is None else torch.full((len(y),), float(weight))     # a float or a (1,) tensor
            rest = {k: v for k, v in adapter.items() if k != geo.NAME}
            x0 = layered_forward(G, latents[None].expand(len(y), -1, -1), y, wt, adapter=rest or None)
        return geo.fit_geometry(x0, targets, target_feats, objective=lambda x, t, tf: cfg.pixel * pixel_loss(x, t)
                                + cfg.feature * feature_distance(feats(x), tf), steps=cfg.steps_geometry,
                                lr=cfg.lr_geometry, prior=cfg.geometry_prior, trace=trace, offset=cfg.steps_z)

    def refine(restart: int, trace: list):
        """Stages 3-4 from the latent start (restart > 0: a copy jittered by RESTART_JITTER, seeded by
        `restart`) -> (latents, weight, adapter, per-glyph pixel and feature terms on the references, seconds of
        latent work)."""
        w = None if w_fit is None else w_fit.clone().requires_grad_(True)
        extra = [w] if w is not None else []
        base = start[0] if start is not None and per_layer else z_fit
        if restart:
            base = base + RESTART_JITTER * torch.randn(base.shape, generator=torch.Generator().manual_seed(restart))
        latents = base.clone()
        start_adapter = dict(start[2]) if start is not None else {}
        shape = {}                                   # the geometry, once fitted ('first')
        if cfg.geometry == "first" and cfg.steps_geometry and isinstance(G, ProjGenerator):
            shape = {geo.NAME: fit_shape(latents, None if w is None else w.detach(), start_adapter, trace).half().float()}
        if per_layer and cfg.steps_layers:
            # (L, Z): E's writer, or all layers = the fitted z
            lat = (latents if latents.shape[0] > 1 else latents.repeat(n_layers(G), 1)).requires_grad_(True)
            _adam(G, feats, [lat, *extra], lambda: (lat, w), y, targets, target_feats, cfg.steps_layers, cfg.lr_layers,
                  cfg, trace, cfg.steps_z, adapter=shape or None)
            latents = lat.detach()
        # the code's precision, before anything is drawn from it
        latents = latents.half().float()
        weight = None if w is None else float(w.detach().half().float())
        # a style encoder with an adapter head: its modulation is part of the writer it gives; the adapter
        # stage starts from it (and without that stage the writer keeps it as it is)
        adapter: dict = {k: v.half().float() for k, v in start_adapter.items()}
        adapter.update(shape)
        t_latent = time.perf_counter() - t0
        if cfg.adapter != "none" and cfg.steps_adapter and isinstance(G, ProjGenerator):
            def glyph_term(x, t, tf):
                return cfg.pixel * pixel_loss(x, t) + cfg.feature * feature_distance(feats(x), tf)
            adapter = fit_adapter(G, feats, latents, weight, y, targets, target_feats, kind=cfg.adapter,
                                  layers=cfg.adapter_layers, rank=cfg.adapter_rank, steps=cfg.steps_adapter,
                                  lr=cfg.lr_adapter, others=cfg.others,
                                  terms=AdapterTerms(content=cfg.content, keep=cfg.keep, anchor=cfg.anchor, read=cfg.read,
                                                     read_margin=cfg.read_margin, style=cfg.style,
                                                     style_mode=cfg.style_mode),
                                  objective=glyph_term, trace=trace, offset=cfg.steps_z + cfg.steps_layers, codes=codes,
                                  start=adapter)
            adapter = {k: v.half().float() for k, v in adapter.items()}
        if cfg.geometry == "last" and cfg.steps_geometry and isinstance(G, ProjGenerator):
            adapter[geo.NAME] = fit_shape(latents, weight, adapter, trace).half().float()
        with torch.no_grad():
            wt = None if weight is None else torch.full((1,), weight)
            _, pix, fea = _objective(G, feats, latents, y, wt, targets, target_feats, cfg, adapter=adapter)
        return latents, weight, adapter, pix, fea, t_latent

    # restarts > 1: the same stages from jittered starts; the writer that draws the references best is kept
    tries = []
    for r in range(cfg.restarts):
        tr = list(trace)
        tries.append((refine(r, tr), tr, r))
    (latents, weight, adapter, pix, fea, t_latent), trace, chosen = min(
        tries, key=lambda t: float((cfg.pixel * t[0][3] + cfg.feature * t[0][4]).mean()))
    guarded = None
    if cfg.guard == "read" and adapter and codes is not None and isinstance(G, ProjGenerator):
        adapter = {**adapter, MIX: _legibility_guard(G, feats, latents, weight, adapter, y, codes)}
        guarded = int((adapter[MIX] < 1).sum())
    with torch.no_grad():
        wt = None if weight is None else torch.full((1,), weight)
        glyphs = layered_forward(G, latents[None].expand(len(y), -1, -1), y, None if wt is None else wt.expand(len(y)),
                                 adapter=adapter)
        s = ssim(glyphs, targets)
    losses = {"pixel": round(float(pix.mean()), 5), "feature": round(float(fea.mean()), 5),
              "ssim": round(float(s.mean()), 5), "per_glyph_ssim": [round(float(v), 4) for v in s],
              "start_seed": start_seed, "start": "encoder" if start is not None else "seeds" if cfg.seeds else "zero",
              "seconds": round(time.perf_counter() - t0, 3),
              "seconds_latent": round(t_latent, 3), "restart": chosen}
    if guarded is not None:
        losses["guarded"] = guarded                 # classes drawn with less of the adapter (the legibility guard)
    return FitResult(latents=latents, weight=weight, glyphs=glyphs, losses=losses, trace=trace, adapter=adapter)
