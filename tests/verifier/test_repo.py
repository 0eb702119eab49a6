"""The repository check against real git repositories, over git:// (a real git daemon), smart HTTP (a
real ``git http-backend``) and file://."""

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.gitserver import (
    GitDaemon,
    GitHttpServer,
    add_commit,
    free_port,
    git,
    make_repo,
    make_side_commit,
)
from verifier.errors import CouldNotCheck, FormatError
from verifier.reasons import Reason
from verifier.repo import RepoCheck, RepoMirror, check_commit_in_repo, check_repo_url

MISSING_COMMIT = "d" * 40
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repos(tmp_path):
    """The directory a git daemon serves, holding ``app.git`` with three commits on main."""
    base = tmp_path / "served"
    make_repo(base / "app.git", commits=3)
    return base


@pytest.fixture(params=["git", "http", "file"])
def repo_url(request, repos):
    """The URL of ``app.git``, over git://, over smart HTTP and over file://."""
    if request.param == "file":
        yield (repos / "app.git").as_uri()
        return
    server = GitDaemon(repos) if request.param == "git" else GitHttpServer(repos)
    with server:
        yield server.url_for("app.git")


@pytest.fixture
def mirror(tmp_path):
    """A mirror as tests and home installs run it: loopback repositories are allowed."""
    return RepoMirror(tmp_path / "cache", timeout=10.0, min_fetch_interval=0, allow_private=True)


@pytest.fixture
def strict_mirror(tmp_path):
    """A mirror as the portal runs it by default: private and loopback addresses are refused."""
    return RepoMirror(tmp_path / "cache", timeout=5.0, min_fetch_interval=0, allow_private=False)


def shas_of(repos):
    return git(repos / "app.git", "rev-list", "--reverse", "main").split()


def test_commit_on_branch_counts_how_far_the_branch_moved_on(mirror, repos, repo_url):
    first = shas_of(repos)[0]
    add_commit(repos / "app.git", "main", "change 4")
    head = add_commit(repos / "app.git", "main", "change 5")

    check = mirror.check_commit(repo_url, first, "main")

    assert check == RepoCheck(commit_exists=True, on_branch=True, ahead_by=4, branch_head=head)


def test_branch_head_is_on_branch_and_ahead_by_zero(mirror, repos, repo_url):
    head = shas_of(repos)[-1]

    assert mirror.check_commit(repo_url, head, "main") == RepoCheck(True, True, 0, head)


def test_commit_only_on_another_branch_is_not_on_branch(mirror, repos, repo_url):
    side = make_side_commit(repos / "app.git")

    check = mirror.check_commit(repo_url, side, "main")

    assert check.commit_exists is True
    assert check.on_branch is False
    assert check.ahead_by is None
    assert check.branch_head == shas_of(repos)[-1]


def test_missing_commit_is_reported_as_missing(mirror, repo_url):
    check = mirror.check_commit(repo_url, MISSING_COMMIT, "main")

    assert (check.commit_exists, check.on_branch, check.ahead_by) == (False, False, None)


def test_unknown_branch_is_repo_unreachable(mirror, repos, repo_url):
    with pytest.raises(CouldNotCheck) as caught:
        mirror.check_commit(repo_url, shas_of(repos)[0], "release")

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert "'release'" in str(caught.value)


def test_closed_port_is_repo_unreachable_within_the_timeout(tmp_path):
    mirror = RepoMirror(tmp_path / "cache", timeout=3.0, allow_private=True)
    started = time.monotonic()

    with pytest.raises(CouldNotCheck) as caught:
        mirror.check_commit(f"git://127.0.0.1:{free_port()}/app.git", MISSING_COMMIT, "main")

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert "127.0.0.1" in str(caught.value)
    assert time.monotonic() - started < 3.0
    assert [entry.suffix for entry in (tmp_path / "cache").iterdir()] == [".lock"], "no half-built mirror"


def test_new_commit_is_seen_once_the_fetch_interval_has_passed(mirror, repos, repo_url):
    mirror.check_commit(repo_url, shas_of(repos)[-1], "main")
    new = add_commit(repos / "app.git", "main", "hotfix")

    check = mirror.check_commit(repo_url, new, "main")

    assert check == RepoCheck(True, True, 0, new)


def test_repeated_checks_within_the_interval_do_not_fetch_again(tmp_path, repos):
    mirror = RepoMirror(tmp_path / "cache", timeout=10.0, min_fetch_interval=3600, allow_private=True)
    url = (repos / "app.git").as_uri()
    mirror.check_commit(url, shas_of(repos)[-1], "main")
    new = add_commit(repos / "app.git", "main", "not fetched yet")

    check = mirror.check_commit(url, new, "main")

    assert check.commit_exists is False


def test_branch_force_pushed_away_from_a_commit_is_seen_after_fetch(mirror, repos, repo_url):
    head = shas_of(repos)[-1]
    mirror.check_commit(repo_url, head, "main")
    git(repos / "app.git", "update-ref", "refs/heads/main", shas_of(repos)[0])

    check = mirror.check_commit(repo_url, head, "main")

    assert check.on_branch is False


