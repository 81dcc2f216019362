"""python -m rekogan.export font ...: the same as python -m rekogan font ... (rekogan/export/cli.py)."""
import sys

from ..cli import main

sys.exit(main())
