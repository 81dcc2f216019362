"""Layout: glyph images (and their ink boxes) -> a written line or page, uint8 dark ink on white.

One knob, `natural` in [0, 1]:
  0      today's fixed cells, pixel for pixel as rekogan.sampling.render_tokens lays them out: every
         glyph in a cell of `cell` px, a space half a cell, a newline a new row of `cell` px, a
         character the run cannot write drawn by `unknown_glyph(char, cell)` (default: a hatched box)
  > 0    a hand's line: an advance from each glyph's ink (proportional spacing, so 이 sits closer
         to its neighbours than 많), a small baseline offset, size and rotation per glyph, a gentle
         baseline drift over each line (a slope and a long wave), word spaces of a hand's width and
         rows a little further apart so the jitter of one never reaches the next
Proportional spacing is a mode, not noise: it ramps in fully by natural = SPACING_FULL; the
jitters grow linearly with natural (their sizes below are at natural = 1).

Deterministic: every random draw comes from a torch.Generator seeded from (seed, row) (never the
global RNG), in a fixed order (a row's drift, then five numbers per token), so the same tokens,
glyphs, natural and seed give the same pixels. Changing one row leaves the others as they were.

`place` computes where each glyph goes (a Placed: the top-left of its cell, its scale and rotation
about the cell's centre) and `paint` draws them; the SVG export can use the same Placed values
(the cell as `translate(x + c, y + c) rotate(angle) scale(scale) translate(-c, -c)`, c = cell / 2).
Inside the project an image is white ink on black; pictures for people are dark on white
(rekogan.conventions): this module takes and returns glyphs and pages already on paper (dark on
white, uint8), as render_tokens' layout does.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .hangul import Token

__all__ = ["Placed", "Layout", "ink_box", "ink_boxes", "place", "paint", "paint_at", "layout_page", "jitter_glyphs", "SPACING_FULL"]

# natural = 1 amounts (each jitter is a clipped standard normal draw times natural times this)
SPACING_FULL = 0.25     # natural at which proportional spacing is fully on (linear ramp from 0)
GAP = 0.10              # gap between the inks of two glyphs, in cells
GAP_JITTER = 0.30       # the gap's relative jitter
WORD_SPACE = 0.40       # a word space, in cells (on top of the gaps either side); fixed cells use 1/2
SPACE_JITTER = 0.25     # a word space's relative jitter
SIZE = 0.05             # log-scale of a glyph's size (0.05: about ±5 %)
ROTATION = 2.5          # degrees
BASELINE = 0.025        # a glyph's own vertical offset, in cells
DRIFT_SLOPE = 0.006     # a row's slope (0.006: about 0.1 cell over 20 glyphs)
DRIFT_WAVE = 0.035      # a row's long wave: amplitude in cells, period PERIOD cells
PERIOD = (6.0, 14.0)
LEADING = 0.20          # extra space between rows, in cells
CLIP = 2.5              # every normal draw is clipped to ±CLIP: no wild glyph
GROUP_PIXELS = 2**19    # jitter_glyphs samples up to this many pixels a pass: a 64 px line at once, 256 px ~9 glyphs
INK = 250               # a pixel darker than this (on white paper) is ink, for the advance
COMPOSE_PIXELS = 2**15  # paint_at lays a glyph on the page in steps of this many pixels: torch's grain size, so
                        # a step runs in the calling thread (a fork per glyph waits on busy cores)


@dataclass(frozen=True)
class Placed:
    """One glyph on the page: the top-left (x, y) of its cell (px, floats), its scale and its rotation
    (degrees; clockwise on screen, y pointing down) about the cell's centre. index: which image of
    `glyphs` it shows (syllables), or -1 for a character the run cannot write."""
    char: str
    kind: str                   # 'syllable' | 'unknown'
    index: int
    x: float
    y: float
    scale: float = 1.0
    angle: float = 0.0


@dataclass(frozen=True)
class Layout:
    """A laid-out text: the cell, the nominal page size (px: the rows and the pens' ends; paint grows
    it to hold every transformed glyph), the natural it was laid out at, and every glyph."""
    cell: int
    width: float
    height: float
    natural: float
    glyphs: tuple[Placed, ...]


def ink_box(glyph, *, ink: int = INK) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), ends exclusive, of the pixels darker than `ink` in a (S, S) uint8 glyph (dark
    on white); None for a blank glyph."""
    return ink_boxes(torch.as_tensor(glyph)[None], ink=ink)[0]


