"""A written line as SVG: the same layout as the app's page, the same tracing as the fonts.

layout_line places the glyph bitmaps (cells of `cell` px, spaces half a cell, a new row per
newline, characters the run cannot write as a marked empty cell); layout_svg turns a layout
into an SVG document with one <g class="syllable"> of traced paths per syllable; line_svg does
both from a generator and a text (64 px glyphs, fixed cells).

natural_svg is the app's line (Studio.write_svg): glyphs the studio drew at 256 px (the upscaler,
rekogan/studio/crisp.py) and, for natural > 0, a hand's layout (rekogan.layout.place: proportional
spacing, baseline, size and rotation jitter, drift), each glyph's <g> carrying layout.py's
transform; the document is `size` px per glyph, like the PNG page at that size.
"""
from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np
import torch

from ..hangul import ClassList, tokenize
from ..sampling import generate, seed_to_z, to_uint8
from .syllables import ExportError
from .trace import trace


@dataclass(frozen=True)
class Placed:
    char: str
    x: float
    y: float
    bitmap: np.ndarray | None   # (S, S) uint8 dark on white; None for a character the run cannot write


@dataclass(frozen=True)
class Layout:
    """A laid-out line: the cell size, the page size in cells' units, and every placed glyph."""
    cell: float
    width: float
    height: float
    glyphs: tuple[Placed, ...]


def layout_line(tokens, bitmaps, *, cell: float) -> Layout:
    """Tokens (rekogan.hangul.tokenize) and one bitmap per 'syllable' token, in order -> positions."""
    glyphs, x, row, k, width = [], 0.0, 0, 0, 0.0
    for t in tokens:
        if t.kind == "newline":
            width, x, row = max(width, x), 0.0, row + 1
            continue
        if t.kind == "space":
            x += cell / 2
            continue
        glyphs.append(Placed(t.char, x, row * cell, bitmaps[k] if t.kind == "syllable" else None))
        k += t.kind == "syllable"
        x += cell
    return Layout(cell=cell, width=max(width, x, cell), height=(row + 1) * cell, glyphs=tuple(glyphs))


def path_data(outline, *, scale: float, dx: float, dy: float) -> str:
    """Cubic contours (pixel units) -> an SVG path's d, absolute coordinates, 2 decimals."""
    parts = []
    for c in outline:
        c = c * scale + np.array([dx, dy])
        parts.append("M{:.2f} {:.2f}".format(*c[-1, 2]))
        parts.extend("C{:.2f} {:.2f} {:.2f} {:.2f} {:.2f} {:.2f}".format(*seg.ravel()) for seg in c)
        parts.append("Z")
    return "".join(parts)


def layout_svg(layout: Layout, *, ink: str = "#000000") -> str:
    """A Layout -> an SVG document (viewBox in px), each syllable a <g> holding its traced path."""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{layout.width:g}" '
           f'height="{layout.height:g}" viewBox="0 0 {layout.width:g} {layout.height:g}">',
           f'<rect width="100%" height="100%" fill="#ffffff"/>']
    for g in layout.glyphs:
        if g.bitmap is None:  # shown, not drawn: like render_tokens' hatched box
            out.append(f'<rect class="unknown" data-char={quoteattr(g.char)} x="{g.x:g}" y="{g.y:g}" '
                       f'width="{layout.cell:g}" height="{layout.cell:g}" fill="none" stroke="#aaaaaa"/>')
            continue
        d = path_data(trace(g.bitmap), scale=layout.cell / g.bitmap.shape[0], dx=g.x, dy=g.y)
        out.append(f'<g class="syllable" data-char={quoteattr(g.char)}><path fill="{ink}" fill-rule="nonzero" d="{d}"/></g>')
    out.append("</svg>")
    return "\n".join(out)


def line_svg(*, generator: torch.nn.Module, classes: ClassList, text: str, seed: int, truncation: float = 1.0,
             weight: float | None = None, cell: float | None = None) -> str:
    """A text written by one writer -> SVG (the Write tab's download). cell: px per syllable
    (the model's size by default)."""
    if not isinstance(text, str) or not text.strip():
        raise ExportError("the text is empty: type something to write")
    tokens = tokenize(text, classes)
    idx = [t.index for t in tokens if t.kind == "syllable"]
    try:
        z = seed_to_z(seed, generator.cfg.z_dim, truncation=truncation)
        drawn = to_uint8(generate(generator, torch.tensor(idx, dtype=torch.int64), z, weight=weight)).numpy() if idx else []
    except ValueError as e:
        raise ExportError(str(e)) from None
    return layout_svg(layout_line(tokens, drawn, cell=float(cell or generator.cfg.size)))


def natural_svg(tokens, bitmaps, *, natural: float = 0.0, seed: int = 0, size: int | None = None,
                ink: str = "#000000") -> str:
    """Tokens and one square bitmap per 'syllable' token (dark on white, all of one size, e.g. 256 px),
    laid out by rekogan.layout.place at `natural` with layout seed `seed` -> an SVG document of
    `size` px per glyph (default: the bitmaps' size). Outlines are traced from the bitmaps as they
    are; a glyph's transform is layout.py's: translate(x + c, y + c) rotate(a) scale(s) translate(-c, -c)."""
    from ..layout import ink_boxes, place
    bitmaps = [np.asarray(b) for b in bitmaps]
    n_syl = sum(t.kind == "syllable" for t in tokens)
    if len(bitmaps) != n_syl:
        raise ExportError(f"{n_syl} syllables but {len(bitmaps)} bitmaps")
    if not bitmaps and not any(t.kind not in ("space", "newline") for t in tokens):
        raise ExportError("the text is empty: type something to write")
    cell = bitmaps[0].shape[0] if bitmaps else (size or 64)
    drawn = [t for t in tokens if t.kind not in ("space", "newline")]
    boxes = [None] * len(drawn)
    if natural and bitmaps:                     # proportional spacing reads the syllables' ink
        syl = iter(ink_boxes(torch.from_numpy(np.stack(bitmaps))))
        boxes = [next(syl) if t.kind == "syllable" else None for t in drawn]
    lay = place(tokens, boxes, cell=cell, natural=natural, seed=seed)
    k = size / cell if size else 1.0
    c = cell / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{lay.width * k:.6g}" '
           f'height="{lay.height * k:.6g}" viewBox="0 0 {lay.width:.6g} {lay.height:.6g}" overflow="visible">',
           '<rect width="100%" height="100%" fill="#ffffff"/>']
    for g in lay.glyphs:
        if g.angle or g.scale != 1:
            tf = (f"translate({g.x + c:.2f} {g.y + c:.2f}) rotate({g.angle:.3f}) scale({g.scale:.4f}) "
                  f"translate({-c:g} {-c:g})")
        else:
            tf = f"translate({g.x:.2f} {g.y:.2f})"
        if g.kind != "syllable":                 # shown, not drawn: like the page's grey print
            out.append(f'<rect class="unknown" data-char={quoteattr(g.char)} transform="{tf}" '
                       f'width="{cell:g}" height="{cell:g}" fill="none" stroke="#aaaaaa"/>')
            continue
        d = path_data(trace(bitmaps[g.index]), scale=1.0, dx=0.0, dy=0.0)
        out.append(f'<g class="syllable" data-char={quoteattr(g.char)} transform="{tf}">'
                   f'<path fill="{ink}" fill-rule="nonzero" d="{d}"/></g>')
    out.append("</svg>")
    return "\n".join(out)
