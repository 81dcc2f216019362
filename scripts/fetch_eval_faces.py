"""Fetch the extra evaluation writers: Korean Fontsource families from the npm registry, each
merged into one .ttf (rekogan/data/webfonts.py says which and why). Needs npm; evaluation only.

  python scripts/fetch_eval_faces.py [--dest ~/.cache/rekogan/eval_faces]
  python scripts/eval_writer.py --extra-faces ~/.cache/rekogan/eval_faces ...

--validation fetches a separate set, for choosing settings (a run's fit.json) without looking at
the 27 test faces above: faces that are neither those 27 nor a design any run trains on. Fontsource
has only one Korean family left that is neither (Pretendard), so the set adds other weights of the
web families whose regular weight is a test face, kept only where the weight looks clearly apart
(hairline or black, a bold brush). They are related to those test faces (same designers), which the
report says; they never share a file or a weight with them.

  python scripts/fetch_eval_faces.py --validation [--dest ~/.cache/rekogan/val_faces]
  python scripts/eval_writer.py --val-faces ~/.cache/rekogan/val_faces ...

--validation-hands fetches a second validation set, 13 handwriting and display faces from npm packages
outside Fontsource (VALIDATION_HANDS), into ~/.cache/rekogan/val_hands:

  python scripts/fetch_eval_faces.py --validation-hands
  python scripts/eval_writer.py --val-faces ~/.cache/rekogan/val_faces,~/.cache/rekogan/val_hands ...
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rekogan.data.webfonts import DEFAULT_DIR, PACKAGES, fetch_all, fetch_package  # noqa: E402
from rekogan.records import write_text_atomic  # noqa: E402

VAL_DIR = "~/.cache/rekogan/val_faces"
# (package, version, weight) -> the face `<package>-<weight>`; pinned like PACKAGES
VALIDATION = [
    ("pretendard", "5.3.0", 400),                       # not in PACKAGES, not a training design
    # sunflower: its test face is weight 300 (it has no 400), so 700 here
    ("gothic-a1", "5.3.0", 100), ("gothic-a1", "5.3.0", 900),
    ("hahmlet", "5.3.0", 100), ("hahmlet", "5.3.0", 900),
    ("ibm-plex-sans-kr", "5.3.0", 100), ("noto-serif-kr", "5.3.0", 900),
    ("sunflower", "5.3.1", 700), ("dongle", "5.2.7", 700), ("gaegu", "5.3.0", 700),
    ("gowun-batang", "5.3.0", 700), ("gothic-a1", "5.3.0", 600),
]


HANDS_DIR = "~/.cache/rekogan/val_hands"
# --validation-hands: a second validation set, of handwriting and display faces like most of the 27 test
# web faces (the first set is mostly other weights of test families). npm packages outside Fontsource,
# each one file: (package, version, the file in the package, the face's name). Checked 2026-12-03: none is
# a Debian face the runs train on, none is a test face (the sha256 is checked too). Pinned like PACKAGES.
# Two pairs are one family in two weights (ssurround / ssurround-air, ohsquare / ohsquareair): top-1 must
# tell them apart.
VALIDATION_HANDS = [
    *[(f"@noonnu/cafe24-{n}", "0.1.0", f"package/fonts/cafe24{n.replace('-', '')}-normal.woff", f"cafe24-{n}")
      for n in ("dangdanghae", "shiningstar", "simplehae", "danjunghae", "dongdong", "oneprettynight",
                "syongsyong", "ssurround", "ssurround-air", "ohsquare", "ohsquareair")],   # MIT (Cafe24)
    ("galmuri", "2.40.3", "package/dist/Galmuri11.ttf", "galmuri11"),                    # OFL-1.1, a pixel face
    ("wanted-sans", "1.0.3", "package/fonts/ttf/WantedSans-Regular.ttf", "wanted-sans"),  # OFL-1.1
]


def fetch_file_package(spec: str, version: str, member: str, stem: str, dest: Path) -> dict:
    """npm pack one package, take one font file from it, write dest/<stem>.ttf (a WOFF unwrapped to
    plain TrueType, its own timestamps kept: the same file on every machine); its manifest entry."""
    import hashlib
    import subprocess
    import tarfile
    import tempfile
    from fontTools.ttLib import TTFont
    from rekogan.records import atomic_path
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["npm", "pack", f"{spec}@{version}", "--pack-destination", tmp, "--silent"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"npm pack {spec}@{version} failed: {r.stderr.strip()[-300:]}")
        with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tf:
            tf.extractall(tmp, filter="data")
        src = Path(tmp) / member
        if not src.is_file():
            raise RuntimeError(f"{spec}@{version} has no {member}")
        meta = json.loads((Path(tmp) / "package" / "package.json").read_text(encoding="utf-8"))
        font = TTFont(str(src))
        font.flavor = None
        font.recalcTimestamp = False
        out = dest / f"{stem}.ttf"
        with atomic_path(out) as t:
            font.save(str(t))
    syllables = sum(1 for c in TTFont(str(out)).getBestCmap() if 0xAC00 <= c <= 0xD7A3)
    return {"package": spec, "version": version, "family": stem, "category": "validation hand",
            "licence": meta.get("license"), "file": out.name, "syllables": syllables,
            "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}


def fetch_validation_hands(dest: str | Path, *, test_dir: str | Path = DEFAULT_DIR, log=print) -> list[dict]:
    """Fetch VALIDATION_HANDS into dest, as fetch_validation does VALIDATION."""
    return _fetch_set(dest, [(f"{stem}.ttf", version, lambda d, it=(spec, version, member, stem): fetch_file_package(*it, d),
                              f"{spec} {version}") for spec, version, member, stem in VALIDATION_HANDS],
                      test_dir=test_dir, log=log)


def fetch_validation(dest: str | Path, *, test_dir: str | Path = DEFAULT_DIR, log=print) -> list[dict]:
    """Fetch VALIDATION into dest (skipping faces already there), refusing any file that is byte for
    byte one of the test faces in test_dir; faces.json rewritten atomically after each face."""
    return _fetch_set(dest, [(f"{name}-{weight}.ttf", version, lambda d, n=name, v=version, w=weight: fetch_package(n, v, d, weight=w),
                              f"{name} {version} weight {weight}") for name, version, weight in VALIDATION],
                      test_dir=test_dir, log=log)


def _fetch_set(dest: str | Path, items: list, *, test_dir: str | Path, log) -> list[dict]:
    """items: (file name, version, fetch(dest) -> manifest entry, label). Each face not already in dest (listed in its
    faces.json, same version, file present) is fetched; one that is byte for byte a test face (test_dir's
    faces.json) is deleted and refused; faces.json is rewritten atomically after each face."""
    dest = Path(dest).expanduser()
    if dest.resolve() == Path(test_dir).expanduser().resolve():
        raise RuntimeError(f"the validation faces must not go into the test faces' folder {dest}")
    dest.mkdir(parents=True, exist_ok=True)
    manifest_file = dest / "faces.json"
    have = {m["file"]: m for m in (json.loads(manifest_file.read_text()) if manifest_file.exists() else [])}
    test_manifest = Path(test_dir).expanduser() / "faces.json"
    test_sha = {m["sha256"] for m in json.loads(test_manifest.read_text())} if test_manifest.exists() else set()
    out = []
    for file, version, fetch_one, label in items:
        m = have.get(file)
        if not (m and m["version"] == version and (dest / m["file"]).exists()):
            m = fetch_one(dest)
            if m["sha256"] in test_sha:
                (dest / m["file"]).unlink()
                raise RuntimeError(f"{m['file']} is byte for byte a test face: not a validation face")
            have[m["file"]] = m
            write_text_atomic(manifest_file, json.dumps(list(have.values()), ensure_ascii=False, indent=1))
            log(f"{label}: {m['syllables']} syllables ({', '.join(filter(None, (m.get('category'), m['licence'])))})")
        out.append(m)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=None, help=f"default {DEFAULT_DIR} ({VAL_DIR} with --validation)")
    ap.add_argument("--only", help="comma-separated package names (default: all listed)")
    ap.add_argument("--validation", action="store_true",
                    help="the validation faces (for choosing settings), not the test faces")
    ap.add_argument("--validation-hands", action="store_true",
                    help=f"the second validation set: handwriting and display faces (default dest {HANDS_DIR})")
    args = ap.parse_args(argv)
    if args.validation and args.validation_hands:
        ap.error("one set at a time: --validation or --validation-hands")
    try:
        if args.validation_hands:
            dest = args.dest or HANDS_DIR
            faces = fetch_validation_hands(dest)
        elif args.validation:
            dest = args.dest or VAL_DIR
            faces = fetch_validation(dest)
        else:
            dest = args.dest or DEFAULT_DIR
            pk = PACKAGES if not args.only else {n: PACKAGES[n] for n in args.only.split(",")}
            faces = fetch_all(dest, packages=pk)
    except (RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(faces)} faces in {Path(dest).expanduser()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
