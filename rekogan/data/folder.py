"""Image folders: `<root>/<class>/*.png|jpg|jpeg|bmp`, as in the original ReKOGAN and public
HangulDB image exports.

A class folder is named by the syllable's EUC-KR hex code (`b0a1`, any case) or by the syllable
itself (`가`; NFD names, as macOS writes them, are NFC-normalised first). Two folders naming the
same class (`b0a1/` and `가/`) are merged. Folders that name no class in the class list are
counted and skipped; unreadable images are counted and skipped, never fatal.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..hangul import ClassList, from_euckr, is_syllable
from .glyphset import GlyphSet, from_lists
from .normalize import normalize_glyph

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp"}
HEX_NAME = re.compile(r"^[0-9a-fA-F]{4}$")
MAX_LISTED = 50  # cap on the path lists kept in info (unreadable images, skipped folders)

# Groups for GlyphSet.split(): one group per class folder would hold out whole classes, which is
# useless for evaluating a class-conditional model. Instead every image goes to one of
# N_GROUPS stable groups chosen by a CRC32 of its file stem (not the path, not Python's salted
# hash), so split() -- which holds out every 10th group -- holds out groups 0 and 10, about 10%
# of the images, the same ones on every run and machine. Exports that name files by writer
# (`<class>/writer017.png`) thereby hold out whole writers across all classes.
N_GROUPS = 20


def group_of(stem: str) -> int:
    return zlib.crc32(stem.encode("utf-8")) % N_GROUPS


def class_of_dir(name: str) -> str | None:
    """Folder name -> syllable: 'b0a1' / 'B0A1' / '가' -> '가'; None when it names no syllable."""
    name = unicodedata.normalize("NFC", name.strip())
    if HEX_NAME.match(name):
        try:
            return from_euckr(name)
        except ValueError:
            return None
    return name if is_syllable(name) else None


def read_gray(path: Path) -> np.ndarray:
    """An image file as a 2-D uint8 grey array; transparent backgrounds become white paper."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(paper, rgba)
        return np.asarray(im.convert("L"), dtype=np.uint8)


def load_folder(path: str, *, classes: ClassList, size: int) -> GlyphSet:
    """Every image under `<path>/<class>/` for the given classes, normalised to (size, size)
    white ink on black."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder does not exist (or is not a folder): {path}")
    class_dirs: list[tuple[Path, int]] = []
    skipped_dirs: list[str] = []
    skipped_other_class = 0   # folders naming a syllable that is not in the class list
    skipped_not_class = 0     # folders naming no syllable at all
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        syl = class_of_dir(d.name)
        if syl is None or syl not in classes:
            if syl is None:
                skipped_not_class += 1
            else:
                skipped_other_class += 1
            if len(skipped_dirs) < MAX_LISTED:
                skipped_dirs.append(d.name)
            continue
        class_dirs.append((d, classes.index(syl)))

    images, labels, groups = [], [], []
    unreadable: list[str] = []
    n_unreadable = n_blank = n_files = 0
    for d, lab in class_dirs:
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_EXTS and f.is_file())
        n_files += len(files)
        for f in files:
            try:
                gray = read_gray(f)
            except Exception:  # corrupt / truncated / not really an image: skip, never crash
                n_unreadable += 1
                if len(unreadable) < MAX_LISTED:
                    unreadable.append(str(f))
                continue
            g = normalize_glyph(gray, size=size) if gray.ndim == 2 and gray.size else None
            if g is None:
                n_blank += 1
                continue
            images.append(g)
            labels.append(lab)
            groups.append(group_of(f.stem))

    info = {"source": f"folder:{path}", "class_dirs": len(class_dirs), "image_files": n_files,
            "skipped_dirs": skipped_dirs, "skipped_other_class": skipped_other_class,
            "skipped_not_class": skipped_not_class, "skipped_blank": n_blank, "unreadable": unreadable,
            "unreadable_count": n_unreadable, "groups": f"crc32(file stem) % {N_GROUPS}"}
    return from_lists(images, labels, groups, [f"stem-crc{i:02d}" for i in range(N_GROUPS)], classes, info, empty=(
        f"no usable image under {path}: found {len(class_dirs)} class folder(s) for the "
        f"{len(classes)} classes with {n_files} image file(s) ({n_unreadable} unreadable, "
        f"{n_blank} blank), skipped {skipped_other_class + skipped_not_class} other folder(s); "
        f"expected <root>/<b0a1 or 가>/*.png|jpg|jpeg|bmp"))
