"""rekogan.original: importing the original ReKOGAN's model_save/G_epoch_N.pth files.

The original Generator is rebuilt here from issue 14's description, independently of
rekogan.models and of rekogan.original's own functional check, given random weights and BatchNorm
running statistics gathered from real forward passes, and saved with torch.save(state_dict) as
the original's training loop did. Its output is the reference every import is held to.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from rekogan.checkpoints import load_generator, read_metadata
from rekogan.hangul import seri95
from rekogan.models import ModelConfig, build_generator
from rekogan.original import OriginalImportError, convert, import_original, infer_shape, load_pth
from rekogan.sampling import generate, sample, seed_to_z, to_uint8
from rekogan.studio import Studio

from conftest import run_py


class OriginalGenerator(nn.Module):
    """The original ReKOGAN Generator, as recovered from its compiled training.py (issue 14)."""

    def __init__(self, nz=100, ngf=64, nc=1, num_classes=520, embed_size=50):
        super().__init__()
        self.label_emb = nn.Linear(num_classes, embed_size)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz + embed_size, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, noise, labels):              # labels: one-hot (B, num_classes)
        emb = self.label_emb(labels)
        x = torch.cat([noise, emb], 1).unsqueeze(2).unsqueeze(3)
        return self.net(x)


def make_original(*, nz=100, ngf=64, embed_size=50, seed=0) -> OriginalGenerator:
    """A randomly weighted original in eval mode, with BN running statistics far from (0, 1) and
    an output that spans the grey range (so a 1-level comparison means something)."""
    torch.manual_seed(seed)
    G = OriginalGenerator(nz=nz, ngf=ngf, embed_size=embed_size)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.3)
                nn.init.normal_(m.bias, 0.1, 0.3)
                m.momentum = None                 # running stats = the average over the passes below
        G.net[12].weight.mul_(15)                 # widen the output from ~0 to the whole [-1, 1] range
        G.train()
        for _ in range(3):
            labels = torch.randint(0, 520, (64,))
            G(torch.randn(64, nz) * 1.5 + 0.3, F.one_hot(labels, 520).float())
    return G.eval()


def reference(G: OriginalGenerator, *, seeds, labels, nz) -> torch.Tensor:
    """The original's output (fp32) for the app's z of each seed and the given class indices."""
    z = torch.stack([seed_to_z(s, nz) for s in seeds])
    with torch.no_grad():
        return G(z, F.one_hot(torch.as_tensor(labels), 520).float())


def save_pth(G: nn.Module, path, *, legacy=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(G.state_dict(), path, _use_new_zipfile_serialization=not legacy)
    return path


SEEDS = list(range(16))
LABELS = [0, 1, 37, 100, 199, 250, 300, 333, 401, 450, 480, 500, 510, 517, 518, 519]


@pytest.fixture(scope="module", params=[10, 50], ids=["embed10", "embed50"])
def original(request, tmp_path_factory):
    """(original module, its G_epoch_8.pth) at the original's full size (nz 100, ngf 64)."""
    G = make_original(embed_size=request.param, seed=request.param)
    path = save_pth(G, tmp_path_factory.mktemp(f"orig{request.param}") / "model_save" / "G_epoch_8.pth")
    return G, path


@pytest.fixture(scope="module")
def small_original(tmp_path_factory):
    """A small original (nz 100, ngf 8) with G_epoch_1 and G_epoch_8 in model_save/: for the CLI tests."""
    root = tmp_path_factory.mktemp("small") / "ReKOGAN"
    mods = {e: make_original(ngf=8, embed_size=10, seed=100 + e) for e in (1, 8)}
    for e, G in mods.items():
        save_pth(G, root / "model_save" / f"G_epoch_{e}.pth")
    torch.save({"net.0.weight": torch.randn(64, 1, 4, 4)}, root / "model_save" / "D_epoch_1.pth")   # not a G: ignored
    return mods, root


def test_bn_running_stats_of_the_reference_are_non_trivial(original):
    G, _ = original
    bn = G.net[4]
    assert bn.running_mean.abs().max() > 0.05, "running_mean left at its initial zeros: the test would not see it dropped"
    assert (bn.running_var - 1).abs().max() > 0.05, "running_var left at its initial ones"
    out = reference(G, seeds=SEEDS, labels=LABELS, nz=100)
    assert out.std() > 0.3 and (out.abs() < 0.95).float().mean() > 0.3, "the reference output should span the grey range"


