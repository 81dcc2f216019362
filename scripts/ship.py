"""Copy a shipped selection of a training run into checkpoints/<name>/.

  python scripts/ship.py runs/fixed checkpoints/fixed --count 10 [--budget-mb 40]
  python scripts/ship.py runs/fixed2 checkpoints/fixed --epochs 1,2,23,50,100,150,186,200

Keeps the first epochs, the best epoch (rekogan.records.best_epoch over evaluation.jsonl), the last epoch, and
evenly spread epochs in between; copies every run-level record (config.json, data.json,
split.json of runs that hold syllables out, metrics.jsonl, evaluation.jsonl, loss_curve.png, evaluation.png) and the grids of the shipped
epochs. The generator files are already fp16 safetensors with their metadata inside.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rekogan.checkpoints import list_epochs  # noqa: E402
from rekogan.conventions import grid_file  # noqa: E402
from rekogan.records import best_epoch, by_epoch, read_jsonl, write_text_atomic  # noqa: E402


def select(epochs: list[int], records: list[dict], count: int) -> list[int]:
    """The first two, the best (among the run's saved epochs) and the last epoch, then evenly spread ones."""
    if len(epochs) <= count:
        return epochs
    keep = {epochs[0], epochs[1], epochs[-1]}
    best = best_epoch([r for r in records if r.get("epoch") in set(epochs)])
    if best:
        keep.add(best["epoch"])
    rest = count - len(keep)
    for i in range(1, rest + 1):
        keep.add(epochs[round(i * (len(epochs) - 1) / (rest + 1))])
    e = 0
    while len(keep) < count and e < len(epochs):
        keep.add(epochs[e]); e += 1
    return sorted(keep)[:count] if len(keep) > count else sorted(keep)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("dest")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--budget-mb", type=float, default=40.0)
    p.add_argument("--epochs", help="ship exactly these epochs (comma-separated) instead of the automatic pick")
    a = p.parse_args()
    run, dest = Path(a.run), Path(a.dest)
    eps = dict(list_epochs(run))
    if not eps:
        sys.exit(f"no epoch_*.safetensors in {run}")
    ev = list(by_epoch(read_jsonl(run / "evaluation.jsonl")).values())
    if a.epochs:
        chosen = sorted({int(e) for e in a.epochs.split(",")})
        missing = [e for e in chosen if e not in eps]
        if missing:
            sys.exit(f"{run} has no epoch(s) {missing}")
    else:
        chosen = select(sorted(eps), ev, a.count)
    size = sum(eps[e].stat().st_size for e in chosen) / 2**20
    if size > a.budget_mb:
        sys.exit(f"{len(chosen)} epochs take {size:.1f} MB > budget {a.budget_mb} MB; lower --count")
    if dest.exists():
        for old in dest.glob("epoch_*.safetensors"):
            old.unlink()
        for old in dest.glob("grid_*.png"):
            old.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    for e in chosen:
        shutil.copy2(eps[e], dest / eps[e].name)
        g = run / grid_file(e)
        if g.exists():
            shutil.copy2(g, dest / g.name)
    for name in ("config.json", "data.json", "split.json", "metrics.jsonl", "evaluation.jsonl", "loss_curve.png",
                 "evaluation.png"):
        if (run / name).exists():
            shutil.copy2(run / name, dest / name)
    write_provenance(dest)
    print(f"shipped epochs {chosen} ({size:.1f} MB) from {run} to {dest}")


def training_summary(dest: Path) -> dict:
    """Where and how the run was trained, from its metrics.jsonl: devices, precisions, images, wall.
    Epochs logged before `precision` was recorded (2026-11-26) ran in fp32 (bf16 was CUDA-only then)."""
    rows = [r for r in read_jsonl(dest / "metrics.jsonl") if "epoch" in r]
    if not rows:
        return {}
    def spans(key, default):
        out: dict[str, list[int]] = {}
        for r in rows:
            out.setdefault(str(r.get(key, default)), []).append(r["epoch"])
        return {k: f"epochs {min(v)}-{max(v)}" for k, v in out.items()}
    return {"epochs": rows[-1]["epoch"], "images_seen": rows[-1]["images_seen"],
            "training_wall_minutes": round(rows[-1]["wall_seconds"] / 60, 1),
            "devices": spans("device", "cpu"), "precision": spans("precision", "fp32"),
            "first_epoch_at": rows[0].get("time"), "last_epoch_at": rows[-1].get("time")}


def write_provenance(dest: Path):
    """provenance.json: which Debian packages and faces (and their licences) the model learnt from."""
    if not (dest / "data.json").exists():
        return
    from rekogan.data.fonts import package_licences
    data = json.loads((dest / "data.json").read_text())
    files = data.get("face_files", {})
    lic = package_licences(sorted(v["file"] for v in files.values()))
    held = set(data.get("heldout_faces", []))
    packages: dict[str, dict] = {}
    for face, v in sorted(files.items()):
        info = lic.get(v["file"], {"package": v.get("package", "unknown"), "licence": v.get("licence", "unknown")})
        p = packages.setdefault(info["package"], {"licence": info["licence"], "train_faces": [], "heldout_faces": []})
        p["heldout_faces" if face in held else "train_faces"].append(face)
    out = {"source": data.get("source"), "train_images": data.get("train_images"),
           "heldout_images": data.get("heldout_images"), "packages": packages,
           "skipped_faces_without_all_classes": data.get("skipped_faces", []),
           "training": training_summary(dest)}
    if (dest / "split.json").exists():      # a split run: what it trained on, and from which epoch
        split = json.loads((dest / "split.json").read_text(encoding="utf-8"))
        out["syllables"] = {"counts": split.get("counts"),
                            "phases": split.get("phases") or [{"spec": split.get("spec"), "from_epoch": 1}],
                            "extra_images": data.get("extra_images")}
    write_text_atomic(dest / "provenance.json", json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
