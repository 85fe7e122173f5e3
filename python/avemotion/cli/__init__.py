"""The ``avemotion`` command line: one module per subcommand.

Each module ``avemotion.cli.<name>`` defines ``register(subparsers) -> argparse.ArgumentParser``; the
parser it returns sets ``func`` (``args -> int`` exit code) with ``set_defaults``. Subcommand modules are
imported only when registered, and import their heavy dependencies inside ``func``.

Exit codes: 0 success, 1 runtime failure (reported), 2 bad usage or bad input (argparse's own code),
3 partial success (a batch job where some items failed; see the job's report), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

#: Subcommands in the order ``--help`` lists them.
COMMANDS = ("analyze", "live", "extract", "stats", "train", "export", "evaluate", "data", "info", "weights")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """Bad input a user can fix (missing file, bad value): exit code 2 with the message."""


def version_string() -> str:
    """``avemotion X.Y.Z (C++ core X.Y.Z, <location of the package>)``: which avemotion runs.

    The C++ core's version is the one its build recorded (they differ only in a stale in-place build).
    """
    from pathlib import Path

    import avemotion

    try:
        from avemotion import _core

        core = str(_core.build_info().get("version", "?"))
    except (ImportError, AttributeError) as exc:  # a checkout without its built core
        core = f"unavailable: {exc}"
    return f"avemotion {avemotion.__version__} (C++ core {core}, {Path(avemotion.__file__).parent})"


class _Version(argparse.Action):
    """``--version``: :func:`version_string` on one line (argparse's own action wraps it)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=str(kwargs.get("help")))

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(version_string())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avemotion",
        description="Audio-visual emotion recognition with a laughter head.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("--version", action=_Version, help="print the version and where it runs from")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"avemotion.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"avemotion.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"avemotion {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
