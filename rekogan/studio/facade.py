"""The Studio: everything the app does with models, in small keyword-only methods.

  write      text -> tokens -> glyphs (batcher.py: passes shared with concurrent requests, through
             forward.plan) -> one page (dark ink on white), and png() its file for the app; characters
             the model cannot write are drawn as grey print (or a hatched box) and listed, with the
             run that can write them; a stroke weight for runs that have the control (ignored, with a
             note, by runs that do not); `size` px per glyph (crisp.enlarge) and `natural` variation
             (rekogan/variation.py, rekogan/layout.py); write_svg: the same line as SVG (writing.py)
  evolution  one syllable across every saved epoch of a run, labelled with epoch + readability
  sheet      the classes of one checkpoint by one writer (seed), at most SHEET_MAX_CELLS at once;
             sheet_page: a chosen set (sets.py: classes, SERI95, KS X 1001, held out), paged
             (evolution, sheet and walk at `size` px per glyph: views.py)
  font       one writer of a checkpoint as an installable font, and its browser preview (exports.py)
  walk       a slerp walk in latent space between two writers: frames (lines as write draws them,
             `natural` and `size`), GIF and strip
  plots      loss curves, readability/diversity vs epoch, most-confused classes of a checkpoint

Inputs are checked once, on the way in (inputs.py); from there on only parsed values and z travel.
"""
from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..conventions import DEFAULT_GLYPH_SIZE, NATURAL_DEFAULT, WEIGHT_RANGE
from ..hangul import MAX_TEXT, Token
from ..records import read_jsonl
from .batcher import Batcher, draw
from .pictures import save_png
from .plots import confusion_rows, failing_classes, line_plots
from .cache import GeneratorCache, Loaded, inference_mode, mtime, torch_module
from .inputs import (WALK_MAX_TEXT, WRAP_CELLS, StudioError, check_natural, check_page, check_seed, check_size,
                     check_steps, check_text, check_truncation, check_weight, one_syllable)
from .registry import EpochInfo, Registry, RunInfo, evaluations, number
from . import exports, hand, sets, views, writing
from .sets import SheetPage
from .results import Confusions, Evolution, Page, Walk

CACHE_BYTES = 256 * 2**20    # loaded generators kept, in bytes of their tensors (a shipped one is ~8 MB)
RENDER_BATCH = 32             # glyphs per forward pass (the batcher's too): bounds a pass's activations below the
                              # app's 8 MiB mmap threshold (memory.py), so they are reused from the heap; 64 saved
                              # no measurable CPU (issue 22)
SHEET_MAX_CELLS = 1040        # a sheet draws at most this many classes at once (a jamo run has 11,172)
SVG_MAX_TEXT = 1000           # characters in an SVG line (every syllable is traced)
EVOLUTION_CACHE = 16          # evolution pictures kept (each loads every epoch of a run)
PAGES_KEPT = 4096             # written pages' PNGs kept in png_dir (~27 KB each), besides the TTL


