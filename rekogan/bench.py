"""Benchmarks. `python -m rekogan.bench train` times training throughput (images per second) of
the fixed preset against the original ReKOGAN recipe, in the same process on the same machine:

  original: 64x64 DCGAN, ngf=ndf=64, one-hot -> Linear(520, 50) label (an Embedding is the same
            map), label broadcast as feature maps into D, BCE with 0.9 real labels, batch 128,
            a PNG folder (<root>/<b0a1>/*.png) decoded with PIL per sample by a DataLoader with
            4 workers, default (NCHW) memory format.
  fixed:    the project's `fixed` preset exactly as train.py runs it: dataset in memory as uint8,
            augmentation on tensors, projection cGAN step, EMA update, channels_last.

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


def _time_steps(step_fn, *, warmup: int, seconds: float, min_steps: int, batch: int) -> dict:
    for _ in range(warmup):
        step_fn()
    n, t0 = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - t0 < seconds:
        step_fn()
        n += 1
    dt = time.perf_counter() - t0
    return {"steps": n, "seconds": round(dt, 2), "img_per_s": round(n * batch / dt, 1)}


def _write_png_folder(root: Path, glyphs: np.ndarray, classes) -> int:
    """The original's layout: <root>/<euc-kr hex>/<i>.png, dark ink on white."""
    from PIL import Image
    from .hangul import euckr_hex
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
        from .hangul import euckr_hex
        self.items = [(p, i) for i, syl in enumerate(classes) for p in sorted((root / euckr_hex(syl)).glob("*.png"))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        p, y = self.items[i]
        img = np.asarray(Image.open(p).convert("L"), dtype=np.float32)            # (H, W)
        x = torch.from_numpy(255 - img).div(127.5).sub(1).unsqueeze(0)             # (1, H, W) white on black
        return x, y


def bench_original(*, classes, glyphs: np.ndarray, seconds: float, warmup: int, workers: int) -> dict:
    from .config import resolve
    from .models import build_discriminator, build_generator, init_weights
    from .training import train_step
    cfg = resolve("original50")
    n = len(classes)
    mcfg = cfg.model_config(n)
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    G.apply(init_weights); D.apply(init_weights)
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
            train_step(G, D, opt_g, opt_d, x, y, cfg=cfg, n_classes=n, gen=gen,
                       autocast=lambda: torch.autocast("cpu", enabled=False))
        res = _time_steps(step, warmup=warmup, seconds=seconds, min_steps=3, batch=cfg.batch)
        del it, dl
    return {"recipe": "original (DCGAN ngf=ndf=64, Linear(520,50) label, PNG + PIL + DataLoader(4 workers))", **res,
            "batch": cfg.batch, "images_on_disk": len(ds)}


def bench_fixed(*, classes, glyphs: np.ndarray, seconds: float, warmup: int) -> dict:
    from .config import resolve
    from .models import build_discriminator, build_generator, init_weights
    from .training import ema_update, make_batch, train_step
    cfg = resolve("fixed")
    n = len(classes)
    mcfg = cfg.model_config(n)
    fmt = torch.channels_last
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    G.apply(init_weights); D.apply(init_weights)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    G, D, G_ema = (m.to(memory_format=fmt) for m in (G, D, G_ema))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    f, c, s, _ = glyphs.shape
    images = torch.from_numpy(glyphs.reshape(f * c, s, s))                          # (F*C, S, S) uint8
    labels = torch.arange(c).repeat(f)
    gen = torch.Generator().manual_seed(0)

    def step():
        real, y = make_batch(images, labels, batch=cfg.batch, gen=gen, strength=cfg.augment, fmt=fmt)
        train_step(G, D, opt_g, opt_d, real, y, cfg=cfg, n_classes=n, gen=gen,
                   autocast=lambda: torch.autocast("cpu", enabled=False))
        ema_update(G_ema, G, cfg.ema)
    res = _time_steps(step, warmup=warmup, seconds=seconds, min_steps=5, batch=cfg.batch)
    return {"recipe": f"fixed (proj cGAN ngf={cfg.ngf} ndf={cfg.ndf}, in-memory uint8, tensor augmentation, EMA)",
            **res, "batch": cfg.batch}


def train_bench(args) -> dict:
    from .data.fonts import load_fonts
    from .hangul import seri95
    torch.set_num_threads(args.threads)
    classes = seri95()
    glyphs, faces, _ = load_fonts(classes=classes, size=64)
    glyphs = glyphs[: args.faces]                                                   # (F, 520, 64, 64)
    fixed = bench_fixed(classes=classes, glyphs=glyphs, seconds=args.seconds, warmup=args.warmup)
    orig = bench_original(classes=classes, glyphs=glyphs, seconds=args.seconds, warmup=args.warmup, workers=args.workers)
    out = {"benchmark": "train", "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
           "torch": torch.__version__, "fixed": fixed, "original": orig,
           "ratio": round(fixed["img_per_s"] / orig["img_per_s"], 2)}
    print(f"original recipe: {orig['img_per_s']:8.1f} img/s  ({orig['steps']} steps of {orig['batch']} in {orig['seconds']} s)")
    print(f"fixed preset:    {fixed['img_per_s']:8.1f} img/s  ({fixed['steps']} steps of {fixed['batch']} in {fixed['seconds']} s)")
    print(f"ratio fixed/original: {out['ratio']:.2f}x  (target >= 8x on 2 CPU cores at 64x64)")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m rekogan.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="training img/s: fixed preset vs the original recipe")
    t.add_argument("--seconds", type=float, default=30.0, help="timed seconds per recipe (after warm-up)")
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--faces", type=int, default=8, help="font faces written to the PNG folder (x520 files)")
    t.add_argument("--workers", type=int, default=4, help="DataLoader workers of the original recipe")
    t.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", help="also write the result to this JSON file")
    args = p.parse_args(argv)
    res = train_bench(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
