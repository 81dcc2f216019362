"""Hangul labels: the 520 SERI95 classes, EUC-KR <-> syllable <-> index, jamo, text -> tokens.

The class list is a file shipped with the package (seri95_classes.tsv, in EUC-KR order) and is
always stored inside every checkpoint: a model's classes are read from its metadata, never
inferred from whatever data happens to be on disk.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

CLASSES_TSV = Path(__file__).with_name("seri95_classes.tsv")

# Unicode Hangul Syllables block: 가 (U+AC00) .. 힣 (U+D7A3) = 19 * 21 * 28 = 11,172 syllables.
SBASE, SCOUNT = 0xAC00, 11172
LCOUNT, VCOUNT, TCOUNT = 19, 21, 28
INITIALS = list("ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ")
MEDIALS = list("ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ")
FINALS = [""] + list("ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")


def is_syllable(ch: str) -> bool:
    """True for a precomposed Hangul syllable (가..힣)."""
    return len(ch) == 1 and SBASE <= ord(ch) < SBASE + SCOUNT


def decompose(syllable: str) -> tuple[str, str, str]:
    """'각' -> ('ㄱ', 'ㅏ', 'ㄱ'); the final is '' when there is none."""
    assert is_syllable(syllable), f"not a precomposed Hangul syllable: {syllable!r}"
    s = ord(syllable) - SBASE
    return INITIALS[s // (VCOUNT * TCOUNT)], MEDIALS[(s % (VCOUNT * TCOUNT)) // TCOUNT], FINALS[s % TCOUNT]


def compose(initial: str, medial: str, final: str = "") -> str:
    """Inverse of decompose: ('ㄱ', 'ㅏ', 'ㄱ') -> '각'."""
    for name, table, jamo in (("initial", INITIALS, initial), ("medial", MEDIALS, medial), ("final", FINALS, final)):
        assert jamo in table, f"{jamo!r} is not a valid {name} jamo"
    li, vi, ti = INITIALS.index(initial), MEDIALS.index(medial), FINALS.index(final)
    return chr(SBASE + (li * VCOUNT + vi) * TCOUNT + ti)


def euckr_hex(syllable: str) -> str:
    """'가' -> 'b0a1' (KS X 1001 code, lower-case hex, as in SERI95 files and the original folders)."""
    try:
        raw = syllable.encode("euc-kr")
    except UnicodeEncodeError:
        raw = b""
    # Python's codec spells the 8,822 syllables outside KS X 1001's 2,350 as 8-byte jamo sequences
    if len(raw) != 2:
        raise ValueError(f"{syllable!r} has no 2-byte EUC-KR (KS X 1001) code")
    return raw.hex()


def from_euckr(code: str | int | bytes) -> str:
    """'b0a1' / 0xB0A1 / b'\\xb0\\xa1' -> '가'. Raises ValueError for a code that is not a syllable."""
    if isinstance(code, str):
        raw = bytes.fromhex(code.strip())
    elif isinstance(code, int):
        raw = code.to_bytes(2, "big")
    else:
        raw = bytes(code)
    try:
        ch = raw.decode("euc-kr")
    except UnicodeDecodeError:
        raise ValueError(f"EUC-KR code {raw.hex()} does not decode") from None
    if not is_syllable(ch):
        raise ValueError(f"EUC-KR code {raw.hex()} is {ch!r}, not a Hangul syllable")
    return ch


@dataclass(frozen=True)
class ClassList:
    """An ordered list of syllables; index i is the class label i."""

    syllables: tuple[str, ...]

    def __post_init__(self):
        assert len(self.syllables) > 0, "a class list needs at least one syllable"
        assert len(set(self.syllables)) == len(self.syllables), "duplicate syllables in the class list"
        bad = [s for s in self.syllables if not is_syllable(s)]
        assert not bad, f"not Hangul syllables: {bad[:5]}"

    def __len__(self) -> int:
        return len(self.syllables)

    def __iter__(self):
        return iter(self.syllables)

    def __contains__(self, ch: str) -> bool:
        return ch in self._index

    @cached_property
    def _index(self) -> dict[str, int]:
        # once per list, kept on it: an lru_cache keyed by the tuple hashed all its syllables (11,172
        # for a jamo run) on every lookup, ~3 ms of a 20-syllable /write (issue 22)
        return {s: i for i, s in enumerate(self.syllables)}

    def index(self, syllable: str) -> int:
        try:
            return self._index[syllable]
        except KeyError:
            raise KeyError(f"{syllable!r} is not one of the {len(self)} classes") from None

    def syllable(self, index: int) -> str:
        return self.syllables[index]

    def subset(self, n: int) -> "ClassList":
        """The first n classes in file order (used for tiny test and ablation runs)."""
        assert 1 <= n <= len(self), f"subset size must be in 1..{len(self)}, got {n}"
        return ClassList(self.syllables[:n])

    def to_list(self) -> list[str]:
        return list(self.syllables)


@lru_cache(maxsize=1)
def seri95() -> ClassList:
    """The 520 SERI95 classes, in the order of seri95_classes.tsv (EUC-KR order)."""
    rows = []
    for line in CLASSES_TSV.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        syl, hexcode, cp = line.split("\t")
        assert euckr_hex(syl) == hexcode.lower(), f"{CLASSES_TSV}: {syl} has EUC-KR {euckr_hex(syl)}, file says {hexcode}"
        assert f"U+{ord(syl):04X}" == cp, f"{CLASSES_TSV}: {syl} is U+{ord(syl):04X}, file says {cp}"
        rows.append(syl)
    return ClassList(tuple(rows))


@lru_cache(maxsize=1)
def all_syllables() -> ClassList:
    """All 11,172 precomposed syllables in Unicode order: index i is U+AC00 + i. The label space of
    jamo-conditioned runs (their generator reads the components off the index, see jamo_of)."""
    return ClassList(tuple(chr(SBASE + i) for i in range(SCOUNT)))


@lru_cache(maxsize=1)
def ksx1001() -> ClassList:
    """The 2,350 syllables of KS X 1001 (EUC-KR rows 0xB0..0xC8), in code order: the syllables
    everyday Korean text is made of (the 520 SERI95 classes are among them)."""
    out = []
    for hi in range(0xB0, 0xC9):
        for lo in range(0xA1, 0xFF):
            out.append(bytes([hi, lo]).decode("euc-kr"))
    return ClassList(tuple(out))


def jamo_index(syllable: str) -> tuple[int, int, int]:
    """'각' -> (0, 0, 1): indices into INITIALS (19), MEDIALS (21) and FINALS (28, 0 = none)."""
    assert is_syllable(syllable), f"not a precomposed Hangul syllable: {syllable!r}"
    s = ord(syllable) - SBASE
    return s // (VCOUNT * TCOUNT), (s % (VCOUNT * TCOUNT)) // TCOUNT, s % TCOUNT


def jamo_of(index):
    """Index into all_syllables() (an int or an int64 tensor) -> (initial, medial, final) indices."""
    return index // (VCOUNT * TCOUNT), (index % (VCOUNT * TCOUNT)) // TCOUNT, index % TCOUNT


# The vowel's layout: where the medial sits relative to the initial. Vertical vowels (ㅏ ㅓ ㅣ ...)
# stand right of it, horizontal ones (ㅗ ㅜ ㅡ ...) below it, mixed ones (ㅘ ㅢ ...) wrap it.
VERTICAL, HORIZONTAL, MIXED = 0, 1, 2
MEDIAL_LAYOUT = tuple(HORIZONTAL if m in "ㅗㅛㅜㅠㅡ" else MIXED if m in "ㅘㅙㅚㅝㅞㅟㅢ" else VERTICAL for m in MEDIALS)


def parse_classes(spec: str | int | None) -> ClassList:
    """'seri95' or None -> all 520; 'ksx1001' -> 2,350; 'all' -> 11,172; an int n -> the first n
    SERI95 classes; a string of syllables -> those."""
    if spec is None or spec == "seri95":
        return seri95()
    if spec == "ksx1001":
        return ksx1001()
    if spec == "all":
        return all_syllables()
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return seri95().subset(int(spec))
    return ClassList(tuple(ch for ch in spec if not ch.isspace()))


# ---- text -> tokens -------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    """One character of input text. kind: 'syllable' (index is its class), 'space', 'newline',
    or 'unknown' (a character the model cannot write; char keeps it so it is never dropped)."""

    kind: str
    char: str
    index: int = -1


MAX_TEXT = 10_000


def tokenize(text: str, classes: ClassList) -> list[Token]:
    """Text -> tokens. NFC-normalises first so decomposed jamo sequences become syllables.
    '\\r\\n' and '\\r' count as one newline; tabs count as spaces; other control characters
    are 'unknown' (shown, not drawn)."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    tokens = []
    for ch in text:
        if ch == "\n":
            tokens.append(Token("newline", ch))
        elif ch in (" ", "\t", "\u3000"):
            tokens.append(Token("space", ch))
        elif ch in classes:
            tokens.append(Token("syllable", ch, classes.index(ch)))
        else:
            tokens.append(Token("unknown", ch))
    return tokens
