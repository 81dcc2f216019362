"""Behaviour is pinned: pixels of the shipped runs hashed before the structure refactor (issue 10).

The hashes below were computed by tests/behaviour_hashes.py on commit d6933b4, before any module
moved; this test recomputes them on the code as it is now. A change here means the same run, seed
and truncation no longer give the same picture: only a deliberate change of behaviour may update
them (say which in the commit). One torch thread, in a subprocess, as when they were recorded.
"""
from __future__ import annotations

import json

from conftest import REPO, python_env, run_py

PINNED = {
    "cli sheet collapsed e40 seed 42 psi 0.6":
        "43481109ae756fa1e418d9ac0f947897a132a0d2c389d3a69a8ec35ea3f21de2",
    "cli sheet collapsed e40 seed 42 psi 1.0":
        "20fb3b3cf7404cfb9850118fee91b9961981a96ab56ec6b198a20d9941c8c39a",
    "cli sheet collapsed e40 seed 7 psi 0.6":
        "d78e783e9a12ed6229bc5193ebe5f4fe6568bcd6c01da28811b4a51ed8fc972a",
    "cli sheet collapsed e40 seed 7 psi 1.0":
        "9bbd8e7879b268d76d2c7dd78eb3dc75d63cf954da1788f779e08e7b27f548b4",
    "cli sheet fixed e200 seed 42 psi 0.6":
        "52d8a1302ed8501296b17a7c1aca0dd9364f9c5529f3caedda104ce2109feea8",
    "cli sheet fixed e200 seed 42 psi 1.0":
        "5cd523cfee0bc99185658eaa69449e6930dc8f6d9deed1a69c7ad306cc44f90d",
    "cli sheet fixed e200 seed 7 psi 0.6":
        "39db0b72a164b72d082f6e9406f1886270eca823ecba1ae7f2211b92e151ad47",
    "cli sheet fixed e200 seed 7 psi 1.0":
        "b32483e45dc33df8b155a867d84e6e9bd64cfeb68851d62ae07209b671e6ebc0",
    "studio.sheet collapsed e40 seed 42 psi 0.6":
        "d5a231901796d574d08dfa7db454c9248d6410b92e974d466e0f37a6038985a9",
    "studio.sheet collapsed e40 seed 42 psi 1.0":
        "36441ec68226051b19413273f5ff0889c57a9dbb894cd363e71c9cd3d46cec1e",
    "studio.sheet collapsed e40 seed 7 psi 0.6":
        "edf749823f9783552740373bcfe1ba0967fa78141a29c583f7f74abe4cc064ba",
    "studio.sheet collapsed e40 seed 7 psi 1.0":
        "ae876b3c59618d29d3588572d8a18bed907498320e7f9e9489e1bb976d63c7ab",
    "studio.sheet fixed e200 seed 42 psi 0.6":
        "4656650041d453547c9dbce4cb95d8ccb53b97759ea943ac6f95f1639222b6af",
    "studio.sheet fixed e200 seed 42 psi 1.0":
        "62de4b4c7a8843fa5eea2da00d4bded7404c07df232873c4e301e898f9a761f5",
    "studio.sheet fixed e200 seed 7 psi 0.6":
        "3352ee4b69752b0d0d75e2a2a25a62d2dfe5cc54417d1856ca4739914836c09c",
    "studio.sheet fixed e200 seed 7 psi 1.0":
        "49be98f3a6350c98e669b778daff2d37d9e59c82873a6877751281b305bb48ce",
    "studio.walk fixed strip seeds 1-2 steps 4 psi 0.8":
        "9d0a611a0e4d792d197960aec627f54545f72d97dae2d895ee57d98b2c16abe8",
    "studio.write collapsed e40 seed 42 psi 0.8":
        "313d6d059a9a7ffddb751413ebcb46f4883f559b8193457c861a8eeada019394",
    "studio.write fixed e200 seed 42 psi 0.8":
        "969bfff9202395aa53182e0a0939f4c78ac68fd69e60c3c2b13b2a25408c26af",
}


def test_rendered_pixels_are_unchanged_since_the_refactor():
    proc = run_py([REPO / "tests" / "behaviour_hashes.py", REPO / "checkpoints"], env=python_env(OMP_NUM_THREADS="1"),
                  check=True)
    now = json.loads(proc.stdout)
    changed = sorted(k for k in PINNED if now.get(k) != PINNED[k])
    assert not changed, f"these renders changed: {changed}"
    assert sorted(now) == sorted(PINNED), "the set of pinned renders changed"
