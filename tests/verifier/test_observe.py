"""``observe`` against loopback stand-ins: a portal serving a project and a real deployment proof bundle,
a watched server's live endpoint and its web site, each a real HTTP server on 127.0.0.1.

The run ends on what it saw: 0 verified, 1 mismatch (or a portal whose proof bundle does not verify),
2 could not check, 3 bad input; nothing is trusted from the portal that its bundle does not prove.
"""

import hashlib
import json

import pytest

from tests.helpers.liveserver import LiveServer, LoopbackServer, _Handler
from tests.helpers.site import SiteServer, js, page, served_list
from tests.verifier.factories import key_pair, random_commit
from tests.verifier.test_bundle import PROJECT, REPO_URL, MemoryLog, log_entry
from verifier.cli import main
from verifier.dsse import envelope_to_json, sign_envelope
from verifier.live import LiveReport
from verifier.observation import verify_observation
from verifier.observe import Verdict, compare_live
from verifier.reasons import Reason, Result
from verifier.statement import build_statement, statement_to_payload

ARTIFACT_DIGEST = "sha256:" + hashlib.sha256(b"vote 2.0.0").hexdigest()
OTHER_DIGEST = "sha256:" + "ee" * 32
INDEX = '<!doctype html><title>Vote</title><script src="/static/app.js"></script>'
OBSERVERS = "/api/v1/observers/?limit=200&offset=0"
SITE = {"/": page(INDEX), "/static/app.js": js(b"function vote() {}")}


def deployment_bundle(log, signer, served_files):
    """A deployment bundle of a release signed with ``served_files``, its entries in ``log``."""
    commit = random_commit()
    statement = build_statement(
        artifact_name="vote.tar.gz",
        artifact_digest=ARTIFACT_DIGEST,
        repo_uri=REPO_URL,
        commit=commit,
        served_files=served_files,
    )
    envelope = envelope_to_json(sign_envelope(statement_to_payload(statement), signer.private_key))
    release = {
        "project": "demo",
        "release_id": 7,
        "version": "2.0.0",
        "artifact_name": "vote.tar.gz",
        "artifact_digest": ARTIFACT_DIGEST,
        "source_commit": commit,
        "repo_url": REPO_URL,
        "ci_build_url": "",
        "envelope_sha256": hashlib.sha256(envelope.encode()).hexdigest(),
        "signer_key_id": signer.key_id,
        "registered_at": "2026-12-02T10:00:00.000000Z",
    }
    release_index = log.append(log_entry("release", release))
    deployment = {
        "project": "demo",
        "environment": "production",
        "deployment_id": 3,
        "release_id": 7,
        "version": "2.0.0",
        "artifact_digest": ARTIFACT_DIGEST,
        "deployed_at": "2026-12-02T11:00:00.000000Z",
        "pipeline_run_url": "",
    }
    deployment_index = log.append(log_entry("deployment", deployment))
    return {
        "bundle_version": 1,
        "kind": "deployment",
        "deployment": deployment,
        "log": log.proof_section(deployment_index),
        "project": dict(PROJECT),
        "release_bundle": {
            "bundle_version": 1,
            "kind": "release",
            "release": release,
            "envelope": envelope,
            "signing_keys": [
                {"key_id": signer.key_id, "algorithm": "ed25519", "public_key_pem": signer.public_pem}
            ],
            "log": log.proof_section(release_index),
            "project": dict(PROJECT),
        },
    }


class Portal(LoopbackServer):
    """The portal's read API, fixed JSON documents by path, and its observer-reports endpoint, which
    keeps each POST and answers ``answer`` (status, document)."""

    path = ""

    def __init__(self, documents):
        super().__init__()
        self.documents = documents
        self.posted = []
        self.answer = (201, {"id": 1, "log_index": 42})
        self._httpd.RequestHandlerClass = _PortalHandler

    def receive(self, handler):
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        self.posted.append((handler.path, handler.headers["Authorization"], json.loads(body)))
        status, document = self.answer
        self.send(handler, status, json.dumps(document).encode(), "application/json")

    def respond(self, handler):
        document = self.documents.get(handler.path)
        if document is None:
            self.send(handler, 404, b'{"error": {"message": "Not found."}}', "application/json")
            return
        self.send(handler, 200, json.dumps(document).encode(), "application/json")


