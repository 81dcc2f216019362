"""Train a style encoder with a fine-tune of the generator on paired glyphs (spike for issue 25).

Starts from a shipped generator (read only) and a reader; trains on the run's training faces only
(the 8 held-out system faces are left out by rekogan.data.load_splits, the web faces are never
loaded) and on syllables the run trained on (its held-out syllables stay unseen, as in
eval_writer.py). Either run: the hangul one (all 11,172 syllables, jamo condition, the component
reader) or the fixed one (its 520 SERI95 classes; --checkpoint checkpoints/fixed/epoch_186.safetensors
--reader checkpoints/classifier/classifier.safetensors, eval_writer.py's defaults for it): G's class
index is mapped to its syllable code for the reader's loss either way.

--val-faces N (default 6) of the training faces, drawn by --seed and recorded in config.json, are
kept out of training: every --eval-every CPU-seconds E is measured on them (eval_writer_encoder.validate)
and the weights with the best validation SSIM are kept (encoder_best / generator_best). The unseen
faces are measured at the same time (as scripts/eval_writer.py does, next to retrieval) for the
learning curve only; they choose nothing. The run ends by measuring the best weights on them.

Run directory (--run): config.json, metrics.jsonl (one line per --log-every steps and per eval),
state.safetensors (resume: E, G, Adam, counters; written atomically), encoder_last.safetensors and
generator_last.safetensors (fp16), encoder_best / generator_best (by validation). Rerunning the same
command resumes (at the command's --lr-e / --lr-g, logged as a 'resume' event); --cpu-minutes is the total.
--init FILE starts a NEW run (no state.safetensors yet) from saved weights instead of the shipped
generator and a zero-headed encoder: a file of `E.*` and `G.*` tensors, as resume/writer_enc_fixed.safetensors
was (shipped as checkpoints/fixed-hand, then removed: in git history)
(Adam starts afresh; the anchor still pulls G toward --checkpoint, the GAN's own weights).
--init-encoder FILE starts a new run's E only from another run's E.* (e.g. the hangul spike's for the
fixed run: resume/writer_enc.safetensors, in git history at fb52366): the reading layers are copied, the parts tied to the other generator are not (see
load_encoder_init); G starts as shipped.

--extra-train NPZ adds faces drawn by another generator (scripts/make_hand_faces.py: the 11,172-syllable
hand run writing this run's syllables in new writers between and beyond the training faces) to the
training rows: trained on like the real faces, never validated or measured on. A file drawn from this
run's validation faces, or in another syllable order or size, is refused; config.json records its
sha256 and the command that made it.

--feature W adds the fit's perceptual distance of the drawn to the real glyphs in a reader's features
(conditioned.PairedConfig.feature; off by default); --feature-reader picks the reader(s), default --reader.

  nice -n 5 timeout 75m .venv/bin/python scripts/train_writer_encoder.py --run runs/writer_enc --cpu-minutes 70
  nice -n 5 .venv/bin/python scripts/train_writer_encoder.py --run runs/writer_enc_fixed --bf16 \
      --checkpoint checkpoints/fixed/epoch_186.safetensors --reader checkpoints/classifier/classifier.safetensors \
      --init-encoder resume/writer_enc.safetensors --augment 0.3 --cpu-minutes 22 --eval-every 150
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from eval_writer_encoder import build_context, evaluate, hold_out, load_run, validate  # noqa: E402

from rekogan.checkpoints import save_tensors  # noqa: E402
from rekogan.records import append_jsonl, write_text_atomic  # noqa: E402
from rekogan.writer.conditioned import (PairedConfig, load_resume, make_optimizer, sample_batch,  # noqa: E402
                                        save_resume, train_step, validation_split)
from rekogan.writer.encoder import encoder_for, n_bytes_fp16  # noqa: E402

STATE = "state.safetensors"


def save_weights(run: Path, E, G, tag: str) -> None:
    save_tensors(run / f"encoder_{tag}.safetensors", {k: v.half() for k, v in E.state_dict().items()},
                 {"format": "rekogan-writer-encoder-spike", "config": json.dumps(E.config)})
    save_tensors(run / f"generator_{tag}.safetensors", {k: v.half() for k, v in G.state_dict().items()},
                 {"format": "rekogan-writer-encoder-spike-generator"})


def load_init(path: Path, *, E, G) -> None:
    """E.* and G.* tensors of `path` into E and G (every tensor of both must be there)."""
    from safetensors.torch import load_file
    tensors = load_file(str(path))
    for prefix, module in (("E.", E), ("G.", G)):
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not sd:
            raise SystemExit(f"--init {path}: no {prefix}* tensors")
        want = module.state_dict()
        missing, extra = sorted(set(want) - set(sd)), sorted(set(sd) - set(want))
        if prefix == "E." and missing and all(k.startswith("adapt.") for k in missing):
            # an encoder without the adapter head: the new head starts as a new encoder's does, its last
            # layer at zero (no change), its first as initialised
            last = f"adapt.{len(module.adapt) - 1}."
            sd.update({k: torch.zeros_like(want[k]) if k.startswith(last) else want[k] for k in missing})
            missing = []
        shaped = sorted(k for k in set(want) & set(sd) if want[k].shape != sd[k].shape)
        if missing or extra or shaped:
            raise SystemExit(f"--init {path}: {prefix}* does not fit (missing {missing[:3]}, unexpected {extra[:3]}, "
                             f"other shapes {shaped[:3]})")
        module.load_state_dict({k: v.to(want[k].dtype) for k, v in sd.items()})


def load_encoder_init(path: Path, *, E) -> list[str]:
    """Another run's E.* into E where it means the same for this generator: the convolutions, the
    per-reference layers' image columns and the first head layer. Not copied: the columns that read
    the syllable embedding (another generator's embedding space) and the last head layer, which
    stays zero (E still starts at the prior's mean of THIS generator; the other run's latents mean
    nothing here). Returns the names copied whole or in part."""
    from safetensors.torch import load_file
    src = {k[2:]: v for k, v in load_file(str(path)).items() if k.startswith("E.")}
    if not src:
        raise SystemExit(f"--init-encoder {path}: no E.* tensors")
    sd, copied = E.state_dict(), []
    cond = E.config["cond_dim"]
    last = f"head.{len(E.head) - 1}."
    for name, t in sd.items():
        if name.startswith(last) or name not in src:
            continue
        v = src[name]
        if name == "per_ref.0.weight" and v.shape == t.shape:
            t[:, :-cond] = v[:, :-cond].to(t.dtype)             # image columns only
        elif v.shape == t.shape:
            t.copy_(v.to(t.dtype))
        else:
            raise SystemExit(f"--init-encoder {path}: E.{name} is {tuple(v.shape)}, this encoder's {tuple(t.shape)}")
        copied.append(name)
    if not any(n.startswith("body.") for n in copied):
        raise SystemExit(f"--init-encoder {path}: no convolution of this encoder's shape")
    E.load_state_dict(sd)
    return copied


def load_extra(path: Path, ctx) -> tuple[torch.Tensor, dict]:
    """--extra-train: (N, C, S, S) uint8 faces in ctx's measured column order, and what config.json records."""
    import hashlib
    import numpy as np
    if not path.is_file():
        raise SystemExit(f"error: --extra-train {path} does not exist (scripts/make_hand_faces.py writes it)")
    try:
        with np.load(path) as d:
            images, syllables = d["images"], [str(s) for s in d["syllables"]]
            recipe = json.loads(str(d["recipe"]))
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"error: --extra-train {path} is not a faces file ({e})") from None
    want = [ctx.classes.syllable(i) for i in range(len(ctx.classes))]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != tuple(ctx.train_images.shape[1:]):
        raise SystemExit(f"error: --extra-train faces are {images.dtype} {images.shape}; this run needs uint8 "
                         f"(N, {', '.join(map(str, ctx.train_images.shape[1:]))})")
    if syllables != want:
        raise SystemExit("error: --extra-train faces are not in this run's syllable order (draw them with "
                         "make_hand_faces.py --classes-from this run's checkpoint)")
    used = {n for f in recipe.get("faces", []) for n in (f.get("a"), f.get("b"))}
    if used & set(ctx.val_names):
        raise SystemExit(f"error: --extra-train faces were drawn from this run's validation faces "
                         f"({', '.join(sorted(used & set(ctx.val_names)))}); make them with its --seed / --val-faces")
    info = {"path": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path), "faces": len(images),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "command": recipe.get("command"),
            "excluded_validation_faces": recipe.get("excluded_validation_faces", [])}
    return torch.from_numpy(images), info


