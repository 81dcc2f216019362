"""Readers: what a glyph says, for any of the 11,172 syllables. One interface over two models.

  ClassReader  the 520-class HangulClassifier (checkpoints/classifier): reads SERI95 classes only
  JamoReader   a component classifier (checkpoints/reader): the same CNN body with three heads,
               initial (19), medial (21) and final (28, incl. none); a glyph is read as the
               syllable composed of the three argmaxes, so it reads syllables it never saw

Both answer `read(images) -> (features (N, D), syllable index (N,) into all 11,172)`, so the
evaluation compares the intended and the read syllable the same way for every run. Images follow
the project convention: float [-1, 1] or uint8, white ink on black.

Train the component reader (about an hour on one busy core):
    python -m rekogan reader train --steps 3000 --threads 1
It trains on the train faces over READER_TRAIN_SYLLABLES and reports accuracy (all three
components right) on the 8 held-out faces over a fixed sample of READER_TEST_SYLLABLES drawn
from all 11,172 syllables.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .classifier import ClassifierConfig, HangulClassifier, features_and_logits, file_id, load_classifier
from .hangul import LCOUNT, SBASE, TCOUNT, VCOUNT, ClassList, all_syllables, jamo_of, ksx1001

FORMAT_R = "rekogan-jamo-reader-1"
READER_TRAIN_EXTRA = 1650   # syllables outside KS X 1001 added to its 2,350 for training
READER_TEST = 2000          # fixed test sample over all 11,172


def _sample(n: int, tag: str, exclude: set[str] = frozenset()) -> list[str]:
    pool = [s for s in all_syllables() if s not in exclude]
    return sorted(random.Random(f"rekogan-reader-{tag}").sample(pool, n))


def reader_train_syllables() -> ClassList:
    """KS X 1001 plus a fixed sample of rarer syllables: every component, many combinations."""
    ks = ksx1001()
    return ClassList(tuple(ks.syllables) + tuple(_sample(READER_TRAIN_EXTRA, "train", set(ks))))


def reader_test_syllables() -> ClassList:
    """A fixed sample of all 11,172 syllables (about 80 % of it outside the reader's training set)."""
    return ClassList(tuple(_sample(READER_TEST, "test")))


def _compose(li, vi, ti):
    return (li * VCOUNT + vi) * TCOUNT + ti


class ClassReader:
    """The 520-class classifier behind the reader interface."""

    kind = "class"

    def __init__(self, model: HangulClassifier):
        self.model = model.eval()
        self.lut = torch.tensor([ord(s) - SBASE for s in model.class_list], dtype=torch.int64)
        self.file_id = model.file_id

    def missing(self, syllables) -> list[str]:
        return [s for s in syllables if s not in self.model.class_list]

    def read(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        feats, logits = features_and_logits(self.model, images)
        return feats, self.lut[logits.argmax(1)]


class JamoReader:
    """Three-head component classifier: reads any syllable."""

    kind = "jamo"

    def __init__(self, model: HangulClassifier):
        assert model.cfg.n_classes == LCOUNT + VCOUNT + TCOUNT, "a jamo reader has 19 + 21 + 28 outputs"
        self.model = model.eval()
        self.file_id = model.file_id

    def missing(self, syllables) -> list[str]:
        return []

    def components(self, images) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        feats, logits = features_and_logits(self.model, images)
        a, b, c = logits.split([LCOUNT, VCOUNT, TCOUNT], 1)
        return feats, (a.argmax(1), b.argmax(1), c.argmax(1))

    def read(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        feats, (li, vi, ti) = self.components(images)
        return feats, _compose(li, vi, ti)


def jamo_loss(logits: torch.Tensor, y: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """Sum of the three components' cross-entropies; y indexes all 11,172 syllables."""
    li, vi, ti = jamo_of(y)
    a, b, c = logits.split([LCOUNT, VCOUNT, TCOUNT], 1)
    return sum(F.cross_entropy(x, t, label_smoothing=label_smoothing) for x, t in ((a, li), (b, vi), (c, ti)))


# ---- save / load ----------------------------------------------------------------------------

def save_reader(path, model: HangulClassifier, *, report: dict):
    """fp16 weights + JSON metadata (config, the training report), written atomically."""
    from .checkpoints import save_tensors
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_R, "config": json.dumps(model.cfg.to_dict()),
            "report": json.dumps({k: v for k, v in report.items() if k != "curve"}, ensure_ascii=False)}
    save_tensors(Path(path), sd, meta)


def load_reader(path) -> ClassReader | JamoReader:
    """A reader from its file: the component reader or the 520-class classifier (by format)."""
    from safetensors import safe_open
    from .checkpoints import CheckpointError
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"reader not found: {path}; train it with `python -m rekogan.reader train`")
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 9 or head[8:9] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            fmt = meta.get("format")
            tensors = {k: f.get_tensor(k) for k in f.keys()} if fmt == FORMAT_R else None
    except Exception as e:  # safetensors raises several types for a broken file
        raise CheckpointError(f"{path} is corrupt or truncated: {e}") from None
    if fmt != FORMAT_R:
        return ClassReader(load_classifier(path)[0])
    cfg = ClassifierConfig(**json.loads(meta["config"]))
    model = HangulClassifier(cfg, None)
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()})
    model.file_id = file_id(path)
    return JamoReader(model.eval())