class _PortalHandler(_Handler):
    def do_POST(self):  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        self.server.owner.receive(self)
        self.close_connection = True


class World:
    def __init__(self, portal, live, site, log, bundle):
        self.portal, self.live, self.site, self.log, self.bundle = portal, live, site, log, bundle

    def project(self, **environment):
        return self.portal.documents["/api/v1/projects/demo/"]["environments"][0] | environment


@pytest.fixture
def world():
    log = MemoryLog()
    log.append({"v": 1, "type": "key_added", "project": "demo"})
    bundle = deployment_bundle(log, key_pair(), served_list(SITE))
    with (
        LiveServer({"artifact_digest": ARTIFACT_DIGEST}) as live,
        SiteServer(SITE) as site,
        Portal({}) as portal,
    ):
        portal.documents["/api/v1/projects/demo/"] = {
            "slug": "demo",
            "inline_scripts_must_be_declared": True,
            "environments": [
                {
                    "name": "production",
                    "live_url": live.url,
                    "site_url": site.base_url,
                    "entry_pages": ["/"],
                    "current_deployment": {"id": 3, "bundle_url": "/api/v1/deployments/3/bundle"},
                }
            ],
        }
        portal.documents["/api/v1/deployments/3/bundle"] = bundle
        yield World(portal, live, site, log, bundle)


def observe(world, *extra):
    return main(
        [
            "observe", "--portal", world.portal.base_url, "--project", "demo", "--environment", "production",
            "--no-state", "--allow-private", "--log-key", world.log.verifier_key, *extra,
        ]
    )  # fmt: skip


def test_an_environment_serving_the_deployed_release_is_verified(world, capsys):
    assert observe(world) == 0
    out = capsys.readouterr().out
    assert "PASS  deployment checkpoint" in out and "PASS  release signature" in out
    assert "PASS  live endpoint: The server runs release 2.0.0" in out
    assert "PASS  served files: " in out
    assert out.splitlines()[-1].startswith("RESULT: verified.")
    assert world.site.agents and all(agent.startswith("Vitrina-observer/") for agent in world.site.agents)


def test_a_server_running_another_artifact_is_a_mismatch_saying_it_is_not_the_deployed_release(world, capsys):
    world.live.set_body({"artifact_digest": OTHER_DIGEST})
    assert observe(world) == 1
    result = capsys.readouterr().out.splitlines()[-1]
    assert result.startswith("RESULT: MISMATCH (unregistered_artifact).")
    assert OTHER_DIGEST in result and "not release 2.0.0" in result


def test_a_script_swapped_for_everyone_but_the_monitor_is_a_mismatch_naming_it(world, capsys):
    world.site.only_for_others["/static/app.js"] = js(b"function vote() { steal() }")
    assert observe(world) == 1
    out = capsys.readouterr().out
    assert "FAIL  served files:" in out and "/static/app.js" in out
    assert out.splitlines()[-1].startswith("RESULT: MISMATCH (served_file_mismatch).")


def test_a_portal_whose_bundle_does_not_verify_ends_the_run_before_anything_is_fetched(world, capsys):
    world.bundle["deployment"]["artifact_digest"] = OTHER_DIGEST
    world.bundle["release_bundle"]["release"]["artifact_digest"] = OTHER_DIGEST
    assert observe(world) == 1
    out, err = capsys.readouterr()
    assert "FAIL  deployment log entry" in out
    assert "the portal's proof bundle does not verify" in err
    assert world.live.request_count == 0 and world.site.request_count == 0


