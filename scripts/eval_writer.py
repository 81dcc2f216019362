"""Measure fitted writers on hands the model never saw: the 8 held-out font faces, and with
--extra-faces DIR every face in DIR too (the 27 Korean web fonts of scripts/fetch_eval_faces.py,
none of them a design the runs trained on).

For each unseen face and k in --k: fit a writer to k reference syllables of the face, draw
--others other syllables (never references) and compare them with the face's real glyphs:
  SSIM, L1          per glyph, mean over syllables and faces
  style top-1       the face whose real glyphs are nearest to the drawn set (mean over syllables of
                    a reader-feature distance) is the reference face; gallery: all unseen faces
                    (and, in the by-group table, only the faces of the reference's own group:
                    for the 8 held-out system faces that is the figure of the tables before)
  style rank        the reference face's rank among ALL faces (train + held-out) by that distance
  readable          the project's reader reads the intended syllable (fitted writers only matter)
Baselines in the same table: a random seed; the best of --bank seeds on the k references (same
objective as the fit); retrieval: the real glyphs of the training face that best matches the k
references (same objective). Retrieval draws another real face, so its style rank is >= 2.

  python scripts/fetch_eval_faces.py                    # once: ~/.cache/rekogan/eval_faces
  python scripts/eval_writer.py --threads 2 --extra-faces ~/.cache/rekogan/eval_faces --out docs/writer_eval.md
  python scripts/eval_writer.py --checkpoint checkpoints/hangul/epoch_NNN.safetensors \\
      --reader checkpoints/reader/reader.safetensors --out docs/writer_eval_hangul.md

A run of all 11,172 syllables (a split run, split.json beside it) is measured on the SERI95
syllables (trained) plus the run's held-out KS X 1001 syllables (never trained), keeping those
that every held-out face has: references come from the trained ones, the compared syllables
mix both, and `readable (held-out syl.)` is the reader's figure on the held-out ones alone.
Results (every number) also go to OUT with .json; --table-from JSON rewrites the table only.

A hand run (scripts/ship_writer_run.py: encoder.safetensors beside --checkpoint; --encoder auto, the
default, picks it up) adds the row `encoder` (the style encoder's writer alone, one forward pass) and
its fits start from that writer, as the app's do (rekogan.writer.fit(encoder=)); --encoder none
fits it as any run.

  python scripts/eval_writer.py --checkpoint checkpoints/hangul-hand/epoch_068.safetensors \
      --reader checkpoints/reader/reader.safetensors --threads 1 --k 4,8,16 --skip-z \
      --extra-faces ~/.cache/rekogan/eval_faces --out docs/writer_eval_hand_hangul.md

The fits use the run's fit defaults (fit.json beside --checkpoint, rekogan.writer.fit.run_defaults),
as the app does; --fit KEY=VALUE goes on top; --fit-defaults none leaves the file out. The table and
JSON say which applied.

--val-faces DIR measures the faces in DIR (scripts/fetch_eval_faces.py --validation) INSTEAD of the
test faces (the 8 held-out system faces and --extra-faces are neither fitted nor in any gallery): for
choosing settings without looking at the test faces. A face in DIR named like a face of the font
source, or byte for byte one of the test web faces, is refused.

  python scripts/eval_writer.py --checkpoint checkpoints/hangul-hand/epoch_068.safetensors \
      --reader checkpoints/reader/reader.safetensors --threads 1 --k 8 --skip-z --bank 16 \
      --val-faces ~/.cache/rekogan/val_faces --fit read=0.05 --out /tmp/val_read005.md

The 12 validation faces alone proved too easy to choose by (11 of 12 at style top-1 whatever the
setting): --val-variants adds, for each, other hands made from it (slanted, bolder, thinner, narrower,
wobbly: hand_variant), in the gallery and, with --val-targets all, fitted and measured too. Top-1 then
asks for a writer's slant, weight and width, not only its family.

  python scripts/eval_writer.py ... --val-faces ~/.cache/rekogan/val_faces \
      --val-variants slant,bold,thin,narrow,wobble --val-targets all --out /tmp/val_hard.md

--judge READER adds `readable (judge)`: the same glyphs read by another reader. A fit with guard=read
(rekogan/writer/fit.py) draws with less adapter where the fit's own reader misreads, so that reader's
`readable` is partly its own choice; the judge, which chose nothing, is the independent figure.

--val-variants outline with --photos screens the photo table on hollow strokes (what a photo changes most).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.conventions import to_unit  # noqa: E402
from rekogan.data import load_splits  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402
from rekogan.records import write_text_atomic  # noqa: E402
from rekogan.sampling import seed_to_z  # noqa: E402
from rekogan.writer.fit import FitConfig, RunDefaults, fit, run_defaults  # noqa: E402
from rekogan.writer.latent import layered_forward  # noqa: E402
from rekogan.writer.losses import JointFeatures, ReaderFeatures, feature_distance, pixel_loss, ssim  # noqa: E402
from rekogan.writer import images  # noqa: E402

METHODS = ["random seed", "best of bank", "retrieval (train face)", "encoder", "fitted z", "fitted per-layer", "fitted + adapter"]
FITTED = ("encoder", "fitted z", "fitted per-layer", "fitted + adapter")


def find_encoder(choice: str, checkpoint: Path, generator):
    """(StyleEncoder or None, its path or None) for --encoder: 'auto' (beside the checkpoint), 'none', or a file."""
    from rekogan.writer.encoder import encoder_beside, load_encoder
    from rekogan.writer.errors import WriterError
    path = None if choice == "none" else encoder_beside(checkpoint) if choice == "auto" else Path(choice)
    if path is None:
        return None, None
    try:
        return load_encoder(path, generator=generator), path
    except WriterError as e:
        raise SystemExit(f"error: {e}") from None


def style_embedding(feats: ReaderFeatures, x: torch.Tensor) -> torch.Tensor:
    """(N, D) compact reader-feature embedding: each unit-normalised map pooled to 4x4, + pooled vector."""
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 256):
            f = feats(x[i:i + 256])
            parts = [F.adaptive_avg_pool2d(m, 4).flatten(1) for m in f[:-1]] + [F.normalize(f[-1], dim=1)]
            out.append(torch.cat(parts, 1).half())
    return torch.cat(out)


def objective(feats, x, t, tf=None) -> torch.Tensor:
    """(N,) the fit's per-glyph objective (pixel + reader features), for choosing baselines."""
    with torch.no_grad():
        return pixel_loss(x, t) + feature_distance(feats(x), tf if tf is not None else feats(t))


