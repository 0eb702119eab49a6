"""Rebuilders through the registry's services: registered, authenticated and removed as observers are (one
implementation for both kinds of party), and their signed rebuilds recorded only when every rule holds:
anything refused writes nothing, neither a row nor a log entry."""

import datetime
import json

import pytest
from django.utils import timezone

from portal.registry import services
from portal.registry.models import Observer, Rebuild, RebuildAnswer, Rebuilder
from tests.portal import factories
from tests.portal.observers import make_observer
from tests.portal.rebuilders import make_rebuilder, make_rebuilt, rebuild, signed
from verifier.entries import parse_entry
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def release():
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    return factories.make_release(project, private_key, "1.0.0")


def entry(kind, object_id):
    return parse_entry(bytes(factories.sequenced_entries().get(kind=kind, object_id=object_id).entry))


def test_adding_a_rebuilder_logs_its_key_and_stores_only_the_tokens_hash():
    private_key, rebuilder, token = make_rebuilder("Reproducible Uruguay")
    assert token.startswith("vtb_") and token not in rebuilder.token_hash
    logged = entry("rebuilder_added", rebuilder.pk)
    assert logged["rebuilder_id"] == rebuilder.pk and logged["name"] == "Reproducible Uruguay"
    assert logged["public_key_pem"] == private_key.public_key.pem
    assert not factories.sequenced_entries().filter(kind="observer_added").exists()


def test_a_taken_rebuilder_name_or_key_is_refused_but_an_observer_may_share_it():
    private_key, _, _ = make_rebuilder("Lab")
    with pytest.raises(services.Refused, match="already a rebuilder named 'Lab'"):
        services.add_rebuilder("Lab", generate_private_key().public_key.pem)
    with pytest.raises(services.Refused, match="already the key of rebuilder 'Lab'"):
        services.add_rebuilder("Other", private_key.public_key.pem)
    services.add_observer("Lab", private_key.public_key.pem)  # another kind of party: counted apart
    assert Rebuilder.objects.count() == 1 and Observer.objects.count() == 1


def test_tokens_authenticate_only_their_own_kind_of_party_and_stop_on_removal():
    _, rebuilder, token = make_rebuilder()
    _, observer, observer_token = make_observer()
    assert services.authenticate_rebuilder(token) == rebuilder
    assert services.authenticate_observer(token) is None
    assert services.authenticate_rebuilder(observer_token) is None
    services.remove_rebuilder(rebuilder)
    services.remove_rebuilder(rebuilder)  # twice is once
    assert services.authenticate_rebuilder(token) is None
    assert factories.sequenced_entries().filter(kind="rebuilder_removed", object_id=rebuilder.pk).count() == 1
    assert entry("rebuilder_removed", rebuilder.pk)["rebuilder_id"] == rebuilder.pk


def test_a_rebuild_that_reproduced_is_recorded_with_its_entry(release):
    private_key, rebuilder, _ = make_rebuilder("Lab")
    recorded = rebuild(private_key, rebuilder, release)
    assert (recorded.release, recorded.result, recorded.differences) == (release, "reproduced", ())
    logged = entry("rebuild", recorded.pk)
    assert logged["rebuilder"] == "Lab" and logged["rebuilder_key_id"] == rebuilder.key_id
    assert (logged["release_id"], logged["version"], logged["project"]) == (release.pk, "1.0.0", "demo")
    assert logged["subjects"] == [{"name": "app.tar.gz", "digest": {"sha256": release.artifact_digest[7:]}}]
    assert logged["envelope_sha256"] == recorded.envelope_sha256


def test_a_rebuild_that_got_other_bytes_differs_with_both_digests(release):
    private_key, rebuilder, _ = make_rebuilder()
    recorded = rebuild(private_key, rebuilder, release, got={"app.tar.gz": "ab" * 32})
    assert recorded.result == "differs"
    assert recorded.differences == (("app.tar.gz", release.artifact_digest, "sha256:" + "ab" * 32),)
    assert entry("rebuild", recorded.pk)["result"] == "differs"


def refused(rebuilder, envelope, match, status=400):
    before = Rebuild.objects.count(), factories.sequenced_entries().count()
    with pytest.raises(services.Refused, match=match) as refusal:
        services.record_rebuild(rebuilder, envelope)
    assert refusal.value.status == status, refusal.value.message
    assert (Rebuild.objects.count(), factories.sequenced_entries().count()) == before


def test_a_replay_is_refused_the_same_envelope_or_the_same_run(release):
    private_key, rebuilder, _ = make_rebuilder()
    rebuilt = make_rebuilt(rebuilder, release)
    envelope = signed(private_key, rebuilt)
    first = services.record_rebuild(rebuilder, envelope)
    refused(rebuilder, json.dumps(envelope, indent=1), "already recorded", 409)
    later = make_rebuilt(rebuilder, release, invocation_id=rebuilt.invocation_id)
    refused(rebuilder, signed(private_key, later), f"rebuild {first.pk}", 409)
    services.record_rebuild(rebuilder, signed(private_key, make_rebuilt(rebuilder, release)))  # a new run


