"""The stored tree: every proof for every tree size up to 70, integration batching and idempotence."""

import pytest
from django.db import transaction

from portal.transparency import services
from portal.transparency.models import Checkpoint, LogEntry, TreeHash
from portal.transparency.signing import verifier_key
from verifier import merkle, note

pytestmark = pytest.mark.django_db

SIZE = 70


def append_status(n):
    with transaction.atomic():
        return services.append_entry("status", {"project": "demo", "environment": "production", "n": n})


@pytest.fixture
def stepped_log(log_key_file):
    """70 entries integrated one at a time, so there is a signed checkpoint at every size 1..70."""
    for n in range(SIZE):
        append_status(n)
        services.integrate()
    return [bytes(h) for h in LogEntry.objects.order_by("index").values_list("leaf_hash", flat=True)]


def test_every_checkpoint_root_is_the_rfc_root_of_its_prefix(stepped_log):
    sizes = Checkpoint.objects.order_by("size").values_list("size", flat=True)
    assert list(sizes) == list(range(1, SIZE + 1))
    for checkpoint in Checkpoint.objects.all():
        assert bytes(checkpoint.root) == merkle.root_from_leaf_hashes(stepped_log[: checkpoint.size])


def test_inclusion_proofs_for_every_index_of_every_size_up_to_70_verify(stepped_log):
    roots = {c.size: bytes(c.root) for c in Checkpoint.objects.all()}
    for size in range(1, SIZE + 1):
        for index in range(size):
            proof = services.get_inclusion_proof(index, size)
            merkle.verify_inclusion(stepped_log[index], index, size, proof, roots[size])


def test_consistency_proofs_for_every_pair_of_sizes_up_to_70_verify(stepped_log):
    roots = {c.size: bytes(c.root) for c in Checkpoint.objects.all()}
    for second in range(1, SIZE + 1):
        for first in range(1, second + 1):
            proof = services.get_consistency_proof(first, second)
            merkle.verify_consistency(first, second, proof, roots[first], roots[second])


def test_a_proof_against_the_wrong_root_fails(stepped_log):
    roots = {c.size: bytes(c.root) for c in Checkpoint.objects.all()}
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(stepped_log[3], 3, 40, services.get_inclusion_proof(3, 40), roots[41])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(7, 40, services.get_consistency_proof(7, 40), roots[8], roots[40])


def test_integration_is_batched_and_stores_exactly_the_rfc_hashes(log_key_file):
    for n in range(SIZE):
        append_status(n)
    checkpoint = services.integrate(batch_size=16)
    assert checkpoint.size == SIZE
    assert list(Checkpoint.objects.order_by("size").values_list("size", flat=True)) == [16, 32, 48, 64, 70]
    assert TreeHash.objects.count() == merkle.stored_hash_count(SIZE)
    leaves = [bytes(h) for h in LogEntry.objects.order_by("index").values_list("leaf_hash", flat=True)]
    assert bytes(checkpoint.root) == merkle.root_from_leaf_hashes(leaves)


def test_integrating_twice_signs_nothing_new(log_key_file):
    append_status(0)
    first = services.integrate()
    second = services.integrate()
    assert first.pk == second.pk
    assert Checkpoint.objects.count() == 1


def test_checkpoint_is_signed_with_the_key_file_and_named_after_the_origin(log_key_file, settings):
    settings.VITRINA_LOG_ORIGIN = "log.example.org/vitrina"
    append_status(0)
    checkpoint = services.integrate()
    vkey = verifier_key()
    assert vkey.startswith("log.example.org/vitrina+")
    assert note.verify_checkpoint(checkpoint.note, vkey, origin="log.example.org/vitrina").size == 1