def measures(x, real, emb_all, face_row, heldout_rows, feats, reader, labels_syl, unseen=None, group_rows=None,
             judge=None) -> dict:
    e = style_embedding(feats, x).float()                                   # (M, D)
    d = torch.stack([((emb_all[f].float() - e) ** 2).sum(1).mean() for f in range(len(emb_all))])  # (F,)
    rank = int((d < d[face_row]).sum()) + 1
    held_best = heldout_rows[int(d[heldout_rows].argmin())]
    _, read = reader.read(x)
    right = (read == labels_syl).float()
    out = {"ssim": float(ssim(x, real).mean()), "l1": float((x - real).abs().mean() / 2),
           "style_top1": float(held_best == face_row), "style_rank": rank, "readable": float(right.mean())}
    if judge is not None:                            # a second reader, which neither fitted nor guarded the writer
        out["readable_judge"] = float((judge.read(x)[1] == labels_syl).float().mean())
    if group_rows is not None:                       # top-1 among the faces of the reference's own group
        out["style_top1_group"] = float(group_rows[int(d[group_rows].argmin())] == face_row)
    if unseen is not None and bool(unseen.any()):
        out["readable_heldout_syllables"] = float(right[unseen].mean())
    return out


def syllable_order(n: int, seed: int = 0) -> torch.Tensor:
    """(n,) the order the syllables are taken in: the first trained ones are the references, the next the
    compared ones. Seed 0 is every table's; --ref-seed draws other references and compared syllables."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def guarded(result) -> dict:
    """{'guarded': classes the legibility guard drew with less adapter} for a fit with guard=read, else {}."""
    return {"guarded": result.losses["guarded"]} if "guarded" in result.losses else {}


def hashes_of_test_faces(folder: str | None) -> set[str]:
    """sha256 of every test web face (faces.json of scripts/fetch_eval_faces.py's folder), for refusing
    a validation face that is one of them."""
    from rekogan.data.webfonts import DEFAULT_DIR
    manifest = Path(folder or DEFAULT_DIR).expanduser() / "faces.json"
    return {m["sha256"] for m in json.loads(manifest.read_text())} if manifest.is_file() else set()


def extra_faces(folder: str, classes, size: int, known: set[str], *, prefix: str = "web:",
                refuse_sha: set[str] = frozenset()) -> dict:
    """name -> (C, S, S) uint8 real glyphs of every face in `folder` that has all `classes`
    (the others are named and skipped); a name that is also an installed face is refused, and so is a
    file whose sha256 is in refuse_sha (a test face given as a validation face)."""
    import hashlib
    from rekogan.data.fonts import find_faces, render_available
    faces = find_faces([d for d in str(folder).split(",") if d])      # one folder, or several joined by commas
    if not faces:
        raise SystemExit(f"error: no font files in {folder}; run scripts/fetch_eval_faces.py first")
    out, skipped = {}, []
    for f in faces:
        name = f"{prefix}{f.name}"
        if f.name in known or name in known:
            raise SystemExit(f"error: {f.name} in {folder} is also a face of the font source: not an unseen writer")
        if refuse_sha and hashlib.sha256(Path(f.path).read_bytes()).hexdigest() in refuse_sha:
            raise SystemExit(f"error: {f.name} in {folder} is one of the test faces: not a validation face")
        kept, glyphs = render_available(f, classes, size=size)
        if len(kept) == len(classes):
            out[name] = glyphs
        else:
            skipped.append(f"{f.name} ({len(classes) - len(kept)} missing)")
    print(f"extra faces: {len(out)} of {len(faces)} have all {len(classes)} syllables"
          + (f"; skipped {', '.join(skipped)}" if skipped else ""), flush=True)
    return out


# hands made from a validation face, for a harder validation set (--val-variants): what handwriting
# varies that a font family rarely does. Each is a fixed, seeded transform of the face's glyphs, done
# at 4x the size so that a sub-pixel change survives the return to 64 px.
VARIANTS = ("slant", "bold", "thin", "narrow", "wobble", "outline")


def hand_variant(glyphs, kind: str, *, seed: int = 0):
    """(C, S, S) uint8 white-on-black glyphs -> the same glyphs as another hand of `kind` (VARIANTS):
    slant  sheared 12 degrees to the right (top moves right), about the centre
    bold   strokes about 1 px wider at 64 px (a 5x5 maximum at 4x)
    thin   strokes about 1 px narrower (a 5x5 minimum at 4x)
    narrow 0.82 of the width, centred
    wobble every glyph bent by its own smooth random displacement (about 1.5 px at 64 px): a hand
           that never writes a syllable twice alike, the same for a given seed
    outline only the strokes' contour, about 1 px wide (the glyph less its 9x9 minimum at 4x), as an
           outline face draws (strokes under about 2 px stay whole): hollow strokes are where a photo's
           blur and threshold change the most (the one photo miss of hangul-hand, an outline face)"""
    import numpy as np
    from PIL import Image, ImageFilter
    if kind not in VARIANTS:
        raise ValueError(f"unknown variant {kind!r}; one of {', '.join(VARIANTS)}")
    C, S, _ = glyphs.shape
    big = 4 * S
    rng = np.random.default_rng(seed)
    out = np.empty_like(glyphs)
    for i in range(C):
        im = Image.fromarray(glyphs[i]).resize((big, big), Image.BICUBIC)
        c = big / 2
        if kind == "slant":          # x_in = x_out + t * (y_out - c): rows above the centre move right
            t = math.tan(math.radians(12))
            im = im.transform((big, big), Image.AFFINE, (1, t, -t * c, 0, 1, 0), Image.BICUBIC)
        elif kind == "narrow":
            f = 0.82
            im = im.transform((big, big), Image.AFFINE, (1 / f, 0, c - c / f, 0, 1, 0), Image.BICUBIC)
        elif kind == "bold":
            im = im.filter(ImageFilter.MaxFilter(5))
        elif kind == "thin":
            im = im.filter(ImageFilter.MinFilter(5))
        elif kind == "outline":
            a = np.asarray(im, dtype=np.int16)
            im = Image.fromarray(np.clip(a - np.asarray(im.filter(ImageFilter.MinFilter(9)), dtype=np.int16),
                                         0, 255).astype(np.uint8))
        else:                        # wobble: a coarse random field, smoothly upsampled, moves every pixel
            coarse = rng.normal(0, 1.5 * 4, size=(2, 4, 4)).astype(np.float32)
            field = [np.asarray(Image.fromarray(d).resize((big, big), Image.BICUBIC)) for d in coarse]
            yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
            src = np.asarray(im, dtype=np.float32)
            sx = np.clip(np.rint(xx + field[0]), 0, big - 1).astype(int)
            sy = np.clip(np.rint(yy + field[1]), 0, big - 1).astype(int)
            im = Image.fromarray(src[sy, sx].astype(np.uint8))
        out[i] = np.asarray(im.resize((S, S), Image.BOX))
    return out


def clean_upload(glyphs: torch.Tensor):
    """(k, 1, S, S) glyphs in [-1, 1] -> the clean upload of them: one row of 160 px cells, dark on white
    (rekogan/writer/photo.py row_picture), as a person's scan would be; photograph() makes the photo of it."""
    import numpy as np
    from PIL import Image
    from rekogan.conventions import to_paper
    from rekogan.writer.photo import row_picture
    paper = to_paper(glyphs).numpy()                                        # (k, S, S) dark on white
    return row_picture(np.stack([np.asarray(Image.fromarray(g).resize((160, 160), Image.BICUBIC)) for g in paper]))


def universe(checkpoint: Path, classes, size: int):
    """(syllables the table is measured on, the set of them the run never trained on). A class
    run: its classes. A split run: SERI95 + its held-out KS X 1001 syllables, kept where every
    installed held-out face has a glyph (two faces cover only part of the 11,172)."""
    split = checkpoint.parent / "split.json"
    if len(classes) <= 600 or not split.is_file():
        return classes, set()
    from rekogan.data.fonts import HELDOUT_FACES, find_faces, render_available
    from rekogan.hangul import ClassList, seri95
    held_syl = json.loads(split.read_text(encoding="utf-8"))["heldout_ksx1001"]
    cand = ClassList(tuple(dict.fromkeys(list(seri95()) + list(held_syl))))
    keep = set(range(len(cand)))
    faces = {f.name: f for f in find_faces()}
    for name in HELDOUT_FACES:
        if name in faces:
            keep &= set(render_available(faces[name], cand, size=size)[0])
    chosen = ClassList(tuple(cand.syllable(i) for i in sorted(keep)))
    return chosen, set(held_syl) & set(chosen)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/fixed/epoch_186.safetensors")
    ap.add_argument("--reader", default="checkpoints/classifier/classifier.safetensors")
    ap.add_argument("--judge", default=None, metavar="READER",
                    help="also measure readability with this reader (column 'readable (judge)'): one that neither "
                         "fitted the writers nor, with fit guard=read, chose their strengths")
    ap.add_argument("--fit-features", default=None, metavar="READER",
                    help="fit with this reader's features beside --reader's (losses.JointFeatures); measured by --reader alone")
    ap.add_argument("--ref-seed", type=int, default=0, metavar="N",
                    help="seed of the syllable order (references, compared syllables); 0, the default, is every table's. "
                         "A screen on validation faces run at several seeds has that many samples per face")
    ap.add_argument("--k", default="1,4,8,16")
    ap.add_argument("--faces", type=int, default=8, help="how many held-out faces (default all 8)")
    ap.add_argument("--others", type=int, default=128, help="syllables drawn and compared per face")
    ap.add_argument("--bank", type=int, default=1000, help="seeds of the best-of-seeds baseline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/writer_eval.md")
    ap.add_argument("--table-from", help="rewrite the table from a results JSON, no computing")
    ap.add_argument("--extra-faces", metavar="DIR",
                    help="more writers the run never saw: the faces in DIR (scripts/fetch_eval_faces.py), "
                         "each used if it has every measured syllable")
    ap.add_argument("--fit", action="append", default=[], metavar="KEY=VALUE",
                    help="a FitConfig field for the fitted rows (e.g. steps_layers=80, adapter=lowrank); repeatable")
    ap.add_argument("--skip-z", action="store_true", help="leave out the 'fitted z' rows (saves ~40 %% of the fits)")
    ap.add_argument("--photos", action="store_true",
                    help="only the photo table: for each face (k = the largest --k), fit from a clean upload of the "
                         "references and from a phone-style photo of it (rekogan/writer/photo.py), compare on the others")
    ap.add_argument("--only-faces", metavar="N", type=int, default=None,
                    help="a subset: the first N unseen faces of each group (system, web) only")
    ap.add_argument("--fit-defaults", default="auto", choices=("auto", "none"),
                    help="'auto': the run's fit.json beside --checkpoint gives the fit defaults (as in the app); "
                         "'none': FitConfig's own")
    ap.add_argument("--val-faces", metavar="DIR[,DIR]",
                    help="measure the faces in DIR instead of the test faces (scripts/fetch_eval_faces.py "
                         "--validation, --validation-hands; several folders joined by commas): for choosing settings")
    ap.add_argument("--val-variants", metavar="KINDS",
                    help=f"with --val-faces: add, for each face, these other hands made from it ({','.join(VARIANTS)}; "
                         "hand_variant): they join the style gallery, so top-1 must tell a face from its slanted, "
                         "bolder, thinner, narrower and wobbly versions")
    ap.add_argument("--val-targets", default="all", choices=("all", "faces"),
                    help="with --val-variants: fit and measure every hand ('all') or only the faces, the variants "
                         "then only in the gallery ('faces')")
    ap.add_argument("--fit-set", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE...]",
                    help="one more fitted row, 'fitted + adapter [NAME]', with these FitConfig values over the fit "
                         "defaults and --fit: several settings screened in one run on the same faces, references, "
                         "gallery and baselines; repeatable")
    ap.add_argument("--val-sample", metavar="N", type=int, default=None,
                    help="with --val-faces: fit and measure a fixed random N of the validation hands "
                         "(torch.randperm with seed 25, the first N; the gallery keeps them all): a screening subset")
    ap.add_argument("--encoder", default="auto", metavar="auto|none|FILE",
                    help="a style encoder the fits start from: 'auto' (encoder.safetensors beside --checkpoint, "
                         "a hand run's), 'none', or a file")
    ap.add_argument("--reading", action="append", default=[], metavar="NAME=VALUE",
                    help="with --photos: read the photos (and the clean uploads) with this constant of "
                         "rekogan/writer/images.py set (one of SHARPEN_SIGMA, SHARPEN_AMOUNT, HAIRLINE_AMOUNT, "
                         "HAIRLINE_SMOOTH): a screen of a reading, without editing the file; repeatable")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.table_from:
        res = json.loads(Path(args.table_from).read_text())
        out.write_text(table(res), encoding="utf-8"); print(table(res)); return 0
    torch.set_num_threads(args.threads)
    t_start = time.time()
    for d in (args.val_faces or "").split(","):     # a folder that is not there is named, not skipped
        if d and not Path(d).expanduser().is_dir():
            ap.error(f"--val-faces: no folder {d} (scripts/fetch_eval_faces.py --validation / --validation-hands)")
    if args.val_faces and args.extra_faces:
        ap.error("--val-faces replaces the test faces: leave out --extra-faces")
    variants = [v for v in (args.val_variants or "").split(",") if v]
    if variants and not args.val_faces:
        ap.error("--val-variants makes hands from the validation faces: give --val-faces")
    if set(variants) - set(VARIANTS):
        ap.error(f"--val-variants: unknown {', '.join(sorted(set(variants) - set(VARIANTS)))}; one of {', '.join(VARIANTS)}")
    try:
        cli_over = FitConfig.overrides(args.fit)
        defaults = run_defaults(REPO / args.checkpoint) if args.fit_defaults == "auto" else RunDefaults(values={})
        fit_over = {**defaults.values, **cli_over}
        FitConfig(**fit_over)
    except ValueError as e:
        ap.error(str(e))
    fit_sets = {}                                    # NAME -> FitConfig values over fit_over (--fit-set)
    for spec in args.fit_set:
        name, _, pairs = spec.partition(":")
        if not name or not pairs or name in fit_sets:
            ap.error(f"--fit-set {spec!r}: expected a new NAME:KEY=VALUE[,KEY=VALUE...]")
        try:
            fit_sets[name] = FitConfig.overrides(pairs.split(","))
            FitConfig(**{**fit_over, **fit_sets[name]})
        except ValueError as e:
            ap.error(f"--fit-set {name}: {e}")
    if args.reading and not args.photos:
        ap.error("--reading sets how photos are read: give --photos")
    try:
        reading = images.reading_overrides(args.reading)
    except ValueError as e:
        ap.error(str(e))
    images.set_reading(reading)                      # this process only: a screen's setting
    if fit_sets and args.photos:
        ap.error("--fit-set adds rows to the fit table; the photo table fits the defaults only")
    if args.val_sample is not None and not args.val_faces:
        ap.error("--val-sample picks among the validation hands: give --val-faces")
    fit_record = {"defaults": defaults.to_dict(), "overrides": cli_over,
                  **({"sets": fit_sets} if fit_sets else {}), **({"reading": reading} if reading else {})}
    print(f"fit defaults: {defaults.describe()}" + (f"; --fit on top: {json.dumps(cli_over)}" if cli_over else ""),
          flush=True)
    ks = [int(v) for v in args.k.split(",")]
    G, meta = load_generator(REPO / args.checkpoint)
    G = G.to(memory_format=torch.contiguous_format)
    E, e_path = find_encoder(args.encoder, REPO / args.checkpoint, G)
    if E is not None:
        print(f"fits start from the style encoder {e_path}", flush=True)
    run_classes = meta["class_list"]
    classes, unseen_syl = universe(REPO / args.checkpoint, run_classes, G.cfg.size)   # what is measured
    lab = torch.tensor([run_classes.index(s) for s in classes])   # a measured syllable -> G's label
    codes = torch.tensor([ord(run_classes.syllable(i)) - SBASE for i in range(len(run_classes))])  # G's label -> syllable
    reader = load_reader(REPO / args.reader)
    feats = ReaderFeatures(reader)
    judge = load_reader(REPO / args.judge) if args.judge else None
    # what the fits see: the reader's features, or with --fit-features those and another reader's (JointFeatures);
    # the measures (style embedding, readable) stay the reader's own
    fit_feats = JointFeatures(feats, ReaderFeatures(load_reader(REPO / args.fit_features))) if args.fit_features else feats
    train, held = load_splits("fonts", classes=classes, size=G.cfg.size)
    full_names = train.group_names
    C = len(classes)

    def w0(n):  # the typical stroke weight (0) for runs that have the input; seeds draw with it
        return torch.zeros(n) if getattr(G.cfg, "weight_cond", False) else None

    def face_glyphs(gs, gi):
        m = gs.groups == gi
        imgs = torch.zeros(C, gs.images.shape[1], gs.images.shape[2], dtype=torch.uint8)
        imgs[gs.labels[m]] = gs.images[m]
        return to_unit(imgs[:, None])                                        # (C, 1, S, S)

    # the held-out system faces: measured and in the gallery, except with --val-faces (then not looked at)
    system_ids = [] if args.val_faces else sorted(set(held.groups.tolist()))
    held_ids = system_ids[:args.faces]
    train_ids = sorted(set(train.groups.tolist()))
    group_of = {gi: "held-out system faces" for gi in system_ids}
    if args.val_faces:
        extra = extra_faces(args.val_faces, classes, G.cfg.size, set(full_names) | set(held.group_names), prefix="val:",
                            refuse_sha=hashes_of_test_faces(None))
    else:
        extra = extra_faces(args.extra_faces, classes, G.cfg.size, set(full_names)) if args.extra_faces else {}
    for j, name in enumerate(list(extra) if variants else []):
        for v in variants:                            # seeded per face and kind: the same hands every run
            extra[f"{name}~{v}"] = hand_variant(extra[name], v, seed=1000 * j + VARIANTS.index(v))
    full_names = list(full_names)
    extra_ids, target_ids = [], []
    for name, imgs in extra.items():                  # new group ids after the font source's
        gi = len(full_names)
        full_names.append(name)
        extra_ids.append(gi)
        is_variant = "~" in name
        group_of[gi] = ("validation variants" if is_variant else "validation faces") if args.val_faces else "web faces"
        if not (is_variant and args.val_targets == "faces"):
            target_ids.append(gi)
    perm = syllable_order(C, args.ref_seed)
    kmax = max(ks)
    trained = torch.tensor([classes.syllable(int(i)) not in unseen_syl for i in perm])
    refs = perm[trained][:kmax]                       # references: syllables the run trained on
    others = perm[~torch.isin(perm, refs)][:args.others]
    unseen = torch.tensor([classes.syllable(int(i)) in unseen_syl for i in others])
    syl_others = torch.tensor([ord(classes.syllable(int(i))) - SBASE for i in others])
    if unseen_syl:
        print(f"{len(classes)} syllables measured, {len(unseen_syl)} of them held out of training; "
              f"{int(unseen.sum())} of the {len(others)} compared are held out", flush=True)
    print(f"faces: {[full_names[i] for i in held_ids]}; {len(train_ids)} train faces; refs {''.join(classes.syllable(int(i)) for i in refs)}", flush=True)
    # every face's real glyphs of the other syllables, as style embeddings (the style gallery)
    all_ids = train_ids + system_ids + extra_ids
    real = {gi: face_glyphs(train if gi in train_ids else held, gi) for gi in all_ids if gi not in extra_ids}
    real.update({gi: to_unit(torch.from_numpy(extra[full_names[gi]])[:, None]) for gi in extra_ids})
    held_ids = held_ids + target_ids                 # the hands fitted and measured (the gallery: all of extra_ids)
    if args.val_sample is not None:                  # a fixed random subset of the validation hands
        pick = torch.randperm(len(target_ids), generator=torch.Generator().manual_seed(25))[:args.val_sample]
        held_ids = [target_ids[int(i)] for i in pick]
    if args.only_faces is not None:                  # a labelled subset: the first N of each group
        held_ids = [gi for gi in held_ids if gi not in extra_ids][:args.only_faces] + target_ids[:args.only_faces]
    if args.photos:
        return photo_table(args, argv, G=G, feats=fit_feats, real=real, held_ids=held_ids, names=full_names, group_of=group_of,
                           refs=refs[:kmax], others=others, classes=classes, run_classes=run_classes, lab=lab,
                           fit_over=fit_over, t_start=t_start, out=out, codes=codes, encoder=E, fit_record=fit_record)
    emb_all = torch.stack([style_embedding(feats, real[gi][others]) for gi in all_ids])  # (F, M, D)
    row_of = {gi: r for r, gi in enumerate(all_ids)}
    heldout_rows = [row_of[gi] for gi in system_ids] + [row_of[gi] for gi in extra_ids]
    group_rows = {g: [row_of[gi] for gi in all_ids if group_of.get(gi) == g] for g in set(group_of.values())}
    print(f"gallery: {len(all_ids)} faces x {len(others)} syllables ({time.time() - t_start:.0f} s)", flush=True)
    # the seed bank: per-glyph objective of every seed on every face's references
    bank_loss = torch.zeros(args.bank, len(held_ids), kmax)
    tgt = {gi: real[gi][refs] for gi in held_ids}
    tgt_f = {gi: [f.detach() for f in feats(tgt[gi])] for gi in held_ids}
    with torch.no_grad():
        for s0 in range(0, args.bank, 32):
            seeds = range(s0, min(args.bank, s0 + 32))
            z = torch.stack([seed_to_z(s, G.cfg.z_dim) for s in seeds]).repeat_interleave(kmax, 0)
            x = layered_forward(G, z[:, None], lab[refs].repeat(len(seeds)), w0(len(z)))
            fx = feats(x)
            for j, gi in enumerate(held_ids):
                tf = [f.repeat(len(seeds), *([1] * (f.ndim - 1))) for f in tgt_f[gi]]
                l = pixel_loss(x, tgt[gi].repeat(len(seeds), 1, 1, 1)) + feature_distance(fx, tf)
                bank_loss[s0:s0 + len(seeds), j] = l.view(len(seeds), kmax)
    print(f"seed bank of {args.bank} done ({time.time() - t_start:.0f} s)", flush=True)
    # retrieval: every training face's objective on the references
    train_loss = torch.stack([torch.stack([objective(feats, real[ti][refs], tgt[gi], tgt_f[gi]) for gi in held_ids])
                              for ti in train_ids])                      # (T, H, kmax)
    methods = [m for m in METHODS if not (args.skip_z and m == "fitted z") and not (E is None and m == "encoder")]
    methods += [f"fitted + adapter [{name}]" for name in fit_sets]
    rows = {m: {k: [] for k in ks} for m in methods}
    fit_seconds = {m: {k: [] for k in ks} for m in methods if m in FITTED or m.startswith("fitted + adapter [")}

    def draw(latents, weight=None, adapter=None):
        with torch.no_grad():
            w = None if w0(1) is None else torch.full((len(others),), float(weight or 0.0))
            return layered_forward(G, latents[None].expand(len(others), -1, -1), lab[others], w, adapter=adapter)

    def results(done: int) -> dict:
        """Every number of the first `done` faces."""
        faces = held_ids[:done]
        return {"command": "python scripts/eval_writer.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
                "checkpoint": args.checkpoint, "reader": args.reader, "judge": args.judge, "fit_features": args.fit_features, "ref_seed": args.ref_seed, "faces": [full_names[i] for i in faces],
                "train_faces": len(train_ids), "gallery_heldout": len(heldout_rows),
                "groups": {full_names[gi]: group_of[gi] for gi in faces}, "extra_faces": args.extra_faces,
                "val_faces": args.val_faces, "val_variants": variants, "val_targets": args.val_targets if variants else None,
                "fit_defaults": fit_record,
                "refs": "".join(classes.syllable(int(i)) for i in refs), "others": len(others),
                "others_heldout_syllables": int(unseen.sum()), "bank": args.bank, "ks": ks, "threads": args.threads,
                "fit_config": FitConfig(**fit_over).to_dict(), "rows": rows,
                "encoder": None if e_path is None else str(e_path.resolve().relative_to(REPO) if e_path.resolve().is_relative_to(REPO) else e_path),
                "fit_seconds": {n: {k: sum(v) / len(v) for k, v in d.items() if v} for n, d in fit_seconds.items()},
                "wall_seconds": round(time.time() - t_start)}

    for j, gi in enumerate(held_ids):
        R = real[gi][others]
        m = lambda x: measures(x, R, emb_all, row_of[gi], heldout_rows, feats, reader, syl_others, unseen,  # noqa: E731
                               group_rows[group_of[gi]], judge=judge)
        rnd = m(draw(seed_to_z(10_000 + j, G.cfg.z_dim)[None]))
        for k in ks:
            rows["random seed"][k].append(rnd)
            best = int(bank_loss[:, j, :k].mean(1).argmin())
            rows["best of bank"][k].append(dict(m(draw(seed_to_z(best, G.cfg.z_dim)[None])), seed=best))
            ti = train_ids[int(train_loss[:, j, :k].mean(1).argmin())]
            rows["retrieval (train face)"][k].append(dict(m(real[ti][others]), face=full_names[ti]))
            if E is not None:                       # the encoder's writer alone: where the fits start
                from rekogan.writer.encoder import start_writer
                t0 = time.perf_counter()
                lat_e, w_e, ad_e = start_writer(E, G, tgt[gi][:k], lab[refs[:k]])
                fit_seconds["encoder"][k].append(time.perf_counter() - t0)
                rows["encoder"][k].append(m(draw(lat_e.half().float(), None if w_e is None else float(w_e),
                                                 {n: v.half().float() for n, v in ad_e.items()})))
            if "fitted z" in rows:
                r = fit(G, tgt[gi][:k], lab[refs[:k]], reader_features=fit_feats,
                        config=FitConfig(**dict(fit_over, latent="z", adapter="none")), encoder=E)
                fit_seconds["fitted z"][k].append(r.losses["seconds"])
                rows["fitted z"][k].append(dict(m(draw(r.latents, r.weight)), ref_ssim=r.losses["ssim"]))
            # one fit gives both rows: the adapter is fitted after the latents and leaves them as they are
            r = fit(G, tgt[gi][:k], lab[refs[:k]], reader_features=fit_feats, config=FitConfig(**dict(fit_over, latent="layers")),
                    codes=codes, encoder=E)
            fit_seconds["fitted per-layer"][k].append(r.losses["seconds_latent"])
            fit_seconds["fitted + adapter"][k].append(r.losses["seconds"])
            with torch.no_grad():
                ref_x = layered_forward(G, r.latents[None].expand(k, -1, -1), lab[refs[:k]],
                                        None if r.weight is None else torch.full((k,), r.weight))
            rows["fitted per-layer"][k].append(dict(m(draw(r.latents, r.weight)), ref_ssim=float(ssim(ref_x, tgt[gi][:k]).mean())))
            rows["fitted + adapter"][k].append(dict(m(draw(r.latents, r.weight, r.adapter)), ref_ssim=r.losses["ssim"],
                                                    **guarded(r)))
            for name, over in fit_sets.items():      # --fit-set: the same fit with other values
                r = fit(G, tgt[gi][:k], lab[refs[:k]], reader_features=fit_feats,
                        config=FitConfig(**{**fit_over, **over, "latent": "layers"}), codes=codes, encoder=E)
                fit_seconds[f"fitted + adapter [{name}]"][k].append(r.losses["seconds"])
                rows[f"fitted + adapter [{name}]"][k].append(dict(m(draw(r.latents, r.weight, r.adapter)),
                                                                  ref_ssim=r.losses["ssim"], **guarded(r)))
            print(f"{full_names[gi]} k={k}: " + ", ".join(f"{n} {rows[n][k][-1]['ssim']:.3f}/{rows[n][k][-1]['readable']:.2f}" for n in methods)
                  + f" ({time.time() - t_start:.0f} s)", flush=True)
        # the faces so far, so that a run cut short still gives a table (--table-from OUT.partial.json)
        write_text_atomic(out.with_suffix(".partial.json"), json.dumps(results(j + 1), ensure_ascii=False, indent=1))
    res = results(len(held_ids))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    out.with_suffix(".partial.json").unlink(missing_ok=True)
    out.write_text(table(res), encoding="utf-8")
    print(table(res))
    return 0


