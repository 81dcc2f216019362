"""rekogan.records: JSONL read/append, atomic writes, the run lock, and the one best-epoch rule."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

from rekogan.records import (READABILITY_TIE, append_jsonl, atomic_path, best_epoch, by_epoch, locked, read_jsonl,
                             write_bytes_atomic, write_jsonl_atomic, write_text_atomic)


def rec(epoch, readability, diversity=None):
    return {"epoch": epoch, "readability": readability, "diversity": diversity}


def test_best_epoch_is_the_most_readable():
    assert best_epoch([rec(1, 0.5, 0.9), rec(2, 0.9, 0.1), rec(3, 0.7, 1.0)])["epoch"] == 2


def test_readabilities_within_the_tie_go_to_the_more_diverse_then_the_earlier():
    tied = 0.99 - READABILITY_TIE / 2
    assert best_epoch([rec(186, 0.99, 0.90), rec(193, tied, 0.93)])["epoch"] == 193       # more diverse
    assert best_epoch([rec(186, 0.99, 0.90), rec(193, 0.99 - 2 * READABILITY_TIE, 0.99)])["epoch"] == 186
    assert best_epoch([rec(5, 0.8, 0.5), rec(3, 0.8, 0.5), rec(9, 0.8, 0.5)])["epoch"] == 3     # earlier
    assert best_epoch([rec(5, 0.8, None), rec(7, 0.8, 0.2)])["epoch"] == 7                  # no diversity loses


def test_best_epoch_ignores_records_without_a_readability():
    assert best_epoch([]) is None
    assert best_epoch([{"epoch": 1}, rec(2, None), rec(3, float("nan"))]) is None
    assert best_epoch([{"epoch": 1}, rec(2, 0.3)])["epoch"] == 2


def test_the_shipped_runs_best_epochs():
    from conftest import REPO
    for run, epoch in (("fixed", 193), ("collapsed", 15)):
        records = list(by_epoch(read_jsonl(REPO / "checkpoints" / run / "evaluation.jsonl")).values())
        assert best_epoch(records)["epoch"] == epoch, run


def test_jsonl_append_read_and_by_epoch(tmp_path):
    path = tmp_path / "sub" / "metrics.jsonl"
    append_jsonl(path, {"epoch": 1, "x": "가"})
    append_jsonl(path, {"epoch": 2, "x": 1})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"epoch": 3, "x"')                     # a line cut by a kill
    append_jsonl(path, {"epoch": 1, "x": "again"})
    assert [r["epoch"] for r in read_jsonl(path)] == [1, 2, 1]
    assert {e: r["x"] for e, r in by_epoch(read_jsonl(path)).items()} == {1: "again", 2: 1}
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_atomic_writes_replace_whole_files_and_leave_no_temporary(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "one")
    write_text_atomic(tmp_path / "a.txt", "two")
    write_bytes_atomic(tmp_path / "b.png", b"\x89PNG")
    write_jsonl_atomic(tmp_path / "c.jsonl", [{"epoch": 1}, {"epoch": 2}])
    assert (tmp_path / "a.txt").read_text() == "two" and (tmp_path / "b.png").read_bytes() == b"\x89PNG"
    assert [json.loads(x)["epoch"] for x in (tmp_path / "c.jsonl").read_text().splitlines()] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.png", "c.jsonl"]
    assert oct((tmp_path / "a.txt").stat().st_mode & 0o777) == oct(0o644)


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "evaluation.jsonl"
    write_text_atomic(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["evaluation.jsonl"]


def test_the_run_lock_serialises_writers(tmp_path):
    order = []

    def writer(name):
        with locked(tmp_path):
            order.append(f"{name} in")
            time.sleep(0.05)
            order.append(f"{name} out")

    threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


def test_the_run_lock_holds_against_another_process(tmp_path):
    # a child process takes the run lock and waits for a line on stdin; while it holds the lock a
    # non-blocking attempt here must fail, and once it has let go `locked` must get it
    import subprocess
    import sys
    from filelock import FileLock, Timeout
    from conftest import REPO, python_env
    from rekogan.records import LOCK_NAME
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from rekogan.records import locked\n"
         f"with locked({str(tmp_path)!r}):\n    print('held', flush=True); sys.stdin.readline()\n"
         "print('released', flush=True)"],
        cwd=REPO, env=python_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(Timeout):
            FileLock(tmp_path / LOCK_NAME, timeout=0).acquire()
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "released"
        with locked(tmp_path):
            pass
    finally:
        child.kill()
        child.wait()


# fcntl does not exist on Windows: made unavailable before anything imports it, as there
BLOCK_FCNTL = "import sys; sys.modules['fcntl'] = None\n"


@pytest.mark.parametrize("module", ["rekogan.records", "rekogan.studio", "app"])
def test_the_app_imports_without_fcntl(module, tmp_path):
    from conftest import REPO, run_py
    code = (BLOCK_FCNTL + f"import {module}\n"
            "from rekogan.records import locked, write_text_atomic\n"
            f"with locked({str(tmp_path)!r}):\n"
            f"    write_text_atomic({str(tmp_path / 'a.txt')!r}, 'ok')\n"
            "print('imported')")
    proc = run_py(["-W", "ignore", "-c", code], cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("imported"), proc.stderr[-3000:]
    assert (tmp_path / "a.txt").read_text() == "ok"


def test_the_tests_use_a_temporary_cache():
    from conftest import CACHE, python_env, run_py
    home = os.path.expanduser("~/.cache/rekogan")
    assert os.environ["REKOGAN_CACHE"] == str(CACHE) != home
    out = run_py(["-c", "import os; print(os.environ['REKOGAN_CACHE'])"], env=python_env(), check=True).stdout
    assert out.strip() == str(CACHE)


# ---- every writer of a whole file goes through atomic_path ----------------------------------------

def _half_then_fail(target, *args, **kwargs):
    """Stands in for a library's save: writes the start of a file, then fails like a full disk."""
    if hasattr(target, "write"):
        target.write(b"half")
    else:
        open(target, "wb").write(b"half")
    raise OSError(28, "No space left on device")


