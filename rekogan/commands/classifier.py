"""`python -m rekogan classifier train`: the 520-class Hangul classifier (rekogan/classifier.py).

  python -m rekogan classifier train [--data fonts] [--classes seri95] [--size 64]
      [--out checkpoints/classifier] [--steps N] [--batch B] [--threads T]

Trains on the train split, validates on the held-out faces, and publishes OUT/classifier.safetensors
(fp16 weights + JSON metadata) and OUT/metrics.json, each written atomically. Before the
classifier file appears, the default evaluation's real-data reference is computed and cached,
because training runs start evaluating every epoch as soon as the classifier exists.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from ..conventions import CLASSIFIER_FILE
from .common import UsageError


def add_parser(subparsers):
    p = subparsers.add_parser("classifier", help="train the Hangul classifier (classifier train ...)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="classifier_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train the classifier on the train split, validate on the held-out faces")
    t.add_argument("--data", default="fonts")
    t.add_argument("--classes", default="seri95")
    t.add_argument("--size", type=int, default=64)
    t.add_argument("--out", default=str(Path(CLASSIFIER_FILE).parent))
    t.add_argument("--steps", type=int, default=1500)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--augment", type=float, default=1.0, help="augmentation strength (rekogan.data.augment)")
    t.add_argument("--widths", default="32,64,128,256", help="stem width, then one stage per width")
    t.add_argument("--double", default="", help="stage indices with a second conv, e.g. 0,1")
    t.add_argument("--work-size", type=int, default=32, help="the input is average-pooled to this resolution")
    t.add_argument("--eval-every", type=int, default=0, help="log held-out top-1 every N steps (0 = only at the end)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    t.add_argument("--no-warm-eval-cache", dest="warm_eval_cache", action="store_false",
                   help="do not precompute the evaluation reference statistics before publishing the file")
    return p


def _ints(text: str, option: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise UsageError(f"{option} must be comma-separated integers, got {text!r}") from None


def run(args) -> int:
    import torch

    from ..classifier import ClassifierConfig, load_classifier, provenance, save_classifier, train_classifier
    from ..data import load_splits
    from ..evaluation import real_reference
    from ..hangul import parse_classes
    from ..records import atomic_path, write_text_atomic
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        classes = parse_classes(args.classes)
        cfg = ClassifierConfig(n_classes=len(classes), size=args.size, work_size=args.work_size,
                               widths=_ints(args.widths, "--widths"), double=_ints(args.double, "--double"))
        train_set, held = load_splits(args.data, classes=classes, size=args.size)
    except (AssertionError, ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    command = "python -m rekogan " + shlex.join(sys.argv[1:])
    print(f"data {args.data}: {len(train_set)} train images ({len(train_set.info.get('faces', []))} faces in all), "
          f"{len(held)} held-out images, faces held out: {held.info.get('heldout_faces')}", flush=True)
    model, report = train_classifier(data=args.data, classes=classes, size=args.size, steps=args.steps,
                                     batch=args.batch, lr=args.lr, augment_strength=args.augment, seed=args.seed,
                                     cfg=cfg, eval_every=args.eval_every, splits=(train_set, held),
                                     log=lambda s: print(s, flush=True))
    out = Path(args.out)
    data = provenance(train_set.info, held.info)
    report.update(command=command, data=data)
    final = out / "classifier.safetensors"
    extra = {k: report[k] for k in ("batch", "lr", "augment", "label_smoothing", "seed", "wall_seconds", "per_face")}
    with atomic_path(final) as staging:
        save_classifier(staging, model, classes=classes, heldout_top1=report["heldout_top1"], steps=args.steps,
                        data=data, command=command, extra=extra)
        if args.warm_eval_cache:
            # the reference cache is keyed by the file's content, which the rename keeps
            t1 = time.time()
            clf, _ = load_classifier(staging)
            ref = real_reference(clf, classes=classes, size=args.size, seeds=8, data=args.data, augment=1.0)
            print(f"evaluation reference cached in {time.time() - t1:.0f}s (real diversity {ref['diversity_raw']:.3f}, "
                  f"held-out classifier FD {ref.get('heldout_classifier_fd', float('nan')):.2f})", flush=True)
    write_text_atomic(out / "metrics.json", json.dumps(report, indent=1, ensure_ascii=False))
    print(f"held-out top-1 {report['heldout_top1']:.4f} on {report['heldout_images']} images of "
          f"{len(report['per_face'])} held-out faces; per face: {report['per_face']}", flush=True)
    print(f"saved {final} ({final.stat().st_size / 1e6:.2f} MB) in {report['wall_seconds']:.0f}s", flush=True)
    return 0
