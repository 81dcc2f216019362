"""Import the original ReKOGAN's generator checkpoints (model_save/G_epoch_N.pth) as a ReKOGAN run.

  python -m rekogan import-original model_save/ --out checkpoints/original   (once registered)
  python -m rekogan.original model_save/ --out checkpoints/original            (always works)
  python -m rekogan.original model_save/G_epoch_8.pth --out checkpoints/orig8 [--epoch 8]

The original saved `torch.save(G.state_dict(), f"model_save/G_epoch_{N}.pth")` of

  label_emb = Linear(num_classes, embed_size)            on a ONE-HOT label (with a bias)
  net = ConvT(nz+embed, ngf*8, 4, 1, 0), BN, ReLU, ConvT(ngf*8, ngf*4, 4, 2, 1), BN, ReLU,
        ConvT(ngf*4, ngf*2, 4, 2, 1), BN, ReLU, ConvT(ngf*2, ngf, 4, 2, 1), BN, ReLU,
        ConvT(ngf, 1, 4, 2, 1), Tanh                    (all convs without bias)
  forward(noise, onehot) = net(cat([noise, label_emb(onehot)], 1)[:, :, None, None])

which is the project's 'dcgan' DCGANGenerator at size 64, except for the label: a Linear applied
to a one-hot vector of class i is exactly column i of its weight plus its bias, so the Linear is
folded into an embedding table, embed.weight[i] = W[:, i] + b (the same single fp32 rounding the
original's addmm does). Every other tensor (convs, BN affine and running statistics) is copied
under the same key. embed_size, nz and ngf are read off the tensor shapes; the class list is
SERI95 in EUC-KR order (the original's `sorted(os.listdir(root))` of EUC-KR hex folder names).

Safety: a .pth is a pickle, so it is read only with torch.load(weights_only=True), which accepts
tensors and plain containers and refuses everything else before it runs; such a refusal is
reported with the file and the global it asked for. Nothing else of the file is executed, and
the app itself keeps reading safetensors only.

Each file is checked (architecture by key and shape; finite weights that fit in fp16), converted,
written with rekogan.checkpoints.save_generator (fp16 unless --fp32) and verified: the converted
generator is compared with a plain functional re-implementation of the original forward on 8
writers, and the import fails if they differ by more than 1e-5 in fp32; the fp16 file's deviation
in grey levels is recorded. All files go into a hidden staging folder next to --out which is
renamed into place only when every epoch has been written, so a failure or a kill never leaves a
half-imported run under --out. An --out that already holds a run is refused; --force replaces a
previous import (never a trained run).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time
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
    from .models import ModelConfig
    return ModelConfig(arch="dcgan", n_classes=shape.num_classes, size=64, z_dim=shape.nz,
                       embed_dim=shape.embed_size, ngf=shape.ngf)


def convert(sd: dict, *, shape: OriginalShape):
    """The original's state dict -> the project's DCGANGenerator (fp32, eval mode)."""
    import torch

    from .models import build_generator
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

    from .sampling import seed_to_z
    z = torch.stack([seed_to_z(s, shape.nz) for s in range(VERIFY_SEEDS)])
    labels = torch.tensor([round(i * (shape.num_classes - 1) / max(1, VERIFY_SEEDS - 1)) for i in range(VERIFY_SEEDS)])
    return z, labels, F.one_hot(labels, shape.num_classes).float()


def verify(sd: dict, *, shape: OriginalShape, converted, stored) -> dict:
    """Compare the converted (fp32) and stored (as loaded back from its file) generators with the
    original forward. Returns {'fp32_max_abs_diff', 'stored_max_grey_levels', 'stored_pixels_off'}."""
    import torch

    from .sampling import to_uint8
    z, labels, onehot = _verify_batch(shape)
    with torch.inference_mode():
        ref = original_forward(sd, z, onehot)
        got = converted(z, labels).float()
        back = stored(z, labels).float()
    d32 = float((got - ref).abs().max())
    levels = (to_uint8(back).int() - to_uint8(ref).int()).abs()
    return {"fp32_max_abs_diff": d32, "stored_max_grey_levels": int(levels.max()),
            "stored_pixels_off": round(float((levels > 0).float().mean()), 6)}


# ---- finding files, the run folder ----------------------------------------------------------

def find_checkpoints(src, *, epoch: int | None = None) -> list[tuple[int, Path]]:
    """[(epoch, path)] by epoch: one file, a model_save/ folder, or a folder holding model_save/."""
    src = Path(src)
    if not src.exists():
        raise OriginalImportError(f"{src}: not found")
    if src.is_file():
        m = FILE_RE.match(src.name)
        if epoch is None and not m:
            raise OriginalImportError(f"{src}: cannot tell the epoch from the name (expected G_epoch_N.pth); pass --epoch N")
        return [(epoch if epoch is not None else int(m.group(1)), src)]
    if epoch is not None:
        raise OriginalImportError(f"--epoch is for a single file; {src} is a folder (its epochs come from the file names)")
    for folder in (src, src / "model_save"):
        found = sorted((int(m.group(1)), p) for p in folder.glob("G_epoch_*.pth") if (m := FILE_RE.match(p.name)))
        if found:
            break
    else:
        raise OriginalImportError(f"{src}: no G_epoch_N.pth files in it (or in {src / 'model_save'})")
    seen: dict[int, Path] = {}
    for e, p in found:
        if e in seen:
            raise OriginalImportError(f"{p}: epoch {e} also comes from {seen[e].name}; keep one of them")
        seen[e] = p
    return found


def is_previous_import(run_dir: Path) -> bool:
    try:
        return json.loads((Path(run_dir) / "provenance.json").read_text(encoding="utf-8")).get("kind") == PROVENANCE_KIND
    except (OSError, ValueError, AttributeError):
        return False


def _check_out(out: Path, *, force: bool) -> str:
    """'new', 'empty' or 'replace'; OriginalImportError if --out may not be written."""
    if not out.exists():
        return "new"
    if not out.is_dir():
        raise OriginalImportError(f"--out {out} exists and is not a folder")
    if not any(out.iterdir()):
        return "empty"
    has_epochs = any(out.glob("epoch_*.safetensors"))
    if force and is_previous_import(out):
        return "replace"
    if force:
        raise OriginalImportError(f"--out {out} is not a previous import-original run (no provenance.json saying so); "
                                  "--force replaces only those. Choose another --out")
    what = "already holds a run (epoch_*.safetensors)" if has_epochs else "is not empty"
    extra = "; pass --force to replace it" if is_previous_import(out) else ""
    raise OriginalImportError(f"--out {out} {what}; choose a new folder{extra}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(path, 0o644)


def _fsync_dir(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class ImportResult:
    out: Path
    shape: OriginalShape
    epochs: list[dict]           # one provenance record per epoch
    replaced: bool


def import_original(src, *, out, classes=None, force: bool = False, epoch: int | None = None,
                    fp16: bool = True, log=None) -> ImportResult:
    """Import one G_epoch_N.pth or a folder of them into the run folder `out` (see the module doc).
    `classes`: a ClassList (default SERI95). `log(line)` is called once per imported file."""
    from .checkpoints import CheckpointError, load_generator, save_generator
    from .conventions import epoch_file
    from .hangul import seri95

    out = Path(out)
    classes = classes if classes is not None else seri95()
    files = find_checkpoints(src, epoch=epoch)
    mode = _check_out(out, force=force)            # refuse before any work is done
    out.parent.mkdir(parents=True, exist_ok=True)
    # hidden (the app's registry skips dot-folders) and on the same filesystem as --out, so the final
    # rename is atomic; a kill leaves only this folder behind, never a half run under --out
    staging = out.parent / f".{out.name}.importing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    records, shape = [], None
    try:
        for e, path in files:
            sd = load_pth(path)
            this = infer_shape(sd, path=path)
            if shape is not None and this != shape:
                raise OriginalImportError(f"{path} has nz={this.nz}, ngf={this.ngf}, embed_size={this.embed_size}, "
                                          f"unlike the run's earlier files ({shape.nz}, {shape.ngf}, {shape.embed_size}); "
                                          "import different runs into different folders")
            shape = this
            if shape.num_classes != len(classes):
                raise OriginalImportError(f"{path}: label_emb takes {shape.num_classes} classes but the class list has "
                                          f"{len(classes)} (SERI95 unless --classes is given)")
            G = convert(sd, shape=shape)
            if fp16:
                big = [k for k, v in G.state_dict().items() if v.is_floating_point() and float(v.abs().max()) > FP16_MAX]
                if big:
                    raise OriginalImportError(f"{path}: {big[0]} has values beyond fp16's range; import with --fp32")
            target = staging / epoch_file(e)
            config = {"preset": PRESET, "source_file": path.name, "imported_from": IMPORTED_FROM,
                      "source_sha256": _sha256(path), "original": shape.to_dict(),
                      "label_condition": "one-hot Linear folded into an embedding: embed[i] = W[:, i] + b",
                      "trained_on": "SERI95, by the original ReKOGAN project", "images_seen_known": False}
            save_generator(target, G, model=model_config(shape), classes=classes, epoch=e, step=0, images_seen=0,
                           config=config, metrics={}, fp16=fp16)
            try:
                stored, _ = load_generator(target)
            except CheckpointError as err:
                raise OriginalImportError(f"{path}: the written checkpoint does not load back: {err}") from None
            check = verify(sd, shape=shape, converted=G, stored=stored)
            if check["fp32_max_abs_diff"] > FP32_TOLERANCE:
                raise OriginalImportError(f"{path}: the converted generator differs from the original by "
                                          f"{check['fp32_max_abs_diff']:.3g} (> {FP32_TOLERANCE:g}); this is a bug in "
                                          "rekogan.original, nothing was imported")
            rec = {"epoch": e, "file": target.name, "source_file": path.name, "source_sha256": config["source_sha256"],
                   "source_bytes": path.stat().st_size, **check}
            records.append(rec)
            if log:
                log(f"epoch {e:>4}  {path.name} -> {target.name}  fp32 max |diff| {check['fp32_max_abs_diff']:.1e}, "
                    f"{'fp16' if fp16 else 'fp32'} file max {check['stored_max_grey_levels']} grey level(s)")
        _write_json(staging / "provenance.json", {
            "kind": PROVENANCE_KIND,
            "what": "generator checkpoints of the original ReKOGAN, imported by rekogan.original "
                    "(python -m rekogan import-original)",
            "imported_from": IMPORTED_FROM, "source": str(Path(src).resolve()),
            "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "trained_on": "SERI95 handwriting, by the original ReKOGAN project (not by this project)",
            "architecture": {"original": shape.to_dict(), "model": model_config(shape).to_dict(),
                             "mapping": "label_emb (Linear on one-hot) -> embed.weight = W.T + b; net.* copied as is"},
            "classes": {"count": len(classes), "list": "".join(classes),
                        "order": "SERI95 in EUC-KR order (the original's sorted EUC-KR hex folder names)"},
            "storage": "fp16" if fp16 else "fp32",
            "records": "no losses (metrics.jsonl) or evaluation (evaluation.jsonl) until "
                       "`python -m rekogan evaluate FOLDER --write` is run on it",
            "epochs": records,
        })
        _write_json(staging / "data.json", {
            "source": "seri95", "provider": "the original ReKOGAN project",
            "note": "trained by the original ReKOGAN on the SERI95 handwriting set; this project did not see "
                    "the data, so image counts and held-out groups are unknown",
            "images": None, "train_images": None, "heldout_images": None,
        })
        _fsync_dir(staging)
        if mode == "replace":
            old = out.parent / f".{out.name}.replaced-{os.getpid()}"
            os.rename(out, old)
            try:
                os.rename(staging, out)
            except OSError:
                os.rename(old, out)                  # put the previous import back as it was
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            if mode == "empty":
                out.rmdir()
            os.rename(staging, out)
        _fsync_dir(out.parent)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise OriginalImportError(f"cannot write {out}: {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)   # any failure (or Ctrl-C) leaves --out as it was
        raise
    return ImportResult(out=out, shape=shape, epochs=records, replaced=mode == "replace")


# ---- command line ---------------------------------------------------------------------------

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `import-original DIR_OR_FILE --out checkpoints/NAME` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "import-original", help="import the original ReKOGAN's model_save/G_epoch_N.pth files as a run",
        description="Turn the original ReKOGAN's G_epoch_N.pth generator state dicts (a file, a model_save/ "
                    "folder, or the folder holding model_save/) into a run folder of epoch_NNN.safetensors "
                    "that the app and `python -m rekogan sheet` read. Files are read with "
                    "torch.load(weights_only=True) only; anything else in them is refused.")
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("source", metavar="DIR_OR_FILE", help="a G_epoch_N.pth file, model_save/, or its parent folder")
    p.add_argument("--out", required=True, metavar="DIR", help="the run folder to create, e.g. checkpoints/original")
    p.add_argument("--force", action="store_true", help="replace --out if it is a previous import-original run")
    p.add_argument("--epoch", type=int, default=None, metavar="N",
                   help="the epoch of a single file whose name is not G_epoch_N.pth")
    p.add_argument("--classes", default="seri95", metavar="SPEC",
                   help="the class list in label order (default seri95: the original's 520 classes)")
    p.add_argument("--fp32", action="store_true", help="store fp32 weights (default fp16, like trained runs)")


def run(args) -> int:
    """Run the command; bad input is one 'error: ...' line on stderr and exit status 2."""
    try:
        from .hangul import parse_classes
        try:
            classes = parse_classes(args.classes)
        except (AssertionError, ValueError) as e:
            raise OriginalImportError(f"--classes: {e}") from None
        if args.epoch is not None and args.epoch < 0:
            raise OriginalImportError(f"--epoch must be >= 0, got {args.epoch}")
        res = import_original(args.source, out=args.out, classes=classes, force=args.force, epoch=args.epoch,
                              fp16=not args.fp32, log=print)
    except OriginalImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    s, eps = res.shape, [r["epoch"] for r in res.epochs]
    worst = max(r["stored_max_grey_levels"] for r in res.epochs)
    print(f"{'replaced' if res.replaced else 'wrote'} {res.out}: {len(eps)} epoch(s) {eps[0]}..{eps[-1]} of the original "
          f"ReKOGAN (embed_size {s.embed_size}, nz {s.nz}, ngf {s.ngf}, {s.num_classes} classes); stored weights "
          f"within {worst} grey level(s) of the original")
    print(f"no losses or evaluation yet: python -m rekogan evaluate {res.out} --write")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rekogan.original", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
