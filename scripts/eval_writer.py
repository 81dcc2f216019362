"""Measure fitted writers on hands the model never saw: the 8 held-out font faces.

For each held-out face and k in --k: fit a writer to k reference syllables of the face, draw
--others other syllables (never references) and compare them with the face's real glyphs:
  SSIM, L1          per glyph, mean over syllables and faces
  style top-1       the face whose real glyphs are nearest to the drawn set (mean over syllables of
                    a reader-feature distance) is the reference face; gallery: the held-out faces
  style rank        the reference face's rank among ALL faces (train + held-out) by that distance
  readable          the project's reader reads the intended syllable (fitted writers only matter)
Baselines in the same table: a random seed; the best of --bank seeds on the k references (same
objective as the fit); retrieval: the real glyphs of the training face that best matches the k
references (same objective). Retrieval draws another real face, so its style rank is >= 2.

  python scripts/eval_writer.py --threads 2 --out docs/writer_eval.md
  python scripts/eval_writer.py --checkpoint checkpoints/hangul/epoch_NNN.safetensors \\
      --reader checkpoints/reader/reader.safetensors --out docs/writer_eval_hangul.md

A run of all 11,172 syllables (a split run, split.json beside it) is measured on the SERI95
syllables (trained) plus the run's held-out KS X 1001 syllables (never trained), keeping those
that every held-out face has: references come from the trained ones, the compared syllables
mix both, and `readable (held-out syl.)` is the reader's figure on the held-out ones alone.
Results (every number) also go to OUT with .json; --table-from JSON rewrites the table only.
"""
from __future__ import annotations

import argparse
import json
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
from rekogan.sampling import seed_to_z  # noqa: E402
from rekogan.writer.fit import FitConfig, fit  # noqa: E402
from rekogan.writer.latent import layered_forward  # noqa: E402
from rekogan.writer.losses import ReaderFeatures, feature_distance, pixel_loss, ssim  # noqa: E402

METHODS = ["random seed", "best of bank", "retrieval (train face)", "fitted z", "fitted per-layer"]


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


