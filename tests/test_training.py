"""train.py end to end (tiny preset, subprocesses), dry runs, errors, kill + resume, determinism."""
from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from rekogan.checkpoints import list_epochs, load_generator, read_metadata
from rekogan.config import resolve
from rekogan.training import read_jsonl

from conftest import TINY_ARGS, python_env, run_py


def metrics(run) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(ln) for ln in lines]


def assert_clean_error(proc, *needles):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    for n in needles:
        assert n in out, out


@contextlib.contextmanager
def isolated_torch_state():
    """In-process training seeds the global RNG and sets the thread count: undo both afterwards."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng():
        yield
    torch.set_num_threads(threads)


def train_in_process(out, *, resume=False, **overrides):
    from rekogan.training import train
    cfg = resolve("tiny", **{"threads": 1, "amp": False, **overrides})   # as conftest.TINY_ARGS
    with isolated_torch_state():
        return train(cfg, out, resume=resume, log=lambda *a, **k: None)


# ---- a complete run ----------------------------------------------------------------------------

def test_tiny_run_end_to_end(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.json", "data.json", "epoch_001.safetensors", "epoch_002.safetensors", "grid_001.png",
            "grid_002.png", "metrics.jsonl", "loss_curve.png", "state_002.safetensors"} <= names, names
    assert not [n for n in names if "tmp" in n], f"temporary files left behind: {names}"
    assert "state_001.safetensors" not in names                       # keep_states=1: older states pruned

    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg == resolve("tiny", threads=1, amp=False).to_dict()

    assert [e for e, _ in list_epochs(tiny_run)] == [1, 2]
    for epoch in (1, 2):
        G, meta = load_generator(tiny_run / f"epoch_{epoch:03d}.safetensors")
        assert meta["epoch"] == epoch and meta["step"] == 4 * epoch and meta["images_seen"] == 64 * epoch
        assert meta["model_config"].size == 16 and len(meta["class_list"]) == 4
        assert meta["config"] == cfg and meta["metrics"]["epoch"] == epoch
        with torch.no_grad():
            assert G(torch.zeros(2, 16), torch.tensor([0, 3])).shape == (2, 1, 16, 16)

    for epoch in (1, 2):
        with Image.open(tiny_run / f"grid_{epoch:03d}.png") as im:
            assert im.mode == "L" and im.size == (4 * 18 + 2, 4 * 18 + 2)   # 4 classes x 4 seeds, 16 px + 2 pad

    rows = metrics(tiny_run)
    assert len(rows) == 2 and [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert {"loss_d", "loss_g", "img_per_s", "images_seen", "step", "aux_acc_fake"} <= r.keys()
        assert all(v == v for v in r.values() if isinstance(v, float)), "NaN in metrics"
    with Image.open(tiny_run / "loss_curve.png") as im:
        assert im.format == "PNG" and im.size[0] > 100

    data = json.loads((tiny_run / "data.json").read_text())
    assert data["train_images"] > 0 and data["heldout_images"] > 0


def test_dry_run_prints_the_resolved_config_with_overrides(tmp_path):
    out = tmp_path / "never_created"
    proc = run_py(["train.py", "--preset", "tiny", "--dry-run", "--batch", "8", "--lr-g", "0.001",
                   "--embed-dim", "12", "--amp", "false", "--out", out], check=True)
    cfg = json.loads(proc.stdout)
    want = resolve("tiny", batch=8, lr_g=0.001, embed_dim=12, amp=False).to_dict()
    assert cfg == want
    assert cfg["batch"] == 8 and cfg["lr_g"] == 0.001 and cfg["size"] == 16 and cfg["preset"] == "tiny"
    assert not out.exists(), "--dry-run must not create the run directory"


def test_unknown_preset_is_a_clean_error():
    proc = run_py(["train.py", "--preset", "nope", "--dry-run"])
    assert_clean_error(proc, "invalid choice", "nope", "tiny")
    assert proc.returncode == 2


@pytest.mark.parametrize("argv, needle", [
    (["--preset", "tiny", "--batch", "1"], "batch"),
    (["--preset", "tiny", "--ema", "1.0"], "ema"),
    (["--preset", "tiny", "--no-such-field", "3"], "--no-such-field"),
    (["--preset", "tiny", "--batch", "many"], "--batch"),
])
def test_bad_options_are_clean_errors(argv, needle, capsys):
    import train
    with pytest.raises(SystemExit) as e:
        train.main([*argv, "--dry-run"])
    assert e.value.code not in (0, None)
    err = capsys.readouterr().err + (e.value.code if isinstance(e.value.code, str) else "")
    assert needle in err


def test_rerun_into_an_existing_run_refuses(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    proc = run_py(["train.py", *TINY_ARGS, "--out", run])
    assert_clean_error(proc, "already holds a run", "--resume")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before, "the refused run changed the directory"


# ---- kill and resume -------------------------------------------------------------------------------

def test_sigkill_mid_epoch_then_resume(tmp_path):
    run = tmp_path / "run"
    steps = 1024 // 16                                                # steps an epoch: 1024 images, batch 16
    args = ["train.py", *TINY_ARGS, "--out", str(run), "--epochs", "3", "--epoch-images", "1024"]
    # the trainer SIGKILLs itself halfway through epoch 2 (rekogan/training.py: a deterministic point, not a timer)
    proc = run_py(args, env=python_env(REKOGAN_TEST_KILL_AT_STEP=str(steps + steps // 2)))
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert [e for e, _ in list_epochs(run)] == [1], "the kill was meant to land inside epoch 2"
    assert sorted(p.name for p in run.glob("state_*")) == ["state_001.safetensors"]
    assert [r["epoch"] for r in metrics(run)] == [1]
    config_before = (run / "config.json").read_bytes()

    # resume: --epochs may change; the recipe (--batch here) is the saved one and must not
    proc = run_py(["train.py", *TINY_ARGS, "--out", run, "--epochs", "3", "--batch", "8", "--resume"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "resumed" in proc.stdout + proc.stderr
    assert [e for e, _ in list_epochs(run)] == [1, 2, 3]
    assert (run / "config.json").read_bytes() == config_before, "--resume must not rewrite config.json"

    rows = metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3], "exactly one metrics line per epoch"
    assert [r["step"] for r in rows] == [steps, 2 * steps, 3 * steps]   # the saved batch (16), not --batch 8
    assert [r["images_seen"] for r in rows] == [1024, 2048, 3072]
    meta = read_metadata(run / "epoch_003.safetensors")
    assert meta["epoch"] == 3 and meta["step"] == 3 * steps and meta["config"]["batch"] == 16
    load_generator(run / "epoch_003.safetensors")
    assert sorted(p.name for p in run.glob("state_*")) == ["state_003.safetensors"]
    assert not [p.name for p in run.iterdir() if "tmp" in p.name]


def test_resume_without_a_state_does_not_duplicate_metrics(tiny_run, tmp_path):
    """A kill after an epoch's metrics line but before its state file: the epoch is redone once."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for p in run.glob("state_*.safetensors"):
        p.unlink()
    train_in_process(run, resume=True)
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2]


