"""Benchmark: wall time of build_font (load, generation, tracing, assembly, atomic save) per syllable set.

  OMP_NUM_THREADS=1 python scripts/bench_font.py --checkpoint runs/hangul/epoch_NNN.safetensors \\
      --sets ksx1001,all --processes 2

Targets (issue 12, 2 CPU cores): ksx1001 (2,350) <= 30 s, all (11,172) <= 120 s, the 11,172-glyph
file <= 15 MB. The figure is only the target's when the run can write the whole set (a class list
of 11,172, e.g. the `hangul` preset): a 520-class run builds its 520 and the line says so.
Each set is built once into a temporary folder; the load average is printed because a machine
shared with a training run gives slower figures than 2 free cores.

Measured (2026-12-01, the project's 2-core VM shared with a training run, a reader training, an
evaluation and test runs: load average 6-8), --checkpoint runs/hangul/epoch_001.safetensors:
  ksx1001: 2,350 glyphs in 60.8 s (save 5.8 s), 2.28 MB        target 30 s: missed on this load
  all:    11,172 glyphs in 299.2 s (load 26.9 s, save 25.3 s), 10.93 MB   target 120 s: missed; 15 MB: met
Separately measured CPU time per glyph (not wall, so less sensitive to load): generation ~2 ms,
tracing ~5.3 ms and cu2qu ~0.9 ms (both in the workers), glyf compile at save ~2.3 ms (serial,
in the main process) -> ~10 ms, i.e. ~110 s of CPU for 11,172 glyphs: an estimate of ~60 s on 2
free cores, NOT a measurement. Next speed-up: compile the glyf data in the workers (save is serial).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"seri95": None, "ksx1001": 30.0, "all": 120.0}
MAX_MB = 15.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--sets", default="ksx1001,all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truncation", type=float, default=1.0)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--otf", action="store_true", help="build CFF (.otf) instead of TrueType")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)  # the generator runs beside the tracing workers: one thread each
    from rekogan.export import build_font

    print(f"checkpoint {args.checkpoint}, {args.processes} tracing processes, {os.cpu_count()} CPUs, "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            out = Path(tmp) / f"{name}.{'otf' if args.otf else 'ttf'}"
            t = time.perf_counter()
            r = build_font(checkpoint=args.checkpoint, seed=args.seed, truncation=args.truncation,
                           syllables=name, out=out, processes=args.processes)
            wall = time.perf_counter() - t
            mb = r.size_bytes / 1e6
            parts = ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items() if k != "total")
            line = (f"{name}: {len(r.written)} of {r.requested} syllables in {wall:.1f} s "
                    f"({wall / len(r.written) * 1e3:.2f} ms/glyph; {parts}), {mb:.2f} MB "
                    f"({r.size_bytes / len(r.written):.0f} B/glyph)")
            target = TARGETS.get(name)
            if r.missing:
                line += f"  [not the target's figure: the run cannot write {len(r.missing)} of them]"
            elif target is not None:
                met = wall <= target and (name != "all" or mb <= MAX_MB)
                ok &= met
                line += f"  [target <= {target:.0f} s{' and <= 15 MB' if name == 'all' else ''}: {'met' if met else 'MISSED'}]"
            print(line, flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
