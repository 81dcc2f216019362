"""The x4 glyph upscaler (rekogan/upscale): shapes, exact resume, the `upscale` command, the shipped file."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import REPO
from rekogan.cli import main
from rekogan.hangul import ClassList
from rekogan.upscale import UPSCALER_FILE, load
from rekogan.upscale.apply import GlyphUpscaler, save_upscaler
from rekogan.upscale.data import Glyphs256, quantize, reduce, to_ink
from rekogan.upscale.model import FastX2, FastX2Config, Upscaler, UpscalerConfig
from rekogan.upscale.train import TrainConfig, train, upscaler_file

TINY = UpscalerConfig(c64=4, c32=4, blocks32=1)
SHIPPED = REPO / UPSCALER_FILE


def _strokes(n: int, size: int = 256, seed: int = 0) -> torch.Tensor:
    """(n, size, size) uint8: a few random thick lines per image, white on black (glyph-like data
    without fonts)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        im = Image.new("L", (size, size), 0)
        d = ImageDraw.Draw(im)
        for _ in range(4):
            d.line([tuple(rng.integers(30, size - 30, 2).tolist()) for _ in range(2)], fill=255,
                   width=int(rng.integers(8, 24)))
        out.append(np.asarray(im))
    return torch.from_numpy(np.stack(out))


def _tiny_data(n: int = 6) -> tuple[Glyphs256, tuple[torch.Tensor, torch.Tensor]]:
    images = _strokes(n)
    glyphs = Glyphs256(images, ["lines"], torch.zeros(n, dtype=torch.int64), ClassList(("가",)),
                       torch.zeros(n, dtype=torch.int64), {"source": "test strokes"})
    truth = to_ink(_strokes(2, seed=1))
    return glyphs, (quantize(reduce(truth)), truth)


def _tiny_file(path) -> None:
    torch.manual_seed(0)
    save_upscaler(path, Upscaler(TINY), epoch=1, step=1)


def test_model_shapes_for_128_and_256():
    model = Upscaler(TINY).eval()
    out = model(torch.rand(3, 1, 64, 64), sizes=(128, 256))
    assert out[128].shape == (3, 1, 128, 128) and out[256].shape == (3, 1, 256, 256)
    up = GlyphUpscaler(model, {})
    glyphs = (torch.rand(5, 64, 64) * 255).to(torch.uint8)
    for size in (64, 128, 256):
        big = up.upscale(glyphs, size=size)
        assert big.shape == (5, size, size) and big.dtype == torch.uint8
    as_np = up.upscale(glyphs.numpy(), size=128)
    assert isinstance(as_np, np.ndarray) and as_np.shape == (5, 128, 128) and as_np.dtype == np.uint8
    assert up.upscale(glyphs[:0], size=256).shape == (0, 256, 256)
    with pytest.raises(ValueError, match="size must be one of"):
        up.upscale(glyphs, size=512)
    with pytest.raises(ValueError, match="sharpness"):
        up.upscale(glyphs, size=256, sharpness=0)
    with pytest.raises(ValueError, match="uint8"):
        up.upscale(glyphs.float(), size=256)
    with pytest.raises(ValueError, match="64, 64"):
        up.upscale(torch.zeros(2, 32, 32, dtype=torch.uint8), size=256)


def test_an_untrained_upscaler_starts_at_its_prior():
    """Zero-initialised heads: before training, the output is the bilinear enlargement's ink."""
    model = Upscaler(TINY).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.inference_mode():
        out = model(x, sizes=(256,))[256]
    assert torch.allclose(out, Upscaler.prior(x, 256))


def test_back_projection_keeps_the_glyph():
    """Each round pulls the output, reduced back to 64 px, closer to the input (a faint stroke stays)."""
    from rekogan.upscale.apply import back_project
    x = torch.zeros(1, 1, 64, 64)
    x[..., 20:44, 30:34] = 1.0                                    # a stroke
    x[..., 30:32, 10:26] = 0.3                                    # a faint one
    logits = Upscaler.prior(x, 256)
    misses = []
    for steps in (0, 1, 3):
        out = torch.sigmoid(2.0 * back_project(logits, x, sharpness=2.0, steps=steps, gain=1.0))
        misses.append(float((reduce(out) - x).abs().mean()))
    assert misses[0] > misses[1] > misses[2], misses
    faint = torch.sigmoid(2.0 * back_project(logits, x, sharpness=2.0, steps=3, gain=1.0))[..., 120:128, 40:104]
    assert float(faint.amax()) > 0.5, "the faint stroke is drawn, not dropped"


