"""The model side of the ReKOGAN app, split by job; app.py is UI only and calls a `Studio`.

  inputs    what a person typed, checked once (StudioError: a message meant to be shown as is)
  registry  the runs under a checkpoints root, their epochs, readability and diversity
  cache     loading a generator (safetensors only) and a small thread-safe LRU of them
  pictures  printed glyphs, captioned cells, strips and GIFs (fonts looked up, never required)
  plots     the Diagnostics curves and confusion table
  sets      the syllable sets a sheet shows (paged), and the run that writes what a panel cannot
  exports   a writer's font and its browser preview, a written line as SVG
  facade    the Studio: write, compare, evolution, sheet, walk, diagnostics, font
  forward   a generator's forward pass rearranged for a CPU (the same pixels within a tolerance)
  batcher   the one thread that draws the pages' glyphs, passes shared by concurrent requests
  memory    the server's allocator settings, trimming, and the sweeper of old answers

torch, matplotlib and the model modules are imported on first use, not with this package, so the
app answers its first page request a few seconds after start; `Studio.warm_up()` pays that cost.
"""
from ..conventions import MAX_SEED, WEIGHT_RANGE
from .cache import GeneratorCache, Loaded, load
from .exports import FONT_SETS, FontBuild
from .facade import SHEET_MAX_CELLS, Confusions, Evolution, Page, SheetPage, Studio, Walk
from .sets import SHEET_PAGE, SHEET_SETS
from .inputs import WALK_MAX_STEPS, WALK_MAX_TEXT, WRAP_CELLS, StudioError
from .registry import HOW_TO_GET_CHECKPOINTS, EpochInfo, Registry, RunInfo, default_root, scan_run

__all__ = ["MAX_SEED", "WEIGHT_RANGE", "FONT_SETS", "FontBuild", "SheetPage", "SHEET_PAGE", "SHEET_SETS", "GeneratorCache", "Loaded", "load", "SHEET_MAX_CELLS", "Confusions", "Evolution", "Page",
           "Studio", "Walk", "WALK_MAX_STEPS", "WALK_MAX_TEXT", "WRAP_CELLS", "StudioError", "HOW_TO_GET_CHECKPOINTS",
           "EpochInfo", "Registry", "RunInfo", "default_root", "scan_run"]
