"""``vitrina-verify rebuild``: an independent rebuilder rebuilds a release and says whether the bytes match.

A release's signature says the project's CI built its artifact from a commit; a rebuild shows it, without
trusting the CI. A registered rebuilder runs this command on its own machine:

1. it finds the release on the portal (``GET /api/v1/projects/<slug>/releases/``, by version), downloads
   its proof bundle and checks it as ``verify`` does (``verify_bundle``, the log pinned with
   ``--log-key``, the remembered history): a bundle that does not verify ends the run (exit 1);
2. it reads how to rebuild from the signed statement (``statement.BuildInstructions``: the command, the
   environment it needs, where each subject is left); a release without them cannot be rebuilt (exit 3);
3. it checks the commit out of the project's repository (``RepoMirror.check_out``, under the address
   rules of ``verifier.repo``) into a fresh temporary directory, file modes set from git's (644/755);
4. it runs the command with ``bash -c`` at the checkout's root, in a clean environment (``PATH`` of this
   machine, a temporary ``HOME`` and ``TMPDIR``, ``SOURCE_DATE_EPOCH`` the commit's time, ``LC_ALL`` and
   ``LANG`` ``C.UTF-8``, ``TZ`` ``UTC``, plus the recorded ``buildEnvironment``), under umask 022,
   without network when ``unshare -rn`` is allowed here (else the report says so), within ``--timeout``;
   a build that fails is "could not rebuild" (exit 2) with the tail of its output;
5. it hashes each output (a file, or a directory by ``digest.sha256_directory``), compares it with the
   release's subject (``rebuilds.compare_rebuild``), prints one line per subject and, for an output that
   differs, a hint: the members of a tar or zip archive with size and sha256, or with ``--reference``
   (the release's artifact) only the members that differ, are missing or extra;
6. with ``--publish``, it signs what it got (``rebuilds.sign_rebuild``, the rebuilder's key) and posts
   it to ``POST /api/v1/rebuilds/`` with the token from ``$VITRINA_REBUILDER_TOKEN``.

Exit codes: 0 reproduced; 1 differs (or the proof bundle does not verify, or the portal refused the
rebuild); 2 could not rebuild (or could not reach the portal); 3 bad input (or no build instructions).
"""

import argparse
import datetime
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

from verifier import command, jsontext, publish, state
from verifier.attest import read_private_key
from verifier.bundle import MAX_BUNDLE_BYTES, Bundle, parse_bundle
from verifier.digest import parse_digest, regular_files, sha256_directory, sha256_file
from verifier.dsse import envelope_to_json
from verifier.errors import CouldNotCheck, FormatError, VerifierError
from verifier.keys import PrivateKey
from verifier.observe import (
    MAX_PROJECT_BYTES,
    BundleRefused,
    PortalUnreachable,
    check_bundle,
    fetch_portal,
    party_name,
    release_statement,
)
from verifier.reasons import Reason
from verifier.rebuilds import DIFFERS, MAX_NAME, RebuildComparison, Rebuilt, compare_rebuild, sign_rebuild
from verifier.repo import RepoMirror
from verifier.statement import BuildInstructions, Statement, Subject

