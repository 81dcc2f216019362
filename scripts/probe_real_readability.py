"""Probe (issue 25): how well the reader reads each unseen face's OWN real glyphs.

The writer evaluation's readability target (>= 95 % on never-drawn syllables) asks the fitted hand to
be read; this says how readable the hand itself is to the same reader, on the same 128 syllables
as scripts/eval_writer.py (seed-0 permutation, after the first 8 references).

  python scripts/probe_real_readability.py [--checkpoint ...] [--reader ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from eval_writer import extra_faces, universe  # noqa: E402
from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.conventions import to_unit  # noqa: E402
from rekogan.data import load_splits  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/fixed/epoch_186.safetensors")
    ap.add_argument("--reader", default="checkpoints/classifier/classifier.safetensors")
    ap.add_argument("--extra-faces", default=str(Path.home() / ".cache/rekogan/eval_faces"))
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--others", type=int, default=128)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    G, meta = load_generator(REPO / args.checkpoint)
    classes, _ = universe(REPO / args.checkpoint, meta["class_list"], G.cfg.size)
    reader = load_reader(REPO / args.reader)
    _, held = load_splits("fonts", classes=classes, size=G.cfg.size)
    C = len(classes)
    perm = torch.randperm(C, generator=torch.Generator().manual_seed(0))
    others = perm[args.k:args.k + args.others]
    codes = torch.tensor([ord(classes.syllable(int(i))) - SBASE for i in others])
    faces = {}
    for gi in sorted(set(held.groups.tolist())):
        m = held.groups == gi
        imgs = torch.zeros(C, G.cfg.size, G.cfg.size, dtype=torch.uint8)
        imgs[held.labels[m]] = held.images[m]
        faces[held.group_names[gi]] = to_unit(imgs[:, None])
    for name, g in extra_faces(args.extra_faces, classes, G.cfg.size, set(held.group_names)).items():
        faces[name] = to_unit(torch.from_numpy(g)[:, None])
    out = {}
    for name, g in faces.items():
        _, read = reader.read(g[others])
        out[name] = float((read == codes).float().mean())
    web = [v for n, v in out.items() if n.startswith("web:")]
    system = [v for n, v in out.items() if not n.startswith("web:")]
    print(json.dumps({"reader": args.reader, "per_face": {n: round(v, 3) for n, v in out.items()},
                      "system_mean": round(sum(system) / len(system), 4), "web_mean": round(sum(web) / len(web), 4),
                      "all_mean": round(sum(out.values()) / len(out), 4)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
