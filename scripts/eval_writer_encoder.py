"""Measure a style-encoder writer (rekogan/writer/encoder.py, spike for issue 25) as scripts/eval_writer.py does.

The same unseen faces, references and compared syllables as `eval_writer.py --k K` (the class
universe, the seed-0 order, the first K trained syllables as references, the next --others as the
compared ones), the same per-face measures (eval_writer.measures: SSIM, L1, style top-1 among the
held-out faces, readability, readability of the syllables the run never trained on), and the same
retrieval baseline (the training face whose real references are nearest by eval_writer.objective).
Methods:
  encoder           E's writer (one forward pass) with the generator E was trained with
  encoder + fit     that writer as the start of the fit's per-layer latent stage and the adapter
                    (fit.py's stages and defaults, the seed search skipped), same generator
  fit NAME          (--fit-set NAME:KEY=VALUE,...) the app's fit itself (fit.fit from E's writer, the
                    codes for its read term) with those FitConfig overrides
--on validation measures the run's validation faces instead of the unseen ones (for choosing settings;
retrieval there: the nearest other training face; style top-1 among all training faces, and in the
group column among the validation faces).
--which best (the default; `last` where a run has no best yet) measures the weights a run kept by its
validation faces (training faces held out of E's training, never the faces measured here).
Reads checkpoints only; writes --out (JSON) when given.

  python scripts/eval_writer_encoder.py --run runs/writer_enc --refine --threads 1 --out runs/writer_enc/eval_final.json
  python scripts/eval_writer_encoder.py --run runs/writer_enc_fixed_lr --on validation --fit-set app: \
      --fit-set no-adapter:adapter=none --threads 1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from eval_writer import extra_faces, measures, objective, style_embedding, universe  # noqa: E402

from rekogan.checkpoints import load_generator, read_tensors  # noqa: E402
from rekogan.conventions import to_unit  # noqa: E402
from rekogan.data import load_splits  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402
from rekogan.writer.latent import layered_forward  # noqa: E402
from rekogan.writer.losses import ReaderFeatures  # noqa: E402


@dataclass
class Context:
    G0: torch.nn.Module               # the generator as shipped (eval mode, frozen)
    run_classes: object
    classes: object                   # the measured universe
    unseen_syl: set
    lab: torch.Tensor                 # measured column -> G's class index
    codes: torch.Tensor               # G's class index -> syllable code
    reader: object
    feats: ReaderFeatures
    train_images: torch.Tensor        # (F_train, C, S, S) uint8, training faces only (validation ones too)
    train_names: list
    val_names: list                   # training faces held out of E's training (validation)
    fit_rows: torch.Tensor            # rows of train_images E trains on (all but val_names)
    held: dict                        # name -> (C, 1, S, S) [-1, 1] real glyphs of each unseen face
    group: dict                       # name -> 'held-out system faces' | 'web faces'
    refs: torch.Tensor                # (k,) measured columns
    others: torch.Tensor              # (M,) measured columns
    unseen: torch.Tensor              # (M,) bool: compared syllable never trained
    syl_others: torch.Tensor
    emb_all: torch.Tensor             # (F_all, M, D) style gallery
    rows: dict                        # name -> row in emb_all
    heldout_rows: list
    group_rows: dict
    retrieval: dict                   # name -> measures of retrieval


def build_context(*, checkpoint: str, reader_path: str, k: int = 8, n_others: int = 128,
                  extra_dir: str | None = None, val_names=(), ref_seed: int = 0, log=print) -> Context:
    """val_names: training faces to hold out of E's training (they stay in retrieval's gallery: the
    baseline is the same with or without them). ref_seed: the syllable order's seed (0: eval_writer.py's;
    another gives other references and compared syllables, more samples for choosing settings)."""
    t0 = time.time()
    G, meta = load_generator(REPO / checkpoint)
    G = G.to(memory_format=torch.contiguous_format).eval()
    for p in G.parameters():
        p.requires_grad_(False)
    run_classes = meta["class_list"]
    classes, unseen_syl = universe(REPO / checkpoint, run_classes, G.cfg.size)
    lab = torch.tensor([run_classes.index(s) for s in classes])
    codes = torch.tensor([ord(run_classes.syllable(i)) - SBASE for i in range(len(run_classes))])
    reader = load_reader(REPO / reader_path)
    feats = ReaderFeatures(reader)
    train, held = load_splits("fonts", classes=classes, size=G.cfg.size)
    C, S = len(classes), G.cfg.size
    train_ids = sorted(set(train.groups.tolist()))
    pos = {gi: i for i, gi in enumerate(train_ids)}
    images = torch.zeros(len(train_ids), C, S, S, dtype=torch.uint8)
    images[torch.tensor([pos[int(g)] for g in train.groups]), train.labels] = train.images

    def glyphs(gs, gi):
        m = gs.groups == gi
        imgs = torch.zeros(C, S, S, dtype=torch.uint8)
        imgs[gs.labels[m]] = gs.images[m]
        return to_unit(imgs[:, None])

    # eval_writer.py's syllables: the seed-0 order, references among the trained ones
    perm = torch.randperm(C, generator=torch.Generator().manual_seed(ref_seed))
    trained = torch.tensor([classes.syllable(int(i)) not in unseen_syl for i in perm])
    refs = perm[trained][:k]
    others = perm[~torch.isin(perm, refs)][:n_others]
    unseen = torch.tensor([classes.syllable(int(i)) in unseen_syl for i in others])
    syl_others = torch.tensor([ord(classes.syllable(int(i))) - SBASE for i in others])
    held_real = {held.group_names[gi]: glyphs(held, gi) for gi in sorted(set(held.groups.tolist()))}
    group = {n: "held-out system faces" for n in held_real}
    if extra_dir:
        for name, imgs in extra_faces(extra_dir, classes, S, set(train.group_names)).items():
            held_real[name] = to_unit(torch.from_numpy(imgs)[:, None])
            group[name] = "web faces"
    train_names = [train.group_names[gi] for gi in train_ids]
    names = train_names + list(held_real)
    real_of = lambda n: to_unit(images[pos[train_ids[train_names.index(n)]]][:, None]) if n in train_names else held_real[n]  # noqa: E731
    emb_all = torch.stack([style_embedding(feats, real_of(n)[others]) for n in names])
    rows = {n: r for r, n in enumerate(names)}
    heldout_rows = [rows[n] for n in held_real]
    group_rows = {g: [rows[n] for n in held_real if group[n] == g] for g in set(group.values())}
    ctx = Context(G, run_classes, classes, unseen_syl, lab, codes, reader, feats, images, train_names,
                  [], torch.arange(len(train_names)), held_real, group, refs, others, unseen, syl_others, emb_all, rows,
                  heldout_rows, group_rows, {})
    train_refs = torch.stack([to_unit(images[i][refs][:, None]) for i in range(len(train_ids))])   # (T, k, 1, S, S)
    for n, R in held_real.items():                   # retrieval, as eval_writer.py picks it
        tf = [f.detach() for f in feats(R[refs])]
        ti = int(torch.stack([objective(feats, tr, R[refs], tf).mean() for tr in train_refs]).argmin())
        x = to_unit(images[ti][others][:, None])
        ctx.retrieval[n] = dict(_measure(ctx, n, x), face=train_names[ti])
    hold_out(ctx, val_names)
    log(f"context: {len(train_ids)} train faces, {len(held_real)} unseen, {C} syllables "
        f"({len(unseen_syl)} never trained), refs {''.join(classes.syllable(int(i)) for i in refs)} "
        f"({time.time() - t0:.0f} s)")
    return ctx


def hold_out(ctx: Context, val_names) -> None:
    """Keep the training faces val_names out of E's training (ctx.fit_rows) for validation."""
    unknown = sorted(set(val_names) - set(ctx.train_names))
    if unknown:
        raise ValueError(f"validation faces {unknown} are not training faces of this run")
    ctx.val_names = list(val_names)
    ctx.fit_rows = torch.tensor([i for i, n in enumerate(ctx.train_names) if n not in set(val_names)])