TOKEN_ENV = "VITRINA_REBUILDER_TOKEN"  # noqa: S105 (the variable's name, not a token)
DEFAULT_TIMEOUT = 3600.0
GIT_TIMEOUT = 600.0
SLUG = re.compile(r"[A-Za-z0-9_-]{1,50}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# The portal's list of a project's releases is read a page at a time (its largest page), up to a bound.
RELEASES_PAGE = 200
MAX_RELEASES = 100_000
# This machine's own: where its tools are and where the build may write. A release cannot set them.
MACHINE_VARIABLES = ("PATH", "HOME", "TMPDIR")
BUILD_UMASK = 0o022
TAIL_BYTES = 8 * 1024
TAIL_LINES = 40
# The diff hint reads archives from outside: it stops at these bounds rather than unpack a bomb.
MAX_MEMBERS = 100_000
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_HINT_LINES = 100
CHUNK = 1024 * 1024


class CouldNotRebuild(command.CommandError):
    """The source could not be checked out or the build did not give its outputs: nothing to compare."""

    exit_code = command.EXIT_COULD_NOT_CHECK


class SourceMissing(command.CommandError):
    """The release's commit is not in its repository: its source is not published, evidence of a problem."""

    exit_code = command.EXIT_FAILED


@dataclass(frozen=True)
class BuildRun:
    """How the build went: ``returncode`` None when it ran out of time; ``isolated`` whether it ran
    without network; ``log`` the file holding its output (standard output and error together)."""

    returncode: int | None
    seconds: float
    isolated: bool
    log: Path


@dataclass(frozen=True)
class Member:
    """A member of an archive: ``sha256`` is the hex of a regular file's bytes, "" for anything else;
    ``meta`` what else a packer records (type, mode, time, owner, link target), as text to compare."""

    name: str
    size: int
    sha256: str
    meta: str


# --- The portal ---------------------------------------------------------------------------------------


def find_release(portal: str, project: str, version: str) -> int:
    """The id of ``project``'s release ``version``, from the portal's list of the project's releases
    (filtered by version; the version is matched here too, page by page, whatever the portal filtered).

    ``command.CommandError`` (bad input) for a project or version the portal does not have,
    ``PortalUnreachable`` when it gives no usable answer."""
    for offset in range(0, MAX_RELEASES, RELEASES_PAGE):
        url = (
            f"{portal}/api/v1/projects/{project}/releases/?version={quote(version, safe='')}"
            f"&limit={RELEASES_PAGE}&offset={offset}"
        )
        status, body = fetch_portal(url, MAX_PROJECT_BYTES)
        if status == 404:
            raise command.CommandError(f"--project {project}: the portal at {portal} has no such project")
        if status != 200:
            raise PortalUnreachable(f"the portal answered {status} to {url}")
        try:
            page = jsontext.loads_object(body, what="the portal's list of releases")["results"]
        except (FormatError, KeyError) as exc:
            raise PortalUnreachable(f"{url}: not a list of releases ({exc})") from None
        listed = page if isinstance(page, list) else []
        for release in listed:
            if isinstance(release, dict) and release.get("version") == version:
                release_id = release.get("id")
                if not isinstance(release_id, int) or isinstance(release_id, bool):
                    raise PortalUnreachable(f"{url}: release {version} has no usable id")
                return release_id
        if len(listed) < RELEASES_PAGE:
            break
    raise command.CommandError(f"--version {version}: project {project} has no such release on {portal}")


def fetch_release_bundle(portal: str, project: str, version: str, release_id: int) -> Bundle:
    """GET the release's proof bundle from the portal and parse it; it must be the bundle of that
    release (``BundleRefused`` otherwise: the portal answers for another release than it listed)."""
    url = f"{portal}/api/v1/releases/{release_id}/bundle"
    status, body = fetch_portal(url, MAX_BUNDLE_BYTES)
    if status != 200:
        raise PortalUnreachable(f"the portal answered {status} to {url}")
    try:
        bundle = parse_bundle(body)
    except FormatError as exc:
        raise BundleRefused(f"the portal's proof bundle {url} is not a usable bundle: {exc}") from None
    record = bundle.record
    found = (bundle.kind, record.get("project"), record.get("version"), record.get("release_id"))
    if found != ("release", project, version, release_id):
        raise BundleRefused(
            f"the portal's proof bundle {url} is of {found[0]} {found[2]} ({found[3]}) of {found[1]}, not of "
            f"release {version} ({release_id}) of {project}"
        )
    return bundle


# --- What to rebuild ----------------------------------------------------------------------------------


def build_instructions(statement: Statement) -> BuildInstructions:
    """The release's build instructions, checked usable here: every subject has an output path and a
    sha256 digest, every recorded variable a plain name and a value without NUL; ``CommandError``
    (bad input: the release cannot be rebuilt as recorded) otherwise."""
    build = statement.build
    if build is None:
        raise command.CommandError("this release records no build command, so it cannot be rebuilt")
    for subject in statement.subjects:
        if subject.name not in build.outputs:
            raise command.CommandError(
                f"this release records no output path for its subject {subject.name[:80]!r} "
                "(buildOutputs), so it cannot be rebuilt"
            )
        if subject.sha256 is None:
            raise command.CommandError(
                f"the release names its subject {subject.name[:80]!r} by sha512 only; a rebuild compares "
                "sha256 digests"
            )
    for name, value in build.environment.items():
        if not VARIABLE_NAME.fullmatch(name) or "\0" in value:
            raise command.CommandError(
                f"the release's buildEnvironment has an unusable variable {name[:80]!r}"
            )
    return build


def reference_subject(path: str | None, subjects: Sequence[Subject]) -> str | None:
    """The name of the release's subject that ``--reference FILE`` is (by its digest), or None without
    one; ``CommandError`` when the file is none of the release's artifacts."""
    if path is None:
        return None
    if not os.path.isfile(path):
        raise command.CommandError(f"--reference {path}: no such file")
    digest = parse_digest(sha256_file(path))
    for subject in subjects:
        if subject.sha256 == digest:
            return subject.name
    raise command.CommandError(
        f"--reference {path} is not the release's artifact: its digest sha256:{digest} is none of the "
        "release's subjects"
    )


# --- The build ----------------------------------------------------------------------------------------


def build_environment(
    build: BuildInstructions, source_date_epoch: int, home: Path, tmp: Path
) -> dict[str, str]:
    """The build's whole environment: fixed locale and zone, the commit's time as SOURCE_DATE_EPOCH,
    the recorded variables (they may override those), and this machine's PATH, HOME and TMPDIR (they
    may not: a release says what to build, not where this machine keeps its tools)."""
    return {
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        **{name: value for name, value in build.environment.items() if name not in MACHINE_VARIABLES},
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "TMPDIR": str(tmp),
    }


def network_isolation() -> tuple[str, ...]:
    """The command prefix that runs a build without network: ``unshare -rn`` (a user and network
    namespace of its own, only loopback inside) when this machine allows it, else nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run(
            [unshare, "-rn", "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


def run_build(
    build: BuildInstructions,
    checkout: Path,
    environment: Mapping[str, str],
    log: Path,
    *,
    timeout: float,
    isolation: Sequence[str] = (),
) -> BuildRun:
    """Run the build command with ``bash -c`` at ``checkout`` in exactly ``environment``, its output in
    ``log``, in a process group of its own that is killed whole when ``timeout`` runs out."""
    started = time.monotonic()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*isolation, "bash", "-c", build.command],
            cwd=checkout,
            env=dict(environment),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=BUILD_UMASK,
        )
        try:
            returncode: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            returncode = None
    return BuildRun(returncode, time.monotonic() - started, bool(isolation), log)


def log_tail(log: Path) -> list[str]:
    """The last lines of the build's output (at most ``TAIL_LINES`` lines of the last ``TAIL_BYTES``)."""
    with open(log, "rb") as f:
        f.seek(max(0, os.path.getsize(log) - TAIL_BYTES))
        text = f.read(TAIL_BYTES).decode("utf-8", errors="replace")
    return text.splitlines()[-TAIL_LINES:]


def normalize_modes(checkout: Path) -> None:
    """Set the checkout's modes to git's own (files 644 or 755, directories 755), so the tree a build
    packs does not depend on this machine's umask."""
    for root, directories, files in os.walk(checkout):
        if ".git" in directories and Path(root) == checkout:
            directories.remove(".git")
        for name in directories:
            os.chmod(os.path.join(root, name), 0o755)  # noqa: S103 - git's mode for a directory
        for name in files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, 0o755 if mode & 0o111 else 0o644)


