"""The Sheet, Evolution and Walk views at a size: glyphs drawn at the model's 64 px, then enlarged.

  sheet       classes start.. of one checkpoint by one writer, tiled (Studio.sheet)
  sheet_page  one page of a syllable set (sets.py), grey print for what the run cannot write
  evolution   one syllable by every saved epoch of a run, captioned (pictures.label_cells)
  walk        a slerp walk between two writers: each frame is a line as Write draws it (`natural`
              variation and layout, `size` px per glyph; one variation for the whole walk, so only the
              writer moves), frames padded to one size, a GIF and a strip

Every glyph is enlarged by crisp.enlarge, the one upscaler path (its note, when the upscaler is
missing, is shown beside the picture); at size 64 a 64 px run's pictures are today's, pixel for
pixel. A sheet draws in this thread (generate, then enlarge), not through the batcher: hundreds of
glyphs would hold up the short lines other requests wait for.

Big pictures are bounded, as a written page is (writing.MAX_PAGE_PIXELS): a sheet or a walk whose
glyphs would exceed its pixel budget is drawn at the largest size that fits, with a note.
"""
from __future__ import annotations

import uuid

import numpy as np

from ..conventions import truncate
from ..hangul import tokenize
from ..sampling import tile
from . import crisp, sets
from .cache import load, torch_module
from .inputs import StudioError, unknown_chars, wrap_tokens
from .pictures import label_cells, save_gif, strip, unknown_glyph
from .results import Evolution, Walk

SHEET_MAX_PIXELS = 260 * 256 * 256   # a sheet's glyph pixels (17 MP): the 260-syllable pages of large sets at
                                     # 256 px (+225 MB peak RSS); a whole 520-syllable page at 128 (at 256 it
                                     # would be a 35 MP picture, 6,710 px wide, +750 MB before the batching below)
WALK_MAX_PIXELS = 2**24              # a walk's glyph pixels over all frames: today's largest walk (48 frames
                                     # of 64 characters) at 64 px; 12 frames of 20 syllables at 256 px
SHEET_BATCH = 64                     # glyphs per forward pass of a sheet (256 held 140 MB more activations)
ENLARGE_BATCH = 64                   # glyphs per crisp.enlarge call: the upscaler's float temporaries of a
                                     # whole page at 256 px would be ~70 MB each


def _draw(generator, labels, z, *, weight, size: int):
    """Class indices by the writer z -> ((N, size, size) uint8 dark on white, the upscaler's note)."""
    torch = torch_module()
    from ..sampling import generate, to_uint8
    drawn = to_uint8(generate(generator, torch.as_tensor(labels, dtype=torch.int64), z, weight=weight,
                              batch=SHEET_BATCH))
    if drawn.shape[-1] == size:
        return drawn, ""
    out = torch.empty((len(drawn), size, size), dtype=torch.uint8)
    note = ""
    for i in range(0, len(drawn), ENLARGE_BATCH):
        out[i:i + ENLARGE_BATCH], note = crisp.enlarge(drawn[i:i + ENLARGE_BATCH], size=size)
    return out, note


def sheet(studio, *, model, seed: int, psi: float, columns: int, start: int, size: int, max_cells: int) -> np.ndarray:
    """Studio.sheet for checked inputs: classes start.. (at most max_cells), `size` px each."""
    from ..sampling import seed_to_z
    n = len(model.classes)
    if not (isinstance(start, int) and 0 <= start < n):
        raise StudioError(f"The first class of a sheet must be in 0..{n - 1}, got {start!r}.")
    labels = list(range(start, min(n, start + max_cells)))
    size, _ = crisp.fit_size(len(labels), size, budget=max(SHEET_MAX_PIXELS, max_cells * 64 * 64), what="This sheet")
    z = seed_to_z(seed, model.generator.cfg.z_dim, truncation=psi)
    imgs, _ = _draw(model.generator, labels, z, weight=None, size=size)
    return tile(imgs.numpy(), columns=columns)


def sheet_page(studio, *, model, seed: int, psi: float, weight: float, syllables, page: int, columns: int,
               size: int) -> sets.SheetPage:
    """Studio.sheet_page for checked inputs: one page of a set, `size` px per glyph (fit to the budget)."""
    from ..sampling import seed_to_z
    label, wanted = sets.sheet_set(syllables, studio.registry.run(model.info.run), model.classes)
    p = sets.page_of(wanted, page)
    w, note = studio.stroke_weight(model=model, weight=weight)
    size, size_note = crisp.fit_size(len(p.syllables), size, budget=SHEET_MAX_PIXELS, what=f"A page of {len(p.syllables)} syllables")
    known = [s for s in p.syllables if s in model.classes]
    z = seed_to_z(seed, model.generator.cfg.z_dim, truncation=psi)
    drawn, up_note = {}, ""
    if known:
        imgs, up_note = _draw(model.generator, [model.classes.index(s) for s in known], z, weight=w, size=size)
        drawn = dict(zip(known, imgs.numpy()))
    cells = [drawn[s] if s in drawn else unknown_glyph(s, size).numpy() for s in p.syllables]
    missing = tuple(s for s in p.syllables if s not in drawn)
    notes = (sets.suggest_run(studio.registry, current=model.info.run, missing=missing), note, size_note, up_note)
    return sets.SheetPage(image=tile(cells, columns=columns), info=model.info,
                          set_label=label, paged=p, missing=missing, notes=tuple(n for n in notes if n))


