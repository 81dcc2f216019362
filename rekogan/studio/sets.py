"""Which syllables: the sets a sheet can show (paged), and which run can write what a panel cannot.

  sheet sets  'classes' (the run's class list, in class order), 'seri95' (the 520), 'ksx1001'
              (2,350), 'heldout' (the syllables a jamo run never saw in training, from its
              split.json: held-out KS X 1001 ones, then the others)
  paging      a set of up to SHEET_WHOLE syllables is one page (a 520-class run's sheet as it always
              was); a larger one is split into pages of SHEET_PAGE
  suggestion  when a panel's run cannot write some typed syllables, the run that can, named in a note
  defaults    the app's runs: the collapse story (collapsed, fixed), the best run that writes
              every syllable (the Write tab's right panel, Font, Sheet), and for My hand the best
              hand run (a run with a style encoder, HAND_ENCODER beside its epochs) when there is one
  SheetPage   one drawn page of a set and its notice (what, which page, what the run cannot write)

A run's class list is read from its default checkpoint's metadata (no model is built, torch is not
imported: only the safetensors header is read) and cached per file (path, mtime).
"""
from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass

import numpy as np

from ..hangul import SCOUNT, is_syllable
from .cache import mtime
from .inputs import StudioError
from .registry import EpochInfo, Registry, RunInfo

HAND_ENCODER = "encoder.safetensors"   # a hand run's style encoder (scripts/ship_writer_run.py)
SHEET_PAGE = 260              # syllables per page of a large set (10 rows of 26)
SHEET_WHOLE = 520             # a set of at most this many is drawn whole, on one page
SHEET_SETS = {                # name -> label for the UI
    "classes": "the run's classes · 모델의 글자",
    "seri95": "SERI95 (520) · 자주 쓰는 520자",
    "ksx1001": "KS X 1001 (2,350) · 완성형",
    "heldout": "held out in training (split.json) · 학습에서 뺀 글자",
}

_CLASS_CACHE: dict[tuple, tuple[str, ...] | None] = {}
_LOCK = threading.Lock()


def epoch_classes(info: EpochInfo) -> tuple[str, ...] | None:
    """The class list (syllables) of a checkpoint from its metadata, or None when unreadable. Reads
    only the safetensors header, without torch: the app picks its default runs by it while it builds
    the page, before torch is imported (cache.py)."""
    key = (str(info.path), mtime(info.path))
    with _LOCK:
        if key in _CLASS_CACHE:
            return _CLASS_CACHE[key]
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(info.path), framework="numpy") as f:
            out = tuple(json.loads((f.metadata() or {})["classes"]))
    except (SafetensorError, OSError, ValueError, KeyError, TypeError):
        out = None
    with _LOCK:
        _CLASS_CACHE[key] = out
    return out


def run_classes(run: RunInfo) -> tuple[str, ...] | None:
    """The class list of a run's default (best, else last) epoch; None when it cannot be read."""
    return epoch_classes(run.best)


def story_runs(registry: Registry) -> tuple[str | None, str | None]:
    """(left, right) of the collapse story (Evolution, Diagnostics, Walk): collapsed and fixed when
    present, else the first two runs."""
    names = registry.names()
    if not names:
        return None, None
    left = "collapsed" if "collapsed" in names else names[0]
    right = "fixed" if "fixed" in names else next((n for n in names if n != left), left)
    return left, right


def default_runs(registry: Registry) -> tuple[str | None, str | None]:
    """(left, right) of the Write tab (right: also Font and Sheet): the story's left beside the best
    run that writes any syllable (hangul); without one, the story's pair. Hand runs are not chosen:
    their seed writers vary less (they are tuned to copy a hand, see hand_run)."""
    left, right = story_runs(registry)
    if left is None:
        return None, None
    return left, any_syllable_run(registry, besides=left, hand=False) or right


def is_hand_run(run: RunInfo) -> bool:
    """A run shipped with a style encoder (its fits start from the encoder's writer)."""
    return (run.best.path.parent / HAND_ENCODER).is_file()


def hand_run(registry: Registry) -> str | None:
    """My hand's run: the best hand run that writes any syllable, else Write's right run. 'Use this
    writer' then moves the Write and Font tabs to it (a hand run's writer is drawn by that run only)."""
    return any_syllable_run(registry, hand=True) or default_runs(registry)[1]


def any_syllable_run(registry: Registry, *, besides: str | None = None, hand: bool | None = None) -> str | None:
    """The run that writes every Hangul syllable (all 11,172 classes) and reads best at its default
    epoch (an unevaluated one last; a tie goes to the registry's order), other than `besides`; hand:
    only hand runs (True), none (False), either (None); None when no run qualifies."""
    best, best_r = None, None
    for name, run in registry.runs().items():
        classes = run_classes(run) if name != besides else None
        if classes is None or len(classes) < SCOUNT or (hand is not None and is_hand_run(run) != hand):
            continue
        r = run.best.readability if run.best.readability is not None else -1.0
        if best is None or r > best_r:
            best, best_r = name, r
    return best


