"""Glyph bitmaps -> smooth closed outlines (cubic Bezier contours), with vtracer.

Input: uint8 (S, S) bitmaps, dark ink (0) on white paper (255), as rekogan.sampling.to_uint8
writes them. A 64 px bitmap traced as it is gives outlines that follow its pixel grid, which
shows as a staircase when the font is set large. So each bitmap is first resized (bicubic) to
`UPSCALE` times its size and blurred slightly, which turns the grey anti-aliased edge the model
draws into a sub-pixel edge position, then thresholded and traced with vtracer's spline mode.

Why vtracer (Rust, PyPI wheel) and not potracer (pure-Python potrace), measured here on 64 px
glyphs of the fixed run (2 shared cores): one vtracer call on the 4x upsampled (256 px) glyph
took 3-5 ms and its spline fit renders without a staircase; potracer took 70-100 ms on the same
256 px image (33-37 ms even on the raw 64 px bitmap), i.e. 11,172 glyphs in 15-20 minutes of
CPU instead of well under one. The C potrace bindings (pypotrace, potracecffi) do not build from
PyPI alone (they need libpotrace's headers). UPSCALE 3 rather than 4: on 200 glyphs, tracing
plus cu2qu cost 5.3 / 7.4 / 9.8 ms per glyph at 2x / 3x / 4x, the staircase measure at 256 px
was 0.30 / 0.29 / 0.29 (1.0 = staircase) and the 64 px render agreed with the bitmap on
97.4 / 98.0 / 98.4 % of pixels: 3x keeps nearly all of 4x's fidelity for 3/4 of its time.

Glyphs enlarged by the glyph upscaler (rekogan/studio/crisp.py: 128 or 256 px, what fonts are
traced from by default) are traced at about the same size (trace_upscale: 256 px as it is, 128 px
at 2x), blurred a little less (BLUR_ENLARGED: the upscaler's edges are already clean) and with
vtracer's lengths scaled to the traced size (vtracer_opts). On 200 syllables of the hangul run
(epoch 68, seed 0, docs/RESULTS.md): 709 bytes and 234 points a glyph traced from 256 px, against
643 and 212 from 64 px; the outline matches the 256 px bitmap on 98.6 % of pixels.

An outline is a list of contours; a contour is a float array (n, 3, 2) of n cubic segments
(control 1, control 2, end point), closed (segment 0 starts at the last end point), in the
bitmap's pixel coordinates (x right, y down, 0..S). Contours are oriented for the non-zero
winding rule: outer contours counter-clockwise on screen (clockwise once y points up, the
TrueType convention), holes the other way.
"""
from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from functools import lru_cache

import numpy as np
import vtracer
from fontTools.misc.transform import Transform
from fontTools.pens.basePen import BasePen
from fontTools.svgLib.path import parse_path
from PIL import Image

NATIVE = 64          # the generators' glyph size: blur and speck sizes are in its pixels
TRACE_PX = 192       # a bitmap is traced at about this size: 64 px at 3x (see the module docstring)
UPSCALE = 3          # trace_upscale(64): kept for callers that name it
BLUR = 0.3           # Gaussian sigma, in model pixels, that rounds off the bicubic ripples
BLUR_ENLARGED = 0.25 # the same for an upscaler's 128 / 256 px glyph: fewer points, the same fidelity (vtracer_opts)
THRESHOLD = 128      # ink where the grey is darker than mid-grey
# vtracer settings: 'spline' fits cubic curves; corner_threshold 60 deg keeps the turns of a brush
# stroke as corners; specks under one model pixel (filter_speckle = traced px / 64, a side) are dropped.
# length_threshold 10 and splice_threshold 60 fit longer curves: on 300 syllables of the hangul
# run (epoch 14) with cu2qu at 3 units they cut 1,806 -> 1,238 bytes a glyph (all 11,172 then fit
# 15 MB; 4 / 45 and 1 unit gave 19.8 MB) for 96.92 -> 96.86 % of pixels matching the bitmap at
# 64 px and the same staircase score at 256 px (0.295 -> 0.291); docs/RESULTS.md, font export
VTRACER_OPTS = dict(colormode="binary", mode="spline", corner_threshold=60,
                    length_threshold=10.0, splice_threshold=60, path_precision=2)


