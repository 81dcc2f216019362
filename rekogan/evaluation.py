"""How good is a generator? Readability, label collapse, diversity, classifier FD / IS.

All metrics use the project classifier (rekogan.classifier) over K seeds x all classes: seed s
(0..K-1) is one latent z = seed_to_z(s, truncation=1.0) shared by every class, i.e. one writer.

  readability      share of generated glyphs the classifier reads as the intended class (top-1,
                   argmax over all the classifier's classes)
  per_class        readability of each class; failing_classes = classes below 0.5 (label
                   collapse shows up as many failing classes and a few "attractor" readings)
  top_confusions   most frequent (intended -> read) pairs, e.g. 가 -> 긴
  diversity        mean pairwise distance between the K samples of one class in the
                   classifier's feature space, averaged over classes, divided by the same
                   measure on real data (K train-split images per class, augmented as in GAN
                   training, averaged over many random K-subsets). 1.0 = as varied as the
                   data, 0 = one image per class.
  classifier_fd    Frechet distance between the classifier features of the generated set and of
                   the (augmented) train split. NOT the FID: a different, small network.
  classifier_is    exp(E_x KL(p(y|x) || p(y))) with this classifier (Inception-Score analogue,
                   NOT the IS): 1 = one reading for everything, max = number of classes.

Real-data statistics (feature mean/covariance, real diversity) are computed once per
(classifier file, data and its identity, classes, size, K, augmentation) and cached in
~/.cache/rekogan (REKOGAN_EVAL_CACHE or REKOGAN_CACHE override the folder). The data's identity
is the installed font set for `fonts` (rekogan.data.fonts.font_set_id) and the file's size and
time for the other sources, so a machine with other fonts never reuses another's reference.

A run's record names the faces its reference was computed from; `evaluate_checkpoint` labels a
record whose faces differ from the run's own (data.json), and `write_record` refuses to put such
a record into the run's evaluation.jsonl: figures against another reference are not comparable.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .classifier import HangulClassifier, features_and_logits, load_classifier
from .conventions import to_unit
from .hangul import ClassList
from .records import atomic_path, by_epoch, locked, read_jsonl, write_jsonl_atomic
from .sampling import generate, seed_to_z

REF_VERSION = 2         # 2: keyed by the data's identity (the font set), records its faces
REF_DRAWS = 32          # random K-subsets per class for the real diversity
REF_SEED = 0            # augmentation / subset draws of the reference are fixed
FAIL_BELOW = 0.5
TOP_CONFUSIONS = 10


# ---- small maths ----------------------------------------------------------------------------

def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2), in float64 via symmetric eigendecompositions."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                      # S1^1/2
    m = r1 @ s2 @ r1                                                   # same eigenvalues as S1 S2
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def feature_stats(feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    f = feats.double().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def classifier_is(logits: torch.Tensor) -> float:
    p = torch.softmax(logits.double(), 1)
    py = p.mean(0, keepdim=True)
    kl = (p * (torch.log(p.clamp_min(1e-30)) - torch.log(py.clamp_min(1e-30)))).sum(1)
    return float(torch.exp(kl.mean()))


def mean_pairwise(feats: torch.Tensor) -> torch.Tensor:
    """(G, K, D) -> (G,) mean Euclidean distance over the K(K-1)/2 pairs of each group."""
    g, k, _ = feats.shape
    if k < 2:
        return torch.full((g,), float("nan"))
    d = torch.cdist(feats.double(), feats.double())                    # (G, K, K)
    return d.sum((1, 2)) / (k * (k - 1))


def as_classifier(classifier) -> HangulClassifier:
    """A HangulClassifier in eval mode from a classifier, a (model, meta) pair or a path."""
    if isinstance(classifier, (str, Path)):
        return load_classifier(classifier)[0]
    if isinstance(classifier, tuple):
        classifier = classifier[0]
    assert isinstance(classifier, HangulClassifier) or type(classifier).__name__ == "HangulClassifier", \
        f"not a classifier: {type(classifier).__name__}"
    assert classifier.class_list is not None, "the classifier does not know its class list (set .class_list)"
    return classifier.eval()


def class_map(classes: ClassList, clf: HangulClassifier) -> torch.Tensor:
    """Generator class index -> classifier class index."""
    missing = [s for s in classes if s not in clf.class_list]
    if missing:
        raise ValueError(f"the classifier ({len(clf.class_list)} classes) cannot read {len(missing)} of the "
                         f"generator's classes, e.g. {''.join(missing[:10])}; train one for these classes")
    return torch.tensor([clf.class_list.index(s) for s in classes], dtype=torch.int64)


# ---- real-data reference --------------------------------------------------------------------

def _cache_dir() -> Path:
    d = os.environ.get("REKOGAN_EVAL_CACHE") or os.environ.get("REKOGAN_CACHE") or "~/.cache/rekogan"
    return Path(d).expanduser()


def data_identity(data: str) -> str:
    """What the reference of a data spec depends on besides the spec: the installed font set for
    'fonts' / 'fonts:DIR', else the source path's size and modification time."""
    kind, _, path = data.partition(":")
    if kind == "fonts":
        from .data.fonts import font_set_id
        return "fonts:" + font_set_id([path] if path else None)
    try:
        st = Path(path).stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def faces_id(faces) -> str | None:
    """A short id of a list of face names (None when there is none): the reference's font set."""
    return hashlib.sha1(json.dumps(sorted(faces)).encode()).hexdigest()[:12] if faces else None


