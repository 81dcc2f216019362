"""Ship an upscaler run's epoch as checkpoints/upscaler/ (the file the app and commands load).

    python scripts/ship_upscaler.py runs/upscaler [--epoch N] [--sharpness K] [--keep-steps S --keep-gain G]
                                    [--keep-down D] [--keep-sharpness KB] [--keep-peak Q] [--keep-exact A]
                                    [--out checkpoints/upscaler]

Writes upscaler_NNN.safetensors (fp16 EMA weights; default: the last epoch, no choosing by the
held-out figures) as upscaler.safetensors with its `sharpness` set to K (the logit gain
GlyphUpscaler applies; `python -m rekogan upscaler test` prints the grey share for several) and
its back-projection rounds and gain set to S and G, its removal share, inner sharpness and peak
quantile to D, KB and Q (rekogan/upscale/apply.py: back_project; the defaults keep the one-sided rounds),
with the run's config.json, metrics.jsonl and that
epoch's samples_NNN.png, and writes provenance.json: the Debian package and licence of every
training face, the held-out faces, and how the run trained. Every file is written atomically.
The names keep the folder out of the app's list of generator runs (it lists epoch_NNN files).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rekogan.records import read_jsonl, write_bytes_atomic, write_text_atomic  # noqa: E402

EPOCH = re.compile(r"^upscaler_(\d+)\.safetensors$")


def provenance(run: Path, epoch: int, sharpness: float, keep: dict) -> dict:
    cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
    data = cfg.get("data", {})
    packages: dict[str, dict] = {}
    for face, v in sorted(data.get("face_files", {}).items()):
        p = packages.setdefault(v.get("package", "unknown"), {"licence": v.get("licence", "unknown"), "train_faces": []})
        p["train_faces"].append(face)
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if isinstance(r.get("epoch"), int) and r["epoch"] <= epoch]
    train = cfg.get("train", {})
    return {"what": "the x4 glyph upscaler (rekogan/upscale)", "epoch": epoch, "sharpness": sharpness, **keep,
            "fine_tuned_from": _lineage(train.get("init")),
            "steps": epoch * train.get("epoch_steps", 0), "images_seen": epoch * train.get("epoch_steps", 0) * train.get("batch", 0),
            "train_glyphs": data.get("glyphs"), "syllables": data.get("syllables"),
            "packages": packages, "heldout_faces_never_trained_on": data.get("heldout_faces", []),
            "training": {"first_epoch_at": rows[0].get("time") if rows else None,
                         "last_epoch_at": rows[-1].get("time") if rows else None,
                         "threads": sorted({r.get("threads") for r in rows if r.get("threads")}),
                         "precision": "fp32", "device": "cpu"}}


def _lineage(init: str | None) -> dict | None:
    """What a fine-tuned run started from: the file's epoch and steps, and its folder's own
    provenance.json when it has one (read before this script overwrites a shipped folder)."""
    if not init:
        return None
    from rekogan.checkpoints import read_tensors
    path = Path(init)
    if not path.is_file():
        return {"file": init, "note": "the file is gone; see the run's config.json"}
    _, meta = read_tensors(path)
    cfg = json.loads(meta.get("config", "{}"))
    out = {"file": init, "epoch": int(meta.get("epoch", 0)), "steps": int(meta.get("step", 0)),
           "images_seen": int(meta.get("step", 0)) * int(cfg.get("batch", 0)), "sharpness": float(meta.get("sharpness", 1))}
    if (path.parent / "provenance.json").is_file():
        out["provenance"] = json.loads((path.parent / "provenance.json").read_text(encoding="utf-8"))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--epoch", type=int, default=None)
    p.add_argument("--sharpness", type=float, default=1.0)
    p.add_argument("--keep-steps", type=int, default=0, help="back-projection rounds (default 0)")
    p.add_argument("--keep-gain", type=float, default=1.0, help="back-projection gain (default 1)")
    p.add_argument("--keep-down", type=float, default=0.0,
                   help="share of the excess ink the rounds take away (default 0: one-sided; 1: two-sided)")
    p.add_argument("--keep-sharpness", type=float, default=0.0,
                   help="the sharpness inside the rounds (default 0: the output's --sharpness)")
    p.add_argument("--keep-peak", type=float, default=0.0,
                   help="match the input divided by this quantile of its own ink (default 0: off)")
    p.add_argument("--keep-exact", type=float, default=0.0,
                   help="add this share of what the output, reduced back, still differs from the input to its "
                        "blocks (default 0: off; 1: it reduces back exactly)")
    p.add_argument("--out", type=Path, default=Path("checkpoints/upscaler"))
    args = p.parse_args()
    epochs = sorted(int(m.group(1)) for f in args.run.glob("upscaler_*.safetensors") if (m := EPOCH.match(f.name)))
    if not epochs:
        sys.exit(f"error: no upscaler_NNN.safetensors in {args.run}")
    epoch = args.epoch if args.epoch is not None else epochs[-1]
    if epoch not in epochs:
        sys.exit(f"error: {args.run} has no epoch {epoch} (it has {', '.join(map(str, epochs))})")
    out = args.out
    if not 0 < args.sharpness < 100:
        sys.exit(f"error: --sharpness must be in (0, 100), got {args.sharpness}")
    from rekogan.upscale.apply import MAX_KEEP_STEPS
    if not (0 <= args.keep_steps <= MAX_KEEP_STEPS and 0 <= args.keep_gain <= 4):
        sys.exit(f"error: --keep-steps must be in 0..{MAX_KEEP_STEPS} and --keep-gain in [0, 4]")
    if not (0 <= args.keep_down <= 1 and 0 <= args.keep_sharpness < 100 and 0 <= args.keep_peak <= 1
            and 0 <= args.keep_exact <= 1):
        sys.exit("error: --keep-down, --keep-peak and --keep-exact must be in [0, 1], --keep-sharpness in [0, 100)")
    keep = {"keep_steps": args.keep_steps, "keep_gain": args.keep_gain, "keep_down": args.keep_down,
            "keep_sharpness": args.keep_sharpness, "keep_peak": args.keep_peak, "keep_exact": args.keep_exact}
    from rekogan.checkpoints import read_tensors, save_tensors
    tensors, meta = read_tensors(args.run / f"upscaler_{epoch:03d}.safetensors")
    prov = provenance(args.run, epoch, args.sharpness, keep)     # before a shipped folder (the run's init) is overwritten
    save_tensors(out / "upscaler.safetensors", tensors, {**meta, "sharpness": repr(args.sharpness),
                                                            **{k: repr(v) for k, v in keep.items()}})
    for name in ("config.json", "metrics.jsonl"):
        write_bytes_atomic(out / name, (args.run / name).read_bytes())
    write_bytes_atomic(out / "samples.png", (args.run / f"samples_{epoch:03d}.png").read_bytes())
    write_text_atomic(out / "provenance.json", json.dumps(prov, indent=1, ensure_ascii=False))
    print(f"shipped {args.run} epoch {epoch} (sharpness {args.sharpness:g}, back-projection {args.keep_steps} x "
          f"{args.keep_gain:g}, exact share {args.keep_exact:g}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
