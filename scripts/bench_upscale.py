"""Speed of the glyph upscaler: a batch of 20 glyphs (one line) at 128 and 256 px, 1 and 2 threads.

    python scripts/bench_upscale.py [--checkpoint checkpoints/upscaler/upscaler.safetensors]
                                    [--generator checkpoints/hangul/epoch_068.safetensors] [--reps 30]

Prints, per thread count, the median and the fastest of --reps timed calls (after 3 warm-up
calls) of `GlyphUpscaler.upscale` on 20 glyphs (uint8 in, uint8 out), and of the generator's
forward pass for the same 20 syllables, and their sum: the line's glyphs at that size. The
fastest call is what the CPU does when no other process is running; the median is what a shared
machine gave. The 1-minute load average is printed with each row, since both depend on it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

LINE = "다람쥐 헌 쳇바퀴에 타고파 동해 물과 백두산이 마"   # 20 syllables (and spaces)


def _times(fn, reps: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts), min(ts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="an upscaler file (default the shipped one)")
    p.add_argument("--generator", default="checkpoints/hangul/epoch_068.safetensors",
                   help="a generator that can write the line (default the hangul run's best epoch)")
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args()
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import generate, seed_to_z
    from rekogan.upscale import load
    from rekogan.upscale.model import count_macs
    up = load(args.checkpoint)
    G, meta = load_generator(args.generator)
    syllables = [c for c in LINE if not c.isspace()]
    assert len(syllables) == 20, len(syllables)
    labels = torch.tensor([meta["class_list"].index(s) for s in syllables])
    z = seed_to_z(7, G.cfg.z_dim, truncation=0.8)
    glyphs = ((generate(G, labels, z) + 1) * 127.5).round().to(torch.uint8)[:, 0]     # white ink on black
    print(f"upscaler {up.path}: {count_macs(up.model) / 1e6:.0f} M multiply-adds per glyph at 256 px; "
          f"generator {args.generator}; 20 glyphs; {args.reps} timed calls each")
    print(f"{'threads':>7s} {'size':>5s} {'generator ms':>16s} {'upscale ms':>16s} {'sum ms':>16s}  load")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            g_med, g_min = _times(lambda: generate(G, labels, z), args.reps)
        for size in (128, 256):
            u_med, u_min = _times(lambda: up.upscale(glyphs, size=size), args.reps)
            print(f"{threads:7d} {size:5d} {g_med:7.1f} (min {g_min:5.1f}) {u_med:7.1f} (min {u_min:5.1f}) "
                  f"{g_med + u_med:7.1f} (min {g_min + u_min:5.1f})  {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
