"""A phone-style photo of handwritten syllables, made from clean glyphs: for tests and the evaluation.

Issue 25's photos: paper-coloured background with uneven light, blue or black ink, a rotation of
up to ±3 degrees, blur, and JPEG at quality 70. `row_picture` lays glyphs out as a person writes a
row (dark on white, a gap between syllables); `photograph` turns such a picture into that photo,
deterministically from a seed.
"""
from __future__ import annotations

import io

import numpy as np

INKS = {"blue": (30, 45, 150), "black": (25, 25, 30)}
PAPER = (236, 226, 204)          # a cream paper


def row_picture(glyphs: np.ndarray, *, rows: int = 1, gap: float = 0.35, margin: float = 0.5) -> np.ndarray:
    """(k, S, S) uint8 dark-on-white glyphs -> one (H, W) uint8 picture: `rows` rows, syllables
    `gap` * S apart, a white margin of `margin` * S."""
    k, s, _ = glyphs.shape
    per = -(-k // rows)
    g, m = round(gap * s), round(margin * s)
    out = np.full((2 * m + rows * s + (rows - 1) * g, 2 * m + per * s + (per - 1) * g), 255, np.uint8)
    for i, glyph in enumerate(glyphs):
        r, c = divmod(i, per)
        y, x = m + r * (s + g), m + c * (s + g)
        out[y:y + s, x:x + s] = glyph
    return out


def photograph(picture: np.ndarray, *, seed: int = 0, ink: str = "blue", angle: float | None = None,
               blur: float = 1.2, quality: int = 70, light: float = 0.35) -> bytes:
    """(H, W) uint8 dark-on-white picture -> JPEG bytes of it as a photo: the ink in `ink`'s colour
    on cream paper, lit unevenly (a linear falloff of up to `light` across the page plus a soft
    spot), rotated by `angle` degrees (default: ±2-3 from the seed), Gaussian blur of radius
    `blur` px, sensor noise, JPEG at `quality`."""
    from PIL import Image, ImageFilter
    rng = np.random.default_rng(seed)
    if angle is None:
        angle = float(rng.choice([-1, 1]) * rng.uniform(2.0, 3.0))
    a = picture.astype(np.float32) / 255.0                                  # 1 paper, 0 ink
    colour = np.array(INKS[ink], np.float32) / 255.0
    rgb = a[..., None] * (np.array(PAPER, np.float32) / 255.0) + (1 - a[..., None]) * colour
    img = Image.fromarray((rgb * 255).round().astype(np.uint8), "RGB")
    img = img.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=PAPER)
    rgb = np.asarray(img, np.float32) / 255.0
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = rng.uniform(-1, 1, 2)
    ramp = (d[0] * (xx / w - 0.5) + d[1] * (yy / h - 0.5)) / max(1e-6, np.abs(d).sum())  # -0.5..0.5
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    spot = np.exp(-(((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2) / 0.15)
    shade = (1 - light * (ramp + 0.5)) * (0.9 + 0.1 * spot)
    rgb = rgb * shade[..., None] + rng.normal(0, 0.015, rgb.shape).astype(np.float32)
    img = Image.fromarray((rgb.clip(0, 1) * 255).round().astype(np.uint8), "RGB")
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
