"""The writer's per-class adapter strength (adapter.py 'mix', fit.py's legibility guard) and its geometry
(geometry.py). On the random tiny generator (4 classes, 16x16) and a stub reader: no fonts, no training."""
from __future__ import annotations

import pytest
import torch

from conftest import random_tiny_generator


@pytest.fixture(scope="module")
def G():
    return random_tiny_generator(z_gain=0.3)


def _channels(G, value: float, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, norm in enumerate(G.norms):
        c = norm.bn.num_features
        out[f"scale.{i}"] = torch.randn(c, generator=g) * value
        out[f"shift.{i}"] = torch.randn(c, generator=g) * value
    return out


def _draw(G, lat, y, adapter):
    from rekogan.writer.latent import layered_forward
    with torch.no_grad():
        return layered_forward(G, lat[None].expand(len(y), -1, -1), y, adapter=adapter)


def _latents(G, seed=3):
    from rekogan.writer.latent import n_layers
    return torch.randn(n_layers(G), G.cfg.z_dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["channels", "lowrank"])
def test_mix_draws_each_class_at_its_strength(G, kind):
    from rekogan.writer.adapter import MIX, check_adapter
    if kind == "channels":
        full = _channels(G, 0.5)
        half = {k: v * 0.5 for k, v in full.items()}
    else:
        g = torch.Generator().manual_seed(1)
        full = {}
        for i, up in enumerate(G.ups):
            full[f"down.{i}"] = torch.randn(up.weight.shape[0], 2, generator=g)
            full[f"up.{i}"] = torch.randn(2, up.weight[0].numel(), generator=g) * 0.2
        half = {k: v * 0.5 if k.startswith("up.") else v for k, v in full.items()}
    lat, y = _latents(G), torch.tensor([0, 1, 2, 3, 1])
    mixed = {**full, MIX: torch.tensor([1.0, 0.0, 0.5, 1.0])}
    check_adapter(mixed, G)
    got = _draw(G, lat, y, mixed)
    want_full, want_none, want_half = _draw(G, lat, y, full), _draw(G, lat, y, None), _draw(G, lat, y, half)
    for b, c in enumerate(y.tolist()):
        want = {0: want_full, 3: want_full, 1: want_none, 2: want_half}[c]
        assert torch.allclose(got[b], want[b], atol=1e-5), f"class {c} must be drawn at its strength"
    assert not torch.allclose(want_full[1], want_none[1], atol=1e-3), "the adapter must change the glyph"


def test_a_mix_of_the_wrong_size_is_refused(G):
    from rekogan.writer.adapter import MIX, check_adapter
    with pytest.raises(ValueError, match="4 classes"):
        check_adapter({**_channels(G, 0.1), MIX: torch.ones(5)}, G)


class StubReader:
    """Reads a glyph right when its mean ink is under a threshold (and says how far over it is):
    an adapter that brightens every glyph makes some classes misread, and less of it fixes them."""

    def __init__(self, threshold):
        self.threshold = threshold

    def __call__(self, x):
        return [x.mean(dim=(1, 2, 3), keepdim=False)[:, None]]

    def reads(self, pooled, codes):
        return pooled[:, 0] < self.threshold[codes]

    def read_loss(self, pooled, codes):
        return (pooled[:, 0] - self.threshold[codes]).clamp(min=0)


def test_the_guard_draws_a_misread_class_with_less_adapter_and_leaves_the_rest(G):
    from rekogan.writer.fit import GUARD_LEVELS, _legibility_guard
    lat, y = _latents(G), torch.arange(4)
    adapter = {f"shift.{i}": torch.full((n.bn.num_features,), 0.0) for i, n in enumerate(G.norms)}
    adapter.update({f"scale.{i}": torch.zeros(n.bn.num_features) for i, n in enumerate(G.norms)})
    adapter[f"shift.{len(G.norms) - 1}"] += 1.5            # the last layer's shift: more ink on every glyph
    plain, full = _draw(G, lat, y, None).mean(dim=(1, 2, 3)), _draw(G, lat, y, adapter).mean(dim=(1, 2, 3))
    assert bool((full > plain + 0.05).all()), (plain, full)
    # class 0: read right at full strength; class 1: only without the adapter; class 2: at 0.5 or less;
    # class 3: never (its threshold is under even the plain glyph): the strength it reads best at (0)
    half = _draw(G, lat, y, {k: v * 0.5 for k, v in adapter.items()}).mean(dim=(1, 2, 3))
    threshold = torch.stack([full[0] + 0.01, plain[1] + 0.01, half[2] + 0.01, plain[3] - 0.01])
    codes = torch.arange(4)                                 # class i reads as "syllable" i
    mix = _legibility_guard(G, StubReader(threshold), lat, None, adapter, torch.tensor([], dtype=torch.int64), codes)
    assert mix.tolist()[0] == 1.0 and mix.tolist()[1] == 0.0 and mix.tolist()[3] == 0.0, mix
    assert mix.tolist()[2] in GUARD_LEVELS and 0 < mix.tolist()[2] <= 0.5, mix
    # a class the person drew keeps its fitted hand, whatever the reader says
    mix = _legibility_guard(G, StubReader(threshold), lat, None, adapter, torch.tensor([1]), codes)
    assert mix.tolist()[1] == 1.0 and mix.tolist()[3] == 0.0, mix


def test_the_guard_travels_in_the_writer_code_and_file(G, tmp_path):
    from rekogan.writer import Writer, decode_full, encode, load_writer
    from rekogan.writer.adapter import MIX
    lat = _latents(G).half().float()
    adapter = {**{k: v.half().float() for k, v in _channels(G, 0.3).items()}, MIX: torch.tensor([1.0, 0.25, 0.0, 0.75])}
    code = encode(lat, None, adapter)
    _, _, back = decode_full(code)
    assert torch.equal(back[MIX], adapter[MIX])
    w = Writer(code=code, syllables="가각", run="tiny", epoch=1, losses={}, fit={"guard": "read"})
    assert load_writer(w.save(tmp_path / "writer.safetensors")).code == code


def test_geometry_zero_is_no_change_and_each_number_does_what_it_says():
    from rekogan.writer import geometry
    x = -torch.ones(1, 1, 16, 16)
    x[:, :, 4:12, 7:9] = 1.0                                # a vertical bar, ink +1
    assert torch.equal(geometry.apply(x, geometry.zero()), x)
    ink = lambda t: (t + 1).sum() / 2                       # noqa: E731
    g = geometry.zero()
    g[5] = 1.0
    assert ink(geometry.apply(x, g)) > 1.5 * ink(x), "stroke 1: a dilation"
    g[5] = -1.0
    assert ink(geometry.apply(x, g)) < 0.5 * ink(x), "stroke -1: an erosion"
    g = geometry.zero()
    g[0] = 0.3
    sheared = geometry.apply(x, g)
    cols = lambda t, rows: ((t[0, 0, rows] + 1) / 2 * torch.arange(16.0)).sum() / ((t[0, 0, rows] + 1) / 2).sum()  # noqa: E731
    assert float(cols(sheared, slice(4, 6)) - cols(sheared, slice(10, 12))) > 0.5, "shear > 0 moves the top right"
    g = torch.full((6,), 100.0)
    assert torch.equal(geometry.apply(x, g), geometry.apply(x, torch.tensor(geometry.LIMITS))), "values are clamped"
    with pytest.raises(ValueError, match="6 numbers"):
        geometry.check(torch.zeros(5))


def test_fit_geometry_recovers_a_slant_and_a_stroke():
    from rekogan.writer import geometry
    g = torch.Generator().manual_seed(0)
    x0 = -torch.ones(6, 1, 16, 16)
    for i in range(6):                                      # bars of different places and lengths
        r, c = int(torch.randint(2, 6, (1,), generator=g)), int(torch.randint(4, 10, (1,), generator=g))
        x0[i, 0, r:r + 8, c:c + 2] = 1.0
        x0[i, 0, r + 3, c - 2:c + 4] = 1.0
    truth = geometry.zero()
    truth[0], truth[5] = 0.2, 0.5
    targets = geometry.apply(x0, truth)
    got = geometry.fit_geometry(x0, targets, None, objective=lambda x, t, tf: (x - t).abs().mean(dim=(1, 2, 3)),
                                steps=150, lr=0.03, prior=0.0)
    err = lambda t: float((geometry.apply(x0, t) - targets).abs().mean())  # noqa: E731
    assert err(got) < 0.3 * err(geometry.zero()), (got, err(got), err(geometry.zero()))
    assert got[0] > 0.1 and got[5] > 0.2, got


def test_eval_writer_judge_reads_the_same_glyphs_with_another_reader():
    """eval_writer.py --judge: `readable (judge)` is the judge's reading of the very glyphs `readable` is measured on."""
    from script_util import load_script
    ev = load_script("eval_writer", as_name="eval_writer_judge")

    class Feats:                                            # a style embedding of 2 maps and a pooled vector
        def __call__(self, x):
            return [x, x.mean(dim=(1, 2, 3))[:, None]]

    class Reader:                                           # reads glyph i as `answers[i]`
        def __init__(self, answers):
            self.answers = torch.tensor(answers)

        def read(self, x):
            return None, self.answers[:len(x)]

    x = torch.rand(4, 1, 8, 8) * 2 - 1
    emb = ev.style_embedding(Feats(), x)
    labels = torch.tensor([5, 6, 7, 8])
    common = dict(real=x, emb_all=emb[None].repeat(2, 1, 1), face_row=0, heldout_rows=[0, 1], feats=Feats(),
                  labels_syl=labels)
    out = ev.measures(x, reader=Reader([5, 6, 7, 8]), judge=Reader([5, 0, 0, 8]), **common)
    assert out["readable"] == 1.0 and out["readable_judge"] == 0.5
    assert "readable_judge" not in ev.measures(x, reader=Reader([5, 6, 7, 8]), **common)


def test_joint_features_are_both_readers_and_read_with_the_first():
    """losses.JointFeatures (eval_writer.py --fit-features): the maps of both readers, both pooled vectors,
    and the first reader's reading."""
    from conftest import REPO
    from rekogan.reader import load_reader
    from rekogan.writer.losses import JointFeatures, ReaderFeatures, feature_distance
    a = ReaderFeatures(load_reader(REPO / "checkpoints/reader/reader.safetensors"))
    b = ReaderFeatures(load_reader(REPO / "checkpoints/classifier/classifier.safetensors"))
    j = JointFeatures(a, b)
    x = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fa, fb, fj = a(x), b(x), j(x)
    assert len(fj) == len(fa) + len(fb) - 1
    assert all(torch.equal(u, v) for u, v in zip(fj[:len(fa) - 1], fa[:-1]))
    assert all(torch.equal(u, v) for u, v in zip(fj[len(fa) - 1:-1], fb[:-1]))
    assert torch.equal(fj[-1], torch.cat([fa[-1], fb[-1]], 1))
    codes = torch.tensor([0, 100, 2000])
    assert torch.equal(j.read_loss(fj[-1], codes), a.read_loss(fa[-1], codes))
    assert torch.equal(j.reads(fj[-1], codes), a.reads(fa[-1], codes))
    y = x.flip(-1)
    assert float(feature_distance(j(y), fj).mean()) > 0, "a different glyph is at a distance"


def test_a_writer_whose_mix_or_geometry_does_not_fit_is_refused_with_a_message(G):
    from rekogan.writer import WriterError, encode, writer_latent
    from rekogan.writer.adapter import MIX
    lat = _latents(G).half().float()
    channels = {k: v.half().float() for k, v in _channels(G, 0.1).items()}
    for extra, message in (({MIX: torch.ones(7)}, "classes"), ({"geometry": torch.zeros(3, 6)}, "6 numbers")):
        with pytest.raises(WriterError, match=message):
            writer_latent(encode(lat, None, {**channels, **extra}), generator=G)
    ok = writer_latent(encode(lat, None, {**channels, MIX: torch.tensor([1.0, 0.5, 0.0, 1.0]),
                                          "geometry": torch.tensor([0.1, 0, 0, 0, 0, 0.5])}), generator=G)
    assert set(ok.generator.adapter) >= {MIX, "geometry"}


def test_eval_writer_syllable_order_is_the_tables_at_seed_0_and_another_at_other_seeds():
    from script_util import load_script
    ev = load_script("eval_writer", as_name="eval_writer_order")
    assert torch.equal(ev.syllable_order(520), torch.randperm(520, generator=torch.Generator().manual_seed(0)))
    a, b = ev.syllable_order(520, 1), ev.syllable_order(520, 2)
    assert sorted(a.tolist()) == list(range(520)) and not torch.equal(a[:8], b[:8])
    assert not torch.equal(a[:8], ev.syllable_order(520)[:8])
