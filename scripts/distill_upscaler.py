"""Distil the shipped x4 upscaler's finished 128 px output into the fast x2 network (rekogan.upscale.model.FastX2).

    python scripts/distill_upscaler.py --out runs/upscaler_x2 --minutes 32 --steps 3500
    python scripts/distill_upscaler.py --out runs/upscaler_x2ft --init runs/upscaler_x2/upscaler128_02000.safetensors \
        --lr 1e-3 --steps 1800 --face-share 0.5 --clean 0.5 --truth 0.5 --save-every 300     # fine-tune on real glyphs
    python scripts/distill_upscaler.py --calibrate runs/upscaler_x2ft5/upscaler128_last.safetensors \
        --keep-steps-list 1 --sharpness-list 1.5 --offsets=0,-0.2,-0.3,-0.4     # settings, on the training faces
    python scripts/distill_upscaler.py --finish runs/upscaler_x2ft5/upscaler128_last.safetensors \
        --out /tmp/upscaler128.safetensors --logit-offset=-0.3 --serve-sharpness 1.5 --serve-keep-steps 1
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
Faint ink (--faint, a share of each batch, generated glyphs and faces alike): the input's ink is
scaled to a level in --faint-ink (0.3-0.7), for half of them the paper raised to up to FAINT_PAPER
(low contrast), and half blurred by up to FAINT_BLUR (washed out), while the target stays the
teacher's answer to the glyph at full contrast (the faces': their truth too). A faint or washed-out
writer must come out as crisp, whole strokes, not be cleaned away as a smudge.
Kept as written (--keep-gate, --keep-steps, --keep-oversample): where the teacher's answer, reduced to
64 px, differs from a generated glyph by more than the gate (a washed-out writer's grey halos filled into
blobs: the hangul run's seed 1006 loses most of its glyphs to the x4 network), the target is pulled back
to the glyph (keep_written); such glyphs (~4 % of the pool) are drawn 8x as often and weigh 2x.
The writers are seeded from --writer-seed0 (default 10000): the held-out script
(scripts/eval_upscaler_heldout.py) reads writers 1000-1007 and `upscaler test` 0-7, and neither may be
trained on (runs before this flag drew writers 1000-1159).
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

WRITER_SEED0 = 10000        # the default of --writer-seed0: clear of the test's 0-7 and the held-out script's 1000-1007
FAINT_PAPER = 0.15          # the most a faint input's paper is raised (ink 0 -> at most this)
KEPT_WEIGHT = 2.0           # the loss weight of a glyph whose target keep_written pulled back
FAINT_BLUR = 1.5            # the most a faint input is blurred (Gaussian sigma, 64 px pixels)


def generated_pool(run_dir: Path, *, writers: int, per_writer: int, seed: int, seed0: int = WRITER_SEED0) -> torch.Tensor:
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
        z = seed_to_z(seed0 + seed * 100_000 + w, G.cfg.z_dim, truncation=rng.uniform(0.6, 1.0))
        natural = rng.choice([0.0, 0.2, 0.45, 0.45, 0.6, 0.8])
        weight = rng.uniform(-1.0, 1.0) if getattr(G.cfg, "weight_cond", False) else None
        x = generate_varied(G, labels, z, natural=natural, weight=weight)       # [-1, 1]
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round() / 255)
    return torch.cat(out)


def make_faint(x: torch.Tensor, g: torch.Generator, *, share: float, ink: tuple[float, float]) -> torch.Tensor:
    """x (B, 1, 64, 64) ink at uint8 levels -> the same with a `share` of the glyphs faint: ink scaled to
    a level in `ink`, half of those on paper raised to up to FAINT_PAPER (low contrast), and half (drawn
    apart) blurred by up to FAINT_BLUR px (washed out, like the seed-1006 writer's fuzzy strokes); at uint8 levels."""
    from rekogan.upscale.degrade import _blur
    b = len(x)
    pick = (torch.rand(b, generator=g) < share)[:, None, None, None]
    level = torch.rand(b, 1, 1, 1, generator=g) * (ink[1] - ink[0]) + ink[0]
    paper = torch.rand(b, 1, 1, 1, generator=g) * FAINT_PAPER * (torch.rand(b, 1, 1, 1, generator=g) < 0.5)
    sigma = torch.rand(b, generator=g) * FAINT_BLUR * (torch.rand(b, generator=g) < 0.5)
    faint = (paper + (level - paper) * _blur(x, sigma)).mul(255).round().div(255)
    return torch.where(pick, faint, x)


def keep_written(logits: torch.Tensor, x: torch.Tensor, *, gate: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the teacher's 128 px logits of the glyphs x, with those where the teacher changed what is written
    pulled back to x; which those are, (B,) bool). A glyph's change is the mean |its ink reduced to 64 px - x|: ~0.03 for
    most generated glyphs, 0.07-0.08 for a washed-out writer's (the hangul run's seed 1006, whose grey
    halos the teacher fills into blobs the readers cannot read). Above `gate`, `steps` rounds of two-sided
    back-projection (apply.back_project adds ink only) move the logits until their ink, reduced, is
    close to x: on such a writer the jamo reader's accuracy went 0.86 -> 0.91 (at 64 px 0.90)."""
    from rekogan.upscale.model import PRIOR_GAIN
    d = (F.avg_pool2d(torch.sigmoid(logits), 2) - x).abs().mean((1, 2, 3))
    bad = d > gate
    if not steps or not bad.any():
        return logits, bad & False
    lg, xb = logits[bad], x[bad]
    for _ in range(steps):
        lack = PRIOR_GAIN * (xb - F.avg_pool2d(torch.sigmoid(lg), 2))
        lg = lg + F.interpolate(lack, scale_factor=2, mode="bilinear", align_corners=False)
    logits = logits.clone()
    logits[bad] = lg
    return logits, bad