# ---- training -------------------------------------------------------------------------------

def held_out_faces_glyphs(syllables: ClassList, size: int, font_dirs: list[str] | None = None):
    """(images (N, S, S) uint8, labels (N,) into all 11,172, face names (N,)) of the 8 held-out
    faces, each over the syllables of `syllables` it has: two of them (BMJUA_ttf,
    NanumSquareRoundR) cover only part of the 11,172, and a face-by-syllable grid that needs
    every face to have every syllable would silently drop them from the test."""
    import numpy as np
    from .data.fonts import HELDOUT_FACES, find_faces, render_available
    faces = {f.name: f for f in find_faces(font_dirs)}
    present = [n for n in HELDOUT_FACES if n in faces]
    if not present:
        raise FileNotFoundError(f"none of the held-out faces {', '.join(HELDOUT_FACES)} is installed "
                                "(scripts/test.sh installs them)")
    images, labels, names = [], [], []
    for name in present:
        kept, glyphs = render_available(faces[name], syllables, size=size)
        images.append(glyphs)
        labels += [ord(syllables.syllable(i)) - SBASE for i in kept]
        names += [name] * len(kept)
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64), names


def heldout_report(reader: "JamoReader", *, syllables: ClassList | None = None, size: int = 64,
                trained: set[str] | None = None) -> dict:
    """The reader's test on the held-out faces: all-three-components accuracy overall, per
    component, per face (with each face's glyph count), and on syllables outside `trained`."""
    test = syllables or reader_test_syllables()
    h_img, h_lab, h_face = held_out_faces_glyphs(test, size)
    acc = component_accuracy(reader, h_img, h_lab)
    ok = acc.pop("ok")
    trained = set(reader_train_syllables()) if trained is None else trained
    unseen = torch.tensor([all_syllables().syllable(int(i)) not in trained for i in h_lab])
    per_face = {f: round(float(ok[[i for i, g in enumerate(h_face) if g == f]].float().mean()), 4)
                for f in sorted(set(h_face))}
    return {"heldout_all3": round(acc["all3"], 5), **{f"heldout_{k}": round(v, 5) for k, v in acc.items() if k != "all3"},
            # None when every test syllable was trained on (a mean over no glyphs is no figure)
            "heldout_unseen_syllables_all3": round(float(ok[unseen].float().mean()), 5) if unseen.any() else None,
            "heldout_images": len(h_img), "test_syllables": len(test), "per_face": per_face,
            "per_face_glyphs": {f: h_face.count(f) for f in sorted(set(h_face))},
            "heldout_faces": sorted(set(h_face))}


@torch.inference_mode()
def component_accuracy(reader: JamoReader, images, labels) -> dict:
    """Share of glyphs with all three components right, and each component's accuracy."""
    _, (li, vi, ti) = reader.components(images)
    tl, tv, tt = jamo_of(labels)
    ok = (li == tl) & (vi == tv) & (ti == tt)
    return {"all3": float(ok.float().mean()), "initial": float((li == tl).float().mean()),
            "medial": float((vi == tv).float().mean()), "final": float((ti == tt).float().mean()), "ok": ok}


def train_reader(*, steps: int, batch: int = 128, lr: float = 3e-3, size: int = 64, work_size: int = 32,
                 widths=(32, 64, 128, 256), double=(1, 2), seed: int = 0, data: str = "fonts",
                 syllables: ClassList | None = None, test_syllables: ClassList | None = None,
                 log=print) -> tuple[HangulClassifier, dict]:
    """syllables: the training syllables (default reader_train_syllables()); test_syllables: those
    of the held-out faces' test (default reader_test_syllables())."""
    from .classifier import train_steps
    from .data import load_splits
    torch.manual_seed(seed)
    syl = syllables or reader_train_syllables()
    train_set, _ = load_splits(data, classes=syl, size=size)
    lut = torch.tensor([ord(s) - SBASE for s in syl], dtype=torch.int64)
    images, labels = train_set.images, lut[train_set.labels]
    log(f"reader: {len(images)} train glyphs ({len(syl)} syllables x {len(set(train_set.groups.tolist()))} faces)")
    cfg = ClassifierConfig(n_classes=LCOUNT + VCOUNT + TCOUNT, size=size, work_size=work_size,
                           widths=list(widths), double=list(double))
    model = HangulClassifier(cfg, None)
    t0 = time.time()
    train_steps(model, images, labels, loss_fn=lambda out, y: jamo_loss(out, y, label_smoothing=0.1),
                steps=steps, batch=batch, lr=lr, seed=seed, log=log, log_every=100)
    report = {**heldout_report(JamoReader(model), syllables=test_syllables, size=size, trained=set(syl)),
              "train_syllables": len(syl), "train_images": len(images), "train_faces": len(set(train_set.groups.tolist())),
              "steps": steps, "batch": batch, "lr": lr, "seed": seed,
              "wall_seconds": round(time.time() - t0, 1), "threads": torch.get_num_threads(), "config": cfg.to_dict(),
              "data": {"source": data, "faces": train_set.info.get("faces"),
                       "face_files": train_set.info.get("face_files")}}
    return model, report


if __name__ == "__main__":  # the old spelling, python -m rekogan.reader train ...
    import sys
    from .cli import alias
    sys.exit(alias("reader"))