def ink_boxes(glyphs: torch.Tensor, *, ink: int = INK) -> list[tuple[int, int, int, int] | None]:
    """ink_box of each of (N, H, W) uint8 glyphs, in one pass over the stack."""
    if len(glyphs) == 0:
        return []
    cols, rows = glyphs.amin(1) < ink, glyphs.amin(2) < ink                 # (N, W), (N, H): any dark pixel
    w, h = cols.shape[1], rows.shape[1]
    xs, ys = torch.arange(w), torch.arange(h)
    x0, x1 = torch.where(cols, xs, w).amin(1), torch.where(cols, xs + 1, 0).amax(1)
    y0, y1 = torch.where(rows, ys, h).amin(1), torch.where(rows, ys + 1, 0).amax(1)
    return [(a, b, c, d) if a < c else None for a, b, c, d in
            zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist())]


def _generator(seed: int, row: int) -> torch.Generator:
    """The row's own generator: seeded from (seed, row) through SHA-256, the same on every machine."""
    h = hashlib.sha256(f"rekogan-layout-v1:{int(seed)}:{int(row)}".encode()).digest()
    return torch.Generator(device="cpu").manual_seed(int.from_bytes(h[:8], "little") & (2**63 - 1))


def _normal(g: torch.Generator, n: int) -> list[float]:
    return torch.randn(n, generator=g).clamp(-CLIP, CLIP).tolist()


def _rows(tokens: Sequence[Token]) -> list[list[Token]]:
    rows, row = [], []
    for t in tokens:
        if t.kind == "newline":
            rows.append(row); row = []
        else:
            row.append(t)
    rows.append(row)
    return rows


def check_natural_amount(natural) -> float:
    """natural as a float in [0, 1]; ValueError otherwise (nan, inf and booleans included)."""
    if isinstance(natural, bool) or not isinstance(natural, (int, float)) or not (math.isfinite(natural)
                                                                                  and 0 <= natural <= 1):
        raise ValueError(f"natural must be a number in [0, 1], got {natural!r}")
    return float(natural)


