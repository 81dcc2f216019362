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


# ---- the output sweeper: answers older than the TTL are deleted, nothing else --------------------

def _ctime_ns(path) -> int:
    import os
    return os.lstat(path).st_ctime_ns


def test_sweep_deletes_the_apps_old_answers_and_touches_nothing_else(tmp_path, monkeypatch):
    """A real gr.Blocks whose components cache files the way Gradio does (move_resource_to_block_cache):
    at a clock where the old answers are past the TTL and the new ones are not, sweep deletes exactly
    the old answers; a file a component keeps, files in the same cache folder that no component
    cached and files outside it stay, however old."""
    import os
    import gradio as gr
    cache, outside = tmp_path / "gradio-cache", tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    with gr.Blocks() as blocks:
        image, file = gr.Image(), gr.File()
    sources = tmp_path / "answers"
    sources.mkdir()

    def cached(component, name: str) -> str:
        src = sources / name
        src.write_bytes(name.encode() * 10)             # distinct content: Gradio names cache files by hash
        return component.move_resource_to_block_cache(str(src))

    old = [cached(image, "old-1.png"), cached(file, "old-2.ttf")]
    kept = cached(image, "example.png")
    image.keep_in_cache.add(kept)                       # e.g. an example's picture: never swept
    stranger = cache / "not-cached-by-a-component.txt"     # as old as the old answers, but no component's
    stranger.write_text("left alone")
    neighbour = outside / "neighbour.txt"
    neighbour.write_text("left alone")
    new = [cached(file, "new-1.ttf")]
    # the new answer must be strictly younger than the old ones (ctime ticks coarsely): touch its
    # metadata until its ctime moves past theirs (no sleep: the loop ends on the next clock tick)
    while _ctime_ns(new[0]) <= max(_ctime_ns(p) for p in old):
        os.chmod(new[0], 0o644)
    vanished = cached(image, "vanished.png")
    os.remove(vanished)                                  # deleted by someone else meanwhile: no error
    assert all(str(cache) in p for p in old + new + [kept]), "Gradio cached outside GRADIO_TEMP_DIR"
    assert {p for s in blocks.temp_file_sets for p in s} >= set(old + new + [kept])   # the sets sweep reads

    ttl = 600.0
    old_c = max(_ctime_ns(p) for p in old) / 1e9
    new_c = _ctime_ns(new[0]) / 1e9
    now = ttl + (old_c + new_c) / 2                      # the old ones are past the TTL, the new one is not
    monkeypatch.setattr(memory.time, "time", lambda: now)
    assert memory.sweep(blocks, ttl) == len(old)
    assert not [p for p in old if os.path.lexists(p)]
    assert all(os.path.isfile(p) for p in new + [kept])
    assert stranger.read_text() == "left alone" and neighbour.read_text() == "left alone"
    assert sorted(p.name for p in sources.iterdir()) == sorted(
        ["old-1.png", "old-2.ttf", "example.png", "new-1.ttf", "vanished.png"])    # the originals: untouched
    remaining = {p for s in blocks.temp_file_sets for p in s}
    assert not remaining & set(old + [vanished]) and remaining >= set(new + [kept])   # the sets forget them
    # a later sweep, once the new answer is past the TTL too, takes it and still keeps the rest
    monkeypatch.setattr(memory.time, "time", lambda: new_c + ttl + 1)
    assert memory.sweep(blocks, ttl) == 1 and not os.path.lexists(new[0])
    assert os.path.isfile(kept) and stranger.is_file() and neighbour.is_file()
