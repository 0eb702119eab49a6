"""History at a glance: an environment's days, the share of time verified and its current streak, read
from its status changes in the public's time zone, for every environment of a page in one query."""

import datetime
import decimal
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.monitoring import uptime
from portal.monitoring.models import Observation, Status
from tests.portal import factories

pytestmark = pytest.mark.django_db

MONTEVIDEO = zoneinfo.ZoneInfo("America/Montevideo")  # UTC-3, no daylight saving time since 2015


@pytest.fixture(autouse=True)
def montevideo(settings):
    settings.TIME_ZONE = "America/Montevideo"


def local(*args):
    return datetime.datetime(*args, tzinfo=MONTEVIDEO)


def change(environment, at, result, reason=""):
    return Observation.objects.create(
        environment=environment, checked_at=at, result=result, reason=reason, changed_status=True
    )


@pytest.fixture
def environment():
    return factories.make_environment(factories.make_project())


def history_of(environment, now, days=uptime.DAYS):
    return uptime.histories([environment], days=days, now=now)[environment.pk]


def test_time_before_the_first_check_is_no_data_not_green(environment):
    change(environment, local(2026, 3, 10, 12, 0), "verified")

    history = history_of(environment, local(2026, 3, 12, 12, 0), days=5)

    assert [day.result for day in history.days] == ["no_data", "no_data", "verified", "verified", "verified"]
    assert [day.date.day for day in history.days] == [8, 9, 10, 11, 12]
    assert history.verified_share == 100
    assert history.covered_days == 3


def test_a_day_is_the_public_day_not_the_utc_day(environment):
    # 01:30 UTC on the 11th is still the 10th in Montevideo: the red hour belongs to the 10th.
    change(environment, local(2026, 3, 9, 0, 0), "verified")
    change(
        environment, datetime.datetime(2026, 3, 11, 1, 30, tzinfo=datetime.UTC), "mismatch", "wrong_release"
    )
    change(environment, datetime.datetime(2026, 3, 11, 2, 30, tzinfo=datetime.UTC), "verified")

    history = history_of(environment, local(2026, 3, 11, 12, 0), days=3)

    assert [(day.date.day, day.light) for day in history.days] == [(9, "green"), (10, "red"), (11, "green")]


def test_a_day_after_a_clock_change_begins_at_its_own_local_midnight(environment, settings):
    # Madrid moves its clocks forward on 2026-03-29 (+1 to +2): the 30th begins at 22:00 UTC on the 29th,
    # so ten amber minutes from 22:10 UTC belong to the 30th, not (as a fixed +1 would say) to the 29th.
    settings.TIME_ZONE = "Europe/Madrid"
    madrid = zoneinfo.ZoneInfo("Europe/Madrid")
    change(environment, datetime.datetime(2026, 3, 28, 0, 0, tzinfo=madrid), "verified")
    change(
        environment, datetime.datetime(2026, 3, 29, 22, 10, tzinfo=datetime.UTC), "unverifiable", "timeout"
    )
    change(environment, datetime.datetime(2026, 3, 29, 22, 20, tzinfo=datetime.UTC), "verified")

    history = history_of(environment, datetime.datetime(2026, 3, 30, 12, 0, tzinfo=madrid), days=3)

    assert [(day.date.day, day.light) for day in history.days] == [
        (28, "green"),
        (29, "green"),
        (30, "amber"),
    ]


def test_the_worst_light_of_a_day_colours_it(environment):
    change(environment, local(2026, 3, 10, 1, 0), "verified")
    change(environment, local(2026, 3, 10, 2, 0), "unverifiable", "timeout")
    change(environment, local(2026, 3, 10, 3, 0), "mismatch", "unregistered_artifact")
    change(environment, local(2026, 3, 10, 3, 5), "verified")

    history = history_of(environment, local(2026, 3, 11, 0, 0), days=2)

    assert history.days[0].result == "mismatch"
    assert history.days[1].result == "no_data"  # now is its first moment: no time of it has passed