def place(tokens: Sequence[Token], boxes: Sequence[tuple[int, int, int, int] | None], *, cell: int,
          natural: float = 0.0, seed: int = 0) -> Layout:
    """Tokens and the ink box (ink_box) of each glyph that will be drawn -- one per token that is
    neither a space nor a newline, in order (syllables and unknown characters alike; None: blank,
    treated as a full cell) -> where each glyph goes. natural 0 gives render_tokens' cells."""
    natural = check_natural_amount(natural)
    n_drawn = sum(t.kind not in ("space", "newline") for t in tokens)
    if len(boxes) != n_drawn:
        raise ValueError(f"{n_drawn} glyphs to place but {len(boxes)} ink boxes")
    ramp = min(1.0, natural / SPACING_FULL)
    pitch = cell + round(natural * LEADING * cell)        # an int: natural 0 gives rows of `cell`
    half = cell / 2
    placed, ends, b, k = [], [], 0, 0
    for r, row in enumerate(_rows(tokens)):
        g = _generator(seed, r)
        slope, wave = _normal(g, 2)
        u, v = torch.rand(2, generator=g).tolist()
        slope *= natural * DRIFT_SLOPE
        wave *= natural * DRIFT_WAVE * cell
        period = (PERIOD[0] + (PERIOD[1] - PERIOD[0]) * u) * cell
        phase = 2 * math.pi * v

        def drift(cx: float) -> float:     # the baseline at cx; 0 where the row starts
            return slope * cx + wave * (math.sin(2 * math.pi * cx / period + phase) - math.sin(phase))

        x = 0.0
        for t in row:
            d_size, d_angle, d_base, d_gap, d_space = _normal(g, 5)     # drawn for every token: fixed order
            if t.kind == "space":
                x += (1 - ramp) * (cell // 2) + ramp * cell * WORD_SPACE * (1 + natural * SPACE_JITTER * d_space)
                continue
            box = boxes[b] or (0, 0, cell, cell)
            b += 1
            s = math.exp(natural * SIZE * d_size)
            x0, x1 = box[0], box[2]
            gap = cell * GAP * (1 + natural * GAP_JITTER * d_gap)
            left = half + (x0 - half) * s                               # the ink's left edge in the cell, scaled
            cx = x + ramp * (gap / 2 - left)
            dy = natural * BASELINE * cell * d_base + drift(cx + half)
            index = k if t.kind == "syllable" else -1
            k += t.kind == "syllable"
            placed.append(Placed(t.char, "syllable" if t.kind == "syllable" else "unknown", index,
                                 cx, r * pitch + dy, s, natural * ROTATION * d_angle))
            x += (1 - ramp) * cell + ramp * ((x1 - x0) * s + gap)
        ends.append(x)
    return Layout(cell=cell, width=max(ends + [cell]), height=(len(ends) - 1) * pitch + cell,
                  natural=natural, glyphs=tuple(placed))


def _pad(cell: int) -> int:
    """Padding around a glyph's cell that holds it at any scale and rotation `place` draws."""
    s = math.exp(CLIP * SIZE)
    return math.ceil(cell * (math.sqrt(0.5) * s - 0.5)) + 1


def _theta(scale: Sequence[float], angle: Sequence[float], shift, *, n: int, size: int) -> torch.Tensor:
    """(N, 2, 3): each canvas's output -> input map in normalised coordinates, as F.affine_grid takes
    it: the inverse of p' = s R(angle) p + shift (shift in px, (dx, dy))."""
    a = torch.tensor([math.radians(v) for v in angle], dtype=torch.float32)
    sc = torch.tensor(list(scale), dtype=torch.float32)
    f = torch.tensor(shift if shift is not None else [(0.0, 0.0)] * n, dtype=torch.float32) * (2 / size)
    cos, sin = torch.cos(a) / sc, torch.sin(a) / sc
    A = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)    # R(-angle) / s, (N, 2, 2)
    t = -(A @ f[:, :, None])                                                           # (N, 2, 1)
    return torch.cat([A, t], 2)


def jitter_glyphs(glyphs: torch.Tensor, *, scale: Sequence[float], angle: Sequence[float],
                  shift: Sequence[tuple[float, float]] | None = None, pad: int = 0) -> torch.Tensor:
    """(N, S, S) uint8 glyphs (dark on white) scaled and rotated about their centres (and shifted by
    sub-pixel `shift` (dx, dy) px) into (N, S + 2 pad, S + 2 pad) uint8 canvases. Bilinear."""
    n, s = glyphs.shape[0], glyphs.shape[-1]
    size = s + 2 * pad
    out = torch.full((n, size, size), 255, dtype=torch.uint8)
    patches, where, _ = _jitter_patches(glyphs, scale=scale, angle=angle, shift=shift, pad=pad)
    for p, (i, y0, x0) in zip(patches, where):          # a patch may run past its canvas: paper there
        out[i, y0:y0 + p.shape[0], x0:x0 + p.shape[1]] = p[:size - y0, :size - x0]
    return out


