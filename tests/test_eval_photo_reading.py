"""scripts/eval_photo_reading.py: its measure (photo read vs clean read) is 0 for the same glyphs and
grows when they differ, a photo of a plain hand reads close to its clean row, and it refuses a folder
without faces or with a test face in it. Synthetic glyphs only: no fonts needed."""
import hashlib

import numpy as np
import pytest
import torch
from script_util import load_script



def _script():
    return load_script("eval_photo_reading")


def _hand(n: int) -> np.ndarray:
    """(n, 64, 64) uint8 white ink on black: a vertical and a horizontal stroke, moved a little per glyph."""
    g = np.zeros((n, 64, 64), np.uint8)
    for i in range(n):
        x, y = 24 + i % 5 * 2, 26 + i % 3 * 3
        g[i, 12:52, x:x + 5] = 255
        g[i, y:y + 5, 14:50] = 255
    return g


def _unit(g: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(g).float()[:, None] / 127.5 - 1


def test_same_glyphs_measure_zero_and_changed_ones_more():
    ev = _script()
    a = _unit(_hand(8))
    same = ev.compare(a, a.clone(), a)
    assert same["l1"] == 0 and same["l1_real"] == 0 and same["l1_real_clean"] == 0
    assert same["ssim"] == pytest.approx(1, abs=1e-4) and same["ink_p"] == same["ink_c"] > 0
    moved = _unit(np.roll(_hand(8), 3, axis=2))     # the photo's strokes 3 px to the right
    diff = ev.compare(moved, a, a)
    assert diff["l1"] > 0.01 and diff["ssim"] < 0.9 and diff["l1_real"] == diff["l1"]
    r = ev.summarize([dict(run="hangul", seed=0, **same), dict(run="hangul", seed=1, **diff),
                      dict(run="fixed", seed=0, fail="could not cut")])
    assert r["fails"] == 1 and r["worst_l1"] == diff["l1"] and r["l1"] == pytest.approx(diff["l1"] / 2)


def test_a_photo_of_a_plain_hand_reads_close_to_its_clean_row():
    ev = _script()
    r = ev.measure_hand(_hand(len(ev.TEXT_ALL)), seeds=1, class_list=ev.ClassList(tuple(ev.TEXT_ALL)))
    assert r["fails"] == 0 and len(r["per"]) == 2          # both runs' references, one photo each
    assert 0 < r["l1"] < 0.05 and r["ssim"] > 0.8 and 0.8 < r["ink_ratio"] < 1.25, r


def test_refuses_a_folder_without_faces_and_a_test_face(tmp_path, monkeypatch):
    ev = _script()
    with pytest.raises(SystemExit, match="no font files .* run scripts/fetch_eval_faces.py --validation first"):
        ev.main(["--val-faces", str(tmp_path)])
    face = tmp_path / "some-test-face.ttf"           # found by its suffix; never rendered: refused first
    face.write_bytes(b"not really a font")
    monkeypatch.setattr(ev, "hashes_of_test_faces", lambda folder: {hashlib.sha256(face.read_bytes()).hexdigest()})
    with pytest.raises(SystemExit, match="some-test-face .* is one of the test faces"):
        ev.main(["--val-faces", str(tmp_path)])
