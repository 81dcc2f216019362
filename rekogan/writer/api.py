"""The one call the app and the command line make: fit a writer from pictures + text.

    result = imitate(samples, "가나다라", generator=G, meta=meta, checkpoint=path)
    result.writer.code        # the writer code ("rkw1....")
    result.pair               # uint8 picture: the person's glyphs (top row) over the fitted ones
    render_line(result.writer, generator=G, class_list=meta["class_list"], text="아무 글이나")

On a hand run (encoder.safetensors beside the checkpoint: scripts/ship_writer_run.py) the fit starts
from the style encoder's writer of the samples (fit.fit(encoder=)), and the code carries the run's
generator tag (value.py: such a writer is drawn by that run only). A run's fit.json beside its
checkpoint (fit.run_defaults) gives its fit defaults: imitate(config=None or a dict of overrides)
fits with them; a FitConfig is used as given. Every bad input raises WriterError with a message for
the person (errors.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..checkpoints import CheckpointError
from ..conventions import CLASSIFIER_FILE, to_paper
from ..hangul import SBASE, ClassList, tokenize
from ..conventions import READER_FILE as DEFAULT_READER
from ..reader import load_reader
from ..sampling import generate, render_tokens, tile
from .errors import WriterError
from .fit import FitConfig, fit
from .losses import ReaderFeatures
from .samples import prepare
from .value import Writer, encode, writer_latent

REPO = Path(__file__).resolve().parents[2]


def _resolve(rel: str) -> Path:
    p = Path(rel)
    return p if p.is_file() else REPO / rel


@lru_cache(maxsize=4)
def _features(path: str) -> ReaderFeatures:
    return ReaderFeatures(load_reader(path))


def default_reader_path() -> Path:
    """The component reader when it exists (it reads any syllable), else the 520-class reader."""
    comp = _resolve(DEFAULT_READER)
    return comp if comp.is_file() else _resolve(CLASSIFIER_FILE)


def reader_features(path=None) -> ReaderFeatures:
    """The (cached) perceptual features of a reader file; default: default_reader_path()."""
    p = Path(path) if path is not None else default_reader_path()
    try:
        return _features(str(p.resolve()))
    except CheckpointError as e:
        raise WriterError(f"no reader to fit with: {e}") from None


@lru_cache(maxsize=4)
def _encoder(path: str, mtime_ns: int):
    from .encoder import load_encoder
    return load_encoder(path)


def run_encoder(checkpoint, generator: torch.nn.Module):
    """The style encoder of a hand run (encoder.safetensors beside `checkpoint`), loaded once (until the
    file changes) and checked against the generator; None for a run without one. WriterError for a
    damaged or foreign file."""
    from .encoder import check_fits, encoder_beside
    path = encoder_beside(checkpoint)
    if path is None:
        return None
    E = _encoder(str(path.resolve()), path.stat().st_mtime_ns)
    check_fits(E, generator, name=f"{path.parent.name}/{path.name}")
    return E


@dataclass
class Imitation:
    writer: Writer
    user: torch.Tensor          # (k, S, S) uint8, dark on white: the person's glyphs, normalised
    fitted: torch.Tensor        # (k, S, S) uint8, dark on white: the same syllables by the writer
    seconds: float

    @property
    def pair(self) -> torch.Tensor:
        """One uint8 picture: the person's glyphs on top, the writer's below, column by column."""
        return tile(torch.cat([self.user, self.fitted]), columns=len(self.user))


def fit_config(checkpoint, config: FitConfig | dict | None = None) -> FitConfig:
    """The config a fit of `checkpoint`'s run uses: a FitConfig as given; otherwise FitConfig's defaults,
    then the run's fit.json, then `config`'s {field: value} overrides. WriterError for a bad fit.json."""
    if isinstance(config, FitConfig):
        return config
    try:
        return FitConfig.for_run(checkpoint, config)
    except (TypeError, ValueError) as e:
        raise WriterError(f"fit settings: {e}") from None


def imitate(samples, text: str, *, generator: torch.nn.Module, meta: dict, checkpoint: str = "",
            reader=None, config: FitConfig | dict | None = None) -> Imitation:
    """Fit a writer to the person's samples of `text` (one picture per syllable, or one picture of a
    row/grid, or a folder); see samples.prepare for what is accepted.

    meta: the checkpoint's metadata (load_generator's second value: class_list, epoch, ...).
    reader: a ReaderFeatures or a reader file (default: default_reader_path()).
    config: a FitConfig (used as it is), or None / {field: value} over the run's defaults (fit_config)."""
    t0 = time.perf_counter()
    G = generator
    class_list: ClassList = meta["class_list"]
    s = prepare(samples, text, class_list=class_list, size=G.cfg.size)
    feats = reader if isinstance(reader, ReaderFeatures) else reader_features(reader)
    cfg = fit_config(checkpoint, config)
    codes = torch.tensor([ord(class_list.syllable(i)) - SBASE for i in range(len(class_list))])   # label -> syllable
    encoder = run_encoder(checkpoint, G) if checkpoint else None
    result = fit(G, s.targets(), s.labels, reader_features=feats, config=cfg, codes=codes, encoder=encoder)
    code = encode(result.latents, result.weight, result.adapter, generator=getattr(G, "writer_tag", "") or "")
    ckpt = Path(checkpoint) if checkpoint else None
    writer = Writer(code=code, syllables="".join(s.syllables), checkpoint=str(ckpt or ""),
                    run=ckpt.parent.name if ckpt else "", epoch=meta.get("epoch"), losses=result.losses,
                    fit=cfg.to_dict())
    # drawn from the code, through the sampling path: what is shown is what the code draws
    fitted = draw(writer, generator=G, labels=s.labels)
    user = to_paper(s.targets())
    return Imitation(writer=writer, user=user, fitted=fitted, seconds=round(time.perf_counter() - t0, 3))


def draw(writer, *, generator: torch.nn.Module, labels: torch.Tensor) -> torch.Tensor:
    """(N,) class indices -> (N, S, S) uint8, dark on white, in the writer's hand."""
    wl = writer_latent(writer, generator=generator)
    return to_paper(generate(wl.generator, labels, wl.z, weight=wl.weight))


def render_line(writer, *, generator: torch.nn.Module, class_list: ClassList, text: str, cell: int | None = None,
                unknown_glyph=None) -> torch.Tensor:
    """A text as one uint8 page (dark on white) in the writer's hand: sampling.render_tokens' layout."""
    wl = writer_latent(writer, generator=generator)
    return render_tokens(wl.generator, tokenize(text, class_list), seed=0, z=wl.z, weight=wl.weight,
                         cell=cell, unknown_glyph=unknown_glyph)
