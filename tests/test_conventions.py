"""rekogan.conventions: seed and psi checks, truncation, epoch file names, ink conversions; torch-free."""
from __future__ import annotations

import math

import pytest
import torch

from rekogan.conventions import (EPOCH_RE, MAX_SEED, check_seed, check_truncation, epoch_file, grid_file, state_file,
                                 to_paper, to_unit, truncate)
from conftest import run_py


@pytest.mark.parametrize("given, seed", [(0, 0), (MAX_SEED, MAX_SEED), (7.0, 7), ("12", 12), (" 3 ", 3), ("4.0", 4)])
def test_seeds_that_are_accepted(given, seed):
    assert check_seed(given) == seed and type(check_seed(given)) is int


@pytest.mark.parametrize("given, words", [(-1, "0..2,147,483,647"), (MAX_SEED + 1, "0..2,147,483,647"),
                                          (1.5, "whole number"), ("abc", "whole number"), (True, "whole number"),
                                          (None, "whole number"), (math.nan, "whole number")])
def test_seeds_that_are_refused_say_why(given, words):
    with pytest.raises(ValueError, match=None) as e:
        check_seed(given, name="first seed")
    assert words in str(e.value) and "first seed" in str(e.value)


def test_truncation_bounds_are_inclusive_and_nan_is_refused():
    assert check_truncation(0) == 0.0 and check_truncation("1") == 1.0 and check_truncation(0.25) == 0.25
    for bad in (-0.01, 1.01, math.nan, math.inf, "x", None, True):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            check_truncation(bad)


def test_truncation_scales_towards_the_mean():
    z = torch.randn(8)
    assert torch.equal(truncate(z, 0.5), z * 0.5) and torch.equal(truncate(z, 0.0), torch.zeros(8))


def test_epoch_file_names_round_trip():
    assert epoch_file(7) == "epoch_007.safetensors" and state_file(12) == "state_012.safetensors"
    assert grid_file(200) == "grid_200.png"
    assert int(EPOCH_RE.match(epoch_file(1234)).group(1)) == 1234 and not EPOCH_RE.match("state_001.safetensors")


def test_ink_conversions():
    white_on_black = torch.tensor([[0, 255], [128, 64]], dtype=torch.uint8)
    unit = to_unit(white_on_black)
    assert unit.dtype == torch.float32 and unit.min() == -1 and unit.max() == 1
    paper = to_paper(unit[None, None])                             # (1, 1, 2, 2) -> (1, 2, 2)
    assert torch.equal(paper[0], 255 - white_on_black)             # ink is dark on paper, exactly


def test_importing_conventions_imports_no_torch():
    code = "import sys, rekogan.conventions, rekogan.records, rekogan.cli; print('torch' in sys.modules)"
    assert run_py(["-c", code], check=True).stdout.strip() == "False"


def test_natural_and_size_are_checked_in_one_place():
    from rekogan.conventions import (DEFAULT_GLYPH_SIZE, GLYPH_SIZES, NATURAL_DEFAULT, check_natural, check_size)
    from rekogan.studio.inputs import StudioError, check_natural as studio_natural, check_size as studio_size
    assert check_natural(0) == 0.0 and check_natural("1") == 1.0 and check_natural(0.45) == 0.45
    for bad in (-0.01, 1.01, math.nan, math.inf, True, "lots", None):
        with pytest.raises(ValueError, match="Natural must be a number in 0..1"):
            check_natural(bad)
    assert [check_size(s) for s in (64, 128.0, "256")] == [64, 128, 256]
    for bad in (32, 100, 255.5, "big", True, None, math.nan):
        with pytest.raises(ValueError, match="one of 64, 128, 256"):
            check_size(bad)
    # the studio's versions: None is the default (an API caller who leaves the input out), errors are StudioErrors
    assert studio_natural(None) == NATURAL_DEFAULT and studio_size(None) == DEFAULT_GLYPH_SIZE in GLYPH_SIZES
    with pytest.raises(StudioError, match="크기"):
        studio_size(512)
    with pytest.raises(StudioError, match="자연스러움"):
        studio_natural(2)
