"""A prepared dataset in one file: `python -m rekogan pack --data SPEC --out data.npz`, then
`train.py --data packed:data.npz` on any machine, also one without the fonts or the raw files
(a rented GPU, a Space, a CI runner).

The file is a compressed .npz with no pickled objects:
  images       (N, S, S) uint8, white ink on black, normalised like every source
  labels       (N,) int64, index into `classes`
  groups       (N,) int64, index into `group_names` (font face / file / writer)
  group_names  (G,) str
  classes      (C,) str, the syllables `labels` index
  info         () str, JSON: the source's provenance (faces, packages, licences, held-out groups)

Loading maps the file's labels onto the run's class list by syllable (the class list comes from
the config, never from the data): samples of other classes are counted and skipped. Images of
another size are resampled with antialiasing. The held-out groups recorded by the source are
kept, so a packed font set splits exactly like the fonts it came from.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..hangul import ClassList
from ..records import atomic_path
from .glyphset import GlyphSet

KEYS = ("images", "labels", "groups", "group_names", "classes", "info")


def save_packed(path: str | Path, data: GlyphSet) -> Path:
    """Write `data` to `path` (.npz) atomically: a killed pack never leaves a half file."""
    path = Path(path)
    # a file object, not the temporary name: np.savez would append .npz to a name without it
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f, images=data.images.numpy(), labels=data.labels.numpy(), groups=data.groups.numpy(),
            group_names=np.array(data.group_names, dtype=str), classes=np.array(list(data.classes), dtype=str),
            info=np.array(json.dumps(data.info, ensure_ascii=False)))
    return path


def load_packed(path: str | Path, *, classes: ClassList, size: int) -> GlyphSet:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"packed data not found: {path} (make one with: python -m rekogan pack --out {path})")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise ValueError(f"{path} is not a ReKOGAN packed dataset: it lacks {', '.join(missing)}")
            arrays = {k: z[k] for k in KEYS}
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path} is not a readable .npz file (truncated or corrupt?): {e}") from None
    images, labels, groups = arrays["images"], arrays["labels"], arrays["groups"]
    file_classes = [str(s) for s in arrays["classes"]]
    n = len(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"{path}: images must be (N, S, S) uint8, got {images.shape} {images.dtype}")
    if labels.shape != (n,) or groups.shape != (n,):
        raise ValueError(f"{path}: labels and groups must have one entry per image ({n})")
    if n and (labels.min() < 0 or labels.max() >= len(file_classes)):
        raise ValueError(f"{path}: a label is outside its {len(file_classes)} classes")

    # the file's class index -> the run's class index (-1: not a class of this run)
    want = {s: i for i, s in enumerate(classes)}
    remap = torch.tensor([want.get(s, -1) for s in file_classes] or [-1], dtype=torch.int64)
    new_labels = remap[torch.from_numpy(labels.astype(np.int64))]                 # (N,)
    keep = new_labels >= 0
    imgs = torch.from_numpy(images)[keep]                                          # (M, S0, S0)
    if imgs.shape[-1] != size and len(imgs):
        imgs = F.interpolate(imgs[:, None].float(), size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False).round().clamp(0, 255).to(torch.uint8)[:, 0]  # (M, S, S)

    info = json.loads(str(arrays["info"]))
    present = set(new_labels[keep].tolist())
    info.update({
        "source": f"packed:{path}", "packed_from": info.get("source"), "packed_size": int(images.shape[1]),
        "skipped_other_class": int((~keep).sum()),
        "missing_classes": [s for i, s in enumerate(classes) if i not in present],
    })
    return GlyphSet(imgs, new_labels[keep], classes, torch.from_numpy(groups.astype(np.int64))[keep],
                    [str(g) for g in arrays["group_names"]], info)
