"""The runs under a checkpoints root: their epochs, each with readability and diversity.

A run is every sub-folder holding epoch_NNN.safetensors files (folders without generator files,
such as checkpoints/classifier, are not runs); each epoch's figures come from the run's
evaluation.jsonl. The root is $REKOGAN_CHECKPOINTS, else ./checkpoints. Torch-free.
"""
from __future__ import annotations

import json
import math
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..conventions import EPOCH_RE
from ..records import best_epoch, by_epoch, read_jsonl
from .inputs import StudioError, parse_epoch

REGISTRY_TTL = 2.0            # seconds a scan of the checkpoints root is reused
PREFERRED_RUNS = ("collapsed", "fixed")
HOW_TO_GET_CHECKPOINTS = (
    "Put generator runs in `checkpoints/RUN/epoch_NNN.safetensors` (e.g. `python scripts/ship.py runs/fixed "
    "checkpoints/fixed`), or point `REKOGAN_CHECKPOINTS` at a folder of runs. A quick test run: "
    "`python train.py --preset tiny --out checkpoints/tiny`.")


def default_root() -> Path:
    """$REKOGAN_CHECKPOINTS, else ./checkpoints, else checkpoints/ next to the package."""
    env = os.environ.get("REKOGAN_CHECKPOINTS")
    if env:
        return Path(env).expanduser()
    here = Path("checkpoints")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "checkpoints"


@dataclass(frozen=True)
class EpochInfo:
    run: str
    epoch: int
    path: Path
    readability: float | None = None     # fraction 0..1, from evaluation.jsonl
    diversity: float | None = None
    problem: str | None = None           # why the file cannot be a checkpoint (probe()), else None

    @property
    def label(self) -> str:
        if self.problem:
            return f"epoch {self.epoch} · unreadable file"
        r = f" · {self.readability:.1%} readable" if self.readability is not None else ""
        return f"epoch {self.epoch}{r}"


@dataclass(frozen=True)
class RunInfo:
    name: str
    path: Path
    epochs: tuple[EpochInfo, ...]

    @property
    def last(self) -> EpochInfo:
        return self.epochs[-1]

    @property
    def good(self) -> tuple[EpochInfo, ...]:
        """The epochs whose files look like checkpoints (all of them when none does)."""
        return tuple(e for e in self.epochs if not e.problem) or self.epochs

    @property
    def problems(self) -> tuple[str, ...]:
        """'RUN/FILE: why' for each epoch file that cannot be a checkpoint."""
        return tuple(f"{self.name}/{e.path.name}: {e.problem}" for e in self.epochs if e.problem)

    @property
    def best(self) -> EpochInfo:
        """The best epoch by rekogan.records.best_epoch among the good files; the last good one when
        none is evaluated."""
        good = self.good
        b = best_epoch([{"epoch": e.epoch, "readability": e.readability, "diversity": e.diversity} for e in good])
        return next((e for e in good if e.epoch == b["epoch"]), good[-1]) if b else good[-1]

    def get(self, epoch: int | str) -> EpochInfo:
        if epoch == "best":
            return self.best
        if epoch == "last":
            return self.good[-1]
        for e in self.epochs:
            if e.epoch == epoch:
                return e
        have = ", ".join(str(e.epoch) for e in self.epochs)
        raise StudioError(f"Run '{self.name}' has no epoch {epoch}; saved epochs: {have}.")


