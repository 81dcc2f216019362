"""python -m rekogan sheet / info: files, names, pixel convention, and one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rekogan.cli import main
from rekogan.commands.sheet import png_name
from rekogan.checkpoints import load_generator, save_generator
from rekogan.hangul import parse_classes, seri95
from rekogan.models import ModelConfig, build_generator
from rekogan.sampling import sample

from conftest import run_py


def pngs(folder) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted(folder.glob("*.png")):
        with Image.open(p) as im:
            assert im.mode == "L", f"{p.name} is {im.mode}, not 8-bit grayscale"
            out[p.name] = np.asarray(im)
    return out


def run_main(argv, capsys) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_line_error(rc, out, err, *needles):
    assert rc == 2, (rc, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def polarity_ckpt(tmp_path_factory):
    """A 4-class 16 px generator wired by hand: at truncation 0 even classes draw blank paper
    (model output -1 everywhere), odd classes solid ink (+1). Pins the file convention: dark ink
    on white."""
    cfg = ModelConfig(arch="proj", n_classes=4, size=16, z_dim=16, embed_dim=8, ngf=8, ndf=8)
    G = build_generator(cfg).eval()
    with torch.no_grad():
        for p in G.parameters():
            p.zero_()
        G.embed.weight[:, 0] = torch.tensor([1.0, -1.0, 1.0, -1.0])    # the label's sign
        last = G.norms[-1]
        last.gain.bias.fill_(-1.0)                                       # scale 1 + (-1) = 0: only the shift is left
        # the condition may hold z as well as the embedding; z is 0 at truncation 0, so summing
        # every input picks out the sign wherever the embedding sits in it
        last.bias.weight[0].fill_(1.0)                                   # ch0 = relu(sign)
        last.bias.weight[1].fill_(-1.0)                                  # ch1 = relu(-sign)
        G.ups[-1].weight[0].fill_(-10.0)                                 # ch0 -> paper (-1 after tanh)
        G.ups[-1].weight[1].fill_(10.0)                                  # ch1 -> ink (+1 after tanh)
    path = tmp_path_factory.mktemp("polarity") / "epoch_001.safetensors"
    save_generator(path, G, model=cfg, classes=parse_classes("4"), epoch=1, step=1, images_seen=1)
    return path


# ---- the sheet -------------------------------------------------------------------------------------

def test_sheet_subprocess_writes_one_png_per_class(tiny_ckpt, tmp_path):
    out = tmp_path / "sheet"
    proc = run_py(["-m", "rekogan", "sheet", "--checkpoint", tiny_ckpt, "--seed", "5", "--truncation", "0.7",
                   "--out", out])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wrote 4" in proc.stdout
    G, meta = load_generator(tiny_ckpt)
    classes = meta["class_list"].to_list()
    files = pngs(out)
    assert sorted(files) == sorted(f"{ord(c):04X}.png" for c in classes) == ["AC00.png", "AC01.png", "AC04.png", "AC08.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(files), "nothing but the PNGs"
    want = sample(G, list(range(4)), seed=5, truncation=0.7).numpy()
    for i, c in enumerate(classes):
        img = files[png_name(c)]
        assert img.shape == (16, 16) and img.dtype == np.uint8
        assert np.abs(img.astype(int) - want[i].astype(int)).max() <= 1, c


def test_sheet_is_dark_ink_on_white(polarity_ckpt, tmp_path, capsys):
    rc, out, err = run_main(["sheet", "--checkpoint", polarity_ckpt, "--seed", "1", "--truncation", "0",
                             "--out", tmp_path], capsys)
    assert rc == 0, err
    files = pngs(tmp_path)
    assert sorted(files) == ["AC00.png", "AC01.png", "AC04.png", "AC08.png"]
    for name in ("AC00.png", "AC04.png"):                                 # blank paper: near 255
        assert files[name].min() >= 250, (name, files[name].min())
    for name in ("AC01.png", "AC08.png"):                                 # solid ink: near 0
        assert files[name].max() <= 5, (name, files[name].max())


def test_sheet_selected_classes_and_determinism(tiny_ckpt, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    rc, out, _ = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "9", "--out", a, "--classes", "간, 가"], capsys)
    assert rc == 0 and "wrote 2" in out
    assert sorted(pngs(a)) == ["AC00.png", "AC04.png"]
    import unicodedata
    nfd = unicodedata.normalize("NFD", "간가")
    rc, _, _ = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "9", "--out", b, "--classes", nfd], capsys)
    assert rc == 0
    fa, fb = pngs(a), pngs(b)
    assert sorted(fb) == sorted(fa) and all(np.array_equal(fa[k], fb[k]) for k in fa)
    # truncation 0: every seed is the same writer
    c, d = tmp_path / "c", tmp_path / "d"
    run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "1", "--truncation", "0", "--out", c], capsys)
    run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "777", "--truncation", "0", "--out", d], capsys)
    fc, fd = pngs(c), pngs(d)
    assert len(fc) == 4 and all(np.array_equal(fc[k], fd[k]) for k in fc)


def test_png_names_for_all_520_classes():
    names = [png_name(s) for s in seri95()]
    assert names[0] == "AC00.png" and len(set(names)) == 520
    assert all(len(n) == 8 and n[:4] == n[:4].upper() and chr(int(n[:4], 16)) == s for n, s in zip(names, seri95()))


# ---- errors -----------------------------------------------------------------------------------------

class Payload:
    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


@pytest.fixture
def bad_files(tmp_path, tiny_ckpt):
    good = tiny_ckpt.read_bytes()
    files = {
        "truncated": tmp_path / "truncated.safetensors",
        "garbage": tmp_path / "garbage.safetensors",
        "empty": tmp_path / "empty.safetensors",
        "pickle": tmp_path / "model.pt",
    }
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["garbage"].write_bytes(b"\x01\x02 not a checkpoint at all " * 50)
    files["empty"].write_bytes(b"")
    torch.save({"x": Payload(tmp_path / "PWNED")}, files["pickle"])
    return files


def test_checkpoint_errors_are_one_line(bad_files, tmp_path, capsys):
    out = tmp_path / "out"
    for kind, path in bad_files.items():
        rc, so, se = run_main(["sheet", "--checkpoint", path, "--out", out], capsys)
        assert_one_line_error(rc, so, se, str(path))
        if kind == "pickle":
            assert "pickle" in se
        rc, so, se = run_main(["info", "--checkpoint", path], capsys)
        assert_one_line_error(rc, so, se, str(path))
    assert not (tmp_path / "PWNED").exists(), "a pickle checkpoint was unpickled"
    rc, so, se = run_main(["sheet", "--checkpoint", tmp_path / "missing.safetensors", "--out", out], capsys)
    assert_one_line_error(rc, so, se, "not found", "missing.safetensors")
    rc, so, se = run_main(["sheet", "--checkpoint", tmp_path, "--out", out], capsys)
    assert_one_line_error(rc, so, se, "not a file")
    assert not out.exists() or not any(out.iterdir()), "nothing may be written on error"


@pytest.mark.parametrize("opt, value, needle", [
    ("--seed", "-1", "--seed"), ("--seed", str(2**31), "--seed"), ("--seed", "abc", "--seed"), ("--seed", "1.5", "--seed"),
    ("--truncation", "-0.1", "--truncation"), ("--truncation", "1.01", "--truncation"),
    ("--truncation", "nan", "--truncation"), ("--truncation", "x", "--truncation"),
    ("--classes", "가똠", "똠"), ("--classes", " ", "--syllables"), ("--syllables", "녕", "cannot write"),
    ("--weight", "1", "no stroke-weight control"),
])
def test_bad_arguments_are_one_line(tiny_ckpt, tmp_path, capsys, opt, value, needle):
    out = tmp_path / "out"
    rc, so, se = run_main(["sheet", "--checkpoint", tiny_ckpt, "--out", out, f"{opt}={value}"], capsys)
    assert_one_line_error(rc, so, se, needle)
    assert not out.exists() or not any(out.iterdir())


def test_seed_and_truncation_bounds_are_inclusive(tiny_ckpt, tmp_path, capsys):
    for seed, psi in (("0", "0"), (str(2**31 - 1), "1")):
        out = tmp_path / seed
        rc, so, se = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", seed, "--truncation", psi,
                               "--out", out, "--classes", "가"], capsys)
        assert rc == 0, se
        assert sorted(pngs(out)) == ["AC00.png"]


def test_out_must_be_a_folder(tiny_ckpt, tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    rc, so, se = run_main(["sheet", "--checkpoint", tiny_ckpt, "--out", f], capsys)
    assert_one_line_error(rc, so, se, "not a folder")


def test_pickle_checkpoint_subprocess(bad_files, tmp_path):
    proc = run_py(["-m", "rekogan", "sheet", "--checkpoint", bad_files["pickle"], "--out", tmp_path / "o"])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "pickle" in proc.stderr
    assert not (tmp_path / "PWNED").exists()


def test_no_command_and_usage_errors(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as e:
        main(["sheet", "--seed", "1"])                                     # --checkpoint/--out missing
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


# ---- info ---------------------------------------------------------------------------------------

def test_info_prints_the_metadata(tiny_ckpt, capsys):
    rc, out, err = run_main(["info", "--checkpoint", tiny_ckpt], capsys)
    assert rc == 0, err
    fields = dict(ln.split(":", 1) for ln in out.splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["arch"] == "proj"
    assert fields["classes"].startswith("4 ")
    assert fields["epoch"] == "2" and fields["step"] == "8" and fields["images seen"] == "128"
    assert fields["size"] == "16x16"

    import json
    rc, out, _ = run_main(["info", "--checkpoint", tiny_ckpt, "--json"], capsys)
    meta = json.loads(out)
    assert rc == 0 and meta["epoch"] == 2 and len(meta["classes"]) == 4 and meta["model"]["arch"] == "proj"


def test_sheet_reads_syllables_from_a_file_and_named_sets(tiny_ckpt, tmp_path, capsys):
    text = tmp_path / "words.txt"
    text.write_text("가\n간 각\n", encoding="utf-8")
    rc, out, _ = run_main(["sheet", "--checkpoint", tiny_ckpt, "--out", tmp_path / "a", "--syllables", text], capsys)
    assert rc == 0 and sorted(pngs(tmp_path / "a")) == ["AC00.png", "AC01.png", "AC04.png"]
    # a named set the 4-class run cannot write is refused, naming what is missing
    rc, out, err = run_main(["sheet", "--checkpoint", tiny_ckpt, "--out", tmp_path / "b", "--syllables", "ksx1001"], capsys)
    assert_one_line_error(rc, out, err, "cannot write 2346")


def test_sheet_reads_a_long_text_as_syllables_not_as_a_file_name(tiny_ckpt, tmp_path, capsys):
    # 1,000 syllables (3,000 bytes of UTF-8) are far longer than a file name may be: Path.is_file()
    # raised 'File name too long' on them; text that is not an existing file is read as text
    text = "가각간갈" * 250
    rc, out, err = run_main(["sheet", "--checkpoint", tiny_ckpt, "--out", tmp_path / "a", "--syllables", text], capsys)
    assert rc == 0, err
    assert sorted(pngs(tmp_path / "a")) == ["AC00.png", "AC01.png", "AC04.png", "AC08.png"]   # repeats written once
    distinct = "".join(chr(0xAC00 + i) for i in range(1000))            # 가 .. 1,000 syllables, 4 of them the run's
    rc, out, err = run_main(["sheet", "--checkpoint", tiny_ckpt, "--out", tmp_path / "b", "--syllables", distinct], capsys)
    assert_one_line_error(rc, out, err, "cannot write 996 of them")


def test_sheet_of_a_hangul_run_writes_any_syllable_with_a_weight(tmp_path, capsys):
    from test_training import _syllable_folder
    from rekogan.split import make_split
    data = tmp_path / "glyphs"
    _syllable_folder(data, list(make_split("ksx1001").train.syllables[:4]), per=10)
    run = tmp_path / "run"
    run_py(["train.py", "--preset", "hangul", "--threads", "1", "--data", f"folder:{data}", "--size", "16",
            "--ngf", "4", "--ndf", "4", "--z-dim", "8", "--embed-dim", "8", "--batch", "8", "--epochs", "1",
            "--epoch-images", "16", "--grid-classes", "2", "--grid-seeds", "2", "--out", run], check=True)
    ckpt = run / "epoch_001.safetensors"
    for w, folder in (("-2", "thin"), ("2", "bold")):
        rc, out, _ = run_main(["sheet", "--checkpoint", ckpt, "--out", tmp_path / folder, "--syllables", "안녕뷁",
                               "--weight", w], capsys)
        assert rc == 0 and f"weight {float(w):g}" in out
    thin, bold = pngs(tmp_path / "thin"), pngs(tmp_path / "bold")
    assert sorted(thin) == sorted(f"{ord(c):04X}.png" for c in "안녕뷁")
    assert any((thin[k] != bold[k]).any() for k in thin), "the weight must reach the pixels"
    rc, out, err = run_main(["sheet", "--checkpoint", ckpt, "--out", tmp_path / "x", "--weight", "9"], capsys)
    assert_one_line_error(rc, out, err, "--weight")


# ---- sizes and variants (issues 23 and 24) -------------------------------------------------------------

def test_sheet_size_256_writes_enlarged_pngs_that_keep_the_glyph(polarity_ckpt, tmp_path, capsys):
    rc, out, err = run_main(["sheet", "--checkpoint", polarity_ckpt, "--truncation", "0", "--out", tmp_path / "big",
                             "--size", "256"], capsys)
    assert rc == 0 and "(256x256" in out, (out, err)
    rc, _, _ = run_main(["sheet", "--checkpoint", polarity_ckpt, "--truncation", "0", "--out", tmp_path / "small"],
                        capsys)
    big, small = pngs(tmp_path / "big"), pngs(tmp_path / "small")
    assert sorted(big) == sorted(small) == ["AC00.png", "AC01.png", "AC04.png", "AC08.png"]
    assert {a.shape for a in big.values()} == {(256, 256)} and {a.shape for a in small.values()} == {(16, 16)}
    for name in ("AC00.png", "AC04.png"):            # blank paper stays paper, solid ink stays ink: the same glyphs
        assert big[name].min() >= 250, (name, big[name].min())
    for name in ("AC01.png", "AC08.png"):
        assert big[name].max() <= 5, (name, big[name].max())


def test_sheet_variants_differ_with_natural_and_are_one_picture_at_zero(tiny_ckpt, tmp_path, capsys):
    rc, out, err = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "5", "--out", tmp_path / "v",
                             "--classes", "가각", "--variants", "3", "--natural", "0.8"], capsys)
    assert rc == 0 and "wrote 6 PNGs" in out and "3 variants each at natural 0.8" in out, (out, err)
    v = pngs(tmp_path / "v")
    assert sorted(v) == ["AC00-1.png", "AC00-2.png", "AC00-3.png", "AC01-1.png", "AC01-2.png", "AC01-3.png"]
    for code in ("AC00", "AC01"):
        a, b, c = (v[f"{code}-{k}.png"] for k in (1, 2, 3))
        assert not np.array_equal(a, b) and not np.array_equal(b, c) and not np.array_equal(a, c), code
    rc, _, _ = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "5", "--out", tmp_path / "v2",
                         "--classes", "가각", "--variants", "3", "--natural", "0.8"], capsys)
    assert rc == 0 and all(np.array_equal(v[k], w) for k, w in pngs(tmp_path / "v2").items())   # deterministic
    rc, _, _ = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "5", "--out", tmp_path / "z",
                         "--classes", "가각", "--variants", "3", "--natural", "0"], capsys)
    rc2, _, _ = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "5", "--out", tmp_path / "plain",
                          "--classes", "가각"], capsys)
    z, plain = pngs(tmp_path / "z"), pngs(tmp_path / "plain")
    assert rc == rc2 == 0 and len(z) == 6
    for code in ("AC00", "AC01"):                       # natural 0: every variant is today's glyph
        assert all(np.array_equal(z[f"{code}-{k}.png"], plain[f"{code}.png"]) for k in (1, 2, 3)), code
    # the upscale command reads the variants' names
    rc, out, err = run_main(["sheet", "--checkpoint", tiny_ckpt, "--seed", "5", "--out", tmp_path / "v64",
                             "--classes", "가", "--variants", "2", "--size", "64"], capsys)
    assert rc == 0, err
    rc, out, err = run_main(["upscale", tmp_path / "v64", "--out", tmp_path / "v256", "--size", "128"], capsys)
    assert rc == 0 and "wrote 2 PNGs (128x128)" in out, (out, err)
    assert {k: a.shape for k, a in pngs(tmp_path / "v256").items()} == {"AC00-1.png": (128, 128), "AC00-2.png": (128, 128)}


def test_sheet_variants_with_a_fitted_writer(tiny_ckpt, tiny_model, tmp_path, capsys):
    import torch
    from rekogan.writer.value import Writer, encode
    G = tiny_model[0]
    path = Writer(code=encode(torch.randn(1, G.cfg.z_dim, generator=torch.Generator().manual_seed(0)))).save(
        tmp_path / "writer.json")
    rc, out, err = run_main(["sheet", "--checkpoint", tiny_ckpt, "--writer", path, "--out", tmp_path / "w",
                             "--classes", "가", "--variants", "2", "--natural", "1", "--size", "128"], capsys)
    assert rc == 0 and "writer" in out and "(128x128" in out, (out, err)
    w = pngs(tmp_path / "w")
    assert sorted(w) == ["AC00-1.png", "AC00-2.png"] and not np.array_equal(w["AC00-1.png"], w["AC00-2.png"])


@pytest.mark.parametrize("args, needle", [
    (["--size", "100"], "--size: The size must be one of 64, 128, 256"), (["--size", "big"], "--size"),
    (["--variants", "0"], "--variants must be a whole number in 1..16"), (["--variants", "2.5"], "--variants"),
    (["--variants", "17"], "--variants"), (["--natural", "0.5"], "--natural applies to --variants"),
    (["--variants", "2", "--natural", "1.5"], "--natural: Natural must be a number in 0..1"),
    (["--variants", "2", "--natural", "nan"], "--natural"),
])
def test_bad_size_variants_natural_are_one_line(tiny_ckpt, tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    rc, so, se = run_main(["sheet", "--checkpoint", tiny_ckpt, "--out", out, *args], capsys)
    assert_one_line_error(rc, so, se, needle)
    assert not out.exists() or not any(out.iterdir())
