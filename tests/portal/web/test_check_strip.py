"""The environment page's strip of checks runs newest first, like the table under it; each cell is a button
that opens its details (time, light, reason, what the server said) in a popover, by touch or keyboard,
not a ``title`` tooltip. Only the light's word and reason are an aria-live region, not the whole status area.
"""

import datetime
import re

import pytest

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.portal import factories

pytestmark = pytest.mark.django_db

FIRST = datetime.datetime(2026, 3, 14, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def checked():
    """Production checked three times: green, could not verify (a timeout), then red."""
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    factories.make_deployment(production, release)
    findings = [
        Finding("verified", "", "ok", live_digest=release.artifact_digest, live_release=release),
        Finding("unverifiable", "timeout", "timed out"),
        Finding("mismatch", "unregistered_artifact", "unknown", live_digest="sha256:" + "ab" * 32),
    ]
    checks = [
        record(production, finding, checked_at=FIRST + datetime.timedelta(minutes=n), duration_ms=10)
        for n, finding in enumerate(findings)
    ]
    return production, checks


def strip_of(client, environment):
    html = client.get(environment.get_absolute_url()).content.decode()
    start = html.index('<ol class="check-strip"')
    return html, html[start : html.index("</ol>", start)]


def test_the_strip_runs_newest_first_like_the_table(client, checked):
    production, (green, amber, red) = checked
    html, strip = strip_of(client, production)
    order = [int(pk) for pk in re.findall(r'popovertarget="check-(\d+)"(?! popovertargetaction)', strip)]
    assert order == [red.pk, amber.pk, green.pk]
    assert "The last 3 checks, newest first" in html


def test_each_cell_is_a_button_opening_its_details_without_a_tooltip(client, checked):
    production, (green, amber, red) = checked
    _, strip = strip_of(client, production)
    assert "title=" not in strip
    assert strip.count('<button type="button" class="cell ') == 3
    start = strip.index(f'<div class="check-details" id="check-{red.pk}" popover>')
    details = strip[start : strip.index("</div>", start)]
    assert '<time datetime="2026-03-14T09:02:00Z">14 Mar 2026, 06:02 (UTC−3) · ' in details
    assert "mismatch" in details
    assert "The server says it runs a version that was never published." in details
    assert "sha256:" + "ab" * 32 in details
    assert f'popovertarget="check-{red.pk}" popovertargetaction="hide">Close</button>' in details
    # The button's name says when and what, for a screen reader that never opens the popover.
    assert 'alt="14 Mar 2026, 06:02 (UTC−3): mismatch"' in strip


def test_only_the_light_and_its_reason_are_announced(client, checked):
    production, _ = checked
    html = client.get(production.get_absolute_url()).content.decode()
    region = html[html.index('<div id="status-environment"') :]
    assert region.startswith('<div id="status-environment" data-refresh>')
    live = re.findall(r"<[^>]*aria-live[^>]*>", html[: html.index('<section id="past"')])
    assert live == ['<p class="status-line" id="status-light" aria-live="polite" aria-atomic="true">']
    start = html.index('id="status-light"')
    status_line = html[start : html.index("</p>", start)]
    assert "mismatch" in status_line and 'class="reason"' in status_line
    assert "<time" not in status_line  # nothing in it changes with the clock alone


def test_on_the_home_page_only_the_summary_is_announced(client, checked):
    html = client.get("/").content.decode()
    assert '<div id="status-home" data-refresh>' in html
    live = re.findall(r"<[^>]*aria-live[^>]*>", html)
    assert live == ['<h2 id="summary-heading" aria-live="polite" aria-atomic="true">']


def test_on_the_project_page_only_its_summary_is_announced(client, checked):
    """The project's status area is refreshed every 30 s: reading all of it aloud each time would drown
    the reader; its one-line summary says when something changed."""
    html = client.get("/p/city-portal/", headers={"accept-language": "es"}).content.decode()
    assert '<div id="status-project" data-refresh>' in html
    area = html[html.index('<div id="status-project"') :]
    # The copy buttons' status words are announced only after a click on them.
    live = [tag for tag in re.findall(r"<[^>]*aria-live[^>]*>", area) if "copy-status" not in tag]
    assert live == ['<h2 id="summary-heading" aria-live="polite" aria-atomic="true">'], live
