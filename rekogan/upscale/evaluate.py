"""How good an upscaler is: fidelity on real held-out glyphs, and what it does to generated ones.

The figures (each over images of float ink in [0, 1], white ink on black):
  iou         ink IoU against the truth, both thresholded at mid-grey (0.5)
  l1          mean absolute difference of ink against the truth
  grey        the grey share: among inked pixels (ink >= 0.1), the share that is grey (ink < 0.9);
              a real face rendered at 256 px has about 0.12, a 64 px glyph enlarged bicubically 0.37-0.50

`fidelity`   the 8 held-out faces (never trained on) at 256 px as truth; the input is that glyph
             reduced to 64 px by box averages and rounded to uint8. Compared: bicubic (plain, and
             thresholded at mid-grey: the sharp baseline), the upscaler at 256 px, and at 128 px
             both its own 128 px head and its 256 px output reduced 2 x 2. The upscaler's output is
             GlyphUpscaler.ink: the file's sharpness and back-projection, as `upscale` gives it.
`generated`  the shipped fixed and hangul runs (best epochs), 8 writers x 500 syllables: the grey
             share at 256 px, and the readability by the project's readers of the 64 px glyph and of
             the upscaled glyph reduced back to 64 px (the upscaler must not change what is written).
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import heldout_glyphs, pair_syllables, quantize, reduce, to_ink

INK, GREY_HI, MID = 0.1, 0.9, 0.5
TEST_SYLLABLES = 200          # held-out faces x this fixed sample of KS X 1001 (tag 'test')
PROBE_EVERY = 8               # the per-epoch probe: every 8th glyph of the fidelity test
GENERATED_SYLLABLES = 500
SEEDS = 8
SHARPNESS_SWEEP = (1.0, 1.5, 2.0, 3.0)   # logit gains the report also gives figures for


def iou(pred: torch.Tensor, truth: torch.Tensor) -> float:
    a, b = pred >= MID, truth >= MID
    return float((a & b).sum() / (a | b).sum().clamp(min=1))


def l1(pred: torch.Tensor, truth: torch.Tensor) -> float:
    return float((pred - truth).abs().mean())


def grey_share(ink: torch.Tensor) -> float:
    inked = ink >= INK
    return float((inked & (ink < GREY_HI)).sum() / inked.sum().clamp(min=1))


def bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def probe_pairs(*, every: int = PROBE_EVERY) -> tuple[torch.Tensor, torch.Tensor]:
    """(64 px input, 256 px truth) of every `every`-th glyph of the fidelity test: the per-epoch check."""
    h = heldout_glyphs(pair_syllables(TEST_SYLLABLES, tag="test"))
    truth = to_ink(h.images[::every])
    return quantize(reduce(truth)), truth


@torch.inference_mode()
def _run(model, x: torch.Tensor, sizes=(256,), batch: int = 64, sharpness: float = 1.0) -> dict[int, torch.Tensor]:
    """{size: logits} of a network, times `sharpness`, in batches."""
    outs: dict[int, list] = {s: [] for s in sizes}
    dev = next(model.parameters()).device              # a network training on a GPU: there, and back
    for i in range(0, len(x), batch):
        o = model(x[i:i + batch].to(dev), sizes=sizes)
        for s in sizes:
            outs[s].append((o[s] * sharpness).cpu())
    return {s: torch.cat(v) for s, v in outs.items()}


def fidelity_of(model, pairs: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """Quick figures of a network on (input, truth) pairs: iou, l1, grey, and bicubic's iou."""
    x, t = pairs
    up = torch.sigmoid(_run(model, x)[256])
    return {"iou": iou(up, t), "l1": l1(up, t), "grey": grey_share(up), "bicubic_iou": iou(bicubic(x, 256), t)}


def _figures(pred: torch.Tensor, truth: torch.Tensor) -> dict:
    return {"iou": round(iou(pred, truth), 5), "l1": round(l1(pred, truth), 5), "grey": round(grey_share(pred), 4)}


