"""``python -m verifier``: the volunteer's command line.

Subcommands register themselves with ``add_<name>_parser(subparsers)``, through
``verifier.command.add_subcommand``, which also holds the exit codes every subcommand shares:

    0  everything checked passed
    1  failed: evidence of a problem (a bad signature, a changed record, a forked log)
    2  could not check something (a missing tool, the network)
    3  bad input (a file that is not a bundle, a malformed key or URL)
"""

import argparse
import os
import sys
from collections.abc import Sequence

from verifier.attest import add_attest_parser
from verifier.bundle import (
    ERROR,
    FAIL,
    MAX_BUNDLE_BYTES,
    PASS,
    SKIP,
    Bundle,
    CheckResult,
    ServedCopy,
    parse_bundle,
    verify_bundle,
)
from verifier.command import (
    EXIT_BAD_INPUT,
    EXIT_COULD_NOT_CHECK,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    Subparsers,
    add_subcommand,
    read_key,
    read_log_key,
)
from verifier.cosignature import Cosigner, parse_cosigner_vkey
from verifier.errors import FormatError
from verifier.keys import PublicKey, load_public_key
from verifier.monitor import add_monitor_parser
from verifier.observe import add_observe_parser
from verifier.publish import add_publish_parser
from verifier.rebuild import add_rebuild_parser
from verifier.served import check_served_base
from verifier.state import add_history_options, check_portal_url, history_from
from verifier.version import __version__
from verifier.witness_server import add_witness_parser

MAX_PUBLIC_KEY_BYTES = 64 * 1024
LABELS = {PASS: "PASS ", FAIL: "FAIL ", SKIP: "SKIP ", ERROR: "ERROR"}


def add_verify_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = add_subcommand(subparsers, "verify", run_verify)
    parser.add_argument("bundle", metavar="BUNDLE", help="the bundle JSON file")
    parser.add_argument("--artifact", metavar="FILE", help="the artifact you downloaded, to check its digest")
    parser.add_argument(
        "--repo", metavar="GIT_URL_OR_PATH", help="the repository, to check the commit is on its branch"
    )
    parser.add_argument(
        "--portal",
        metavar="URL",
        help="the portal, to fetch a consistency proof to the remembered checkpoint",
    )
    add_history_options(parser)
    parser.add_argument(
        "--served-files",
        metavar="DIR",
        help="a copy of a web release's served files, to compare with its signed list (with --served-base)",
    )
    parser.add_argument(
        "--served-base", metavar="PATH", help="the public path DIR is served under, such as /static/"
    )
    parser.add_argument(
        "--rebuilder-key",
        action="append",
        default=[],
        metavar="PEM_FILE",
        help="a rebuilder's public key you trust; only rebuilds signed by these count (repeat for each)",
    )
    parser.add_argument(
        "--min-rebuilders",
        type=int,
        default=0,
        metavar="K",
        help="fail unless K distinct rebuilders reproduced the release, and on any that got something else",
    )
    parser.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's verifier key (name+hash+base64, type 0x04) or a file holding it; the checkpoint's "
        "cosignatures by these witnesses are counted (repeat for each)",
    )
    parser.add_argument(
        "--min-witnesses",
        type=int,
        metavar="K",
        help="fail unless K of the --witness-key witnesses cosigned the checkpoint (default: all of them)",
    )
    return parser


def run_verify(args: argparse.Namespace) -> int:
    """Check a proof bundle downloaded from a Vitrina portal.

    Check a release or deployment proof bundle: the signature, the signed statement, the log entry, its
    inclusion in the signed log checkpoint, and optionally the artifact file, the commit in the
    repository and a copy of a web release's served files, the independent rebuilds it carries
    (counting only the rebuilders whose keys you give, failing under the minimum you ask), and the
    witnesses' cosignatures of its checkpoint (the witnesses whose keys you give). Exit codes: 0 passed,
    1 failed, 2 could not check, 3 bad input.
    """
    bundle = read_bundle(args.bundle)
    log_key = read_log_key(args.log_key) if args.log_key else None
    portal = check_portal_url(args.portal) if args.portal else None
    if args.artifact and not os.path.exists(args.artifact):
        raise CommandError(f"--artifact {args.artifact}: no such file")
    served = served_copy(args.served_files, args.served_base)
    history = history_from(args, portal)
    if args.min_rebuilders < 0:
        raise CommandError(f"--min-rebuilders must be 0 or more, got {args.min_rebuilders}")
    witnesses = [
        parse_cosigner_vkey(read_key(v, "--witness-key", parse_cosigner_vkey)) for v in args.witness_key
    ]
    check_min_witnesses(args.min_witnesses, witnesses)
    results = verify_bundle(
        bundle,
        artifact_path=args.artifact,
        log_key=log_key,
        repo=args.repo,
        history=history,
        served=served,
        rebuilder_keys=[read_rebuilder_key(path) for path in args.rebuilder_key],
        min_rebuilders=args.min_rebuilders,
        witness_keys=witnesses,
        min_witnesses=args.min_witnesses,
    )
    for result in results:
        print(f"{LABELS[result.status]} {result.name}: {result.message}")
    return summarize(results)


