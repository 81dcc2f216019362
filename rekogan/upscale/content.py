"""The upscaler keeps what is written, as the readers see it (issue 23): a fine-tuning loss on
generated glyphs.

The paired losses (train.py) teach the upscaler on faces, whose 64 px glyphs are clean; the
generators' glyphs can be hazy or faint, and cleaning them can change which syllable a reader
sees. This term reads each generated 64 px glyph and its upscaled-and-reduced-back version with
the readers the readability target uses (the component reader for runs with a split.json, the
520-class classifier for the fixed run) and adds the KL divergence from the reader's own answer on
the input to its answer on the output (content_kl), or a hinge (content_margin) that the input's own
answer still wins on the output by min(margin, its lead on the input) logits: no true label, so a
glyph the reader misreads at 64 px is kept as it is read. The margin is 0 wherever the reading is
unchanged, so it matters only where the upscaling would change what is read; the KL also pulls on
glyphs read the same, and was met with grey strokes (held-out faces' 1 - IoU 0.94 x bicubic's
against 0.49 x with the margin, 2026-12-03).

The glyphs come from a pool drawn once and cached in the run folder (content_pool.safetensors):
the shipped runs' best epochs (as `upscaler test` picks them), writers seeded from SEED_MIN on
(the test uses seeds 0..7 and scripts/eval_upscaler_heldout.py 1000..1007), half at psi 1 and half
at 0.8, and syllables of the run's training pool without those the test and the held-out script
read when enough are left (the fixed run's 520 classes are all read by them: there only the
writers are new).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

POOL_FILE = "content_pool.safetensors"
POOL_FORMAT = "rekogan-upscaler-content-pool-1"
SEED_MIN = 100_000                 # writers' seeds: clear of the test's 0..7 and the held-out script's 1000..1007
TRUNCATIONS = (1.0, 0.8)
HELDOUT_KEY = "rekogan-upscaler-heldout"      # scripts/eval_upscaler_heldout.py's sample of held-out syllables
MIN_LEFT = 200                     # fewer syllables left than this: use the whole pool (only the writers are new)


def _run_pool(run_dir: Path, meta: dict, reader) -> list[str]:
    """The run's syllables for the pool: its training pool less what the evaluations read."""
    from .evaluate import GENERATED_SYLLABLES, _sample
    if (run_dir / "split.json").is_file():
        from ..split import SyllableSplit
        pool = list(SyllableSplit.from_dict(json.loads((run_dir / "split.json").read_text(encoding="utf-8"))).train)
    else:
        pool = [s for s in meta["trained"] if not reader.missing([s])]
    test = _sample(pool, GENERATED_SYLLABLES)
    rest = sorted(set(pool) - set(test))
    held = rest if len(rest) <= GENERATED_SYLLABLES else random.Random(HELDOUT_KEY).sample(rest, GENERATED_SYLLABLES)
    left = sorted(set(rest) - set(held))
    return left if len(left) >= MIN_LEFT else sorted(pool)


def reader_for(run_dir: Path):
    """The reader the readability target uses for a run (as `upscaler test` does)."""
    from ..conventions import CLASSIFIER_FILE, READER_FILE
    from ..reader import load_reader
    return load_reader(READER_FILE if (Path(run_dir) / "split.json").is_file() else CLASSIFIER_FILE)


