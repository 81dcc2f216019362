"""The training loop: run directory, data in memory, epochs of steps (rekogan/steps.py), per-epoch
outputs, resume, DDP. Devices and precision come from rekogan/runtime.py.

A run directory holds:
  config.json              resolved config (written once; --resume reads it back)
  data.json                the data's provenance (faces/files, licences, held-out groups)
  split.json               split runs only: the syllables trained on and those held out (rekogan/split.py)
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
import signal
import time
from pathlib import Path

import torch

from . import checkpoints as ck
from .config import TrainConfig, from_dict
from .conventions import STATE_RE, epoch_file, grid_file, state_file
from .data import load_splits
from .hangul import parse_classes
from .models import build_discriminator, build_generator, init_weights
from .records import append_jsonl, atomic_path, read_jsonl, write_jsonl_atomic, write_text_atomic
from .runtime import autocast_for, dist_info, pick_device
from .sampling import generate, grid, seed_to_z, to_uint8
from .steps import ema_update, ink_stats, make_batch, standing_stats, train_step

__all__ = ["train", "RESUMABLE", "ema_update", "ink_stats", "make_batch", "standing_stats", "train_step",
           "autocast_for", "pick_device", "read_jsonl"]


# ---- per-epoch outputs --------------------------------------------------------------------

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
    with atomic_path(run_dir / "loss_curve.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


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
    with atomic_path(path) as tmp:
        Image.fromarray(grid(imgs, len(cls), seeds).numpy()).save(tmp, format="PNG")


# ---- the loop -------------------------------------------------------------------------------

def _test_kill_step() -> int | None:
    """$REKOGAN_TEST_KILL_AT_STEP=N (tests only): the process SIGKILLs itself right after global step N,
    a deterministic point inside an epoch for tests/test_training.py's kill-and-resume test; unset, nothing."""
    v = os.environ.get("REKOGAN_TEST_KILL_AT_STEP")
    return int(v) if v else None


RESUMABLE = ("epochs", "device", "threads", "eval_every", "classifier", "amp")  # may change on --resume


def _run_split(cfg: TrainConfig, run_dir: Path, new_spec: str | None, *, main: bool, log):
    """The run's syllable split, written to split.json. new_spec (on --resume): a split that keeps
    the run's held-out syllables and adds training ones; split.json then records the phases
    (from which epoch each spec was trained) and config.json the new spec."""
    from .split import SyllableSplit, check_same_heldout, make_split
    path = run_dir / "split.json"
    saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    old = SyllableSplit.from_dict(saved) if saved else None
    split = make_split(new_spec or cfg.split)
    phases = []
    if old is not None:
        phases = saved.get("phases") or [{"spec": old.spec, "from_epoch": 1}]
        if split.spec != old.spec:
            try:
                check_same_heldout(old, split)
            except ValueError as e:
                raise SystemExit(f"--split: {e}") from None
            start = (ck.latest_state(run_dir) or (0,))[0] + 1
            phases.append({"spec": split.spec, "from_epoch": start})
            log(f"split {old.spec} -> {split.spec} from epoch {start}: {len(split.extra):,} more training "
                "syllables, the same held-out ones")
    if main:
        d = split.to_dict()
        if phases:
            d["phases"] = phases
        write_text_atomic(path, json.dumps(d, ensure_ascii=False, indent=1))
        if old is not None and split.spec != old.spec:
            config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
            write_text_atomic(run_dir / "config.json", json.dumps({**config, "split": split.spec}, indent=2,
                                                                  ensure_ascii=False))
    return split


