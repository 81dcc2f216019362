"""`python -m rekogan bench train`: training throughput, the fixed preset against the original recipe.

The harness (bench_train.py) is a command module, not a library module: nothing in the library
imports it. It stays in the package rather than scripts/ so that `python -m rekogan bench` runs
wherever the package does (a lent GPU machine: scripts/gpu_session.sh) and times the library's own
training step. The app's rendering latency is scripts/bench_app.py.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..records import write_text_atomic
from .common import UsageError


def add_parser(subparsers):
    p = subparsers.add_parser("bench", help="benchmarks (bench train: training img/s, fixed vs the original recipe)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="also write the result to this JSON file")
    sub = p.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    t = sub.add_parser("train", help="training img/s: fixed preset vs the original recipe")
    t.add_argument("--seconds", type=float, default=30.0, help="timed seconds per recipe (after warm-up)")
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--faces", type=int, default=8, help="font faces written to the PNG folder (x520 files)")
    t.add_argument("--workers", type=int, default=4, help="DataLoader workers of the original recipe")
    t.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    t.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    t.add_argument("--fp32", action="store_true", help="time the fixed preset with --amp false (no bf16 autocast)")
    t.add_argument("--data", default="fonts", help="fonts (default) or packed:FILE from `python -m rekogan pack`")
    return p


def run(args) -> int:
    try:
        from .bench_train import train_bench
        res = train_bench(args)
    except AssertionError as e:
        raise UsageError(str(e)) from None
    if args.json:
        write_text_atomic(Path(args.json), json.dumps(res, indent=1))
    return 0
