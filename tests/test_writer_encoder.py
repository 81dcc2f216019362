"""rekogan.writer.encoder / conditioned (issue 25 spike): the style encoder and its paired training.

On a tiny-preset generator (4 classes, 16x16, random weights: no training run, no fonts) and the
shipped 520-class reader as the readability term; one thread, seconds."""
from __future__ import annotations

import copy

import pytest
import torch

from conftest import REPO

CLASSIFIER = REPO / "checkpoints/classifier/classifier.safetensors"


@pytest.fixture(scope="module")
def tiny_G():
    from rekogan.config import resolve
    from rekogan.models import build_generator, init_weights
    from rekogan.steps import standing_stats
    torch.manual_seed(0)
    G = build_generator(resolve("tiny").model_config(4))
    G.apply(init_weights)
    with torch.no_grad():
        for norm in G.norms:                          # z matters at every layer (as test_writer's writerly_G)
            norm.gain.weight.normal_(0, 0.3 / norm.gain.in_features ** 0.5)
            norm.bias.weight.normal_(0, 0.3 / norm.bias.in_features ** 0.5)
        standing_stats(G, n_classes=4)
    return G.eval()


@pytest.fixture(scope="module")
def feats():
    assert CLASSIFIER.is_file(), f"missing {CLASSIFIER} (the shipped reader)"
    from rekogan.writer import reader_features
    return reader_features(CLASSIFIER)


def _encoder(G, seed=1):
    from rekogan.writer.encoder import encoder_for
    torch.manual_seed(seed)
    return encoder_for(G, width=8, feat=32)


