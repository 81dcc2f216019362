"""adapter.py's 'both' kind (issue 25): per-channel modulation and low-rank deltas together.

On a random tiny-preset generator (4 classes, 16x16; no training, no fonts) and the shipped reader:
a 'both' adapter fitted for 0 steps draws the unadapted pixels, each half of it reaches the pixels,
a short fit fills both halves, and it travels through the writer code and writer.safetensors."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO, random_tiny_generator


@pytest.fixture(scope="module")
def G():
    return random_tiny_generator()


@pytest.fixture(scope="module")
def feats():
    from rekogan.writer import reader_features
    return reader_features(REPO / "checkpoints/classifier/classifier.safetensors")


def _latents(G, seed=3):
    from rekogan.writer.latent import n_layers
    return torch.randn(n_layers(G), G.cfg.z_dim, generator=torch.Generator().manual_seed(seed)).half().float()


def test_both_has_each_kinds_tensors_and_starts_at_no_change(G, feats):
    from rekogan.writer.adapter import AdapterTerms, check_adapter, fit_adapter, init_adapter, size_of
    from rekogan.writer.latent import layered_forward
    n = len(G.norms)
    both = init_adapter(G, kind="both", rank=3)
    ch, lr = init_adapter(G, kind="channels"), init_adapter(G, kind="lowrank", rank=3)
    assert set(both) == set(ch) | set(lr) and len(both) == 4 * n
    assert all(both[k].shape == v.shape for k, v in {**ch, **lr}.items())
    assert torch.equal(both["down.0"], lr["down.0"]), "the low-rank half starts as a 'lowrank' adapter does"
    assert size_of(both) == size_of(ch) + size_of(lr)
    check_adapter({k: v.detach() for k, v in both.items()}, G)
    y, lat = torch.arange(4), _latents(G)
    targets = torch.zeros(2, 1, 16, 16)
    with torch.no_grad():
        tf = [f.detach() for f in feats(targets)]
    zero = fit_adapter(G, feats, lat, None, y[:2], targets, tf, kind="both", layers="all", rank=3, steps=0, lr=0.05,
                       others=2, terms=AdapterTerms(content=1.0, keep=0.2, anchor=0.01), objective=None,
                       trace=[], offset=0)
    assert set(zero) == set(both)
    with torch.no_grad():
        plain = layered_forward(G, lat[None].expand(4, -1, -1), y)
        assert torch.equal(layered_forward(G, lat[None].expand(4, -1, -1), y, adapter=zero), plain)
        # each half reaches the pixels: a 'both' adapter is not one of the two kinds under another name
        for moved in ("scale.1", "up.1"):
            ad = dict(zero)
            ad[moved] = torch.full_like(zero[moved], 0.5)
            assert not torch.allclose(layered_forward(G, lat[None].expand(4, -1, -1), y, adapter=ad), plain, atol=1e-3), moved


def test_a_short_both_fit_moves_both_halves_and_round_trips_through_the_writer_file(G, feats, tmp_path):
    from rekogan.sampling import generate
    from rekogan.writer import FitConfig, Writer, decode_full, draw, encode, fit, load_writer, writer_latent
    from rekogan.writer.value import MAX_SAFETENSORS_BYTES
    y = torch.arange(3)
    truth = generate(G, y, torch.randn(G.cfg.z_dim, generator=torch.Generator().manual_seed(100)))
    cfg = FitConfig(adapter="both", adapter_rank=2, seeds=4, steps_z=3, steps_layers=3, steps_adapter=5, others=2)
    r = fit(G, truth, y, reader_features=feats, config=cfg)
    names = {k.partition(".")[0] for k in r.adapter}
    assert names == {"scale", "shift", "down", "up"}, sorted(r.adapter)
    assert r.adapter["scale.0"].abs().max() > 0 and r.adapter["up.0"].abs().max() > 0, "both halves were fitted"
    assert all(torch.equal(v, v.half().float()) for v in r.adapter.values()), "fp16 values, as the code keeps them"
    code = encode(r.latents, r.weight, r.adapter)
    lat2, w2, ad2 = decode_full(code)
    assert torch.equal(lat2, r.latents) and ad2.keys() == r.adapter.keys()
    assert all(torch.equal(ad2[k], r.adapter[k]) for k in r.adapter)
    w = Writer(code=code, syllables="가각간", run="tiny", epoch=0, losses={}, fit=cfg.to_dict())
    path = w.save(tmp_path / "writer.safetensors")
    assert path.stat().st_size <= MAX_SAFETENSORS_BYTES
    assert load_writer(path).code == code
    labels = torch.arange(4)
    pixels = draw(code, generator=G, labels=labels)
    assert torch.equal(draw(path, generator=G, labels=labels), pixels)
    assert not torch.equal(draw(encode(r.latents, r.weight), generator=G, labels=labels), pixels), "the adapter travels"
    assert set(writer_latent(path, generator=G).generator.adapter) == set(r.adapter)
