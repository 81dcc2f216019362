"""A synthetic packed dataset for tests that must run without Korean fonts (a GPU machine, say)."""
from __future__ import annotations

from pathlib import Path

import torch

from rekogan.data import GlyphSet
from rekogan.data.packed import save_packed
from rekogan.hangul import seri95


def synthetic_glyphs(*, n_classes: int = 4, groups: int = 10, size: int = 32) -> GlyphSet:
    """Class c is a bar at a class-specific place; group g shifts and thickens it (a 'writer')."""
    classes = seri95().subset(n_classes)
    imgs, labels, grp = [], [], []
    for g in range(groups):
        for c in range(n_classes):
            im = torch.zeros(size, size, dtype=torch.uint8)
            a = 2 + (c * (size - 8)) // max(n_classes - 1, 1)
            w = 2 + g % 3
            if c % 2:
                im[a:a + w, 2 + g % 4:size - 2] = 255          # horizontal bar
            else:
                im[2 + g % 4:size - 2, a:a + w] = 255          # vertical bar
            imgs.append(im); labels.append(c); grp.append(g)
    return GlyphSet(torch.stack(imgs), torch.tensor(labels), classes, torch.tensor(grp),
                    [f"writer{g:02d}" for g in range(groups)],
                    {"source": "synthetic", "heldout_faces": ["writer09"]})


def write_synthetic_pack(path: Path, **kw) -> Path:
    return save_packed(path, synthetic_glyphs(**kw))
