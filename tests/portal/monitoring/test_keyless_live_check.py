"""A deployed keyless release is checked as a keyed one is: the live check verifies its Sigstore bundle again
(offline, under the identities trusted when it was registered) and its log entry, and a server serving its
digest is not red. The repository check needs github.com, which tests cannot reach, so the light there
is amber for that reason alone; everything before it passed."""

import datetime

import pytest

from portal.monitoring import rules
from portal.monitoring.runner import check_environment
from portal.registry import services
from portal.registry.models import Release
from tests.helpers.liveserver import LiveServer
from tests.portal import factories

pytestmark = pytest.mark.django_db

DIGEST = "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25"


@pytest.fixture
def keyless_release(log_key_file):
    project = factories.make_keyless_project()
    bundle = factories.sigstore_testdata("reusable-workflow-attestation.sigstore.json").decode()
    release, created = services.register_release(project, None, version="0.0.0", sigstore_bundle=bundle)
    assert created and release.is_keyless
    return release


def test_the_live_check_verifies_the_sigstore_bundle_again(keyless_release):
    verified = set()
    rules.check_signature(keyless_release, verified)
    assert len(verified) == 1
    rules.check_signature(keyless_release, verified)  # the second time, from what was verified
    assert len(verified) == 1


def test_a_keyless_release_whose_identity_was_not_trusted_then_is_red(keyless_release):
    identity = keyless_release.project.identities.get()
    type(identity).objects.filter(pk=identity.pk).update(
        added_at=keyless_release.registered_at + datetime.timedelta(days=1)
    )
    release = Release.objects.get(pk=keyless_release.pk)
    with pytest.raises(rules.BrokenLink) as caught:
        rules.check_signature(release, set())
    assert caught.value.reason == "bad_signature"


def test_a_deployed_keyless_release_is_never_red_when_its_digest_is_served(keyless_release):
    with LiveServer({"artifact_digest": DIGEST, "version": "0.0.0"}) as server:
        environment = factories.make_environment(keyless_release.project, live_url=server.url)
        factories.make_deployment(environment, keyless_release)
        observation = check_environment(environment)
    assert observation.result != "mismatch", (observation.reason, observation.message)
    assert observation.reason not in ("bad_signature", "not_in_log", "checker_error"), observation.message
