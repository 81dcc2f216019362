"""The "My hand" tab's model side: fit a writer to a person's drawing, and draw with a writer code instead of a seed.

  check_writer  what a person pasted as a writer code, checked once (None: no code, the seed is the writer)
  pen           (seed | writer code) + a loaded checkpoint -> what rendering needs: generator, z, weight
  fit           a canvas drawing or uploaded pictures + the syllables they show -> a HandFit (the pair
                picture, the code, a writer.safetensors file, the fit time), through rekogan.writer.imitate
                (on a hand run, encoder.safetensors beside its checkpoint, the fit starts from the style
                encoder's writer and the code is drawn by that run only: pen refuses it elsewhere)
  open_writer   an uploaded writer file (writer.safetensors, or an older writer.json) -> its code

Every rekogan.writer.WriterError becomes a StudioError with the same message for people.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..conventions import writer_weight
from .cache import Loaded, torch_module
from .inputs import StudioError

HAND_PROMPT = "가 나 다 라"      # the default prompt to copy: four syllables in one row
MAX_CODE_CHARS = 20_000          # a writer code of the largest run is ~2,000 characters
MAX_UPLOADS = 32                 # rekogan.writer.samples.MAX_SAMPLES
KEEP_WRITER_FILES = 64


def _writer_module():
    torch_module()
    from .. import writer
    return writer


def check_writer(writer) -> str | None:
    """A pasted writer code -> the code (whitespace removed), or None when the box is empty.
    Only codes are accepted here, never a file path: a web caller must not name server files."""
    if writer is None:
        return None
    if not isinstance(writer, str):
        raise StudioError(f"The writer code must be text (it starts with 'rkw1.'), got {type(writer).__name__}.")
    code = "".join(writer.split())
    if not code:
        return None
    if len(code) > MAX_CODE_CHARS:
        raise StudioError(f"The writer code has {len(code):,} characters; a real one has a few thousand at most. "
                          "· 필체 코드가 너무 깁니다.")
    from ..writer.value import PREFIX, decode          # torch-free enough: numpy, zlib
    from ..writer.errors import WriterError
    if not code.startswith(PREFIX):
        raise StudioError(f"Not a writer code: codes start with {PREFIX!r} (got {code[:12]!r}). "
                          "Copy it from the My hand tab, or clear the box to use the seed. · 필체 코드가 아닙니다.")
    try:
        decode(code)
    except WriterError as e:
        raise StudioError(f"Writer code: {e}. · 필체 코드가 손상되었습니다.") from None
    return code


@dataclass(frozen=True)
class Pen:
    """What rendering needs for one writer on one checkpoint (see Studio.render / sampling.generate)."""
    generator: object               # the run's generator, or a per-layer wrapper around it (writer codes)
    z: object                       # torch (Z,) latent
    weight: float | None            # sampling's weight= (None: the run has no stroke-weight input)
    notes: tuple[str, ...] = ()     # e.g. "the seed and psi are not used", an ignored stroke weight


def short(code: str) -> str:
    return code[:14] + "…" if len(code) > 15 else code


def pen(model: Loaded, *, seed: int, truncation: float, weight: float, writer: str | None, stroke_weight) -> Pen:
    """Checked inputs -> a Pen. writer: a code from check_writer (None: writer `seed` at truncation psi).
    A writer's fitted stroke weight (hangul runs) is kept; the weight slider moves it (sum, clipped
    to WEIGHT_RANGE). stroke_weight: Studio.stroke_weight (a run without the control ignores weights)."""
    if writer is None:
        from ..sampling import seed_to_z
        w, note = stroke_weight(model=model, weight=weight)
        return Pen(generator=model.generator, z=seed_to_z(seed, model.generator.cfg.z_dim, truncation=truncation),
                   weight=w, notes=(note,) if note else ())
    wmod = _writer_module()
    try:
        wl = wmod.writer_latent(writer, generator=model.generator)
    except wmod.WriterError as e:
        raise StudioError(f"Writer code {short(writer)} cannot be drawn by run '{model.info.run}': {e}. "
                          "· 이 실행은 이 필체를 쓸 수 없습니다.") from None
    notes = [f"Writer code `{short(writer)}` (fitted in the My hand tab): the seed and ψ are not used. "
             "· 필체 코드로 썼습니다 (시드와 ψ는 쓰지 않음)."]
    w = wl.weight
    if getattr(model.generator.cfg, "weight_cond", False):
        w = writer_weight(w, float(weight)) or 0.0
    else:
        _, note = stroke_weight(model=model, weight=weight)
        if note:
            notes.append(note)
    return Pen(generator=wl.generator, z=wl.z, weight=w, notes=tuple(notes))


# ---- fitting ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HandFit:
    pair: np.ndarray                # (H, W) uint8, dark on white: the person's glyphs over the fitted ones
    code: str
    path: Path                      # writer.safetensors (latents + adapter, fp16)
    syllables: str
    run: str
    epoch: int
    seconds: float
    ssim: float
    source: str                     # 'canvas' or 'uploads'
    encoder: bool = False           # started from the run's style encoder (a hand run: its writers are its own)

    @property
    def notice(self) -> str:
        start = (" · started from the run's style encoder; this writer is drawn by this run only"
                 if self.encoder else "")
        return (f"**{self.run}** · epoch {self.epoch} · {len(self.syllables)} syllables ({self.syllables}) from "
                f"the {self.source} · fitted in {self.seconds:.1f} s · SSIM {self.ssim:.2f} on your glyphs{start}\n\n"
                "Top row: yours; bottom row: the fitted writer. Copy the code, or press *Use this writer*. "
                "· 위: 내 글씨, 아래: 맞춘 필체.")


def has_marks(drawing) -> bool:
    """Whether a canvas value (Gradio ImageEditor/Sketchpad dict or an array) holds any stroke."""
    if drawing is None:
        return False
    img = drawing
    if isinstance(drawing, dict):
        img = drawing.get("composite")
        if img is None:
            layers = [x for x in (drawing.get("layers") or []) if x is not None]
            img = layers[0] if layers else drawing.get("background")
        if img is None:
            return False
    if isinstance(img, (str, Path)):
        return True                 # a file: its ink is judged when it is read
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 4:         # a stroke: an opaque pixel that is not white paper
        return bool(((a[:, :, 3] > 0) & (a[:, :, :3].min(axis=2) < 250)).any())
    return bool((a < 250).any()) if a.size else False


def samples_of(drawing, uploads):
    """(samples for rekogan.writer.imitate, 'canvas' | 'uploads'), or StudioError."""
    files = [u for u in (uploads or []) if u]
    if isinstance(uploads, (str, Path)):
        files = [uploads]
    drew = has_marks(drawing)
    if drew and files:
        raise StudioError("Both a drawing and uploaded pictures: clear the canvas or remove the uploads, "
                          "and fit from one of them. · 그림과 업로드 중 하나만 쓰세요.")
    if files:
        if len(files) > MAX_UPLOADS:
            raise StudioError(f"{len(files)} pictures: upload at most {MAX_UPLOADS}. · 사진이 너무 많습니다.")
        paths = [str(getattr(f, "name", f)) for f in files]     # gr.File gives paths (or objects with .name)
        return (paths[0] if len(paths) == 1 else paths), "uploads"
    if not drew:
        raise StudioError("The canvas is blank: write the prompt's syllables on it, left to right in one row, "
                          "or upload pictures of them. · 캔버스가 비어 있습니다. 글자를 써 주세요.")
    return drawing, "canvas"


def fit(*, model: Loaded, text, drawing, uploads, folder: Path, suggest=None, config=None,
        ttl: float | None = None, size: int | None = None) -> HandFit:
    """A canvas drawing (one row of the text's syllables) or uploads (one picture per syllable, or one
    photo of a row or grid) + the text -> a fitted writer of `model`. suggest(missing) -> a note naming
    the run that writes syllables this one cannot (sets.suggest_run)."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise StudioError(f"The syllables must be text, got {type(text).__name__}.")
    if len(text) > 400:
        raise StudioError(f"The syllables box has {len(text):,} characters; type only the few syllables you wrote.")
    from ..hangul import is_syllable
    missing = [c for c in dict.fromkeys(text) if is_syllable(c) and c not in model.classes]
    hint = suggest(missing) if missing and suggest is not None else ""
    if hint:
        raise StudioError(hint)
    samples, source = samples_of(drawing, uploads)
    wmod = _writer_module()
    t0 = time.perf_counter()
    try:
        result = wmod.imitate(samples, text, generator=model.generator, meta=model.meta,
                              checkpoint=str(model.info.path), config=config)
    except wmod.WriterError as e:
        msg = str(e)
        for p in samples if isinstance(samples, list) else [samples]:
            if isinstance(p, str):                  # an upload's server path: name the person's file instead
                msg = msg.replace(p, Path(p).name)
        raise StudioError(f"{msg[:1].upper()}{msg[1:]}. · 입력을 확인해 주세요.") from None
    folder.mkdir(parents=True, exist_ok=True)
    from .exports import prune
    prune(folder, "writer_*.safetensors", keep=KEEP_WRITER_FILES - 1, ttl=ttl)
    path = result.writer.save(folder / f"writer_{model.info.run}_e{model.info.epoch}_{uuid.uuid4().hex[:8]}.safetensors")
    return HandFit(pair=pair_at(result, size=size), code=result.writer.code, path=path, syllables=result.writer.syllables,
                   run=model.info.run, epoch=model.info.epoch, seconds=time.perf_counter() - t0,
                   ssim=float(result.writer.losses.get("ssim", float("nan"))), source=source,
                   encoder=result.writer.losses.get("start") == "encoder")



