"""Every time on the public pages is shown on the public's clock (``VITRINA_TIME_ZONE``) with its offset and
how long ago it was, in the reader's language, inside a ``<time datetime>`` that stays UTC for machines."""

import datetime
import html as html_lib
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from portal.web.templatetags.vitrina import local_time, moment, time_ago
from tests.portal import factories

UTC = datetime.UTC
ROOT = Path(__file__).resolve().parents[3]
# 13:56 UTC on 2 December 2026 is 10:56 in Montevideo (UTC−3 all year since 2015).
DECEMBER = datetime.datetime(2026, 12, 2, 13, 56, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    translation.activate("en")


def shown(value, language, zone, settings):
    settings.TIME_ZONE = zone
    with translation.override(language):
        return local_time(value)


def test_the_default_zone_is_montevideo():
    from django.conf import settings

    assert settings.TIME_ZONE == "America/Montevideo"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("es", "2 dic 2026, 10:56 (UTC−3)"), ("en", "2 Dec 2026, 10:56 (UTC−3)")],
)
def test_a_time_is_shown_on_the_public_clock_with_its_offset(settings, language, expected):
    assert shown(DECEMBER, language, "America/Montevideo", settings) == expected


def test_the_offset_follows_summer_time_in_a_zone_that_has_it(settings):
    winter = datetime.datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    summer = datetime.datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert shown(winter, "es", "Europe/Madrid", settings) == "15 ene 2026, 13:00 (UTC+1)"
    assert shown(summer, "es", "Europe/Madrid", settings) == "15 jul 2026, 14:00 (UTC+2)"
    # The hour the clocks go back is shown twice on the local clock; the offset tells the two apart.
    first = datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = first + datetime.timedelta(hours=1)
    assert shown(first, "en", "Europe/Madrid", settings) == "25 Oct 2026, 02:30 (UTC+2)"
    assert shown(second, "en", "Europe/Madrid", settings) == "25 Oct 2026, 02:30 (UTC+1)"


def test_offsets_of_half_hours_and_utc_itself(settings):
    assert shown(DECEMBER, "en", "Asia/Kolkata", settings) == "2 Dec 2026, 19:26 (UTC+5:30)"
    assert shown(DECEMBER, "en", "UTC", settings) == "2 Dec 2026, 13:56 (UTC)"


@pytest.mark.parametrize(
    ("seconds", "es", "en"),
    [
        (0, "ahora", "now"),
        (59, "ahora", "now"),
        (-30, "ahora", "now"),
        (60, "hace 1 minuto", "1 minute ago"),
        (2 * 60 + 5, "hace 2 minutos", "2 minutes ago"),
        (3 * 3600, "hace 3 horas", "3 hours ago"),
        (86400, "hace 1 día", "1 day ago"),
        (40 * 86400, "hace 1 mes", "1 month ago"),
        (800 * 86400, "hace 2 años", "2 years ago"),
        (-5 * 60, "dentro de 5 minutos", "in 5 minutes"),
    ],
)
def test_how_long_ago_in_both_languages(seconds, es, en):
    now = DECEMBER + datetime.timedelta(seconds=seconds)
    with translation.override("es"):
        assert time_ago(DECEMBER, now) == es
    with translation.override("en"):
        assert time_ago(DECEMBER, now) == en


def test_the_time_element_keeps_utc_for_machines_and_shows_local_time_and_how_long_ago(settings):
    settings.TIME_ZONE = "America/Montevideo"
    with translation.override("es"):
        element = moment(DECEMBER)
    assert element.startswith('<time datetime="2026-12-02T13:56:30Z">2 dic 2026, 10:56 (UTC−3) · ')
    assert '<span class="ago">' in element and element.endswith("</span></time>")


def test_with_utc_the_same_moment_is_also_given_in_utc(settings):
    settings.TIME_ZONE = "America/Montevideo"
    late = datetime.datetime(2025, 4, 16, 0, 30, tzinfo=UTC)
    with translation.override("es"):
        assert "15 abr 2025, 21:30 (UTC−3), es decir, 16 abr 2025, 00:30 UTC" in moment(late, utc=True)
    with translation.override("en"):
        assert "15 Apr 2025, 21:30 (UTC−3), that is 16 Apr 2025, 00:30 UTC" in moment(late, utc=True)


@pytest.mark.django_db
def test_pages_show_local_times_and_no_utc_only_time(client, settings):
    settings.TIME_ZONE = "America/Montevideo"
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    deployment = factories.make_deployment(production, release, deployed_at=DECEMBER)
    record(
        production,
        Finding("verified", "", "ok", live_digest=release.artifact_digest, live_release=release),
        checked_at=DECEMBER,
        duration_ms=10,
    )
    for url in (
        "/",
        project.get_absolute_url(),
        production.get_absolute_url(),
        release.get_absolute_url(),
        deployment.get_absolute_url(),
    ):
        response = client.get(url, headers={"accept-language": "es"})
        page = html_lib.unescape(response.content.decode())
        assert '<time datetime="2026-12-02T13:56:30Z">2 dic 2026, 10:56 (UTC−3) · ' in page, url
        assert " UTC</time>" not in page, url


def run_settings(zone):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.TIME_ZONE)",
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": "x" * 50,
            "VITRINA_TIME_ZONE": zone,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_zone_is_a_setting_and_an_unknown_one_stops_the_start_with_a_clear_error():
    assert run_settings("Europe/Madrid").stdout.strip() == "Europe/Madrid"
    refused = run_settings("Mars/Olympus_Mons")
    assert refused.returncode != 0
    assert "VITRINA_TIME_ZONE is 'Mars/Olympus_Mons', which is not a time zone" in refused.stderr
