"""rekogan.studio.memory: the allocator settings and the environment they come from."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from rekogan.studio import memory

GLIBC = memory._libc() is not None

# in a fresh interpreter: free a 24 MiB array (glibc then raises its mmap threshold to 24 MiB),
# allocate and free one again, and print how much of it stays resident
PROBE = """
import sys, numpy as np
from rekogan.studio import memory
if sys.argv[1] != "0":
    assert memory.limit_mmap_threshold(int(sys.argv[1])) == int(sys.argv[1])
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
a = np.ones(24 << 17); del a            # 24 MiB of float64, touched
before = rss()
b = np.ones(24 << 17); del b
print((rss() - before) >> 20)
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
@pytest.mark.parametrize("threshold, stays", [(0, True), (4 << 20, False)])
def test_mmap_threshold_returns_freed_activations_to_the_system(threshold, stays):
    out = subprocess.run([sys.executable, "-c", PROBE, str(threshold)], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    resident_mib = int(out.strip())
    if stays:
        assert resident_mib >= 20, f"glibc's dynamic threshold should keep the freed 24 MiB resident, kept {resident_mib}"
    else:
        assert resident_mib <= 2, f"with a fixed threshold the freed 24 MiB should go back, kept {resident_mib}"


def test_settings_come_from_the_environment_with_one_line_errors(monkeypatch):
    monkeypatch.setenv("REKOGAN_MMAP_THRESHOLD", "lots")
    with pytest.raises(SystemExit, match="REKOGAN_MMAP_THRESHOLD must be a whole number"):
        memory.limit_mmap_threshold()
    monkeypatch.setenv("REKOGAN_OUTPUT_TTL", "0")
    with pytest.raises(SystemExit, match="REKOGAN_OUTPUT_TTL must be a whole number >= 1"):
        memory.output_ttl()
    monkeypatch.setenv("REKOGAN_OUTPUT_TTL", "90")
    assert memory.output_ttl() == 90 and memory.delete_cache_setting() == (45, 90)
    monkeypatch.delenv("REKOGAN_MMAP_THRESHOLD")
    assert memory.limit_mmap_threshold(0) is None                     # 0: glibc's own behaviour