def output_digest(checkout: Path, relative: str, subject: str) -> str:
    """``sha256:<hex>`` of the output the build left at ``relative``: a file, or a directory tree;
    ``CouldNotRebuild`` when there is none, or it lies outside the checkout through a link."""
    path = checkout / relative
    inside = os.path.realpath(path).startswith(os.path.realpath(checkout) + os.sep)
    if not inside or not (path.is_file() or path.is_dir()):
        raise CouldNotRebuild(
            f"could not rebuild: the build left no file or directory at {relative} ({subject})"
        )
    try:
        return sha256_directory(path) if path.is_dir() else sha256_file(path)
    except FormatError as exc:
        raise CouldNotRebuild(f"could not rebuild: {relative} ({subject}) cannot be hashed: {exc}") from None


# --- The diff hint ------------------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


def archive_members(path: Path) -> list[Member] | None:
    """The members of a zip or tar archive (plain or compressed), in the archive's order; None when the
    file is neither. Raises ``_TooLarge`` past ``MAX_MEMBERS`` members or ``MAX_UNPACKED_BYTES``."""
    if zipfile.is_zipfile(path):
        return list(_zip_members(path))
    try:
        with tarfile.open(path, "r:*") as archive:
            return list(_tar_members(archive))
    except (tarfile.TarError, EOFError, OSError):
        return None


