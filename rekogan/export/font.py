"""Outlines -> an OpenType font with fontTools' FontBuilder (TrueType glyf, or CFF keeping the cubics).

Geometry: the model's S x S cell is the em square. unitsPerEm 1000, every syllable advances
1000 (Hangul is set on a square body), the cell's top is y = ASCENDER and its bottom
y = DESCENDER, so the glyph sits on the baseline as the bitmap sat in its cell and 1,000 units
= S px: rendered with an em of S px the glyph lands on the bitmap's pixels. A line gap of a
quarter em gives 1.25 em line spacing, usual for Korean body text. A space is half a cell wide,
as in rekogan.sampling.render_tokens.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
from fontTools.cu2qu import curve_to_quadratic
from fontTools.fontBuilder import FontBuilder
from fontTools.misc.roundTools import otRound
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.ttLib.tables import ttProgram
from fontTools.ttLib.tables._g_l_y_f import Glyph, GlyphCoordinates, flagOnCurve

UPM = 1000
ADVANCE = 1000          # a syllable's advance: one cell
SPACE = 500             # half a cell, like render_tokens
ASCENDER = 875          # cell top; 875 and -125 are whole pixels at 64 px (56 and 8)
DESCENDER = -125        # cell bottom
LINE_GAP = 250          # 1.25 em line spacing
CU2QU_MAX_ERR = 3.0     # font units (1/5 of a 64 px model pixel, 0.8 px set at 256 px): see trace.VTRACER_OPTS


@dataclass(frozen=True)
class FontNames:
    """What the name table says. family: nameID 1; version: nameID 5 text; description (10)
    says run, epoch and writer; licence (13) the provenance; copyright (0) the rights claimed."""

    family: str
    postscript: str
    unique_id: str
    version: str
    description: str
    licence: str
    copyright: str
    manufacturer: str = "ReKOGAN"
    weight_class: int = 400


def glyph_name(ch: str) -> str:
    return f"uni{ord(ch):04X}"


def to_font_units(contour: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinates of an S-px cell (y down) -> font units (y up, baseline at 0)."""
    k = UPM / size
    out = np.empty_like(contour)
    out[..., 0] = contour[..., 0] * k
    out[..., 1] = ASCENDER - contour[..., 1] * k
    return out


def _draw(pen, outline, size: int):
    for contour in outline:
        c = to_font_units(contour, size)
        pen.moveTo(tuple(c[-1, 2]))
        for c1, c2, p in c:
            pen.curveTo(tuple(c1), tuple(c2), tuple(p))
        pen.closePath()


def tt_glyph(outline, size: int) -> Glyph:
    """Cubic outline -> a quadratic glyf glyph: each cubic through cu2qu (CU2QU_MAX_ERR units),
    the points written straight into the Glyph (what TTGlyphPen does, without a pen call per point)."""
    points, flags, ends = [], [], []
    for contour in outline:
        c = to_font_units(contour, size)
        p0 = tuple(c[-1, 2])
        for seg in c.tolist():
            q = curve_to_quadratic((p0, tuple(seg[0]), tuple(seg[1]), tuple(seg[2])), CU2QU_MAX_ERR)
            points.extend(q[1:])                     # off-curve points, then the on-curve end
            flags.extend([0] * (len(q) - 2) + [flagOnCurve])
            p0 = tuple(seg[2])
        ends.append(len(points) - 1)                 # the last end is the start: the contour closes
    # flipping y turned the tracer's screen-counter-clockwise outer contours clockwise: TrueType's way
    glyph = Glyph()
    glyph.coordinates = GlyphCoordinates(points)
    glyph.endPtsOfContours = ends
    glyph.flags = array("B", flags)
    glyph.numberOfContours = len(ends)
    glyph.program = ttProgram.Program()
    glyph.program.fromBytecode(b"")
    glyph.coordinates.toInt(round=otRound)
    return glyph


def cff_charstring(outline, size: int, advance: int):
    """Cubic outline -> a CFF charstring; CFF wants outer contours counter-clockwise: reversed."""
    from fontTools.pens.reverseContourPen import ReverseContourPen
    pen = T2CharStringPen(advance, None)
    _draw(ReverseContourPen(pen), outline, size)
    return pen.getCharString()


def _empty(advance: int, cff: bool):
    return cff_charstring([], 64, advance) if cff else tt_glyph([], 64)


def _notdef_contours():
    # the usual hollow box, in pixel units of a 64 cell (converted like any glyph)
    outer = [(8, 8), (56, 8), (56, 56), (8, 56)]
    inner = [(14, 14), (14, 50), (50, 50), (50, 14)]
    return [_poly_contour(outer[::-1]), _poly_contour(inner[::-1])]


def _poly_contour(points) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    prev = np.roll(pts, 1, axis=0)
    return np.stack([prev, pts, pts], axis=1)  # straight segments as cubics with end controls


def make_glyph(outline, *, size: int, cff: bool):
    """An outline in pixel units of an S cell -> a glyf Glyph (cff=False) or a CFF charstring."""
    return cff_charstring(outline, size, ADVANCE) if cff else tt_glyph(outline, size)


def trace_glyphs(bitmaps, *, cff: bool):
    """Worker entry point (module level, so a process pool can pickle it): a stack of (S, S)
    bitmaps -> their glyphs. Tracing and cu2qu both run here, in the worker."""
    from .trace import trace
    return [make_glyph(trace(b), size=b.shape[0], cff=cff) for b in bitmaps]


