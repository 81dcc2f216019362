"""A small CNN Hangul classifier: the project's ruler for readability, diversity and classifier FD.

Trained on the train split of a data source (font faces minus the held-out faces) with the same
augmentation as the GAN, validated on the held-out faces. Built to be cheap on a CPU: the input is
average-pooled to 32x32 inside the model, then a few 3x3 conv + BatchNorm stages with max-pooling,
global average pooling -> a penultimate feature vector (used for diversity and the Frechet
distance) -> linear logits.

Images in follow the project convention: float in [-1, 1], white ink on black, (N, 1, S, S);
uint8 (N, S, S) or (N, 1, S, S) white ink on black is accepted too. (sampling.to_uint8 makes
DARK-on-white pictures for people: do not feed those here; use generate() output directly.)

Train it with `python -m rekogan classifier train` (rekogan/commands/classifier.py), which writes
OUT/classifier.safetensors (fp16 weights + JSON metadata, atomic) and OUT/metrics.json.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoints import CheckpointError, read_tensors, save_tensors
from .conventions import CLASSIFIER_FILE, to_unit
from .hangul import ClassList

FORMAT_C = "rekogan-classifier-1"
DEFAULT_PATH = CLASSIFIER_FILE


@dataclass
class ClassifierConfig:
    n_classes: int
    size: int = 64                                    # input resolution the classifier expects
    work_size: int = 32                               # the input is average-pooled to this first
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # stem, then one stage per width
    double: list[int] = field(default_factory=list)   # stage indices (0-based, after the stem) with a 2nd conv
    dropout: float = 0.2

    def __post_init__(self):
        self.widths, self.double = list(self.widths), list(self.double)
        # ValueError, not assert: configs come from files and the command line (python -O drops asserts)
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {self.n_classes}")
        if self.size < 8 or len(self.widths) < 2:
            raise ValueError(f"size must be >= 8 and there must be >= 2 widths, got {self.size}, {self.widths}")
        self.work_size = min(self.work_size, self.size)
        if self.work_size < 1 or self.size % self.work_size:
            raise ValueError(f"size {self.size} must be a multiple of work_size {self.work_size}")
        if self.work_size >> (len(self.widths) - 1) < 1:
            raise ValueError(f"too many stages ({len(self.widths)} widths) for the working resolution {self.work_size}")

    @property
    def feat_dim(self) -> int:
        return self.widths[-1]

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class HangulClassifier(nn.Module):
    def __init__(self, cfg: ClassifierConfig, classes: ClassList | None = None):
        super().__init__()
        self.cfg = cfg
        self.class_list = classes   # the syllable of each output (set by load_classifier / train_classifier)
        self.file_id = None         # content hash of the file it was loaded from (None when not loaded)
        f = cfg.size // cfg.work_size
        layers: list[nn.Module] = [nn.AvgPool2d(f)] if f > 1 else []
        layers += _conv(1, cfg.widths[0])
        c = cfg.widths[0]
        for i, w in enumerate(cfg.widths[1:]):
            layers += [nn.MaxPool2d(2)] + _conv(c, w)
            c = w
            if i in cfg.double:
                layers += _conv(c, c)
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c, cfg.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, size, size) in [-1, 1] -> (B, feat_dim) penultimate features."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor, *, with_features: bool = False):
        h = self.features(x)
        logits = self.head(self.drop(h))
        return (h, logits) if with_features else logits


def to_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, S, S)/(N, 1, S, S) or float [-1, 1] (N, 1, S, S), white on black -> float
    (N, 1, size, size) in [-1, 1] (resized with bilinear + antialias when S != size)."""
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x[:, None]
    assert x.ndim == 4 and x.shape[1] == 1, f"images must be (N, S, S) or (N, 1, S, S), got {tuple(x.shape)}"
    x = to_unit(x) if x.dtype == torch.uint8 else x.float()
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > size).clamp(-1, 1)
    return x