def _jitter_patches(glyphs: torch.Tensor, *, scale, angle, shift, pad: int):
    """jitter_glyphs' canvases, sampled only where each glyph's ink can reach (the rest is paper either
    way): ([one (h, w) uint8 patch per glyph with ink], [(i, y0, x0): glyph i's canvas, the patch's
    top-left on it], [the patch's ink_box at 255: its marks]). At 256 px per glyph a padded canvas
    is ~2.6x the cell, and sampling all of it cost most of a line's layout.
    Glyphs are sampled in groups of up to GROUP_PIXELS output pixels (one grid_sample a group, its
    patches the size of its largest reach): a 64 px line in one pass, a 256 px line in ~3. Few passes,
    because on 2 busy cores each large step waits for both threads (one glyph a pass, as before, was
    up to 2x slower there); not one pass, whose grid and output (~16 MB at 256 px) leave the cache
    (up to 1.8x slower on one thread). A patch may run past its canvas' edge, where it samples paper."""
    n, s = glyphs.shape[0], glyphs.shape[-1]
    if n == 0:
        return [], [], []
    size = s + 2 * pad
    theta = _theta(scale, angle, shift, n=n, size=size)
    rows = theta.tolist()
    # sampled from the unpadded glyph (outside it grid_sample reads 0 ink: paper) in its own normalised
    # coordinates, the canvas' times size / s (they share a centre): no padded copy of each glyph, and
    # a smaller input samples faster (at most 1 grey level from sampling the padded canvas)
    own = (theta * (size / s)).tolist()
    todo = [(i, _reach(box, rows[i], pad=pad, size=size)) for i, box in enumerate(ink_boxes(glyphs, ink=255))
            if box is not None]
    todo.sort(key=lambda t: t[1][3] - t[1][2])        # narrow with narrow: a group's patches waste less (18 -> 11 %)
    c = (torch.arange(2 * size, dtype=torch.float32) * 2 + 1) / size - 1          # canvas pixel centres, normalised
    patches, where, boxes = [], [], []
    while todo:
        group, h, w = [], 0, 0
        for i, (y0, y1, x0, x1) in todo:          # as many as fit the budget (at least one)
            hh, ww = max(h, y1 - y0), max(w, x1 - x0)
            if group and (len(group) + 1) * hh * ww > GROUP_PIXELS:
                break
            group.append((i, y0, x0))
            h, w = hh, ww
        todo = todo[len(group):]
        th = torch.tensor([own[i] for i, _, _ in group], dtype=torch.float32)[:, :, :, None, None]  # (G, 2, 3, 1, 1)
        xs = torch.stack([c[x0:x0 + w] for _, _, x0 in group])[:, None, :]           # (G, 1, w)
        ys = torch.stack([c[y0:y0 + h] for _, y0, _ in group])[:, :, None]           # (G, h, 1)
        grid = torch.empty(len(group), h, w, 2)                                       # affine_grid's grid, written
        for k in range(2):                                                            # in place (a stack is ~10x slower)
            torch.add(xs * th[:, k, 0], ys * th[:, k, 1] + th[:, k, 2], out=grid[..., k])
        # the group's glyphs as float ink, picked and inverted as bytes (index_select: whole rows; indexing
        # with a list copies byte by byte, ~15x slower), then one float copy: not a float copy of the line,
        # inverted, then stacked
        picked = glyphs.index_select(0, torch.tensor([i for i, _, _ in group]))
        src = (255 - picked).float()[:, None]                                         # (G, 1, S, S)
        got = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]
        paper = 255 - got.round_().clamp_(0, 255).to(torch.uint8)
        patches.extend(paper)
        where.extend(group)
        boxes.extend(ink_boxes(paper, ink=255))
    return patches, where, boxes


