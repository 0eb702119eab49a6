"""Every public page at 390 px (a phone) and 1280 px (a laptop), in Spanish and English, in real headless
Chromium: the page is never wider than the screen, on a phone no part of the content hides in a box that
scrolls sideways (a reader would never find the column), axe finds no violation of any rule but those the
site does not meet yet (``NOT_YET_MET``), and the Spanish page shows no English sentence of the catalog. A
full-page screenshot of each is kept (see ``$SCREENSHOT_DIR``)."""

import datetime
import gettext
import re

import pytest

from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from portal.registry import services
from portal.registry.models import Rebuild, Rebuilder
from portal.transparency.models import Cosignature
from portal.transparency.services import integrate, latest_checkpoint
from portal.transparency.witnesses import add_witness
from tests.helpers.screens import NOT_YET_MET, axe_violations, each_screen, sideways_scrollers, too_wide
from tests.portal import factories
from tests.portal.web.test_translations import CATALOG, english_sentences, untranslated_on
from verifier.cosignature import cosign, generate_cosigner_key, parse_cosigner_signer_key
from verifier.note import split_note
from verifier.statement import BuildInstructions

pytestmark = pytest.mark.browser

UTC = datetime.UTC
DEPLOYED = datetime.datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
# Long unbroken words are what push a phone page sideways: a live URL and a pipeline run URL with no
# hyphen for the browser to break at, and a digest the server reported that nobody published.
LONG_PATH = "/.well-known/vitrina/deploymentstatusreportforthecitizenportalproductioncluster"
LONG_RUN = "https://ci.example.org/cityportal/pipelines/2025/06/01/run000000000000000000000000000077"
UNKNOWN_DIGEST = "sha256:" + "ab" * 32
WITNESSES = (
    "witness.facultad-de-ingenieria.universidad-de-la-republica.example.edu.uy/transparency-log-witness",
    "armored-witness.transparency.example.org/w1",
)
LONG_BUILD = BuildInstructions(
    "python -m build --wheel --outdir dist/ && "
    "tar --sort=name --mtime=@$SOURCE_DATE_EPOCH -czf dist/site.tar.gz static",
    {"PYTHON_VERSION": "3.12.7", "BUILDER_IMAGE": "docker.io/library/python@sha256:" + "0f" * 32},
    {"app.tar.gz": "dist/app.tar.gz"},
)


# The evidence ladder's layers with the longest words a real check writes: a file path, two digests, an
# observer's name.
SERVED_OK = {"result": "verified", "reason": "served_files_verified", "message": "47 of 47 files match",
             "checked": 47, "matched": 47, "problems": []}  # fmt: skip
SERVED_BAD = {
    "result": "mismatch",
    "reason": "served_file_mismatch",
    "message": "https://city-portal-staging.example.org, release 2.4.1: /static/assets/application-"
    + "0123456789abcdef" * 2
    + ".js is sha256:"
    + "ab" * 32
    + " on the site, but the release lists sha256:"
    + "cd" * 32,
    "checked": 47,
    "matched": 46,
    "problems": [
        {"reason": "served_file_mismatch", "path": "/static/app.js", "expected": None, "found": None}
    ],
}
OBSERVERS_BAD = {
    "result": "mismatch",
    "reason": "observers_disagree",
    "message": "Observer 'Facultad de Ingeniería, Universidad de la República' saw something else.",
    "agreeing": None,
    "required": 0,
    "reports": [
        {
            "observer": "Facultad de Ingeniería, Universidad de la República",
            "report_id": 1,
            "observed_at": "2026-03-01T13:00:00.000000Z",
            "result": "mismatch",
            "reason": "served_file_mismatch",
            "live_digest": UNKNOWN_DIGEST,
            "served_files_checked": 47,
            "served_files_matched": 46,
        }
    ],
}


