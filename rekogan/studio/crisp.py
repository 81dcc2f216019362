"""Glyphs at the size people see or take them: the shipped upscaler, loaded once, for every view.

    from rekogan.studio import crisp
    big, note = crisp.enlarge(glyphs, size=256)   # (N, S, S) uint8 dark on white -> (N, 256, 256)

The generators draw 64 px glyphs; sizes 128 and 256 (conventions.GLYPH_SIZES) go through the
glyph upscaler (rekogan/upscale: a small U-Net trained to clean GAN artefacts, not to enlarge them).
Every view that shows or exports glyphs (Write, compare, Sheet, Evolution, Walk, My hand's pair, SVG,
fonts) calls this one function, so one upscaler file and one rule serve them all.

Glyphs here are pictures for people: dark ink on white paper (conventions.to_paper's side); the
upscaler works on white ink on black, so this module flips on the way in and out. A run drawn at a
size other than 64 px (a tiny test run, or a run someone trained at 32 px) is resized to 64 px
bilinearly first. When the upscaler file is missing or broken (a checkpoints folder copied without
it), glyphs are enlarged bilinearly and `note` says why, once per call; the app keeps working.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..conventions import GLYPH_SIZES
from .cache import torch_module

log = logging.getLogger("rekogan.crisp")

UPSCALER_ENV = "REKOGAN_UPSCALER"     # another upscaler file (default: the shipped one)
NATIVE = 64                           # the upscaler's input size

_lock = threading.Lock()
_loaded: dict[str, object] = {}       # path -> GlyphUpscaler, or the message of why it could not load


def upscaler_path() -> Path:
    """$REKOGAN_UPSCALER, else the shipped checkpoints/upscaler/upscaler.safetensors."""
    from ..upscale.apply import default_file
    env = os.environ.get(UPSCALER_ENV)
    return Path(env) if env else default_file()


def upscaler():
    """(the loaded GlyphUpscaler or None, a note saying why not); loaded once per file, thread-safe."""
    path = str(upscaler_path())
    with _lock:
        if path not in _loaded:
            from ..checkpoints import CheckpointError
            from ..upscale import load
            try:
                _loaded[path] = load(path)
            except (CheckpointError, OSError) as e:
                log.warning("upscaler unavailable: %s", e)
                _loaded[path] = (f"The glyph upscaler could not be loaded ({e}); glyphs are enlarged without it. "
                                 "· 업스케일러가 없어 단순 확대했습니다.")
        got = _loaded[path]
    return (None, got) if isinstance(got, str) else (got, "")


def enlarge(glyphs, *, size: int):
    """(N, S, S) uint8 glyphs, dark ink on white (a torch tensor or numpy array) -> ((N, size, size)
    of the same kind, a note: '' or why the upscaler was not used). size is one of GLYPH_SIZES."""
    assert size in GLYPH_SIZES, f"size {size!r} was not checked (inputs.check_size)"
    torch = torch_module()
    import numpy as np
    as_numpy = isinstance(glyphs, np.ndarray)
    x = torch.from_numpy(glyphs) if as_numpy else glyphs
    assert x.dtype == torch.uint8 and x.ndim == 3, f"glyphs must be (N, S, S) uint8, got {x.dtype} {tuple(x.shape)}"
    if x.shape[-1] == size:
        out, note = x.clone(), ""
    else:
        out, note = _enlarge(x, size=size)
    return (out.numpy() if as_numpy else out), note


def fit_size(cells: int, size: int, *, budget: int, what: str) -> tuple[int, str]:
    """(the largest size <= `size` at which `cells` glyphs stay within `budget` pixels, a note when it
    is smaller than asked). 64 px always fits: that is what the views drew before sizes existed."""
    fits = [s for s in GLYPH_SIZES if s <= size and cells * s * s <= budget] or [min(GLYPH_SIZES)]
    if fits[-1] == size:
        return size, ""
    return fits[-1], (f"{what} is too large to draw at {size} px per glyph: drawn at {fits[-1]} px. "
                      f"· 너무 커서 {fits[-1]} px로 그렸습니다.")


def _resize(x, size: int):
    """(N, S, S) uint8 -> (N, size, size) uint8, bilinear (antialiased when shrinking), rounded."""
    torch = torch_module()
    import torch.nn.functional as F
    if x.shape[-1] == size:
        return x
    y = F.interpolate(x[:, None].float(), size=(size, size), mode="bilinear", align_corners=False,
                      antialias=size < x.shape[-1])
    return y.round().clamp(0, 255).to(torch.uint8)[:, 0]


def _enlarge(x, *, size: int):
    torch = torch_module()
    if len(x) == 0:
        return torch.full((0, size, size), 255, dtype=torch.uint8), ""
    if size <= NATIVE:                                        # the generators' own size: nothing to sharpen
        return _resize(x, size), ""
    up, note = upscaler()
    if up is None:
        return _resize(x, size), note
    ink = 255 - _resize(x, NATIVE)                            # white ink on black, 64 px: the upscaler's input
    with torch.inference_mode():
        return 255 - up.upscale(ink.contiguous(), size=size), ""