def evolution(studio, *, info, ch: str, seed: int, psi: float, weight: float, columns: int, size: int) -> Evolution:
    """Studio._evolution: `ch` by every epoch of run `info` (loaded outside the app's cache), `size` px."""
    from ..sampling import hatched, sample
    cells, labels, problems, notes = [], [], [], []
    for e in info.epochs:
        try:
            m = studio.cache.peek(e) or load(e)       # not cache.get: keep the app's working set
        except StudioError as err:
            problems.append(f"epoch {e.epoch}: {err}")
            cells.append(None)
            labels.append([f"epoch {e.epoch}", "unreadable file"])
            continue
        if ch not in m.classes:
            other = sets.suggest_run(studio.registry, current=info.name, missing=[ch]).partition("; ")[2]
            raise StudioError(f"'{ch}' is not one of the {len(m.classes)} classes of run '{info.name}'"
                              + (f"; {other}" if "' run" in other else ". · 이 모델이 배우지 않은 글자입니다."))
        w, note = studio.stroke_weight(model=m, weight=weight)
        if note and note not in notes:
            notes.append(note)
        cells.append(sample(m.generator, [m.classes.index(ch)], seed=seed, truncation=psi, weight=w)[0])
        labels.append([f"epoch {e.epoch}", f"{e.readability:.1%}" if e.readability is not None else "—"])
    drawn = [c for c in cells if c is not None]
    if not drawn:
        raise StudioError(f"No checkpoint of run '{info.name}' could be loaded: " + "; ".join(problems))
    torch = torch_module()
    big, up_note = crisp.enlarge(torch.stack(drawn), size=size)     # one call: the upscaler batches
    it = iter(big.numpy())
    cells = [next(it) if c is not None else hatched(size).numpy() for c in cells]
    notes += [up_note] if up_note else []
    return Evolution(image=label_cells(cells, labels, columns=columns), run=info.name,
                     epochs=tuple(e.epoch for e in info.epochs), problems=tuple(problems), notes=tuple(notes))


def same_size(frames) -> tuple[np.ndarray, ...]:
    """Frames padded with paper (right and bottom) to the largest height and width among them: a
    natural line's width follows its glyphs' ink, so the frames of a walk differ by a few pixels."""
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    return tuple(f if f.shape == (h, w) else np.pad(f, ((0, h - f.shape[0]), (0, w - f.shape[1])), constant_values=255)
                 for f in frames)


def walk_frames(studio, *, generator, tokens, zs, weight, natural: float, size: int) -> list[np.ndarray]:
    """The lines of a walk, one per writer in `zs`. natural 0: Studio.render's lines (today's pixels).
    natural > 0: the line of each writer varied as Write varies it (variation.varied_inputs), but with ONE
    variation for the whole walk: the first writer's per-occurrence latent offsets, weights and warps, and
    its layout seed. Studio.render would draw every frame's own variation (its noise and layout are seeded
    by the frame's writer): neighbouring frames then differed ~5x more than the walk moves (mean |diff| of
    29-34 grey levels against 6 at natural 0, 4 syllables x 12 frames), a flicker that hid the walk."""
    if not natural:
        return [studio.render(generator=generator, tokens=tokens, z=z, weight=weight, natural=0.0, size=size)
                for z in zs]
    torch = torch_module()
    from ..conventions import to_paper
    from ..layout import layout_page
    from ..variation import varied_inputs, warp_glyphs, writer_latents, writer_seed
    from ..writer.latent import layered_forward
    labels = torch.tensor([t.index for t in tokens if t.kind == "syllable"], dtype=torch.int64)
    seed = writer_seed(generator, zs[0])
    v = varied_inputs(generator, labels, zs[0], natural=natural, weight=weight) if len(labels) else None
    offsets = v.latents - writer_latents(generator, zs[0])[1][None] if v is not None else None
    frames = []
    for z in zs:
        glyphs = []
        if v is not None:
            latents = writer_latents(generator, z)[1][None] + offsets
            x = warp_glyphs(layered_forward(v.generator, latents, labels, v.weight).float(), v.offsets)
            glyphs, _ = crisp.enlarge(to_paper(x), size=size)
        frames.append(layout_page(tokens, glyphs, cell=size, natural=natural, seed=seed,
                                  unknown_glyph=unknown_glyph).numpy())
    return frames


def walk(studio, *, model, text: str, a: int, b: int, steps: int, psi: float, weight: float, natural: float,
         size: int, duration_ms: int) -> Walk:
    """Studio.walk for checked inputs: frames from writer a to writer b (slerp of the untruncated
    latents, then truncated), each a line drawn by Studio.render."""
    from ..sampling import seed_to_z, slerp
    from .writing import upscaler_note
    w, weight_note = studio.stroke_weight(model=model, weight=weight)
    tokens = wrap_tokens(tokenize(text, model.classes))
    cells = sum(t.kind not in ("space", "newline") for t in tokens)
    size, size_note = crisp.fit_size(cells * steps, size, budget=WALK_MAX_PIXELS, what=f"A walk of {steps} frames")
    zd = model.generator.cfg.z_dim
    za, zb = seed_to_z(a, zd), seed_to_z(b, zd)
    zs = [truncate(slerp(za, zb, i / (steps - 1)), psi) for i in range(steps)]
    frames = same_size(walk_frames(studio, generator=model.generator, tokens=tokens, zs=zs, weight=w, natural=natural,
                                   size=size))
    unknown = unknown_chars(tokens)
    notes = (sets.suggest_run(studio.registry, current=model.info.run, missing=unknown), weight_note, size_note,
             upscaler_note(size))
    studio.prune_outputs()
    gif = save_gif(frames, studio.tmp_dir / f"walk_{uuid.uuid4().hex[:12]}.gif", duration_ms=duration_ms)
    return Walk(frames=frames, gif=gif, strip=strip(frames), unknown=unknown, info=model.info,
                n_classes=len(model.classes), seeds=(a, b), notes=tuple(n for n in notes if n))
