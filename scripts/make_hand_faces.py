"""Draw new training hands for a writer-encoder fine-tune (issue 25): the 11,172-syllable hand run
(hangul-hand) writes another run's syllables (the fixed run's 520) in writers between and beyond its
training faces, so the 520-class run's style encoder and generator see more hands than the 71 faces
it was trained on.

Each new face is one writer: the hangul-hand style encoder's writers of two training faces (from
--refs random syllables each), mixed layer by layer with its own alpha ~ U(-spread, 1 + spread)
(alpha outside [0, 1] extrapolates: a hand past either face), plus Gaussian noise of --noise times
the latents' spread. It draws every syllable of --classes-from's run (G's class for each is looked
up by syllable). A face is kept only when the hand run's reader reads at least --min-readable of its
glyphs: an illegible hand would teach the 520-class run to draw badly.

Only training faces are used, and --exclude-val N leaves out the N faces that
scripts/train_writer_encoder.py holds out for validation with the same --seed (its defaults: 6 and 0),
so those faces stay unseen. Never a test or validation face (they are not in the font source's
training split). The faces are drawn from the same system fonts as the runs: same provenance.

--variants KINDS adds, after the drawn faces, each training face (the same ones: never a validation
face) once more as another hand: slanted, bold, thin, narrow, wobbly or hollow (outline), by
scripts/eval_writer.py's hand_variant, the kinds dealt out evenly in a shuffled order (--draw-seed);
these too are kept only when the reader reads --min-readable of them. --faces 0 --variants ... makes
only those.

Writes OUT (.npz, atomic): images (N, C, S, S) uint8 white on black in the other run's class order,
syllables (C,), names (N,), recipe (JSON: the command, each face's two sources and alphas).

  python scripts/make_hand_faces.py --out runs/hand_faces_520.npz --faces 48
  python scripts/make_hand_faces.py --out runs/hand_faces_520_var.npz --faces 48 --spread 0.7 --noise 0.25 \
      --draw-seed 2 --variants slant,bold,thin,narrow,wobble,outline
  python scripts/train_writer_encoder.py ... --extra-train runs/hand_faces_520.npz
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rekogan.checkpoints import load_generator  # noqa: E402
from rekogan.conventions import to_unit  # noqa: E402
from rekogan.data import load_splits  # noqa: E402
from rekogan.hangul import SBASE  # noqa: E402
from rekogan.reader import load_reader  # noqa: E402
from rekogan.records import atomic_path  # noqa: E402
from rekogan.writer.conditioned import validation_split  # noqa: E402
from rekogan.writer.encoder import encoder_beside, load_encoder, start_writer  # noqa: E402
from rekogan.writer.latent import layered_forward  # noqa: E402


def mix_writers(a: tuple, b: tuple, *, spread: float, noise: float, gen: torch.Generator) -> tuple:
    """Two writers (latents (L, Z), weight () or None) -> one between or beyond them, per layer."""
    la, wa = a
    lb, wb = b
    alpha = torch.rand(la.shape[0], 1, generator=gen) * (1 + 2 * spread) - spread     # (L, 1)
    lat = la + alpha * (lb - la)
    lat = lat + noise * lat.std() * torch.randn(lat.shape, generator=gen)
    w = None
    if wa is not None:
        aw = float(alpha.mean())
        w = wa + aw * (wb - wa)
    return lat, w, alpha.flatten().tolist()


@torch.no_grad()
def draw_face(G, latents: torch.Tensor, weight, labels: torch.Tensor, *, batch: int = 260) -> torch.Tensor:
    """(C,) G's classes -> (C, 1, S, S) [-1, 1] in the writer's hand."""
    out = []
    for i in range(0, len(labels), batch):
        y = labels[i:i + batch]
        lat = latents[None].expand(len(y), -1, -1)
        w = None if weight is None else weight.reshape(1).expand(len(y))
        out.append(layered_forward(G, lat, y, w))
    return torch.cat(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the .npz to write")
    ap.add_argument("--checkpoint", default="checkpoints/hangul-hand/epoch_068.safetensors",
                    help="the hand run that draws (its encoder.safetensors beside it)")
    ap.add_argument("--reader", default="checkpoints/reader/reader.safetensors", help="reads any syllable")
    ap.add_argument("--classes-from", default="checkpoints/fixed-hand/epoch_186.safetensors",
                    help="the run whose syllables are drawn, in its class order")
    ap.add_argument("--faces", type=int, default=48)
    ap.add_argument("--refs", type=int, default=16, help="references per source face for the encoder")
    ap.add_argument("--spread", type=float, default=0.3)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--min-readable", type=float, default=0.9)
    ap.add_argument("--exclude-val", type=int, default=6, help="as train_writer_encoder.py's --val-faces")
    ap.add_argument("--seed", type=int, default=0, help="train_writer_encoder.py's --seed (the validation faces)")
    ap.add_argument("--draw-seed", type=int, default=1, help="the new writers' randomness")
    ap.add_argument("--variants", default="", metavar="KINDS",
                    help="also each training face as one of these hands (comma-separated, of eval_writer.VARIANTS)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "scripts"))
    from eval_writer import VARIANTS, hand_variant
    kinds = [k for k in args.variants.split(",") if k]
    unknown = sorted(set(kinds) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"error: unknown --variants {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    if args.faces < (0 if kinds else 1):
        raise SystemExit("error: --faces must be at least 1 (or 0 with --variants)")
    if not 0 <= args.min_readable <= 1:
        raise SystemExit("error: --min-readable must be in [0, 1]")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    G, meta = load_generator(REPO / args.checkpoint)
    G = G.eval()
    enc_path = encoder_beside(REPO / args.checkpoint)
    if enc_path is None:
        raise SystemExit(f"error: no encoder.safetensors beside {args.checkpoint}: a hand run is needed")
    E = load_encoder(enc_path, generator=G)
    reader = load_reader(REPO / args.reader)
    hand_classes = meta["class_list"]
    _, other_meta = load_generator(REPO / args.classes_from)
    classes = other_meta["class_list"]
    syllables = [classes.syllable(i) for i in range(len(classes))]
    missing = [s for s in syllables if s not in hand_classes]
    if missing:
        raise SystemExit(f"error: {args.checkpoint} cannot draw {len(missing)} of the syllables, e.g. {missing[0]}")
    labels = torch.tensor([hand_classes.index(s) for s in syllables])             # (C,) the hand run's classes
    codes = torch.tensor([ord(s) - SBASE for s in syllables])
    train, _ = load_splits("fonts", classes=classes, size=G.cfg.size)
    names = [train.group_names[g] for g in sorted(set(train.groups.tolist()))]
    excluded = validation_split(names, args.exclude_val, seed=args.seed) if args.exclude_val else []
    sources = [n for n in names if n not in set(excluded)]
    gen = torch.Generator().manual_seed(args.draw_seed)

    def writer_of(name: str) -> tuple:
        gi = train.group_names.index(name)
        m = train.groups == gi
        imgs, labs = train.images[m], train.labels[m]
        pick = torch.randperm(len(labs), generator=gen)[:args.refs]
        lat, w, _ = start_writer(E, G, to_unit(imgs[pick][:, None]), labels[labs[pick]])
        return lat, w

    faces, recipe, tries = [], [], 0
    while len(faces) < args.faces:
        tries += 1
        if tries > 4 * args.faces:
            raise SystemExit(f"error: only {len(faces)} of {tries - 1} drawn faces were readable enough "
                             f"(--min-readable {args.min_readable}); lower --spread or --noise")
        a, b = torch.randperm(len(sources), generator=gen)[:2].tolist()
        lat, w, alpha = mix_writers(writer_of(sources[a]), writer_of(sources[b]), spread=args.spread,
                                    noise=args.noise, gen=gen)
        x = draw_face(G, lat, w, labels)                                            # (C, 1, S, S)
        with torch.no_grad():
            _, read = reader.read(x)
        readable = float((read == codes).float().mean())
        if readable < args.min_readable:
            continue
        faces.append(((x[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy())
        recipe.append({"name": f"mix{len(faces):03d}", "a": sources[a], "b": sources[b],
                       "alpha": [round(v, 3) for v in alpha], "readable": round(readable, 4)})
        print(f"{recipe[-1]['name']}: {sources[a]} x {sources[b]}, readable {readable:.3f}", flush=True)
    # each source face once more as another hand; kinds dealt evenly over a shuffled order of the faces
    order = torch.randperm(len(sources), generator=gen).tolist() if kinds else []
    dropped = []
    for n, si in enumerate(order):
        name, kind = sources[si], kinds[n % len(kinds)]
        gi = train.group_names.index(name)
        m = train.groups == gi
        glyphs = np.zeros((len(syllables), G.cfg.size, G.cfg.size), np.uint8)
        glyphs[train.labels[m].numpy()] = train.images[m].numpy()                 # (C, S, S) in class order
        if len(set(train.labels[m].tolist())) != len(syllables):
            raise SystemExit(f"error: training face {name} lacks some of the {len(syllables)} syllables")
        v = hand_variant(glyphs, kind, seed=args.draw_seed * 1000 + n)
        with torch.no_grad():
            _, read = reader.read(to_unit(torch.from_numpy(v)[:, None]))
        readable = float((read == codes).float().mean())
        if readable < args.min_readable:
            dropped.append({"name": name, "variant": kind, "readable": round(readable, 4)})
            print(f"{name} as {kind}: readable {readable:.3f}, dropped", flush=True)
            continue
        faces.append(v)
        recipe.append({"name": f"var{len(faces):03d}", "a": name, "b": name, "variant": kind,
                       "readable": round(readable, 4)})
        print(f"{recipe[-1]['name']}: {name} as {kind}, readable {readable:.3f}", flush=True)
    if not faces:
        raise SystemExit("error: no face was readable enough; lower --min-readable")
    info = {"command": "python scripts/make_hand_faces.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "checkpoint": args.checkpoint, "reader": args.reader, "classes_from": args.classes_from,
            "excluded_validation_faces": excluded, "tries": tries, "faces": recipe,
            "variants_dropped": dropped}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=np.stack(faces), syllables=np.array(syllables),
                        names=np.array([r["name"] for r in recipe]), recipe=np.array(json.dumps(info)))
    with atomic_path(out) as t:
        Path(t).write_bytes(buf.getvalue())
    print(f"{len(faces)} faces ({tries} drawn) -> {out} ({out.stat().st_size / 1e6:.1f} MB, {time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
