"""Hangul labels: the 520 SERI95 classes, EUC-KR <-> syllable <-> index, jamo, text -> tokens."""
from __future__ import annotations

import unicodedata

import pytest

from rekogan.hangul import (FINALS, INITIALS, MEDIALS, SBASE, SCOUNT, ClassList, compose, decompose, euckr_hex,
                            from_euckr, is_syllable, parse_classes, seri95, tokenize)

ALL_SYLLABLES = [chr(SBASE + i) for i in range(SCOUNT)]


# ---- the class list -------------------------------------------------------------------------

def test_seri95_has_520_distinct_syllables_in_euckr_order():
    classes = seri95()
    assert len(classes) == 520
    assert len(set(classes)) == 520
    assert all(is_syllable(s) for s in classes)
    codes = [int(euckr_hex(s), 16) for s in classes]
    assert codes == sorted(codes), "the class list must be in EUC-KR order"
    assert classes.syllable(519) == classes.to_list()[-1]


def test_ga_is_b0a1_u_ac00_and_class_0():
    classes = seri95()
    assert classes.syllable(0) == "가" == chr(0xAC00)
    assert classes.index("가") == 0
    assert euckr_hex("가") == "b0a1"
    assert from_euckr("b0a1") == from_euckr("B0A1") == from_euckr(0xB0A1) == from_euckr(b"\xb0\xa1") == "가"


def test_round_trips_for_all_520():
    classes = seri95()
    for i, s in enumerate(classes):
        h = euckr_hex(s)
        assert len(h) == 4 and h == h.lower()
        assert from_euckr(h) == s
        assert from_euckr(int(h, 16)) == s
        assert from_euckr(bytes.fromhex(h)) == s
        assert classes.index(s) == i
        assert classes.syllable(classes.index(from_euckr(h))) == s
        assert classes.index(classes.syllable(i)) == i


