"""The commands of `python -m rekogan`, one module each (add_parser, run); listed in rekogan/cli.py."""
