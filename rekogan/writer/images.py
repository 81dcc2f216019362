"""User images -> grey pictures with dark ink on light paper, bounded, then to the glyph convention.

What arrives: a file path or its bytes (PNG/JPEG/... via PIL), a PIL image, a numpy array from
Gradio (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or float, or the dict of Gradio's
ImageEditor/Sketchpad ({'composite': array, ...}). Canvas drawings are dark ink on white or on
a transparent background; photos and scans are dark ink on uneven grey paper.

`ink_picture` turns any of them into one (H, W) uint8 picture, white ink on black (the project's
convention), with the paper cleaned to exactly 0 so that `normalize_glyph`'s crop-to-ink sees the
strokes and not the paper's texture; `to_glyph` then crops, squares and resizes it exactly like the
training data (rekogan.data.normalize.normalize_glyph).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..data.normalize import normalize_glyph
from .errors import WriterError

MAX_PIXELS = 4096 * 4096        # larger pictures are refused before they are decoded
MAX_FILE_BYTES = 20 * 1024 * 1024
MIN_INK_PIXELS = 6              # fewer ink pixels than this (after cleaning) is a blank drawing


def _decode(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    if len(data) > MAX_FILE_BYTES:
        raise WriterError(f"{name} is {len(data) / 2**20:.1f} MB; pictures up to {MAX_FILE_BYTES // 2**20} MB are accepted")
    try:
        with Image.open(io.BytesIO(data)) as im:
            # the header gives the size: refuse a decompression bomb before decoding its pixels
            if im.width * im.height > MAX_PIXELS:
                raise WriterError(f"{name} is {im.width}x{im.height} pixels; pictures up to 4096x4096 are accepted")
            im.load()
            return np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info else "L"))
    except WriterError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise WriterError(f"{name} is not a readable picture (PNG, JPEG, ...): {e}") from None


def as_array(image, *, name: str = "the picture") -> np.ndarray:
    """Any accepted input -> a numpy array (H, W), (H, W, 3) or (H, W, 4), pixels bounded."""
    if isinstance(image, dict):             # Gradio ImageEditor / Sketchpad value
        image = image.get("composite") if image.get("composite") is not None else image.get("background")
        if image is None:
            raise WriterError(f"{name} is empty: draw the syllable on the canvas")
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise WriterError(f"{name}: file not found: {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise WriterError(f"{path} is {path.stat().st_size / 2**20:.1f} MB; pictures up to "
                              f"{MAX_FILE_BYTES // 2**20} MB are accepted")
        return _decode(path.read_bytes(), str(path))
    if isinstance(image, (bytes, bytearray)):
        return _decode(bytes(image), name)
    if hasattr(image, "convert") and hasattr(image, "size"):   # a PIL image
        if image.width * image.height > MAX_PIXELS:
            raise WriterError(f"{name} is {image.width}x{image.height} pixels; pictures up to 4096x4096 are accepted")
        return np.asarray(image.convert("RGBA" if "A" in image.getbands() else "L"))
    try:
        arr = np.asarray(image)
    except Exception:
        arr = None
    if arr is None or arr.dtype == object or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise WriterError(f"{name} is not a picture (expected a file, bytes or an (H, W[, 3|4]) array, "
                          f"got {type(image).__name__}{'' if arr is None else ' of shape ' + str(arr.shape)})")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise WriterError(f"{name} is {arr.shape[1]}x{arr.shape[0]} pixels; pictures up to 4096x4096 are accepted")
    if arr.shape[0] < 4 or arr.shape[1] < 4:
        raise WriterError(f"{name} is only {arr.shape[1]}x{arr.shape[0]} pixels")
    return arr


def _unit(arr: np.ndarray) -> np.ndarray:
    """uint8 or float (0..1 or 0..255) -> float32 0..1."""
    a = arr.astype(np.float32)
    if arr.dtype != np.uint8 and np.nanmax(a, initial=0) > 1.0:
        a = a / 255.0
    elif arr.dtype == np.uint8:
        a = a / 255.0
    return np.nan_to_num(a.clip(0, 1))


def ink_strength(arr: np.ndarray) -> np.ndarray:
    """(H, W[, C]) -> float32 (H, W) in 0..1: how much ink each pixel holds (1 = full ink)."""
    a = _unit(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        lum, alpha = a, None
    else:
        lum = a[:, :, :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = a[:, :, 3] if a.shape[2] == 4 else None
    if alpha is not None and alpha.min() < 0.99:
        # a drawing on a transparent canvas: ink is opaque and dark; transparent is paper. If the
        # strokes are light (white pen on a transparent layer), the opacity alone is the ink.
        dark = alpha * (1 - lum)
        return dark if dark.max() > 0.2 else alpha
    # paper may be white, or darker than the ink (white chalk on a blackboard, an inverted export);
    # most of a handwriting picture is paper, so the median pixel says which (the border does not:
    # a ruled grid's frame is ink)
    return 1 - lum if np.median(lum) >= 0.5 else lum


def _otsu(v: np.ndarray) -> float:
    hist, edges = np.histogram(v, bins=64, range=(0, 1))
    w = hist.cumsum(); total = w[-1]
    mu = (hist * edges[:-1]).cumsum()
    between = (mu[-1] * w - mu * total) ** 2 / np.maximum(w * (total - w), 1)
    return float(edges[int(between.argmax())])


UNEVEN = 0.04        # paper levels that differ by more than this across the picture: uneven light
SHARPEN_SIGMA = 1.2  # a camera's picture: unsharp mask of this radius (px) ...
SHARPEN_AMOUNT = 1.5 # ... and strength on strokes with an inside, bounded by the local maximum (no halo) ...
HAIRLINE_AMOUNT = 4.0   # ... and on hairlines, unbounded: it gives back the darkness the blur took from them,
HAIRLINE_SMOOTH = 0.7   # after a Gaussian of this radius (px) so that it does not sharpen the JPEG's noise
INSIDE = 5           # a stroke has an inside when a 5x5 minimum keeps it; on a picture whose strokes keep
INSIDE_RATIO = (0.6, 0.8)  # less than 0.6 of their darkness under it: hairlines; over 0.8: strokes; a blend between


TUNABLE = ("SHARPEN_SIGMA", "SHARPEN_AMOUNT", "HAIRLINE_AMOUNT", "HAIRLINE_SMOOTH")   # what a screen may set


def reading_overrides(pairs) -> dict[str, float]:
    """Command-line 'NAME=VALUE' strings (NAME one of TUNABLE) -> {NAME: value}, for set_reading;
    ValueError naming a bad one. For screening a photo reading (scripts/eval_photo_reading.py,
    eval_writer.py --reading) without editing this file."""
    over = {}
    for kv in pairs:
        name, _, value = kv.partition("=")
        if name not in TUNABLE:
            raise ValueError(f"--reading {kv!r}: NAME must be one of {', '.join(TUNABLE)}")
        try:
            over[name] = float(value)
        except ValueError:
            raise ValueError(f"--reading {kv!r}: VALUE must be a number") from None
        if not over[name] > 0:
            raise ValueError(f"--reading {kv!r}: VALUE must be > 0")
    return over


def set_reading(values: dict[str, float]) -> dict[str, float]:
    """Set this module's tunable reading constants for the whole process (a screen's setting); returns
    the values they had, so that a caller can put them back."""
    assert set(values) <= set(TUNABLE), sorted(set(values) - set(TUNABLE))
    old = {k: globals()[k] for k in values}
    globals().update(values)
    return old


PHOTO_MIN_SIDE = 96  # smaller pictures are never treated as photos: a 3x3 median would take their strokes


def is_photo(s: np.ndarray) -> bool:
    """Whether an ink-strength picture was taken by a camera or scanner rather than drawn or exported:
    a drawing's paper is exactly paper (ink strength 0) almost everywhere; a photo's paper has a tone
    and sensor noise in every pixel. Only pictures of PHOTO_MIN_SIDE px and more (a phone's are far
    larger; a glyph-sized picture, such as a generated one, keeps its thin strokes as they are)."""
    return min(s.shape[:2]) >= PHOTO_MIN_SIDE and float((s <= 1.5 / 255).mean()) < 0.5


def _gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur (reflected edges, radius 4 sigma) of a float32 picture."""
    r = max(1, int(4 * sigma + 0.5))
    x = np.arange(-r, r + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    out = a
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="symmetric")
        n = out.shape[axis]
        out = sum(k[i] * (p[i:i + n] if axis == 0 else p[:, i:i + n]) for i in range(2 * r + 1))
    return out.astype(np.float32)


