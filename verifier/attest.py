"""``python -m verifier attest``: what a CI job runs to sign what it built.

It hashes the artifact (a file, or a directory with ``verifier.digest.sha256_directory``), or each
component of a release of several (``--artifact NAME=PATH`` for each, ``--subject NAME=sha256:<hex>``
for one built elsewhere, such as a container image known by its registry digest), states
where it came from in an in-toto Statement v1 with a SLSA provenance v1 predicate, and signs the
statement into a DSSE envelope with the project's private key. A web release also lists the files it
serves to browsers (``--served-files DIR --served-base /static/``, see ``verifier.served``) and the
inline scripts its pages may carry (``--inline-script sha256-<base64>``). A release anyone can rebuild
records how (``--build-command CMD --build-env NAME=VALUE``, see ``docs/rebuilders.md``); where the build
leaves each artifact is taken from its ``--artifact`` path, relative to the current directory, which
is the repository's root in CI. The envelope is what ``python -m verifier publish`` (or plain curl)
posts to the portal.

Needs only ``cryptography``. The private key is read from a PEM file; if that file is encrypted, its
password comes from the ``VITRINA_KEY_PASSWORD`` environment variable, never from the command line,
where other users of the machine and CI logs could read it.
"""

import argparse
import base64
import binascii
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from verifier import command, dsse, statement
from verifier.digest import sha256_directory, sha256_file
from verifier.errors import FormatError
from verifier.keys import PrivateKey, load_private_key
from verifier.served import served_files_of_directory

PASSWORD_ENV = "VITRINA_KEY_PASSWORD"  # noqa: S105 (the variable's name, not a password)
MAX_KEY_BYTES = 64 * 1024


def artifact_digest(path: str) -> str:
    """``sha256:<hex>`` of a file, or of a directory tree by the scheme of ``sha256_directory``."""
    return sha256_directory(path) if os.path.isdir(path) else sha256_file(path)


def attest(
    digest: str,
    *,
    name: str,
    commit: str,
    repo_url: str,
    ci_build_url: str,
    private_key: PrivateKey,
    components: Sequence[tuple[str, str]] = (),
    served_files: Sequence[statement.ServedFile] = (),
    inline_scripts: Sequence[str] = (),
    build: statement.BuildInstructions | None = None,
) -> dict[str, Any]:
    """Return the signed DSSE envelope (a JSON-ready dict) for the artifact with ``digest``, or for the
    release of several ``components`` (name, digest) when given (``digest`` and ``name`` then unused),
    listing the ``served_files`` and declared ``inline_scripts`` (sha256 hex) of a web release and the
    ``build`` instructions a rebuilder follows."""
    doc = statement.build_statement(
        artifact_name=name,
        artifact_digest=digest,
        repo_uri=repo_url,
        commit=commit,
        ci_build_url=ci_build_url,
        components=components,
        served_files=served_files,
        inline_scripts=inline_scripts,
        build=build,
    )
    return dsse.sign_envelope(statement.statement_to_payload(doc), private_key)


def read_private_key(path: str) -> PrivateKey:
    """Load the signing key, decrypting it with ``$VITRINA_KEY_PASSWORD`` when that is set."""
    with open(path, "rb") as f:
        pem = f.read(MAX_KEY_BYTES + 1)
    if len(pem) > MAX_KEY_BYTES:
        raise FormatError(f"{path} is larger than {MAX_KEY_BYTES} bytes; it is not a PEM private key")
    return load_private_key(pem, password=os.environ.get(PASSWORD_ENV) or None)


