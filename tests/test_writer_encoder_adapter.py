"""A style encoder that predicts the writer's adapter too (issue 25: rekogan/writer/encoder.py's adapter head).

On a tiny-preset generator (4 classes, 16x16, random weights: no training run, no fonts) and the shipped
520-class reader as the fit's features; one thread, seconds."""
from __future__ import annotations

import copy
import sys

import pytest
import torch

from conftest import REPO, random_tiny_generator

CLASSIFIER = REPO / "checkpoints/classifier/classifier.safetensors"


@pytest.fixture(scope="module")
def tiny_G():
    return random_tiny_generator(z_gain=0.3)


@pytest.fixture(scope="module")
def feats():
    assert CLASSIFIER.is_file(), f"missing {CLASSIFIER} (the shipped reader)"
    from rekogan.writer import reader_features
    return reader_features(CLASSIFIER)


def _encoder(G, *, adapter=True, seed=1, trained=False):
    from rekogan.writer.encoder import encoder_for
    torch.manual_seed(seed)
    E = encoder_for(G, adapter=adapter, width=8, feat=32)
    if trained:                                       # heads that are not zero: the writer depends on the references
        with torch.no_grad():
            for head in [E.head] + ([E.adapt] if adapter else []):
                head[-1].weight.normal_(0, 0.05)
                head[-1].bias.normal_(0, 0.3)
    return E.eval()


def _refs(G, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, G.cfg.size, G.cfg.size, generator=g) * 2 - 1, torch.arange(n)


def test_the_adapter_head_starts_at_no_change_and_round_trips(tiny_G, tmp_path):
    from rekogan.writer.encoder import adapter_channels, check_fits, load_encoder, save_encoder, start_writer
    from rekogan.writer.errors import WriterError
    G = tiny_G
    refs, y = _refs(G)
    lat, w, ad = start_writer(_encoder(G), G, refs, y)
    chans = adapter_channels(G)
    assert sorted(ad) == sorted([f"scale.{i}" for i in range(len(chans))] + [f"shift.{i}" for i in range(len(chans))])
    assert all(ad[f"scale.{i}"].shape == (c,) and ad[f"shift.{i}"].shape == (c,) for i, c in enumerate(chans))
    assert all(float(v.abs().max()) == 0 for v in ad.values()), "an untrained head must give no change"
    # an encoder without the head (every file shipped before it) gives no adapter at all
    assert start_writer(_encoder(G, adapter=False), G, refs, y)[2] == {}
    E = _encoder(G, trained=True)
    _, _, ad = start_writer(E, G, refs, y)
    assert any(float(v.abs().max()) > 0 for v in ad.values())
    save_encoder(tmp_path / "encoder.safetensors", E)
    E2 = load_encoder(tmp_path / "encoder.safetensors", generator=G)
    assert E2.config["adapter"] == chans
    _, _, ad2 = start_writer(E2, G, refs, y)
    for k in ad:                                      # fp16 storage
        torch.testing.assert_close(ad2[k], ad[k], atol=2e-3, rtol=2e-3)
    E_other = copy.deepcopy(E)
    E_other.config = dict(E.config, adapter=[c + 1 for c in chans])
    with pytest.raises(WriterError, match="adapter"):
        check_fits(E_other, G)
    with pytest.raises(ValueError, match="channels of each"):
        _encoder(G).__class__(**dict(E.config, adapter=chans[:-1]))


def test_per_glyph_modulation_draws_each_writer_as_if_alone(tiny_G):
    from rekogan.writer.conditioned import draw
    from rekogan.writer.latent import layered_forward, n_layers
    G = tiny_G
    g = torch.Generator().manual_seed(2)
    lat = torch.randn(2, n_layers(G), G.cfg.z_dim, generator=g)
    ad = {f"{kind}.{i}": 0.3 * torch.randn(2, c, generator=g)
          for i, c in enumerate(n.bn.num_features for n in G.norms) for kind in ("scale", "shift")}
    labels = torch.tensor([[0, 1, 2], [3, 2, 1]])
    with torch.no_grad():
        both = draw(G, lat, None, labels, ad)                         # (6, 1, S, S)
        for b in range(2):
            alone = layered_forward(G, lat[b][None].expand(3, -1, -1), labels[b], None,
                                    adapter={k: v[b] for k, v in ad.items()})
            torch.testing.assert_close(both[3 * b:3 * b + 3], alone)
        plain = draw(G, lat, None, labels)
    assert (plain - both).abs().max() > 1e-3, "the modulation must change the glyphs"


