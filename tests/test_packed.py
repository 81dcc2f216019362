"""The packed data source (`python -m rekogan pack`, `--data packed:FILE`) and the training
precision choice (bf16 autocast where the hardware computes it natively)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import run_py
from packed_util import synthetic_glyphs, write_synthetic_pack
from rekogan.data import load_source, load_splits
from rekogan.data.packed import load_packed, save_packed
from rekogan.hangul import ClassList, seri95


def test_pack_roundtrip_keeps_images_labels_groups_and_provenance(tmp_path):
    src = synthetic_glyphs(size=16)
    path = save_packed(tmp_path / "d.npz", src)
    got = load_source(f"packed:{path}", classes=src.classes, size=16)
    assert torch.equal(got.images, src.images) and torch.equal(got.labels, src.labels)
    assert torch.equal(got.groups, src.groups) and got.group_names == src.group_names
    assert got.info["packed_from"] == "synthetic" and got.info["source"] == f"packed:{path}"
    assert got.info["missing_classes"] == [] and got.info["skipped_other_class"] == 0
    assert not list(tmp_path.glob(".*tmp*")), "the temporary file must be renamed into place"


def test_packed_split_keeps_the_sources_heldout_groups(tmp_path):
    path = write_synthetic_pack(tmp_path / "d.npz", size=16)
    train, held = load_splits(f"packed:{path}", classes=seri95().subset(4), size=16)
    assert set(held.groups.tolist()) == {9} and 9 not in set(train.groups.tolist())


def test_packed_labels_follow_the_runs_class_list_not_the_files(tmp_path):
    src = synthetic_glyphs(n_classes=4, size=16)                  # 가 각 간 갇
    path = save_packed(tmp_path / "d.npz", src)
    classes = ClassList(("간", "가", "힣"))                         # reordered, one absent, one not in the file
    got = load_packed(path, classes=classes, size=16)
    want = {"가": 1, "간": 0}
    for s, i in want.items():
        file_idx = src.classes.index(s)
        assert torch.equal(got.images[got.labels == i], src.images[src.labels == file_idx])
    assert got.info["skipped_other_class"] == 2 * 10 and got.info["missing_classes"] == ["힣"]


def test_packed_resamples_to_the_asked_size(tmp_path):
    path = write_synthetic_pack(tmp_path / "d.npz", size=32)
    got = load_packed(path, classes=seri95().subset(4), size=16)
    assert got.images.shape[1:] == (16, 16) and got.images.dtype == torch.uint8 and got.images.max() > 128


def test_packed_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="rekogan pack"):
        load_packed(tmp_path / "nope.npz", classes=seri95(), size=16)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_packed(bad, classes=seri95(), size=16)
    other = tmp_path / "other.npz"
    np.savez(other, images=np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="not a ReKOGAN packed dataset"):
        load_packed(other, classes=seri95(), size=16)
    good = write_synthetic_pack(tmp_path / "good.npz", size=16)
    with pytest.raises(ValueError, match="no usable image"):
        load_packed(good, classes=ClassList(("힣",)), size=16)


def test_pack_cli_from_an_image_folder_then_train_on_it(tmp_path):
    from PIL import Image
    src = synthetic_glyphs(size=16)
    root = tmp_path / "folder"
    for i, (img, y) in enumerate(zip(src.images, src.labels)):
        d = root / src.classes.syllable(int(y))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - img.numpy()).save(d / f"w{i // 4:02d}.png")    # dark ink on white, as scanned
    out = tmp_path / "d.npz"
    proc = run_py(["-m", "rekogan", "pack", "--data", f"folder:{root}", "--out", out, "--size", "16",
                   "--classes", "4"], check=True)
    assert "packed 40 images of 4 classes" in proc.stdout and out.is_file()
    run = tmp_path / "run"
    run_py(["train.py", "--preset", "tiny", "--threads", "1", "--data", f"packed:{out}", "--out", run], check=True)
    info = json.loads((run / "data.json").read_text())
    assert info["source"] == f"packed:{out}" and info["packed_from"] == f"folder:{root}"
    assert (run / "epoch_002.safetensors").is_file()


@pytest.mark.parametrize("args, needle", [
    (["--out", "x.txt"], "must name a .npz"),
    (["--out", "{tmp}/d.npz", "--data", "folder:{tmp}/missing"], "missing"),
])
def test_pack_cli_bad_input_is_one_line(tmp_path, args, needle):
    args = [a.format(tmp=tmp_path) for a in args]
    proc = run_py(["-m", "rekogan", "pack", *args])
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_autocast_choice(monkeypatch):
    from rekogan import runtime as training
    cpu = torch.device("cpu")
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    ctx, name = training.autocast_for(cpu, True)
    assert name == "bf16"
    with ctx():
        assert torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.bfloat16
    assert training.autocast_for(cpu, False)[1] == "fp32"
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)  # emulated bf16 would be slower: stay fp32
    ctx, name = training.autocast_for(cpu, True)
    assert name == "fp32"
    with ctx():
        assert torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.float32
    monkeypatch.setattr(training, "cuda_has_bf16", lambda: True)
    assert training.autocast_for(torch.device("cuda"), True)[1] == "bf16"
    monkeypatch.setattr(training, "cuda_has_bf16", lambda: False)   # pre-Ampere GPU: fp32
    assert training.autocast_for(torch.device("cuda"), True)[1] == "fp32"


def test_a_packed_runs_checkpoints_are_evaluated_against_the_source_it_was_packed_from(tmp_path):
    """A run trained on a GPU machine from a packed file is evaluated here, where the file is not,
    against the fonts it was packed from; without that record, the missing file is named."""
    from rekogan.evaluation import reference_data
    pack = tmp_path / "glyphs.npz"
    pack.write_bytes(b"")
    assert reference_data("fonts", tmp_path) == "fonts"
    assert reference_data(f"packed:{pack}", tmp_path) == f"packed:{pack}"      # the file is here: it is used
    missing = f"packed:{tmp_path / 'gone.npz'}"
    with pytest.raises(FileNotFoundError, match="gone.npz.*python -m rekogan pack"):
        reference_data(missing, tmp_path)                                        # no data.json
    (tmp_path / "data.json").write_text(json.dumps({"packed_from": "hgu1:/data/PE92"}))
    with pytest.raises(FileNotFoundError, match="gone.npz"):
        reference_data(missing, tmp_path)                                        # not a font source
    (tmp_path / "data.json").write_text(json.dumps({"packed_from": "fonts"}))
    assert reference_data(missing, tmp_path) == "fonts"