def test_two_threads_checking_one_repo_get_the_same_right_answer(mirror, repos, repo_url):
    first, *_, head = shas_of(repos)
    results, errors = [], []

    def check():
        try:
            results.append(mirror.check_commit(repo_url, first, "main"))
        except Exception as exc:  # collected, so a failure in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == [RepoCheck(True, True, 2, head)] * 4


def test_two_processes_creating_one_mirror_at_once_both_succeed(tmp_path, repos):
    """The file lock, not luck, keeps two workers from building the same mirror on top of each other."""
    url = (repos / "app.git").as_uri()
    head = shas_of(repos)[-1]
    script = (
        "import sys; from verifier.repo import RepoMirror; "
        "mirror = RepoMirror(sys.argv[1], timeout=10.0, min_fetch_interval=0, allow_private=True); "
        "check = mirror.check_commit(*sys.argv[2:]); "
        "print(check.on_branch, check.ahead_by)"
    )
    command = [sys.executable, "-c", script, str(tmp_path / "cache"), url, head, "main"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [worker.communicate(timeout=30)[0] for worker in workers]

    assert outputs == ["True 0\n"] * 3
    assert len([entry for entry in (tmp_path / "cache").iterdir() if entry.is_dir()]) == 1


def test_list_commits_shows_what_changed_since_the_previous_release(mirror, repos, repo_url):
    first, second, third = shas_of(repos)

    changes = mirror.list_commits(repo_url, first, third)

    assert [change["sha"] for change in changes] == [third, second]
    assert changes[0] == {
        "sha": third,
        "author": "Ada Tester",
        "date": "2024-01-01T00:02:00+00:00",
        "subject": "change 3",
    }


def test_list_commits_of_a_first_release_respects_the_limit(mirror, repos, repo_url):
    shas = shas_of(repos)

    changes = mirror.list_commits(repo_url, None, shas[-1], limit=2)

    assert [change["sha"] for change in changes] == shas[:0:-1]


def test_list_commits_with_a_missing_commit_cannot_be_done(mirror, repos, repo_url):
    with pytest.raises(CouldNotCheck) as caught:
        mirror.list_commits(repo_url, MISSING_COMMIT, shas_of(repos)[-1])

    assert caught.value.reason is Reason.COMMIT_MISSING


def test_check_commit_in_repo_works_on_a_local_path(repos):
    side = make_side_commit(repos / "app.git")

    assert check_commit_in_repo(repos / "app.git", shas_of(repos)[-1], "main").on_branch is True
    assert check_commit_in_repo(str(repos / "app.git"), side, "side").ahead_by == 0


# --- hostile values never reach git's command line ------------------------------------------------


@pytest.mark.parametrize(
    "commit",
    ["--upload-pack=touch pwned", "-d", "HEAD", "main", "D" * 40, "d" * 39, "d" * 41, "d" * 40 + "\n", None],
)
def test_malformed_commits_are_refused(mirror, repos, commit):
    with pytest.raises(FormatError):
        mirror.check_commit((repos / "app.git").as_uri(), commit, "main")


@pytest.mark.parametrize(
    "branch", ["--output=/tmp/pwned", "-main", "@{-1}", "main..side", "bad name", "a:b", "", "main.lock"]
)
def test_malformed_branch_names_are_refused(mirror, repos, branch):
    with pytest.raises(FormatError):
        mirror.check_commit((repos / "app.git").as_uri(), MISSING_COMMIT, branch)


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch pwned",
        "-oProxyCommand=touch pwned",
        "ext::sh -c touch% pwned",
        "ssh://127.0.0.1/app.git",
        "git@example.org:app.git",
        "fd::3",
        "relative/path",
        " git://127.0.0.1/app.git",
        "git://127.0.0.1/app.git\n",
        "https://user:pw@example.org/app.git",
        "https://token@example.org/app.git",
        "git://user@example.org/app.git",
        "https://-oProxyCommand=x/app.git",
        "https://example.org/app.git --upload-pack=touch%20pwned",
        "https:///app.git",
        "https://example.org:99999/app.git",
        "HTTPS://example.org/app.git",
        "https://exämple.org/app.git",
        "file://example.org/srv/app.git",
        "http::example.org/app.git",
    ],
)
def test_malformed_or_dangerous_repository_urls_are_refused(mirror, url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(FormatError):
        mirror.check_commit(url, MISSING_COMMIT, "main")

    assert not (tmp_path / "pwned").exists()


def test_ext_transport_is_refused_by_git_itself_even_past_validation(tmp_path, monkeypatch):
    """Defence in depth: if a URL slipped past validation, git's protocol allow-list still refuses it."""
    monkeypatch.setattr("verifier.repo.check_repo_url", lambda url: None)
    monkeypatch.chdir(tmp_path)
    mirror = RepoMirror(tmp_path / "cache", timeout=10.0, allow_private=True)

    with pytest.raises(CouldNotCheck) as caught:
        mirror.check_commit(f"ext::sh -c touch% {tmp_path}/pwned", MISSING_COMMIT, "main")

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert list(tmp_path.rglob("pwned")) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/vitrina/vitrina.git",
        "http://git.example.org:8080/app",
        "git://git.example.org/app.git",
        "https://[2001:db8::1]/app.git",
        "file:///srv/git/app.git",
        "/srv/git/app.git",
    ],
)
def test_well_formed_repository_urls_are_accepted(url):
    check_repo_url(url)


