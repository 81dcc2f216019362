"""The person's samples + the text they copied -> target glyphs for fitting, checked against the run.

Samples come as
  - a list of pictures, one per syllable (files, bytes, arrays, canvas values: images.as_array);
  - one picture of a row or grid holding every syllable (cut by grid.cut; the text's lines are
    its rows: "가나다라\\n마바사아" is two rows of four);
  - a folder: its pictures in name order, or, when every file is named by its syllable (가.png),
    in the text's order by name.
Whitespace and commas in the text only separate; every other character must be a syllable the
run can write.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..conventions import to_unit
from ..hangul import ClassList, is_syllable
from .errors import WriterError
from .grid import cut
from .images import ink_picture, to_glyph

MAX_SAMPLES = 32
PICTURE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


@dataclass
class Samples:
    syllables: list[str]
    labels: torch.Tensor        # (k,) indices into the run's class list
    glyphs: np.ndarray          # (k, S, S) uint8, white ink on black: the training data's normalisation

    def targets(self) -> torch.Tensor:
        """(k, 1, S, S) float in [-1, 1], white on black: what the generator is fitted to."""
        return to_unit(torch.from_numpy(self.glyphs)[:, None])


def parse_text(text: str, class_list: ClassList) -> tuple[list[str], list[int]]:
    """-> (syllables in order, syllables per line). WriterError for a character the run cannot write."""
    if not isinstance(text, str):
        raise WriterError(f"the text must be a string of syllables, got {type(text).__name__}")
    syllables, rows = [], []
    for line in unicodedata.normalize("NFC", text).replace("\r\n", "\n").split("\n"):
        found = [ch for ch in line if not (ch.isspace() or ch in ",、")]
        if found:
            syllables += found; rows.append(len(found))
    if not syllables:
        raise WriterError("the text is empty: type the syllables you wrote, in order (e.g. 가나다라)")
    if len(syllables) > MAX_SAMPLES:
        raise WriterError(f"{len(syllables)} syllables: fit a writer from at most {MAX_SAMPLES}")
    bad = [ch for ch in syllables if not is_syllable(ch)]
    if bad:
        raise WriterError(f"{''.join(dict.fromkeys(bad))!r}: only Hangul syllables (가..힣) can be samples")
    missing = [ch for ch in syllables if ch not in class_list]
    if missing:
        raise WriterError(f"this run cannot write {''.join(dict.fromkeys(missing))} (it knows {len(class_list)} "
                          "syllables): write other syllables, or pick a run that writes any syllable")
    return syllables, rows


def _folder(path: Path, syllables: list[str]) -> list[Path]:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PICTURE_EXTS)
    if not files:
        raise WriterError(f"{path} holds no pictures ({', '.join(sorted(PICTURE_EXTS))})")
    by_name = {unicodedata.normalize("NFC", p.stem): p for p in files}
    if len(files) == len(syllables) and all(s in by_name for s in syllables) and len(set(syllables)) == len(syllables):
        return [by_name[s] for s in syllables]
    return files


def prepare(samples, text: str, *, class_list: ClassList, size: int) -> Samples:
    """Pictures + text -> Samples at the generator's size. Every bad input raises WriterError."""
    syllables, rows = parse_text(text, class_list)
    if isinstance(samples, (str, Path)) and Path(samples).is_dir():
        samples = _folder(Path(samples), syllables)
    single = not isinstance(samples, (list, tuple))
    if single:
        picture = ink_picture(samples, name="the picture")
        cells = [picture] if len(syllables) == 1 else cut(picture, n=len(syllables), rows=rows if len(rows) > 1 else None)
        names = [f"cell {i + 1} ('{s}')" for i, s in enumerate(syllables)]
    else:
        if len(samples) != len(syllables):
            raise WriterError(f"{len(samples)} drawing{'s' if len(samples) != 1 else ''} for {len(syllables)} "
                              f"syllables ({''.join(syllables)}): give one drawing per syllable, in the text's order")
        names = [f"drawing {i + 1} ('{s}')" for i, s in enumerate(syllables)]
        cells = [ink_picture(img, name=n) for img, n in zip(samples, names)]
    glyphs = np.stack([to_glyph(c, size=size, name=n) for c, n in zip(cells, names)])
    labels = torch.tensor([class_list.index(s) for s in syllables], dtype=torch.int64)
    return Samples(syllables=syllables, labels=labels, glyphs=glyphs)