def suggest_run(registry: Registry, *, current: str, missing) -> str:
    """A note naming the run that writes the syllables `missing` (not in run `current`), or ''.
    Prefers a run that writes every Hangul syllable, then the one with the most classes."""
    missing = tuple(dict.fromkeys(c for c in missing if is_syllable(c)))
    if not missing:
        return ""
    best, best_n = None, -1
    for name, run in registry.runs().items():
        if name == current:
            continue
        classes = run_classes(run)
        if classes is None or len(classes) <= best_n:
            continue
        have = set(classes)
        if all(c in have for c in missing):
            best, best_n = name, len(classes)
    cur = registry.runs().get(current)
    n_cur = len(run_classes(cur) or ()) if cur else 0
    shown = "".join(missing[:20]) + ("…" if len(missing) > 20 else "")
    verb = "is" if len(missing) == 1 else "are"
    head = f"{shown} {verb} not among the {n_cur:,} classes of '{current}'"
    if best is None:
        return head + "; no run here writes " + ("it." if len(missing) == 1 else "all of them.")
    what = "any syllable" if best_n >= SCOUNT else ("it" if len(missing) == 1 else "all of them")
    return f"{head}; the '{best}' run writes {what}: choose it in this panel's run menu. · '{best}' 실행을 고르세요."


def heldout(run: RunInfo) -> tuple[str, ...]:
    """The held-out syllables of a jamo run (split.json): KS X 1001 ones, then the others."""
    from ..split import SyllableSplit
    path = run.path / "split.json"
    if not path.is_file():
        raise StudioError(f"Run '{run.name}' holds no syllables out of training (it has no split.json); "
                          "choose another set. · 이 실행에는 학습에서 뺀 글자가 없습니다.")
    try:
        split = SyllableSplit.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as e:
        raise StudioError(f"Run '{run.name}': split.json cannot be read ({type(e).__name__}).") from None
    return tuple(split.heldout)


def sheet_set(name, run: RunInfo, classes) -> tuple[str, tuple[str, ...]]:
    """(label, syllables) of the sheet set `name` for a run whose model has `classes`."""
    from .. import hangul
    key = name.strip().lower() if isinstance(name, str) else name
    key = {None: "classes", "": "classes"}.get(key, key)
    if key not in SHEET_SETS:
        raise StudioError(f"Unknown syllable set {name!r}: choose one of {', '.join(SHEET_SETS)}.")
    if key == "classes":
        return SHEET_SETS[key], tuple(classes)
    if key == "seri95":
        return SHEET_SETS[key], tuple(hangul.seri95())
    if key == "ksx1001":
        return SHEET_SETS[key], tuple(hangul.ksx1001())
    return SHEET_SETS[key], heldout(run)


@dataclass(frozen=True)
class Paged:
    syllables: tuple[str, ...]   # the syllables of this page
    page: int                    # 1-based
    pages: int
    first: int                   # index of the page's first syllable in the whole set
    total: int


def page_of(syllables: tuple[str, ...], page: int) -> Paged:
    """Page `page` (1-based, already a whole number >= 1) of a set; StudioError past the last page."""
    n = len(syllables)
    size = n if n <= SHEET_WHOLE else SHEET_PAGE
    pages = max(1, math.ceil(n / size)) if n else 1
    if page > pages:
        raise StudioError(f"Page {page} is past the last page: this set has {pages} page{'s' * (pages > 1)} "
                          f"({n:,} syllables). · 마지막 쪽은 {pages}쪽입니다.")
    first = (page - 1) * size
    return Paged(syllables=syllables[first:first + size], page=page, pages=pages, first=first, total=n)


@dataclass(frozen=True)
class SheetPage:
    image: np.ndarray
    info: EpochInfo
    set_label: str
    paged: "Paged"
    missing: tuple[str, ...]             # syllables of this page the run cannot write (grey print)
    notes: tuple[str, ...] = ()

    @property
    def notice(self) -> str:
        p = self.paged
        head = (f"**{self.info.run}** · {self.info.label} · {self.set_label}: syllables {p.first + 1:,}–"
                f"{p.first + len(p.syllables):,} of {p.total:,} · page {p.page} of {p.pages}")
        miss = ""
        if self.missing:
            shown = "".join(self.missing[:40]) + ("…" if len(self.missing) > 40 else "")
            miss = (f"{len(self.missing):,} of these syllables are not among this run's classes and are shown "
                    f"in grey print: {shown}")
        return "\n\n".join(x for x in (head, miss, *self.notes) if x)
