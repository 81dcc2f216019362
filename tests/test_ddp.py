"""Distributed data parallel on CPU: torchrun, 2 processes, gloo, the tiny preset."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from rekogan.checkpoints import list_epochs, load_generator
from rekogan.sampling import sample

from conftest import REPO, TIMEOUT, python_env


def torchrun_command() -> list[str] | None:
    """torchrun, run as `python -m torch.distributed.run` (the same entry point as the `torchrun`
    script) so that it uses this interpreter's torch, not whichever torchrun is first on PATH."""
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        return None
    if importlib.util.find_spec("torch.distributed.run") is None:
        return None
    return [sys.executable, "-m", "torch.distributed.run"]


def test_torchrun_two_cpu_processes(tiny_run, tmp_path):
    # depends on tiny_run only so the glyph cache is warm: two ranks never render it at once
    cmd = torchrun_command()
    if cmd is None:
        pytest.skip("torchrun / torch.distributed with gloo is not available")
    run = tmp_path / "ddp"
    proc = subprocess.run(
        [*cmd, "--standalone", "--nproc_per_node=2", "train.py", "--preset", "tiny", "--device", "cpu",
         "--threads", "1", "--out", str(run)],
        cwd=REPO, env=python_env(), capture_output=True, text=True, timeout=2 * TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    assert [e for e, _ in list_epochs(run)] == [1, 2]
    G, meta = load_generator(run / "epoch_002.safetensors")
    assert meta["epoch"] == 2 and meta["model_config"].n_classes == 4
    img = sample(G, [0, 1, 2, 3], seed=0)
    assert img.shape == (4, 16, 16) and img.dtype == torch.uint8

    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2], "only rank 0 writes metrics"
    per_epoch_steps = 64 // (16 * 2)                                   # epoch_images // (batch * world)
    assert all(r["world"] == 2 for r in rows)
    assert [r["step"] for r in rows] == [per_epoch_steps, 2 * per_epoch_steps]
    assert [r["images_seen"] for r in rows] == [64, 128]
    assert (run / "state_002.safetensors").exists() and (run / "config.json").exists()
    assert not [p.name for p in run.iterdir() if "tmp" in p.name]


# ---- what DDP does in a step: ranks see different batches, and end it with the same weights -------

N_IMAGES = 32            # one image per class, so a batch's labels are the indices it drew


def _ddp_rank(rank: int, world: int, init_file: str, out_dir: str):
    """One gloo rank, set up as rekogan.training.train sets up a rank (seeds, DDP wrappers, the
    rank's data stream), then two training steps; saves what it saw and its weights."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from rekogan.config import resolve
    from rekogan.models import build_discriminator, build_generator, init_weights
    from rekogan.runtime import autocast_for
    from rekogan.steps import make_batch, train_step
    from rekogan.training import rank_generator
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = resolve("tiny", classes=str(N_IMAGES), amp=False)
        torch.manual_seed(cfg.seed + rank)                          # as train(): each rank inits differently
        mcfg = cfg.model_config(N_IMAGES)
        G, D = build_generator(mcfg), build_discriminator(mcfg)
        G.apply(init_weights); D.apply(init_weights)
        local = torch.cat([p.detach().flatten() for p in G.parameters()]).clone()
        G_train, D_train = DDP(G), DDP(D)                            # rank 0's weights are broadcast
        start = {n: torch.cat([p.detach().flatten() for p in m.parameters()]).clone() for n, m in (("G", G), ("D", D))}
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        images = torch.randint(0, 256, (N_IMAGES, cfg.size, cfg.size), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0))           # the same data on every rank
        labels = torch.arange(N_IMAGES)
        gen = rank_generator(cfg.seed, rank)
        autocast, _ = autocast_for(torch.device("cpu"), False)
        drawn, reals = [], []
        for _ in range(2):
            real, y_real = make_batch(images, labels, batch=cfg.batch, gen=gen, strength=cfg.augment)
            train_step(G_train, D_train, opt_g, opt_d, real, y_real, cfg=cfg, n_classes=N_IMAGES, gen=gen,
                       autocast=autocast)
            drawn.append(y_real.clone())
            reals.append(real.clone())
        end = {n: torch.cat([p.detach().flatten() for p in m.parameters()]) for n, m in (("G", G), ("D", D))}
        torch.save({"local_init": local, "start": start, "end": end, "drawn": torch.stack(drawn),
                    "reals": torch.stack(reals)}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ranks_draw_different_batches_and_end_each_step_with_the_same_weights(tmp_path):
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with gloo is not available")
    import torch.multiprocessing as mp
    import rekogan.steps, rekogan.training  # noqa: F401 - imported once here; the forked ranks inherit them
    # fork: the ranks start with this process's imports (seconds saved each); each sets one thread first
    mp.start_processes(_ddp_rank, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    # different data: each rank's own stream (with replacement, from the whole set), not one shared batch
    assert not torch.equal(r0["drawn"], r1["drawn"]), "both ranks trained on the same indices"
    assert not torch.equal(r0["reals"], r1["reals"])
    assert set(r0["drawn"].flatten().tolist()) | set(r1["drawn"].flatten().tolist()) > set(r0["drawn"].flatten().tolist())
    # the ranks built different weights; DDP started them equal and kept them equal through the steps
    assert not torch.equal(r0["local_init"], r1["local_init"])
    for net in ("G", "D"):
        assert torch.equal(r0["start"][net], r1["start"][net]), f"{net}: DDP did not broadcast rank 0's weights"
        assert not torch.equal(r0["end"][net], r0["start"][net]), f"{net}: the steps did not train it"
        assert torch.equal(r0["end"][net], r1["end"][net]), (
            f"{net}: the ranks' weights differ after the steps (max |diff| "
            f"{(r0['end'][net] - r1['end'][net]).abs().max():.3g}): gradients were not averaged")
