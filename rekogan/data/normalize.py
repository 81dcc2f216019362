"""Normalisation shared by every source: one ink convention, crop to ink, centre, scale.

Inside ReKOGAN a glyph is a uint8 (H, W) array with white ink (255) on black (0). Sources hand
in whatever they have (dark ink on light paper in scans and PNG exports, either polarity in
HGU1 files); `normalize_glyph` decides the polarity from the border, crops to the ink's bounding
box, pads it to a square (keeping the aspect ratio, so a tall 'ㅣ'-heavy syllable stays tall),
and resizes it into a size x size box with a margin.
"""
from __future__ import annotations

import numpy as np
from PIL import Image


def to_white_on_black(gray: np.ndarray) -> np.ndarray:
    """Invert when the border (the paper) is lighter than mid-grey."""
    assert gray.ndim == 2, f"expected a 2-D grey image, got shape {gray.shape}"
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 255 - gray if float(np.median(border)) > 127 else gray


def normalize_glyph(gray: np.ndarray, *, size: int, margin: float = 0.08, ink_threshold: int = 40) -> np.ndarray | None:
    """Any grey glyph image -> (size, size) uint8, white ink on black, ink box centred.

    Returns None when the image has no ink (blank scan, unsupported glyph), so callers can count
    and skip it instead of training on an empty square."""
    img = to_white_on_black(np.asarray(gray, dtype=np.uint8))
    ys, xs = np.nonzero(img > ink_threshold)
    if len(ys) == 0:
        return None
    crop = img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    side = max(h, w)
    square = np.zeros((side, side), np.uint8)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = crop
    inner = max(1, round(size * (1 - 2 * margin)))
    small = np.asarray(Image.fromarray(square).resize((inner, inner), Image.LANCZOS))
    out = np.zeros((size, size), np.uint8)
    o = (size - inner) // 2
    out[o:o + inner, o:o + inner] = small
    return out
