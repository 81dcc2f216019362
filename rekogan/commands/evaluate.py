"""`python -m rekogan evaluate`: readability, collapse and diversity of generator checkpoints.

  python -m rekogan evaluate PATH [--seeds K] [--classifier P] [--write] [--force]

PATH is one epoch checkpoint (epoch_NNN.safetensors) or a folder of them (a run directory, a
shipped selection such as checkpoints/fixed/). In a folder every epoch is evaluated except those
already in its evaluation.jsonl with the same seeds and classifier (--force redoes them). The
per-epoch table and the best epoch (rekogan.records.best_epoch) are printed; nothing is written
into the run folder unless --write is given, and a record whose reference was computed from other
font faces than the run trained on (its data.json) is labelled, and refused by --write.
Metrics are defined in rekogan/evaluation.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..conventions import CLASSIFIER_FILE as DEFAULT_CLASSIFIER
from ..records import best_epoch
from .common import EXIT_USAGE, UsageError

MISSING_CLASSIFIER = ("classifier not found: {p}; train it with `python -m rekogan classifier train --threads 1` "
                      "(writes {d}; 10-25 min on a CPU) or pass --classifier PATH")


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="readability, collapse, diversity per epoch (prints; --write records)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="an epoch checkpoint, a run directory, or a folder of epoch checkpoints")
    p.add_argument("--seeds", type=int, default=8, help="seeds (writers) per class, 0..K-1 (default 8)")
    p.add_argument("--classifier", default=DEFAULT_CLASSIFIER, help=f"classifier file (default {DEFAULT_CLASSIFIER})")
    p.add_argument("--write", action="store_true",
                   help="put the records into the run's evaluation.jsonl and redraw its evaluation.png")
    p.add_argument("--force", action="store_true", help="re-evaluate epochs already in evaluation.jsonl")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    return p


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def format_table(records: list[dict]) -> str:
    head = (f"{'epoch':>5} {'images seen':>11} {'readab.':>7} {'divers.':>7} {'clf FD':>9} {'clf IS':>7} "
            f"{'failing':>7}  top confusions")
    lines = [head, "-" * len(head)]
    for r in records:
        conf = ", ".join(f"{c['intended']}→{c['read']}×{c['count']}" for c in (r.get("top_confusions") or [])[:4])
        mark = "  (other font set)" if r.get("font_set_matches_run") is False else ""
        lines.append(f"{r['epoch']:>5} {r.get('images_seen', 0):>11,} {r['readability']:>7.1%} "
                     f"{_fmt(r.get('diversity'), '7.2f'):>7} {_fmt(r.get('classifier_fd'), '9.2f'):>9} "
                     f"{_fmt(r.get('classifier_is'), '7.1f'):>7} {r.get('failing_count', 0):>7}  {conf}{mark}")
    return "\n".join(lines)


def _todo(path: Path, *, seeds: int, classifier_id: str, force: bool):
    """(run_dir, [(epoch, file)] to evaluate, the run's records kept as they are)."""
    from ..checkpoints import CheckpointError, list_epochs, read_metadata
    from ..evaluation import read_evaluations
    run_dir = path if path.is_dir() else path.parent
    same = [r for r in read_evaluations(run_dir) if r.get("seeds") == seeds and r.get("classifier_id") == classifier_id]
    if not path.is_dir():           # one file: evaluated anew, shown among the run's other records
        try:
            epoch = read_metadata(path)["epoch"]
        except CheckpointError as e:
            raise UsageError(str(e)) from None
        return run_dir, [(epoch, path)], [r for r in same if r["epoch"] != epoch]
    epochs = list_epochs(path)
    if not epochs:
        raise UsageError(f"no epoch_*.safetensors in {path}")
    kept = [] if force else same
    done = {r["epoch"] for r in kept}
    if done:
        print(f"{len(done)} epoch(s) already evaluated with this classifier and {seeds} seeds (--force to redo): "
              f"{sorted(done)}")
    return path, [(e, f) for e, f in epochs if e not in done], kept


def run(args) -> int:
    if args.seeds < 2:
        raise UsageError("--seeds must be >= 2 (diversity compares samples of one class)")
    path, clf_path = Path(args.path), Path(args.classifier)
    if not path.exists():
        raise UsageError(f"{path} does not exist (give an epoch_NNN.safetensors file or a run directory)")
    if not clf_path.exists():
        raise UsageError(MISSING_CLASSIFIER.format(p=clf_path, d=DEFAULT_CLASSIFIER))
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from ..checkpoints import CheckpointError
    from ..classifier import load_classifier
    from ..evaluation import evaluate_checkpoint, write_record
    try:
        _, cmeta = load_classifier(clf_path)
    except CheckpointError as e:
        raise UsageError(f"classifier: {e}") from None
    run_dir, todo, kept = _todo(path, seeds=args.seeds, classifier_id=cmeta["id"], force=args.force)
    print(f"classifier {clf_path} (id {cmeta['id']}, held-out top-1 {cmeta.get('heldout_top1')}), "
          f"{args.seeds} seeds x all classes")
    new, failed = [], 0
    for epoch, f in todo:
        try:
            r = evaluate_checkpoint(f, classifier_path=clf_path, seeds=args.seeds, run_dir=run_dir)
            if args.write:
                write_record(run_dir, r)
        except (CheckpointError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        new.append(r)
        other = " · reference from OTHER font faces than the run's" if r["font_set_matches_run"] is False else ""
        print(f"epoch {epoch}: readability {r['readability']:.1%}, diversity {_fmt(r['diversity'], '.2f')}, "
              f"classifier FD {r['classifier_fd']:.2f}, classifier IS {r['classifier_is']:.1f}, "
              f"{r['failing_count']} failing classes ({r['seconds']:.1f}s){other}", flush=True)
    records = sorted({r["epoch"]: r for r in kept + new}.values(), key=lambda r: r["epoch"])
    if records:
        print()
        print(format_table(records))
        print(best_line(records))
    if args.write and new:
        print(f"wrote {run_dir / 'evaluation.jsonl'} and {run_dir / 'evaluation.png'}")
    elif new:
        print(f"nothing written (--write puts these records into {run_dir / 'evaluation.jsonl'})")
    return EXIT_USAGE if failed else 0


def best_line(records: list[dict]) -> str:
    b = best_epoch(records)
    line = (f"best epoch: {b['epoch']} (readability {b['readability']:.1%}, diversity "
            f"{_fmt(b.get('diversity'), '.2f')}, {b.get('failing_count', 0)} failing classes)")
    with_fd = [r for r in records if r.get("classifier_fd") is not None]
    if with_fd:
        lo = min(with_fd, key=lambda r: r["classifier_fd"])
        if lo["epoch"] != b["epoch"]:
            line += f"; lowest classifier FD: epoch {lo['epoch']} ({lo['classifier_fd']:.2f})"
    failing = b.get("failing_classes") or []
    if failing:
        line += (f"\nfailing classes at epoch {b['epoch']}: {''.join(failing[:80])}"
                 + (" ..." if len(failing) > 80 else ""))
    return line
