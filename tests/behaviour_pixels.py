"""Rendered pixels of the shipped runs, and the rule they are pinned under: what tests/test_behaviour.py checks.

  python tests/behaviour_pixels.py --write [--root CHECKPOINTS]   # regenerate tests/behaviour_pixels.npz
  python tests/behaviour_pixels.py --out FILE.npz [--root ...]     # render every picture into FILE (the test)
  python tests/behaviour_pixels.py --compare FILE.npz              # FILE against the reference, one line each

Regenerate only for a deliberate change of behaviour, and say which in the commit. Run with one torch
thread, as the test does (OMP_NUM_THREADS=1 python tests/behaviour_pixels.py --write).

The pictures: Studio.sheet and `python -m rekogan sheet` for the fixed and the collapsed run at two
seeds and two truncations, a Studio.write page of each, one latent-walk strip; the shipped hangul
run at its best epoch (68): write pages at stroke weights −2, 0 and +2, a page of its held-out
syllables (the ones it never trained on) and the sheet command with --weight. Only syllables the
runs can write are drawn, so no printed (font-dependent) glyph is involved. The sheet command's
PNGs are tiled as the studio tiles a sheet (rekogan.sampling.tile), so its 520 glyphs are held to
the reference of the studio's sheet at the same seed and truncation, and its file names are kept.

The rule (`compare`): the same shape; no pixel more than 1 grey level from the reference, and at
most 0.01 % of a picture's pixels off by that level (other CPU kernels, e.g. ATEN_CPU_CAPABILITY=
default or another architecture, move a few dozen of a sheet's 2.27 M pixels by 1). A sheet is
too large to store whole (about 0.8 MB each, compressed), so the reference keeps, for every
picture, the sum of each 64 x 64 block (all of it) and the pixels of every STRIDE-th band of 64
rows (all rows of a picture up to FULL_PIXELS): the per-pixel rule is checked on the kept rows,
and on the block sums the bound it implies (the absolute changes of the sums add up to at most the
number of pixels allowed off). Both are necessary conditions of the rule, so a picture within the
rule never fails, and any real change of a glyph moves its block's sum by hundreds of levels.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "behaviour_pixels.npz"

RUNS = {"fixed": 200, "collapsed": 37}
SEEDS = (7, 42)
PSIS = (1.0, 0.6)
WRITE_TEXT = "한글 손글씨\n가나다라마바사"
WALK_TEXT = "가나다"
HANGUL_EPOCH = 68                     # the shipped hangul run's best epoch (docs/RESULTS.md)
HANGUL_WEIGHTS = (-2.0, 0.0, 2.0)
HANGUL_CLI_TEXT, HANGUL_CLI_WEIGHT = "안녕하세요뷁", 1.5
FLAT = {"natural": 0, "size": 64}     # the Write tab's sliders at 0 and 64 px: the pages as pinned before them

MAX_LEVELS = 1                        # grey levels a pixel may move
MAX_SHARE = 1e-4                      # of a picture's pixels that may move (0.01 %)
BLOCK = 64                            # block sums over BLOCK x BLOCK squares; bands of BLOCK rows
STRIDE = 12                           # every STRIDE-th band of a large picture is kept whole
FULL_PIXELS = 200_000                 # pictures up to this size are kept whole


# ---- the pictures ----------------------------------------------------------------------------

def cli_sheet(checkpoint: Path, *, seed: int, psi: float, syllables: str | None = None,
              weight: float | None = None) -> tuple[np.ndarray, list[str]]:
    """`python -m rekogan sheet` in-process: its PNGs (file-name order) tiled as Studio.sheet tiles, and their names."""
    import torch
    from PIL import Image

    from rekogan.__main__ import main
    from rekogan.sampling import tile
    args = ["sheet", "--checkpoint", str(checkpoint), "--seed", str(seed), "--truncation", str(psi)]
    args += ["--syllables", syllables] if syllables else []
    args += ["--weight", str(weight)] if weight is not None else []
    with tempfile.TemporaryDirectory() as out:
        with contextlib.redirect_stdout(io.StringIO()):
            rc = main([*args, "--out", out])
        assert rc == 0, f"sheet exited {rc}"
        pngs = sorted(Path(out).glob("*.png"))
        glyphs = []
        for png in pngs:
            with Image.open(png) as im:
                glyphs.append(np.asarray(im))
    stack = torch.from_numpy(np.stack(glyphs))
    return tile(stack, columns=min(26, len(stack))).numpy(), [p.name for p in pngs]


def sheet_name(run: str, epoch: int, seed: int, psi: float) -> str:
    return f"studio.sheet {run} e{epoch} seed {seed} psi {psi}"


def render(root: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """({picture name: uint8 array}, {sheet command picture: its PNG file names})."""
    import torch
    torch.set_num_threads(1)
    from rekogan.studio import Studio
    studio = Studio(root=root)
    pics, files = {}, {}
    for run, epoch in RUNS.items():
        for seed in SEEDS:
            for psi in PSIS:
                pics[sheet_name(run, epoch, seed, psi)] = studio.sheet(run=run, epoch=epoch, seed=seed, truncation=psi,
                                                                     size=64)
                name = f"cli sheet {run} e{epoch} seed {seed} psi {psi}"
                pics[name], files[name] = cli_sheet(root / run / f"epoch_{epoch:03d}.safetensors", seed=seed, psi=psi)
        page = studio.write(text=WRITE_TEXT, seed=42, truncation=0.8, run=run, epoch=epoch, **FLAT)
        pics[f"studio.write {run} e{epoch} seed 42 psi 0.8"] = page.image
    walk = studio.walk(text=WALK_TEXT, seed_a=1, seed_b=2, steps=4, truncation=0.8, run="fixed", epoch=RUNS["fixed"],
                       **FLAT)
    pics["studio.walk fixed strip seeds 1-2 steps 4 psi 0.8"] = walk.strip
    e = HANGUL_EPOCH
    for w in HANGUL_WEIGHTS:
        page = studio.write(text=WRITE_TEXT, seed=42, truncation=0.8, run="hangul", epoch=e, weight=w, **FLAT)
        pics[f"studio.write hangul e{e} seed 42 psi 0.8 weight {w:g}"] = page.image
    held = studio.sheet_page(run="hangul", epoch=e, seed=42, truncation=0.8, syllables="heldout", page=1, size=64)
    assert not held.missing, f"the hangul run should write every held-out syllable, not {held.missing}"
    pics[f"studio.sheet_page hangul e{e} heldout page 1 seed 42 psi 0.8"] = held.image
    name = f"cli sheet hangul e{e} seed 42 psi 0.8 syllables {HANGUL_CLI_TEXT} weight {HANGUL_CLI_WEIGHT:g}"
    pics[name], files[name] = cli_sheet(root / "hangul" / f"epoch_{e:03d}.safetensors", seed=42, psi=0.8,
                                        syllables=HANGUL_CLI_TEXT, weight=HANGUL_CLI_WEIGHT)
    return {k: np.ascontiguousarray(v, dtype=np.uint8) for k, v in pics.items()}, files


def reference_of(name: str) -> str:
    """The reference a picture is held to: a sheet command's sheet shares the studio's sheet."""
    if name.startswith("cli sheet ") and name.split()[2] in RUNS:
        return "studio.sheet " + name[len("cli sheet "):]
    return name


# ---- what is kept, and the rule ---------------------------------------------------------------

def kept_rows(shape: tuple[int, int]) -> np.ndarray:
    """Row indices kept whole: all of a small picture, every STRIDE-th band of BLOCK rows of a large one."""
    h, w = shape
    rows = np.arange(h)
    return rows if h * w <= FULL_PIXELS else rows[(rows // BLOCK) % STRIDE == 0]


def block_sums(a: np.ndarray) -> np.ndarray:
    """Sum of every BLOCK x BLOCK square (edge blocks smaller), as int64."""
    h, w = a.shape
    hb, wb = -(-h // BLOCK), -(-w // BLOCK)
    padded = np.zeros((hb * BLOCK, wb * BLOCK), np.int64)
    padded[:h, :w] = a
    return padded.reshape(hb, BLOCK, wb, BLOCK).sum(axis=(1, 3))


def allowance(shape: tuple[int, int]) -> int:
    """Pixels of a picture that may be off by MAX_LEVELS."""
    return int(MAX_SHARE * shape[0] * shape[1])


def keep(a: np.ndarray) -> dict[str, np.ndarray]:
    """What the reference stores of a picture."""
    return {"shape": np.array(a.shape, np.int64), "sums": block_sums(a).astype(np.uint32), "rows": a[kept_rows(a.shape)]}


def compare(got: np.ndarray, ref: dict[str, np.ndarray]) -> str | None:
    """None when `got` is within the rule of the reference `ref` (keep()'s fields), else what is off."""
    shape = tuple(int(x) for x in ref["shape"])
    if got.shape != shape:
        return f"shape {got.shape} instead of {shape}"
    allowed = allowance(shape)
    d = np.abs(got[kept_rows(shape)].astype(np.int64) - ref["rows"].astype(np.int64))
    if d.max(initial=0) > MAX_LEVELS:
        return f"a pixel moved {d.max()} grey levels (at most {MAX_LEVELS})"
    if (d > 0).sum() > allowed:
        return f"{(d > 0).sum()} of the kept pixels moved (at most {allowed} of {got.size} may)"
    moved = int(np.abs(block_sums(got) - ref["sums"].astype(np.int64)).sum())
    if moved > allowed:
        return f"block sums moved by {moved} grey levels in all (at most {allowed}: the rule's bound)"
    return None


def save_reference(pics: dict[str, np.ndarray], files: dict[str, list[str]], path: Path = REFERENCE):
    arrays = {}
    for name, a in pics.items():
        if reference_of(name) == name:
            arrays.update({f"{name}|{k}": v for k, v in keep(a).items()})
    for name, names in files.items():
        arrays[f"{name}|files"] = np.array(" ".join(names))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_reference(path: Path = REFERENCE) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, list[str]]]:
    refs: dict[str, dict[str, np.ndarray]] = {}
    files = {}
    with np.load(path) as z:
        for key in z.files:
            name, field = key.rsplit("|", 1)
            if field == "files":
                files[name] = str(z[key]).split()
            else:
                refs.setdefault(name, {})[field] = z[key]
    return refs, files


