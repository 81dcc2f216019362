"""The Write path: text -> tokens -> glyphs at a size, each its own occurrence -> a page or an SVG line.

  page     checked inputs + a loaded model -> a Page (the Write and compare panels, /write, /compare)
  render   tokens by a writer (generator, z) -> (H, W) uint8 page: glyphs from the studio's batcher
           (natural > 0: per-occurrence variation, rekogan/variation.py; size > 64: enlarged in the
           batcher's thread by crisp.enlarge), laid out by sampling.layout_tokens at natural 0
           (today's fixed cells, pixel for pixel) or rekogan.layout.layout_page (a hand's line)
  line_svg the same line as an SVG file: the same glyphs drawn at 256 px, traced, laid out by
           rekogan.layout.place with the same layout seed (rekogan.export.svg.natural_svg)

One path for a seed and a writer code: hand.pen turns either into (generator, z, weight). The layout
seed of a varied line is variation.writer_seed(generator, z): the same writer lays a text out the
same way, on the page and in the SVG.

A long text at a large size would be a poster of hundreds of megapixels (10,000 characters at 256 px
per glyph: 0.7 GB) and seconds of upscaling: a page's glyphs hold at most MAX_PAGE_PIXELS, and a
text over it is drawn at the largest size that fits, with a note saying so.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..hangul import Token, tokenize
from . import crisp, exports, hand, sets
from .inputs import unknown_chars, wrap_tokens
from .pictures import unknown_glyph
from .results import Page

MAX_PAGE_PIXELS = 2**24        # glyph cells x size^2 of one page: 1,024 cells at 128 px, 256 at 256 px
SVG_SIZE = 256                 # an SVG line is traced from glyphs of this size (crisp.enlarge)


def fit_size(tokens: list[Token], size: int) -> tuple[int, str]:
    """(the size a page of `tokens` is drawn at, a note when it is smaller than asked)."""
    cells = sum(t.kind not in ("space", "newline") for t in tokens)
    return crisp.fit_size(cells, size, budget=MAX_PAGE_PIXELS, what=f"A text of {cells:,} characters")


def page(studio, *, model, text: str, seed: int, truncation: float, wrap: int, weight: float,
         writer: str | None, natural: float, size: int) -> Page:
    """Studio.page: checked inputs and a loaded model -> one page."""
    t0 = time.perf_counter()
    tokens = wrap_tokens(tokenize(text, model.classes), cells=wrap)
    p = hand.pen(model, seed=seed, truncation=truncation, weight=weight, writer=writer,
                 stroke_weight=studio.stroke_weight)
    size, size_note = fit_size(tokens, size)
    image = studio.render(generator=p.generator, tokens=tokens, z=p.z, weight=p.weight, natural=natural, size=size)
    unknown = unknown_chars(tokens)
    notes = (sets.suggest_run(studio.registry, current=model.info.run, missing=unknown), *p.notes, size_note,
             upscaler_note(size))
    return Page(image=image, unknown=unknown, info=model.info, n_classes=len(model.classes),
                seconds=time.perf_counter() - t0, notes=tuple(n for n in notes if n))


def upscaler_note(size: int | None) -> str:
    """Why glyphs of `size` are not the upscaler's ('' when they are, or need none)."""
    return crisp.upscaler()[1] if size and size > crisp.NATIVE else ""


def render(studio, *, generator, tokens: list[Token], z, weight=None, natural: float = 0.0,
           size: int | None = None) -> np.ndarray:
    """Studio.render: tokens by the writer (generator, z) -> (H, W) uint8 page, `size` px per glyph
    (None: the generator's own), varied by `natural` (checked)."""
    from ..sampling import layout_tokens
    cell = size or generator.cfg.size
    idx = [t.index for t in tokens if t.kind == "syllable"]
    drawn = studio.glyphs(generator=generator, labels=idx, z=z, weight=weight, natural=natural,
                          size=size) if idx else None
    if not natural:                       # today's page: fixed cells, half-cell spaces
        return layout_tokens(tokens, drawn, size=cell, unknown_glyph=unknown_glyph).numpy()
    from ..layout import layout_page
    from ..variation import writer_seed
    return layout_page(tokens, drawn if drawn is not None else [], cell=cell, natural=natural,
                       seed=writer_seed(generator, z), unknown_glyph=unknown_glyph).numpy()


def line_svg(studio, *, model, text: str, seed: int, truncation: float, wrap: int, weight: float,
             writer: str | None, natural: float, size: int) -> Path:
    """Studio.write_svg: the page's line as an SVG file, traced from SVG_SIZE px glyphs (the same
    occurrences as the page's), `size` px per glyph."""
    tokens = wrap_tokens(tokenize(text, model.classes), cells=wrap)
    p = hand.pen(model, seed=seed, truncation=truncation, weight=weight, writer=writer,
                 stroke_weight=studio.stroke_weight)
    idx = [t.index for t in tokens if t.kind == "syllable"]
    drawn = studio.glyphs(generator=p.generator, labels=idx, z=p.z, weight=p.weight, natural=natural,
                          size=SVG_SIZE).numpy() if idx else []
    from ..variation import writer_seed
    layout_seed = writer_seed(p.generator, p.z) if natural and idx else 0
    return exports.write_svg(tokens=tokens, bitmaps=drawn, natural=natural, seed=layout_seed, size=size,
                             folder=studio.tmp_dir / "svg", ttl=studio.output_ttl)
