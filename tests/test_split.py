"""The syllable split of jamo runs: fixed, disjoint, every component seen in training."""
from __future__ import annotations

import pytest

from rekogan.hangul import jamo_index, ksx1001, seri95
from rekogan.split import SyllableSplit, check_split, make_split


def test_split_sizes_and_disjointness():
    s = make_split("ksx1001")
    assert len(s.heldout_ksx1001) >= 0.10 * len(ksx1001())            # >= 10 % of the 2,350
    assert len(s.heldout_other) == 500
    assert not set(s.train) & set(s.heldout)
    assert set(s.train) | set(s.heldout_ksx1001) == set(ksx1001())
    assert not set(s.heldout_other) & set(ksx1001())
    assert set(seri95()) <= set(s.train)                              # the 520 stay in training


def test_split_is_deterministic_and_round_trips():
    a, b = make_split("ksx1001"), make_split("ksx1001")
    assert a.to_dict() == b.to_dict()
    assert SyllableSplit.from_dict(a.to_dict()) == a
    assert make_split("ksx1001", seed=1).heldout_ksx1001 != a.heldout_ksx1001


def test_every_component_occurs_in_training():
    s = make_split("ksx1001")
    seen = [set(), set(), set()]
    for syl in s.train:
        for part, i in zip(seen, jamo_index(syl)):
            part.add(i)
    assert [len(p) for p in seen] == [19, 21, 28]


def test_check_split_catches_a_missing_component():
    s = make_split("ksx1001")
    # drop every training syllable with the final ㅋ (index 24): the check must name it
    train = tuple(x for x in s.train if jamo_index(x)[2] != 24 or x in set(seri95()))
    from rekogan.hangul import ClassList
    if any(jamo_index(x)[2] == 24 for x in train):
        pytest.skip("a SERI95 class ends in ㅋ")
    bad = SyllableSplit(ClassList(train), s.heldout_ksx1001, s.heldout_other, s.spec, s.seed)
    with pytest.raises(ValueError, match="ㅋ"):
        check_split(bad)


def test_unknown_split_is_refused():
    with pytest.raises(AssertionError, match="unknown syllable split"):
        make_split("everything")


def test_rest_split_keeps_the_held_out_syllables_and_adds_rare_ones():
    from rekogan.split import check_same_heldout
    base, wide = make_split("ksx1001"), make_split("ksx1001+rest300")
    assert wide.heldout == base.heldout and wide.train == base.train   # what was never seen stays so
    assert len(wide.extra) == 300 and not set(wide.extra) & (set(ksx1001()) | set(wide.heldout))
    assert list(wide.trained) == list(base.train) + list(wide.extra)
    check_same_heldout(base, wide)
    assert SyllableSplit.from_dict(wide.to_dict()) == wide
    assert SyllableSplit.from_dict(base.to_dict()).extra == ()
    with pytest.raises(ValueError, match="holds out other"):
        check_same_heldout(base, make_split("ksx1001", seed=1))
    with pytest.raises(ValueError, match="drops"):
        check_same_heldout(make_split("ksx1001+rest300"), make_split("ksx1001+rest100"))


def test_rest_split_teaches_the_rare_finals():
    # KS X 1001 trains the finals ㅋ and ㄿ on one syllable each: the extra syllables give each many
    from rekogan.hangul import FINALS
    count = lambda syls, f: sum(jamo_index(s)[2] == FINALS.index(f) for s in syls)  # noqa: E731
    base, wide = make_split("ksx1001"), make_split("ksx1001+rest2000")
    assert count(base.train, "ㄿ") == 1 and count(wide.trained, "ㄿ") >= 20
