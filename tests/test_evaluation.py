"""Classifier + generator metrics: known answers on a tiny setup (6 very different syllables, 16x16).

A tiny classifier is trained once per module on the font data (a few seconds). Fake generators
with known behaviour are then scored: real glyphs (a different face per seed) must be readable
and as diverse as the data, one image for everything must read at chance, one image per class
(ignoring z) must have ~zero diversity.
"""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rekogan.cli import main as rekogan_main
from rekogan.checkpoints import CheckpointError, save_generator
from rekogan.classifier import (ClassifierConfig, features_and_logits, load_classifier, save_classifier,
                                train_classifier)
from rekogan.data import load_splits
from rekogan.evaluation import (classifier_is, evaluate_checkpoint, evaluate_generator, frechet_distance,
                                mean_pairwise, read_evaluations, real_reference, record_evaluation, write_record)
from rekogan.hangul import parse_classes
from rekogan.models import ModelConfig, build_generator
from rekogan.sampling import seed_to_z

CLASSES = parse_classes("가눈뭘쏘힘료")
SIZE, K, Z = 16, 8, 8


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The machine is shared: one thread is faster than two contending ones for these tiny tensors."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def glyphs(font_set):
    # every figure below comes from these glyphs: with some font packages missing the classifier
    # learns from fewer faces, so font_set first names what is missing (rather than a failed threshold)
    return load_splits("fonts", classes=CLASSES, size=SIZE)


@pytest.fixture(scope="module")
def trained(glyphs):
    torch.manual_seed(0)
    cfg = ClassifierConfig(n_classes=len(CLASSES), size=SIZE, widths=[16, 32, 64])
    model, report = train_classifier(classes=CLASSES, size=SIZE, steps=100, batch=64, lr=5e-3, cfg=cfg,
                                     splits=glyphs, log=lambda s: None)
    return model, report


@pytest.fixture(scope="module")
def clf_file(trained, glyphs, tmp_path_factory):
    model, report = trained
    path = tmp_path_factory.mktemp("clf") / "classifier.safetensors"
    save_classifier(path, model, classes=CLASSES, heldout_top1=report["heldout_top1"], steps=report["steps"],
                    data={"source": "fonts", "heldout_faces": glyphs[1].info["heldout_faces"]},
                    command="pytest")
    return path


def by_face(gs) -> torch.Tensor:
    """GlyphSet -> (faces, classes, S, S) uint8 (font sets hold every class of every face)."""
    faces = gs.groups.unique()
    out = torch.zeros(len(faces), len(CLASSES), SIZE, SIZE, dtype=torch.uint8)
    for i, f in enumerate(faces.tolist()):
        m = gs.groups == f
        out[i, gs.labels[m]] = gs.images[m]
    return out


class FakeG(torch.nn.Module):
    """(z, y) -> images via fn; has .cfg like the real generators."""

    def __init__(self, fn):
        super().__init__()
        self.cfg = SimpleNamespace(z_dim=Z, size=SIZE)
        self.fn = fn
        self.eval()

    def forward(self, z, y):
        return self.fn(z, y)


def to_float(u8: torch.Tensor) -> torch.Tensor:
    return u8.float().div(127.5).sub(1)[:, None]


def real_glyph_gen(glyphs) -> FakeG:
    """Seed s draws face s * step of the train split: a different real writer per seed."""
    table = by_face(glyphs[0])
    step = len(table) // K
    zs = torch.stack([seed_to_z(s, Z) for s in range(K)])

    def fn(z, y):
        seed = (z[:, None, :] == zs[None]).all(2).float().argmax(1)     # which seed made this z
        return to_float(table[seed * step, y])
    return FakeG(fn)


@pytest.fixture(scope="module")
def ref0(trained, glyphs):
    """Reference on un-augmented train glyphs (what the real-glyph fake draws)."""
    return real_reference(trained[0], classes=CLASSES, size=SIZE, seeds=K, augment=0.0, glyphs=glyphs)


# ---- classifier -----------------------------------------------------------------------------

