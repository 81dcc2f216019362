"""Run records on disk: JSONL read and append, atomic writes, the run lock, and the best epoch.

Torch-free, so the app can read records before it has imported torch.

  read_jsonl / by_epoch   metrics.jsonl, evaluation.jsonl: lines that do not parse (a line cut by
                          a kill) are skipped; by_epoch keeps the last record of each epoch
  append_jsonl            one record appended and fsynced
  atomic_path             write to a temporary name in the same folder, fsync, rename: a kill
                          leaves the old complete file or the new one, never half of one
                          (write_text_atomic, write_bytes_atomic are built on it)
  locked                  an exclusive lock on a run folder around a read-modify-write (filelock:
                          portable, so the app also starts where there is no fcntl, e.g. Windows)
  best_epoch              THE rule for "the best epoch", used by the app's default epoch,
                          scripts/ship.py, scripts/report.py and `python -m rekogan evaluate`
"""
from __future__ import annotations

import json
import math
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

# Readabilities this close to the highest one count as a tie (0.1 percentage point: below what
# 8 seeds x 520 classes can tell apart, 1 glyph in 4,160 is 0.024 points).
READABILITY_TIE = 0.001


def read_jsonl(path) -> list[dict]:
    """Records of a .jsonl file; lines that do not parse (e.g. cut by a kill) are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict):
            out.append(r)
    return out


def by_epoch(records: list[dict]) -> dict[int, dict]:
    """epoch -> the last record of that epoch, in epoch order; records without an int epoch are dropped."""
    out = {}
    for r in records:
        e = r.get("epoch")
        if isinstance(e, int) and not isinstance(e, bool):
            out[e] = r
    return dict(sorted(out.items()))


def append_jsonl(path, record: dict) -> None:
    """Append one record as a line and fsync it (a crash loses at most the line being written;
    after a line cut by a kill the record starts a new line, so it is not lost with the cut one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab+") as f:
        cut = f.tell() > 0 and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n"
        f.write((("\n" if cut else "") + json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def atomic_path(path, *, mode: int = 0o644, fsync: bool = True):
    """Yield a temporary path next to `path`; when the block has written it, fsync it and rename it
    onto `path`. On any error the temporary file is removed and `path` is left as it was.
    fsync=False for disposable files (an app's answer): still never half a file to a reader,
    but a power cut may lose it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # one name per process and thread: two app requests (threads) or two ranks may write one file
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)   # some writers (safetensors) create 0600 files; records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX: the folder's entry is data too); best effort: the file itself
    is already complete, and Windows cannot open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_jsonl_atomic(path, records: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


LOCK_NAME = ".lock"   # the run folder's lock file (a dot file: never staged for the Space)


@contextmanager
def locked(run_dir):
    """Serialise read-modify-write of a run's records (training and the command line may both write,
    other threads and other processes alike). filelock, not fcntl: fcntl does not exist on Windows,
    and this module is on the app's import path. The lock file stays in the folder (on Unix
    filelock keeps it, so that waiters lock the same inode)."""
    with FileLock(Path(run_dir) / LOCK_NAME):
        yield


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and x == x else None


def best_epoch(records: list[dict]) -> dict | None:
    """The best of a run's evaluation records, or None when none has a readability.

    The rule: the highest readability; readabilities within READABILITY_TIE (0.1 point) of it are
    a tie, decided by the higher diversity (a record without one loses), then by the earlier epoch
    (the sooner a run gets there, the better)."""
    rated = [r for r in records if _number(r.get("readability")) is not None and isinstance(r.get("epoch"), int)]
    if not rated:
        return None
    top = max(r["readability"] for r in rated)
    tied = [r for r in rated if r["readability"] >= top - READABILITY_TIE]
    return min(tied, key=lambda r: (-_diversity(r), r["epoch"]))


def _diversity(record: dict) -> float:
    d = _number(record.get("diversity"))
    return -math.inf if d is None else d
