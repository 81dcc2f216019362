"""Benchmark: CPU time of tracing glyphs for a font (rekogan.export.trace), and the share of it spent
reading vtracer's SVG.

  OMP_NUM_THREADS=1 python scripts/bench_trace.py --checkpoint checkpoints/hangul/epoch_068.safetensors --glyphs 500

N glyphs of one writer (seed 0, classes evenly spaced over the run's list) are generated once; then,
--repeats times, (a) trace() on all of them and (b) parse_vtracer_svg() alone on their SVGs from
vtracer (made once, outside the timing). CPU time of this process (time.process_time), not wall
time, so a machine shared with other work gives comparable figures; the best repeat is printed.
To compare with another version of rekogan/export/trace.py, run this script from that tree
(e.g. `git archive COMMIT | tar -x -C /tmp/old`, then python /tmp/old/scripts/bench_trace.py ...).
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--glyphs", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch
    import vtracer
    from PIL import Image
    from rekogan.checkpoints import load_generator
    from rekogan.export import trace as tr
    from rekogan.sampling import generate, seed_to_z, to_uint8

    torch.set_num_threads(1)
    g, meta = load_generator(args.checkpoint)
    n_classes = len(meta["class_list"])
    idx = torch.linspace(0, n_classes - 1, min(args.glyphs, n_classes)).round().long()
    bitmaps = to_uint8(generate(g, idx, seed_to_z(0, g.cfg.z_dim, truncation=1.0))).numpy()

    svgs = []
    for b in bitmaps:   # what trace() hands vtracer (the whole upscaled cell; trace() crops it first)
        buf = io.BytesIO()
        Image.fromarray(tr.prepare(b)).save(buf, format="BMP")
        svgs.append(vtracer.convert_raw_image_to_svg(buf.getvalue(), img_format="bmp",
                                                     filter_speckle=tr.UPSCALE, **tr.VTRACER_OPTS))
    segments = sum(len(c) for s in svgs for c in tr.parse_vtracer_svg(s))

    def best(fn) -> float:
        times = []
        for _ in range(args.repeats):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        return min(times)

    t_trace = best(lambda: [tr.trace(b) for b in bitmaps])
    t_parse = best(lambda: [tr.parse_vtracer_svg(s) for s in svgs])
    n = len(bitmaps)
    print(f"{n} glyphs of {Path(args.checkpoint).name} (seed 0), {segments:,} segments; best of {args.repeats}, CPU time:")
    print(f"  trace (upscale, vtracer, parse, orient): {t_trace:.2f} s, {1e3 * t_trace / n:.2f} ms/glyph")
    print(f"  parse_vtracer_svg alone:                 {t_parse:.2f} s, {1e3 * t_parse / n:.2f} ms/glyph "
          f"({t_parse / t_trace:.0%} of trace)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