def test_tiny_classifier_reads_heldout_faces(trained, glyphs):
    model, report = trained
    assert report["heldout_top1"] >= 0.85, report
    # the report's per-face figures are the classifier's own reading of each held-out face
    held = glyphs[1]
    _, logits = features_and_logits(model, held.images)
    ok = (logits.argmax(1) == held.labels).float()
    want = {held.group_names[g]: float(ok[held.groups == g].mean()) for g in held.groups.unique().tolist()}
    assert set(report["per_face"]) == set(want) == set(held.info["heldout_faces"]), (report["per_face"], want)
    assert all(abs(report["per_face"][f] - want[f]) < 1e-4 for f in want), (report["per_face"], want)
    assert abs(report["heldout_top1"] - float(ok.mean())) < 1e-4


def test_classifier_accepts_uint8_and_float_and_resizes(trained, glyphs):
    model = trained[0]
    u8 = glyphs[1].images[:10]
    f1, l1 = features_and_logits(model, u8)
    f2, l2 = features_and_logits(model, to_float(u8))
    assert torch.allclose(f1, f2) and torch.allclose(l1, l2)
    assert f1.shape == (10, model.cfg.feat_dim) and l1.shape == (10, len(CLASSES))
    with torch.no_grad():                                  # the fused fast path computes the model itself
        f0, l0 = model.eval()(to_float(u8), with_features=True)
    assert torch.allclose(f0, f1, atol=1e-4) and torch.allclose(l0, l1, atol=1e-4)
    big = torch.nn.functional.interpolate(to_float(u8), scale_factor=2, mode="nearest")
    _, l3 = features_and_logits(model, big)               # 32x32 in: resized to the classifier's 16x16
    assert (l3.argmax(1) == l1.argmax(1)).float().mean() >= 0.8


def test_classifier_save_load_round_trip(trained, clf_file, glyphs):
    model = trained[0]
    loaded, meta = load_classifier(clf_file)
    assert not loaded.training
    assert meta["classes"] == list(CLASSES) and meta["size"] == SIZE and meta["steps"] == 100
    assert meta["heldout_top1"] == trained[1]["heldout_top1"] and meta["command"] == "pytest"
    assert meta["data"]["heldout_faces"] and len(meta["id"]) == 16 and loaded.file_id == meta["id"]
    x = glyphs[1].images[:32]
    fa, la = features_and_logits(model, x)
    fb, lb = features_and_logits(loaded, x)
    assert torch.allclose(la, lb, atol=1e-4) and torch.allclose(fa, fb, atol=1e-4)


def test_classifier_refuses_pickles_and_other_files(trained, tmp_path):
    p = tmp_path / "classifier.safetensors"
    torch.save(trained[0].state_dict(), p)
    with pytest.raises(CheckpointError, match="pickle"):
        load_classifier(p)
    g = tmp_path / "gen.safetensors"
    cfg = ModelConfig(n_classes=len(CLASSES), size=SIZE, z_dim=Z, embed_dim=8, ngf=8, ndf=8)
    save_generator(g, build_generator(cfg), model=cfg, classes=CLASSES, epoch=1, step=1, images_seen=1)
    with pytest.raises(CheckpointError, match="not a ReKOGAN classifier"):
        load_classifier(g)
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / "nope.safetensors")


# ---- metric maths ---------------------------------------------------------------------------

def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    s = a @ a.T + np.eye(5)
    mu = rng.normal(size=5)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    d1, d2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    want = 3.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert abs(frechet_distance(np.zeros(3), np.diag(d1), np.ones(3), np.diag(d2)) - want) < 1e-8


def test_mean_pairwise_distance_known_answer():
    pts = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]])     # pairs: 5, 0, 5
    assert torch.allclose(mean_pairwise(pts), torch.tensor([10 / 3], dtype=torch.float64))
    assert float(mean_pairwise(torch.ones(2, 4, 3))[1]) == 0.0


def test_classifier_is_bounds():
    c = 6
    sure = torch.eye(c).repeat(4, 1) * 50                 # every class, read with certainty
    assert abs(classifier_is(sure) - c) < 1e-3
    same = torch.zeros(24, c); same[:, 2] = 50            # everything read as one class
    assert abs(classifier_is(same) - 1) < 1e-3


