"""The stroke-weight control, measured: mean ink ratio and readability per setting, same writers and syllables.

    python scripts/weight_sweep.py --checkpoint checkpoints/hangul/epoch_NNN.safetensors [--seeds 8] [--n 300]

The syllables are a fixed sample of the run's training syllables (rekogan.evaluation_hangul.seen_sample);
the writers are seeds 0..K-1. The control works when the ink rises monotonically across the range
while the readability at either end stays within 2 points of the middle setting (issue 11).
Reads only: writes nothing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.conventions import READER_FILE, WEIGHT_RANGE  # noqa: E402
from rekogan.hangul import ClassList  # noqa: E402
from rekogan.evaluation_hangul import seen_sample, weight_sweep  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--reader", default=READER_FILE)
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--n", type=int, default=300, help="training syllables in the sample")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    G, meta = load_generator(args.checkpoint)
    if not getattr(G.cfg, "weight_cond", False):
        print(f"error: {args.checkpoint} has no stroke-weight control", file=sys.stderr)
        return 2
    lo, hi = WEIGHT_RANGE
    weights = [lo, lo / 2, 0.0, hi / 2, hi]
    reader = load_reader(args.reader)
    trained = ClassList(tuple(s for s in meta["trained"] if not reader.missing(s)))  # a 520-class reader: its classes
    syllables = seen_sample(trained, n=args.n)
    rows = weight_sweep(G, classes=meta["class_list"], syllables=syllables, reader=reader,
                        weights=weights, seeds=args.seeds)
    mid = next(r for r in rows if r["weight"] == 0.0)
    print(f"{Path(args.checkpoint).parent.name} epoch {meta['epoch']}: {len(syllables)} syllables x {args.seeds} seeds")
    print(f"{'weight':>7} {'ink':>7} {'readable':>9} {'vs middle':>10}")
    for r in rows:
        print(f"{r['weight']:>7g} {r['ink']:>7.4f} {r['readability']:>9.1%} {100 * (r['readability'] - mid['readability']):>+9.1f}p")
    inks = [r["ink"] for r in rows]
    monotonic = all(a < b for a, b in zip(inks, inks[1:]))
    ends = max(abs(rows[0]["readability"] - mid["readability"]), abs(rows[-1]["readability"] - mid["readability"]))
    print(f"ink rises monotonically: {monotonic}; largest readability change at an end: {100 * ends:.1f} points")
    print(json.dumps({"epoch": meta["epoch"], "rows": rows, "monotonic": monotonic, "max_end_change": ends}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
