"""The project's conventions in one torch-free place: seeds, truncation, epoch files, ink.

  seed        a writer: a whole number in 0..MAX_SEED; z comes from it through a dedicated
              torch.Generator (rekogan.sampling.seed_to_z), never the global RNG
  truncation  psi in [0, 1]; z' = psi * z, towards the prior's mean 0 (StyleGAN's variant):
              1 is every writer, 0 the average writer
  weight      the stroke weight of runs trained with a weight condition, in per-syllable standard
              deviations: a number in WEIGHT_RANGE (-2 thin .. 0 typical .. +2 bold); with a
              fitted writer, which carries its own weight, the requested weight moves it
              (writer_weight: the sum, clipped to the range), so 0 draws the hand as fitted
  epoch files epoch_NNN.safetensors (the sampling generator), state_NNN.safetensors (resume),
              grid_NNN.png, with NNN the epoch, zero-padded to three digits
  natural     how much a hand varies: a number in [0, 1]; 0 is a font (every occurrence of a
              syllable the same, fixed cells), NATURAL_DEFAULT was chosen by measurement
              (docs/natural_eval.md); rekogan/variation.py and rekogan/layout.py apply it
  size        pixels per glyph of what people see or take: one of GLYPH_SIZES; the generators
              draw 64 px and larger sizes go through the glyph upscaler (rekogan/upscale)
  ink         inside the project an image is white ink on black: uint8 0..255 or float in
              [-1, 1]; pictures for people (PNG files, the UI) are dark ink on white paper, and
              `to_paper` is the one conversion at that edge

Input is checked once, where it enters (the app's studio, the command line); after that only z
travels. The checks raise ValueError with a message meant for people; callers wrap it in their
own error type (StudioError, the command line's UsageError).

Nothing here imports torch at module level (the app imports this before torch is loaded); the
two ink conversions take tensors and import torch only when called.
"""
from __future__ import annotations

import math
import re

MAX_SEED = 2**31 - 1
EPOCH_RE = re.compile(r"^epoch_(\d+)\.safetensors$")
STATE_RE = re.compile(r"^state_(\d+)\.safetensors$")
WEIGHT_RANGE = (-2.0, 2.0)     # the stroke-weight control: thin .. bold, 0 = the syllable's typical weight
CLASSIFIER_FILE = "checkpoints/classifier/classifier.safetensors"   # the 520-class reader every figure uses
READER_FILE = "checkpoints/reader/reader.safetensors"               # the component reader: any syllable
NATURAL_RANGE = (0.0, 1.0)     # a hand's variation: 0 = a font's identical repeats in fixed cells
NATURAL_DEFAULT = 0.45         # occurrences' SSIM 0.75, readability kept (docs/natural_eval.md)
GLYPH_SIZES = (64, 128, 256)   # pixels per glyph: the generators' own, and the upscaler's two heads
DEFAULT_GLYPH_SIZE = 128       # what the app and the API show unless asked: sharp (the upscaler) at ~2/3 of
                               # 256's server CPU and a third of its PNG; 64 is the cheap one (load test, RESULTS)
_WHOLE = re.compile(r"\s*-?\d+(\.0*)?\s*")


def epoch_file(epoch: int) -> str:
    """12 -> 'epoch_012.safetensors' (the generator file of an epoch)."""
    return f"epoch_{epoch:03d}.safetensors"


def state_file(epoch: int) -> str:
    """12 -> 'state_012.safetensors' (the resume state after an epoch)."""
    return f"state_{epoch:03d}.safetensors"


def grid_file(epoch: int) -> str:
    """12 -> 'grid_012.png' (fixed seeds x classes after an epoch)."""
    return f"grid_{epoch:03d}.png"


def check_seed(seed, *, name: str = "seed") -> int:
    """An int in 0..MAX_SEED (integral floats and digit strings are accepted), or ValueError."""
    value = seed
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        value = float(value)
    whole = (not isinstance(value, bool) and isinstance(value, (int, float))
             and (isinstance(value, int) or (math.isfinite(value) and value == int(value))))
    if not whole:
        raise ValueError(f"The {name} must be a whole number in 0..{MAX_SEED:,}, got {seed!r}.")
    value = int(value)
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"The {name} must be in 0..{MAX_SEED:,} (2^31 - 1), got {value:,}.")
    return value


def _number_in(value, lo: float, hi: float) -> float | None:
    """value as a float when it is a finite number in [lo, hi] (numeric strings accepted), else None."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and lo <= value <= hi):
        return None
    return float(value)


def _checked(value, lo: float, hi: float, message: str) -> float:
    """_number_in(value, lo, hi), or ValueError(message)."""
    number = _number_in(value, lo, hi)
    if number is None:
        raise ValueError(message)
    return number


def check_truncation(psi) -> float:
    """A float in [0, 1] (numeric strings are accepted), or ValueError; nan and inf are refused."""
    return _checked(psi, 0.0, 1.0, f"Truncation psi must be a number in [0, 1], got {psi!r}.")


def check_weight(weight) -> float:
    """A float in WEIGHT_RANGE (numeric strings are accepted), or ValueError; nan and inf are refused."""
    lo, hi = WEIGHT_RANGE
    return _checked(weight, lo, hi, f"The stroke weight must be a number in {lo:g}..{hi:g} (thin .. bold, "
                                    f"0 = typical), got {weight!r}.")


def check_natural(natural) -> float:
    """A float in NATURAL_RANGE (numeric strings are accepted), or ValueError; nan and inf are refused."""
    lo, hi = NATURAL_RANGE
    return _checked(natural, lo, hi, f"Natural must be a number in {lo:g}..{hi:g} (0 = identical repeats, "
                                     f"like a font), got {natural!r}.")


def check_size(size) -> int:
    """One of GLYPH_SIZES (pixels per glyph; integral floats and digit strings accepted), or ValueError."""
    value = size
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        value = float(value)
    if (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and value == int(value) and int(value) in GLYPH_SIZES):
        return int(value)
    raise ValueError(f"The size must be one of {', '.join(map(str, GLYPH_SIZES))} pixels per glyph, got {size!r}.")


def writer_weight(fitted: float | None, requested: float | None) -> float | None:
    """The stroke weight a fitted writer draws with: its own (`fitted`, None when it has none)
    moved by the requested one and clipped to WEIGHT_RANGE; None when neither says anything."""
    if fitted is None and requested is None:
        return None
    lo, hi = WEIGHT_RANGE
    return float(min(max((fitted or 0.0) + (requested or 0.0), lo), hi))


def truncate(z, psi: float):
    """psi-truncation towards the mean latent (0): z' = psi * z, for a tensor or a number."""
    return z * psi


def to_unit(images):
    """uint8 white ink on black (any shape) -> float32 in [-1, 1], white ink on black."""
    return images.float().div(127.5).sub(1)


def to_paper(images):
    """(N, 1, S, S) float in [-1, 1], white on black -> (N, S, S) uint8, dark ink (0) on white paper (255)."""
    import torch
    return ((1 - images.clamp(-1, 1)) * 127.5).round().to(torch.uint8)[:, 0]
