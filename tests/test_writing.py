"""The Write path's size and natural (issues 23 and 24), on the studio directly: tiny runs, in process.

The API's inputs and the browser's view of a 256 px line are in tests/test_app.py and tests/test_browser.py;
natural 0 at 64 px keeping the pinned pages is in tests/test_behaviour.py."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_run):
    """A checkpoints root with the tiny run (4 classes 가각간갈, 16x16) as 'fixed'."""
    root = tmp_path_factory.mktemp("writing_root")
    shutil.copytree(tiny_run, root / "fixed", ignore=shutil.ignore_patterns("state_*"))
    return root


def test_natural_varies_each_occurrence_the_same_way_every_time(root):
    """Every occurrence its own glyph at natural > 0 (one glyph at 0), the same pixels for the same
    inputs, through the batcher or in the caller's thread alike."""
    from rekogan.sampling import seed_to_z
    from rekogan.studio import Studio
    shared, alone = Studio(root=root), Studio(root=root, batcher=None)
    m = shared.generator(run="fixed", epoch=2)
    z = seed_to_z(3, m.generator.cfg.z_dim, truncation=0.8)
    for studio in (shared, alone):
        flat = studio.glyphs(generator=m.generator, labels=[0] * 4, z=z, natural=0.0).numpy()
        assert all(np.array_equal(flat[0], g) for g in flat)
        varied = studio.glyphs(generator=m.generator, labels=[0] * 4, z=z, natural=0.8, size=64).numpy()
        assert varied.shape == (4, 64, 64) and len({g.tobytes() for g in varied}) == 4
    pages = [s.write(text="가가 가가", seed=3, truncation=0.8, run="fixed", epoch=2, natural=0.8, size=64).image
             for s in (shared, shared, alone)]
    assert all(np.array_equal(pages[0], p) for p in pages[1:])
    other = shared.write(text="가가 가가", seed=4, truncation=0.8, run="fixed", epoch=2, natural=0.8, size=64).image
    assert other.shape != pages[0].shape or not np.array_equal(other, pages[0])


def test_the_page_at_a_size_is_its_glyphs_enlarged_by_crisp(root, monkeypatch):
    """natural 0: fixed cells of `size` px holding the run's glyphs through crisp.enlarge (the one way)."""
    from rekogan.sampling import sample
    from rekogan.studio import Studio
    from rekogan.studio.crisp import enlarge
    # sample() draws in fp32; the studio's sharp glyphs may come from a bf16 pass (opt-in, REKOGAN_GENERATOR_BF16=1),
    # whose own tolerance tests/test_forward.py checks (batcher.BF16_TOLERANCE): here the same fp32 glyphs
    monkeypatch.setenv("REKOGAN_GENERATOR_BF16", "0")
    studio = Studio(root=root)
    m = studio.generator(run="fixed", epoch=2)
    for size in (64, 128):
        page = studio.write(text="가각", seed=9, truncation=0.8, run="fixed", epoch=2, natural=0, size=size).image
        want, _ = enlarge(sample(m.generator, [m.classes.index("가"), m.classes.index("각")], seed=9,
                                 truncation=0.8).numpy(), size=size)
        assert page.shape == (size, 2 * size)
        assert np.abs(page.astype(int) - np.concatenate(list(want), axis=1)).max() <= 1


def test_bad_size_or_natural_is_one_clear_line(root):
    from rekogan.studio import Studio, StudioError
    studio = Studio(root=root)
    good = dict(text="가", seed=1, truncation=0.8, run="fixed", epoch=2)
    for bad, words in (({"size": 100}, "The size must be one of 64, 128, 256"), ({"size": "huge"}, "size must be"),
                       ({"size": True}, "size must be"), ({"natural": -0.1}, "Natural must be a number in 0..1"),
                       ({"natural": float("inf")}, "Natural must be"), ({"natural": "lots"}, "Natural must be")):
        for method in (studio.write, studio.write_svg):
            with pytest.raises(StudioError) as e:
                method(**good, **bad)
            assert words in str(e.value) and "\n" not in str(e.value), (bad, str(e.value))


def test_a_page_too_large_for_its_size_is_drawn_smaller_and_says_so(root, monkeypatch):
    from rekogan.studio import Studio, writing
    monkeypatch.setattr(writing, "MAX_PAGE_PIXELS", 4 * 128 * 128)        # 4 cells at 128 px, 16 at 64
    studio = Studio(root=root)
    small = studio.write(text="가각간갈", seed=1, truncation=0.8, run="fixed", epoch=2, natural=0, size=128)
    assert small.image.shape == (128, 4 * 128) and not small.notes
    big = studio.write(text="가각간갈가", seed=1, truncation=0.8, run="fixed", epoch=2, natural=0, size=256)
    assert big.image.shape == (64, 5 * 64) and any("drawn at 64 px" in n for n in big.notes), big.notes