def _inference_body(model: HangulClassifier) -> nn.Sequential:
    """The body with every BatchNorm folded into the conv before it, channels-last: the same
    function as model.body in eval mode (to float rounding), about 3x faster on a CPU."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    mods, out, i = list(model.body), [], 0
    while i < len(mods):
        if isinstance(mods[i], nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
            out.append(fuse_conv_bn_eval(mods[i], mods[i + 1]))
            i += 2
        else:
            out.append(mods[i])
            i += 1
    return nn.Sequential(*out).eval().to(memory_format=torch.channels_last)


@torch.inference_mode()
def features_and_logits(model: HangulClassifier, images: torch.Tensor, *, batch: int = 128
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """images (uint8 or float [-1, 1], white ink on black) -> (features (N, D), logits (N, C)), float32."""
    assert not model.training, "put the classifier in eval mode (BatchNorm must not depend on the batch)"
    dev = next(model.parameters()).device
    body = _inference_body(model)
    feats, logits = [], []
    for i in range(0, len(images), batch):
        x = to_input(images[i:i + batch], model.cfg.size).to(dev).contiguous(memory_format=torch.channels_last)
        h = body(x).mean(dim=(2, 3))
        lg = model.head(h)
        feats.append(h.float().cpu()); logits.append(lg.float().cpu())
    if not feats:
        return torch.zeros(0, model.cfg.feat_dim), torch.zeros(0, model.cfg.n_classes)
    return torch.cat(feats), torch.cat(logits)


# ---- save / load ----------------------------------------------------------------------------

def save_classifier(path, model: HangulClassifier, *, classes: ClassList, heldout_top1: float | None, steps: int,
                    data: dict, command: str, extra: dict | None = None):
    """fp16 weights (BatchNorm counters stay int) + JSON metadata, written atomically."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT_C,
        "config": json.dumps(model.cfg.to_dict()),
        "classes": json.dumps(classes.to_list(), ensure_ascii=False),
        "size": str(model.cfg.size),
        "heldout_top1": json.dumps(heldout_top1),
        "steps": str(steps),
        "data": json.dumps(data, ensure_ascii=False),
        "command": command,
        "extra": json.dumps(extra or {}, ensure_ascii=False),
    }
    save_tensors(path, sd, meta)


def file_id(path) -> str:
    """A short content hash of a file: identifies the exact classifier a metric was computed with."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_classifier(path=DEFAULT_PATH, *, device: str | torch.device = "cpu") -> tuple[HangulClassifier, dict]:
    """Rebuild the classifier from its file alone -> (model in eval mode, fp32; metadata).
    Refuses pickles and anything that is not a ReKOGAN classifier safetensors file."""
    path = Path(path)
    tensors, raw = read_tensors(path)            # sniffs first: a pickle is refused before parsing
    if raw.get("format") != FORMAT_C:
        raise CheckpointError(f"{path} is not a ReKOGAN classifier (format={raw.get('format')!r}, expected {FORMAT_C!r})")
    try:
        cfg = ClassifierConfig(**json.loads(raw["config"]))
        classes = ClassList(tuple(json.loads(raw["classes"])))
        meta = {
            "config": cfg, "class_list": classes, "classes": classes.to_list(), "size": int(raw["size"]),
            "heldout_top1": json.loads(raw.get("heldout_top1", "null")), "steps": int(raw.get("steps", 0)),
            "data": json.loads(raw.get("data", "{}")), "command": raw.get("command", ""),
            "extra": json.loads(raw.get("extra", "{}")),
        }
    except (KeyError, ValueError, TypeError, AssertionError) as e:
        raise CheckpointError(f"{path} has broken classifier metadata ({e})") from None
    if cfg.n_classes != len(classes):
        raise CheckpointError(f"{path}: model has {cfg.n_classes} classes but the class list has {len(classes)}")
    model = HangulClassifier(cfg, classes)
    try:
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the stored architecture: {e}") from None
    meta["id"] = model.file_id = file_id(path)
    meta["path"] = str(path)
    return model.to(device).eval(), meta


# ---- training -------------------------------------------------------------------------------

@torch.inference_mode()
def accuracy(model: HangulClassifier, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(top-1, per-sample correct bool (N,)) on uint8/float images."""
    was = model.training
    model.eval()
    _, logits = features_and_logits(model, images)
    model.train(was)
    ok = logits.argmax(1) == labels
    return float(ok.float().mean()), ok