def test_a_bundle_under_another_log_key_than_the_pinned_one_fails(world, capsys):
    other = MemoryLog()
    assert main(
        [
            "observe", "--portal", world.portal.base_url, "--project", "demo", "--environment", "production",
            "--no-state", "--allow-private", "--log-key", other.verifier_key,
        ]
    ) == 1  # fmt: skip
    assert "FAIL  deployment checkpoint" in capsys.readouterr().out


def test_a_bundle_of_another_deployment_than_the_portal_names_is_refused(world, capsys):
    world.portal.documents["/api/v1/projects/demo/"]["environments"][0]["current_deployment"]["id"] = 4
    assert observe(world) == 1
    assert "not of deployment 4 of demo/production" in capsys.readouterr().err


def test_a_bundle_url_off_the_portal_is_not_fetched(world, capsys):
    deployment = world.portal.documents["/api/v1/projects/demo/"]["environments"][0]["current_deployment"]
    deployment["bundle_url"] = world.site.base_url + "/bundle"
    assert observe(world) == 2
    assert "outside the portal" in capsys.readouterr().err
    assert world.site.request_count == 0


def test_an_unreachable_live_endpoint_could_not_be_checked(world, capsys):
    world.live.status = 503
    assert observe(world) == 2
    assert capsys.readouterr().out.splitlines()[-1].startswith("RESULT: COULD NOT CHECK (unreachable).")


def test_private_addresses_are_refused_unless_allowed(world, capsys):
    code = main(
        [
            "observe", "--portal", world.portal.base_url, "--project", "demo", "--environment", "production",
            "--no-state", "--log-key", world.log.verifier_key,
        ]
    )  # fmt: skip
    assert code == 2
    assert "(forbidden_address)" in capsys.readouterr().out


def test_an_unknown_project_or_environment_is_bad_input(world, capsys):
    base = ["observe", "--portal", world.portal.base_url, "--no-state"]
    assert main([*base, "--project", "nope", "--environment", "production"]) == 3
    assert "observe: --project nope: the portal at" in capsys.readouterr().err
    assert main([*base, "--project", "demo", "--environment", "staging"]) == 3
    assert "has no such environment (it has: production)" in capsys.readouterr().err
    assert main([*base, "--project", "../admin", "--environment", "production"]) == 3
    assert "--project '../admin' is not a slug" in capsys.readouterr().err


def test_publish_needs_a_key_and_an_https_portal(world, capsys, monkeypatch):
    monkeypatch.setenv("VITRINA_OBSERVER_TOKEN", "vto_x")
    base = ["observe", "--project", "demo", "--environment", "production", "--publish"]
    assert main([*base, "--portal", world.portal.base_url]) == 3
    assert "give your private key with --key" in capsys.readouterr().err
    assert main([*base, "--portal", "http://vitrina.example.org", "--key", "k.pem"]) == 3
    assert "plain http" in capsys.readouterr().err