def photo_table(args, argv, *, G, feats, real, held_ids, names, group_of, refs, others, classes, run_classes, lab,
                fit_over, t_start, out, codes, encoder=None, fit_record=None) -> int:
    """Clean upload vs photo of the same k references: the writer fitted from each, SSIM on the others."""
    from rekogan.writer.photo import photograph
    from rekogan.writer.samples import prepare
    text = "".join(classes.syllable(int(i)) for i in refs)
    rows = []
    for j, gi in enumerate(held_ids):
        clean = clean_upload(real[gi][refs])
        ink = "blue" if j % 2 == 0 else "black"
        photo = photograph(clean, seed=j, ink=ink)
        row = {"face": names[gi], "group": group_of[gi], "ink": ink}
        for name, pic in (("clean", clean), ("photo", photo)):
            s = prepare(pic, text, class_list=run_classes, size=G.cfg.size)
            assert s.labels.tolist() == lab[refs].tolist()
            r = fit(G, s.targets(), s.labels, reader_features=feats, config=FitConfig(**fit_over), codes=codes,
                    encoder=encoder)
            with torch.no_grad():
                w = None if r.weight is None else torch.full((len(others),), r.weight)
                lat = r.latents[None].expand(len(others), -1, -1)
                x = layered_forward(G, lat, lab[others], w, adapter=r.adapter)
                x0 = layered_forward(G, lat, lab[others], w)
            row[name] = float(ssim(x, real[gi][others]).mean())
            row[name + "_latent"] = float(ssim(x0, real[gi][others]).mean())
            row[name + "_glyph_l1"] = float((s.targets() - real[gi][refs]).abs().mean() / 2)
        rows.append(row)
        print(f"{names[gi]}: clean {row['clean']:.3f} photo {row['photo']:.3f} ({time.time() - t_start:.0f} s)", flush=True)
        # after every face: a run cut short still leaves the table of the faces done (said in it)
        lines = photo_report(args, argv, rows=rows, n_faces=len(held_ids), text=text, n_others=len(others),
                             fit_over=fit_over, t_start=t_start, out=out, encoder=encoder, fit_record=fit_record)
    print("\n".join(lines))
    return 0


