"""The training loop as functions: data in memory, D and G steps, EMA, per-epoch outputs, resume, DDP.

A run directory holds:
  config.json              resolved config (written once; --resume reads it back)
  data.json                the data's provenance (faces/files, licences, held-out groups)
  epoch_NNN.safetensors    EMA generator after epoch NNN (fp16, metadata inside)
  state_NNN.safetensors    resume state (G, D, EMA, optimisers, counters, RNG)
  grid_NNN.png             fixed seeds x fixed classes, one row per class
  metrics.jsonl            one line per epoch: losses, img/s, wall time
  loss_curve.png           redrawn every epoch
  evaluation.jsonl/.png    readability/diversity per epoch, when a classifier is available
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import checkpoints as ck
from .config import TrainConfig, from_dict
from .data import load_splits
from .data.augment import augment
from .hangul import ClassList, parse_classes
from .records import read_jsonl
from .models import aux_correct, aux_loss, build_discriminator, build_generator, init_weights
from .sampling import generate, grid, seed_to_z, to_uint8


# ---- science: losses and one step -----------------------------------------------------------

def d_adv_loss(real_logit, fake_logit, cfg: TrainConfig):
    if cfg.loss == "hinge":
        return F.relu(1 - real_logit).mean() + F.relu(1 + fake_logit).mean()
    target = torch.full_like(real_logit, cfg.real_label)
    return (F.binary_cross_entropy_with_logits(real_logit, target)
            + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))


def g_adv_loss(fake_logit, cfg: TrainConfig):
    if cfg.loss == "hinge":
        return -fake_logit.mean()
    return F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))


WEIGHT_CLAMP = 3.0   # stroke weights are asked for and measured within +-3 per-syllable SDs


def ink_ratio(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) in [-1, 1], white ink on black -> (B,) share of ink (the glyph's stroke weight)."""
    return ((x.float() + 1) / 2).mean(dim=(1, 2, 3))


