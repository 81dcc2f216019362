"""rekogan.reader: the component reader that reads any syllable, and its test on the held-out faces."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO, run_py
from rekogan.conventions import READER_FILE
from rekogan.data.fonts import HELDOUT_FACES
from rekogan.hangul import SCOUNT, ClassList, jamo_of
from rekogan.reader import JamoReader, _compose, held_out_faces_glyphs, load_reader, heldout_report

def test_compose_inverts_the_components_for_all_11172():
    y = torch.arange(SCOUNT)
    assert torch.equal(_compose(*jamo_of(y)), y)


def test_every_held_out_face_is_tested_on_the_syllables_it_has(font_set):
    # 똠 is outside KS X 1001: faces that cover only KS X 1001 lack it, but must still be tested on 가
    syl = ClassList(("가", "똠"))
    images, labels, faces = held_out_faces_glyphs(syl, 64)
    present = list(HELDOUT_FACES)                     # all installed: font_set checked it
    assert sorted(set(faces)) == sorted(present), f"faces tested: {sorted(set(faces))}"
    for name in present:
        got = sorted(int(l) for l, f in zip(labels, faces) if f == name)
        assert ord("가") - 0xAC00 in got, f"{name} was not tested on 가"
    assert len(images) == len(labels) == len(faces)
    assert len(images) < 2 * len(present), "some held-out face lacks 똠: fewer glyphs than faces x syllables"
    assert images.dtype == torch.uint8 and images.shape[1:] == (64, 64)


def test_the_shipped_reader_reads_held_out_faces(font_set):
    # the held-out faces are installed fonts: font_set names any missing package before the threshold
    reader = load_reader(REPO / READER_FILE)
    assert isinstance(reader, JamoReader)
    # 48 syllables from all over the 11,172 (most of them outside KS X 1001)
    syl = ClassList(tuple(chr(0xAC00 + i) for i in range(7, SCOUNT, SCOUNT // 48)))
    r = heldout_report(reader, syllables=syl)
    assert r["heldout_all3"] >= 0.95, r
    assert set(r["per_face"]) == set(r["per_face_glyphs"]) and sum(r["per_face_glyphs"].values()) == r["heldout_images"]


def test_reader_test_command_refuses_a_missing_file(tmp_path):
    proc = run_py(["-m", "rekogan", "reader", "test", "--reader", tmp_path / "none.safetensors"])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "none.safetensors" in lines[0], proc.stderr


def test_the_shared_training_loop_teaches_the_jamo_reader():
    # the reader trains with classifier.train_steps and its own loss: on 4 fixed glyph pictures the
    # loss must fall, and what comes back is in eval mode with fp16-representable weights
    from rekogan.classifier import ClassifierConfig, HangulClassifier, train_steps
    from rekogan.hangul import LCOUNT, TCOUNT, VCOUNT
    from rekogan.reader import jamo_loss
    torch.manual_seed(0)
    images = (torch.rand(4, 32, 32) > 0.7).to(torch.uint8) * 255
    labels = torch.tensor([0, 588, 5000, 11171])
    model = HangulClassifier(ClassifierConfig(n_classes=LCOUNT + VCOUNT + TCOUNT, size=32, work_size=32,
                                              widths=[8, 16], double=[]), None)
    losses = []

    def loss_fn(out, y):
        loss = jamo_loss(out, y)
        losses.append(float(loss.detach()))
        return loss

    train_steps(model, images, labels, loss_fn=loss_fn, steps=120, batch=16, lr=1e-2, augment_strength=0.0,
                log=lambda m: None)
    assert sum(losses[-10:]) < 0.2 * sum(losses[:10]), losses[::10]
    assert not model.training
    for t in model.state_dict().values():
        if t.is_floating_point():
            assert torch.equal(t, t.half().float())
    with torch.no_grad():
        _, read = JamoReader(model).read(torch.from_numpy(images.numpy()).float().div(127.5).sub(1)[:, None])
    assert read.tolist() == labels.tolist()