def vtracer_opts(traced_px: int) -> dict:
    """vtracer's settings for a bitmap traced at `traced_px` pixels: specks and the shortest curve
    are the same share of the glyph at any size (for 192 px, VTRACER_OPTS as measured above).
    At 256 px (the upscaler's glyphs), 200 syllables of the hangul run (epoch 68): length 10 / 13.3 /
    14 gave 765 / ~720 / 709 bytes and 256 / ~238 / 234 points a glyph for 98.66 / ~98.6 / 98.59 % of
    pixels matching the 256 px bitmap (docs/RESULTS.md, fonts traced from 256 px)."""
    k = traced_px / TRACE_PX
    return dict(VTRACER_OPTS, filter_speckle=max(1, round(traced_px / NATIVE)),
                length_threshold=round(VTRACER_OPTS["length_threshold"] * max(k, 1.0), 1))

Outline = list  # list[np.ndarray (n, 3, 2)]



def trace_upscale(size: int) -> int:
    """How many times a bitmap of `size` px is enlarged before tracing: to about TRACE_PX
    (64 -> 3x, 128 -> 2x, 256 -> 1x: the upscaler's glyphs are traced as they are)."""
    return max(1, round(TRACE_PX / size))


@lru_cache(maxsize=8)
def _resample_matrix(size: int, upscale: int, blur: float) -> np.ndarray:
    """(size*upscale, size) matrix M with M @ img @ M.T = bicubic upsampling (Keys, a = -0.5,
    pixel centres aligned like PIL and torch's align_corners=False) followed by a Gaussian blur of
    `blur` model (64 px) pixels: one linear, separable map, so a glyph costs two small matrix products."""
    out = size * upscale
    x = (np.arange(out) + 0.5) / upscale - 0.5          # source coordinate of each output pixel
    base = np.floor(x).astype(int)
    bicubic = np.zeros((out, size))
    for k in range(-1, 3):
        d = np.abs(x - (base + k))
        w = np.where(d < 1, 1.5 * d**3 - 2.5 * d**2 + 1, np.where(d < 2, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2, 0))
        np.add.at(bicubic, (np.arange(out), np.clip(base + k, 0, size - 1)), w)  # edge pixels repeat
    if blur <= 0:
        return bicubic.astype(np.float32)
    sigma = blur * out / NATIVE
    r = np.arange(out)
    gauss = np.exp(-0.5 * ((r[:, None] - r[None, :]) / sigma) ** 2)
    gauss /= gauss.sum(axis=1, keepdims=True)
    return (gauss @ bicubic).astype(np.float32)


def prepare(bitmap: np.ndarray, *, upscale: int | None = None, blur: float | None = None) -> np.ndarray:
    """(S, S) uint8 dark-on-white -> (S*upscale, S*upscale) uint8, pure black (ink) / white, smoothed.
    upscale: default trace_upscale(S); blur: Gaussian sigma in model (64 px) pixels, default
    BLUR for a 64 px bitmap and BLUR_ENLARGED for an upscaler's one."""
    size = bitmap.shape[0]
    upscale = trace_upscale(size) if upscale is None else upscale
    blur = (BLUR if size <= NATIVE else BLUR_ENLARGED) if blur is None else blur
    img = np.asarray(bitmap, dtype=np.float32)
    if upscale > 1 or blur > 0:
        m = _resample_matrix(size, upscale, float(blur))
        img = m @ img @ m.T
    return np.where(img < THRESHOLD, 0, 255).astype(np.uint8)