def feature_readers(spec: str | None, ctx, *, reader: str):
    """--feature-reader: the features PairedConfig.feature compares in. None or --reader itself: ctx.feats (the
    same network as the read term, so one pass serves both); one other path: its ReaderFeatures; two: both,
    losses.JointFeatures."""
    from rekogan.reader import load_reader
    from rekogan.writer.losses import JointFeatures, ReaderFeatures
    paths = [p for p in (spec or "").split(",") if p]
    if len(paths) > 2:
        raise SystemExit(f"error: --feature-reader takes one or two readers, got {len(paths)}")
    built = []
    for path in paths:
        if path == reader:
            built.append(ctx.feats)
            continue
        built.append(ReaderFeatures(load_reader(str(REPO / path))))
    if not built:
        return ctx.feats
    return built[0] if len(built) == 1 else JointFeatures(*built)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/writer_enc")
    ap.add_argument("--checkpoint", default="checkpoints/hangul/epoch_068.safetensors")
    ap.add_argument("--reader", default="checkpoints/reader/reader.safetensors")
    ap.add_argument("--cpu-minutes", type=float, default=70.0, help="total process CPU time of training (all runs)")
    ap.add_argument("--eval-every", type=float, default=600.0, help="CPU seconds between evaluations")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bf16", action="store_true",
                    help="bf16 autocast for the forward pass: only on a CPU with bf16 instructions (avx512_bf16, AMX); "
                         "without them it is emulated and slower (2026-12-03, a 2-core Xeon with AVX-512 only, the "
                         "fixed-hand run: 28 steps per CPU-minute with it, 100 without)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default=None, metavar="FILE", help="start a new run from E.*/G.* weights (see above)")
    ap.add_argument("--init-encoder", default=None, metavar="FILE", help="start a new run's E from another run's E.* (see above)")
    ap.add_argument("--val-faces", type=int, default=6, help="training faces held out for choosing the best weights")
    ap.add_argument("--adapter-head", action="store_true",
                    help="E also predicts the writer's per-channel modulation (encoder.py); --init may then be a "
                         "file without that head (it starts at zero)")
    ap.add_argument("--extra-train", default=None, metavar="NPZ",
                    help="more training faces (scripts/make_hand_faces.py): trained on, never validated on")
    ap.add_argument("--feature-reader", default=None, metavar="PATH[,PATH]",
                    help="the reader(s) whose features --feature compares drawn and real glyphs in (default: --reader; "
                         "two, comma-separated: both readers' features side by side, losses.JointFeatures)")
    ap.add_argument("--eval-k", type=int, default=8, help="references per measured face")
    ap.add_argument("--eval-others", type=int, default=128, help="compared syllables per measured face")
    for name, value in PairedConfig().to_dict().items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = ap.parse_args(argv)
    for path in filter(None, (args.feature_reader or "").split(",")):   # before the minutes of building the context
        if not (REPO / path).is_file():
            raise SystemExit(f"error: --feature-reader {path} does not exist")
    torch.set_num_threads(args.threads)
    run = REPO / args.run
    run.mkdir(parents=True, exist_ok=True)
    pcfg = PairedConfig(**{k: getattr(args, k) for k in PairedConfig().to_dict()})
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    resumed = (run / STATE).is_file()
    ctx = build_context(checkpoint=args.checkpoint, reader_path=args.reader, k=args.eval_k, n_others=args.eval_others,
                        log=log)
    if resumed:                                          # a resumed run keeps its recorded validation faces
        val_names = json.loads((run / "config.json").read_text()).get("val_faces", [])
    else:
        val_names = validation_split(ctx.train_names, args.val_faces, seed=args.seed)
    hold_out(ctx, val_names)
    G = copy.deepcopy(ctx.G0)
    for p in G.parameters():
        p.requires_grad_(True)
    originals = {n: p.detach().clone() for n, p in ctx.G0.named_parameters()}
    torch.manual_seed(args.seed)
    E = encoder_for(G, adapter=args.adapter_head)
    if args.init and args.init_encoder:
        raise SystemExit("--init and --init-encoder: give one")
    if args.init and not resumed:
        load_init(REPO / args.init, E=E, G=G)
        log(f"started from {args.init}")
    if args.init_encoder and not resumed:
        copied = load_encoder_init(REPO / args.init_encoder, E=E)
        log(f"E started from {args.init_encoder}: {', '.join(copied)}")
    opt = make_optimizer(E, G, pcfg)
    extra, extra_info = (load_extra(REPO / args.extra_train, ctx) if args.extra_train else (None, None))
    style_feats = feature_readers(args.feature_reader, ctx, reader=args.reader)
    pool = torch.tensor([i for i in range(len(ctx.classes)) if ctx.classes.syllable(i) not in ctx.unseen_syl])
    config = {"checkpoint": args.checkpoint, "reader": args.reader, "init": args.init, "init_encoder": args.init_encoder,
              "paired": pcfg.to_dict(), "feature_reader": (args.feature_reader or args.reader) if pcfg.feature else None, "encoder": E.config,
              "bf16": args.bf16, "threads": args.threads, "seed": args.seed,
              "train_faces": [n for n in ctx.train_names if n not in set(val_names)], "val_faces": val_names,
              "extra_train": extra_info,
              "pool_syllables": len(pool), "eval_k": args.eval_k, "eval_others": args.eval_others,
              "encoder_fp16_bytes": n_bytes_fp16(E)}
    counters = {"step": 0, "cpu_s": 0, "last_eval_cpu_s": -1, "best_val_ssim": None, "best_step": None}
    gen = torch.Generator().manual_seed(args.seed)
    if (run / STATE).is_file():
        counters = load_resume(run / STATE, E=E, G=G, opt=opt, gen=gen)
        # Adam's state restores the learning rates it was saved with; the command's --lr-e/--lr-g win
        # (the moments are kept), so a resumed run can continue at a lower rate, and the log says so
        for group, lr in zip(opt.param_groups, (pcfg.lr_e, pcfg.lr_g)):
            group["lr"] = lr
        append_jsonl(run / "metrics.jsonl", {"event": "resume", "step": counters["step"], "lr_e": pcfg.lr_e,
                                             "lr_g": pcfg.lr_g, "command": "python scripts/train_writer_encoder.py "
                                             + " ".join(argv or sys.argv[1:])})
        log(f"resumed at step {counters['step']} ({counters['cpu_s'] / 60:.1f} CPU-min), lr-e {pcfg.lr_e:g}, lr-g {pcfg.lr_g:g}")
    else:
        write_text_atomic(run / "config.json", json.dumps(config, indent=1, ensure_ascii=False))
        append_jsonl(run / "metrics.jsonl", {"event": "start", "command": "python scripts/train_writer_encoder.py "
                                             + " ".join(argv or sys.argv[1:])})
    log(f"E: {sum(p.numel() for p in E.parameters()):,} parameters, {n_bytes_fp16(E):,} bytes fp16; "
        f"pool {len(pool)} syllables, {len(ctx.fit_rows)} training faces, validation: {', '.join(val_names) or 'none'}")
    train_images = ctx.train_images[ctx.fit_rows]
    if extra is not None:
        train_images = torch.cat([train_images, extra])                  # (F_fit + N, C, S, S)
        log(f"+ {len(extra)} faces from {args.extra_train}: {len(train_images)} training faces in all")

    def checkpoint():
        save_resume(run / STATE, E=E, G=G, opt=opt, counters=counters, gen=gen)
        save_weights(run, E, G, "last")

    def measure(E, G, event: str) -> dict:
        c0 = time.process_time()
        res = evaluate(E, G, ctx)
        m = res["mean"]["held-out system faces"]
        rec = {"event": event, "step": counters["step"], "cpu_min": round(counters["cpu_s"] / 60, 2),
               "encoder": m["encoder"], "retrieval": m["retrieval"], "encode_s": res["seconds"]["encoder"]}
        if ctx.val_names:
            v = validate(E, G, ctx)
            rec["validation"] = {"ssim": v["ssim"], "l1": v["l1"]}
        rec["eval_cpu_s"] = round(time.process_time() - c0, 1)
        never = m["encoder"].get("readable_heldout_syllables")
        log(f"{event.upper()} step {counters['step']} ({rec['cpu_min']} CPU-min): "
            + (f"validation SSIM {rec['validation']['ssim']:.3f} L1 {rec['validation']['l1']:.4f} | " if ctx.val_names else "")
            + f"unseen: encoder SSIM {m['encoder']['ssim']:.3f} L1 {m['encoder']['l1']:.4f} readable {m['encoder']['readable']:.3f} "
            + (f"(never-trained syl. {never:.3f}) " if never is not None else "")
            + f"top-1 {m['encoder']['style_top1_group']:.2f} | retrieval {m['retrieval']['ssim']:.3f} / {m['retrieval']['l1']:.4f}")
        return rec

    def do_eval():
        c0 = time.process_time()
        rec = measure(E, G, "eval")
        if "validation" in rec and (counters.get("best_val_ssim") is None
                                    or rec["validation"]["ssim"] > counters["best_val_ssim"]):
            counters["best_val_ssim"], counters["best_step"] = rec["validation"]["ssim"], counters["step"]
            save_weights(run, E, G, "best")                 # chosen by the validation faces alone
            rec["best"] = True
        append_jsonl(run / "metrics.jsonl", rec)
        counters["last_eval_cpu_s"] = counters["cpu_s"]
        spent["eval"] += time.process_time() - c0      # evaluation is not training time

    spent = {"eval": 0.0}
    if counters["step"] == 0:
        do_eval()
    budget = args.cpu_minutes * 60
    acc = []
    c_start, cpu0, spent["eval"] = time.process_time(), counters["cpu_s"], 0.0
    while counters["cpu_s"] < budget:
        b = sample_batch(train_images, pool, faces=pcfg.faces, k=pcfg.k, targets=pcfg.targets, gen=gen,
                         label_of=ctx.lab, augment=pcfg.augment)
        parts = train_step(E, G, b, opt, feats=ctx.feats, codes=ctx.codes, originals=originals, cfg=pcfg,
                           autocast=args.bf16, style_feats=style_feats)
        acc.append(parts)
        counters["step"] += 1
        counters["cpu_s"] = cpu0 + (time.process_time() - c_start - spent["eval"])
        if counters["step"] % args.log_every == 0:
            mean = {k: round(sum(p[k] for p in acc) / len(acc), 5) for k in acc[0]}
            append_jsonl(run / "metrics.jsonl", {"event": "train", "step": counters["step"],
                                                 "cpu_min": round(counters["cpu_s"] / 60, 2), **mean})
            log(f"step {counters['step']} ({counters['cpu_s'] / 60:.1f} CPU-min): {mean}")
            acc = []
        if counters["cpu_s"] - counters["last_eval_cpu_s"] >= args.eval_every:
            do_eval()
            checkpoint()
    do_eval()
    checkpoint()
    if (run / "encoder_best.safetensors").is_file():      # what the run reports: its best-by-validation weights
        Eb, Gb = load_run(run, ctx, "best")
        rec = measure(Eb, Gb, "final_best")
        rec["best_step"] = counters["best_step"]
        append_jsonl(run / "metrics.jsonl", rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
