"""Evaluation during training (TrainConfig.eval_every): every test preset sets it to 0, so these
tests turn it on. A good classifier writes one evaluation record per evaluated epoch; a broken one
is logged and skipped, and the run still finishes (evaluation must never kill a training run)."""
from __future__ import annotations

import json

from conftest import REPO, TINY_ARGS, run_py

CLASSIFIER = REPO / "checkpoints" / "classifier" / "classifier.safetensors"


def _epochs(run) -> list[int]:
    return sorted(int(p.stem.split("_")[1]) for p in run.glob("epoch_*.safetensors"))


def test_each_evaluated_epoch_gets_a_record(tmp_path):
    assert CLASSIFIER.is_file(), f"the shipped classifier is missing: {CLASSIFIER}"
    run = tmp_path / "run"
    proc = run_py(["train.py", *TINY_ARGS, "--out", run, "--eval-every", "1", "--classifier", CLASSIFIER], check=True)
    assert _epochs(run) == [1, 2]
    records = [json.loads(line) for line in (run / "evaluation.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert r["classifier"] == str(CLASSIFIER) and r["checkpoint"] == f"epoch_{r['epoch']:03d}.safetensors"
        assert len(r["per_class"]) == len(r["classes"]) == 4      # the tiny run's 4 classes, each measured
    assert "readability" in proc.stdout and "evaluation skipped" not in proc.stdout
    assert (run / "evaluation.png").is_file()


def test_a_broken_classifier_is_skipped_and_the_run_finishes(tmp_path):
    bad = tmp_path / "classifier.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}" + bytes(64))
    run = tmp_path / "run"
    proc = run_py(["train.py", *TINY_ARGS, "--out", run, "--eval-every", "1", "--classifier", bad], check=True)
    assert _epochs(run) == [1, 2]                      # both epochs trained and saved
    assert proc.stdout.count("evaluation skipped") == 2, proc.stdout[-2000:]
    assert not (run / "evaluation.jsonl").exists()
    assert (run / "state_002.safetensors").is_file()    # and resumable from its last epoch