def _lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_steps(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, loss_fn, steps: int, batch: int,
                lr: float, weight_decay: float = 5e-4, augment_strength: float = 1.0, seed: int = 0,
                accuracy_fn=None, on_step=None, log=print, log_every: int = 50) -> None:
    """The training loop of every reader of the project (the 520-class classifier, the jamo
    reader): AdamW (no decay on biases and norms), warmup + cosine lr, random batches of the
    uint8 glyphs with the GAN's augmentation. `loss_fn(model(x), labels)` is the one thing that
    differs. Ends with the weights rounded to fp16 (what is shipped is what is measured) and
    the model in eval mode."""
    from .data.augment import augment
    assert steps > 0 and batch > 0, f"steps and batch must be positive, got {steps}, {batch}"
    assert len(images) == len(labels) and len(images), "images and labels must be non-empty and match"
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    warmup = max(1, min(200, steps // 20))
    t0 = time.time()
    model.train()
    run_loss, run_acc = 0.0, 0.0
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, lr, warmup)
        idx = torch.randint(0, len(images), (batch,), generator=gen)
        x = augment(to_unit(images[idx].unsqueeze(1)), strength=augment_strength, generator=gen)
        out = model(x)
        loss = loss_fn(out, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = loss.item()
        run_loss = 0.98 * run_loss + 0.02 * lv if step else lv
        if accuracy_fn is not None:
            acc = accuracy_fn(out, labels[idx])
            run_acc = 0.98 * run_acc + 0.02 * acc if step else acc
        if (step + 1) % log_every == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps}: loss {run_loss:.3f}"
                + (f", train acc (augmented) {run_acc:.3f}" if accuracy_fn is not None else "")
                + f", lr {opt.param_groups[0]['lr']:.2e}, {time.time() - t0:.0f}s")
        if on_step is not None:
            on_step(step)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    model.eval()


def train_classifier(*, data: str = "fonts", classes: ClassList, size: int = 64, steps: int = 3000, batch: int = 128,
                     lr: float = 3e-3, weight_decay: float = 5e-4, augment_strength: float = 1.0,
                     label_smoothing: float = 0.1, seed: int = 0, cfg: ClassifierConfig | None = None,
                     eval_every: int = 0, splits=None, log=print) -> tuple[HangulClassifier, dict]:
    """Train on the train split WITH augmentation; returns (model eval with fp16-rounded weights, report).
    `splits` may pass a ready (train, heldout) pair of GlyphSets (tests)."""
    from .data import load_splits

    torch.manual_seed(seed)
    train_set, held = splits if splits is not None else load_splits(data, classes=classes, size=size)
    cfg = cfg or ClassifierConfig(n_classes=len(classes), size=size)
    assert cfg.n_classes == len(classes) and cfg.size == size, "classifier config does not match classes/size"
    model = HangulClassifier(cfg, classes)
    curve, t0 = [], time.time()

    def on_step(step):
        if eval_every and (step + 1) % eval_every == 0 and step != steps - 1:
            top1, _ = accuracy(model, held.images, held.labels)
            curve.append({"step": step + 1, "heldout_top1": round(top1, 4), "seconds": round(time.time() - t0, 1)})
            log(f"step {step + 1}: held-out top-1 {top1:.4f}")

    train_steps(model, train_set.images, train_set.labels,
                loss_fn=lambda out, y: F.cross_entropy(out, y, label_smoothing=label_smoothing),
                accuracy_fn=lambda out, y: float((out.argmax(1) == y).float().mean()),
                steps=steps, batch=batch, lr=lr, weight_decay=weight_decay, augment_strength=augment_strength,
                seed=seed, log=log, on_step=on_step)
    top1, ok = accuracy(model, held.images, held.labels)
    wall = time.time() - t0
    per_face = {}
    for gi in held.groups.unique().tolist():
        m = held.groups == gi
        per_face[held.group_names[gi]] = round(float(ok[m].float().mean()), 4)
    per_class_ok = torch.zeros(len(classes)).index_add_(0, held.labels, ok.float())
    per_class_n = torch.zeros(len(classes)).index_add_(0, held.labels, torch.ones(len(ok)))
    per_class = per_class_ok / per_class_n.clamp(min=1)
    worst = per_class.argsort()[:10].tolist()
    curve.append({"step": steps, "heldout_top1": round(top1, 4), "seconds": round(wall, 1)})
    report = {
        "heldout_top1": round(top1, 5), "heldout_images": len(held), "per_face": per_face,
        "worst_classes": {classes.syllable(i): round(float(per_class[i]), 3) for i in worst},
        "steps": steps, "batch": batch, "lr": lr, "weight_decay": weight_decay, "augment": augment_strength,
        "label_smoothing": label_smoothing, "seed": seed, "train_images": len(train_set),
        "wall_seconds": round(wall, 1), "threads": torch.get_num_threads(), "curve": curve,
        "config": cfg.to_dict(),
    }
    return model, report


def provenance(train_info: dict, heldout_info: dict | None = None) -> dict:
    heldout = list(train_info.get("heldout_faces") or [])
    faces = list(train_info.get("faces") or [])
    return {"source": train_info.get("source"), "faces": faces, "heldout_faces": heldout,
            "train_faces": [f for f in faces if f not in set(heldout)],
            "train_images": train_info.get("images"), "heldout_images": (heldout_info or {}).get("images")}


if __name__ == "__main__":   # the old spelling `python -m rekogan.classifier train ...`
    import sys

    from .cli import alias
    sys.exit(alias("classifier"))