class Studio:
    """Everything the app does with models, in small keyword-only methods."""

    def __init__(self, *, root: str | Path | None = None, cache_size: int = 6, tmp_dir: str | Path | None = None,
                 cache_bytes: int = CACHE_BYTES, output_ttl: float | None = None, png_dir: str | Path | None = None,
                 batcher: Batcher | None | bool = True):
        """png_dir: where png() writes pages (the app: a folder in Gradio's cache, so Gradio serves the
        file as it is, without re-encoding, hashing or copying it; default tmp_dir/pages).
        batcher: True (a Batcher of RENDER_BATCH glyphs), a Batcher, or None/False: each write draws
        its glyphs in its own thread (the forward plan still applies)."""
        self.registry = Registry(root)
        self.cache = GeneratorCache(cache_size, max_bytes=cache_bytes)
        self.output_ttl = output_ttl          # seconds a walk GIF is kept (None: only the newest 64 are kept)
        self.tmp_dir = Path(tmp_dir) if tmp_dir else Path(tempfile.mkdtemp(prefix="rekogan-studio-"))
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.png_dir = Path(png_dir) if png_dir else self.tmp_dir / "pages"
        self.batcher = Batcher(max_glyphs=RENDER_BATCH) if batcher is True else (batcher or None)
        self._evolution_cache: OrderedDict[tuple, Evolution] = OrderedDict()
        self._evo_lock = threading.Lock()

    # -- registry views (no torch needed)
    @property
    def root(self) -> Path:
        return self.registry.root

    def run_names(self) -> list[str]:
        return self.registry.names()

    def default_runs(self) -> tuple[str | None, str | None]:
        return sets.default_runs(self.registry)      # Write's (left, right): collapsed, the run that writes any

    def hand_run(self) -> str | None:
        return sets.hand_run(self.registry)          # My hand's: the best hand run (style encoder), else Write's right

    def story_runs(self) -> tuple[str | None, str | None]:
        return sets.story_runs(self.registry)        # the collapse story's pair: collapsed, fixed

    def epoch_choices(self, *, run) -> list[tuple[str, int]]:
        """[(label, epoch)] for a dropdown, e.g. ('epoch 12 · 96.1% readable', 12)."""
        return [(e.label, e.epoch) for e in self.registry.run(run).epochs]

    def default_epoch(self, *, run) -> int:
        return self.registry.run(run).best.epoch

    def epoch_info(self, *, run, epoch) -> EpochInfo:
        return self.registry.epoch(run, epoch)

    # -- models
    def generator(self, *, run, epoch) -> Loaded:
        return self.cache.get(self.registry.epoch(run, epoch))

    def warm_up(self, *, runs=None) -> None:
        """Import torch and load the default checkpoint of the given runs (default: the default pair)."""
        torch_module()
        from .. import sampling  # noqa: F401
        from .forward import plan
        for run in runs or [r for r in self.default_runs() if r]:
            try:
                plan(self.generator(run=run, epoch="best").generator)     # and its forward plan
            except StudioError:
                pass

    # -- write
    check_weight = staticmethod(check_weight)      # the stroke weight, checked once (None is 0)
    check_size = staticmethod(check_size)          # px per glyph, 64/128/256 (None: DEFAULT_GLYPH_SIZE)
    check_natural = staticmethod(check_natural)    # 0..1 (None: NATURAL_DEFAULT)

    @staticmethod
    def check_inputs(*, text, seed, truncation, max_chars: int = MAX_TEXT) -> tuple[str, int, float]:
        """Validate what every panel shares (text, seed, psi) before any model is touched."""
        return check_text(text, max_chars=max_chars), check_seed(seed), check_truncation(truncation)

    check_writer = staticmethod(hand.check_writer)  # a pasted writer code, checked once (None: no code)

    def write(self, *, text, seed, truncation, run, epoch, weight=None, wrap: int = WRAP_CELLS, writer=None,
              natural=None, size=None) -> Page:
        """Text -> one handwritten page by writer `seed` with one checkpoint; StudioError on bad input.
        weight: the stroke weight in WEIGHT_RANGE (None = 0); a run without the control ignores it.
        natural: 0..1 (None: NATURAL_DEFAULT); size: px per glyph, 64/128/256 (None: DEFAULT_GLYPH_SIZE)."""
        text, seed, psi = self.check_inputs(text=text, seed=seed, truncation=truncation)
        w, nat, px = check_weight(weight), check_natural(natural), check_size(size)
        code = hand.check_writer(writer)
        return self.page(model=self.generator(run=run, epoch=epoch), text=text, seed=seed, truncation=psi, wrap=wrap,
                         weight=w, writer=code, natural=nat, size=px)

    def page(self, *, model: Loaded, text: str, seed: int, truncation: float, wrap: int = WRAP_CELLS,
             weight: float = 0.0, writer: str | None = None, natural: float = NATURAL_DEFAULT,
             size: int = DEFAULT_GLYPH_SIZE) -> Page:
        """write() for checked inputs and an already loaded model (also what scripts/bench_app.py times).
        writer: a checked writer code (check_writer), drawn instead of writer `seed` (writing.page)."""
        return writing.page(self, model=model, text=text, seed=seed, truncation=truncation, wrap=wrap, weight=weight,
                            writer=writer, natural=natural, size=size)

    @staticmethod
    def stroke_weight(*, model: Loaded, weight: float) -> tuple[float | None, str]:
        """(what to pass as sampling's weight=, a note): a run without the control gets None, and a note
        when the user asked for a weight other than 0."""
        if getattr(model.generator.cfg, "weight_cond", False):
            return float(weight), ""
        if weight == 0:
            return None, ""
        return None, (f"Run '{model.info.run}' has no stroke-weight control: the weight {weight:+g} is ignored "
                      f"(the control ranges {WEIGHT_RANGE[0]:g}..{WEIGHT_RANGE[1]:g} on runs trained with it). "
                      "· 이 모델은 획 굵기를 조절하지 않습니다.")

    @inference_mode
    def render(self, *, generator, tokens: list[Token], z, weight=None, natural: float = 0.0,
               size: int | None = None) -> np.ndarray:
        """All syllables of `tokens` by the writer z -> (H, W) uint8 page, `size` px per glyph (None: the
        generator's), varied by `natural`: glyphs from the batcher, laid out as writing.render says."""
        return writing.render(self, generator=generator, tokens=tokens, z=z, weight=weight, natural=natural, size=size)

    def glyphs(self, *, generator, labels, z, weight=None, natural: float = 0.0, size: int | None = None):
        """Class indices `labels` by the writer z (Z,) -> (N, size, size) uint8, dark on white: the
        batcher's passes (shared with concurrent requests), or the same passes in this thread."""
        if self.batcher is not None:
            return self.batcher.glyphs(generator=generator, labels=labels, z=z, weight=weight, natural=natural,
                                       size=size)
        return draw(generator=generator, labels=labels, z=z, weight=weight, natural=natural, size=size,
                    max_glyphs=RENDER_BATCH)

    def png(self, image: np.ndarray) -> str:
        """A page as a PNG file in png_dir (its path, as text: what a gr.Image output takes)."""
        return str(save_png(image, self.png_dir / f"page_{uuid.uuid4().hex}.png"))

    def write_svg(self, *, text, seed, truncation, run, epoch, weight=None, wrap: int = WRAP_CELLS,
                  writer=None, natural=None, size=None) -> Path:
        """The Write tab's line as an SVG file: the page's glyphs traced from 256 px, its layout."""
        text, seed, psi = self.check_inputs(text=text, seed=seed, truncation=truncation, max_chars=SVG_MAX_TEXT)
        w, nat, px = check_weight(weight), check_natural(natural), check_size(size)
        code = hand.check_writer(writer)
        return writing.line_svg(self, model=self.generator(run=run, epoch=epoch), text=text, seed=seed, truncation=psi,
                                wrap=wrap, weight=w, writer=code, natural=nat, size=px)

    # -- my hand
    def imitate(self, *, text, drawing=None, uploads=None, run, epoch, config=None, size=None) -> "hand.HandFit":
        """Fit a writer of one checkpoint to a canvas drawing or uploaded pictures of `text` (hand.fit);
        the pair view `size` px per glyph (default DEFAULT_GLYPH_SIZE)."""
        size = check_size(size)
        m = self.generator(run=run, epoch=epoch)
        return hand.fit(model=m, text=text, drawing=drawing, uploads=uploads, folder=self.tmp_dir / "writers",
                        suggest=lambda missing: sets.suggest_run(self.registry, current=m.info.run, missing=missing),
                        config=config, ttl=self.output_ttl, size=size)

    # -- font
    def font(self, *, run, epoch, seed, truncation, weight=None, syllables="seri95", text="", progress=None,
             writer=None, size=None, alternates=1, natural=None):
        """Build one writer of a checkpoint as a .ttf (exports.FontBuild); progress(done, total).
        writer: a writer code from the My hand tab, drawn instead of writer `seed` (as in write);
        size: px per glyph traced (default 256); alternates: glyphs a syllable (1-4) at `natural`."""
        seed, psi, w = check_seed(seed), check_truncation(truncation), check_weight(weight)
        code = hand.check_writer(writer)
        info = self.registry.epoch(run, epoch)
        m = self.generator(run=run, epoch=info.epoch)
        # the pen settles the weight (a writer's own, moved by the slider) and checks the code fits the run
        p = hand.pen(m, seed=seed, truncation=psi, weight=w, writer=code, stroke_weight=self.stroke_weight)
        if code is not None:                       # build_font moves the writer's own weight by the slider's
            weight_in = w if getattr(m.generator.cfg, "weight_cond", False) else None
        else:
            weight_in = p.weight
        return exports.build(info=info, seed=seed, truncation=psi, weight=weight_in, syllables=syllables, text=text,
                             folder=self.tmp_dir / "fonts", progress=progress, notes=p.notes, ttl=self.output_ttl,
                             writer=code, size=size, alternates=alternates, natural=natural)

    @staticmethod
    def font_preview(*, path, family, text) -> str:
        """HTML showing `text` in the built font, drawn by the browser (an @font-face of the font's bytes)."""
        return exports.preview_html(path=path, family=family, text=text)

    # -- sheet (views.py: the Sheet, Evolution and Walk views at a size)
    @inference_mode
    def sheet(self, *, run, epoch, seed, truncation, columns: int = 26, start: int = 0, size=None) -> np.ndarray:
        """Classes start.. (at most SHEET_MAX_CELLS) of one checkpoint, in class order, by writer `seed`;
        size: px per glyph, 64/128/256 (None: DEFAULT_GLYPH_SIZE; views.SHEET_MAX_PIXELS bounds it)."""
        seed, psi, px = check_seed(seed), check_truncation(truncation), check_size(size)
        return views.sheet(self, model=self.generator(run=run, epoch=epoch), seed=seed, psi=psi, columns=columns,
                           start=start, size=px, max_cells=SHEET_MAX_CELLS)

    @inference_mode
    def sheet_page(self, *, run, epoch, seed, truncation, syllables="classes", page=1, weight=None,
                   columns: int = 26, size=None) -> SheetPage:
        """One page of a syllable set (sets.SHEET_SETS) by writer `seed`, `size` px per glyph; syllables the
        run cannot write are grey print. A set of up to sets.SHEET_WHOLE is one page (a 520-class run's)."""
        seed, psi, w, page = check_seed(seed), check_truncation(truncation), check_weight(weight), check_page(page)
        px = check_size(size)
        return views.sheet_page(self, model=self.generator(run=run, epoch=epoch), seed=seed, psi=psi, weight=w,
                                syllables=syllables, page=page, columns=columns, size=px)

    # -- evolution
    def evolution(self, *, run, syllable, seed, truncation, weight=None, columns: int = 10, size=None) -> Evolution:
        """One syllable drawn by every saved epoch of a run (same writer), captioned with epoch and readability."""
        seed, psi, w, px = check_seed(seed), check_truncation(truncation), check_weight(weight), check_size(size)
        info = self.registry.run(run)
        ch = one_syllable(syllable)
        key = (info.name, tuple((e.epoch, str(e.path), mtime(e.path), e.readability) for e in info.epochs), ch, seed, psi,
               w, px)
        with self._evo_lock:
            if key in self._evolution_cache:
                self._evolution_cache.move_to_end(key)
                return self._evolution_cache[key]
        result = self._evolution(info=info, ch=ch, seed=seed, psi=psi, weight=w, columns=columns, size=px)
        with self._evo_lock:
            self._evolution_cache[key] = result
            while len(self._evolution_cache) > EVOLUTION_CACHE:
                self._evolution_cache.popitem(last=False)
        return result

    @inference_mode
    def _evolution(self, *, info: RunInfo, ch: str, seed: int, psi: float, weight: float, columns: int,
                   size: int = 64) -> Evolution:
        return views.evolution(self, info=info, ch=ch, seed=seed, psi=psi, weight=weight, columns=columns, size=size)

    # -- walk
    @inference_mode
    def walk(self, *, text, seed_a, seed_b, steps, truncation, run, epoch, weight=None, duration_ms: int = 120,
             natural=None, size=None) -> Walk:
        """Slerp between writers seed_a and seed_b in `steps` frames (ends included): GIF + strip. Each frame
        is a line as Write draws it: natural 0..1 (None: NATURAL_DEFAULT), size px per glyph (None: default)."""
        text = check_text(text, max_chars=WALK_MAX_TEXT)
        a, b = check_seed(seed_a, name="first seed"), check_seed(seed_b, name="second seed")
        steps, psi, w = check_steps(steps), check_truncation(truncation), check_weight(weight)
        nat, px = check_natural(natural), check_size(size)
        return views.walk(self, model=self.generator(run=run, epoch=epoch), text=text, a=a, b=b, steps=steps, psi=psi,
                          weight=w, natural=nat, size=px, duration_ms=duration_ms)

    def prune_outputs(self, *, keep: int = 64):
        """Keep the newest `keep` walk GIFs and PAGES_KEPT pages, none older than output_ttl s (the app
        also calls this on a timer)."""
        exports.prune(self.png_dir, "page_*.png", keep=PAGES_KEPT, ttl=self.output_ttl)
        files = sorted(self.tmp_dir.glob("walk_*.gif"), key=mtime)
        old = files[:-keep]
        if self.output_ttl is not None:
            cutoff = time.time_ns() - int(self.output_ttl * 1e9)
            old += [p for p in files[-keep:] if mtime(p) < cutoff]
        for p in old:
            p.unlink(missing_ok=True)

    # -- diagnostics
    def loss_plot(self, *, runs) -> np.ndarray:
        """D and G losses (and D's reading of G's samples when logged) vs epoch, a line per run."""
        series = {r: [x for x in read_jsonl(self.registry.run(r).path / "metrics.jsonl") if "loss_d" in x]
                  for r in dict.fromkeys(runs)}
        panels = [("loss_d", "D loss"), ("loss_g", "G loss")]
        if any("aux_acc_fake" in x for rows in series.values() for x in rows):
            panels.append(("aux_acc_fake", "D reads G's samples as the asked class"))
        return line_plots(series, panels, title="Training losses · 학습 손실 (epoch means)")

    def quality_plot(self, *, runs) -> np.ndarray:
        """Readability and diversity vs epoch (evaluation.jsonl), a line per run."""
        series = {r: list(evaluations(self.registry.run(r).path).values()) for r in dict.fromkeys(runs)}
        return line_plots(series, [("readability", "readability (classifier top-1)"), ("diversity", "diversity")],
                                title="Readability & diversity · 가독성과 다양성", percent=("readability",))

    def confusions(self, *, run, epoch, top: int = 15) -> Confusions:
        """The checkpoint's most confused classes (asked -> read as) from its evaluation record."""
        info = self.registry.epoch(run, epoch)
        rec = evaluations(self.registry.run(run).path).get(info.epoch)
        header = ("asked · 요청", "read as · 인식", "share · 비율")
        if rec is None:
            return Confusions(header=header, rows=(), note=f"Epoch {info.epoch} of '{info.run}' has no evaluation "
                              "record yet (evaluation.jsonl). · 평가 기록이 없습니다.")
        rows = confusion_rows(rec)[:top]
        failing = failing_classes(rec)
        parts = [f"**{info.run}, {info.label}**"]
        if number(rec.get("diversity")) is not None:
            parts.append(f"diversity {rec['diversity']:.3f}")
        if failing is not None:
            parts.append(f"{len(failing)} failing classes" + (": " + " ".join(map(str, failing[:40])) if failing else ""))
        if not rows:
            parts.append("no confusions recorded")
        return Confusions(header=header, rows=tuple(rows), note=" · ".join(parts))