def photo_report(args, argv, *, rows, n_faces, text, n_others, fit_over, t_start, out, encoder=None,
                 fit_record=None) -> list[str]:
    """Write photo_table's JSON and Markdown for the faces in `rows` (of n_faces); return the lines."""
    res = {"command": "python scripts/eval_writer.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
           "checkpoint": args.checkpoint, "k": len(text), "refs": text, "others": n_others, "rows": rows,
           "faces_done": len(rows), "faces": n_faces,
           "fit_config": FitConfig(**fit_over).to_dict(), "fit_defaults": fit_record,
           "wall_seconds": round(time.time() - t_start)}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out.with_suffix(".json"), json.dumps(res, ensure_ascii=False, indent=1))
    lines = ["# Writers fitted from photos vs clean uploads\n", f"Command: `{res['command']}` ({res['wall_seconds']} s)\n",
             f"Run `{args.checkpoint}`; k = {len(text)} references ({text}) rendered at 160 px as one row; the clean "
             "upload is that row (dark on white); the photo is the same row through rekogan/writer/photo.py (cream "
             "paper, uneven light, blue or black ink alternately, rotated ±2-3°, blur 1.2 px, noise, JPEG 70). SSIM: the "
             f"fitted writer (latent + adapter{', started from the style encoder' if encoder is not None else ''}) on "
             f"{n_others} other syllables against the face's real glyphs. "
             "Target: |photo − clean| ≤ 0.02." + defaults_sentence(fit_record) + "\n"]
    if len(rows) < n_faces:
        lines.append(f"**Cut short: {len(rows)} of {n_faces} faces measured** (the first ones in the run's order).\n")
    lines += ["| face | group | ink | SSIM clean | SSIM photo | photo − clean | glyph L1 clean / photo (refs) |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['face']} | {r['group']} | {r['ink']} | {r['clean']:.3f} | {r['photo']:.3f} | "
                     f"{r['photo'] - r['clean']:+.3f} | {r['clean_glyph_l1']:.4f} / {r['photo_glyph_l1']:.4f} |")
    d = [abs(r["photo"] - r["clean"]) for r in rows]
    lines += ["", f"Mean |photo − clean| {sum(d) / len(d):.4f}, largest {max(d):.4f}; within 0.02: "
              f"{sum(v <= 0.02 for v in d)} of {len(d)} faces."]
    for g in sorted({r["group"] for r in rows}):     # the same per group of faces
        rg = [r for r in rows if r["group"] == g]
        dg = [abs(r["photo"] - r["clean"]) for r in rg]
        lines.append(f"{g} ({len(rg)}): SSIM clean {sum(r['clean'] for r in rg) / len(rg):.3f}, photo "
                     f"{sum(r['photo'] for r in rg) / len(rg):.3f}; mean |photo − clean| {sum(dg) / len(dg):.4f}, "
                     f"largest {max(dg):.4f}; within 0.02: {sum(v <= 0.02 for v in dg)} of {len(dg)}.")
    write_text_atomic(out, "\n".join(lines) + "\n")
    return lines


