"""build_font: checkpoint + writer + syllable set -> an installable font file (the one call the app needs).

Glyphs are generated in batches by the checkpoint's generator, enlarged to `size` px (64, 128 or
256, default FONT_SIZE) by the glyph upscaler (rekogan.studio.crisp.enlarge, the one way any view
enlarges glyphs), and traced (vtracer) and converted to glyf/CFF glyphs in a process pool, so
generation of the next batch overlaps tracing of the last. With `alternates` N > 1 every syllable
gets N glyphs, occurrences 0..N-1 of rekogan.variation at `natural`, which typed text cycles
through (alternates.py). Requested syllables that the run cannot write (not in its class list)
are reported and left out; the font is built from the rest. The file is written to a temporary
name beside the target and renamed, so a reader never sees half a font.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import torch

from ..checkpoints import CheckpointError, load_generator
from ..conventions import NATURAL_DEFAULT, check_natural, check_size, writer_weight
from ..records import atomic_path
from ..sampling import generate, seed_to_z, to_uint8
from ..variation import variants
from .alternates import check_alternates
from .font import assemble, trace_glyphs
from .provenance import Writer, font_names, read_data_json
from .syllables import ExportError, check_out_path, syllable_set

BATCH = 256         # glyphs per generator forward pass
FONT_SIZE = 256     # pixels per glyph traced: the upscaler's sharpest (issue 23; docs/RESULTS.md)
TASK = 64           # glyphs per tracing task sent to a worker
PARALLEL_MIN = 200  # below this many glyphs a pool costs more than it saves


@dataclass
class FontReport:
    path: Path
    family: str
    requested: int
    written: tuple[str, ...]
    missing: tuple[str, ...]        # requested, but not in the run's classes: left out
    ignored: tuple[str, ...] = ()   # characters of a text that are not Hangul syllables
    size_bytes: int = 0
    seconds: dict = field(default_factory=dict)
    alternates: int = 1             # glyphs per syllable
    notes: tuple[str, ...] = ()     # e.g. the upscaler could not be loaded

    def lines(self) -> list[str]:
        alts = f" x {self.alternates} alternates" if self.alternates > 1 else ""
        out = [f"wrote {self.path} ({self.size_bytes / 1e6:.2f} MB): {len(self.written)} syllables{alts}, "
               f"family {self.family!r}"]
        if self.missing:
            shown = "".join(self.missing[:40]) + ("..." if len(self.missing) > 40 else "")
            out.append(f"note: this run cannot write {len(self.missing)} of the {self.requested} requested "
                       f"syllables, left out: {shown}")
        if self.ignored:
            out.append(f"note: ignored {len(self.ignored)} characters that are not Hangul syllables: "
                       + "".join(self.ignored[:40]))
        out += [f"note: {n}" for n in self.notes]
        return out


def _check_weight(weight, generator):
    if weight is None:
        return None
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise ExportError(f"the stroke weight must be a finite number, got {weight!r}")
    if not getattr(generator.cfg, "weight_cond", False):
        raise ExportError("this run has no stroke-weight control (it was trained without a weight condition); "
                          "leave the weight out")
    return float(weight)


@dataclass(frozen=True)
class Drawing:
    """How build_font draws its glyphs: pixels per glyph, glyphs per syllable, the hand's variation."""

    size: int = FONT_SIZE
    alternates: int = 1
    natural: float = 0.0


def check_drawing(*, size, alternates, natural) -> Drawing:
    """size (None: FONT_SIZE), alternates (1..4), natural (None: NATURAL_DEFAULT with alternates,
    else 0) -> a Drawing; ExportError with one line for bad input."""
    try:
        size = FONT_SIZE if size is None else check_size(size)
        alternates = check_alternates(alternates)
        natural = (NATURAL_DEFAULT if alternates > 1 else 0.0) if natural is None else check_natural(natural)
    except ValueError as e:
        raise ExportError(str(e)) from None
    if alternates > 1 and natural == 0:
        raise ExportError("alternates need a hand that varies: natural 0 draws every alternate the same; "
                          "give natural > 0 (or leave it out)")
    return Drawing(size=size, alternates=alternates, natural=natural)


