"""The old spelling `python -m rekogan.evaluate PATH ...`: the same as `python -m rekogan evaluate PATH ...`."""
import sys

from .cli import alias


def main(argv=None) -> int:
    return alias("evaluate", argv)


if __name__ == "__main__":
    sys.exit(main())
