"""Evaluation over any syllables: seen vs held-out readability, component confusions, stroke weight.

For jamo-conditioned runs (which can write all 11,172 syllables) the question is whether syllables
never seen in training are written as legibly as seen ones. Everything here reads through the
reader interface (rekogan/reader.py), so the same code measures a 520-class run on its classes.

  evaluate_syllables   K seeds (writers 0..K-1) x the given syllables -> readability, per-syllable
                       readability, component confusions (e.g. medial ㅐ→ㅔ), feature diversity
  evaluate_split_checkpoint  one epoch of a split run: a seen sample, the held-out syllables, and
                       the 520 SERI95 classes read by the 520-class classifier (the fixed run's ruler)
  weight_sweep         the stroke-weight control: mean ink ratio and readability per setting
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from pathlib import Path

import torch

from .conventions import to_unit
from .hangul import FINALS, INITIALS, MEDIALS, SBASE, ClassList, jamo_of, seri95
from .sampling import generate, seed_to_z

SEEN_SAMPLE = 500          # training syllables evaluated per epoch (a fixed sample)
TOP = 10


def labels_for(meta_classes: ClassList, syllables) -> torch.Tensor:
    """Syllables -> the generator's label indices (its class list; all 11,172 for jamo runs)."""
    missing = [s for s in syllables if s not in meta_classes]
    if missing:
        raise ValueError(f"the run cannot write {len(missing)} of the syllables, e.g. {''.join(missing[:10])}")
    return torch.tensor([meta_classes.index(s) for s in syllables], dtype=torch.int64)


def _mean_pairwise(feats: torch.Tensor) -> float:
    """(G, K, D) -> the mean over groups of evaluation.mean_pairwise (K writers of one syllable)."""
    from .evaluation import mean_pairwise
    return float(mean_pairwise(feats).mean())