def ink_stats(images: torch.Tensor, labels: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class mean and SD of the ink ratio over the training glyphs: (n_classes,) each. The weight
    condition is normalised by them, so that w = 0 is a syllable's typical weight whatever its
    density (뷁 has far more ink than 이 in every face) and w = +1 is one SD bolder."""
    ink = images.float().mean(dim=(1, 2)).div_(255)                          # (N,)
    n = torch.zeros(n_classes).index_add_(0, labels.cpu(), torch.ones(len(ink)))
    mu = torch.zeros(n_classes).index_add_(0, labels.cpu(), ink.cpu()) / n.clamp(min=1)
    var = torch.zeros(n_classes).index_add_(0, labels.cpu(), (ink.cpu() - mu[labels.cpu()]) ** 2) / n.clamp(min=1)
    return mu, var.sqrt().clamp(min=0.01)


def train_step(G, D, opt_g, opt_d, real, y_real, *, cfg: TrainConfig, n_classes: int, gen: torch.Generator,
               autocast, y_pool: torch.Tensor | None = None, ink: tuple | None = None) -> dict:
    """One D update and one G update on a batch of (augmented) real images.

    y_pool: the labels G is asked to draw (the training syllables of a split run; default all
    classes). ink: (mean, sd) per class from ink_stats, for runs with a weight condition."""
    b, dev = len(real), real.device
    z = torch.randn(b, cfg.z_dim, generator=gen).to(dev)
    if y_pool is None:
        y_fake = torch.randint(0, n_classes, (b,), generator=gen).to(dev)
    else:
        y_fake = y_pool[torch.randint(0, len(y_pool), (b,), generator=gen).to(y_pool.device)].to(dev)
    half = b // 2
    if cfg.ms_weight > 0:  # pairs (i, i + b - half) share a class and differ in z: the mode-seeking pairs
        y_fake[b - half:] = y_fake[:half]
    g_in = (z, y_fake)
    if cfg.weight_cond:
        assert ink is not None, "a weight-conditioned run needs the per-class ink statistics"
        mu, sd = ink
        # (B,) the reals' measured weights, clamped: augmentation can thin or thicken a glyph far
        # beyond its faces' spread, and the control is meant for the typical range
        w_real = ((ink_ratio(real) - mu[y_real]) / sd[y_real]).clamp(-WEIGHT_CLAMP, WEIGHT_CLAMP)
        w_fake = w_real[torch.randperm(b, generator=gen).to(dev)]            # ask for weights as common as the data's
        if cfg.ms_weight > 0:
            w_fake[b - half:] = w_fake[:half]
        g_in = (z, y_fake, w_fake)
    with autocast():
        fake = G(*g_in)                                         # (B, 1, S, S); reused by both updates
    d_cfg = getattr(D, "module", D).cfg
    # -- D: real up, fake down (+ classify reals)
    D.requires_grad_(True)
    with autocast():
        if cfg.arch == "proj":  # no BatchNorm in D: one forward over real and fake together
            logit, aux = D(torch.cat([real, fake.detach()]), torch.cat([y_real, y_fake]))
            real_logit, fake_logit = logit[:b], logit[b:]
            aux_real = aux[:b]
        else:                   # DCGAN D has BatchNorm: separate real and fake batches, as the original
            real_logit, aux_real = D(real, y_real)
            fake_logit, _ = D(fake.detach(), y_fake)
        loss_d = d_adv_loss(real_logit.float(), fake_logit.float(), cfg)
        if aux_real is not None and cfg.aux_weight > 0:
            loss_d = loss_d + cfg.aux_weight * aux_loss(aux_real.float(), y_real, d_cfg)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # -- G: fool D (+ be classified as the asked-for class); D's weights are frozen, not updated
    D.requires_grad_(False)
    d_plain = getattr(D, "module", D)  # under DDP, bypass the wrapper: D gets no gradients to sync here
    with autocast():
        g_logit, g_aux = d_plain(fake, y_fake)
        loss_g = g_adv_loss(g_logit.float(), cfg)
        if g_aux is not None and cfg.aux_weight_g > 0:
            loss_g = loss_g + cfg.aux_weight_g * aux_loss(g_aux.float(), y_fake, d_cfg)
        if cfg.weight_cond and cfg.ink_weight > 0:  # draw the asked weight: ink is differentiable in the pixels
            w_drawn = (ink_ratio(fake) - mu[y_fake]) / sd[y_fake]
            ink_err = F.smooth_l1_loss(w_drawn, w_fake)                       # Huber: bounded pull early on
            loss_g = loss_g + cfg.ink_weight * ink_err
        if cfg.ms_weight > 0:
            f = fake.float()
            ratio = (f[:half] - f[b - half:]).abs().mean() / (z[:half] - z[b - half:]).abs().mean()
            loss_g = loss_g + cfg.ms_weight / (ratio + 1e-5)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
           "d_real": real_logit.detach().float().mean(), "d_fake": fake_logit.detach().float().mean()}
    if cfg.ms_weight > 0:
        out["ms_ratio"] = ratio.detach()
    if aux_real is not None:
        out["aux_acc_real"] = aux_correct(aux_real.detach(), y_real, d_cfg).float().mean()
        out["aux_acc_fake"] = aux_correct(g_aux.detach(), y_fake, d_cfg).float().mean()
    if cfg.weight_cond and cfg.ink_weight > 0:
        out["ink_err"] = ink_err.detach()
    return out


def make_batch(images, labels, *, batch: int, gen: torch.Generator, strength: float, fmt=torch.channels_last):
    """Sample a batch from the in-memory uint8 dataset and augment it: (B, 1, S, S) in [-1, 1], labels (B,)."""
    idx = torch.randint(0, len(images), (batch,), generator=gen).to(images.device)
    real = images[idx].unsqueeze(1).float().div_(127.5).sub_(1)                     # (B, 1, S, S)
    real = augment(real, strength=strength, generator=gen).contiguous(memory_format=fmt)
    return real, labels[idx]


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float):
    # one fused call per list, not one op per tensor: on a GPU the step is bound by op dispatch
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
    torch._foreach_copy_(list(ema.buffers()), list(model.buffers()))


@torch.no_grad()
def standing_stats(G: torch.nn.Module, *, n_classes: int, batches: int = 8, batch: int = 256, seed: int = 12345,
                   y_pool: torch.Tensor | None = None):
    """Recompute BatchNorm running statistics of a (EMA) generator from its own samples.

    The EMA weights never ran in train mode, so the running stats copied from G do not match them;
    sampling uses eval mode (a glyph must not depend on its batch), so we re-estimate the stats as
    a plain average over fixed random batches (BigGAN's 'standing statistics')."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    dev = next(G.parameters()).device
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    g = torch.Generator().manual_seed(seed)
    G.train()
    for _ in range(batches):
        z = torch.randn(batch, G.cfg.z_dim, generator=g).to(dev)
        if y_pool is None:
            y = torch.randint(0, n_classes, (batch,), generator=g).to(dev)
        else:  # the training syllables only: held-out ones must not shape any statistic
            y = y_pool.cpu()[torch.randint(0, len(y_pool), (batch,), generator=g)].to(dev)
        if getattr(G.cfg, "weight_cond", False):
            G(z, y, torch.randn(batch, generator=g).to(dev))
        else:
            G(z, y)
    G.eval()
    for m, mom in zip(bns, saved):
        m.momentum = mom


# ---- plumbing: devices, run directory, outputs --------------------------------------------

def pick_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {spec} asked for, but PyTorch sees no CUDA device; use --device cpu")
    return torch.device(spec)


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX): there the fixed step runs about
    1.5x faster in bf16 than in fp32 (docs/RESULTS.md); elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch without these probes
        return False


def cuda_has_bf16() -> bool:
    """True on GPUs with bf16 tensor cores (Ampere and later); older ones (V100, T4) emulate it."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch: no including_emulation argument
        return bool(torch.cuda.is_bf16_supported())
    except (AssertionError, RuntimeError):  # no usable CUDA
        return False


def autocast_for(device: torch.device, amp: bool):
    """(context factory, precision name) for the training step: bf16 autocast where it is native.
    bf16 keeps fp32's exponent range, so no loss scaling is needed; losses are computed in fp32."""
    native = cuda_has_bf16() if device.type == "cuda" else cpu_has_bf16() if device.type == "cpu" else False
    if amp and native:
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bf16"
    return (lambda: torch.autocast(device.type, enabled=False)), "fp32"


def dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) when not distributed."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def append_jsonl(path: Path, record: dict):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def plot_losses(run_dir: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "loss_d" in r]
    if not rows:
        return
    x = [r["images_seen"] / 1e6 for r in rows]
    fig, ax = plt.subplots(1, 2 if "aux_acc_fake" in rows[0] else 1, figsize=(10, 3.5), squeeze=False)
    ax[0, 0].plot(x, [r["loss_d"] for r in rows], label="D loss")
    ax[0, 0].plot(x, [r["loss_g"] for r in rows], label="G loss")
    ax[0, 0].set_xlabel("images seen (M)"); ax[0, 0].legend(); ax[0, 0].set_title(f"{run_dir.name}: losses (epoch means)")
    if ax.shape[1] > 1:
        ax[0, 1].plot(x, [r["aux_acc_real"] for r in rows], label="D aux acc, real")
        ax[0, 1].plot(x, [r["aux_acc_fake"] for r in rows], label="D aux acc on G's samples")
        ax[0, 1].set_ylim(0, 1); ax[0, 1].set_xlabel("images seen (M)"); ax[0, 1].legend()
    fig.tight_layout()
    tmp = run_dir / ".loss_curve.tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, run_dir / "loss_curve.png")


