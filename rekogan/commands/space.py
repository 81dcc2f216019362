"""space: stage exactly what the Hugging Face Space needs, check it, and upload it with upload_folder.

    python -m rekogan space --repo USER/NAME [--private] [--dry-run] [--out DIR] [--runs fixed,collapsed]

A `git push` of this repository to a Space is rejected (its .safetensors and .png files are plain
git blobs, not Xet/LFS) and would carry tests, docs and run records the Space never reads.
`HfApi().upload_folder` stores binary files through Xet/LFS by itself, so this command stages a
folder and uploads that:

  app.py, requirements.txt, packages.txt (apt: fonts-nanum), README.md (its front matter is the
  Space config) and the local images the README shows; rekogan/ without __pycache__;
  checkpoints/README.md, the run folders (every run, or --runs) without resume states, and the
  non-run folders checkpoints/classifier, checkpoints/reader and checkpoints/upscaler (the glyph
  upscaler every 128 / 256 px view goes through) when present.

Checks before anything leaves the machine: the front matter says sdk: gradio, its app_file is
staged and its sdk_version equals the gradio pinned in requirements.txt; every staged .safetensors
loads with its own loader (generators: rekogan.checkpoints.load_generator; the classifier:
load_classifier; the component reader: load_reader; the upscaler: rekogan.upscale.load); the file
count and total size are printed.
--dry-run stops there (no network). The staging folder is never inside the repository, and an
existing non-empty --out is refused unless an earlier staging made it (the marker file below).
The upload mirrors the folder: files an earlier upload left on the Space and not staged now are
deleted (never .gitattributes).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ..conventions import EPOCH_RE
from .common import UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = ".rekogan-space-staging"          # written into every staging folder, never uploaded
TOP_FILES = ("app.py", "requirements.txt", "packages.txt", "README.md")
SUPPORT_FOLDERS = ("classifier", "reader", "upscaler")  # checkpoints/ folders that are not runs
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
LOGIN_HINT = ("not logged in to Hugging Face: run `hf auth login` (older huggingface_hub: "
              "`huggingface-cli login`) or set HF_TOKEN to a write token")


def add_parser(sub) -> None:
    p = sub.add_parser("space", help="stage the Hugging Face Space, check it and upload it (upload_folder)",
                       description=__doc__, formatter_class=_raw())
    p.add_argument("--repo", required=True, metavar="USER/NAME", help="the Space to create or update")
    p.add_argument("--private", action="store_true", help="create the Space private (an existing Space keeps its visibility)")
    p.add_argument("--dry-run", action="store_true", help="stage and check only: print the files and the size, no network")
    p.add_argument("--out", metavar="DIR", help="staging folder (default: a new temporary folder; "
                   "kept after --dry-run, removed after an upload)")
    p.add_argument("--runs", metavar="A,B", help="the runs to ship (default: every run under checkpoints/)")


def _raw():
    import argparse
    return argparse.RawDescriptionHelpFormatter


# ---- what the Space needs ------------------------------------------------------------------------

def front_matter(readme_text: str) -> dict:
    """The README's YAML front matter (the Space config), read as the Hub reads it: huggingface_hub's
    SpaceCard (a YAML parser: quoting, comments and nesting as YAML has them)."""
    import yaml                          # PyYAML: huggingface_hub's own dependency, SpaceCard's parser
    from huggingface_hub import SpaceCard
    from huggingface_hub.repocard import REGEX_YAML_BLOCK
    if not REGEX_YAML_BLOCK.search(readme_text):
        raise UsageError("README.md has no front matter (the Space config between two '---' lines at its top)")
    try:
        return SpaceCard(readme_text).data.to_dict()
    except (ValueError, yaml.YAMLError) as e:
        raise UsageError(f"README.md's front matter is not a YAML mapping: {' '.join(str(e).split())}") from None


def pinned(requirements_text: str, package: str, *, base: Path | None = None) -> str | None:
    """The version pinned with == for `package` in a requirements file (extras and environment
    markers allowed: `gradio[oauth]==6.31.0 ; python_version >= "3.10"`), or None. Each line is
    read by packaging's Requirement, as pip reads it: comments dropped, names compared the way
    PyPI compares them, other options (--index-url, -e ...) skipped. `-r FILE` includes are
    followed from `base` (the folder of the file) when it is given; one that is missing there is
    an error (pip would stop on it too)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    want = canonicalize_name(package)
    for line in _requirement_lines(requirements_text):
        include = _include(line)
        if include is not None:
            if base is None:
                continue
            path = Path(base) / include
            if not path.is_file():
                raise UsageError(f"requirements.txt includes {include} (-r), which is not in {base}")
            found = pinned(path.read_text(encoding="utf-8"), package, base=path.parent)
            if found is not None:
                return found
            continue
        if line.startswith("-"):
            continue                        # another pip option: not a requirement
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue                        # a URL or a local path: no name to compare
        if canonicalize_name(req.name) != want:
            continue
        exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if exact:
            return exact[0]
    return None


