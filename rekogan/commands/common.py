"""What the commands share: the usage error, and checks that give one clear line each."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import conventions

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def user_error(e: BaseException) -> str | None:
    """The one-line message of an error the user can fix (a bad path, an empty folder, a file in the
    wrong format, a bad option value), or None for anything else: a bug, whose traceback is shown.
    Used by `python -m rekogan` and train.py; `--debug` shows the traceback of either kind."""
    from ..checkpoints import CheckpointError
    if isinstance(e, UsageError):
        return str(e)
    if isinstance(e, SystemExit):
        return None if e.code is None or isinstance(e.code, int) else str(e.code).removeprefix("error: ")
    if isinstance(e, OSError) and e.filename is not None:        # FileNotFoundError, PermissionError, ...
        return f"{e.strerror or type(e).__name__}: {e.filename}"
    if isinstance(e, (CheckpointError, FloatingPointError, UnicodeError, FileNotFoundError, NotADirectoryError,
                      IsADirectoryError, PermissionError)) or type(e) in (ValueError, AssertionError):
        return str(e) or type(e).__name__
    return None


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one line `error: ...` (exit 2), not the usage dump."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


# ---- checks shared by the commands (one clear line each, not argparse's usage dump) --------------

def parse_seed(text: str, *, option: str = "--seed") -> int:
    try:
        return conventions.check_seed(text)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from None


def parse_truncation(text: str, *, option: str = "--truncation") -> float:
    try:
        return conventions.check_truncation(text)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from None


def existing_file(text: str, *, what: str = "checkpoint", hint: str = "an epoch_NNN.safetensors checkpoint") -> Path:
    path = Path(text)
    if not path.exists():
        raise UsageError(f"{what} not found: {path}")
    if not path.is_file():
        raise UsageError(f"{path} is not a file (pass {hint})")
    return path


def load_checkpoint(path: Path):
    """(generator, metadata) or UsageError with the checkpoint module's one-line reason."""
    from ..checkpoints import CheckpointError, load_generator
    try:
        return load_generator(path)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
