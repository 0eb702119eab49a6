"""Every bad request gets the one error shape and a 4xx naming the problem, and writes nothing."""

import asyncio
import json

import pytest
from django.core.asgi import get_asgi_application

from portal.http import error_response
from portal.registry.models import Release
from tests.portal import factories
from tests.portal.api.support import error_of, writes_nothing


def test_malformed_json_is_a_400(ci):
    with writes_nothing():
        response = ci.post("/api/v1/releases/", '{"version": "1.0", "envelope": ')

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert "JSON" in error["message"]


def test_body_that_is_not_an_object_is_a_400(ci):
    with writes_nothing():
        response = ci.post("/api/v1/releases/", "[1, 2]")

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["non_field_errors"]


def test_missing_fields_are_each_named(ci):
    with writes_nothing():
        response = ci.post("/api/v1/releases/", {})

    error = error_of(response)
    assert response.status_code == 400
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"envelope", "version"}
    assert error["message"].startswith("envelope: Give exactly one of envelope (a DSSE envelope) and")


@pytest.mark.parametrize("digest", ["sha256:XYZ", "sha256:" + "A" * 64, "md5:" + "0" * 32, "0" * 64])
def test_wrong_digest_format_is_a_400_on_the_field(ci, digest):
    with writes_nothing():
        response = ci.register(artifact_digest=digest)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["artifact_digest"]


def test_wrong_digest_format_for_a_deployments_release_is_a_400(ci):
    with writes_nothing():
        response = ci.deploy("sha256:1234")

    assert response.status_code == 400
    assert "64 hex characters" in error_of(response)["fields"]["release"][0]


def test_malformed_source_commit_is_a_400(ci):
    with writes_nothing():
        response = ci.register(source_commit="main")

    assert list(error_of(response)["fields"]) == ["source_commit"]


@pytest.mark.parametrize("part", ["payload", "sig"])
def test_bad_base64_in_the_envelope_is_a_400(ci, part):
    envelope = ci.envelope()
    if part == "payload":
        envelope["payload"] = "not base64!"
    else:
        envelope["signatures"][0]["sig"] = "%%%"

    with writes_nothing():
        response = ci.register(envelope)

    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == ["envelope"]
    assert "base64" in error["message"]


@pytest.mark.parametrize("part", ["payload", "sig"])
def test_non_ascii_base64_in_the_envelope_is_a_400(ci, part):
    envelope = ci.envelope()
    if part == "payload":
        envelope["payload"] = envelope["payload"][:-4] + "é" + envelope["payload"][-3:]
    else:
        envelope["signatures"][0]["sig"] = "ü" + envelope["signatures"][0]["sig"][1:]

    with writes_nothing():
        response = ci.register(envelope)

    assert response.status_code == 400
    error = error_of(response)
    assert list(error["fields"]) == ["envelope"]
    assert part in error["message"] and "base64" in error["message"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"version": "1.0.0", "version": "2.0.0", "envelope": {}}', "the key 'version' appears twice"),
        ('{"version": "1.0.0", "envelope": {"payload": NaN}}', "NaN is not a JSON value"),
        ('{"version": "1.0.0", "envelope": ' + "[" * 5000 + "]" * 5000 + "}", "nested more than"),
        ('{"version": "1.0.0", "envelope": ' + "[" * 70 + "]" * 70 + "}", "nested more than 64 levels"),
    ],
    ids=["duplicate-key", "nan", "deep-5000", "deep-70"],
)
def test_body_the_strict_json_reader_refuses_is_a_400(ci, body, problem):
    with writes_nothing():
        response = ci.post("/api/v1/releases/", body)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert problem in error["message"]


def test_envelope_text_with_a_duplicate_key_is_a_400(ci):
    envelope = ci.envelope()
    text = json.dumps(envelope)[:-1] + ', "payloadType": "text/plain"}'

    with writes_nothing():
        response = ci.register(text)

    assert response.status_code == 400
    assert "'payloadType'" in error_of(response)["fields"]["envelope"][0]


@pytest.mark.parametrize(
    ("envelope", "problem"),
    [
        (42, "Expected a DSSE envelope"),
        ("{not json", "not valid JSON"),
        ({"payload": ""}, "no 'payloadType'"),
    ],
)
def test_envelope_that_is_not_an_envelope_is_a_400(ci, envelope, problem):
    with writes_nothing():
        response = ci.register(envelope)

    assert response.status_code == 400
    assert problem in error_of(response)["fields"]["envelope"][0]


def test_version_that_cannot_name_a_page_is_a_400(ci):
    with writes_nothing():
        response = ci.register(version="feature/login")

    assert response.status_code == 400
    assert "'feature/login'" in error_of(response)["fields"]["version"][0]


def test_unknown_project_is_a_404_naming_it(ci):
    with writes_nothing():
        response = ci.register(project="atlantis")

    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert error["fields"] == {"project": ["There is no project 'atlantis'."]}


def test_unknown_environment_is_a_404_naming_it(ci):
    factories.make_release(ci.project, ci.private_key, "1.0.0")

    with writes_nothing():
        response = ci.deploy("1.0.0", environment="staging")

    assert response.status_code == 404
    assert "no environment 'staging'" in error_of(response)["fields"]["environment"][0]


@pytest.mark.parametrize("ref", ["9.9.9", "sha256:" + "0" * 64])
def test_unknown_release_is_a_404_naming_it(ci, ref):
    with writes_nothing():
        response = ci.deploy(ref)

    assert response.status_code == 404
    assert ref in error_of(response)["fields"]["release"][0]


def test_oversize_body_is_a_413(ci, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    with writes_nothing():
        response = ci.register(ci.envelope(artifact_name="x" * 2000))

    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert "1000 bytes" in error["message"]


@pytest.mark.django_db(transaction=True)
def test_oversize_body_without_content_length_is_a_413(settings):
    """A chunked upload has no Content-Length; the body is still measured, through ASGI here."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    project = factories.make_project()
    _, raw = factories.make_token(project)
    body = json.dumps({"version": "1.0", "envelope": "x" * 5000}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/releases/",
        "raw_path": b"/api/v1/releases/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", f"Bearer {raw}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)]
    sent = []

    async def receive():
        if not chunks:  # the client waits for the answer; Django cancels this when it has sent it
            await asyncio.Event().wait()
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    asyncio.run(get_asgi_application()(scope, receive, send))

    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413
    assert json.loads(content)["error"]["code"] == "payload_too_large"
    assert not Release.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_body_that_is_not_json_is_a_415(ci, content_type):
    with writes_nothing():
        response = ci.post("/api/v1/releases/", "version=1.0", content_type=content_type)

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/releases/"), ("get", "/api/v1/deployments/"), ("delete", "/api/v1/deployments/")],
)
def test_wrong_method_is_a_405_even_without_a_token(client, db, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_error_response_gives_plain_views_the_same_shape():
    response = error_response(
        404, "There is no release 7.", code="not_found", fields={"release": ["unknown"]}
    )

    assert response.status_code == 404
    assert json.loads(response.content) == {
        "error": {
            "status": 404,
            "code": "not_found",
            "message": "There is no release 7.",
            "fields": {"release": ["unknown"]},
        }
    }
