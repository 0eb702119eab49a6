"""Ask a public git repository whether a release's commit exists and is on the protected branch.

The answers come from a local bare mirror of the repository's branches and tags, fetched with the
``git`` command. Only branches and tags are mirrored (not ``git clone --mirror``'s every ref): a commit
that only lives in a pull request's ref was never published on a branch, and ``refs/replace/*`` must
not be able to swap one commit for another.

Repository URLs, commits and branch names come from outside, so git is run defensively:

- never through a shell, always with a timeout, and a timed-out git is killed with every process it
  started (``git fetch`` spawns helpers);
- without system or user configuration, credential helpers, prompts, hooks or replace refs;
- with only the ``https``, ``http``, ``git`` and ``file`` transports (``ext::`` would run a command);
- with every value checked before it reaches git's command line, so none can start with ``-`` and be
  read as an option: URLs must pass ``check_repo_url`` (also the rule at entry), commits must be 40 or
  64 lowercase hex, branches must pass ``git check-ref-format --branch``. A malformed value raises
  ``FormatError``;
- under the live check's address rules (``verifier.live.checked_addresses``): the repository's host
  is resolved once, every address is checked, and git may connect only to the checked addresses
  (for http and https through curl's resolve list, ``http.curloptResolve``; for ``git://``, which has
  no such option, by giving git the checked address in place of the name). Redirects are not
  followed, so there is no second hop. Local repositories (``file://``, paths) are read only when
  private addresses are allowed. A proxy set in the environment makes the final connection itself;
- with git's own messages, which may quote a server's answer, logged for the operator and replaced
  by a plain sentence in every error.

One mirror serves any number of threads and processes: a ``fcntl.flock`` per mirror serialises fetches
(exclusive) against reads (shared), and a mirror is fetched at most once per ``min_fetch_interval``,
so a thousand checks of one repository do not fetch it a thousand times.
"""

import fcntl
import functools
import hashlib
import ipaddress
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from verifier.digest import is_commit_id
from verifier.errors import CouldNotCheck, FormatError
from verifier.live import AddressInfo, checked_addresses
from verifier.reasons import Reason

ALLOWED_SCHEMES = ("https", "http", "git", "file")
MIRRORED_REFS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")

_logger = logging.getLogger(__name__)
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_DEFAULT_PORTS = {"https": 443, "http": 80, "git": 9418}
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")
_LOCK_POLL = 0.05
# A host that reaches the internet through a proxy, or trusts a private CA, still has to reach https repos.
_PASSED_THROUGH = (
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
)
_FETCHED_STAMP = "vitrina-fetched-at"

# Passed as ``git -c`` so they override anything a repository's own config could say.
_SAFE_CONFIG = (
    "protocol.allow=never",
    *(f"protocol.{scheme}.allow=always" for scheme in ALLOWED_SCHEMES),
    "credential.helper=",
    "core.askPass=",
    f"core.hooksPath={os.devnull}",
    "core.fsmonitor=false",
    "fetch.recurseSubmodules=false",
    # A redirect would be a second hop to a name curl resolves by itself, past the address check
    # (and "initial", git's default, also follows http-alternates to other hosts).
    "http.followRedirects=false",
    "gc.auto=0",
    "maintenance.auto=false",
)


@dataclass
class RepoCheck:
    """Where a commit stands relative to a branch.

    ``ahead_by`` is how many commits the branch has on top of the commit (0: the commit is the branch
    head); it and ``on_branch`` are only meaningful when the commit exists.
    """

    commit_exists: bool
    on_branch: bool
    ahead_by: int | None
    branch_head: str | None