def _requirement_lines(text: str) -> list[str]:
    """The logical lines of a requirements file: continuations (a trailing backslash) joined,
    comments (# at the start or after a space, as pip has it) and blank lines dropped."""
    out, pending = [], ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = pending + raw
        pending = ""
        hash_at = next((i for i, ch in enumerate(line) if ch == "#" and (i == 0 or line[i - 1].isspace())), None)
        line = (line if hash_at is None else line[:hash_at]).strip()
        if line:
            out.append(line)
    return out


def _include(line: str) -> str | None:
    """The file a `-r FILE` / `--requirement FILE` / `--requirement=FILE` line includes, else None."""
    parts = line.split(maxsplit=1)
    if parts[0] in ("-r", "--requirement") and len(parts) == 2:
        return parts[1].strip()
    if parts[0].startswith("--requirement="):
        return parts[0].split("=", 1)[1]
    if parts[0].startswith("-r") and len(parts[0]) > 2 and not parts[0].startswith("--"):
        return parts[0][2:]
    return None


def readme_images(readme_text: str, root: Path) -> list[str]:
    """Local image files the README links or shows (so its picture works on the Space too)."""
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)|src=[\"']([^\"']+)[\"']", readme_text):
        rel = next(t for t in target if t)
        if "://" in rel or rel.startswith("#") or not rel.lower().endswith(IMAGE_SUFFIXES):
            continue
        path = (root / rel).resolve()
        if path.is_file() and root.resolve() in path.parents and rel not in found:
            found.append(rel)
    return found


def _is_run(folder: Path) -> bool:
    return folder.is_dir() and any(EPOCH_RE.match(p.name) for p in folder.iterdir())


def _skipped(path: Path) -> bool:
    name = path.name
    return (name == "__pycache__" or name.startswith(".") or name.endswith((".pyc", ".pyo", ".tmp", ".lock"))
            or name.startswith("state_"))   # state_NNN.safetensors: resume state, the app never reads it


def plan(root: Path, runs: list[str] | None = None) -> list[str]:
    """The files (relative to `root`, POSIX) a Space needs, in a stable order."""
    root = Path(root)
    files: list[str] = []
    for name in TOP_FILES:
        if not (root / name).is_file():
            raise UsageError(f"{name} not found in {root}: the Space needs it")
        files.append(name)
    files += readme_images((root / "README.md").read_text(encoding="utf-8"), root)

    def tree(folder: Path):
        for p in sorted(folder.iterdir()):
            if _skipped(p):
                continue
            if p.is_dir():
                yield from tree(p)
            elif p.is_file():
                yield p.relative_to(root).as_posix()

    files += tree(root / "rekogan")
    ck = root / "checkpoints"
    available = sorted(p.name for p in ck.iterdir() if _is_run(p)) if ck.is_dir() else []
    if runs is None:
        chosen = available
    else:
        unknown = [r for r in runs if r not in available]
        if unknown:
            raise UsageError(f"--runs: no run {', '.join(unknown)} under {ck} "
                             f"(runs there: {', '.join(available) or 'none'})")
        chosen = runs
    if not chosen:
        raise UsageError(f"no run under {ck}: the Space would have nothing to write with")
    if (ck / "README.md").is_file():
        files.append("checkpoints/README.md")
    for name in [*chosen, *(s for s in SUPPORT_FOLDERS if (ck / s).is_dir())]:
        files += tree(ck / name)
    return files


# ---- staging ------------------------------------------------------------------------------------

def prepare_out(out: Path, root: Path) -> Path:
    """A staging folder outside the repository: new, empty, or an earlier staging (emptied)."""
    out = Path(out).expanduser().resolve()
    root = Path(root).resolve()
    if out == root or root in out.parents:
        raise UsageError(f"--out {out} is inside the repository {root}; stage somewhere else (e.g. /tmp/space)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(f"--out {out} is not empty and is not an earlier staging "
                             f"(no {MARKER} in it); pass a new or empty folder")
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("staged by `python -m rekogan space`; safe to delete\n", encoding="utf-8")
    return out


def stage(root: Path, out: Path, files: list[str]) -> int:
    """Copy `files` from `root` into `out`; returns the total size in bytes."""
    total = 0
    for rel in files:
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dst)
        total += dst.stat().st_size
    return total


# ---- checks -------------------------------------------------------------------------------------

def check_config(out: Path) -> dict[str, str]:
    meta = front_matter((out / "README.md").read_text(encoding="utf-8"))
    if meta.get("sdk") != "gradio":
        raise UsageError(f"README.md front matter: sdk is {meta.get('sdk')!r}, expected 'gradio'")
    app_file = meta.get("app_file", "app.py")
    if not (out / app_file).is_file():
        raise UsageError(f"README.md front matter: app_file {app_file} is not staged")
    want = pinned((out / "requirements.txt").read_text(encoding="utf-8"), "gradio", base=out)
    if want is None:
        raise UsageError("requirements.txt does not pin gradio (gradio==X.Y.Z); the Space's sdk_version must match it")
    have = meta.get("sdk_version")
    if not _same_version(have, want):
        # YAML reads an unquoted 6.30 as a number: the message shows what the Hub will read
        raise UsageError(f"README.md front matter: sdk_version {str(have) if have is not None else None!r} differs "
                         f"from gradio=={want} in requirements.txt; make them equal")
    return {**meta, "sdk_version": str(have)}


