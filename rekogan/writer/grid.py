"""Cut one photo or scan of a row or grid of handwritten syllables into one picture per syllable.

Input is an ink picture ((H, W) uint8, white ink on black, paper 0: images.ink_picture) and the
number of syllables per row (the text's lines, or one row, or equal rows: `row_counts`).

0. Rotation: a photo is rarely square to the page. The angle within ±MAX_SKEW degrees whose
   row and column ink profiles are sharpest (the sum of their squares; ink lines up in rows and
   the gaps between syllables line up in columns when the picture is straight) is undone, when
   it is at least MIN_SKEW degrees (a scan, a canvas: left as it is).
1. Ruled lines (manuscript paper, a printed grid): rows or columns of pixels that are ink
   almost end to end are lines; they are erased, so the cells are cut by the gaps they leave.
2. Rows: bands of pixel rows without ink. A band that crosses the whole picture inside one row
   of handwriting is rare (it would need every syllable of the row to have a gap at the same
   height), so the widest bands are the gaps between rows.
3. Columns, in each row: bands of pixel columns without ink. Inside a syllable there are gaps too
   (between the ㄱ and the ㅏ of 가), so the number of syllables the row must hold decides how
   many gaps are cuts: the widest ones.
"""
from __future__ import annotations

import numpy as np

from .errors import WriterError

INK = 60   # a pixel with more ink than this (0..255) is a stroke for the profiles
MAX_SKEW = 4.0      # degrees searched either way
MIN_SKEW = 0.75     # smaller angles are left alone


def _profile_score(small: np.ndarray, angle: float) -> float:
    from PIL import Image
    r = np.asarray(Image.fromarray(small).rotate(angle, resample=Image.BILINEAR, expand=True), np.float32)
    rows, cols = r.sum(1), r.sum(0)
    return float((rows ** 2).sum() / max(1.0, rows.sum()) ** 2 + (cols ** 2).sum() / max(1.0, cols.sum()) ** 2)


def skew_angle(picture: np.ndarray) -> float:
    """The rotation (degrees, PIL's sense) that straightens a row/grid ink picture: a coarse search
    in 0.5 degree steps on a copy at most 400 px wide, then 0.1 degree steps around the best."""
    from PIL import Image
    h, w = picture.shape
    scale = min(1.0, 400 / max(h, w))
    small = np.asarray(Image.fromarray(picture).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                       Image.BILINEAR)) if scale < 1 else picture
    best = max(np.arange(-MAX_SKEW, MAX_SKEW + 1e-6, 0.5), key=lambda a: _profile_score(small, float(a)))
    fine = max(np.arange(best - 0.4, best + 0.41, 0.1), key=lambda a: _profile_score(small, float(a)))
    return round(float(fine), 2)


def straighten(picture: np.ndarray) -> np.ndarray:
    """The picture rotated by skew_angle (grown to hold every pixel, new corners paper: 0), or the
    very same array when the angle is under MIN_SKEW."""
    angle = skew_angle(picture)
    if abs(angle) < MIN_SKEW:
        return picture
    from PIL import Image
    return np.asarray(Image.fromarray(picture).rotate(angle, resample=Image.BILINEAR, expand=True))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def erase_ruled_lines(picture: np.ndarray) -> np.ndarray:
    """A copy with the straight lines of a printed grid removed: rows (columns) of pixels that are
    ink over 85 % of the picture's width (height), when there are at least two such lines. (One
    long stroke, the ㅣ of a tightly cropped row, is not a grid.)"""
    out = picture.copy()
    ink = picture > INK
    for axis in (0, 1):
        mask = ink.mean(1 - axis) > 0.85                   # axis 0: rows that are lines
        idx = np.flatnonzero(mask)
        if len(_runs(mask)) < 2 or len(idx) > 0.25 * mask.size:   # not a grid, or a filled block
            continue
        # a line is a few pixels thick: widen by one so its anti-aliased edge goes too
        idx = np.unique(np.clip(np.concatenate([idx - 1, idx, idx + 1]), 0, mask.size - 1))
        if axis == 0:
            out[idx, :] = 0
        else:
            out[:, idx] = 0
    return out