def pair_at(result, *, size: int | None):
    """The person's glyphs over the fitted ones, `size` px per glyph (checked; None: the generator's
    own), enlarged as every view's glyphs are (crisp.enlarge)."""
    if size is None or size == result.user.shape[-1]:
        return result.pair.numpy()
    from . import crisp
    from ..sampling import tile
    cells, _ = crisp.enlarge(np.concatenate([result.user.numpy(), result.fitted.numpy()]), size=size)   # one pass
    return tile(cells, columns=len(result.user))


# ---- a writer file the person kept ------------------------------------------------------------

@dataclass(frozen=True)
class OpenedWriter:
    code: str
    run: str                        # the run it was fitted on ('' when the file does not say)
    epoch: int | None
    syllables: str
    generator: str = ""             # the hand run it belongs to (rekogan.writer.value: tag), '' for any run

    @property
    def notice(self) -> str:
        where = f"fitted on **{self.run}**, epoch {self.epoch}" if self.run else "its run is not named in the file"
        source = f", from {len(self.syllables)} syllables ({self.syllables})" if self.syllables else ""
        only = ""
        if self.generator:
            from ..writer.value import tag_run
            only = f" It is drawn by run **{tag_run(self.generator)}** only: select it."
        return (f"Writer file opened: {where}{source}.{only} "
                "Press *Use this writer*. · 필체 파일을 열었습니다.")


def open_writer(file) -> OpenedWriter:
    """An uploaded writer file (a path, or gr.File's object with .name) -> its code and origin;
    StudioError with one line for a damaged or foreign file."""
    if file is None:
        raise StudioError("No writer file: upload a writer.safetensors from the My hand tab. · 필체 파일이 없습니다.")
    path = Path(str(getattr(file, "name", file)))
    wmod = _writer_module()
    try:
        if not path.is_file():
            raise wmod.WriterError(f"{path.name} was not found")
        w = wmod.load_writer_bytes(path.read_bytes(), name=path.name)
    except wmod.WriterError as e:
        msg = str(e).replace(str(path), path.name)          # the message names the person's file, as they named it
        raise StudioError(f"Writer file {msg}. · 필체 파일을 읽을 수 없습니다.") from None
    return OpenedWriter(code=w.code, run=w.run, epoch=w.epoch, syllables=w.syllables, generator=w.generator)