def test_resume_of_a_finished_run_does_nothing(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    train_in_process(run, resume=True)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_resume_needs_a_run_directory(tmp_path):
    with pytest.raises(SystemExit, match="not found"):
        train_in_process(tmp_path / "empty", resume=True)


# ---- determinism -------------------------------------------------------------------------------------

def test_same_seed_gives_identical_weights(tiny_run, tmp_path):
    """A second fresh run with the same config and seed reproduces epoch 1 bit for bit."""
    run = tmp_path / "again"
    train_in_process(run, epochs=1)
    a = load_file(str(tiny_run / "epoch_001.safetensors"))
    b = load_file(str(run / "epoch_001.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and a different seed does not
    other = tmp_path / "other_seed"
    train_in_process(other, epochs=1, seed=1)
    c = load_file(str(other / "epoch_001.safetensors"))
    assert any(not torch.equal(a[k], c[k]) for k in a)


# ---- the G-side loss terms -------------------------------------------------------------------

def _one_step(**overrides):
    """One train_step of the tiny proj models from fixed weights and RNG; returns (stats, y_fake)."""
    from rekogan.models import build_discriminator, build_generator, init_weights
    from rekogan.training import train_step
    cfg = resolve("tiny", **overrides)
    mcfg = cfg.model_config(4)
    with isolated_torch_state():
        torch.manual_seed(0)
        G, D = build_generator(mcfg), build_discriminator(mcfg)
        G.apply(init_weights); D.apply(init_weights)
        opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
        seen = []
        G.register_forward_hook(lambda m, args, out: seen.append(args[1].clone()))
        real = torch.rand(cfg.batch, 1, cfg.size, cfg.size) * 2 - 1
        stats = train_step(G, D, opt_g, opt_d, real, torch.arange(cfg.batch) % 4, cfg=cfg, n_classes=4,
                           gen=torch.Generator().manual_seed(1), autocast=lambda: torch.autocast("cpu", enabled=False))
    return stats, seen[0]


def test_mode_seeking_pairs_share_a_class_and_add_their_term():
    plain, y_plain = _one_step(ms_weight=0.0)
    ms, y_ms = _one_step(ms_weight=2.0)
    half = len(y_ms) // 2
    assert torch.equal(y_ms[:half], y_ms[-half:]), "mode-seeking pairs must ask for the same class"
    assert not torch.equal(y_plain[:half], y_plain[-half:])
    assert "ms_ratio" in ms and "ms_ratio" not in plain
    assert float(ms["ms_ratio"]) > 0
    # the G loss is the plain one (same D, same fakes but for the paired labels) plus w / ratio: check the term
    base, _ = _one_step(ms_weight=1e-12)  # pairs as in `ms`, term negligible
    expected = float(base["loss_g"]) + 2.0 / (float(ms["ms_ratio"]) + 1e-5)
    assert abs(float(ms["loss_g"]) - expected) < 1e-3 * expected


def test_g_side_aux_weight_is_separate_from_d_side():
    both, _ = _one_step(aux_weight=1.0, aux_weight_g=1.0)
    d_only, _ = _one_step(aux_weight=1.0, aux_weight_g=0.0)
    assert float(both["loss_d"]) == pytest.approx(float(d_only["loss_d"]))      # D's loss unchanged
    assert float(both["loss_g"]) > float(d_only["loss_g"]) + 0.5                 # + CE over 4 classes (~ln 4)


def test_ema_update_moves_each_weight_towards_the_model_and_copies_buffers():
    import copy
    from rekogan.models import ModelConfig, build_generator
    from rekogan.training import ema_update
    G = build_generator(ModelConfig(size=16, ngf=8, n_classes=4, z_dim=8, embed_dim=8))
    E = copy.deepcopy(G)
    for p in G.parameters():
        p.data.add_(1.0)
    G.norms[0].bn.running_mean.fill_(3.0)
    want = [pe + 0.1 * (p - pe) for pe, p in zip(E.parameters(), G.parameters())]
    ema_update(E, G, 0.9)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(E.parameters(), want))
    assert float(E.norms[0].bn.running_mean[0]) == 3.0
    ema_update(E, G, 0.0)                                   # decay 0: the EMA is the model
    assert all(torch.equal(a, b) for a, b in zip(E.parameters(), G.parameters()))


# ---- the hangul preset: jamo condition, syllable split, stroke weight ----------------------

def _syllable_folder(root, syllables, per=3, size=24):
    """<root>/<syllable>/*.png: dark strokes on white, a different pattern per syllable."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for k, ch in enumerate(syllables):
        d = root / ch
        d.mkdir(parents=True)
        for i in range(per):
            a = np.full((size, size), 255, np.uint8)
            a[4 + k % 5: 10 + k % 5, 3:21] = 0
            a[12:20, 6 + i: 9 + i + k % 4] = 0
            a[rng.integers(0, size, 5), rng.integers(0, size, 5)] = 0
            Image.fromarray(a).save(d / f"{i}.png")


def test_hangul_run_trains_on_its_split_and_writes_any_syllable(tmp_path):
    import json
    import torch
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import generate, seed_to_z
    from rekogan.split import make_split
    split = make_split("ksx1001")
    held = split.heldout_ksx1001.syllable(0)
    data = tmp_path / "glyphs"
    # six training syllables plus one held-out one that the loader must skip
    _syllable_folder(data, list(split.train.syllables[:6]) + [held], per=10)
    out = tmp_path / "run"
    run_py(["train.py", "--preset", "hangul", "--threads", "1", "--data", f"folder:{data}", "--size", "16",
            "--ngf", "4", "--ndf", "4", "--z-dim", "8", "--embed-dim", "8", "--batch", "8", "--epochs", "1",
            "--epoch-images", "16", "--grid-classes", "4", "--grid-seeds", "2", "--ema-start", "0",
            "--out", out], check=True)
    sj = json.loads((out / "split.json").read_text(encoding="utf-8"))
    assert sj["counts"] == {"train": 2115, "heldout_ksx1001": 235, "heldout_other": 500, "extra": 0}
    # the held-out syllable's 10 images never reach training: 6 folders x 10 images are read, its folder is skipped
    info = json.loads((out / "data.json").read_text(encoding="utf-8"))
    assert info["class_dirs"] == 6 and info["image_files"] == 60, info
    assert info["skipped_dirs"] == [held] and info["skipped_other_class"] == 1, info
    assert info["train_images"] + info["heldout_images"] == 60, f"a held-out syllable leaked into the data: {info}"
    G, meta = load_generator(out / "epoch_001.safetensors")
    assert len(meta["class_list"]) == 11172 and G.cfg.cond == "jamo" and G.cfg.weight_cond
    assert "".join(meta["trained"]) == sj["train"] and held not in meta["trained"]
    # any syllable is a valid condition, the held-out one and one outside KS X 1001 included
    y = torch.tensor([meta["class_list"].index(c) for c in (held, "뷁", "가")])
    z = seed_to_z(3, 8)
    a = generate(G, y, z, weight=-2.0)
    b = generate(G, y, z, weight=2.0)
    assert a.shape == (3, 1, 16, 16) and torch.isfinite(a).all()
    assert not torch.equal(a, b), "the stroke weight must reach the generator"   # its direction: test_behaviour.py
    assert torch.equal(generate(G, y, z), generate(G, y, z, weight=0.0))   # weight None is 0
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert "ink_err" in rows[0] and math.isfinite(rows[0]["ink_err"])


def test_ink_stats_normalise_per_syllable():
    import torch
    from rekogan.training import ink_stats
    imgs = torch.zeros(4, 8, 8, dtype=torch.uint8)
    imgs[0, :2] = 255; imgs[1, :4] = 255          # class 0: ink 0.25 and 0.5
    imgs[2, :6] = 255; imgs[3, :6] = 255          # class 1: ink 0.75 twice (SD clamped)
    mu, sd = ink_stats(imgs, torch.tensor([0, 0, 1, 1]), 3)
    torch.testing.assert_close(mu, torch.tensor([0.375, 0.75, 0.0]))
    assert abs(float(sd[0]) - 0.125) < 1e-6 and abs(float(sd[1]) - 0.01) < 1e-7   # clamped: never divide by ~0


# ---- faults: a checkpoint write that fails part-way, a NaN loss ------------------------------------

def _assert_good_epoch_1(run):
    from rekogan.checkpoints import read_tensors
    load_generator(run / "epoch_001.safetensors")
    tensors, meta = read_tensors(run / "state_001.safetensors")
    assert tensors and meta
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name], "a temporary file was left behind"


@pytest.mark.parametrize("target", ["epoch_002", "state_002"])
def test_enospc_mid_checkpoint_write_keeps_the_good_files_and_resume_continues(tmp_path, monkeypatch, target):
    """The disk fills while epoch 2's generator (or resume state) is half written: the write fails,
    the half file is not left under the real name, epoch 1 stays loadable, and --resume finishes."""
    import errno
    from pathlib import Path as P

    from rekogan import checkpoints as ck
    real = ck.save_file
    calls = []

    def full_disk(tensors, filename, metadata=None):
        if target in P(filename).name:
            real(tensors, filename, metadata=metadata)
            data = P(filename).read_bytes()
            P(filename).write_bytes(data[: len(data) // 2])           # part-way, then the disk is full
            calls.append(filename)
            raise OSError(errno.ENOSPC, "No space left on device", str(filename))
        return real(tensors, filename, metadata=metadata)

    run = tmp_path / "run"
    monkeypatch.setattr(ck, "save_file", full_disk)
    with pytest.raises(OSError) as e:
        train_in_process(run)
    assert e.value.errno == errno.ENOSPC and calls, "the simulated failure never happened"
    monkeypatch.setattr(ck, "save_file", real)
    _assert_good_epoch_1(run)
    assert not (run / f"{target}.safetensors").exists(), "the half-written file took the real name"
    if target == "state_002":       # the generator was complete before the state write failed
        load_generator(run / "epoch_002.safetensors")
    train_in_process(run, resume=True)
    assert [e for e, _ in list_epochs(run)] == [1, 2]
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2], "one metrics line per epoch"
    load_generator(run / "epoch_002.safetensors")


def test_nan_loss_stops_the_run_keeping_the_last_good_state(tmp_path, monkeypatch):
    """A loss turns NaN during epoch 2: the run stops with FloatingPointError naming the run folder,
    epoch 1's files are untouched and loadable, nothing of epoch 2 is written, and --resume (the
    fault gone) continues from epoch 1."""
    import rekogan.training as tr
    real, calls = tr.train_step, []
    steps_per_epoch = resolve("tiny").epoch_images // resolve("tiny").batch

    def poisoned(*a, **k):
        stats = real(*a, **k)
        calls.append(1)
        if len(calls) > steps_per_epoch:
            stats = {**stats, "loss_d": stats["loss_d"] * float("nan")}
        return stats

    run = tmp_path / "run"
    monkeypatch.setattr(tr, "train_step", poisoned)
    with pytest.raises(FloatingPointError, match="NaN") as e:
        train_in_process(run)
    assert str(run) in str(e.value)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert "epoch_002.safetensors" not in before and "state_002.safetensors" not in before
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1]
    _assert_good_epoch_1(run)
    monkeypatch.setattr(tr, "train_step", real)
    train_in_process(run, resume=True)
    assert [e for e, _ in list_epochs(run)] == [1, 2]
    assert (run / "epoch_001.safetensors").read_bytes() == before["epoch_001.safetensors"]


def test_train_py_user_errors_are_one_line_and_exit_2(tmp_path):
    """A bad data path, an empty folder, a wrong-format file, a bad option value: one line
    `error: ...` naming the value, exit 2, no traceback; --debug shows the traceback."""
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk.hgu1"
    junk.write_bytes(b"not an hgu1 file at all")
    cases = [(["--data", "hgu1:/nonexistent"], "/nonexistent"),
             (["--data", f"folder:{empty}"], str(empty)),
             (["--data", f"hgu1:{junk}"], "not an HGU1 file"),
             (["--amp", "maybe"], "'maybe'")]
    for extra, needle in cases:
        proc = run_py(["train.py", *TINY_ARGS, "--out", tmp_path / "out", *extra])
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode == 2, (extra, proc.stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (extra, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr
    proc = run_py(["train.py", *TINY_ARGS, "--out", tmp_path / "out", "--data", "hgu1:/nonexistent", "--debug"])
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "FileNotFoundError" in proc.stderr


def test_resume_may_add_training_syllables_but_never_the_held_out_ones(tmp_path):
    """A 'ksx1001' jamo run resumed with --split ksx1001+restN trains on the extra syllables too;
    split.json records from which epoch, config.json the new split; going back is refused."""
    import json
    from rekogan.split import make_split
    wide = make_split("ksx1001+rest300")
    data, out = tmp_path / "glyphs", tmp_path / "run"
    _syllable_folder(data, list(wide.train.syllables[:4]) + list(wide.extra[:2]), per=10, size=16)
    args = ["train.py", "--preset", "hangul", "--threads", "1", "--data", f"folder:{data}", "--size", "16",
            "--ngf", "4", "--ndf", "4", "--z-dim", "8", "--embed-dim", "8", "--batch", "8", "--epoch-images", "16",
            "--grid-classes", "4", "--grid-seeds", "2", "--ema-start", "0", "--keep-states", "1", "--out", out]
    run_py([*args, "--epochs", "1"], check=True)
    assert json.loads((out / "split.json").read_text())["spec"] == "ksx1001"
    proc = run_py([*args, "--epochs", "2", "--resume", "--split", "ksx1001+rest300"], check=True)
    assert "ksx1001 -> ksx1001+rest300 from epoch 2" in proc.stdout + proc.stderr
    split = json.loads((out / "split.json").read_text(encoding="utf-8"))
    assert split["spec"] == "ksx1001+rest300" and len(split["extra"]) == 300
    assert split["phases"] == [{"spec": "ksx1001", "from_epoch": 1}, {"spec": "ksx1001+rest300", "from_epoch": 2}]
    assert split["heldout_other"] == "".join(wide.heldout_other)
    assert json.loads((out / "config.json").read_text())["split"] == "ksx1001+rest300"
    assert (out / "epoch_002.safetensors").is_file()
    proc = run_py([*args, "--epochs", "3", "--resume", "--split", "ksx1001"])      # would drop the extra ones
    assert proc.returncode == 2 and "drops extra syllables" in proc.stderr, proc.stderr