def _split(profile_ink: np.ndarray, pieces: int, what: str) -> list[tuple[int, int]]:
    """Cut the span of ink into `pieces` parts at the widest gaps of a 1-D ink mask."""
    segs = _runs(profile_ink)
    if len(segs) < pieces:
        raise WriterError(f"found {len(segs)} separate {what}{'s' if len(segs) != 1 else ''} of ink where "
                          f"{pieces} were expected: leave a clear space between them, or upload one picture each")
    gaps = sorted(range(len(segs) - 1), key=lambda i: segs[i + 1][0] - segs[i][1], reverse=True)[:pieces - 1]
    cuts = sorted(gaps)
    out, start = [], segs[0][0]
    for i in cuts:
        out.append((start, segs[i][1]))
        start = segs[i + 1][0]
    out.append((start, segs[-1][1]))
    widths = [e - b for b, e in out]
    # Hangul syllables are about as wide as each other: a sliver means a syllable was cut in two
    # (more syllables expected than the picture holds) or two were taken as one
    if what == "syllable" and pieces > 1 and min(widths) < 0.35 * max(widths):
        raise WriterError(f"could not find {pieces} syllables of similar width (the parts found are {widths} px "
                          f"wide) where {pieces} were expected: check the text, and leave a clear space between syllables")
    return out


def _auto_rows(ink_rows: np.ndarray, most: int) -> int:
    """How many rows of handwriting: the most rows whose gaps are all >= 15 % of the tallest row."""
    segs = _runs(ink_rows)
    best = 1
    for r in range(2, min(most, len(segs)) + 1):
        rows = _split(ink_rows, r, "row")
        gaps = [b[0] - a[1] for a, b in zip(rows, rows[1:])]
        if min(gaps) >= 0.15 * max(e - s for s, e in rows):
            best = r
    return best


def row_counts(n: int, rows: int) -> list[int]:
    """n syllables in `rows` rows, reading order: full rows of ceil(n / rows), the rest in the last."""
    per = -(-n // rows)
    counts = [per] * (rows - 1) + [n - per * (rows - 1)]
    if counts[-1] <= 0:
        raise WriterError(f"{n} syllables do not fill {rows} rows of {per}: put one line of the text per row")
    return counts


def cut_cells(picture: np.ndarray, *, n: int, rows: list[int] | None = None) -> list[tuple[int, int, int, int]]:
    """Boxes (top, bottom, left, right) of the n syllables of a row/grid picture, in reading order.

    rows: syllables per row (e.g. the lengths of the text's lines); None finds the rows and fills
    them equally. Raises WriterError when the picture does not hold that many separate syllables."""
    if n < 1:
        raise WriterError("there are no syllables to cut the picture into")
    clean = erase_ruled_lines(picture)
    ink = clean > INK
    ink_rows = ink.any(1)
    if not ink_rows.any():
        raise WriterError("the picture is blank: no ink found")
    counts = rows if rows is not None else row_counts(n, _auto_rows(ink_rows, n))
    if sum(counts) != n:
        raise WriterError(f"the rows hold {sum(counts)} syllables but the text has {n}")
    boxes = []
    for r, ((top, bottom), count) in enumerate(zip(_split(ink_rows, len(counts), "row"), counts)):
        band = ink[top:bottom]
        try:
            cols = _split(band.any(0), count, "syllable")
        except WriterError as e:
            raise WriterError(f"row {r + 1}: {e}") from None
        for left, right in cols:
            sub = band[:, left:right].any(1)          # the syllable's own height inside the row
            t = top + int(np.argmax(sub)); b = top + len(sub) - int(np.argmax(sub[::-1]))
            boxes.append((t, b, left, right))
    return boxes


def cut(picture: np.ndarray, *, n: int, rows: list[int] | None = None) -> list[np.ndarray]:
    """The n cell pictures (ink pictures, straightened, ruled lines erased) of a row/grid, reading order."""
    picture = straighten(picture)
    clean = erase_ruled_lines(picture)
    return [clean[t:b, l:r] for t, b, l, r in cut_cells(picture, n=n, rows=rows)]
