"""Hand runs (issue 25): a style encoder shipped beside a fine-tuned generator (scripts/ship_writer_run.py),
the fit that starts from it, and writers that say which generator draws them.

On the suite's tiny run (4 classes, 16x16) with a tiny encoder and a perturbed copy of its generator as
the "fine-tuned" one; the shipped 520-class reader as the fit's features. One thread, seconds each."""
from __future__ import annotations

import base64
import json
import sys
import zlib

import pytest
import torch

from conftest import REPO, run_py

sys.path.insert(0, str(REPO / "scripts"))

FAST = dict(seeds=8, steps_z=2, steps_layers=2, steps_adapter=2)     # the tests need a writer, not a good one


@pytest.fixture(scope="module")
def feats():
    from rekogan.writer import reader_features
    return reader_features(REPO / "checkpoints/classifier/classifier.safetensors")


def _tiny_encoder(G, seed=3):
    """A tiny StyleEncoder of G whose head is not zero: its writer depends on the references."""
    from rekogan.writer.encoder import encoder_for
    torch.manual_seed(seed)
    E = encoder_for(G, width=8, feat=32)
    with torch.no_grad():
        E.head[-1].weight.normal_(0, 0.05)
        E.head[-1].bias.normal_(0, 0.3)
    return E.eval()


def _tuned(G):
    """G's weights moved a little, as a fine-tune would: (tensors fp16 as a run saves them)."""
    g = torch.Generator().manual_seed(7)
    return {k: (v + 0.05 * torch.randn(v.shape, generator=g) * v.std() if v.is_floating_point() and v.numel() > 1 else v)
            for k, v in G.state_dict().items()}


def _source_run(tmp_path, *, base, G, E, faces=("faceA", "faceB")):
    """A train_writer_encoder.py run folder made by hand: config, fp16 weights, log, state counters."""
    from rekogan.checkpoints import save_tensors
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"checkpoint": str(base), "reader": "r", "encoder": E.config,
                                                 "paired": {"k": 2}, "train_faces": list(faces)}))
    save_tensors(src / "encoder_last.safetensors", {k: v.half() for k, v in E.state_dict().items()}, {"format": "x"})
    save_tensors(src / "generator_last.safetensors", {k: (v.half() if v.is_floating_point() else v)
                                                      for k, v in _tuned(G).items()}, {"format": "x"})
    save_tensors(src / "state.safetensors", {"x": torch.zeros(1)}, {"counters": json.dumps({"step": 40, "cpu_s": 90.0})})
    (src / "metrics.jsonl").write_text(json.dumps({"event": "start", "command": "python scripts/train_writer_encoder.py --run src"}) + "\n")
    return src


@pytest.fixture(scope="module")
def hand(tiny_ckpt, tiny_model, tmp_path_factory):
    """(the shipped hand run's epoch file, E, the source folder): tiny_ckpt's run shipped as 'tiny-hand'."""
    import ship_writer_run
    G, _ = tiny_model
    root = tmp_path_factory.mktemp("hand")
    E = _tiny_encoder(G)
    src = _source_run(root, base=tiny_ckpt, G=G, E=E)
    out = root / "runs" / "tiny-hand"
    out.parent.mkdir()
    assert ship_writer_run.main([str(src), "--base", str(tiny_ckpt), "--out", str(out)]) == 0
    return out / tiny_ckpt.name, E, src


def _pictures(n):
    from test_writer import _glyph_picture
    return [_glyph_picture(seed=i) for i in range(n)]