def trace(bitmap: np.ndarray, *, upscale: int | None = None, blur: float | None = None, opts: dict | None = None) -> Outline:
    """One bitmap (64, 128 or 256 px) -> its outline, in the bitmap's pixel units. upscale, blur:
    see prepare; opts: vtracer settings instead of vtracer_opts(the traced size)."""
    assert bitmap.ndim == 2 and bitmap.shape[0] == bitmap.shape[1], f"expected a square bitmap, got {bitmap.shape}"
    upscale = trace_upscale(bitmap.shape[0]) if upscale is None else upscale
    binary = prepare(bitmap, upscale=upscale, blur=blur)
    rows, cols = np.nonzero((binary == 0).any(axis=1))[0], np.nonzero((binary == 0).any(axis=0))[0]
    if len(rows) == 0:  # no ink: vtracer would still return a frame path
        return []
    # trace only the ink's box (plus a white margin): vtracer's time grows with the pixel count
    y0, x0 = max(rows[0] - 2, 0), max(cols[0] - 2, 0)
    crop = binary[y0:rows[-1] + 3, x0:cols[-1] + 3]
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="BMP")  # uncompressed: cheaper to write and read than PNG
    settings = vtracer_opts(binary.shape[0]) if opts is None else opts
    svg = vtracer.convert_raw_image_to_svg(buf.getvalue(), img_format="bmp", **settings)
    offset = np.array([x0, y0], dtype=np.float64)
    contours = [(c + offset) / upscale for c in parse_vtracer_svg(svg)]
    return orient(contours)


