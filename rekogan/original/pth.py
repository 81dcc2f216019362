"""Reading an original ReKOGAN G_epoch_N.pth safely, its architecture, and the conversion with its check."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PRESET = "original-import"
IMPORTED_FROM = "the original ReKOGAN G_epoch_N.pth"
PROVENANCE_KIND = "original-import"
FILE_RE = re.compile(r"^G_epoch_(\d+)\.pth$")
EXIT_USAGE = 2                    # as `python -m rekogan`: bad input is one line on stderr, status 2
FP32_TOLERANCE = 1e-5             # the bound for the fp32 conversion
VERIFY_SEEDS = 8                  # writers the import verifies each epoch on
FP16_MAX = 65504.0                # largest finite fp16: a bigger weight would be stored as inf

# the original's nn.Sequential indices: (conv, batchnorm or None, stride, padding)
LAYERS = (("net.0", "net.1", 1, 0), ("net.3", "net.4", 2, 1), ("net.6", "net.7", 2, 1),
          ("net.9", "net.10", 2, 1), ("net.12", None, 2, 1))
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class OriginalImportError(ValueError):
    """A file or folder that cannot be imported; the message names it and says why (one line)."""


@dataclass(frozen=True)
class OriginalShape:
    """The original Generator's constructor arguments, as read off a state dict."""
    nz: int
    ngf: int
    embed_size: int
    num_classes: int

    def to_dict(self) -> dict:
        return {"nz": self.nz, "ngf": self.ngf, "embed_size": self.embed_size, "num_classes": self.num_classes,
                "nc": 1, "image_size": 64}


# ---- reading one .pth safely ----------------------------------------------------------------

def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _is_cut_zip(path: Path) -> bool:
    """A torch zip file (starts with PK) whose end-of-central-directory record is missing: cut short."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(2) != b"PK":
            return False
        f.seek(max(0, size - 65557))   # the EOCD record (22 bytes) sits within the last 64 KiB + 22
        return b"PK\x05\x06" not in f.read()


def load_pth(path) -> dict:
    """The tensors of an original G_epoch_N.pth as a flat {key: tensor} dict, read with
    torch.load(weights_only=True) only; OriginalImportError (naming the file) for anything else."""
    import pickle

    import torch
    path = Path(path)
    if not path.is_file():
        raise OriginalImportError(f"{path}: not found" if not path.exists() else f"{path} is not a file")
    if path.stat().st_size == 0:
        raise OriginalImportError(f"{path} is empty (0 bytes)")
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Weights only load failed" in msg or "Unsupported global" in msg:
            wanted = re.search(r"Unsupported global: GLOBAL (\S+)", msg)
            what = f" (it asks for {wanted.group(1)})" if wanted else ""
            raise OriginalImportError(
                f"{path} refused: it holds pickled objects, not only tensors and plain containers{what}; "
                "unpickling it could run code, so it was not loaded. If it is your own file, re-save it as "
                "torch.save(G.state_dict(), ...) in the original project") from None
        raise OriginalImportError(f"{path} is truncated or corrupt ({_first_line(e)})") from None
    except (EOFError, RuntimeError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        # torch.load reports a cut file in several ways (EOFError, 'unexpected EOF', miniz's 'failed
        # finding central directory', even EINVAL from its reader); name the likely cause when we can
        cut = isinstance(e, EOFError) or "EOF" in str(e) or _is_cut_zip(path)
        why = "truncated (the file ends early)" if cut else "not a readable PyTorch file (truncated or corrupt)"
        raise OriginalImportError(f"{path} is {why}: torch.load failed with {_first_line(e)}") from None
    return _state_dict_of(obj, path=path)


def _strip_prefix(sd: dict) -> dict:
    """Keys saved through nn.DataParallel ('module.') or torch.compile ('_orig_mod.') lose the prefix."""
    for prefix in ("module.", "_orig_mod."):
        if sd and all(isinstance(k, str) and k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _state_dict_of(obj, *, path: Path) -> dict:
    import torch
    if not isinstance(obj, dict):
        raise OriginalImportError(f"{path} holds a {type(obj).__name__}, not a state dict "
                                  "(expected torch.save(G.state_dict()) of the original Generator)")
    sd = _strip_prefix(dict(obj))
    if "label_emb.weight" not in sd:
        # a training checkpoint that wraps the state dict ({'state_dict': ..., 'epoch': ...})
        nested = [v for v in sd.values() if isinstance(v, dict) and "label_emb.weight" in _strip_prefix(dict(v))]
        if len(nested) == 1:
            sd = _strip_prefix(dict(nested[0]))
    bad = [k for k, v in sd.items() if not torch.is_tensor(v)]
    if bad:
        raise OriginalImportError(f"{path} is not a state dict of tensors (non-tensor entries: {', '.join(map(str, bad[:5]))})")
    return sd


# ---- the architecture -----------------------------------------------------------------------

def expected_shapes(shape: OriginalShape) -> dict[str, tuple[int, ...]]:
    """Every key of the original Generator's state dict and its shape."""
    g, e = shape.ngf, shape.embed_size
    out = {"label_emb.weight": (e, shape.num_classes), "label_emb.bias": (e,)}
    chans = [shape.nz + e, g * 8, g * 4, g * 2, g, 1]
    for i, (conv, bn, _, _) in enumerate(LAYERS):
        out[f"{conv}.weight"] = (chans[i], chans[i + 1], 4, 4)
        if bn:
            for k in BN_KEYS:
                out[f"{bn}.{k}"] = () if k == "num_batches_tracked" else (chans[i + 1],)
    return out


