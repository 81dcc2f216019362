"""Checkpoints: safetensors + JSON metadata, atomic writes, never unpickling, exact resume state."""
from __future__ import annotations

import json
import random

import pytest
import torch

import rekogan.checkpoints as ck
from rekogan.checkpoints import (CheckpointError, list_epochs, load_generator, load_state, read_metadata,
                                 save_generator, save_state)
from rekogan.hangul import parse_classes
from rekogan.models import DCGANGenerator, ModelConfig, ProjGenerator, build_discriminator, build_generator, init_weights

CLASSES = parse_classes("4")
MCFG = ModelConfig(arch="proj", n_classes=4, size=16, z_dim=16, embed_dim=8, ngf=8, ndf=8)


def make_generator(cfg: ModelConfig = MCFG, seed: int = 0) -> torch.nn.Module:
    """A generator with non-trivial weights and BatchNorm running statistics, in eval mode."""
    torch.manual_seed(seed)
    G = build_generator(cfg)
    G.apply(init_weights)
    with torch.no_grad():
        for p in G.parameters():                 # the zero-initialised CondBN layers too
            p.add_(torch.randn_like(p) * 0.05)
        G.train()
        for _ in range(3):
            G(torch.randn(16, cfg.z_dim), torch.randint(0, cfg.n_classes, (16,)))
    return G.eval()


def outputs(G, cfg: ModelConfig = MCFG) -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    z, y = torch.randn(8, cfg.z_dim, generator=g), torch.arange(8) % cfg.n_classes
    with torch.no_grad():
        return G(z, y)


def save(path, G, cfg: ModelConfig = MCFG, classes=CLASSES, **kw):
    args = dict(model=cfg, classes=classes, epoch=7, step=700, images_seen=44800,
                config={"preset": "tiny", "lr_g": 0.0002}, metrics={"loss_d": 1.5})
    save_generator(path, G, **{**args, **kw})


# ---- generator checkpoints ------------------------------------------------------------------

def test_generator_round_trip_fp16(tmp_path):
    G = make_generator()
    path = tmp_path / "epoch_007.safetensors"
    save(path, G)
    G2, meta = load_generator(path)
    assert isinstance(G2, ProjGenerator) and not G2.training
    assert all(p.dtype == torch.float32 for p in G2.parameters())
    torch.testing.assert_close(outputs(G2), outputs(G), atol=2e-2, rtol=0)   # fp16 weights
    assert (outputs(G2) - outputs(G)).abs().mean() < 2e-3
    # metadata
    assert meta["epoch"] == 7 and meta["step"] == 700 and meta["images_seen"] == 44800
    assert meta["classes"] == CLASSES.to_list() and meta["class_list"] == CLASSES
    assert meta["model"] == MCFG.to_dict() and meta["model_config"] == MCFG
    assert meta["config"] == {"preset": "tiny", "lr_g": 0.0002} and meta["metrics"] == {"loss_d": 1.5}
    md = read_metadata(path)
    assert {k: md[k] for k in ("epoch", "step", "images_seen", "classes", "model")} == \
        {k: meta[k] for k in ("epoch", "step", "images_seen", "classes", "model")}
    # stored in half precision: about half the size of the fp32 file
    full = tmp_path / "full.safetensors"
    save(full, G, fp16=False)
    assert path.stat().st_size < 0.6 * full.stat().st_size
    G3, _ = load_generator(full)
    assert torch.equal(outputs(G3), outputs(G))                                  # fp32: exact


def test_architecture_is_rebuilt_from_metadata_alone(tmp_path):
    cfg = ModelConfig(arch="dcgan", n_classes=3, size=32, z_dim=20, embed_dim=6, ngf=4, ndf=4)
    classes = parse_classes("가각간")
    G = make_generator(cfg)
    path = tmp_path / "g.safetensors"
    save(path, G, cfg, classes)
    G2, meta = load_generator(path)                                # nothing but the file
    assert isinstance(G2, DCGANGenerator)
    assert G2.cfg == cfg and meta["model_config"] == cfg
    assert meta["class_list"].to_list() == ["가", "각", "간"]
    torch.testing.assert_close(outputs(G2, cfg), outputs(G, cfg), atol=2e-2, rtol=0)
    assert outputs(G2, cfg).shape == (8, 1, 32, 32)


def test_metadata_that_does_not_match_the_weights_is_refused(tmp_path):
    G = make_generator()
    path = tmp_path / "lying.safetensors"
    save(path, G, ModelConfig(**{**MCFG.to_dict(), "size": 32}))    # says 32 px, holds 16 px weights
    with pytest.raises(CheckpointError, match="do not match"):
        load_generator(path)
    path2 = tmp_path / "lying2.safetensors"
    save(path2, G, classes=parse_classes("가각"))                    # 4-class model, 2 stored classes
    with pytest.raises(CheckpointError, match="classes"):
        load_generator(path2)