def _measure(ctx: Context, name: str, x: torch.Tensor) -> dict:
    return measures(x, ctx.held[name][ctx.others], ctx.emb_all, ctx.rows[name], ctx.heldout_rows, ctx.feats,
                    ctx.reader, ctx.syl_others, ctx.unseen, ctx.group_rows[ctx.group[name]])


def encode(E, G, ctx: Context, name: str) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """E's writer for face `name` from its k references: ((L, Z), weight () or None, adapter {name: (C,)} or {})."""
    return _encode_refs(E, G, ctx, ctx.held[name][ctx.refs])


def _encode_refs(E, G, ctx: Context, R: torch.Tensor):
    from rekogan.writer.encoder import start_writer     # the one place that turns references into E's writer
    return start_writer(E, G, R, ctx.lab[ctx.refs])


def validate(E, G, ctx: Context) -> dict:
    """E's writer on each validation face (held-out TRAINING faces) from the same k references as the
    measured faces, compared on every other syllable: {'ssim', 'l1', 'per_face': {name: ssim}}.
    What a run's best weights are chosen by; the measured unseen faces play no part."""
    from rekogan.writer.losses import ssim
    if not ctx.val_names:
        raise ValueError("this run has no validation faces")
    G.eval()
    refs = set(ctx.refs.tolist())
    cols = torch.tensor([c for c in range(len(ctx.classes)) if c not in refs])
    per, l1s = {}, []
    for n in ctx.val_names:
        real = to_unit(ctx.train_images[ctx.train_names.index(n)][:, None])
        lat, w, ad = _encode_refs(E, G, ctx, real[ctx.refs])
        s, l1 = [], []
        with torch.no_grad():
            for part in cols.split(256):             # bounded memory on a full class list
                x = layered_forward(G, lat[None].expand(len(part), -1, -1), ctx.lab[part],
                                    None if w is None else w.expand(len(part)), adapter=ad or None)
                s.append(ssim(x, real[part]))
                l1.append((x - real[part]).abs().mean(dim=(1, 2, 3)) / 2)
        per[n] = float(torch.cat(s).mean())
        l1s.append(float(torch.cat(l1).mean()))
    return {"ssim": sum(per.values()) / len(per), "l1": sum(l1s) / len(l1s), "per_face": per}


