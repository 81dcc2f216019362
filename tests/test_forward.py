"""The app's forward path (issue 22): forward plans within their pixel tolerance, the batcher that shares
passes between concurrent requests (same pixels as one request alone; errors stay with their request),
the page PNG the app returns, and the allocator settings it depends on."""
from __future__ import annotations

import gc
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from rekogan.conventions import to_paper
from rekogan.models import ModelConfig, build_generator
from rekogan.sampling import seed_to_z
from rekogan.studio import Studio, memory
from rekogan.studio.batcher import Batcher
from rekogan.studio.forward import PIXEL_TOLERANCE, plan

SHIPPED = REPO / "checkpoints"
TEXT = "오늘은 날씨가 좋아서 친구들과 공원에 갔습니다"


def tolerance_problem(a: np.ndarray, b: np.ndarray) -> str | None:
    """Why two uint8 pictures are not the same within PIXEL_TOLERANCE (None: they are)."""
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    if d.max() > PIXEL_TOLERANCE["max_levels"]:
        return f"a pixel differs by {d.max()} grey levels"
    share = float((d > 0).mean())
    if share > PIXEL_TOLERANCE["max_share"]:
        return f"{share:.4%} of the pixels differ"
    return None


def randomised(cfg: ModelConfig, seed: int = 0):
    """A generator of `cfg` with every parameter and BatchNorm statistic random (the conditional
    BatchNorms start at zero gain and bias: a plan must get those right too), in eval mode."""
    torch.manual_seed(seed)
    g = build_generator(cfg)
    with torch.no_grad():
        for p in g.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        for name, b in g.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.2)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
    return g.to(memory_format=torch.channels_last).eval()


