"""scripts/eval_writer.py --val-variants: the hands made from a validation face (a harder validation
set for choosing fit settings) are what their names say, and the same every run."""

import numpy as np
import pytest
from script_util import load_script



def _eval_writer():
    return load_script("eval_writer", as_name="eval_writer_variants")


def _glyphs():
    g = np.zeros((3, 64, 64), np.uint8)     # white ink on black: a vertical and a horizontal stroke
    g[:, 12:52, 30:35] = 255
    g[:, 30:35, 14:50] = 255
    return g


def _ink_columns(img):
    return np.nonzero((img > 127).any(0))[0]


def test_each_variant_is_the_hand_it_names():
    ev, g = _eval_writer(), _glyphs()
    ink = g.sum(dtype=np.int64)
    out = {v: ev.hand_variant(g, v, seed=1) for v in ev.VARIANTS}
    for v, x in out.items():
        assert x.shape == g.shape and x.dtype == np.uint8, v
        assert not np.array_equal(x, g), f"{v} left the glyphs as they were"
    assert out["bold"].sum(dtype=np.int64) > 1.1 * ink and out["thin"].sum(dtype=np.int64) < 0.9 * ink
    assert len(_ink_columns(out["narrow"][0])) < 0.9 * len(_ink_columns(g[0]))
    # slant: the top of the vertical stroke moves right of its bottom
    top, bottom = out["slant"][0, 14], out["slant"][0, 50]
    assert np.nonzero(top > 127)[0].mean() > np.nonzero(bottom > 127)[0].mean() + 4
    # wobble: each glyph bent its own way, and the same way for the same seed
    assert not np.array_equal(out["wobble"][0], out["wobble"][1])
    assert np.array_equal(out["wobble"], ev.hand_variant(g, "wobble", seed=1))
    assert not np.array_equal(out["wobble"], ev.hand_variant(g, "wobble", seed=2))
    # outline: the 5 px stroke keeps its two edges and loses its middle
    row = out["outline"][0, 20]
    assert row[32] < 64 and row[30] > 127 and row[34] > 127


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant"):
        _eval_writer().hand_variant(_glyphs(), "italic")


def test_variants_need_validation_faces(capsys):
    with pytest.raises(SystemExit):
        _eval_writer().main(["--val-variants", "slant", "--out", "/tmp/never.md"])
    assert "--val-faces" in capsys.readouterr().err
