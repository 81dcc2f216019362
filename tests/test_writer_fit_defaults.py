"""A run's fit defaults: fit.json beside its checkpoint (rekogan.writer.fit.run_defaults).

The file's values become the run's fit defaults wherever a writer is fitted (imitate: the app's My
hand, the API, the CLI; eval_writer; bench_writer), an explicit override goes on top, and a damaged
or foreign file is refused with one message naming it.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import REPO, run_py

FAST = {"seeds": 4, "steps_z": 3, "steps_layers": 3, "steps_adapter": 3}


@pytest.fixture(scope="module")
def feats():
    from rekogan.writer import reader_features
    return reader_features(REPO / "checkpoints/classifier/classifier.safetensors")


@pytest.fixture
def run_copy(tiny_ckpt, tmp_path):
    """A copy of the tiny run's checkpoint in its own folder (the session's run stays read-only)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    return shutil.copy2(tiny_ckpt, folder / tiny_ckpt.name)


def _record(fit: dict, **extra) -> str:
    return json.dumps({"fit": fit, "chosen_on": "two made-up faces", "command": "python made_up.py", **extra})


def _pictures(G):
    from rekogan.sampling import generate, to_uint8
    z = torch.randn(G.cfg.z_dim, generator=torch.Generator().manual_seed(7))
    return [img.numpy() for img in to_uint8(generate(G, torch.arange(4), z))]


def test_a_fit_json_changes_the_config_imitate_fits_with_and_overrides_go_on_top(tiny_model, run_copy, feats):
    from rekogan.writer import FitConfig, imitate
    from rekogan.writer.value import decode_full
    G, meta = tiny_model
    pics = _pictures(G)
    plain = imitate(pics, "가각간갈", generator=G, meta=meta, checkpoint=str(run_copy), reader=feats, config=FAST)
    assert plain.writer.fit["adapter"] == "channels" and decode_full(plain.writer.code)[2], "no fit.json: FitConfig's"
    (run_copy.parent / "fit.json").write_text(_record({"adapter": "none", "read": 0.25, "steps_layers": 5}))
    ruled = imitate(pics, "가각간갈", generator=G, meta=meta, checkpoint=str(run_copy), reader=feats, config=FAST)
    # FAST's steps_layers=3 goes over the file's 5; the file's adapter and read stand
    assert ruled.writer.fit == FitConfig(**{"adapter": "none", "read": 0.25, **FAST}).to_dict()
    assert decode_full(ruled.writer.code)[2] == {}, "the run's defaults say no adapter: the code carries none"
    over = imitate(pics, "가각간갈", generator=G, meta=meta, checkpoint=str(run_copy), reader=feats,
                   config={**FAST, "adapter": "lowrank"})
    assert over.writer.fit["adapter"] == "lowrank" and over.writer.fit["read"] == 0.25
    given = imitate(pics, "가각간갈", generator=G, meta=meta, checkpoint=str(run_copy), reader=feats,
                    config=FitConfig(**FAST))
    assert given.writer.fit == FitConfig(**FAST).to_dict(), "a whole FitConfig is used as it is"


def test_the_same_file_is_read_again_after_it_changes(run_copy):
    import os
    from rekogan.writer.fit import FitConfig, run_defaults
    f = run_copy.parent / "fit.json"
    assert run_defaults(run_copy).values == {} and run_defaults(run_copy).path is None
    f.write_text(_record({"read": 0.1}))
    first = run_defaults(run_copy)
    assert first.values == {"read": 0.1} and first.chosen_on == "two made-up faces" and "fit.json" in first.describe()
    f.write_text(_record({"read": 0.05, "read_margin": 1}))             # an int for a float field is a number
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert FitConfig.for_run(run_copy).read == 0.05 and FitConfig.for_run(run_copy).read_margin == 1.0
    assert isinstance(FitConfig.for_run(run_copy).read_margin, float)
    assert FitConfig.for_run(run_copy, {"read": 0.3}).read == 0.3


BAD = [("{not json", "not a readable fit.json"),
       ("[1, 2]", "expected a JSON object"),
       (_record({"reed": 0.1}), "unknown fit field.*reed"),
       (_record({"read": "0.1"}), "read must be a float"),
       (_record({"steps_layers": 2.5}), "steps_layers must be a int"),
       (_record({"steps_layers": True}), "steps_layers must be a int"),
       (_record({"adapter": "big"}), "adapter must be one of"),
       (_record({"steps_adapter": -1}), "steps_adapter must be >= 0"),
       (_record({"read": 0.1}, note="x"), "unknown key.*note"),
       (json.dumps({"fit": {"read": 0.1}, "command": "x"}), "'chosen_on' must say")]


@pytest.mark.parametrize("text,why", BAD)
def test_a_damaged_or_foreign_fit_json_is_refused_naming_the_file(run_copy, text, why):
    from rekogan.writer import WriterError
    from rekogan.writer.api import fit_config
    from rekogan.writer.fit import run_defaults
    (run_copy.parent / "fit.json").write_text(text)
    with pytest.raises(ValueError, match=why) as e:
        run_defaults(run_copy)
    assert "fit.json" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(WriterError, match="fit.json"):
        fit_config(run_copy, None)


