"""Does drawing with the generator in bf16 change what is written? (the batcher's _bf16, issue 23)

The app draws glyphs that the upscaler enlarges (size > 64) with the generator under bf16 autocast
where the CPU computes bf16 natively (rekogan.studio.batcher._bf16). tests/test_forward.py bounds the
pixels it moves (batcher.BF16_TOLERANCE); this reads them. The same glyphs as `python -m rekogan
upscaler test` (each shipped run's best epoch, writers 0..7 at psi 1 x the test's fixed sample of 500
training syllables) are drawn twice from the same latents, in fp32 and under bf16 autocast, and the
component reader reads both at 64 px (in fp32, outside the autocast). Prints the two readabilities,
the glyphs lost and gained, and how far the pixels moved. Reads checkpoints only; writes nothing.

    python scripts/probe_bf16_generator.py                 # fixed and hangul
    python scripts/probe_bf16_generator.py --runs hangul
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.conventions import READER_FILE, to_unit  # noqa: E402
from rekogan.evaluation_hangul import labels_for  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402
from rekogan.runtime import cpu_has_bf16  # noqa: E402
from rekogan.sampling import generate, seed_to_z  # noqa: E402
from rekogan.upscale.evaluate import GENERATED_SYLLABLES, SEEDS, _best_checkpoint, _sample  # noqa: E402


def pool_of(run_dir: Path, meta: dict, reader) -> list[str]:
    """The syllables `upscaler test` samples from (evaluate.generated's pool)."""
    if (run_dir / "split.json").is_file():
        from rekogan.split import SyllableSplit
        return list(SyllableSplit.from_dict(json.loads((run_dir / "split.json").read_text(encoding="utf-8"))).train)
    return [s for s in meta["trained"] if not reader.missing([s])]


@torch.inference_mode()
def probe(run_dir: Path, reader) -> dict:
    G, meta = load_generator(_best_checkpoint(run_dir))
    chosen = _sample(pool_of(run_dir, meta, reader), GENERATED_SYLLABLES)
    y = labels_for(meta["class_list"], chosen).repeat(SEEDS)
    z = torch.stack([seed_to_z(s, G.cfg.z_dim, truncation=1.0) for s in range(SEEDS)]).repeat_interleave(len(chosen), 0)
    target = torch.tensor([ord(s) - SBASE for s in chosen]).repeat(SEEDS)
    drawn, right = {}, {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            imgs = torch.cat([generate(G, y[i:i + 512], z[i:i + 512]) for i in range(0, len(y), 512)]).float()
        u8 = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)           # as a PNG holds it
        drawn[name] = u8
        right[name] = torch.cat([reader.read(to_unit(u8[i:i + 512]))[1] for i in range(0, len(u8), 512)]) == target
    moved = (drawn["fp32"].float() - drawn["bf16"].float()).abs()
    a, b = right["fp32"], right["bf16"]
    return {"run": run_dir.name, "glyphs": len(target), "readability_fp32": round(float(a.float().mean()), 5),
            "readability_bf16": round(float(b.float().mean()), 5),
            "points": round(100 * float(b.float().mean() - a.float().mean()), 3),
            "lost": int((a & ~b).sum()), "gained": int((~a & b).sum()),
            "mean_levels": round(float(moved.mean()), 3), "share_over_32_levels": float((moved > 32).float().mean())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="fixed,hangul", help="shipped runs under checkpoints/ (comma-separated)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not cpu_has_bf16():
        print("note: this CPU emulates bf16 (no AVX512-BF16/AMX): the app would not use it here", file=sys.stderr)
    reader = load_reader(REPO / READER_FILE)
    for run in args.runs.split(","):
        print(json.dumps(probe(REPO / "checkpoints" / run.strip(), reader)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
