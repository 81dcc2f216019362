"""The Studio: everything the app does with models, in small keyword-only methods.

  write      text -> tokens -> one batched forward pass -> one page (dark ink on white); characters
             the model cannot write are drawn as grey print (or a hatched box) and listed
  evolution  one syllable across every saved epoch of a run, labelled with epoch + readability
  sheet      the classes of one checkpoint by one writer (seed), at most SHEET_MAX_CELLS at once
  walk       a slerp walk in latent space between two writers: frames, GIF and strip
  plots      loss curves, readability/diversity vs epoch, most-confused classes of a checkpoint

Inputs are checked once, on the way in (inputs.py); from there on only parsed values and z travel.
"""
from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..conventions import truncate
from ..hangul import MAX_TEXT, Token, tokenize
from ..records import read_jsonl
from .pictures import label_cells, save_gif, strip, unknown_glyph
from .plots import confusion_rows, failing_classes, line_plots
from .cache import GeneratorCache, Loaded, inference_mode, load, mtime, torch_module
from .inputs import (WALK_MAX_TEXT, WRAP_CELLS, StudioError, check_seed, check_steps, check_text, check_truncation,
                     one_syllable, unknown_chars, unknown_notice, wrap_tokens)
from .registry import EpochInfo, Registry, RunInfo, evaluations, number

SHEET_MAX_CELLS = 1040        # a sheet draws at most this many classes at once (a jamo run has 11,172)
EVOLUTION_CACHE = 16          # evolution pictures kept (each loads every epoch of a run)


@dataclass(frozen=True)
class Page:
    image: np.ndarray                    # (H, W) uint8, dark ink on white
    unknown: tuple[str, ...]             # distinct characters drawn as grey print, in order of appearance
    info: EpochInfo
    n_classes: int
    seconds: float

    @property
    def notice(self) -> str:
        return unknown_notice(self.unknown, n_classes=self.n_classes)


@dataclass(frozen=True)
class Walk:
    frames: tuple[np.ndarray, ...]
    gif: Path
    strip: np.ndarray
    unknown: tuple[str, ...]
    info: EpochInfo
    n_classes: int
    seeds: tuple[int, int]

    @property
    def notice(self) -> str:
        return unknown_notice(self.unknown, n_classes=self.n_classes)


@dataclass(frozen=True)
class Evolution:
    image: np.ndarray
    run: str
    epochs: tuple[int, ...]
    problems: tuple[str, ...] = ()       # epochs that could not be drawn, with why


@dataclass(frozen=True)
class Confusions:
    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    note: str = ""


