"""`python -m rekogan upscaler train|test` and `python -m rekogan upscale`: the x4 glyph upscaler.

  python -m rekogan upscaler train --out runs/upscaler [--minutes M] [--epochs E] [--threads 1]
  python -m rekogan upscaler train --out runs/upscaler --resume [--minutes M] [--epochs E]
  python -m rekogan upscaler test [--checkpoint checkpoints/upscaler/upscaler.safetensors]
  python -m rekogan upscaler pack --out .gpu/upscale.npz     # then, where the fonts are not (a lent GPU):
  python -m rekogan upscaler train --data .gpu/upscale.npz --device cuda --out runs/upscaler_gpu --minutes 8
  python -m rekogan upscale IN_DIR --out OUT_DIR [--size 128|256] [--checkpoint FILE]

`upscaler train` trains on pairs from the training faces (rekogan/upscale/train.py); on a busy
shared CPU one thread is several times faster than two (OpenMP threads wait on each other).
`upscaler test` prints the fidelity on the 8 held-out faces against bicubic, and what the
upscaler does to the shipped runs' glyphs (grey share, readability); it writes nothing.
`upscale` reads the 64 px PNGs of a folder named as `python -m rekogan sheet` names them
(AC00.png for 가: the code point in upper-case hex; AC00-1.png, AC00-2.png ... from `sheet
--variants N`), dark ink on white, and writes each one
enlarged under the same name in OUT_DIR, atomically.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path

from .common import UsageError

PNG_NAME = re.compile(r"^[0-9A-F]{4,6}(-[1-9][0-9]*)?\.png$")   # sheet.png_name: the code point in upper-case
                                                                 # hex, and `sheet --variants`' -1, -2, ...


def add_parser(subparsers):
    p = subparsers.add_parser("upscaler", help="train or test the x4 glyph upscaler (upscaler train|test)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="upscaler_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train the upscaler on the training faces (resumable)")
    t.add_argument("--out", default="runs/upscaler", metavar="DIR", help="the run folder (default runs/upscaler)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last state")
    t.add_argument("--minutes", type=float, default=None, metavar="M",
                   help="stop after M minutes (the state is saved; resume later with --resume)")
    t.add_argument("--epochs", type=int, default=None, metavar="E", help="planned epochs (default 16)")
    t.add_argument("--epoch-steps", type=int, default=None, metavar="N", help="steps per epoch (default 250)")
    t.add_argument("--batch", type=int, default=None, metavar="B", help="glyphs per step (default 16)")
    t.add_argument("--syllables", type=int, default=None, metavar="N",
                   help="KS X 1001 syllables drawn by every training face (default 128)")
    t.add_argument("--init", default=None, metavar="FILE",
                   help="fine-tune: start from this upscaler file (e.g. checkpoints/upscaler/upscaler.safetensors)")
    t.add_argument("--lr", type=float, default=None, metavar="LR", help="peak learning rate (default 0.002)")
    t.add_argument("--consistency", type=float, default=None, metavar="W",
                   help="weight of the keeps-the-glyph loss: the output reduced to 64 px against the clean input "
                        "(default 0)")
    t.add_argument("--keep", type=float, default=None, metavar="W",
                   help="weight of the same loss against the input as given, degradations included (default 0)")
    t.add_argument("--smudge", type=float, default=None, metavar="S",
                   help="the strongest smudge beside strokes among the degradations (default 0.5)")
    t.add_argument("--level-min", type=float, default=None, metavar="L",
                   help="the faintest overall stroke level among the degradations (default 0.55)")
    t.add_argument("--grid", type=float, default=None, metavar="G",
                   help="the strongest checkered texture among the degradations (default 0: none)")
    t.add_argument("--keep-content", type=float, default=None, metavar="W",
                   help="weight of the readers' loss (--content-loss) between generated glyphs at 64 px and their "
                        "served upscaled versions reduced back (fine-tuning; default 0: off)")
    t.add_argument("--content-grey", type=float, default=None, metavar="W",
                   help="with --keep-content: weight of the generated glyphs' grey output at 256 px (default 0)")
    t.add_argument("--content-loss", default=None, choices=("kl", "margin"),
                   help="with --keep-content: the readers' KL (default) or a margin hinge on their own answer")
    t.add_argument("--content-margin", type=float, default=None, metavar="M",
                   help="with --content-loss margin: the lead in logits the input's reading keeps (default 2)")
    t.add_argument("--content-batch", type=int, default=None, metavar="N",
                   help="generated glyphs per run and step for --keep-content (default 8)")
    t.add_argument("--content-sharpness", type=float, default=None, metavar="K",
                   help="with --keep-content: the sharpness the output is served at (back-projection and output; "
                        "default 1.6): train at the sharpness the file will be shipped with")
    t.add_argument("--content-pool", type=int, default=None, metavar="N",
                   help="with --keep-content: generated glyphs per run in the pool, drawn once (default 8192)")
    t.add_argument("--content-hard", type=float, default=None, metavar="SHARE",
                   help="with --keep-content: the share (0..1) of each step's generated glyphs drawn from those the "
                        "reader reads with a lead below --content-hard-lead at 64 px (default 0: off)")
    t.add_argument("--content-hard-lead", type=float, default=None, metavar="L",
                   help="with --content-hard: a hard glyph's reading leads by less than L logits (default 1)")
    t.add_argument("--haze", type=float, default=None, metavar="H",
                   help="the strongest grey haze between nearby strokes among the degradations (default 0: none)")
    t.add_argument("--blur", type=float, default=None, metavar="S",
                   help="a heavy blur (sigma 1..S, checkered) among the degradations (default 0: none)")
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0 = all cores)")
    t.add_argument("--data", default=None, metavar="PACK",
                   help="train on a pack (`upscaler pack`) instead of the installed fonts: where the fonts are not")
    t.add_argument("--device", default="cpu", help="where the network trains: cpu (default), cuda, cuda:N")
    k = sub.add_parser("pack", help="the training data (fonts at 256 px, the held-out probe, the content pool) in one file")
    k.add_argument("--out", required=True, metavar="FILE.npz")
    k.add_argument("--syllables", type=int, default=None, metavar="N", help="syllables per face (default: train's)")
    k.add_argument("--content-pool", type=int, default=None, metavar="N",
                   help="generated glyphs per content run (default: train's; 0: none, for runs without keep_content)")
    k.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    e = sub.add_parser("test", help="fidelity on the held-out faces and effect on generated glyphs (prints)")
    e.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="an upscaler file (default checkpoints/upscaler/upscaler.safetensors)")
    e.add_argument("--syllables", type=int, default=200, metavar="N", help="held-out faces x N syllables (default 200)")
    e.add_argument("--generated", type=int, default=500, metavar="N",
                   help="syllables per generated run, 8 writers each (default 500; 0 skips the runs)")
    e.add_argument("--runs", default="checkpoints/fixed,checkpoints/hangul", metavar="DIRS",
                   help="the generator runs to measure, comma-separated (default the shipped fixed and hangul)")
    e.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    u = subparsers.add_parser("upscale", help="enlarge a folder of 64 px glyph PNGs (as `sheet` writes them)",
                              description="Enlarge every 64 px PNG of IN_DIR named as `python -m rekogan sheet` names "
                                          "them (AC00.png ...), dark ink on white, into OUT_DIR under the same names.")
    u.add_argument("in_dir", metavar="IN_DIR", help="a folder of 64 x 64 PNGs named by code point (AC00.png)")
    u.add_argument("--out", required=True, metavar="OUT_DIR", help="folder for the enlarged PNGs (created if missing)")
    u.add_argument("--size", default="256", choices=("128", "256"), help="pixels per glyph side (default 256)")
    u.add_argument("--checkpoint", default=None, metavar="FILE", help="an upscaler file (default the shipped one)")
    return p


def run(args) -> int:
    import torch
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    if args.command == "upscale":
        return _upscale_folder(args)
    if args.upscaler_command == "train":
        return _train(args)
    if args.upscaler_command == "pack":
        return _pack(args)
    return _test(args)


def _pack(args) -> int:
    from ..upscale.pack import make_pack
    from ..upscale.train import TrainConfig
    out = Path(args.out)
    if out.suffix != ".npz" or out.is_dir():
        raise UsageError(f"--out must name a .npz file, got {out}")
    base = TrainConfig()
    syllables = base.syllables if args.syllables is None else args.syllables
    pool = base.content_pool if args.content_pool is None else args.content_pool
    if syllables < 1 or pool < 0:
        raise UsageError("--syllables must be above 0 and --content-pool 0 or more")
    try:
        make_pack(out, syllables=syllables, content_runs=list(base.content_runs), content_pool=pool, seed=base.seed,
                  log=lambda s: print(s, flush=True))
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(f"packed into {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def _load(path):
    from ..checkpoints import CheckpointError
    from ..upscale import load
    try:
        return load(path)
    except CheckpointError as e:
        raise UsageError(str(e)) from None


def _train(args) -> int:
    from ..upscale.train import TrainConfig, train
    for name in ("minutes", "epochs", "epoch_steps", "batch", "syllables", "lr", "content_batch", "content_sharpness",
                 "content_pool", "content_hard_lead"):
        v = getattr(args, name)
        if v is not None and not v > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be above 0, got {v}")
    for name in ("consistency", "keep", "smudge", "level_min", "grid", "haze", "blur", "keep_content", "content_grey",
                 "content_margin"):
        v = getattr(args, name)
        if v is not None and not v >= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be 0 or more, got {v}")
    if args.content_hard is not None and not 0 <= args.content_hard <= 1:
        raise UsageError(f"--content-hard must be a share in [0, 1], got {args.content_hard}")
    if args.init is not None and not Path(args.init).is_file():
        raise UsageError(f"--init {args.init} is not a file")
    names = ("epochs", "epoch_steps", "batch", "syllables", "lr", "consistency", "keep", "smudge", "level_min",
             "grid", "haze", "blur", "init", "keep_content", "content_batch", "content_grey",
             "content_loss", "content_margin", "content_sharpness", "content_pool", "content_hard", "content_hard_lead")
    over = {k: v for k in names if (v := getattr(args, k)) is not None}
    if args.resume:
        if set(over) - {"epochs"}:
            raise UsageError("--resume continues the run as configured; only --epochs and --minutes may change")
        cfg = TrainConfig(epochs=over["epochs"]) if over else None      # train() takes only the epochs from it
    else:
        cfg = TrainConfig(**over)
    data = {}
    if args.data is not None:
        from ..upscale.pack import load_pack
        if not Path(args.data).is_file():
            raise UsageError(f"--data {args.data} is not a file (make one with `python -m rekogan upscaler pack`)")
        try:
            data = load_pack(args.data)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.syllables is not None and args.syllables != len(data["glyphs"].syllables):
            raise UsageError(f"--syllables {args.syllables}: the pack holds {len(data['glyphs'].syllables)}")
        key = data["pool_key"]
        if args.content_pool is not None and key is not None and args.content_pool != key[1]:
            raise UsageError(f"--content-pool {args.content_pool}: the pack's pool holds {key[1]} glyphs per run")
        if cfg is not None and not args.resume:       # the pack's syllables and pool size are the run's
            cfg = replace(cfg, syllables=len(data["glyphs"].syllables), **({"content_pool": key[1]} if key else {}))
    import torch
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: no CUDA device here")
    try:
        train(args.out, cfg=cfg, resume=args.resume, minutes=args.minutes, device=args.device,
              log=lambda s: print(s, flush=True), **data)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def _test(args) -> int:
    from ..conventions import CLASSIFIER_FILE, READER_FILE
    from ..reader import load_reader
    from ..upscale.evaluate import fidelity, generated
    up = _load(args.checkpoint)
    print(f"upscaler {up.path} (epoch {up.info['epoch']}, step {up.info['step']}, sharpness {up.sharpness:g}, "
          f"back-projection {up.keep_steps} x {up.keep_gain:g})",
          flush=True)
    f = fidelity(up, syllables=args.syllables)
    print(f"held-out faces ({len(f['faces'])}) x {f['syllables']} syllables = {f['glyphs']} glyphs, 64 px made by "
          f"reducing the 256 px rendering; truth grey share {f['rows']['truth']['grey']:.3f} "
          f"(at 128 px {f['rows']['truth']['grey_128']:.3f})")
    print(f"  {'':24s} {'ink IoU':>8s} {'L1':>8s} {'grey':>6s}")
    for name, r in f["rows"].items():
        if name != "truth":
            print(f"  {name:24s} {r['iou']:8.4f} {r['l1']:8.4f} {r['grey']:6.3f}")
    print(f"  1 - IoU: upscaler / bicubic-then-threshold = {f['error_ratio']:.3f} (target <= 0.5); at 128 px, "
          f"as size=128 is drawn ({'the fast x2 network' if up.x2 is not None else 'the 128 px head'}): "
          f"{f['error_ratio_128']:.3f}")
    print("  by sharpness (the upscaler at 256 px, L1 / grey): " + ", ".join(
        f"{k:g}: {r['l1']:.4f} / {r['grey']:.3f}" for k, r in f["sweep"].items()))
    for face, r in f["per_face"].items():
        print(f"    {face:20s} bicubic-threshold {r['bicubic_threshold_iou']:.4f}  upscaler {r['upscaler_iou']:.4f}")
    if args.generated:
        for run_dir in [r for r in args.runs.split(",") if r]:
            path = Path(run_dir)
            if not path.is_dir():
                raise UsageError(f"--runs: {path} is not a folder")
            reader = load_reader(CLASSIFIER_FILE if not (path / "split.json").is_file() else READER_FILE)
            g = generated(up, run_dir=path, reader=reader, syllables=args.generated)
            print(f"{g['run']} ({g['checkpoint']}, {g['seeds']} writers x {g['syllables']} syllables, {g['reader']} "
                  f"reader): grey share at 256 px {g['grey_upscaler_256']:.3f} (bicubic {g['grey_bicubic_256']:.3f}); "
                  f"readability 64 px {g['readability_64']:.2%}, upscaled and reduced back "
                  f"{g['readability_upscaled']:.2%} ({(g['readability_upscaled'] - g['readability_64']) * 100:+.2f} points; "
                  f"bicubic-then-threshold {g['readability_bicubic_threshold']:.2%}); "
                  "grey share by sharpness " + ", ".join(f"{k:g}: {v:.3f}" for k, v in g["grey_by_sharpness"].items()),
                  flush=True)
            print(f"  at 128 px (reduced back 2 x 2): as size=128 is drawn ({g['served_128_by']}) readability "
                  f"{g['readability_128_served']:.2%} ({(g['readability_128_served'] - g['readability_64']) * 100:+.2f} "
                  f"points), grey share {g['grey_128_served']:.3f}; the x4 network's 128 px head "
                  f"{g['readability_128_x4_head']:.2%} ({(g['readability_128_x4_head'] - g['readability_64']) * 100:+.2f} "
                  f"points), grey share {g['grey_128_x4_head']:.3f}", flush=True)
    return 0


def _read_glyph(path: Path):
    """A 64 x 64 PNG, dark ink on white -> (64, 64) uint8 white ink on black; UsageError otherwise."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.load()
            grey = np.asarray(im.convert("L"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise UsageError(f"{path} is not a readable PNG ({e})") from None
    if grey.shape != (64, 64):
        raise UsageError(f"{path} is {grey.shape[1]}x{grey.shape[0]} pixels; the upscaler takes 64x64 glyphs "
                         "(as `python -m rekogan sheet` writes them)")
    return 255 - grey


def _upscale_folder(args) -> int:
    import numpy as np
    import torch
    from PIL import Image
    from ..records import atomic_path
    src, out, size = Path(args.in_dir), Path(args.out), int(args.size)
    if not src.is_dir():
        raise UsageError(f"IN_DIR {src} is not a folder")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    names = sorted(p.name for p in src.iterdir() if PNG_NAME.match(p.name) and p.is_file())
    if not names:
        raise UsageError(f"{src} holds no glyph PNGs named as `python -m rekogan sheet` names them (e.g. AC00.png)")
    if out.resolve() == src.resolve():
        raise UsageError("--out must be another folder than IN_DIR (the 64 px glyphs would be overwritten)")
    glyphs = np.stack([_read_glyph(src / n) for n in names])      # every file checked before one is written
    up = _load(args.checkpoint)
    big = up.upscale(torch.from_numpy(glyphs), size=size)
    out.mkdir(parents=True, exist_ok=True)
    for name, img in zip(names, big):
        with atomic_path(out / name) as tmp:
            Image.fromarray(255 - img.numpy(), mode="L").save(tmp, format="PNG")
    print(f"wrote {len(names)} PNG{'s' if len(names) != 1 else ''} ({size}x{size}) to {out}")
    return 0