def _bitmap_chunks(generator, labels: torch.Tensor, z: torch.Tensor, weight, drawing: Drawing = Drawing(size=64),
                   notes: list | None = None):
    """Draw the glyphs (alternates of a syllable one after another) a batch at a time, enlarged to
    drawing.size (default: the 64 px glyphs as drawn); yield them as (TASK, size, size) uint8 numpy
    stacks, dark on white. Notes of the enlargement (the upscaler missing) are appended to `notes`."""
    from ..studio.crisp import enlarge      # torch-side only: the tracing workers never import it
    n = drawing.alternates
    step = max(1, BATCH // n)
    for i in range(0, len(labels), step):
        part = labels[i:i + step]
        if n == 1 and drawing.natural == 0:  # the writer as drawn: sampling.generate's pixels
            images = to_uint8(generate(generator, part, z, weight=weight)).numpy()
        else:
            images = variants(generator, part, z, n=n, natural=drawing.natural, weight=weight).numpy()
            images = images.reshape(-1, *images.shape[-2:])
        if images.shape[-1] != drawing.size:
            images, note = enlarge(images, size=drawing.size)
            if note and notes is not None and note not in notes:
                notes.append(note)
        for j in range(0, len(images), TASK):
            yield images[j:j + TASK]


def _fitted(writer, generator):
    """A fitted writer (code, writer.json or Writer) -> (generator drawing it, z, its weight, code)."""
    from ..writer.errors import WriterError
    from ..writer.value import load_writer, writer_latent
    try:
        w = load_writer(writer)
        wl = writer_latent(w, generator=generator)
    except WriterError as e:
        raise ExportError(f"writer: {e}") from None
    return wl.generator, wl.z, wl.weight, w.code


def build_font(*, checkpoint, seed: int | None = None, truncation: float = 1.0, writer=None,
               weight: float | None = None, syllables: str, out,
               progress: Callable[[int, int], None] | None = None, processes: int | None = None,
               device: str = "cpu", size: int | None = None, alternates: int = 1,
               natural: float | None = None) -> FontReport:
    """Write the font of one writer of a checkpoint: a seed and psi, or `writer`, a fitted writer
    (its code, a writer.json path or a Writer from `imitate`); with one, weight moves the writer's
    own (conventions.writer_weight). syllables: 'seri95', 'ksx1001', 'all' or a text; out: NAME.ttf (TrueType) or NAME.otf
    (CFF); size: pixels per glyph traced (64, 128, 256; default FONT_SIZE); alternates: glyphs per
    syllable (1..4) at `natural` (check_drawing); progress(done, total) in glyphs after each batch.
    Raises ExportError (a ValueError) with a one-line message for bad input."""
    t0 = time.perf_counter()
    drawing = check_drawing(size=size, alternates=alternates, natural=natural)
    if seed is not None and writer is not None:
        raise ExportError("give one writer: a seed (with psi) or a fitted writer, not both")
    if seed is None and writer is None:
        raise ExportError("give the writer: a seed (with psi) or a fitted writer")
    path, cff = check_out_path(out)
    wanted = syllable_set(syllables)
    checkpoint = Path(checkpoint)
    try:
        generator, meta = load_generator(checkpoint, device=device)
        z = None if writer is not None else seed_to_z(seed, generator.cfg.z_dim, truncation=truncation)
    except (CheckpointError, ValueError) as e:
        raise ExportError(str(e)) from None
    weight = _check_weight(weight, generator)
    code = None
    if writer is not None:
        generator, z, own_weight, code = _fitted(writer, generator)
        if getattr(generator.cfg, "weight_cond", False):    # `weight` moves the writer's own weight
            weight = writer_weight(own_weight, weight)
    classes = meta["class_list"]
    written = tuple(s for s in wanted.syllables if s in classes)
    missing = tuple(s for s in wanted.syllables if s not in classes)
    if not written:
        raise ExportError(f"this run ({len(classes)} classes) can write none of the {len(wanted.syllables)} "
                          f"requested syllables (first: {''.join(missing[:10])})")
    labels = torch.tensor([classes.index(s) for s in written], dtype=torch.int64)
    t1 = time.perf_counter()

    glyphs, notes = [], []
    total = len(written) * drawing.alternates
    report = progress or (lambda done, total: None)
    report(0, total)
    chunks = _bitmap_chunks(generator, labels, z, weight, drawing, notes)
    work = partial(trace_glyphs, cff=cff)
    procs = processes if processes is not None else min(os.cpu_count() or 1, 8)
    if procs > 1 and total >= PARALLEL_MIN:
        # fork: the workers need only numpy, vtracer and fontTools, start at once, and do not
        # re-import the caller's __main__ (spawn would rebuild app.py's UI in every worker)
        with mp.get_context("fork").Pool(procs) as pool:
            for part in pool.imap(work, chunks):  # imap keeps the order; the chunks are generated lazily
                glyphs.extend(part)
                report(len(glyphs), total)
    else:
        for chunk in chunks:
            glyphs.extend(work(chunk))
            report(len(glyphs), total)
    t2 = time.perf_counter()

    hand = Writer(seed=seed, truncation=float(truncation), weight=weight, fitted=code, alternates=drawing.alternates,
                  natural=drawing.natural)
    names = font_names(checkpoint=checkpoint, meta=meta, writer=hand, data=read_data_json(checkpoint))
    n = drawing.alternates
    font = assemble(dict(zip(written, glyphs[::n])), names=names, cff=cff,
                    alternates={s: glyphs[i * n + 1:(i + 1) * n] for i, s in enumerate(written)} if n > 1 else None)
    t3 = time.perf_counter()
    with atomic_path(path) as tmp:   # a failed write keeps any old font and leaves no temporary behind
        font.save(str(tmp))
    t4 = time.perf_counter()
    return FontReport(path=path, family=names.family, requested=len(wanted.syllables), written=written,
                      missing=missing, ignored=wanted.ignored, size_bytes=path.stat().st_size,
                      seconds={"load": t1 - t0, "generate_trace": t2 - t1, "assemble": t3 - t2,
                               "save": t4 - t3, "total": t4 - t0}, alternates=n, notes=tuple(notes))
