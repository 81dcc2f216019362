"""One thread for the app's forward passes: the glyphs of concurrent requests on the same checkpoint share passes.

  Batcher.glyphs(generator=, labels=, z=, weight=) -> (N, S, S) uint8, dark on white (blocks the caller)

Each request (a Gradio worker thread) queues a job: its glyphs' labels, its writer z (one latent for
the whole line), its stroke weight. The batcher thread takes the job at the head of the queue and
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


@dataclass(eq=False)
class _Job:
    generator: object                 # the module: jobs on the same one share passes
    labels: object                    # (N,) int64
    z: object                         # (Z,) float32
    weight: float | None
    out: object = None                # (N, S, S) uint8, filled slice by slice
    done: int = 0                     # glyphs drawn so far
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def left(self) -> int:
        return len(self.labels) - self.done


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
    def glyphs(self, *, generator, labels, z, weight=None):
        """Draw `labels` (N,) by the writer z (Z,) with `generator` -> (N, S, S) uint8 (dark on white).
        weight: the stroke weight (a float) for runs trained with one, else None."""
        torch = torch_module()
        labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        size = generator.cfg.size
        job = _Job(generator=generator, labels=labels, z=z.reshape(-1), weight=weight,
                   out=torch.empty(len(labels), size, size, dtype=torch.uint8))
        if not len(labels):
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
        torch = torch_module()
        from ..sampling import generate, to_uint8
        from .forward import plan
        generator = work[0][0].generator
        labels = torch.cat([job.labels[a:b] for job, a, b in work])
        z = torch.cat([job.z.expand(b - a, -1) for job, a, b in work])
        weight = None
        if getattr(generator.cfg, "weight_cond", False):
            weight = torch.cat([torch.full((b - a,), float(job.weight or 0.0)) for job, a, b in work])
        with torch.inference_mode():      # job.out may be an inference tensor (a caller in inference mode)
            drawn = to_uint8(generate(generator, labels, z, weight=weight, batch=self.max_glyphs,
                                      forward=plan(generator)))
            at = 0
            for job, a, b in work:
                job.out[a:b] = drawn[at:at + b - a]
                at += b - a
        for job, a, b in work:
            job.done = b
        self.passes += 1
        self.glyphs_drawn += len(labels)
