"""python -m rekogan COMMAND ...: see rekogan/cli.py."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
