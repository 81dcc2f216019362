"""rekogan.evaluation_hangul and the split-run path of `python -m rekogan evaluate`.

Known answers first: a fake generator that writes every syllable right except those with the
medial ㅐ (drawn with ㅔ), read by a fake reader that reads exactly what is drawn, on a small split
of our own (train and KS X 1001 held-out syllables without ㅐ, the other held-out ones all with
it); every figure of the record then follows from counting. Then the command on a real tiny
jamo run (random 16x16 weights, two epochs), read by the shipped component reader and classifier:
the table, --write, and the errors for a missing or broken reader.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import REPO
from rekogan import checkpoints
from rekogan.checkpoints import load_generator, save_generator
from rekogan.cli import main as rekogan_main
from rekogan.conventions import CLASSIFIER_FILE, READER_FILE
from rekogan.evaluation import read_evaluations
from rekogan.evaluation_hangul import evaluate_split_checkpoint, evaluate_syllables
from rekogan.hangul import SCOUNT, all_syllables, ksx1001, seri95
from rekogan.models import ModelConfig, build_generator

SIZE, Z = 16, 8
MEDIAL_AE, MEDIAL_E = 1, 5                  # ㅐ and ㅔ in Unicode's medial order (ㅏ ㅐ ㅑ ㅒ ㅓ ㅔ …)
TRAIN = "가나다라마바"                       # no ㅐ
HELD_KS = "고노도"                           # KS X 1001, no ㅐ


def parts(i: int) -> tuple[int, int, int]:
    """(initial, medial, final) of syllable index i by Unicode's arithmetic (independent of rekogan.hangul)."""
    return i // (21 * 28), (i // 28) % 21, i % 28


def held_other() -> str:
    """Four syllables outside KS X 1001, all with the medial ㅐ."""
    ks = set(ksx1001())
    found = [chr(0xAC00 + i) for i in range(SCOUNT) if parts(i)[1] == MEDIAL_AE and chr(0xAC00 + i) not in ks]
    return "".join(found[:4])