def _save_packed(path):
    from packed_util import synthetic_glyphs
    from rekogan.data.packed import save_packed
    save_packed(path, synthetic_glyphs(size=8))


def _save_npz(path):
    import numpy as np
    from rekogan.data.fonts import _save_npz
    _save_npz(path, images=np.zeros((2, 8, 8), np.uint8))


def _merge_subsets(path):
    from test_webfonts import _subset
    from rekogan.data.webfonts import merge_subsets
    sub = path.with_name("sub-0.woff")
    if not sub.exists():                       # made once, before TTFont.save is made to fail
        _subset(sub, {"가": 200})
    merge_subsets([sub], path)


def _numpy():
    import numpy
    return numpy


def _ttfont():
    from fontTools.ttLib import TTFont
    return TTFont


WRITERS = {   # name -> (write a file at path, the owner of the library call that writes, its name, a method?)
    "packed": (_save_packed, _numpy, "savez_compressed", False),
    "glyph cache": (_save_npz, _numpy, "savez", False),
    "merged web font": (_merge_subsets, _ttfont, "save", True),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(name, tmp_path, monkeypatch):
    write, owner, attr, method = WRITERS[name]
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / ("f.ttf" if "font" in name else "f.npz")
    write(path)                                    # a good file first: it must survive the failure
    good = path.read_bytes()
    fail = (lambda self, target, *a, **k: _half_then_fail(target)) if method else _half_then_fail
    monkeypatch.setattr(owner(), attr, fail)
    with pytest.raises(OSError, match="No space left"):
        write(path)
    assert path.read_bytes() == good, f"{name}: a failed write changed the file"
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".woff") == [path.name], \
        f"{name}: a temporary file was left behind"
