"""Benchmark: fitting a writer from k handwritten syllables, the whole `imitate` call.

  python scripts/bench_writer.py [--checkpoint checkpoints/fixed/epoch_186.safetensors] [--k 8] [--threads 2]

Times rekogan.writer.imitate end to end (pictures -> normalised glyphs -> best-of-64 seeds ->
z steps -> per-layer steps -> adapter steps -> code -> the fitted glyphs drawn from the code), after one warm-up
call, on k glyphs of a held-out face (NanumBarunpenR) given as dark-on-white pictures, like an
upload. Reports wall seconds (median of --repeat) and the process CPU seconds, and the machine's
load average: on a shared machine wall time is what the person waits, CPU time what it costs.
The budgets: <= 10 s for k = 4 (issue 18, before the adapter) and <= 20 s for k = 8 (issue 25, with
the adapter) on 2 CPU cores. --adapter none times the fit without it. A hand run
(checkpoints/hangul-hand/epoch_068.safetensors: encoder.safetensors beside it) is timed as the app
fits it: the style encoder's writer replaces the seed search and the one-z stage. The fit uses the
run's fit defaults (fit.json beside the checkpoint) as the app does, --adapter/--fit on top; the
output says which applied ("fit_defaults", and "fit_config": every field as fitted).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/fixed/epoch_186.safetensors")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--adapter", default=None, help="FitConfig.adapter (default: FitConfig's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--face", default="NanumBarunpenR")
    ap.add_argument("--fit", action="append", default=[], metavar="KEY=VALUE",
                    help="a FitConfig field (e.g. read=0 to time the fit without the read term); repeatable")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from rekogan.checkpoints import load_generator
    from rekogan.data import load_splits
    from rekogan.hangul import ClassList
    from rekogan.writer import imitate, reader_features
    G, meta = load_generator(REPO / args.checkpoint)
    text = "가나다라마바사아자차카타파하각난닫랄"[:args.k]
    _, held = load_splits("fonts", classes=ClassList(tuple(text)), size=G.cfg.size)
    gi = held.group_names.index(args.face)
    m = held.groups == gi
    order = held.labels[m].argsort()
    pictures = [(255 - img).numpy() for img in held.images[m][order]]   # dark ink on white, like a scan
    from rekogan.writer import FitConfig
    from rekogan.writer.api import fit_config
    from rekogan.writer.fit import run_defaults
    try:
        over = {**({} if args.adapter is None else {"adapter": args.adapter}), **FitConfig.overrides(args.fit)}
        defaults = run_defaults(REPO / args.checkpoint)
        cfg = fit_config(REPO / args.checkpoint, over)      # what imitate fits with: the run's defaults + these
    except ValueError as e:
        ap.error(str(e))
    print(f"fit defaults: {defaults.describe()}" + (f"; on top: {json.dumps(over)}" if over else ""), flush=True)
    feats = reader_features()
    ckpt = str(REPO / args.checkpoint)               # as the app passes it: a hand run's encoder is found beside it
    imitate(pictures, text, generator=G, meta=meta, reader=feats, config=cfg, checkpoint=ckpt)   # warm-up: first-call costs
    walls, cpus, res = [], [], None
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        res = imitate(pictures, text, generator=G, meta=meta, reader=feats, config=cfg, checkpoint=ckpt)
        walls.append(time.perf_counter() - t); cpus.append(time.process_time() - c)
    budget = 10.0 if args.k <= 4 else 20.0
    out = {"k": args.k, "threads": args.threads, "checkpoint": args.checkpoint, "face": args.face,
           "wall_s_median": round(statistics.median(walls), 2), "wall_s": [round(v, 2) for v in walls],
           "cpu_s": [round(v, 2) for v in cpus], "cpu_s_min": round(min(cpus), 2),
           "load_average_1min": round(os.getloadavg()[0], 2), "start": res.writer.losses.get("start"),
           "ref_ssim": res.writer.losses["ssim"], "code_chars": len(res.writer.code),
           "adapter": cfg.adapter, "fit": over, "fit_defaults": defaults.to_dict(), "fit_config": cfg.to_dict(),
           "budget_s": budget, "within_budget": statistics.median(walls) <= budget}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