def test_shapes_are_inferred_and_fp32_conversion_is_exact(original):
    G, path = original
    sd = load_pth(path)
    shape = infer_shape(sd, path=path)
    e = G.label_emb.out_features
    assert (shape.nz, shape.ngf, shape.embed_size, shape.num_classes) == (100, 64, e, 520)
    H = convert(sd, shape=shape)
    # the folded embedding is the Linear on every one-hot label
    with torch.no_grad():
        rows = G.label_emb(torch.eye(520))
    assert torch.allclose(H.embed.weight, rows, atol=1e-6, rtol=0), "embed.weight should be label_emb(one_hot(i))"
    for i in (1, 4, 7, 10):
        assert torch.equal(H.net[i].running_mean, G.net[i].running_mean), f"net.{i} running_mean not carried"
        assert torch.equal(H.net[i].running_var, G.net[i].running_var), f"net.{i} running_var not carried"
    z = torch.stack([seed_to_z(s, 100) for s in SEEDS])
    got = generate(H, torch.tensor(LABELS), z)
    diff = (got - reference(G, seeds=SEEDS, labels=LABELS, nz=100)).abs().max().item()
    assert diff <= 1e-5, f"fp32 conversion differs from the original by {diff:.3g}"


def test_imported_fp16_file_is_within_one_grey_level(original, tmp_path):
    G, path = original
    res = import_original(path, out=tmp_path / "original")
    assert [r["epoch"] for r in res.epochs] == [8]
    ckpt = tmp_path / "original" / "epoch_008.safetensors"
    H, meta = load_generator(ckpt)
    assert meta["model"]["arch"] == "dcgan" and meta["model"]["z_dim"] == 100
    assert meta["model"]["embed_dim"] == G.label_emb.out_features and meta["model"]["ngf"] == 64
    assert meta["classes"] == seri95().to_list(), "the class list should be SERI95 in EUC-KR order"
    assert meta["epoch"] == 8
    cfg = meta["config"]
    assert cfg["preset"] == "original-import" and cfg["source_file"] == "G_epoch_8.pth"
    assert cfg["imported_from"] == "the original ReKOGAN G_epoch_N.pth"
    assert H.net[4].running_var.sub(G.net[4].running_var).abs().max() < 1e-2 * G.net[4].running_var.abs().max(), \
        "BN running statistics should be stored (to fp16 precision)"
    # sample() draws z from the seed exactly as for any run of z_dim 100: same pixels as the original at that z
    for seed in (0, 7, 123456):
        got = sample(H, LABELS, seed=seed).int()
        want = to_uint8(reference(G, seeds=[seed] * len(LABELS), labels=LABELS, nz=100)).int()
        levels = (got - want).abs().max().item()
        assert levels <= 1, f"seed {seed}: the fp16 checkpoint is {levels} grey levels from the original"


def test_fp32_storage_matches_to_1e5(original, tmp_path):
    G, path = original
    import_original(path, out=tmp_path / "o32", fp16=False)
    H, _ = load_generator(tmp_path / "o32" / "epoch_008.safetensors")
    z = torch.stack([seed_to_z(s, 100) for s in SEEDS])
    diff = (generate(H, torch.tensor(LABELS), z) - reference(G, seeds=SEEDS, labels=LABELS, nz=100)).abs().max().item()
    assert diff <= 1e-5, f"fp32 checkpoint differs from the original by {diff:.3g}"


def test_same_seed_gives_the_same_z_as_a_trained_run_of_that_z_size(small_original, tmp_path):
    mods, root = small_original
    import_original(root, out=tmp_path / "imp")
    H, _ = load_generator(tmp_path / "imp" / "epoch_001.safetensors")
    assert H.cfg.z_dim == 100, "the imported run's z size is the original's nz"
    # sample() at seed 5 must feed exactly seed_to_z(5, 100): the z any run of z_dim 100 gets for
    # seed 5. Pixels identical to feeding that z by hand pin it; a different z would not match.
    z = seed_to_z(5, 100)
    with torch.no_grad():
        by_hand = to_uint8(H(z[None], torch.tensor([42])))
        other_z = to_uint8(H(seed_to_z(6, 100)[None], torch.tensor([42])))
    assert torch.equal(sample(H, [42], seed=5), by_hand)
    assert not torch.equal(by_hand, other_z), "two writers should differ, or this test could not fail"
    # and that z gives the original module's pixels
    want = to_uint8(reference(mods[1], seeds=[5], labels=[42], nz=100))
    assert (by_hand.int() - want.int()).abs().max() <= 1


# ---- the command line, the run folder ---------------------------------------------------------