def pixels(forward, g, n: int = 256, seed: int = 1) -> np.ndarray:
    """n glyphs (random classes, writers and stroke weights) drawn by forward(z, y[, w]) as uint8."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, g.cfg.n_classes, (n,), generator=gen)
    z = torch.randn(n, g.cfg.z_dim, generator=gen) * 0.8
    args = (z, y, torch.rand(n, generator=gen) * 4 - 2) if g.cfg.weight_cond else (z, y)
    with torch.inference_mode():
        return to_paper(torch.cat([forward(*[a[i:i + 64] for a in args]) for i in range(0, n, 64)])).numpy()


CONFIGS = {
    "proj, class": ModelConfig(arch="proj", n_classes=40, size=32, z_dim=16, embed_dim=8, ngf=8),
    "proj, jamo + weight": ModelConfig(arch="proj", n_classes=11172, size=16, z_dim=8, embed_dim=8, ngf=4,
                                       cond="jamo", weight_cond=True),
    "dcgan": ModelConfig(arch="dcgan", n_classes=40, size=32, z_dim=16, embed_dim=4, ngf=8),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_plans_draw_the_modules_pixels_within_the_tolerance(name):
    g = randomised(CONFIGS[name])
    p = plan(g)
    assert p is not None and plan(g) is p                      # built once, then cached
    ours, theirs = pixels(p, g), pixels(g, g)
    assert (ours != 255).any() and (ours != 0).any()           # a real picture, not saturated paper
    assert tolerance_problem(ours, theirs) is None, tolerance_problem(ours, theirs)


@pytest.mark.parametrize("run", ["fixed", "hangul", "collapsed"])
def test_the_shipped_runs_plans_keep_their_pixels(run, tmp_path):
    """The shipped checkpoints (the app's defaults) through their plans: 1,024 glyphs each."""
    m = Studio(root=SHIPPED, tmp_dir=tmp_path).generator(run=run, epoch="best")
    g = m.generator
    ours, theirs = pixels(plan(g), g, n=1024), pixels(g, g, n=1024)
    assert tolerance_problem(ours, theirs) is None, tolerance_problem(ours, theirs)


def test_other_modules_and_training_mode_have_no_plan_and_a_plan_does_not_keep_its_module():
    g = randomised(CONFIGS["proj, class"])

    class Wrapped(type(g)):           # a subclass may compute something else: the module itself is called
        pass
    w = Wrapped(g.cfg).eval()
    assert plan(w) is None
    assert plan(randomised(CONFIGS["dcgan"]).train()) is None
    assert plan(g) is not None
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None, "the plan cache kept a generator alive"


# ---- the batcher -----------------------------------------------------------------------------------

class Gate(torch.nn.Module):
    """A 'generator' whose pass waits for `open`: while it runs, the jobs queued behind it wait together."""

    def __init__(self, size: int):
        super().__init__()
        self.cfg = ModelConfig(arch="proj", n_classes=1, size=size, z_dim=1, embed_dim=1, ngf=1)
        self.open, self.entered = threading.Event(), threading.Event()
        self.eval()

    def forward(self, z, y):
        self.entered.set()
        assert self.open.wait(60), "the test never opened the gate"
        return torch.zeros(len(y), 1, self.cfg.size, self.cfg.size)


def run_in_threads(calls) -> tuple[list, list, list, list]:
    """A thread for each call, not started; (results, errors, finish times, threads) in call order,
    filled as the threads run."""
    results, errors, finished = [None] * len(calls), [None] * len(calls), [None] * len(calls)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - kept for the assertions
            errors[i] = e
        finished[i] = time.monotonic()
    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    return results, errors, finished, threads


def behind_a_gate(batcher: Batcher, size: int, calls):
    """Run `calls` (each queues jobs on `batcher`) while its thread is held in a gate's pass, so that
    they are all queued before any is drawn; then open the gate and wait for them."""
    gate = Gate(size)
    held = threading.Thread(target=batcher.glyphs, kwargs=dict(generator=gate, labels=[0], z=torch.zeros(1)))
    held.start()
    assert gate.entered.wait(60)
    results, errors, finished, threads = run_in_threads(calls)
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while batcher.pending < 1 + len(calls) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher.pending == 1 + len(calls), f"{batcher.pending - 1} of {len(calls)} jobs queued"
    gate.open.set()
    for t in (held, *threads):
        t.join(120)
    return results, errors, finished


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The single path: each page draws its own glyphs (in the calling thread)."""
    return Studio(root=SHIPPED, batcher=None, tmp_dir=tmp_path_factory.mktemp("single"))


def test_concurrent_pages_share_passes_and_keep_the_single_paths_pixels(shipped, tmp_path):
    studio = Studio(root=SHIPPED, batcher=Batcher(max_glyphs=32), tmp_dir=tmp_path)
    asks = [dict(text="가나다라마바사", seed=1, run="fixed"), dict(text="한글 손글씨", seed=2, run="fixed"),
            dict(text="안녕하세요", seed=3, run="fixed", weight=0.0), dict(text="가나다", seed=4, run="collapsed")]
    pages, errors, _ = behind_a_gate(studio.batcher, 64, [
        (lambda a=a: studio.write(truncation=0.8, epoch="best", **a)) for a in asks])
    assert errors == [None] * len(asks), errors
    # the gate's pass, one pass for the three 'fixed' pages together (16 glyphs: the fixed run cannot
    # write 녕, which is grey print), one for 'collapsed'
    assert studio.batcher.passes == 3, studio.batcher.passes
    for a, page in zip(asks, pages):
        alone = shipped.write(truncation=0.8, epoch="best", **a)
        assert tolerance_problem(page.image, alone.image) is None, (a, tolerance_problem(page.image, alone.image))


def test_a_bad_job_gets_its_own_error_and_the_others_their_glyphs(shipped):
    m = shipped.generator(run="fixed", epoch="best")
    batcher = Batcher(max_glyphs=32)
    z = seed_to_z(5, m.generator.cfg.z_dim, truncation=0.8)
    good = [m.classes.index(c) for c in "가나다라"]
    results, errors, _ = behind_a_gate(batcher, m.generator.cfg.size, [
        lambda: batcher.glyphs(generator=m.generator, labels=good, z=z),
        lambda: batcher.glyphs(generator=m.generator, labels=[0, len(m.classes) + 5], z=z),   # no such class
        lambda: batcher.glyphs(generator=m.generator, labels=good[::-1], z=z)])
    assert isinstance(errors[1], IndexError), errors
    assert errors[0] is None and errors[2] is None, errors
    alone = shipped.glyphs(generator=m.generator, labels=good, z=z).numpy()
    assert tolerance_problem(results[0].numpy(), alone) is None
    assert tolerance_problem(results[2].numpy(), alone[::-1]) is None
    # and the batcher goes on drawing
    again = batcher.glyphs(generator=m.generator, labels=good, z=z).numpy()
    assert tolerance_problem(again, alone) is None


def test_a_long_line_is_drawn_in_turns_and_does_not_hold_up_a_short_one(shipped):
    m = shipped.generator(run="fixed", epoch="best")
    batcher = Batcher(max_glyphs=8)
    z = seed_to_z(9, m.generator.cfg.z_dim, truncation=0.8)
    long, short = list(range(40)), [m.classes.index(c) for c in "가나다"]
    results, errors, finished = behind_a_gate(batcher, m.generator.cfg.size, [
        lambda: batcher.glyphs(generator=m.generator, labels=long, z=z),
        lambda: batcher.glyphs(generator=m.generator, labels=short, z=z)])
    assert errors == [None, None], errors
    assert finished[1] < finished[0], "the short line waited for all of the long one"
    assert batcher.passes == 1 + 6, batcher.passes        # the gate; 40 + 3 glyphs in passes of 8
    for labels, got in ((long, results[0]), (short, results[1])):
        alone = shipped.glyphs(generator=m.generator, labels=labels, z=z).numpy()
        assert tolerance_problem(got.numpy(), alone) is None


def test_the_batcher_refuses_a_nonsense_pass_size():
    with pytest.raises(ValueError, match="max_glyphs must be a whole number >= 1"):
        Batcher(max_glyphs=0)


# ---- the page PNG and the allocator ----------------------------------------------------------------

def test_a_page_png_is_lossless_and_leaves_no_temporary_file(tmp_path):
    from PIL import Image
    studio = Studio(root=SHIPPED, tmp_dir=tmp_path / "studio", png_dir=tmp_path / "pages")
    page = studio.write(text=TEXT, seed=3, truncation=0.8, run="fixed", epoch="best").image
    path = studio.png(page)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "L"
        assert np.array_equal(np.asarray(im), page)
    assert [p.name for p in (tmp_path / "pages").iterdir()] == [Path(path).name]


def test_the_trim_threshold_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("REKOGAN_TRIM_THRESHOLD", "big")
    with pytest.raises(SystemExit, match="REKOGAN_TRIM_THRESHOLD must be a whole number"):
        memory.limit_trim_threshold()
    assert memory.limit_trim_threshold(0) is None                       # 0: glibc's own behaviour


@pytest.mark.parametrize("run", ["fixed", "hangul"])
def test_sharp_glyphs_draw_in_bf16_within_its_tolerance_and_64_px_stays_fp32(run, monkeypatch):
    """Glyphs the upscaler enlarges come from a bf16 forward pass where the CPU has bf16 (batcher._bf16);
    at the generators' own size the pass stays fp32, so the pinned pixels do not move."""
    from rekogan.runtime import cpu_has_bf16
    from rekogan.studio.batcher import BF16_TOLERANCE, draw
    m = Studio(root=SHIPPED, batcher=None).generator(run=run, epoch="best")
    weight = 0.0 if getattr(m.generator.cfg, "weight_cond", False) else None
    labels = torch.arange(0, len(m.classes), max(1, len(m.classes) // 48))[:48]
    z = seed_to_z(11, m.generator.cfg.z_dim, truncation=0.8)

    def glyphs(*, bf16: bool, size: int, natural: float):
        monkeypatch.setenv("REKOGAN_GENERATOR_BF16", "1" if bf16 else "0")
        return draw(generator=m.generator, labels=labels, z=z, weight=weight, natural=natural, size=size).numpy()

    for natural in (0.0, 0.45):
        assert np.array_equal(glyphs(bf16=True, size=64, natural=natural), glyphs(bf16=False, size=64, natural=natural))
        a, b = glyphs(bf16=True, size=128, natural=natural), glyphs(bf16=False, size=128, natural=natural)
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        if not cpu_has_bf16():
            assert not d.any(), "without native bf16 every pass is fp32"
            continue
        assert d.any(), "a bf16 pass that moved no pixel: is it running at all?"
        assert d.mean() <= BF16_TOLERANCE["mean_levels"], d.mean()
        assert (d > BF16_TOLERANCE["big_levels"]).mean() <= BF16_TOLERANCE["max_big_share"], (d > 32).mean()