@pytest.fixture
def pages(transactional_db, live_server, log_key_file):
    """One of each public page, with the longest words a real page carries: name -> path."""
    project = factories.make_project(
        "city-portal", name="City Portal", description="Permits and taxes online."
    )
    production = factories.make_environment(
        project, "production", live_url="https://city-portal-production.example.org" + LONG_PATH
    )
    staging = factories.make_environment(project, "staging")
    staging.site_url = "https://city-portal-staging.example.org"
    staging.save()
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1", build=LONG_BUILD)
    for n, (name, sha256) in enumerate(
        [
            ("Rebuilder of the Facultad de Ingeniería", release.artifact_digest[7:]),
            ("Debian volunteer", "ef" * 32),
        ]
    ):
        rebuilder = Rebuilder.objects.create(
            name=name, public_key_pem="-", algorithm="ed25519", key_id=f"{n:064x}", token_hash=f"{n:064x}"
        )
        Rebuild.objects.create(
            rebuilder=rebuilder,
            release=release,
            rebuilt_at=DEPLOYED,
            result="reproduced" if n == 0 else "differs",
            subjects=[{"name": release.artifact_name, "digest": {"sha256": sha256}}],
            envelope="{}",
            envelope_sha256="00" * 32,
        )
    deployment = factories.make_deployment(
        production, release, deployed_at=DEPLOYED, pipeline_run_url=LONG_RUN
    )
    factories.make_deployment(staging, release, deployed_at=DEPLOYED)
    for n in range(3):
        record(
            production,
            Finding(
                "verified",
                "",
                "",
                live_digest=release.artifact_digest,
                live_release=release,
                expected_release=release,
                layers={"served_files": SERVED_OK},
            ),
            checked_at=DEPLOYED + datetime.timedelta(hours=n + 1),
            duration_ms=40,
        )
    record(
        staging,
        Finding(
            "mismatch",
            "unregistered_artifact",
            "the server reported " + UNKNOWN_DIGEST + ", which no release of this project carries",
            live_digest=UNKNOWN_DIGEST,
            expected_release=release,
            layers={"served_files": SERVED_BAD, "observers": OBSERVERS_BAD},
        ),
        checked_at=DEPLOYED + datetime.timedelta(hours=1),
        duration_ms=40,
    )
    services.post_note(
        project, environment=staging, kind="investigating", text="Revisando el servidor de pruebas."
    )
    integrate()
    add_witnesses()
    return live_server.url, {
        "home": "/",
        "project": project.get_absolute_url(),
        "environment-green": production.get_absolute_url(),
        "environment-red": staging.get_absolute_url(),
        "environment-past": production.get_absolute_url() + "?date=2025-06-01&time=12:00#past",
        "release": release.get_absolute_url(),
        "deployment": deployment.get_absolute_url(),
        "log": "/log/",
        "verify": "/verify/",
        "api-docs": "/api/v1/docs/",
        "not-found": "/p/no-such-project/",
        "search": "/search/?q=2.4.1",
        "search-tamper": "/search/?q=" + UNKNOWN_DIGEST,
        "search-bad": "/search/?q=%3Cscript%3E",
        "subscribe": "/subscribe/?project=city-portal",
    }


def add_witnesses():
    """Two witnesses with long names, on the log page: one cosigned the latest checkpoint, one not yet."""
    checkpoint = latest_checkpoint()
    for n, name in enumerate(WITNESSES):
        key = parse_cosigner_signer_key(generate_cosigner_key(name))
        witness = add_witness(name, key.verifier_key, f"https://{name}/")
        if n == 0:
            line = cosign(split_note(checkpoint.note)[0], key)
            Cosignature.objects.create(
                checkpoint=checkpoint, witness=witness, timestamp=1748772000, line=line
            )


PAGE_NAMES = (
    "home",
    "project",
    "environment-green",
    "environment-red",
    "environment-past",
    "release",
    "deployment",
    "log",
    "verify",
    "api-docs",
    "not-found",
    "search",
    "search-tamper",
    "search-bad",
    "subscribe",
)
# Text shown as is in any language: addresses, digests and hex, commands, paths and the API's own words
# (Swagger UI and the schema are English for every reader, and the page says so with lang="en").
_AS_IS = re.compile(r"\S*(?:https?://|/|sha256:|\.py\b|--)\S*|\b[0-9a-f]{7,}\b")
VISIBLE_SPANISH_TEXT = """[...document.querySelectorAll("body *")]
    .filter(e => !e.closest('[lang]:not([lang="es"])') && !["SCRIPT", "STYLE"].includes(e.tagName))
    .flatMap(e => [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent))
    .join(" ")"""


@pytest.fixture(scope="module")
def english():
    with open(CATALOG, "rb") as f:
        return english_sentences(gettext.GNUTranslations(f))


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_the_page_fits_phone_and_laptop_screens_in_both_languages(name, pages, chromium, screenshot, english):
    url, paths = pages
    problems = []
    for language, screen, page in each_screen(chromium):
        page.goto(url + paths[name])
        screenshot(page, f"fit-{name}-{language}-{screen}")
        found = too_wide(page) + axe_violations(page, but=NOT_YET_MET)
        if screen == "phone":
            found += sideways_scrollers(page)
        if language == "es":
            assert page.evaluate("document.documentElement.lang") == "es"
            text = " ".join(_AS_IS.sub(" ", page.evaluate(VISIBLE_SPANISH_TEXT)).split())
            found += [f"untranslated {msgid!r}" for msgid in untranslated_on(text, english)]
        problems += [f"{language} {screen}: {problem}" for problem in found]
    assert problems == [], problems
