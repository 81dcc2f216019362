"""HGU1 and image-folder data sources: written into tmp_path, read back, checked."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
from PIL import Image

from rekogan.data import load_source
from rekogan.data.folder import N_GROUPS, class_of_dir, group_of, load_folder
from rekogan.data.hgu1 import HEADER, load_hgu1
from rekogan.hangul import parse_classes

CLASSES = parse_classes("가각간")


def glyph(h: int, w: int, *, dark_ink: bool, variant: int = 0) -> np.ndarray:
    """A few strokes: dark ink on white paper (scan-like) or white ink on black."""
    ink = np.zeros((h, w), bool)
    ink[h // 5: h // 5 + 3, w // 6: w - w // 6] = True                  # horizontal stroke
    ink[h // 5: h - h // 5, w // 2 + variant: w // 2 + variant + 3] = True  # vertical stroke
    ink[h - h // 4: h - h // 4 + 2, w // 4: w // 2] = True               # short foot
    return np.where(ink, 0, 255).astype(np.uint8) if dark_ink else np.where(ink, 255, 0).astype(np.uint8)


def record(code: bytes, img: np.ndarray) -> bytes:
    h, w = img.shape
    return code + struct.pack("BB", w, h) + b"\0\0" + img.tobytes()


def euc(s: str) -> bytes:
    code = s.encode("euc-kr")
    assert len(code) == 2, f"{s} has no 2-byte KS X 1001 code"  # e.g. 힣 encodes as 8 bytes
    return code


def write_hgu1(path, records: list[bytes], header: bytes = HEADER) -> bytes:
    data = header + b"".join(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def check_normalised(images: torch.Tensor, size: int):
    assert images.dtype == torch.uint8 and tuple(images.shape[1:]) == (size, size)
    a = images.numpy()
    # white ink on black: the border is black, the ink is bright
    border = np.concatenate([a[:, 0], a[:, -1], a[:, :, 0], a[:, :, -1]], axis=1)
    assert border.max() == 0
    assert (a.reshape(len(a), -1).max(axis=1) > 200).all()
    # most of the square is background, whatever the source polarity was
    assert ((a == 0).mean(axis=(1, 2)) > 0.5).all()


# ---- HGU1 ------------------------------------------------------------------------------------

def test_hgu1_roundtrip_counts_labels_and_skips(tmp_path):
    recs = [
        record(euc("가"), glyph(50, 40, dark_ink=True)),
        record(euc("각"), glyph(64, 64, dark_ink=False)),
        record(euc("나"), glyph(30, 30, dark_ink=True)),      # a syllable, not one of the classes
        record(euc("간"), glyph(40, 50, dark_ink=False, variant=2)),
        record(b"\x00\x01", glyph(20, 20, dark_ink=True)),   # not EUC-KR
        record(euc("ㄱ"), glyph(20, 20, dark_ink=True)),      # decodes, but a jamo, not a syllable
        record(euc("가"), np.full((32, 32), 255, np.uint8)),  # blank paper: no ink
        record(euc("가"), glyph(33, 21, dark_ink=False)),
    ]
    f = tmp_path / "writer1.hgu1"
    write_hgu1(f, recs)
    gs = load_hgu1(str(f), classes=CLASSES, size=32)
    assert len(gs) == 4
    assert gs.labels.tolist() == [0, 1, 2, 0]
    assert gs.labels.dtype == torch.int64 and gs.groups.dtype == torch.int64
    assert gs.groups.tolist() == [0, 0, 0, 0] and gs.group_names == ["writer1.hgu1"]
    check_normalised(gs.images, 32)
    i = gs.info
    assert i["source"] == f"hgu1:{f}" and i["files"] == [str(f)]
    assert i["records"] == 8 and i["images"] == 4
    assert i["skipped_other_class"] == 1
    assert i["skipped_undecodable"] == 2
    assert i["skipped_blank"] == 1
    assert i["per_class"] == {"가": 2, "각": 1, "간": 1}
    assert i["missing_classes"] == []


def test_hgu1_both_polarities_normalise_alike(tmp_path):
    img = glyph(48, 48, dark_ink=True)
    f = tmp_path / "p.hgu1"
    write_hgu1(f, [record(euc("가"), img), record(euc("가"), 255 - img)])
    gs = load_hgu1(str(f), classes=CLASSES, size=16)
    check_normalised(gs.images, 16)
    assert torch.equal(gs.images[0], gs.images[1])


def test_hgu1_bad_header(tmp_path):
    f = tmp_path / "bad.hgu1"
    write_hgu1(f, [record(euc("가"), glyph(20, 20, dark_ink=True))], header=b"HGU2    ")
    with pytest.raises(ValueError, match=r"bad\.hgu1.*HGU2"):
        load_hgu1(str(f), classes=CLASSES, size=16)


def test_hgu1_truncated_image_names_file_and_offset(tmp_path):
    r1 = record(euc("가"), glyph(20, 20, dark_ink=True))
    r2 = record(euc("각"), glyph(10, 12, dark_ink=True))
    f = tmp_path / "trunc.hgu1"
    data = write_hgu1(f, [r1, r2])
    f.write_bytes(data[:-5])
    off = len(HEADER) + len(r1)  # 8 + 6 + 400 = 414
    with pytest.raises(ValueError) as e:
        load_hgu1(str(f), classes=CLASSES, size=16)
    msg = str(e.value)
    assert "trunc.hgu1" in msg and f"offset {off}" in msg
    assert f"expected {6 + 120} bytes" in msg and f"only {6 + 120 - 5} available" in msg


def test_hgu1_truncated_record_header(tmp_path):
    r1 = record(euc("가"), glyph(20, 20, dark_ink=True))
    f = tmp_path / "short.hgu1"
    write_hgu1(f, [r1, euc("각") + b"\x0a"])  # code + 1 byte of the 6-byte record header
    with pytest.raises(ValueError, match=rf"short\.hgu1.*offset {8 + len(r1)}.*only 3 available"):
        load_hgu1(str(f), classes=CLASSES, size=16)


def test_hgu1_zero_size_record(tmp_path):
    f = tmp_path / "zero.hgu1"
    write_hgu1(f, [euc("가") + b"\x00\x10\x00\x00"])
    with pytest.raises(ValueError, match=r"zero\.hgu1.*offset 8.*zero-sized"):
        load_hgu1(str(f), classes=CLASSES, size=16)


def test_hgu1_nothing_usable_says_why(tmp_path):
    f = tmp_path / "other.hgu1"
    write_hgu1(f, [record(euc("나"), glyph(20, 20, dark_ink=True))] * 3)
    with pytest.raises(ValueError) as e:
        load_hgu1(str(f), classes=CLASSES, size=16)
    msg = str(e.value)
    assert str(f) in msg and "3 records" in msg and "3 whose code is not one of the 3 classes" in msg


def test_hgu1_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_hgu1(str(tmp_path / "nope"), classes=CLASSES, size=16)
    with pytest.raises(ValueError, match=r"no \*\.hgu1"):
        load_hgu1(str(tmp_path), classes=CLASSES, size=16)


def test_hgu1_folder_groups_per_file_and_split(tmp_path):
    root = tmp_path / "seri"
    names = []
    for k in range(10):
        # nested folders and an upper-case extension are found too
        rel = f"set{k % 2}/w{k:02d}.{'HGU1' if k == 3 else 'hgu1'}"
        names.append(rel)
        write_hgu1(root / rel, [record(euc(s), glyph(24, 24, dark_ink=bool(k % 2), variant=k % 3))
                                for s in "가각간"])
    (root / "readme.txt").write_text("not hgu1")
    gs = load_source(f"hgu1:{root}", classes=CLASSES, size=16)
    assert gs.info["source"] == f"hgu1:{root}" and len(gs.info["files"]) == 10
    assert sorted(gs.group_names) == sorted(names) and gs.group_names == sorted(gs.group_names)
    assert len(gs) == 30 and gs.labels.tolist() == [0, 1, 2] * 10
    assert torch.bincount(gs.groups).tolist() == [3] * 10
    train, held = gs.split()
    assert len(train) == 27 and len(held) == 3
    held_files = {gs.group_names[g] for g in held.groups.tolist()}
    train_files = {gs.group_names[g] for g in train.groups.tolist()}
    assert len(held_files) == 1 and not held_files & train_files  # whole files held out


# ---- image folders ---------------------------------------------------------------------------

def save(path, img: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def make_folder(root):
    save(root / "b0a1" / "w01.png", glyph(50, 40, dark_ink=True))        # 가 by lower-case hex
    save(root / "b0a1" / "w02.JPG", glyph(64, 64, dark_ink=True))
    save(root / "B0A2" / "w01.bmp", glyph(40, 50, dark_ink=False))       # 각 by upper-case hex
    save(root / "간" / "w01.jpeg", glyph(64, 64, dark_ink=True, variant=1))  # 간 by syllable
    save(root / "나" / "w01.png", glyph(30, 30, dark_ink=True))           # not one of the classes
    save(root / "notes" / "w01.png", glyph(30, 30, dark_ink=True))        # names no syllable
    save(root / "a4a1" / "w01.png", glyph(30, 30, dark_ink=True))         # hex of a jamo
    (root / "간" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "간" / "notes.txt").write_text("ignored")
    save(root / "간" / "blank.png", np.full((20, 20), 255, np.uint8))


def test_folder_hex_and_syllable_names(tmp_path):
    root = tmp_path / "imgs"
    make_folder(root)
    gs = load_folder(str(root), classes=CLASSES, size=32)
    assert len(gs) == 4
    assert sorted(gs.labels.tolist()) == [0, 0, 1, 2]
    check_normalised(gs.images, 32)
    i = gs.info
    assert i["source"] == f"folder:{root}"
    assert i["per_class"] == {"가": 2, "각": 1, "간": 1}
    assert sorted(i["skipped_dirs"]) == ["a4a1", "notes", "나"]
    assert i["skipped_other_class"] == 1 and i["skipped_not_class"] == 2
    assert i["unreadable"] == [str(root / "간" / "broken.png")] and i["unreadable_count"] == 1
    assert i["skipped_blank"] == 1 and i["images"] == 4 and i["image_files"] == 6
    # groups come from the file stem: every 'w01' image shares a group
    assert len(gs.group_names) == N_GROUPS
    assert set(gs.groups.tolist()) == {group_of("w01"), group_of("w02")}


def test_folder_class_dir_names():
    assert class_of_dir("b0a1") == "가" and class_of_dir("B0A1") == "가"
    assert class_of_dir("가") == "가"
    assert class_of_dir("\u1100\u1161") == "가"   # NFD name (macOS) -> NFC
    assert class_of_dir("a4a1") is None and class_of_dir("zzzz") is None and class_of_dir("가각") is None


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_folder(str(tmp_path / "missing"), classes=CLASSES, size=16)
    empty = tmp_path / "empty"
    (empty / "b0a1").mkdir(parents=True)
    (empty / "b0a1" / "x.png").write_bytes(b"garbage")
    with pytest.raises(ValueError) as e:
        load_folder(str(empty), classes=CLASSES, size=16)
    msg = str(e.value)
    assert "no usable image" in msg and str(empty) in msg and "1 class folder" in msg and "1 unreadable" in msg


def test_folder_dispatch_and_split(tmp_path):
    root = tmp_path / "many"
    stems = [f"s{k:03d}" for k in range(40)]
    held_stems = [s for s in stems if group_of(s) % 10 == 0]
    assert 0 < len(held_stems) < len(stems)  # the fixture really exercises both sides
    for k, s in enumerate(stems):
        save(root / "가각간"[k % 3] / f"{s}.png", glyph(16, 16, dark_ink=True, variant=k % 2))
    gs = load_source(f"folder:{root}", classes=CLASSES, size=16)
    assert gs.info["source"] == f"folder:{root}" and len(gs) == 40
    train, held = gs.split()
    assert len(held) == len(held_stems) and len(train) == 40 - len(held_stems)
    assert set(held.groups.tolist()) <= {0, 10}


# ---- the installed font set: complete, or a failure that names the missing packages ---------------

def test_missing_packages_maps_the_missing_faces_to_their_packages(tmp_path):
    from rekogan.data.fonts import missing_packages
    for name in ("Alpha.ttf", "Beta.otf"):
        (tmp_path / name).write_bytes(b"\0" * 10)    # find_faces goes by the file names
    expected = {"Alpha": "fonts-a", "Beta": "fonts-a", "Gamma": "fonts-b", "Delta": "fonts-b", "Eps": "fonts-c"}
    assert missing_packages(expected, [str(tmp_path)]) == {"fonts-b": ["Delta", "Gamma"], "fonts-c": ["Eps"]}
    assert missing_packages({"Alpha": "fonts-a"}, [str(tmp_path)]) == {}


def test_an_incomplete_font_set_fails_naming_the_packages_and_the_command(monkeypatch):
    import rekogan.data.fonts as fonts
    from conftest import REPO, font_set_problem, require_font_set
    expected = fonts.trained_faces(sorted((REPO / "checkpoints").iterdir()))
    eco = sorted(n for n, pkg in expected.items() if pkg == "fonts-nanum-eco")
    assert eco, "the shipped runs were trained on fonts-nanum-eco's faces"
    # a machine with every package but fonts-nanum-eco (the case of issue 22)
    monkeypatch.setattr(fonts, "find_faces", lambda font_dirs=None: [
        fonts.Face(f"/x/{n}.ttf", 0, n) for n in expected if n not in eco])
    problem = font_set_problem()
    assert problem and f"{len(eco)} of the {len(expected)} faces" in problem and eco[0] in problem, problem
    assert "sudo apt-get install fonts-nanum-eco (" in problem, problem       # that package alone
    with pytest.raises(pytest.fail.Exception, match="fonts-nanum-eco"):
        require_font_set()                                                  # a failure, not a skip
    monkeypatch.setattr(fonts, "find_faces", lambda font_dirs=None: [fonts.Face(f"/x/{n}.ttf", 0, n) for n in expected])
    assert font_set_problem() is None
    require_font_set()


def test_scripts_test_sh_installs_every_package_the_shipped_runs_were_trained_on():
    import re
    from conftest import REPO
    from rekogan.data.fonts import trained_faces
    script = (REPO / "scripts" / "test.sh").read_text(encoding="utf-8")
    listed = set(re.search(r'^FONTS="([^"]+)"', script, re.M).group(1).split())
    needed = set(trained_faces(sorted((REPO / "checkpoints").iterdir())).values())
    assert needed and needed <= listed, f"scripts/test.sh does not install {sorted(needed - listed)}"