def component_confusions(intended: torch.Tensor, read: torch.Tensor, *, top: int = TOP) -> list[dict]:
    """Most frequent wrong components over misread glyphs: {'part', 'intended', 'read', 'count'}."""
    a, b = jamo_of(intended), jamo_of(read)
    names = (("initial", INITIALS), ("medial", MEDIALS), ("final", FINALS))
    c = Counter()
    for (part, table), x, y in zip(names, a, b):
        for i, j in zip(x[x != y].tolist(), y[x != y].tolist()):
            c[(part, table[i] or "∅", table[j] or "∅")] += 1
    return [{"part": p, "intended": i, "read": r, "count": n} for (p, i, r), n in
            sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


@torch.inference_mode()
def evaluate_syllables(G, *, classes: ClassList, syllables, reader, seeds: int = 8, truncation: float = 1.0,
                       weight=None) -> dict:
    """Readability of `syllables` written by `seeds` writers, read by `reader` (rekogan.reader)."""
    assert seeds >= 2, "seeds must be >= 2 (diversity compares writers)"
    syllables = list(syllables)
    missing = reader.missing(syllables)
    assert not missing, f"the reader cannot read {''.join(missing[:10])}…"
    y = labels_for(classes, syllables)
    n = len(syllables)
    z = torch.stack([seed_to_z(s, G.cfg.z_dim, truncation=truncation) for s in range(seeds)])   # (K, Z)
    imgs = generate(G, y.repeat(seeds), z.repeat_interleave(n, 0), weight=weight)               # (K*n, 1, S, S)
    feats, read = reader.read(imgs)
    target = torch.tensor([ord(s) - SBASE for s in syllables]).repeat(seeds)
    ok = read == target
    per = ok.view(seeds, n).float().mean(0)
    ink = ((imgs + 1) / 2).mean(dim=(1, 2, 3))
    return {"readability": float(ok.float().mean()), "per_syllable": per, "n": n, "seeds": seeds,
            "diversity_raw": _mean_pairwise(feats.view(seeds, n, -1).transpose(0, 1)),
            "component_confusions": component_confusions(target[~ok], read[~ok]),
            "ink": float(ink.mean()), "images": imgs}


def seen_sample(trained: ClassList, *, n: int = SEEN_SAMPLE) -> list[str]:
    """A fixed sample of a run's training syllables (always the same for the same split)."""
    pool = list(trained)
    return pool if len(pool) <= n else sorted(random.Random("rekogan-seen-sample").sample(pool, n))


def hangul_reference(reader, syllables, *, seeds: int = 8, size: int = 64, data: str = "fonts",
                     faces: list[str] | None = None) -> dict:
    """The real data's diversity_raw for `syllables`: K train-face glyphs per syllable at a time
    (augmented as in training), averaged over 8 draws; the denominator of the diversity ratio.
    faces: the run's faces (its data.json); the reference uses only those, and its faces_id is
    theirs only when all of them are installed here. Cached on disk by (reader file, data and its
    font set, syllables, K, faces)."""
    from .data import load_splits
    from .data.augment import augment
    from .evaluation import _cache_dir, data_identity, faces_id
    from .records import write_text_atomic
    key = hashlib.sha1(json.dumps([2, reader.file_id, data, data_identity(data), list(syllables), seeds, size,
                                   sorted(faces or [])], ensure_ascii=False).encode()).hexdigest()[:16]
    path = _cache_dir() / f"hangulref_{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    train, _ = load_splits(data, classes=ClassList(tuple(syllables)), size=size)
    here = list(train.info.get("faces") or [])
    used = [f for f in (faces or here) if f in here]
    if faces:                            # only the run's own train faces
        keep = [i for i, g in enumerate(train.group_names) if g in set(used)]
        train = train.subset(torch.isin(train.groups, torch.tensor(keep, dtype=torch.int64)), "train")
    gen = torch.Generator().manual_seed(0)
    x = augment(to_unit(train.images.unsqueeze(1)), strength=1.0, generator=gen)
    feats, _ = reader.read(x)
    vals = []
    for _ in range(8):
        picks = []
        for c in range(len(syllables)):
            idx = (train.labels == c).nonzero().squeeze(1)
            picks.append(idx[torch.randperm(len(idx), generator=gen)[:seeds]])
        vals.append(_mean_pairwise(feats[torch.stack(picks)]))
    ref = {"diversity_raw": sum(vals) / len(vals), "faces_id": faces_id(used), "faces": len(used),
           "images": len(train), "syllables": len(syllables), "seeds": seeds}
    write_text_atomic(path, json.dumps(ref))
    return ref


def evaluate_split_checkpoint(ckpt, *, reader, classifier=None, seeds: int = 8, run_dir=None) -> dict:
    """The evaluation record of one epoch of a split (jamo) run: readability of a fixed sample of
    its training syllables ('readability', so the best-epoch rule and the app read it as for any
    run) and of its held-out syllables, the 520 SERI95 classes read by the 520-class classifier
    (the fixed run's ruler), diversity against the real glyphs, component confusions."""
    from .checkpoints import load_generator
    from .evaluation import run_faces_id
    from .split import SyllableSplit
    t0 = time.time()
    run_dir = Path(ckpt).parent if run_dir is None else Path(run_dir)
    G, meta = load_generator(ckpt)
    classes = meta["class_list"]
    split = SyllableSplit.from_dict(json.loads((run_dir / "split.json").read_text(encoding="utf-8")))
    cfg = meta.get("config") or {}
    sample = seen_sample(split.train)
    try:
        run_faces = json.loads((run_dir / "data.json").read_text(encoding="utf-8")).get("faces")
    except (OSError, ValueError):
        run_faces = None
    ref = hangul_reference(reader, sample, seeds=seeds, size=G.cfg.size, data=cfg.get("data", "fonts"), faces=run_faces)
    seen = evaluate_syllables(G, classes=classes, syllables=sample, reader=reader, seeds=seeds)
    held = evaluate_syllables(G, classes=classes, syllables=split.heldout, reader=reader, seeds=seeds)
    n_ks = len(split.heldout_ksx1001)
    theirs = run_faces_id(run_dir)
    rec = {"epoch": meta["epoch"], "step": meta["step"], "images_seen": meta["images_seen"],
           "readability": round(seen["readability"], 5), "readability_heldout": round(held["readability"], 5),
           "readability_heldout_ksx1001": round(float(held["per_syllable"][:n_ks].mean()), 5),
           "readability_heldout_other": round(float(held["per_syllable"][n_ks:].mean()), 5),
           "diversity": round(seen["diversity_raw"] / ref["diversity_raw"], 4),
           "diversity_raw": round(seen["diversity_raw"], 4),
           "top_confusions": seen["component_confusions"], "top_confusions_heldout": held["component_confusions"],
           "failing_heldout": [s for s, v in zip(split.heldout, held["per_syllable"].tolist()) if v < 0.5],
           "seen_syllables": seen["n"], "heldout_syllables": held["n"], "seeds": seeds,
           "reader": reader.kind, "classifier_id": reader.file_id, "checkpoint": Path(ckpt).name,
           "reference": ref, "font_set_matches_run": None if theirs is None else theirs == ref["faces_id"]}
    if classifier is not None:
        s95 = evaluate_syllables(G, classes=classes, syllables=list(seri95()), reader=classifier, seeds=seeds)
        rec["readability_seri95"] = round(s95["readability"], 5)
        rec["seri95_classifier_id"] = classifier.file_id
    rec["failing_count"] = len(rec["failing_heldout"])
    rec["seconds"] = round(time.time() - t0, 1)
    rec["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return rec


def weight_sweep(G, *, classes: ClassList, syllables, reader, weights=(-2, -1, 0, 1, 2), seeds: int = 8) -> list[dict]:
    """Per stroke-weight setting: the mean ink ratio and the readability of the same writers and
    syllables (the control must change weight, not the syllable)."""
    out = []
    for w in weights:
        r = evaluate_syllables(G, classes=classes, syllables=syllables, reader=reader, seeds=seeds, weight=float(w))
        out.append({"weight": w, "ink": round(r["ink"], 5), "readability": round(r["readability"], 5)})
    return out