def _writer_images(G, n_faces=6):
    """(F, 4, S, S) uint8: every class drawn by n_faces random writers of G: a paired data set E can learn."""
    from rekogan.sampling import generate
    g = torch.Generator().manual_seed(5)
    faces = []
    for _ in range(n_faces):
        z = torch.randn(G.cfg.z_dim, generator=g)
        x = generate(G, torch.arange(4), z)                           # (4, 1, S, S) in [-1, 1]
        faces.append(((x[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.stack(faces)


def test_encoder_shapes_zero_start_and_order_invariance(tiny_G):
    from rekogan.writer.latent import n_layers
    G = tiny_G
    E = _encoder(G)
    refs = torch.rand(2, 3, 1, G.cfg.size, G.cfg.size) * 2 - 1
    y = torch.tensor([[0, 1, 2], [3, 1, 0]])
    cond = G.embed(y.flatten()).detach().view(2, 3, -1)
    lat, w = E(refs, cond)
    assert lat.shape == (2, n_layers(G), G.cfg.z_dim)
    assert (w is None) == (not getattr(G.cfg, "weight_cond", False))
    assert lat.abs().max() == 0, "an untrained encoder must give the prior's mean (z = 0)"
    with torch.no_grad():                             # a trained-looking head: the order must still not matter
        E.head[-1].weight.normal_(0, 0.1)
        E.head[-1].bias.normal_(0, 0.1)
    lat, _ = E(refs, cond)
    order = torch.tensor([2, 0, 1])
    lat_p, _ = E(refs[:, order], cond[:, order])
    assert lat.abs().max() > 0
    torch.testing.assert_close(lat_p, lat, atol=1e-5, rtol=1e-5)
    other, _ = E(refs.flip(0), cond.flip(0))          # and the writer does depend on the references
    assert (other - lat).abs().max() > 1e-4
    with pytest.raises(ValueError, match="refs must be"):
        E(refs[0], cond)


def test_one_training_step_lowers_the_loss_on_a_fixed_batch(tiny_G, feats):
    from rekogan.writer.conditioned import PairedConfig, make_optimizer, paired_loss, sample_batch, train_step
    G = copy.deepcopy(tiny_G)
    originals = {n: p.detach().clone() for n, p in G.named_parameters()}
    E = _encoder(G)
    cfg = PairedConfig(faces=3, k=2, targets=2, lr_e=1e-4, lr_g=1e-5, read=0.1, anchor=10.0)
    codes = torch.tensor([ord(c) - 0xAC00 for c in "가각간갈"])
    b = sample_batch(_writer_images(tiny_G), torch.arange(4), faces=3, k=2, targets=2,
                     gen=torch.Generator().manual_seed(0))
    assert b.refs.shape == (3, 2, 1, G.cfg.size, G.cfg.size) and b.targets.shape == b.refs.shape
    assert all(set(r.tolist()).isdisjoint(t.tolist()) for r, t in zip(b.ref_labels, b.target_labels))
    opt = make_optimizer(E, G, cfg)

    def loss():
        with torch.no_grad():
            return float(paired_loss(E, G, b, feats=feats, codes=codes, originals=originals, cfg=cfg)[0])

    before = loss()
    parts = train_step(E, G, b, opt, feats=feats, codes=codes, originals=originals, cfg=cfg)
    assert parts["loss"] == pytest.approx(before, rel=1e-5)
    after = loss()
    assert after < before, (before, after)
    assert not G.training, "the generator must stay in eval mode (BatchNorm running statistics)"
    assert any((p - originals[n]).abs().max() > 0 for n, p in G.named_parameters()), "G was not tuned"


def test_sample_batch_refuses_too_few_syllables():
    from rekogan.writer.conditioned import sample_batch
    with pytest.raises(ValueError, match="only 4 syllables"):
        sample_batch(torch.zeros(2, 4, 16, 16, dtype=torch.uint8), torch.arange(4), faces=1, k=3, targets=2,
                     gen=torch.Generator())


def test_resume_state_round_trips(tiny_G, feats, tmp_path):
    """Two steps, save, load into fresh models, one more step each: the same parameters, bit for bit."""
    from rekogan.writer.conditioned import (PairedConfig, load_resume, make_optimizer, sample_batch, save_resume,
                                            train_step)
    cfg = PairedConfig(faces=2, k=2, targets=2, lr_e=1e-3, lr_g=1e-4, read=0.1)
    images = _writer_images(tiny_G)
    originals = {n: p.detach().clone() for n, p in tiny_G.named_parameters()}
    codes = torch.tensor([ord(c) - 0xAC00 for c in "가각간갈"])

    def fresh():
        G = copy.deepcopy(tiny_G)
        E = _encoder(G, seed=3)
        return E, G, make_optimizer(E, G, cfg), torch.Generator().manual_seed(0)

    def step(E, G, opt, gen):
        b = sample_batch(images, torch.arange(4), faces=2, k=2, targets=2, gen=gen)
        train_step(E, G, b, opt, feats=feats, codes=codes, originals=originals, cfg=cfg)

    E, G, opt, gen = fresh()
    for _ in range(2):
        step(E, G, opt, gen)
    save_resume(tmp_path / "state.safetensors", E=E, G=G, opt=opt, counters={"step": 2, "cpu_s": 1.5}, gen=gen)
    E2, G2, opt2, gen2 = fresh()
    gen2.manual_seed(99)                              # must be replaced by the saved stream
    counters = load_resume(tmp_path / "state.safetensors", E=E2, G=G2, opt=opt2, gen=gen2)
    assert counters == {"step": 2, "cpu_s": 1.5}
    step(E, G, opt, gen)
    step(E2, G2, opt2, gen2)
    for a, b in ((E, E2), (G, G2)):
        for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), n
    assert not list(tmp_path.glob(".*.tmp")), "the atomic writer left a temporary file"


def test_init_file_loads_into_a_new_run_and_refuses_a_foreign_one(tiny_G, tmp_path):
    """scripts/train_writer_encoder.py --init: E.* / G.* weights (as resume/writer_enc.safetensors) start a run."""
    import sys
    from safetensors.torch import save_file
    from conftest import REPO as repo
    sys.path.insert(0, str(repo / "scripts"))
    from train_writer_encoder import load_init
    G = copy.deepcopy(tiny_G)
    E = _encoder(G, seed=4)
    with torch.no_grad():
        E.head[-1].weight.normal_(0, 0.1)
        next(G.parameters()).add_(0.5)
    t = {**{"E." + k: v.half().contiguous() for k, v in E.state_dict().items()},
         **{"G." + k: v.half().contiguous() for k, v in G.state_dict().items()}}
    save_file(t, str(tmp_path / "init.safetensors"))
    G2, E2 = copy.deepcopy(tiny_G), _encoder(tiny_G, seed=5)
    load_init(tmp_path / "init.safetensors", E=E2, G=G2)
    for a, b in ((E, E2), (G, G2)):
        for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(q, p.half().to(p.dtype), msg=n)
    save_file({k: v for k, v in t.items() if k.startswith("E.")}, str(tmp_path / "no_g.safetensors"))
    with pytest.raises(SystemExit, match="no G"):
        load_init(tmp_path / "no_g.safetensors", E=E2, G=G2)
    E_big = _encoder(tiny_G, seed=5)
    E_big.head[-1] = torch.nn.Linear(32, 7)                           # the same names, another head shape
    save_file({**{k: v for k, v in t.items() if k.startswith("G.")},
               **{"E." + k: v.contiguous() for k, v in E_big.state_dict().items()}},
              str(tmp_path / "foreign.safetensors"))
    with pytest.raises(SystemExit, match="other shapes"):
        load_init(tmp_path / "foreign.safetensors", E=E2, G=G2)
