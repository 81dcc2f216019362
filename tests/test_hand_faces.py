"""scripts/make_hand_faces.py and train_writer_encoder.py --extra-train (issue 25): new training hands
drawn by a hand run, in another run's syllable order, never from that run's validation faces.

On the tiny class run (4 SERI95 classes, 16x16) with a zero-headed style encoder saved beside it; one
thread, seconds."""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from conftest import REPO

CLASSIFIER = REPO / "checkpoints/classifier/classifier.safetensors"
sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture()
def hand_run(tiny_ckpt, tmp_path):
    """A copy of the tiny run's checkpoint with a (random) style encoder beside it: a 'hand run'."""
    from rekogan.checkpoints import load_generator
    from rekogan.writer.encoder import encoder_for, save_encoder
    d = tmp_path / "hand"
    d.mkdir()
    ckpt = d / tiny_ckpt.name
    shutil.copy(tiny_ckpt, ckpt)
    G, _ = load_generator(ckpt)
    torch.manual_seed(3)
    E = encoder_for(G, width=8, feat=32)
    with torch.no_grad():                       # not zero-headed: each face gets its own writer
        for p in E.parameters():
            p.add_(0.2 * torch.randn_like(p))
    save_encoder(d / "encoder.safetensors", E)
    return ckpt


def _make(hand_run, out, *more):
    import make_hand_faces
    return make_hand_faces.main(["--out", str(out), "--checkpoint", str(hand_run), "--reader", str(CLASSIFIER),
                                 "--classes-from", str(hand_run), "--refs", "2", *more])


def test_new_hands_are_drawn_from_training_faces_only_and_repeat(hand_run, font_set, tmp_path):
    from rekogan.checkpoints import load_generator
    from rekogan.data import load_splits
    from rekogan.writer.conditioned import validation_split
    out = tmp_path / "faces.npz"
    assert _make(hand_run, out, "--faces", "3", "--min-readable", "0", "--exclude-val", "3") == 0
    with np.load(out) as d:
        images, syllables, recipe = d["images"], list(d["syllables"]), json.loads(str(d["recipe"]))
    G, meta = load_generator(hand_run)
    assert images.dtype == np.uint8 and images.shape == (3, 4, G.cfg.size, G.cfg.size)
    assert syllables == [meta["class_list"].syllable(i) for i in range(4)]
    train, _ = load_splits("fonts", classes=meta["class_list"], size=G.cfg.size)
    names = [train.group_names[g] for g in sorted(set(train.groups.tolist()))]
    val = validation_split(names, 3, seed=0)
    assert recipe["excluded_validation_faces"] == val
    used = {f[s] for f in recipe["faces"] for s in ("a", "b")}
    assert used <= set(names) and not used & set(val)
    assert all(f["a"] != f["b"] for f in recipe["faces"])
    assert len({images[i].tobytes() for i in range(3)}) == 3, "each face is another writer"
    again = tmp_path / "again.npz"
    assert _make(hand_run, again, "--faces", "3", "--min-readable", "0", "--exclude-val", "3") == 0
    with np.load(again) as d:
        assert np.array_equal(d["images"], images)



def test_variant_hands_are_the_training_faces_redrawn(hand_run, font_set, tmp_path):
    """--variants: each training face (never a validation face) once more as another hand, the kinds
    dealt evenly; the glyphs are eval_writer.hand_variant of that face's own, in the run's class order."""
    import make_hand_faces
    from eval_writer import hand_variant
    from rekogan.checkpoints import load_generator
    from rekogan.data import load_splits
    from rekogan.writer.conditioned import validation_split
    out = tmp_path / "variants.npz"
    assert _make(hand_run, out, "--faces", "0", "--variants", "bold,outline", "--min-readable", "0",
                 "--exclude-val", "3", "--draw-seed", "5") == 0
    with np.load(out) as d:
        images, recipe = d["images"], json.loads(str(d["recipe"]))
    G, meta = load_generator(hand_run)
    train, _ = load_splits("fonts", classes=meta["class_list"], size=G.cfg.size)
    names = [train.group_names[g] for g in sorted(set(train.groups.tolist()))]
    val = validation_split(names, 3, seed=0)
    faces = recipe["faces"]
    assert sorted(f["a"] for f in faces) == sorted(set(names) - set(val))     # every training face, once
    assert all(f["a"] == f["b"] for f in faces)
    kinds = [f["variant"] for f in faces]
    assert set(kinds) == {"bold", "outline"} and abs(kinds.count("bold") - kinds.count("outline")) <= 1
    first = faces[0]
    m = train.groups == train.group_names.index(first["a"])
    glyphs = np.zeros(images.shape[1:], np.uint8)
    glyphs[train.labels[m].numpy()] = train.images[m].numpy()
    assert np.array_equal(images[0], hand_variant(glyphs, first["variant"], seed=5 * 1000 + 0))
    assert not np.array_equal(images[0], glyphs)
    with pytest.raises(SystemExit, match="unknown --variants"):
        make_hand_faces.main(["--out", str(tmp_path / "x.npz"), "--variants", "bold,italic"])