def measures(x, real, emb_all, face_row, heldout_rows, feats, reader, labels_syl, unseen=None) -> dict:
    e = style_embedding(feats, x).float()                                   # (M, D)
    d = torch.stack([((emb_all[f].float() - e) ** 2).sum(1).mean() for f in range(len(emb_all))])  # (F,)
    rank = int((d < d[face_row]).sum()) + 1
    held_best = heldout_rows[int(d[heldout_rows].argmin())]
    _, read = reader.read(x)
    right = (read == labels_syl).float()
    out = {"ssim": float(ssim(x, real).mean()), "l1": float((x - real).abs().mean() / 2),
           "style_top1": float(held_best == face_row), "style_rank": rank, "readable": float(right.mean())}
    if unseen is not None and bool(unseen.any()):
        out["readable_heldout_syllables"] = float(right[unseen].mean())
    return out


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
    ap.add_argument("--k", default="1,4,8,16")
    ap.add_argument("--faces", type=int, default=8, help="how many held-out faces (default all 8)")
    ap.add_argument("--others", type=int, default=128, help="syllables drawn and compared per face")
    ap.add_argument("--bank", type=int, default=1000, help="seeds of the best-of-seeds baseline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/writer_eval.md")
    ap.add_argument("--table-from", help="rewrite the table from a results JSON, no computing")
    ap.add_argument("--fit", action="append", default=[], metavar="KEY=VALUE",
                    help="a FitConfig field for the fitted rows (e.g. steps_layers=80); repeatable")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.table_from:
        res = json.loads(Path(args.table_from).read_text())
        out.write_text(table(res), encoding="utf-8"); print(table(res)); return 0
    torch.set_num_threads(args.threads)
    t_start = time.time()
    fit_over = {}
    for kv in args.fit:
        key, _, value = kv.partition("=")
        kind = type(getattr(FitConfig(), key, None))
        if kind not in (int, float) or not value:
            ap.error(f"--fit {kv!r}: expected a numeric FitConfig field as KEY=VALUE")
        fit_over[key] = kind(value)
    ks = [int(v) for v in args.k.split(",")]
    G, meta = load_generator(REPO / args.checkpoint)
    G = G.to(memory_format=torch.contiguous_format)
    run_classes = meta["class_list"]
    classes, unseen_syl = universe(REPO / args.checkpoint, run_classes, G.cfg.size)   # what is measured
    lab = torch.tensor([run_classes.index(s) for s in classes])   # a measured syllable -> G's label
    reader = load_reader(REPO / args.reader)
    feats = ReaderFeatures(reader)
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

    held_ids = sorted(set(held.groups.tolist()))[:args.faces]
    train_ids = sorted(set(train.groups.tolist()))
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(C, generator=gen)
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
    all_ids = train_ids + [i for i in sorted(set(held.groups.tolist()))]
    real = {gi: face_glyphs(train if gi in train_ids else held, gi) for gi in all_ids}
    emb_all = torch.stack([style_embedding(feats, real[gi][others]) for gi in all_ids])  # (F, M, D)
    row_of = {gi: r for r, gi in enumerate(all_ids)}
    heldout_rows = [row_of[gi] for gi in sorted(set(held.groups.tolist()))]
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
    rows = {m: {k: [] for k in ks} for m in METHODS}
    fit_seconds = {m: {k: [] for k in ks} for m in ("fitted z", "fitted per-layer")}

    def draw(latents, weight=None):
        with torch.no_grad():
            w = None if w0(1) is None else torch.full((len(others),), float(weight or 0.0))
            return layered_forward(G, latents[None].expand(len(others), -1, -1), lab[others], w)

    for j, gi in enumerate(held_ids):
        R = real[gi][others]
        m = lambda x: measures(x, R, emb_all, row_of[gi], heldout_rows, feats, reader, syl_others, unseen)  # noqa: E731
        rnd = m(draw(seed_to_z(10_000 + j, G.cfg.z_dim)[None]))
        for k in ks:
            rows["random seed"][k].append(rnd)
            best = int(bank_loss[:, j, :k].mean(1).argmin())
            rows["best of bank"][k].append(dict(m(draw(seed_to_z(best, G.cfg.z_dim)[None])), seed=best))
            ti = train_ids[int(train_loss[:, j, :k].mean(1).argmin())]
            rows["retrieval (train face)"][k].append(dict(m(real[ti][others]), face=full_names[ti]))
            for name, lat in (("fitted z", "z"), ("fitted per-layer", "layers")):
                t0 = time.perf_counter()
                r = fit(G, tgt[gi][:k], lab[refs[:k]], reader_features=feats, config=FitConfig(latent=lat, **fit_over))
                fit_seconds[name][k].append(time.perf_counter() - t0)
                rows[name][k].append(dict(m(draw(r.latents, r.weight)), ref_ssim=r.losses["ssim"]))
            print(f"{full_names[gi]} k={k}: " + ", ".join(f"{n} {rows[n][k][-1]['ssim']:.3f}" for n in METHODS)
                  + f" ({time.time() - t_start:.0f} s)", flush=True)
    res = {"command": "python scripts/eval_writer.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
           "checkpoint": args.checkpoint, "reader": args.reader, "faces": [full_names[i] for i in held_ids],
           "train_faces": len(train_ids), "gallery_heldout": len(heldout_rows), "refs": "".join(classes.syllable(int(i)) for i in refs),
           "others": len(others), "others_heldout_syllables": int(unseen.sum()), "bank": args.bank, "ks": ks, "threads": args.threads,
           "fit_config": FitConfig(**fit_over).to_dict(), "rows": rows,
           "fit_seconds": {n: {k: sum(v) / len(v) for k, v in d.items()} for n, d in fit_seconds.items()},
           "wall_seconds": round(time.time() - t_start)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    out.write_text(table(res), encoding="utf-8")
    print(table(res))
    return 0


def table(res: dict) -> str:
    mean = lambda xs, key: sum(x[key] for x in xs) / len(xs)  # noqa: E731
    lines = [f"# Fitted writers on held-out faces\n",
             f"Command: `{res['command']}` ({res['wall_seconds']} s, {res['threads']} threads)\n",
             f"Run `{res['checkpoint']}`, reader `{res['reader']}`; faces never seen in training: {', '.join(res['faces'])}; "
             f"references: the first k of {res['refs']}; compared on {res['others']} other syllables per face; "
             f"style gallery: {res['train_faces']} train + {res['gallery_heldout']} held-out faces. Fit settings: "
             f"`{json.dumps(res['fit_config'])}`.\n",
             "| k | method | SSIM ↑ | L1 ↓ | style top-1 (held-out faces) ↑ | style rank (all faces) ↓ | readable ↑ | "
             "readable (held-out syl.) ↑ | fit s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k in res["ks"]:
        for name, per_k in res["rows"].items():
            xs = per_k[str(k)] if str(k) in per_k else per_k[k]
            fs = res["fit_seconds"].get(name, {})
            sec = fs.get(str(k), fs.get(k))
            held = f"{mean(xs, 'readable_heldout_syllables'):.1%}" if "readable_heldout_syllables" in xs[0] else "–"
            lines.append(f"| {k} | {name} | {mean(xs, 'ssim'):.3f} | {mean(xs, 'l1'):.4f} | {mean(xs, 'style_top1'):.0%} | "
                         f"{mean(xs, 'style_rank'):.1f} | {mean(xs, 'readable'):.1%} | {held} | "
                         f"{'' if sec is None else f'{sec:.1f}'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
