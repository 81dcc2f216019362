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
