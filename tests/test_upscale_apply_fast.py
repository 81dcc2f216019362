"""upscale/apply.py's serving path (upscale() at 128 / 256 px: logits in sub-pixel phase layout, the
back-projection at 64 px) against the reference path (ink(): the network's pixel-shuffled logits,
back_project at full size, the path `upscaler test` measures and training differentiates), and
layout.py's group sampling against the way it sampled before (a float copy of the line, stacked).
Equivalence, not timing: the same pixels, within 1 grey level on a tiny share where float rounding
differs. scripts/bench_app.py measures the time."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rekogan import layout
from rekogan.upscale import apply
from rekogan.upscale.model import Upscaler, UpscalerConfig

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / apply.UPSCALER_FILE
HANGUL = REPO / "checkpoints" / "hangul"


def _strokes(n: int, *, seed: int) -> torch.Tensor:
    """(n, 64, 64) uint8 white ink on black: bars of several widths and greys, some speckle."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, 64, 64, dtype=torch.uint8)
    for i in range(n):
        for _ in range(4):
            y, x = torch.randint(4, 52, (2,), generator=g).tolist()
            width = int(torch.randint(2, 9, (1,), generator=g))
            h, w = (width, 40) if i % 2 else (40, width)
            out[i, y:y + h, x:x + w] = int(torch.randint(120, 256, (1,), generator=g))
        out[i] = out[i].maximum((torch.rand(64, 64, generator=g) > 0.985).to(torch.uint8) * 200)
    return out


def _reference(up: apply.GlyphUpscaler, ink: torch.Tensor, *, size: int, sharpness=None) -> torch.Tensor:
    """What upscale() returned before its serving path: ink()'s floats, rounded."""
    x = ink.unsqueeze(1).float().div(255)
    return up.ink(x, size=size, sharpness=sharpness).mul(255).round().to(torch.uint8)[:, 0]


def _close(a: torch.Tensor, b: torch.Tensor, *, share: float) -> None:
    diff = (a.int() - b.int()).abs()
    assert a.shape == b.shape and int(diff.max()) <= 1, int(diff.max())
    assert float((diff > 0).float().mean()) <= share, float((diff > 0).float().mean())


@pytest.mark.parametrize("factor", [2, 4])
def test_enlarge_phases_is_bilinear_enlargement(factor):
    x = torch.rand(3, 1, 64, 64)
    x[0] = 0                                              # exact zeros stay exact: paper adds nothing
    want = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    phases = apply.enlarge_phases(x, factor)
    assert phases.shape == (3, 64, 64, factor * factor)
    got = F.pixel_shuffle(phases.permute(0, 3, 1, 2), factor)
    assert got.shape == want.shape and float((got - want).abs().max()) < 1e-5
    assert bool((got[0] == 0).all())


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_unshuffle_uint8_is_pixel_shuffle(factor):
    q = torch.randint(0, 256, (5, 64, 64, factor * factor), dtype=torch.uint8)
    assert torch.equal(apply._unshuffle_uint8(q, factor), F.pixel_shuffle(q.permute(0, 3, 1, 2), factor)[:, 0])


@pytest.mark.parametrize("down,peak", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.9)])
def test_back_project_phases_is_back_project(down, peak):
    g = torch.Generator().manual_seed(3)
    ink = _strokes(4, seed=1).unsqueeze(1).float().div(255)
    logits = torch.randn(4, 1, 256, 256, generator=g) * 3
    k = 1.6
    want = apply.back_project(logits, ink, sharpness=k, steps=3, gain=1.0, down=down, peak=peak)
    phases = F.pixel_unshuffle(logits, 4).permute(0, 2, 3, 1).contiguous().mul(k)
    out = apply.back_project_phases(phases.clone(), ink, steps=3, gain=1.0, down=down, peak=peak)
    got = F.pixel_shuffle(out.permute(0, 3, 1, 2), 4) / k
    assert float((got - want).abs().max()) < 1e-4, float((got - want).abs().max())
    assert apply.back_project_phases(phases.clone(), ink, steps=0, gain=1.0).equal(phases)


