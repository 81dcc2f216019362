"""Issue 25, photos: a phone-style photo of a row is read to the same glyphs as the clean upload,
for hairlines (a thin face, a fine pen) as for wide strokes (images._sharpened)."""
from __future__ import annotations

import numpy as np
import pytest

from rekogan.hangul import ClassList

TEXT = "가각간갈"


def _row(width: int, *, seed: int) -> np.ndarray:
    """A row of 4 cells (160 px, upscaled from 64 px as eval_writer's photo table does) of random
    strokes `width` px wide at 64 px, dark on white."""
    from PIL import Image, ImageDraw
    from rekogan.writer.photo import row_picture
    rng = np.random.default_rng(seed)
    cells = []
    for _ in TEXT:
        im = Image.new("L", (64, 64), 255)
        d = ImageDraw.Draw(im)
        for _ in range(4):
            x0, y0, x1, y1 = (int(v) for v in rng.integers(6, 58, 4))
            d.line((x0, y0, x1, y0), fill=0, width=width)
            d.line((x1, y0, x1, y1), fill=0, width=width)
        cells.append(np.asarray(im.resize((160, 160), Image.BICUBIC)))
    return row_picture(np.stack(cells))


def _read(picture) -> np.ndarray:
    from rekogan.writer.samples import prepare
    return prepare(picture, TEXT, class_list=ClassList(tuple(TEXT)), size=64).glyphs.astype(float)


@pytest.mark.parametrize("width,lo,hi", [(1, 0.85, 1.2), (6, 0.93, 1.07)])
def test_a_photo_keeps_the_ink_of_the_clean_upload(width, lo, hi):
    """The blur of a photo takes darkness from a hairline; read with its peak stretched to full ink,
    the hairline came out 1.24-1.27x its ink (the reading before _sharpened's hairline branch). Wide
    strokes must keep their inside full (no grey from a sharpening halo setting the ink level)."""
    from rekogan.writer.photo import photograph
    for seed in range(3):
        clean = _row(width, seed=seed)
        a = _read(clean)
        b = _read(photograph(clean, seed=seed, ink="blue" if seed % 2 == 0 else "black"))
        ratio = b.sum() / a.sum()
        assert lo < ratio < hi, f"{width} px strokes, seed {seed}: photo / clean ink {ratio:.3f}"
        assert np.abs(a - b).mean() < 10, f"{width} px strokes, seed {seed}: mean |photo - clean| (0..255)"


def test_hairlines_and_wide_strokes_are_told_apart():
    """_inside_share: 0 for a picture of hairlines, 1 for one of wide strokes (their inside survives
    a 5x5 minimum), on the photo's own ink strength."""
    from rekogan.writer.images import _inside_share
    thin = np.zeros((200, 200), np.float32)
    thin[50:150, 98:101] = 0.6                    # a blurred hairline: 3 px
    wide = np.zeros((200, 200), np.float32)
    wide[50:150, 90:110] = 0.8                    # a 20 px stroke
    assert _inside_share(thin) == 0.0
    assert _inside_share(wide) == 1.0
    assert _inside_share(np.zeros((200, 200), np.float32)) == 1.0, "no ink: the bounded mask (nothing to restore)"


def test_a_drawing_is_not_sharpened():
    """Only a camera's picture goes through _sharpened: a clean export is read as it always was."""
    from rekogan.writer import images
    clean = _row(2, seed=0)
    calls = []
    original = images._sharpened
    try:
        images._sharpened = lambda s: calls.append(1) or original(s)
        images.ink_picture(clean)
        assert not calls
        from rekogan.writer.photo import photograph
        images.ink_picture(photograph(clean, seed=0))
        assert calls == [1]
    finally:
        images._sharpened = original


def test_a_screen_sets_the_reading_and_puts_it_back():
    """images.reading_overrides / set_reading (eval_photo_reading.py and eval_writer.py --reading): a
    stronger hairline mask reads a hairline photo thinner; the old value, put back, reads it as before;
    a name that is not a tunable constant, or a value that is not a positive number, is refused."""
    from rekogan.writer import images
    from rekogan.writer.photo import photograph
    photo = photograph(_row(1, seed=1), seed=1)
    before = images.ink_picture(photo).astype(float)
    old = images.set_reading(images.reading_overrides(["HAIRLINE_AMOUNT=12"]))
    try:
        assert old == {"HAIRLINE_AMOUNT": 4.0}
        stronger = images.ink_picture(photo).astype(float)
    finally:
        images.set_reading(old)
    assert stronger.sum() < 0.97 * before.sum(), (stronger.sum(), before.sum())
    assert np.array_equal(images.ink_picture(photo).astype(float), before)
    for bad in ("INK=3", "HAIRLINE_AMOUNT=x", "HAIRLINE_AMOUNT=0", "HAIRLINE_AMOUNT"):
        with pytest.raises(ValueError, match="--reading"):
            images.reading_overrides([bad])