def refine(G, ctx: Context, name: str, latents: torch.Tensor, weight, *, objective: str = "fit", start=None):
    """fit.py's per-layer latent stage and adapter, started at E's writer (its seed search skipped;
    start: E's adapter, where the adapter stage starts).
    objective 'fit': fit.py's (pixel + reader features); 'recon': the measured one, L1 + (1 - SSIM)."""
    from rekogan.writer.adapter import AdapterTerms, fit_adapter
    from rekogan.writer.fit import FitConfig, _adam
    from rekogan.writer.losses import feature_distance, pixel_loss, ssim
    cfg = FitConfig()
    feats = ctx.feats
    y = ctx.lab[ctx.refs]
    targets = ctx.held[name][ctx.refs]
    with torch.no_grad():
        tf = [f.detach() for f in feats(targets)]
    lat = latents.clone().requires_grad_(True)
    w = None if weight is None else weight.reshape(1).clone().requires_grad_(True)
    params = [lat] + ([w] if w is not None else [])

    def glyph_term(x, t, f):
        if objective == "recon":
            return (x - t).abs().mean(dim=(1, 2, 3)) / 2 + 1 - ssim(x, t)
        return cfg.pixel * pixel_loss(x, t) + cfg.feature * feature_distance(feats(x), f)

    if objective == "recon":                         # fit._adam's schedule and spread pull, this objective
        import math
        opt = torch.optim.Adam(params, lr=cfg.lr_layers)
        k = len(y)
        for step in range(cfg.steps_layers):
            for g in opt.param_groups:
                g["lr"] = cfg.lr_layers * 0.5 * (1 + math.cos(math.pi * step / cfg.steps_layers))
            x = layered_forward(G, lat[None].expand(k, -1, -1), y, None if w is None else w.expand(k))
            loss = glyph_term(x, targets, tf).mean() + cfg.spread * (lat - lat.mean(0)).pow(2).sum(1).mean() / lat.shape[1]
            grads = torch.autograd.grad(loss, params)
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
    else:
        _adam(G, feats, params, lambda: (lat, w), y, targets, tf, cfg.steps_layers, cfg.lr_layers, cfg, [], 0)
    latents = lat.detach().half().float()
    wv = None if w is None else float(w.detach().half().float())
    adapter = fit_adapter(G, feats, latents, wv, y, targets, tf, kind=cfg.adapter, layers=cfg.adapter_layers,
                          rank=cfg.adapter_rank, steps=cfg.steps_adapter, lr=cfg.lr_adapter, others=cfg.others,
                          terms=AdapterTerms(content=cfg.content, keep=cfg.keep, anchor=cfg.anchor),
                          objective=glyph_term, trace=[], offset=0, codes=ctx.codes, start=start)
    return latents, wv, {k: v.half().float() for k, v in adapter.items()}


