"""SHA-256 of rendered pixels from the shipped runs: what tests/test_behaviour.py pins.

  python tests/behaviour_hashes.py [CHECKPOINTS_ROOT]    # prints {name: sha256} as JSON

Each hash covers the shape and the uint8 pixels of one picture (not a PNG file's bytes, which
depend on the PNG encoder): Studio.sheet and `python -m rekogan sheet` for the fixed and the
collapsed run at two seeds and two truncations, one Studio.write page and one latent-walk strip.
Only syllables the models know are drawn, so no printed (font-dependent) glyph is involved.
Run with one torch thread, as the test does.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

RUNS = {"fixed": 200, "collapsed": 40}
SEEDS = (7, 42)
PSIS = (1.0, 0.6)
WRITE_TEXT = "한글 손글씨\n가나다라마바사"
WALK_TEXT = "가나다"


def digest(array) -> str:
    import numpy as np
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def cli_sheet_digest(checkpoint: Path, *, seed: int, psi: float) -> str:
    """`python -m rekogan sheet` in-process; the PNGs read back, in file-name order."""
    import numpy as np
    from PIL import Image

    from rekogan.__main__ import main
    h = hashlib.sha256()
    with tempfile.TemporaryDirectory() as out:
        with contextlib.redirect_stdout(io.StringIO()):      # keep stdout for the JSON
            rc = main(["sheet", "--checkpoint", str(checkpoint), "--seed", str(seed), "--truncation", str(psi),
                       "--out", out])
        assert rc == 0, f"sheet exited {rc}"
        for png in sorted(Path(out).glob("*.png")):
            h.update(png.name.encode() + digest(np.asarray(Image.open(png))).encode())
    return h.hexdigest()


def compute(root: Path) -> dict[str, str]:
    import torch
    torch.set_num_threads(1)
    from rekogan.studio import Studio
    studio = Studio(root=root)
    out = {}
    for run, epoch in RUNS.items():
        for seed in SEEDS:
            for psi in PSIS:
                out[f"studio.sheet {run} e{epoch} seed {seed} psi {psi}"] = digest(
                    studio.sheet(run=run, epoch=epoch, seed=seed, truncation=psi))
                out[f"cli sheet {run} e{epoch} seed {seed} psi {psi}"] = cli_sheet_digest(
                    root / run / f"epoch_{epoch:03d}.safetensors", seed=seed, psi=psi)
        page = studio.write(text=WRITE_TEXT, seed=42, truncation=0.8, run=run, epoch=epoch)
        out[f"studio.write {run} e{epoch} seed 42 psi 0.8"] = digest(page.image)
    walk = studio.walk(text=WALK_TEXT, seed_a=1, seed_b=2, steps=4, truncation=0.8, run="fixed", epoch=RUNS["fixed"])
    out["studio.walk fixed strip seeds 1-2 steps 4 psi 0.8"] = digest(walk.strip)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # run as a script from anywhere
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "checkpoints"
    print(json.dumps(compute(root), indent=1, sort_keys=True))
