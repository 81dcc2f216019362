"""The server's memory and disk bounds: glibc allocator arenas, trimming freed memory, output TTL.

Why (docs/RESULTS.md, "Hardening (issue 15)"): the app runs each request on one of Gradio's worker threads, and
glibc gives every thread that allocates concurrently its own malloc arena (up to 8 per core). A
long text's forward pass allocates tens of MB of activations; freed, they stay in that thread's
arena, so resident memory climbs to (arenas x the largest request) and stays there. Two arenas
and a periodic malloc_trim(0) return it to the system. Linux/glibc only; elsewhere a no-op.

  REKOGAN_MALLOC_ARENAS  glibc arenas (default 2; 0 leaves glibc's default of 8 per core)
  REKOGAN_MMAP_THRESHOLD bytes from which an allocation gets its own mmap, returned to the
                         system when freed (default 8 MiB; 0 leaves glibc's dynamic threshold,
                         which rises to 32 MiB after the first large free, so a request's
                         activations then come from the heap and stay there until a trim)
  REKOGAN_TRIM_THRESHOLD bytes of free memory at the top of a heap that glibc keeps instead of
                         returning at once (default 16 MiB; 0 leaves glibc's 128 KiB once a
                         threshold above is fixed); the trimmer returns it every few seconds
  REKOGAN_TRIM_SECONDS   seconds between malloc_trim(0) calls (default 2; 0: never)
  REKOGAN_OUTPUT_TTL     seconds an answer's file (PNG, GIF) is kept on disk (default 3600)

Issue 22 (docs/RESULTS.md, "Many writers at once"): with the 1 MiB threshold of issue 15 every
activation of a /write forward pass (1-8 MiB for 20-64 glyphs) was a fresh mapping, zeroed and
faulted in page by page: ~10-20 ms of CPU (mostly system time) per 20-syllable request, as much
as the forward pass itself. The app's passes now run one at a time on one thread (batcher.py), of
at most 32 glyphs, so their activations stay under the 16 MiB threshold below (8 MiB: the collapsed
run's widest layer, 64 x 32 x 32 floats per glyph) and are reused from the heap; a 16 MiB trim
threshold stops glibc giving them back after every pass (with a fixed mmap threshold it would trim anything above 128 KiB), and the trimmer
still returns what is free every few seconds. Larger blocks (a sheet's or a font's pass of 1,024
glyphs) are still mapped and returned at once. Higher thresholds (16/32 MiB, 64-glyph passes)
saved no measurable CPU more and left ~80 MB more resident right after the soak's rounds.

Disk: gr.Blocks(delete_cache=(frequency, age)) is set, but in a soak with delete_cache alone (TTL
30 s) Gradio 6.31 deleted nothing in 10 minutes (1,003 files, 105 MB, the oldest 690 s old), while a
quiet toy app's files were deleted. The likely cause, from its code: route_utils.
delete_files_created_by_app iterates each component's live set of files while worker threads add
to it, which raises "Set changed size during iteration" and ends the scheduled task for good.
start_sweeper() does the same deletion over copies of those sets, every `frequency` seconds, and
never stops on an error.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time

log = logging.getLogger("rekogan.memory")

M_ARENA_MAX = -8            # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
M_TRIM_THRESHOLD = -1
DEFAULT_ARENAS = 2
DEFAULT_MMAP_THRESHOLD = 8 << 20
DEFAULT_TRIM_THRESHOLD = 16 << 20
DEFAULT_TRIM_SECONDS = 2.0
DEFAULT_OUTPUT_TTL = 3600


def _libc():
    try:
        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name or "libc.so.6")
        lib.mallopt, lib.malloc_trim  # noqa: B018 - both exist in glibc only
        return lib
    except (OSError, AttributeError):
        return None


def env_int(name: str, default: int, *, low: int = 0) -> int:
    """An integer setting from the environment, or SystemExit with one line naming it."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or value < low:
        raise SystemExit(f"error: {name} must be a whole number >= {low}, got {raw!r}")
    return value


def output_ttl() -> int:
    """$REKOGAN_OUTPUT_TTL: seconds an answer's file stays on disk (at least 1; default 3600)."""
    return env_int("REKOGAN_OUTPUT_TTL", DEFAULT_OUTPUT_TTL, low=1)


