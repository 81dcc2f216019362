"""Training the upscaler: one run folder, resumable exactly, like the GAN runs.

    python -m rekogan upscaler train --out runs/upscaler --minutes 50 --threads 2
    python -m rekogan upscaler train --out runs/upscaler --resume [--minutes M] [--epochs E]
    python -m rekogan upscaler train --out runs/upscaler_ft --init checkpoints/upscaler/upscaler.safetensors \
        --lr 5e-4 --epochs 4 --consistency 1 --smudge 0.2 --level-min 0.3 --grid 0.5      # fine-tuning

A run folder holds
  config.json                   the resolved TrainConfig (with the model config) and the data's provenance
  metrics.jsonl                 one record per epoch: losses, a quick held-out fidelity, speed
  samples_NNN.png               input / bicubic / upscaler / truth, held-out and degraded training glyphs
  upscaler_NNN.safetensors      the EMA weights after epoch NNN (fp16; rekogan.upscale.apply)
  state_NNN.safetensors         the resume state (network, EMA, Adam, step), also written when
                                --minutes ends a session mid-epoch (NNN is then the epoch under way)
The upscaler's own names (upscaler_NNN, samples_NNN) keep a run folder from looking like a GAN
run to the app's registry, which lists folders of epoch_NNN.safetensors files.

Every step draws its batch and its degradations from a generator seeded by (seed, step), so a
run stopped and resumed gives the same weights as one that never stopped.
Loss: L1 on ink plus a binary cross-entropy weighted up on the truth's edges (which pushes each
pixel to the truth's own near-binary ink), at 256 px and, at half weight, at 128 px; optionally
(`consistency`) the L1 at 64 px between the output at the shipping sharpness reduced 4 x 4 and the
clean input ("the upscaler keeps the glyph"), and (`keep`) the same against the degraded input;
optionally (`keep_content`, content.py) the readers' KL between a generated glyph at 64 px and its
served upscaled version reduced back: the upscaler must not change what is written.
`init` starts from an upscaler file's weights (fine-tuning); on --resume the run's state wins.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoints import latest_state, load_state, save_state
from ..conventions import state_file
from ..records import append_jsonl, write_text_atomic
from .apply import save_upscaler
from .data import Glyphs256, pair_syllables, quantize, reduce, to_ink, training_glyphs
from .degrade import FRINGE, LEVEL_MIN, SMUDGE, degrade, jitter_pair
from .model import Upscaler, UpscalerConfig

FORMAT_RUN = "rekogan-upscaler-run-1"


@dataclass
class TrainConfig:
    model: UpscalerConfig = field(default_factory=UpscalerConfig)
    syllables: int = 128          # KS X 1001 syllables x every training face
    batch: int = 16
    lr: float = 2e-3
    epochs: int = 16
    epoch_steps: int = 250
    warmup_steps: int = 100
    ema: float = 0.999
    seed: int = 0
    edge_weight: float = 4.0      # BCE weight on the truth's edges: 1 + edge_weight * morphological gradient
    w128: float = 0.5             # the 128 px head's share of the loss
    consistency: float = 0.0      # weight of "the upscaler keeps the glyph": L1 at 64 px between the
                                  # 256 px output at consistency_sharpness, reduced 4 x 4, and the clean input
    keep: float = 0.0             # weight of the same L1 against the input as given (degraded or not): what is
                                  # written at 64 px, faint strokes included, stays written
    consistency_sharpness: float = 1.5
    smudge: float = SMUDGE        # degrade's strongest smudge beside strokes
    fringe: float = FRINGE        # degrade's strongest grey halo
    level_min: float = LEVEL_MIN  # degrade's faintest overall stroke level
    grid: float = 0.0             # degrade's strongest checkered texture (0: none)
    haze: float = 0.0             # degrade's strongest haze between nearby strokes (0: none)
    blur: float = 0.0             # degrade's heavy blur: the strongest sigma (0: 1.5 with haze, else none)
    init: str = ""                # an upscaler file to start from (fine-tuning), else random weights
    keep_content: float = 0.0     # weight of "the readers read what was written" on generated glyphs (content.py):
                                  # KL from a reader's answer on the 64 px glyph to its answer on the served output
                                  # reduced back (0: off, and the run is as before)
    content_runs: list = field(default_factory=lambda: ["checkpoints/fixed", "checkpoints/hangul"])
    content_pool: int = 8192      # generated glyphs per run, drawn once into the run folder
    content_batch: int = 8        # generated glyphs per run and step
    content_sharpness: float = 1.6  # the finish the app serves (the shipped file's sharpness, back-projection steps)
    content_steps: int = 3
    content_loss: str = "kl"      # "kl": the KL to the reader's answer on the input; "margin": a hinge that the
    content_margin: float = 2.0   # input's own answer still wins by min(content_margin, its lead on the input) logits
    content_grey: float = 0.0     # weight of the served output's greyness on those glyphs: mean 4 p (1 - p) at 256 px
                                  # (the faces' paired losses keep their output near-binary; this keeps the
                                  # generated glyphs' so, or the KL is met with soft grey strokes)
    content_hard: float = 0.0     # share of each run's content batch drawn from the pool's hard glyphs: those the
    content_hard_lead: float = 1.0  # reader reads at 64 px with a lead below content_hard_lead logits (content.leads;
                                  # 0: off, every glyph drawn from the whole pool as before). The margin hinge is 0
                                  # on nearly every other glyph, so without this few glyphs of a step teach anything

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        return cls(model=UpscalerConfig(**d.pop("model", {})), **d)


def upscaler_file(epoch: int) -> str:
    return f"upscaler_{epoch:03d}.safetensors"


def samples_file(epoch: int) -> str:
    return f"samples_{epoch:03d}.png"


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then a cosine down to 5 % of lr at the last planned step."""
    total = cfg.epochs * cfg.epoch_steps
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def make_batch(glyphs: Glyphs256, cfg: TrainConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input (B, 1, 64, 64) degraded ink at uint8 levels, truth (B, 1, 256, 256) ink) of a step."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    idx = torch.randint(len(glyphs), (cfg.batch,), generator=g)
    hi = jitter_pair(to_ink(glyphs.images[idx]), g)
    return quantize(degrade(quantize(reduce(hi)), g, smudge_max=cfg.smudge, fringe_max=cfg.fringe,
                                                level_min=cfg.level_min, grid_max=cfg.grid,
                                                haze_max=cfg.haze, blur_max=cfg.blur)), hi


