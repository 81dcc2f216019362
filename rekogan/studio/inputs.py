"""What a person typed, checked once at the boundary: text, seed, psi, weight, steps, epoch, syllable, page.

Every problem raises StudioError, whose message is shown to the user as is. The seed and psi
rules themselves are rekogan.conventions'; this module only puts them in the app's words.
After these checks only parsed values (and z) travel on.
"""
from __future__ import annotations

import re
import unicodedata

from .. import conventions
from ..hangul import MAX_TEXT, Token, is_syllable

WALK_MAX_TEXT = 64            # characters in a latent-walk text (each frame renders the whole text)
WALK_MAX_STEPS = 48
WRAP_CELLS = 32               # a rendered line wraps (at a space when possible) after this many glyphs
ALLOWED_CONTROLS = "\n\r\t"


class StudioError(ValueError):
    """Something the user asked for cannot be done; str(e) is a message for people."""


def check_text(text, *, max_chars: int = MAX_TEXT) -> str:
    """The text as given, or StudioError: not a string, empty, too long, control characters."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise StudioError(f"The text must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise StudioError("The text is empty: type some Korean, e.g. 가나다. · 글을 입력하세요.")
    if len(text) > max_chars:
        raise StudioError(f"The text has {len(text):,} characters; the limit is {max_chars:,}. "
                          f"· 글이 너무 깁니다 (최대 {max_chars:,}자).")
    bad = [(i, ch) for i, ch in enumerate(text)
           if ch not in ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs")]
    if bad:
        shown = ", ".join(f"U+{ord(ch):04X} at position {i + 1}" for i, ch in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise StudioError(f"The text contains control characters ({shown}{more}); remove them. "
                          "· 제어 문자를 지워 주세요.")
    return text


def check_seed(seed, *, name: str = "seed") -> int:
    """conventions.check_seed, as a StudioError with a Korean hint."""
    try:
        return conventions.check_seed(seed, name=name)
    except ValueError as e:
        raise StudioError(f"{e} · 시드 범위를 벗어났습니다.") from None


def _as_studio_error(check, value, korean: str):
    """A conventions check whose ValueError becomes a StudioError, with the Korean half of the message."""
    try:
        return check(value)
    except ValueError as e:
        raise StudioError(f"{e} · {korean}") from None


def check_truncation(psi) -> float:
    """conventions.check_truncation, as a StudioError."""
    return _as_studio_error(conventions.check_truncation, psi, "ψ는 0과 1 사이입니다.")


def check_weight(weight) -> float:
    """conventions.check_weight, as a StudioError; None (an API caller who leaves it out) is 0."""
    if weight is None:
        return 0.0
    return _as_studio_error(conventions.check_weight, weight, "획 굵기는 -2(가늘게)와 2(굵게) 사이입니다.")


def check_natural(natural) -> float:
    """conventions.check_natural, as a StudioError; None (an API caller who leaves it out) is the default."""
    if natural is None:
        return conventions.NATURAL_DEFAULT
    return _as_studio_error(conventions.check_natural, natural, "자연스러움은 0과 1 사이입니다.")


def check_size(size) -> int:
    """conventions.check_size, as a StudioError; None (an API caller who leaves it out) is the default."""
    if size is None:
        return conventions.DEFAULT_GLYPH_SIZE
    return _as_studio_error(conventions.check_size, size, "크기는 64, 128, 256 중 하나입니다.")


def check_page(page) -> int:
    """A page number: a whole number >= 1 (None is page 1); the upper bound is the sheet's."""
    if page is None:
        return 1
    if isinstance(page, float) and page.is_integer():
        page = int(page)
    if isinstance(page, str) and page.strip().isdigit():
        page = int(page)
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise StudioError(f"The page must be a whole number from 1, got {page!r}. · 쪽 번호를 확인하세요.")
    return page


def check_steps(steps, *, low: int = 2, high: int = WALK_MAX_STEPS) -> int:
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    if isinstance(steps, str) and steps.strip().isdigit():
        steps = int(steps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not low <= steps <= high:
        raise StudioError(f"Steps must be a whole number in {low}..{high}, got {steps!r}.")
    return steps


def parse_epoch(spec) -> int | str:
    """None/''/'best' -> 'best'; 'last'; 12, 12.0, '12', '012', 'epoch 12 · 96.1% readable' -> 12."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "best")):
        return "best"
    if isinstance(spec, str) and spec.strip().lower() in ("last", "latest"):
        return "last"
    if isinstance(spec, float) and spec.is_integer():
        spec = int(spec)
    if isinstance(spec, int) and not isinstance(spec, bool) and spec >= 0:
        return spec
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*(?:epoch[\s_]*)?(\d+)\b.*", spec, flags=re.IGNORECASE | re.DOTALL)
        if m:
            return int(m.group(1))
    raise StudioError(f"Unknown epoch {spec!r}: give an epoch number, 'best' or 'last'.")


def one_syllable(syllable) -> str:
    s = (syllable or "").strip() if isinstance(syllable, str) else ""
    if len(s) != 1 or not is_syllable(s):
        raise StudioError(f"Give exactly one Hangul syllable (e.g. 가), got {syllable!r}. · 한 글자를 입력하세요.")
    return s


def describe_char(ch: str) -> str:
    """'A' -> 'A'; invisible or odd characters get their code point: 'U+200B'."""
    if ch.isprintable() and not ch.isspace() and ch != "`" and unicodedata.category(ch) not in ("Cf", "Co", "Cn"):
        return ch
    return f"U+{ord(ch):04X}"


def unknown_chars(tokens: list[Token]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.char for t in tokens if t.kind == "unknown"))


def unknown_notice(unknown, *, n_classes: int) -> str:
    if not unknown:
        return ""
    shown = ", ".join(f"`{describe_char(c)}`" for c in unknown[:40])
    more = f" (+{len(unknown) - 40} more)" if len(unknown) > 40 else ""
    return (f"Not among this model's {n_classes} syllables, shown in grey print · "
            f"모델이 쓸 수 없는 글자 (회색 인쇄체): {shown}{more}")


def wrap_tokens(tokens: list[Token], *, cells: int = WRAP_CELLS) -> list[Token]:
    """Insert line breaks so no line is wider than `cells` glyphs (a space is half a glyph).
    Breaks at the last space of a line when it has one (that space is dropped), else mid-word."""
    limit = 2 * cells                                      # in half-cells
    out: list[Token] = []
    line: list[Token] = []
    width = 0

    def w(t: Token) -> int:
        return 1 if t.kind == "space" else 2

    for t in tokens:
        if t.kind == "newline":
            out += line + [t]
            line, width = [], 0
            continue
        if width + w(t) > limit and t.kind != "space":
            cut = max((i for i, u in enumerate(line) if u.kind == "space"), default=-1)
            if cut > 0:
                out += line[:cut] + [Token("newline", "\n")]
                line = line[cut + 1:]
            else:
                out += line + [Token("newline", "\n")]
                line = []
            width = sum(w(u) for u in line)
        line.append(t)
        width += w(t)
    return out + line
