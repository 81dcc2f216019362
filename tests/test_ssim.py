"""rekogan.writer.losses.ssim, the SSIM the app and `imitate` show, against torchmetrics' SSIM.

Ours is the convention of Wang et al.'s reference code (and scikit-image): a Gaussian window of
11 px, sigma 1.5, filtered 'valid', so the mean is over the window centres whose window lies in
the image. torchmetrics pads the image by reflection and averages over every pixel, border
included; on glyphs, whose borders are plain paper (SSIM 1 there), that reads higher (0.43
against 0.32 for one syllable of two writers of the fixed run). So the reference is torchmetrics' full SSIM map
(return_full_image) with the 5 px border cut off, which must equal ours within TOLERANCE.
"""
from __future__ import annotations

import pytest
import torch

from conftest import REPO
from rekogan.writer.losses import ssim

TOLERANCE = 1e-5    # float32 sums of 121 products: observed differences are ~1e-7
WINDOW, SIGMA = 11, 1.5
FIXED = REPO / "checkpoints" / "fixed" / "epoch_186.safetensors"


def reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) torchmetrics' SSIM map of images in [-1, 1], averaged over the valid window centres."""
    try:
        from torchmetrics.functional.image import structural_similarity_index_measure
    except ImportError:
        pytest.fail("torchmetrics is not installed (pip install -r requirements-dev.txt): "
                    "it is the reference the writer's SSIM is checked against", pytrace=False)
    _, full = structural_similarity_index_measure((a + 1) / 2, (b + 1) / 2, gaussian_kernel=True, sigma=SIGMA,
                                                  kernel_size=WINDOW, data_range=1.0, return_full_image=True)
    r = WINDOW // 2
    return full[..., r:-r, r:-r].mean(dim=(1, 2, 3))


@pytest.mark.parametrize("size", [16, 64])
def test_ssim_matches_torchmetrics_on_random_images(size):
    g = torch.Generator().manual_seed(size)
    a = torch.rand(16, 1, size, size, generator=g) * 2 - 1
    noise = torch.randn(16, 1, size, size, generator=g) * torch.linspace(0.05, 2, 16)[:, None, None, None]
    b = (a + noise).clamp(-1, 1)                      # from nearly the same image to nearly unrelated
    ours, ref = ssim(a, b), reference(a, b)
    assert ours.shape == (16,)
    assert (ours - ref).abs().max() < TOLERANCE, (ours, ref)
    assert ours[0] > 0.9 and ours[-1] < 0.3, "the noise sweep must span near-identical to unrelated"


@pytest.fixture(scope="module")
def glyphs():
    """Two writers (seeds 1 and 2) of the shipped fixed run, 26 syllables each, in [-1, 1]."""
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import generate, seed_to_z
    g, _ = load_generator(FIXED)
    labels = torch.arange(0, 520, 20)
    with torch.no_grad():
        return (generate(g, labels, seed_to_z(1, g.cfg.z_dim)), generate(g, labels, seed_to_z(2, g.cfg.z_dim)))


def test_ssim_matches_torchmetrics_on_glyphs(glyphs):
    a, b = glyphs
    ours, ref = ssim(a, b), reference(a, b)
    assert (ours - ref).abs().max() < TOLERANCE, (ours, ref)
    same = ssim(a, a)
    assert (same - 1).abs().max() < TOLERANCE, "a glyph against itself"
    shifted = torch.roll(a, shifts=2, dims=-1)
    assert (ssim(a, shifted) - reference(a, shifted)).abs().max() < TOLERANCE
