"""The syllable split of a jamo-conditioned run: the syllables it trains on and the ones it never sees.

A jamo run can write all 11,172 syllables, but it trains on a subset. To measure whether it
really composes syllables from their components (rather than memorising glyphs), a fixed set of
syllables is held out of training and evaluated separately:

  heldout_ksx1001  >= 10 % of the 2,350 KS X 1001 syllables (common ones), never SERI95 classes
  heldout_other    a sample of the 8,822 syllables outside KS X 1001 (rare combinations)
  train            KS X 1001 minus heldout_ksx1001 (the 520 SERI95 classes always among them)
  extra            only in 'ksx1001+restN': N more training syllables drawn from outside KS X 1001
                   (never a held-out one). KS X 1001 gives some components almost no examples
                   (of the 2,115 training syllables, the finals ㅋ and ㄿ occur in one each, 엌
                   and 읊, ㄵ and ㄾ in two), so a run trained on it alone misreads rare
                   syllables; the extra ones are taught from the faces that have them (many
                   faces cover KS X 1001 only)

'ksx1001+restN' draws exactly the held-out sets of 'ksx1001' (same RNG stream, first), so a run
may move from one to the other on --resume (check_same_heldout) and its held-out syllables are
never seen in either phase. The split is a pure function of (spec, seed), checked (every
initial, medial and final occurs in training; train and held-out are disjoint) and written into
the run as split.json.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from .hangul import FINALS, INITIALS, MEDIALS, ClassList, all_syllables, jamo_index, ksx1001, seri95

SPLIT_VERSION = 1
HELDOUT_KSX_FRACTION = 0.10
HELDOUT_OTHER = 500


@dataclass(frozen=True)
class SyllableSplit:
    train: ClassList
    heldout_ksx1001: ClassList
    heldout_other: ClassList
    spec: str
    seed: int
    extra: tuple[str, ...] = ()            # a ClassList cannot be empty: plain syllables

    @property
    def heldout(self) -> ClassList:
        return ClassList(self.heldout_ksx1001.syllables + self.heldout_other.syllables)

    @property
    def trained(self) -> ClassList:
        """Every syllable the run trains on: train (KS X 1001's) then extra."""
        return ClassList(self.train.syllables + tuple(self.extra))

    def to_dict(self) -> dict:
        return {"version": SPLIT_VERSION, "spec": self.spec, "seed": self.seed,
                "train": "".join(self.train), "heldout_ksx1001": "".join(self.heldout_ksx1001),
                "heldout_other": "".join(self.heldout_other), "extra": "".join(self.extra),
                "counts": {"train": len(self.train), "heldout_ksx1001": len(self.heldout_ksx1001),
                           "heldout_other": len(self.heldout_other), "extra": len(self.extra)}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> "SyllableSplit":
        return cls(ClassList(tuple(d["train"])), ClassList(tuple(d["heldout_ksx1001"])),
                   ClassList(tuple(d["heldout_other"])), d["spec"], int(d["seed"]),
                   tuple(d.get("extra", "")))


_SPEC = re.compile(r"ksx1001(?:\+rest(\d+))?")


def make_split(spec: str = "ksx1001", *, seed: int = 0) -> SyllableSplit:
    """The split named `spec`, drawn with its own RNG: 'ksx1001', or 'ksx1001+restN' (the same
    held-out syllables, and N extra training syllables from outside KS X 1001)."""
    m = _SPEC.fullmatch(spec)
    assert m, f"unknown syllable split {spec!r}; jamo runs use 'ksx1001' or 'ksx1001+restN' (e.g. ksx1001+rest2000)"
    n_extra = int(m.group(1) or 0)
    rng = random.Random(f"rekogan-split-ksx1001-{seed}")   # str seeds hash stably across Python versions
    ks, keep = ksx1001(), set(seri95())
    n_held = -(-len(ks) * int(HELDOUT_KSX_FRACTION * 100) // 100)         # ceil(10 %) = 235
    pool = [s for s in ks if s not in keep]
    held_ks = sorted(rng.sample(pool, n_held))
    held_set = set(held_ks)
    train = [s for s in ks if s not in held_set]                           # KS X 1001 order
    ks_set = set(ks)
    others = [s for s in all_syllables() if s not in ks_set]
    held_other = sorted(rng.sample(others, HELDOUT_OTHER))
    held_set = set(held_other)
    rest = [s for s in others if s not in held_set]
    assert n_extra <= len(rest), f"{spec}: at most {len(rest)} extra syllables exist outside KS X 1001"
    extra = sorted(random.Random(f"rekogan-split-extra-{seed}").sample(rest, n_extra))
    split = SyllableSplit(ClassList(tuple(train)), ClassList(tuple(held_ks)), ClassList(tuple(held_other)), spec, seed,
                          tuple(extra))
    check_split(split)
    return split


def check_same_heldout(old: SyllableSplit, new: SyllableSplit) -> None:
    """Raise ValueError unless both splits hold out the same syllables (a run may change its
    split on --resume only so: what it never saw stays never seen)."""
    if list(old.heldout) != list(new.heldout) or list(old.train) != list(new.train):
        raise ValueError(f"split {new.spec!r} holds out other syllables than the run's {old.spec!r}; "
                         "a run can only add extra training syllables")
    if set(old.extra) - set(new.extra):
        raise ValueError(f"split {new.spec!r} drops extra syllables the run already trained on")


def check_split(split: SyllableSplit) -> None:
    """Raise ValueError unless train and held-out are disjoint, the SERI95 classes are all in
    training, and every initial, medial and final occurs in some training syllable."""
    train = set(split.trained)
    if train & set(split.heldout):
        raise ValueError(f"split {split.spec}: {len(train & set(split.heldout))} syllables are both train and held out")
    missing = [s for s in seri95() if s not in train]
    if missing:
        raise ValueError(f"split {split.spec}: SERI95 classes missing from training: {''.join(missing[:10])}")
    seen = [set(), set(), set()]
    for s in split.trained:
        for part, i in zip(seen, jamo_index(s)):
            part.add(i)
    for name, table, part in (("initial", INITIALS, seen[0]), ("medial", MEDIALS, seen[1]), ("final", FINALS, seen[2])):
        absent = [table[i] or "(none)" for i in range(len(table)) if i not in part]
        if absent:
            raise ValueError(f"split {split.spec}: the {name}s {absent} never occur in training")
