"""The upscaler's readability target on generated glyphs its settings were not chosen on (issue 23).

    python scripts/eval_upscaler_heldout.py --threads 2
    python scripts/eval_upscaler_heldout.py --threads 2 --sets test      # the test's own glyphs (a cross-check)

`python -m rekogan upscaler test` (rekogan.upscale.evaluate.generated) reads 8 writers (seeds 0..7,
psi 1) x a fixed sample of 500 of each run's training syllables, 64 px and upscaled to 256 px and
reduced back, and the target is: upscaled >= 64 px minus 0.3 points. The upscaler's sharpness and
back-projection were chosen on those same glyphs. This repeats the measurement on other glyphs of
the same runs (the shipped fixed and hangul runs, best epochs, as `generated` picks them):
  writers    --seeds writers from --seed-base (default 1000..1007), none of the test's 0..7, at
             psi --truncation (default 1, as the test; the app's default is 0.8)
  syllables  per run, --syllables (500) of the same pool the test samples from (the run's training
             syllables: split.json's train list, or the readable trained classes), the test's 500
             removed first. The fixed run has 520 classes, so only 20 are left out of its test sample;
             its sets are those 20 and, with the new writers only, the test's 500
Sets (--sets, comma-separated): heldout (new writers x new syllables), seeds (new writers x the
test's syllables), test (the test's writers and syllables: this script's pipeline must give the
test's figures there). For each: readability at 64 px and upscaled-and-reduced-back, their paired
difference with a 95 % interval (per glyph: read right upscaled minus read right at 64 px), how many
glyphs the upscaler lost and gained, and the grey share at 256 px (the upscaler, bicubic; target
<= 0.18). The upscaler's output is what `upscale` gives before rounding (GlyphUpscaler.finish of
its logits), as in the test. Reads checkpoints only; writes nothing (--json FILE: the figures).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.conventions import CLASSIFIER_FILE, READER_FILE  # noqa: E402
from rekogan.evaluation_hangul import labels_for  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402
from rekogan.records import write_text_atomic  # noqa: E402
from rekogan.sampling import generate, seed_to_z  # noqa: E402
from rekogan.upscale import load as load_upscaler  # noqa: E402
from rekogan.upscale.data import reduce  # noqa: E402
from rekogan.upscale.evaluate import (GENERATED_SYLLABLES, GREY_HI, INK, SEEDS, _best_checkpoint,  # noqa: E402
                                      _sample, bicubic, read_ink)

HELDOUT_KEY = "rekogan-upscaler-heldout"      # the held-out syllables' sample (the test's is evaluate._sample's)
CHUNK = 256                                   # glyphs upscaled at a time (4,000 at 256 px would be GBs of logits)


def pools(run_dir: Path, reader) -> tuple[list[str], list[str]]:
    """(the pool the test samples from, the test's sample of it): as evaluate.generated takes them."""
    G, meta = load_generator(_best_checkpoint(run_dir))
    if (run_dir / "split.json").is_file():
        from rekogan.split import SyllableSplit
        pool = list(SyllableSplit.from_dict(json.loads((run_dir / "split.json").read_text(encoding="utf-8"))).train)
    else:
        pool = [s for s in meta["trained"] if not reader.missing([s])]
    return pool, _sample(pool, GENERATED_SYLLABLES)


def heldout_syllables(pool: list[str], test: list[str], n: int) -> list[str]:
    """n syllables of the pool the test did not use (all of them when fewer are left), a fixed sample."""
    import random
    rest = sorted(set(pool) - set(test))
    return rest if len(rest) <= n else sorted(random.Random(HELDOUT_KEY).sample(rest, n))


def grey_counts(ink: torch.Tensor) -> tuple[int, int]:
    """(inked pixels, grey ones among them): evaluate.grey_share's terms, to add up over chunks."""
    inked = ink >= INK
    return int(inked.sum()), int((inked & (ink < GREY_HI)).sum())


@torch.inference_mode()
def measure(up, G, classes, reader, *, syllables: list[str], seeds: list[int], truncation: float = 1.0) -> dict:
    """The test's measurement (evaluate.generated at 256 px) for these writers x syllables."""
    t0 = time.time()
    n = len(syllables)
    y = labels_for(classes, syllables)
    z = torch.stack([seed_to_z(s, G.cfg.z_dim, truncation=truncation) for s in seeds])   # as evaluate_syllables
    imgs = generate(G, y.repeat(len(seeds)), z.repeat_interleave(n, 0))                 # (K*n, 1, 64, 64) in [-1, 1]
    u8 = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)                     # white on black, as a PNG holds it
    target = torch.tensor([ord(s) - SBASE for s in syllables]).repeat(len(seeds))
    ok64, okup, grey = [], [], {"upscaler": [0, 0], "bicubic": [0, 0]}
    for x in u8.split(CHUNK):
        ink64 = x.float() / 255
        big = up.finish(up.logits(ink64, size=256), ink64)                             # what upscale() gives, unrounded
        for name, im in (("upscaler", big), ("bicubic", bicubic(ink64, 256))):
            a, b = grey_counts(im)
            grey[name][0] += a
            grey[name][1] += b
        ok64.append(read_ink(reader, ink64))
        okup.append(read_ink(reader, reduce(big)))
    r64, rup = torch.cat(ok64) == target, torch.cat(okup) == target
    d = rup.float() - r64.float()                                                       # per glyph: +1 gained, -1 lost
    half = 1.96 * float(d.std()) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return {"syllables": n, "seeds": seeds, "glyphs": len(d),
            "readability_64": round(float(r64.float().mean()), 5),
            "readability_upscaled": round(float(rup.float().mean()), 5),
            "difference_points": round(float(d.mean()) * 100, 3), "ci95_points": round(half * 100, 3),
            "lost": int((r64 & ~rup).sum()), "gained": int((~r64 & rup).sum()),
            "per_writer_64": [round(float(v), 4) for v in r64.view(len(seeds), n).float().mean(1)],
            "per_writer_lost": [int(v) for v in (r64 & ~rup).view(len(seeds), n).sum(1)],
            "grey_upscaler_256": round(grey["upscaler"][1] / max(grey["upscaler"][0], 1), 4),
            "grey_bicubic_256": round(grey["bicubic"][1] / max(grey["bicubic"][0], 1), 4),
            "seconds": round(time.time() - t0, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="checkpoints/fixed,checkpoints/hangul", help="run folders, comma-separated")
    p.add_argument("--checkpoint", default=None, help="an upscaler file (default: the shipped one)")
    p.add_argument("--syllables", type=int, default=GENERATED_SYLLABLES, help="held-out syllables per run (default 500)")
    p.add_argument("--seeds", type=int, default=SEEDS, help="writers (default 8)")
    p.add_argument("--seed-base", type=int, default=1000, help="the first writer's seed (default 1000; the test uses 0..7)")
    p.add_argument("--truncation", type=float, default=1.0, help="the writers' psi (default 1, as the test; the app's is 0.8)")
    p.add_argument("--sets", default="heldout,seeds", help="heldout, seeds, test (comma-separated; default heldout,seeds)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every figure to FILE")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    sets = [s for s in a.sets.split(",") if s]
    if bad := set(sets) - {"heldout", "seeds", "test"}:
        sys.exit(f"--sets: unknown {', '.join(sorted(bad))} (heldout, seeds, test)")
    if a.seeds < 1 or a.syllables < 1:
        sys.exit("--seeds and --syllables must be >= 1")
    new_seeds = list(range(a.seed_base, a.seed_base + a.seeds))
    if set(new_seeds) & set(range(SEEDS)) and set(sets) - {"test"}:
        sys.exit(f"--seed-base {a.seed_base}: the writers overlap the test's seeds 0..{SEEDS - 1}")
    up = load_upscaler(a.checkpoint)
    print(f"upscaler {up.path} (sharpness {up.sharpness:g}, back-projection {up.keep_steps} x {up.keep_gain:g}, "
          f"removal {up.keep_down:g}, inner sharpness {up.keep_sharpness or up.sharpness:g}, peak {up.keep_peak:g}, exact share {up.keep_exact:g}, "
          f"bf16 {up.bf16}); writers at psi {a.truncation:g}; {torch.get_num_threads()} threads", flush=True)
    out = {"command": "python " + shlex.join(sys.argv), "upscaler": str(up.path), "truncation": a.truncation, "runs": {}}
    for run in [r for r in a.runs.split(",") if r]:
        run_dir = Path(run)
        if not run_dir.is_dir():
            sys.exit(f"--runs: {run_dir} is not a folder")
        reader = load_reader(CLASSIFIER_FILE if not (run_dir / "split.json").is_file() else READER_FILE)
        ckpt = _best_checkpoint(run_dir)
        G, meta = load_generator(ckpt)
        pool, test = pools(run_dir, reader)
        held = heldout_syllables(pool, test, a.syllables)
        assert not set(held) & set(test), "held-out syllables must not be the test's"
        chosen = {"heldout": (held, new_seeds), "seeds": (test, new_seeds), "test": (test, list(range(SEEDS)))}
        rows = {}
        for name in sets:
            syl, seeds = chosen[name]
            r = measure(up, G, meta["class_list"], reader, syllables=syl, seeds=seeds, truncation=a.truncation)
            rows[name] = r
            print(f"{run_dir.name} ({ckpt.name}, {reader.kind} reader) {name}: {len(seeds)} writers "
                  f"(seeds {seeds[0]}..{seeds[-1]}) x {r['syllables']} syllables = {r['glyphs']} glyphs: readability "
                  f"64 px {r['readability_64']:.2%}, upscaled and reduced back {r['readability_upscaled']:.2%} "
                  f"({r['difference_points']:+.2f} points, 95 % interval ±{r['ci95_points']:.2f}; lost {r['lost']}, "
                  f"gained {r['gained']}); grey share at 256 px {r['grey_upscaler_256']:.3f} "
                  f"(bicubic {r['grey_bicubic_256']:.3f}) [{r['seconds']:.0f} s]", flush=True)
            print("  per writer: 64 px readability " + " ".join(f"{v:.1%}" for v in r["per_writer_64"])
                  + "; lost by upscaling " + " ".join(map(str, r["per_writer_lost"])), flush=True)
        out["runs"][run_dir.name] = {"checkpoint": ckpt.name, "reader": reader.kind, "pool": len(pool),
                                      "heldout_syllables": len(held), **rows}
    if a.json:
        write_text_atomic(Path(a.json), json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
