"""The per-epoch table of a split (jamo) run, as Markdown, from its evaluation.jsonl (reads only).

    python scripts/split_table.py runs/hangul            # or checkpoints/hangul
    python scripts/split_table.py runs/hangul --every 2  # epochs 1..14, then every 2nd

Columns: images seen, readability of the seen sample and of the held-out syllables (all, the KS X
1001 part, the rest), SERI95 by the 520-class classifier, diversity, the three most frequent
component confusions on seen syllables. The split's phases (split.json) are marked in the
images column: the epoch where a run added training syllables starts with "+".
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PART = {"initial": "initial", "medial": "medial", "final": "final"}


def rows(run: Path) -> list[dict]:
    by_epoch = {}
    for line in (run / "evaluation.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue                                  # a line cut by a kill
        if "readability_heldout" in r:
            by_epoch[r["epoch"]] = r                  # the last record of an epoch wins
    return [by_epoch[e] for e in sorted(by_epoch)]


def confusions(r: dict, n: int = 3) -> str:
    return ", ".join(f"{PART.get(c['part'], c['part'])} {c['intended']}→{c['read']} ×{c['count']}"
                     for c in r.get("top_confusions", [])[:n])


def table(run: Path, every: int = 1, dense_until: int = 14) -> str:
    phases = {}
    split = run / "split.json"
    if split.is_file():
        for p in json.loads(split.read_text(encoding="utf-8")).get("phases", [])[1:]:
            phases[p["from_epoch"]] = p["spec"]
    out = ["| epoch | images | seen | held-out | held-out KS X 1001 | held-out others | SERI95 (520-class reader) "
           "| diversity | top component confusions (seen) |", "|---|---|---|---|---|---|---|---|---|"]
    pending = dict(phases)
    for r in rows(run):
        e = r["epoch"]
        started = [f for f in pending if f <= e]          # a phase began at or before this record
        if e > dense_until and (e - dense_until) % every and not started:
            continue
        mark = "".join(f" (trained on {pending.pop(f)} from epoch {f})" for f in sorted(started))
        pct = lambda k: "–" if r.get(k) is None else f"{r[k]:.1%}"  # noqa: E731
        out.append(f"| {e}{mark} | {r['images_seen']:,} | {pct('readability')} | {pct('readability_heldout')} | "
                   f"{pct('readability_heldout_ksx1001')} | {pct('readability_heldout_other')} | "
                   f"{pct('readability_seri95')} | {r['diversity']:.2f} | {confusions(r)} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--every", type=int, default=1, help="after epoch 14, every Nth epoch (and phase starts)")
    args = ap.parse_args(argv)
    if not (args.run / "evaluation.jsonl").is_file():
        print(f"error: {args.run / 'evaluation.jsonl'} not found: run `python -m rekogan evaluate {args.run} --write`",
              file=sys.stderr)
        return 2
    sys.stdout.write(table(args.run, args.every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
