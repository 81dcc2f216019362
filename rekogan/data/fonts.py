"""The default data: Hangul glyphs rendered from installed Korean fonts.

Each face draws every class once; augmentation (augment.py) turns ~80 faces into a
handwriting-like distribution. A face is used only if it has a real glyph for every requested
class (a missing glyph renders as the face's .notdef box, which we detect by comparing pixels).
A fixed, named set of faces is held out for evaluation and recorded in each run.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..hangul import ClassList
from ..records import atomic_path
from .normalize import normalize_glyph

FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts"]
FONT_EXTS = {".ttf", ".otf", ".ttc", ".otc"}
RENDER_PX = 112  # render large, then normalise down: keeps thin strokes anti-aliased

# Held out from GAN and classifier training, used for evaluation only: a spread of styles
# (gothic, myeongjo, pen, brush, decorative) so held-out accuracy is not one style's accuracy.
HELDOUT_FACES = (
    "NanumBarunpenR", "NanumMyeongjoBold", "NanumSquareRoundR", "UnDotumBold",
    "UnPilgia", "Eunjin", "BMJUA_ttf", "gulim",
)


@dataclass(frozen=True)
class Face:
    path: str
    index: int  # face index inside a .ttc collection
    name: str   # unique, stable: file stem (+ '#index' in collections)


def find_faces(font_dirs: list[str] | None = None) -> list[Face]:
    """Every font face under the given folders (default: the system's), sorted by name."""
    dirs = [Path(os.path.expanduser(d)) for d in (font_dirs or FONT_DIRS)]
    faces = []
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() not in FONT_EXTS:
                continue
            n = 1
            if p.suffix.lower() in (".ttc", ".otc"):
                n = _collection_size(p)
            for i in range(n):
                faces.append(Face(str(p), i, p.stem if n == 1 else f"{p.stem}#{i}"))
    faces.sort(key=lambda f: f.name)
    # one face per name (the same file can be reachable twice through symlinked folders)
    seen, unique = set(), []
    for f in faces:
        if f.name not in seen:
            seen.add(f.name)
            unique.append(f)
    return unique


def _collection_size(path: Path) -> int:
    n = 0
    while n < 64:
        try:
            ImageFont.truetype(str(path), 10, index=n)
        except OSError:
            break
        n += 1
    return max(n, 1)


def _draw(font: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    px = font.size                       # RENDER_PX, or a multiple of it for larger glyphs (the upscaler's)
    img = Image.new("L", (px * 2, px * 2), 0)
    ImageDraw.Draw(img).text((px // 2, px // 2), ch, fill=255, font=font)
    return np.asarray(img)


def _open_face(face: Face, *, px: int = RENDER_PX):
    """(the face at px, the pictures its missing glyphs draw), or None when it cannot be opened."""
    try:
        font = ImageFont.truetype(face.path, px, index=face.index)
    except OSError:
        return None
    # glyphs the face does not have all render as the same .notdef picture
    return font, {_draw(font, ch).tobytes() for ch in ("\ue000", "\uffff", "\U0010fffd")}


def _glyph(opened, ch: str, size: int) -> np.ndarray | None:
    """One syllable of an opened face, normalised to (size, size) uint8; None when the face lacks it."""
    font, notdef = opened
    raw = _draw(font, ch)
    return None if raw.tobytes() in notdef else normalize_glyph(raw, size=size)


def render_face(face: Face, classes: ClassList, *, size: int) -> np.ndarray | None:
    """(C, size, size) uint8 for one face, or None when it lacks any class (or is not Hangul)."""
    opened = _open_face(face)
    if opened is None:
        return None
    out = np.zeros((len(classes), size, size), np.uint8)
    for i, ch in enumerate(classes):
        g = _glyph(opened, ch, size)
        if g is None:
            return None                  # stop at the first gap: faces without Hangul are skipped fast
        out[i] = g
    return out


def render_available(face: Face, classes: ClassList, *, size: int,
                     render_px: int = RENDER_PX) -> tuple[list[int], np.ndarray]:
    """(indices of the classes the face has a glyph for, their (n, size, size) uint8 glyphs): for
    evaluating a face on what it covers (render_face refuses a face that lacks any class).
    render_px: the font size drawn before normalising (size / 64 * RENDER_PX keeps the training
    glyphs' proportions at a larger size)."""
    opened = _open_face(face, px=render_px)
    kept, out = [], []
    for i, ch in enumerate(classes if opened is not None else ()):
        g = _glyph(opened, ch, size)
        if g is not None:
            kept.append(i)
            out.append(g)
    return kept, (np.stack(out) if out else np.zeros((0, size, size), np.uint8))


def _cache_file(prefix: str, faces: list[Face], rest: list, cache_dir: str | None) -> Path:
    """The cache file of a render: keyed by every face file (path, index, mtime, size) and `rest`."""
    key = hashlib.sha1(json.dumps([[f.path, f.index, os.path.getmtime(f.path), os.path.getsize(f.path)] for f in faces]
                                  + rest).encode()).hexdigest()[:16]
    return Path(cache_dir or os.environ.get("REKOGAN_CACHE", "~/.cache/rekogan")).expanduser() / f"{prefix}_{key}.npz"


def _save_npz(path: Path, **arrays) -> None:
    # atomic_path's temporary name is per process and thread (ranks may race); a file object,
    # because np.savez would append .npz to a name without it
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def package_licences(paths: list[str]) -> dict[str, dict]:
    """font file -> {package, licence} from dpkg and /usr/share/doc/<pkg>/copyright (Debian only;
    {} elsewhere). Used to record the provenance of every trained model."""
    result = {}
    try:
        out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return result
    licences: dict[str, str] = {}
    for line in out.splitlines():
        if ": " not in line:
            continue
        pkg, path = line.split(": ", 1)
        pkg = pkg.split(",")[0].split(":")[0]
        if pkg not in licences:
            licences[pkg] = _licence_of(pkg)
        result[path] = {"package": pkg, "licence": licences[pkg]}
    return result


def _licence_of(pkg: str) -> str:
    """The licence of the fonts themselves from a machine-readable (DEP-5) copyright file: the
    first Files stanza that is not about the Debian packaging (debian/*)."""
    f = Path(f"/usr/share/doc/{pkg}/copyright")
    if not f.exists():
        return "unknown"
    files, first_any = None, None
    for line in f.read_text(errors="replace").splitlines():
        if m := re.match(r"^Files:\s*(.*)$", line):
            files = m.group(1).split()
        elif m := re.match(r"^License:\s*(\S.*)$", line):
            lic = m.group(1).strip()
            first_any = first_any or lic
            if files and not all(p.startswith("debian/") for p in files):
                return lic
            files = None
    return first_any or "see " + str(f)


def load_fonts(*, classes: ClassList, size: int, font_dirs: list[str] | None = None,
               cache_dir: str | None = None, heldout: tuple[str, ...] = HELDOUT_FACES):
    """Render (or read from the cache) every usable face. Returns images (F, C, size, size) uint8,
    the faces, the names of faces that were skipped, and the held-out names actually present."""
    faces = find_faces(font_dirs)
    if not faces:
        where = font_dirs or FONT_DIRS
        raise FileNotFoundError(f"no font files (.ttf/.otf/.ttc) under {where}; install Korean fonts "
                                "(e.g. apt-get install fonts-nanum fonts-unfonts-core) or pass --fonts DIR")
    cache = _cache_file("fonts", faces, [list(classes), size, RENDER_PX], cache_dir)
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        names = list(z["names"])
        by_name = {f.name: f for f in faces}
        used = [by_name[n] for n in names]
        skipped = list(z["skipped"])
        images = z["images"]
    else:
        used, skipped, stack = [], [], []
        for f in faces:
            arr = render_face(f, classes, size=size)
            if arr is None:
                skipped.append(f.name)
            else:
                used.append(f)
                stack.append(arr)
        if not used:
            raise ValueError(f"none of the {len(faces)} fonts found covers all {len(classes)} classes; "
                             "install Korean fonts (fonts-nanum, fonts-unfonts-core, ...) or pass --fonts DIR")
        images = np.stack(stack)
        _save_npz(cache, images=images, names=np.array([f.name for f in used]), skipped=np.array(skipped, dtype=str))
    return images, used, skipped


def load_fonts_partial(*, classes: ClassList, size: int, faces: list[str], font_dirs: list[str] | None = None,
                       cache_dir: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Glyphs of `classes` from the named faces, each face giving the ones it has (load_fonts
    keeps only faces with all of them). Returns images (N, size, size) uint8, labels (N,) into
    classes and face (N,) into `faces`, in face order; cached on disk like load_fonts."""
    by_name = {f.name: f for f in find_faces(font_dirs)}
    missing = [n for n in faces if n not in by_name]
    if missing:
        raise FileNotFoundError(f"faces not installed here: {', '.join(missing[:5])}")
    chosen = [by_name[n] for n in faces]
    cache = _cache_file("partial", chosen, [list(classes), size, RENDER_PX], cache_dir)
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return z["images"], z["labels"], z["faces"]
    images, labels, face_idx = [], [], []
    for j, f in enumerate(chosen):
        kept, glyphs = render_available(f, classes, size=size)
        images.append(glyphs)
        labels.append(np.asarray(kept, np.int64))
        face_idx.append(np.full(len(kept), j, np.int64))
    out = (np.concatenate(images), np.concatenate(labels), np.concatenate(face_idx))
    _save_npz(cache, images=out[0], labels=out[1], faces=out[2])
    return out


def font_set_id(font_dirs: list[str] | None = None) -> str:
    """A short id of the installed font files (path, face index, mtime, size of every face found):
    two machines with other fonts get other ids, so a cache keyed by it is never reused across them."""
    faces = find_faces(font_dirs)
    return hashlib.sha1(json.dumps([[f.path, f.index, os.path.getmtime(f.path), os.path.getsize(f.path)]
                                    for f in faces]).encode()).hexdigest()[:16]


def trained_faces(run_dirs) -> dict[str, str]:
    """face name -> Debian package, over the runs in `run_dirs` trained on the `fonts` source: the
    faces their data.json lists (face_files, with the package dpkg named when the run was trained).
    What a complete font set is: the tests that read the fonts expect these faces."""
    faces: dict[str, str] = {}
    for d in run_dirs:
        try:
            info = json.loads((Path(d) / "data.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue                     # not a run, or one without a data record
        if info.get("source") != "fonts":
            continue
        for name, f in (info.get("face_files") or {}).items():
            faces[name] = (f or {}).get("package") or "unknown package"
    return faces


def missing_packages(expected: dict[str, str], font_dirs: list[str] | None = None) -> dict[str, list[str]]:
    """package -> its faces (of `expected`, face name -> package) that find_faces does not find
    under font_dirs (default: the system's), packages and faces sorted; {} when all are there."""
    present = {f.name for f in find_faces(font_dirs)}
    missing: dict[str, list[str]] = {}
    for name in sorted(set(expected) - present):
        missing.setdefault(expected[name], []).append(name)
    return dict(sorted(missing.items()))
