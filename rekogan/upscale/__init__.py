"""The x4 glyph upscaler: 64 px glyphs -> crisp 128 / 256 px ones, for every run and any source.

  model.py     the network (a small U-Net at 64 / 32 px, sub-pixel heads for 128 and 256 px)
  data.py      pairs from the training faces: a glyph at 256 px and its 64 px reduction (cached)
  degrade.py   the 64 px input made to look like generator output (tensors, seeded)
  train.py     the training loop and its run folder (resumable exactly)
  evaluate.py  fidelity on the held-out faces, and the effect on generated glyphs
  apply.py     the upscaler file, and `load(path=None).upscale(glyphs, size=...)` for callers

    from rekogan.upscale import load
    big = load().upscale(glyphs_uint8, size=256)     # (N, 64, 64) -> (N, 256, 256), white ink on black
"""
from .apply import UPSCALER_FILE, GlyphUpscaler, load  # noqa: F401