def test_an_unreadable_hand_is_dropped_and_too_many_stop_with_a_message(hand_run, font_set, tmp_path):
    # a random tiny generator draws nothing the 520-class reader reads: every face falls under 100 %
    out = tmp_path / "faces.npz"
    with pytest.raises(SystemExit, match="readable enough"):
        _make(hand_run, out, "--faces", "2", "--min-readable", "1")
    assert not out.exists(), "nothing is written when the faces are refused"
    with pytest.raises(SystemExit, match="encoder.safetensors"):
        import make_hand_faces
        make_hand_faces.main(["--out", str(out), "--checkpoint", str(REPO / "checkpoints/fixed/epoch_186.safetensors")])


def test_extra_faces_join_training_and_foreign_files_are_refused(hand_run, font_set, tmp_path, capsys):
    import train_writer_encoder
    faces = tmp_path / "faces.npz"
    assert _make(hand_run, faces, "--faces", "2", "--min-readable", "0", "--exclude-val", "3") == 0
    common = ["--checkpoint", str(hand_run), "--reader", str(CLASSIFIER), "--eval-k", "1", "--eval-others", "2",
              "--cpu-minutes", "0.01", "--eval-every", "100", "--faces", "2", "--k", "1", "--targets", "2",
              "--val-faces", "3", "--log-every", "1000"]
    run = tmp_path / "run"
    capsys.readouterr()
    assert train_writer_encoder.main(["--run", str(run), *common, "--extra-train", str(faces)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    n_train = len(cfg["train_faces"])
    assert cfg["extra_train"]["faces"] == 2 and len(cfg["extra_train"]["sha256"]) == 64
    assert f"{n_train + 2} training faces in all" in capsys.readouterr().out

    # shipped, the run says what drew its extra faces and where their sources came from
    import ship_writer_run
    (hand_run.parent / "provenance.json").write_text(json.dumps(
        {"packages": {"fonts-x": {"licence": "OFL-1.1", "train_faces": cfg["train_faces"] + cfg["val_faces"]}}}))
    assert ship_writer_run.main([str(run), "--base", str(hand_run), "--out", str(tmp_path / "shipped")]) == 0
    hand = json.loads((tmp_path / "shipped" / "provenance.json").read_text())["writer_encoder"]
    with np.load(faces) as d:
        sources = sorted({f[s] for f in json.loads(str(d["recipe"]))["faces"] for s in ("a", "b")})
    assert hand["extra_train"]["drawn_by"] == str(hand_run) and hand["extra_train"]["source_faces"] == sources
    assert hand["extra_train"]["source_faces_licences"] == {"fonts-x": {"licence": "OFL-1.1", "faces": sources}}
    assert "Also trained on 2 faces drawn by" in (tmp_path / "shipped" / "README.md").read_text()
    kept = faces.read_bytes()
    faces.write_bytes(kept[:-1] + bytes([kept[-1] ^ 1]))               # not the file it trained on
    assert ship_writer_run.main([str(run), "--base", str(hand_run), "--out", str(tmp_path / "s2")]) == 2
    assert "sha256 differs" in capsys.readouterr().err and not (tmp_path / "s2").exists()
    faces.unlink()
    assert ship_writer_run.main([str(run), "--base", str(hand_run), "--out", str(tmp_path / "s3")]) == 2
    assert "make it again with" in capsys.readouterr().err
    faces.write_bytes(kept)

    def refused(path, match):
        with pytest.raises(SystemExit, match=match):
            train_writer_encoder.main(["--run", str(tmp_path / "other"), *common, "--extra-train", str(path)])
        assert not (tmp_path / "other" / "state.safetensors").exists()

    with np.load(faces) as d:
        parts = {k: d[k] for k in d.files}
    recipe = json.loads(str(parts["recipe"]))
    recipe["faces"][0]["a"] = cfg["val_faces"][0]                     # drawn from a validation face
    np.savez(tmp_path / "leak.npz", **{**parts, "recipe": np.array(json.dumps(recipe))})
    refused(tmp_path / "leak.npz", "validation faces")
    np.savez(tmp_path / "order.npz", **{**parts, "syllables": parts["syllables"][::-1]})
    refused(tmp_path / "order.npz", "syllable order")
    np.savez(tmp_path / "size.npz", **{**parts, "images": parts["images"][:, :, :8]})
    refused(tmp_path / "size.npz", "this run needs")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    refused(tmp_path / "junk.npz", "not a faces file")
    refused(tmp_path / "none.npz", "does not exist")
