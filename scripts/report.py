"""Print a run's per-epoch training and evaluation figures as a Markdown table.

  python scripts/report.py checkpoints/fixed [--every N]

Joins metrics.jsonl (training: images seen, wall time, img/s, losses) and evaluation.jsonl
(readability, diversity, classifier FD/IS, failing classes, top confusion) by epoch; the best
epoch is rekogan.records.best_epoch's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rekogan.conventions import EPOCH_RE  # noqa: E402
from rekogan.records import best_epoch, by_epoch, read_jsonl  # noqa: E402


def read(path: Path) -> dict[int, dict]:
    return by_epoch(read_jsonl(path))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--every", type=int, default=1, help="print every Nth epoch (first, best and last always)")
    a = p.parse_args()
    run = Path(a.run)
    tr, ev = read(run / "metrics.jsonl"), read(run / "evaluation.jsonl")
    epochs = sorted(set(tr) | set(ev))
    if not epochs:
        raise SystemExit(f"no metrics.jsonl / evaluation.jsonl lines in {run}")
    b = best_epoch(list(ev.values()))
    best = b["epoch"] if b else None
    shipped = {int(m.group(1)) for f in run.iterdir() if (m := EPOCH_RE.match(f.name))}
    print("| epoch | images seen | train wall (min) | img/s | readability | diversity | classifier FD | classifier IS | failing classes | top confusion |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for e in epochs:
        if not (e % a.every == 0 or e in (epochs[0], epochs[-1], best)):
            continue
        t, v = tr.get(e, {}), ev.get(e, {})
        conf = v.get("top_confusions") or []
        c = f"{conf[0]['intended']}→{conf[0]['read']} ×{conf[0]['count']}" if conf else ""
        mark = (" (best)" if e == best else "") + (" *" if e in shipped else "")
        fmt = lambda x, f: (f % x) if isinstance(x, (int, float)) else "–"
        print(f"| {e}{mark} | {t.get('images_seen', v.get('images_seen', 0)):,} | {fmt(t.get('wall_seconds', 0) / 60, '%.1f')} "
              f"| {fmt(t.get('img_per_s'), '%.0f')} | {fmt(v.get('readability', None) and 100 * v['readability'], '%.1f%%')} "
              f"| {fmt(v.get('diversity'), '%.2f')} | {fmt(v.get('classifier_fd'), '%.1f')} | {fmt(v.get('classifier_is'), '%.1f')} "
              f"| {v.get('failing_count', '–')} | {c} |")
    if shipped:
        print("\n`*` = shipped checkpoint")


if __name__ == "__main__":
    main()