def fidelity(upscaler, *, syllables: int = TEST_SYLLABLES) -> dict:
    """The held-out faces' figures for bicubic, bicubic thresholded and a GlyphUpscaler at its
    sharpness (256 px; 128 px from its own head and from the 256 px output reduced), and the
    256 px figures at each SHARPNESS_SWEEP gain (IoU does not change with it)."""
    h = heldout_glyphs(pair_syllables(syllables, tag="test"))
    truth = to_ink(h.images)
    x = quantize(reduce(truth))
    logits = {s: upscaler.logits(x, size=s) for s in (128, 256)}

    def finish(size, k=None):                             # what upscale() gives, before rounding
        return torch.cat([upscaler.finish(lg, xb, sharpness=k) for lg, xb in zip(logits[size].split(256), x.split(256))])

    out = {s: finish(s) for s in (128, 256)}
    fast = upscaler.x2.ink(x, size=128) if upscaler.x2 is not None else None     # what size=128 gives, when present
    truth128 = reduce(truth, 2)
    bic = bicubic(x, 256)
    rows = {
        "truth": {"grey": round(grey_share(truth), 4), "grey_128": round(grey_share(truth128), 4)},
        "bicubic": _figures(bic, truth),
        "bicubic_threshold": _figures((bic >= MID).float(), truth),
        "upscaler": _figures(out[256], truth),
        "128_bicubic_threshold": _figures((bicubic(x, 128) >= MID).float(), truth128),
        "128_head": _figures(out[128], truth128),
        "128_reduced_256": _figures(reduce(out[256], 2), truth128),
    }
    if fast is not None:
        rows["128_fast_x2"] = _figures(fast, truth128)
    per_face = {}
    for j, name in enumerate(h.faces):
        m = h.face == j
        per_face[name] = {"glyphs": int(m.sum()), "bicubic_threshold_iou": round(iou((bic[m] >= MID).float(), truth[m]), 5),
                          "upscaler_iou": round(iou(out[256][m], truth[m]), 5)}
    bt, us = rows["bicubic_threshold"]["iou"], rows["upscaler"]["iou"]
    sweep = {k: _figures(finish(256, k), truth) for k in SHARPNESS_SWEEP}
    served128 = rows["128_fast_x2" if fast is not None else "128_head"]["iou"]
    return {"glyphs": len(truth), "faces": h.faces, "syllables": syllables, "rows": rows, "per_face": per_face,
            "error_ratio": round((1 - us) / max(1 - bt, 1e-9), 4), "sharpness": upscaler.sharpness,
            "error_ratio_128": round((1 - served128) / max(1 - rows["128_bicubic_threshold"]["iou"], 1e-9), 4),
            "keep_steps": upscaler.keep_steps, "keep_down": upscaler.keep_down, "keep_peak": upscaler.keep_peak,
            "keep_sharpness": upscaler.keep_sharpness, "keep_exact": upscaler.keep_exact,
            "sweep": sweep}


def read_ink(reader, ink: torch.Tensor) -> torch.Tensor:
    """The reader's answers for (N, 1, 64, 64) float ink, read as the uint8 picture it would be."""
    from ..conventions import to_unit
    return torch.cat([reader.read(to_unit((ink[i:i + 512] * 255).round()))[1] for i in range(0, len(ink), 512)])


def _at_128(upscaler, ink64: torch.Tensor, *, reader) -> dict:
    """Size 128 as the app draws it (GlyphUpscaler.ink: the fast x2 network when the file has one)
    and the x4 network's own 128 px head: grey share at 128 px and the reader's answers for each,
    reduced back to 64 px."""
    def unet(x):
        return upscaler.finish(upscaler.logits(x, size=128), x)
    served = torch.cat([upscaler.ink(x, size=128) for x in ink64.split(512)])
    head = torch.cat([unet(x) for x in ink64.split(512)]) if upscaler.x2 is not None else served
    return {"grey_128_served": round(grey_share(served), 4), "grey_128_x4_head": round(grey_share(head), 4),
            "readability_128_served": read_ink(reader, reduce(served, 2)),
            "readability_128_x4_head": read_ink(reader, reduce(head, 2)),
            "served_128_by": "fast x2" if upscaler.x2 is not None else "x4 head"}


