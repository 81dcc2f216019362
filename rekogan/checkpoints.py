"""Checkpoints: safetensors state dicts plus JSON metadata, written atomically; never pickles.

Two kinds of file live in a run directory:
  epoch_NNN.safetensors  - the sampling generator (EMA weights, fp16) with everything needed to
                           rebuild it: model config, class list, epoch, step, metrics.
  state_NNN.safetensors  - the resume state: G, D, EMA G, both Adam states, step and RNG states.
Both are written to a temporary file in the same folder and renamed into place, so a kill at any
moment leaves either the old complete file or the new complete file, never half of one.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .conventions import EPOCH_RE, STATE_RE
from .hangul import ClassList
from .models import ModelConfig, build_generator
from .records import atomic_path

FORMAT_G = "rekogan-generator-1"
FORMAT_STATE = "rekogan-state-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says which file and why."""


def save_tensors(path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]):
    """A safetensors file with string metadata, written atomically (rekogan.records.atomic_path)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _sniff(path: Path):
    """Refuse anything that is not a safetensors file before a parser touches it."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    with open(path, "rb") as f:
        head = f.read(16)
    # a safetensors file's 8-byte header length can start with 0x80 or "PK" too: its JSON header
    # opening at byte 8 tells it from a pickle (protocol 2+ starts 0x80, torch's zip "PK\x03\x04")
    if head[8:9] != b"{" and (head[:2] == b"PK" or head[:1] == b"\x80"):
        raise CheckpointError(f"{path} is a pickle (torch.save) file; ReKOGAN loads only .safetensors "
                              "checkpoints, because unpickling can execute code")
    if len(head) < 9 or head[8:9] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file (it starts with {head[:8]!r}); "
                              "it may be truncated or corrupt")


def read_tensors(path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; anything else (a pickle) is refused before parsing."""
    path = Path(path)
    _sniff(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is corrupt or truncated: {e}") from None
    return tensors, meta


# ---- generator checkpoints ------------------------------------------------------------------

def save_generator(path, generator: torch.nn.Module, *, model: ModelConfig, classes: ClassList, epoch: int,
                   step: int, images_seen: int, config: dict | None = None, metrics: dict | None = None,
                   fp16: bool = True, trained: ClassList | None = None):
    """trained: the syllables the run trained on, when fewer than its classes (a jamo run's split)."""
    sd = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in generator.state_dict().items()}
    meta = {
        "format": FORMAT_G,
        "model": json.dumps(model.to_dict()),
        "classes": json.dumps(classes.to_list(), ensure_ascii=False),
        "epoch": str(epoch), "step": str(step), "images_seen": str(images_seen),
        "config": json.dumps(config or {}, ensure_ascii=False),
        "metrics": json.dumps(metrics or {}),
    }
    if trained is not None:
        meta["trained"] = "".join(trained)
    save_tensors(path, sd, meta)


def read_metadata(path) -> dict:
    """The JSON metadata of a generator checkpoint, parsed, without building the model."""
    path = Path(path)
    _sniff(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is corrupt or truncated: {e}") from None
    if meta.get("format") != FORMAT_G:
        raise CheckpointError(f"{path} is not a ReKOGAN generator checkpoint (format={meta.get('format')!r}, "
                              f"expected {FORMAT_G!r})")
    try:
        return {
            "model": json.loads(meta["model"]), "classes": json.loads(meta["classes"]),
            "epoch": int(meta["epoch"]), "step": int(meta["step"]), "images_seen": int(meta.get("images_seen", 0)),
            "config": json.loads(meta.get("config", "{}")), "metrics": json.loads(meta.get("metrics", "{}")),
            # the syllables seen in training (all classes unless the run held some out)
            "trained": list(meta["trained"]) if "trained" in meta else json.loads(meta["classes"]),
            # a hand run's generator (scripts/ship_writer_run.py): its writers carry this tag
            "writer_tag": meta.get("writer_tag", ""),
        }
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path} has broken metadata ({e})") from None


def load_generator(path, *, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a generator from its checkpoint file alone. Returns (G in eval mode, fp32; metadata)."""
    meta = read_metadata(path)
    tensors, _ = read_tensors(path)
    try:
        model = ModelConfig(**meta["model"])
        classes = ClassList(tuple(meta["classes"]))
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(f"{path}: metadata describes an invalid model: {e}") from None
    if model.n_classes != len(classes):
        raise CheckpointError(f"{path}: model has {model.n_classes} classes but the stored class list has {len(classes)}")
    g = build_generator(model)
    try:
        g.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the stored architecture: {e}") from None
    meta["model_config"], meta["class_list"] = model, classes
    # the generator says which writers it draws wherever it goes (rekogan.writer.value.check_generator)
    g.writer_tag = meta["writer_tag"]
    # channels_last: the transposed convs run ~1.4x faster on CPU (and on CUDA) in this layout
    return g.to(device, memory_format=torch.channels_last).eval(), meta


def list_epochs(run_dir) -> list[tuple[int, Path]]:
    """[(epoch, path)] of the generator checkpoints in a run directory, by epoch."""
    run_dir = Path(run_dir)
    out = [(int(m.group(1)), p) for p in run_dir.glob("epoch_*.safetensors") if (m := EPOCH_RE.match(p.name))]
    return sorted(out)


# ---- resume state ---------------------------------------------------------------------------

def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict):
    sd = opt.state_dict()
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"{prefix}.state.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    meta[f"{prefix}.param_groups"] = json.dumps(sd["param_groups"])


def _unflatten_optimizer(prefix: str, tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith(prefix + ".state."):
            pid, name = k[len(prefix) + 7:].split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    return {"state": state, "param_groups": json.loads(meta[f"{prefix}.param_groups"])}


def save_state(path, *, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               counters: dict[str, int], rng: dict[str, torch.Tensor]):
    tensors, meta = {}, {"format": FORMAT_STATE, "counters": json.dumps(counters)}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"{name}.{k}"] = v
    for name, o in optimizers.items():
        _flatten_optimizer(name, o, tensors, meta)
    for name, t in rng.items():
        tensors[f"rng.{name}"] = t
    save_tensors(path, tensors, meta)


def load_state(path, *, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict, dict]:
    """Load a resume state into the given modules/optimisers; returns (counters, rng tensors)."""
    tensors, meta = read_tensors(path)
    if meta.get("format") != FORMAT_STATE:
        raise CheckpointError(f"{path} is not a ReKOGAN resume state (format={meta.get('format')!r})")
    try:
        for name, m in modules.items():
            sd = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")}
            m.load_state_dict(sd)
        for name, o in optimizers.items():
            o.load_state_dict(_unflatten_optimizer(name, tensors, meta))
    except (RuntimeError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: resume state does not match this model/optimiser: {e}") from None
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
    return json.loads(meta["counters"]), rng


def latest_state(run_dir) -> tuple[int, Path] | None:
    run_dir = Path(run_dir)
    found = sorted((int(m.group(1)), p) for p in run_dir.glob("state_*.safetensors") if (m := STATE_RE.match(p.name)))
    return found[-1] if found else None
