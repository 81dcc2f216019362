"""Generators and discriminators: shapes, conditioning, parameter counts."""
from __future__ import annotations

import pytest
import torch

from rekogan.config import resolve
from rekogan.models import (DCGANDiscriminator, DCGANGenerator, ModelConfig, ProjDiscriminator, ProjGenerator,
                            build_discriminator, build_generator, init_weights)

N_CLASSES = 6


def small(arch: str, size: int, **kw) -> ModelConfig:
    return ModelConfig(**{**dict(arch=arch, n_classes=N_CLASSES, size=size, z_dim=16, embed_dim=8, ngf=8, ndf=8), **kw})


def built(cfg: ModelConfig):
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_discriminator(cfg)
    G.apply(init_weights); D.apply(init_weights)
    return G, D


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("arch", ["proj", "dcgan"])
@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes(arch, size):
    cfg = small(arch, size)
    G, D = built(cfg)
    assert isinstance(G, ProjGenerator if arch == "proj" else DCGANGenerator)
    assert isinstance(D, ProjDiscriminator if arch == "proj" else DCGANDiscriminator)
    b = 3
    z, y = torch.randn(b, cfg.z_dim), torch.tensor([0, 2, N_CLASSES - 1])
    x = G(z, y)
    assert x.shape == (b, 1, size, size)
    # a fresh generator draws in tanh's working range, not saturated at -1/+1 (where its gradient
    # vanishes): init_weights' scale gives G something to learn from at step one
    assert x.abs().max() < 0.9, float(x.abs().max())
    assert not torch.equal(G(torch.randn(b, cfg.z_dim), y), x), "the output must depend on z"
    logit, aux = D(x, y)
    assert logit.shape == (b,)
    if arch == "proj":
        assert aux is not None and aux.shape == (b, N_CLASSES), "projection D must return auxiliary class logits"
    else:
        assert aux is None
    # gradients flow from D's logit back to G's weights
    logit.sum().backward()
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)


@pytest.mark.parametrize("arch", ["proj", "dcgan"])
def test_conditioning_changes_the_output(arch):
    cfg = small(arch, 16)
    G, D = built(cfg)
    G.eval(); D.eval()
    z = torch.randn(1, cfg.z_dim).expand(N_CLASSES, -1)       # one z, every label
    with torch.no_grad():
        x = G(z, torch.arange(N_CLASSES))
        for i in range(N_CLASSES):
            for j in range(i + 1, N_CLASSES):
                assert (x[i] - x[j]).abs().max() > 1e-4, f"labels {i} and {j} gave the same image for one z"
        same = x[:1].expand(N_CLASSES, -1, -1, -1)
        logit, _ = D(same, torch.arange(N_CLASSES))            # one image, every label
        assert logit.unique().numel() == N_CLASSES, "D's verdict must depend on the label"


def test_proj_generator_label_reaches_every_resolution():
    """Conditional BN: each norm layer's scale and shift are functions of the class embedding."""
    cfg = small("proj", 32)
    G, _ = built(cfg)
    assert len(G.norms) == cfg.n_up
    z = torch.randn(2, cfg.z_dim)
    G(z, torch.tensor([0, 1])).sum().backward()
    for norm in G.norms:                                       # zero-initialised, but trainable from the label
        assert norm.gain.weight.grad is not None and norm.gain.weight.grad.abs().sum() > 0
        assert norm.bias.weight.grad is not None and norm.bias.weight.grad.abs().sum() > 0


