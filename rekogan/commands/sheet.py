"""`python -m rekogan sheet`: one grayscale PNG per class, named by code point, dark ink on white.

  python -m rekogan sheet --checkpoint runs/fixed/epoch_060.safetensors --seed 7 --truncation 0.7 \\
      --out sheet/ [--classes all|가각간]
"""
from __future__ import annotations

import unicodedata
from pathlib import Path

from ..conventions import MAX_SEED
from .common import UsageError, existing_file, load_checkpoint, parse_seed, parse_truncation

CHUNK = 256   # classes drawn per forward pass: bounded memory for 520 classes at 64 px and beyond


def add_parser(subparsers):
    s = subparsers.add_parser("sheet", help="one PNG per class (AC00.png ...), dark ink on white",
                              description="Write one grayscale PNG per class, named by the syllable's code point "
                                          "in upper-case hex (AC00.png for 가), dark ink on white, at the model's size.")
    s.add_argument("--checkpoint", required=True, metavar="PATH", help="a generator checkpoint (epoch_NNN.safetensors)")
    s.add_argument("--seed", default="0", metavar="S", help=f"the writer: an integer in 0..{MAX_SEED} (default 0)")
    s.add_argument("--truncation", default="1.0", metavar="T",
                   help="psi in [0, 1]: 1 = full variety, 0 = the average writer (default 1)")
    s.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs (created if missing)")
    s.add_argument("--classes", default="all", metavar="all|SYLLABLES",
                   help="'all' (default) or the syllables to write, e.g. 가각간")
    return s


def select_classes(spec: str, class_list) -> list[str]:
    """'all' -> every class of the checkpoint, in its order; otherwise the syllables in `spec`
    (whitespace and commas ignored, repeats dropped), each of which must be a class of the model."""
    if spec.strip().lower() == "all":
        return class_list.to_list()
    wanted: list[str] = []
    for ch in unicodedata.normalize("NFC", spec):
        if not (ch.isspace() or ch == ",") and ch not in wanted:
            wanted.append(ch)
    if not wanted:
        raise UsageError("--classes is empty: give 'all' or the syllables to write, e.g. --classes 가각간")
    missing = [ch for ch in wanted if ch not in class_list]
    if missing:
        shown = "".join(missing[:20]) + ("..." if len(missing) > 20 else "")
        raise UsageError(f"--classes: {len(missing)} character(s) are not among the model's {len(class_list)} "
                         f"classes: {shown}")
    return wanted


def png_name(syllable: str) -> str:
    """'가' -> 'AC00.png' (the code point in upper-case hex)."""
    return f"{ord(syllable):04X}.png"


def run(args) -> int:
    seed, psi = parse_seed(args.seed), parse_truncation(args.truncation)
    ckpt = existing_file(args.checkpoint)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    G, meta = load_checkpoint(ckpt)
    class_list = meta["class_list"]
    syllables = select_classes(args.classes, class_list)

    from PIL import Image

    from ..sampling import generate, seed_to_z, to_uint8
    import torch
    out.mkdir(parents=True, exist_ok=True)
    z = seed_to_z(seed, G.cfg.z_dim, truncation=psi)        # one writer for every class
    indices = [class_list.index(s) for s in syllables]
    for i in range(0, len(indices), CHUNK):
        images = to_uint8(generate(G, torch.tensor(indices[i:i + CHUNK]), z))       # (N, S, S), dark on white
        for syl, img in zip(syllables[i:i + CHUNK], images):
            # PIL, not torchvision's save_image: that one writes RGB, the sheet's PNGs are grayscale
            Image.fromarray(img.numpy(), mode="L").save(out / png_name(syl))
    size = meta["model_config"].size
    n = len(indices)
    print(f"wrote {n} PNG{'s' if n != 1 else ''} ({size}x{size}, seed {seed}, truncation {psi:g}) to {out}")
    return 0