def test_two_sided_back_projection_takes_away_ink_the_input_lacks():
    """keep_down > 0 also removes output ink where the input has none; keep_peak matches a faint
    glyph as a dark one (its strokes are not thinned to the faint level); the defaults add only."""
    from rekogan.upscale.apply import back_project
    x = torch.zeros(1, 1, 64, 64)
    x[..., 20:44, 30:34] = 1.0
    blob = Upscaler.prior(x, 256)
    blob[..., 60:80, 40:60] = 6.0                                  # ink the input does not have
    one = torch.sigmoid(2.0 * back_project(blob, x, sharpness=2.0, steps=3, gain=1.0))
    two = torch.sigmoid(2.0 * back_project(blob, x, sharpness=2.0, steps=3, gain=1.0, down=1.0))
    assert float(one[..., 60:80, 40:60].mean()) > 0.9 > 0.5 > float(two[..., 60:80, 40:60].mean())
    faint = x * 0.6
    lg = Upscaler.prior(x, 256)                                     # the network drew the stroke dark
    plain = torch.sigmoid(2.0 * back_project(lg, faint, sharpness=2.0, steps=3, gain=1.0, down=1.0))
    peaked = torch.sigmoid(2.0 * back_project(lg, faint, sharpness=2.0, steps=3, gain=1.0, down=1.0, peak=0.99))
    assert float(reduce(peaked).sum()) > float(reduce(plain).sum())
    assert torch.equal(back_project(lg, faint, sharpness=2.0, steps=3, gain=1.0),
                       back_project(lg, faint, sharpness=2.0, steps=3, gain=1.0, down=0.0, peak=0.0))


def test_haze_and_blur_degradations_leave_older_batches_alone():
    """haze / blur 0 draw nothing more (older runs' batches stay); with them, inputs change."""
    from rekogan.upscale.degrade import degrade
    x = reduce(to_ink(_strokes(32)))                           # 32: some are hazed (HAZE of the degraded)
    base = degrade(x, torch.Generator().manual_seed(3))
    assert torch.equal(base, degrade(x, torch.Generator().manual_seed(3), haze_max=0.0, blur_max=0.0))
    hazy = degrade(x, torch.Generator().manual_seed(3), haze_max=0.7)
    blurred = degrade(x, torch.Generator().manual_seed(3), blur_max=1.5)
    assert not torch.equal(base, hazy) and not torch.equal(base, blurred)
    assert float(hazy.min()) >= 0 and float(hazy.max()) <= 1


def test_upscale_applies_the_files_back_projection(tmp_path):
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    glyphs = torch.zeros(2, 64, 64, dtype=torch.uint8)
    glyphs[:, 20:44, 30:34], glyphs[:, 30:32, 10:26] = 255, 70
    up = load(ckpt)
    plain = up.upscale(glyphs, size=256)
    up.keep_steps = 3
    kept = up.upscale(glyphs, size=256)
    x = glyphs.unsqueeze(1).float() / 255
    assert float((reduce(to_ink(kept)) - x).abs().mean()) < float((reduce(to_ink(plain)) - x).abs().mean())
    assert up.upscale(glyphs, size=128).shape == (2, 128, 128)