def defaults_sentence(record: dict | None) -> str:
    """' Run defaults: ...' for a table: which fit.json applied (and what --fit put on top)."""
    if not record:
        return ""
    d = record["defaults"]
    src = (f" Run fit defaults from `{Path(d['file']).parent.name}/{Path(d['file']).name}`: `{json.dumps(d['values'])}` "
           f"(chosen on: {d['chosen_on']})." if d["file"] else " No run fit defaults (no fit.json): FitConfig's.")
    return src + (f" `--fit` on top: `{json.dumps(record['overrides'])}`." if record["overrides"] else "")


def paired(res: dict, a: str, b: str) -> list[str]:
    """Per-face comparison of method a with method b: on how many faces a is better in each
    measure, and for top-1 the faces one gets right and the other not, with a two-sided sign test
    (a top-1 rate over a few dozen faces moves in steps of a face, so say how sure a gap is)."""
    lines = ["", f"Paired, face by face: {a} vs {b} (faces where {a} is better; top-1: right where the other is "
             "wrong, and the reverse, with the two-sided sign-test p):", "",
             "| k | SSIM | L1 | style rank | style top-1 won / lost | sign-test p |", "|---|---|---|---|---|---|"]
    for k in res["ks"]:
        xa, xb = (res["rows"][m].get(str(k), res["rows"][m].get(k)) for m in (a, b))
        n = len(xa)
        better = lambda key, sign: sum(sign * (p[key] - q[key]) > 0 for p, q in zip(xa, xb))  # noqa: E731
        won = sum(p["style_top1"] > q["style_top1"] for p, q in zip(xa, xb))
        lost = sum(p["style_top1"] < q["style_top1"] for p, q in zip(xa, xb))
        m = won + lost
        tail = sum(math.comb(m, i) for i in range(max(won, lost), m + 1)) / 2 ** m if m else 1.0
        lines.append(f"| {k} | {better('ssim', 1)} of {n} | {better('l1', -1)} of {n} | {better('style_rank', -1)} of {n} | "
                     f"{won} / {lost} | {min(1.0, 2 * tail):.3f} |")
    return lines


