"""The training benchmark end to end on a synthetic 520-class set: it runs both recipes, and its
ratio is the quotient of the two figures it prints (seconds-long, so the figures mean nothing)."""
from __future__ import annotations

import json

from conftest import run_py
from packed_util import synthetic_glyphs
from rekogan.data.packed import save_packed
from rekogan.runtime import cpu_has_bf16


def test_bench_train_runs_both_recipes_and_reports_their_ratio(tmp_path):
    data = synthetic_glyphs(n_classes=520, groups=1, size=64)
    path = save_packed(tmp_path / "d.npz", data)
    out = tmp_path / "bench.json"
    proc = run_py(["-m", "rekogan.bench", "--json", out, "train", "--data", f"packed:{path}", "--seconds", "0",
                   "--warmup", "0", "--faces", "1", "--workers", "0", "--threads", "1"], check=True)
    res = json.loads(out.read_text())
    assert res["device"] == "cpu" and res["fixed"]["steps"] >= 5 and res["original"]["steps"] >= 3
    assert res["original"]["images_on_disk"] == 520
    assert abs(res["ratio"] - res["fixed"]["img_per_s"] / res["original"]["img_per_s"]) < 0.01
    # the runtime's rule, as train.py: bf16 autocast where this CPU computes bf16 natively, else fp32
    assert res["fixed"]["precision"] == ("bf16" if cpu_has_bf16() else "fp32"), res["fixed"]
    assert f"{res['ratio']:.2f}x" in proc.stdout


def test_bench_refuses_data_without_every_class(tmp_path):
    path = save_packed(tmp_path / "d.npz", synthetic_glyphs(n_classes=4, size=16))
    proc = run_py(["-m", "rekogan.bench", "train", "--data", f"packed:{path}", "--seconds", "0"])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[0].startswith("error:") and "every class" in lines[0], lines
