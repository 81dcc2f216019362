"""`python -m rekogan reader train`: the component reader that reads any syllable (rekogan/reader.py).

  python -m rekogan reader train [--steps 3000] [--batch 128] [--out checkpoints/reader] [--threads T]
      [--train-syllables SPEC] [--test-syllables SPEC]
  python -m rekogan reader test [--reader checkpoints/reader/reader.safetensors] [--syllables all]

Trains on the train faces over KS X 1001 plus a fixed sample of rarer syllables, then reports
the share of glyphs with all three components right on the 8 held-out faces over a fixed sample
of 2,000 of the 11,172 syllables, each face over the syllables it has (--train-syllables and
--test-syllables replace those sets: seri95, ksx1001, all, or the syllables themselves). Publishes
OUT/reader.safetensors and OUT/metrics.json atomically. `test` measures a reader file the same
way (--syllables all: every one of the 11,172) and prints; it writes nothing.
"""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from ..conventions import READER_FILE


def add_parser(subparsers):
    p = subparsers.add_parser("reader", help="train the component reader (reader train ...)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="reader_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train the component reader on the train faces, test on the held-out faces")
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--work-size", type=int, default=32, help="the input is average-pooled to this resolution")
    t.add_argument("--out", default=str(Path(READER_FILE).parent))
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    t.add_argument("--train-syllables", metavar="SPEC",
                   help="the training syllables (default: KS X 1001 plus 1,650 others); seri95, ksx1001, all or syllables")
    t.add_argument("--test-syllables", metavar="SPEC",
                   help="the held-out faces' test syllables (default: a fixed 2,000 of the 11,172); as --train-syllables")
    e = sub.add_parser("test", help="test a reader on the 8 held-out faces (prints; writes nothing)")
    e.add_argument("--reader", default=READER_FILE)
    e.add_argument("--syllables", choices=("sample", "all"), default="sample",
                   help="sample: the fixed 2,000 of the 11,172 (as at training); all: all 11,172")
    e.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    return p


def _syllables(spec: str | None, option: str):
    """A syllable set option (parse_classes' specs), None when not given; UsageError when it names none."""
    if spec is None:
        return None
    from ..hangul import ClassList, parse_classes
    from .common import UsageError
    if spec.isdigit():                 # parse_classes reads a number as the first N SERI95 classes: not offered here
        raise UsageError(f"{option} {spec!r}: give seri95, ksx1001, all or the syllables themselves")
    try:
        classes = parse_classes(spec)
    except (AssertionError, ValueError) as e:
        raise UsageError(f"{option}: {e}") from None
    return ClassList(tuple(dict.fromkeys(classes)))        # each syllable once, in the order given


def _unseen(r: dict) -> str:
    v = r["heldout_unseen_syllables_all3"]
    return "none of the test syllables is new to it" if v is None else f"{v:.2%}"


def _test(args) -> int:
    from ..checkpoints import CheckpointError
    from ..hangul import all_syllables
    from ..reader import JamoReader, load_reader, heldout_report
    from .common import UsageError
    try:
        reader = load_reader(args.reader)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    if not isinstance(reader, JamoReader):
        raise UsageError(f"--reader: {args.reader} is the 520-class classifier, not the component reader")
    r = heldout_report(reader, syllables=all_syllables() if args.syllables == "all" else None)
    print(f"held-out faces ({len(r['heldout_faces'])}), {r['test_syllables']} syllables, {r['heldout_images']} glyphs: "
          f"all three components right {r['heldout_all3']:.2%} (on syllables the reader never trained on "
          f"{_unseen(r)}); initial {r['heldout_initial']:.2%}, medial "
          f"{r['heldout_medial']:.2%}, final {r['heldout_final']:.2%}")
    for face, acc in r["per_face"].items():
        print(f"  {face:20s} {acc:7.2%}  ({r['per_face_glyphs'][face]} glyphs)")
    return 0


def run(args) -> int:
    import torch
    if args.reader_command == "test":
        if args.threads:
            torch.set_num_threads(args.threads)
        return _test(args)
    from ..reader import save_reader, train_reader
    from ..records import write_text_atomic
    if args.threads:
        torch.set_num_threads(args.threads)
    train_syl = _syllables(args.train_syllables, "--train-syllables")
    test_syl = _syllables(args.test_syllables, "--test-syllables")
    command = (f"python -m rekogan reader train --steps {args.steps} --batch {args.batch} --lr {args.lr} "
               f"--work-size {args.work_size} --threads {args.threads} --out {shlex.quote(args.out)}"
               + "".join(f" --{name}-syllables {shlex.quote(spec)}" for name, spec in
                         (("train", args.train_syllables), ("test", args.test_syllables)) if spec))
    model, report = train_reader(steps=args.steps, batch=args.batch, lr=args.lr, work_size=args.work_size,
                                 syllables=train_syl, test_syllables=test_syl, log=lambda s: print(s, flush=True))
    report["command"] = command
    out = Path(args.out)
    save_reader(out / "reader.safetensors", model, report=report)
    write_text_atomic(out / "metrics.json", json.dumps(report, indent=1, ensure_ascii=False))
    print(f"held-out faces, {report['test_syllables']} syllables: all three components right "
          f"{report['heldout_all3']:.2%} (syllables the reader never trained on {_unseen(report)}); "
          f"per face {report['per_face']}", flush=True)
    return 0
