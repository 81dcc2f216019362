"""The inputs of an export checked before anything heavy is imported: the syllable set (seri95,
ksx1001, all, or the syllables of a text) and the output path."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .. import hangul

NAMED = ("seri95", "ksx1001", "all")


class ExportError(ValueError):
    """Bad input to a font or SVG export; the message is one line meant for the user."""


@dataclass(frozen=True)
class SyllableSet:
    """syllables: wanted, unique, in order; ignored: characters of a text that are not syllables."""

    name: str
    syllables: tuple[str, ...]
    ignored: tuple[str, ...] = ()


def _ksx1001() -> tuple[str, ...]:
    helper = getattr(hangul, "ksx1001", None)  # hangul.ksx1001() where that helper exists
    if helper is not None:
        return tuple(helper())
    # KS X 1001's Hangul block: EUC-KR rows 0xB0..0xC8, cells 0xA1..0xFE = 25 x 94 = 2,350
    return tuple(bytes([hi, lo]).decode("euc-kr") for hi in range(0xB0, 0xC9) for lo in range(0xA1, 0xFF))


def syllable_set(spec: str) -> SyllableSet:
    """'seri95' (520), 'ksx1001' (2,350), 'all' (11,172), or a text: its Hangul syllables."""
    if not isinstance(spec, str) or not spec.strip():
        raise ExportError("the syllable set is empty: give seri95, ksx1001, all, or a text with Hangul syllables")
    key = spec.strip().lower()
    if key == "seri95":
        return SyllableSet("seri95", tuple(hangul.seri95()))
    if key == "ksx1001":
        return SyllableSet("ksx1001", _ksx1001())
    if key == "all":
        return SyllableSet("all", tuple(chr(hangul.SBASE + i) for i in range(hangul.SCOUNT)))
    text = unicodedata.normalize("NFC", spec)
    wanted = tuple(dict.fromkeys(ch for ch in text if hangul.is_syllable(ch)))
    ignored = tuple(dict.fromkeys(ch for ch in text if not hangul.is_syllable(ch) and not ch.isspace()))
    if not wanted:
        raise ExportError(f"{spec[:40]!r} is not a syllable set ({', '.join(NAMED)}) and has no Hangul syllables")
    return SyllableSet("text", wanted, ignored)


def check_out_path(out) -> tuple[Path, bool]:
    """-> (path, cff). .ttf is TrueType (quadratic, cu2qu), .otf keeps the cubics in CFF."""
    path = Path(out)
    if path.suffix.lower() not in (".ttf", ".otf"):
        raise ExportError(f"the output must end in .ttf (TrueType) or .otf (CFF), got {path.name!r}")
    if not path.parent.is_dir():
        raise ExportError(f"output folder does not exist: {path.parent}")
    return path, path.suffix.lower() == ".otf"
