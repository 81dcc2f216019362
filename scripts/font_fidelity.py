"""Faithfulness of a generated font: does the project's reader read the font as well as the bitmaps?

  OMP_NUM_THREADS=1 python scripts/font_fidelity.py --checkpoint checkpoints/fixed/epoch_186.safetensors \\
      --seed 0 --truncation 1 --syllables seri95 --reader checkpoints/classifier/classifier.safetensors
  OMP_NUM_THREADS=1 python scripts/font_fidelity.py --checkpoint checkpoints/hangul/epoch_NNN.safetensors \\
      --seed 0 --truncation 1 --syllables ksx1001          # the component reader (any syllable)
  ... --size 64                                            # traced from the 64 px glyphs (before issue 23)
  ... --alternates 3                                       # each alternate read against its own bitmap

Builds the font with build_font, reopens it with fontTools (cmap, every syllable present),
renders every glyph with FreeType (PIL ImageFont) at an em of 64 px placed in the bitmap's cell
(the cell is the em square, so this is the bitmaps' own normalisation), regenerates the bitmaps
the font was traced from (same batches as build_font), and reads both with the project's reader
(--reader: the component reader by default, or the 520-class classifier file).
Target (issues 12, 23): the font's readability >= 98 % of the bitmaps'. Exit status 1 when missed.
--size (64, 128, 256; default 256, build_font's): the glyphs are traced from that size (enlarged by
the upscaler); the bitmaps read are always the generator's 64 px ones. Also printed: points per
glyph (glyf coordinates) and the staircase score at 256 px (smooth.staircase_score, period 4: the
share of the outline's edges on one phase of the 64 px grid; 1.0 = a pixel staircase, about 0.25-0.3
a smooth outline), and at 1024 px (the same for the 256 px grid a font traced from 256 px could follow).
--alternates N (--natural X): every alternate k is rendered through a copy of the font whose cmap
points at uniXXXX.altK and read against occurrence k's bitmap; the ratio is over all of them.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

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
    ap.add_argument("--size", type=int, default=256, choices=(64, 128, 256), help="pixels per glyph traced")
    ap.add_argument("--alternates", type=int, default=1, choices=(1, 2, 3, 4), help="glyphs per syllable, each read")
    ap.add_argument("--natural", type=float, default=None, help="the alternates' variation (default 0.45)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from fontTools.ttLib import TTFont
    from PIL import ImageFont

    from rekogan.checkpoints import load_generator
    from rekogan.conventions import READER_FILE
    from rekogan.reader import load_reader
    from rekogan.export import build as build_mod
    from rekogan.export.alternates import alt_name
    from rekogan.export.smooth import render_char, staircase_score
    from rekogan.sampling import seed_to_z

    n = args.alternates
    drawing = build_mod.check_drawing(size=64, alternates=n, natural=args.natural)  # the bitmaps traced, at 64 px
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("font.otf" if args.otf else "font.ttf")
        report = build_mod.build_font(checkpoint=args.checkpoint, seed=args.seed, truncation=args.truncation,
                                      syllables=args.syllables, out=out, size=args.size, alternates=n,
                                      natural=args.natural)
        written = list(report.written)
        font = TTFont(out)                       # reopens: a broken table raises here
        cmap = font.getBestCmap()
        absent = [s for s in written if ord(s) not in cmap]
        assert not absent, f"the font lacks {len(absent)} syllables it reported: {''.join(absent[:20])}"
        rendered = np.stack([_render_alternate(font, out, written, k, Path(tmp), alt_name, render_char, ImageFont)
                             for k in range(n)], axis=1)                              # (L, n, 64, 64)
        stair = {px: float(np.mean([staircase_score(render_char(ImageFont.truetype(str(out), px), s, px=px), period=4)
                                    for s in written[::10]])) for px in (256, 1024)}
        if not args.otf:
            glyf = font["glyf"]
            points = float(np.mean([len(glyf[g].getCoordinates(glyf)[0]) for g in font.getGlyphOrder()[3:]]))
        else:
            points = float("nan")
        if args.keep:
            Path(args.keep).write_bytes(out.read_bytes())

    g, meta = load_generator(args.checkpoint)
    classes = meta["class_list"]
    labels = torch.tensor([classes.index(s) for s in written], dtype=torch.int64)
    z = seed_to_z(args.seed, g.cfg.z_dim, truncation=args.truncation)
    bitmaps = np.concatenate(list(build_mod._bitmap_chunks(g, labels, z, None, drawing)))   # what build_font traced
    bitmaps = bitmaps.reshape(len(written), n, *bitmaps.shape[-2:])

    reader = load_reader(Path(args.reader or Path(__file__).resolve().parents[1] / READER_FILE))
    skip = set(reader.missing(written))
    readable = [s for s in written if s not in skip]
    if skip:
        print(f"note: the reader knows {len(readable)} of the {len(written)} syllables; only those are read")
    keep = np.array([s not in skip for s in written])
    target = torch.tensor([ord(s) - 0xAC00 for s in readable])   # readers answer a syllable index

    def read(dark_on_white: np.ndarray):
        white_on_black = torch.from_numpy(np.ascontiguousarray(255 - dark_on_white[keep]))   # the reader's convention
        with torch.inference_mode():
            return reader.read(white_on_black)[1]

    print(f"checkpoint {args.checkpoint}, seed {args.seed}, psi {args.truncation:g}, {args.syllables}, traced from "
          f"{args.size} px, {n} glyph(s) a syllable (natural {drawing.natural:g}): {len(readable)} syllables, "
          f"font {report.size_bytes / 1e6:.2f} MB ({report.size_bytes / len(written) / n:.0f} B/glyph), "
          f"{points:.0f} points/glyph, staircase at 256 px {stair[256]:.3f} (64 px grid), at 1024 px "
          f"{stair[1024]:.3f} (256 px grid; every 10th syllable)")
    hits_bitmap = hits_font = 0
    for k in range(n):
        got_bitmap, got_font = read(bitmaps[:, k]), read(rendered[:, k])
        hits_bitmap += int((got_bitmap == target).sum())
        hits_font += int((got_font == target).sum())
        agree = float(((rendered[:, k] < 128) == (bitmaps[:, k] < 128)).mean())
        changed = [s for s, a, b in zip(readable, got_bitmap.tolist(), got_font.tolist()) if a != b]
        name = "default glyphs" if k == 0 else f"alternate {k}"
        print(f"{name}: bitmaps read {float((got_bitmap == target).float().mean()):.2%}, font (FreeType 64) "
              f"{float((got_font == target).float().mean()):.2%}, ink pixels agreeing {agree:.2%}, read "
              f"differently: {len(changed)} {''.join(changed[:40])}")
    ratio = hits_font / hits_bitmap if hits_bitmap else float("nan")
    print(f"font / bitmaps: {ratio:.2%} (target >= 98 %: {'met' if ratio >= 0.98 else 'MISSED'})")
    return 0 if ratio >= 0.98 else 1


def _render_alternate(font, path: Path, written, k: int, tmp: Path, alt_name, render_char, image_font):
    """Every syllable's alternate k rendered by FreeType at 64 px, as render_char places a glyph: for
    k > 0 a copy of the font whose cmap points each syllable at its alternate k."""
    if k > 0:
        for table in font["cmap"].tables:
            table.cmap = {c: alt_name(g.split(".alt")[0], k) if g.startswith("uni") and c >= 0xAC00 else g
                          for c, g in table.cmap.items()}
        path = tmp / f"alt{k}{path.suffix}"
        font.save(str(path))
    pil = image_font.truetype(str(path), 64)
    return np.stack([render_char(pil, s, px=64) for s in written])


if __name__ == "__main__":
    sys.exit(main())