def teacher_logits(teacher, x: torch.Tensor) -> torch.Tensor:
    """What the shipped file draws at 128 px, as logits (sigmoid of them is GlyphUpscaler.ink), fp32."""
    from rekogan.upscale.apply import back_project
    with torch.inference_mode():
        lg = teacher.model(x, sizes=(128,))[128]
        k = teacher.sharpness
        return (k * back_project(lg, x, sharpness=k, steps=teacher.keep_steps, gain=teacher.keep_gain)).clone()


def finish_file(src: str, dst: str, *, offset: float, sharpness: float, keep_steps: int) -> None:
    """Write the x2 network in `src` as a file to serve (dst): its head's bias moved by `offset` (a logit
    offset on every 128 px pixel: < 0 thins what it draws), with the file's sharpness and one-sided
    back-projection rounds (apply.GlyphUpscaler.finish). Why: the distilled network draws its edges a
    little outside the truth's; with the back-projection restoring the input's ink where it is lacking,
    a negative offset moved the 128 px contour onto the truth's (chosen on the training faces x other
    syllables, scripts/distill_upscaler.py --calibrate; the held-out faces only measure it)."""
    from rekogan.upscale.apply import load_model, save_upscaler
    model, info = load_model(src)
    with torch.no_grad():
        model.head.bias += offset
    config = dict(info["config"], finished_from=src, logit_offset=offset)
    save_upscaler(dst, model, epoch=info["epoch"], step=info["step"], metrics=info["metrics"], config=config,
                  sharpness=sharpness, keep_steps=keep_steps)
    print(f"wrote {dst}: {src} with logit offset {offset:+g}, sharpness {sharpness:g}, back-projection {keep_steps}")