def test_a_signature_by_another_key_is_refused(release):
    _, rebuilder, _ = make_rebuilder("Lab")
    refused(
        rebuilder, signed(generate_private_key(), make_rebuilt(rebuilder, release)), "rebuilder 'Lab's key"
    )


def test_a_rebuild_signed_for_another_rebuilder_is_refused(release):
    private_key, rebuilder, _ = make_rebuilder("Lab")
    rebuilt = make_rebuilt(rebuilder, release, rebuilder="Other")
    refused(rebuilder, signed(private_key, rebuilt), "signed for rebuilder 'Other'", 403)


def test_a_removed_rebuilder_is_refused(release):
    private_key, rebuilder, _ = make_rebuilder()
    services.remove_rebuilder(rebuilder)
    refused(rebuilder, signed(private_key, make_rebuilt(rebuilder, release)), "is removed", 403)


@pytest.mark.parametrize(
    ("changes", "match", "status"),
    [
        ({"release_id": 999}, "has no release 999", 404),
        ({"project": "nope"}, "no project 'nope'", 404),
        ({"version": "2.0.0"}, "another release: version is '2.0.0'", 400),
        ({"artifact_digest": "sha256:" + "cd" * 32}, "another release: artifact_digest", 400),
        ({"commit": "e" * 40}, "commit eeee", 400),
        ({"repository": "https://elsewhere.example.org/x.git"}, "elsewhere.example.org", 400),
    ],
)
def test_a_rebuild_of_another_release_or_source_is_refused(release, changes, match, status):
    private_key, rebuilder, _ = make_rebuilder()
    refused(rebuilder, signed(private_key, make_rebuilt(rebuilder, release, **changes)), match, status)


def test_subjects_the_release_does_not_have_or_lacks_are_refused(release):
    from verifier.statement import Subject

    private_key, rebuilder, _ = make_rebuilder()
    extra = (*make_rebuilt(rebuilder, release).subjects, Subject("other.bin", {"sha256": "ef" * 32}))
    refused(
        rebuilder, signed(private_key, make_rebuilt(rebuilder, release, subjects=extra)), "not the release's"
    )
    renamed = (Subject("renamed.tar.gz", {"sha256": "ef" * 32}),)
    refused(rebuilder, signed(private_key, make_rebuilt(rebuilder, release, subjects=renamed)), "missing")


def test_a_rebuild_from_the_future_or_before_its_release_is_refused(release):
    private_key, rebuilder, _ = make_rebuilder()
    now = timezone.now()
    ahead = make_rebuilt(rebuilder, release, finished_on=now + datetime.timedelta(minutes=11))
    refused(rebuilder, signed(private_key, ahead), "more than 10 minutes ahead")
    early = release.registered_at - datetime.timedelta(seconds=1)
    before = make_rebuilt(rebuilder, release, started_on=early, finished_on=early)
    refused(rebuilder, signed(private_key, before), "before release 1.0.0 was registered")


def test_an_envelope_over_256_kib_is_refused_before_it_is_read(release):
    _, rebuilder, _ = make_rebuilder()
    refused(rebuilder, "x" * (256 * 1024 + 1), "holds at most 262144 bytes", 413)
    refused(rebuilder, "{}", "no 'payload'")


def test_a_differing_rebuild_is_answered_once_with_its_entry(release):
    private_key, rebuilder, _ = make_rebuilder()
    differing = rebuild(private_key, rebuilder, release, got={"app.tar.gz": "ab" * 32})
    token, _ = factories.make_token(release.project)
    answer = services.answer_rebuild(
        differing, "  The rebuilder used another gzip; fixed in 1.0.1.  ", token=token
    )
    assert answer.text == "The rebuilder used another gzip; fixed in 1.0.1." and answer.author_token == token
    logged = entry("rebuild_answer", answer.pk)
    assert (logged["rebuild_id"], logged["release_id"], logged["answer_id"]) == (
        differing.pk,
        release.pk,
        answer.pk,
    )
    assert logged["by"] == {"kind": "token", "name": "ci", "hint": token.hint}
    with pytest.raises(services.Refused, match="already answered") as again:
        services.answer_rebuild(differing, "Another answer.", token=token)
    assert again.value.status == 409
    assert RebuildAnswer.objects.count() == 1
    assert factories.sequenced_entries().filter(kind="rebuild_answer").count() == 1


def test_only_a_differing_rebuild_is_answered_and_only_by_its_project(release):
    private_key, rebuilder, _ = make_rebuilder()
    reproduced = rebuild(private_key, rebuilder, release)
    with pytest.raises(services.Refused, match="reproduced release 1.0.0"):
        services.answer_rebuild(reproduced, "Nothing to say.")
    differing = rebuild(private_key, rebuilder, release, got={"app.tar.gz": "ab" * 32})
    other_token, _ = factories.make_token(factories.make_project("other"))
    with pytest.raises(services.Refused) as refusal:
        services.answer_rebuild(differing, "Not ours to answer.", token=other_token)
    assert refusal.value.status == 403
    for text, match in (("", "required"), ("x" * 561, "holds at most 560"), ("a\nb", "one line")):
        with pytest.raises(services.Refused, match=match):
            services.answer_rebuild(differing, text)
    assert not RebuildAnswer.objects.exists()