def parse_vtracer_svg(svg: str) -> list[np.ndarray]:
    """vtracer's SVG -> closed cubic contours, each path's transform (and its groups') applied.

    The document through an XML parser (attributes in any order, either quote), each path's d
    through fontTools.svgLib.path.parse_path (every path command, absolute or relative), each
    transform list through _transform (translate(3, 4) and translate(3,4) alike). Contours of
    fewer than two segments besides their closing line are specks with no area: dropped.
    Cost, measured with scripts/bench_trace.py on 500 glyphs of the hangul run (CPU time): 0.73-0.78
    ms a glyph against 0.26-0.31 ms for the regular expressions this replaced (which lost a path
    whose d was not its first attribute and the offset of `translate(3, 4)`), with the same
    outlines to the bit: about +0.5 ms of the ~10 ms of CPU a glyph costs in a font build
    (scripts/bench_font.py's breakdown)."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as e:
        raise ValueError(f"vtracer wrote SVG that does not parse: {e}") from None
    contours: list[np.ndarray] = []
    _collect(root, np.eye(3), contours)
    return contours


def _collect(element, outer: np.ndarray, out: list) -> None:
    """Depth first: the contours of every <path> under `element`, in document order."""
    m = outer @ _transform(element.get("transform", ""))
    if element.tag.rsplit("}", 1)[-1] == "path":
        pen = _ContourPen()
        parse_path(element.get("d", ""), pen)
        a, b = m[:2, :2].T, m[:2, 2]        # row vectors: p' = p @ A^T + offset
        out.extend(c @ a + b for c in pen.contours)
    for child in element:
        _collect(child, m, out)


_TRANSFORM_RE = re.compile(r"\s*([A-Za-z]+)\s*\(([^()]*)\)\s*,?")


def _transform(text: str) -> np.ndarray:
    """An SVG transform list (https://www.w3.org/TR/SVG11/coords.html#TransformAttribute) -> a
    3x3 matrix; its items apply right to left, as SVG says. Arguments may be separated by commas,
    spaces or both."""
    m, pos = np.eye(3), 0
    if not text:
        return m
    for item in _TRANSFORM_RE.finditer(text):
        if item.start() != pos:
            break
        pos = item.end()
        name = item.group(1)
        try:
            args = [float(x) for x in re.split(r"[\s,]+", item.group(2).strip()) if x]
        except ValueError:
            raise ValueError(f"SVG transform {text!r}: {item.group(2)!r} are not numbers") from None
        m = m @ _transform_item(name, args, text)
    if text[pos:].strip():
        raise ValueError(f"SVG transform {text!r}: cannot read {text[pos:].strip()!r}")
    return m


def _transform_item(name: str, args: list[float], text: str) -> np.ndarray:
    t = Transform()
    if name == "matrix" and len(args) == 6:
        t = Transform(*args)
    elif name == "translate" and len(args) in (1, 2):
        t = t.translate(args[0], args[1] if len(args) == 2 else 0.0)
    elif name == "scale" and len(args) in (1, 2):
        t = t.scale(args[0], args[1] if len(args) == 2 else args[0])
    elif name == "rotate" and len(args) in (1, 3):
        cx, cy = args[1:] if len(args) == 3 else (0.0, 0.0)
        t = t.translate(cx, cy).rotate(math.radians(args[0])).translate(-cx, -cy)
    elif name in ("skewX", "skewY") and len(args) == 1:
        angle = math.radians(args[0])
        t = t.skew(angle, 0) if name == "skewX" else t.skew(0, angle)
    else:
        raise ValueError(f"SVG transform {text!r}: cannot read {name}({', '.join(f'{a:g}' for a in args)})")
    a, b, c, d, e, f = t
    return np.array([[a, c, e], [b, d, f], [0.0, 0.0, 1.0]])


def _same(p, q) -> bool:
    """Two points within 1e-9 px (tuples, not arrays: this runs for every segment)."""
    return abs(p[0] - q[0]) <= 1e-9 and abs(p[1] - q[1]) <= 1e-9


class _ContourPen(BasePen):
    """A fontTools pen that keeps closed cubic contours as (n, 3, 2) arrays (see the module
    docstring): a line is a cubic with its controls at its ends, a quadratic is raised to a cubic,
    and a contour left open is closed with a straight segment (it is filled all the same)."""

    def __init__(self):
        super().__init__(None)
        self.contours: list[np.ndarray] = []
        self._segs: list = []
        self._start = None

    def _moveTo(self, pt):
        self._finish()
        self._start = pt

    def _lineTo(self, pt):
        p0 = self._getCurrentPoint()
        if not _same(p0, pt):
            self._segs.append((p0, pt, pt))      # zero-length lines (a closing gap of 1e-12) carry nothing

    def _curveToOne(self, pt1, pt2, pt3):
        self._segs.append((pt1, pt2, pt3))

    def _qCurveToOne(self, pt1, pt2):
        p0 = self._getCurrentPoint()
        c1 = (p0[0] + 2 / 3 * (pt1[0] - p0[0]), p0[1] + 2 / 3 * (pt1[1] - p0[1]))
        c2 = (pt2[0] + 2 / 3 * (pt1[0] - pt2[0]), pt2[1] + 2 / 3 * (pt1[1] - pt2[1]))
        self._segs.append((c1, c2, pt2))

    def _closePath(self):
        self._finish()

    def _endPath(self):
        self._finish()

    def _finish(self):
        segs, start = self._segs, self._start
        if segs and not _same(segs[-1][2], start):
            segs.append((segs[-1][2], start, start))
        # a contour needs two segments besides the straight one closing it (parse_path draws that
        # line for a Z away from the start): fewer is a speck or a line, with no area to fill
        closing = len(segs) > 0 and _same(segs[-1][1], start) and _same(segs[-1][2], start)
        if len(segs) - closing >= 2:
            self.contours.append(np.array(segs, dtype=np.float64))
        self._segs = []


def polygon(contour: np.ndarray) -> np.ndarray:
    """A contour's polygon through its end and control points (enough for area and nesting)."""
    return contour.reshape(-1, 2)


def signed_area(poly: np.ndarray) -> float:
    """Shoelace area; positive = clockwise on screen (y down)."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _inside(pt: np.ndarray, poly: np.ndarray) -> bool:
    """Even-odd ray test of one point against a polygon."""
    x, y = pt
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return bool(np.count_nonzero(crosses & (xs > x)) % 2)


def orient(contours: list[np.ndarray]) -> list[np.ndarray]:
    """Make the fill independent of the tracer's own direction convention: a contour inside an
    even number of others is ink (counter-clockwise on screen), inside an odd number a hole."""
    polys = [polygon(c) for c in contours]
    boxes = [(p.min(axis=0), p.max(axis=0)) for p in polys]
    out = []
    for i, c in enumerate(contours):
        probe = c[0, 2]
        depth = sum(_inside(probe, polys[j]) for j in range(len(contours))
                    if j != i and np.all(probe >= boxes[j][0]) and np.all(probe <= boxes[j][1]))
        want_screen_ccw = depth % 2 == 0
        if (signed_area(polys[i]) < 0) != want_screen_ccw:
            c = reverse(c)
        out.append(c)
    return out


def reverse(contour: np.ndarray) -> np.ndarray:
    """The same closed contour traversed the other way."""
    ends = contour[:, 2]
    starts = np.roll(ends, 1, axis=0)
    rev = np.stack([contour[:, 1], contour[:, 0], starts], axis=1)[::-1]
    return np.ascontiguousarray(rev)
