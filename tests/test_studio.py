"""The studio package's parts on their own: fonts that may be missing, the sheet's cap, the confusion table."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import REPO, python_env, run_py


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_run):
    """A checkpoints root with two copies of the tiny run (4 classes, 16x16), one with evaluation records."""
    root = tmp_path_factory.mktemp("studio_root")
    for name in ("fixed", "collapsed"):
        shutil.copytree(tiny_run, root / name, ignore=shutil.ignore_patterns("state_*"))
    with open(root / "fixed" / "evaluation.jsonl", "w", encoding="utf-8") as f:
        for epoch in (1, 2):
            f.write(json.dumps({"epoch": epoch, "readability": 0.5, "diversity": 0.4, "seeds": 8,
                                "failing_classes": ["갈"], "top_confusions": [{"intended": "갈", "read": "각", "count": 5}]},
                               ensure_ascii=False) + "\n")
    return root


def test_without_korean_fonts_the_app_starts_and_draws_everything(root):
    """REKOGAN_FONTS='' hides every font file: print falls back to hatched boxes, captions and plot
    titles to the default fonts, and nothing fails (as on a Space before packages.txt is honoured)."""
    code = ("import app\n"
            "from rekogan.studio import pictures\n"
            "assert pictures.font_path('glyph') is None and pictures.font_path('label') is None\n"
            "img, note = app.write('가A', 1, 0.8, 'fixed', 2, 0.0, '', 64, 0)\n"
            "assert '`A`' in note and img.shape == (64, 128)\n"
            "a, na, b, nb = app.evolution('가', 1, 0.8, 'fixed', 'collapsed')\n"
            "loss, quality, table, dnote = app.diagnostics('fixed', 2)\n"
            "assert a.ndim == 2 and quality.ndim == 3 and table[0][:2] == ['갈', '각']\n"
            "print('ok', a.shape, quality.shape)\n")
    proc = run_py(["-c", code], env=python_env(REKOGAN_FONTS="", REKOGAN_CHECKPOINTS=str(root)), check=True)
    assert proc.stdout.strip().startswith("ok")


def test_a_missing_font_gives_a_hatched_box_and_a_present_one_grey_print(monkeypatch):
    from rekogan.studio import pictures
    monkeypatch.setenv("REKOGAN_FONTS", "/nonexistent/NanumGothic.ttf")
    pictures.forget_fonts()
    try:
        assert pictures.printed_glyph("가", 16) is None
        box = pictures.unknown_glyph("가", 16).numpy()
        assert box.shape == (16, 16) and set(np.unique(box)) <= {170, 200, 255}
    finally:
        monkeypatch.delenv("REKOGAN_FONTS")
        pictures.forget_fonts()


def test_the_sheet_draws_at_most_sheet_max_cells(root, monkeypatch):
    from rekogan.studio import Studio, facade
    studio = Studio(root=root)
    full = studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0, size=64)
    assert full.shape == (2 + 66, 2 + 4 * 66)                       # 4 classes, one row, pad 2
    monkeypatch.setattr(facade, "SHEET_MAX_CELLS", 3)              # as a jamo run's 11,172 classes would be
    capped = studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0, size=64)
    assert capped.shape == (2 + 66, 2 + 3 * 66) and np.array_equal(capped, full[:, :2 + 3 * 66])
    rest = studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0, start=3, size=64)
    assert np.array_equal(rest[2:-2, 2:-2], full[2:-2, 2 + 3 * 66:-2])


def test_tile_lays_cells_out_as_make_grid_does():
    import torch
    import torch.nn.functional as F
    from torchvision.utils import make_grid
    from rekogan.sampling import tile
    g = torch.randint(0, 256, (30, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for n in (1, 2, 4, 27, 30):
        for cols in (1, 4, 26, 40):
            c = min(cols, n)   # make_grid returns a lone image without its padding: pad it as tile does
            want = (F.pad(g[0], (2, 2, 2, 2), value=255) if n == 1
                    else make_grid(g[:n, None], nrow=c, padding=2, pad_value=255)[0])
            assert torch.equal(tile(g[:n], columns=cols), want)
            assert np.array_equal(tile(g[:n].numpy(), columns=cols), want.numpy())


def test_sheet_evolution_and_walk_draw_at_each_size(root, monkeypatch):
    from rekogan.studio import Studio, StudioError, crisp, views
    studio = Studio(root=root, batcher=False)
    glyphs = {}
    for size in (64, 128, 256):
        sheet = studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0, size=size)
        assert sheet.shape == (2 + size + 2, 2 + 4 * (size + 2)), size
        glyphs[size] = sheet[2:2 + size, 2:2 + size]
        page = studio.sheet_page(run="fixed", epoch=2, seed=1, truncation=1.0, syllables="classes", size=size)
        assert np.array_equal(page.image, sheet) and not page.notes
        evo = studio.evolution(run="fixed", syllable="가", seed=1, truncation=1.0, size=size)
        assert evo.image.shape[0] > size and evo.image.shape[1] > 2 * size and not evo.notes
        walk = studio.walk(text="가각", seed_a=1, seed_b=2, steps=3, truncation=1.0, run="fixed", epoch=2, natural=0,
                           size=size)
        assert {f.shape for f in walk.frames} == {(size, 2 * size)}
    # the default is conventions.DEFAULT_GLYPH_SIZE, and 64 is the glyph the upscaler enlarges (16 px -> 64)
    from rekogan.conventions import DEFAULT_GLYPH_SIZE
    assert studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0).shape == \
        studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0, size=DEFAULT_GLYPH_SIZE).shape
    big, _ = crisp.enlarge(glyphs[64][None], size=256)
    assert np.array_equal(big[0], glyphs[256])                     # the one enlarging path, crisp.enlarge
    # a page over the pixel budget is drawn at the largest size that fits, and says so
    monkeypatch.setattr(views, "SHEET_MAX_PIXELS", 4 * 128 * 128)
    page = studio.sheet_page(run="fixed", epoch=2, seed=1, truncation=1.0, syllables="classes", size=256)
    assert page.image.shape == (2 + 130, 2 + 4 * 130) and "drawn at 128 px" in page.notice
    for bad in (100, "big", 512, True):
        with pytest.raises(StudioError, match="size must be one of 64, 128, 256") as err:
            studio.sheet_page(run="fixed", epoch=2, seed=1, truncation=1.0, size=bad)
        assert "\n" not in str(err.value)
        with pytest.raises(StudioError, match="size must be one of"):
            studio.evolution(run="fixed", syllable="가", seed=1, truncation=1.0, size=bad)
        with pytest.raises(StudioError, match="size must be one of"):
            studio.walk(text="가", seed_a=1, seed_b=2, steps=2, truncation=1.0, run="fixed", epoch=2, size=bad)
    with pytest.raises(StudioError, match="Natural must be"):
        studio.walk(text="가", seed_a=1, seed_b=2, steps=2, truncation=1.0, run="fixed", epoch=2, natural=2)


def test_a_natural_walk_varies_its_lines_once_for_the_whole_walk(root):
    """A walk's frames are natural lines (proportional spacing, jitter; every occurrence its own) with ONE
    variation for the whole walk, the first writer's: the same inputs give the same pixels; writer b's
    line at the end of a walk from a keeps a's variation, so it differs from b's line at the start of a
    walk from b (at natural 0 both are b's plain line)."""
    from rekogan.studio import Studio
    studio = Studio(root=root, batcher=False)
    kw = dict(text="가가가 각", steps=4, truncation=0.8, run="fixed", epoch=2, size=64)
    plain = studio.walk(seed_a=1, seed_b=2, natural=0, **kw)
    varied = studio.walk(seed_a=1, seed_b=2, natural=0.8, **kw)
    again = studio.walk(seed_a=1, seed_b=2, natural=0.8, **kw)
    assert all(np.array_equal(a, b) for a, b in zip(varied.frames, again.frames))
    assert len({f.shape for f in varied.frames}) == 1 and varied.strip.shape[0] == 4 * varied.frames[0].shape[0] + 3 * 4
    assert all(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(plain.frames, varied.frames))
    back_plain = studio.walk(seed_a=2, seed_b=1, natural=0, **kw)
    assert np.array_equal(plain.frames[-1], back_plain.frames[0])          # writer 2's plain line, both ways
    back = studio.walk(seed_a=2, seed_b=1, natural=0.8, **kw)
    end, start = varied.frames[-1], back.frames[0]
    assert end.shape != start.shape or not np.array_equal(end, start)      # writer 2 with writer 1's variation


def test_without_the_upscaler_the_views_enlarge_plainly_and_say_so(root, monkeypatch, tmp_path):
    from rekogan.studio import Studio, crisp
    monkeypatch.setenv(crisp.UPSCALER_ENV, str(tmp_path / "missing.safetensors"))
    studio = Studio(root=root, batcher=False)
    page = studio.sheet_page(run="fixed", epoch=2, seed=1, truncation=1.0, size=128)
    assert page.image.shape == (2 + 130, 2 + 4 * 130) and "upscaler could not be loaded" in page.notice
    evo = studio.evolution(run="fixed", syllable="가", seed=1, truncation=1.0, size=256)
    assert any("upscaler could not be loaded" in n for n in evo.notes)
    walk = studio.walk(text="가", seed_a=1, seed_b=2, steps=2, truncation=1.0, run="fixed", epoch=2, size=128, natural=0)
    assert "upscaler could not be loaded" in walk.notice


def test_the_confusion_table_reads_what_evaluation_writes():
    from rekogan.studio.plots import confusion_rows
    rec = {"seeds": 8, "top_confusions": [{"intended": "가", "read": "긴", "count": 3}, {"asked": "가", "pred": "차"}]}
    assert confusion_rows(rec) == [("가", "긴", "3 of 8 draws")]    # other spellings are not read: nothing writes them
    assert confusion_rows({}) == []


def test_no_module_of_the_package_is_long():
    for path in sorted((REPO / "rekogan").rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if path.parent.name in ("studio", "commands") or path.name in ("conventions.py", "records.py", "cli.py"):
            assert n <= 400, f"{path.relative_to(REPO)} has {n} lines"