def encode(idx: torch.Tensor) -> torch.Tensor:
    """Syllable indices -> (N, 1, S, S) in [-1, 1]: the index in two pixels (exact in float32)."""
    img = torch.full((len(idx), 1, SIZE, SIZE), -1.0)
    img[:, 0, 0, 0] = (idx // 128).float() / 64 - 1
    img[:, 0, 0, 1] = (idx % 128).float() / 64 - 1
    return img


def decode(img: torch.Tensor) -> torch.Tensor:
    hi = ((img[:, 0, 0, 0] + 1) * 64).round().long()
    lo = ((img[:, 0, 0, 1] + 1) * 64).round().long()
    return hi * 128 + lo


class MisdrawsAe(torch.nn.Module):
    """Writes every syllable right except those with ㅐ, which it writes with ㅔ; with `writers`
    a writer's z also moves one pixel (so writers differ), else it ignores z."""

    def __init__(self, *, writers: bool = False):
        super().__init__()
        self.cfg = SimpleNamespace(z_dim=Z, size=SIZE, weight_cond=False)
        self.writers = writers
        self.eval()

    def forward(self, z, y):
        medial = (y // 28) % 21
        drawn = torch.where(medial == MEDIAL_AE, y + (MEDIAL_E - MEDIAL_AE) * 28, y)
        img = encode(drawn)
        if self.writers:
            img[:, 0, 8, 8] = z[:, 0].clamp(-1, 1)
        return img


class ReadsWhatIsDrawn:
    """The reader interface (rekogan/reader.py): reads the drawn syllable; features are the pixels."""

    def __init__(self, *, kind: str = "jamo", only=None):
        self.kind, self.file_id, self.only = kind, f"fake-{kind}", only

    def missing(self, syllables):
        return [s for s in syllables if self.only is not None and s not in self.only]

    def read(self, images):
        return images.flatten(1), decode(images)


def syllable_folder(root, syllables, *, per: int = 8):
    """<root>/<syllable>/*.png, a different stroke pattern per syllable and image (the real data of
    the diversity reference)."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for k, ch in enumerate(syllables):
        d = root / ch
        d.mkdir(parents=True)
        for i in range(per):
            a = np.full((24, 24), 255, np.uint8)
            a[4 + k % 5: 10 + k % 5, 3:21] = 0
            a[12:20, 4 + i: 8 + i + k % 4] = 0
            a[rng.integers(0, 24, 6), rng.integers(0, 24, 6)] = 0
            Image.fromarray(a).save(d / f"{i}.png")


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    """A jamo run folder: split.json (our small split), two epochs of a random tiny generator, and
    a folder of training glyphs as its data (the diversity reference reads it)."""
    base = tmp_path_factory.mktemp("split_run")
    data, run = base / "glyphs", base / "run"
    syllable_folder(data, TRAIN)
    run.mkdir()
    other = held_other()
    (run / "split.json").write_text(json.dumps({
        "version": 1, "spec": "test", "seed": 0, "train": TRAIN, "heldout_ksx1001": HELD_KS,
        "heldout_other": other, "extra": ""}, ensure_ascii=False), encoding="utf-8")
    cfg = ModelConfig(arch="proj", n_classes=SCOUNT, size=SIZE, z_dim=Z, embed_dim=8, ngf=4, ndf=4, cond="jamo",
                      weight_cond=True)
    for epoch in (1, 2):
        torch.manual_seed(epoch)
        save_generator(run / f"epoch_{epoch:03d}.safetensors", build_generator(cfg).eval(), model=cfg,
                       classes=all_syllables(), epoch=epoch, step=5 * epoch, images_seen=40 * epoch,
                       config={"data": f"folder:{data}", "cond": "jamo", "split": "test"}, trained=TRAIN)
    return run


# ---- known answers --------------------------------------------------------------------------------

def test_evaluate_syllables_counts_readability_confusions_and_diversity():
    syl = list("개고내노")                                   # two with ㅐ (misdrawn), two without
    r = evaluate_syllables(MisdrawsAe(), classes=all_syllables(), syllables=syl, reader=ReadsWhatIsDrawn(), seeds=3)
    assert r["readability"] == 0.5 and r["n"] == 4 and r["seeds"] == 3
    assert r["per_syllable"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert r["component_confusions"] == [{"part": "medial", "intended": "ㅐ", "read": "ㅔ", "count": 6}]
    assert r["images"].shape == (12, 1, SIZE, SIZE)
    assert r["diversity_raw"] == 0.0                          # z is ignored: every writer draws the same
    varied = evaluate_syllables(MisdrawsAe(writers=True), classes=all_syllables(), syllables=syl,
                                reader=ReadsWhatIsDrawn(), seeds=3)
    assert varied["diversity_raw"] > 0 and varied["readability"] == 0.5
    with pytest.raises(AssertionError, match="cannot read"):
        evaluate_syllables(MisdrawsAe(), classes=all_syllables(), syllables=syl, seeds=2,
                           reader=ReadsWhatIsDrawn(kind="class", only=set("고노")))


def test_split_checkpoint_record_is_what_counting_gives(split_run, monkeypatch):
    real_meta = load_generator(split_run / "epoch_002.safetensors")[1]
    monkeypatch.setattr(checkpoints, "load_generator", lambda path: (MisdrawsAe(), real_meta))
    s95 = list(seri95())
    clf = ReadsWhatIsDrawn(kind="class", only=set(s95))
    rec = evaluate_split_checkpoint(split_run / "epoch_002.safetensors", reader=ReadsWhatIsDrawn(), classifier=clf,
                                    seeds=2)
    other = held_other()
    n_held = len(HELD_KS) + len(other)
    assert (rec["epoch"], rec["step"], rec["images_seen"]) == (2, 10, 80)
    assert rec["readability"] == 1.0 and rec["seen_syllables"] == len(TRAIN)      # the whole (small) train set
    assert rec["readability_heldout"] == round(len(HELD_KS) / n_held, 5) and rec["heldout_syllables"] == n_held
    assert rec["readability_heldout_ksx1001"] == 1.0 and rec["readability_heldout_other"] == 0.0
    assert rec["failing_heldout"] == list(other) and rec["failing_count"] == len(other)
    assert rec["top_confusions"] == []
    assert rec["top_confusions_heldout"] == [{"part": "medial", "intended": "ㅐ", "read": "ㅔ",
                                              "count": 2 * len(other)}]
    with_ae = sum(parts(ord(s) - 0xAC00)[1] == MEDIAL_AE for s in s95)
    assert 0 < with_ae < 520
    assert rec["readability_seri95"] == round(1 - with_ae / 520, 5) and rec["seri95_classifier_id"] == "fake-class"
    assert rec["diversity"] == 0.0 and rec["reference"]["diversity_raw"] > 0      # z ignored vs the real glyphs
    assert rec["reference"]["syllables"] == len(TRAIN) and rec["reference"]["images"] > 0
    assert rec["reader"] == "jamo" and rec["classifier_id"] == "fake-jamo" and rec["seeds"] == 2
    assert rec["font_set_matches_run"] is None                                    # the run has no data.json
    without = evaluate_split_checkpoint(split_run / "epoch_002.safetensors", reader=ReadsWhatIsDrawn(), seeds=2)
    assert "readability_seri95" not in without and without["readability_heldout"] == rec["readability_heldout"]


# ---- the command ----------------------------------------------------------------------------------

SHIPPED_READER, SHIPPED_CLASSIFIER = REPO / READER_FILE, REPO / CLASSIFIER_FILE


def evaluate(*args) -> int:
    return rekogan_main(["evaluate", *map(str, args)])


@pytest.mark.skipif(not (SHIPPED_READER.is_file() and SHIPPED_CLASSIFIER.is_file()),
                    reason=f"needs the shipped {READER_FILE} and {CLASSIFIER_FILE}")
def test_evaluate_command_reads_a_split_run_with_the_component_reader(split_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(split_run, run)
    common = ("--seeds", 2, "--reader", SHIPPED_READER, "--classifier", SHIPPED_CLASSIFIER, "--threads", 1)
    assert evaluate(run, *common, "--write") == 0
    out = capsys.readouterr().out
    for epoch in (1, 2):
        assert f"epoch {epoch}: seen " in out and "held-out" in out and "SERI95" in out
    header = next(line for line in out.splitlines() if line.startswith("epoch images seen"))
    assert header.split()[3:9] == ["seen", "held", "h.KSX", "h.rest", "SERI95", "divers."], header
    assert "best epoch: " in out and f"wrote {run / 'evaluation.jsonl'}" in out
    records = read_evaluations(run)
    assert [r["epoch"] for r in records] == [1, 2]
    from rekogan.classifier import file_id
    for r in records:                                  # records made with the reader are keyed by it
        assert r["reader"] == "jamo" and r["classifier_id"] == file_id(SHIPPED_READER) and r["seeds"] == 2
        assert r["seen_syllables"] == len(TRAIN) and r["heldout_syllables"] == len(HELD_KS) + len(held_other())
        assert r["seri95_classifier_id"] == file_id(SHIPPED_CLASSIFIER) and r["readability_seri95"] is not None
    assert (run / "evaluation.png").is_file()
    written = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert evaluate(run, *common) == 0                  # recorded with this reader: nothing redone
    out = capsys.readouterr().out
    assert "2 epoch(s) already evaluated" in out and "epoch 1: seen" not in out and "best epoch: " in out
    assert evaluate(run / "epoch_002.safetensors", *common) == 0      # one file: evaluated anew, not written
    out = capsys.readouterr().out
    assert "epoch 2: seen " in out and "nothing written" in out
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == written


def test_evaluate_split_run_without_its_reader_is_one_line(split_run, tmp_path, capsys):
    clf = SHIPPED_CLASSIFIER
    if not clf.is_file():
        pytest.skip(f"needs the shipped {CLASSIFIER_FILE}")
    assert evaluate(split_run, "--classifier", clf, "--reader", tmp_path / "none.safetensors") == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: component reader not found: "), captured.err
    assert "python -m rekogan reader train" in err[0] and "--reader PATH" in err[0]
    assert "Traceback" not in captured.err + captured.out and "epoch 1" not in captured.out
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file at all")
    assert evaluate(split_run, "--classifier", clf, "--reader", broken) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: reader: ") and "not a safetensors file" in err[0], err
    assert not (split_run / "evaluation.jsonl").exists()
