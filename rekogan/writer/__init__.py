"""In your own hand: fit a writer to a few handwritten syllables, keep it as a code, write with it.

  errors.py   WriterError: every bad input, with a message for people
  images.py   pictures in (files, bytes, canvas arrays, RGBA) -> ink pictures -> the glyph normalisation
  grid.py     one photo/scan of a row or grid -> one picture per syllable (straightened)
  photo.py    clean glyphs -> a phone-style photo of them (tests and the evaluation)
  samples.py  pictures + the text they show -> target glyphs, checked against the run
  latent.py   per-layer latents for ProjGenerator (layered_forward, WriterGenerator)
  losses.py   reader features (perceptual), pixel loss, SSIM
  fit.py      inversion: best seed -> one z -> one latent per layer
  adapter.py  the writer's adapter: per-channel modulation / low-rank deltas, fitted after the latent
              (and, optionally, its strength per class: the legibility guard's 'mix')
  geometry.py the writer's slant, size, place and stroke weight, applied after the generator (optional)
  encoder.py  the style encoder: a hand run's encoder.safetensors gives the fit its start (issue 25)
  value.py    the writer code, writer.safetensors (and the older writer.json); writer_latent for the sampling
              path; a hand run's writers carry its tag and no other generator draws them
  api.py      imitate (the one call of the app and the CLI), draw, render_line
  cli.py      `python -m rekogan imitate` / `python -m rekogan.writer`
"""
from .api import Imitation, default_reader_path, draw, imitate, reader_features, render_line
from .errors import WriterError
from .fit import FitConfig, FitResult, fit
from .value import Writer, WriterLatent, decode, decode_full, encode, load_writer, load_writer_bytes, writer_latent

__all__ = ["Imitation", "default_reader_path", "draw", "imitate", "reader_features", "render_line", "WriterError",
           "FitConfig", "FitResult", "fit", "Writer", "WriterLatent", "decode", "decode_full", "encode", "load_writer", "load_writer_bytes",
           "writer_latent"]
