"""Evaluate generator checkpoints with the project classifier.

  python -m rekogan.evaluate PATH [--seeds K] [--classifier P] [--force]

PATH is one epoch checkpoint (epoch_NNN.safetensors) or a folder of them: a run directory
(runs/NAME) or a shipped selection (checkpoints/fixed/). In a folder every epoch_*.safetensors
is evaluated, except epochs already in its evaluation.jsonl with the same seeds and classifier
(--force re-evaluates them). Results go to evaluation.jsonl (one line per epoch; re-evaluating
replaces the line) and evaluation.png next to the checkpoints; a per-epoch table and the best
epoch are printed. Metrics are defined in rekogan/evaluation.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checkpoints import CheckpointError, list_epochs, read_metadata
from .classifier import DEFAULT_PATH

MISSING_CLASSIFIER = ("classifier not found: {p}\n"
                      "train it with:  python -m rekogan.classifier train --threads 1   (writes {d}; "
                      "10-25 min on a CPU)\nor pass --classifier PATH")


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def format_table(records: list[dict]) -> str:
    head = f"{'epoch':>5} {'images seen':>11} {'readab.':>7} {'divers.':>7} {'clf FD':>9} {'clf IS':>7} {'failing':>7}  top confusions"
    lines = [head, "-" * len(head)]
    for r in records:
        conf = ", ".join(f"{c['intended']}→{c['read']}×{c['count']}" for c in (r.get("top_confusions") or [])[:4])
        lines.append(f"{r['epoch']:>5} {r.get('images_seen', 0):>11,} {r['readability']:>7.1%} "
                     f"{_fmt(r.get('diversity'), '7.2f'):>7} {_fmt(r.get('classifier_fd'), '9.2f'):>9} "
                     f"{_fmt(r.get('classifier_is'), '7.1f'):>7} {r.get('failing_count', 0):>7}  {conf}")
    return "\n".join(lines)


def best_epoch(records: list[dict]) -> dict | None:
    """Most readable epoch; ties (to 0.1%) go to the more diverse one."""
    if not records:
        return None
    return max(records, key=lambda r: (round(r["readability"], 3), r.get("diversity") or 0.0))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rekogan.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="an epoch checkpoint, a run directory, or a folder of epoch checkpoints")
    p.add_argument("--seeds", type=int, default=8, help="seeds (writers) per class, 0..K-1 (default 8)")
    p.add_argument("--classifier", default=DEFAULT_PATH, help=f"classifier file (default {DEFAULT_PATH})")
    p.add_argument("--force", action="store_true", help="re-evaluate epochs already in evaluation.jsonl")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    args = p.parse_args(argv)

    if args.seeds < 2:
        p.error("--seeds must be >= 2 (diversity compares samples of one class)")
    path = Path(args.path)
    if not path.exists():
        print(f"error: {path} does not exist (give an epoch_NNN.safetensors file or a run directory)", file=sys.stderr)
        return 2
    clf_path = Path(args.classifier)
    if not clf_path.exists():
        print("error: " + MISSING_CLASSIFIER.format(p=clf_path, d=DEFAULT_PATH), file=sys.stderr)
        return 2

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from .classifier import load_classifier
    from .evaluation import read_evaluations, record_evaluation
    try:
        _, cmeta = load_classifier(clf_path)
    except CheckpointError as e:
        print(f"error: classifier: {e}", file=sys.stderr)
        return 2

    if path.is_dir():
        run_dir = path
        todo = list_epochs(run_dir)
        if not todo:
            print(f"error: no epoch_*.safetensors in {run_dir}", file=sys.stderr)
            return 2
        done = {r["epoch"] for r in read_evaluations(run_dir)
                if r.get("seeds") == args.seeds and r.get("classifier_id") == cmeta["id"]}
        skipped = [e for e, _ in todo if e in done and not args.force]
        todo = [(e, f) for e, f in todo if args.force or e not in done]
        if skipped:
            print(f"{len(skipped)} epoch(s) already evaluated with this classifier and {args.seeds} seeds "
                  f"(--force to redo): {skipped}")
    else:
        run_dir = path.parent
        try:
            todo = [(read_metadata(path)["epoch"], path)]
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    print(f"classifier {clf_path} (id {cmeta['id']}, held-out top-1 {cmeta.get('heldout_top1')}), "
          f"{args.seeds} seeds x all classes")
    failed = 0
    for epoch, f in todo:
        try:
            r = record_evaluation(run_dir, f, classifier_path=clf_path, seeds=args.seeds)
        except (CheckpointError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"epoch {epoch}: readability {r['readability']:.1%}, diversity {_fmt(r['diversity'], '.2f')}, "
              f"classifier FD {r['classifier_fd']:.2f}, classifier IS {r['classifier_is']:.1f}, "
              f"{r['failing_count']} failing classes ({r['seconds']:.1f}s)", flush=True)

    records = [r for r in read_evaluations(run_dir) if r.get("seeds") == args.seeds]
    if records:
        print()
        print(format_table(records))
        b = best_epoch(records)
        line = (f"best epoch: {b['epoch']} (readability {b['readability']:.1%}, diversity "
                f"{_fmt(b.get('diversity'), '.2f')}, {b['failing_count']} failing classes)")
        with_fd = [r for r in records if r.get("classifier_fd") is not None]
        if with_fd:
            lo = min(with_fd, key=lambda r: r["classifier_fd"])
            if lo["epoch"] != b["epoch"]:
                line += f"; lowest classifier FD: epoch {lo['epoch']} ({lo['classifier_fd']:.2f})"
        print(line)
        if b.get("failing_classes"):
            print(f"failing classes at epoch {b['epoch']}: {''.join(b['failing_classes'][:80])}"
                  + (" ..." if len(b["failing_classes"]) > 80 else ""))
        print(f"wrote {run_dir / 'evaluation.jsonl'} and {run_dir / 'evaluation.png'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