def _zip_members(path: Path) -> Iterator[Member]:
    budget = [MAX_UNPACKED_BYTES]
    with zipfile.ZipFile(path) as archive:
        for number, info in enumerate(archive.infolist()):
            _count(number)
            digest = "" if info.is_dir() else _hash_stream(archive.open(info), budget)
            kind = "dir" if info.is_dir() else "file"
            meta = f"{kind} time {info.date_time} attributes {info.external_attr:o}"
            yield Member(info.filename, info.file_size, digest, meta)


def _tar_members(archive: tarfile.TarFile) -> Iterator[Member]:
    budget = [MAX_UNPACKED_BYTES]
    for number, info in enumerate(archive):
        _count(number)
        content = archive.extractfile(info) if info.isfile() else None
        digest = _hash_stream(content, budget) if content is not None else ""
        kind = "file" if info.isfile() else "dir" if info.isdir() else "link" if info.issym() else "other"
        meta = (
            f"{kind} mode {info.mode:o} time {info.mtime} owner {info.uid}:{info.gid}"
            + (f" {info.uname}:{info.gname}" if info.uname or info.gname else "")
            + (f" -> {info.linkname}" if info.linkname else "")
        )
        yield Member(info.name, info.size, digest, meta)


def _count(number: int) -> None:
    if number >= MAX_MEMBERS:
        raise _TooLarge(f"more than {MAX_MEMBERS} members")


