"""Distil the shipped x4 upscaler's finished 128 px output into the fast x2 network (rekogan.upscale.model.FastX2).

    python scripts/distill_upscaler.py --out runs/upscaler_x2 --minutes 32 --steps 3500
    python scripts/distill_upscaler.py --out runs/upscaler_x2ft --init runs/upscaler_x2/upscaler128_02000.safetensors \
        --lr 1e-3 --steps 1800 --face-share 0.5 --clean 0.5 --truth 0.5 --save-every 300     # fine-tune on real glyphs
To serve it, copy a file as checkpoints/upscaler/upscaler128.safetensors (rekogan.upscale.apply.X2_FILE; its
metadata's keep_steps / sharpness may be set first) after `python -m rekogan upscaler test` shows the 128 px
figures meet issue 23's targets (the test prints them for "size=128 as drawn" and for the x4 network's head).

Why: the app's default size is 128 px, and the x4 network's 128 px answer (its U-Net, the 128 px head,
three rounds of back-projection at 128 px, sharpness 1.6) cost ~40 ms of CPU for a 20-syllable line,
half of a /write's server CPU. The fast network draws the same picture at 32 px with 32 channels.

The teacher is the shipped file as `upscale(size=128)` gives it (GlyphUpscaler.ink, fp32): its logits,
back-projected, times its sharpness. The student learns those logits (binary cross-entropy against the
teacher's ink, plus L1 on ink), so it needs no back-projection and no sharpness of its own (the file
says sharpness 1, keep_steps 0). Its inputs, half of each batch:
  - generated glyphs of the shipped fixed and hangul runs (best epochs), writers seeded from 1000 on
    (the upscaler test's generated glyphs are writers 0-7), truncation 0.6-1, natural 0-0.8: what the app
    enlarges;
  - the teacher's own training pairs' inputs (training faces only, degraded as its config.json says;
    the 8 held-out faces stay held out).
Every step's draws come from a generator seeded by the step. The EMA of the weights is saved every
--save-every steps as upscaler128_SSSSS.safetensors, with metrics.jsonl beside it.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

WRITER_SEED0 = 1000


def generated_pool(run_dir: Path, *, writers: int, per_writer: int, seed: int) -> torch.Tensor:
    """(writers * per_writer, 1, 64, 64) float ink at uint8 levels, white on black: a run's best epoch."""
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import seed_to_z
    from rekogan.upscale.evaluate import _best_checkpoint
    from rekogan.variation import generate_varied
    G, meta = load_generator(_best_checkpoint(run_dir))
    n_classes = len(meta["class_list"])
    if (run_dir / "split.json").is_file():
        from rekogan.split import SyllableSplit
        split = SyllableSplit.from_dict(json.loads((run_dir / "split.json").read_text(encoding="utf-8")))
        index = {s: i for i, s in enumerate(meta["class_list"])}
        pool = [index[s] for s in split.train if s in index]
    else:
        pool = list(range(n_classes))
    rng = random.Random(f"distil-{run_dir.name}-{seed}")
    out = []
    for w in range(writers):
        labels = torch.tensor([rng.choice(pool) for _ in range(per_writer)])
        z = seed_to_z(WRITER_SEED0 + seed * 100_000 + w, G.cfg.z_dim, truncation=rng.uniform(0.6, 1.0))
        natural = rng.choice([0.0, 0.2, 0.45, 0.45, 0.6, 0.8])
        weight = rng.uniform(-1.0, 1.0) if getattr(G.cfg, "weight_cond", False) else None
        x = generate_varied(G, labels, z, natural=natural, weight=weight)       # [-1, 1]
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round() / 255)
    return torch.cat(out)


