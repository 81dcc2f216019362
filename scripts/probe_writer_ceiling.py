"""Probe (issue 25): how close can a fitted writer get on a face the generator was TRAINED on?

For each of a few held-out system faces, take retrieval's pick (the training face whose real glyphs
best match the face's k = 8 references, as in scripts/eval_writer.py), fit a writer on THAT training
face's own glyphs (k = 8 and k = 32) and measure SSIM against its real glyphs on syllables that were
never references. That is the ceiling of fitting: if the generator cannot reach retrieval's ~0.62
on faces it learnt, no fitting trick will reach it on unseen ones. Also printed: the same writer
against the held-out face (how good a start "the nearest training face's writer" would be).

  python scripts/probe_writer_ceiling.py --faces NanumBarunpenR,UnDotumBold,Eunjin --k 8,32
  python scripts/probe_writer_ceiling.py --checkpoint checkpoints/hangul/epoch_068.safetensors \
      --reader checkpoints/reader/reader.safetensors

A split run (all 11,172 syllables) is measured on scripts/eval_writer.py's syllables (SERI95 +
the run's held-out KS X 1001 ones that every held-out face has): references are syllables the run
trained on, the compared ones mix both, and the held-out syllables' SSIM is printed apart.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.conventions import to_unit  # noqa: E402
from rekogan.data import load_splits  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402
from rekogan.writer.fit import FitConfig, fit  # noqa: E402
from rekogan.writer.latent import layered_forward  # noqa: E402
from rekogan.writer.losses import ReaderFeatures, feature_distance, pixel_loss, ssim  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
from eval_writer import universe  # noqa: E402


def face_glyphs(gs, gi: int, *, classes: int) -> torch.Tensor:
    """Face gi's real glyphs of a split, one per measured syllable (blank where it has none): (C, 1, H, W)."""
    m = gs.groups == gi
    imgs = torch.zeros(classes, gs.images.shape[1], gs.images.shape[2], dtype=torch.uint8)
    imgs[gs.labels[m]] = gs.images[m]
    return to_unit(imgs[:, None])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/fixed/epoch_186.safetensors")
    ap.add_argument("--reader", default="checkpoints/classifier/classifier.safetensors")
    ap.add_argument("--faces", default="NanumBarunpenR,UnDotumBold,Eunjin")
    ap.add_argument("--k", default="8,32")
    ap.add_argument("--others", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fit", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        over = FitConfig.overrides(args.fit)
    except ValueError as e:
        ap.error(str(e))
    G, meta = load_generator(REPO / args.checkpoint)
    G = G.to(memory_format=torch.contiguous_format)
    run_classes = meta["class_list"]
    classes, unseen_syl = universe(REPO / args.checkpoint, run_classes, G.cfg.size)   # eval_writer.py's syllables
    lab = torch.tensor([run_classes.index(s) for s in classes])   # a measured syllable -> G's label
    codes = torch.tensor([ord(run_classes.syllable(i)) - SBASE for i in range(len(run_classes))])
    feats = ReaderFeatures(load_reader(REPO / args.reader))
    train, held = load_splits("fonts", classes=classes, size=G.cfg.size)
    C = len(classes)

    def glyphs(gs, gi):
        return face_glyphs(gs, gi, classes=C)

    perm = torch.randperm(C, generator=torch.Generator().manual_seed(0))   # eval_writer.py's order
    kmax = max(int(v) for v in args.k.split(","))
    trained = torch.tensor([classes.syllable(int(i)) not in unseen_syl for i in perm])
    refs = perm[trained][:kmax]                     # references: syllables the run trained on
    refs8 = refs[:8]
    others = perm[~torch.isin(perm, refs)][:args.others]   # never a reference at any k here
    unseen = torch.tensor([classes.syllable(int(i)) in unseen_syl for i in others])
    train_ids = sorted(set(train.groups.tolist()))
    real_train = {ti: glyphs(train, ti) for ti in train_ids}
    out = []
    for name in args.faces.split(","):
        gi = held.group_names.index(name)
        R = glyphs(held, gi)
        with torch.no_grad():
            tf = feats(R[refs8])
            loss = [float((pixel_loss(real_train[ti][refs8], R[refs8]) + feature_distance(feats(real_train[ti][refs8]), tf)).mean())
                    for ti in train_ids]
        ti = train_ids[min(range(len(loss)), key=loss.__getitem__)]
        T = real_train[ti]
        row = {"face": name, "nearest_train_face": train.group_names[ti],
               "retrieval_ssim": float(ssim(T[others], R[others]).mean())}
        print(name, "retrieval", row["nearest_train_face"], f"{row['retrieval_ssim']:.3f}", flush=True)
        for k in (int(v) for v in args.k.split(",")):
            t0 = time.time()
            r = fit(G, T[refs[:k]], lab[refs[:k]], reader_features=feats, config=FitConfig(**over), codes=codes)
            with torch.no_grad():
                lat = r.latents[None].expand(len(others), -1, -1)
                w = None if r.weight is None else torch.full((len(others),), r.weight)
                x0 = layered_forward(G, lat, lab[others], w)
                x1 = layered_forward(G, lat, lab[others], w, adapter=r.adapter)
            s1 = ssim(x1, T[others])
            row[f"k{k}"] = {"train_face_latent": float(ssim(x0, T[others]).mean()),
                            "train_face_adapter": float(s1.mean()),
                            "heldout_face_latent": float(ssim(x0, R[others]).mean()),
                            "heldout_face_adapter": float(ssim(x1, R[others]).mean()),
                            "ref_ssim": r.losses["ssim"], "seconds": round(time.time() - t0, 1)}
            if bool(unseen.any()):   # syllables the run never trained on (a split run)
                row[f"k{k}"]["train_face_adapter_heldout_syllables"] = float(s1[unseen].mean())
            print(name, row["nearest_train_face"], k, json.dumps(row[f"k{k}"]), flush=True)
        print(json.dumps(row), flush=True)
        out.append(row)
    if args.out:
        Path(args.out).write_text(json.dumps({"command": "python scripts/probe_writer_ceiling.py " + " ".join(argv or sys.argv[1:]),
                                              "rows": out}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