# ---- generated glyphs ----------------------------------------------------------------------------

def _best_checkpoint(run_dir: Path) -> Path:
    """The best epoch of a shipped run (rekogan.records.best_epoch over its evaluation.jsonl)."""
    from ..checkpoints import list_epochs
    from ..records import best_epoch, by_epoch, read_jsonl
    files = dict(list_epochs(run_dir))
    if not files:
        raise FileNotFoundError(f"no epoch_NNN.safetensors in {run_dir}")
    recs = [r for r in by_epoch(read_jsonl(run_dir / "evaluation.jsonl")).values() if r["epoch"] in files]
    best = best_epoch(recs)
    return files[best["epoch"]] if best else files[max(files)]


def _sample(pool: list[str], n: int) -> list[str]:
    return pool if len(pool) <= n else sorted(random.Random("rekogan-upscaler-generated").sample(pool, n))


def generated(upscaler, *, run_dir, reader, syllables: int = GENERATED_SYLLABLES, seeds: int = SEEDS) -> dict:
    """A run's best epoch, `seeds` writers x a fixed sample of `syllables` of what it trained on
    (its classes, or split.json's training syllables): grey share at 256 px (upscaler, bicubic),
    readability of the 64 px glyph and of the upscaled one reduced back to 64 px."""
    import json
    from ..checkpoints import load_generator
    from ..conventions import to_unit
    from ..evaluation_hangul import evaluate_syllables
    t0 = time.time()
    run_dir = Path(run_dir)
    ckpt = _best_checkpoint(run_dir)
    G, meta = load_generator(ckpt)
    classes = meta["class_list"]
    if (run_dir / "split.json").is_file():
        from ..split import SyllableSplit
        pool = list(SyllableSplit.from_dict(json.loads((run_dir / "split.json").read_text(encoding="utf-8"))).train)
    else:
        pool = [s for s in meta["trained"] if not reader.missing([s])]
    chosen = _sample(pool, syllables)
    r64 = evaluate_syllables(G, classes=classes, syllables=chosen, reader=reader, seeds=seeds)
    imgs = r64["images"]                                                        # (K*n, 1, 64, 64) in [-1, 1]
    u8 = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0]       # white ink on black, as a PNG holds it
    ink64 = u8.unsqueeze(1).float() / 255
    logits = upscaler.logits(ink64, size=256)

    def finish(k=None):                                   # the output at sharpness k, in batches (memory)
        return torch.cat([upscaler.finish(lg, x, sharpness=k) for lg, x in zip(logits.split(512), ink64.split(512))])

    big = finish()
    back = reduce(big)
    at128 = _at_128(upscaler, ink64, reader=reader)
    from ..hangul import SBASE
    target = torch.tensor([ord(s) - SBASE for s in chosen]).repeat(seeds)
    read_up = read_ink(reader, back)
    read_64 = torch.cat([reader.read(to_unit(u8[i:i + 512].unsqueeze(1)))[1] for i in range(0, len(u8), 512)])
    sharp = reduce((bicubic(ink64, 256) >= MID).float())                     # the sharp baseline, reduced back
    read_bt = read_ink(reader, sharp)
    return {"run": run_dir.name, "checkpoint": ckpt.name, "reader": reader.kind, "syllables": len(chosen),
            "seeds": seeds, "glyphs": len(u8),
            "readability_64": round(float((read_64 == target).float().mean()), 5),
            "readability_upscaled": round(float((read_up == target).float().mean()), 5),
            "readability_bicubic_threshold": round(float((read_bt == target).float().mean()), 5),
            "grey_upscaler_256": round(grey_share(big), 4), "grey_bicubic_256": round(grey_share(bicubic(ink64, 256)), 4),
            "grey_by_sharpness": {k: round(grey_share(finish(k)), 4) for k in SHARPNESS_SWEEP},
            **{k: (round(float((v == target).float().mean()), 5) if k.startswith("readability") else v)
               for k, v in at128.items()},
            "seconds": round(time.time() - t0, 1)}