def test_a_url_with_credentials_is_refused_with_a_sentence_that_does_not_repeat_them():
    with pytest.raises(FormatError) as caught:
        check_repo_url("https://user:s3cret@example.org/app.git")

    assert "credentials" in str(caught.value)
    assert "s3cret" not in str(caught.value)


# --- the private-address policy, applied to every repository fetch ---------------------------------


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that accepts, counts and closes every connection made to it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                self.sock.accept()[0].close()
                self.connections += 1
            except TimeoutError:
                continue

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_loopback_http_repository_is_refused_and_git_never_connects(strict_mirror, repos, host):
    with GitHttpServer(repos) as server:
        with pytest.raises(CouldNotCheck) as caught:
            strict_mirror.check_commit(server.url_for("app.git", host=host), MISSING_COMMIT, "main")

    assert caught.value.reason is Reason.FORBIDDEN_ADDRESS
    assert "a loopback address" in str(caught.value)
    assert server.requests == []


@pytest.mark.parametrize("scheme", ["http", "https", "git"])
def test_no_transport_connects_to_a_loopback_listener_when_private_addresses_are_refused(
    strict_mirror, scheme
):
    with ConnectionCounter() as listener:
        with pytest.raises(CouldNotCheck) as caught:
            strict_mirror.check_commit(
                f"{scheme}://localhost:{listener.port}/app.git", MISSING_COMMIT, "main"
            )

    assert caught.value.reason is Reason.FORBIDDEN_ADDRESS
    assert listener.connections == 0


@pytest.mark.parametrize("address", ["10.0.0.7", "192.168.1.20", "169.254.169.254"])
def test_private_and_metadata_addresses_are_refused_before_any_git_process(strict_mirror, address):
    started = time.monotonic()

    with pytest.raises(CouldNotCheck) as caught:
        strict_mirror.check_commit(f"https://{address}/app.git", MISSING_COMMIT, "main")

    assert caught.value.reason is Reason.FORBIDDEN_ADDRESS
    assert time.monotonic() - started < 1.0, "refused without trying to connect"


def test_local_repositories_are_refused_when_private_addresses_are(strict_mirror, repos):
    for url in ((repos / "app.git").as_uri(), str(repos / "app.git")):
        with pytest.raises(CouldNotCheck) as caught:
            strict_mirror.check_commit(url, MISSING_COMMIT, "main")

        assert caught.value.reason is Reason.FORBIDDEN_ADDRESS
    assert not any(path.is_dir() for path in strict_mirror.cache_dir.iterdir())


@pytest.fixture
def fake_dns(monkeypatch):
    """Resolve the names in ``names`` to 127.0.0.1 in this process only (git's own lookups see the
    real DNS, where ``.test`` never resolves). The DNS is outside our reach, so it is the one part
    replaced: the fetch itself is real git against a real server."""
    names = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return real(names[host], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def test_git_over_http_connects_to_the_address_that_was_checked(mirror, repos, fake_dns):
    fake_dns["repo.vitrina.test"] = "127.0.0.1"
    head = shas_of(repos)[-1]
    with GitHttpServer(repos) as server:
        check = mirror.check_commit(server.url_for("app.git", host="repo.vitrina.test"), head, "main")

    assert check == RepoCheck(True, True, 0, head)
    assert {host for _, _, host in server.requests} == {f"repo.vitrina.test:{server.port}"}


def test_git_protocol_connects_to_the_address_that_was_checked(mirror, repos, fake_dns):
    fake_dns["repo.vitrina.test"] = "127.0.0.1"
    head = shas_of(repos)[-1]
    with GitDaemon(repos) as daemon:
        url = daemon.url_for("app.git").replace("127.0.0.1", "repo.vitrina.test")

        assert mirror.check_commit(url, head, "main") == RepoCheck(True, True, 0, head)


def test_a_redirect_is_not_followed(mirror, repos):
    with GitHttpServer(repos) as elsewhere:
        with GitHttpServer(repos, redirect_to=f"http://localhost:{elsewhere.port}") as moved:
            with pytest.raises(CouldNotCheck) as caught:
                mirror.check_commit(moved.url_for("app.git"), MISSING_COMMIT, "main")

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert "redirect" in str(caught.value)
    assert len(moved.requests) == 1
    assert elsewhere.requests == []


def test_git_messages_are_logged_for_the_operator_never_published(mirror, repos, caplog):
    with GitHttpServer(repos) as server:
        url = server.url_for("nothing-here.git")
        with caplog.at_level(logging.INFO, logger="verifier.repo"):
            with pytest.raises(CouldNotCheck) as caught:
                mirror.check_commit(url, MISSING_COMMIT, "main")

    assert str(caught.value) == f"Could not fetch the repository {url}: it has no git repository there."
    assert "fatal:" in caplog.text