def assemble(glyphs: dict, *, names: FontNames, cff: bool = False, alternates: dict | None = None):
    """{syllable: glyph from make_glyph} -> fontTools TTFont (not saved). alternates: {syllable:
    [its alternates' glyphs]}, the same number for every syllable: glyphs uniXXXX.alt1.. and the
    calt / clig / salt / aalt features that use them (alternates.py)."""
    from .alternates import add_features, alt_name
    chars = sorted(glyphs)
    counts = {len(alternates.get(c, ())) for c in chars} if alternates else {0}
    assert len(counts) == 1, f"every syllable needs the same number of alternates, got {sorted(counts)}"
    n = counts.pop() + 1
    bases = [glyph_name(c) for c in chars]
    alts = {alt_name(glyph_name(c), k): alternates[c][k - 1] for k in range(1, n) for c in chars}
    order = [".notdef", "space", "uni3000"] + bases + list(alts)
    cmap = {0x20: "space", 0x3000: "uni3000", **{ord(c): glyph_name(c) for c in chars}}
    advances = {".notdef": ADVANCE, "space": SPACE, "uni3000": ADVANCE, **{g: ADVANCE for g in order[3:]}}
    shapes = {".notdef": make_glyph(_notdef_contours(), size=64, cff=cff),
              "space": _empty(SPACE, cff), "uni3000": _empty(ADVANCE, cff),
              **{glyph_name(c): glyphs[c] for c in chars}, **alts}

    fb = FontBuilder(UPM, isTTF=not cff)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap(cmap)
    if cff:
        charstrings = shapes
        fb.setupCFF(names.postscript, {"FullName": names.family, "FamilyName": names.family,
                                       "Weight": "Regular", "Notice": names.copyright[:250]},
                    charstrings, {})
        cs = fb.font["CFF "].cff.topDictIndex[0].CharStrings
        lsb = {g: (cs[g].calcBounds(cs) or (0, 0, 0, 0))[0] for g in order}
    else:
        fb.setupGlyf(shapes)
        glyf = fb.font["glyf"]
        for g in order:
            glyf[g].recalcBounds(glyf)  # empty glyphs get no bounds: their lsb is 0
        lsb = {g: getattr(glyf[g], "xMin", 0) for g in order}
    fb.setupHorizontalMetrics({g: (advances[g], int(round(lsb[g]))) for g in order})
    fb.setupHorizontalHeader(ascent=ASCENDER, descent=DESCENDER, lineGap=LINE_GAP)
    y_max, y_min = _y_extent(fb.font, order, cff)
    fb.setupOS2(
        version=4, usWeightClass=names.weight_class, fsType=0,  # fsType 0: installable, no embedding restriction claimed
        sTypoAscender=ASCENDER, sTypoDescender=DESCENDER, sTypoLineGap=LINE_GAP,
        usWinAscent=max(ASCENDER, y_max), usWinDescent=max(-DESCENDER, -y_min),
        fsSelection=0x40 | 0x80,  # REGULAR | USE_TYPO_METRICS
        ulUnicodeRange1=0, ulUnicodeRange2=1 << (56 - 32),  # bit 56: Hangul Syllables
        ulCodePageRange1=1 << 19,  # Korean Wansung (949)
        sxHeight=500, sCapHeight=700, achVendID="NONE",
    )
    fb.setupNameTable({
        "copyright": names.copyright, "familyName": names.family, "styleName": "Regular",
        "uniqueFontIdentifier": names.unique_id, "fullName": names.family, "version": names.version,
        "psName": names.postscript, "manufacturer": names.manufacturer, "description": names.description,
        "licenseDescription": names.licence,
    })
    fb.setupPost()
    add_features(fb.font, bases, n)
    return fb.font


def _y_extent(font, order, cff: bool) -> tuple[int, int]:
    """(yMax, yMin) over all glyphs, so the Windows clipping metrics hold every glyph."""
    hi, lo = ASCENDER, DESCENDER
    if cff:
        cs = font["CFF "].cff.topDictIndex[0].CharStrings
        for g in order:
            b = cs[g].calcBounds(cs)
            if b:
                lo, hi = min(lo, int(np.floor(b[1]))), max(hi, int(np.ceil(b[3])))
        return hi, lo
    glyf = font["glyf"]
    for g in order:
        gl = glyf[g]
        if gl.numberOfContours:  # bounds were computed in assemble
            lo, hi = min(lo, gl.yMin), max(hi, gl.yMax)
    return hi, lo


def font_from_bitmaps(bitmaps: dict, *, names: FontNames, cff: bool = False, alternates: dict | None = None):
    """{syllable: (S, S) uint8 dark-on-white bitmap} -> TTFont, traced in this process
    (for bitmaps that come from elsewhere than a checkpoint, and for tests); alternates: {syllable:
    [bitmaps of its alternates]}, as for assemble."""
    def traced(b):
        return trace_glyphs(np.asarray(b)[None], cff=cff)[0]
    alts = {c: [traced(b) for b in bs] for c, bs in alternates.items()} if alternates else None
    return assemble({c: traced(b) for c, b in bitmaps.items()}, names=names, cff=cff, alternates=alts)