# ---- refusing what is not a checkpoint ------------------------------------------------------

from payloads import Payload  # noqa: E402  (tests/ is on sys.path under pytest)


@pytest.mark.parametrize("zipfile", [True, False], ids=["torch-zip", "torch-legacy"])
def test_pickle_checkpoint_is_refused_without_unpickling(tmp_path, zipfile):
    # first prove the payload is live: a plain torch.load(weights_only=False) does run it
    probe, probe_sentinel = tmp_path / "probe.pt", tmp_path / "PROBE_RAN"
    torch.save({"state_dict": {}, "x": Payload(probe_sentinel)}, probe, _use_new_zipfile_serialization=zipfile)
    assert not probe_sentinel.exists()
    torch.load(probe, weights_only=False)
    assert probe_sentinel.exists(), "the test payload should fire when unpickled"

    sentinel = tmp_path / "PWNED"
    G = make_generator()
    for name in ("evil.pt", "epoch_001.safetensors"):               # the extension does not matter
        path = tmp_path / name
        torch.save({"state_dict": G.state_dict(), "x": Payload(sentinel)}, path, _use_new_zipfile_serialization=zipfile)
        for load in (load_generator, read_metadata,
                     lambda p: load_state(p, modules={"G": make_generator()}, optimizers={})):
            with pytest.raises(CheckpointError, match="pickle") as e:
                load(path)
            assert str(path) in str(e.value)
        assert not sentinel.exists(), "loading a pickle checkpoint executed its payload"


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="not a file"):
        load_generator(tmp_path)


