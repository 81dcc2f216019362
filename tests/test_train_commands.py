"""`python -m rekogan classifier train` and `python -m rekogan reader train`, run from the command line
with tiny settings (a few syllables, tens of steps), and their files used by the evaluation."""
from __future__ import annotations

import json
import shlex
import shutil

import torch

from conftest import REPO, python_env, require_font_set, run_py
from rekogan.cli import main as rekogan_main
from rekogan.conventions import CLASSIFIER_FILE
from rekogan.evaluation import read_evaluations
from test_evaluation_hangul import split_run  # noqa: F401 - the small split run fixture, shared

CLASSES = "가눈뭘쏘힘료"          # six very different syllables (as tests/test_evaluation.py)


def need_heldout_faces():
    """Both commands validate on the 8 held-out font faces: the installed set must be complete
    (conftest.require_font_set fails, never skips, naming the missing Debian packages)."""
    require_font_set()


def no_temporaries(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if "tmp" in p.name or p.name.startswith(".")]


def test_classifier_train_command_publishes_a_classifier_the_evaluation_uses(tmp_path, monkeypatch):
    need_heldout_faces()
    from rekogan.checkpoints import save_generator
    from rekogan.classifier import file_id, load_classifier
    from rekogan.hangul import parse_classes
    from rekogan.models import ModelConfig, build_generator
    cache, out = tmp_path / "cache", tmp_path / "classifier"
    proc = run_py(["-m", "rekogan", "classifier", "train", "--classes", CLASSES, "--size", "16", "--steps", "60",
                   "--batch", "32", "--lr", "5e-3", "--widths", "16,32,64", "--work-size", "16", "--threads", "1",
                   "--out", out], env=python_env(REKOGAN_EVAL_CACHE=str(cache)), check=True)
    path = out / "classifier.safetensors"
    model, meta = load_classifier(path)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert "".join(model.class_list) == CLASSES and meta["heldout_top1"] == metrics["heldout_top1"]
    assert metrics["steps"] == 60 and "classifier train" in metrics["command"] and len(metrics["per_face"]) == 8
    assert metrics["heldout_top1"] > 0.5, metrics["heldout_top1"]      # chance is 1/6: it learnt to read
    assert "held-out top-1" in proc.stdout and "evaluation reference cached" in proc.stdout
    assert no_temporaries(out) == [] and sorted(p.name for p in out.iterdir()) == ["classifier.safetensors",
                                                                                    "metrics.json"]
    refs = sorted(cache.glob("evalref_*"))
    assert len(refs) == 1, "the command caches the evaluation reference before publishing the file"

    # the evaluation reads a run of the same classes with it, from the reference the command cached
    monkeypatch.setenv("REKOGAN_EVAL_CACHE", str(cache))
    run = tmp_path / "run"
    run.mkdir()
    cfg = ModelConfig(n_classes=len(CLASSES), size=16, z_dim=8, embed_dim=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    save_generator(run / "epoch_001.safetensors", build_generator(cfg).eval(), model=cfg,
                   classes=parse_classes(CLASSES), epoch=1, step=10, images_seen=160,
                   config={"data": "fonts", "augment": 1.0})
    assert rekogan_main(["evaluate", str(run), "--classifier", str(path), "--write", "--threads", "1"]) == 0
    (record,) = read_evaluations(run)
    assert record["classifier_id"] == file_id(path) and len(record["per_class"]) == len(CLASSES)
    assert sorted(cache.glob("evalref_*")) == refs, "the evaluation computed its own reference again"


def test_reader_train_command_publishes_a_reader_the_split_evaluation_uses(tmp_path, split_run, capsys):  # noqa: F811
    need_heldout_faces()
    from rekogan.classifier import file_id
    from rekogan.reader import JamoReader, load_reader
    train, test = "가각간갈나낙", "가갈낙뷁"      # two test syllables it never trains on
    out = tmp_path / "reader"
    proc = run_py(["-m", "rekogan", "reader", "train", "--steps", "8", "--batch", "16", "--threads", "1",
                   "--train-syllables", train, "--test-syllables", test, "--out", out], check=True)
    path = out / "reader.safetensors"
    reader = load_reader(path)
    assert isinstance(reader, JamoReader)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["train_syllables"] == len(train) and metrics["test_syllables"] == len(test)
    assert metrics["steps"] == 8 and len(metrics["heldout_faces"]) == 8
    assert len(test) * 7 <= metrics["heldout_images"] <= len(test) * 8       # a face may lack 뷁
    assert metrics["heldout_unseen_syllables_all3"] is not None
    assert shlex.split(metrics["command"])[-4:] == ["--train-syllables", train, "--test-syllables", test]
    assert "all three components right" in proc.stdout
    assert no_temporaries(out) == []
    images = torch.full((3, 1, 64, 64), -1.0)
    feats, read = reader.read(images)
    assert feats.shape[0] == 3 and read.shape == (3,) and ((read >= 0) & (read < 11172)).all()

    # the split-run evaluation reads with it
    run = tmp_path / "run"
    shutil.copytree(split_run, run)
    assert rekogan_main(["evaluate", str(run), "--reader", str(path), "--classifier", str(REPO / CLASSIFIER_FILE),
                         "--seeds", "2", "--write", "--threads", "1"]) == 0
    records = read_evaluations(run)
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(r["reader"] == "jamo" and r["classifier_id"] == file_id(path) for r in records)
    capsys.readouterr()
    # a syllable option that names no syllable set is one line, before anything is trained
    for bad, words in (("12", "--train-syllables '12': give seri95, ksx1001, all"), ("abc", "--train-syllables: ")):
        assert rekogan_main(["reader", "train", "--train-syllables", bad, "--out", str(tmp_path / "no")]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {words}"), err
    assert not (tmp_path / "no").exists()
