"""Every time the public reads (API, badges, pages) is RFC 3339 in UTC with a Z, whatever zone it came in."""

import datetime

from portal.monitoring.models import Observation, Status
from portal.web import badges
from portal.web.templatetags.vitrina import moment

PARIS_SUMMER = datetime.timezone(datetime.timedelta(hours=2))
MOMENT = datetime.datetime(2026, 3, 1, 14, 0, tzinfo=PARIS_SUMMER)


def test_an_observation_in_another_zone_is_written_in_utc():
    observation = Observation(checked_at=MOMENT, result="verified")

    assert observation.as_api()["checked_at"] == "2026-03-01T12:00:00Z"


def test_a_status_in_another_zone_is_written_in_utc():
    status = Status(checked_at=MOMENT, result="verified")

    assert status.as_api()["checked_at"] == "2026-03-01T12:00:00Z"


def test_a_badge_state_in_another_zone_is_written_in_utc():
    state = badges.make_state("demo", "production", "verified", "", MOMENT)

    assert state["checked_at"] == "2026-03-01T12:00:00Z"


def test_a_page_time_in_another_zone_is_written_in_utc_for_machines():
    assert moment(MOMENT).startswith('<time datetime="2026-03-01T12:00:00Z">')


def test_microseconds_are_kept_when_there_are_some():
    moment = datetime.datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=datetime.UTC)

    assert Observation(checked_at=moment, result="verified").as_api()["checked_at"] == (
        "2026-03-01T12:00:00.250000Z"
    )
