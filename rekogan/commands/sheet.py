"""`python -m rekogan sheet`: one grayscale PNG per syllable, named by code point, dark ink on white.

  python -m rekogan sheet --checkpoint runs/fixed/epoch_060.safetensors --seed 7 --truncation 0.7 \\
      --out sheet/ [--syllables TEXT_OR_FILE|seri95|ksx1001|all] [--weight W] [--writer writer.safetensors] \\
      [--size 64|128|256] [--variants N [--natural X]]

Without --syllables it writes the run's classes (all 11,172 for a run that writes any syllable).
A run asked for syllables it cannot write exits with status 2 and names them.
--size 128 or 256 enlarges every glyph through the glyph upscaler (rekogan.studio.crisp, as the app
does); the default stays the model's own size (64 px for every shipped run), which is what
`python -m rekogan upscale` reads.
--variants N writes AC00-1.png ... AC00-N.png instead of AC00.png: occurrence k - 1 of each syllable
as a line draws it at --natural X (rekogan.variation.variants: the writer's own variation, without
the layout's jitter); at --natural 0 the N files are the same picture.
"""
from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

from .. import conventions
from ..conventions import MAX_SEED
from .common import UsageError, existing_file, load_checkpoint, parse_seed, parse_truncation

CHUNK = 256   # glyphs drawn per forward pass: bounded memory for 520 classes at 64 px and beyond
VARIANTS_MAX = 16   # --variants: occurrences per syllable (a font takes 1-4 alternates)


def add_parser(subparsers):
    s = subparsers.add_parser("sheet", help="one PNG per class (AC00.png ...), dark ink on white",
                              description="Write one grayscale PNG per class, named by the syllable's code point "
                                          "in upper-case hex (AC00.png for 가), dark ink on white, at the model's size.")
    s.add_argument("--checkpoint", required=True, metavar="PATH", help="a generator checkpoint (epoch_NNN.safetensors)")
    s.add_argument("--seed", default="0", metavar="S", help=f"the writer: an integer in 0..{MAX_SEED} (default 0)")
    s.add_argument("--truncation", default="1.0", metavar="T",
                   help="psi in [0, 1]: 1 = full variety, 0 = the average writer (default 1)")
    s.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs (created if missing)")
    s.add_argument("--syllables", "--classes", dest="classes", default="all", metavar="TEXT_OR_FILE",
                   help="the syllables to write: text (가각간), a UTF-8 text file, or a set: seri95, ksx1001, "
                        "all (default: the run's classes)")
    s.add_argument("--weight", default=None, metavar="W",
                   help="stroke weight, -2 (thin) .. 2 (bold), for runs that have the control (default 0); with --writer it moves the writer's own weight")
    s.add_argument("--writer", default=None, metavar="FILE_OR_CODE",
                   help="a fitted writer (writer.safetensors from `imitate` or My hand, an older writer.json, or its code) instead of --seed")
    s.add_argument("--size", default=None, metavar="PX",
                   help="pixels per glyph: 64, 128 or 256 (128 and 256 through the glyph upscaler; default: the "
                        "model's own, 64 for the shipped runs)")
    s.add_argument("--variants", default=None, metavar="N",
                   help=f"write N occurrences of each syllable (1..{VARIANTS_MAX}), AC00-1.png ... AC00-N.png, as a "
                        "line draws them without its layout jitter")
    s.add_argument("--natural", default=None, metavar="X",
                   help=f"with --variants: how much the occurrences differ, 0 (identical) .. 1 "
                        f"(default {conventions.NATURAL_DEFAULT:g}, the app's)")
    return s


def select_classes(spec: str, class_list) -> list[str]:
    """'all' -> every class of the checkpoint, in its order; 'seri95' / 'ksx1001' -> that set; a
    path of a text file -> its syllables; otherwise the syllables in `spec` (whitespace and commas
    ignored, repeats dropped). Each must be one the model can write."""
    from ..hangul import ksx1001, seri95
    name = spec.strip().lower()
    if name == "all":
        return class_list.to_list()
    if name in ("seri95", "ksx1001"):
        spec = "".join(seri95() if name == "seri95" else ksx1001())
    elif _is_file(spec):
        try:
            spec = Path(spec).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--syllables: cannot read {spec} as UTF-8 text ({e})") from None
    wanted: list[str] = []
    for ch in unicodedata.normalize("NFC", spec):
        if not (ch.isspace() or ch == ",") and ch not in wanted:
            wanted.append(ch)
    if not wanted:
        raise UsageError("--syllables is empty: give 'all', a set (seri95, ksx1001), a file or the syllables, e.g. 가각간")
    missing = [ch for ch in wanted if ch not in class_list]
    if missing:
        shown = "".join(missing[:20]) + ("..." if len(missing) > 20 else "")
        raise UsageError(f"--syllables: this run cannot write {len(missing)} of them (not among its "
                         f"{len(class_list)} classes): {shown}")
    return wanted