def _toy_upscaler(**keys) -> apply.GlyphUpscaler:
    """An untrained U-Net with random heads (so the network's correction matters), fp32 (bf16 off: the
    test is about the arrangement, not the precision), back-projection keys as given."""
    torch.manual_seed(0)
    model = Upscaler(UpscalerConfig(c64=8, c32=8, blocks32=1))
    for head in (model.head128, model.head256):
        torch.nn.init.normal_(head.weight, std=0.3)
    model = model.to(memory_format=torch.channels_last).eval()
    info = {"sharpness": 1.6, "keep_steps": 3, "keep_gain": 1.0, **keys}
    up = apply.GlyphUpscaler(model, info)
    up.bf16 = False
    return up


@pytest.mark.parametrize("keys", [{}, {"keep_down": 0.5, "keep_sharpness": 3.0}, {"keep_peak": 0.9},
                                  {"keep_steps": 0}, {"keep_exact": 0.3}, {"keep_exact": 1.0, "keep_down": 0.5}])
@pytest.mark.parametrize("size", [128, 256])
def test_serving_path_matches_the_reference_path(keys, size, monkeypatch):
    up = _toy_upscaler(**keys)
    ink = _strokes(6, seed=2)
    assert up._phased(256, None) and not up._phased(128, None)      # 128 px: ink()'s path itself
    monkeypatch.setattr(apply.GlyphUpscaler, "_phased", lambda self, size, sharpness: True)   # both sizes work
    for sharpness in (None, 1.0):
        _close(up.upscale(ink, size=size, sharpness=sharpness), _reference(up, ink, size=size, sharpness=sharpness),
               share=1e-4)
    assert up.upscale(ink[:0], size=size).shape == (0, size, size)


@pytest.mark.skipif(not SHIPPED.is_file(), reason=f"needs the shipped upscaler ({apply.UPSCALER_FILE})")
def test_shipped_upscaler_serving_path_matches_the_reference_on_strokes():
    up = apply.load(SHIPPED)
    ink = _strokes(24, seed=5)
    assert up._phased(256, None) == (type(up.model) is Upscaler)
    _close(up.upscale(ink, size=256), _reference(up, ink, size=256), share=1e-4)
    assert torch.equal(up.upscale(ink, size=128), _reference(up, ink, size=128))


@pytest.mark.skipif(not (SHIPPED.is_file() and HANGUL.is_dir()),
                    reason=f"needs the shipped upscaler ({apply.UPSCALER_FILE}) and checkpoints/hangul")
def test_natural_256px_lines_are_the_same_pages_as_before(monkeypatch):
    """A few lines as the app draws them (hangul run, 256 px, natural 0.45 and 0): the serving path
    against the reference path (GlyphUpscaler._phased off): the same pages within 1 grey level on at
    most 1e-4 of the pixels (measured: 3 pixels in 5.5 million with the 2026-12-02 file at sharpness 1.6;
    ~200 with the 2026-12-03 file: sharpness 2.5, keep_exact 0.3; still at most 1 grey level)."""
    from rekogan.studio import EpochInfo, Studio, load, scan_run
    studio = Studio(root=HANGUL.parent, batcher=False)
    model = load(EpochInfo(run="hangul", epoch=0, path=scan_run(HANGUL).best.path))
    text = "오늘은 날씨가 좋아서 친구들과 공원에 갔습니다"
    cases = [(0, 0.45), (1, 0.45), (2, 0.0)]
    new = [studio.page(model=model, text=text, seed=s, truncation=0.8, size=256, natural=n).image for s, n in cases]
    monkeypatch.setattr(apply.GlyphUpscaler, "_phased", lambda self, size, sharpness: False)
    old = [studio.page(model=model, text=text, seed=s, truncation=0.8, size=256, natural=n).image for s, n in cases]
    for a, b in zip(new, old):
        _close(torch.from_numpy(a), torch.from_numpy(b), share=1e-4)


