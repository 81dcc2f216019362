"""The upscaler's training data in one file, for training where the fonts and the generators are not
(a lent GPU machine: no Korean fonts, and at most 64 MiB travels there per call).

  python -m rekogan upscaler pack --out .gpu/upscale.npz [--syllables 128] [--content-pool 2048]
  python -m rekogan upscaler train --data .gpu/upscale.npz --device cuda --out runs/upscaler_gpu ...

One compressed .npz (np.savez_compressed; glyphs are mostly black, so they shrink many times) holding
what train() otherwise makes on the spot:
  train_*   the training faces' 256 px glyphs (data.training_glyphs: images, face, label, the face
            names, the syllables) and their provenance (info: files and licences)
  probe_*   the per-epoch held-out check (evaluate.probe_pairs: 64 px input, 256 px truth)
  pool_*    the keep_content term's generated glyphs, one array per content run, and the key they were
            drawn with (runs, per run, seed: content.load_or_make_pool's); absent with --content-pool 0
A pack is read whole (load_pack) and checked: a file that is not one, or one cut short, is refused
with a message naming it.
"""
from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..hangul import ClassList
from ..records import atomic_path
from .data import Glyphs256

FORMAT = "rekogan-upscaler-pack-1"


def save_pack(path, *, glyphs: Glyphs256, probe: tuple[torch.Tensor, torch.Tensor],
              pool: dict[str, torch.Tensor] | None = None, pool_key: list | None = None) -> Path:
    """Write the pack atomically. probe: (input (N, 1, 64, 64), truth (N, 1, 256, 256)) ink in [0, 1],
    stored as uint8 levels (the input is already quantised to them; the truth is rendered ink)."""
    path = Path(path)
    assert (pool is None) == (pool_key is None), "a pool travels with the key it was drawn with"
    meta = {"format": FORMAT, "faces": list(glyphs.faces), "syllables": list(glyphs.syllables),
            "info": glyphs.info, "pool_runs": sorted(pool or {}), "pool_key": pool_key}
    arrays = {"meta": np.array(json.dumps(meta, ensure_ascii=False)),
              "train_images": glyphs.images.numpy(), "train_face": glyphs.face.numpy(), "train_label": glyphs.label.numpy(),
              "probe_x": _levels(probe[0]), "probe_t": _levels(probe[1])}
    for name, g in (pool or {}).items():
        arrays[f"pool_{name}"] = g.numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def _levels(ink: torch.Tensor) -> np.ndarray:
    return ink.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()


def load_pack(path) -> dict:
    """{'glyphs': Glyphs256, 'probe': (input, truth) float ink, 'pool': {run: (N, 64, 64) uint8} or None,
    'pool_key': list or None}; ValueError naming the file when it is not a whole pack."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"} if meta.get("format") == FORMAT else {}
    except (OSError, KeyError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as e:   # JSONDecodeError is a ValueError
        raise ValueError(f"{path} is not a readable upscaler pack ({type(e).__name__}: {e}); "
                         "make it with `python -m rekogan upscaler pack --out FILE`") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an upscaler pack (format {meta.get('format')!r}, want {FORMAT!r})")
    images = torch.from_numpy(arrays["train_images"])
    if images.ndim != 3 or images.shape[1:] != (256, 256) or images.dtype != torch.uint8:
        raise ValueError(f"{path}: its training glyphs are {tuple(images.shape)} {images.dtype}, not (N, 256, 256) uint8")
    glyphs = Glyphs256(images, list(meta["faces"]), torch.from_numpy(arrays["train_face"]).long(),
                       ClassList(tuple(meta["syllables"])), torch.from_numpy(arrays["train_label"]).long(),
                       dict(meta["info"], packed=str(path)))
    probe = (torch.from_numpy(arrays["probe_x"]).float().div(255), torch.from_numpy(arrays["probe_t"]).float().div(255))
    pool = {name: torch.from_numpy(arrays[f"pool_{name}"]) for name in meta["pool_runs"]} or None
    return {"glyphs": glyphs, "probe": probe, "pool": pool, "pool_key": meta["pool_key"]}


def make_pack(path, *, syllables: int, content_runs: list, content_pool: int, seed: int, log=print) -> Path:
    """Render and draw everything a training run needs (the fonts and the content runs' generators must be
    here) and write the pack."""
    from .content import make_pool
    from .data import pair_syllables, training_glyphs
    from .evaluate import probe_pairs
    glyphs = training_glyphs(pair_syllables(syllables))
    log(f"{len(glyphs)} training glyphs at 256 px ({len(glyphs.faces)} faces x {syllables} syllables)")
    probe = probe_pairs()
    log(f"{len(probe[0])} held-out probe pairs")
    pool = key = None
    if content_pool:
        runs = tuple(content_runs)
        pool = make_pool(runs=runs, per_run=content_pool, seed=seed, log=log)
        key = [list(runs), content_pool, seed]
    return save_pack(path, glyphs=glyphs, probe=probe, pool=pool, pool_key=key)
