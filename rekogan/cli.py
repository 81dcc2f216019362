"""ReKOGAN's one command line: python -m rekogan COMMAND ... (train.py stays the headless trainer).

  sheet            one PNG per class from a generator checkpoint (AC00.png for 가), dark ink on white
  info             the metadata stored in a generator checkpoint
  pack             a data source prepared once into one compressed .npz (train with --data packed:FILE)
  evaluate         readability, collapse and diversity of checkpoints; prints, writes only with --write
  classifier train the 520-class Hangul classifier every readability figure uses
  reader train     the component reader (initial, medial, final) that reads any of the 11,172 syllables
  bench train      training img/s: the fixed preset against the original recipe
  import-original  the original ReKOGAN's generator files as a run folder
  font             a writer as an installable font (.ttf / .otf)
  imitate          a writer fitted to your own handwritten syllables (writer.safetensors)
  space            stage the Hugging Face Space, check it, upload it (upload_folder)
  upscaler train   the x4 glyph upscaler (64 -> 128 / 256 px); upscaler test measures it
  upscale          a folder of 64 px glyph PNGs (as sheet writes them) enlarged to 128 or 256 px

Each command is one module with `add_parser(subparsers)` and `run(args) -> int`, listed once in
COMMANDS below; a module imports torch inside run(), so `--help` stays fast. Bad input (a missing,
corrupt or pickle checkpoint, a seed outside 0..2^31-1, ...) is one line `error: ...` on stderr
and exit status 2, never a traceback: a command raises UsageError, or prints the line itself.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .commands.common import EXIT_USAGE, OneLineParser, UsageError, user_error

# the command modules, in the order `--help` lists them
COMMANDS = (
    "rekogan.commands.sheet",
    "rekogan.commands.info",
    "rekogan.commands.pack",
    "rekogan.commands.evaluate",
    "rekogan.commands.classifier",
    "rekogan.commands.reader",
    "rekogan.commands.bench",
    "rekogan.original.cli",      # import-original: the original ReKOGAN's G_epoch_N.pth files as a run
    "rekogan.export.cli",        # font: a writer as an installable font
    "rekogan.writer.cli",        # imitate: a writer fitted to the user's handwritten syllables
    "rekogan.commands.space",    # space: stage, check and upload the Hugging Face Space
    "rekogan.commands.upscale",  # upscaler train|test, upscale: the x4 glyph upscaler
)


# ---- the parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m rekogan", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error (also after COMMAND)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(name)
        before = set(sub.choices)
        module.add_parser(sub)
        for added in set(sub.choices) - before:
            sub.choices[added].set_defaults(command_run=module.run)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv                    # anywhere on the line, not only before COMMAND
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
    run = getattr(args, "command_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return run(args)
    except (Exception, SystemExit) as e:         # a user's mistake is one line; a bug keeps its traceback
        msg = None if debug else user_error(e)
        if msg is None:
            raise
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE


def alias(command: str, argv: list[str] | None = None) -> int:
    """An old spelling (`python -m rekogan.evaluate ...`) as `python -m rekogan COMMAND ...`."""
    return main([command, *(sys.argv[1:] if argv is None else argv)])