class RepoMirror:
    """Bare mirrors of repositories under ``cache_dir``, one per URL, named by the URL's sha256.

    ``allow_private`` is ``fetch_live``'s: it lets fetches reach loopback and private addresses and
    read local repositories (tests, home installs); link-local and cloud metadata addresses stay
    refused always. A refused address raises ``CouldNotCheck(FORBIDDEN_ADDRESS)`` before git starts.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        timeout: float = 60.0,
        min_fetch_interval: float = 30.0,
        allow_private: bool = False,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.min_fetch_interval = min_fetch_interval
        self.allow_private = allow_private

    def check_commit(self, repo_url: str, commit: str, branch: str) -> RepoCheck:
        """Return the ``RepoCheck`` of ``commit`` against ``refs/heads/<branch>`` of ``repo_url``.

        Raises ``CouldNotCheck(REPO_UNREACHABLE)`` when the repository cannot be fetched or has no such
        branch, ``CouldNotCheck(FORBIDDEN_ADDRESS)`` when the address policy refuses it, ``FormatError``
        when the URL, commit or branch is malformed.
        """
        check_repo_url(repo_url)
        check_commit_id(commit)
        check_branch_name(branch)
        mirror = self._fresh_mirror(repo_url)
        with self._locked(repo_url, fcntl.LOCK_SH):
            head = _rev_parse(mirror, f"refs/heads/{branch}", self.timeout)
            if head is None:
                raise CouldNotCheck(
                    Reason.REPO_UNREACHABLE, f"The repository {repo_url} has no branch {branch!r}."
                )
            if not _commit_exists(mirror, commit, self.timeout):
                return RepoCheck(commit_exists=False, on_branch=False, ahead_by=None, branch_head=head)
            on_branch = _is_ancestor(mirror, commit, head, self.timeout)
            ahead_by = _count_between(mirror, commit, head, self.timeout) if on_branch else None
        return RepoCheck(commit_exists=True, on_branch=on_branch, ahead_by=ahead_by, branch_head=head)

    def check_out(self, repo_url: str, commit: str, destination: str | os.PathLike[str]) -> int:
        """Check out ``commit`` of ``repo_url`` at ``destination`` (a new directory), detached, its
        ``origin`` the repository's URL; return the commit's committer time (Unix seconds).

        The working tree is a local clone of the mirror, fetched first under this mirror's address
        rules, so git reads nothing that the address check did not let in. ``CouldNotCheck`` with
        ``COMMIT_MISSING`` when the repository has no such commit, ``REPO_UNREACHABLE`` when git fails.
        """
        check_repo_url(repo_url)
        check_commit_id(commit)
        mirror = self._fresh_mirror(repo_url)
        target = Path(destination).absolute()
        try:
            with self._locked(repo_url, fcntl.LOCK_SH):
                if not _commit_exists(mirror, commit, self.timeout):
                    raise CouldNotCheck(
                        Reason.COMMIT_MISSING, f"The repository {repo_url} has no commit {commit}."
                    )
                clone = ("clone", "--quiet", "--no-checkout", "--no-hardlinks", "--", str(mirror))
                _git(target.parent, *clone, str(target), timeout=self.timeout)
            _git(target, "checkout", "--quiet", "--detach", commit, timeout=self.timeout)
            _git(target, "remote", "set-url", "origin", repo_url, timeout=self.timeout)
            committed = _git(target, "log", "-1", "--format=%ct", commit, timeout=self.timeout).stdout
        except _GitFailed as exc:
            raise CouldNotCheck(
                Reason.REPO_UNREACHABLE, f"Could not check out commit {commit} of {repo_url}: {exc}."
            ) from None
        return int(committed.strip())

    def list_commits(
        self, repo_url: str, old_commit: str | None, new_commit: str, limit: int = 100, *, fetch: bool = True
    ) -> list[dict[str, str]] | None:
        """Commits reachable from ``new_commit`` but not from ``old_commit``, newest first.

        What changed since the previous release: a list of ``{"sha", "author", "date", "subject"}``
        (``date`` is the author date in ISO 8601), at most ``limit`` long. ``old_commit`` may be None
        for a first release. A commit missing from the repository raises ``CouldNotCheck``.

        With ``fetch=False`` the network is never touched: only a mirror that already exists is read,
        as it is, and None is returned when there is none. A web page can afford that, not a fetch.
        """
        check_repo_url(repo_url)
        for commit in (old_commit, new_commit):
            if commit is not None:
                check_commit_id(commit)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if fetch:
            mirror = self._fresh_mirror(repo_url)
        else:
            mirror = self.mirror_path(repo_url)
            if not mirror.is_dir():
                return None
        try:
            with self._locked(repo_url, fcntl.LOCK_SH):
                for commit in (old_commit, new_commit):
                    if commit is not None and not _commit_exists(mirror, commit, self.timeout):
                        raise CouldNotCheck(
                            Reason.COMMIT_MISSING, f"The repository {repo_url} has no commit {commit}."
                        )
                revisions = [f"^{old_commit}", new_commit] if old_commit else [new_commit]
                output = _git(
                    mirror,
                    "log",
                    f"--max-count={limit}",
                    "--format=%H%x00%an%x00%aI%x00%s",
                    *revisions,
                    timeout=self.timeout,
                ).stdout
        except _GitFailed as exc:
            raise CouldNotCheck(
                Reason.REPO_UNREACHABLE, f"Could not list the commits of {repo_url}: {exc}."
            ) from None
        return [
            dict(zip(("sha", "author", "date", "subject"), line.split("\0", 3), strict=True))
            for line in output.splitlines()
        ]

    def mirror_path(self, repo_url: str) -> Path:
        return self.cache_dir / hashlib.sha256(repo_url.encode()).hexdigest()

    def _fresh_mirror(self, repo_url: str) -> Path:
        """The mirror of ``repo_url``, created or fetched first unless fetched less than an interval ago."""
        path = self.mirror_path(repo_url)
        with self._locked(repo_url, fcntl.LOCK_EX):
            if not path.is_dir():
                self._create(repo_url, path)
            elif _seconds_since_fetch(path) >= self.min_fetch_interval:
                self._fetch(repo_url, path)
        return path

    def _create(self, repo_url: str, path: Path) -> None:
        """Build the mirror in a scratch directory and move it in place only once it is complete."""
        source, config = self._pinned_source(repo_url)
        scratch = Path(tempfile.mkdtemp(prefix=path.name + ".", suffix=".new", dir=self.cache_dir))
        try:
            _git(scratch, "init", "--quiet", "--bare", timeout=self.timeout)
            self._fetch(repo_url, scratch, source, config)
            scratch.rename(path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _fetch(
        self, repo_url: str, path: Path, source: str | None = None, config: Sequence[str] = ()
    ) -> None:
        """Fetch the mirrored refs of ``repo_url`` from ``source`` (by default, resolved and checked now).

        The URL is given on the command line, never taken from the mirror's own configuration, so
        each fetch goes where this fetch's address check said.
        """
        if source is None:
            source, config = self._pinned_source(repo_url)
        try:
            _git(
                path,
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-recurse-submodules",
                "--no-write-fetch-head",
                "--end-of-options",
                source,
                *MIRRORED_REFS,
                timeout=self.timeout,
                config=config,
            )
        except _GitFailed as exc:
            raise CouldNotCheck(
                Reason.REPO_UNREACHABLE, f"Could not fetch the repository {repo_url}: {exc}."
            ) from None
        (path / _FETCHED_STAMP).write_text(f"{time.time()}\n")

    def _pinned_source(self, repo_url: str) -> tuple[str, tuple[str, ...]]:
        """``(URL for git, extra git settings)`` that hold git to addresses checked here, once.

        Raises ``CouldNotCheck(FORBIDDEN_ADDRESS)`` for a forbidden address or a local repository when
        private addresses are not allowed, ``TIMEOUT``/``UNREACHABLE`` when the name does not resolve.
        """
        if not _URL_SCHEME.match(repo_url) or repo_url.startswith("file:"):
            if not self.allow_private:
                raise CouldNotCheck(
                    Reason.FORBIDDEN_ADDRESS,
                    f"Refused to fetch {repo_url}: local repositories are read only when private "
                    "addresses are allowed.",
                )
            return repo_url, ()
        parts = urlsplit(repo_url)
        host, port = parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]
        if host is None:  # check_repo_url refuses such a URL first; a caller that skipped it gets the same
            raise FormatError(f"repository URL {repo_url!r} has no host")
        entries = checked_addresses(
            host, port, allow_private=self.allow_private, timeout=self.timeout, url=repo_url
        )
        shown = [f"[{address}]" if ":" in address else address for address in _unique_addresses(entries)]
        if parts.scheme == "git":
            # The git protocol has no resolve option: git gets the checked address itself. Its request
            # then names the address as the virtual host, which a public git daemon serving one host
            # ignores.
            pinned = f"{shown[0]}:{port}"
            return urlunsplit(("git", pinned, parts.path, parts.query, parts.fragment)), ()
        if _is_address(host):
            return repo_url, ()
        return repo_url, (f"http.curloptResolve={host}:{port}:{','.join(shown)}",)

    @contextmanager
    def _locked(self, repo_url: str, mode: int) -> Iterator[None]:
        """Hold the mirror's file lock, waiting at most ``timeout`` for another fetch to finish."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.mirror_path(repo_url).with_suffix(".lock")
        with open(lock_path, "a") as lock_file:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(lock_file, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise CouldNotCheck(
                            Reason.REPO_UNREACHABLE,
                            f"The mirror of {repo_url} stayed busy for more than {self.timeout:g} s.",
                        ) from None
                    time.sleep(_LOCK_POLL)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def check_commit_in_repo(
    repo_path_or_url: str | os.PathLike[str], commit: str, branch: str, *, timeout: float = 60.0
) -> RepoCheck:
    """``RepoMirror.check_commit`` against a throw-away mirror: for a volunteer's one-off check.

    ``repo_path_or_url`` may be a local directory (a clone or a bare repository) or a URL. Private
    addresses and local repositories are allowed: the volunteer running the check chose the
    repository, nothing from outside did.
    """
    target = str(repo_path_or_url)
    if not _URL_SCHEME.match(target) and not target.startswith("-"):
        target = os.path.abspath(target)
    with tempfile.TemporaryDirectory(prefix="vitrina-repo-") as cache_dir:
        return RepoMirror(cache_dir, timeout=timeout, min_fetch_interval=0, allow_private=True).check_commit(
            target, commit, branch
        )


def check_repo_url(repo_url: object) -> None:
    """The one rule for a repository URL, when it is entered and before every fetch.

    Accepted: an ``https``, ``http`` or ``git`` URL with a host and no credentials, a ``file:///``
    URL, or an absolute local path. Nothing git could take for an option or a command: no spaces or
    control characters, a lowercase scheme (so no ``ext::`` and no leading ``-``), a host that is an
    ASCII name (international names in their ``xn--`` form) or an IP address. Whether the address may
    be reached is decided at fetch time. Raises ``FormatError`` saying what is wrong.
    """
    if not isinstance(repo_url, str) or not repo_url:
        raise FormatError("the repository URL is empty")
    if any(char.isspace() or not char.isprintable() for char in repo_url):
        raise FormatError(f"repository URL {repo_url!r} contains spaces or control characters")
    scheme = _URL_SCHEME.match(repo_url)
    if scheme is None:
        if not repo_url.startswith("/") or "::" in repo_url:
            raise FormatError(
                f"repository {repo_url!r} must be an https, http, git or file URL, or an absolute path"
            )
        return
    if scheme.group(1) not in ALLOWED_SCHEMES:
        raise FormatError(f"repository URL {repo_url!r} must start with https://, http://, git:// or file://")
    parts = urlsplit(repo_url)
    if "@" in parts.netloc:
        raise FormatError(
            f"the repository URL for {parts.netloc.rpartition('@')[2]} contains credentials; "
            "give the public URL, without a user name or password"
        )
    if parts.scheme == "file":
        if parts.netloc:
            raise FormatError(f"repository URL {repo_url!r} must be file:///<absolute path>, without a host")
        return
    _check_url_host(repo_url, parts)


def _check_url_host(repo_url: str, parts: SplitResult) -> None:
    try:
        _ = parts.port  # urlsplit checks the port only when asked for it
    except ValueError:
        raise FormatError(f"repository URL {repo_url!r} has an invalid port") from None
    host = parts.hostname
    if not host:
        raise FormatError(f"repository URL {repo_url!r} has no host")
    if not (_is_address(host) or _HOST_NAME.fullmatch(host)):
        raise FormatError(
            f"repository URL {repo_url!r} has an invalid host name "
            "(write international names in their xn-- form)"
        )


def check_commit_id(commit: object) -> None:
    if not is_commit_id(commit):
        raise FormatError(f"commit {commit!r} is not 40 or 64 lowercase hex characters")


def check_branch_name(branch: object) -> None:
    """Accept only what ``git check-ref-format --branch`` accepts, and never a value starting with ``-``."""
    if not isinstance(branch, str) or not branch or branch.startswith("-") or "@{" in branch:
        raise FormatError(f"branch name {branch!r} is not a valid git branch name")
    if not _git_accepts_branch_name(branch):
        raise FormatError(f"branch name {branch!r} is not a valid git branch name")


@functools.lru_cache(maxsize=1024)
def _git_accepts_branch_name(branch: str) -> bool:
    """git's verdict on a branch name: a pure function of the name, so asked once per name per process
    (a git process costs milliseconds; every check of a project asks about the same protected branch)."""
    with tempfile.TemporaryDirectory(prefix="vitrina-ref-") as empty:
        result = _run(["git", "check-ref-format", "--branch", branch], cwd=empty, timeout=10)
    return result.returncode == 0


def _rev_parse(mirror: Path, ref: str, timeout: float) -> str | None:
    result = _run(_git_command("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"), mirror, timeout)
    return result.stdout.strip() if result.returncode == 0 else None


def _commit_exists(mirror: Path, commit: str, timeout: float) -> bool:
    return _run(_git_command("cat-file", "-e", f"{commit}^{{commit}}"), mirror, timeout).returncode == 0


def _is_ancestor(mirror: Path, commit: str, head: str, timeout: float) -> bool:
    result = _run(_git_command("merge-base", "--is-ancestor", commit, head), mirror, timeout)
    if result.returncode not in (0, 1):
        failure = _failed("merge-base", result)
        raise CouldNotCheck(
            Reason.REPO_UNREACHABLE, f"The ancestry of commit {commit} is unknown: {failure}."
        )
    return result.returncode == 0


def _count_between(mirror: Path, commit: str, head: str, timeout: float) -> int:
    return int(_git(mirror, "rev-list", "--count", f"{commit}..{head}", timeout=timeout).stdout)


def _seconds_since_fetch(path: Path) -> float:
    try:
        return time.time() - float((path / _FETCHED_STAMP).read_text())
    except (OSError, ValueError):
        return float("inf")


def _unique_addresses(entries: list[AddressInfo]) -> list[str]:
    return list(dict.fromkeys(entry[4][0] for entry in entries))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _GitFailed(Exception):
    """A git command exited with an error or ran out of time; the message is a plain sentence."""


# What git's messages mean, in words fit for a public page, checked in order. git's own words may
# quote a server's answer (or anything the server chose to send), so they only go to the log.
_PLAIN_FAILURES = (
    ("could not resolve host", "its host name does not resolve"),
    ("returned error: 30", "it redirects elsewhere; register the repository's current URL"),
    ("could not read username", "it asks for credentials, so it is not public"),
    ("authentication failed", "it asks for credentials, so it is not public"),
    ("returned error: 401", "it asks for credentials, so it is not public"),
    ("returned error: 403", "access to it is forbidden"),
    ("not found", "it has no git repository there"),
    ("does not appear to be a git repository", "it has no git repository there"),
    ("not exported", "it has no git repository there"),
    ("certificate", "its TLS certificate is not valid"),
    ("connection refused", "the connection was refused"),
    ("timed out", "the connection timed out"),
    ("unable to connect", "the connection failed"),
    ("unable to access", "the server did not answer as a git server"),
)


def _failed(command: str, result: subprocess.CompletedProcess[str]) -> str:
    """Log git's words for the operator and return the plain sentence for everyone else."""
    _logger.info("git %s failed with status %s: %s", command, result.returncode, result.stderr.strip())
    stderr = result.stderr.lower()
    for words, plain in _PLAIN_FAILURES:
        if words in stderr:
            return plain
    return f"git {command} failed (exit status {result.returncode})"


def _git(
    cwd: Path, *args: str, timeout: float, config: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run a git command that must succeed; ``config`` adds ``-c`` settings after the safe ones."""
    result = _run(_git_command(*args, config=config), cwd, timeout)
    if result.returncode != 0:
        raise _GitFailed(_failed(args[0], result))
    return result


def _git_command(*args: str, config: Sequence[str] = ()) -> list[str]:
    settings = (*_SAFE_CONFIG, *config)
    return ["git", *(arg for setting in settings for arg in ("-c", setting)), *args]


def _run(command: list[str], cwd: str | Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in its own process group, killing the whole group if it outlives ``timeout``."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=_git_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise _GitFailed(f"git did not finish within {timeout:g} s") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _git_env() -> dict[str, str]:
    """A minimal environment: no user or system config, no prompts, no replace refs, English messages."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.devnull,
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_ALLOW_PROTOCOL": ":".join(ALLOWED_SCHEMES),
        "GIT_NO_REPLACE_OBJECTS": "1",
        **{name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ},
    }
