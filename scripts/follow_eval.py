"""Evaluate training runs epoch by epoch while they train, in another process.

train.py evaluates each epoch inside the training loop (--eval-every 1), which stops the GPU while
the CPU samples and reads 4,160 glyphs. On a lent GPU that pause is most of an epoch, so there
the runs train with --eval-every 0 and this script follows them on the CPU cores beside the GPU:
each epoch that a run has finished (its metrics.jsonl line is written after its checkpoint and
grid) and that its evaluation.jsonl lacks is evaluated and recorded, exactly as train.py would
(rekogan.evaluation.record_evaluation).

  python scripts/follow_eval.py runs/a runs/b --stop-file runs/.done --deadline 500 [--threads 8]

It returns when the stop file exists and every finished epoch is recorded, or at the deadline
(seconds from its start); it prints one line per evaluation and, at the end, what is left.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pending(run: Path) -> list[int]:
    """Finished epochs (their metrics line is written after their checkpoint) not yet in evaluation.jsonl."""
    from rekogan.evaluation import read_evaluations
    from rekogan.records import by_epoch, read_jsonl
    done = {r["epoch"] for r in read_evaluations(run)}
    finished = set(by_epoch(read_jsonl(run / "metrics.jsonl")))    # a line being written is skipped till next pass
    return sorted(e for e in finished - done if (run / f"epoch_{e:03d}.safetensors").exists())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--stop-file", type=Path, required=True, help="return once this exists and nothing is pending")
    p.add_argument("--deadline", type=float, required=True, help="seconds from start after which it returns")
    p.add_argument("--classifier", default="checkpoints/classifier/classifier.safetensors")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = p.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from rekogan.evaluation import record_evaluation
    t0 = time.time()
    while time.time() - t0 < args.deadline:
        stop = args.stop_file.exists()    # read before the pass: epochs finished before it are all seen
        todo = [(run, e) for run in args.runs for e in pending(run)]
        # the newest epoch of each run first would skip epochs; oldest first keeps the runs abreast
        todo.sort(key=lambda t: t[1])
        for run, e in todo:
            if time.time() - t0 >= args.deadline:
                break
            rec = record_evaluation(run, run / f"epoch_{e:03d}.safetensors", classifier_path=args.classifier)
            print(f"[{time.time() - t0:.0f} s] {run.name} epoch {e}: readability {rec['readability']:.1%}, "
                  f"diversity {rec['diversity']}, failing {rec['failing_count']}, {rec['seconds']} s", flush=True)
        if stop and not todo:
            break
        if not todo:
            time.sleep(2)
    left = {str(run): pending(run) for run in args.runs}
    print(f"follow_eval: returned after {time.time() - t0:.0f} s; not evaluated: {left}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