def test_my_hand_shows_a_damaged_fit_json_as_one_message(tiny_model, run_copy, tmp_path):
    """The app's fit (studio.hand.fit) turns it into a StudioError: a message, never a traceback."""
    from rekogan.studio.cache import Loaded
    from rekogan.studio.hand import fit
    from rekogan.studio.inputs import StudioError
    from rekogan.studio.registry import EpochInfo
    G, meta = tiny_model
    (run_copy.parent / "fit.json").write_text(_record({"read": "a lot"}))
    model = Loaded(generator=G, meta=meta, classes=meta["class_list"], info=EpochInfo("tiny", 2, run_copy))
    row = np.concatenate([np.pad(p, 4, constant_values=255) for p in _pictures(G)], axis=1)
    with pytest.raises(StudioError, match=r"fit\.json.*read must be a float"):
        fit(model=model, text="가각간갈", drawing=row, uploads=None, folder=tmp_path / "w")


def test_cli_imitate_takes_the_runs_defaults_and_refuses_a_damaged_file(tiny_model, run_copy, tmp_path):
    from PIL import Image
    G, _ = tiny_model
    row = np.concatenate([np.pad(p, 4, constant_values=255) for p in _pictures(G)], axis=1)
    Image.fromarray(row).save(tmp_path / "row.png")
    (run_copy.parent / "fit.json").write_text(_record({**FAST, "adapter": "none"}))
    out = tmp_path / "w.json"
    args = ["-m", "rekogan.writer", "imitate", "--checkpoint", run_copy, "--samples", tmp_path / "row.png",
            "--text", "가각간갈", "--out", out, "--threads", "1", "--fit", "read=0.5"]
    proc = run_py(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fit = json.loads(out.read_text(encoding="utf-8"))["fit"]
    assert fit["adapter"] == "none" and fit["steps_layers"] == 3 and fit["read"] == 0.5
    (run_copy.parent / "fit.json").write_text("{damaged")
    bad = run_py(args)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "fit.json" in lines[0] and "Traceback" not in bad.stderr, bad.stderr


def _eval_writer():
    import importlib.util
    spec = importlib.util.spec_from_file_location("eval_writer", REPO / "scripts" / "eval_writer.py")
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)
    return ev


def test_eval_writer_says_which_defaults_applied_and_refuses_a_damaged_file(run_copy, tmp_path, capsys):
    ev = _eval_writer()
    rec = {"defaults": {"file": str(run_copy.parent / "fit.json"), "values": {"read": 0.1}, "chosen_on": "val faces",
                        "command": "x"}, "overrides": {"read": 0.2}}
    line = ev.defaults_sentence(rec)
    assert "tiny/fit.json" in line and '{"read": 0.1}' in line and "val faces" in line and '{"read": 0.2}' in line
    assert "no fit.json" in ev.defaults_sentence({"defaults": {"file": None, "values": {}}, "overrides": {}})
    (run_copy.parent / "fit.json").write_text(_record({"read": "high"}))
    with pytest.raises(SystemExit) as e:
        ev.main(["--checkpoint", str(run_copy), "--out", str(tmp_path / "t.md"), "--threads", "1"])
    assert e.value.code == 2 and "read must be a float" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ev.main(["--checkpoint", str(run_copy), "--val-faces", str(tmp_path), "--extra-faces", str(tmp_path)])
    assert "replaces the test faces" in capsys.readouterr().err


def test_shipped_fit_files_are_valid():
    """Every fit.json shipped in checkpoints/ loads, and says how it was chosen."""
    from rekogan.writer.fit import run_defaults
    files = sorted((REPO / "checkpoints").glob("*/fit.json"))
    for f in files:
        d = run_defaults(next(f.parent.glob("epoch_*.safetensors")))
        assert d.path is not None and d.values and d.chosen_on and d.command



def _row_of(face: str) -> np.ndarray:
    """가나다라 in an installed face, 160 px cells in one row, dark on white (as the photo table lays them)."""
    from PIL import Image
    from rekogan.data.fonts import find_faces, render_available
    from rekogan.hangul import ClassList
    from rekogan.writer.photo import row_picture
    f = next(x for x in find_faces() if x.name == face)
    _, g = render_available(f, ClassList(tuple("가나다라")), size=64)
    return row_picture(np.stack([np.asarray(Image.fromarray(x).resize((160, 160), Image.BICUBIC)) for x in 255 - g]))


@pytest.mark.parametrize("face", ["NanumBarunGothicUltraLight", "NanumGothic", "UnPilgi"])
def test_a_photo_is_told_from_a_drawing_and_comes_back_nearer_the_upload(font_set, monkeypatch, face):
    """images.ink_picture: a camera's picture (paper tone and noise everywhere) is denoised and
    sharpened before its ink is read, which undoes part of the blur that widens thin strokes; a
    drawing, and a glyph-sized picture, are read as before."""
    from rekogan.writer import images
    from rekogan.writer.photo import photograph
    clean = _row_of(face)
    assert not images.is_photo(images.ink_strength(clean))
    small = np.full((40, 40), 200, np.uint8)
    small[10:30, 19:21] = 20
    assert not images.is_photo(images.ink_strength(small)), "a glyph-sized picture is never a photo"
    ref = images.ink_picture(clean).astype(float)
    for seed in range(3):
        photo = photograph(clean, seed=seed, ink="blue" if seed % 2 else "black", angle=0.0)   # same size as clean
        assert images.is_photo(images.ink_strength(images.as_array(photo)))
        new = np.abs(images.ink_picture(photo).astype(float) - ref).mean()
        with monkeypatch.context() as m:
            m.setattr(images, "is_photo", lambda s: False)        # read as a drawing: no denoising, no sharpening
            old = np.abs(images.ink_picture(photo).astype(float) - ref).mean()
        assert new < old, f"seed {seed}: |photo - upload| {new:.2f} with the photo's cleaning, {old:.2f} without"