def table(res: dict) -> str:
    mean = lambda xs, key: sum(x[key] for x in xs) / len(xs)  # noqa: E731
    groups = res.get("groups") or {}
    n_unseen = res["gallery_heldout"]
    lines = [f"# Fitted writers on faces the run never saw\n",
             f"Command: `{res['command']}` ({res['wall_seconds']} s, {res['threads']} threads)\n",
             f"Run `{res['checkpoint']}`, reader `{res['reader']}`; faces never seen in training: {', '.join(res['faces'])}; "
             f"references: the first k of {res['refs']}; compared on {res['others']} other syllables per face; "
             f"style gallery: {res['train_faces']} train + {n_unseen} unseen faces. Fit settings: "
             f"`{json.dumps(res['fit_config'])}`." + defaults_sentence(res.get("fit_defaults"))
             + (f" The fits start from the style encoder `{res['encoder']}` (row `encoder`: its writer alone)." if res.get("encoder") else "")
             + "\n",
             f"| k | method | SSIM ↑ | L1 ↓ | style top-1 (among {n_unseen} unseen faces) ↑ | style rank (all faces) ↓ | "
             "readable ↑ | readable (held-out syl.) ↑ | fit s |" + (" readable (judge) ↑ |" if res.get("judge") else ""),
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if res.get("judge") else "")]
    if res.get("judge"):
        lines.insert(-2, f"Judge (readable by a reader that neither fitted nor guarded the writers): `{res['judge']}`.\n")

    def per_k(name, k):
        d = res["rows"][name]
        return d[str(k)] if str(k) in d else d[k]

    for k in res["ks"]:
        for name in res["rows"]:
            xs = per_k(name, k)
            fs = res["fit_seconds"].get(name, {})
            sec = fs.get(str(k), fs.get(k))
            held = f"{mean(xs, 'readable_heldout_syllables'):.1%}" if "readable_heldout_syllables" in xs[0] else "–"
            lines.append(f"| {k} | {name} | {mean(xs, 'ssim'):.3f} | {mean(xs, 'l1'):.4f} | {mean(xs, 'style_top1'):.0%} | "
                         f"{mean(xs, 'style_rank'):.1f} | {mean(xs, 'readable'):.1%} | {held} | "
                         f"{'' if sec is None else f'{sec:.1f}'} |"
                         + (f" {mean(xs, 'readable_judge'):.1%} |" if res.get("judge") else ""))
    lines += paired(res, "fitted per-layer", "best of bank")
    if "fitted + adapter" in res["rows"]:
        lines += paired(res, "fitted + adapter", "retrieval (train face)")
    sets = (res.get("fit_defaults") or {}).get("sets") or {}
    for name, over in sets.items():                  # --fit-set rows against the defaults' own fit
        lines += [f"", f"`{name}`: `{json.dumps(over)}` over the fit settings above."]
        lines += paired(res, f"fitted + adapter [{name}]", "fitted + adapter")
    names = sorted(set(groups.values()))
    if len(names) > 1:                               # the same rows per group of faces
        lines += ["", "By group (style top-1 here: among the faces of the same group):", "",
                  "| k | method | group (faces) | SSIM ↑ | L1 ↓ | style top-1 (in group) ↑ | style rank (all faces) ↓ | readable ↑ |",
                  "|---|---|---|---|---|---|---|---|"]
        for k in res["ks"]:
            for name in res["rows"]:
                for g in names:
                    xs = [x for f, x in zip(res["faces"], per_k(name, k)) if groups[f] == g]
                    lines.append(f"| {k} | {name} | {g} ({len(xs)}) | {mean(xs, 'ssim'):.3f} | {mean(xs, 'l1'):.4f} | "
                                 f"{mean(xs, 'style_top1_group'):.0%} | {mean(xs, 'style_rank'):.1f} | {mean(xs, 'readable'):.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
