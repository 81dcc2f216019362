"""The upscaler's training data packed into one file (rekogan/upscale/pack.py) and training from it on a
device (`upscaler train --data PACK --device DEV`): what a lent GPU, without fonts, trains on. No fonts:
synthetic strokes (test_upscale._tiny_data). The CUDA case is skipped where there is no CUDA device."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rekogan.cli import main
from rekogan.upscale.pack import load_pack, save_pack
from rekogan.upscale.train import TrainConfig, train, upscaler_file
from test_upscale import TINY, _tiny_data


def _pack(path, pool=True):
    glyphs, probe = _tiny_data()
    kw = {}
    if pool:
        kw = dict(pool={"fixed": torch.randint(0, 256, (4, 64, 64), dtype=torch.uint8,
                                               generator=torch.Generator().manual_seed(0))},
                  pool_key=[["checkpoints/fixed"], 4, 0])
    return save_pack(path, glyphs=glyphs, probe=probe, **kw), glyphs, probe, kw


def test_a_pack_holds_the_glyphs_the_probe_and_the_pool(tmp_path):
    path, glyphs, probe, kw = _pack(tmp_path / "up.npz")
    got = load_pack(path)
    g = got["glyphs"]
    assert torch.equal(g.images, glyphs.images) and torch.equal(g.face, glyphs.face) and torch.equal(g.label, glyphs.label)
    assert g.faces == glyphs.faces and list(g.syllables) == list(glyphs.syllables)
    assert g.info["source"] == "test strokes" and g.info["packed"] == str(path)
    # the probe's input is at uint8 levels already: it comes back exactly; the truth within half a level
    assert torch.equal(got["probe"][0], probe[0])
    assert (got["probe"][1] - probe[1]).abs().max() <= 0.5 / 255 + 1e-6
    assert torch.equal(got["pool"]["fixed"], kw["pool"]["fixed"]) and got["pool_key"] == kw["pool_key"]
    assert load_pack(_pack(tmp_path / "nopool.npz", pool=False)[0])["pool"] is None


def test_a_damaged_or_foreign_pack_is_refused_with_its_name(tmp_path):
    path = _pack(tmp_path / "up.npz")[0]
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:2000])
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "something-else"})))
    for bad, message in ((cut, "not a readable upscaler pack"), (other, "not an upscaler pack")):
        with pytest.raises(ValueError, match=message) as e:
            load_pack(bad)
        assert str(bad) in str(e.value)


def test_training_from_a_pack_equals_training_from_the_same_data(tmp_path):
    path, glyphs, probe, _ = _pack(tmp_path / "up.npz", pool=False)
    cfg = TrainConfig(model=TINY, batch=2, epochs=1, epoch_steps=2, warmup_steps=1)
    train(tmp_path / "given", cfg=cfg, glyphs=glyphs, probe=probe, log=lambda s: None)
    data = load_pack(path)
    train(tmp_path / "packed", cfg=cfg, glyphs=data["glyphs"], probe=data["probe"], log=lambda s: None)
    from rekogan.upscale import load
    a = load(tmp_path / "given" / upscaler_file(1)).model.state_dict()
    b = load(tmp_path / "packed" / upscaler_file(1)).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_pool_drawn_for_other_runs_is_refused(tmp_path):
    path, glyphs, probe, kw = _pack(tmp_path / "up.npz")
    cfg = TrainConfig(model=TINY, batch=2, epochs=1, epoch_steps=1, keep_content=1.0, content_pool=8)
    with pytest.raises(ValueError, match="pack again"):
        train(tmp_path / "run", cfg=cfg, glyphs=glyphs, probe=probe, pool=kw["pool"], pool_key=kw["pool_key"],
              log=lambda s: None)


def test_the_command_trains_from_a_pack_and_refuses_bad_data(tmp_path, capsys):
    path = _pack(tmp_path / "up.npz", pool=False)[0]
    out = tmp_path / "run"
    assert main(["upscaler", "train", "--data", str(path), "--device", "cpu", "--out", str(out), "--epochs", "1",
                 "--epoch-steps", "1", "--batch", "2"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["data"]["packed"] == str(path) and saved["train"]["syllables"] == 1 and (out / upscaler_file(1)).is_file()
    cases = [(["--data", str(tmp_path / "missing.npz")], "is not a file"),
             (["--data", str(path), "--syllables", "5"], "the pack holds 1")]
    if not torch.cuda.is_available():
        cases.append((["--data", str(path), "--device", "cuda"], "no CUDA device"))
    for args, message in cases:
        assert main(["upscaler", "train", "--out", str(tmp_path / "bad"), *args]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_writes_files_that_load_on_the_cpu(tmp_path):
    glyphs, probe = _tiny_data()
    cfg = TrainConfig(model=TINY, batch=2, epochs=1, epoch_steps=2, warmup_steps=1)
    rec = train(tmp_path / "run", cfg=cfg, glyphs=glyphs, probe=probe, device="cuda", log=lambda s: None)
    assert rec["epoch"] == 1 and np.isfinite(rec["loss"])
    from rekogan.upscale import load
    up = load(tmp_path / "run" / upscaler_file(1))
    assert next(up.model.parameters()).device.type == "cpu"
    train(tmp_path / "run", cfg=TrainConfig(model=TINY, epochs=2), resume=True, glyphs=glyphs, probe=probe,
          device="cuda", log=lambda s: None)
    assert (tmp_path / "run" / upscaler_file(2)).is_file()
