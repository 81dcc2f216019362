"""`font`: a writer of a checkpoint as an installable font.

  python -m rekogan.export font --checkpoint checkpoints/fixed/epoch_186.safetensors \\
      --seed 0 --truncation 1 --syllables seri95 --out hand.ttf      # .otf: CFF, cubic outlines

  python -m rekogan font --checkpoint checkpoints/hangul/epoch_014.safetensors \
      --writer writer.json --syllables ksx1001 --out mine.ttf           # a hand learnt by `imitate`

  python -m rekogan font --checkpoint checkpoints/hangul/epoch_068.safetensors --seed 0 \\
      --syllables ksx1001 --alternates 3 --out hand.ttf   # 3 glyphs a syllable, cycled by `calt`

--syllables: seri95 (520), ksx1001 (2,350), all (11,172) or a text (its syllables). Syllables
the run cannot write are listed and left out. --size: pixels per glyph traced, 64, 128 or 256
(default 256: the glyph upscaler's glyphs). --alternates N (1-4): N glyphs per syllable, occurrences
of the hand at --natural (0-1, default 0.45 with alternates), which typed text cycles through
(OpenType calt and clig; salt and aalt pick one). --weight: stroke weight, for runs that have it
(with --writer it moves the writer's own weight). --writer: a writer.json from `imitate`, or
its code (rkw1....), instead of --seed. Bad input: one line `error: ...`, exit 2.

For a command registry: add_parser(subparsers) adds the command, run(args) -> exit status.
"""
from __future__ import annotations

import argparse
import math
import sys

EXIT_USAGE = 2
MAX_SEED = 2**31 - 1  # rekogan.sampling.MAX_SEED, not imported: keeps --help free of torch


class _UsageError(Exception):
    pass


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("font", help="a writer as an installable font (.ttf / .otf)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="epoch_NNN.safetensors")
    p.add_argument("--seed", help="the writer: an integer in 0..2^31-1")
    p.add_argument("--truncation", default="1.0", help="psi in [0, 1] (default 1: the writer as drawn)")
    p.add_argument("--writer", help="a fitted writer instead of --seed: writer.json from `imitate`, or its code")
    p.add_argument("--weight", help="stroke weight in standard deviations (-2 thin .. +2 bold), runs with a weight condition only")
    p.add_argument("--syllables", required=True, help="seri95, ksx1001, all, or a text")
    p.add_argument("--out", required=True, help="NAME.ttf (TrueType) or NAME.otf (CFF)")
    p.add_argument("--size", default="256", help="pixels per glyph traced: 64, 128 or 256 (default 256, upscaled)")
    p.add_argument("--alternates", default="1", help="glyphs per syllable, 1-4 (default 1), cycled by calt")
    p.add_argument("--natural", help="how much the alternates vary, 0-1 (default 0.45 with --alternates > 1)")
    p.add_argument("--processes", type=int, default=None, help="tracing processes (default: one per CPU)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _seed(text) -> int:
    try:
        seed = int(str(text).strip(), 10)
    except ValueError:
        raise _UsageError(f"--seed must be an integer in 0..{MAX_SEED}, got {text!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise _UsageError(f"--seed must be an integer in 0..{MAX_SEED}, got {seed}")
    return seed


def _number(text, name: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        bounds = f" in [{lo:g}, {hi:g}]" if lo is not None else ""
        raise _UsageError(f"{name} must be a number{bounds}, got {text!r}")
    return v


def _choice(text, name: str, allowed: tuple[int, ...]) -> int:
    try:
        v = int(str(text).strip(), 10)
    except ValueError:
        v = None
    if v not in allowed:
        shown = f"{allowed[0]}-{allowed[-1]}" if len(allowed) > 3 else ", ".join(map(str, allowed))
        raise _UsageError(f"{name} must be one of {shown}, got {text!r}")
    return v


def run(args) -> int:
    try:
        if args.writer is not None and args.seed is not None:
            raise _UsageError("give one writer: --seed S (and --truncation T) or --writer FILE, not both")
        if args.writer is None and args.seed is None:
            raise _UsageError("give the writer: --seed S (and --truncation T), or --writer FILE from `imitate`")
        seed = None if args.seed is None else _seed(args.seed)
        psi = _number(args.truncation, "--truncation", 0.0, 1.0)
        weight = None if args.weight is None else _number(args.weight, "--weight")
        size = _choice(args.size, "--size", (64, 128, 256))
        alternates = _choice(args.alternates, "--alternates", (1, 2, 3, 4))
        natural = None if args.natural is None else _number(args.natural, "--natural", 0.0, 1.0)
        if args.processes is not None and args.processes < 1:
            raise _UsageError(f"--processes must be at least 1, got {args.processes}")
        from .syllables import ExportError, check_out_path, syllable_set
        try:  # the cheap checks first: a typo is reported before torch and the checkpoint load
            syllable_set(args.syllables)
            check_out_path(args.out)
        except ExportError as e:
            raise _UsageError(str(e)) from None
        from .build import build_font
        bar = None

        def progress(done: int, total: int):
            nonlocal bar
            if args.no_progress:
                return
            if bar is None:  # opened on the first call, so bad input prints no empty bar first
                from tqdm import tqdm
                bar = tqdm(total=total, unit="glyph", desc="generating and tracing", file=sys.stderr)
            bar.update(done - bar.n)

        try:
            report = build_font(checkpoint=args.checkpoint, seed=seed, truncation=psi, writer=args.writer, weight=weight,
                                syllables=args.syllables, out=args.out, progress=progress,
                                processes=args.processes, size=size, alternates=alternates, natural=natural)
        except ExportError as e:
            raise _UsageError(str(e)) from None
        finally:
            if bar is not None:
                bar.close()
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    for line in report.lines():
        print(line)
    return 0