class Studio:
    """Everything the app does with models, in small keyword-only methods."""

    def __init__(self, *, root: str | Path | None = None, cache_size: int = 6, tmp_dir: str | Path | None = None):
        self.registry = Registry(root)
        self.cache = GeneratorCache(cache_size)
        self.tmp_dir = Path(tmp_dir) if tmp_dir else Path(tempfile.mkdtemp(prefix="rekogan-studio-"))
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._evolution_cache: OrderedDict[tuple, Evolution] = OrderedDict()
        self._evo_lock = threading.Lock()

    # -- registry views (no torch needed)
    @property
    def root(self) -> Path:
        return self.registry.root

    def run_names(self) -> list[str]:
        return self.registry.names()

    def default_runs(self) -> tuple[str | None, str | None]:
        """(left, right) for a comparison: collapsed and fixed when present, else the first two runs."""
        names = self.run_names()
        if not names:
            return None, None
        left = "collapsed" if "collapsed" in names else names[0]
        right = "fixed" if "fixed" in names else next((n for n in names if n != left), left)
        return left, right

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
        for run in runs or [r for r in self.default_runs() if r]:
            try:
                self.generator(run=run, epoch="best")
            except StudioError:
                pass

    # -- write
    @staticmethod
    def check_inputs(*, text, seed, truncation, max_chars: int = MAX_TEXT) -> tuple[str, int, float]:
        """Validate what every panel shares (text, seed, psi) before any model is touched."""
        return check_text(text, max_chars=max_chars), check_seed(seed), check_truncation(truncation)

    def write(self, *, text, seed, truncation, run, epoch, wrap: int = WRAP_CELLS) -> Page:
        """Text -> one handwritten page by writer `seed` with one checkpoint; StudioError on bad input."""
        text, seed, psi = self.check_inputs(text=text, seed=seed, truncation=truncation)
        return self.page(model=self.generator(run=run, epoch=epoch), text=text, seed=seed, truncation=psi, wrap=wrap)

    def page(self, *, model: Loaded, text: str, seed: int, truncation: float, wrap: int = WRAP_CELLS) -> Page:
        """write() for checked inputs and an already loaded model (also what scripts/bench_app.py times)."""
        from ..sampling import seed_to_z
        t0 = time.perf_counter()
        tokens = wrap_tokens(tokenize(text, model.classes), cells=wrap)
        z = seed_to_z(seed, model.generator.cfg.z_dim, truncation=truncation)
        image = self.render(generator=model.generator, tokens=tokens, z=z)
        return Page(image=image, unknown=unknown_chars(tokens), info=model.info, n_classes=len(model.classes),
                    seconds=time.perf_counter() - t0)

    @inference_mode
    def render(self, *, generator, tokens: list[Token], z) -> np.ndarray:
        """One batched forward pass for all syllables of `tokens`, all by the writer z -> (H, W) uint8 page."""
        from ..sampling import render_tokens
        return render_tokens(generator, tokens, seed=0, z=z, unknown_glyph=unknown_glyph).numpy()

    # -- sheet
    @inference_mode
    def sheet(self, *, run, epoch, seed, truncation, columns: int = 26, start: int = 0) -> np.ndarray:
        """Classes start.. (at most SHEET_MAX_CELLS) of one checkpoint, in class order, by writer `seed`."""
        torch = torch_module()
        from ..sampling import generate, seed_to_z, tile, to_uint8
        seed, psi = check_seed(seed), check_truncation(truncation)
        m = self.generator(run=run, epoch=epoch)
        n = len(m.classes)
        if not (isinstance(start, int) and 0 <= start < n):
            raise StudioError(f"The first class of a sheet must be in 0..{n - 1}, got {start!r}.")
        z = seed_to_z(seed, m.generator.cfg.z_dim, truncation=psi)
        imgs = to_uint8(generate(m.generator, torch.arange(start, min(n, start + SHEET_MAX_CELLS)), z))
        return tile(imgs, columns=min(columns, len(imgs))).numpy()

    # -- evolution
    def evolution(self, *, run, syllable, seed, truncation, columns: int = 10) -> Evolution:
        """One syllable drawn by every saved epoch of a run (same writer), captioned with epoch and readability."""
        seed, psi = check_seed(seed), check_truncation(truncation)
        info = self.registry.run(run)
        ch = one_syllable(syllable)
        key = (info.name, tuple((e.epoch, str(e.path), mtime(e.path), e.readability) for e in info.epochs), ch, seed, psi)
        with self._evo_lock:
            if key in self._evolution_cache:
                self._evolution_cache.move_to_end(key)
                return self._evolution_cache[key]
        result = self._evolution(info=info, ch=ch, seed=seed, psi=psi, columns=columns)
        with self._evo_lock:
            self._evolution_cache[key] = result
            while len(self._evolution_cache) > EVOLUTION_CACHE:
                self._evolution_cache.popitem(last=False)
        return result

    @inference_mode
    def _evolution(self, *, info: RunInfo, ch: str, seed: int, psi: float, columns: int) -> Evolution:
        from ..sampling import hatched, sample
        cells, labels, problems = [], [], []
        for e in info.epochs:
            try:
                m = self.cache.peek(e) or load(e)       # not cache.get: keep the app's working set
            except StudioError as err:
                problems.append(f"epoch {e.epoch}: {err}")
                cells.append(None)
                labels.append([f"epoch {e.epoch}", "unreadable file"])
                continue
            if ch not in m.classes:
                raise StudioError(f"'{ch}' is not one of the {len(m.classes)} classes of run '{info.name}'. "
                                  "· 이 모델이 배우지 않은 글자입니다.")
            cells.append(sample(m.generator, [m.classes.index(ch)], seed=seed, truncation=psi)[0].numpy())
            labels.append([f"epoch {e.epoch}", f"{e.readability:.1%}" if e.readability is not None else "—"])
        size = next((c.shape[0] for c in cells if c is not None), None)
        if size is None:
            raise StudioError(f"No checkpoint of run '{info.name}' could be loaded: " + "; ".join(problems))
        cells = [c if c is not None else hatched(size).numpy() for c in cells]
        return Evolution(image=label_cells(cells, labels, columns=columns), run=info.name,
                         epochs=tuple(e.epoch for e in info.epochs), problems=tuple(problems))

    # -- walk
    @inference_mode
    def walk(self, *, text, seed_a, seed_b, steps, truncation, run, epoch, duration_ms: int = 120) -> Walk:
        """Slerp between writers seed_a and seed_b in `steps` frames (ends included): GIF + strip."""
        from ..sampling import seed_to_z, slerp
        text = check_text(text, max_chars=WALK_MAX_TEXT)
        a, b = check_seed(seed_a, name="first seed"), check_seed(seed_b, name="second seed")
        steps, psi = check_steps(steps), check_truncation(truncation)
        m = self.generator(run=run, epoch=epoch)
        tokens = wrap_tokens(tokenize(text, m.classes))
        zd = m.generator.cfg.z_dim
        za, zb = seed_to_z(a, zd), seed_to_z(b, zd)       # slerp untruncated latents, then truncate
        frames = tuple(self.render(generator=m.generator, tokens=tokens, z=truncate(slerp(za, zb, i / (steps - 1)), psi))
                       for i in range(steps))
        self._prune_tmp()
        gif = save_gif(frames, self.tmp_dir / f"walk_{uuid.uuid4().hex[:12]}.gif", duration_ms=duration_ms)
        return Walk(frames=frames, gif=gif, strip=strip(frames), unknown=unknown_chars(tokens), info=m.info,
                    n_classes=len(m.classes), seeds=(a, b))

    def _prune_tmp(self, *, keep: int = 64):
        files = sorted(self.tmp_dir.glob("walk_*.gif"), key=mtime)
        for p in files[:-keep]:
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
