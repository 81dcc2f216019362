"""The runs under a checkpoints root: their epochs, each with readability and diversity.

A run is every sub-folder holding epoch_NNN.safetensors files (folders without generator files,
such as checkpoints/classifier, are not runs); each epoch's figures come from the run's
evaluation.jsonl. The root is $REKOGAN_CHECKPOINTS, else ./checkpoints. Torch-free.
"""
from __future__ import annotations

import math
import os
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

    @property
    def label(self) -> str:
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
    def best(self) -> EpochInfo:
        """The best epoch by rekogan.records.best_epoch; the last epoch when none is evaluated."""
        b = best_epoch([{"epoch": e.epoch, "readability": e.readability, "diversity": e.diversity}
                        for e in self.epochs])
        return self.get(b["epoch"]) if b else self.last

    def get(self, epoch: int | str) -> EpochInfo:
        if epoch == "best":
            return self.best
        if epoch == "last":
            return self.last
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
                             diversity=number(ev.get(e, {}).get("diversity"))) for e, p in found)
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