def _edges(t: torch.Tensor) -> torch.Tensor:
    """4 b (1 - b) of the 3 x 3 box mean b: 1 on an edge, 0 well inside or outside a stroke (box
    means: several times cheaper on a CPU than the max-pool gradient at 256 px)."""
    b = F.avg_pool2d(t, 3, 1, 1)
    return 4 * b * (1 - b)


def loss_terms(out: dict[int, torch.Tensor], truth: torch.Tensor, cfg: TrainConfig,
               x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    terms, total = {}, 0.0
    for size, logits in out.items():
        t = truth if size == truth.shape[-1] else reduce(truth, truth.shape[-1] // size)
        l1 = (torch.sigmoid(logits) - t).abs().mean()
        bce = (F.binary_cross_entropy_with_logits(logits, t, reduction="none") * (1 + cfg.edge_weight * _edges(t))).mean()
        terms[f"l1_{size}"], terms[f"bce_{size}"] = l1, bce
        total = total + (1.0 if size == 256 else cfg.w128) * (l1 + bce)
    if (cfg.consistency or cfg.keep) and 256 in out:
        # what a reader sees at 64 px must not change: the sharpened output, reduced, against the clean input
        small = reduce(torch.sigmoid(cfg.consistency_sharpness * out[256]))
        terms["consistency"] = (small - reduce(truth, truth.shape[-1] // small.shape[-1])).abs().mean()
        total = total + cfg.consistency * terms["consistency"]
        if cfg.keep and x is not None:
            terms["keep"] = (small - x).abs().mean()
            total = total + cfg.keep * terms["keep"]
    terms["loss"] = total
    return terms


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _ema_update(ema: Upscaler, model: Upscaler, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - decay)


def _save_samples(path: Path, ema: Upscaler, glyphs: Glyphs256, probe: tuple[torch.Tensor, torch.Tensor], cfg) -> None:
    """Rows of 8 glyphs: input (enlarged by repeating pixels), bicubic, upscaler, truth; first 8
    held-out glyphs (clean input), then 8 degraded training glyphs."""
    from PIL import Image
    from ..sampling import tile
    x_train, t_train = make_batch(glyphs, TrainConfig(**{**cfg.to_dict(), "model": cfg.model, "batch": 8}), 10**9)
    x = torch.cat([probe[0][:8], x_train])
    t = torch.cat([probe[1][:8], t_train])
    with torch.inference_mode():
        up = torch.sigmoid(ema.eval()(x.to(_device(ema)), sizes=(256,))[256]).cpu()
    ema.train()
    rows = [F.interpolate(x, scale_factor=4, mode="nearest"),
            F.interpolate(x, size=256, mode="bicubic", align_corners=False).clamp(0, 1), up, t]
    cells = torch.stack(rows, 1).flatten(0, 1)                      # glyph by glyph: 4 cells each
    paper = (255 - cells[:, 0] * 255).round().to(torch.uint8)
    pic = tile(paper, columns=8, pad=4)
    from ..records import atomic_path
    with atomic_path(path) as tmp:
        Image.fromarray(pic.numpy(), mode="L").save(tmp, format="PNG")


def train(run_dir, *, cfg: TrainConfig | None = None, resume: bool = False, minutes: float | None = None,
          stop_after: int | None = None, glyphs: Glyphs256 | None = None, probe=None, pool=None, pool_key=None,
          device: str = "cpu", log=print) -> dict:
    """Train (or resume) the run in run_dir. minutes / stop_after (steps) end this session early,
    saving the resume state. glyphs / probe: given data (tests, or a pack: pack.py), else the training
    faces and the held-out probe of rekogan.upscale.evaluate. pool / pool_key: the keep_content pool drawn
    elsewhere (a pack's), used when its key is this run's. device: where the network trains (the data
    is made on the CPU). Returns the last metrics record (or {})."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if resume:
        if not cfg_path.is_file():
            raise FileNotFoundError(f"nothing to resume: {cfg_path} does not exist (start the run without --resume)")
        saved = json.loads(cfg_path.read_text(encoding="utf-8"))
        base = TrainConfig.from_dict(saved["train"])
        cfg = TrainConfig.from_dict({**base.to_dict(), "epochs": cfg.epochs}) if cfg is not None else base
    else:
        if latest_state(run_dir) is not None:
            raise ValueError(f"{run_dir} already holds a run; add --resume to continue it, or pick another --out")
        cfg = cfg or TrainConfig()
    if glyphs is None:
        glyphs = training_glyphs(pair_syllables(cfg.syllables))
    if probe is None:
        from .evaluate import probe_pairs
        probe = probe_pairs()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cfg_path, json.dumps({"format": FORMAT_RUN, "train": cfg.to_dict(), "data": glyphs.info},
                                           indent=1, ensure_ascii=False))

    torch.manual_seed(cfg.seed)                                      # the initial weights
    model = Upscaler(cfg.model)
    if cfg.init:
        _start_from(model, cfg)
    model = model.to(device)
    ema = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step = 0
    found = latest_state(run_dir) if resume else None
    if found is not None:
        counters, _ = load_state(found[1], modules={"model": model, "ema": ema}, optimizers={"opt": opt})
        step = counters["step"]
        log(f"resumed {run_dir} at step {step} (epoch {step // cfg.epoch_steps + 1} of {cfg.epochs})")
    if pool is not None and cfg.keep_content:
        _place_pool(run_dir, cfg, pool, pool_key)
    content = _content(run_dir, cfg, log, device=device) if cfg.keep_content else None
    return _loop(run_dir, cfg, model, ema, opt, step, glyphs, probe, content=content, minutes=minutes,
                 stop_after=stop_after, log=log)


def _place_pool(run_dir: Path, cfg: TrainConfig, pool: dict, pool_key) -> None:
    """A pool drawn elsewhere (a pack's) as the run folder's cached pool, where _content finds it; refused
    when it was drawn for other runs, sizes or seed than this run's."""
    from ..checkpoints import save_tensors
    from .content import POOL_FILE, POOL_FORMAT
    want = [list(cfg.content_runs), cfg.content_pool, cfg.seed]
    if json.dumps(pool_key) != json.dumps(want):
        raise ValueError(f"the packed content pool was drawn as {pool_key} (runs, glyphs per run, seed); this run "
                         f"needs {want}: pack again with those, or train with the pack's")
    if not (run_dir / POOL_FILE).is_file():
        save_tensors(run_dir / POOL_FILE, {k: v.contiguous() for k, v in pool.items()},
                     {"format": POOL_FORMAT, "key": json.dumps(want)})


def _content(run_dir: Path, cfg: TrainConfig, log, device: str = "cpu"):
    """(the generated glyphs' pool, the frozen readers, each run's hard glyphs or None) of the
    keep_content term."""
    from .content import ContentReaders, load_or_make_pool
    if cfg.content_loss not in ("kl", "margin"):
        raise ValueError(f"content_loss must be 'kl' or 'margin', got {cfg.content_loss!r}")
    if not 0 <= cfg.content_hard <= 1:
        raise ValueError(f"content_hard must be in [0, 1], got {cfg.content_hard!r}")
    runs = tuple(cfg.content_runs)
    pool = load_or_make_pool(run_dir, runs=runs, per_run=cfg.content_pool, seed=cfg.seed, log=log)
    readers = ContentReaders(runs, device=device)
    return pool, readers, _hard_glyphs(pool, readers, cfg, log) if cfg.content_hard else None


def _hard_glyphs(pool: dict, readers, cfg: TrainConfig, log) -> dict[str, torch.Tensor]:
    """{run name: indices of its pool's glyphs read with a lead below cfg.content_hard_lead} (content.leads);
    a run with none draws from its whole pool."""
    from .content import leads
    hard = {}
    for name, glyphs in pool.items():
        idx = (leads(readers, name, glyphs) < cfg.content_hard_lead).nonzero()[:, 0]
        log(f"content pool {name}: {len(idx)} of {len(glyphs)} glyphs read with a lead below "
            f"{cfg.content_hard_lead:g} logits" + ("" if len(idx) else " (none: the whole pool is drawn)"))
        hard[name] = idx if len(idx) else torch.arange(len(glyphs))
    return hard


def content_terms(model, content, cfg: TrainConfig, step: int) -> dict[str, torch.Tensor]:
    """The keep_content losses of a step: content_batch glyphs of each run's pool (drawn from (seed,
    step); the content_hard share of them among its hard glyphs), upscaled and finished as served;
    "content": reduced back and read against their 64 px reading (KL or margin, content_loss),
    "content_grey": the output's mean 4 p (1 - p)."""
    from .content import content_kl, content_margin, served_ink
    pool, readers, hard = content
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step + 7_777_777)
    kl, grey = 0.0, 0.0
    for name, glyphs in pool.items():
        idx = content_draw(len(glyphs), hard[name] if hard else None, batch=cfg.content_batch,
                           share=cfg.content_hard, generator=g)
        x = glyphs[idx].unsqueeze(1).to(_device(model)).float() / 255
        big = served_ink(model(x, sizes=(256,))[256], x, sharpness=cfg.content_sharpness, steps=cfg.content_steps)
        kl = kl + (content_kl(readers, name, x, reduce(big)) if cfg.content_loss == "kl" else
                   content_margin(readers, name, x, reduce(big), margin=cfg.content_margin))
        grey = grey + (4 * big * (1 - big)).mean()
    return {"content": kl / len(pool), "content_grey": grey / len(pool)}


def content_draw(n: int, hard: torch.Tensor | None, *, batch: int, share: float, generator) -> torch.Tensor:
    """`batch` indices into a pool of n glyphs: round(share x batch) of them among `hard` (indices), the
    rest from the whole pool. No hard glyphs or share 0: the draw runs without content_hard had."""
    n_hard = round(batch * share) if hard is not None else 0
    idx = torch.randint(n, (batch - n_hard,), generator=generator)
    if n_hard:
        idx = torch.cat([idx, hard[torch.randint(len(hard), (n_hard,), generator=generator)]])
    return idx


def _start_from(model: Upscaler, cfg: TrainConfig) -> None:
    """Fine-tuning: the weights of the upscaler file cfg.init (its model config must be cfg.model)."""
    from .apply import load_model
    start, info = load_model(cfg.init)
    if info["model"] != cfg.model.to_dict():
        raise ValueError(f"--init {cfg.init} holds a {info['model']} network, not the configured {cfg.model.to_dict()}")
    model.load_state_dict(start.state_dict())


def _loop(run_dir: Path, cfg: TrainConfig, model, ema, opt, step: int, glyphs, probe, *, content=None, minutes,
          stop_after, log) -> dict:
    from .evaluate import fidelity_of
    total = cfg.epochs * cfg.epoch_steps
    t0 = time.time()
    sums: dict[str, float] = {}
    n_sum, start = 0, step
    record: dict = {}
    dev = _device(model)
    model.train()
    while step < total:
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        x, t = make_batch(glyphs, cfg, step)                         # made on the CPU, from (seed, step)
        x, t = x.to(dev, non_blocking=True), t.to(dev, non_blocking=True)
        terms = loss_terms(model(x, sizes=(128, 256)), t, cfg, x)
        if content is not None:
            terms.update(content_terms(model, content, cfg, step))
            terms["loss"] = (terms["loss"] + cfg.keep_content * terms["content"]
                             + cfg.content_grey * terms["content_grey"])
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        step += 1
        _ema_update(ema, model, min(cfg.ema, (1 + step) / (10 + step)))
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        n_sum += 1
        done_epoch = step % cfg.epoch_steps == 0
        out_of_time = (minutes is not None and time.time() - t0 > minutes * 60) or \
                      (stop_after is not None and step - start >= stop_after)
        if done_epoch:
            epoch = step // cfg.epoch_steps
            ema.eval()
            quick = fidelity_of(ema, probe)
            ema.train()
            secs = time.time() - t0
            record = {"epoch": epoch, "step": step, **{k: round(v / n_sum, 5) for k, v in sums.items()},
                      "probe_iou": round(quick["iou"], 5), "probe_l1": round(quick["l1"], 5),
                      "probe_grey": round(quick["grey"], 4), "lr": round(lr_at(cfg, step - 1), 6),
                      "img_per_s": round((step - start) * cfg.batch / max(secs, 1e-9), 1),
                      "threads": torch.get_num_threads(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            save_upscaler(run_dir / upscaler_file(epoch), ema, epoch=epoch, step=step, metrics=record,
                          config=cfg.to_dict())
            _save_state(run_dir, epoch, model, ema, opt, step)
            _save_samples(run_dir / samples_file(epoch), ema, glyphs, probe, cfg)
            append_jsonl(run_dir / "metrics.jsonl", record)
            log(f"epoch {epoch}/{cfg.epochs} step {step}: loss {record['loss']:.4f}, l1 {record['l1_256']:.4f}, "
                f"held-out probe IoU {record['probe_iou']:.4f} (bicubic {quick['bicubic_iou']:.4f}), "
                f"grey {record['probe_grey']:.3f}, {record['img_per_s']} img/s")
            sums, n_sum = {}, 0
        if out_of_time and step < total:
            if not done_epoch:
                _save_state(run_dir, step // cfg.epoch_steps + 1, model, ema, opt, step)
            log(f"stopped at step {step} of {total} (epoch {step // cfg.epoch_steps + 1}); resume with "
                f"`python -m rekogan upscaler train --out {run_dir} --resume`")
            return record
    log(f"done: {cfg.epochs} epochs, {total} steps")
    return record


def _save_state(run_dir: Path, epoch: int, model, ema, opt, step: int) -> None:
    save_state(run_dir / state_file(epoch), modules={"model": model, "ema": ema}, optimizers={"opt": opt},
               counters={"step": step}, rng={})
