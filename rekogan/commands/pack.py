"""`python -m rekogan pack`: a data source prepared once into one compressed .npz, for training
where the fonts or raw files are not (a GPU machine, a Space): then train.py --data packed:FILE.

  python -m rekogan pack --data fonts --out data/fonts64.npz [--size 64 --classes seri95]
"""
from __future__ import annotations

from pathlib import Path

from .common import UsageError


def add_parser(subparsers):
    k = subparsers.add_parser("pack", help="prepare a data source once into one .npz (train with --data packed:FILE)",
                              description="Load a data source (fonts, fonts:DIR, hgu1:PATH, folder:PATH) as train.py "
                                          "would and write it, with its provenance, to one compressed .npz.")
    k.add_argument("--data", default="fonts", metavar="SPEC", help="the source, as train.py --data (default fonts)")
    k.add_argument("--out", required=True, metavar="FILE.npz")
    k.add_argument("--size", type=int, default=64, help="image size in pixels (default 64)")
    k.add_argument("--classes", default="seri95", help="'seri95' (default), a count n, or the syllables")
    return k


def run(args) -> int:
    from ..data import load_source
    from ..data.packed import save_packed
    from ..hangul import parse_classes
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out must name a .npz file, got {out}")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name such as {out / 'data.npz'}")
    try:
        classes = parse_classes(args.classes)
        data = load_source(args.data, classes=classes, size=args.size)
    except (AssertionError, ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    save_packed(out, data)
    mb = out.stat().st_size / 1e6
    print(f"packed {len(data)} images of {len(classes)} classes ({args.size}x{args.size}, "
          f"{len(data.group_names)} groups) from {args.data} into {out} ({mb:.1f} MB)")
    return 0
