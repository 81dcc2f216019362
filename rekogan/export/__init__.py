"""Exporting a writer: an installable font (build_font) and a written line as SVG (line_svg).

  trace.py       bitmaps -> smooth cubic outlines (vtracer; 64 px at 3x, the upscaler's 256 px as they are)
  font.py        outlines -> glyf (cu2qu) or CFF glyphs, and the font (FontBuilder)
  alternates.py  N glyphs per syllable: the calt / clig cycle and salt / aalt (feaLib, glyph classes)
  provenance.py  name-table text: run, epoch, writer, training data licences
  syllables.py   seri95 / ksx1001 / all / a text's syllables
  build.py       build_font: generation + upscaling (size) + tracing in a process pool + assembly + atomic write
  svg.py         line_svg: the Write tab's line as SVG
  smooth.py      rendering a glyph back into its cell, the staircase measure
  cli.py         `python -m rekogan.export font ...` (add_parser / run)

Imports are lazy so that a tracing worker does not pull in torch.
"""
from __future__ import annotations

_LAZY = {"build_font": "build", "FontReport": "build", "line_svg": "svg", "layout_line": "svg",
         "layout_svg": "svg", "ExportError": "syllables", "syllable_set": "syllables"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
