"""Reading a photo vs reading the clean upload, no fitting (docs/writer_eval_photos_reading.md).

For each hand, the k = 8 references of each hand run (hangul-hand 져균레슨란커빨메, fixed-hand
한화오강누받너박) are laid out as one clean row (160 px cells, as in `eval_writer.py --photos`) and
photographed (rekogan/writer/photo.py; seed s, blue ink for even s, black for odd); the clean row and
each photo are read by rekogan.writer.samples.prepare (ink_picture, grid.cut, to_glyph). Per hand, over
both runs and every seed:
  l1         mean |photo glyph - clean glyph| (0..1); worst_l1 the largest of one photo
  ssim       mean SSIM of photo glyph vs clean glyph
  ink_ratio  the photo's mean ink over the clean's (1 = as dark; > 1 bolder)
  fails      photos that could not be read (WriterError)
each photo's figures also against the real glyphs (l1_real, l1_real_clean) in the JSON.
Hands: the faces of --val-faces (scripts/fetch_eval_faces.py --validation) and, for each, the hands made
from it by eval_writer.hand_variant (--variants; seeded by the face's place in the folder, as
eval_writer.py --val-variants does). Test faces are refused; --test NAMES measures named test faces
for DIAGNOSIS ONLY (never for choosing a setting).

  OMP_NUM_THREADS=1 python scripts/eval_photo_reading.py --seeds 2 --out /tmp/photo_reading.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from eval_writer import VARIANTS, clean_upload, hand_variant, hashes_of_test_faces  # noqa: E402
from rekogan.conventions import to_unit  # noqa: E402
from rekogan.data.fonts import find_faces, render_available  # noqa: E402
from rekogan.hangul import ClassList  # noqa: E402
from rekogan.records import write_text_atomic  # noqa: E402
from rekogan.writer.errors import WriterError  # noqa: E402
from rekogan.writer.images import TUNABLE, reading_overrides, set_reading  # noqa: E402
from rekogan.writer.losses import ssim  # noqa: E402
from rekogan.writer.photo import photograph  # noqa: E402
from rekogan.writer.samples import prepare  # noqa: E402

REFS = {"hangul": "져균레슨란커빨메", "fixed": "한화오강누받너박"}   # each hand run's k = 8 references
TEXT_ALL = REFS["hangul"] + REFS["fixed"]
DEFAULT_VAL_FACES = "~/.cache/rekogan/val_faces"


def compare(photo: torch.Tensor, clean: torch.Tensor, real: torch.Tensor) -> dict:
    """Glyphs (k, 1, S, S) in [-1, 1] (ink +1) read from a photo and from the clean row, and the real
    ones -> the figures of one photo."""
    return dict(l1=float((photo - clean).abs().mean() / 2), ssim=float(ssim(photo, clean).mean()),
                l1_real=float((photo - real).abs().mean() / 2), l1_real_clean=float((clean - real).abs().mean() / 2),
                ink_p=float(((photo + 1) / 2).mean()), ink_c=float(((clean + 1) / 2).mean()))


def summarize(per: list[dict]) -> dict:
    """The photos' figures of one hand -> its means (None when no photo could be read)."""
    ok = [p for p in per if "fail" not in p]
    if not ok:
        return dict(l1=None, ssim=None, worst_l1=None, ink_ratio=None, fails=len(per), per=per)
    return dict(l1=np.mean([p["l1"] for p in ok]), ssim=np.mean([p["ssim"] for p in ok]),
                worst_l1=max(p["l1"] for p in ok), ink_ratio=np.mean([p["ink_p"] / p["ink_c"] for p in ok]),
                fails=len(per) - len(ok), per=per)


def _row(t: torch.Tensor) -> np.ndarray:
    return np.concatenate(list(((t[:, 0] + 1) * 127.5).round().byte().numpy()), 1)


def measure_hand(glyphs: np.ndarray, *, seeds: int, class_list: ClassList, name: str = "",
                 dump: Path | None = None) -> dict:
    """(len(TEXT_ALL), 64, 64) uint8 white-on-black glyphs of one hand (in TEXT_ALL's order) -> the
    hand's figures (summarize), over both runs' references and photo seeds 0..seeds-1."""
    per = []
    for run, text in REFS.items():
        idx = [TEXT_ALL.index(c) for c in text]
        real = to_unit(torch.from_numpy(glyphs[idx])[:, None])
        clean = clean_upload(real)
        sc = prepare(clean, text, class_list=class_list, size=64).targets()
        for seed in range(seeds):
            ph = photograph(clean, seed=seed, ink="blue" if seed % 2 == 0 else "black")
            try:
                sp = prepare(ph, text, class_list=class_list, size=64).targets()
            except WriterError as e:
                print(name, run, seed, "FAILED", e)
                per.append(dict(run=run, seed=seed, fail=str(e)))
                continue
            per.append(dict(run=run, seed=seed, **compare(sp, sc, real)))
            if dump:
                dump.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.concatenate([_row(real), _row(sc), _row(sp)], 0)).save(dump / f"{name}_{run}_{seed}.png")
                (dump / f"{name}_{run}_{seed}.jpg").write_bytes(ph)
    return summarize(per)


def _glyphs(face, class_list: ClassList) -> np.ndarray:
    kept, g = render_available(face, class_list, size=64)
    if len(kept) != len(class_list):
        raise SystemExit(f"error: {face.name} lacks {len(class_list) - len(kept)} of the syllables {TEXT_ALL}")
    return g


