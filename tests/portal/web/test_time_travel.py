"""Answering "what was running at <date and time>?" from the records, with the log entries that prove it.

The date and time asked are on the public's clock (``VITRINA_TIME_ZONE``); Montevideo is UTC−3 all year.
"""

import datetime
import html as html_lib

import pytest
from django.utils import translation

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.portal import factories

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
FIRST_DEPLOY = datetime.datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
SECOND_DEPLOY = datetime.datetime(2025, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def montevideo(settings):
    settings.TIME_ZONE = "America/Montevideo"


@pytest.fixture
def history():
    """Two releases deployed to production three months apart, checked green, then red."""
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    private_key, _ = factories.make_key(project)
    old = factories.make_release(project, private_key, "1.0.0")
    new = factories.make_release(project, private_key, "2.0.0")
    first = factories.make_deployment(production, old, deployed_at=FIRST_DEPLOY)
    second = factories.make_deployment(production, new, deployed_at=SECOND_DEPLOY)
    green = record(
        production,
        Finding(
            "verified", "", "ok", live_digest=old.artifact_digest, live_release=old, expected_release=old
        ),
        checked_at=FIRST_DEPLOY + datetime.timedelta(minutes=5),
        duration_ms=10,
    )
    still_green = record(
        production,
        Finding(
            "verified", "", "ok", live_digest=old.artifact_digest, live_release=old, expected_release=old
        ),
        checked_at=FIRST_DEPLOY + datetime.timedelta(days=1),
        duration_ms=10,
    )
    red = record(
        production,
        Finding(
            "mismatch", "wrong_release", "runs 1.0.0", live_digest=old.artifact_digest, expected_release=new
        ),
        checked_at=SECOND_DEPLOY + datetime.timedelta(minutes=5),
        duration_ms=10,
    )
    factories.sequenced_entries()  # the history is months old: every entry has its index
    return {
        "environment": production,
        "old": old,
        "new": new,
        "first": first,
        "second": second,
        "green": green,
        "still_green": still_green,
        "red": red,
    }


def ask(client, environment, date, time=None, status=200):
    query = {"date": date} if time is None else {"date": date, "time": time}
    response = client.get(environment.get_absolute_url(), query)
    assert response.status_code == status
    return html_lib.unescape(response.content.decode())


def answer_of(page):
    """The answer block only, so the timeline further down cannot make an assertion pass."""
    start = page.index('<div class="answer"')
    return page[start : page.index("</div>", start)]


def index_of(kind, record):
    return factories.sequenced_entries().get(kind=kind, object_id=record.pk).index


def test_before_the_first_deployment_nothing_was_declared(client, history):
    answer = answer_of(ask(client, history["environment"], "2025-02-28", "23:59"))
    assert "No deployment had been declared for this environment at that moment." in answer
    assert "No check had been made yet at that moment." in answer
    assert "1.0.0" not in answer


def test_between_two_deployments_the_first_was_in_force_with_its_proofs(client, history):
    answer = answer_of(ask(client, history["environment"], "2025-04-15", "12:00"))
    assert "Version <strong>1.0.0</strong> was the deployment in force." in answer
    assert "2.0.0" not in answer
    deployment_index = index_of("deployment", history["first"])
    release_index = index_of("release", history["old"])
    status_index = index_of("status", history["green"])
    for index in (deployment_index, release_index, status_index):
        assert f'href="/api/v1/log/entries/{index}">log entry #{index}</a>' in answer
    assert f'href="/api/v1/deployments/{history["first"].pk}/bundle"' in answer
    assert f'href="/api/v1/releases/{history["old"].pk}/bundle"' in answer


def test_what_the_server_said_is_the_last_check_before_the_moment(client, history):
    answer = answer_of(ask(client, history["environment"], "2025-04-15", "12:00"))
    assert history["old"].artifact_digest in answer
    # The last check (day two) did not change the light: the light then dates from the first check.
    assert 'datetime="2025-03-02T10:00:00Z"' in answer
    assert 'datetime="2025-03-01T10:05:00Z"' in answer
    assert "result-verified" in answer


def test_after_the_second_deployment_it_is_in_force_and_the_light_is_red(client, history):
    answer = answer_of(ask(client, history["environment"], "2025-07-01"))
    assert "Version <strong>2.0.0</strong> was the deployment in force." in answer
    assert f"log entry #{index_of('deployment', history['second'])}" in answer
    assert f"log entry #{index_of('status', history['red'])}" in answer
    assert "result-mismatch" in answer
    assert "The server runs a different published version than the one last declared deployed." in answer


def test_a_deployment_is_in_force_from_the_very_minute_it_was_deployed(client, history):
    # Deployed at 10:00 UTC, which was 07:00 on Montevideo's clock.
    assert "Version <strong>2.0.0</strong>" in answer_of(
        ask(client, history["environment"], "2025-06-01", "07:00")
    )
    assert "Version <strong>1.0.0</strong>" in answer_of(
        ask(client, history["environment"], "2025-06-01", "06:59")
    )


def test_the_time_asked_is_local_and_the_answer_gives_it_in_local_time_and_utc(client, history):
    answer = answer_of(ask(client, history["environment"], "2025-04-15", "21:30"))
    assert '<time datetime="2025-04-16T00:30:00Z">' in answer
    assert "15 Apr 2025, 21:30 (UTC−3), that is 16 Apr 2025, 00:30 UTC" in answer


def test_an_empty_time_is_local_midnight(client, history):
    assert '<time datetime="2025-04-15T03:00:00Z">' in answer_of(
        ask(client, history["environment"], "2025-04-15")
    )


def test_the_form_names_the_zone_next_to_the_time_in_both_languages(client, history):
    page = ask(client, history["environment"], "2025-04-15", "12:00")
    assert '<label for="past-time">Time (America/Montevideo)</label>' in page
    assert 'aria-describedby="past-time-hint"' in page
    assert "Local time in America/Montevideo; empty means midnight." in page
    spanish = html_lib.unescape(
        client.get(
            history["environment"].get_absolute_url(), headers={"accept-language": "es"}
        ).content.decode()
    )
    assert "Hora (America/Montevideo)" in spanish
    assert "Hora local de America/Montevideo" in spanish


def test_a_local_time_skipped_by_summer_time_is_refused_clearly(client, history, settings):
    settings.TIME_ZONE = "Europe/Madrid"  # clocks went from 02:00 to 03:00 on 30 March 2025
    page = ask(client, history["environment"], "2025-03-30", "02:30", status=400)
    assert "02:30 on 2025-03-30 never happened in Europe/Madrid: the clocks were put forward" in page
    spanish = html_lib.unescape(
        client.get(
            history["environment"].get_absolute_url(),
            {"date": "2025-03-30", "time": "02:30"},
            headers={"accept-language": "es"},
        ).content.decode()
    )
    assert "Las 02:30 del 2025-03-30 nunca existieron en Europe/Madrid" in spanish
    assert '<time datetime="2025-03-30T01:00:00Z">' in answer_of(
        ask(client, history["environment"], "2025-03-30", "03:00")
    )


def test_a_local_time_that_happened_twice_is_the_first_and_says_so(client, history, settings):
    settings.TIME_ZONE = "Europe/Madrid"  # clocks went back from 03:00 to 02:00 on 26 October 2025
    answer = answer_of(ask(client, history["environment"], "2025-10-26", "02:30"))
    assert (
        '<time datetime="2025-10-26T00:30:00Z">26 Oct 2025, 02:30 (UTC+2), that is 26 Oct 2025, 00:30 UTC'
        in answer
    )
    assert "so that local time happened twice: this answer is for the first time." in answer
    assert "happened twice" not in answer_of(ask(client, history["environment"], "2025-10-26", "04:30"))


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Montevideo", "Etc/GMT+12"])
def test_the_ends_of_the_calendar_answer_without_error(client, history, settings, zone):
    settings.TIME_ZONE = zone
    assert "No deployment had been declared" in answer_of(ask(client, history["environment"], "0001-01-01"))
    page = ask(client, history["environment"], "9999-12-31", "23:59", status=400)
    assert "That moment is in the future" in page


def test_a_deployment_declared_after_the_moment_says_so(client, history):
    # Both deployments were put on record today, long after the moments they claim.
    answer = answer_of(ask(client, history["environment"], "2025-04-15", "12:00"))
    assert "Declared only later, at" in answer


def test_the_form_keeps_what_was_asked(client, history):
    page = ask(client, history["environment"], "2025-04-15", "12:00")
    assert 'name="date" value="2025-04-15"' in page
    assert 'name="time" value="12:00"' in page


@pytest.mark.parametrize(
    ("date", "time", "message"),
    [
        ("", "12:00", "Give a date"),
        ("yesterday", None, "“yesterday” is not a date"),
        ("2025-13-45", None, "“2025-13-45” is not a date"),
        ("2025-04-15", "25:00", "“25:00” is not a time"),
        ("2025-04-15", "noon", "“noon” is not a time"),
        ("2025-04-15", "12:00+02:00", "is not a time"),
        ("2999-01-01", "00:00", "That moment is in the future"),
        ("9999-12-31", "23:59", "That moment is in the future"),
        ("2025-04-15" * 1000, None, "is not a date"),
    ],
)
def test_bad_input_is_a_400_with_a_clear_message_on_the_page(client, history, date, time, message):
    page = ask(client, history["environment"], date, time, status=400)
    assert 'role="alert"' in page
    assert message in page
    assert '<div class="answer"' not in page
    assert len(page) < 100_000


def test_bad_input_is_explained_in_spanish_on_a_spanish_page(client, history):
    response = client.get(
        history["environment"].get_absolute_url(), {"date": "ayer"}, headers={"accept-language": "es"}
    )
    assert response.status_code == 400
    assert "no es una fecha" in html_lib.unescape(response.content.decode())


def test_without_a_question_the_page_shows_the_empty_form(client, history):
    page = html_lib.unescape(client.get(history["environment"].get_absolute_url()).content.decode())
    assert 'name="date" value=""' in page
    assert '<div class="answer"' not in page
    assert 'role="alert"' not in page


def test_the_answer_costs_the_same_queries_however_long_the_history(
    client, history, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    environment = history["environment"]
    url = environment.get_absolute_url() + "?date=2025-04-15&time=12:00"
    with CaptureQueriesContext(connection) as baseline:
        client.get(url)
    private_key, _ = factories.make_key(environment.project)
    for n in range(20):
        release = factories.make_release(environment.project, private_key, f"3.0.{n}")
        factories.make_deployment(
            environment, release, deployed_at=FIRST_DEPLOY + datetime.timedelta(hours=n)
        )
        record(
            environment,
            Finding(
                "verified" if n % 2 else "unverifiable",
                "" if n % 2 else "timeout",
                "",
                expected_release=release,
            ),
            checked_at=FIRST_DEPLOY + datetime.timedelta(hours=n, minutes=1),
            duration_ms=1,
        )
    with django_assert_max_num_queries(len(baseline)):
        assert client.get(url).status_code == 200