def test_the_share_counts_only_time_with_data_and_rounds_down(environment):
    # 1000 minutes watched, 1 of them red: 99.9 %; 2 of them: 99.8 %, never rounded up to look better.
    start = local(2026, 3, 10, 0, 0)
    change(environment, start, "verified")
    change(environment, start + datetime.timedelta(minutes=500), "mismatch", "wrong_release")
    change(environment, start + datetime.timedelta(minutes=501, seconds=30), "verified")

    history = history_of(environment, start + datetime.timedelta(minutes=1000), days=1)

    assert history.verified_share == decimal.Decimal("99.8")
    assert str(history.verified_share) == "99.8"


def test_a_share_just_under_a_hundred_is_not_shown_as_a_hundred(environment):
    start = local(2026, 3, 10, 0, 0)
    change(environment, start, "verified")
    change(environment, start + datetime.timedelta(hours=10), "unverifiable", "timeout")
    change(environment, start + datetime.timedelta(hours=10, seconds=1), "verified")

    history = history_of(environment, start + datetime.timedelta(hours=23), days=1)

    assert history.verified_share == decimal.Decimal("99.9")


def test_the_change_before_the_window_says_what_held_when_it_opened(environment):
    change(environment, local(2025, 1, 1, 0, 0), "mismatch", "wrong_release")

    history = history_of(environment, local(2026, 3, 10, 12, 0), days=3)

    assert [day.light for day in history.days] == ["red", "red", "red"]
    assert history.verified_share == 0
    assert history.since == local(2025, 1, 1, 0, 0)


def test_the_current_streak_and_when_the_last_green_spell_ended(environment):
    change(environment, local(2026, 3, 1, 0, 0), "verified")
    change(environment, local(2026, 3, 10, 9, 0), "unverifiable", "timeout")
    change(environment, local(2026, 3, 10, 9, 30), "mismatch", "unregistered_artifact")

    history = history_of(environment, local(2026, 3, 10, 12, 42), days=30)

    assert history.light == "red"
    assert history.since == local(2026, 3, 10, 9, 30)
    assert history.verified_until == local(2026, 3, 10, 9, 0)


def test_green_now_has_no_verified_until_and_never_checked_has_no_streak(environment):
    never = factories.make_environment(environment.project, "staging")
    change(environment, local(2026, 3, 1, 0, 0), "verified")

    histories = uptime.histories([environment, never], days=3, now=local(2026, 3, 10, 0, 0))

    assert histories[environment.pk].verified_until is None
    assert histories[environment.pk].since == local(2026, 3, 1, 0, 0)
    assert histories[never.pk].since is None and histories[never.pk].light == "none"
    assert histories[never.pk].verified_share is None
    assert {day.result for day in histories[never.pk].days} == {"no_data"}


def test_checks_that_changed_nothing_are_not_history(environment):
    change(environment, local(2026, 3, 10, 0, 0), "verified")
    Observation.objects.create(
        environment=environment,
        checked_at=local(2026, 3, 10, 5, 0),
        result="mismatch",
        reason="wrong_release",
    )

    assert history_of(environment, local(2026, 3, 10, 12, 0), days=1).days[0].light == "green"


def test_one_query_for_every_environment_of_a_page():
    project = factories.make_project()
    environments = [factories.make_environment(project, f"env-{n}") for n in range(40)]
    for n, environment in enumerate(environments):
        change(environment, local(2025, 12, 1, 0, 0), "verified")
        change(environment, local(2026, 3, 1 + n % 9, 0, 0), "mismatch", "wrong_release")

    with CaptureQueriesContext(connection) as queries:
        histories = uptime.histories(environments, now=local(2026, 3, 10, 12, 0))

    assert len(queries) == 1
    assert all(history.light == "red" for history in histories.values())


@pytest.mark.parametrize(
    ("results", "total", "problems", "light"),
    [
        (["verified", "verified"], 2, 0, "green"),
        (["verified", "mismatch", "unverifiable", None], 4, 2, "red"),
        (["verified", "unverifiable"], 2, 1, "amber"),
        (["verified", None], 2, 0, "none"),
    ],
)
def test_a_page_summary_counts_each_light_worst_first(environment, results, total, problems, light):
    statuses = [
        Status(
            environment=environment, result=result, checked_at=local(2026, 3, 10, 0, 0) if result else None
        )
        for result in results
    ]

    summary = uptime.summarize(statuses)

    assert (summary.total, summary.problems, summary.light) == (total, problems, light)
    assert summary.all_verified == (light == "green")
    assert sum(count for _state, count in summary.lights) == total