def evaluate(E, G, ctx: Context, *, names=None, with_refine: bool = False, objective: str = "fit") -> dict:
    """{'per_face': {name: {method: measures}}, 'mean': {group: {method: {measure: mean}}}, 'seconds': ...}."""
    G.eval()
    names = list(ctx.held) if names is None else names
    per, secs = {}, {"encoder": [], "encoder + fit": []}
    for n in names:
        t0 = time.perf_counter()
        lat, w, ad = encode(E, G, ctx, n)
        secs["encoder"].append(time.perf_counter() - t0)
        M = len(ctx.others)
        with torch.no_grad():
            x = layered_forward(G, lat[None].expand(M, -1, -1), ctx.lab[ctx.others], None if w is None else w.expand(M),
                                adapter=ad or None)
        per[n] = {"retrieval": ctx.retrieval[n], "encoder": _measure(ctx, n, x)}
        if with_refine:
            t0 = time.perf_counter()
            lat2, w2, ad = refine(G, ctx, n, lat, w, objective=objective, start=ad)
            secs["encoder + fit"].append(time.perf_counter() - t0)
            with torch.no_grad():
                x = layered_forward(G, lat2[None].expand(M, -1, -1), ctx.lab[ctx.others],
                                    None if w2 is None else torch.full((M,), w2), adapter=ad)
            per[n]["encoder + fit"] = _measure(ctx, n, x)
    mean = {}
    for g in sorted({ctx.group[n] for n in names}):
        fs = [n for n in names if ctx.group[n] == g]
        mean[g] = {m: {key: sum(per[n][m][key] for n in fs) / len(fs)
                       for key in ("ssim", "l1", "readable", "readable_heldout_syllables", "style_top1", "style_top1_group")
                       if key in per[fs[0]][m]}          # a class run has no never-trained syllables
                   for m in per[fs[0]]}
    return {"per_face": per, "mean": mean,
            "seconds": {m: sum(v) / len(v) for m, v in secs.items() if v}}


VALIDATION = "validation training faces"


def measure_on_validation(ctx: Context) -> None:
    """Make the run's validation faces (training faces held out of E's training, config.json's val_faces)
    the measured faces instead of the unseen ones, so that settings are chosen without looking at the
    unseen faces. Retrieval: the nearest OTHER training face (same objective); style top-1 is among
    all the run's training faces (`style_top1`) and among the validation faces (`style_top1_group`)."""
    if not ctx.val_names:
        raise ValueError("this run has no validation faces")
    held = {n: to_unit(ctx.train_images[ctx.train_names.index(n)][:, None]) for n in ctx.val_names}
    ctx.held, ctx.group = held, {n: VALIDATION for n in held}
    ctx.heldout_rows = [ctx.rows[n] for n in ctx.train_names]
    ctx.group_rows = {VALIDATION: [ctx.rows[n] for n in held]}
    train_refs = torch.stack([to_unit(ctx.train_images[i][ctx.refs][:, None]) for i in range(len(ctx.train_names))])
    ctx.retrieval = {}
    for n, R in held.items():
        tf = [f.detach() for f in ctx.feats(R[ctx.refs])]
        loss = torch.stack([objective(ctx.feats, tr, R[ctx.refs], tf).mean() for tr in train_refs])
        loss[ctx.train_names.index(n)] = float("inf")            # not the face itself
        ti = int(loss.argmin())
        x = to_unit(ctx.train_images[ti][ctx.others][:, None])
        ctx.retrieval[n] = dict(_measure(ctx, n, x), face=ctx.train_names[ti])


def fit_sets(specs) -> dict:
    """--fit-set 'NAME:KEY=VALUE,KEY=VALUE' strings -> {NAME: FitConfig overrides}; ValueError for a bad one."""
    from rekogan.writer.fit import FitConfig
    out = {}
    for spec in specs:
        name, _, pairs = spec.partition(":")
        if not name:
            raise ValueError(f"--fit-set {spec!r}: expected NAME:KEY=VALUE,... (NAME: for the defaults)")
        out[name] = FitConfig.overrides([kv for kv in pairs.split(",") if kv])
    return out


def app_fit(E, G, ctx: Context, name: str, over: dict) -> tuple[dict, float]:
    """The app's fit (rekogan.writer.fit.fit with the encoder, codes and FitConfig(**over)) on the face's
    k references, measured on the others: (measures, fit CPU seconds)."""
    from rekogan.writer.fit import FitConfig, fit
    y, M = ctx.lab[ctx.refs], len(ctx.others)
    t0 = time.process_time()
    r = fit(G, ctx.held[name][ctx.refs], y, reader_features=ctx.feats, config=FitConfig(**over), codes=ctx.codes,
            encoder=E)
    cpu = time.process_time() - t0
    with torch.no_grad():
        x = layered_forward(G, r.latents[None].expand(M, -1, -1), ctx.lab[ctx.others],
                            None if r.weight is None else torch.full((M,), r.weight), adapter=r.adapter)
    return dict(_measure(ctx, name, x), ref_ssim=r.losses["ssim"]), cpu