def infer_shape(sd: dict, *, path) -> OriginalShape:
    """Read nz, ngf, embed_size and num_classes off the tensor shapes and check every other tensor
    against them; OriginalImportError naming the file and the first things that do not fit."""
    import torch
    emb, first = sd.get("label_emb.weight"), sd.get("net.0.weight")
    if emb is None or first is None or emb.ndim != 2 or first.ndim != 4:
        keys = ", ".join(list(sd)[:6]) + (", ..." if len(sd) > 6 else "")
        hint = " (a discriminator file? import the G_epoch_N.pth files)" if Path(path).name.startswith("D_") else ""
        raise OriginalImportError(f"{path} is not the original ReKOGAN generator: it has no label_emb.weight/net.0.weight "
                                  f"of the expected rank (keys: {keys}){hint}")
    embed_size, num_classes = emb.shape
    nz, width = first.shape[0] - embed_size, first.shape[1]
    if nz < 1 or width % 8:
        raise OriginalImportError(f"{path} is not the original ReKOGAN generator: net.0.weight {tuple(first.shape)} "
                                  f"does not fit label_emb {tuple(emb.shape)} (needs nz+embed inputs and ngf*8 outputs)")
    shape = OriginalShape(nz=int(nz), ngf=int(width // 8), embed_size=int(embed_size), num_classes=int(num_classes))
    want = expected_shapes(shape)
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {want[k]})" for k in want if k in sd and tuple(sd[k].shape) != want[k]]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else ""))
    if extra:
        problems.append("unexpected " + ", ".join(extra[:4]) + (" ..." if len(extra) > 4 else ""))
    if wrong:
        problems.append("wrong shape " + "; ".join(wrong[:3]) + (" ..." if len(wrong) > 3 else ""))
    if problems:
        raise OriginalImportError(f"{path} is not the original ReKOGAN generator (read as nz={shape.nz}, ngf={shape.ngf}, "
                                  f"embed_size={shape.embed_size}): " + "; ".join(problems))
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        if not v.is_floating_point():
            raise OriginalImportError(f"{path}: {k} is {v.dtype}, expected floating-point weights")
        if not bool(torch.isfinite(v.float()).all()):
            raise OriginalImportError(f"{path}: {k} holds NaN or infinite values (a diverged epoch?); move the file "
                                      "aside to import the others")
    return shape


def original_forward(sd: dict, noise, onehot):
    """The original Generator's forward in eval mode, written out with torch.nn.functional from
    the documented layers (independent of rekogan.models): used to verify each conversion."""
    import torch
    import torch.nn.functional as F
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    x = torch.cat([noise, F.linear(onehot, sd["label_emb.weight"], sd["label_emb.bias"])], 1)[:, :, None, None]
    for conv, bn, stride, pad in LAYERS:
        x = F.conv_transpose2d(x, sd[f"{conv}.weight"], stride=stride, padding=pad)
        if bn:
            x = F.relu(F.batch_norm(x, sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"], sd[f"{bn}.weight"],
                                    sd[f"{bn}.bias"], training=False, eps=1e-5))
    return torch.tanh(x)


def model_config(shape: OriginalShape):
    from ..models import ModelConfig
    return ModelConfig(arch="dcgan", n_classes=shape.num_classes, size=64, z_dim=shape.nz,
                       embed_dim=shape.embed_size, ngf=shape.ngf)


def convert(sd: dict, *, shape: OriginalShape):
    """The original's state dict -> the project's DCGANGenerator (fp32, eval mode)."""
    import torch

    from ..models import build_generator
    G = build_generator(model_config(shape))
    new = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items() if not k.startswith("label_emb.")}
    # Linear(onehot_i) = W @ e_i + b = W[:, i] + b: one embedding row per class
    new["embed.weight"] = sd["label_emb.weight"].float().t() + sd["label_emb.bias"].float()[None, :]
    try:
        G.load_state_dict(new, strict=True)
    except RuntimeError as e:
        # the checked layout no longer matches DCGANGenerator: rekogan.models changed under us
        raise OriginalImportError(f"rekogan.models.DCGANGenerator no longer has the original's layer layout "
                                  f"({_first_line(e)}); rekogan.original needs updating") from None
    with torch.no_grad():
        for p in G.parameters():
            p.requires_grad_(False)
    return G.eval()


def _verify_batch(shape: OriginalShape):
    """(z, labels, onehot) for VERIFY_SEEDS writers spread over the classes: the z the app uses."""
    import torch
    import torch.nn.functional as F

    from ..sampling import seed_to_z
    z = torch.stack([seed_to_z(s, shape.nz) for s in range(VERIFY_SEEDS)])
    labels = torch.tensor([round(i * (shape.num_classes - 1) / max(1, VERIFY_SEEDS - 1)) for i in range(VERIFY_SEEDS)])
    return z, labels, F.one_hot(labels, shape.num_classes).float()


def verify(sd: dict, *, shape: OriginalShape, converted, stored) -> dict:
    """Compare the converted (fp32) and stored (as loaded back from its file) generators with the
    original forward. Returns {'fp32_max_abs_diff', 'stored_max_grey_levels', 'stored_pixels_off'}."""
    import torch

    from ..sampling import to_uint8
    z, labels, onehot = _verify_batch(shape)
    with torch.inference_mode():
        ref = original_forward(sd, z, onehot)
        got = converted(z, labels).float()
        back = stored(z, labels).float()
    d32 = float((got - ref).abs().max())
    levels = (to_uint8(back).int() - to_uint8(ref).int()).abs()
    return {"fp32_max_abs_diff": d32, "stored_max_grey_levels": int(levels.max()),
            "stored_pixels_off": round(float((levels > 0).float().mean()), 6)}
