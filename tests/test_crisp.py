"""studio/crisp.py: the one way a view enlarges glyphs (the shipped upscaler, else bilinear with a note)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rekogan.studio import crisp


def _glyphs(n=2, size=64):
    g = np.full((n, size, size), 255, np.uint8)           # dark ink on white, as the studio's pictures
    c = size // 2
    g[:, size // 4:3 * size // 4, c - size // 16:c + size // 16] = 0     # a vertical stroke
    g[:, c - size // 16:c + size // 16, size // 4:3 * size // 4] = 0     # and a horizontal one
    return g


@pytest.mark.parametrize("size", [128, 256])
def test_enlarge_keeps_the_glyph_and_its_polarity(size):
    g = _glyphs()
    big, note = crisp.enlarge(g, size=size)
    assert note == "" and big.shape == (2, size, size) and big.dtype == np.uint8
    assert big[:, 0, 0].min() > 200 and big[:, size // 2, size // 2].max() < 55       # paper stays paper, ink ink
    back = torch.nn.functional.interpolate(torch.from_numpy(big)[:, None].float(), size=(64, 64), mode="area")[:, 0]
    assert (back.numpy() - g).__abs__().mean() < 12                                      # downsampled ~ the input
    assert np.isin(big, [0, 255]).mean() > np.isin(
        torch.nn.functional.interpolate(torch.from_numpy(g)[:, None].float(), size=(size, size), mode="bilinear")
        [:, 0].round().numpy(), [0, 255]).mean()                                       # crisper than bilinear


def test_enlarge_same_size_is_a_copy_and_tensors_stay_tensors():
    g = torch.from_numpy(_glyphs())
    same, note = crisp.enlarge(g, size=64)
    assert note == "" and torch.equal(same, g) and same.data_ptr() != g.data_ptr()
    small = torch.from_numpy(_glyphs(size=16))                # a run drawn at 16 px goes through 64 px
    big, _ = crisp.enlarge(small, size=128)
    assert isinstance(big, torch.Tensor) and big.shape == (2, 128, 128)


def test_a_missing_upscaler_enlarges_bilinearly_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(crisp.UPSCALER_ENV, str(tmp_path / "none.safetensors"))
    big, note = crisp.enlarge(_glyphs(), size=256)
    assert big.shape == (2, 256, 256) and "upscaler could not be loaded" in note and "none.safetensors" in note
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    monkeypatch.setenv(crisp.UPSCALER_ENV, str(bad))
    assert "could not be loaded" in crisp.enlarge(_glyphs(), size=128)[1]


def test_size_64_never_needs_the_upscaler(tmp_path, monkeypatch):
    monkeypatch.setenv(crisp.UPSCALER_ENV, str(tmp_path / "none.safetensors"))
    small = torch.from_numpy(_glyphs(size=16))               # a 16 px run asked at 64 px: resized, no note
    big, note = crisp.enlarge(small, size=64)
    assert big.shape == (2, 64, 64) and note == ""


def test_the_fast_x2_networks_serving_path_is_its_training_path_bit_for_bit():
    """FastX2.forward without autograd sums in place and shuffles by a view (speed): the same numbers."""
    from rekogan.upscale.model import FastX2, FastX2Config, Upscaler
    torch.manual_seed(0)
    model = FastX2(FastX2Config(channels=8, convs=3)).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)
    torch.nn.init.normal_(model.head.bias, std=0.1)
    x = torch.rand(5, 1, 64, 64) ** 3
    for bf16 in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                served = model(x)[128]
            trained = model(x)[128]                  # grad enabled: the out-of-place path
        assert trained.requires_grad and not served.requires_grad
        assert served.shape == (5, 1, 128, 128) and torch.equal(served, trained.detach()), bf16
        assert not torch.equal(served, Upscaler.prior(x, 128))
