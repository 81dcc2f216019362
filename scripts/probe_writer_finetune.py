"""Probe (issue 25): can a cheap reconstruction fine-tune of the generator lift the fitting ceiling?

scripts/probe_writer_ceiling.py showed that a writer (latent + adapter) fitted on a face the
generator was TRAINED on draws that face's other syllables below retrieval's SSIM. Here, after that
default fit, a copy of the whole generator is tuned (pivotal tuning, PTI: the fitted latents held
fixed) on the k references with a reconstruction loss, L1 + (1 - SSIM), optionally held by `keep`
(4x4-averaged pixels of random never-drawn syllables pulled toward the untuned writer's, as the
adapter's keep term), and measured on never-drawn syllables of the same face:

  target 'train'    the held-out face's nearest training face (retrieval's pick): the ceiling
  target 'heldout'  the held-out face itself: what the SSIM target asks

Printed per face, k and variant: SSIM against the target's real glyphs on syllables that were never
references, and the reader's readability there, next to retrieval's SSIM (the nearest training
face's real glyphs vs the held-out face). Reads checkpoints only; writes only --out (JSON).

  python scripts/probe_writer_finetune.py --threads 2 --faces NanumBarunpenR,UnDotumBold --k 8,32
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.data import load_splits  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402
from rekogan.writer.fit import FitConfig, fit  # noqa: E402
from rekogan.writer.latent import layered_forward  # noqa: E402
from rekogan.writer.losses import ReaderFeatures, feature_distance, pixel_loss, ssim  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
from eval_writer import universe  # noqa: E402
from probe_writer_ceiling import face_glyphs  # noqa: E402


def tune(G, latents, weight, labels, targets, *, steps: int, lr: float, keep: float, pool: torch.Tensor,
         others: int = 8, seed: int = 0):
    """A copy of G with every parameter tuned on (labels, targets) at the fixed latents: Adam on
    L1 + (1 - SSIM), plus `keep` x L1 of 4x4 averages toward the untuned G on random syllables of `pool`."""
    T = copy.deepcopy(G).eval()               # eval: BatchNorm keeps its running statistics
    params = [p for p in T.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    k = len(labels)
    w = lambda n: None if weight is None else torch.full((n,), float(weight))   # noqa: E731
    for _ in range(steps):
        x = layered_forward(T, latents[None].expand(k, -1, -1), labels, w(k))
        loss = ((x - targets).abs().mean(dim=(1, 2, 3)) + 1 - ssim(x, targets)).mean()
        if keep:
            yo = pool[torch.randint(len(pool), (others,), generator=gen)]
            lat = latents[None].expand(others, -1, -1)
            with torch.no_grad():
                x0 = layered_forward(G, lat, yo, w(others))
            xo = layered_forward(T, lat, yo, w(others))
            loss = loss + keep * (F.avg_pool2d(xo, 4) - F.avg_pool2d(x0, 4)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in params:
        p.requires_grad_(False)
    return T


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/fixed/epoch_186.safetensors")
    ap.add_argument("--reader", default="checkpoints/classifier/classifier.safetensors")
    ap.add_argument("--faces", default="NanumBarunpenR,UnDotumBold")
    ap.add_argument("--k", default="8,32")
    ap.add_argument("--targets", default="train,heldout")
    ap.add_argument("--others", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--keep", default="0,0.2", help="keep weights to try (comma-separated)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    G, meta = load_generator(REPO / args.checkpoint)
    G = G.to(memory_format=torch.contiguous_format).eval()
    for p in G.parameters():
        p.requires_grad_(False)
    run_classes = meta["class_list"]
    classes, unseen_syl = universe(REPO / args.checkpoint, run_classes, G.cfg.size)
    lab = torch.tensor([run_classes.index(s) for s in classes])
    codes = torch.tensor([ord(run_classes.syllable(i)) - SBASE for i in range(len(run_classes))])
    reader = load_reader(REPO / args.reader)
    feats = ReaderFeatures(reader)
    train, held = load_splits("fonts", classes=classes, size=G.cfg.size)
    C = len(classes)

    def glyphs(gs, gi):
        return face_glyphs(gs, gi, classes=C)

    perm = torch.randperm(C, generator=torch.Generator().manual_seed(0))   # eval_writer.py's order
    ks = [int(v) for v in args.k.split(",")]
    trained = torch.tensor([classes.syllable(int(i)) not in unseen_syl for i in perm])
    refs = perm[trained][:max(ks)]
    others = perm[~torch.isin(perm, refs)][:args.others]
    syl_others = codes[lab[others]]
    pool = lab[~torch.isin(torch.arange(C), refs)]           # G's labels of syllables never a reference
    train_ids = sorted(set(train.groups.tolist()))
    out = []

    def measure(Gx, latents, weight, adapter, target):
        with torch.no_grad():
            w = None if weight is None else torch.full((len(others),), weight)
            x = layered_forward(Gx, latents[None].expand(len(others), -1, -1), lab[others], w, adapter=adapter)
            _, read = reader.read(x)
        return {"ssim": round(float(ssim(x, target[others]).mean()), 4),
                "l1": round(float((x - target[others]).abs().mean() / 2), 4),
                "readable": round(float((read == syl_others).float().mean()), 4)}

    for name in args.faces.split(","):
        gi = held.group_names.index(name)
        R = glyphs(held, gi)
        with torch.no_grad():
            tf = feats(R[refs[:8]])
            loss = [float((pixel_loss(glyphs(train, ti)[refs[:8]], R[refs[:8]])
                           + feature_distance(feats(glyphs(train, ti)[refs[:8]]), tf)).mean()) for ti in train_ids]
        ti = train_ids[min(range(len(loss)), key=loss.__getitem__)]
        T = glyphs(train, ti)
        row = {"face": name, "nearest_train_face": train.group_names[ti],
               "retrieval_ssim": round(float(ssim(T[others], R[others]).mean()), 4)}
        print(name, "retrieval", row["nearest_train_face"], row["retrieval_ssim"], flush=True)
        for target_name in args.targets.split(","):
            tgt = T if target_name == "train" else R
            for k in ks:
                t0 = time.time()
                r = fit(G, tgt[refs[:k]], lab[refs[:k]], reader_features=feats, config=FitConfig(), codes=codes)
                res = {"fit": measure(G, r.latents, r.weight, r.adapter, tgt), "fit_s": round(time.time() - t0, 1)}
                for keep in (float(v) for v in args.keep.split(",")):
                    t1 = time.time()
                    Gt = tune(G, r.latents, r.weight, lab[refs[:k]], tgt[refs[:k]], steps=args.steps, lr=args.lr,
                              keep=keep, pool=pool)
                    res[f"tuned keep={keep}"] = dict(measure(Gt, r.latents, r.weight, None, tgt),
                                                     seconds=round(time.time() - t1, 1))
                row[f"{target_name} k={k}"] = res
                print(name, target_name, k, json.dumps(res), flush=True)
        out.append(row)
        if args.out:
            Path(args.out).write_text(json.dumps({"command": "python scripts/probe_writer_finetune.py "
                                                  + " ".join(argv or sys.argv[1:]), "rows": out}, indent=1),
                                      encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
