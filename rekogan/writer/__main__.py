"""python -m rekogan.writer imitate ...: the same as python -m rekogan imitate ... (rekogan/writer/cli.py)."""
import sys

from ..cli import main

sys.exit(main())