def add_attest_parser(subparsers: command.Subparsers) -> argparse.ArgumentParser:
    parser = command.add_subcommand(subparsers, "attest", run_attest)
    parser.add_argument(
        "--artifact",
        action="append",
        default=[],
        help="the built file (or directory) to sign; NAME=PATH for each component of a release of several",
    )
    parser.add_argument(
        "--subject",
        action="append",
        default=[],
        help="NAME=sha256:<hex> (or sha512:<hex>): a component built elsewhere, e.g. a container image",
    )
    parser.add_argument("--commit", required=True, help="the git commit it was built from (40 hex)")
    parser.add_argument("--repo", required=True, help="the public repository URL")
    parser.add_argument("--ci-url", required=True, help="the URL of this CI build's log")
    parser.add_argument("--key", required=True, help="the project's private signing key (PEM)")
    parser.add_argument("--name", help="the artifact's name in the statement (default: its file name)")
    parser.add_argument("--out", help="write the envelope to this file (default: standard output)")
    parser.add_argument(
        "--served-files",
        metavar="DIR",
        help="a web release: list every file under DIR as served to browsers (with --served-base)",
    )
    parser.add_argument(
        "--served-base",
        metavar="PATH",
        help="the public path DIR is served under, such as /static/ (or an https:// URL ending in /)",
    )
    parser.add_argument(
        "--inline-script",
        action="append",
        default=[],
        metavar="sha256-<base64>",
        help="an inline script the pages may carry, named as in a CSP header; repeat for each",
    )
    parser.add_argument(
        "--build-command",
        metavar="CMD",
        help="how anyone rebuilds this release: one shell command run at the repository's root; each "
        "--artifact path under the current directory (the repository's root in CI) is recorded as where "
        "the build leaves it; an artifact outside it, or a --subject (built elsewhere), gets no output path",
    )
    parser.add_argument(
        "--build-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable the build command needs, e.g. PYTHON=3.12 or an image digest; repeat for each",
    )
    return parser


def build_instructions(
    command_text: str | None, environment: Sequence[str], artifacts: dict[str, str]
) -> statement.BuildInstructions | None:
    """The instructions of ``--build-command`` and each ``--build-env NAME=VALUE``, with the output
    path of each artifact (name to path) inside the current directory; None without a command.
    ``CommandError`` for a malformed or repeated variable, or variables without a command."""
    if command_text is None:
        if environment:
            raise command.CommandError("--build-env needs --build-command")
        return None
    if not command_text.strip():
        raise command.CommandError("--build-command: the command is empty")
    variables: dict[str, str] = {}
    for value in environment:
        name, sep, setting = value.partition("=")
        if not sep or not name or any(c.isspace() for c in name):
            raise command.CommandError(f"--build-env {value[:80]!r}: give NAME=VALUE")
        if name in variables:
            raise command.CommandError(f"--build-env: {name[:80]!r} is given twice")
        variables[name] = setting
    outputs = {name: where for name, path in artifacts.items() if (where := repository_path(path))}
    return statement.BuildInstructions(command_text, variables, outputs)


def repository_path(path: str) -> str | None:
    """``path`` relative to the current directory (the repository's root), with ``/`` separators, or
    None when it is not inside it (nor a path in it: the directory itself)."""
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(os.getcwd()))
    parts = relative.split(os.sep)
    if relative == os.curdir or parts[0] == os.pardir or os.path.isabs(relative):
        return None
    return "/".join(parts)


def served_listing(
    directory: str | None, base: str | None, inline: Sequence[str]
) -> tuple[list[statement.ServedFile], list[str]]:
    """The served files of ``--served-files DIR --served-base PATH`` and the sha256 hex of each
    ``--inline-script sha256-<base64>``; ``CommandError`` for anything else."""
    if (directory is None) != (base is None):
        raise command.CommandError("--served-files DIR and --served-base PATH go together")
    files = []
    if directory is not None and base is not None:
        if not os.path.isdir(directory):
            raise command.CommandError(f"--served-files {directory}: not a directory")
        files = served_files_of_directory(directory, base)
    return files, [inline_script_digest(value) for value in inline]