def _augmented_features(clf, images: torch.Tensor, strength: float, gen: torch.Generator, chunk: int = 1024):
    from .data.augment import augment
    feats, logits = [], []
    for i in range(0, len(images), chunk):
        x = to_unit(images[i:i + chunk].unsqueeze(1))
        if strength > 0:
            x = augment(x, strength=strength, generator=gen)
        f, lg = features_and_logits(clf, x)
        feats.append(f); logits.append(lg)
    return torch.cat(feats), torch.cat(logits)


def real_reference(classifier, *, classes: ClassList, size: int, seeds: int = 8, data: str = "fonts",
                   augment: float = 1.0, glyphs=None, use_cache: bool = True) -> dict:
    """Real-data statistics for one generator setup: feature mean/covariance of the (augmented) train
    split, mean pairwise feature distance of K real images per class, and, for scale, the
    classifier's readability / classifier_is / classifier_fd of the held-out faces.
    glyphs=(train, heldout) GlyphSets skips loading (and the disk cache)."""
    clf = as_classifier(classifier)
    cmap = class_map(classes, clf)
    key = None
    if use_cache and glyphs is None and clf.file_id:
        key = hashlib.sha1(json.dumps([REF_VERSION, clf.file_id, data, data_identity(data), list(classes), size, seeds,
                                       augment, REF_DRAWS, REF_SEED], ensure_ascii=False).encode()).hexdigest()[:16]
        path = _cache_dir() / f"evalref_{key}.npz"
        if path.exists():
            try:
                z = np.load(path, allow_pickle=False)
                ref = json.loads(str(z["meta"]))
                ref.update(mu=z["mu"], sigma=z["sigma"])
                return ref
            except (OSError, ValueError, KeyError):
                pass  # unreadable cache: recompute
    t0 = time.time()
    if glyphs is None:
        from .data import load_splits
        glyphs = load_splits(data, classes=classes, size=size)
    train, held = glyphs
    gen = torch.Generator().manual_seed(REF_SEED)
    f_tr, lg_tr = _augmented_features(clf, train.images, augment, gen)
    mu, sigma = feature_stats(f_tr)
    # real diversity: K images of one class (different faces), averaged over random K-subsets
    rng = torch.Generator().manual_seed(REF_SEED + 1)
    per_class = []
    for c in range(len(classes)):
        idx = (train.labels == c).nonzero().squeeze(1)
        if len(idx) < 2:
            continue
        k = min(seeds, len(idx))
        picks = torch.stack([idx[torch.randperm(len(idx), generator=rng)[:k]] for _ in range(REF_DRAWS)])
        per_class.append(float(mean_pairwise(f_tr[picks]).mean()))        # (draws, k, D) -> mean
    if not per_class:
        raise ValueError("real diversity needs >= 2 train images of at least one class")
    ref = {
        "diversity_raw": float(np.mean(per_class)), "n_images": len(train), "seeds": seeds, "augment": augment,
        "data": data, "size": size, "classes": len(classes), "split": "train",
        "faces": len(train.info.get("faces") or []), "faces_id": faces_id(train.info.get("faces")),
        "readability": float((lg_tr.argmax(1) == cmap[train.labels]).float().mean()),
        "classifier_is": classifier_is(lg_tr),
    }
    if held is not None and len(held):
        f_h, lg_h = _augmented_features(clf, held.images, augment, gen)
        mu_h, sig_h = feature_stats(f_h)
        ref["heldout_readability"] = float((lg_h.argmax(1) == cmap[held.labels]).float().mean())
        ref["heldout_classifier_fd"] = frechet_distance(mu_h, sig_h, mu, sigma)
    ref["seconds"] = round(time.time() - t0, 1)
    if key is not None:
        with atomic_path(_cache_dir() / f"evalref_{key}.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, meta=np.array(json.dumps(ref)))   # a file object: no .npz appended
    ref.update(mu=mu, sigma=sigma)
    return ref


# ---- the metrics ----------------------------------------------------------------------------

def generate_grid(G, n_classes: int, seeds: int, *, truncation: float = 1.0, batch: int = 260) -> torch.Tensor:
    """(K * C, 1, S, S) in [-1, 1]: seed-major (all classes of seed 0, then seed 1, ...)."""
    z = torch.stack([seed_to_z(s, G.cfg.z_dim, truncation=truncation) for s in range(seeds)])  # (K, Z)
    return generate(G, torch.arange(n_classes).repeat(seeds), z.repeat_interleave(n_classes, 0), batch=batch)


def evaluate_generator(G, *, classes: ClassList, classifier, seeds: int = 8, reference: dict | None = None) -> dict:
    """Metrics of a generator over `seeds` seeds x all classes (see the module docstring).

    G: any callable with .cfg.z_dim and .cfg.size, (z (N, Z), y (N,)) -> (N, 1, S, S) in [-1, 1],
    white ink on black; label i means classes[i]. classifier: a HangulClassifier (with
    .class_list), a (model, meta) pair or a path. reference: real_reference(...) for the
    diversity ratio and classifier_fd (None: those two are None, diversity_raw is still given)."""
    assert seeds >= 1, "seeds must be >= 1"
    t0 = time.time()
    clf = as_classifier(classifier)
    cmap = class_map(classes, clf)
    n = len(classes)
    imgs = generate_grid(G, n, seeds)
    assert imgs.ndim == 4 and imgs.shape[0] == n * seeds and imgs.shape[1] == 1, \
        f"generator must return (N, 1, S, S), got {tuple(imgs.shape)}"
    feats, logits = features_and_logits(clf, imgs.clamp(-1, 1))
    target = cmap.repeat(seeds)                                     # (K*C,)
    pred = logits.argmax(1)
    ok = (pred == target).float()
    per_class = ok.view(seeds, n).mean(0)                           # (C,)
    failing = [classes.syllable(i) for i in range(n) if per_class[i] < FAIL_BELOW]
    wrong = (pred != target).nonzero().squeeze(1).tolist()
    gen_idx = torch.arange(n).repeat(seeds)
    conf = Counter((classes.syllable(int(gen_idx[i])), clf.class_list.syllable(int(pred[i]))) for i in wrong)
    top = [{"intended": a, "read": b, "count": c} for (a, b), c in
           sorted(conf.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CONFUSIONS]]
    # distinct readings: collapse onto few attractor syllables shows here
    div_raw = float(mean_pairwise(feats.view(seeds, n, -1).transpose(0, 1)).mean()) if seeds >= 2 else None
    res = {
        "readability": float(ok.mean()),
        "per_class": [round(float(v), 4) for v in per_class],
        "failing_classes": failing, "failing_count": len(failing),
        "top_confusions": top,
        "distinct_readings": int(pred.unique().numel()),
        "diversity_raw": div_raw,
        "classifier_is": classifier_is(logits),
        "diversity": None, "classifier_fd": None,
        "seeds": seeds, "classes": n, "images": int(len(imgs)), "size": int(imgs.shape[-1]),
        "classifier_id": clf.file_id,
    }
    if reference is not None:
        if div_raw is not None and reference.get("diversity_raw"):
            res["diversity"] = div_raw / reference["diversity_raw"]
        mu, sigma = feature_stats(feats)
        res["classifier_fd"] = frechet_distance(mu, sigma, reference["mu"], reference["sigma"])
        res["reference"] = {k: v for k, v in reference.items() if k not in ("mu", "sigma")}
    res["seconds"] = round(time.time() - t0, 2)
    return res


# ---- per-run records ------------------------------------------------------------------------

_CLASSIFIERS: dict[tuple, HangulClassifier] = {}


def _cached_classifier(path) -> HangulClassifier:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"classifier not found: {path}; train it with `python -m rekogan classifier train "
                                f"--threads 1` (writes checkpoints/classifier/classifier.safetensors) or pass "
                                f"the path of one")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CLASSIFIERS:
        _CLASSIFIERS.clear()
        _CLASSIFIERS[key] = load_classifier(path)[0]
    return _CLASSIFIERS[key]


