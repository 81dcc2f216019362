"""scripts/distill_upscaler.py's pieces that decide what the fast x2 network learns and how it is served:
faint inputs, the targets pulled back to what is written, and the served file's settings."""
from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from conftest import REPO
from rekogan.upscale.apply import load, save_upscaler
from rekogan.upscale.model import FastX2, FastX2Config


@pytest.fixture(scope="module")
def distill():
    spec = importlib.util.spec_from_file_location("distill_upscaler", REPO / "scripts" / "distill_upscaler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strokes(n=6):
    x = torch.zeros(n, 1, 64, 64)
    x[:, :, 16:48, 28:36] = 1.0
    x[:, :, 28:36, 16:48] = 1.0
    return x


def test_faint_inputs_are_faint_on_uint8_levels_and_the_rest_untouched(distill):
    x = _strokes()
    g = torch.Generator().manual_seed(0)
    faint = distill.make_faint(x, g, share=1.0, ink=(0.3, 0.7))
    top = faint.flatten(1).max(1).values
    assert ((top >= 0.3 - 1e-6) & (top <= 0.7 + 1e-6)).all(), top
    assert faint.flatten(1).min(1).values.max() <= distill.FAINT_PAPER + 1e-6
    assert torch.equal(faint * 255, (faint * 255).round()), "uint8 levels, as a PNG holds them"
    assert torch.equal(distill.make_faint(x, g, share=0.0, ink=(0.3, 0.7)), x)


def test_keep_written_pulls_back_only_the_glyphs_the_teacher_changed(distill):
    x = _strokes(2)
    good = 8.0 * (F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False) - 0.5)   # keeps the glyph
    blob = torch.full((1, 1, 128, 128), -8.0)
    blob[:, :, 24:104, 24:104] = 8.0                                           # a filled block over the cross
    logits = torch.cat([good[:1], blob])
    out, kept = distill.keep_written(logits, x, gate=0.05, steps=4)
    assert kept.tolist() == [False, True]
    assert torch.equal(out[0], logits[0]), "a glyph the teacher kept is its target as it was"

    def change(lg):
        return (F.avg_pool2d(torch.sigmoid(lg), 2) - x[1:]).abs().mean()
    assert change(out[1:]) < 0.5 * change(logits[1:])
    same, none = distill.keep_written(logits, x, gate=0.05, steps=0)
    assert torch.equal(same, logits) and not none.any()


def test_a_finished_file_serves_the_network_with_its_offset_and_settings(distill, tmp_path):
    torch.manual_seed(0)
    net = FastX2(FastX2Config(channels=4, convs=2))
    torch.nn.init.normal_(net.head.weight, std=0.05)
    src, dst = tmp_path / "x2.safetensors", tmp_path / "served.safetensors"
    save_upscaler(src, net, epoch=0, step=7, config={"lr": 1})
    distill.finish_file(str(src), str(dst), offset=-0.5, sharpness=1.5, keep_steps=1)
    a, b = load(src), load(dst)
    assert (b.sharpness, b.keep_steps, a.sharpness, a.keep_steps) == (1.5, 1, 1.0, 0)
    assert b.info["config"]["logit_offset"] == -0.5 and b.info["config"]["lr"] == 1 and b.info["step"] == 7
    x = _strokes(2)
    la, lb = a.logits(x, size=128), b.logits(x, size=128)
    assert torch.allclose(lb - la, torch.full_like(la, -0.5), atol=0.05)       # fp16 weights, bf16 where native
    assert b.ink(x, size=128).sum() < a.ink(x, size=128).sum(), "a negative offset draws less ink"
