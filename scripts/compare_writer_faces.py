"""Face by face: which unseen faces two writer evaluations place right, and where both fail.

  python scripts/compare_writer_faces.py A.json B.json [--row "fitted + adapter"] [--k 8] [--out FILE.md]

A and B are results files of scripts/eval_writer.py (written beside its --out table) measured on the same
faces, e.g. the two runs (fixed-hand, hangul-hand) on the 35 test faces. Prints a Markdown table: per face,
style top-1 (right or not) and style rank in each, then which faces only A, only B, both and neither place
first. Reads only; writes --out atomically when given. Why: a top-1 gap between two runs is either the same
hard faces (a limit of the measure or of the data) or different ones (a limit of one run)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rekogan.records import write_text_atomic  # noqa: E402


def per_face(res: dict, *, row: str, k: str) -> dict[str, tuple[bool, int]]:
    """{face: (style top-1 right, style rank)} of one method row at one k."""
    rows = res.get("rows", {})
    if row not in rows:
        raise ValueError(f"no row {row!r}; rows: {', '.join(rows)}")
    if k not in rows[row]:
        raise ValueError(f"row {row!r} has no k = {k}; it has k = {', '.join(rows[row])}")
    xs = rows[row][k]
    faces = res["faces"]
    if len(xs) != len(faces):
        raise ValueError(f"row {row!r} at k = {k} has {len(xs)} measures for {len(faces)} faces")
    return {str(f): (bool(x["style_top1"]), int(x["style_rank"])) for f, x in zip(faces, xs)}


def compare(a: dict, b: dict, *, names=("A", "B"), row="fitted + adapter", k="8") -> str:
    pa, pb = per_face(a, row=row, k=k), per_face(b, row=row, k=k)
    if list(pa) != list(pb):
        raise ValueError("the two files measure different faces: " + ", ".join(sorted(set(pa) ^ set(pb))))
    na, nb = names
    lines = [f"| face | {na}: top-1 | {na}: rank | {nb}: top-1 | {nb}: rank |", "|---|---|---|---|---|"]
    for f in pa:
        (ta, ra), (tb, rb) = pa[f], pb[f]
        lines.append(f"| {f} | {'✓' if ta else '✗'} | {ra} | {'✓' if tb else '✗'} | {rb} |")
    groups = {"both": [f for f in pa if pa[f][0] and pb[f][0]],
              f"only {na}": [f for f in pa if pa[f][0] and not pb[f][0]],
              f"only {nb}": [f for f in pa if pb[f][0] and not pa[f][0]],
              "neither": [f for f in pa if not pa[f][0] and not pb[f][0]]}
    n = len(pa)
    lines += ["", f"{na}: {sum(t for t, _ in pa.values())} of {n} first; {nb}: {sum(t for t, _ in pb.values())} of {n}.", ""]
    lines += [f"- {g} ({len(fs)}): {', '.join(fs) or '–'}" for g, fs in groups.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--row", default="fitted + adapter", help="the method row of both files")
    ap.add_argument("--k", default="8")
    ap.add_argument("--names", default=None, help="NAME_A,NAME_B for the columns (default: the file names)")
    ap.add_argument("--out", help="also write the table here (Markdown, atomically)")
    args = ap.parse_args(argv)
    names = tuple(args.names.split(",")) if args.names else (Path(args.a).stem, Path(args.b).stem)
    if len(names) != 2:
        ap.error("--names: two names, joined by a comma")
    try:
        a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.a, args.b))
        text = compare(a, b, names=names, row=args.row, k=args.k)
    except (OSError, ValueError, KeyError) as e:    # json.JSONDecodeError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out:
        write_text_atomic(Path(args.out), f"Command: `python scripts/compare_writer_faces.py "
                          f"{' '.join(sys.argv[1:] if argv is None else argv)}`\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
