"""The home page opens with one line for every environment together: "All verified" when every light is
green, else how many of them have problems, with red (evidence against) told apart from amber (could not
verify) and from not yet checked, in Spanish and in English."""

import datetime

import pytest

from portal.monitoring.models import Observation, Status
from tests.portal import factories

pytestmark = pytest.mark.django_db

CHECKED = datetime.datetime(2026, 3, 14, 9, 0, tzinfo=datetime.UTC)


def environments(*results):
    """One project with an environment per result (None: never checked)."""
    project = factories.make_project("city-portal", name="City Portal")
    for n, result in enumerate(results):
        environment = factories.make_environment(project, f"env-{n}")
        if result is not None:
            reason = {"mismatch": "wrong_release", "unverifiable": "timeout"}.get(result, "")
            Observation.objects.create(
                environment=environment, checked_at=CHECKED, result=result, reason=reason, changed_status=True
            )
            Status.objects.create(environment=environment, result=result, reason=reason, checked_at=CHECKED)


def banner(client, language):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    start = html.index('<section class="summary')
    return html[start : html.index("</section>", start)]


@pytest.mark.parametrize(("language", "words"), [("es", "Todo verificado"), ("en", "All verified")])
def test_every_environment_green_reads_all_verified(client, language, words):
    environments("verified", "verified", "verified")

    text = banner(client, language)

    assert words in text
    assert "summary-green" in text
    assert ">3<" in text


@pytest.mark.parametrize(
    ("language", "headline", "red", "amber", "unchecked"),
    [
        ("es", "2 de 7 con problemas", "no coincide", "no se pudo verificar", "aún no comprobado"),
        ("en", "2 of 7 with problems", "mismatch", "could not verify", "not yet checked"),
    ],
)
def test_mixed_lights_count_problems_and_tell_red_from_amber_and_unchecked(
    client, language, headline, red, amber, unchecked
):
    environments("verified", "verified", "verified", "verified", "mismatch", "unverifiable", None)

    text = banner(client, language)

    assert headline in text
    assert "summary-red" in text
    counts = text[text.index("summary-counts") :]
    # Worst first, each light in its own words with its count.
    assert counts.index(red) < counts.index(amber) < counts.index(unchecked)
    assert "light-red" in counts and "light-amber" in counts and "light-none" in counts


@pytest.mark.parametrize(("language", "headline"), [("es", "2 de 3 verificados"), ("en", "2 of 3 verified")])
def test_only_unchecked_besides_green_is_not_called_a_problem(client, language, headline):
    environments("verified", "verified", None)

    text = banner(client, language)

    assert headline in text and "problem" not in text and "problema" not in text
    assert "summary-none" in text


@pytest.mark.parametrize(
    ("language", "headline"), [("es", "1 de 1 con problemas"), ("en", "1 of 1 with problems")]
)
def test_one_environment_has_the_singular(client, language, headline):
    environments("unverifiable")

    text = banner(client, language)

    assert headline in text and "summary-amber" in text


def test_no_environment_no_banner(client):
    factories.make_project()

    assert 'class="summary' not in client.get("/").content.decode()


@pytest.mark.parametrize(
    ("language", "headline"), [("es", "1 de 2 con problemas"), ("en", "1 of 2 with problems")]
)
def test_the_project_page_opens_with_its_own_summary(client, language, headline):
    environments("verified", "mismatch")
    html = client.get("/p/city-portal/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    start = html.index('<section class="summary')
    assert headline in " ".join(html[start : html.index("</section>", start)].split())
