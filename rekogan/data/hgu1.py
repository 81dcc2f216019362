"""HGU1 files: the binary format of SERI95, PE92 and HanDB (HangulDB) handwriting sets.

Layout of one file:

    8 bytes   header, exactly b"HGU1    " ("HGU1" and four spaces)
    records until EOF, each:
        2 bytes   KS X 1001 code, as in the EUC-KR byte string (b"\\xb0\\xa1" = '가')
        1 byte    width
        1 byte    height
        2 bytes   reserved
        width*height bytes  grey pixels, row-major (either polarity; normalize_glyph decides)

`load_hgu1(PATH)` reads one .hgu1 file, or every *.hgu1 under a folder (recursively, sorted).
One file is one group (one writer / one sheet set), so GlyphSet.split() holds out whole files.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ..hangul import ClassList, from_euckr
from .glyphset import GlyphSet, from_lists
from .normalize import normalize_glyph

HEADER = b"HGU1    "
RECORD_HEADER = 6  # code (2) + width (1) + height (1) + reserved (2)

_OTHER_CLASS, _UNDECODABLE = -1, -2


def find_hgu1_files(path: str) -> list[Path]:
    """A single file as given, or every *.hgu1 (any case) under a folder, sorted."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"HGU1 path does not exist: {path}")
    if p.is_file():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.suffix.lower() == ".hgu1" and f.is_file())
    if not files:
        raise ValueError(f"no *.hgu1 file under {path} (searched recursively)")
    return files


def _record_offsets(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walk the records of one file's bytes: (offsets, codes, widths, heights) as arrays.

    Offsets are those of each record's 6-byte header. Raises ValueError naming the file and the
    byte offset for a bad header, a truncated record or a zero-sized image."""
    if data[:len(HEADER)] != HEADER:
        raise ValueError(f"{name}: not an HGU1 file: header is {data[:len(HEADER)]!r}, expected {HEADER!r}")
    n = len(data)
    off = len(HEADER)
    offsets, codes, widths, heights = [], [], [], []
    unpack = struct.Struct(">HBB").unpack_from
    while off < n:
        if off + RECORD_HEADER > n:
            raise ValueError(f"{name}: truncated record at byte offset {off}: the record header needs "
                             f"{RECORD_HEADER} bytes, only {n - off} available")
        code, w, h = unpack(data, off)
        if w == 0 or h == 0:
            raise ValueError(f"{name}: record at byte offset {off} (code {code:04x}) has a zero-sized "
                             f"image ({w}x{h}); the file is corrupt or not HGU1")
        need = RECORD_HEADER + w * h
        if off + need > n:
            raise ValueError(f"{name}: truncated record at byte offset {off} (code {code:04x}, {w}x{h}): "
                             f"expected {need} bytes, only {n - off} available")
        offsets.append(off)
        codes.append(code)
        widths.append(w)
        heights.append(h)
        off += need
    return (np.asarray(offsets, np.int64), np.asarray(codes, np.int64),
            np.asarray(widths, np.int64), np.asarray(heights, np.int64))


def _label_of(code: int, classes: ClassList, cache: dict[int, int]) -> int:
    """Class index for a 2-byte code, or _OTHER_CLASS / _UNDECODABLE; memoised per code."""
    lab = cache.get(code)
    if lab is None:
        try:
            syl = from_euckr(code)
        except ValueError:
            lab = _UNDECODABLE
        else:
            lab = classes.index(syl) if syl in classes else _OTHER_CLASS
        cache[code] = lab
    return lab


def load_hgu1(path: str, *, classes: ClassList, size: int) -> GlyphSet:
    """Every record of the HGU1 file(s) at `path` whose code is one of `classes`, normalised to
    (size, size) white-on-black. Other codes and blank images are counted in info and skipped."""
    files = find_hgu1_files(path)
    root = Path(path)
    label_cache: dict[int, int] = {}
    images, labels, groups = [], [], []
    group_names: list[str] = []
    per_file: dict[str, int] = {}
    records = other = undecodable = blank = 0
    for f in files:
        name = str(f)
        gname = f.name if root.is_file() else os.path.relpath(f, root)
        data = f.read_bytes()
        offsets, codes, widths, heights = _record_offsets(data, name)
        records += len(offsets)
        buf = np.frombuffer(data, np.uint8)
        # class lookup per distinct code, then vectorised over records
        uniq, inv = np.unique(codes, return_inverse=True)
        labs = np.asarray([_label_of(int(c), classes, label_cache) for c in uniq], np.int64)[inv.reshape(-1)] \
            if len(codes) else np.zeros(0, np.int64)
        other += int((labs == _OTHER_CLASS).sum())
        undecodable += int((labs == _UNDECODABLE).sum())
        keep = np.nonzero(labs >= 0)[0]
        file_imgs, file_labs = [], []
        for i in keep:
            o, w, h = int(offsets[i]) + RECORD_HEADER, int(widths[i]), int(heights[i])
            g = normalize_glyph(buf[o:o + w * h].reshape(h, w), size=size)
            if g is None:
                blank += 1
                continue
            file_imgs.append(g)
            file_labs.append(int(labs[i]))
        per_file[gname] = len(file_imgs)
        if not file_imgs:
            continue  # a file with nothing usable gets no group (an empty held-out group is useless)
        gid = len(group_names)
        group_names.append(gname)
        images.extend(file_imgs)
        labels.extend(file_labs)
        groups.extend([gid] * len(file_imgs))

    info = {"source": f"hgu1:{path}", "files": [str(f) for f in files], "records": records,
            "skipped_other_class": other, "skipped_undecodable": undecodable, "skipped_blank": blank,
            "per_file": per_file}
    return from_lists(images, labels, groups, group_names, classes, info, empty=(
        f"no usable image in HGU1 data {path}: read {records} records from {len(files)} file(s); "
        f"skipped {other} whose code is not one of the {len(classes)} classes, {undecodable} whose "
        f"code is not an EUC-KR Hangul syllable, {blank} blank (no ink)"))
