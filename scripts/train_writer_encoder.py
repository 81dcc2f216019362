"""Train a style encoder with a fine-tune of the generator on paired glyphs (spike for issue 25).

Starts from a shipped generator (read only) and the component reader; trains on the run's training
faces only (the 8 held-out system faces are left out by rekogan.data.load_splits, the web faces are
never loaded) and on syllables the run trained on (its held-out syllables stay unseen, as in
eval_writer.py). Every --eval-every CPU-seconds, the writer of E alone is measured on the unseen faces
as scripts/eval_writer.py does (scripts/eval_writer_encoder.py), next to retrieval.

Run directory (--run): config.json, metrics.jsonl (one line per --log-every steps and per eval),
state.safetensors (resume: E, G, Adam, counters; written atomically), encoder_last.safetensors and
generator_last.safetensors (fp16). Rerunning the same command resumes; --cpu-minutes is the total.
--init FILE starts a NEW run (no state.safetensors yet) from saved weights instead of the shipped
generator and a zero-headed encoder: a file of `E.*` and `G.*` tensors, as resume/writer_enc.safetensors
(Adam starts afresh; the anchor still pulls G toward --checkpoint, the GAN's own weights).

  nice -n 5 timeout 75m .venv/bin/python scripts/train_writer_encoder.py --run runs/writer_enc --cpu-minutes 70
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

from eval_writer_encoder import build_context, evaluate  # noqa: E402

from rekogan.checkpoints import save_tensors  # noqa: E402
from rekogan.records import append_jsonl, write_text_atomic  # noqa: E402
from rekogan.writer.conditioned import (PairedConfig, load_resume, make_optimizer, sample_batch,  # noqa: E402
                                        save_resume, train_step)
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
        shaped = sorted(k for k in set(want) & set(sd) if want[k].shape != sd[k].shape)
        if missing or extra or shaped:
            raise SystemExit(f"--init {path}: {prefix}* does not fit (missing {missing[:3]}, unexpected {extra[:3]}, "
                             f"other shapes {shaped[:3]})")
        module.load_state_dict({k: v.to(want[k].dtype) for k, v in sd.items()})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/writer_enc")
    ap.add_argument("--checkpoint", default="checkpoints/hangul/epoch_068.safetensors")
    ap.add_argument("--reader", default="checkpoints/reader/reader.safetensors")
    ap.add_argument("--cpu-minutes", type=float, default=70.0, help="total process CPU time of training (all runs)")
    ap.add_argument("--eval-every", type=float, default=600.0, help="CPU seconds between evaluations")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward pass")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default=None, metavar="FILE", help="start a new run from E.*/G.* weights (see above)")
    for name, value in PairedConfig().to_dict().items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = REPO / args.run
    run.mkdir(parents=True, exist_ok=True)
    pcfg = PairedConfig(**{k: getattr(args, k) for k in PairedConfig().to_dict()})
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    ctx = build_context(checkpoint=args.checkpoint, reader_path=args.reader, k=8, n_others=128, log=log)
    G = copy.deepcopy(ctx.G0)
    for p in G.parameters():
        p.requires_grad_(True)
    originals = {n: p.detach().clone() for n, p in ctx.G0.named_parameters()}
    torch.manual_seed(args.seed)
    E = encoder_for(G)
    if args.init and not (run / STATE).is_file():
        load_init(REPO / args.init, E=E, G=G)
        log(f"started from {args.init}")
    opt = make_optimizer(E, G, pcfg)
    pool = torch.tensor([i for i in range(len(ctx.classes)) if ctx.classes.syllable(i) not in ctx.unseen_syl])
    config = {"checkpoint": args.checkpoint, "reader": args.reader, "init": args.init, "paired": pcfg.to_dict(), "encoder": E.config,
              "bf16": args.bf16, "threads": args.threads, "seed": args.seed, "train_faces": ctx.train_names,
              "pool_syllables": len(pool), "eval_k": 8, "eval_others": 128,
              "encoder_fp16_bytes": n_bytes_fp16(E)}
    counters = {"step": 0, "cpu_s": 0, "last_eval_cpu_s": -1}
    gen = torch.Generator().manual_seed(args.seed)
    if (run / STATE).is_file():
        counters = load_resume(run / STATE, E=E, G=G, opt=opt, gen=gen)
        log(f"resumed at step {counters['step']} ({counters['cpu_s'] / 60:.1f} CPU-min)")
    else:
        write_text_atomic(run / "config.json", json.dumps(config, indent=1, ensure_ascii=False))
        append_jsonl(run / "metrics.jsonl", {"event": "start", "command": "python scripts/train_writer_encoder.py "
                                             + " ".join(argv or sys.argv[1:])})
    log(f"E: {sum(p.numel() for p in E.parameters()):,} parameters, {n_bytes_fp16(E):,} bytes fp16; "
        f"pool {len(pool)} syllables, {len(ctx.train_images)} faces")

    def checkpoint():
        save_resume(run / STATE, E=E, G=G, opt=opt, counters=counters, gen=gen)
        save_weights(run, E, G, "last")

    def do_eval():
        c0 = time.process_time()
        res = evaluate(E, G, ctx)
        m = res["mean"]["held-out system faces"]
        rec = {"event": "eval", "step": counters["step"], "cpu_min": round(counters["cpu_s"] / 60, 2),
               "encoder": m["encoder"], "retrieval": m["retrieval"], "encode_s": res["seconds"]["encoder"],
               "eval_cpu_s": round(time.process_time() - c0, 1)}
        append_jsonl(run / "metrics.jsonl", rec)
        log(f"EVAL step {counters['step']} ({rec['cpu_min']} CPU-min): encoder SSIM {m['encoder']['ssim']:.3f} "
            f"L1 {m['encoder']['l1']:.4f} readable {m['encoder']['readable']:.3f} "
            f"(never-trained syl. {m['encoder']['readable_heldout_syllables']:.3f}) top-1 {m['encoder']['style_top1_group']:.2f}"
            f" | retrieval {m['retrieval']['ssim']:.3f} / {m['retrieval']['l1']:.4f}")
        counters["last_eval_cpu_s"] = counters["cpu_s"]
        spent["eval"] += time.process_time() - c0      # evaluation is not training time

    spent = {"eval": 0.0}
    if counters["step"] == 0:
        do_eval()
    budget = args.cpu_minutes * 60
    acc = []
    c_start, cpu0, spent["eval"] = time.process_time(), counters["cpu_s"], 0.0
    while counters["cpu_s"] < budget:
        b = sample_batch(ctx.train_images, pool, faces=pcfg.faces, k=pcfg.k, targets=pcfg.targets, gen=gen,
                         label_of=ctx.lab)
        parts = train_step(E, G, b, opt, feats=ctx.feats, codes=ctx.codes, originals=originals, cfg=pcfg,
                           autocast=args.bf16)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