def read_evaluations(run_dir) -> list[dict]:
    """The records of run_dir/evaluation.jsonl, the last one of each epoch, by epoch (broken lines ignored)."""
    return list(by_epoch(read_jsonl(Path(run_dir) / "evaluation.jsonl")).values())


def reference_data(spec: str, run_dir) -> str:
    """The data source a run's checkpoints are evaluated against: the run's own (its config's `data`).

    A run trained on a packed file (`python -m rekogan pack`, made where the fonts are, for a GPU
    machine without them) is evaluated, where that file is not, against the source it was packed
    from (data.json's `packed_from`) when that is a font source: the same glyphs, rendered here.
    Whether they are the same faces is still checked (run_faces_id), so other installed fonts are
    labelled, not silently compared."""
    kind, _, path = spec.partition(":")
    if kind != "packed" or Path(path).exists():
        return spec
    try:
        info = json.loads((Path(run_dir) / "data.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    source = info.get("packed_from") if isinstance(info, dict) else None
    if isinstance(source, str) and source.partition(":")[0] == "fonts":
        return source
    raise FileNotFoundError(f"the run trained on {spec}, which is not here, and {Path(run_dir) / 'data.json'} names "
                            "no font source it was packed from; make the file again with `python -m rekogan pack` "
                            "from the run's data source")


def run_faces_id(run_dir) -> str | None:
    """faces_id of the faces a run trained on (its data.json), None when it does not say."""
    try:
        info = json.loads((Path(run_dir) / "data.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return faces_id(info.get("faces")) if isinstance(info, dict) else None


def plot_evaluation(run_dir, records: list[dict] | None = None):
    """run_dir/evaluation.png: readability and diversity (and classifier FD) against epoch."""
    run_dir = Path(run_dir)
    records = read_evaluations(run_dir) if records is None else records
    if not records:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    ep = [r["epoch"] for r in records]
    fig = Figure(figsize=(10, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 2)
    split = any("readability_heldout" in r for r in records)   # a run that writes any syllable
    ax[0].plot(ep, [r["readability"] for r in records], "o-",
               label="readability, seen syllables" if split else "readability (classifier top-1)")
    if split:
        ax[0].plot(ep, [r.get("readability_heldout", float("nan")) for r in records], "^-",
                   label="readability, held-out syllables")
    ax[0].plot(ep, [r["diversity"] if r.get("diversity") is not None else float("nan") for r in records],
               "s-", label="diversity (1 = as varied as the data)")
    ax[0].axhline(1.0, color="grey", lw=0.5, ls=":")
    ax[0].set_ylim(0, max(1.05, max((r.get("diversity") or 0) for r in records) * 1.05))
    ax[0].set_xlabel("epoch"); ax[0].legend(fontsize=8); ax[0].set_title(f"{run_dir.name}: readability, diversity")
    fd = [r.get("classifier_fd") for r in records]
    ax[1].plot(ep, [v if v is not None else float("nan") for v in fd], "o-", color="C2")
    ax[1].set_xlabel("epoch"); ax[1].set_title("classifier FD (lower is better; not FID)")
    if all(v is not None and v > 0 for v in fd) and max(fd) / max(min(fd), 1e-9) > 20:
        ax[1].set_yscale("log")
    else:
        ax[1].ticklabel_format(axis="y", useOffset=False)
    for a in ax:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    with atomic_path(run_dir / "evaluation.png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")


def evaluate_checkpoint(ckpt_path, *, classifier_path, seeds: int = 8, run_dir=None) -> dict:
    """The evaluation record of one epoch checkpoint (nothing is written but the reference cache).
    `font_set_matches_run` says whether the reference's faces are the run's own (data.json in
    run_dir, default the checkpoint's folder); None when the run does not record its faces."""
    from .checkpoints import load_generator
    t0 = time.time()
    run_dir = Path(ckpt_path).parent if run_dir is None else Path(run_dir)
    clf = _cached_classifier(classifier_path)
    G, meta = load_generator(ckpt_path)
    cfg = meta.get("config") or {}
    classes = meta["class_list"]
    ref = real_reference(clf, classes=classes, size=G.cfg.size, seeds=seeds,
                         data=reference_data(cfg.get("data", "fonts"), run_dir),
                         augment=float(cfg.get("augment", 1.0)))
    res = evaluate_generator(G, classes=classes, classifier=clf, seeds=seeds, reference=ref)
    theirs, ours = run_faces_id(run_dir), ref.get("faces_id")
    return {
        "epoch": meta["epoch"], "step": meta["step"], "images_seen": meta["images_seen"],
        "readability": round(res["readability"], 5),
        "diversity": None if res["diversity"] is None else round(res["diversity"], 4),
        "classifier_fd": round(res["classifier_fd"], 4), "classifier_is": round(res["classifier_is"], 3),
        "failing_count": res["failing_count"], "failing_classes": res["failing_classes"],
        "top_confusions": res["top_confusions"], "distinct_readings": res["distinct_readings"],
        "per_class": res["per_class"], "classes": "".join(classes), "seeds": seeds,
        "classifier_id": clf.file_id, "classifier": str(classifier_path),
        "checkpoint": Path(ckpt_path).name,
        "reference": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in res["reference"].items()},
        "font_set_matches_run": None if theirs is None or ours is None else theirs == ours,
        "seconds": round(time.time() - t0, 2), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def write_record(run_dir, record: dict) -> None:
    """Put a record into run_dir/evaluation.jsonl (replacing an earlier one of the same epoch) and
    redraw evaluation.png. A record computed against other faces than the run's is refused."""
    run_dir = Path(run_dir)
    if record.get("font_set_matches_run") is False:
        ref = record.get("reference") or {}
        raise ValueError(f"epoch {record['epoch']}: the reference was computed from {ref.get('faces')} faces "
                         f"({ref.get('n_images')} images) that are not the faces the run trained on "
                         f"({run_dir / 'data.json'}); its figures would not compare with the run's other records, "
                         "so it is not written. Evaluate where the run's fonts are installed.")
    run_dir.mkdir(parents=True, exist_ok=True)
    with locked(run_dir):
        records = [r for r in read_evaluations(run_dir) if r["epoch"] != record["epoch"]] + [record]
        records.sort(key=lambda r: r["epoch"])
        write_jsonl_atomic(run_dir / "evaluation.jsonl", records)
        plot_evaluation(run_dir, records)


def record_evaluation(run_dir, ckpt_path, *, classifier_path, seeds: int = 8) -> dict:
    """evaluate_checkpoint + write_record: what training does after each epoch. Returns the record."""
    record = evaluate_checkpoint(ckpt_path, classifier_path=classifier_path, seeds=seeds, run_dir=run_dir)
    write_record(run_dir, record)
    return record