def test_eval_mode_is_per_sample():
    """Sampling runs in eval mode: a glyph must not depend on the rest of its batch."""
    cfg = small("proj", 16)
    G, _ = built(cfg)
    G.train()
    with torch.no_grad():
        for _ in range(3):
            G(torch.randn(32, cfg.z_dim), torch.randint(0, N_CLASSES, (32,)))   # give BN running stats
    G.eval()
    z, y = torch.randn(4, cfg.z_dim), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        together = G(z, y)
        alone = torch.cat([G(z[i:i + 1], y[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_proj_discriminator_is_spectrally_normalised():
    _, D = built(small("proj", 16))
    from torch.nn.utils.parametrize import is_parametrized
    sn = [name for name, m in D.named_modules() if is_parametrized(m, "weight")]
    assert len(sn) >= 3                                       # convs, linear and projection embedding
    assert not is_parametrized(D.aux), "the auxiliary classifier head is not spectral-normalised"
    # a spectral-normalised layer's largest singular value is ~1 after a few power iterations
    conv = D.body[0]
    for _ in range(20):
        D(torch.randn(4, 1, 16, 16), torch.zeros(4, dtype=torch.int64))
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert abs(float(sigma) - 1.0) < 0.05, float(sigma)


def test_parameter_counts_are_sensible():
    counts = {}
    for preset in ("fixed", "collapsed"):
        mcfg = resolve(preset).model_config(520)
        counts[preset] = (n_params(build_generator(mcfg)), n_params(build_discriminator(mcfg)))
    g, d = counts["fixed"]
    assert 1_000_000 < g < 5_000_000 and 200_000 < d < 2_000_000, counts
    g, d = counts["collapsed"]                                # the original DCGAN at 64x64, ngf=ndf=64
    assert 2_000_000 < g < 6_000_000 and 1_500_000 < d < 5_000_000, counts
    tiny = resolve("tiny").model_config(4)
    assert n_params(build_generator(tiny)) < 50_000 and n_params(build_discriminator(tiny)) < 50_000


@pytest.mark.parametrize("arch", ["proj", "dcgan"])
def test_parameter_count_grows_only_by_the_class_tables(arch):
    """Adding classes adds embedding rows (and AC-head rows), nothing else."""
    a, b = small(arch, 16, n_classes=4), small(arch, 16, n_classes=10)
    dg = n_params(build_generator(b)) - n_params(build_generator(a))
    dd = n_params(build_discriminator(b)) - n_params(build_discriminator(a))
    assert dg == 6 * a.embed_dim
    if arch == "proj":
        c = build_discriminator(a).aux.in_features            # D's feature width at its last resolution
        assert dd == 6 * c + 6 * (c + 1)                       # projection embedding + aux linear (weights, bias)
    else:
        assert dd == 6 * a.embed_dim


def test_model_config_validation():
    with pytest.raises(ValueError, match="power of two >= 16, got 48"):
        ModelConfig(size=48)
    with pytest.raises(ValueError, match="power of two >= 16, got 8"):
        ModelConfig(size=8)
    with pytest.raises(ValueError, match="arch must be 'proj' or 'dcgan', got 'stylegan'"):
        ModelConfig(arch="stylegan")
    with pytest.raises(ValueError, match="must be >= 1, got 0"):
        ModelConfig(n_classes=0)
    with pytest.raises(ValueError, match="weight_cond needs arch 'proj'"):
        ModelConfig(arch="dcgan", weight_cond=True)
    assert ModelConfig(**ModelConfig(size=32).to_dict()) == ModelConfig(size=32)


# ---- jamo condition and stroke weight -----------------------------------------------------

def jamo_cfg(**kw):
    from rekogan.hangul import SCOUNT
    return ModelConfig(arch="proj", n_classes=SCOUNT, size=16, z_dim=8, embed_dim=8, ngf=4, ndf=4, cond="jamo", **kw)


def test_jamo_generator_writes_any_syllable_and_shares_components():
    from rekogan.hangul import SCOUNT
    G = build_generator(jamo_cfg()).eval()
    y = torch.tensor([0, 1, SCOUNT - 1, 5000])                # 가, 각, 힣, and a syllable outside KS X 1001
    out = G(torch.randn(4, 8), y)
    assert out.shape == (4, 1, 16, 16) and torch.isfinite(out).all()
    # the embedding is the sum of component embeddings: 가 + 각 - 가 differs from 각 - 가 only by finals
    e = G.embed(torch.tensor([0, 1, 28]))                     # 가 (ㄱㅏ-), 각 (ㄱㅏㄱ), 개 (ㄱㅐ-)
    torch.testing.assert_close(e[1] - e[0], G.embed.final(torch.tensor(1)) - G.embed.final(torch.tensor(0)))
    torch.testing.assert_close(e[2] - e[0], G.embed.medial(torch.tensor(1)) - G.embed.medial(torch.tensor(0)))


def test_jamo_discriminator_has_three_component_heads():
    from rekogan.models import aux_classes, aux_correct, aux_loss
    cfg = jamo_cfg()
    D = build_discriminator(cfg)
    assert aux_classes(cfg) == 19 + 21 + 28
    y = torch.tensor([0, 1, 11171, 5000])
    out, aux = D(torch.randn(4, 1, 16, 16), y)
    assert out.shape == (4,) and aux.shape == (4, 68)
    assert torch.isfinite(aux_loss(aux, y, cfg))
    # logits that put all mass on the right components read as correct, a wrong final as wrong
    from rekogan.hangul import jamo_of
    li, vi, ti = jamo_of(y)
    perfect = torch.full((4, 68), -10.0)
    perfect[torch.arange(4), li] = 10; perfect[torch.arange(4), 19 + vi] = 10; perfect[torch.arange(4), 40 + ti] = 10
    assert aux_correct(perfect, y, cfg).all()
    wrong = perfect.clone(); wrong[0, 40 + ti[0]] = -10; wrong[0, 40 + (ti[0] + 1) % 28] = 10
    assert aux_correct(wrong, y, cfg).tolist() == [False, True, True, True]


def test_weight_condition_is_an_input_that_changes_the_output():
    G = build_generator(jamo_cfg(weight_cond=True)).eval()
    for norm in G.norms:                                      # CBN starts at identity: give it some gain
        torch.nn.init.normal_(norm.gain.weight, 0, 0.5)
    z, y = torch.randn(2, 8), torch.tensor([0, 0])
    a, b = G(z, y, torch.tensor([-2.0, -2.0])), G(z, y, torch.tensor([2.0, 2.0]))
    assert (a - b).abs().max() > 1e-3
    import pytest
    with pytest.raises(AssertionError, match="stroke-weight"):
        G(z, y)


def test_jamo_condition_needs_all_syllables():
    import pytest
    with pytest.raises(ValueError, match="11172"):
        ModelConfig(arch="proj", n_classes=520, cond="jamo")


def test_config_checks_survive_python_O():
    # input checks are ValueErrors, not asserts: `python -O` (which drops asserts) still refuses bad input
    from conftest import run_py
    code = ("from rekogan.config import resolve\nfrom rekogan.models import ModelConfig\n"
            "from rekogan.classifier import ClassifierConfig\n"
            "for make in (lambda: resolve('tiny', batch=1), lambda: resolve('nope'), lambda: resolve('tiny', ema=1.5),\n"
            "             lambda: ModelConfig(size=48), lambda: ClassifierConfig(n_classes=0)):\n"
            "    try:\n        make()\n    except ValueError as e:\n        print('refused:', e)\n"
            "    else:\n        print('accepted')\n")
    proc = run_py(["-O", "-c", code], check=True)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("refused: ") for line in lines), proc.stdout
    assert "batch >= 2" in lines[0] and "unknown preset 'nope'" in lines[1] and "ema decay" in lines[2]
