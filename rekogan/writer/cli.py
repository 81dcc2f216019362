"""`imitate`: fit a writer to handwritten samples and save it as writer.safetensors (or writer.json).

  python -m rekogan imitate --checkpoint checkpoints/fixed/epoch_186.safetensors \\
      --samples my_hand.png --text "가나다라" --out writer.safetensors [--preview fit.png]
  python -m rekogan.writer imitate ...    (the same command)

--samples: one picture of a row or grid (the text's lines are its rows), a folder of pictures
(name order, or named by syllable: 가.png), or several pictures. Bad input: one line
`error: ...`, exit status 2. For a command registry: add_parser(subparsers), run(args) -> int.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .adapter import KINDS

EXIT_USAGE = 2


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("imitate", help="fit a writer to your handwritten syllables (writer.safetensors)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="a generator checkpoint (epoch_NNN.safetensors)")
    p.add_argument("--samples", required=True, nargs="+", metavar="DIR_OR_IMAGE",
                   help="one picture of a row/grid, a folder of pictures, or one picture per syllable")
    p.add_argument("--text", required=True, help="the syllables the samples show, in order (lines = rows of a grid)")
    p.add_argument("--out", required=True, metavar="FILE", help="the writer file to write: NAME.safetensors (latents + adapter, fp16), "
                                                              "or NAME.json (the older format: the code and its origin)")
    p.add_argument("--preview", metavar="PNG", help="also write your glyphs over the fitted ones as a PNG")
    p.add_argument("--latent", choices=("layers", "z"), default=None, help="per-layer latents or one z (default: FitConfig's)")
    p.add_argument("--adapter", choices=KINDS, default=None,
                   help="adapt the generator's layers to your hand after the latent (default: FitConfig's)")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="optimisation steps per stage (default: FitConfig's)")
    p.add_argument("--fit", action="append", default=[], metavar="KEY=VALUE",
                   help="a FitConfig field over the run's defaults (its fit.json, if any), e.g. read=0.1; repeatable")
    p.add_argument("--reader", metavar="PATH", help="reader file for the feature loss (default: the component reader, "
                                                    "else the 520-class classifier)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .errors import WriterError
    from ..checkpoints import CheckpointError
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise WriterError(f"--threads must be at least 1, got {args.threads}")
            import torch
            torch.set_num_threads(args.threads)
        if args.steps is not None and args.steps < 0:
            raise WriterError(f"--steps must be >= 0, got {args.steps}")
        ckpt = Path(args.checkpoint)
        if not ckpt.is_file():
            raise WriterError(f"checkpoint not found: {ckpt}")
        out = Path(args.out)
        if out.is_dir():
            raise WriterError(f"--out {out} is a folder; give a file name such as writer.json")
        from ..checkpoints import load_generator
        from .api import imitate
        from .fit import FitConfig
        G, meta = load_generator(ckpt)
        try:
            cfg = FitConfig.overrides(args.fit)        # over the run's fit.json (api.fit_config)
        except ValueError as e:
            raise WriterError(str(e)) from None
        if args.latent:
            cfg["latent"] = args.latent
        if args.adapter:
            cfg["adapter"] = args.adapter
        if args.steps is not None:
            cfg["steps_z"] = cfg["steps_layers"] = args.steps
        samples = args.samples[0] if len(args.samples) == 1 else list(args.samples)
        result = imitate(samples, args.text, generator=G, meta=meta, checkpoint=str(ckpt), reader=args.reader, config=cfg)
    except (WriterError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    result.writer.save(out)
    if args.preview:
        from PIL import Image
        Image.fromarray(result.pair.numpy(), mode="L").save(args.preview)
    w = result.writer
    print(f"fitted a writer to {len(w.syllables)} syllable(s) ({w.syllables}) in {result.seconds:.1f} s: "
          f"SSIM {w.losses['ssim']:.3f} on your glyphs; wrote {out}")
    from .fit import run_defaults
    defaults = run_defaults(ckpt)                    # read (and checked) by imitate already
    if defaults.path is not None:
        print(f"fit settings: the run's defaults ({defaults.describe()}) with this command's on top")
    if w.generator:
        from .value import tag_run
        print(f"started from the run's style encoder; this writer is drawn by run '{tag_run(w.generator)}' only")
    print(f"code: {w.code}")
    return 0

