"""A font's alternates: N glyphs per syllable, and the OpenType features that use them.

A font built with N alternates (1-4) holds, for each syllable, its default glyph uniXXXX
(occurrence 0 of rekogan.variation) and uniXXXX.alt1 .. uniXXXX.alt{N-1} (occurrences 1..N-1):
the same writer, each drawn a little differently, as a hand draws a repeated syllable.

  calt  contextual alternates, on by default in browsers and word processors: a syllable after a
        default form becomes alt1, after alt1 alt2, ..., after the last alternate the default again
        (one space between them is looked through), so typed 가가가가 with 3 glyphs a syllable
        shows 가 가.alt1 가.alt2 가. Repeats N syllables apart look alike; adjacent ones never do.
  clig  the same lookup again. HarfBuzz's Hangul shaper switches calt off for Hangul syllables
        (as Uniscribe does; harfbuzz/harfbuzz#4850, #6030), so Chromium 156 drew 가가가가 as four
        identical glyphs with calt alone, even with font-feature-settings "calt" 1; clig, a default
        contextual feature it keeps, made it cycle (measured here; tests/test_browser.py). A shaper
        that applies both runs the lookup once (HarfBuzz merges a lookup two features share), and
        it changes nothing the second time. font-feature-settings "calt" 0, "clig" 0 turns it off.
  aalt  access all alternates: for each syllable the list alt1..alt{N-1} (an alternate lookup),
        what a font menu's glyph picker shows
  salt  stylistic alternates: the same alternate lookup, so salt=k picks alternate k

The feature text is written with glyph classes (one class per alternate, rules between classes):
only the class lists grow with the syllable count, the rules (2 (N-1) of them) do not. For a KS X
1001 font with 3 alternates (7,050 glyphs) that is 80 KB of text, which fontTools' feature compiler
(feaLib) turned into GSUB in 0.10 s here.
"""
from __future__ import annotations

from fontTools.feaLib.builder import addOpenTypeFeaturesFromString

ALTERNATES = (1, 4)       # the allowed numbers of glyphs per syllable
GAP = ("space", "uni3000")  # glyphs the calt cycle looks through (one of them between two syllables)
CYCLE_FEATURES = ("calt", "clig")   # the features that cycle the alternates (see the module docstring)


def alt_name(base: str, k: int) -> str:
    """The name of alternate k of a glyph: uniAC00, 2 -> uniAC00.alt2 (k 0 is the glyph itself)."""
    return base if k == 0 else f"{base}.alt{k}"


def check_alternates(n) -> int:
    """A whole number in ALTERNATES, or ValueError with a message for people."""
    lo, hi = ALTERNATES
    if isinstance(n, bool) or not isinstance(n, int) or not lo <= n <= hi:
        raise ValueError(f"alternates must be a whole number in {lo}..{hi} (glyphs per syllable), got {n!r}")
    return n


def feature_text(bases: list[str], n: int) -> str:
    """The feature file (OpenType feature syntax) for glyphs `bases`, each with alternates 1..n-1."""
    check_alternates(n)
    if n == 1 or not bases:
        return ""
    lines = ["languagesystem DFLT dflt;", "languagesystem hang dflt;", "languagesystem hang KOR;",
             f"@gap = [{' '.join(GAP)}];", f"@alt0 = [{' '.join(bases)}];"]
    for k in range(1, n):
        lines.append(f"@alt{k} = [{' '.join(alt_name(b, k) for b in bases)}];")
        lines.append(f"lookup to_alt{k} {{ sub @alt0 by @alt{k}; }} to_alt{k};")
    # the cycle: the first rule that matches wins, and the backtrack sees the glyphs this lookup
    # already changed, so each default form takes the next alternate of the glyph before it
    cycle = []
    for k in range(n - 2, -1, -1):
        cycle.append(f"  sub @alt{k} @alt0' lookup to_alt{k + 1};")
        cycle.append(f"  sub @alt{k} @gap @alt0' lookup to_alt{k + 1};")
    lines += ["lookup cycle {", *cycle, "} cycle;"]
    lines += [f"feature {tag} {{ lookup cycle; }} {tag};" for tag in CYCLE_FEATURES]
    # aalt from single substitutions: feaLib gathers each glyph's alternates into one alternate lookup
    lines += ["feature aalt {", *(f"  sub @alt0 by @alt{k};" for k in range(1, n)), "} aalt;"]
    lines += ["feature salt {", "  lookup to_alt1;", "} salt;"]   # pointed at aalt's lookup below
    return "\n".join(lines) + "\n"


def add_features(font, bases: list[str], n: int) -> None:
    """Compile calt, aalt and salt into `font` (a TTFont whose glyph order has every alternate)."""
    text = feature_text(bases, n)
    if not text:
        return
    addOpenTypeFeaturesFromString(font, text, tables=["GSUB"])
    _salt_picks_any_alternate(font)


def _salt_picks_any_alternate(font) -> None:
    """feaLib writes a one-from (alternate) lookup only for aalt or for one rule per glyph; salt
    shares aalt's lookups, so salt=1..n-1 picks that alternate (salt was compiled as alt1 alone)."""
    records = font["GSUB"].table.FeatureList.FeatureRecord
    aalt = [r.Feature for r in records if r.FeatureTag == "aalt"]
    assert aalt, "feaLib built no aalt feature"
    for r in records:
        if r.FeatureTag == "salt":
            r.Feature.LookupListIndex = list(aalt[0].LookupListIndex)
            r.Feature.LookupCount = len(r.Feature.LookupListIndex)