def load_run(run: Path, ctx: Context, which: str = "last"):
    """(E, G) from a run directory of scripts/train_writer_encoder.py (its fp16 weights)."""
    import copy
    from rekogan.writer.encoder import StyleEncoder
    cfg = json.loads((run / "config.json").read_text())
    E = StyleEncoder(**cfg["encoder"])
    t, _ = read_tensors(run / f"encoder_{which}.safetensors")
    E.load_state_dict({k: v.float() for k, v in t.items()})
    G = copy.deepcopy(ctx.G0)
    t, _ = read_tensors(run / f"generator_{which}.safetensors")
    G.load_state_dict({k: v.float() for k, v in t.items()})
    return E.eval(), G.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/writer_enc")
    ap.add_argument("--which", default="best", help="best (by the run's validation faces; last where none) or last")
    ap.add_argument("--refine", action="store_true", help="also 'encoder + fit'")
    ap.add_argument("--objective", choices=("fit", "recon"), default="fit",
                    help="the refinement's objective: fit.py's, or L1 + (1 - SSIM)")
    ap.add_argument("--extra-faces", metavar="DIR")
    ap.add_argument("--only-faces", type=int, default=None, help="the first N faces of each group")
    ap.add_argument("--on", choices=("unseen", "validation"), default="unseen",
                    help="the faces measured: the unseen ones (held-out system faces, --extra-faces), or the run's "
                         "validation faces (training faces held out of E's training: for choosing settings)")
    ap.add_argument("--fit-set", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                    help="also the app's fit (fit.fit from E's writer) with these FitConfig overrides, as row "
                         "'fit NAME' ('NAME:' for the defaults); repeatable")
    ap.add_argument("--ref-seed", type=int, default=0,
                    help="the seed of the syllable order (0, the default: eval_writer.py's references and compared "
                         "syllables; others: other ones, for choosing settings on more samples)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    try:
        sets = fit_sets(args.fit_set)
    except ValueError as e:
        ap.error(str(e))
    torch.set_num_threads(args.threads)
    run = REPO / args.run
    cfg = json.loads((run / "config.json").read_text())
    ctx = build_context(checkpoint=cfg["checkpoint"], reader_path=cfg["reader"], k=cfg["eval_k"],
                        n_others=cfg["eval_others"], extra_dir=args.extra_faces, val_names=cfg.get("val_faces", ()),
                        ref_seed=args.ref_seed)
    if args.on == "validation":
        try:
            measure_on_validation(ctx)
        except ValueError as e:
            ap.error(f"--on validation: {e} (train it with --val-faces)")
    which = args.which
    if which == "best" and not (run / "encoder_best.safetensors").is_file():
        print(f"{args.run} has no best weights (a run without validation faces): measuring the last ones", flush=True)
        which = "last"
    E, G = load_run(run, ctx, which)
    names = list(ctx.held)
    if args.only_faces is not None:
        names = [n for g in ("held-out system faces", "web faces", VALIDATION)
                 for n in [m for m in names if ctx.group[m] == g][:args.only_faces]]
    res = evaluate(E, G, ctx, names=names, with_refine=args.refine, objective=args.objective)
    for label, over in sets.items():                 # the app's fit, per setting
        cpu = []
        for n in names:
            m, c = app_fit(E, G, ctx, n, over)
            res["per_face"][n][f"fit {label}"] = m
            cpu.append(c)
            print(f"{n} fit {label}: ssim {m['ssim']:.3f} l1 {m['l1']:.4f} top1 {m['style_top1']:.0f}/"
                  f"{m['style_top1_group']:.0f} readable {m['readable']:.3f} ({c:.1f} CPU s)", flush=True)
        res["seconds"][f"fit {label}"] = sum(cpu) / len(cpu)
        for g, d in res["mean"].items():
            fs = [n for n in names if ctx.group[n] == g]
            d[f"fit {label}"] = {key: sum(res["per_face"][n][f"fit {label}"][key] for n in fs) / len(fs)
                                 for key in ("ssim", "l1", "readable", "style_top1", "style_top1_group")}
    print(json.dumps(res["mean"], indent=1), json.dumps(res["seconds"]))
    if args.out:
        from rekogan.records import write_text_atomic
        write_text_atomic(REPO / args.out, json.dumps(dict(res, which=which, command="python scripts/eval_writer_encoder.py "
                                                                + " ".join(argv or sys.argv[1:])), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