def _reach(box, theta, *, pad: int, size: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the canvas pixels whose samples (output -> input by theta, 2 x 3, normalised)
    can touch the ink box `box` (x0, y0, x1, y1 in the unpadded glyph), with 2 px to spare for bilinear."""
    (a, b, tx), (d, e, ty) = theta
    det = a * e - b * d
    xs, ys = [], []
    for u in (box[0], box[2]):
        for v in (box[1], box[3]):
            p = (u + pad) * 2 / size - 1 - tx, (v + pad) * 2 / size - 1 - ty      # input point, less the shift
            xs.append(((e * p[0] - b * p[1]) / det + 1) * size / 2)             # the output point sampling it
            ys.append(((a * p[1] - d * p[0]) / det + 1) * size / 2)
    x0, x1 = max(0, math.floor(min(xs)) - 2), min(size, math.ceil(max(xs)) + 2)
    y0, y1 = max(0, math.floor(min(ys)) - 2), min(size, math.ceil(max(ys)) + 2)
    return y0, max(y0, y1), x0, max(x0, x1)

def paint(layout: Layout, images: Sequence) -> torch.Tensor:
    """A Layout and one (cell, cell) uint8 image per placed glyph, in order -> the (H, W) uint8 page,
    white paper. Overlaps keep the darker pixel. At natural 0 the glyphs go in unchanged at integer
    cells on a page of the nominal size (render_tokens' page); at natural > 0 each glyph is scaled,
    rotated and shifted by its sub-pixel position, and the page grows (never shrinks below the
    nominal size) so that no ink is cut off."""
    return paint_at(layout, images)[0]


def paint_at(layout: Layout, images: Sequence) -> tuple[torch.Tensor, tuple[int, int]]:
    """paint, and where the layout's (0, 0) is on the page: (x, y) px (the page grows left and up
    when a jittered glyph's ink reaches past the nominal page)."""
    cell = layout.cell
    if len(images) != len(layout.glyphs):
        raise ValueError(f"{len(layout.glyphs)} glyphs placed but {len(images)} images")
    shapes = {tuple(torch.as_tensor(im).shape) for im in images}
    if shapes - {(cell, cell)}:
        raise ValueError(f"every glyph image must be {cell}x{cell} (the cell), got {sorted(shapes)}")
    imgs = torch.stack([torch.as_tensor(im, dtype=torch.uint8) for im in images]) if len(images) \
        else torch.zeros(0, cell, cell, dtype=torch.uint8)
    P = layout.glyphs
    if layout.natural == 0:      # integer cells, no resampling: render_tokens' pixels
        page = torch.full((int(layout.height), int(layout.width)), 255, dtype=torch.uint8)
        for p, im in zip(P, imgs):
            x, y = int(p.x), int(p.y)
            page[y:y + cell, x:x + cell] = torch.minimum(page[y:y + cell, x:x + cell], im)
        return page, (0, 0)
    pad = _pad(cell)
    fx = [math.floor(p.x) for p in P]
    fy = [math.floor(p.y) for p in P]
    patches, where, marks = _jitter_patches(imgs, scale=[p.scale for p in P], angle=[p.angle for p in P],
                                            shift=[(p.x - a, p.y - b) for p, a, b in zip(P, fx, fy)], pad=pad)
    at = [(fx[i] - pad + x0, fy[i] - pad + y0) for i, y0, x0 in where]     # each patch's top-left, layout px
    # the page: the nominal rectangle, grown to every glyph's marks (anything not pure white)
    x_lo, y_lo, x_hi, y_hi = 0, 0, math.ceil(layout.width), math.ceil(layout.height)
    for box, (a, b) in zip(marks, at):
        if box is not None:
            x_lo, y_lo = min(x_lo, a + box[0]), min(y_lo, b + box[1])
            x_hi, y_hi = max(x_hi, a + box[2]), max(y_hi, b + box[3])
    page = torch.full((y_hi - y_lo, x_hi - x_lo), 255, dtype=torch.uint8)
    for c, (a, b) in zip(patches, at):
        top, left = b - y_lo, a - x_lo                                   # the patch's origin on the page
        t0, l0 = max(0, -top), max(0, -left)                             # the part of it on the page (the
        t1, l1 = min(c.shape[0], page.shape[0] - top), min(c.shape[1], page.shape[1] - left)  # rest is paper)
        step = max(1, COMPOSE_PIXELS // max(1, l1 - l0))                 # rows a step: no thread fork each
        for r in range(t0, t1, step):
            region = page[top + r:top + min(t1, r + step), left + l0:left + l1]
            torch.minimum(region, c[r:r + region.shape[0], l0:l1], out=region)
    return page, (-x_lo, -y_lo)


def layout_page(tokens: Sequence[Token], glyphs, *, cell: int, natural: float = 0.0, seed: int = 0,
                unknown_glyph: Callable | None = None) -> torch.Tensor:
    """Tokens and one (cell, cell) uint8 glyph (dark on white) per 'syllable' token, in order -> the
    (H, W) uint8 page. Characters the run cannot write are drawn by unknown_glyph(char, cell) or, by
    default, as render_tokens' hatched box, so nothing is dropped silently."""
    from .sampling import hatched
    glyphs = list(glyphs) if glyphs is not None else []
    n_syl = sum(t.kind == "syllable" for t in tokens)
    if len(glyphs) != n_syl:
        raise ValueError(f"{n_syl} syllables but {len(glyphs)} glyphs")
    images, k = [], 0
    for t in tokens:
        if t.kind == "syllable":
            images.append(torch.as_tensor(glyphs[k], dtype=torch.uint8)); k += 1
        elif t.kind not in ("space", "newline"):
            g = unknown_glyph(t.char, cell) if unknown_glyph else hatched(cell)
            images.append(torch.as_tensor(g, dtype=torch.uint8))
    boxes = ink_boxes(torch.stack(images)) if natural and images else [None] * len(images)
    return paint(place(tokens, boxes, cell=cell, natural=natural, seed=seed), images)