def test_keep_exact_pulls_the_output_reduced_back_onto_its_input(tmp_path):
    """The file key keep_exact: share 1 reduces back to the input exactly where no pixel clamps, a
    share between moves the reduction part of the way, and 0 (every file written before the key)
    leaves the output as it was; a share outside [0, 1] is refused."""
    from rekogan.checkpoints import CheckpointError, read_tensors, save_tensors
    from rekogan.upscale.apply import keep_exact_ink
    torch.manual_seed(0)
    soft = 0.4 + 0.2 * torch.rand(3, 1, 256, 256)                  # nothing near 0 or 1: nothing clamps
    want = 0.3 + 0.4 * torch.rand(3, 1, 64, 64)
    assert torch.allclose(reduce(keep_exact_ink(soft, want, share=1.0)), want, atol=1e-6)
    assert torch.equal(keep_exact_ink(soft, want, share=0.0), soft)
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    glyphs = torch.zeros(2, 64, 64, dtype=torch.uint8)
    glyphs[:, 20:44, 30:34], glyphs[:, 30:32, 10:26], glyphs[1, 50:52, 5:60] = 255, 70, 140
    x = glyphs.unsqueeze(1).float() / 255
    up = load(ckpt)
    assert up.keep_exact == 0.0
    plain = up.upscale(glyphs, size=256)
    err = {}
    for share in (0.0, 0.5, 1.0):
        up.keep_exact = share
        out = up.upscale(glyphs, size=256)
        err[share] = float((reduce(to_ink(out)) - x).abs().mean())
        if share == 0:
            assert torch.equal(out, plain), "share 0 is the output as before"
        assert up.upscale(glyphs, size=128).shape == (2, 128, 128)
    assert err[1.0] < err[0.5] < err[0.0], err
    tensors, meta = read_tensors(ckpt)
    save_tensors(ckpt, tensors, {**meta, "keep_exact": "1.5"})
    with pytest.raises(CheckpointError, match="keep_exact"):
        load(ckpt)


def test_an_upscaler_file_with_a_bad_back_projection_is_refused(tmp_path):
    from rekogan.checkpoints import CheckpointError, read_tensors, save_tensors
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    tensors, meta = read_tensors(ckpt)
    save_tensors(ckpt, tensors, {**meta, "keep_steps": "99"})
    with pytest.raises(CheckpointError, match="keep_steps"):
        load(ckpt)


def test_fine_tuning_starts_from_the_given_file_and_its_losses_run(tmp_path):
    glyphs, probe = _tiny_data()
    start = tmp_path / "start.safetensors"
    torch.manual_seed(5)
    base = Upscaler(TINY)
    torch.nn.init.normal_(base.head256.weight, std=0.01)
    save_upscaler(start, base, epoch=1, step=1)
    cfg = TrainConfig(model=TINY, batch=2, epochs=1, epoch_steps=1, warmup_steps=1, lr=1e-9, init=str(start),
                      consistency=1.0, keep=1.0, smudge=0.1, level_min=0.3, grid=0.5)
    rec = train(tmp_path / "ft", cfg=cfg, glyphs=glyphs, probe=probe, log=lambda s: None)
    assert rec["consistency"] > 0 and rec["keep"] > 0
    tuned = load(tmp_path / "ft" / upscaler_file(1)).model.state_dict()
    assert torch.allclose(tuned["head256.weight"], base.head256.weight.half().float(), atol=1e-3)
    other = TrainConfig(model=UpscalerConfig(c64=4, c32=8, blocks32=1), batch=2, epochs=1, epoch_steps=1,
                        init=str(start))
    with pytest.raises(ValueError, match="network"):
        train(tmp_path / "ft2", cfg=other, glyphs=glyphs, probe=probe, log=lambda s: None)


