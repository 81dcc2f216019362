"""Data sources behind one interface: `load_source("fonts" | "hgu1:PATH" | "folder:PATH" | "packed:FILE", ...)`.

Every source returns a GlyphSet: all images in memory as one uint8 tensor (N, H, W), white ink
on black, plus labels into the *given* class list (the class list comes from the config, never
from the data). Training reads batches by indexing that tensor; nothing is decoded per step.
"""
from __future__ import annotations

import torch

from ..hangul import ClassList
from .glyphset import GlyphSet  # noqa: F401  (re-exported: rekogan.data.GlyphSet)


def load_source(spec: str, *, classes: ClassList, size: int, font_dirs: list[str] | None = None,
                cache_dir: str | None = None) -> GlyphSet:
    """spec: 'fonts' (default data), 'hgu1:PATH' (a .hgu1 file or folder of them), 'folder:PATH',
    'packed:FILE' (any of these prepared once by `python -m rekogan pack`)."""
    kind, _, path = spec.partition(":")
    if kind == "fonts":
        from .fonts import HELDOUT_FACES, load_fonts, package_licences
        images, faces, skipped = load_fonts(classes=classes, size=size, font_dirs=[path] if path else font_dirs,
                                            cache_dir=cache_dir)
        f, c = images.shape[:2]
        lic = package_licences(sorted({fc.path for fc in faces}))
        info = {
            "source": spec, "faces": [fc.name for fc in faces], "skipped_faces": skipped,
            "heldout_faces": [n for n in HELDOUT_FACES if n in {fc.name for fc in faces}],
            "face_files": {fc.name: {"file": fc.path, **lic.get(fc.path, {})} for fc in faces},
        }
        return GlyphSet(
            torch.from_numpy(images.reshape(f * c, size, size)),          # (F*C, H, W)
            torch.arange(c).repeat(f),
            classes,
            torch.arange(f).repeat_interleave(c),
            [fc.name for fc in faces], info)
    if kind == "hgu1":
        from .hgu1 import load_hgu1
        assert path, "hgu1 needs a path: --data hgu1:/path/to/file_or_folder"
        return load_hgu1(path, classes=classes, size=size)
    if kind == "folder":
        from .folder import load_folder
        assert path, "folder needs a path: --data folder:/path/to/root"
        return load_folder(path, classes=classes, size=size)
    if kind == "packed":
        from .packed import load_packed
        assert path, "packed needs a path: --data packed:/path/to/data.npz"
        return load_packed(path, classes=classes, size=size)
    raise ValueError(f"unknown data source {spec!r}: use fonts, fonts:DIR, hgu1:PATH, folder:PATH or packed:FILE")


def load_splits(spec: str, *, classes: ClassList, size: int, **kw) -> tuple[GlyphSet, GlyphSet]:
    """(train, heldout) for a source; font runs hold out the fixed HELDOUT_FACES."""
    full = load_source(spec, classes=classes, size=size, **kw)
    return full.split(full.info.get("heldout_faces") or None)


def add_partial_fonts(base: GlyphSet, extra: tuple[str, ...], *, classes: ClassList, size: int) -> GlyphSet:
    """`base` (a font source's train part over classes[:k]) plus the glyphs of `extra` (the
    classes after it, classes[k:] == extra) that each of base's faces has: for syllables that
    many faces lack (outside KS X 1001), where a face-by-class grid would drop those faces."""
    import numpy as np
    from .fonts import load_fonts_partial
    k = len(classes) - len(extra)
    assert tuple(classes.syllables[k:]) == tuple(extra), "classes must end with the extra syllables"
    used = sorted(set(base.groups.tolist()))
    names = [base.group_names[g] for g in used]
    images, labels, faces = load_fonts_partial(classes=ClassList(tuple(extra)), size=size, faces=names)
    groups = np.asarray(used, np.int64)[faces]                       # back to base's group indices
    info = dict(base.info, extra_syllables=len(extra), extra_images=int(len(images)),
                images=len(base) + int(len(images)))
    return GlyphSet(torch.cat([base.images, torch.from_numpy(images)]),
                    torch.cat([base.labels, torch.from_numpy(labels) + k]), classes,
                    torch.cat([base.groups, torch.from_numpy(groups)]), base.group_names, info)