def test_the_svg_line_is_traced_from_256_px_and_laid_out_like_the_page(root):
    from rekogan.studio import Studio
    studio = Studio(root=root)
    ns = "{http://www.w3.org/2000/svg}"
    flat = ET.parse(studio.write_svg(text="가각 간\n갈A", seed=2, truncation=0.8, run="fixed", epoch=2, natural=0,
                                     size=64)).getroot()
    assert (flat.get("width"), flat.get("height"), flat.get("viewBox")) == ("224", "128", "0 0 896 512")
    groups = flat.findall(f"{ns}g")
    assert [g.get("data-char") for g in groups] == list("가각간갈")
    assert groups[1].get("transform") == "translate(256.00 0.00)"
    assert groups[3].get("transform") == "translate(0.00 256.00)"
    assert [r.get("data-char") for r in flat.findall(f"{ns}rect") if r.get("class") == "unknown"] == ["A"]
    kw = dict(text="가각 간\n갈A", seed=2, truncation=0.8, run="fixed", epoch=2, natural=0.8, size=128)
    varied = ET.parse(studio.write_svg(**kw)).getroot()
    assert all("rotate(" in g.get("transform") for g in varied.findall(f"{ns}g"))
    again = ET.parse(studio.write_svg(**kw)).getroot()
    assert ET.tostring(again) == ET.tostring(varied), "the same inputs, the same SVG"


def test_the_plans_per_layer_forward_is_layered_forwards_pixels():
    """forward.layered (the batcher's pass for varied glyphs) against rekogan.writer.latent.layered_forward
    on the shipped runs, per-glyph latents and weights as natural variation makes them."""
    import torch
    from conftest import REPO
    from rekogan.sampling import seed_to_z, to_uint8
    from rekogan.studio import Studio
    from rekogan.studio.forward import PIXEL_TOLERANCE, layered
    from rekogan.variation import varied_inputs
    from rekogan.writer.latent import layered_forward
    studio = Studio(root=REPO / "checkpoints", batcher=None)
    for run in ("fixed", "hangul", "collapsed"):
        g = studio.generator(run=run, epoch="best").generator
        labels = torch.tensor([0, 1, 0, 7, 0, 12])
        w = 0.5 if g.cfg.weight_cond else None
        v = varied_inputs(g, labels, seed_to_z(4, g.cfg.z_dim, truncation=0.8), natural=0.9, weight=w)
        with torch.inference_mode():
            ours = to_uint8(layered(v.generator, v.latents, labels, v.weight)).numpy().astype(int)
            theirs = to_uint8(layered_forward(v.generator, v.latents, labels, v.weight)).numpy().astype(int)
        d = np.abs(ours - theirs)
        assert d.max() <= PIXEL_TOLERANCE["max_levels"] and (d > 0).mean() <= PIXEL_TOLERANCE["max_share"], run
        if run != "collapsed":                       # per-layer latents differ between glyphs: the plan's own path
            assert len({tuple(x.flatten().tolist()) for x in v.latents[:, 1]}) == len(labels)


def test_a_fitted_writer_varies_too_and_draws_the_same_way_in_either_thread(root):
    """A writer code's generator (a per-layer WriterGenerator) at natural > 0: every occurrence its own,
    the batcher's pass (forward.layered on the checkpoint's module) and the caller's thread agree."""
    import torch
    from rekogan.studio import Studio
    from rekogan.writer.latent import WriterGenerator, n_layers
    shared, alone = Studio(root=root), Studio(root=root, batcher=None)
    g = shared.generator(run="fixed", epoch=2).generator
    wg = WriterGenerator(g, torch.randn(n_layers(g), g.cfg.z_dim, generator=torch.Generator().manual_seed(1)) * 0.7)
    kw = dict(generator=wg, labels=[0, 1, 0, 0], z=wg.centre, natural=0.6, size=64)
    a, b = shared.glyphs(**kw).numpy(), alone.glyphs(**kw).numpy()
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert len({a[i].tobytes() for i in (0, 2, 3)}) == 3                  # three occurrences of 가, three glyphs
    flat = shared.glyphs(**{**kw, "natural": 0.0}).numpy()
    assert np.array_equal(flat[0], flat[2]) and not np.array_equal(flat[0], a[0])


def test_without_the_upscaler_file_a_sharp_page_is_enlarged_plainly_and_says_so(root, monkeypatch, tmp_path):
    from rekogan.studio import Studio
    monkeypatch.setenv("REKOGAN_UPSCALER", str(tmp_path / "missing.safetensors"))
    page = Studio(root=root).write(text="가각", seed=1, truncation=0.8, run="fixed", epoch=2, natural=0, size=128)
    assert page.image.shape == (128, 256)
    assert any("upscaler could not be loaded" in n for n in page.notes), page.notes
    flat = Studio(root=root).write(text="가각", seed=1, truncation=0.8, run="fixed", epoch=2, natural=0, size=64)
    assert not any("upscaler" in n for n in flat.notes)                   # 64 px needs no upscaler
