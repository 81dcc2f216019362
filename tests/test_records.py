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
    for run, epoch in (("fixed", 193), ("collapsed", 40)):
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


def test_the_tests_use_a_temporary_cache():
    from conftest import CACHE, python_env, run_py
    home = os.path.expanduser("~/.cache/rekogan")
    assert os.environ["REKOGAN_CACHE"] == str(CACHE) != home
    out = run_py(["-c", "import os; print(os.environ['REKOGAN_CACHE'])"], env=python_env(), check=True).stdout
    assert out.strip() == str(CACHE)