def one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_cli_imports_a_model_save_folder_and_refuses_to_overwrite(small_original, tmp_path):
    mods, root = small_original
    out = tmp_path / "checkpoints" / "original"
    proc = run_py(["-m", "rekogan.original", root, "--out", out], check=True)
    assert "2 epoch(s) 1..8" in proc.stdout, proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["data.json", "epoch_001.safetensors", "epoch_008.safetensors",
                                                     "provenance.json"]
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["kind"] == "original-import" and [e["epoch"] for e in prov["epochs"]] == [1, 8]
    assert "SERI95" in prov["trained_on"] and "evaluate" in prov["records"]
    assert all(e["stored_max_grey_levels"] <= 1 for e in prov["epochs"])
    assert "SERI95" in json.loads((out / "data.json").read_text(encoding="utf-8"))["note"]
    assert not list(out.parent.glob(".original.*")), "the staging folder should be gone"
    before = (out / "epoch_008.safetensors").read_bytes()

    # again: refused, the run untouched; --force replaces a previous import
    one_line_error(run_py(["-m", "rekogan.original", root, "--out", out]), str(out), "already holds a run", "--force")
    assert (out / "epoch_008.safetensors").read_bytes() == before
    run_py(["-m", "rekogan.original", root / "model_save" / "G_epoch_1.pth", "--out", out, "--force"], check=True)
    assert sorted(p.name for p in out.glob("epoch_*")) == ["epoch_001.safetensors"]

    # --force never replaces a run this command did not write
    trained = tmp_path / "checkpoints" / "fixed"
    trained.mkdir()
    shutil.copy2(out / "epoch_001.safetensors", trained / "epoch_050.safetensors")
    one_line_error(run_py(["-m", "rekogan.original", root, "--out", trained, "--force"]), str(trained),
                   "not a previous import-original run")
    assert [p.name for p in trained.iterdir()] == ["epoch_050.safetensors"]


def test_add_parser_registers_import_original_on_a_command_registry(small_original, tmp_path, capsys):
    import argparse

    from rekogan.original import add_parser
    parser = argparse.ArgumentParser(prog="python -m rekogan")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["import-original", str(small_original[1]), "--out", str(tmp_path / "reg")])
    assert args.command == "import-original"
    assert args.func(args) == 0, capsys.readouterr().err
    assert (tmp_path / "reg" / "epoch_008.safetensors").is_file()
    assert args.func(args) == 2, "a second import into the same folder should be refused"
    assert "already holds a run" in capsys.readouterr().err


def test_sheet_command_reads_an_imported_epoch(small_original, tmp_path):
    mods, root = small_original
    import_original(root, out=tmp_path / "imp")
    ckpt = tmp_path / "imp" / "epoch_008.safetensors"
    run_py(["-m", "rekogan", "sheet", "--checkpoint", ckpt, "--seed", "7", "--out", tmp_path / "sheet",
            "--classes", "가각간"], check=True)
    names = sorted(p.name for p in (tmp_path / "sheet").glob("*.png"))
    assert names == ["AC00.png", "AC01.png", "AC04.png"]
    classes = seri95()
    want = to_uint8(reference(mods[8], seeds=[7] * 3, labels=[classes.index(c) for c in "가각간"], nz=100))
    for name, w in zip(names, want):
        with Image.open(tmp_path / "sheet" / name) as im:
            got = np.asarray(im).astype(int)
        assert got.shape == (64, 64)
        assert np.abs(got - w.numpy().astype(int)).max() <= 1, f"{name} differs from the original by > 1 grey level"


def test_studio_lists_the_imported_run_and_writes_with_it(small_original, tmp_path):
    mods, root = small_original
    import_original(root, out=tmp_path / "checkpoints" / "original")
    studio = Studio(root=tmp_path / "checkpoints", tmp_dir=tmp_path / "tmp")
    assert "original" in studio.run_names()
    assert [epoch for _, epoch in studio.epoch_choices(run="original")] == [1, 8], "the epoch selector's choices"
    page = studio.write(text="가나다", seed=3, truncation=1.0, run="original", epoch=8)
    assert page.unknown == () and page.image.dtype == np.uint8
    assert page.image.shape[0] >= 64 and page.image.std() > 5, "the written line should not be blank paper"


# ---- refusals --------------------------------------------------------------------------------

from payloads import Payload  # noqa: E402  (tests/ is on sys.path under pytest)