def _is_file(spec: str) -> bool:
    """Whether `spec` names an existing file. Text that cannot be a file name (longer than the system
    allows, or with a NUL) is not one: is_file() raises on it, and it is read as syllables."""
    try:
        return Path(spec).is_file()
    except (OSError, ValueError):
        return False


def png_name(syllable: str, variant: int | None = None) -> str:
    """'가' -> 'AC00.png' (the code point in upper-case hex); variant 2 -> 'AC00-2.png'."""
    return f"{ord(syllable):04X}.png" if variant is None else f"{ord(syllable):04X}-{variant}.png"


def parse_options(args) -> tuple[int | None, int | None, float]:
    """(size or None = the model's own, variants or None, natural) from --size, --variants and
    --natural; UsageError otherwise."""
    size = None
    if args.size is not None:
        try:
            size = conventions.check_size(args.size)
        except ValueError as e:
            raise UsageError(f"--size: {e}") from None
    variants = None
    if args.variants is not None:
        text = str(args.variants).strip()
        if not (text.isdigit() and 1 <= int(text) <= VARIANTS_MAX):
            raise UsageError(f"--variants must be a whole number in 1..{VARIANTS_MAX}, got {args.variants!r}")
        variants = int(text)
    if args.natural is None:
        return size, variants, (conventions.NATURAL_DEFAULT if variants else 0.0)
    if variants is None:
        raise UsageError("--natural applies to --variants N (the occurrences of each syllable); add --variants")
    try:
        return size, variants, conventions.check_natural(args.natural)
    except ValueError as e:
        raise UsageError(f"--natural: {e}") from None


def run(args) -> int:
    seed, psi = parse_seed(args.seed), parse_truncation(args.truncation)
    size, n_variants, natural = parse_options(args)
    ckpt = existing_file(args.checkpoint)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    G, meta = load_checkpoint(ckpt)
    class_list = meta["class_list"]
    syllables = select_classes(args.classes, class_list)
    weight = None
    if args.weight is not None:
        if not getattr(G.cfg, "weight_cond", False):
            raise UsageError(f"--weight: {ckpt} has no stroke-weight control (its run was trained without one)")
        try:
            weight = conventions.check_weight(args.weight)
        except ValueError as e:
            raise UsageError(f"--weight: {e}") from None

    from PIL import Image

    from ..records import atomic_path
    from ..sampling import generate, seed_to_z, to_uint8
    from ..studio.crisp import enlarge
    from ..variation import variants
    import torch
    out.mkdir(parents=True, exist_ok=True)
    z = seed_to_z(seed, G.cfg.z_dim, truncation=psi)        # one writer for every class
    writer = "seed " + str(seed)
    if args.writer is not None:                             # a fitted writer replaces the seed
        from ..writer.errors import WriterError
        from ..writer.value import writer_latent
        try:
            wl = writer_latent(args.writer, generator=G)
        except WriterError as e:
            raise UsageError(f"--writer: {e}") from None
        G, z, writer = wl.generator, wl.z, f"writer {args.writer}"
        if getattr(G.cfg, "weight_cond", False):            # --weight moves the writer's own weight
            weight = conventions.writer_weight(wl.weight, weight)
    indices = [class_list.index(s) for s in syllables]
    per = n_variants or 1
    step = max(1, CHUNK // per)                             # syllables per pass: CHUNK glyphs at most
    notes = []
    for i in range(0, len(indices), step):
        labels = torch.tensor(indices[i:i + step])
        if n_variants is None:
            images = to_uint8(generate(G, labels, z, weight=weight))[:, None]    # (N, 1, S, S), dark on white
        else:
            images = variants(G, labels, z, n=n_variants, natural=natural, weight=weight)   # (N, n, S, S)
        if size is not None:
            flat, note = enlarge(images.reshape(-1, *images.shape[-2:]), size=size)
            if note and note not in notes:
                notes.append(note)
            images = flat.view(len(labels), per, size, size)
        for syl, imgs in zip(syllables[i:i + step], images):
            for k, img in enumerate(imgs, start=1):
                # PIL, not torchvision's save_image: that one writes RGB, the sheet's PNGs are grayscale
                name = png_name(syl, k if n_variants else None)
                with atomic_path(out / name, fsync=False) as tmp:
                    Image.fromarray(img.numpy(), mode="L").save(tmp, format="PNG")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    size = size or meta["model_config"].size
    n = len(indices) * per
    extra = "" if weight is None else f", weight {weight:g}"
    if n_variants:
        extra += f", {n_variants} variant{'s' if n_variants != 1 else ''} each at natural {natural:g}"
    print(f"wrote {n} PNG{'s' if n != 1 else ''} ({size}x{size}, {writer}, truncation {psi:g}{extra}) to {out}")
    return 0
