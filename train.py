"""Train ReKOGAN headless: python train.py --preset fixed --out runs/NAME [--FIELD VALUE ...]

Every field of rekogan.config.TrainConfig is an option (--epochs, --epoch-images, --batch, --lr-g,
--embed-dim, --data hgu1:PATH, --data packed:FILE, ...). --dry-run prints the resolved config and exits.
--resume continues the run in --out from its last complete epoch with its saved config.
Multi-GPU (or multi-process CPU): torchrun --nproc_per_node=N train.py ...
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from rekogan.commands.common import EXIT_USAGE, OneLineParser, user_error
from rekogan.config import PRESETS, TrainConfig, resolve

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def boolean(text: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (or 1/0, yes/no, on/off), got {text!r}")


def parse_args(argv=None):
    p = OneLineParser(prog="train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    p.add_argument("--preset", default="fixed", choices=sorted(PRESETS))
    p.add_argument("--out", help="run directory (default runs/<preset>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last complete epoch")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "preset":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, type=boolean, metavar="BOOL")
        else:
            typ = {"int": int, "float": float, "str": str}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)
            p.add_argument(flag, dest=f.name, type=typ, metavar=typ.__name__.upper())
    p.add_argument("--fonts", dest="fonts_dir", help="render training glyphs from the fonts in DIR (same as --data fonts:DIR)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        return _main(args)
    except (Exception, SystemExit) as e:
        msg = None if args.debug else user_error(e)
        if msg is None:
            raise
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(1 if isinstance(e, FloatingPointError) else EXIT_USAGE)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("error: interrupted; `--resume` continues from the last complete epoch", file=sys.stderr)
        sys.exit(130)


def _main(args):
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if f.name != "preset" and getattr(args, f.name, None) is not None}
    if args.fonts_dir:
        overrides["data"] = f"fonts:{args.fonts_dir}"
    try:
        cfg = resolve(args.preset, **overrides)
    except (AssertionError, ValueError, TypeError) as e:
        raise SystemExit(f"error: {e}") from e
    if args.dry_run:
        print(cfg.to_json())
        return
    from rekogan.training import train
    out = args.out or f"runs/{args.preset}"
    run = train(cfg, out, resume=args.resume, overrides=overrides)
    print(f"done: {run}")


if __name__ == "__main__":
    main()
