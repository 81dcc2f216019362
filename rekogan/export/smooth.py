"""Rendering a font's glyph into the bitmap's cell, and a measure of pixel staircase.

A 64 px bitmap traced edge-for-edge and set at 256 px shows a staircase: every edge of the ink
lies on the lines of the 64 px grid, i.e. at 256 px on every 4th pixel row or column.
`staircase_score` is the fraction of the ink's boundary (unit pixel edges of the binarised
render) that lies on the single most-used phase of that grid, horizontal and vertical edges
counted separately: 1.0 for a pure staircase (the nearest-neighbour-upscaled bitmap), about
1/period plus a little for a smooth outline, whose edges fall on any phase. It does not need to
know where the grid is, so it works on any render.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .font import ASCENDER, UPM


def render_char(font: ImageFont.FreeTypeFont, ch: str, *, px: int) -> np.ndarray:
    """One character of a font opened at size=px (em = px) -> (px, px) uint8 dark on white,
    placed as the bitmap sat in its cell: the cell's top is the font's ASCENDER."""
    img = Image.new("L", (px, px), 255)
    baseline = ASCENDER * px / UPM
    ImageDraw.Draw(img).text((0, baseline), ch, font=font, fill=0, anchor="ls")
    return np.asarray(img)


def staircase_score(gray: np.ndarray, *, period: int) -> float:
    """(H, W) uint8 dark ink on white -> fraction of boundary edges on the most-used grid phase."""
    ink = gray < 128
    h_edges = np.nonzero(ink[1:, :] != ink[:-1, :])[0] + 1   # row index of each horizontal edge
    v_edges = np.nonzero(ink[:, 1:] != ink[:, :-1])[1] + 1   # column index of each vertical edge
    total = len(h_edges) + len(v_edges)
    if total == 0:
        return 0.0
    top = np.bincount(h_edges % period, minlength=period).max() + np.bincount(v_edges % period, minlength=period).max()
    return float(top) / total