def validation_hands(folder: str, *, names: list[str] | None, variants: list[str], class_list: ClassList) -> dict:
    """name -> glyphs of each validation face in `folder` (only `names` when given) and of the hands made
    from it; a test face in the folder (a system face or a test web face) is refused."""
    faces = find_faces([folder])
    if not faces:
        raise SystemExit(f"error: no font files in {folder}; run scripts/fetch_eval_faces.py --validation first")
    test_sha, system = hashes_of_test_faces(None), {f.name for f in find_faces()}
    for f in faces:
        if f.name in system:                # the held-out test faces are installed system faces
            raise SystemExit(f"error: {f.name} in {folder} is also an installed system face: not a validation face "
                             "(--test measures test faces, for diagnosis only)")
        if hashlib.sha256(Path(f.path).read_bytes()).hexdigest() in test_sha:
            raise SystemExit(f"error: {f.name} in {folder} is one of the test faces: not a validation face "
                             "(--test measures test faces, for diagnosis only)")
    if names:
        missing = sorted(set(names) - {f.name for f in faces})
        if missing:
            raise SystemExit(f"error: no face {', '.join(missing)} in {folder}")
    hands = {}
    for j, f in enumerate(faces):           # j: the face's place in the folder, as eval_writer seeds its variants
        if names and f.name not in names:
            continue
        g = _glyphs(f, class_list)
        hands[f.name] = g
        for v in variants:
            hands[f"{f.name}~{v}"] = hand_variant(g, v, seed=1000 * j + VARIANTS.index(v))
    return hands


def diagnosis_hands(names: list[str], *, class_list: ClassList) -> dict:
    """DIAGNOSIS ONLY: name -> glyphs of the named test faces (held-out system faces or web test faces)."""
    from rekogan.data.webfonts import DEFAULT_DIR
    faces = {f.name: f for f in find_faces() + find_faces([str(Path(DEFAULT_DIR).expanduser())])}
    missing = [n for n in names if n not in faces]
    if missing:
        raise SystemExit(f"error: no test face {', '.join(missing)} (system fonts or {DEFAULT_DIR})")
    return {n: _glyphs(faces[n], class_list) for n in sorted(names)}


def _names(text: str | None) -> list[str]:
    return [n for n in (text or "").split(",") if n]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=4, help="photos per run and hand (seeds 0..N-1; default 4)")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"hands made from each validation face ({','.join(VARIANTS)}; '' for none)")
    ap.add_argument("--faces", metavar="NAMES", help="only these validation faces (comma-separated)")
    ap.add_argument("--val-faces", metavar="DIR", default=DEFAULT_VAL_FACES,
                    help=f"the validation faces (default {DEFAULT_VAL_FACES})")
    ap.add_argument("--test", metavar="NAMES",
                    help="DIAGNOSIS ONLY: measure these test faces instead (no variants); never choose on them")
    ap.add_argument("--out", metavar="JSON", help="write every figure here (hand -> figures)")
    ap.add_argument("--dump", metavar="DIR", help="save each photo and its real/clean/photo glyph rows here")
    ap.add_argument("--reading", action="append", default=[], metavar="NAME=VALUE",
                    help="read the photos with this constant of rekogan/writer/images.py set (one of "
                         f"{', '.join(TUNABLE)}): a screen of a reading, without editing the file; repeatable")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    unknown = sorted(set(_names(args.variants)) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variant {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    if args.test and args.faces:
        ap.error("--test measures test faces instead of validation ones: leave out --faces")
    try:
        old_reading = set_reading(reading_overrides(args.reading))
    except ValueError as e:
        ap.error(str(e))
    try:
        return _run(args)
    finally:
        set_reading(old_reading)


def _run(args) -> dict:
    variants = _names(args.variants)
    class_list = ClassList(tuple(TEXT_ALL))
    if args.test:
        print("DIAGNOSIS ONLY: test faces (do not choose settings on these figures)", flush=True)
        hands = diagnosis_hands(_names(args.test), class_list=class_list)
    else:
        hands = validation_hands(str(Path(args.val_faces).expanduser()), names=_names(args.faces),
                                 variants=variants, class_list=class_list)
    res, t0 = {}, time.time()
    for name, g in hands.items():
        res[name] = r = measure_hand(g, seeds=args.seeds, class_list=class_list, name=name,
                                     dump=Path(args.dump) if args.dump else None)
        if r["l1"] is None:
            print(f"{name:32s} no photo read; fails {r['fails']}", flush=True)
            continue
        print(f"{name:32s} L1 {r['l1']:.4f} (worst {r['worst_l1']:.4f}) SSIM {r['ssim']:.3f} "
              f"ink p/c {r['ink_ratio']:.3f} fails {r['fails']}", flush=True)
    read = [r for r in res.values() if r["l1"] is not None]
    L, S = [r["l1"] for r in read], [r["ssim"] for r in read]
    if read:
        print(f"ALL {len(res)} hands: mean L1 {np.mean(L):.4f} worst {max(L):.4f}; mean SSIM {np.mean(S):.4f} "
              f"worst {min(S):.4f}; fails {sum(r['fails'] for r in res.values())}; {time.time() - t0:.0f}s")
    if args.out:
        write_text_atomic(args.out, json.dumps(res, indent=1, default=float))
    return res


if __name__ == "__main__":
    main()
