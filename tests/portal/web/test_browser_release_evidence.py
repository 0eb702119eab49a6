"""In real headless Chromium: an off-branch release's page, with its red warning, its evidence and its
commands, fits a 390 px phone in both languages with no axe violation and no CSP error; the copy button
copies the commands exactly and says "Copiado"/"Copied" through its aria-live status."""

import pytest

from portal.monitoring.models import ReleaseRepositoryCheck
from tests.helpers.screens import LANGUAGES, NOT_YET_MET, axe_violations, screen_page, too_wide
from tests.portal import factories

pytestmark = pytest.mark.browser

COPIED = {"es": "Copiado", "en": "Copied"}


@pytest.fixture
def off_branch(transactional_db, live_server, log_key_file):
    project = factories.make_project("city-portal", name="City Portal")
    environment = factories.make_environment(project, "production")
    release = factories.make_deployed_release(project, "2.5.0-rc.1")
    ReleaseRepositoryCheck.objects.create(
        release=release,
        on_branch=False,
        reason="commit_not_on_branch",
        message=f"Commit {release.source_commit} is not reachable from 'main'.",
    )
    deployment = factories.make_deployment(environment, release)
    return live_server.url, release, deployment


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("which", ["release", "deployment"])
def test_the_page_fits_a_phone_and_the_copy_button_copies(off_branch, chromium, screenshot, language, which):
    url, release, deployment = off_branch
    path = release.get_absolute_url() if which == "release" else deployment.get_absolute_url()
    with screen_page(chromium, language, "phone") as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        page.goto(url + path)
        assert too_wide(page) == []
        assert page.locator(".evidence-alert").is_visible()
        assert axe_violations(page, but=NOT_YET_MET) == []
        screenshot(page, f"release-evidence-{which}-{language}-phone")

        block = page.locator(".command-block").first
        block.locator("button.copy").click()
        status = block.locator(".copy-status")
        status.wait_for(state="visible")
        assert status.text_content() == COPIED[language]
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == block.locator("pre code").text_content()
        assert "/bundle" in copied
        assert page.errors == []