def test_ship_round_trips_the_generator_and_the_encoder(hand, tiny_ckpt, tiny_model, tmp_path, capsys):
    import ship_writer_run
    from rekogan.checkpoints import load_generator, read_metadata, read_tensors
    from rekogan.writer.encoder import ENCODER_FILE, load_encoder
    path, E, src = hand
    out = path.parent
    G0, meta0 = tiny_model
    G, meta = load_generator(path)
    assert meta["epoch"] == meta0["epoch"] and meta["class_list"] == meta0["class_list"]
    assert read_metadata(path)["config"] == read_metadata(tiny_ckpt)["config"], "the base's metadata, kept"
    tuned, _ = read_tensors(src / "generator_last.safetensors")
    shipped, _ = read_tensors(path)
    assert set(shipped) == set(tuned) and all(torch.equal(shipped[k], tuned[k]) for k in tuned), "G.* as trained (fp16)"
    assert not torch.equal(shipped["fc.weight"], read_tensors(tiny_ckpt)[0]["fc.weight"])
    assert G.writer_tag.startswith("tiny-hand@") and len(G.writer_tag) == len("tiny-hand@") + 8
    assert getattr(G0, "writer_tag", "") == "", "a plain run has no tag"
    E2 = load_encoder(out / ENCODER_FILE, generator=G)
    assert all(torch.equal(E2.state_dict()[k], v.half().float()) for k, v in E.state_dict().items())
    prov = json.loads((out / "provenance.json").read_text())["writer_encoder"]
    assert prov["cpu_minutes"] == 1.5 and prov["step"] == 40 and prov["base_epoch"] == meta0["epoch"]
    assert prov["training_faces"] == ["faceA", "faceB"] and prov["commands"] == ["python scripts/train_writer_encoder.py --run src"]
    assert (out / "README.md").is_file() and (out / "config.json").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "no temporary folder left"
    # again without --force: refused, nothing changed; with --force: replaced
    before = path.read_bytes()
    assert ship_writer_run.main([str(src), "--base", str(tiny_ckpt), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and path.read_bytes() == before
    # a source trained from another base is refused
    other = tmp_path / "epoch_009.safetensors"
    other.write_bytes(tiny_ckpt.read_bytes())
    assert ship_writer_run.main([str(src), "--base", str(other), "--out", str(tmp_path / "x")]) == 2
    assert "trained from" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_ship_from_a_resume_file(tiny_ckpt, tiny_model, tmp_path):
    import ship_writer_run
    from rekogan.checkpoints import load_generator, save_tensors
    G, _ = tiny_model
    E = _tiny_encoder(G, seed=4)
    tensors = {f"E.{k}": v.half() for k, v in E.state_dict().items()}
    tensors.update({f"G.{k}": (v.half() if v.is_floating_point() else v) for k, v in _tuned(G).items()})
    res = tmp_path / "enc.safetensors"
    save_tensors(res, tensors, {"config": json.dumps({"checkpoint": str(tiny_ckpt), "encoder": E.config, "train_faces": []}),
                                "step": "12", "cpu_min": "3.5"})
    out = tmp_path / "r-hand"
    assert ship_writer_run.main([str(res), "--base", str(tiny_ckpt), "--out", str(out)]) == 0
    prov = json.loads((out / "provenance.json").read_text())["writer_encoder"]
    assert prov["step"] == 12 and prov["cpu_minutes"] == 3.5
    assert load_generator(out / tiny_ckpt.name)[0].writer_tag.startswith("r-hand@")


def test_the_fit_starts_from_the_encoder_and_the_writer_names_its_run(hand, tiny_model, tiny_ckpt, feats):
    from rekogan.checkpoints import load_generator
    from rekogan.writer import FitConfig, fit, imitate
    from rekogan.writer.encoder import start_writer
    from rekogan.writer.value import code_generator
    path, E, _ = hand
    G, meta = load_generator(path)
    text = "".join(meta["class_list"].syllable(i) for i in range(3))
    res = imitate(_pictures(3), text, generator=G, meta=meta, checkpoint=str(path), reader=feats,
                  config=FitConfig(**FAST))
    assert res.writer.losses["start"] == "encoder" and res.writer.losses["start_seed"] is None
    assert code_generator(res.writer.code) == G.writer_tag == res.writer.generator
    # no steps after the start: the writer IS the encoder's (rounded to the code's fp16)
    from rekogan.writer.samples import prepare
    s = prepare(_pictures(3), text, class_list=meta["class_list"], size=G.cfg.size)
    lat, _, _ = start_writer(E, G, s.targets(), s.labels)
    r = fit(G, s.targets(), s.labels, reader_features=feats, encoder=E,
            config=FitConfig(steps_layers=0, steps_adapter=0, **{k: v for k, v in FAST.items() if k not in ("steps_layers", "steps_adapter")}))
    assert torch.equal(r.latents, lat.half().float())
    # the plain run: unchanged (seed search, no tag)
    G0, meta0 = tiny_model
    plain = imitate(_pictures(3), text, generator=G0, meta=meta0, checkpoint=str(tiny_ckpt), reader=feats,
                    config=FitConfig(**FAST))
    assert plain.writer.losses["start"] == "seeds" and plain.writer.generator == ""


def test_a_hand_runs_writer_is_refused_by_any_other_generator(hand, tiny_model, tiny_ckpt, feats, tmp_path):
    import copy
    from rekogan.checkpoints import load_generator
    from rekogan.writer import FitConfig, WriterError, imitate, load_writer, render_line, writer_latent
    path, _, _ = hand
    G, meta = load_generator(path)
    G0, meta0 = tiny_model
    text = "".join(meta["class_list"].syllable(i) for i in range(2))
    w = imitate(_pictures(2), text, generator=G, meta=meta, checkpoint=str(path), reader=feats,
                config=FitConfig(**FAST)).writer
    writer_latent(w.code, generator=G)                                     # its own run draws it
    with pytest.raises(WriterError, match="select run 'tiny-hand'") as e:
        writer_latent(w.code, generator=G0)
    assert "\n" not in str(e.value)
    with pytest.raises(WriterError, match="select run 'tiny-hand'"):
        render_line(w, generator=G0, class_list=meta0["class_list"], text=text)
    other = copy.deepcopy(G)
    other.writer_tag = "tiny-hand@00000000"                                # the run shipped again, other weights
    with pytest.raises(WriterError, match="another version of run 'tiny-hand'"):
        writer_latent(w.code, generator=other)
    # the tag survives both files
    for name in ("w.safetensors", "w.json"):
        again = load_writer(w.save(tmp_path / name))
        assert again.code == w.code and again.generator == G.writer_tag
    # the studio's pen: one message naming the run to select
    from rekogan.studio.cache import Loaded
    from rekogan.studio.hand import pen
    from rekogan.studio.inputs import StudioError
    from rekogan.studio.registry import EpochInfo
    model = Loaded(generator=G0, meta=meta0, classes=meta0["class_list"], info=EpochInfo("tiny", 2, tiny_ckpt))
    with pytest.raises(StudioError, match="select run 'tiny-hand'"):
        pen(model, seed=0, truncation=1.0, weight=0.0, writer=w.code, stroke_weight=lambda **k: (None, ""))
    # the command line's sheet
    bad = run_py(["-m", "rekogan", "sheet", "--checkpoint", tiny_ckpt, "--writer", w.code, "--out", tmp_path / "sheet"])
    assert bad.returncode == 2 and "select run 'tiny-hand'" in bad.stderr and "Traceback" not in bad.stderr


def test_old_codes_are_drawn_as_before_even_by_a_hand_run(hand, tiny_model):
    from rekogan.checkpoints import load_generator
    from rekogan.sampling import generate
    from rekogan.writer import decode, encode, writer_latent
    from rekogan.writer.value import code_generator
    path, _, _ = hand
    G, _ = load_generator(path)
    G0, _ = tiny_model
    lat = torch.randn(len(G.norms) + 1, G.cfg.z_dim, generator=torch.Generator().manual_seed(2)).half().float()
    code = encode(lat)
    body = zlib.decompress(base64.urlsafe_b64decode(code[5:] + "=" * (-len(code[5:]) % 4)))
    assert body[3] == 1 and code_generator(code) == "", "an untagged writer is still a version-1 code"
    from rekogan.writer.latent import layered_forward
    y = torch.arange(4)
    for g in (G0, G):                                                      # any run that fits it, as before
        wl = writer_latent(code, generator=g)
        with torch.no_grad():
            assert torch.equal(generate(wl.generator, y, wl.z), layered_forward(g, lat[None].expand(4, -1, -1), y))
    tagged = encode(lat, generator=G.writer_tag)
    assert torch.equal(decode(tagged)[0], lat) and code_generator(tagged) == G.writer_tag
    assert torch.equal(generate(writer_latent(tagged, generator=G).generator, y, writer_latent(tagged, generator=G).z),
                       generate(writer_latent(code, generator=G).generator, y, writer_latent(code, generator=G).z)), \
        "the tag changes which run may draw a writer, not what it draws"


def test_a_damaged_tag_or_encoder_file_is_refused_with_a_message(hand, feats, tmp_path):
    import shutil
    from rekogan.checkpoints import load_generator, save_tensors
    from rekogan.studio.cache import Loaded
    from rekogan.studio.hand import fit as hand_fit
    from rekogan.studio.inputs import StudioError
    from rekogan.studio.registry import EpochInfo
    from rekogan.writer import FitConfig, WriterError, decode, encode, imitate
    from rekogan.writer.encoder import ENCODER_FILE
    path, _, _ = hand
    lat = torch.zeros(2, 8)
    body = bytearray(zlib.decompress(base64.urlsafe_b64decode(encode(lat, generator="run@1234abcd")[5:] + "==")))
    body[-2 - len("run@1234abcd")] = 200                                   # the tag's length, beyond the payload
    with pytest.raises(WriterError, match="damaged"):
        decode("rkw1." + base64.urlsafe_b64encode(zlib.compress(bytes(body))).decode().rstrip("="))
    run = tmp_path / "tiny-hand"
    shutil.copytree(path.parent, run)
    G, meta = load_generator(run / path.name)
    text = meta["class_list"].syllable(0)
    for damage, message in ((lambda p: p.write_bytes(p.read_bytes()[:200]), "style encoder tiny-hand/encoder.safetensors is damaged"),
                            (lambda p: save_tensors(p, {"w": torch.zeros(2)}, {"format": "rekogan-upscaler-1"}), "not a style encoder")):
        damage(run / ENCODER_FILE)
        with pytest.raises(WriterError, match=message) as e:
            imitate(_pictures(1), text, generator=G, meta=meta, checkpoint=str(run / path.name), reader=feats,
                    config=FitConfig(**FAST))
        assert "\n" not in str(e.value)
    model = Loaded(generator=G, meta=meta, classes=meta["class_list"], info=EpochInfo("tiny-hand", 2, run / path.name))
    with pytest.raises(StudioError, match="not a style encoder"):
        hand_fit(model=model, text=text, drawing=None, uploads=[_save_png(tmp_path)], folder=tmp_path / "w",
                 config=FitConfig(**FAST))


def _save_png(tmp_path):
    from PIL import Image
    p = tmp_path / "glyph.png"
    Image.fromarray(_pictures(1)[0]).save(p)
    return str(p)


def test_ship_reads_the_best_weights_step_from_the_log(tiny_ckpt, tiny_model, tmp_path):
    """--which best: the step and CPU time are the last evaluation marked best, not the run's last state."""
    import shutil
    import ship_writer_run
    G, _ = tiny_model
    src = _source_run(tmp_path, base=tiny_ckpt, G=G, E=_tiny_encoder(G))
    for tag in ("encoder", "generator"):
        shutil.copy(src / f"{tag}_last.safetensors", src / f"{tag}_best.safetensors")
    with (src / "metrics.jsonl").open("a") as f:
        for step, best in ((10, True), (20, True), (30, False)):
            f.write(json.dumps({"event": "eval", "step": step, "cpu_min": step / 10, "best": best}) + "\n")
    got = ship_writer_run.read_source(src, which="best")
    assert (got["step"], got["cpu_min"]) == (20, 2.0)
    assert ship_writer_run.read_source(src, which="last")["step"] == 40


def test_ship_writes_the_runs_fit_defaults_and_refuses_bad_ones(tiny_ckpt, tiny_model, tmp_path, capsys):
    """--fit KEY=VALUE: fit.json beside the epoch, in the format the fit reads (fit.run_defaults), the
    choice said; a field FitConfig lacks, a bad value or an unsaid choice is refused and nothing is shipped;
    the base run's removed_epochs note is not copied into the hand run's provenance."""
    import shutil
    import ship_writer_run
    from rekogan.writer.fit import FitConfig, run_defaults
    G, _ = tiny_model
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    base = base_dir / tiny_ckpt.name
    shutil.copy(tiny_ckpt, base)
    (base_dir / "provenance.json").write_text(json.dumps({"packages": {"p": {"licence": "OFL-1.1", "train_faces": ["faceA", "faceB"]}},
                                                         "removed_epochs": {"2": "gone"}}))
    src = _source_run(tmp_path, base=base, G=G, E=_tiny_encoder(G))
    said = ["--fit-chosen-on", "6 validation faces", "--fit-command", "python scripts/eval_writer_encoder.py --on validation"]
    for bad, msg in ((["--fit", "no_such=1", *said], "expected a FitConfig field"),
                     (["--fit", "adapter=sideways", *said], "adapter must be one of"),
                     (["--fit", "steps_layers=1.5", *said], "steps_layers takes a int"),
                     (["--fit", "lr_layers=0.05"], "--fit-chosen-on")):
        out = tmp_path / "bad-hand"
        assert ship_writer_run.main([str(src), "--base", str(base), "--out", str(out), *bad]) == 2
        assert msg in capsys.readouterr().err and not out.exists()
    out = tmp_path / "runs" / "t-hand"
    assert ship_writer_run.main([str(src), "--base", str(base), "--out", str(out), "--fit", "lr_layers=0.05",
                                 "--fit", "adapter=none", "--fit", "steps_layers=15", *said]) == 0
    doc = json.loads((out / "fit.json").read_text())
    assert doc == {"fit": {"lr_layers": 0.05, "adapter": "none", "steps_layers": 15}, "chosen_on": "6 validation faces",
                   "command": "python scripts/eval_writer_encoder.py --on validation"}
    got = run_defaults(out / tiny_ckpt.name)
    assert got.values == doc["fit"] and FitConfig(**got.values).steps_layers == 15
    assert "lr_layers" in (out / "README.md").read_text()
    prov = json.loads((out / "provenance.json").read_text())
    assert "removed_epochs" not in prov and prov["packages"]["p"]["licence"] == "OFL-1.1"
    without = tmp_path / "plain-hand"
    assert ship_writer_run.main([str(src), "--base", str(base), "--out", str(without)]) == 0
    assert not (without / "fit.json").exists(), "no --fit: FitConfig's defaults, no file"
