"""The CUDA path: train.py on a GPU (bf16 autocast where the GPU has it, channels_last), checkpoints
that load on a CPU, and GPU sampling that agrees with CPU sampling. Skipped where PyTorch sees no
CUDA device (CI); run on a GPU machine with `python -m pytest -q tests/test_cuda.py` (needs no
fonts: the data is a synthetic packed set)."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import run_py
from packed_util import write_synthetic_pack

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuda")
    data = write_synthetic_pack(root / "synthetic.npz")
    out = root / "run"
    run_py(["train.py", "--preset", "tiny", "--device", "cuda", "--data", f"packed:{data}", "--out", out], check=True)
    return out


def test_train_on_cuda_writes_a_run_in_the_runtimes_precision(cuda_run):
    from rekogan.runtime import cuda_has_bf16
    rows = [json.loads(line) for line in (cuda_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    # the runtime's rule (rekogan/runtime.py): bf16 autocast where the GPU has bf16 tensor cores (Ampere
    # and later), fp32 on older GPUs (V100, T4), which only emulate it
    want = "bf16" if cuda_has_bf16() else "fp32"
    assert all(r["device"].startswith("cuda") and r["precision"] == want for r in rows), (want, rows)
    assert all(torch.isfinite(torch.tensor([r["loss_d"], r["loss_g"]])).all() for r in rows)
    for name in ("epoch_002.safetensors", "state_002.safetensors", "grid_002.png", "loss_curve.png"):
        assert (cuda_run / name).is_file(), name


def test_cuda_checkpoint_loads_on_cpu_and_samples_alike_on_both(cuda_run):
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import generate, seed_to_z, to_uint8
    G, meta = load_generator(cuda_run / "epoch_002.safetensors")
    assert next(G.parameters()).device.type == "cpu" and meta["epoch"] == 2
    labels = torch.arange(4).repeat(4)
    z = torch.stack([seed_to_z(s, G.cfg.z_dim) for s in range(4)]).repeat_interleave(4, 0)
    cpu = generate(G, labels, z)
    gpu = generate(G.cuda(), labels, z)                       # fp32 on the GPU (TF32 may round)
    assert (cpu - gpu).abs().max() < 0.05, float((cpu - gpu).abs().max())
    close = ((to_uint8(cpu).int() - to_uint8(gpu).int()).abs() <= 3).float().mean()
    assert close > 0.99, float(close)


def test_resume_on_cuda_continues_the_run(cuda_run, tmp_path):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(cuda_run, run)
    run_py(["train.py", "--resume", "--out", run, "--epochs", "3"], check=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["step"] == 3 * rows[0]["step"]
