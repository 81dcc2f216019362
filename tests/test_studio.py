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
            "img, note = app.write('가A', 1, 0.8, 'fixed', 2)\n"
            "assert '`A`' in note and img.shape == (16, 32)\n"
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
    full = studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0)
    assert full.shape == (2 + 18, 2 + 4 * 18)                       # 4 classes, one row, pad 2
    monkeypatch.setattr(facade, "SHEET_MAX_CELLS", 3)              # as a jamo run's 11,172 classes would be
    capped = studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0)
    assert capped.shape == (2 + 18, 2 + 3 * 18) and np.array_equal(capped, full[:, :2 + 3 * 18])
    rest = studio.sheet(run="fixed", epoch=2, seed=1, truncation=1.0, start=3)
    assert np.array_equal(rest[2:-2, 2:-2], full[2:-2, 2 + 3 * 18:-2])


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
