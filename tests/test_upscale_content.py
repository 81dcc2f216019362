"""The upscaler's keep-content loss (rekogan/upscale/content.py): the readers' KL between a generated
glyph at 64 px and its upscaled version reduced back, and a fine-tuning step that uses it."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO
from rekogan.conventions import CLASSIFIER_FILE, READER_FILE
from rekogan.upscale.apply import back_project
from rekogan.upscale.data import reduce
from rekogan.upscale.model import UpscalerConfig

RUNS = (str(REPO / "checkpoints" / "fixed"), str(REPO / "checkpoints" / "hangul"))
NEEDED = [REPO / CLASSIFIER_FILE, REPO / READER_FILE] + [REPO / r / "evaluation.jsonl" for r in RUNS]


@pytest.fixture
def shipped(monkeypatch):
    missing = [str(p.relative_to(REPO)) for p in NEEDED if not p.is_file()]
    if missing:
        pytest.skip(f"needs the shipped readers and runs; missing: {', '.join(missing)}")
    monkeypatch.chdir(REPO)                         # the readers' paths are relative to the repository


def test_content_losses_are_zero_for_the_same_glyph_and_grow_as_strokes_go(shipped):
    from rekogan.upscale.content import ContentReaders, content_kl, content_margin, make_pool
    pool = make_pool(runs=RUNS, per_run=4, seed=0, log=lambda s: None)
    readers = ContentReaders(RUNS)
    for name, glyphs in pool.items():
        assert glyphs.shape == (4, 64, 64) and glyphs.dtype == torch.uint8
        ink = glyphs.unsqueeze(1).float() / 255
        same = content_kl(readers, name, ink, ink.clone())
        assert abs(float(same)) < 1e-5
        half = ink.clone()
        half[..., 32:] = 0                                      # the right half of every glyph rubbed out
        assert float(content_kl(readers, name, ink, half)) > 0.1
        assert float(content_margin(readers, name, ink, ink.clone(), margin=2.0)) < 1e-5
        assert float(content_margin(readers, name, ink, half, margin=2.0)) > 0.1


def test_served_ink_is_the_apps_back_projection_and_passes_gradients():
    from rekogan.upscale.content import served_ink
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 256, 256, requires_grad=True)
    ink = torch.rand(2, 1, 64, 64)
    ours = served_ink(logits, ink, sharpness=1.6, steps=3)
    apps = torch.sigmoid(1.6 * back_project(logits.detach(), ink, sharpness=1.6, steps=3, gain=1.0))
    assert torch.allclose(ours.detach(), apps, atol=1e-5)
    reduce(ours).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_fine_tuning_with_keep_content_runs_and_caches_its_pool(shipped, tmp_path):
    from test_upscale import _tiny_data
    from rekogan.upscale.content import POOL_FILE
    from rekogan.upscale.train import TrainConfig, train
    glyphs, probe = _tiny_data()
    tiny = UpscalerConfig(c64=4, c32=4, blocks32=1)
    cfg = TrainConfig(model=tiny, batch=2, epochs=1, epoch_steps=2, warmup_steps=1, keep_content=1.0,
                      content_runs=list(RUNS), content_pool=4, content_batch=2, content_grey=0.5)
    rec = train(tmp_path / "kc", cfg=cfg, glyphs=glyphs, probe=probe, log=lambda s: None)
    assert rec["content"] > 0 and rec["content_grey"] > 0 and (tmp_path / "kc" / POOL_FILE).is_file()
    margin = TrainConfig(**{**cfg.to_dict(), "model": tiny, "content_loss": "margin"})
    rec = train(tmp_path / "km", cfg=margin, glyphs=glyphs, probe=probe, log=lambda s: None)
    assert rec["content"] >= 0 and rec["loss"] > 0
    off = train(tmp_path / "off", cfg=TrainConfig(model=tiny, batch=2, epochs=1, epoch_steps=2, warmup_steps=1),
                glyphs=glyphs, probe=probe, log=lambda s: None)
    assert "content" not in off and not (tmp_path / "off" / POOL_FILE).exists()


def test_content_sharpness_reaches_the_training_config_from_the_command_line(tmp_path, monkeypatch, capsys):
    """`upscaler train --content-sharpness K` trains the content loss at the sharpness the file will be
    served at; 0 or less is a one-line usage error and starts nothing."""
    import rekogan.upscale.train as train_module
    from rekogan.cli import main
    got = []
    monkeypatch.setattr(train_module, "train", lambda run_dir, *, cfg, **kw: got.append(cfg) or {})
    out = str(tmp_path / "run")
    assert main(["upscaler", "train", "--out", out, "--keep-content", "3", "--content-sharpness", "2"]) == 0
    assert got[0].content_sharpness == 2.0 and got[0].keep_content == 3.0
    assert main(["upscaler", "train", "--out", out, "--keep-content", "3"]) == 0
    assert got[1].content_sharpness == train_module.TrainConfig().content_sharpness, "the default is kept"
    assert main(["upscaler", "train", "--out", out, "--content-sharpness", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--content-sharpness" in err and "\n" not in err, err
    assert len(got) == 2, "a bad value trains nothing"


def test_content_draw_takes_its_share_from_the_hard_glyphs_and_is_unchanged_without():
    """content_hard: round(share x batch) of a step's generated glyphs come from the hard ones; share 0 or
    no hard glyphs draws exactly as before the option existed (old runs resume the same)."""
    from rekogan.upscale.train import content_draw
    hard = torch.tensor([3, 7, 11])
    for share, n_hard in ((0.5, 4), (1.0, 8), (0.25, 2)):
        idx = content_draw(100, hard, batch=8, share=share, generator=torch.Generator().manual_seed(1))
        assert idx.shape == (8,) and set(idx[8 - n_hard:].tolist()) <= {3, 7, 11}
    many = torch.cat([content_draw(100, hard, batch=8, share=0.5, generator=torch.Generator().manual_seed(s))[:4]
                      for s in range(50)])
    assert len(set(many.tolist()) - {3, 7, 11}) > 20, "the rest comes from the whole pool"
    before = torch.randint(100, (8,), generator=torch.Generator().manual_seed(5))
    for hard_or_none, share in ((None, 0.5), (hard, 0.0)):
        got = content_draw(100, hard_or_none, batch=8, share=share, generator=torch.Generator().manual_seed(5))
        assert torch.equal(got, before)


def test_leads_are_the_readers_smallest_margin_over_its_heads():
    from rekogan.upscale.content import leads

    class Readers:                                   # two heads, as a jamo reader has three
        device = "cpu"

        def logits(self, name, ink):
            s = ink.flatten(1).mean(1, keepdim=True)
            return [torch.cat([s * 10, s * 0, -s], 1), torch.cat([s * 0 + 1, s * 3], 1)]

    glyphs = torch.stack([torch.full((64, 64), v, dtype=torch.uint8) for v in (0, 51, 255)])
    got = leads(Readers(), "x", glyphs, batch=2)
    s = torch.tensor([0, 0.2, 1.0])
    want = torch.minimum(s * 10 - torch.maximum(torch.zeros(3), -s), (s * 3 - 1).abs())
    assert torch.allclose(got, want, atol=1e-5)


def test_fine_tuning_with_hard_glyphs_logs_them_and_trains(shipped, tmp_path):
    from test_upscale import _tiny_data
    from rekogan.upscale.train import TrainConfig, train
    glyphs, probe = _tiny_data()
    lines = []
    cfg = TrainConfig(model=UpscalerConfig(c64=4, c32=4, blocks32=1), batch=2, epochs=1, epoch_steps=2, warmup_steps=1,
                      keep_content=1.0, content_loss="margin", content_runs=list(RUNS), content_pool=8, content_batch=2,
                      content_hard=0.5, content_hard_lead=100.0)
    rec = train(tmp_path / "kh", cfg=cfg, glyphs=glyphs, probe=probe, log=lines.append)
    assert rec["content"] >= 0 and rec["loss"] > 0
    said = [s for s in lines if "read with a lead below 100 logits" in s]
    assert len(said) == 2 and all(s.split(": ")[1].startswith("8 of 8") for s in said), said
    with pytest.raises(ValueError, match="content_hard"):
        train(tmp_path / "bad", cfg=TrainConfig(**{**cfg.to_dict(), "model": cfg.model, "content_hard": 2.0}),
              glyphs=glyphs, probe=probe, log=lambda s: None)


def test_content_hard_flags_reach_the_training_config(tmp_path, monkeypatch, capsys):
    import rekogan.upscale.train as train_module
    from rekogan.cli import main
    got = []
    monkeypatch.setattr(train_module, "train", lambda run_dir, *, cfg, **kw: got.append(cfg) or {})
    out = str(tmp_path / "run")
    assert main(["upscaler", "train", "--out", out, "--keep-content", "3", "--content-hard", "0.5",
                 "--content-hard-lead", "1.5", "--content-pool", "16384"]) == 0
    assert (got[0].content_hard, got[0].content_hard_lead, got[0].content_pool) == (0.5, 1.5, 16384)
    for bad in (["--content-hard", "1.5"], ["--content-hard-lead", "0"], ["--content-pool", "0"]):
        assert main(["upscaler", "train", "--out", out] + bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and bad[0] in err and "\n" not in err, err
    assert len(got) == 1


def test_a_packed_pool_is_the_one_the_run_trains_on(shipped, tmp_path):
    """upscaler train --data PACK: the pack's content pool (drawn where the generators are) becomes the run's
    cached pool, so a machine without the generators trains the keep_content term on it."""
    from test_upscale import _tiny_data
    from rekogan.checkpoints import read_tensors
    from rekogan.upscale.content import POOL_FILE
    from rekogan.upscale.train import TrainConfig, train
    glyphs, probe = _tiny_data()
    names = [r.rsplit("/", 1)[-1] for r in RUNS]
    pool = {n: torch.randint(0, 256, (4, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(i))
            for i, n in enumerate(names)}
    cfg = TrainConfig(model=UpscalerConfig(c64=4, c32=4, blocks32=1), batch=2, epochs=1, epoch_steps=1, warmup_steps=1,
                      keep_content=1.0, content_runs=list(RUNS), content_pool=4, content_batch=2)
    rec = train(tmp_path / "kc", cfg=cfg, glyphs=glyphs, probe=probe, pool=pool, pool_key=[list(RUNS), 4, 0],
                log=lambda s: None)
    got, _ = read_tensors(tmp_path / "kc" / POOL_FILE)
    assert all(torch.equal(got[n], pool[n]) for n in names) and rec["content"] >= 0