def test_truncated_files_are_refused_naming_the_file(tmp_path):
    G = make_generator()
    good = tmp_path / "good.safetensors"
    save(good, G)
    data = good.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    for n in (0, 1, 8, 9, 40, header_end - 1, header_end, header_end + 10, len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut_{n}.safetensors"
        path.write_bytes(data[:n])
        with pytest.raises(CheckpointError) as e:
            load_generator(path)
        assert str(path) in str(e.value), f"cut at {n}: {e.value}"


def test_garbage_files_are_refused_naming_the_file(tmp_path):
    rnd = random.Random(0)
    samples = {
        "text.safetensors": b"hello, this is not a checkpoint\n" * 20,
        "random.safetensors": bytes(rnd.randrange(256) for _ in range(4096)),
        "huge_header.safetensors": (2**40).to_bytes(8, "little") + b"{" + b"x" * 100,
        "bad_json.safetensors": (20).to_bytes(8, "little") + b"{not json at all!!!}",
        "png.safetensors": b"\x89PNG\r\n\x1a\n" + bytes(100),
    }
    for name, blob in samples.items():
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(CheckpointError) as e:
            load_generator(path)
        assert str(path) in str(e.value), f"{name}: {e.value}"


def test_a_safetensors_file_that_is_not_a_generator(tmp_path):
    from safetensors.torch import save_file
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a ReKOGAN generator"):
        load_generator(other)
    state = tmp_path / "state_001.safetensors"
    G = make_generator()
    save_state(state, modules={"G": G}, optimizers={}, counters={"step": 1}, rng={})
    with pytest.raises(CheckpointError, match="not a ReKOGAN generator"):
        load_generator(state)                                       # a resume state is not a generator
    with pytest.raises(CheckpointError, match="resume state"):
        load_state(tmp_path / "other.safetensors", modules={}, optimizers={})


# ---- atomic writes ----------------------------------------------------------------------------

def test_atomic_writes_leave_no_temporary_files(tmp_path):
    G = make_generator()
    for epoch in (1, 2):
        save(tmp_path / f"epoch_{epoch:03d}.safetensors", G, epoch=epoch)
    save(tmp_path / "epoch_002.safetensors", G, epoch=2)           # overwrite in place
    save_state(tmp_path / "state_002.safetensors", modules={"G": G}, optimizers={}, counters={"step": 2}, rng={})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["epoch_001.safetensors", "epoch_002.safetensors", "state_002.safetensors"]
    assert [e for e, _ in list_epochs(tmp_path)] == [1, 2]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    G = make_generator()
    path = tmp_path / "epoch_001.safetensors"
    save(path, G, epoch=1)
    before = path.read_bytes()

    def half_written(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\0" * 100)                                     # a partial temporary file ...
        raise OSError(28, "No space left on device")                 # ... then the disk fills up

    monkeypatch.setattr(ck, "save_file", half_written)
    with pytest.raises(OSError):
        save(path, make_generator(seed=1), epoch=2)
    assert path.read_bytes() == before
    assert read_metadata(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_001.safetensors"]


# ---- resume state -----------------------------------------------------------------------------

def _train_a_bit(G, D, opt_g, opt_d, steps: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        z, y = torch.randn(8, MCFG.z_dim, generator=g), torch.randint(0, 4, (8,), generator=g)
        logit, aux = D(G(z, y), y)
        loss = logit.mean() + aux.logsumexp(1).mean()
        opt_g.zero_grad(); opt_d.zero_grad()
        loss.backward()
        opt_g.step(); opt_d.step()


def _fresh(seed: int):
    torch.manual_seed(seed)
    G, D = build_generator(MCFG), build_discriminator(MCFG)
    G.apply(init_weights); D.apply(init_weights)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.99))
    return G, D, opt_g, opt_d


def test_resume_state_round_trip_restores_optimizers_exactly(tmp_path):
    G, D, opt_g, opt_d = _fresh(0)
    _train_a_bit(G, D, opt_g, opt_d, steps=3, seed=1)
    gen = torch.Generator().manual_seed(99)
    torch.randn(5, generator=gen)
    rng = {"gen0": gen.get_state(), "torch": torch.get_rng_state()}
    counters = {"step": 3, "epoch": 1, "images_seen": 24, "wall": 1.5}
    path = tmp_path / "state_001.safetensors"
    save_state(path, modules={"G": G, "D": D}, optimizers={"opt_g": opt_g, "opt_d": opt_d}, counters=counters, rng=rng)

    G2, D2, opt_g2, opt_d2 = _fresh(5)                                # different weights, empty Adam state
    got_counters, got_rng = load_state(path, modules={"G": G2, "D": D2}, optimizers={"opt_g": opt_g2, "opt_d": opt_d2})
    assert got_counters == counters
    assert set(got_rng) == {"gen0", "torch"}
    assert torch.equal(got_rng["gen0"], rng["gen0"]) and torch.equal(got_rng["torch"], rng["torch"])

    for m, m2 in ((G, G2), (D, D2)):
        sd, sd2 = m.state_dict(), m2.state_dict()
        assert sd.keys() == sd2.keys()
        for k in sd:
            assert torch.equal(sd[k], sd2[k]), k                  # incl. BN running stats and spectral-norm u, v
    for o, o2 in ((opt_g, opt_g2), (opt_d, opt_d2)):
        s, s2 = o.state_dict(), o2.state_dict()
        assert s["state"].keys() == s2["state"].keys() and len(s["state"]) == len(list(o.param_groups[0]["params"]))
        for pid in s["state"]:
            for key in ("step", "exp_avg", "exp_avg_sq"):
                a, b = s["state"][pid][key], s2["state"][pid][key]
                assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)), (pid, key)
            assert float(s2["state"][pid]["step"]) == 3
        g, g2 = s["param_groups"][0], s2["param_groups"][0]
        assert g2["lr"] == g["lr"] and tuple(g2["betas"]) == tuple(g["betas"]) and g2["eps"] == g["eps"]
    assert opt_d2.param_groups[0]["lr"] == 1e-4 and tuple(opt_d2.param_groups[0]["betas"]) == (0.0, 0.99)

    # and training on continues identically
    _train_a_bit(G, D, opt_g, opt_d, steps=2, seed=7)
    _train_a_bit(G2, D2, opt_g2, opt_d2, steps=2, seed=7)
    for p, p2 in zip(list(G.parameters()) + list(D.parameters()), list(G2.parameters()) + list(D2.parameters())):
        assert torch.equal(p, p2)


def test_resume_state_from_the_tiny_run(tiny_run):
    """The trainer's own state file loads into freshly built models and optimisers."""
    from rekogan.config import from_dict
    cfg = from_dict(json.loads((tiny_run / "config.json").read_text()))
    found = ck.latest_state(tiny_run)
    assert found is not None and found[0] == cfg.epochs
    mcfg = cfg.model_config(4)
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    G_ema = build_generator(mcfg)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    counters, rng = load_state(found[1], modules={"G": G, "D": D, "G_ema": G_ema},
                               optimizers={"opt_g": opt_g, "opt_d": opt_d})
    steps = cfg.epochs * (cfg.epoch_images // cfg.batch)
    assert counters["epoch"] == cfg.epochs and counters["step"] == steps
    assert counters["images_seen"] == steps * cfg.batch
    assert opt_g.param_groups[0]["lr"] == cfg.lr_g and tuple(opt_g.param_groups[0]["betas"]) == (cfg.beta1, cfg.beta2)
    assert all(float(s["step"]) == steps for s in opt_g.state_dict()["state"].values())
    assert "torch" in rng and "gen0" in rng
