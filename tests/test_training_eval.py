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


def test_follow_eval_records_what_the_training_loop_would(tmp_path, tiny_run):
    """scripts/follow_eval.py (the GPU runs' evaluation, in a process beside training) writes the
    records train.py --eval-every 1 writes for the same weights, and leaves alone an epoch whose
    metrics line is not written yet (its checkpoint may be half-written)."""
    import shutil
    assert CLASSIFIER.is_file(), f"the shipped classifier is missing: {CLASSIFIER}"
    inloop = tmp_path / "inloop"
    run_py(["train.py", *TINY_ARGS, "--out", inloop, "--eval-every", "1", "--classifier", CLASSIFIER], check=True)
    followed = tmp_path / "followed"
    shutil.copytree(tiny_run, followed)               # the same recipe and seed, trained without evaluation
    assert not (followed / "evaluation.jsonl").exists()
    metrics = (followed / "metrics.jsonl").read_text().splitlines()
    (followed / "metrics.jsonl").write_text(metrics[0] + "\n")           # epoch 2 as if still being saved
    stop = tmp_path / "done"
    stop.touch()
    args = ["scripts/follow_eval.py", followed, "--stop-file", stop, "--deadline", "120", "--classifier", CLASSIFIER,
            "--threads", "1"]
    proc = run_py(args, check=True)
    assert [json.loads(line)["epoch"] for line in (followed / "evaluation.jsonl").read_text().splitlines()] == [1]
    assert "not evaluated: {" in proc.stdout and "[]" in proc.stdout
    (followed / "metrics.jsonl").write_text("\n".join(metrics) + "\n")   # epoch 2 finished
    run_py(args, check=True)
    mine = [json.loads(line) for line in (followed / "evaluation.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in (inloop / "evaluation.jsonl").read_text().splitlines()]
    keys = ("epoch", "readability", "diversity", "classifier_fd", "failing_count", "per_class", "top_confusions")
    assert [{k: r[k] for k in keys} for r in mine] == [{k: r[k] for k in keys} for r in theirs]