def number(x) -> float | None:
    """x as a float when it is a finite number (not a bool), else None."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


_EVAL_CACHE: dict[str, tuple[tuple, dict]] = {}
_EVAL_LOCK = threading.Lock()


def evaluations(run_dir: Path) -> dict[int, dict]:
    """epoch -> the latest evaluation.jsonl record of that epoch (parsed again only when the file
    changes: a trained run's records carry per-class lists, hundreds of KB). Do not mutate the result."""
    path = Path(run_dir) / "evaluation.jsonl"
    try:
        st = path.stat()
    except OSError:
        return {}
    key = (st.st_mtime_ns, st.st_size)
    with _EVAL_LOCK:
        hit = _EVAL_CACHE.get(str(path))
    if hit and hit[0] == key:
        return hit[1]
    out = by_epoch(read_jsonl(path))
    with _EVAL_LOCK:
        _EVAL_CACHE[str(path)] = (key, out)
    return out


_PROBES: dict[tuple, str | None] = {}


def probe(path: Path) -> str | None:
    """Why `path` cannot be a safetensors checkpoint (a pickle, a header or data cut short, a header
    that is not JSON), or None when its header and size agree. Reads only the header; cached by
    (path, mtime, size). Torch-free: the full check is rekogan.checkpoints' load."""
    try:
        st = path.stat()
    except OSError as e:
        return f"cannot read it ({e.strerror or e})"
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key in _PROBES:
        return _PROBES[key]
    why = None
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:2] == b"PK" or head[:1] == b"\x80":
                why = "a pickle (torch.save) file; only .safetensors checkpoints are loaded"
            elif len(head) < 8:
                why = f"truncated: {st.st_size} bytes, not even a safetensors header"
            else:
                (n,) = struct.unpack("<Q", head)
                if n > st.st_size - 8:
                    why = f"truncated or corrupt: its header claims {n:,} bytes, the file has {st.st_size:,}"
                else:
                    header = json.loads(f.read(n).decode("utf-8"))
                    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
                    need = 8 + n + max(ends, default=0)
                    if need > st.st_size:
                        why = f"truncated: its tensors need {need:,} bytes, the file has {st.st_size:,}"
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError, AttributeError) as e:
        why = f"not a safetensors file ({type(e).__name__})"
    if len(_PROBES) > 4096:
        _PROBES.clear()
    _PROBES[key] = why
    return why


def scan_run(run_dir: Path) -> RunInfo | None:
    """A RunInfo for a folder with epoch_NNN.safetensors files, else None."""
    try:
        found = sorted((int(m.group(1)), p) for p in Path(run_dir).iterdir() if (m := EPOCH_RE.match(p.name)))
    except OSError:
        return None
    if not found:
        return None
    ev = evaluations(run_dir)
    epochs = tuple(EpochInfo(run=run_dir.name, epoch=e, path=p, readability=number(ev.get(e, {}).get("readability")),
                             diversity=number(ev.get(e, {}).get("diversity")), problem=probe(p)) for e, p in found)
    return RunInfo(name=run_dir.name, path=Path(run_dir), epochs=epochs)


class Registry:
    """The runs under a checkpoints root, rescanned at most every REGISTRY_TTL seconds."""

    def __init__(self, root: str | Path | None = None, *, ttl: float = REGISTRY_TTL):
        self.root = Path(root) if root is not None else default_root()
        self.ttl = ttl
        self._lock = threading.Lock()
        self._runs: dict[str, RunInfo] = {}
        self._scanned = -math.inf

    def runs(self) -> dict[str, RunInfo]:
        """name -> RunInfo, 'collapsed' and 'fixed' first, then the others by name."""
        with self._lock:
            if time.monotonic() - self._scanned > self.ttl:
                self._runs = self._scan()
                self._scanned = time.monotonic()
            return self._runs

    def _scan(self) -> dict[str, RunInfo]:
        try:
            dirs = [d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        except OSError:
            return {}
        found = {d.name: r for d in dirs if (r := scan_run(d)) is not None}
        order = [n for n in PREFERRED_RUNS if n in found] + sorted(n for n in found if n not in PREFERRED_RUNS)
        return {n: found[n] for n in order}

    def names(self) -> list[str]:
        return list(self.runs())

    def problems(self) -> list[str]:
        """'RUN/FILE: why' for every epoch file under the root that cannot be a checkpoint."""
        return [p for r in self.runs().values() for p in r.problems]

    def run(self, name) -> RunInfo:
        runs = self.runs()
        if not isinstance(name, str) or not name.strip():
            raise StudioError("Choose a run. · 실행(run)을 고르세요." + self._available(runs))
        if name.strip() not in runs:
            raise StudioError(f"Unknown run {name!r}." + self._available(runs))
        return runs[name.strip()]

    def epoch(self, run, epoch) -> EpochInfo:
        return self.run(run).get(parse_epoch(epoch))

    def _available(self, runs: dict) -> str:
        if runs:
            return " Available runs: " + ", ".join(runs) + "."
        return f" No runs found under {self.root}. " + HOW_TO_GET_CHECKPOINTS
