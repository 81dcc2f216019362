"""Property-based fuzzing (Hypothesis) of everything a user or a file can hand ReKOGAN.

  text                any Unicode up to the limit (and just over it)
  seed, psi, steps    any JSON value: NaN, inf, huge, negative, strings, bools, lists, objects
  run and epoch names traversal, absolute paths, NUL, odd Unicode
  data files          random bytes, truncated HGU1 records, zero-size and 255x255 records, broken and huge images
  checkpoints         random bytes, valid safetensors with wrong shapes or dtypes, a header longer than the file

The property everywhere: a clear error of the documented kind (StudioError, ValueError/
FileNotFoundError from a data source, CheckpointError), never another exception, never a crash of the
server, and nothing written outside the intended folder. The default profile keeps each test to a few
seconds; the `slow` tests (texts at the limit, the server) run with `-m slow` or always (they are not
skipped), and REKOGAN_FUZZ_PROFILE=thorough (`--hypothesis-profile` is also accepted) runs many more examples.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("REKOGAN_FUZZ_PROFILE", "default"))

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(["nan", "inf", "-inf", "1e400", "0x10", " 7 ", "1_000", "٣", "42.0", "-0", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
NAMES = (st.sampled_from(["..", "../..", "../fixed", "fixed/../fixed", "/etc/passwd", "/", "~", "~/x", "fixed\x00",
                          "\x00", "fixed/", "./fixed", "fixed/epoch_001.safetensors", "C:\\Windows", "%2e%2e",
                          "fixed\n", " fixed ", "ＦＩＸＥＤ", "epoch_1/../../x", "*", "."])
         | st.text(max_size=30))


def tree(root: Path) -> dict[str, int]:
    """Every file under root with its size: what may not change outside the intended folder."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory, tiny_run):
    """A checkpoints root with run 'fixed' (the tiny run's two epochs) inside a parent folder whose
    other content must never change."""
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "checkpoints"
    (root / "fixed").mkdir(parents=True)
    for p in tiny_run.glob("epoch_*.safetensors"):
        shutil.copy2(p, root / "fixed" / p.name)
    (base / "outside.txt").write_text("do not touch")
    return base, root


@pytest.fixture(scope="module")
def studio(fuzz_root):
    from rekogan.studio import Studio
    base, root = fuzz_root
    return Studio(root=root, cache_size=2, tmp_dir=base / "studio-tmp")


# ---- the studio's inputs --------------------------------------------------------------------------

@given(text=st.text(max_size=300))
def test_any_text_renders_or_is_refused_clearly(studio, text):
    from rekogan.studio import StudioError
    try:
        page = studio.write(text=text, seed=1, truncation=0.8, run="fixed", epoch=2)
    except StudioError as e:
        assert str(e) and "Traceback" not in str(e)
        return
    assert page.image.dtype == np.uint8 and page.image.ndim == 2 and page.image.size > 0


