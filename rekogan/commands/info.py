"""`python -m rekogan info`: the metadata stored in a generator checkpoint, without building the model."""
from __future__ import annotations

import json

from .common import UsageError, existing_file


def add_parser(subparsers):
    i = subparsers.add_parser("info", help="print a checkpoint's metadata",
                              description="Print the metadata of a generator checkpoint without building the model.")
    i.add_argument("--checkpoint", required=True, metavar="PATH")
    i.add_argument("--json", action="store_true", help="print all metadata as JSON")
    return i


def run(args) -> int:
    ckpt = existing_file(args.checkpoint)
    from ..checkpoints import CheckpointError, read_metadata
    try:
        meta = read_metadata(ckpt)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot read {ckpt}: {e.strerror or e}") from None
    model, classes, cfg = meta["model"], meta["classes"], meta.get("config") or {}
    if args.json:
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