def _rank_filter(a: np.ndarray, kind: str, size: int) -> np.ndarray:
    """A size x size median, minimum or maximum filter of a float32 picture (PIL's, reflected edges)."""
    from PIL import Image, ImageFilter
    f = {"median": ImageFilter.MedianFilter, "min": ImageFilter.MinFilter, "max": ImageFilter.MaxFilter}[kind]
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").filter(f(size)))


def _median3(a: np.ndarray) -> np.ndarray:
    return _rank_filter(a, "median", 3)


def _inside_share(d: np.ndarray) -> float:
    """1 when the picture's strokes are wide enough to have an inside (their darkness survives an
    INSIDE x INSIDE minimum filter), 0 for hairlines only (a thin face, a fine pen), a blend between."""
    top = float(np.percentile(d, 99.9))
    if top <= 0:
        return 1.0
    r = float(np.percentile(_rank_filter(d, "min", INSIDE), 99.9)) / top
    lo, hi = INSIDE_RATIO
    return float(np.clip((r - lo) / (hi - lo), 0, 1))


def _sharpened(s: np.ndarray) -> np.ndarray:
    """A camera's ink strength, its sensor noise taken out (3x3 median: the strokes' edges stay) and
    then an unsharp mask, which takes back the lens's blur. The blur does two different harms:
    - a wide stroke keeps its darkness inside but gets soft edges: the mask is bounded by the local
      maximum, so that the edges come back without a bright halo (a halo would set the ink's level,
      `top` in ink_picture, above the strokes' own and leave their inside grey);
    - a hairline loses darkness: its peak, set to full ink by ink_picture, drags the blurred sides
      with it and the stroke comes out fat (a thin face read 1.1-1.4x its ink). A stronger, unbounded
      mask (after a light smoothing, so that it does not sharpen the JPEG's noise) gives the peak back.
    A picture with both is read by a blend (_inside_share)."""
    d = _median3(s)
    edges = np.minimum(d + SHARPEN_AMOUNT * (d - _gaussian(d, SHARPEN_SIGMA)), _rank_filter(d, "max", 5))
    w = _inside_share(d)
    if w >= 1:
        return np.clip(edges, 0, None)
    t = _gaussian(d, HAIRLINE_SMOOTH)
    hair = t + HAIRLINE_AMOUNT * (t - _gaussian(t, SHARPEN_SIGMA))
    return np.clip(w * edges + (1 - w) * hair, 0, None)