def _groups_as_before(glyphs, *, scale, angle, shift, pad):
    """layout._jitter_patches' group sampling as it was before the serving changes: the whole line
    converted to float ink once, each group's inputs stacked from it."""
    n, s = glyphs.shape[0], glyphs.shape[-1]
    size = s + 2 * pad
    theta = layout._theta(scale, angle, shift, n=n, size=size)
    rows, own = theta.tolist(), (theta * (size / s)).tolist()
    ink = (255 - glyphs.float())[:, None]
    todo = sorted(((i, layout._reach(b, rows[i], pad=pad, size=size))
                   for i, b in enumerate(layout.ink_boxes(glyphs, ink=255)) if b is not None),
                  key=lambda t: t[1][3] - t[1][2])
    c = (torch.arange(2 * size, dtype=torch.float32) * 2 + 1) / size - 1
    out = torch.full((n, size, size), 255, dtype=torch.uint8)
    while todo:
        group, h, w = [], 0, 0
        for i, (y0, y1, x0, x1) in todo:
            hh, ww = max(h, y1 - y0), max(w, x1 - x0)
            if group and (len(group) + 1) * hh * ww > layout.GROUP_PIXELS:
                break
            group.append((i, y0, x0))
            h, w = hh, ww
        todo = todo[len(group):]
        th = torch.tensor([own[i] for i, _, _ in group], dtype=torch.float32)[:, :, :, None, None]
        xs = torch.stack([c[x0:x0 + w] for _, _, x0 in group])[:, None, :]
        ys = torch.stack([c[y0:y0 + h] for _, y0, _ in group])[:, :, None]
        grid = torch.empty(len(group), h, w, 2)
        for k in range(2):
            torch.add(xs * th[:, k, 0], ys * th[:, k, 1] + th[:, k, 2], out=grid[..., k])
        src = torch.stack([ink[i] for i, _, _ in group])
        got = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]
        for p, (i, y0, x0) in zip(255 - got.round_().clamp_(0, 255).to(torch.uint8), group):
            out[i, y0:y0 + p.shape[0], x0:x0 + p.shape[1]] = p[:size - y0, :size - x0]
    return out


@pytest.mark.parametrize("cell", [64, 256])
def test_jitter_groups_are_byte_identical_to_before(cell):
    g = torch.Generator().manual_seed(cell)
    glyphs = torch.full((12, cell, cell), 255, dtype=torch.uint8)
    for k in range(11):
        m = int(cell * (0.03 + 0.02 * (k % 6)))
        glyphs[k, m:cell - m, m:m + cell // 8] = 0
        glyphs[k, cell // 3:cell // 3 + cell // 12, m:cell - m] = 60 + 15 * k
    glyphs[4] = torch.randint(0, 256, (cell, cell), generator=g).to(torch.uint8)     # ink everywhere; 11 is blank
    extreme = layout.CLIP * layout.ROTATION, math.exp(layout.CLIP * layout.SIZE)
    angle = (torch.randn(12, generator=g).clamp(-2.5, 2.5) * layout.ROTATION).tolist()
    angle[0], angle[1] = extreme[0], -extreme[0]
    scale = torch.exp(torch.randn(12, generator=g).clamp(-2.5, 2.5) * layout.SIZE).tolist()
    scale[0], scale[1] = extreme[1], 1 / extreme[1]
    shift = torch.rand(12, 2, generator=g).tolist()
    pad = layout._pad(cell)
    got = layout.jitter_glyphs(glyphs, scale=scale, angle=angle, shift=shift, pad=pad)
    assert torch.equal(got, _groups_as_before(glyphs, scale=scale, angle=angle, shift=shift, pad=pad))