def _same_version(have, want: str) -> bool:
    """PEP 440 equality (6.31 == 6.31.0); a value that is no version equals nothing."""
    from packaging.version import InvalidVersion, Version
    try:
        return have is not None and Version(str(have)) == Version(want)
    except InvalidVersion:
        return False


def check_weights(out: Path) -> list[str]:
    """Load every staged .safetensors with its own loader; one line per file, or UsageError."""
    from ..checkpoints import CheckpointError, load_generator
    from ..classifier import load_classifier
    from ..reader import load_reader
    from ..upscale import load as load_upscaler
    from ..writer.encoder import ENCODER_FILE, load_encoder
    from ..writer.errors import WriterError
    lines = []
    for path in sorted((out / "checkpoints").rglob("*.safetensors")):
        rel = path.relative_to(out).as_posix()
        try:
            if EPOCH_RE.match(path.name):
                _, meta = load_generator(path)
                lines.append(f"{rel}: generator, epoch {meta['epoch']}, {len(meta['classes'])} classes")
            elif path.parent.name == "classifier":
                _, meta = load_classifier(path)
                lines.append(f"{rel}: classifier, {len(meta['classes'])} classes")
            elif path.parent.name == "reader":
                lines.append(f"{rel}: {type(load_reader(path)).__name__}")
            elif path.name == ENCODER_FILE:              # a hand run's style encoder, checked against its run
                gen = next(iter(sorted(path.parent.glob("epoch_*.safetensors"))), None)
                if gen is None:
                    raise UsageError(f"{rel}: a style encoder without its run's generator file")
                load_encoder(path, generator=load_generator(gen)[0])
                lines.append(f"{rel}: style encoder of run {path.parent.name}")
            elif path.parent.name == "upscaler":
                up = load_upscaler(path)
                lines.append(f"{rel}: glyph upscaler, epoch {up.info.get('epoch')}, sharpness {up.sharpness:g}")
            else:
                raise UsageError(f"{rel}: not a generator, classifier, reader or upscaler file; the app cannot use it")
        except (CheckpointError, WriterError) as e:
            raise UsageError(f"{rel} does not load: {e}") from None
        except (OSError, RuntimeError, KeyError, ValueError) as e:
            raise UsageError(f"{rel} does not load: {type(e).__name__}: {e}") from None
    if not lines:
        raise UsageError("no .safetensors staged under checkpoints/")
    return lines


def size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB ({n / 2**20:.1f} MiB)"


# ---- the upload ---------------------------------------------------------------------------------

def find_token() -> str | None:
    """HF_TOKEN, else the cached login (`hf auth login`)."""
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token
    return get_token()


def make_api(token: str):
    """The Hub client (a function, so tests inject a fake one)."""
    from huggingface_hub import HfApi
    return HfApi(token=token)


def upload(api, out: Path, repo: str, *, private: bool) -> str:
    url = api.create_repo(repo, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo, repo_type="space", folder_path=str(out),
                             commit_message="Deploy ReKOGAN (python -m rekogan space)",
                             ignore_patterns=[MARKER], delete_patterns=["*"])
    return str(getattr(info, "commit_url", None) or url)


# ---- the command --------------------------------------------------------------------------------

def run(args, *, root: Path = REPO_ROOT) -> int:
    if not REPO_ID_RE.match(args.repo or ""):
        raise UsageError(f"--repo {args.repo!r}: expected USER/NAME (e.g. alice/rekogan)")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()] if args.runs else None
    if runs is not None and not runs:
        raise UsageError("--runs: name at least one run (e.g. --runs fixed,collapsed)")
    token = None
    if not args.dry_run:
        token = find_token()
        if not token:
            raise UsageError(LOGIN_HINT)
    files = plan(root, runs)
    temporary = args.out is None
    out = prepare_out(Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rekogan-space-")), root)
    try:
        total = stage(root, out, files)
        meta = check_config(out)
        print(f"staged {len(files)} files into {out}")
        print(f"front matter: sdk gradio {meta['sdk_version']} = gradio=={meta['sdk_version']} in requirements.txt; "
              f"app_file {meta.get('app_file', 'app.py')}; python {meta.get('python_version') or 'the Hub default'} "
              f"(checked here on {sys.version.split()[0]})")
        for line in check_weights(out):
            print(f"  loads: {line}")
        if args.dry_run:
            for rel in files:
                print(f"{(out / rel).stat().st_size:>12,}  {rel}")
        print(f"total: {len(files)} files, {size_text(total)}")
        if args.dry_run:
            print(f"dry run: nothing uploaded; the staged Space is in {out}")
            return 0
        where = upload(make_api(token), out, args.repo, private=args.private)
        print(f"uploaded to https://huggingface.co/spaces/{args.repo} ({where})")
        return 0
    finally:
        if temporary and not args.dry_run:
            shutil.rmtree(out, ignore_errors=True)