def test_publish_needs_the_token_in_the_environment(world, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("VITRINA_OBSERVER_TOKEN", raising=False)
    key = tmp_path / "observer.pem"
    key.write_text(key_pair().private_pem)
    assert observe(world, "--publish", "--key", str(key)) == 3
    assert "VITRINA_OBSERVER_TOKEN is empty" in capsys.readouterr().err
    assert world.live.request_count == 0


def test_a_key_the_portal_does_not_list_as_an_observer_is_bad_input(world, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("VITRINA_OBSERVER_TOKEN", "vto_x")
    world.portal.documents[OBSERVERS] = {
        "results": [{"name": "Someone", "key_id": "ab" * 32, "removed_at": None}]
    }
    key = tmp_path / "observer.pem"
    key.write_text(key_pair().private_pem)
    assert observe(world, "--publish", "--key", str(key)) == 3
    assert "lists no active observer with key" in capsys.readouterr().err
    assert world.live.request_count == 0  # said before anything is checked or signed


@pytest.fixture
def observer(world, monkeypatch, tmp_path):
    """A registered observer's key file, listed by the portal, and its token in the environment."""
    pair = key_pair()
    world.portal.documents[OBSERVERS] = {
        "results": [{"name": "la diaria", "key_id": pair.key_id, "removed_at": None}]
    }
    monkeypatch.setenv("VITRINA_OBSERVER_TOKEN", "vto_secret")
    key = tmp_path / "observer.pem"
    key.write_text(pair.private_pem)
    return pair, str(key)


def test_publish_posts_the_observation_signed_with_the_observers_key(world, observer, capsys):
    pair, key = observer
    world.live.set_body({"artifact_digest": OTHER_DIGEST})
    assert observe(world, "--publish", "--key", key) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "published: observer report 1, log index 42"
    [(path, authorization, body)] = world.portal.posted
    assert (path, authorization) == ("/api/v1/observer-reports/", "Bearer vto_secret")
    seen = verify_observation(body["envelope"], pair.public_key)
    assert (seen.observer, seen.project, seen.environment) == ("la diaria", "demo", "production")
    assert (seen.deployment_id, seen.release_id, seen.expected_digest) == (3, 7, ARTIFACT_DIGEST)
    assert (seen.result, seen.reason, seen.live_digest) == (
        Result.MISMATCH,
        Reason.UNREGISTERED_ARTIFACT,
        OTHER_DIGEST,
    )
    assert (seen.served_files.checked, seen.served_files.matched) == (1, 1)


@pytest.mark.parametrize("status, code", [(400, 1), (403, 1), (502, 2)])
def test_a_refusal_is_exit_1_with_the_portals_message_and_an_outage_exit_2(
    world, observer, capsys, status, code
):
    world.portal.answer = (status, {"error": {"message": "observed_at is more than 10 minutes ahead."}})
    assert observe(world, "--publish", "--key", observer[1]) == code
    err = capsys.readouterr().err
    assert ("observed_at is more than 10 minutes ahead." in err) == (code == 1)


# --- compare_live, on its own -------------------------------------------------------------------------


def live(digest=None, components=None):
    return LiveReport(digest, None, None, "u", "u", 200, 0.0, b"", components)


RELEASE = {"version": "2.0.0", "artifact_name": "web", "artifact_digest": ARTIFACT_DIGEST}
WEB, WORKER = "sha256:" + "1a" * 32, "sha256:" + "2b" * 32
SEVERAL = RELEASE | {
    "artifact_digest": WEB,
    "components": [
        {"name": "web", "digest": {"sha256": WEB.removeprefix("sha256:")}},
        {"name": "worker", "digest": {"sha256": WORKER.removeprefix("sha256:")}},
    ],
}


@pytest.mark.parametrize(
    "release, report, reason",
    [
        (RELEASE, live(ARTIFACT_DIGEST), None),
        (RELEASE, live(components={"web": ARTIFACT_DIGEST}), None),
        (RELEASE, live(OTHER_DIGEST), Reason.UNREGISTERED_ARTIFACT),
        (SEVERAL, live(components={"web": WEB, "worker": WORKER}), None),
        (SEVERAL, live(WEB), Reason.COMPONENT_MISSING),
        (SEVERAL, live(components={"web": WEB, "worker": OTHER_DIGEST}), Reason.COMPONENT_MISMATCH),
        (SEVERAL, live(components={"web": WEB}), Reason.COMPONENT_MISSING),
        (SEVERAL, live(components={"web": WEB, "worker": WORKER, "x": WEB}), Reason.COMPONENT_UNEXPECTED),
    ],
)
def test_the_live_answer_is_held_to_the_deployed_release(release, report, reason):
    verdict = compare_live(report, release, "demo/production")
    assert isinstance(verdict, Verdict)
    assert verdict.reason == reason
    assert verdict.result == (Result.VERIFIED if reason is None else Result.MISMATCH)
