"""python -m rekogan space: what is staged, the checks, the upload call (a fake HfApi), and the staged
Space booting in a fresh virtual environment the way a Space runs it.

The boot test (test_staged_space_boots_in_a_fresh_venv) stands in for the Space's builder, offline:

  1. `python -m rekogan space --dry-run --out STAGE`, then STAGE is copied to a fresh HOME/app and
     STAGE is deleted (nothing can point back into it);
  2. a fresh venv from the base interpreter (`python -m venv --without-pip`, no system site-packages),
     into which requirements.txt is installed from the distributions already installed here: the
     requirements are resolved with `packaging` (markers, extras, every == pin checked), and every
     file each distribution's RECORD lists is hard-linked into the new site-packages (a symlink
     where hard links are impossible), so exactly the files pip would unpack from the same wheels are
     there, and nothing else (no pytest, no playwright, no dev tools, no repository on sys.path);
     then pip itself checks the result offline: `pip --python VENV install --no-index -r
     requirements.txt` must find every requirement satisfied (it fails if the resolution above
     missed anything, since no index is allowed) and `pip check` must find no broken requirement;
  3. `python app.py` in HOME/app with the environment a Space sets (SYSTEM=spaces, SPACE_ID,
     GRADIO_SERVER_NAME=0.0.0.0, GRADIO_SERVER_PORT and PORT), a temporary HOME and TMPDIR,
     REKOGAN_FONTS="" (no Korean font) and nothing inherited from this process's environment;
  4. through gradio_client: /write on fixed (twice), /write on hangul (a syllable outside KS X 1001
     too), /imitate on hangul (a canvas drawing of two syllables the Space itself wrote, fitted with
     the staged component reader) and /font on hangul with the fitted writer code (three typed
     syllables); then every file the app's process opened or listed (Python audit
     hooks: open, os.listdir, os.scandir, ctypes.dlopen; the hook is a .pth file in the test venv) must
     lie in the app folder, the venv, the temporary HOME/TMPDIR, the base interpreter's standard
     library or the system (/etc, /proc, /sys, /dev, /usr/lib...): never the repository, ../shared,
     the real home folder, the base interpreter's site-packages or a font folder; the only font files
     opened outside the venv are the ones the app built (under TMPDIR).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, python_env
from rekogan import cli
from rekogan.commands import space
from rekogan.commands.common import UsageError

BOOT_TIMEOUT = float(os.environ.get("REKOGAN_TEST_TIMEOUT", 900))


def staged_names(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


# ---- what is staged -------------------------------------------------------------------------------

def test_plan_holds_what_the_space_needs_and_nothing_else():
    files = space.plan(REPO)
    assert files[:4] == ["app.py", "requirements.txt", "packages.txt", "README.md"]
    assert "rekogan/studio/facade.py" in files and "rekogan/seri95_classes.tsv" in files
    assert "rekogan/commands/space.py" in files
    assert "checkpoints/fixed/epoch_186.safetensors" in files and "checkpoints/collapsed/epoch_037.safetensors" in files
    assert "checkpoints/fixed/evaluation.jsonl" in files and "checkpoints/fixed/metrics.jsonl" in files  # Diagnostics
    assert "checkpoints/classifier/classifier.safetensors" in files
    # the flagship: the hangul run with its split (the held-out sheet) and records, and the component
    # reader the My hand tab fits with
    assert {"checkpoints/hangul/epoch_068.safetensors", "checkpoints/hangul/split.json",
            "checkpoints/hangul/evaluation.jsonl", "checkpoints/reader/reader.safetensors"} <= set(files)
    # the glyph upscaler every 128 / 256 px view goes through (rekogan.studio.crisp), with its licences
    assert {"checkpoints/upscaler/upscaler.safetensors", "checkpoints/upscaler/provenance.json"} <= set(files)
    # My hand's run: the fine-tuned generator with the style encoder its fits start from
    assert {"checkpoints/hangul-hand/epoch_068.safetensors", "checkpoints/hangul-hand/encoder.safetensors"} <= set(files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.split("/")[0] in ("tests", "scripts", "runs", "data", ".venv", "train.py")]
    assert not [f for f in files if Path(f).name.startswith("state_")]
    docs = [f for f in files if f.startswith("docs/")]
    assert all(f.endswith(space.IMAGE_SUFFIXES) for f in docs), docs   # only pictures the README shows
    assert len(files) == len(set(files))


def test_runs_option_picks_runs_and_keeps_the_classifier():
    files = space.plan(REPO, ["fixed"])
    assert "checkpoints/fixed/epoch_200.safetensors" in files
    assert not [f for f in files if f.startswith(("checkpoints/collapsed/", "checkpoints/hangul/"))]
    assert "checkpoints/classifier/classifier.safetensors" in files
    assert "checkpoints/reader/reader.safetensors" in files           # a support folder: always staged
    assert "checkpoints/upscaler/upscaler.safetensors" in files
    with pytest.raises(UsageError, match="no run nope"):
        space.plan(REPO, ["fixed", "nope"])
    with pytest.raises(UsageError, match="no run classifier"):     # a support folder is not a run
        space.plan(REPO, ["classifier"])
    with pytest.raises(UsageError, match="no run upscaler"):
        space.plan(REPO, ["upscaler"])


def test_front_matter_and_pins():
    meta = space.front_matter((REPO / "README.md").read_text(encoding="utf-8"))
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == space.pinned((REPO / "requirements.txt").read_text(), "gradio")
    assert space.pinned("gradio_client==2.7.2\ngradio == 6.1.0 ; python_version>'3'\n", "gradio") == "6.1.0"
    assert space.pinned("gradio>=6\n", "gradio") is None
    with pytest.raises(UsageError, match="no front matter"):
        space.front_matter("# title\n")
    assert space.readme_images("![x](docs/nope.png) [y](https://a/b.png) [z](README.md)", REPO) == []


def _config_tree(tmp_path, *, sdk_version="6.31.0", pin="gradio==6.31.0", sdk="gradio"):
    out = tmp_path / "stage"
    out.mkdir(parents=True)
    (out / "README.md").write_text(f"---\ntitle: t\nsdk: {sdk}\nsdk_version: {sdk_version}\napp_file: app.py\n---\n# t\n")
    (out / "requirements.txt").write_text(f"torch==2.14.1\n{pin}\n")
    (out / "app.py").write_text("")
    return out


def test_config_check_refuses_a_mismatch(tmp_path):
    assert space.check_config(_config_tree(tmp_path))["sdk_version"] == "6.31.0"
    with pytest.raises(UsageError, match=r"sdk_version '6\.30\.0' differs from gradio==6\.31\.0"):
        space.check_config(_config_tree(tmp_path / "a", sdk_version="6.30.0"))
    with pytest.raises(UsageError, match="does not pin gradio"):
        space.check_config(_config_tree(tmp_path / "b", pin="gradio>=6"))
    with pytest.raises(UsageError, match="sdk is 'docker'"):
        space.check_config(_config_tree(tmp_path / "c", sdk="docker"))


def test_weight_check_names_a_broken_file(tmp_path):
    out = tmp_path / "stage"
    (out / "checkpoints" / "fixed").mkdir(parents=True)
    shutil.copy(REPO / "checkpoints/fixed/epoch_001.safetensors", out / "checkpoints/fixed/epoch_001.safetensors")
    assert space.check_weights(out) == ["checkpoints/fixed/epoch_001.safetensors: generator, epoch 1, 520 classes"]
    data = (REPO / "checkpoints/fixed/epoch_023.safetensors").read_bytes()
    (out / "checkpoints/fixed/epoch_023.safetensors").write_bytes(data[: len(data) // 2])   # truncated
    with pytest.raises(UsageError, match="epoch_023.safetensors does not load"):
        space.check_weights(out)
    (out / "checkpoints/fixed/epoch_023.safetensors").unlink()
    (out / "checkpoints" / "upscaler").mkdir()
    shutil.copy(REPO / "checkpoints/upscaler/upscaler.safetensors", out / "checkpoints/upscaler/upscaler.safetensors")
    assert [ln for ln in space.check_weights(out) if "upscaler" in ln][0].startswith(
        "checkpoints/upscaler/upscaler.safetensors: glyph upscaler, epoch ")
    shutil.copy(REPO / "checkpoints/fixed/epoch_001.safetensors", out / "checkpoints/upscaler/upscaler.safetensors")
    with pytest.raises(UsageError, match="upscaler.safetensors does not load: .*not a ReKOGAN upscaler"):
        space.check_weights(out)                        # a generator file in the upscaler's place


def test_weight_check_loads_a_hand_runs_encoder_against_its_generator(tmp_path):
    hand = tmp_path / "stage" / "checkpoints" / "hangul-hand"
    hand.mkdir(parents=True)
    for name in ("epoch_068.safetensors", "encoder.safetensors"):
        shutil.copy(REPO / "checkpoints/hangul-hand" / name, hand / name)
    assert space.check_weights(tmp_path / "stage")[0] == "checkpoints/hangul-hand/encoder.safetensors: style encoder of run hangul-hand"
    shutil.copy(REPO / "checkpoints/fixed/epoch_001.safetensors", hand / "epoch_068.safetensors")
    with pytest.raises(UsageError, match="encoder.safetensors does not load"):
        space.check_weights(tmp_path / "stage")         # the encoder does not fit a 520-class generator


def test_staging_folder_rules(tmp_path):
    with pytest.raises(UsageError, match="inside the repository"):
        space.prepare_out(REPO / "space-out", REPO)
    with pytest.raises(UsageError, match="inside the repository"):
        space.prepare_out(REPO, REPO)
    assert not (REPO / "space-out").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not empty and is not an earlier staging"):
        space.prepare_out(busy, REPO)
    assert (busy / "mine.txt").read_text() == "keep me"
    earlier = space.prepare_out(tmp_path / "earlier", REPO)
    (earlier / "stale").mkdir()
    (earlier / "stale" / "old.txt").write_text("from an earlier staging")
    again = space.prepare_out(earlier, REPO)
    assert again == earlier.resolve() and sorted(p.name for p in again.iterdir()) == [space.MARKER]


# ---- the command: upload through a fake HfApi, and the missing token -------------------------------

class FakeApi:
    def __init__(self, token):
        self.token, self.calls = token, []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))
        return f"https://huggingface.co/spaces/{repo_id}"

    def upload_folder(self, **kw):
        folder = Path(kw["folder_path"])
        self.calls.append(("upload_folder", kw, staged_names(folder)))

        class Info:
            commit_url = f"https://huggingface.co/spaces/{kw['repo_id']}/commit/abc"
        return Info()


def test_upload_calls_the_hub_with_the_staged_folder(monkeypatch, capsys):
    apis = []
    monkeypatch.setattr(space, "find_token", lambda: "hf_fake")
    monkeypatch.setattr(space, "make_api", lambda token: apis.append(FakeApi(token)) or apis[-1])
    assert cli.main(["space", "--repo", "alice/rekogan", "--private", "--runs", "fixed"]) == 0
    (api,) = apis
    assert api.token == "hf_fake"
    (c_name, c_repo, c_kw), (u_name, u_kw, names) = api.calls
    assert (c_name, c_repo) == ("create_repo", "alice/rekogan")
    assert c_kw == {"repo_type": "space", "space_sdk": "gradio", "private": True, "exist_ok": True}
    assert u_name == "upload_folder"
    assert u_kw["repo_id"] == "alice/rekogan" and u_kw["repo_type"] == "space"
    assert u_kw["ignore_patterns"] == [space.MARKER] and u_kw["delete_patterns"] == ["*"]
    assert names - {space.MARKER} == set(space.plan(REPO, ["fixed"]))
    assert not Path(u_kw["folder_path"]).exists()       # the temporary staging is removed after the upload
    out = capsys.readouterr().out
    assert "loads: checkpoints/fixed/epoch_186.safetensors: generator, epoch 186" in out
    assert "total: " in out and "MB" in out and "uploaded to https://huggingface.co/spaces/alice/rekogan" in out


def test_without_a_token_one_line_says_how_to_log_in(tmp_path):
    env = python_env(HF_HOME=str(tmp_path / "hf"), HOME=str(tmp_path))
    env.pop("HF_TOKEN", None)
    env.pop("HF_TOKEN_PATH", None)
    proc = subprocess.run([sys.executable, "-m", "rekogan", "space", "--repo", "alice/rekogan", "--out",
                           str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: not logged in"), proc.stderr
    assert "hf auth login" in lines[0] and "huggingface-cli login" in lines[0] and "HF_TOKEN" in lines[0]
    assert not (tmp_path / "out").exists()                 # nothing staged, nothing sent


def test_bad_repo_name_is_one_line(capsys):
    assert cli.main(["space", "--repo", "rekogan", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --repo 'rekogan': expected USER/NAME (e.g. alice/rekogan)"]


# ---- the staged Space boots as a Space runs it ---------------------------------------------------

AUDIT_MODULE = '''\
import os, sys
_log = os.environ.get("SPACE_AUDIT_LOG")
if _log:
    _fd = os.open(_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _seen = set()
    def _hook(event, args, _seen=_seen, _fd=_fd):
        if event in ("open", "os.listdir", "os.scandir", "ctypes.dlopen") and args:
            path = args[0]
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if isinstance(path, str) and path and path not in _seen:
                _seen.add(path)
                os.write(_fd, (event + "\\t" + os.path.abspath(path) + "\\n").encode("utf-8", "surrogateescape"))
    sys.addaudithook(_hook)
'''


def requirement_closure(requirements: Path) -> dict:
    """name -> installed Distribution for requirements.txt and everything it requires (markers and
    extras evaluated for this interpreter); fails like an offline pip would on a missing or
    wrongly pinned package."""
    from importlib import metadata
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    todo = [(Requirement(line.split("#")[0].strip()), frozenset({""}))
            for line in requirements.read_text().splitlines() if line.split("#")[0].strip()]
    found, done = {}, set()
    while todo:
        req, parent_extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in parent_extras):
            continue
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req} (from requirements.txt) is not installed here: an offline install would fail")
        assert req.specifier.contains(dist.version, prereleases=True), f"{req} but {dist.version} is installed"
        found[name] = dist
        if key in done:
            continue
        done.add(key)
        todo += [(Requirement(r), frozenset(req.extras) | {""}) for r in (dist.requires or [])]
    return found


def install_offline(venv: Path, dists: dict) -> dict:
    """Every file of each distribution's RECORD, hard-linked (else symlinked) into the venv."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    counts = {"files": 0, "symlinks": 0}
    for dist in dists.values():
        assert dist.files, f"{dist.metadata['Name']} has no RECORD: cannot install it file by file"
        for f in dist.files:
            if f.parts and f.parts[0] == "..":          # console scripts (../../../bin): app.py needs none
                continue
            src, dst = Path(dist.locate_file(f)), site / f
            if not src.is_file() or dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                os.symlink(src, dst)
                counts["symlinks"] += 1
            counts["files"] += 1
    (site / "_space_audit.py").write_text(AUDIT_MODULE)
    (site / "_space_audit.pth").write_text("import _space_audit\n")
    return counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def allowed(path: str, roots: list[Path], forbidden: list[Path]) -> bool:
    """Never under a forbidden folder (even a failed attempt); else under a root, or a path that does
    not exist (a library probing for optional folders, e.g. matplotlib's /usr/X11R6/lib/X11/fonts)."""
    p = Path(path)
    if any(p == f or f in p.parents for f in forbidden):
        return False
    return any(p == r or r in p.parents for r in roots) or not os.path.lexists(p)


FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")


def _gray(path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def _canvas_drawing(page: np.ndarray, n: int, path: Path, *, scale: int = 2, gap: int = 40) -> Path:
    """The first n cells of a written page (dark on white) as the Sketchpad sends a drawing: black ink
    on a transparent 800x240 canvas, one row, each cell scaled up, a clear gap between them."""
    from PIL import Image
    cell = page.shape[0]
    big = cell * scale
    alpha = np.zeros((240, 800), np.uint8)
    top = (240 - big) // 2
    for i in range(n):
        glyph = Image.fromarray(255 - page[:, cell * i:cell * (i + 1)]).resize((big, big), Image.BILINEAR)
        x0 = gap + i * (big + gap)
        alpha[top:top + big, x0:x0 + big] = np.asarray(glyph)
    rgba = np.zeros((240, 800, 4), np.uint8)
    rgba[..., 3] = alpha
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def without_fonts(command: list[str], empty: Path) -> tuple[list[str], bool]:
    """`command` in a private mount namespace whose font folders are empty (a machine without any
    font), where `unshare --mount` is allowed (root, or a user namespace); else unchanged."""
    empty.mkdir(exist_ok=True)
    script = ('for d in ' + " ".join(FONT_DIRS) + '; do if [ -d "$d" ]; then mount --bind "$EMPTY" "$d" || exit 97; fi; done; '
              'exec "$@"')
    wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    if shutil.which("unshare"):
        probe = subprocess.run([*wrapped, "find", *(d for d in FONT_DIRS if Path(d).is_dir()), "-mindepth", "1"],
                               env={"PATH": "/usr/bin:/bin", "EMPTY": str(empty)}, capture_output=True, text=True, timeout=30)
        if probe.returncode == 0 and not probe.stdout.strip():
            return [*wrapped, *command], True
    return command, False


@pytest.mark.slow      # 80-100 s on the shared 2-core VM (a fresh venv of 34 k files, pip check, the app's start), + ~10-20 s for hangul, /imitate and /font
def test_staged_space_boots_in_a_fresh_venv(tmp_path, capsys):
    figures = {}
    t0 = time.perf_counter()
    stage = tmp_path / "stage"
    assert cli.main(["space", "--repo", "test/rekogan", "--dry-run", "--out", str(stage)]) == 0
    listing = capsys.readouterr().out
    assert "dry run: nothing uploaded" in listing
    names = staged_names(stage) - {space.MARKER}
    listed = {m.group(1) for line in listing.splitlines() if (m := re.match(r"^ *[\d,]+  (\S.*)$", line))}
    assert names == listed and "app.py" in names     # the dry run lists exactly what it staged
    assert {"checkpoints/hangul/epoch_068.safetensors", "checkpoints/hangul/split.json",
            "checkpoints/reader/reader.safetensors", "checkpoints/classifier/classifier.safetensors"} <= names
    assert "loads: checkpoints/hangul/epoch_068.safetensors: generator, epoch 68, 11172 classes" in listing
    assert "loads: checkpoints/reader/reader.safetensors: JamoReader" in listing
    assert "checkpoints/upscaler/upscaler.safetensors" in names
    assert "loads: checkpoints/upscaler/upscaler.safetensors: glyph upscaler, epoch " in listing
    figures["staged_files"] = len(names)
    figures["staged_bytes"] = sum((stage / n).stat().st_size for n in names)
    assert f"total: {len(names)} files, {space.size_text(figures['staged_bytes'])}" in listing

    home, tmp = tmp_path / "home", tmp_path / "tmp"
    tmp.mkdir()
    app_dir = home / "app"                          # a Space runs from /home/user/app
    shutil.copytree(stage, app_dir)
    shutil.rmtree(stage)
    figures["stage_s"] = round(time.perf_counter() - t0, 1)

    t1 = time.perf_counter()
    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    vpy = venv / "bin" / "python"
    counts = install_offline(venv, requirement_closure(app_dir / "requirements.txt"))
    pip_env = {**python_env(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1"), "PYTHONPATH": ""}
    pip = [sys.executable, "-m", "pip", "--python", str(vpy), "--disable-pip-version-check", "--no-cache-dir"]
    inst = subprocess.run([*pip, "install", "--no-index", "-r", str(app_dir / "requirements.txt")],
                          capture_output=True, text=True, env=pip_env, timeout=600)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    assert "Requirement already satisfied: gradio==6.31.0" in inst.stdout, inst.stdout
    assert "Collecting" not in inst.stdout and "Installing" not in inst.stdout, inst.stdout
    chk = subprocess.run([*pip, "check"], capture_output=True, text=True, env=pip_env, timeout=300)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    probe = subprocess.run([str(vpy), "-c", "import sys; print(sys.path)"], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert str(REPO) not in probe.stdout and "site-packages" in probe.stdout, probe.stdout
    for absent in ("pytest", "playwright"):                 # dev tools are not in the Space's venv
        r = subprocess.run([str(vpy), "-c", f"import {absent}"], capture_output=True, env={"PATH": "/usr/bin:/bin"})
        assert r.returncode != 0, f"{absent} is importable in the Space venv"
    figures["venv_s"] = round(time.perf_counter() - t1, 1)
    figures["venv_files"] = counts["files"]

    port = free_port()
    audit = tmp_path / "audit.log"
    env = {"PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp),
           "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
           "SYSTEM": "spaces", "SPACE_ID": "test/rekogan", "SPACE_AUTHOR_NAME": "test", "SPACE_REPO_NAME": "rekogan",
           "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": str(port), "PORT": str(port),
           "REKOGAN_FONTS": "", "SPACE_AUDIT_LOG": str(audit), "EMPTY": str(tmp_path / "no-fonts")}
    command, figures["fonts_hidden"] = without_fonts([str(vpy), "app.py"], tmp_path / "no-fonts")
    log = open(tmp_path / "app.log", "w")
    t2 = time.perf_counter()
    print("space boot figures so far:", json.dumps(figures), file=sys.stderr)
    proc = subprocess.Popen(command, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            assert proc.poll() is None, (tmp_path / "app.log").read_text()[-4000:]
            assert time.perf_counter() - t2 < BOOT_TIMEOUT, "app.py did not answer"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
        figures["startup_s"] = round(time.perf_counter() - t2, 1)
        print("space boot figures so far:", json.dumps(figures), file=sys.stderr)

        from gradio_client import Client, handle_file
        client = Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "downloads"))
        t3 = time.perf_counter()
        image, notice = client.submit("한글 손글씨", 7, 0.8, "fixed", None, api_name="/write").result(timeout=BOOT_TIMEOUT)
        figures["first_write_s"] = round(time.perf_counter() - t3, 2)
        t4 = time.perf_counter()
        client.submit("가나다라마바사", 8, 0.8, "fixed", None, api_name="/write").result(timeout=BOOT_TIMEOUT)
        figures["second_write_s"] = round(time.perf_counter() - t4, 2)
        # the flagship: the hangul run writes any syllable (뷁 is outside KS X 1001) ...
        t5 = time.perf_counter()
        h_image, h_notice = client.submit("가나 뷁", 3, 0.8, "hangul", "best", 0.0, "", 64, 0,   # 64 px fixed cells
                                          api_name="/write").result(timeout=BOOT_TIMEOUT)
        figures["hangul_write_s"] = round(time.perf_counter() - t5, 2)
        # ... My hand fits a writer to a drawing of two of its syllables (drawn here from that page) ...
        drawing = _canvas_drawing(_gray(h_image), 2, tmp_path / "drawing.png")
        t6 = time.perf_counter()
        pair, code, writer_file, hand_note = client.submit(
            "가 나", {"background": None, "layers": [], "composite": handle_file(str(drawing))}, [], "hangul", "best",
            api_name="/imitate").result(timeout=BOOT_TIMEOUT)
        figures["imitate_s"] = round(time.perf_counter() - t6, 2)
        # ... and the Font tab builds that writer as a font of three typed syllables
        t7 = time.perf_counter()
        font_path, font_preview, font_note = client.submit(
            "hangul", "best", 1, 0.8, 0.0, "text", "가나 뷁", "가나", code, api_name="/font").result(timeout=BOOT_TIMEOUT)
        figures["font_s"] = round(time.perf_counter() - t7, 2)
        # ... and a walk at 256 px per glyph goes through the staged glyph upscaler
        t8 = time.perf_counter()
        _, walk_strip, _ = client.submit("가나", 1, 2, 2, 0.8, "fixed", "best", 0.0, 256, 0,
                                         api_name="/walk").result(timeout=BOOT_TIMEOUT)
        figures["walk_256_s"] = round(time.perf_counter() - t8, 2)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
    from PIL import Image
    with Image.open(image) as im:
        page = np.asarray(im.convert("L"))
    assert page.shape[0] >= 32 and page.shape[1] >= 5 * 32 and (page < 128).mean() > 0.01, page.shape
    assert "fixed" in notice and "epoch 186" in notice, notice     # the best shipped epoch, from the staged records
    h_page = _gray(h_image)
    cell = h_page.shape[0]
    assert cell == 64 and h_page.shape[1] == 3 * cell + cell // 2, h_page.shape    # 가 나, a half-cell space, 뷁
    for i in (0, 1, 2):                                # every syllable drawn, 뷁 (outside KS X 1001) too
        x0 = i * cell + (cell // 2 if i == 2 else 0)
        assert (h_page[:, x0:x0 + cell] < 128).mean() > 0.02, f"cell {i} of the hangul page is blank"
    assert "hangul" in h_notice and "epoch 68" in h_notice and "Not among" not in h_notice, h_notice
    assert code.startswith("rkw1.") and "2 syllables (가나)" in hand_note and "hangul" in hand_note, hand_note
    from rekogan.conventions import DEFAULT_GLYPH_SIZE as px                  # the pair view's default size
    assert _gray(pair).shape == (2 + 2 * (px + 2), 2 + 2 * (px + 2))          # yours over the fitted, 2 columns
    from rekogan.writer.value import load_writer_bytes           # My hand's download: writer.safetensors
    assert Path(writer_file).name.endswith(".safetensors") and load_writer_bytes(Path(writer_file).read_bytes()).code == code
    from fontTools.ttLib import TTFont
    from fontcheck import check_font
    check_font(font_path, text="가나 뷁")          # OTS accepts it, HarfBuzz maps each syllable to its glyph
    font = TTFont(font_path)
    assert {ord(c) for c in "가나뷁"} <= set(font.getBestCmap()), sorted(font.getBestCmap())[:10]
    assert "3 syllables" in font_note and "Writer code" in font_note, font_note
    assert "@font-face" in font_preview and font["name"].getDebugName(1) in font_note

    opened = [line.split("\t", 1) for line in audit.read_text(encoding="utf-8", errors="replace").splitlines()]
    paths = {p for _, p in opened}
    # the positive control: the hook saw the app read its runs from the staged copy
    assert str(app_dir / "checkpoints" / "fixed" / "evaluation.jsonl") in paths, sorted(paths)[:50]
    assert _gray(walk_strip).shape == (2 * 256 + 4, 2 * 256)
    for used in ("hangul/epoch_068.safetensors", "hangul/evaluation.jsonl", "reader/reader.safetensors",
                 "upscaler/upscaler.safetensors"):
        assert str(app_dir / "checkpoints" / used) in paths, f"the app did not read the staged {used}"
    assert any(p.startswith(str(venv)) and "/gradio/" in p for p in paths)
    base = Path(sys.base_prefix).resolve()
    roots = [app_dir, venv, home, tmp, base, Path("/etc"), Path("/proc"), Path("/sys"), Path("/dev"),
             Path("/usr/lib"), Path("/lib"), Path("/lib64"), Path("/usr/lib64"), Path("/usr/share/zoneinfo"),
             Path("/usr/share/mime")]
    forbidden = [REPO, REPO.parent / "shared", Path(os.environ.get("REKOGAN_CACHE", "/nonexistent")),
                 *base.glob("lib/python3*/site-packages")]
    if figures["fonts_hidden"]:      # the font folders are empty for the app: it cannot have opened a font there
        forbidden += [Path(d) for d in FONT_DIRS]
    else:                            # no mount namespace here: matplotlib's font scan may list them
        roots += [Path(d) for d in FONT_DIRS]
    outside = sorted(p for p in paths if not allowed(p, roots, forbidden)
                     and p not in FONT_DIRS)    # matplotlib lists the (empty) system font folders themselves
    assert not outside, f"the staged app reached outside its folder: {outside[:30]}"
    # font files: matplotlib's own (in the venv) and the fonts the app built (under TMPDIR), nothing else
    assert not [p for p in paths if p.lower().endswith((".ttf", ".otf", ".ttc"))
                and not p.startswith((str(venv) + os.sep, str(tmp) + os.sep))]
    figures["total_s"] = round(time.perf_counter() - t0, 1)
    print("space boot figures:", json.dumps(figures))
    out = os.environ.get("REKOGAN_SPACE_FIGURES")
    if out:
        Path(out).write_text(json.dumps(figures, indent=1))