def test_the_fit_starts_its_adapter_from_the_encoders(tiny_G, feats):
    from rekogan.writer import FitConfig, fit
    from rekogan.writer.encoder import start_writer
    G = tiny_G
    E = _encoder(G, trained=True)
    refs, y = _refs(G)
    _, _, start = start_writer(E, G, refs, y)
    base = dict(seeds=4, steps_z=2, steps_layers=0)
    r = fit(G, refs, y, reader_features=feats, encoder=E, config=FitConfig(steps_adapter=0, **base))
    assert sorted(r.adapter) == sorted(start)
    for k, v in start.items():                        # no adapter steps: the writer keeps E's modulation
        assert torch.equal(r.adapter[k], v.half().float()), k
    # with steps, a strong anchor holds the adapter at E's start, not at zero (the anchor's origin is the start)
    r = fit(G, refs, y, reader_features=feats, encoder=E,
            config=FitConfig(steps_adapter=3, lr_adapter=0.01, anchor=1e3, **base))
    to_start = sum(float((r.adapter[k] - v).abs().max()) for k, v in start.items())
    to_zero = sum(float(v.abs().max()) for v in r.adapter.values())
    assert to_start < 0.2 * to_zero, (to_start, to_zero)
    # another kind: E's channels stay, the low-rank deltas are fitted beside them
    r = fit(G, refs, y, reader_features=feats, encoder=E, config=FitConfig(steps_adapter=2, adapter="lowrank", **base))
    assert {k for k in r.adapter if k.startswith(("scale", "shift"))} == set(start)
    assert any(k.startswith("up.") for k in r.adapter)
    for k, v in start.items():
        assert torch.equal(r.adapter[k], v.half().float()), k


def test_paired_training_learns_the_adapter_head_and_an_old_init_loads(tiny_G, feats, tmp_path):
    from safetensors.torch import save_file
    from rekogan.writer.conditioned import PairedConfig, make_optimizer, paired_loss, sample_batch, train_step
    from rekogan.sampling import generate
    sys.path.insert(0, str(REPO / "scripts"))
    from train_writer_encoder import load_init
    G = copy.deepcopy(tiny_G)
    originals = {n: p.detach().clone() for n, p in G.named_parameters()}
    g = torch.Generator().manual_seed(5)
    faces = [((generate(tiny_G, torch.arange(4), torch.randn(G.cfg.z_dim, generator=g))[:, 0] + 1) * 127.5)
             .round().clamp(0, 255).to(torch.uint8) for _ in range(6)]
    b = sample_batch(torch.stack(faces), torch.arange(4), faces=3, k=2, targets=2, gen=torch.Generator().manual_seed(0))
    codes = torch.tensor([ord(c) - 0xAC00 for c in "가각간갈"])
    # an encoder file without the head (as every shipped one) starts a run with it: the head stays at zero
    old = _encoder(G, adapter=False, trained=True)
    save_file({**{"E." + k: v.contiguous() for k, v in old.state_dict().items()},
               **{"G." + k: v.contiguous() for k, v in G.state_dict().items()}}, str(tmp_path / "init.safetensors"))
    E = _encoder(G, seed=9)
    with torch.no_grad():
        E.adapt[-1].weight.normal_(0, 1.0)            # must be reset by the init
    load_init(tmp_path / "init.safetensors", E=E, G=G)
    assert float(E.adapt[-1].weight.detach().abs().max()) == 0 and torch.equal(E.head[-1].weight, old.head[-1].weight)
    cfg = PairedConfig(faces=3, k=2, targets=2, lr_e=1e-3, lr_g=1e-5, read=0.1, anchor=10.0)
    opt = make_optimizer(E, G, cfg)
    with torch.no_grad():
        before = float(paired_loss(E, G, b, feats=feats, codes=codes, originals=originals, cfg=cfg)[0])
    for _ in range(3):
        parts = train_step(E, G, b, opt, feats=feats, codes=codes, originals=originals, cfg=cfg)
    assert "adapter_ms" in parts and parts["skipped"] == 0
    assert float(E.adapt[-1].weight.detach().abs().max()) > 0, "the adapter head was not trained"
    with torch.no_grad():
        after = float(paired_loss(E, G, b, feats=feats, codes=codes, originals=originals, cfg=cfg)[0])
    assert after < before, (before, after)
