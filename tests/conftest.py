"""Shared fixtures. Everything trains with the `tiny` preset (4 classes, 16x16, 2 epochs): seconds.

  tiny_run   Path of a run directory trained once per session by `python train.py --preset tiny`
             (2 epochs). Shared by every test in the session: treat it as READ-ONLY; copy it
             (shutil.copytree) before resuming, deleting or corrupting anything in it.
  tiny_ckpt  Path of its last generator checkpoint (epoch_002.safetensors).
  tiny_model (generator in eval mode, metadata) loaded from tiny_ckpt; read-only as well.
  font_set   fails (never skips) unless every face the shipped runs were trained on is installed,
             naming the missing Debian packages (font_set_problem): ask for it first in a test whose
             figures come from the installed fonts.

Helpers: REPO (the repository root), TIMEOUT (seconds per subprocess), python_env() (environment
for subprocesses: the repository on PYTHONPATH, one OpenMP thread), run_py(args) (run
`python ARGS` in REPO, output captured, with a timeout).

Caches: the session sets REKOGAN_CACHE and REKOGAN_EVAL_CACHE (glyphs, evaluation references) to a
temporary folder, removed at exit, before any test runs; subprocesses inherit them through
os.environ. The tests never read or write the user's ~/.cache/rekogan.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE = Path(tempfile.mkdtemp(prefix="rekogan-test-cache-"))
atexit.register(shutil.rmtree, CACHE, ignore_errors=True)
for _var in ("REKOGAN_CACHE", "REKOGAN_EVAL_CACHE"):
    os.environ[_var] = str(CACHE)          # for this process and, through os.environ, every subprocess

# seconds a subprocess may take: generous, because on a machine whose cores are busy training at a
# higher priority a tiny run can take minutes (override with REKOGAN_TEST_TIMEOUT)
TIMEOUT = float(os.environ.get("REKOGAN_TEST_TIMEOUT", 900))

# arguments every tiny test run shares (one thread: the machine's cores are busy training)
# fp32 everywhere: the shared tiny run is then the same model on CPUs with and without native bf16
# (the writer-fit test depends on what it learnt: with the bf16 tiny run of an AVX512-BF16 machine its
# recovery error was already 0.0003 at k = 1, so it could not fall with k)
TINY_ARGS = ["--preset", "tiny", "--threads", "1", "--amp", "false"]


def python_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_py(args: list[str], *, timeout: float = TIMEOUT, env: dict | None = None, cwd: Path = REPO,
           check: bool = False) -> subprocess.CompletedProcess:
    """`python ARGS` in the repository root; text output captured."""
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env or python_env(),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"python {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    return proc


def random_tiny_generator(*, z_gain: float | None = None):
    """A tiny-preset generator (4 classes, 16x16) with random weights and standing statistics, in eval mode:
    no training run, no fonts; deterministic (seed 0). z_gain: also give every BatchNorm a z-dependent gain
    and shift (std z_gain / sqrt(fan-in)), so that z matters at every layer."""
    import torch
    from rekogan.config import resolve
    from rekogan.models import build_generator, init_weights
    from rekogan.steps import standing_stats
    torch.manual_seed(0)
    G = build_generator(resolve("tiny").model_config(4))
    G.apply(init_weights)
    with torch.no_grad():
        for norm in G.norms if z_gain is not None else ():
            norm.gain.weight.normal_(0, z_gain / norm.gain.in_features ** 0.5)
            norm.bias.weight.normal_(0, z_gain / norm.bias.in_features ** 0.5)
        standing_stats(G, n_classes=4)
    return G.eval()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2-epoch tiny run directory (config.json, epoch_001/002, grids, metrics, state). Read-only."""
    out = tmp_path_factory.mktemp("tiny_run") / "run"
    run_py(["train.py", *TINY_ARGS, "--out", out], check=True)
    return out


@pytest.fixture(scope="session")
def tiny_ckpt(tiny_run) -> Path:
    """The last generator checkpoint of tiny_run (epoch_002.safetensors). Read-only."""
    path = tiny_run / "epoch_002.safetensors"
    assert path.is_file(), f"tiny run did not write {path.name}: {sorted(p.name for p in tiny_run.iterdir())}"
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_ckpt):
    """(generator in eval mode, metadata) from tiny_ckpt. Do not train or modify it."""
    from rekogan.checkpoints import load_generator
    return load_generator(tiny_ckpt)


def font_set_problem(font_dirs: list[str] | None = None) -> str | None:
    """Why the installed fonts are not the set the tests expect (every face the shipped runs were
    trained on, from checkpoints/*/data.json), naming the missing Debian packages and the command
    that installs them; None when it is complete."""
    from rekogan.data.fonts import missing_packages, trained_faces
    expected = trained_faces(sorted((REPO / "checkpoints").iterdir()))
    assert expected, "no shipped run records its training faces (checkpoints/*/data.json)"
    missing = missing_packages(expected, font_dirs)
    if not missing:
        return None
    n = sum(len(faces) for faces in missing.values())
    which = "; ".join(f"{pkg} ({', '.join(faces[:3])}{', …' if len(faces) > 3 else ''})"
                      for pkg, faces in missing.items())
    return (f"the installed font set is incomplete: {n} of the {len(expected)} faces the tests read are missing, "
            f"from {which}. Install them with: sudo apt-get install {' '.join(missing)} "
            "(scripts/test.sh installs every missing package of its list)")


def require_font_set() -> None:
    """pytest.fail (never a skip: CI must not pass by skipping) with font_set_problem's message."""
    problem = font_set_problem()
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def font_set() -> None:
    """Tests whose figures come from the installed fonts (the `fonts` source) ask for this first, so
    a machine with only some of the font packages gets a message naming them rather than a numeric
    assertion that fails for no visible reason."""
    require_font_set()


def pytest_configure(config):
    # slow: runs in the default suite; `pytest -m "not slow"` leaves it out for a quick pass
    config.addinivalue_line("markers", "slow: a test over ~60 s (still in the default suite)")