def paper_level(s: np.ndarray) -> np.ndarray | float:
    """The paper's ink strength under each pixel: one number (the median) for evenly lit paper,
    else a smooth map. A phone photo's paper is darker in one corner than in another (uneven
    light); a single level would read the dark corner as ink. The map: the 25th percentile of
    blocks of ~1/8 of the picture's short side (most of a block is paper, and a stroke is
    narrower than a block), a 3x3 median over the blocks (a block that is mostly ink takes its
    neighbours' level), upsampled bilinearly."""
    h, w = s.shape
    b = max(8, min(h, w) // 8)
    gh, gw = max(1, h // b), max(1, w // b)
    if gh < 2 and gw < 2:
        return float(np.median(s))
    rows = np.array_split(np.arange(h), gh)
    cols = np.array_split(np.arange(w), gw)
    grid = np.array([[np.percentile(s[r[0]:r[-1] + 1, c[0]:c[-1] + 1], 25) for c in cols] for r in rows], np.float32)
    if float(grid.max() - grid.min()) <= UNEVEN:
        return float(np.median(s))              # evenly lit: exactly the level used before photos
    pad = np.pad(grid, 1, mode="edge")
    grid = np.median(np.stack([pad[i:i + gh, j:j + gw] for i in range(3) for j in range(3)]), 0).astype(np.float32)
    from PIL import Image
    return np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BILINEAR), np.float32)


def ink_picture(image, *, name: str = "the picture") -> np.ndarray:
    """Any accepted input -> (H, W) uint8, white ink on black, paper cleaned to 0.

    Paper level and texture: a photo's paper is grey and grainy, which `normalize_glyph` would
    read as ink (its threshold is 40/255). The paper level is taken as the median ink strength
    (most of a cell is paper), or, under uneven light, a smooth map of it (paper_level);
    anything within an Otsu split of it is set to 0, and the ink is stretched so its darkest
    strokes are 255. A camera's picture (is_photo) is sharpened first, after its noise is taken out
    (_sharpened: its blur softens wide strokes' edges and takes darkness from hairlines); a drawing
    or an exported picture is left as it is."""
    s = ink_strength(as_array(image, name=name))
    photo = is_photo(s)
    paper = paper_level(s)
    if np.isscalar(paper):
        s = np.clip(s - paper, 0, None)
    else:   # uneven light dims the ink with the paper: contrast relative to the paper's own brightness
        s = np.clip((s - paper) / np.maximum(1 - paper, 0.05), 0, None)
    if photo and s.size:
        s = _sharpened(s)
    top = float(np.percentile(s, 99.9)) if s.size else 0.0
    if top < 0.08:                      # no stroke stands out of the paper
        raise WriterError(f"{name} is blank: no ink found (draw darker, or on a lighter background)")
    s = s / top
    inked = s[s > 0.02]
    if photo:       # a sharpened peak above `top` is full ink too (a drawing: as it always was read)
        inked = inked.clip(0, 1)
    cut = max(0.15, min(0.5, _otsu(inked) * 0.5)) if inked.size > 16 else 0.15
    s = np.where(s < cut, 0, (s - cut) / (1 - cut)).clip(0, 1)
    out = (s * 255).round().astype(np.uint8)
    if int((out > 40).sum()) < MIN_INK_PIXELS:
        raise WriterError(f"{name} is blank: no ink found (draw darker, or on a lighter background)")
    return out


def to_glyph(picture: np.ndarray, *, size: int, name: str = "the picture") -> np.ndarray:
    """(H, W) uint8 white on black (from ink_picture) -> (size, size) uint8, the training data's
    normalisation: crop to ink, pad to a square, resize with a margin."""
    # a black (0) border makes normalize_glyph keep the polarity: white ink on black already
    g = normalize_glyph(np.pad(picture, 1), size=size)
    if g is None:
        raise WriterError(f"{name} is blank: no ink found")
    return g