def check(pics: dict[str, np.ndarray], files: dict[str, list[str]], path: Path = REFERENCE) -> dict[str, str]:
    """{picture: what is off} against the reference; {} when every picture keeps to the rule."""
    refs, ref_files = load_reference(path)
    problems = {}
    wanted = {reference_of(n) for n in pics}
    for name in sorted(set(refs) - wanted):
        problems[name] = "pinned, but no longer rendered"
    for name, a in pics.items():
        ref = refs.get(reference_of(name))
        off = "not pinned (regenerate the reference?)" if ref is None else compare(a, ref)
        if off is None and name in files and files[name] != ref_files.get(name):
            off = f"the sheet command wrote other files: {files[name][:5]}... instead of {ref_files.get(name, [])[:5]}..."
        if off:
            problems[name] = off
    return problems


def save_renders(path: Path, pics: dict[str, np.ndarray], files: dict[str, list[str]]):
    np.savez(path, **pics, **{f"{n}|files": np.array(" ".join(v)) for n, v in files.items()})


def load_renders(path: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    pics, files = {}, {}
    with np.load(path) as z:
        for key in z.files:
            if key.endswith("|files"):
                files[key[:-len("|files")]] = str(z[key]).split()
            else:
                pics[key] = z[key]
    return pics, files


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=HERE.parent / "checkpoints", help="the checkpoints root")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help=f"render and write the reference {REFERENCE.name}")
    g.add_argument("--out", type=Path, help="render into this .npz (uncompressed)")
    g.add_argument("--compare", type=Path, help="a --out file against the reference")
    args = p.parse_args(argv)
    if args.compare:
        problems = check(*load_renders(args.compare))
        print(json.dumps(problems, ensure_ascii=False, indent=1))
        return 1 if problems else 0
    pics, files = render(args.root)
    if args.write:
        save_reference(pics, files)
        print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size / 1e3:.0f} kB, {len(pics)} pictures)")
    else:
        save_renders(args.out, pics, files)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))       # run as a script from anywhere
    sys.exit(main())
