"""python -m rekogan.export font ... (see rekogan/export/cli.py)."""
import sys

from .cli import main

sys.exit(main())
