"""ReKOGAN command line: python -m rekogan COMMAND ...

  sheet  one PNG per class from a generator checkpoint, named by code point (AC00.png for 가),
         dark ink on white paper, grayscale, at the model's size:
           python -m rekogan sheet --checkpoint runs/fixed/epoch_060.safetensors --seed 7 \\
               --truncation 0.7 --out sheet/ [--classes all|가각간]
  info   the metadata stored in a generator checkpoint (architecture, classes, epoch, ...):
           python -m rekogan info --checkpoint runs/fixed/epoch_060.safetensors
  pack   a data source prepared once into one compressed file, for training where the fonts or
         raw files are not (a GPU machine, a Space): then train.py --data packed:data.npz
           python -m rekogan pack --data fonts --out data/fonts64.npz [--size 64 --classes seri95]

Bad input (a missing, corrupt or pickle checkpoint, a seed outside 0..2^31-1, a truncation
outside 0..1, a syllable the model was not trained on) is reported as one line on stderr with
exit status 2, never as a traceback. New commands: write `cmd_NAME(args) -> int` and register
it in `build_parser`.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EXIT_USAGE = 2
MAX_SEED = 2**31 - 1  # same bound as rekogan.sampling.MAX_SEED (not imported here: keeps --help fast)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


# ---- argument checks (done here, not by argparse types, so every message is one clear line) ---

def parse_seed(text: str) -> int:
    try:
        seed = int(text.strip(), 10)
    except (ValueError, AttributeError):
        raise UsageError(f"--seed must be an integer in 0..{MAX_SEED}, got {text!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be an integer in 0..{MAX_SEED}, got {seed}")
    return seed


def parse_truncation(text: str) -> float:
    try:
        psi = float(text)
    except ValueError:
        raise UsageError(f"--truncation must be a number in [0, 1], got {text!r}") from None
    if not (math.isfinite(psi) and 0.0 <= psi <= 1.0):
        raise UsageError(f"--truncation must be a number in [0, 1], got {text!r}")
    return psi


def check_checkpoint_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise UsageError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise UsageError(f"{path} is not a file (pass an epoch_NNN.safetensors checkpoint)")
    return path


def select_classes(spec: str, class_list) -> list[str]:
    """'all' -> every class of the checkpoint, in its order; otherwise the syllables in `spec`
    (whitespace and commas ignored, repeats dropped), each of which must be a class of the model."""
    if spec.strip().lower() == "all":
        return class_list.to_list()
    import unicodedata
    wanted: list[str] = []
    for ch in unicodedata.normalize("NFC", spec):
        if ch.isspace() or ch == ",":
            continue
        if ch not in wanted:
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


def _load(path: Path):
    """(generator, metadata) or UsageError with the checkpoint module's one-line reason."""
    from .checkpoints import CheckpointError, load_generator
    try:
        return load_generator(path)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None


# ---- commands --------------------------------------------------------------------------------

def cmd_sheet(args) -> int:
    seed = parse_seed(args.seed)
    psi = parse_truncation(args.truncation)
    ckpt = check_checkpoint_path(args.checkpoint)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    G, meta = _load(ckpt)
    class_list = meta["class_list"]
    syllables = select_classes(args.classes, class_list)

    from PIL import Image

    from .sampling import sample
    out.mkdir(parents=True, exist_ok=True)
    indices = [class_list.index(s) for s in syllables]
    n = 0
    chunk = 256  # bounded memory for the 520-class sheet at 64 px and beyond
    for i in range(0, len(indices), chunk):
        images = sample(G, indices[i:i + chunk], seed=seed, truncation=psi)       # (N, S, S) uint8, dark on white
        for syl, img in zip(syllables[i:i + chunk], images):
            Image.fromarray(img.numpy(), mode="L").save(out / png_name(syl))
            n += 1
    size = meta["model_config"].size
    print(f"wrote {n} PNG{'s' if n != 1 else ''} ({size}x{size}, seed {seed}, truncation {psi:g}) to {out}")
    return 0


