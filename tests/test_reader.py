"""rekogan.reader: the component reader that reads any syllable, and its test on the held-out faces."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO, run_py
from rekogan.conventions import READER_FILE
from rekogan.data.fonts import HELDOUT_FACES, find_faces
from rekogan.hangul import SCOUNT, ClassList, jamo_of
from rekogan.reader import JamoReader, _compose, held_out_faces_glyphs, load_reader, heldout_report

INSTALLED = {f.name for f in find_faces()}


def test_compose_inverts_the_components_for_all_11172():
    y = torch.arange(SCOUNT)
    assert torch.equal(_compose(*jamo_of(y)), y)


@pytest.mark.skipif(not {"BMJUA_ttf", "NanumSquareRoundR"} & INSTALLED, reason="the partial-coverage faces are not installed")
def test_every_held_out_face_is_tested_on_the_syllables_it_has():
    # 똠 is outside KS X 1001: faces that cover only KS X 1001 lack it, but must still be tested on 가
    syl = ClassList(("가", "똠"))
    images, labels, faces = held_out_faces_glyphs(syl, 64)
    present = [n for n in HELDOUT_FACES if n in INSTALLED]
    assert sorted(set(faces)) == sorted(present), f"faces tested: {sorted(set(faces))}"
    for name in present:
        got = sorted(int(l) for l, f in zip(labels, faces) if f == name)
        assert ord("가") - 0xAC00 in got, f"{name} was not tested on 가"
    assert len(images) == len(labels) == len(faces)
    assert len(images) < 2 * len(present), "some held-out face lacks 똠: fewer glyphs than faces x syllables"
    assert images.dtype == torch.uint8 and images.shape[1:] == (64, 64)


def test_the_shipped_reader_reads_held_out_faces():
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
