"""`python -m rekogan import-original`: the original's model_save/ as a run folder."""
from __future__ import annotations

import argparse
import sys

from .importer import import_original
from .pth import EXIT_USAGE, OriginalImportError


# ---- command line ---------------------------------------------------------------------------

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `import-original DIR_OR_FILE --out checkpoints/NAME` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "import-original", help="import the original ReKOGAN's model_save/G_epoch_N.pth files as a run",
        description="Turn the original ReKOGAN's G_epoch_N.pth generator state dicts (a file, a model_save/ "
                    "folder, or the folder holding model_save/) into a run folder of epoch_NNN.safetensors "
                    "that the app and `python -m rekogan sheet` read. Files are read with "
                    "torch.load(weights_only=True) only; anything else in them is refused.")
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("source", metavar="DIR_OR_FILE", help="a G_epoch_N.pth file, model_save/, or its parent folder")
    p.add_argument("--out", required=True, metavar="DIR", help="the run folder to create, e.g. checkpoints/original")
    p.add_argument("--force", action="store_true", help="replace --out if it is a previous import-original run")
    p.add_argument("--epoch", type=int, default=None, metavar="N",
                   help="the epoch of a single file whose name is not G_epoch_N.pth")
    p.add_argument("--classes", default="seri95", metavar="SPEC",
                   help="the class list in label order (default seri95: the original's 520 classes)")
    p.add_argument("--fp32", action="store_true", help="store fp32 weights (default fp16, like trained runs)")


def run(args) -> int:
    """Run the command; bad input is one 'error: ...' line on stderr and exit status 2."""
    try:
        from ..hangul import parse_classes
        try:
            classes = parse_classes(args.classes)
        except (AssertionError, ValueError) as e:
            raise OriginalImportError(f"--classes: {e}") from None
        if args.epoch is not None and args.epoch < 0:
            raise OriginalImportError(f"--epoch must be >= 0, got {args.epoch}")
        res = import_original(args.source, out=args.out, classes=classes, force=args.force, epoch=args.epoch,
                              fp16=not args.fp32, log=print)
    except OriginalImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    s, eps = res.shape, [r["epoch"] for r in res.epochs]
    worst = max(r["stored_max_grey_levels"] for r in res.epochs)
    print(f"{'replaced' if res.replaced else 'wrote'} {res.out}: {len(eps)} epoch(s) {eps[0]}..{eps[-1]} of the original "
          f"ReKOGAN (embed_size {s.embed_size}, nz {s.nz}, ngf {s.ngf}, {s.num_classes} classes); stored weights "
          f"within {worst} grey level(s) of the original")
    print(f"no losses or evaluation yet: python -m rekogan evaluate {res.out} --write")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rekogan.original", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