def rank_generator(seed: int, rank: int) -> torch.Generator:
    """The data and latent stream of one DDP rank: each rank draws its own batches (with
    replacement, from the whole training set) and its own z; DDP averages the gradients."""
    return torch.Generator().manual_seed(seed * 1000 + rank)


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
    new_split = None                      # a split that --resume moves the run to (adds syllables)
    if resume:
        if not cfg_path.exists():
            raise SystemExit(f"--resume: {cfg_path} not found; is {run_dir} a run directory?")
        saved = from_dict(json.loads(cfg_path.read_text()))
        # the recipe must not change under a resumed run; how long and where it runs may
        ignored = []
        for k, v in (overrides or {}).items():
            if k in RESUMABLE:
                setattr(saved, k, v)
            elif k == "split" and v != saved.split and saved.split:
                new_split = v             # only adds training syllables: checked below, recorded
            elif getattr(saved, k, v) != v:
                ignored.append(k)
        if ignored and rank == 0:
            log(f"--resume keeps the run's recipe from {cfg_path}; ignoring {', '.join(sorted(ignored))}")
        cfg = saved
    elif main:
        if run_dir.exists() and any(run_dir.glob("epoch_*.safetensors")):
            raise SystemExit(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cfg_path, cfg.to_json())

    torch.manual_seed(cfg.seed + rank)
    classes = parse_classes(cfg.classes)
    n_classes = len(classes)
    trained = classes                     # the syllables the run sees in training
    split = None
    if cfg.split:
        split = _run_split(cfg, run_dir, new_split, main=main, log=log)
        cfg.split = split.spec
        trained = split.trained
    partial = split is not None and bool(split.extra) and cfg.data.partition(":")[0] == "fonts"
    train_set, heldout = load_splits(cfg.data, classes=split.train if partial else trained, size=cfg.size)
    if partial:                           # syllables many faces lack: each face gives what it has
        from .data import add_partial_fonts
        train_set = add_partial_fonts(train_set, split.extra, classes=trained, size=cfg.size)
        log(f"split {split.spec}: + {train_set.info['extra_images']:,} glyphs of {len(split.extra):,} syllables "
            "outside KS X 1001")
    if main and (not (run_dir / "data.json").exists() or (resume and new_split)):
        info = dict(train_set.info, heldout_images=len(heldout), train_images=len(train_set))
        write_text_atomic(run_dir / "data.json", json.dumps(info, indent=1, ensure_ascii=False))
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

    gen = rank_generator(cfg.seed, rank)                                          # data + latents
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
            write_jsonl_atomic(run_dir / "metrics.jsonl", keep)
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
    kill_at = _test_kill_step()

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
            if step == kill_at:           # as a power cut would: no epoch output, no cleanup
                os.kill(os.getpid(), signal.SIGKILL)
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
            ckpt = run_dir / epoch_file(epoch)
            ck.save_generator(ckpt, G_ema, model=mcfg, classes=classes, epoch=epoch, step=step,
                              images_seen=images_seen, config=cfg.to_dict(), metrics=record,
                              trained=None if trained is classes else trained)
            save_grid(G_ema, run_dir / grid_file(epoch), n_classes=n_classes, rows=cfg.grid_classes,
                      seeds=cfg.grid_seeds, pool=None if y_pool is None else y_pool.tolist())
            append_jsonl(run_dir / "metrics.jsonl", record)
            plot_losses(run_dir)
            rng = {f"gen{rank}": gen.get_state(), "torch": torch.get_rng_state()}
            ck.save_state(run_dir / state_file(epoch), modules={"G": G, "D": D, "G_ema": G_ema},
                          optimizers={"opt_g": opt_g, "opt_d": opt_d},
                          counters={"step": step, "epoch": epoch, "images_seen": images_seen, "wall": wall}, rng=rng)
            states = sorted((int(m.group(1)), p) for p in run_dir.glob("state_*.safetensors") if (m := STATE_RE.match(p.name)))
            for _, old in states[:-cfg.keep_states]:
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
        import gc
        import torch.distributed as dist
        # the DDP wrappers' reducers hold the process group: drop them while the interpreter is whole, so
        # that gloo's worker threads are joined here and not torn down at exit ("terminate called without
        # an active exception", SIGABRT after a finished run, seen once in the suite on a loaded machine)
        G_train = D_train = None
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
    return run_dir
