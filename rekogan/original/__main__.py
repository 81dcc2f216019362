"""python -m rekogan.original DIR_OR_FILE --out DIR (the same as python -m rekogan import-original)."""
import sys

from .cli import main

sys.exit(main())