def teacher_logits(teacher, x: torch.Tensor) -> torch.Tensor:
    """What the shipped file draws at 128 px, as logits (sigmoid of them is GlyphUpscaler.ink), fp32."""
    from rekogan.upscale.apply import back_project
    with torch.inference_mode():
        lg = teacher.model(x, sizes=(128,))[128]
        k = teacher.sharpness
        return (k * back_project(lg, x, sharpness=k, steps=teacher.keep_steps, gain=teacher.keep_gain)).clone()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/upscaler_x2")
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--steps", type=int, default=6000, help="the schedule's length (the run may stop earlier: --minutes)")
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--convs", type=int, default=4)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--writers", type=int, default=160, help="writers per run in the generated pool")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="a fast x2 file to start from (fine-tuning); its shape wins over --channels/--convs")
    ap.add_argument("--face-share", type=float, default=0.5, help="share of each batch from the training faces")
    ap.add_argument("--clean", type=float, default=None,
                    help="share of the faces' inputs left undegraded (default: the teacher's, degrade.CLEAN)")
    ap.add_argument("--truth", type=float, default=0.0,
                    help="weight of the faces' own 128 px truth in their loss (0: the teacher's answer only)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from rekogan.upscale import load
    from rekogan.upscale.apply import save_upscaler
    from rekogan.upscale.data import pair_syllables, training_glyphs
    from rekogan.upscale.model import FastX2, FastX2Config
    from rekogan.upscale.train import TrainConfig, make_batch
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher = load()
    teacher.model.float().to(memory_format=torch.contiguous_format)
    tcfg_file = teacher.path.parent / "config.json"
    tcfg = TrainConfig.from_dict(json.loads(tcfg_file.read_text())["train"])
    tcfg.batch = max(1, round(a.batch * a.face_share))
    t0 = time.time()
    fonts = training_glyphs(pair_syllables(tcfg.syllables))
    pool = torch.cat([generated_pool(ROOT / "checkpoints" / r, writers=a.writers, per_writer=32, seed=a.seed)
                      for r in ("fixed", "hangul")])
    print(f"pool: {len(pool)} generated glyphs, {len(fonts)} training-face glyphs ({time.time() - t0:.0f} s)", flush=True)
    if a.init:
        from rekogan.upscale.apply import load_model
        student, _ = load_model(a.init)
        student = student.train().to(memory_format=torch.contiguous_format)
    else:
        student = FastX2(FastX2Config(channels=a.channels, convs=a.convs))
    ema = FastX2(student.cfg)
    ema.load_state_dict(student.state_dict())
    opt = torch.optim.Adam(student.parameters(), lr=a.lr)
    config = {"teacher": str(teacher.path.relative_to(ROOT) if teacher.path.is_relative_to(ROOT) else teacher.path),
              "teacher_epoch": teacher.info["epoch"], "teacher_sharpness": teacher.sharpness,
              "teacher_keep_steps": teacher.keep_steps, "batch": a.batch, "lr": a.lr, "steps": a.steps,
              "model": student.cfg.to_dict(), "writers_per_run": a.writers, "writer_seed0": WRITER_SEED0,
              "runs": ["fixed", "hangul"], "face_degradations": tcfg.to_dict(), "seed": a.seed,
              "init": a.init or "", "face_share": a.face_share, "clean": a.clean, "truth": a.truth}
    if a.clean is not None:
        import rekogan.upscale.degrade as degrade
        degrade.CLEAN = a.clean
    (out / "config.json").write_text(json.dumps(config, indent=1))
    start, step, log = time.time(), 0, out / "metrics.jsonl"
    run_l1 = run_bce = 0.0
    while step < a.steps and time.time() - start < a.minutes * 60:
        g = torch.Generator().manual_seed(a.seed * 1_000_003 + step)
        gi = torch.randint(len(pool), (a.batch - tcfg.batch,), generator=g)
        xf, tf = make_batch(fonts, tcfg, step)
        x = torch.cat([pool[gi], xf])
        target = torch.sigmoid(teacher_logits(teacher, x))
        if a.truth:
            nf = len(xf)
            target[-nf:] = (1 - a.truth) * target[-nf:] + a.truth * F.avg_pool2d(tf, 2)
        lr = a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / a.steps)))) * min(1.0, (step + 1) / 100)
        for group in opt.param_groups:
            group["lr"] = lr
        lg = student(x)[128]
        bce = F.binary_cross_entropy_with_logits(lg, target)
        l1 = (torch.sigmoid(lg) - target).abs().mean()
        loss = bce + l1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), student.parameters()):
                e.lerp_(p, 1 - 0.999 if step > 300 else 1.0)
        step += 1
        run_l1 += l1.item()
        run_bce += bce.item()
        if step % a.save_every == 0:
            rec = {"step": step, "l1": round(run_l1 / a.save_every, 5), "bce": round(run_bce / a.save_every, 5),
                   "lr": lr, "seconds": round(time.time() - start), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            run_l1 = run_bce = 0.0
            with log.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(rec, flush=True)
            save_upscaler(out / f"upscaler128_{step:05d}.safetensors", ema, epoch=0, step=step, metrics=rec, config=config)
    save_upscaler(out / "upscaler128_last.safetensors", ema, epoch=0, step=step, config=config)
    print(f"done: {step} steps in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
