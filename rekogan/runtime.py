"""Where training runs: the device, whether bf16 is native there, autocast, torchrun's environment."""
from __future__ import annotations

import os

import torch


def pick_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {spec} asked for, but PyTorch sees no CUDA device; use --device cpu")
    return torch.device(spec)


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX): there the fixed step runs about
    1.5x faster in bf16 than in fp32 (docs/RESULTS.md); elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch without these probes
        return False


def cuda_has_bf16() -> bool:
    """True on GPUs with bf16 tensor cores (Ampere and later); older ones (V100, T4) emulate it."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch: no including_emulation argument
        return bool(torch.cuda.is_bf16_supported())
    except (AssertionError, RuntimeError):  # no usable CUDA
        return False


def autocast_for(device: torch.device, amp: bool):
    """(context factory, precision name) for the training step: bf16 autocast where it is native.
    bf16 keeps fp32's exponent range, so no loss scaling is needed; losses are computed in fp32."""
    native = cuda_has_bf16() if device.type == "cuda" else cpu_has_bf16() if device.type == "cpu" else False
    if amp and native:
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bf16"
    return (lambda: torch.autocast(device.type, enabled=False)), "fp32"


def dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) when not distributed."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
