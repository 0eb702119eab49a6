"""The repository step of a check follows ``VITRINA_ALLOW_PRIVATE_ADDRESSES`` like the live fetch, and
publishes plain sentences, never git's own messages."""

import pytest

from portal.monitoring.rules import BrokenLink
from portal.monitoring.runner import check_repository
from tests.helpers.gitserver import GitHttpServer
from verifier.reasons import Reason


@pytest.fixture
def served(watched):
    """The watched project's repository over smart HTTP on 127.0.0.1."""
    with GitHttpServer(watched.repo_path.parent) as server:
        yield server


def test_loopback_repository_is_refused_without_git_connecting(watched, served, settings):
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = False
    watched.project.repo_url = served.url_for("app.git", host="localhost")

    with pytest.raises(BrokenLink) as caught:
        check_repository(watched.project, watched.release)

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert str(caught.value) == (
        f"Refused to fetch {watched.project.repo_url}: localhost (127.0.0.1) is a loopback address."
    )
    assert served.requests == []


def test_local_repository_is_refused_when_private_addresses_are(watched, settings):
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = False

    with pytest.raises(BrokenLink) as caught:
        check_repository(watched.project, watched.release)

    assert "local repositories are read only when private addresses are allowed" in str(caught.value)


def test_the_same_repository_is_checked_when_private_addresses_are_allowed(watched, served):
    watched.project.repo_url = served.url_for("app.git", host="localhost")

    assert check_repository(watched.project, watched.release) == 0
    assert served.requests


def test_a_failed_fetch_is_published_as_a_plain_sentence(watched, served):
    watched.project.repo_url = served.url_for("gone.git")

    with pytest.raises(BrokenLink) as caught:
        check_repository(watched.project, watched.release)

    assert str(caught.value) == f"Could not fetch the repository {served.url_for('gone.git')}: " + (
        "it has no git repository there."
    )
