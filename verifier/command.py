"""What every ``python -m verifier`` subcommand shares: its exit codes, and how it reports a failure.

A subcommand is declared with ``add_subcommand``; its run function returns the exit code, or raises
``CommandError`` (or lets ``FormatError`` or an ``OSError`` reading a file escape), which
``add_subcommand`` turns into one line on standard error, ``<subcommand>: <what is wrong>``, and the
error's exit code. No traceback reaches the user.

    0  everything checked passed, or the work is done
    1  failed: evidence of a problem (a bad signature, a changed record, a forked log), or the portal
       refused
    2  could not check something, or could not reach the portal (worth a retry)
    3  bad input (a file that is not a bundle, a malformed key, URL or envelope)
"""

import argparse
import inspect
import sys
from collections.abc import Callable
from typing import TypeAlias

from verifier.errors import FormatError
from verifier.note import parse_verifier_key

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_COULD_NOT_CHECK = 2
EXIT_BAD_INPUT = 3
MAX_LOG_KEY_FILE_BYTES = 4096

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A subcommand cannot go on; the message is the line the user reads, ``exit_code`` the verdict."""

    exit_code = EXIT_BAD_INPUT


def add_subcommand(subparsers: Subparsers, name: str, run: Run) -> argparse.ArgumentParser:
    """Declare subcommand ``name``, which runs ``run``, documented by ``run``'s docstring: its first line
    is the subcommand's line in the list of subcommands, the rest its description in ``--help``.

    The parser's ``func`` is ``run`` with its failures reported as the module docstring says.
    """
    summary, _, rest = inspect.cleandoc(run.__doc__ or name).partition("\n")
    description = " ".join(rest.split()) or summary
    # argparse's own lines are lower case without a full stop ("show this help message and exit").
    listed = summary[:1].lower() + summary[1:].rstrip(".")
    parser = subparsers.add_parser(name, help=listed, description=description)
    parser.set_defaults(func=lambda args: _run(name, run, args))
    return parser


def _run(name: str, run: Run, args: argparse.Namespace) -> int:
    try:
        return run(args)
    except CommandError as exc:
        return _report(name, str(exc), exc.exit_code)
    except FormatError as exc:
        return _report(name, str(exc), EXIT_BAD_INPUT)
    except OSError as exc:
        return _report(name, f"cannot read {exc.filename}: {exc.strerror}", EXIT_BAD_INPUT)


def _report(name: str, message: str, exit_code: int) -> int:
    print(f"{name}: {message}", file=sys.stderr)
    return exit_code


def read_log_key(value: str) -> str:
    """A verifier key given as itself, or as the path of a file whose first line it is."""
    return read_key(value, "--log-key", parse_verifier_key)


def read_key(value: str, option: str, parse: Callable[[str], object]) -> str:
    """A key ``parse`` accepts, given on the command line as ``option`` itself or as the path of a file
    whose first line it is; ``CommandError`` naming ``option`` when neither."""
    try:
        parse(value)
        return value
    except FormatError:
        pass
    try:
        with open(value, encoding="utf-8") as f:
            text = f.read(MAX_LOG_KEY_FILE_BYTES).strip()
    except (OSError, UnicodeDecodeError):
        raise CommandError(
            f"{option} is neither a verifier key (name+hash+base64) nor a readable file: {value[:80]}"
        ) from None
    try:
        parse(text)
    except FormatError as exc:
        raise CommandError(f"{option} {value}: {exc}") from None
    return text
