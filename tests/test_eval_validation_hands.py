"""The second validation set (scripts/fetch_eval_faces.py --validation-hands) and eval_writer's options
for screening fit settings on it (--val-faces DIR,DIR, --val-sample, --fit-set)."""
import hashlib
import io
import json
import tarfile

import pytest
from fontTools.ttLib import TTFont
from script_util import load_script
from test_webfonts import _subset


def _fetch():
    return load_script("fetch_eval_faces", as_name="fetch_eval_faces_hands")


def _eval_writer():
    return load_script("eval_writer", as_name="eval_writer_hands")


def _fake_npm(monkeypatch, files: dict[str, bytes], meta: dict):
    """subprocess.run for `npm pack SPEC --pack-destination DIR`: writes a package tarball of `files`."""
    import subprocess

    def run(cmd, **kw):
        assert cmd[:2] == ["npm", "pack"]
        dest = cmd[cmd.index("--pack-destination") + 1]
        with tarfile.open(f"{dest}/pkg-0.1.0.tgz", "w:gz") as tf:
            for name, data in {**files, "package/package.json": json.dumps(meta).encode()}.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)


def test_a_woff_in_a_package_becomes_a_plain_truetype_face(tmp_path, monkeypatch):
    woff = tmp_path / "src.woff"
    _subset(woff, {"가": 200, "나": 400, "A": 300})
    _fake_npm(monkeypatch, {"package/fonts/x-normal.woff": woff.read_bytes()}, {"name": "@x/x", "license": "MIT"})
    dest = tmp_path / "out"
    dest.mkdir()
    m = _fetch().fetch_file_package("@x/x", "0.1.0", "package/fonts/x-normal.woff", "x", dest)
    font = TTFont(str(dest / "x.ttf"))
    assert font.flavor is None and (dest / "x.ttf").read_bytes()[:4] == b"\x00\x01\x00\x00"
    assert m["syllables"] == 2 and m["licence"] == "MIT" and m["file"] == "x.ttf"
    assert m["sha256"] == hashlib.sha256((dest / "x.ttf").read_bytes()).hexdigest()
    # a package without the named file is refused, and nothing is written
    with pytest.raises(RuntimeError, match="has no package/fonts/y.woff"):
        _fetch().fetch_file_package("@x/x", "0.1.0", "package/fonts/y.woff", "y", dest)
    assert not (dest / "y.ttf").exists()


def test_a_test_face_is_refused_and_a_fetched_face_is_not_fetched_again(tmp_path, monkeypatch):
    fe = _fetch()
    test_dir, dest = tmp_path / "test", tmp_path / "hands"
    test_dir.mkdir()
    (test_dir / "faces.json").write_text(json.dumps([{"file": "t.ttf", "sha256": "same"}]))
    calls = []

    def fake(spec, version, member, stem, d):
        calls.append(stem)
        (d / f"{stem}.ttf").write_bytes(b"x")
        return {"package": spec, "version": version, "file": f"{stem}.ttf", "syllables": 1, "licence": "MIT",
                "sha256": "same" if stem == "clone" else stem}

    monkeypatch.setattr(fe, "fetch_file_package", fake)
    monkeypatch.setattr(fe, "VALIDATION_HANDS", [("@a/a", "1", "f", "a"), ("@b/b", "1", "f", "clone")])
    with pytest.raises(RuntimeError, match="byte for byte a test face"):
        fe.fetch_validation_hands(dest, test_dir=test_dir, log=lambda m: None)
    assert not (dest / "clone.ttf").exists()
    assert [m["file"] for m in json.loads((dest / "faces.json").read_text())] == ["a.ttf"]
    monkeypatch.setattr(fe, "VALIDATION_HANDS", [("@a/a", "1", "f", "a")])
    assert [m["file"] for m in fe.fetch_validation_hands(dest, test_dir=test_dir, log=lambda m: None)] == ["a.ttf"]
    assert calls == ["a", "clone"]                       # a was not fetched again
    with pytest.raises(RuntimeError, match="test faces' folder"):
        fe.fetch_validation_hands(test_dir, test_dir=test_dir, log=lambda m: None)


@pytest.mark.parametrize("args, message", [
    (["--fit-set", "nonsense"], "expected a new NAME:KEY=VALUE"),
    (["--fit-set", "a:steps_adapter=10", "--fit-set", "a:style=1"], "expected a new NAME"),
    (["--fit-set", "a:no_such_field=1"], "--fit-set a"),
    (["--fit-set", "a:adapter=sideways"], "adapter must be one of"),
    (["--fit-set", "a:style=1", "--photos"], "the photo table fits the defaults only"),
    (["--val-sample", "4"], "give --val-faces"),
])
def test_screening_options_are_checked_before_anything_runs(args, message, capsys):
    with pytest.raises(SystemExit):
        _eval_writer().main(args + ["--checkpoint", "checkpoints/fixed-hand/epoch_186.safetensors",
                                    "--out", "/tmp/never.md"])
    assert message in capsys.readouterr().err


def test_a_missing_validation_folder_is_named_not_skipped(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _eval_writer().main(["--val-faces", f"{tmp_path},{tmp_path / 'nowhere'}", "--out", str(tmp_path / "x.md")])
    err = capsys.readouterr().err
    assert "no folder" in err and "nowhere" in err