# ---- known-answer generators ----------------------------------------------------------------

def test_real_glyphs_read_well_and_are_as_diverse_as_data(trained, glyphs, ref0):
    res = evaluate_generator(real_glyph_gen(glyphs), classes=CLASSES, classifier=trained[0], seeds=K, reference=ref0)
    assert res["readability"] >= 0.85, res
    assert 0.7 <= res["diversity"] <= 1.3, res["diversity"]
    assert res["failing_count"] == 0 and len(res["per_class"]) == len(CLASSES)
    assert res["classifier_is"] > len(CLASSES) * 0.6
    assert res["images"] == K * len(CLASSES) and res["seeds"] == K


def test_one_image_for_everything_reads_at_chance(trained, glyphs, ref0):
    img = to_float(by_face(glyphs[0])[0, 0:1])            # face 0, class 0
    g = FakeG(lambda z, y: img.expand(len(y), -1, -1, -1))
    res = evaluate_generator(g, classes=CLASSES, classifier=trained[0], seeds=K, reference=ref0)
    c = len(CLASSES)
    assert abs(res["readability"] - 1 / c) < 1e-6, res["readability"]   # right for exactly one class
    assert res["failing_count"] == c - 1 and res["distinct_readings"] == 1
    read_as = res["top_confusions"][0]["read"]
    assert all(t["read"] == read_as and t["count"] == K for t in res["top_confusions"])
    assert res["diversity"] < 1e-6 and abs(res["classifier_is"] - 1) < 1e-6


def test_one_image_per_class_has_no_diversity(trained, glyphs, ref0):
    table = to_float(by_face(glyphs[0])[3])               # face 3, every class, whatever z says
    g = FakeG(lambda z, y: table[y])
    res = evaluate_generator(g, classes=CLASSES, classifier=trained[0], seeds=K, reference=ref0)
    assert res["diversity"] < 0.02, res["diversity"]
    assert res["readability"] >= 0.8                     # the glyphs themselves are real and readable
    real = evaluate_generator(real_glyph_gen(glyphs), classes=CLASSES, classifier=trained[0], seeds=K, reference=ref0)
    assert real["classifier_fd"] < res["classifier_fd"]   # missing variety costs FD too


def test_generator_class_unknown_to_classifier_is_an_error(trained):
    g = FakeG(lambda z, y: torch.zeros(len(y), 1, SIZE, SIZE))
    with pytest.raises(ValueError, match="cannot read"):
        evaluate_generator(g, classes=parse_classes("가눈뭘쏘힘헿"), classifier=trained[0], seeds=2)


# ---- records and the command line -----------------------------------------------------------

def make_run(run_dir, epochs):
    cfg = ModelConfig(n_classes=len(CLASSES), size=SIZE, z_dim=Z, embed_dim=8, ngf=8, ndf=8)
    for e in epochs:
        torch.manual_seed(e)
        G = build_generator(cfg).eval()
        save_generator(run_dir / f"epoch_{e:03d}.safetensors", G, model=cfg, classes=CLASSES, epoch=e, step=10 * e,
                       images_seen=160 * e, config={"data": "fonts", "augment": 1.0})


