"""GlyphSet: the in-memory form every data source returns (uint8 images, labels, groups, provenance)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..hangul import ClassList


@dataclass
class GlyphSet:
    images: torch.Tensor          # (N, H, W) uint8, white ink (255) on black (0)
    labels: torch.Tensor          # (N,) int64, index into classes
    classes: ClassList
    groups: torch.Tensor          # (N,) int64, index into group_names (font face / file / writer)
    group_names: list[str]
    info: dict = field(default_factory=dict)  # provenance: source, faces/files, skipped counts, licences

    def __post_init__(self):
        n = len(self.images)
        assert self.images.dtype == torch.uint8 and self.images.ndim == 3, "images must be (N, H, W) uint8"
        assert self.labels.shape == (n,) and self.groups.shape == (n,), "labels/groups must be (N,)"
        if n == 0:
            raise ValueError(f"data source {self.info.get('source', '?')} gave no usable image for the "
                             f"{len(self.classes)} classes")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, mask: torch.Tensor, split: str) -> "GlyphSet":
        info = dict(self.info, split=split, images=int(mask.sum()))
        return GlyphSet(self.images[mask], self.labels[mask], self.classes, self.groups[mask], self.group_names, info)

    def split(self, heldout_groups: list[str] | None = None) -> tuple["GlyphSet", "GlyphSet"]:
        """(train, heldout). Held out: the named groups when given (font faces), else every 10th
        group (files/writers), else every 10th sample of each class when there is one group."""
        names = self.group_names
        if heldout_groups:
            held_ids = [i for i, g in enumerate(names) if g in set(heldout_groups)]
        elif len(names) >= 5:
            held_ids = list(range(0, len(names), 10)) if len(names) >= 10 else [len(names) - 1]
        else:
            held_ids = None
        if held_ids is not None:
            held = torch.isin(self.groups, torch.tensor(held_ids, dtype=torch.int64))
        else:
            held = (torch.arange(len(self)) % 10) == 9
        if held.all() or not held.any():
            raise ValueError(f"cannot split {self.info.get('source')}: the held-out part would be "
                             f"{'everything' if held.all() else 'empty'}")
        return self.subset(~held, "train"), self.subset(held, "heldout")


def from_lists(images: list, labels: list[int], groups: list[int], group_names: list[str], classes: ClassList,
               info: dict, *, empty: str) -> GlyphSet:
    """A GlyphSet from a loader's per-image lists (uint8 (H, W) arrays), with the per-class counts
    added to its provenance; `empty` is the message for a source that yielded no usable image."""
    if not images:
        raise ValueError(empty)
    import numpy as np
    n = torch.bincount(torch.as_tensor(labels, dtype=torch.int64), minlength=len(classes)).tolist()
    info = dict(info, images=len(images), per_class={s: c for s, c in zip(classes, n) if c},
                missing_classes=[s for s, c in zip(classes, n) if not c])
    return GlyphSet(torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64), classes,
                    torch.tensor(groups, dtype=torch.int64), group_names, info)
