"""The run folder of an import: finding the original's files, staging, writing, verifying."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..records import fsync_folder
from .pth import (FILE_RE, FP16_MAX, FP32_TOLERANCE, IMPORTED_FROM, PRESET, PROVENANCE_KIND,  # noqa: F401
                  OriginalImportError, OriginalShape,
                  convert, infer_shape, load_pth, model_config, verify)


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
    from ..checkpoints import CheckpointError, load_generator, save_generator
    from ..conventions import epoch_file
    from ..hangul import seri95

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
        fsync_folder(staging)
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
        fsync_folder(out.parent)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise OriginalImportError(f"cannot write {out}: {err.strerror or err}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)   # any failure (or Ctrl-C) leaves --out as it was
        raise
    return ImportResult(out=out, shape=shape, epochs=records, replaced=mode == "replace")
