"""`python -m rekogan evaluate`: readability, collapse and diversity of generator checkpoints.

  python -m rekogan evaluate PATH [--seeds K] [--classifier P] [--write] [--force]

PATH is one epoch checkpoint (epoch_NNN.safetensors) or a folder of them (a run directory, a
shipped selection such as checkpoints/fixed/). In a folder every epoch is evaluated except those
already in its evaluation.jsonl with the same seeds and classifier (--force redoes them). The
per-epoch table and the best epoch (rekogan.records.best_epoch) are printed; nothing is written
into the run folder unless --write is given, and a record whose reference was computed from other
font faces than the run trained on (its data.json) is labelled, and refused by --write.
Metrics are defined in rekogan/evaluation.py. A split run (a jamo run with split.json: it writes
any syllable) is read by the component reader (--reader) on a fixed sample of its training
syllables and on its held-out syllables, and its SERI95 classes by the 520-class classifier
(rekogan/evaluation_hangul.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..conventions import CLASSIFIER_FILE as DEFAULT_CLASSIFIER
from ..conventions import READER_FILE as DEFAULT_READER
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
    p.add_argument("--reader", default=DEFAULT_READER,
                   help=f"component reader for runs that write any syllable (default {DEFAULT_READER})")
    p.add_argument("--write", action="store_true",
                   help="put the records into the run's evaluation.jsonl and redraw its evaluation.png")
    p.add_argument("--force", action="store_true", help="re-evaluate epochs already in evaluation.jsonl")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    return p


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


# (header, width, format, record key) per column; the last column is free text
_CLASS_COLUMNS = (("readab.", 7, ".1%", "readability"), ("divers.", 7, ".2f", "diversity"),
                  ("clf FD", 9, ".2f", "classifier_fd"), ("clf IS", 7, ".1f", "classifier_is"),
                  ("failing", 7, "d", "failing_count"))
_SPLIT_COLUMNS = (("seen", 6, ".1%", "readability"), ("held", 6, ".1%", "readability_heldout"),
                  ("h.KSX", 6, ".1%", "readability_heldout_ksx1001"), ("h.rest", 6, ".1%", "readability_heldout_other"),
                  ("SERI95", 6, ".1%", "readability_seri95"), ("divers.", 7, ".2f", "diversity"))


def _confusions(r: dict) -> str:
    """The four most frequent confusions: 가→긴×3 for classes, m:ㅓ→ㅏ×12 for components."""
    part = lambda c: f"{c['part'][0]}:" if "part" in c else ""
    text = ", ".join(f"{part(c)}{c['intended']}→{c['read']}×{c['count']}" for c in (r.get("top_confusions") or [])[:4])
    return text + ("  (other font set)" if r.get("font_set_matches_run") is False else "")


def format_table(records: list[dict], *, split: bool = False) -> str:
    """The per-epoch table: the 520-class columns, or seen / held-out / SERI95 for a split run."""
    cols = _SPLIT_COLUMNS if split else _CLASS_COLUMNS
    head = f"{'epoch':>5} {'images seen':>11} " + " ".join(f"{h:>{w}}" for h, w, _, _ in cols) + "  top confusions"
    lines = [head, "-" * len(head)]
    for r in records:
        cells = " ".join(f"{_fmt(r.get(k), f):>{w}}" for _, w, f, k in cols)
        lines.append(f"{r['epoch']:>5} {r.get('images_seen', 0):>11,} {cells}  {_confusions(r)}")
    return "\n".join(lines)


def _component_reader(path):
    """The component reader a split run is read by, or UsageError with the loader's one-line reason."""
    from ..checkpoints import CheckpointError
    from ..reader import load_reader
    try:
        return load_reader(path)
    except CheckpointError as e:
        raise UsageError(f"reader: {e}") from None


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
        clf, cmeta = load_classifier(clf_path)
    except CheckpointError as e:
        raise UsageError(f"classifier: {e}") from None
    split_run = (path if path.is_dir() else path.parent).joinpath("split.json").exists()
    if split_run and not Path(args.reader).exists():
        raise UsageError(f"component reader not found: {args.reader}; this run writes any syllable and is read by it: "
                         f"train it with `python -m rekogan reader train --threads 1` or pass --reader PATH")
    if split_run:   # the component reader, and the 520-class classifier already loaded above as a reader
        from ..reader import ClassReader
        readers = (_component_reader(args.reader), ClassReader(clf))
    else:
        readers = None
    rid = readers[0].file_id if readers else None
    run_dir, todo, kept = _todo(path, seeds=args.seeds, classifier_id=rid or cmeta["id"], force=args.force)
    print(f"classifier {clf_path} (id {cmeta['id']}, held-out top-1 {cmeta.get('heldout_top1')}), "
          f"{args.seeds} seeds x all classes")
    new, failed = [], 0
    for epoch, f in todo:
        try:
            if split_run:
                from ..evaluation_hangul import evaluate_split_checkpoint
                r = evaluate_split_checkpoint(f, reader=readers[0], classifier=readers[1], seeds=args.seeds,
                                              run_dir=run_dir)
            else:
                r = evaluate_checkpoint(f, classifier_path=clf_path, seeds=args.seeds, run_dir=run_dir)
            if args.write:
                write_record(run_dir, r)
        except (CheckpointError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        new.append(r)
        if split_run:
            print(f"epoch {epoch}: seen {r['readability']:.1%}, held-out {r['readability_heldout']:.1%} "
                  f"(KS X 1001 {r['readability_heldout_ksx1001']:.1%}, others {r['readability_heldout_other']:.1%}), "
                  f"SERI95 {_fmt(r.get('readability_seri95'), '.1%')}, diversity {r['diversity']:.2f} "
                  f"({r['seconds']:.1f}s)", flush=True)
            continue
        other = " · reference from OTHER font faces than the run's" if r["font_set_matches_run"] is False else ""
        print(f"epoch {epoch}: readability {r['readability']:.1%}, diversity {_fmt(r['diversity'], '.2f')}, "
              f"classifier FD {r['classifier_fd']:.2f}, classifier IS {r['classifier_is']:.1f}, "
              f"{r['failing_count']} failing classes ({r['seconds']:.1f}s){other}", flush=True)
    records = sorted({r["epoch"]: r for r in kept + new}.values(), key=lambda r: r["epoch"])
    if records:
        print()
        print(format_table(records, split=split_run))
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