def calibrate(src: str, *, offsets: list[float], steps: list[int], sharpness: list[float]) -> None:
    """Ink IoU and grey share at 128 px of the x2 network in `src`, for each (keep steps, sharpness,
    logit offset), on the TRAINING faces x 40 syllables of a sample neither the training ('train') nor
    the test ('test') draws: where finish_file's settings are chosen (the held-out faces stay a test)."""
    from rekogan.upscale.apply import GlyphUpscaler, load_model
    from rekogan.upscale.data import pair_syllables, quantize, reduce, to_ink, training_glyphs
    from rekogan.upscale.evaluate import MID, bicubic, grey_share, iou
    h = training_glyphs(pair_syllables(40, tag="val"))
    truth, x = reduce(to_ink(h.images), 2), quantize(reduce(to_ink(h.images)))
    bt = iou((bicubic(x, 128) >= MID).float(), truth)
    model, info = load_model(src)
    b0 = model.head.bias.detach().clone()
    print(f"{len(x)} glyphs (training faces x 40 'val' syllables); bicubic-threshold IoU {bt:.5f}")
    for n in steps:
        for k in sharpness:
            for off in offsets:
                model.head.bias.data = b0 + off
                out = GlyphUpscaler(model, dict(info, keep_steps=n, sharpness=k)).ink(x, size=128)
                i = iou(out, truth)
                print(f"keep {n} sharpness {k:g} offset {off:+.2f}: IoU {i:.5f} (1 - IoU ratio {(1 - i) / (1 - bt):.3f}) "
                      f"grey {grey_share(out):.3f}", flush=True)


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
    ap.add_argument("--writer-seed0", type=int, default=WRITER_SEED0,
                    help="the generated pool's first writer seed (default 10000: clear of the evaluations' writers)")
    ap.add_argument("--faint", type=float, default=0.25, help="share of each batch's inputs made faint / low-contrast")
    ap.add_argument("--faint-ink", type=float, nargs=2, default=(0.3, 0.7), metavar=("LO", "HI"),
                    help="a faint input's ink level range (default 0.3 0.7)")
    ap.add_argument("--keep-gate", type=float, default=0.05,
                    help="a generated glyph whose teacher answer, reduced, differs from it by more than this "
                         "(mean |.|) gets a target pulled back to it (keep_written; default 0.05)")
    ap.add_argument("--keep-oversample", type=float, default=8.0,
                    help="how much more often a glyph past --keep-gate is drawn into a batch (default 8)")
    ap.add_argument("--keep-steps", type=int, default=4, help="keep_written's rounds (0: off; default 4)")
    ap.add_argument("--teacher", help="the x4 upscaler file to distil (default: the shipped one)")
    ap.add_argument("--init", help="a fast x2 file to start from (fine-tuning); its shape wins over --channels/--convs")
    ap.add_argument("--face-share", type=float, default=0.5, help="share of each batch from the training faces")
    ap.add_argument("--clean", type=float, default=None,
                    help="share of the faces' inputs left undegraded (default: the teacher's, degrade.CLEAN)")
    ap.add_argument("--truth", type=float, default=0.0,
                    help="weight of the faces' own 128 px truth in their loss (0: the teacher's answer only)")
    ap.add_argument("--calibrate", metavar="FILE", help="only measure FILE's settings on the training faces "
                    "(--offsets, --keep-steps-list, --sharpness-list) and exit")
    ap.add_argument("--offsets", default="0,-0.2,-0.3,-0.4")
    ap.add_argument("--keep-steps-list", default="0,1")
    ap.add_argument("--sharpness-list", default="1")
    ap.add_argument("--finish", metavar="FILE", help="only write FILE as a file to serve, to --out (a file "
                    "name), with --logit-offset, --serve-sharpness, --serve-keep-steps, and exit")
    ap.add_argument("--logit-offset", type=float, default=0.0)
    ap.add_argument("--serve-sharpness", type=float, default=1.0)
    ap.add_argument("--serve-keep-steps", type=int, default=0)
    a = ap.parse_args()
    if a.calibrate:
        torch.set_num_threads(a.threads)
        return calibrate(a.calibrate, offsets=[float(v) for v in a.offsets.split(",")],
                         steps=[int(v) for v in a.keep_steps_list.split(",")],
                         sharpness=[float(v) for v in a.sharpness_list.split(",")])
    if a.finish:
        return finish_file(a.finish, a.out, offset=a.logit_offset, sharpness=a.serve_sharpness,
                           keep_steps=a.serve_keep_steps)
    if not (0 <= a.faint <= 1 and 0 < a.faint_ink[0] <= a.faint_ink[1] <= 1):
        ap.error("--faint is a share in [0, 1] and --faint-ink LO HI levels with 0 < LO <= HI <= 1")
    lo = a.writer_seed0 + a.seed * 100_000
    if any(lo <= first + 7 and lo + a.writers - 1 >= first for first in (0, 1000)):
        ap.error(f"--writer-seed0 {a.writer_seed0}: its writers would overlap the evaluations' (0-7, 1000-1007)")
    torch.set_num_threads(a.threads)
    from rekogan.upscale import load
    from rekogan.upscale.apply import save_upscaler
    from rekogan.upscale.data import pair_syllables, training_glyphs
    from rekogan.upscale.model import FastX2, FastX2Config
    from rekogan.upscale.train import TrainConfig, make_batch
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher = load(a.teacher)
    teacher.model.float().to(memory_format=torch.contiguous_format)
    tcfg_file = teacher.path.parent / "config.json"
    tcfg = TrainConfig.from_dict(json.loads(tcfg_file.read_text())["train"])
    tcfg.batch = max(1, round(a.batch * a.face_share))
    t0 = time.time()
    fonts = training_glyphs(pair_syllables(tcfg.syllables))
    pool = torch.cat([generated_pool(ROOT / "checkpoints" / r, writers=a.writers, per_writer=32, seed=a.seed,
                                     seed0=a.writer_seed0)
                      for r in ("fixed", "hangul")])
    print(f"pool: {len(pool)} generated glyphs, {len(fonts)} training-face glyphs ({time.time() - t0:.0f} s)", flush=True)
    # the glyphs keep_written will pull back (a washed-out writer's) are few: drawn --keep-oversample times as often
    washed = torch.cat([keep_written(teacher_logits(teacher, p), p, gate=a.keep_gate, steps=1)[1]
                        for p in pool.split(256)]) if a.keep_steps else torch.zeros(len(pool), dtype=torch.bool)
    draw_weight = 1 + (a.keep_oversample - 1) * washed.float()
    print(f"washed-out glyphs (keep_written's gate): {int(washed.sum())} of {len(pool)}, drawn "
          f"{a.keep_oversample:g}x as often ({time.time() - t0:.0f} s)", flush=True)
    if a.init:
        from rekogan.upscale.apply import load_model
        student, _ = load_model(a.init)
        student = student.train().to(memory_format=torch.contiguous_format)
    else:
        student = FastX2(FastX2Config(channels=a.channels, convs=a.convs))
    ema = FastX2(student.cfg)
    ema.load_state_dict(student.state_dict())
    opt = torch.optim.Adam(student.parameters(), lr=a.lr)
    import hashlib
    config = {"teacher": str(teacher.path.relative_to(ROOT) if teacher.path.is_relative_to(ROOT) else teacher.path),
              "teacher_sha256": hashlib.sha256(teacher.path.read_bytes()).hexdigest(),
              "teacher_epoch": teacher.info["epoch"], "teacher_sharpness": teacher.sharpness,
              "teacher_keep_steps": teacher.keep_steps, "batch": a.batch, "lr": a.lr, "steps": a.steps,
              "model": student.cfg.to_dict(), "writers_per_run": a.writers, "writer_seed0": a.writer_seed0,
              "faint": a.faint, "faint_ink": list(a.faint_ink), "faint_paper": FAINT_PAPER, "faint_blur": FAINT_BLUR,
              "runs": ["fixed", "hangul"], "face_degradations": tcfg.to_dict(), "seed": a.seed,
              "init": a.init or "", "face_share": a.face_share, "clean": a.clean, "truth": a.truth,
              "keep_gate": a.keep_gate, "keep_steps": a.keep_steps,
              "keep_oversample": a.keep_oversample, "kept_weight": KEPT_WEIGHT}
    if a.clean is not None:
        import rekogan.upscale.degrade as degrade
        degrade.CLEAN = a.clean
    (out / "config.json").write_text(json.dumps(config, indent=1))
    start, step, log = time.time(), 0, out / "metrics.jsonl"
    run_l1 = run_bce = 0.0
    run_kept = 0
    while step < a.steps and time.time() - start < a.minutes * 60:
        g = torch.Generator().manual_seed(a.seed * 1_000_003 + step)
        gi = torch.multinomial(draw_weight, a.batch - tcfg.batch, replacement=True, generator=g)
        xf, tf = make_batch(fonts, tcfg, step)
        x = torch.cat([pool[gi], xf])
        lg_t = teacher_logits(teacher, x)                           # the answer to the glyph at full contrast
        ng = len(x) - len(xf)                                       # generated glyphs first, then the faces
        lg_g, kept = keep_written(lg_t[:ng], x[:ng], gate=a.keep_gate, steps=a.keep_steps)
        target = torch.sigmoid(torch.cat([lg_g, lg_t[ng:]]))
        run_kept += int(kept.sum())
        # the kept glyphs are few (~3 % of the pool; oversampled, ~20 % of a batch): they weigh KEPT_WEIGHT times as much
        weight = torch.cat([1 + (KEPT_WEIGHT - 1) * kept.float(), torch.ones(len(xf))])[:, None, None, None]
        if a.faint:
            x = make_faint(x, g, share=a.faint, ink=tuple(a.faint_ink))
        if a.truth:
            nf = len(xf)
            target[-nf:] = (1 - a.truth) * target[-nf:] + a.truth * F.avg_pool2d(tf, 2)
        lr = a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / a.steps)))) * min(1.0, (step + 1) / 100)
        for group in opt.param_groups:
            group["lr"] = lr
        lg = student(x)[128]
        bce = (F.binary_cross_entropy_with_logits(lg, target, reduction="none") * weight).mean()
        l1 = ((torch.sigmoid(lg) - target).abs() * weight).mean()
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
                   "lr": lr, "kept": run_kept, "seconds": round(time.time() - start),
                   "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            run_l1 = run_bce = 0.0
            run_kept = 0
            with log.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(rec, flush=True)
            save_upscaler(out / f"upscaler128_{step:05d}.safetensors", ema, epoch=0, step=step, metrics=rec, config=config)
    save_upscaler(out / "upscaler128_last.safetensors", ema, epoch=0, step=step, config=config)
    print(f"done: {step} steps in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
