"""Faithfulness of a generated font: does the project's reader read the font as well as the bitmaps?

  OMP_NUM_THREADS=1 python scripts/font_fidelity.py --checkpoint checkpoints/fixed/epoch_186.safetensors \\
      --seed 0 --truncation 1 --syllables seri95

Builds the font with build_font, reopens it with fontTools (cmap, every syllable present),
renders every glyph with FreeType (PIL ImageFont) at an em of 64 px placed in the bitmap's cell
(the cell is the em square, so this is the bitmaps' own normalisation), regenerates the bitmaps
the font was traced from (same batches as build_font), and reads both with the classifier.
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
    ap.add_argument("--classifier", default="checkpoints/classifier/classifier.safetensors")
    ap.add_argument("--otf", action="store_true", help="check the CFF (.otf) build instead of TrueType")
    ap.add_argument("--keep", help="also copy the font here")
    args = ap.parse_args()

    import numpy as np
    import torch
    from fontTools.ttLib import TTFont
    from PIL import ImageFont

    from rekogan.checkpoints import load_generator
    from rekogan.classifier import features_and_logits, load_classifier
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

    reader, rmeta = load_classifier(args.classifier)
    readable = [s for s in written if s in rmeta["class_list"]]
    if len(readable) < len(written):
        print(f"note: the classifier knows {len(readable)} of the {len(written)} syllables; only those are read")
    keep = np.array([s in rmeta["class_list"] for s in written])
    target = torch.tensor([rmeta["class_list"].index(s) for s in readable])

    def read(dark_on_white: np.ndarray):
        white_on_black = torch.from_numpy(255 - dark_on_white[keep])   # the reader's convention
        _, logits = features_and_logits(reader, white_on_black)
        return logits.argmax(1)

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