def test_training_resumes_exactly(tmp_path):
    glyphs, probe = _tiny_data()
    cfg = TrainConfig(model=TINY, batch=2, epochs=2, epoch_steps=2, warmup_steps=1)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(whole, cfg=cfg, glyphs=glyphs, probe=probe, log=lambda s: None)
    train(parts, cfg=cfg, glyphs=glyphs, probe=probe, stop_after=3, log=lambda s: None)   # mid-epoch 2
    assert not (parts / upscaler_file(2)).exists() and (parts / "state_002.safetensors").is_file()
    with pytest.raises(ValueError, match="--resume"):
        train(parts, cfg=cfg, glyphs=glyphs, probe=probe, log=lambda s: None)
    train(parts, resume=True, glyphs=glyphs, probe=probe, log=lambda s: None)
    a, b = load(whole / upscaler_file(2)).model.state_dict(), load(parts / upscaler_file(2)).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], Upscaler(TINY).state_dict()[k]) for k in a if "head" in k), "it did not train"
    cfg_saved = json.loads((parts / "config.json").read_text())
    assert cfg_saved["train"]["epochs"] == 2 and cfg_saved["train"]["model"] == TINY.to_dict()
    recs = [json.loads(line) for line in (parts / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2] and (parts / "samples_002.png").is_file()


def _sheet_folder(path, names=("AC00.png", "AC01.png", "D7A3.png"), size=64):
    path.mkdir()
    for i, name in enumerate(names):
        im = Image.new("L", (size, size), 255)
        ImageDraw.Draw(im).rectangle([10 + i, 12, 40, 50], fill=0)          # dark ink on white, as sheet writes
        im.save(path / name)
    (path / "notes.txt").write_text("not a glyph")
    return path


def test_upscale_command_enlarges_a_sheet_folder(tmp_path, capsys):
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    src = _sheet_folder(tmp_path / "sheet")
    out = tmp_path / "big"
    assert main(["upscale", str(src), "--out", str(out), "--size", "128", "--checkpoint", str(ckpt)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["AC00.png", "AC01.png", "D7A3.png"]
    big = np.asarray(Image.open(out / "AC00.png"))
    assert big.shape == (128, 128) and big.dtype == np.uint8
    assert big[0, 0] > 200 and big[64, 50] < 60, "dark ink on white paper, where the glyph's ink was"
    assert "wrote 3 PNGs (128x128)" in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [
    ("small", "is 32x32 pixels; the upscaler takes 64x64"),
    ("empty", "holds no glyph PNGs named as"),
    ("missing", "is not a folder"),
    ("broken", "is not a readable PNG"),
    ("bad_ckpt", "is a pickle"),
])
def test_upscale_command_refuses_bad_input_in_one_line(tmp_path, capsys, case, message):
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    src = tmp_path / "sheet"
    if case == "small":
        _sheet_folder(src, size=32)
    elif case == "empty":
        src.mkdir()
    elif case == "broken":
        _sheet_folder(src)
        (src / "AC02.png").write_bytes(b"not a png")
    elif case == "bad_ckpt":
        _sheet_folder(src)
        ckpt.write_bytes(b"\x80\x04garbage")
    out = tmp_path / "big"
    assert main(["upscale", str(src), "--out", str(out), "--checkpoint", str(ckpt)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert not out.exists() or not any(out.iterdir()), "nothing is written for bad input"


def _heldout_real(n_faces: int = 4, syllables: str = "가힣뷁꽃밟읊쌍됐") -> torch.Tensor:
    """Real glyphs of installed held-out faces at 256 px (never trained on)."""
    from rekogan.data.fonts import HELDOUT_FACES, find_faces, render_available
    from rekogan.upscale.data import HIGH_RENDER_PX
    faces = {f.name: f for f in find_faces()}
    out = []
    for name in [n for n in HELDOUT_FACES if n in faces][:n_faces]:
        out.append(render_available(faces[name], ClassList(tuple(syllables)), size=256, render_px=HIGH_RENDER_PX)[1])
    assert out, "no held-out face is installed"
    return torch.from_numpy(np.concatenate(out))


def test_shipped_upscaler_is_small_fp16_and_beats_bicubic_on_real_glyphs(font_set):
    from rekogan.checkpoints import read_tensors
    from rekogan.upscale.evaluate import bicubic, iou
    assert SHIPPED.is_file(), f"the shipped upscaler {UPSCALER_FILE} is missing"
    assert SHIPPED.stat().st_size <= 5 * 1024 * 1024
    tensors, meta = read_tensors(SHIPPED)
    assert meta["format"] == "rekogan-upscaler-1" and all(v.dtype == torch.float16 for v in tensors.values())
    up = load()
    truth_u8 = _heldout_real()
    small = quantize(reduce(to_ink(truth_u8)))                                   # the 64 px input, as a PNG holds it
    small_u8 = (small[:, 0] * 255).round().to(torch.uint8)
    big = up.upscale(small_u8, size=256)
    truth, ours = to_ink(truth_u8), to_ink(big)
    assert iou(ours, truth) > iou((bicubic(small, 256) >= 0.5).float(), truth)
    # it keeps the glyph: its output reduced back to 64 px is close to its input
    assert float((reduce(ours) - small).abs().mean()) < 0.03


# ---- the fast 128 px network (FastX2), beside an upscaler file ----------------------------------

TINY_X2 = FastX2Config(channels=4, convs=2)


def _x2_file(path, *, seed: int = 0) -> FastX2:
    torch.manual_seed(seed)
    model = FastX2(TINY_X2)
    torch.nn.init.normal_(model.head.weight, std=0.05)                     # not at its prior: a network of its own
    save_upscaler(path, model, epoch=0, step=1)
    return model


def test_fast_x2_draws_128_only_and_starts_at_its_prior():
    model = FastX2(TINY_X2).eval()
    x = torch.rand(3, 1, 64, 64)
    with torch.inference_mode():
        out = model(x)[128]
    assert out.shape == (3, 1, 128, 128) and torch.allclose(out, Upscaler.prior(x, 128))
    with pytest.raises(ValueError, match="128 px only"):
        model(x, sizes=(256,))
    up = GlyphUpscaler(model, {})
    glyphs = (torch.rand(2, 64, 64) * 255).to(torch.uint8)
    assert up.upscale(glyphs, size=128).shape == (2, 128, 128)
    with pytest.raises(ValueError, match="size must be one of 64, 128"):
        up.upscale(glyphs, size=256)


def test_size_128_comes_from_the_fast_network_beside_the_file(tmp_path, monkeypatch):
    from rekogan.upscale.apply import X2_FILE
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    glyphs = torch.zeros(2, 64, 64, dtype=torch.uint8)
    glyphs[:, 20:44, 30:34] = 255
    alone = load(ckpt)
    assert alone.x2 is None
    x4_head, x4_256 = alone.upscale(glyphs, size=128), alone.upscale(glyphs, size=256)
    fast = _x2_file(tmp_path / X2_FILE)
    up = load(ckpt)
    assert up.x2 is not None and up.x2.info["arch"] == "fast_x2"
    got = up.upscale(glyphs, size=128)
    with torch.inference_mode():
        expected = torch.sigmoid(fast.eval()(glyphs.unsqueeze(1).float() / 255)[128]).mul(255).round()[:, 0]
    # the file's fp16 weights (and bf16 where the CPU has it) against the fp32 module: a few grey levels
    assert (got.float() - expected).abs().max() <= 8 and not torch.equal(got, x4_head)
    assert torch.equal(up.upscale(glyphs, size=256), x4_256), "256 px stays the x4 network's"
    assert torch.equal(up.upscale(glyphs, size=128, sharpness=alone.sharpness), x4_head), \
        "an explicit sharpness is the x4 network's (the fast one has no sharpness of its own)"
    monkeypatch.setenv("REKOGAN_UPSCALER_X2", "0")
    assert load(ckpt).x2 is None


def test_a_broken_fast_network_falls_back_to_the_x4_head_not_to_bilinear(tmp_path, caplog):
    from rekogan.upscale.apply import X2_FILE
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    (tmp_path / X2_FILE).write_bytes(b"not a safetensors file")
    up = load(ckpt)
    assert up.x2 is None and "fast 128 px upscaler skipped" in caplog.text
    _tiny_file(tmp_path / X2_FILE)                                            # an x4 file under the x2 name
    assert load(ckpt).x2 is None
    assert load(tmp_path / X2_FILE).x2 is None, "an x4 file does not look for itself"


def test_an_upscaler_file_of_an_unknown_kind_is_refused(tmp_path):
    from rekogan.checkpoints import CheckpointError, read_tensors, save_tensors
    ckpt = tmp_path / "up.safetensors"
    _tiny_file(ckpt)
    tensors, meta = read_tensors(ckpt)
    assert meta["arch"] == "unet"
    save_tensors(ckpt, tensors, {**meta, "arch": "transformer"})
    with pytest.raises(CheckpointError, match="unknown kind"):
        load(ckpt)