def inline_script_digest(value: str) -> str:
    """The sha256 hex of an inline script named as a CSP source names it, ``sha256-<base64>``."""
    algorithm, _, encoded = value.strip("'").partition("-")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if algorithm != "sha256" or len(raw) != 32:
        raise command.CommandError(
            f"--inline-script {value[:80]!r}: give the script's CSP hash, sha256-<base64 of 32 bytes>"
        )
    return raw.hex()


def release_components(artifacts: list[str], subjects: list[str]) -> list[tuple[str, str]]:
    """The (name, digest) of each component given, in order; empty for one plain ``--artifact PATH``.

    One ``--artifact`` with no ``--subject`` is a path (even with an ``=`` in it); otherwise every value
    is ``NAME=PATH`` or ``NAME=<digest>``. Raises ``CommandError`` for anything else.
    """
    if len(artifacts) == 1 and not subjects and ("=" not in artifacts[0] or os.path.exists(artifacts[0])):
        return []
    if not artifacts and not subjects:
        raise command.CommandError("give --artifact PATH, or --artifact NAME=PATH / --subject NAME=DIGEST")
    components = []
    for option, values in (("--artifact", artifacts), ("--subject", subjects)):
        for value in values:
            name, sep, rest = value.partition("=")
            if not sep or not name or not rest:
                raise command.CommandError(
                    f"{option} {value!r}: a release of several components needs NAME="
                    + ("PATH" if option == "--artifact" else "sha256:<hex>")
                )
            if option == "--artifact":
                components.append((name, artifact_digest(rest)))
            else:
                statement.component_digest(rest)
                components.append((name, rest))
    return components


def run_attest(args: argparse.Namespace) -> int:
    """Sign a build: hash the artifact, state its source, sign it (DSSE, in-toto, SLSA provenance).

    Hash ARTIFACT and sign an in-toto Statement v1 with SLSA provenance v1 naming its source repository,
    commit and CI build log. An encrypted key's password is read from $VITRINA_KEY_PASSWORD. Exit codes:
    0 signed, 3 bad input (file, key, commit...). Several --artifact NAME=PATH and --subject
    NAME=sha256:<hex> sign one release of several named components. --served-files DIR --served-base
    /static/ lists every file under DIR as served to browsers, and --inline-script sha256-<base64> each
    inline script the pages may carry. --build-command CMD (with --build-env NAME=VALUE for each variable
    it needs) records how anyone rebuilds it; each --artifact path inside the current directory (the
    repository's root in CI) is recorded as where the build leaves it, an artifact outside it or a
    --subject gets none.
    """
    private_key = read_private_key(args.key)
    components = release_components(args.artifact, args.subject)
    served_files, inline_scripts = served_listing(args.served_files, args.served_base, args.inline_script)
    artifacts = (
        dict(value.partition("=")[::2] for value in args.artifact)
        if components
        else {args.name or os.path.basename(os.path.normpath(args.artifact[0])): args.artifact[0]}
    )
    build = build_instructions(args.build_command, args.build_env, artifacts)
    if components:
        digest = ", ".join(f"{name} {component}" for name, component in components)
        envelope = attest(
            "",
            name="",
            commit=args.commit,
            repo_url=args.repo,
            ci_build_url=args.ci_url,
            private_key=private_key,
            components=components,
            served_files=served_files,
            inline_scripts=inline_scripts,
            build=build,
        )
    else:
        path = args.artifact[0]
        digest = artifact_digest(path)
        envelope = attest(
            digest,
            name=next(iter(artifacts)),
            commit=args.commit,
            repo_url=args.repo,
            ci_build_url=args.ci_url,
            private_key=private_key,
            served_files=served_files,
            inline_scripts=inline_scripts,
            build=build,
        )
    text = json.dumps(envelope, sort_keys=True) + "\n"
    if not args.out:
        sys.stdout.write(text)
        return command.EXIT_OK
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise command.CommandError(f"cannot write {exc.filename}: {exc.strerror}") from None
    print(f"signed {digest} with key {private_key.public_key.short_id} -> {args.out}", file=sys.stderr)
    return command.EXIT_OK