def check_min_witnesses(minimum: int | None, witnesses: Sequence[Cosigner]) -> None:
    """``--min-witnesses`` is between 0 and the number of distinct ``--witness-key``s: asking more could
    never pass, which is a mistake in the command, not evidence about the log."""
    if minimum is None:
        return
    distinct = len({witness.label for witness in witnesses})
    if not 0 <= minimum <= distinct:
        raise CommandError(
            f"--min-witnesses {minimum}: give a number from 0 to the {distinct} distinct --witness-key given"
        )


def read_rebuilder_key(path: str) -> PublicKey:
    """The public key in the PEM file ``path`` of ``--rebuilder-key``; ``CommandError`` saying why not."""
    try:
        with open(path, "rb") as f:
            pem = f.read(MAX_PUBLIC_KEY_BYTES + 1)
        if len(pem) > MAX_PUBLIC_KEY_BYTES:
            raise FormatError(f"larger than {MAX_PUBLIC_KEY_BYTES} bytes, not a PEM public key")
        return load_public_key(pem)
    except OSError as exc:
        raise CommandError(f"--rebuilder-key {path}: {exc.strerror}") from None
    except FormatError as exc:
        raise CommandError(f"--rebuilder-key {path}: {exc}") from None


def served_copy(directory: str | None, base: str | None) -> ServedCopy | None:
    """The ``--served-files DIR --served-base PATH`` pair, checked; None when neither is given."""
    if directory is None and base is None:
        return None
    if directory is None or base is None:
        raise CommandError("--served-files DIR and --served-base PATH go together")
    if not os.path.isdir(directory):
        raise CommandError(f"--served-files {directory}: not a directory")
    check_served_base(base)
    return ServedCopy(directory, base)


def summarize(results: Sequence[CheckResult]) -> int:
    """Print the verdict and return the exit code: any failure beats any error, which beats a pass."""
    failed = [r.name for r in results if r.status == FAIL]
    errors = [r.name for r in results if r.status == ERROR]
    passed = sum(r.status == PASS for r in results)
    skipped = sum(r.status == SKIP for r in results)
    if failed:
        print(f"RESULT: FAILED. {len(failed)} check(s) failed: {', '.join(failed)}")
        return EXIT_FAILED
    if errors:
        print(f"RESULT: COULD NOT CHECK everything: {', '.join(errors)}")
        return EXIT_COULD_NOT_CHECK
    print(f"RESULT: verified. {passed} checks passed, {skipped} skipped")
    return EXIT_OK


def read_bundle(path: str) -> Bundle:
    with open(path, "rb") as f:
        data = f.read(MAX_BUNDLE_BYTES + 1)
    try:
        return parse_bundle(data)
    except FormatError as exc:
        raise CommandError(f"{path} is not a usable proof bundle: {exc}") from None


def program_name(argv0: str) -> str:
    """The name usage lines show: ``vitrina-verify`` as the installed script, else ``python -m verifier``."""
    name = os.path.basename(argv0)
    return "vitrina-verify" if name.startswith("vitrina-verify") else "python -m verifier"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(sys.argv[0]),
        description="Check Vitrina's proofs yourself. Needs only 'cryptography' (and git for --repo).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_verify_parser,
        add_attest_parser,
        add_publish_parser,
        add_observe_parser,
        add_rebuild_parser,
        add_witness_parser,
        add_monitor_parser,
    ):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits 2 on a usage error; here 2 means "could not check", so usage errors are bad input.
        return EXIT_BAD_INPUT if exc.code else EXIT_OK
    code: int = args.func(args)
    return code