@pytest.mark.slow
@given(n=st.integers(min_value=9_990, max_value=10_010), ch=st.characters(), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=6)
def test_texts_at_the_limit(studio, n, ch, seed):
    from rekogan.hangul import MAX_TEXT
    from rekogan.studio import StudioError
    text = ("가" + ch) * (n // 2) + "가" * (n % 2)
    try:
        page = studio.write(text=text, seed=seed, truncation=0.8, run="fixed", epoch=2)
    except StudioError as e:
        assert len(text) > MAX_TEXT or "control" in str(e) or "empty" in str(e), str(e)
        return
    assert len(text) <= MAX_TEXT and page.image.ndim == 2


@given(seed=JSON, psi=JSON)
def test_any_json_seed_and_psi(studio, seed, psi):
    from rekogan.conventions import MAX_SEED
    from rekogan.studio import StudioError
    from rekogan.studio.inputs import check_seed, check_truncation
    for check, value in ((check_seed, seed), (check_truncation, psi)):
        try:
            out = check(value)
        except StudioError as e:
            assert str(e)
        else:
            if check is check_seed:
                assert type(out) is int and 0 <= out <= MAX_SEED
            else:
                assert type(out) is float and math.isfinite(out) and 0.0 <= out <= 1.0
    try:
        studio.write(text="가", seed=seed, truncation=psi, run="fixed", epoch=2)
    except StudioError:
        pass


@given(steps=JSON, epoch=JSON)
def test_any_json_steps_and_epoch(steps, epoch):
    from rekogan.studio import StudioError
    from rekogan.studio.inputs import check_steps, parse_epoch
    try:
        assert 2 <= check_steps(steps) <= 48
    except StudioError:
        pass
    try:
        e = parse_epoch(epoch)
        assert e in ("best", "last") or (type(e) is int and e >= 0)
    except StudioError:
        pass


@given(run=NAMES | JSON, epoch=NAMES | JSON)
def test_run_and_epoch_names_never_leave_the_root(studio, fuzz_root, run, epoch):
    from rekogan.studio import StudioError
    base, root = fuzz_root
    before = tree(base)
    try:
        info = studio.registry.epoch(run, epoch)
    except StudioError as e:
        assert str(e)
    else:
        assert info.path.resolve().parent == (root / "fixed").resolve(), info.path
    try:
        studio.write(text="가", seed=1, truncation=0.5, run=run, epoch=epoch)
    except StudioError:
        pass
    after = tree(base)
    assert {k: v for k, v in after.items() if not k.startswith("studio-tmp")} == \
        {k: v for k, v in before.items() if not k.startswith("studio-tmp")}


# ---- data files -----------------------------------------------------------------------------------

def record(code: bytes, w: int, h: int, pixels: bytes | None = None) -> bytes:
    return code + bytes([w, h]) + b"\0\0" + (pixels if pixels is not None else bytes(range(256)) * (w * h // 256)
                                             + bytes(w * h % 256))


@pytest.fixture(scope="module")
def tiny_classes():
    from rekogan.hangul import parse_classes
    return parse_classes("4")             # 가각간갈, as the tiny preset


def hgu1(path, classes, size=16):
    from rekogan.data.hgu1 import load_hgu1
    try:
        return load_hgu1(str(path), classes=classes, size=size), None
    except (ValueError, FileNotFoundError) as e:
        return None, str(e)


@given(data=st.binary(max_size=400), with_header=st.booleans())
def test_hgu1_random_bytes(tmp_path, tiny_classes, data, with_header):
    from rekogan.data.hgu1 import HEADER
    f = tmp_path / "x.hgu1"
    f.write_bytes((HEADER if with_header else b"") + data)
    before = tree(tmp_path)
    gs, err = hgu1(f, tiny_classes)
    assert gs is not None or (err and "x.hgu1" in err or "no usable image" in err), err
    assert tree(tmp_path) == before


@given(cut=st.integers(min_value=1, max_value=400), w=st.integers(1, 255), h=st.integers(1, 255))
def test_hgu1_truncated_records_name_the_offset(tmp_path, tiny_classes, cut, w, h):
    from rekogan.data.hgu1 import HEADER
    good = record(b"\xb0\xa1", 12, 10)
    claimed = record(b"\xb0\xa2", w, h)              # a record claiming w x h, cut short
    data = HEADER + good + claimed
    cut = min(cut, len(claimed) - 1)
    f = tmp_path / "cut.hgu1"
    f.write_bytes(data[:len(data) - cut])
    gs, err = hgu1(f, tiny_classes)
    assert gs is None and "truncated record" in err and f"offset {len(HEADER) + len(good)}" in err, err


def test_hgu1_record_claiming_255x255_and_zero_size(tmp_path, tiny_classes):
    from rekogan.data.hgu1 import HEADER
    f = tmp_path / "big.hgu1"
    f.write_bytes(HEADER + record(b"\xb0\xa1", 255, 255, pixels=b"\x80" * 1000))
    gs, err = hgu1(f, tiny_classes)
    assert gs is None and "truncated" in err and "255x255" in err, err
    f.write_bytes(HEADER + record(b"\xb0\xa1", 255, 255, pixels=np.random.default_rng(0).integers(
        0, 256, 255 * 255, dtype=np.uint8).tobytes()))
    gs, err = hgu1(f, tiny_classes)             # a whole 255x255 record is fine, normalised to 16x16
    assert err is None and tuple(gs.images.shape[1:]) == (16, 16), err
    f.write_bytes(HEADER + record(b"\xb0\xa1", 0, 7, pixels=b""))
    gs, err = hgu1(f, tiny_classes)
    assert gs is None and "zero-sized" in err, err


def _glyph_png() -> bytes:
    """A readable 24x24 PNG of a dark stroke on white: the folder loader's happy path."""
    import io
    from PIL import Image
    a = np.full((24, 24), 255, np.uint8)
    a[4:20, 10:14] = 0
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


@given(content=st.one_of(st.just(b""), st.binary(max_size=200), st.just(b"\x89PNG\r\n\x1a\n" + b"\0" * 20),
                         st.just(_glyph_png())))
def test_folder_images_broken_or_empty_are_skipped_or_refused(tmp_path, tiny_classes, content):
    import torch
    from rekogan.data.folder import load_folder
    d = tmp_path / "data"
    shutil.rmtree(d, ignore_errors=True)
    (d / "b0a1").mkdir(parents=True)
    (d / "b0a1" / "x.png").write_bytes(content)
    try:
        gs = load_folder(str(d), classes=tiny_classes, size=16)
    except ValueError as e:
        assert "no usable image" in str(e) and str(d) in str(e)
        assert content != _glyph_png(), "a readable glyph was refused"
        return
    # read: exactly the one picture, as 가 (b0a1), normalised to 16x16 white ink on black
    assert gs.images.shape == (1, 16, 16) and gs.images.dtype == torch.uint8 and gs.labels.tolist() == [0]
    assert int(gs.images.max()) > 128 and int(gs.images[0, 0, 0]) < 128, "white ink on black"
    assert gs.info["image_files"] == 1 and gs.info["unreadable_count"] == 0 and gs.info["skipped_blank"] == 0


def test_folder_huge_and_zero_size_images(tmp_path, tiny_classes):
    """A PNG whose header claims 100,000 x 100,000 pixels (a decompression bomb) and a zero-byte file
    are counted unreadable, never decoded into gigabytes."""
    import zlib

    from rekogan.data.folder import load_folder
    d = tmp_path / "data" / "가"
    d.mkdir(parents=True)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    (d / "bomb.png").write_bytes(bomb)
    (d / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no usable image") as e:
        load_folder(str(tmp_path / "data"), classes=tiny_classes, size=16)
    assert "2 unreadable" in str(e.value), str(e.value)


# ---- checkpoints ----------------------------------------------------------------------------------

def load_or_error(path):
    from rekogan.checkpoints import CheckpointError, load_generator
    try:
        return load_generator(path), None
    except CheckpointError as e:
        return None, str(e)


@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\x80\x02", b"PK\x03\x04", b"\x10\0\0\0\0\0\0\0{"]))
def test_checkpoint_random_bytes(tmp_path, data, prefix):
    from rekogan.studio.registry import probe
    f = tmp_path / "epoch_001.safetensors"
    f.write_bytes(prefix + data)
    out, err = load_or_error(f)
    assert out is None and str(f) in err, err
    assert probe(f), "the registry's header check must flag it too"


@given(extra=st.integers(min_value=1, max_value=2**63))
def test_checkpoint_header_length_larger_than_the_file(tmp_path, tiny_ckpt, extra):
    from rekogan.studio.registry import probe
    good = tiny_ckpt.read_bytes()
    (n,) = struct.unpack("<Q", good[:8])
    f = tmp_path / "epoch_001.safetensors"
    f.write_bytes(struct.pack("<Q", min(n + extra, 2**64 - 1)) + good[8:])
    out, err = load_or_error(f)
    assert out is None and ("corrupt or truncated" in err or "not a" in err), err
    assert probe(f)


@pytest.fixture(scope="module")
def tiny_tensors(tiny_ckpt):
    from safetensors import safe_open
    with safe_open(str(tiny_ckpt), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


@given(data=st.data())
def test_valid_safetensors_with_wrong_shapes_or_dtypes(tmp_path, tiny_tensors, data):
    import torch
    from safetensors.torch import save_file

    from rekogan.studio import Studio, StudioError
    tensors, meta = tiny_tensors
    key = data.draw(st.sampled_from(sorted(k for k, v in tensors.items() if v.numel() > 1)))
    how = data.draw(st.sampled_from(["shape", "dtype", "drop", "extra"]))
    bad = dict(tensors)
    if how == "shape":
        bad[key] = torch.zeros(tensors[key].numel() + data.draw(st.integers(1, 5)))
    elif how == "dtype":
        bad[key] = tensors[key].to(data.draw(st.sampled_from([torch.int8, torch.bool, torch.int64, torch.uint8])))
    elif how == "drop":
        del bad[key]
    else:
        bad["no.such.weight"] = torch.zeros(3)
    run = tmp_path / "root" / "bad"
    run.mkdir(parents=True, exist_ok=True)
    f = run / "epoch_001.safetensors"
    save_file(bad, str(f), metadata=meta)
    out, err = load_or_error(f)
    if how == "dtype" and out is not None:      # a lossless dtype change may still load: then it must draw
        return
    assert out is None and str(f) in err, (how, key, err)
    with pytest.raises(StudioError, match="Cannot use checkpoint bad/epoch_001.safetensors"):
        Studio(root=tmp_path / "root", tmp_dir=tmp_path / "st").write(text="가", seed=1, truncation=0.5,
                                                                        run="bad", epoch=1)


# ---- the server -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_run):
    from test_app import shared_app
    return shared_app(tmp_path_factory, tiny_run)


@pytest.fixture(scope="module")
def client(app):
    from test_app import CALL_TIMEOUT
    from gradio_client import Client
    return Client(app.url, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": CALL_TIMEOUT},
                  download_files=False)


@pytest.mark.slow
@given(text=st.text(max_size=40), seed=JSON, psi=JSON, run=NAMES, epoch=NAMES | JSON)
@settings(max_examples=25)
def test_the_server_answers_any_json_and_keeps_serving(app, client, text, seed, psi, run, epoch):
    from gradio_client.exceptions import AppError

    from test_app import CALL_TIMEOUT
    try:   # what gradio_client can send: it encodes strict JSON, so NaN/inf never leave the client
        json.dumps([text, seed, psi, run, epoch], allow_nan=False)   # (the studio's own checks of NaN/inf are
    except (TypeError, ValueError):                                  #  fuzzed in-process above)
        assume(False)
    before = app.log.read_text(errors="replace").count("Traceback")      # other tests share this server
    try:
        client.submit(text, seed, psi, run, epoch, api_name="/write").result(timeout=CALL_TIMEOUT)
    except AppError as e:
        assert "Traceback" not in str(e) and "Something went wrong" not in str(e), str(e)
    assert app.alive()
    assert app.log.read_text(errors="replace").count("Traceback") == before, app.output()