@torch.no_grad()
def make_pool(*, runs: tuple[str, ...], per_run: int, seed: int, log=print) -> dict[str, torch.Tensor]:
    """{run name: (per_run, 64, 64) uint8 generated glyphs, white ink on black}, drawn from seed."""
    from ..checkpoints import load_generator
    from ..evaluation_hangul import labels_for
    from ..sampling import generate, seed_to_z
    from .evaluate import _best_checkpoint
    out = {}
    for k, run in enumerate(runs):
        run_dir = Path(run)
        G, meta = load_generator(_best_checkpoint(run_dir))
        syllables = _run_pool(run_dir, meta, reader_for(run_dir))
        rng = random.Random(f"rekogan-upscaler-content-{seed}-{k}")
        chunks = []
        for i in range(0, per_run, 256):
            n = min(256, per_run - i)
            chosen = [rng.choice(syllables) for _ in range(n)]
            z = torch.stack([seed_to_z(rng.randrange(SEED_MIN, 2**31 - 1), G.cfg.z_dim,
                                       truncation=TRUNCATIONS[j % len(TRUNCATIONS)]) for j in range(n)])
            imgs = generate(G, labels_for(meta["class_list"], chosen), z)
            chunks.append(((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0])
        out[run_dir.name] = torch.cat(chunks)
        log(f"content pool: {per_run} glyphs of {run_dir} ({len(syllables)} syllables, writers from seed {SEED_MIN})")
    return out


def load_or_make_pool(run_dir: Path, *, runs: tuple[str, ...], per_run: int, seed: int,
                      log=print) -> dict[str, torch.Tensor]:
    """The run folder's cached pool, made (and written atomically) the first time."""
    from ..checkpoints import read_tensors, save_tensors
    path = Path(run_dir) / POOL_FILE
    if path.is_file():
        tensors, meta = read_tensors(path)
        if meta.get("format") == POOL_FORMAT and meta.get("key") == json.dumps([list(runs), per_run, seed]):
            return tensors
    pool = make_pool(runs=runs, per_run=per_run, seed=seed, log=log)
    save_tensors(path, pool, {"format": POOL_FORMAT, "key": json.dumps([list(runs), per_run, seed])})
    return pool


class ContentReaders:
    """The frozen readers, one per pool run, as differentiable functions of 64 px ink."""

    def __init__(self, runs: tuple[str, ...], *, device: str = "cpu"):
        from ..hangul import LCOUNT, TCOUNT, VCOUNT
        self.readers = {}
        self.device = torch.device(device)
        for run in runs:
            r = reader_for(Path(run))
            model = r.model.eval().to(device)
            for p in model.parameters():
                p.requires_grad_(False)
            split = [LCOUNT, VCOUNT, TCOUNT] if r.kind == "jamo" else [model.cfg.n_classes]
            self.readers[Path(run).name] = (model, split)

    def logits(self, name: str, ink: torch.Tensor) -> list[torch.Tensor]:
        """(B, 1, 64, 64) ink in [0, 1] -> the reader's logits, one (B, C) per head."""
        from ..classifier import to_input
        model, split = self.readers[name]
        return list(model(to_input(ink * 2 - 1, model.cfg.size)).split(split, 1))

    def log_probs(self, name: str, ink: torch.Tensor) -> list[torch.Tensor]:
        """(B, 1, 64, 64) ink in [0, 1] -> the reader's log-probabilities, one (B, C) per head."""
        return [F.log_softmax(h, 1) for h in self.logits(name, ink)]


def content_kl(readers: ContentReaders, name: str, ink: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
    """Mean over glyphs of the KL divergence, summed over the reader's heads, from the reader's answer
    on the 64 px input `ink` (fixed: no gradient) to its answer on `back`, the upscaled glyph reduced
    back to 64 px. 0 when back == ink."""
    with torch.no_grad():
        target = readers.log_probs(name, ink)
    got = readers.log_probs(name, back)
    return sum(F.kl_div(g, t, log_target=True, reduction="batchmean") for g, t in zip(got, target))


def content_margin(readers: ContentReaders, name: str, ink: torch.Tensor, back: torch.Tensor, *,
                   margin: float) -> torch.Tensor:
    """Mean over glyphs of a hinge, summed over the reader's heads: the reader's answer on the 64 px
    input `ink` (its own argmax, no true label) must win on `back` by at least the smaller of
    `margin` logits and the lead it has on the input. 0 for every glyph read as before with that
    lead, so only glyphs whose reading the upscaling would change (or nearly) pull on the network."""
    with torch.no_grad():
        before = readers.logits(name, ink)
    total = 0.0
    for b, a in zip(before, readers.logits(name, back)):
        top = b.argmax(1, keepdim=True)
        lead_in = b.gather(1, top)[:, 0] - b.scatter(1, top, float("-inf")).amax(1)
        lead_out = a.gather(1, top)[:, 0] - a.scatter(1, top, float("-inf")).amax(1)
        total = total + F.relu(lead_in.clamp(max=margin) - lead_out).mean()
    return total


def leads(readers: ContentReaders, name: str, glyphs: torch.Tensor, *, batch: int = 256) -> torch.Tensor:
    """(N,) how many logits the reader's own answer wins by on each (N, 64, 64) uint8 glyph, the
    smallest over its heads (a jamo reader's three). A small lead is a glyph on the edge of being read
    as something else: there any change flips the reading, whatever the upscaler does to it (on the
    fixed run's writers 4000..4031 nearly every glyph the upscaler lost led by less than 1 logit at
    64 px, 2026-12-03), so these are the glyphs the margin hinge can teach anything on."""
    out = []
    with torch.no_grad():
        for x in glyphs.split(batch):
            heads = readers.logits(name, x.unsqueeze(1).to(readers.device).float() / 255)
            top2 = [h.topk(2, 1).values for h in heads]
            out.append(torch.stack([t[:, 0] - t[:, 1] for t in top2], 1).amin(1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def served_ink(logits: torch.Tensor, ink: torch.Tensor, *, sharpness: float, steps: int) -> torch.Tensor:
    """What the app serves from the network's logits: apply.back_project (one-sided, gain 1), then the
    sharpness. back_project works on its own clone, so gradients flow through it to the logits."""
    from .apply import back_project
    return torch.sigmoid(sharpness * back_project(logits, ink, sharpness=sharpness, steps=steps, gain=1.0))
