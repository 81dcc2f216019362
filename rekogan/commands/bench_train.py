"""The training benchmark's harness (run by `python -m rekogan bench train`, rekogan/commands/bench.py):

`python -m rekogan bench train` times training throughput (images per second) of
the fixed preset against the original ReKOGAN recipe, in the same process on the same machine:

  original: 64x64 DCGAN, ngf=ndf=64, one-hot -> Linear(520, 50) label (an Embedding is the same
            map), label broadcast as feature maps into D, BCE with 0.9 real labels, batch 128,
            a PNG folder (<root>/<b0a1>/*.png) decoded with PIL per sample by a DataLoader with
            4 workers, default (NCHW) memory format.
  fixed:    the project's `fixed` preset exactly as train.py runs it: dataset in memory as uint8,
            augmentation on tensors, projection cGAN step, EMA update, channels_last, bf16
            autocast where the hardware computes bf16 natively (--fp32 turns that off).

Both time whole training steps (data + D step + G step) after warm-up steps; the ratio is
fixed img/s / original img/s. (The app's rendering latency: scripts/bench_app.py.)
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..conventions import to_unit


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA runs asynchronously: time finished work, not queued work


def _time_steps(step_fn, *, warmup: int, seconds: float, min_steps: int, batch: int,
                device: torch.device = torch.device("cpu")) -> dict:
    for _ in range(warmup):
        step_fn()
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - t0 < seconds:
        step_fn()
        n += 1
        if n % 50 == 0:
            _sync(device)  # bound the queue so the clock check means something
    _sync(device)
    dt = time.perf_counter() - t0
    return {"steps": n, "seconds": round(dt, 2), "img_per_s": round(n * batch / dt, 1)}


def _write_png_folder(root: Path, glyphs: np.ndarray, classes) -> int:
    """The original's layout: <root>/<euc-kr hex>/<i>.png, dark ink on white."""
    from PIL import Image
    from ..hangul import euckr_hex
    n = 0
    for f in range(glyphs.shape[0]):
        for c, syl in enumerate(classes):
            d = root / euckr_hex(syl)
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(255 - glyphs[f, c]).save(d / f"{f}.png")
            n += 1
    return n


class PNGFolder(torch.utils.data.Dataset):
    """The original data path: list files once, decode each with PIL on every access."""

    def __init__(self, root: Path, classes):
        from ..hangul import euckr_hex
        self.items = [(p, i) for i, syl in enumerate(classes) for p in sorted((root / euckr_hex(syl)).glob("*.png"))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        p, y = self.items[i]
        img = np.asarray(Image.open(p).convert("L"), dtype=np.float32)            # (H, W)
        x = to_unit(torch.from_numpy(255 - img)).unsqueeze(0)                      # (1, H, W) white on black
        return x, y


def bench_original(*, classes, glyphs: np.ndarray, seconds: float, warmup: int, workers: int,
                   device: torch.device = torch.device("cpu")) -> dict:
    from ..config import resolve
    from ..models import build_discriminator, build_generator, init_weights
    from ..runtime import autocast_for
    from ..steps import train_step
    cfg = resolve("original50")
    autocast, _ = autocast_for(device, amp=False)  # the original: fp32
    n = len(classes)
    mcfg = cfg.model_config(n)
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    G.apply(init_weights); D.apply(init_weights)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    gen = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        _write_png_folder(Path(tmp), glyphs, classes)
        ds = PNGFolder(Path(tmp), classes)
        dl = torch.utils.data.DataLoader(ds, batch_size=cfg.batch, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0)
        it = iter(dl)

        def step():
            nonlocal it
            try:
                x, y = next(it)
            except StopIteration:
                it = iter(dl)
                x, y = next(it)
            train_step(G, D, opt_g, opt_d, x.to(device), y.to(device), cfg=cfg, n_classes=n, gen=gen,
                       autocast=autocast)
        res = _time_steps(step, warmup=warmup, seconds=seconds, min_steps=3, batch=cfg.batch, device=device)
        del it, dl
    return {"recipe": "original (DCGAN ngf=ndf=64, Linear(520,50) label, PNG + PIL + DataLoader(4 workers))", **res,
            "batch": cfg.batch, "images_on_disk": len(ds)}


def bench_fixed(*, classes, glyphs: np.ndarray, seconds: float, warmup: int,
                device: torch.device = torch.device("cpu"), amp: bool = True) -> dict:
    from ..config import resolve
    from ..models import build_discriminator, build_generator, init_weights
    from ..runtime import autocast_for
    from ..steps import ema_update, make_batch, train_step
    cfg = resolve("fixed", amp=amp)
    autocast, precision = autocast_for(device, cfg.amp)  # as train.py: bf16 where the hardware has it
    n = len(classes)
    mcfg = cfg.model_config(n)
    fmt = torch.channels_last
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    G.apply(init_weights); D.apply(init_weights)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    G, D, G_ema = (m.to(device, memory_format=fmt) for m in (G, D, G_ema))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    f, c, s, _ = glyphs.shape
    images = torch.from_numpy(glyphs.reshape(f * c, s, s)).to(device)               # (F*C, S, S) uint8
    labels = torch.arange(c).repeat(f).to(device)
    gen = torch.Generator().manual_seed(0)

    def step():
        real, y = make_batch(images, labels, batch=cfg.batch, gen=gen, strength=cfg.augment, fmt=fmt)
        train_step(G, D, opt_g, opt_d, real, y, cfg=cfg, n_classes=n, gen=gen, autocast=autocast)
        ema_update(G_ema, G, cfg.ema)
    res = _time_steps(step, warmup=warmup, seconds=seconds, min_steps=5, batch=cfg.batch, device=device)
    return {"recipe": f"fixed (proj cGAN ngf={cfg.ngf} ndf={cfg.ndf}, in-memory uint8, tensor augmentation, EMA, "
                      f"{precision})", **res, "batch": cfg.batch, "precision": precision}


def train_bench(args) -> dict:
    from ..data import load_source
    from ..hangul import seri95
    from ..runtime import pick_device
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    classes = seri95()
    data = load_source(args.data, classes=classes, size=64)
    f = len(data) // len(classes)
    assert f >= 1 and len(data) == f * len(classes), f"--data must hold every class equally often, got {len(data)} images"
    order = torch.argsort(data.labels, stable=True)                                  # class-major, faces in order
    glyphs = data.images[order].view(len(classes), f, 64, 64).transpose(0, 1).numpy()[: args.faces]  # (F, 520, 64, 64)
    fixed = bench_fixed(classes=classes, glyphs=glyphs, seconds=args.seconds, warmup=args.warmup, device=device,
                        amp=not args.fp32)
    orig = bench_original(classes=classes, glyphs=glyphs, seconds=args.seconds, warmup=args.warmup,
                          workers=args.workers, device=device)
    out = {"benchmark": "train", "device": str(device),
           "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
           "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
           "torch": torch.__version__, "fixed": fixed, "original": orig,
           "ratio": round(fixed["img_per_s"] / orig["img_per_s"], 2)}
    print(f"original recipe: {orig['img_per_s']:8.1f} img/s  ({orig['steps']} steps of {orig['batch']} in {orig['seconds']} s)")
    print(f"fixed preset:    {fixed['img_per_s']:8.1f} img/s  ({fixed['steps']} steps of {fixed['batch']} in {fixed['seconds']} s)")
    print(f"ratio fixed/original: {out['ratio']:.2f}x on {device}  (target >= 8x on 2 CPU cores at 64x64)")
    return out
