"""scripts/compare_writer_faces.py: the per-face comparison of two eval_writer results files (no model)."""
from __future__ import annotations

import json

from conftest import REPO, run_py

SCRIPT = REPO / "scripts/compare_writer_faces.py"


def _res(faces, top1, ranks, k="8"):
    return {"faces": faces, "rows": {"fitted + adapter": {k: [
        {"style_top1": float(t), "style_rank": r, "ssim": 0.5} for t, r in zip(top1, ranks)]}}}


def test_faces_are_sorted_into_both_only_and_neither(tmp_path):
    faces = ["p", "q", "r", "s"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_res(faces, [1, 1, 0, 0], [1, 1, 5, 9])))
    b.write_text(json.dumps(_res(faces, [1, 0, 1, 0], [1, 4, 1, 30])))
    out = tmp_path / "cmp.md"
    p = run_py([SCRIPT, a, b, "--names", "fixed,hangul", "--out", out], check=True)
    assert "| q | ✓ | 1 | ✗ | 4 |" in p.stdout
    assert "fixed: 2 of 4 first; hangul: 2 of 4." in p.stdout
    for line in ("- both (1): p", "- only fixed (1): q", "- only hangul (1): r", "- neither (1): s"):
        assert line in p.stdout, line
    assert out.read_text().startswith("Command: `python scripts/compare_writer_faces.py")


def test_different_faces_or_a_missing_row_are_refused_with_a_message(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_res(["p", "q"], [1, 0], [1, 2])))
    b.write_text(json.dumps(_res(["p", "x"], [1, 0], [1, 2])))
    out = tmp_path / "cmp.md"
    p = run_py([SCRIPT, a, b, "--out", out])
    assert p.returncode == 2 and "different faces" in p.stderr and "x" in p.stderr
    assert not out.exists(), "nothing written on an error"
    p = run_py([SCRIPT, a, a, "--k", "16"])
    assert p.returncode == 2 and "no k = 16" in p.stderr
    (tmp_path / "bad.json").write_text("{not json")
    p = run_py([SCRIPT, tmp_path / "bad.json", a])
    assert p.returncode == 2 and "error:" in p.stderr and "Traceback" not in p.stderr