def test_tsv_file_agrees_with_the_codecs():
    from rekogan.hangul import CLASSES_TSV
    rows = [ln.split("\t") for ln in CLASSES_TSV.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert len(rows) == 520
    for (syl, hexcode, cp), s in zip(rows, seri95()):
        assert syl == s and from_euckr(hexcode) == s and cp == f"U+{ord(s):04X}"


def test_parse_classes_and_subsets():
    assert parse_classes(None) is seri95() and parse_classes("seri95") is seri95()
    assert parse_classes("4").to_list() == seri95().to_list()[:4] == parse_classes(4).to_list()
    assert parse_classes("가 각\n간").to_list() == ["가", "각", "간"]
    with pytest.raises(AssertionError):
        parse_classes("가가")                      # duplicates
    with pytest.raises(AssertionError):
        parse_classes("가A")                       # not a syllable
    with pytest.raises(AssertionError):
        seri95().subset(521)
    with pytest.raises(KeyError, match="똠"):
        seri95().index("똠")
    assert "가" in seri95() and "똠" not in seri95()


# ---- jamo ------------------------------------------------------------------------------------

def test_decompose_compose_over_all_11172_syllables():
    assert (len(INITIALS), len(MEDIALS), len(FINALS)) == (19, 21, 28)
    seen = set()
    for ch in ALL_SYLLABLES:
        parts = decompose(ch)
        assert compose(*parts) == ch
        seen.add(parts)
        # independent check against Unicode's canonical decomposition (conjoining jamo)
        nfd = unicodedata.normalize("NFD", ch)
        assert INITIALS.index(parts[0]) == ord(nfd[0]) - 0x1100
        assert MEDIALS.index(parts[1]) == ord(nfd[1]) - 0x1161
        assert FINALS.index(parts[2]) == (ord(nfd[2]) - 0x11A7 if len(nfd) == 3 else 0)
    assert len(seen) == SCOUNT


def test_decompose_examples_and_errors():
    assert decompose("각") == ("ㄱ", "ㅏ", "ㄱ")
    assert decompose("가") == ("ㄱ", "ㅏ", "")
    assert decompose("힣") == ("ㅎ", "ㅣ", "ㅎ")
    assert compose("ㄸ", "ㅗ", "ㅁ") == "똠"
    with pytest.raises(AssertionError):
        decompose("A")
    with pytest.raises(AssertionError):
        decompose("가각")
    with pytest.raises(AssertionError):
        compose("ㅏ", "ㄱ")                        # a medial as the initial
    with pytest.raises(AssertionError):
        compose("ㄱ", "ㅏ", "ㄸ")                   # ㄸ is never a final


# ---- EUC-KR ----------------------------------------------------------------------------------

def test_euckr_hex_refuses_syllables_outside_ks_x_1001():
    for ch in ("똠", "힣", "샾"):                   # 힣 and 샾 are also outside the 2,350
        with pytest.raises(ValueError, match="KS X 1001"):
            euckr_hex(ch)
    with pytest.raises(ValueError):
        euckr_hex("A")                            # one byte in EUC-KR


def test_ks_x_1001_has_2350_syllables():
    inside = [ch for ch in ALL_SYLLABLES if _has_code(ch)]
    assert len(inside) == 2350
    assert set(seri95()) <= set(inside)


def _has_code(ch: str) -> bool:
    try:
        euckr_hex(ch)
        return True
    except ValueError:
        return False


def test_from_euckr_errors():
    with pytest.raises(ValueError, match="not a Hangul syllable"):
        from_euckr("a4a1")                        # ㄱ (a compatibility jamo, not a syllable)
    with pytest.raises(ValueError):
        from_euckr("ffff")
    with pytest.raises(ValueError):
        from_euckr("zz")


# ---- text -> tokens --------------------------------------------------------------------------

CLS = parse_classes("가각간")


def test_tokenize_keeps_spaces_newlines_and_unknown_characters():
    text = "가 각\n간\tA7😀\x07é똠"
    toks = tokenize(text, CLS)
    assert [t.char for t in toks] == list(text), "no character may be dropped"
    assert [t.kind for t in toks] == ["syllable", "space", "syllable", "newline", "syllable", "space",
                                      "unknown", "unknown", "unknown", "unknown", "unknown", "unknown"]
    assert [t.index for t in toks if t.kind == "syllable"] == [0, 1, 2]
    assert all(t.index == -1 for t in toks if t.kind != "syllable")


def test_tokenize_newline_conventions_and_wide_space():
    toks = tokenize("가\r\n각\r간\u3000가", CLS)
    assert [t.kind for t in toks] == ["syllable", "newline", "syllable", "newline", "syllable", "space", "syllable"]
    assert tokenize("", CLS) == []
    assert [t.kind for t in tokenize("\n\n", CLS)] == ["newline", "newline"]


def test_tokenize_normalises_nfd_input():
    nfd = unicodedata.normalize("NFD", "가각간똠")
    assert len(nfd) > 4                           # really decomposed
    toks = tokenize(nfd, CLS)
    assert [(t.kind, t.char, t.index) for t in toks] == [
        ("syllable", "가", 0), ("syllable", "각", 1), ("syllable", "간", 2), ("unknown", "똠", -1)]


def test_tokenize_with_the_full_class_list():
    toks = tokenize("한국어 글씨", seri95())
    assert [t.kind for t in toks] == ["syllable"] * 3 + ["space"] + ["syllable"] * 2
    assert all(seri95().syllable(t.index) == t.char for t in toks if t.kind == "syllable")


def test_class_list_is_validated():
    with pytest.raises(AssertionError):
        ClassList(())
    with pytest.raises(AssertionError):
        ClassList(("가", "가"))


# ---- any syllable: the label space of jamo runs -----------------------------------------

def test_all_syllables_and_ksx1001():
    from rekogan.hangul import all_syllables, ksx1001, parse_classes, seri95
    a = all_syllables()
    assert len(a) == 11172 and a.syllable(0) == "가" and a.syllable(11171) == "힣" and a.index("뷁") == ord("뷁") - 0xAC00
    k = ksx1001()
    assert len(k) == 2350 and k.syllable(0) == "가" and "녕" in k and "뷁" not in k
    assert set(seri95()) <= set(k)
    assert parse_classes("all") is a and parse_classes("ksx1001") is k


def test_jamo_index_matches_decompose():
    import torch
    from rekogan.hangul import FINALS, INITIALS, MEDIALS, all_syllables, decompose, jamo_index, jamo_of
    for ch in "가각녕닳뷁힣":
        li, vi, ti = jamo_index(ch)
        assert (INITIALS[li], MEDIALS[vi], FINALS[ti]) == decompose(ch)
        t = torch.tensor([all_syllables().index(ch)])
        assert tuple(int(x) for x in jamo_of(t)) == (li, vi, ti)


def test_medial_layout():
    from rekogan.hangul import HORIZONTAL, MEDIAL_LAYOUT, MEDIALS, MIXED, VERTICAL
    lay = dict(zip(MEDIALS, MEDIAL_LAYOUT))
    assert lay["ㅏ"] == VERTICAL and lay["ㅗ"] == HORIZONTAL and lay["ㅘ"] == MIXED and lay["ㅢ"] == MIXED
