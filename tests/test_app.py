"""The app end to end (a `python app.py` subprocess called through gradio_client) and rekogan.studio directly.

Runs for the app are copies of conftest's session `tiny_run` (4 classes 가각간갈, 16x16, 2 epochs)
under a tmp checkpoints root: collapsed, fixed (with evaluation.jsonl records in rekogan.evaluation's
format), broken (a good epoch 1, a corrupt epoch 98, a pickle renamed epoch_099.safetensors whose
unpickling would create a sentinel file) and classifier (not a generator run: must be skipped); plus
hangul: a 16x16 jamo run with a stroke-weight input (all 11,172 classes, split.json), trained for 2
tiny epochs on a synthetic folder of six syllables (tens of seconds).
One app server per session, shared with tests/test_browser.py (see shared_app).
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fontcheck import check_font  # noqa: E402  (every font a test builds is sanitised and shaped)
from rekogan.conventions import DEFAULT_GLYPH_SIZE  # noqa: E402

TEXT = "가각 간\n갈가A"            # the tiny classes, a space, a newline and one unknown character
FLAT = (64, 0)                  # size, natural: 64 px cells (the tiny run's 16 px glyphs enlarged), a font's fixed cells
PLAIN = (0.0, "", *FLAT)        # weight 0, no writer code, then FLAT: the last inputs of /write, /compare, /write_svg
START_TIMEOUT = float(os.environ.get("REKOGAN_TEST_START_TIMEOUT", "240"))   # the CI machine may be busy
CALL_TIMEOUT = 180.0


# ---- fixtures: a checkpoints root and one app server --------------------------------------------

class Sentinel:
    """Unpickling this creates a file: proof that a pickle was (not) executed."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def make_root(base: Path, tiny_run: Path) -> Path:
    import torch
    root = base / "checkpoints"
    evals = {"collapsed": (0.25, 0.3), "fixed": (0.6, 0.9)}
    for name, (r1, r2) in evals.items():
        d = root / name
        d.mkdir(parents=True)
        for p in sorted(tiny_run.glob("epoch_*.safetensors")) + [tiny_run / "metrics.jsonl", tiny_run / "config.json"]:
            shutil.copy2(p, d / p.name)
        with open(d / "evaluation.jsonl", "w", encoding="utf-8") as f:
            for epoch, r in ((1, r1), (2, r2)):
                f.write(json.dumps({"epoch": epoch, "readability": r, "diversity": 0.4 + r / 10, "seeds": 8,
                                    "per_class": [r, r, 1.0, 0.0], "failing_classes": ["갈"], "failing_count": 1,
                                    "top_confusions": [{"intended": "갈", "read": "각", "count": 5},
                                                       {"intended": "가", "read": "간", "count": 2}]},
                                   ensure_ascii=False) + "\n")
            f.write('{"epoch": 3, "readab')                    # a line cut by a kill: ignored
    broken = root / "broken"
    broken.mkdir()
    shutil.copy2(tiny_run / "epoch_001.safetensors", broken / "epoch_001.safetensors")
    good = (tiny_run / "epoch_002.safetensors").read_bytes()
    (broken / "epoch_098.safetensors").write_bytes(good[: len(good) // 2])          # truncated
    torch.save({"G": Sentinel(base / "PWNED")}, broken / "epoch_099.safetensors")  # a pickle
    (root / "classifier").mkdir()
    (root / "classifier" / "classifier.safetensors").write_bytes(b"not a generator run")
    return root


def train_hangul(base: Path, root: Path) -> Path:
    """A tiny `hangul` preset run (jamo condition, weight_cond) as root/hangul."""
    from test_training import _syllable_folder
    from conftest import run_py
    from rekogan.split import make_split
    data, out = base / "hangul_glyphs", root / "hangul"
    _syllable_folder(data, list(make_split("ksx1001").train.syllables[:6]), per=10)
    run_py(["train.py", "--preset", "hangul", "--threads", "1", "--data", f"folder:{data}", "--size", "16",
            "--ngf", "4", "--ndf", "4", "--z-dim", "8", "--embed-dim", "8", "--batch", "8", "--epochs", "2",
            "--epoch-images", "16", "--grid-classes", "4", "--grid-seeds", "2", "--ema-start", "0",
            "--keep-states", "1", "--out", out], check=True)
    for p in out.glob("state_*.safetensors"):
        p.unlink()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    def __init__(self, root: Path, log: Path):
        self.root, self.port, self.log = root, free_port(), log
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, REKOGAN_CHECKPOINTS=str(root), GRADIO_SERVER_NAME="127.0.0.1",
                   GRADIO_SERVER_PORT=str(self.port), GRADIO_ANALYTICS_ENABLED="False", REKOGAN_THREADS="1",
                   OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._log = open(log, "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.wait_ready()
        self.start_seconds = time.monotonic() - t0

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app.py exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        raise AssertionError(f"app.py not ready after {START_TIMEOUT:.0f} s:\n{self.output()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


_SHARED: dict = {}


def shared_app(tmp_path_factory, tiny_run: Path) -> App:
    """One app server per session (tests/test_browser.py imports this module and reuses it)."""
    if "app" not in _SHARED:
        base = tmp_path_factory.mktemp("studio")
        root = make_root(base, tiny_run)
        train_hangul(base, root)
        app = App(root, base / "app.log")
        atexit.register(app.stop)
        _SHARED.update(app=app, base=base)
    return _SHARED["app"]


@pytest.fixture(scope="session")
def app(tmp_path_factory, tiny_run):
    a = shared_app(tmp_path_factory, tiny_run)
    yield a
    a.stop()


@pytest.fixture(scope="session")
def client(app):
    from gradio_client import Client
    return Client(app.url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": CALL_TIMEOUT},
                  download_files=str(Path(_SHARED["base"]) / "downloads"))


def call(client, *args, api_name: str):
    return client.submit(*args, api_name=api_name).result(timeout=CALL_TIMEOUT)


def png(path) -> np.ndarray:
    from PIL import Image
    assert path and Path(path).is_file(), f"no image file: {path!r}"
    with Image.open(path) as im:
        assert im.format == "PNG", im.format
        return np.asarray(im.convert("L"))


C0, C1 = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)         # matplotlib's first two line colours: a plot's runs


def run_colour_pixels(path, rgb) -> int:
    """Pixels of a PNG within a few levels of `rgb` (a run's line colour in the Diagnostics plots)."""
    from PIL import Image
    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB")).astype(int)
    return int((np.abs(a - np.array(rgb)).max(axis=2) <= 8).sum())


# ---- the app through gradio_client ---------------------------------------------------------------

def test_every_api_name_is_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/write", "/compare", "/evolution", "/sheet", "/diagnostics", "/walk"} <= names, names


def test_write_and_compare(client):
    image, notice = call(client, TEXT, 7, 0.8, "fixed", 2, *PLAIN, api_name="/write")
    page = png(image)
    assert page.shape == (2 * 64, 224)                    # 2 lines; 가각 간 = 3.5 cells (a space is half a cell)
    assert "fixed" in notice and "epoch 2" in notice and "90.0% readable" in notice
    assert "`A`" in notice                                  # the unknown character is listed
    left, left_note, right, right_note = call(client, TEXT, 7, 0.8, "collapsed", None, "fixed", "best", *PLAIN,
                                              api_name="/compare")
    assert "collapsed" in left_note and "fixed" in right_note
    assert np.array_equal(png(right), page)                 # same text, seed, psi and checkpoint: same pixels
    assert png(left).shape == page.shape


def test_size_and_natural_are_the_last_inputs_of_write_compare_and_write_svg(client):
    """size: px per glyph (the page scales with it); natural: each occurrence its own, the same inputs
    the same pixels; left out (a caller written before them): the defaults."""
    from rekogan.conventions import DEFAULT_GLYPH_SIZE
    for size in (64, 128, 256):
        image, _ = call(client, "가각", 1, 0.8, "fixed", 2, 0.0, "", size, 0, api_name="/write")
        assert png(image).shape == (size, 2 * size), size
    flat = png(call(client, "가가가가", 5, 0.8, "fixed", 2, *PLAIN, api_name="/write")[0])
    assert all(np.array_equal(flat[:, :64], flat[:, 64 * i:64 * (i + 1)]) for i in range(4)), "a font's repeats"
    varied = [png(call(client, "가가가가", 5, 0.8, "fixed", 2, 0.0, "", 64, 0.7, api_name="/write")[0]) for _ in range(2)]
    assert np.array_equal(varied[0], varied[1]), "the same inputs must give the same pixels"
    assert varied[0].shape != flat.shape or not np.array_equal(varied[0], flat)
    default, _ = call(client, "가각", 1, 0.8, "fixed", 2, api_name="/write")
    assert png(default).shape[0] >= DEFAULT_GLYPH_SIZE         # one row at the default size (and the jitter's room)
    left, _, right, _ = call(client, "가각", 1, 0.8, "fixed", 2, "fixed", 2, 0.0, "", 128, 0.7, api_name="/compare")
    assert np.array_equal(png(left), png(right)) and png(left).shape[0] >= 128    # both panels at the size asked
    svg = Path(call(client, "가각 간", 1, 0.8, "fixed", 2, 0.0, "", 128, 0, api_name="/write_svg")).read_text("utf-8")
    assert 'width="448" height="128"' in svg, svg[:200]         # 3.5 cells of 128 px
    svg = Path(call(client, "가각 간", 1, 0.8, "fixed", 2, 0.0, "", 128, 0.8, api_name="/write_svg")).read_text("utf-8")
    assert svg.count('<g class="syllable"') == 3 and svg.count("rotate(") == 3


def test_compare_shows_the_good_panel_when_the_other_fails(client):
    left, left_note, right, right_note = call(client, "가각", 1, 0.5, "broken", 99, "fixed", 2, *PLAIN,
                                              api_name="/compare")
    assert left is None and "pickle" in left_note
    assert png(right).shape == (64, 128)


def test_evolution_sheet_diagnostics_walk(client):
    a, a_note, b, b_note = call(client, "간", 3, 0.7, "collapsed", "fixed", api_name="/evolution")
    assert png(a).shape == png(b).shape and "2 epochs" in b_note
    sheet, note = call(client, "fixed", 1, 5, 1.0, api_name="/sheet")       # a caller from before `size`: the default
    from rekogan.conventions import DEFAULT_GLYPH_SIZE as S
    assert png(sheet).shape == (2 + S + 2, 2 + 4 * (S + 2)) and "epoch 1" in note     # 4 classes in one row, pad 2
    loss, quality, table, note = call(client, "fixed", 2, api_name="/diagnostics")
    # the collapse story's two runs (collapsed: matplotlib's C0, fixed: C1) drawn as curves; their losses are
    # the same tiny run's, so fixed's curve covers collapsed's there, and only their readabilities differ
    assert run_colour_pixels(loss, C1) > 300 and run_colour_pixels(quality, C1) > 300
    assert run_colour_pixels(quality, C0) > 300
    assert table["data"][0][:2] == ["갈", "각"] and "5 of 8" in table["data"][0][2]
    assert "failing" in note
    gif, strip, note = call(client, "가각", 1, 2, 5, 0.8, "fixed", "last", 0.0, 64, 0, api_name="/walk")
    from PIL import Image
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 8       # 5 frames there, 3 back
    assert png(strip).shape == (5 * 64 + 4 * 4, 128)


def test_sheet_evolution_and_walk_take_a_size_and_walk_a_natural_last(client):
    """size (px per glyph) is the last input of /evolution and /sheet; /walk ends with size, natural."""
    for size in (64, 128, 256):
        sheet, note = call(client, "fixed", 1, 5, 1.0, "classes", 1, 0.0, size, api_name="/sheet")
        assert png(sheet).shape == (2 + size + 2, 2 + 4 * (size + 2)), size
        a, _, b, _ = call(client, "간", 3, 0.7, "collapsed", "fixed", 0.0, size, api_name="/evolution")
        assert png(a).shape == png(b).shape and png(a).shape[0] > size, size
        gif, strip, note = call(client, "가각", 1, 2, 2, 0.8, "fixed", "last", 0.0, size, 0, api_name="/walk")
        assert png(strip).shape == (2 * size + 4, 2 * size), size
    plain = png(call(client, "가가 각", 1, 2, 3, 0.8, "fixed", "last", 0.0, 64, 0, api_name="/walk")[1])
    varied = [png(call(client, "가가 각", 1, 2, 3, 0.8, "fixed", "last", 0.0, 64, 0.8, api_name="/walk")[1])
              for _ in range(2)]
    assert np.array_equal(varied[0], varied[1]) and (varied[0].shape != plain.shape or (varied[0] != plain).any())
    from gradio_client.exceptions import AppError
    for api, args in (("/sheet", ("fixed", 1, 5, 1.0, "classes", 1, 0.0, 100)),
                      ("/evolution", ("간", 3, 0.7, "collapsed", "fixed", 0.0, "big")),
                      ("/walk", ("가", 1, 2, 2, 0.8, "fixed", "last", 0.0, 512, 0)),
                      ("/walk", ("가", 1, 2, 2, 0.8, "fixed", "last", 0.0, 64, 1.5))):
        with pytest.raises(AppError) as err:
            call(client, *args, api_name=api)
        msg = str(err.value)
        assert ("size must be one of 64, 128, 256" in msg or "Natural must be a number in 0..1" in msg), msg
        assert "Traceback" not in msg and "\n" not in msg.strip(), msg


BAD = {
    "empty text": (("", 1, 0.8, "fixed", 2), "empty"),
    "only spaces": (("  \n ", 1, 0.8, "fixed", 2), "empty"),
    "10,001 characters": (("가" * 10_001, 1, 0.8, "fixed", 2), "10,001 characters; the limit is 10,000"),
    "control character": (("가\x07각", 1, 0.8, "fixed", 2), "control characters (U+0007"),
    "seed too large": (("가", 2**31, 0.8, "fixed", 2), "seed must be in 0..2,147,483,647"),
    "negative seed": (("가", -1, 0.8, "fixed", 2), "seed must be in"),
    "truncation > 1": (("가", 1, 1.5, "fixed", 2), "Truncation psi must be"),
    "unknown run": (("가", 1, 0.8, "nope", 2), "Unknown run 'nope'. Available runs: collapsed, fixed, broken"),
    "not a generator run": (("가", 1, 0.8, "classifier", 2), "Unknown run 'classifier'"),
    "unknown epoch": (("가", 1, 0.8, "fixed", 7), "no epoch 7; saved epochs: 1, 2"),
    "corrupt checkpoint": (("가", 1, 0.8, "broken", 98), "corrupt or truncated"),
    "size 100": (("가", 1, 0.8, "fixed", 2, 0.0, "", 100, 0.5), "The size must be one of 64, 128, 256 pixels"),
    "size as words": (("가", 1, 0.8, "fixed", 2, 0.0, "", "big", 0.5), "The size must be one of 64, 128, 256"),
    "natural 1.5": (("가", 1, 0.8, "fixed", 2, 0.0, "", 128, 1.5), "Natural must be a number in 0..1"),
    "natural nan": (("가", 1, 0.8, "fixed", 2, 0.0, "", 128, "nan"), "Natural must be a number in 0..1"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_a_clear_message_and_the_app_keeps_serving(client, app, case):
    from gradio_client.exceptions import AppError
    args, expected = BAD[case]
    with pytest.raises(AppError) as err:
        call(client, *args, api_name="/write")
    msg = str(err.value)
    assert expected in msg, msg
    assert "Traceback" not in msg and "File \"" not in msg
    image, _ = call(client, "가각", 1, 0.8, "fixed", 2, *PLAIN, api_name="/write")  # and the next request works
    assert png(image).shape == (64, 128)
    assert app.alive()


def test_pickle_checkpoint_is_refused_and_never_executed(client, app):
    from gradio_client.exceptions import AppError
    sentinel = Path(_SHARED["base"]) / "PWNED"
    for api, args in (("/write", ("가", 1, 0.8, "broken", 99)),
                      ("/sheet", ("broken", "epoch_099", 1, 0.8)),
                      ("/evolution", ("가", 1, 0.8, "broken", "broken"))):
        try:
            out = call(client, *args, api_name=api)
        except AppError as e:
            assert "pickle" in str(e) and "safetensors" in str(e), str(e)
        else:   # evolution draws the good epoch and reports the bad ones
            assert api == "/evolution" and "epoch 99" in out[1] and "pickle" in out[1], out
    assert not sentinel.exists(), "a pickle checkpoint was unpickled"
    assert "Traceback" not in app.output()
    image, _ = call(client, "갈", 2, 0.8, "broken", 1, *PLAIN, api_name="/write")
    assert png(image).shape == (64, 64)


# ---- rekogan.studio directly ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def studio(app):
    from rekogan.studio import Studio
    return Studio(root=app.root, cache_size=2)


def test_same_text_and_seed_give_the_same_pixels(studio):
    a = studio.write(text=TEXT, seed=123, truncation=0.7, run="fixed", epoch=2)
    b = studio.write(text=TEXT, seed=123.0, truncation=0.7, run="fixed", epoch="epoch 2 · 90.0% readable")
    c = studio.write(text=TEXT, seed=124, truncation=0.7, run="fixed", epoch=2)
    assert a.image.dtype == np.uint8 and np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_unknown_characters_are_listed_and_drawn(studio):
    p = studio.write(text="가A漢 !A각", seed=1, truncation=1.0, run="fixed", epoch=1, size=64, natural=0)
    assert p.unknown == ("A", "漢", "!")
    assert "`A`" in p.notice and "`漢`" in p.notice and "4 syllables" in p.notice
    cell = p.image[:, 64:128]                              # the 'A' cell: grey print, not blank paper
    assert cell.min() < 255 and cell.min() > 0


@pytest.mark.parametrize("text, shape", [
    ("가 각", (1, 2.5)),                 # a space is half a cell
    ("가\n각간", (2, 2)),                # a newline starts a line
    ("가\n\n각", (3, 1)),                # an empty line keeps its height
    (" 가  ", (1, 2.5)),                 # leading and trailing spaces are kept
    ("가\r\n각", (2, 1)),                # CRLF is one newline
])
@pytest.mark.parametrize("size", [64, 128])
def test_spaces_and_newlines_shape_the_page(studio, text, shape, size):
    """In cells of `size` px (natural 0: a font's fixed cells)."""
    page = studio.write(text=text, seed=1, truncation=0.8, run="fixed", epoch=2, size=size, natural=0).image
    assert page.shape == (shape[0] * size, shape[1] * size)


def test_long_lines_wrap(studio):
    p = studio.write(text="가" * 70, seed=1, truncation=0.8, run="fixed", epoch=2, wrap=32, size=64, natural=0)
    assert p.image.shape == (3 * 64, 32 * 64)


def test_studio_errors_are_one_type_with_a_message(studio):
    from rekogan.studio import StudioError
    good = dict(text="가", seed=1, truncation=0.5, run="fixed", epoch=2)
    for bad, words in [({"text": None}, "empty"), ({"text": "가" * 10_001}, "limit is 10,000"),
                       ({"text": "가\x00"}, "U+0000"), ({"seed": 1.5}, "whole number"), ({"seed": "abc"}, "whole number"),
                       ({"seed": True}, "whole number"), ({"seed": 2**31}, "0..2,147,483,647"),
                       ({"truncation": -0.1}, "[0, 1]"), ({"run": ""}, "Choose a run"), ({"epoch": "soon"}, "Unknown epoch"),
                       ({"run": "broken", "epoch": 99}, "pickle")]:
        with pytest.raises(StudioError, match=None) as e:
            studio.write(**{**good, **bad})
        assert words in str(e.value), (bad, str(e.value))
    with pytest.raises(StudioError, match="one Hangul syllable"):
        studio.evolution(run="fixed", syllable="가각", seed=1, truncation=0.5)
    with pytest.raises(StudioError, match="not one of the 4 classes"):
        studio.evolution(run="fixed", syllable="힣", seed=1, truncation=0.5)
    with pytest.raises(StudioError, match="limit is 64"):
        studio.walk(text="가" * 65, seed_a=1, seed_b=2, steps=3, truncation=0.5, run="fixed", epoch=2)
    with pytest.raises(StudioError, match="Steps"):
        studio.walk(text="가", seed_a=1, seed_b=2, steps=1, truncation=0.5, run="fixed", epoch=2)


def test_registry_lists_runs_epochs_and_readability(studio):
    assert studio.run_names() == ["collapsed", "fixed", "broken", "hangul"]  # classifier/ is not a run
    assert studio.default_runs() == ("collapsed", "hangul")    # the story's left beside the run that writes any
    assert studio.story_runs() == ("collapsed", "fixed")
    assert studio.epoch_choices(run="fixed") == [("epoch 1 · 60.0% readable", 1), ("epoch 2 · 90.0% readable", 2)]
    # broken: no evaluation, so the last epoch whose file is readable (98 is truncated, 99 a pickle)
    assert studio.default_epoch(run="collapsed") == 2 and studio.default_epoch(run="broken") == 1


def test_default_runs_take_the_best_run_that_writes_any_syllable_else_fixed(app, tmp_path):
    from rekogan.studio import Studio
    root = tmp_path / "checkpoints"
    root.mkdir()
    for name in ("collapsed", "fixed"):
        (root / name).symlink_to(app.root / name)
    assert Studio(root=root).default_runs() == ("collapsed", "fixed")        # no run writes any syllable
    # of the runs that write any syllable, the one that reads best at its default epoch (unevaluated: last)
    for name, readability in (("unread", None), ("hangul", 0.2), ("jamo", 0.5)):
        shutil.copytree(app.root / "hangul", root / name, ignore=shutil.ignore_patterns("evaluation.jsonl"))
        if readability is not None:
            (root / name / "evaluation.jsonl").write_text("".join(
                json.dumps({"epoch": e, "readability": readability, "diversity": 0.5}) + "\n" for e in (1, 2)))
        if name == "hangul":
            assert Studio(root=root).default_runs() == ("collapsed", "hangul")
    assert Studio(root=root).default_runs() == ("collapsed", "jamo")
    assert Studio(root=root).story_runs() == ("collapsed", "fixed")


def test_my_hand_opens_on_the_hand_run_and_write_keeps_the_gan_run(app, tmp_path):
    """A hand run (a style encoder beside its epochs) reads best but is not Write's default (its seed
    writers vary less); My hand opens on it. Without one, My hand opens on Write's right run."""
    from rekogan.studio import Studio
    root = tmp_path / "checkpoints"
    root.mkdir()
    for name in ("collapsed", "fixed", "hangul"):
        (root / name).symlink_to(app.root / name)
    assert Studio(root=root).hand_run() == "hangul"
    shutil.copytree(app.root / "hangul", root / "hangul-hand", ignore=shutil.ignore_patterns("evaluation.jsonl"))
    (root / "hangul-hand" / "evaluation.jsonl").write_text("".join(
        json.dumps({"epoch": e, "readability": 0.999, "diversity": 0.5}) + "\n" for e in (1, 2)))
    studio = Studio(root=root)                                     # no encoder: an ordinary run that reads best
    assert studio.default_runs() == ("collapsed", "hangul-hand") and studio.hand_run() == "hangul-hand"
    (root / "hangul-hand" / "encoder.safetensors").write_bytes(b"")
    studio = Studio(root=root)
    assert studio.default_runs() == ("collapsed", "hangul") and studio.hand_run() == "hangul-hand"


def test_the_first_screen_writes_typed_korean_in_full_on_the_right(client, app):
    """The Write tab opens with collapsed on the left (the story) and, on the right, the run that
    writes any syllable: typed 안녕하세요 comes back whole there, with no unknown glyph."""
    with urllib.request.urlopen(app.url + "config", timeout=60) as r:
        config = json.loads(r.read().decode("utf-8"))
    value = {c["props"].get("elem_id"): c["props"].get("value") for c in config["components"]}
    assert (value["write-left-run"], value["write-right-run"]) == ("collapsed", "hangul"), value
    left, left_note, right, right_note = call(client, "안녕하세요", 42, 0.8, value["write-left-run"], "best",
                                              value["write-right-run"], "best", *PLAIN, api_name="/compare")
    assert png(right).shape == (64, 5 * 64) and "hangul" in right_note
    assert "not among" not in right_note.lower() and "grey print" not in right_note, right_note
    assert "'hangul' run writes any syllable" in left_note        # the collapsed panel names the run that can


def test_corrupt_epoch_files_are_named_and_the_good_ones_served(studio, client, app):
    """The app started with a truncated epoch 98 and a pickle epoch 99 beside a good epoch 1: the good
    one is the default, the bad ones are named (with why) on the page and in the log, and asking for
    one gives its reason."""
    problems = studio.registry.problems()
    assert any("broken/epoch_098.safetensors" in p and "truncated" in p for p in problems), problems
    assert any("broken/epoch_099.safetensors" in p and "pickle" in p for p in problems), problems
    assert not any(p.startswith(("fixed/", "collapsed/")) for p in problems), problems
    assert [label for label, _ in studio.epoch_choices(run="broken")][1:] == ["epoch 98 · unreadable file",
                                                                            "epoch 99 · unreadable file"]
    image, note = call(client, "갈", 2, 0.8, "broken", None, *PLAIN, api_name="/write")   # omitted: the good epoch
    assert png(image).shape == (64, 64) and "epoch 1" in note
    image, note = call(client, "갈", 2, 0.8, "broken", "last", api_name="/write")
    assert "epoch 1" in note
    with urllib.request.urlopen(app.url + "config", timeout=60) as r:     # what the page shows
        page = r.read().decode("utf-8")
    assert "broken/epoch_098.safetensors" in page and "broken/epoch_099.safetensors" in page
    assert "unreadable checkpoint files" in app.output() and "epoch_098" in app.output()
    conf = studio.confusions(run="fixed", epoch=1)
    assert conf.rows[0] == ("갈", "각", "5 of 8 draws") and "1 failing classes: 갈" in conf.note


def _epochs(tiny_run, base):
    """EpochInfo for three generator files (copies of the tiny run's epochs 1, 2, 1) under base/run."""
    import shutil
    from rekogan.studio.registry import EpochInfo
    (base / "run").mkdir()
    out = []
    for n, src in ((1, 1), (2, 2), (3, 1)):
        path = base / "run" / f"epoch_{n:03d}.safetensors"
        shutil.copy2(tiny_run / f"epoch_{src:03d}.safetensors", path)
        out.append(EpochInfo(run="run", epoch=n, path=path))
    return out


def test_generator_cache_is_a_bounded_lru(tiny_run, tmp_path):
    from rekogan.studio.cache import GeneratorCache
    a, b, c = _epochs(tiny_run, tmp_path)
    cache = GeneratorCache(size=2)
    first = cache.get(a)
    cache.get(b)
    assert cache.get(a) is first and cache.loads == 2       # a hit: a is now the most recently used
    cache.get(c)                                            # full: evicts the least recently used, b
    # (FIFO would evict a, the oldest load)
    assert cache.peek(a) is first and cache.peek(b) is None and cache.peek(c) is not None
    assert len(cache) == 2 and cache.loads == 3
    cache.get(b)                                            # reloaded; a is now the least recently used
    assert cache.loads == 4 and cache.peek(a) is None and cache.peek(c) is not None


def test_generator_cache_bounds_its_bytes(tiny_run, tmp_path):
    from rekogan.studio.cache import GeneratorCache, nbytes
    a, b, c = _epochs(tiny_run, tmp_path)
    one = nbytes(GeneratorCache(size=1).get(a).generator)
    cache = GeneratorCache(size=10, max_bytes=2 * one + one // 2)    # room for two generators, not three
    for info in (a, b, c):
        cache.get(info)
    assert len(cache) == 2 and cache.nbytes == 2 * one and cache.peek(a) is None
    small = GeneratorCache(size=10, max_bytes=one // 2)               # smaller than one generator: the newest stays
    small.get(a)
    small.get(b)
    assert len(small) == 1 and small.peek(b) is not None and small.peek(a) is None


def test_generator_cache_reloads_a_replaced_file(tiny_run, tmp_path):
    import os
    import shutil
    import torch
    from rekogan.studio.cache import GeneratorCache
    a, _, _ = _epochs(tiny_run, tmp_path)
    cache = GeneratorCache(size=2)
    old = cache.get(a)
    assert cache.get(a) is old and cache.loads == 1
    st = a.path.stat()
    shutil.copy2(tiny_run / "epoch_002.safetensors", a.path)           # same name, other weights
    os.utime(a.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))       # a new mtime, as a real write gives
    new = cache.get(a)
    assert new is not old and cache.loads == 2 and new.meta["epoch"] == 2
    fresh = GeneratorCache(size=1).get(a).generator
    assert all(torch.equal(p, q) for p, q in zip(new.generator.state_dict().values(), fresh.state_dict().values()))


# ---- the hangul run, stroke weight, sheet sets and pages, SVG and font (issues 11 and 12) ---------

def test_new_api_names_are_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/write_svg", "/font"} <= names, names


def test_hangul_run_writes_any_korean_in_full_with_a_stroke_weight(client):
    for text, cells in (("안녕하세요", 5), ("닳도록", 3), ("뷁", 1)):
        image, notice = call(client, text, 3, 0.8, "hangul", "best", *PLAIN, api_name="/write")
        assert png(image).shape == (64, 64 * cells), text
        assert "Not among" not in notice and "grey print" not in notice and "hangul" in notice, notice
    thin, _ = call(client, "안녕하세요", 3, 0.8, "hangul", "best", -2.0, api_name="/write")
    bold, notice = call(client, "안녕하세요", 3, 0.8, "hangul", "best", 2.0, api_name="/write")
    assert not np.array_equal(png(thin), png(bold))          # the weight input reaches the generator
    assert "stroke-weight" not in notice


@pytest.mark.parametrize("weight", [2.5, -2.01, "bold", "nan"])
def test_weight_outside_its_range_gets_the_clear_message(client, app, weight):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError) as err:
        call(client, "가", 1, 0.8, "hangul", "best", weight, api_name="/write")
    assert "stroke weight must be a number in -2..2" in str(err.value), str(err.value)
    assert "Traceback" not in str(err.value) and app.alive()


def test_a_run_without_the_weight_control_ignores_it_and_says_so(client):
    plain, notice0 = call(client, "가각", 1, 0.8, "fixed", 2, 0.0, api_name="/write")
    heavy, notice = call(client, "가각", 1, 0.8, "fixed", 2, 1.5, api_name="/write")
    assert np.array_equal(png(plain), png(heavy))
    assert "'fixed' has no stroke-weight control" in notice and "stroke-weight" not in notice0


def test_a_panel_that_cannot_write_a_syllable_names_the_run_that_can(client):
    image, notice = call(client, "가나", 1, 0.8, "fixed", 2, *PLAIN, api_name="/write")
    assert png(image).shape == (64, 128)
    assert "나 is not among the 4 classes of 'fixed'; the 'hangul' run writes any syllable" in notice, notice
    left, left_note, right, right_note = call(client, "가나", 1, 0.8, "collapsed", "best", "hangul", "best", 0.0,
                                              api_name="/compare")
    assert "'hangul' run writes any syllable" in left_note and "is not among" not in right_note
    a, a_note, b, b_note = call(client, "녕", 1, 0.8, "fixed", "hangul", 0.0, api_name="/evolution")
    assert a is None and "'녕' is not one of the 4 classes of run 'fixed'; the 'hangul' run writes" in a_note
    assert "2 epochs" in b_note
    _, _, known, _ = call(client, "가", 1, 0.8, "fixed", "hangul", 0.0, api_name="/evolution")
    # the hangul panel draws 녕 as it draws a syllable of its training data: the same strip, another glyph
    assert png(b).shape == png(known).shape and not np.array_equal(png(b), png(known))


def test_sheet_sets_and_pages(client):
    image, note = call(client, "hangul", "best", 1, 0.8, "ksx1001", 2, 0.0, 64, api_name="/sheet")
    assert png(image).shape == (2 + 10 * 66, 2 + 26 * 66)            # 260 syllables, 26 a row, pad 2
    assert "page 2 of 10" in note and "261–520 of 2,350" in note and "grey print" not in note
    image, note = call(client, "hangul", "best", 1, 0.8, "heldout", 3, 0.0, api_name="/sheet")
    assert "page 3 of 3" in note and "521–735 of 735" in note
    image, note = call(client, "fixed", 1, 5, 1.0, "classes", 1, 0.0, 64, api_name="/sheet")
    assert png(image).shape == (2 + 66, 2 + 4 * 66) and "page 1 of 1" in note   # a small run: one page as before
    image, note = call(client, "fixed", 1, 5, 1.0, "seri95", 1, 0.0, api_name="/sheet")
    assert "1–520 of 520" in note and "516 of these syllables are not among" in note and "'hangul' run" in note
    from gradio_client.exceptions import AppError
    for args, words in ((("hangul", "best", 1, 0.8, "ksx1001", 11, 0.0), "past the last page: this set has 10 pages"),
                        (("hangul", "best", 1, 0.8, "ksx1001", 0, 0.0), "page must be a whole number"),
                        (("fixed", 2, 1, 0.8, "heldout", 1, 0.0), "no split.json"),
                        (("fixed", 2, 1, 0.8, "klingon", 1, 0.0), "Unknown syllable set 'klingon'")):
        with pytest.raises(AppError) as err:
            call(client, *args, api_name="/sheet")
        assert words in str(err.value), str(err.value)


def test_write_svg_is_the_traced_line(client):
    path = call(client, "가각 간\n갈A", 1, 0.8, "fixed", 2, 0.0, api_name="/write_svg")
    svg = Path(path).read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.count('<g class="syllable"') == 4 and 'data-char="A"' in svg
    path = call(client, "안녕하세요", 1, 0.8, "hangul", "best", 1.0, api_name="/write_svg")
    assert Path(path).read_text(encoding="utf-8").count('<g class="syllable"') == 5


def test_font_endpoint_builds_a_font_with_a_browser_preview(client, app):
    from fontTools.ttLib import TTFont
    path, preview, note = call(client, "hangul", "best", 1, 0.8, 0.5, "text", "가나다 가A", "가나다",   # State: not sent
                               api_name="/font")
    check_font(path, text="가나다 다나가")
    font = TTFont(path)
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in "가나다") and ord("A") not in cmap
    family = font["name"].getDebugName(1)
    assert family in note and "3 syllables" in note
    assert "@font-face" in preview and "data:font/ttf;base64," in preview and f'data-family="{family}"' in preview
    from gradio_client.exceptions import AppError
    for args, words in ((("hangul", "best", 1, 0.8, 0.0, "text", "   ", "가"), "Type the syllables"),
                        (("hangul", "best", 1, 0.8, 0.0, "emoji", "", "가"), "Unknown syllable set 'emoji'"),
                        (("fixed", 2, 1, 0.8, 0.0, "text", "나다", "가"), "can write none of the 2")):
        with pytest.raises(AppError) as err:
            call(client, *args, api_name="/font")
        assert words in str(err.value), str(err.value)
    assert "Traceback" not in app.output()


def test_font_endpoint_builds_alternates_that_harfbuzz_cycles(client, app):
    from fontTools.ttLib import TTFont
    from fontcheck import shape
    path, _, note = call(client, "hangul", "best", 1, 0.8, 0.0, "text", "가나", "가가가", "", 3,   # alternates last
                         api_name="/font")
    check_font(path, text="가가가가")
    names = [g for g, _ in shape(path, "가가가가")]
    assert len(set(names)) >= 3, names                                       # typed repeats differ
    assert {"uniAC00.alt1", "uniAC00.alt2"} <= set(TTFont(path).getGlyphOrder())
    from gradio_client.exceptions import AppError
    for bad in (0, 5):
        with pytest.raises(AppError) as err:
            call(client, "hangul", "best", 1, 0.8, 0.0, "text", "가나", "가", "", bad, api_name="/font")
        assert "lternates" in str(err.value) and "Traceback" not in str(err.value)
    assert "Traceback" not in app.output()


# ---- My hand: fitting a writer to a drawing, and writing with its code (issue 13) ------------------

HAND = "가각간갈"              # the tiny classes, drawn in one row


def _drawing(glyphs: np.ndarray, path: Path, *, scale: int = 6, gap: int = 40, rgba: bool = True) -> Path:
    """A row of glyphs (16 px cells of a dark-on-white page) as a canvas would send it: each cell scaled
    up, a clear gap between them; black ink on a transparent canvas (rgba) or on white paper."""
    from PIL import Image
    n, s = glyphs.shape[1] // glyphs.shape[0], glyphs.shape[0]
    big = s * scale
    canvas = np.zeros((big + 2 * gap, n * (big + gap) + gap), np.uint8)            # ink strength
    for i in range(n):
        cell = np.asarray(Image.fromarray(glyphs[:, s * i:s * (i + 1)]).resize((big, big), Image.BILINEAR))
        canvas[gap:gap + big, gap + i * (big + gap):gap + i * (big + gap) + big] = 255 - cell
    if rgba:
        img = np.zeros(canvas.shape + (4,), np.uint8)
        img[..., 3] = canvas
        Image.fromarray(img, "RGBA").save(path)
    else:
        Image.fromarray(255 - canvas).save(path)
    return path


def native_page(studio, text, *, seed, truncation, run, epoch) -> np.ndarray:
    """The run's own glyphs (16 px cells, fixed; sampling.render_tokens): what a person would copy."""
    from rekogan.hangul import tokenize
    from rekogan.sampling import render_tokens
    m = studio.generator(run=run, epoch=epoch)
    w = 0.0 if getattr(m.generator.cfg, "weight_cond", False) else None
    return render_tokens(m.generator, tokenize(text, m.classes), seed=seed, truncation=truncation, weight=w).numpy()


def _canvas(path):
    from gradio_client import handle_file
    return {"background": None, "layers": [], "composite": handle_file(str(path)) if path else None}


@pytest.fixture(scope="module")
def hand_drawing(studio, tmp_path_factory):
    page = native_page(studio, HAND, seed=7, truncation=0.8, run="fixed", epoch=2)           # (16, 64)
    return _drawing(page, tmp_path_factory.mktemp("hand") / "row.png")


def test_hand_fits_a_drawing_and_its_code_writes_the_same_pixels_twice(client, app, hand_drawing):
    assert "/imitate" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    pair, code, writer_file, note = call(client, HAND, _canvas(hand_drawing), [], "fixed", 2, 64, api_name="/imitate")
    assert code.startswith("rkw1.") and "fitted in" in note and "4 syllables (가각간갈)" in note, note
    from rekogan.writer import load_writer
    saved = load_writer(writer_file)                        # writer.safetensors: latents + adapter (issue 25)
    assert Path(writer_file).suffix == ".safetensors" and saved.code == code and saved.syllables == HAND
    pair = png(pair)
    assert pair.shape == (2 + 2 * 66, 2 + 4 * 66)          # yours over the fitted ones, 4 columns of 64 px, pad 2
    # what the tab shows below is exactly what the code writes
    page_a, note_a = call(client, HAND, 1, 0.8, "fixed", 2, 0.0, code, *FLAT, api_name="/write")
    page_b, _ = call(client, HAND, 12345, 0.2, "fixed", 2, 0.0, code, *FLAT, api_name="/write")
    a, b = png(page_a), png(page_b)
    assert np.array_equal(a, b), "the same writer code must give the same pixels (the seed and psi are not used)"
    assert "seed and ψ are not used" in note_a
    fitted = np.concatenate([pair[68:132, 2 + 66 * i:66 + 66 * i] for i in range(4)], axis=1)
    # within a grey level (the pair's glyphs and the page's come from separate passes), enlarged alike
    assert np.abs(fitted.astype(int) - a.astype(int)).max() <= 2, "the fitted row must be what the code draws"
    seeded, _ = call(client, HAND, 1, 0.8, "fixed", 2, *PLAIN, api_name="/write")
    assert not np.array_equal(png(seeded), a)                # an empty writer box: the seed is the writer
    # the fit is a fit: closer to the drawn glyphs than the seed the page would use otherwise
    user = np.concatenate([pair[2:66, 2 + 66 * i:66 + 66 * i] for i in range(4)], axis=1).astype(float)
    assert np.abs(fitted - user).mean() < np.abs(png(seeded).astype(float) - user).mean()
    svg = Path(call(client, HAND, 1, 0.8, "fixed", 2, 0.0, code, api_name="/write_svg")).read_text(encoding="utf-8")
    assert svg.count('<g class="syllable"') == 4
    left, left_note, right, right_note = call(client, HAND, 1, 0.8, "collapsed", 2, "fixed", 2, 0.0, code, *FLAT,
                                              api_name="/compare")
    assert np.array_equal(png(right), a)
    assert app.alive()


def test_hand_on_the_hangul_run_from_separate_uploads(client, studio, tmp_path):
    from gradio_client import handle_file
    page = native_page(studio, "안녕", seed=3, truncation=0.8, run="hangul", epoch="best")       # (16, 32)
    files = [handle_file(str(_drawing(page[:, 16 * i:16 * (i + 1)], tmp_path / f"{i}.png", rgba=False)))
             for i in range(2)]
    pair, code, _, note = call(client, "안 녕", _canvas(None), files, "hangul", "best", api_name="/imitate")
    cell = DEFAULT_GLYPH_SIZE                                 # the pair view's default size, through the upscaler
    assert code.startswith("rkw1.") and "uploads" in note and png(pair).shape == (2 + 2 * (cell + 2), 2 + 2 * (cell + 2))
    one, notice = call(client, "닳도록 뷁", 1, 0.8, "hangul", "best", 0.0, code, *FLAT, api_name="/write")
    two, _ = call(client, "닳도록 뷁", 2, 0.5, "hangul", "best", 0.0, code, *FLAT, api_name="/write")
    assert np.array_equal(png(one), png(two)) and png(one).shape == (64, 64 * 4 + 32)
    assert "Not among" not in notice
    bold, _ = call(client, "닳도록 뷁", 2, 0.5, "hangul", "best", 2.0, code, *FLAT, api_name="/write")
    assert not np.array_equal(png(bold), png(one))           # the weight slider moves the writer's weight
    from fontTools.ttLib import TTFont                       # the Font tab takes the same code
    path, _, font_note = call(client, "hangul", "best", 1, 0.8, 0.0, "text", "안녕 뷁", "안녕", code, api_name="/font")
    check_font(path, text="안녕 녕안")
    family = TTFont(path)["name"].getDebugName(1)
    assert "Writer code" in font_note and "3 syllables" in font_note, font_note
    assert " f" in family and "s1p080" not in family, f"a fitted writer's font is named by its code: {family!r}"


def _hand_bad(tmp_path, studio):
    from PIL import Image
    from gradio_client import handle_file
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((240, 800, 4), np.uint8), "RGBA").save(blank)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 50)
    huge = tmp_path / "huge.png"
    Image.new("L", (5000, 5000), 255).save(huge)
    three = native_page(studio, "가각간", seed=7, truncation=0.8, run="fixed", epoch=2)
    row3 = _drawing(three, tmp_path / "three.png")
    cells = [handle_file(str(_drawing(three[:, 16 * i:16 * (i + 1)], tmp_path / f"c{i}.png"))) for i in range(3)]
    return {
        "blank canvas": ((HAND, _canvas(blank), []), "The canvas is blank"),
        "nothing drawn": ((HAND, _canvas(None), []), "The canvas is blank"),
        "3 drawings, 4 syllables": ((HAND, _canvas(None), cells), "3 drawings for 4 syllables"),
        "3 syllables drawn, 4 typed": ((HAND, _canvas(row3), []), "found 3 separate syllables of ink where 4"),
        "a syllable the run cannot write": (("가나", _canvas(row3), []),
                                            "나 is not among the 4 classes of 'fixed'; the 'hangul' run writes any"),
        "empty text": (("  ", _canvas(row3), []), "The text is empty"),
        "unreadable picture": ((HAND, _canvas(None), [handle_file(str(garbage))]), "not a readable picture"),
        "huge picture": ((HAND, _canvas(None), [handle_file(str(huge))]), "pictures up to 4096x4096"),
        "drawing and uploads": ((HAND, _canvas(row3), cells), "Both a drawing and uploaded pictures"),
    }


def test_hand_bad_inputs_get_a_clear_message_and_the_app_keeps_serving(client, app, studio, tmp_path):
    from gradio_client.exceptions import AppError
    for case, (args, expected) in _hand_bad(tmp_path, studio).items():
        with pytest.raises(AppError) as err:
            call(client, *args, "fixed", 2, api_name="/imitate")
        msg = str(err.value)
        assert expected in msg, (case, msg)
        assert "Traceback" not in msg and "File \"" not in msg and "/tmp" not in msg, (case, msg)
    for code, expected in (("rkw1.AAAA", "damaged"), ("hello", "Not a writer code"), ("/etc/passwd", "Not a writer code"),
                           ("rkw1." + "A" * 30_000, "characters")):
        with pytest.raises(AppError) as err:
            call(client, "가", 1, 0.8, "fixed", 2, 0.0, code, api_name="/write")
        assert expected in str(err.value), (code, str(err.value))
    image, _ = call(client, "가각", 1, 0.8, "fixed", 2, *PLAIN, api_name="/write")   # and the next request works
    assert png(image).shape == (64, 128)
    assert app.alive() and "Traceback" not in app.output()
