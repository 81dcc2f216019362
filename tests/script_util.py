"""Importing a script of scripts/ (not a package) in a test, under a name of its own."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script(name: str, *, as_name: str | None = None):
    """scripts/<name>.py as a fresh module (as_name: the module's name, default the script's)."""
    spec = importlib.util.spec_from_file_location(as_name or name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
