"""One thread for the app's forward passes: the glyphs of concurrent requests on the same checkpoint share passes.

  Batcher.glyphs(generator=, labels=, z=, weight=, natural=, size=) -> (N, size, size) uint8, dark on
                 white (blocks the caller)

Each request (a Gradio worker thread) queues a job: its glyphs' labels, its writer z (one latent for
the whole line), its stroke weight, and two choices of the person:
  natural  > 0: every glyph its own occurrence of the writer (rekogan.variation.varied_inputs, computed
           in the caller's thread): per-glyph, per-layer latents, weights and warps. Such a job is
           queued on the module that draws it (variation's base generator, so a writer code's
           varied glyphs share passes with seeds on the same checkpoint) and drawn through
           forward.layered; 0: today's one latent, today's pixels. Measured (20 glyphs, one thread,
           a busy machine): through the plan's layered pass 79-81 ms, about a natural-0 pass (72-84),
           against 129-140 ms for variation.generate_varied's module forward in the request's thread
  size     pixels per glyph: the pass's glyphs of each size are enlarged in this thread by
           crisp.enlarge (the shipped upscaler), ENLARGE_BATCH at a time; None or the native size:
           not enlarged. One thread for the upscaler too: the forward pass and the upscaler, the bulk
           of a sharp page's CPU, run one at a time and leave the other core to Gradio
The batcher thread takes the job at the head of the queue and
every other queued job on the same generator (the same module: a checkpoint, or one writer code's
wrapper) in order, up to `max_glyphs` glyphs, and draws them in one forward pass (forward.plan when
the module has one); a job longer than what is left of a pass is drawn in slices over several
passes, and a job that is not finished goes to the back of the queue, so a 500-syllable line never
holds up the short ones behind it. While one pass runs the next requests queue up, so under load the
passes fill themselves and with a single request nothing waits.

Errors stay with their request: when a pass fails, each of its jobs is drawn alone, and only the
job whose own pass fails gets the exception (raised in its caller's thread).

Why (docs/RESULTS.md, "One server for many writers at once"): the forward pass is about half of a
request's CPU. One pass at a time, at $REKOGAN_THREADS threads, leaves the other core to Gradio
(queue, SSE, PNG); full passes cost a little less per glyph than a request's own, and only one
pass's activations (< 8 MiB each, reused from the heap: memory.py) are alive at a time. Against
drawing in each request's thread (Studio(batcher=None), REKOGAN_BATCHER=0 in the app) the 32 x 10
load test measured ~1-2 ms less CPU a request and ~120 MB less peak RSS, at a p95 ~0.1 s higher.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from .cache import torch_module

log = logging.getLogger("rekogan.batcher")

MAX_GLYPHS = 32          # glyphs per forward pass (the studio passes facade.RENDER_BATCH)
WAIT_SECONDS = 600.0     # a caller gives up after this long (the batcher thread never dies, see _loop)
# glyphs enlarged at once: the upscaler's activations for 16 glyphs (16 x 16 channels x 64 x 64 floats,
# 4 MiB) stay under the app's 8 MiB mmap threshold (memory.py), so they are reused from the heap
# instead of being mapped and faulted in on every pass
ENLARGE_BATCH = 16
# how far glyphs drawn with the generator in bf16 (_bf16: only those the upscaler enlarges) may be from
# fp32's, as enlarged (uint8, tests/test_forward.py): measured at 128 px (fixed and hangul, 400 glyphs each,
# natural 0.45) ~9 % of pixels moved, mean 0.5 levels, by more than 32 levels on < 1e-5 of them (max 41)
BF16_TOLERANCE = {"mean_levels": 2.0, "big_levels": 32, "max_big_share": 1e-3}


@dataclass(eq=False)
class _Job:
    generator: object                 # the module: jobs on the same one share passes
    labels: object                    # (N,) int64
    z: object                         # (Z,) float32, or (N, L, Z) per-glyph latents (natural > 0)
    weight: object                    # float | None, or (N,) per-glyph weights (natural > 0) | None
    offsets: object = None            # (N, 2, 4, 4) warps (natural > 0), else None
    size: int | None = None           # pixels per glyph out (None: the generator's own)
    out: object = None                # (N, size, size) uint8, filled slice by slice
    done: int = 0                     # glyphs drawn so far
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def left(self) -> int:
        return len(self.labels) - self.done

    @property
    def varied(self) -> bool:
        return self.offsets is not None


def _job(*, generator, labels, z, weight, natural, size) -> _Job:
    torch = torch_module()
    labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    out_size = size or generator.cfg.size
    if natural and len(labels):
        from ..variation import varied_inputs
        v = varied_inputs(generator, labels, z, natural=natural, weight=weight)
        job = _Job(generator=v.generator, labels=labels, z=v.latents, weight=v.weight, offsets=v.offsets, size=size)
    else:
        job = _Job(generator=generator, labels=labels, z=z.reshape(-1), weight=weight, size=size)
    job.out = torch.empty(len(labels), out_size, out_size, dtype=torch.uint8)
    return job


def draw(*, generator, labels, z, weight=None, natural: float = 0.0, size: int | None = None,
         max_glyphs: int = MAX_GLYPHS):
    """Batcher.glyphs in the calling thread (Studio(batcher=None)): the same passes, not shared."""
    job = _job(generator=generator, labels=labels, z=z, weight=weight, natural=natural, size=size)
    while job.left:
        _pass([(job, job.done, job.done + min(max_glyphs, job.left))], max_glyphs=max_glyphs)
    return job.out


class Batcher:
    """A queue of glyph jobs and the one daemon thread that draws them (started on first use)."""

    def __init__(self, *, max_glyphs: int = MAX_GLYPHS):
        if not (isinstance(max_glyphs, int) and max_glyphs >= 1):
            raise ValueError(f"max_glyphs must be a whole number >= 1, got {max_glyphs!r}")
        self.max_glyphs = max_glyphs
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.passes = 0               # forward passes run (a test and the benchmarks read these)
        self.glyphs_drawn = 0

    # -- the caller's side
    def glyphs(self, *, generator, labels, z, weight=None, natural: float = 0.0, size: int | None = None):
        """Draw `labels` (N,) by the writer z (Z,) with `generator` -> (N, size, size) uint8 (dark on
        white). weight: the stroke weight (a float) for runs trained with one, else None; natural:
        checked, in [0, 1]; size: one of conventions.GLYPH_SIZES, or None (the generator's own)."""
        job = _job(generator=generator, labels=labels, z=z, weight=weight, natural=natural, size=size)
        if not len(job.labels):
            return job.out
        with self._cond:
            self._start()
            self._queue.append(job)
            self._cond.notify()
        if not job.finished.wait(WAIT_SECONDS):
            raise TimeoutError(f"no glyphs after {WAIT_SECONDS:.0f} s")
        if job.error is not None:
            raise job.error
        return job.out

    @property
    def pending(self) -> int:
        """Jobs queued or being drawn."""
        with self._cond:
            return len(self._queue)

    def _start(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="rekogan-batcher", daemon=True)
            self._thread.start()

    # -- the batcher thread
    def _loop(self):
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                work = self._take()
            try:
                self._draw(work)
            except BaseException as e:  # noqa: BLE001 - never let the thread die with callers waiting
                log.exception("batcher: a pass failed unexpectedly")
                for job, _, _ in work:
                    job.error = e
            with self._cond:
                for job, _, _ in work:
                    if job.error is not None or job.left == 0:
                        self._queue.remove(job)
                        job.finished.set()
                    else:                                  # round robin: its next slice waits its turn
                        self._queue.remove(job)
                        self._queue.append(job)

    def _take(self) -> list[tuple[_Job, int, int]]:
        """(job, start, stop) slices for one pass: the head's generator, in queue order."""
        generator = self._queue[0].generator
        work, room = [], self.max_glyphs
        for job in self._queue:
            if job.generator is not generator:
                continue
            n = min(room, job.left)
            work.append((job, job.done, job.done + n))
            room -= n
            if room == 0:
                break
        return work

    def _draw(self, work):
        try:
            self._forward(work)
        except Exception as e:  # noqa: BLE001 - the exception goes to its caller's thread
            if len(work) == 1:
                work[0][0].error = e
                return
            for item in work:                     # whose is it? each job alone
                try:
                    self._forward([item])
                except Exception as err:  # noqa: BLE001
                    item[0].error = err

    def _forward(self, work):
        self.glyphs_drawn += _pass(work, max_glyphs=self.max_glyphs)
        self.passes += 1


def _pass(work, *, max_glyphs: int) -> int:
    """Draw one pass's (job, start, stop) slices into their jobs' out -> the glyphs drawn. Jobs at
    natural 0 and varied jobs are two forward calls (natural 0 stays today's computation); then the
    glyphs of each size are enlarged together."""
    torch = torch_module()
    from ..sampling import to_uint8
    drawn, groups = {}, {}
    for item in work:                     # natural 0 / varied, each at full precision or bf16 (_bf16)
        groups.setdefault((item[0].varied, _bf16(item[0])), []).append(item)
    with torch.inference_mode():          # job.out may be an inference tensor (a caller in inference mode)
        for (varied, bf16), items in groups.items():
            glyphs = _varied(items, bf16=bf16) if varied else _plain(items, max_glyphs, bf16=bf16)
            drawn.update(zip(map(id, items), _split(to_uint8(glyphs), items)))
        for size in dict.fromkeys(job.size for job, _, _ in work):
            items = [item for item in work if item[0].size == size]
            stack = torch.cat([drawn[id(item)] for item in items])
            if size is not None and size != stack.shape[-1]:
                from .crisp import enlarge                    # its note: the studio asks crisp.upscaler()
                stack = torch.cat([enlarge(stack[i:i + ENLARGE_BATCH], size=size)[0]
                                   for i in range(0, len(stack), ENLARGE_BATCH)])
            for (job, a, b), part in zip(items, _split(stack, items)):
                job.out[a:b] = part
    for job, _, b in work:
        job.done = b
    return sum(b - a for _, a, b in work)


def _split(stack, items):
    """A pass's stack back into its (job, start, stop) items' parts, in order."""
    at, parts = 0, []
    for _, a, b in items:
        parts.append(stack[at:at + b - a])
        at += b - a
    return parts


def _bf16(job) -> bool:
    """Whether a job's forward pass runs in bf16: only glyphs the upscaler enlarges (size > crisp.NATIVE),
    and only where the CPU computes bf16 natively (runtime.cpu_has_bf16), and only when asked
    ($REKOGAN_GENERATOR_BF16=1): off by default until the sharp line's benchmarks and readability are
    re-run with it on a quiet machine (it saved ~5 ms of CPU a page in a busy one).
    Glyphs shown at the generators' own size keep today's fp32 pixels (the pins, tests/test_behaviour.py).
    Why: the generator is the largest part of a sharp /write left after the fast x2 upscaler (20 glyphs,
    one thread: ~16 -> ~11 ms of CPU). bf16 moves ~18 % of the 64 px pixels by up to ~10 grey levels;
    the upscaler, which turns grey edges into ink or paper, passes on less: at 128 px ~9 % of pixels move,
    by more than 32 levels on under 1e-4 of them (BF16_TOLERANCE, tests/test_crisp.py)."""
    from .crisp import NATIVE
    return job.size is not None and job.size > NATIVE and _bf16_ok()


def _bf16_ok() -> bool:
    import os

    from ..runtime import cpu_has_bf16
    return os.environ.get("REKOGAN_GENERATOR_BF16", "0") == "1" and cpu_has_bf16()


def _autocast(bf16: bool):
    torch = torch_module()
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def _plain(work, max_glyphs: int, *, bf16: bool = False):
    """One latent per job (natural 0): sampling.generate through the forward plan (in bf16: _bf16)."""
    torch = torch_module()
    from ..sampling import generate
    from .forward import plan
    generator = work[0][0].generator
    labels = torch.cat([job.labels[a:b] for job, a, b in work])
    z = torch.cat([job.z.expand(b - a, -1) for job, a, b in work])
    weight = None
    if getattr(generator.cfg, "weight_cond", False):
        weight = torch.cat([torch.full((b - a,), float(job.weight or 0.0)) for job, a, b in work])
    with _autocast(bf16):
        return generate(generator, labels, z, weight=weight, batch=max_glyphs, forward=plan(generator))


def _varied(work, *, bf16: bool = False):
    """Per-glyph latents, weights and warps (natural > 0): forward.layered (in bf16: _bf16), then
    variation's warp (fp32)."""
    torch = torch_module()
    from ..variation import warp_glyphs
    from .forward import layered
    generator = work[0][0].generator
    labels = torch.cat([job.labels[a:b] for job, a, b in work])
    latents = torch.cat([job.z[a:b] for job, a, b in work])
    weight = None
    if getattr(generator.cfg, "weight_cond", False):
        weight = torch.cat([job.weight[a:b] for job, a, b in work])
    offsets = torch.cat([job.offsets[a:b] for job, a, b in work])
    with _autocast(bf16):
        drawn = layered(generator, latents, labels, weight)
    return warp_glyphs(drawn.float(), offsets)