def grid_classes(n_classes: int, rows: int) -> list[int]:
    rows = min(rows, n_classes)
    return sorted({round(i * (n_classes - 1) / max(rows - 1, 1)) for i in range(rows)})


def save_grid(G, path: Path, *, n_classes: int, rows: int, seeds: int, pool: list[int] | None = None):
    """One row per class (spread over `pool`, the training labels, or all classes), one column per seed."""
    from PIL import Image
    cls = grid_classes(n_classes, rows) if pool is None else [pool[i] for i in grid_classes(len(pool), rows)]
    zs = torch.stack([seed_to_z(s, G.cfg.z_dim) for s in range(seeds)])          # (K, Z)
    labels = torch.tensor(cls).repeat_interleave(seeds)                           # row = class
    imgs = to_uint8(generate(G, labels, zs.repeat(len(cls), 1)))
    tmp = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray(grid(imgs, len(cls), seeds).numpy()).save(tmp)
    os.replace(tmp, path)


# ---- the loop -------------------------------------------------------------------------------

RESUMABLE = ("epochs", "device", "threads", "eval_every", "classifier", "amp")  # may change on --resume


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, overrides: dict | None = None, log=print) -> Path:
    """Train into run directory `out`. With resume=True the run's saved config.json is used;
    only the explicitly given `overrides` among RESUMABLE (how long, where) replace its values."""
    run_dir = Path(out)
    rank, world, local_rank = dist_info()
    if world > 1:
        import torch.distributed as dist
        backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        dist.init_process_group(backend)
    device = pick_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    main = rank == 0

    # -- run directory and config
    cfg_path = run_dir / "config.json"
    if resume:
        if not cfg_path.exists():
            raise SystemExit(f"--resume: {cfg_path} not found; is {run_dir} a run directory?")
        saved = from_dict(json.loads(cfg_path.read_text()))
        # the recipe must not change under a resumed run; how long and where it runs may
        ignored = []
        for k, v in (overrides or {}).items():
            if k in RESUMABLE:
                setattr(saved, k, v)
            elif getattr(saved, k, v) != v:
                ignored.append(k)
        if ignored and rank == 0:
            log(f"--resume keeps the run's recipe from {cfg_path}; ignoring {', '.join(sorted(ignored))}")
        cfg = saved
    elif main:
        if run_dir.exists() and any(run_dir.glob("epoch_*.safetensors")):
            raise SystemExit(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(cfg_path, cfg.to_json())

    torch.manual_seed(cfg.seed + rank)
    classes = parse_classes(cfg.classes)
    n_classes = len(classes)
    trained = classes                     # the syllables the run sees in training
    if cfg.split:
        from .split import make_split
        split = make_split(cfg.split)
        trained = split.train
        if main:
            write_atomic(run_dir / "split.json", split.to_json())
    train_set, heldout = load_splits(cfg.data, classes=trained, size=cfg.size)
    if main and not (run_dir / "data.json").exists():
        info = dict(train_set.info, heldout_images=len(heldout), train_images=len(train_set))
        write_atomic(run_dir / "data.json", json.dumps(info, indent=1, ensure_ascii=False))
    images = train_set.images.to(device)                                          # (N, S, S) uint8
    labels = train_set.labels
    y_pool = None
    if trained is not classes:            # labels index `trained`; the model's labels index `classes`
        lut = torch.tensor([classes.index(s) for s in trained], dtype=torch.int64)
        labels = lut[labels]
        y_pool = labels.unique().to(device)   # G is asked only for syllables the data holds
    ink = None
    if cfg.weight_cond:
        ink = tuple(t.to(device) for t in ink_stats(train_set.images, labels, n_classes))
    labels = labels.to(device)

    mcfg = cfg.model_config(n_classes)
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    G.apply(init_weights); D.apply(init_weights)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    fmt = torch.channels_last
    G, D, G_ema = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt), G_ema.to(device, memory_format=fmt)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))

    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)                   # data + latents
    step, epoch0, images_seen, wall = 0, 0, 0, 0.0
    if resume:
        found = ck.latest_state(run_dir)
        if found is None:
            log(f"--resume: no state in {run_dir} yet; starting at epoch 1")
        else:
            counters, rng = ck.load_state(found[1], modules={"G": G, "D": D, "G_ema": G_ema},
                                          optimizers={"opt_g": opt_g, "opt_d": opt_d})
            step, epoch0, images_seen, wall = counters["step"], counters["epoch"], counters["images_seen"], counters["wall"]
            if f"gen{rank}" in rng:
                gen.set_state(rng[f"gen{rank}"])
            torch.set_rng_state(rng["torch"])
            log(f"resumed {run_dir} from epoch {epoch0} (step {step}, {images_seen} images seen)")
        if main:  # drop metric lines of epochs after the state (started, or finished but killed before their state)
            keep = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("epoch", 0) <= epoch0]
            write_atomic(run_dir / "metrics.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
    if epoch0 >= cfg.epochs:
        log(f"{run_dir}: already trained {epoch0} of {cfg.epochs} epochs; nothing to do")
        return run_dir

    G_train, D_train = G, D
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ids = [device.index] if device.type == "cuda" else None
        G_train, D_train = DDP(G, device_ids=ids), DDP(D, device_ids=ids)

    autocast, precision = autocast_for(device, cfg.amp)
    if main:
        log(f"training on {device} ({precision}, {torch.get_num_threads()} threads), world size {world}")
    steps_per_epoch = max(1, cfg.epoch_images // (cfg.batch * world))
    from tqdm import tqdm

    for epoch in range(epoch0 + 1, cfg.epochs + 1):
        G.train(); D.train()
        sums: dict[str, torch.Tensor] = {}
        t0 = time.time()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", unit="step", disable=not main,
                   dynamic_ncols=True, mininterval=2.0)
        for i in bar:
            real, y_real = make_batch(images, labels, batch=cfg.batch, gen=gen, strength=cfg.augment, fmt=fmt)
            stats = train_step(G_train, D_train, opt_g, opt_d, real, y_real, cfg=cfg, n_classes=n_classes,
                               gen=gen, autocast=autocast, y_pool=y_pool, ink=ink)
            step += 1
            if cfg.ema > 0:
                ema_update(G_ema, G, cfg.ema if step > cfg.ema_start else 0.0)
            for k, v in stats.items():  # summed as tensors: a float() per step would stall a GPU's queue
                sums[k] = sums[k] + v if k in sums else v.float()
            if i % 10 == 0:
                bar.set_postfix(img_s=f"{(i + 1) * cfg.batch * world / (time.time() - t0):.0f}",
                                d=f"{float(stats['loss_d']):.2f}", g=f"{float(stats['loss_g']):.2f}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.time() - t0
        wall += dt
        images_seen += steps_per_epoch * cfg.batch * world
        sums = {k: float(v) for k, v in sums.items()}
        if not all(math.isfinite(v) for v in sums.values()):
            raise FloatingPointError(f"epoch {epoch}: a loss became NaN/inf; the last good state is kept in {run_dir}")

        if main:
            if cfg.ema <= 0:
                G_ema.load_state_dict(G.state_dict())
            standing_stats(G_ema, n_classes=n_classes, y_pool=y_pool)
            metrics = {k: v / steps_per_epoch for k, v in sums.items()}
            record = {"epoch": epoch, "step": step, "images_seen": images_seen, "epoch_seconds": round(dt, 2),
                      "wall_seconds": round(wall, 1), "img_per_s": round(steps_per_epoch * cfg.batch * world / dt, 1),
                      **{k: round(v, 5) for k, v in metrics.items()}, "device": str(device), "precision": precision, "world": world,
                      "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            ckpt = run_dir / f"epoch_{epoch:03d}.safetensors"
            ck.save_generator(ckpt, G_ema, model=mcfg, classes=classes, epoch=epoch, step=step,
                              images_seen=images_seen, config=cfg.to_dict(), metrics=record,
                              trained=None if trained is classes else trained)
            save_grid(G_ema, run_dir / f"grid_{epoch:03d}.png", n_classes=n_classes, rows=cfg.grid_classes,
                      seeds=cfg.grid_seeds, pool=None if y_pool is None else y_pool.tolist())
            append_jsonl(run_dir / "metrics.jsonl", record)
            plot_losses(run_dir)
            rng = {f"gen{rank}": gen.get_state(), "torch": torch.get_rng_state()}
            ck.save_state(run_dir / f"state_{epoch:03d}.safetensors", modules={"G": G, "D": D, "G_ema": G_ema},
                          optimizers={"opt_g": opt_g, "opt_d": opt_d},
                          counters={"step": step, "epoch": epoch, "images_seen": images_seen, "wall": wall}, rng=rng)
            for _, old in sorted((int(p.stem.split("_")[1]), p) for p in run_dir.glob("state_*.safetensors"))[:-cfg.keep_states]:
                old.unlink(missing_ok=True)
            log(f"epoch {epoch}: {record['img_per_s']} img/s, loss D {record['loss_d']:.3f} G {record['loss_g']:.3f}"
                + (f", D reads G's samples as the asked class {record['aux_acc_fake']:.0%}" if "aux_acc_fake" in record else ""))
            if cfg.eval_every and epoch % cfg.eval_every == 0 and Path(cfg.classifier).exists():
                try:
                    from .evaluation import record_evaluation
                    res = record_evaluation(run_dir, ckpt, classifier_path=cfg.classifier)
                    log(f"epoch {epoch}: readability {res['readability']:.1%}, diversity {res['diversity']:.2f}")
                except Exception as e:  # evaluation must never kill a training run
                    log(f"epoch {epoch}: evaluation skipped ({type(e).__name__}: {e})")
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
    return run_dir
