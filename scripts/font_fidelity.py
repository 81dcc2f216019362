"""Faithfulness of a generated font: does the project's reader read the font as well as the bitmaps?

  OMP_NUM_THREADS=1 python scripts/font_fidelity.py --checkpoint checkpoints/fixed/epoch_186.safetensors \\
      --seed 0 --truncation 1 --syllables seri95 --reader checkpoints/classifier/classifier.safetensors
  OMP_NUM_THREADS=1 python scripts/font_fidelity.py --checkpoint checkpoints/hangul/epoch_NNN.safetensors \\
      --seed 0 --truncation 1 --syllables ksx1001          # the component reader (any syllable)

Builds the font with build_font, reopens it with fontTools (cmap, every syllable present),
renders every glyph with FreeType (PIL ImageFont) at an em of 64 px placed in the bitmap's cell
(the cell is the em square, so this is the bitmaps' own normalisation), regenerates the bitmaps
the font was traced from (same batches as build_font), and reads both with the project's reader
(--reader: the component reader by default, or the 520-class classifier file).
Target (issue 12): the font's readability >= 98 % of the bitmaps'. Exit status 1 when missed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truncation", type=float, default=1.0)
    ap.add_argument("--syllables", default="seri95")
    ap.add_argument("--reader", default=None, help="reader file (default: the component reader, any syllable)")
    ap.add_argument("--otf", action="store_true", help="check the CFF (.otf) build instead of TrueType")
    ap.add_argument("--keep", help="also copy the font here")
    args = ap.parse_args()

    import numpy as np
    import torch
    from fontTools.ttLib import TTFont
    from PIL import ImageFont

    from rekogan.checkpoints import load_generator
    from rekogan.conventions import READER_FILE
    from rekogan.reader import load_reader
    from rekogan.export import build as build_mod
    from rekogan.export.smooth import render_char
    from rekogan.sampling import seed_to_z

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("font.otf" if args.otf else "font.ttf")
        report = build_mod.build_font(checkpoint=args.checkpoint, seed=args.seed, truncation=args.truncation,
                                      syllables=args.syllables, out=out)
        written = list(report.written)
        font = TTFont(out)                       # reopens: a broken table raises here
        cmap = font.getBestCmap()
        absent = [s for s in written if ord(s) not in cmap]
        assert not absent, f"the font lacks {len(absent)} syllables it reported: {''.join(absent[:20])}"
        pil = ImageFont.truetype(str(out), 64)
        rendered = np.stack([render_char(pil, s, px=64) for s in written])
        if args.keep:
            Path(args.keep).write_bytes(out.read_bytes())

    g, meta = load_generator(args.checkpoint)
    classes = meta["class_list"]
    labels = torch.tensor([classes.index(s) for s in written], dtype=torch.int64)
    z = seed_to_z(args.seed, g.cfg.z_dim, truncation=args.truncation)
    bitmaps = np.concatenate(list(build_mod._bitmap_chunks(g, labels, z, None)))  # what build_font traced

    reader = load_reader(Path(args.reader or Path(__file__).resolve().parents[1] / READER_FILE))
    skip = set(reader.missing(written))
    readable = [s for s in written if s not in skip]
    if skip:
        print(f"note: the reader knows {len(readable)} of the {len(written)} syllables; only those are read")
    keep = np.array([s not in skip for s in written])
    target = torch.tensor([ord(s) - 0xAC00 for s in readable])   # readers answer a syllable index

    def read(dark_on_white: np.ndarray):
        white_on_black = torch.from_numpy(255 - dark_on_white[keep])   # the reader's convention
        with torch.inference_mode():
            return reader.read(white_on_black)[1]

    got_bitmap, got_font = read(bitmaps), read(rendered)
    r_bitmap = float((got_bitmap == target).float().mean())
    r_font = float((got_font == target).float().mean())
    agree = float(((rendered < 128) == (bitmaps < 128)).mean())
    ratio = r_font / r_bitmap if r_bitmap else float("nan")
    print(f"checkpoint {args.checkpoint}, seed {args.seed}, psi {args.truncation:g}, {args.syllables}: "
          f"{len(readable)} glyphs, font {report.size_bytes / 1e6:.2f} MB")
    print(f"readability of the bitmaps:           {r_bitmap:.2%}")
    print(f"readability of the font (FreeType 64): {r_font:.2%}")
    print(f"font / bitmaps: {ratio:.2%} (target >= 98 %: {'met' if ratio >= 0.98 else 'MISSED'})")
    print(f"ink pixels agreeing, font vs bitmap:   {agree:.2%}")
    changed = [s for s, a, b in zip(readable, got_bitmap.tolist(), got_font.tolist()) if a != b]
    print(f"read differently in font and bitmap: {len(changed)} {''.join(changed[:40])}")
    return 0 if ratio >= 0.98 else 1


if __name__ == "__main__":
    sys.exit(main())
