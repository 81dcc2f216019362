"""What the Studio's methods return: a written page, a walk, an evolution, a confusion table.
Frozen values with the notices the app shows beside them (facade.py makes them)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .inputs import unknown_notice
from .registry import EpochInfo


@dataclass(frozen=True)
class Page:
    image: np.ndarray                    # (H, W) uint8, dark ink on white
    unknown: tuple[str, ...]             # distinct characters drawn as grey print, in order of appearance
    info: EpochInfo
    n_classes: int
    seconds: float
    notes: tuple[str, ...] = ()          # the run that writes the unknown syllables; an ignored weight

    @property
    def notice(self) -> str:
        return "\n\n".join(x for x in (unknown_notice(self.unknown, n_classes=self.n_classes), *self.notes) if x)


@dataclass(frozen=True)
class Walk:
    frames: tuple[np.ndarray, ...]
    gif: Path
    strip: np.ndarray
    unknown: tuple[str, ...]
    info: EpochInfo
    n_classes: int
    seeds: tuple[int, int]
    notes: tuple[str, ...] = ()

    @property
    def notice(self) -> str:
        return "\n\n".join(x for x in (unknown_notice(self.unknown, n_classes=self.n_classes), *self.notes) if x)


@dataclass(frozen=True)
class Evolution:
    image: np.ndarray
    run: str
    epochs: tuple[int, ...]
    problems: tuple[str, ...] = ()       # epochs that could not be drawn, with why
    notes: tuple[str, ...] = ()          # e.g. a stroke weight the run has no control for


@dataclass(frozen=True)
class Confusions:
    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    note: str = ""