def cmd_info(args) -> int:
    ckpt = check_checkpoint_path(args.checkpoint)
    from .checkpoints import CheckpointError, read_metadata
    try:
        meta = read_metadata(ckpt)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot read {ckpt}: {e.strerror or e}") from None
    model, classes, cfg = meta["model"], meta["classes"], meta.get("config") or {}
    if args.json:
        import json
        print(json.dumps({k: meta[k] for k in ("model", "classes", "epoch", "step", "images_seen", "config", "metrics")},
                         ensure_ascii=False, indent=2))
        return 0
    head = "".join(classes[:12]) + ("..." if len(classes) > 12 else "")
    rows = [
        ("checkpoint", str(ckpt)),
        ("arch", model.get("arch", "?")),
        ("size", f"{model.get('size', '?')}x{model.get('size', '?')}"),
        ("z_dim", model.get("z_dim", "?")),
        ("embed_dim", model.get("embed_dim", "?")),
        ("classes", f"{len(classes)} ({head})"),
        ("epoch", meta["epoch"]),
        ("step", meta["step"]),
        ("images seen", meta["images_seen"]),
    ]
    if cfg.get("preset"):
        rows.append(("preset", cfg["preset"]))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k + ':':<{width + 1}} {v}")
    return 0


def cmd_pack(args) -> int:
    from .data import load_source
    from .data.packed import save_packed
    from .hangul import parse_classes
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out must name a .npz file, got {out}")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name such as {out / 'data.npz'}")
    try:
        classes = parse_classes(args.classes)
        data = load_source(args.data, classes=classes, size=args.size)
    except (AssertionError, ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    save_packed(out, data)
    mb = out.stat().st_size / 1e6
    print(f"packed {len(data)} images of {len(classes)} classes ({args.size}x{args.size}, "
          f"{len(data.group_names)} groups) from {args.data} into {out} ({mb:.1f} MB)")
    return 0


# ---- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rekogan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("sheet", help="one PNG per class (AC00.png ...), dark ink on white",
                       description="Write one grayscale PNG per class, named by the syllable's code point "
                                   "in upper-case hex (AC00.png for 가), dark ink on white, at the model's size.")
    s.add_argument("--checkpoint", required=True, metavar="PATH", help="a generator checkpoint (epoch_NNN.safetensors)")
    s.add_argument("--seed", default="0", metavar="S", help=f"the writer: an integer in 0..{MAX_SEED} (default 0)")
    s.add_argument("--truncation", default="1.0", metavar="T",
                   help="psi in [0, 1]: 1 = full variety, 0 = the average writer (default 1)")
    s.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs (created if missing)")
    s.add_argument("--classes", default="all", metavar="all|SYLLABLES",
                   help="'all' (default) or the syllables to write, e.g. 가각간")
    s.set_defaults(func=cmd_sheet)

    i = sub.add_parser("info", help="print a checkpoint's metadata",
                       description="Print the metadata of a generator checkpoint without building the model.")
    i.add_argument("--checkpoint", required=True, metavar="PATH")
    i.add_argument("--json", action="store_true", help="print all metadata as JSON")
    i.set_defaults(func=cmd_info)

    k = sub.add_parser("pack", help="prepare a data source once into one .npz (train with --data packed:FILE)",
                       description="Load a data source (fonts, fonts:DIR, hgu1:PATH, folder:PATH) as train.py "
                                   "would and write it, with its provenance, to one compressed .npz.")
    k.add_argument("--data", default="fonts", metavar="SPEC", help="the source, as train.py --data (default fonts)")
    k.add_argument("--out", required=True, metavar="FILE.npz")
    k.add_argument("--size", type=int, default=64, help="image size in pixels (default 64)")
    k.add_argument("--classes", default="seri95", help="'seri95' (default), a count n, or the syllables")
    k.set_defaults(func=cmd_pack)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
