"""Glyph pairs for the upscaler: a face's glyph rendered at 256 px, and its 64 px version.

The 256 px glyph is normalised exactly as the training glyphs are (rekogan/data/normalize.py:
crop to ink, pad to a square, LANCZOS into the box with an 8 % margin), drawn at RENDER_PX * 4
so a 256 px glyph has the 64 px one's proportions. The 64 px input is the 256 px glyph reduced
by 4 x 4 box averages (`reduce`), then rounded to uint8 like a PNG; degrade.py roughens it like a
generator's output during training.

Training pairs come from the training faces only (rekogan/data/fonts.py: every installed face
but the 8 HELDOUT_FACES), over a fixed sample of KS X 1001 syllables; `heldout_glyphs` renders
the held-out faces the same way for the fidelity test. Renders are cached under $REKOGAN_CACHE
(default ~/.cache/rekogan) like the glyph cache: one .npz keyed by every face file and the
syllables, written atomically.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..data.fonts import HELDOUT_FACES, RENDER_PX, _cache_file, _save_npz, find_faces, render_available
from ..hangul import ClassList, ksx1001

HIGH = 256                    # the truth's size
LOW = 64                      # the generators' size, the upscaler's input
SCALE = HIGH // LOW
HIGH_RENDER_PX = RENDER_PX * SCALE
MIN_COVERAGE = 0.9            # a face must draw this share of the sample (skips faces without Hangul)


def pair_syllables(n: int, *, tag: str = "train") -> ClassList:
    """A fixed sample of n KS X 1001 syllables (the same on every machine), in code order; tag
    'train' and 'test' draw different samples."""
    pool = list(ksx1001())
    if not 1 <= n <= len(pool):
        raise ValueError(f"the number of syllables must be in 1..{len(pool)}, got {n}")
    return ClassList(tuple(sorted(random.Random(f"rekogan-upscaler-{tag}").sample(pool, n))))


@dataclass
class Glyphs256:
    images: torch.Tensor                   # (N, 256, 256) uint8, white ink on black
    faces: list[str]                       # the face names, in order
    face: torch.Tensor                     # (N,) index into faces
    syllables: ClassList
    label: torch.Tensor                    # (N,) index into syllables
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


def _render(faces, syllables: ClassList, *, cache_dir: str | None) -> Glyphs256:
    """Every face over the syllables it has (faces drawing under MIN_COVERAGE of them are
    skipped: faces without Hangul), at 256 px; cached on disk."""
    cache = _cache_file("upscale256", faces, [list(syllables), HIGH, HIGH_RENDER_PX, MIN_COVERAGE], cache_dir)
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        images, face, label, names = z["images"], z["face"], z["label"], [str(n) for n in z["names"]]
    else:
        images, face, label, names = [], [], [], []
        for f in faces:
            kept, glyphs = render_available(f, syllables, size=HIGH, render_px=HIGH_RENDER_PX)
            if len(kept) < MIN_COVERAGE * len(syllables):
                continue
            images.append(glyphs)
            face.append(np.full(len(kept), len(names), np.int64))
            label.append(np.asarray(kept, np.int64))
            names.append(f.name)
        if not names:
            raise FileNotFoundError(f"none of the {len(faces)} faces draws the syllables; install Korean fonts "
                                    "(e.g. apt-get install fonts-nanum fonts-unfonts-core)")
        images, face, label = np.concatenate(images), np.concatenate(face), np.concatenate(label)
        _save_npz(cache, images=images, face=face, label=label, names=np.array(names))
    return Glyphs256(torch.from_numpy(images), names, torch.from_numpy(face), syllables, torch.from_numpy(label),
                     {"cache": str(cache)})


def training_glyphs(syllables: ClassList, *, font_dirs: list[str] | None = None,
                    cache_dir: str | None = None) -> Glyphs256:
    """The training faces (every installed face but HELDOUT_FACES) at 256 px, with their files
    and licences in info (provenance)."""
    from ..data.fonts import package_licences
    faces = [f for f in find_faces(font_dirs) if f.name not in HELDOUT_FACES]
    if not faces:
        raise FileNotFoundError("no training faces installed (every font found is a held-out face or none is "
                                "installed); install Korean fonts, e.g. apt-get install fonts-nanum")
    g = _render(faces, syllables, cache_dir=cache_dir)
    by_name = {f.name: f for f in faces}
    lic = package_licences(sorted({by_name[n].path for n in g.faces}))
    g.info.update(faces=g.faces, heldout_faces=list(HELDOUT_FACES), glyphs=len(g), syllables=len(syllables),
                  face_files={n: {"file": by_name[n].path, **lic.get(by_name[n].path, {})} for n in g.faces})
    return g


def heldout_glyphs(syllables: ClassList, *, font_dirs: list[str] | None = None,
                   cache_dir: str | None = None) -> Glyphs256:
    """The 8 held-out faces (those installed) at 256 px: the fidelity test's truth."""
    by_name = {f.name: f for f in find_faces(font_dirs)}
    faces = [by_name[n] for n in HELDOUT_FACES if n in by_name]
    if not faces:
        raise FileNotFoundError(f"none of the held-out faces {', '.join(HELDOUT_FACES)} is installed "
                                "(scripts/test.sh installs them)")
    return _render(faces, syllables, cache_dir=cache_dir)


def reduce(images: torch.Tensor, factor: int = SCALE) -> torch.Tensor:
    """(N, 1, H, W) float -> (N, 1, H/f, W/f) by f x f box averages (area reduction)."""
    return F.avg_pool2d(images, factor)


def to_ink(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, H, W) float ink in [0, 1] (white ink on black stays ink = 1)."""
    return images.unsqueeze(1).float().div(255)


def quantize(ink: torch.Tensor) -> torch.Tensor:
    """Float ink rounded to the 256 levels a uint8 PNG holds (what the upscaler is given)."""
    return ink.clamp(0, 1).mul(255).round().div(255)
