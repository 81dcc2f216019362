"""The app end to end (a `python app.py` subprocess called through gradio_client) and rekogan.studio directly.

Runs for the app are copies of conftest's session `tiny_run` (4 classes 가각간갈, 16x16, 2 epochs)
under a tmp checkpoints root: collapsed, fixed (with evaluation.jsonl records in rekogan.evaluation's
format), broken (a good epoch 1, a corrupt epoch 98, a pickle renamed epoch_099.safetensors whose
unpickling would create a sentinel file) and classifier (not a generator run: must be skipped).
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

TEXT = "가각 간\n갈가A"            # the tiny classes, a space, a newline and one unknown character
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
        app = App(make_root(base, tiny_run), base / "app.log")
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


# ---- the app through gradio_client ---------------------------------------------------------------

def test_every_api_name_is_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/write", "/compare", "/evolution", "/sheet", "/diagnostics", "/walk"} <= names, names


def test_write_and_compare(client):
    image, notice = call(client, TEXT, 7, 0.8, "fixed", 2, api_name="/write")
    page = png(image)
    assert page.shape == (2 * 16, 56)                     # 2 lines; 가각 간 = 3.5 cells (a space is half a cell)
    assert "fixed" in notice and "epoch 2" in notice and "90.0% readable" in notice
    assert "`A`" in notice                                  # the unknown character is listed
    left, left_note, right, right_note = call(client, TEXT, 7, 0.8, "collapsed", None, "fixed", "best",
                                              api_name="/compare")
    assert "collapsed" in left_note and "fixed" in right_note
    assert np.array_equal(png(right), page)                 # same text, seed, psi and checkpoint: same pixels
    assert png(left).shape == page.shape


def test_compare_shows_the_good_panel_when_the_other_fails(client):
    left, left_note, right, right_note = call(client, "가각", 1, 0.5, "broken", 99, "fixed", 2, api_name="/compare")
    assert left is None and "pickle" in left_note
    assert png(right).shape == (16, 32)


def test_evolution_sheet_diagnostics_walk(client):
    a, a_note, b, b_note = call(client, "간", 3, 0.7, "collapsed", "fixed", api_name="/evolution")
    assert png(a).shape == png(b).shape and "2 epochs" in b_note
    sheet, note = call(client, "fixed", 1, 5, 1.0, api_name="/sheet")
    assert png(sheet).shape == (2 + 18, 2 + 4 * 18) and "epoch 1" in note     # 4 classes in one row, pad 2
    loss, quality, table, note = call(client, "fixed", 2, api_name="/diagnostics")
    assert png(loss).ndim == 2 and png(quality).ndim == 2
    assert table["data"][0][:2] == ["갈", "각"] and "5 of 8" in table["data"][0][2]
    assert "failing" in note
    gif, strip, note = call(client, "가각", 1, 2, 5, 0.8, "fixed", "last", api_name="/walk")
    from PIL import Image
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 8       # 5 frames there, 3 back
    assert png(strip).shape == (5 * 16 + 4 * 4, 32)


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
    image, _ = call(client, "가각", 1, 0.8, "fixed", 2, api_name="/write")  # and the next request works
    assert png(image).shape == (16, 32)
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
    image, _ = call(client, "갈", 2, 0.8, "broken", 1, api_name="/write")
    assert png(image).shape == (16, 16)


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
    p = studio.write(text="가A漢 !A각", seed=1, truncation=1.0, run="fixed", epoch=1)
    assert p.unknown == ("A", "漢", "!")
    assert "`A`" in p.notice and "`漢`" in p.notice and "4 syllables" in p.notice
    cell = p.image[:, 16:32]                               # the 'A' cell: grey print, not blank paper
    assert cell.min() < 255 and cell.min() > 0


@pytest.mark.parametrize("text, shape", [
    ("가 각", (16, 40)),                 # a space is half a cell
    ("가\n각간", (32, 32)),              # a newline starts a line
    ("가\n\n각", (48, 16)),              # an empty line keeps its height
    (" 가  ", (16, 16 + 3 * 8)),         # leading and trailing spaces are kept
    ("가\r\n각", (32, 16)),              # CRLF is one newline
])
def test_spaces_and_newlines_shape_the_page(studio, text, shape):
    assert studio.write(text=text, seed=1, truncation=0.8, run="fixed", epoch=2).image.shape == shape


def test_long_lines_wrap(studio):
    p = studio.write(text="가" * 70, seed=1, truncation=0.8, run="fixed", epoch=2, wrap=32)
    assert p.image.shape == (3 * 16, 32 * 16)


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
    assert studio.run_names() == ["collapsed", "fixed", "broken"]           # classifier/ is not a run
    assert studio.default_runs() == ("collapsed", "fixed")
    assert studio.epoch_choices(run="fixed") == [("epoch 1 · 60.0% readable", 1), ("epoch 2 · 90.0% readable", 2)]
    assert studio.default_epoch(run="collapsed") == 2 and studio.default_epoch(run="broken") == 99  # last, no eval
    conf = studio.confusions(run="fixed", epoch=1)
    assert conf.rows[0] == ("갈", "각", "5 of 8 draws") and "1 failing classes: 갈" in conf.note


def test_generator_cache_is_a_bounded_lru(studio):
    studio.cache.clear()
    for epoch in (1, 2, 1, 2):
        studio.generator(run="fixed", epoch=epoch)
    studio.generator(run="collapsed", epoch=1)
    assert len(studio.cache) == 2
    m = studio.generator(run="collapsed", epoch=1)
    assert m is studio.generator(run="collapsed", epoch=1)