def delete_cache_setting(ttl: int | None = None) -> tuple[int, int]:
    """(frequency, age) for gr.Blocks(delete_cache=...): files older than the TTL go within TTL/2."""
    ttl = output_ttl() if ttl is None else ttl
    return max(1, min(ttl // 2, 600)), ttl


def limit_arenas(n: int | None = None) -> int | None:
    """mallopt(M_ARENA_MAX, n) before the worker threads start; returns n, or None when not applied."""
    n = env_int("REKOGAN_MALLOC_ARENAS", DEFAULT_ARENAS) if n is None else n
    lib = _libc()
    if not n or lib is None:
        return None
    return n if lib.mallopt(M_ARENA_MAX, int(n)) == 1 else None


def trim() -> bool:
    """malloc_trim(0): give freed heap memory of every arena back to the system."""
    lib = _libc()
    return bool(lib and lib.malloc_trim(0))


def limit_mmap_threshold(n: int | None = None) -> int | None:
    """mallopt(M_MMAP_THRESHOLD, n): allocations of n bytes or more are mmapped and go back to
    the system on free (and glibc stops moving the threshold up); returns n, or None."""
    n = env_int("REKOGAN_MMAP_THRESHOLD", DEFAULT_MMAP_THRESHOLD) if n is None else n
    lib = _libc()
    if not n or lib is None:
        return None
    return n if lib.mallopt(M_MMAP_THRESHOLD, int(min(n, 32 << 20))) == 1 else None


def limit_trim_threshold(n: int | None = None) -> int | None:
    """mallopt(M_TRIM_THRESHOLD, n): free memory at the top of a heap is kept up to n bytes (the
    trimmer returns it); returns n, or None when not applied."""
    n = env_int("REKOGAN_TRIM_THRESHOLD", DEFAULT_TRIM_THRESHOLD) if n is None else n
    lib = _libc()
    if not n or lib is None:
        return None
    return n if lib.mallopt(M_TRIM_THRESHOLD, int(n)) == 1 else None


def start_trimmer(seconds: float | None = None) -> threading.Thread | None:
    """A daemon thread calling malloc_trim(0) every `seconds` (None: $REKOGAN_TRIM_SECONDS; 0: none)."""
    seconds = env_int("REKOGAN_TRIM_SECONDS", int(DEFAULT_TRIM_SECONDS)) if seconds is None else seconds
    if not seconds:
        return None

    def loop():
        stop = threading.Event()
        while not stop.wait(seconds):
            trim()

    t = threading.Thread(target=loop, name="malloc-trim", daemon=True)
    t.start()
    return t


def sweep(blocks, age: float) -> int:
    """Delete the files `blocks` (a gr.Blocks) put in Gradio's cache more than `age` seconds ago
    (by ctime, as Gradio's delete_cache does), except files a component keeps; returns how many."""
    keep = set()
    for block in list(getattr(blocks, "blocks", {}).values()):
        keep.update(getattr(block, "keep_in_cache", set()))
    now, removed = time.time(), 0
    for files in list(getattr(blocks, "temp_file_sets", [])):
        for path in list(files):                    # a copy: worker threads add to the set meanwhile
            if path in keep:
                continue
            try:
                if now - os.lstat(path).st_ctime > age:
                    os.remove(path)
                    removed += 1
                    files.discard(path)
            except FileNotFoundError:
                files.discard(path)
            except OSError:
                pass
    return removed


def start_sweeper(blocks, *, ttl: int | None = None, also=()) -> threading.Thread:
    """A daemon thread: every delete_cache_setting(ttl)[0] seconds, sweep(blocks, ttl), then each of
    `also` (e.g. the studio's own temporary files); errors are logged, never fatal."""
    frequency, age = delete_cache_setting(ttl)

    def loop():
        stop = threading.Event()
        while not stop.wait(frequency):
            for fn in (lambda: sweep(blocks, age), *also):
                try:
                    fn()
                except Exception:  # noqa: BLE001 - housekeeping must never kill the server
                    log.exception("output sweep failed")

    t = threading.Thread(target=loop, name="output-sweeper", daemon=True)
    t.start()
    return t
