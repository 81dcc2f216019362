"""The old spelling `python -m rekogan.bench ...`: the same as `python -m rekogan bench ...`
(the harness is rekogan/commands/bench.py)."""
import sys

from .cli import alias

if __name__ == "__main__":
    sys.exit(alias("bench"))
