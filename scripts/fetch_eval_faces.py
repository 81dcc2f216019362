"""Fetch the extra evaluation writers: Korean Fontsource families from the npm registry, each
merged into one .ttf (rekogan/data/webfonts.py says which and why). Needs npm; evaluation only.

  python scripts/fetch_eval_faces.py [--dest ~/.cache/rekogan/eval_faces]
  python scripts/eval_writer.py --extra-faces ~/.cache/rekogan/eval_faces ...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rekogan.data.webfonts import DEFAULT_DIR, PACKAGES, fetch_all  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=DEFAULT_DIR)
    ap.add_argument("--only", help="comma-separated package names (default: all listed)")
    args = ap.parse_args(argv)
    pk = PACKAGES if not args.only else {n: PACKAGES[n] for n in args.only.split(",")}
    try:
        faces = fetch_all(args.dest, packages=pk)
    except (RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(faces)} faces in {Path(args.dest).expanduser()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
