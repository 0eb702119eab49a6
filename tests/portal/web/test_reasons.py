"""Every reason code and result has words a non-engineer understands, in both languages."""

import pytest
from django.utils import translation

from portal.monitoring import reasons
from verifier.reasons import Reason, Result


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_a_plain_sentence_in_english_and_spanish(reason):
    with translation.override("en"):
        english = str(reasons.reason_sentence(reason.value))
    assert english.endswith(".")
    assert "_" not in english
    with translation.override("es"):
        spanish = str(reasons.reason_sentence(reason.value))
    assert spanish and spanish != english


@pytest.mark.parametrize("result", list(Result))
def test_every_result_has_a_word_and_a_sentence(result):
    with translation.override("en"):
        english = (str(reasons.result_word(result.value)), str(reasons.status_sentence(result.value, "")))
    assert all(english)
    with translation.override("es"):
        spanish = (str(reasons.result_word(result.value)), str(reasons.status_sentence(result.value, "")))
    assert all(spanish)
    assert spanish[0] != english[0] and spanish[1] != english[1]


def test_an_unknown_reason_has_no_sentence_rather_than_an_error():
    assert reasons.reason_sentence("not-a-reason") == ""
    assert reasons.reason_sentence("") == ""


def test_a_verified_result_never_borrows_a_reason_sentence():
    assert reasons.status_sentence("mismatch", "unreachable") == reasons.REASON_SENTENCES[Reason.UNREACHABLE]
    assert str(reasons.status_sentence("verified", "unreachable")) == str(
        reasons.RESULT_SENTENCES[Result.VERIFIED]
    )