def test_record_evaluation_replaces_not_duplicates(clf_file, tmp_path, monkeypatch):
    monkeypatch.setenv("REKOGAN_EVAL_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    run.mkdir()
    make_run(run, [1, 2])
    r1 = record_evaluation(run, run / "epoch_001.safetensors", classifier_path=clf_file, seeds=4)
    assert len(list((tmp_path / "cache").glob("evalref_*.npz"))) == 1     # reference cached
    record_evaluation(run, run / "epoch_002.safetensors", classifier_path=clf_file, seeds=4)
    again = record_evaluation(run, run / "epoch_001.safetensors", classifier_path=clf_file, seeds=4)
    lines = (run / "evaluation.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert again["readability"] == r1["readability"] and again["classifier_fd"] == r1["classifier_fd"]
    for k in ("step", "images_seen", "readability", "diversity", "classifier_fd", "classifier_is", "failing_count",
              "failing_classes", "top_confusions", "per_class", "seeds", "classifier_id", "seconds"):
        assert k in r1, k
    assert len(r1["per_class"]) == len(CLASSES) and r1["images_seen"] == 160
    assert (run / "evaluation.png").stat().st_size > 0
    assert not [p for p in run.iterdir() if "tmp" in p.name]


def evaluate(*args) -> int:
    return rekogan_main(["evaluate", *map(str, args)])


def test_cli_prints_and_writes_only_with_write(clf_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REKOGAN_EVAL_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    run.mkdir()
    make_run(run, [1, 3])
    before = sorted(p.name for p in run.iterdir())
    assert evaluate(run, "--classifier", clf_file, "--seeds", 4) == 0
    out = capsys.readouterr().out
    assert "best epoch:" in out and "readab." in out and "nothing written" in out
    assert sorted(p.name for p in run.iterdir()) == before, "evaluate without --write wrote into the run"
    assert evaluate(run, "--classifier", clf_file, "--seeds", 4, "--write") == 0
    assert [r["epoch"] for r in read_evaluations(run)] == [1, 3]
    assert evaluate(run, "--classifier", clf_file, "--seeds", 4) == 0
    assert "already evaluated" in capsys.readouterr().out
    assert evaluate(run / "epoch_003.safetensors", "--classifier", clf_file, "--seeds", 4, "--write") == 0
    assert len(read_evaluations(run)) == 2


def test_cli_errors_are_one_line(clf_file, tmp_path, capsys):
    assert evaluate(tmp_path, "--classifier", tmp_path / "none.safetensors") == 2
    assert "python -m rekogan classifier train" in capsys.readouterr().err
    assert evaluate(tmp_path / "missing_run") == 2
    assert "does not exist" in capsys.readouterr().err
    pk = tmp_path / "epoch_009.safetensors"
    torch.save({"w": torch.zeros(2)}, pk)
    assert evaluate(pk, "--classifier", clf_file) == 2
    err = capsys.readouterr().err
    assert "pickle" in err and err.count("\n") == 1 and err.startswith("error: ")
    from rekogan import evaluate as old_spelling                    # the old spelling is the same command
    assert old_spelling.main([str(tmp_path / "missing_run")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_record_against_other_faces_is_labelled_and_never_written(clf_file, tmp_path, monkeypatch):
    monkeypatch.setenv("REKOGAN_EVAL_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    run.mkdir()
    make_run(run, [1])
    (run / "data.json").write_text(json.dumps({"source": "fonts", "faces": ["NotInstalledHere", "NorThis"]}))
    record = evaluate_checkpoint(run / "epoch_001.safetensors", classifier_path=clf_file, seeds=4)
    assert record["font_set_matches_run"] is False
    with pytest.raises(ValueError, match="not the faces the run trained on"):
        write_record(run, record)
    assert not (run / "evaluation.jsonl").exists()
    assert evaluate(run, "--classifier", clf_file, "--seeds", 4, "--write") == 2
    assert not (run / "evaluation.jsonl").exists()


def test_the_reference_cache_is_keyed_by_the_font_set(tmp_path):
    from rekogan.data.fonts import font_set_id
    from rekogan.evaluation import data_identity
    empty = tmp_path / "no_fonts"
    empty.mkdir()
    assert data_identity(f"fonts:{empty}") != data_identity("fonts")
    # the id follows the font files: one added, one replaced (new mtime) and one resized each give another id
    ids = [font_set_id([str(empty)])]
    face = empty / "Face.ttf"           # find_faces goes by the name; the bytes are never parsed here
    face.write_bytes(b"\0" * 100)
    ids.append(font_set_id([str(empty)]))
    st = face.stat()
    os.utime(face, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ids.append(font_set_id([str(empty)]))
    face.write_bytes(b"\0" * 200)
    os.utime(face, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))       # same mtime as before: only the size moved
    ids.append(font_set_id([str(empty)]))
    assert len(set(ids)) == 4, ids
    assert font_set_id([str(empty)]) == ids[-1], "the same files must give the same id (the cache's key)"