def _hash_stream(stream: IO[bytes], budget: list[int]) -> str:
    hasher = hashlib.sha256()
    with stream:
        while chunk := stream.read(CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise _TooLarge(f"more than {MAX_UNPACKED_BYTES // 1024**3} GiB unpacked")
            hasher.update(chunk)
    return hasher.hexdigest()


def diff_hint(output: Path, reference: Path | None) -> list[str]:
    """Lines that say where an output that differs differs: an archive's members with size and sha256
    (with ``reference``, the release's own artifact, only the members that differ, are missing or
    extra), a directory's files, or a file's size."""
    if output.is_dir():
        files = sorted(regular_files(output, ""), key=os.fsencode)
        lines = [
            f"{name}  {(output / name).stat().st_size} bytes  {sha256_file(output / name)}" for name in files
        ]
        return _capped([f"the rebuilt directory holds {len(files)} files:", *lines])
    try:
        rebuilt = archive_members(output)
        original = archive_members(reference) if reference is not None else None
    except (_TooLarge, zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        return [f"{output.name} cannot be listed: {exc}"]
    if rebuilt is None:
        return [
            f"{output.name} is not a tar or zip archive; the rebuilt file has {output.stat().st_size} bytes"
        ]
    if reference is None or original is None:
        lines = [f"{m.name}  {m.size} bytes  {'sha256:' + m.sha256 if m.sha256 else m.meta}" for m in rebuilt]
        return _capped([f"the rebuilt {output.name} holds {len(rebuilt)} members:", *lines])
    return _capped(compare_members(original, rebuilt))


def compare_members(original: Sequence[Member], rebuilt: Sequence[Member]) -> list[str]:
    """The members of the release's archive and the rebuilt one that are not the same, one line each."""
    before = {member.name: member for member in original}
    after = {member.name: member for member in rebuilt}
    lines = [
        f"missing: {name} (in the release's artifact, not in the rebuild)"
        for name in before
        if name not in after
    ]
    lines += [
        f"extra: {name} (in the rebuild, not in the release's artifact)"
        for name in after
        if name not in before
    ]
    for name, was in before.items():
        now = after.get(name)
        if now is None:
            continue
        if (was.size, was.sha256) != (now.size, now.sha256):
            lines.append(
                f"differs: {name}  {was.size} bytes sha256:{was.sha256 or '-'} in the release, "
                f"{now.size} bytes sha256:{now.sha256 or '-'} rebuilt"
            )
        elif was.meta != now.meta:
            lines.append(f"differs: {name}  {was.meta} in the release, {now.meta} rebuilt")
    if not lines and [m.name for m in original] != [m.name for m in rebuilt]:
        lines.append("the same members in another order (sort them: tar --sort=name)")
    if not lines:
        lines.append(
            "every member is the same: the archive itself differs (its compression header, padding or "
            "trailing bytes: gzip -n, the same compressor and level)"
        )
    return lines


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_HINT_LINES:
        return lines
    return [*lines[:MAX_HINT_LINES], f"… and {len(lines) - MAX_HINT_LINES} more"]


# --- The command --------------------------------------------------------------------------------------


def add_rebuild_parser(subparsers: command.Subparsers) -> argparse.ArgumentParser:
    parser = command.add_subcommand(subparsers, "rebuild", run_rebuild)
    parser.add_argument(
        "--portal", required=True, help="the portal's base URL, e.g. https://vitrina.example.org"
    )
    parser.add_argument("--project", required=True, help="the project's slug")
    parser.add_argument("--version", required=True, help="the release's version, e.g. 1.4.2")
    parser.add_argument(
        "--key", metavar="KEY.pem", help="the rebuilder's private key (needed with --publish)"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help=f"post the signed rebuild to the portal, with the token in ${TOKEN_ENV}",
    )
    state.add_history_options(parser)
    parser.add_argument(
        "--reference",
        metavar="FILE",
        help="the release's artifact as published, to list only the archive members that differ",
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="copy the rebuilt outputs and the build's output (build.log) into DIR"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"stop the build after S seconds (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="let the repository be on a private or loopback address, or a local path (your own network)",
    )
    return parser


def run_rebuild(args: argparse.Namespace) -> int:
    """Rebuild a release from its commit, as an independent rebuilder, and compare the bytes.

    Find the release on the portal, check its proof bundle, check the commit out into a temporary
    directory, run the build command the release records in a clean environment (SOURCE_DATE_EPOCH the
    commit's time, fixed locale and time zone, no network where the machine allows it), hash the outputs
    and compare them with the release's. With --publish, post the rebuild signed with your key (--key)
    and your rebuilder token from $VITRINA_REBUILDER_TOKEN. Exit codes: 0 reproduced, 1 differs (or a
    proof bundle that does not verify, or a refused rebuild), 2 could not rebuild, 3 bad input.
    """
    if not SLUG.fullmatch(args.project):
        raise command.CommandError(
            f"--project {args.project[:80]!r} is not a slug (letters, digits, - and _)"
        )
    if not 0 < len(args.version) <= MAX_NAME or not args.version.isprintable():
        raise command.CommandError(f"--version must be 1 to {MAX_NAME} printable characters")
    if not 0 < args.timeout <= 7 * 24 * 3600:
        raise command.CommandError("--timeout must be a number of seconds, more than 0 and at most a week")
    if args.publish and not args.key:
        raise command.CommandError("--publish signs the rebuild: give your private key with --key")
    keep = kept_directory(args.keep)
    for tool in ("git", "bash"):
        if shutil.which(tool) is None:
            raise CouldNotRebuild(f"{tool} is not installed here; a rebuild needs it")
    portal = publish.check_portal_url(args.portal) if args.publish else state.check_portal_url(args.portal)
    log_key = command.read_log_key(args.log_key) if args.log_key else None
    private_key = read_private_key(args.key) if args.key else None
    token = os.environ.get(TOKEN_ENV, "").strip() if args.publish else None
    if token == "":
        raise command.CommandError(
            f"--publish: the environment variable {TOKEN_ENV} is empty; put your rebuilder token (vtb_…) "
            "there"
        )
    rebuilder = party_name(portal, private_key, "rebuilder") if token and private_key else None
    history = state.history_from(args, portal)

    release_id = find_release(portal, args.project, args.version)
    bundle = fetch_release_bundle(portal, args.project, args.version, release_id)
    record = bundle.record
    print(f"release: {args.project} {args.version} (release {release_id}), {record['artifact_digest']}")
    check_bundle(bundle, log_key, history)
    try:
        statement = release_statement(bundle)
    except VerifierError as exc:
        raise BundleRefused(f"the release's signed statement cannot be read: {exc}") from None
    build = build_instructions(statement)
    reference = reference_subject(args.reference, statement.subjects)

    started_on = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory(prefix="vitrina-rebuild-") as scratch:
        got, outputs, log = rebuild_in(Path(scratch), bundle, build, statement.subjects, args)
        rebuilt = Rebuilt(
            subjects=tuple(got),
            portal=portal,
            project=args.project,
            version=args.version,
            release_id=release_id,
            artifact_digest=record["artifact_digest"],
            repository=record["repo_url"],
            commit=record["source_commit"],
            build=build,
            rebuilder=rebuilder or "",
            started_on=started_on,
            finished_on=datetime.datetime.now(datetime.UTC),
            invocation_id=str(uuid.uuid4()),
        )
        try:
            comparison = compare_rebuild(statement.subjects, rebuilt)
        except VerifierError as exc:
            raise CouldNotRebuild(f"could not compare: {exc}") from None
        report(comparison, statement.subjects, got, build, outputs, reference, args.reference)
        if keep is not None:
            keep_outputs(keep, outputs, build, log)
    if rebuilder is not None and private_key is not None and token is not None:
        publish_rebuild(portal, token, rebuilt, private_key)
    return command.EXIT_FAILED if comparison.result == DIFFERS else command.EXIT_OK


def rebuild_in(
    work: Path,
    bundle: Bundle,
    build: BuildInstructions,
    subjects: Sequence[Subject],
    args: argparse.Namespace,
) -> tuple[list[Subject], dict[str, Path], Path]:
    """Check the release's commit out under ``work``, build it and hash its outputs: what the rebuild
    got (one subject per release subject), each output's path, and the build's log."""
    record = bundle.record
    checkout, home, tmp = work / "source", work / "home", work / "tmp"
    home.mkdir()
    tmp.mkdir()
    mirrors = RepoMirror(
        work / "mirror", timeout=GIT_TIMEOUT, min_fetch_interval=0, allow_private=args.allow_private
    )
    try:
        epoch = mirrors.check_out(bundle.project.repo_url, record["source_commit"], checkout)
    except CouldNotCheck as exc:
        if exc.reason == Reason.COMMIT_MISSING:
            raise SourceMissing(f"{exc} The release's source is not published there.") from None
        raise CouldNotRebuild(f"could not rebuild: {exc}") from None
    normalize_modes(checkout)
    print(f"source: commit {record['source_commit']} of {bundle.project.repo_url}, SOURCE_DATE_EPOCH={epoch}")
    isolation = network_isolation()
    ignored = sorted(name for name in build.environment if name in MACHINE_VARIABLES)
    if ignored:
        print(f"note: the release's buildEnvironment sets {', '.join(ignored)}; this machine's own is used")
    print(
        f"build: {build.command}"
        + (
            "  (network isolated: unshare -rn)"
            if isolation
            else "  (network not isolated: unshare -rn is not allowed here)"
        )
    )
    log = work / "build.log"
    run = run_build(
        build,
        checkout,
        build_environment(build, epoch, home, tmp),
        log,
        timeout=args.timeout,
        isolation=isolation,
    )
    if run.returncode != 0:
        for line in log_tail(log):
            print(f"  | {line}")
        failure = (
            f"did not finish within {args.timeout:g} s"
            if run.returncode is None
            else f"exited with {run.returncode}"
        )
        raise CouldNotRebuild(f"could not rebuild: the build command {failure}")
    print(f"build: finished in {run.seconds:.1f} s")
    got, outputs = [], {}
    for subject in subjects:
        relative = build.outputs[subject.name]
        digest = output_digest(checkout, relative, subject.name)
        got.append(Subject(subject.name, {"sha256": parse_digest(digest)}))
        outputs[subject.name] = checkout / relative
    return got, outputs, log


def report(
    comparison: RebuildComparison,
    subjects: Sequence[Subject],
    got: Sequence[Subject],
    build: BuildInstructions,
    outputs: Mapping[str, Path],
    reference_name: str | None,
    reference_path: str | None,
) -> None:
    """One line per subject, a diff hint under each that differs, and the RESULT line."""
    differing = {difference.name: difference for difference in comparison.differences}
    for subject, rebuilt in zip(subjects, got, strict=True):
        where = build.outputs[subject.name]
        difference = differing.get(subject.name)
        if difference is None:
            print(f"PASS  {subject.name}: rebuilt {where} is sha256:{rebuilt.sha256}, as released")
            continue
        print(
            f"FAIL  {subject.name}: rebuilt {where} is {difference.got}, "
            f"the release's is {difference.expected}"
        )
        reference = Path(reference_path) if reference_path and reference_name == subject.name else None
        for line in diff_hint(outputs[subject.name], reference):
            print(f"        {line}")
    if comparison.result == DIFFERS:
        names = ", ".join(difference.name for difference in comparison.differences)
        print(
            f"RESULT: DIFFERS. {len(differing)} of {len(subjects)} outputs differ from the release: {names}"
        )
    else:
        print(f"RESULT: reproduced. every output of the release was rebuilt bit for bit ({len(subjects)})")


def kept_directory(path: str | None) -> Path | None:
    """``--keep DIR``: a directory that does not exist yet or is empty; ``CommandError`` otherwise."""
    if path is None:
        return None
    directory = Path(path)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise command.CommandError(f"--keep {path}: not an empty directory")
    return directory


def keep_outputs(keep: Path, outputs: Mapping[str, Path], build: BuildInstructions, log: Path) -> None:
    """Copy each output to ``keep``/<its path in the repository>, and the build's log to build.log."""
    keep.mkdir(parents=True, exist_ok=True)
    for name, path in outputs.items():
        target = keep / build.outputs[name]
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target, symlinks=True)
        else:
            shutil.copyfile(path, target)
    shutil.copyfile(log, keep / "build.log")
    print(f"kept: the outputs and build.log in {keep}")


def publish_rebuild(portal: str, token: str, rebuilt: Rebuilt, private_key: PrivateKey) -> None:
    """Sign the rebuild with the rebuilder's key and post it; ``publish.Refused`` (exit 1) or
    ``publish.Unreachable`` (exit 2) when the portal does not take it."""
    envelope = sign_rebuild(rebuilt, private_key)
    answer = publish.call(f"{portal}/api/v1/rebuilds/", {"envelope": envelope_to_json(envelope)}, token)
    print(
        f"published: rebuild {answer.get('id')} ({answer.get('result')}), log index {answer.get('log_index')}"
    )