@pytest.mark.parametrize("legacy", [False, True], ids=["torch-zip", "torch-legacy"])
def test_a_pickled_payload_is_refused_and_never_runs(tmp_path, legacy):
    probe, probe_sentinel = tmp_path / "probe.pth", tmp_path / "PROBE_RAN"
    torch.save({"x": Payload(probe_sentinel)}, probe, _use_new_zipfile_serialization=not legacy)
    torch.load(probe, weights_only=False)
    assert probe_sentinel.exists(), "the payload should fire when unpickled without weights_only"

    sentinel = tmp_path / "PWNED"
    sd = make_original(ngf=4, embed_size=10).state_dict()
    evil = tmp_path / "model_save" / "G_epoch_3.pth"
    evil.parent.mkdir()
    torch.save({**sd, "x": Payload(sentinel)}, evil, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(OriginalImportError, match="refused") as e:
        import_original(tmp_path, out=tmp_path / "out")
    assert str(evil) in str(e.value) and "could run code" in str(e.value)
    assert not sentinel.exists(), "importing a pickle payload executed it"
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))

    proc = run_py(["-m", "rekogan.original", evil, "--out", tmp_path / "out"])
    one_line_error(proc, str(evil), "refused")
    assert not sentinel.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["torch-zip", "torch-legacy"])
def test_a_truncated_file_names_the_file_and_leaves_no_half_run(tmp_path, legacy):
    G = make_original(ngf=4, embed_size=10)
    good = save_pth(G, tmp_path / "model_save" / "G_epoch_1.pth", legacy=legacy)
    cut = tmp_path / "model_save" / "G_epoch_2.pth"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(OriginalImportError, match="truncated") as e:
        import_original(tmp_path, out=tmp_path / "run")
    assert str(cut) in str(e.value)
    # epoch 1 was fine, but a failed import leaves nothing under --out (and no staging folder)
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run.*"))
    one_line_error(run_py(["-m", "rekogan.original", cut, "--out", tmp_path / "run"]), str(cut), "truncated")


def test_another_architecture_names_the_file_and_what_is_wrong(tmp_path):
    # the project's own 'proj' generator saved the original's way
    proj = build_generator(ModelConfig(arch="proj", n_classes=520, size=64, z_dim=16, embed_dim=8, ngf=4))
    path = save_pth(proj, tmp_path / "G_epoch_5.pth")
    with pytest.raises(OriginalImportError, match="is not the original ReKOGAN generator") as e:
        import_original(path, out=tmp_path / "a")
    assert str(path) in str(e.value)
    one_line_error(run_py(["-m", "rekogan.original", path, "--out", tmp_path / "a"]), str(path),
                   "not the original ReKOGAN generator")

    # the original with one layer of another width: the wrong key and both shapes are named
    sd = make_original(ngf=8, embed_size=10).state_dict()
    sd["net.6.weight"] = torch.randn(32, 20, 4, 4)
    bad = tmp_path / "G_epoch_6.pth"
    torch.save(sd, bad)
    with pytest.raises(OriginalImportError, match=r"wrong shape net\.6\.weight \(32, 20, 4, 4\) \(expected \(32, 16, 4, 4\)\)") as e:
        import_original(bad, out=tmp_path / "b")
    assert str(bad) in str(e.value)

    # a 32 px DCGAN-like generator (one up-sampling layer fewer): the missing keys are named
    sd = make_original(ngf=8, embed_size=10).state_dict()
    for k in [k for k in sd if k.startswith(("net.10.", "net.12."))]:
        del sd[k]
    short = tmp_path / "G_epoch_7.pth"
    torch.save(sd, short)
    with pytest.raises(OriginalImportError, match=r"missing net\.10\.weight") as e:
        import_original(short, out=tmp_path / "c")
    assert str(short) in str(e.value) and not (tmp_path / "c").exists()


def test_a_non_state_dict_and_a_nameless_file(tmp_path):
    t = tmp_path / "G_epoch_1.pth"
    torch.save(torch.zeros(3), t)
    with pytest.raises(OriginalImportError, match="holds a Tensor, not a state dict"):
        import_original(t, out=tmp_path / "x")
    other = tmp_path / "generator.pth"
    save_pth(make_original(ngf=4, embed_size=10), other)
    with pytest.raises(OriginalImportError, match="pass --epoch N"):
        import_original(other, out=tmp_path / "x")
    res = import_original(other, out=tmp_path / "x", epoch=12)
    assert read_metadata(tmp_path / "x" / "epoch_012.safetensors")["epoch"] == 12 and res.epochs[0]["epoch"] == 12
