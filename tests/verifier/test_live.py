"""The live-endpoint fetch: what a well-behaved service gets, and how every hostile one is cut short."""

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.liveserver import (
    EXAMPLE_COMMIT,
    EXAMPLE_DIGEST,
    DribbleServer,
    ErrorServer,
    HugeServer,
    LiveServer,
    RedirectLoopServer,
    RedirectToServer,
    SilentServer,
    live_endpoint,  # noqa: F401 (fixture)
)
from verifier.errors import CouldNotCheck
from verifier.live import LiveReport, address_problem, fetch_live, parse_live_answer, parse_live_body
from verifier.reasons import Reason

OTHER_DIGEST = "sha256:" + "0a" * 32
FAST = {"allow_private": True, "connect_timeout": 1.0, "total_timeout": 2.0}
SLACK = 1.5


def refused(url, **options):
    """Fetch ``url`` expecting a refusal; return the error and how long the fetch took."""
    started = time.monotonic()
    with pytest.raises(CouldNotCheck) as caught:
        fetch_live(url, **{**FAST, **options})
    return caught.value, time.monotonic() - started


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- well-behaved services ------------------------------------------------------------------------


def test_json_answer_gives_digest_commit_and_version(live_endpoint):  # noqa: F811
    report = fetch_live(live_endpoint.url, **FAST)

    assert isinstance(report, LiveReport)
    assert report.artifact_digest == EXAMPLE_DIGEST
    assert report.source_commit == EXAMPLE_COMMIT
    assert report.version == "1.0.0"
    assert report.http_status == 200
    assert report.url == report.final_url == live_endpoint.url
    assert b"artifact_digest" in report.raw
    assert 0 < report.elapsed < FAST["total_timeout"]


def test_plain_text_digest_with_trailing_newline_is_accepted():
    with LiveServer(f"{EXAMPLE_DIGEST}\n".encode(), content_type="text/plain") as server:
        report = fetch_live(server.url, **FAST)

    assert (report.artifact_digest, report.source_commit, report.version) == (EXAMPLE_DIGEST, None, None)


def test_a_redeploy_is_seen_on_the_next_fetch(live_endpoint):  # noqa: F811
    fetch_live(live_endpoint.url, **FAST)
    live_endpoint.set_body({"artifact_digest": OTHER_DIGEST})

    assert fetch_live(live_endpoint.url, **FAST).artifact_digest == OTHER_DIGEST
    assert live_endpoint.request_count == 2


def test_request_names_the_original_host_and_the_verifier(live_endpoint):  # noqa: F811
    fetch_live(live_endpoint.url, user_agent="Vitrina-verifier/test", **FAST)

    assert live_endpoint.last_headers["Host"] == f"127.0.0.1:{live_endpoint.port}"
    assert live_endpoint.last_headers["User-Agent"] == "Vitrina-verifier/test"


def test_redirect_to_the_endpoint_is_followed(live_endpoint):  # noqa: F811
    with RedirectToServer(live_endpoint.url) as redirect:
        report = fetch_live(redirect.url, **FAST)

    assert report.artifact_digest == EXAMPLE_DIGEST
    assert report.url == redirect.url
    assert report.final_url == live_endpoint.url


def self_signed_context(tmp_path):
    """A server TLS context whose certificate (for 127.0.0.1) no public authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_https_certificate_is_verified(tmp_path):
    with LiveServer({"artifact_digest": EXAMPLE_DIGEST}).use_tls(self_signed_context(tmp_path)) as server:
        error, elapsed = refused(server.https_url)

    assert error.reason is Reason.UNREACHABLE
    assert "certificate" in str(error)
    assert elapsed < FAST["total_timeout"] + SLACK


# --- hostile or broken services -------------------------------------------------------------------


def test_server_that_never_answers_times_out_within_the_deadline():
    with SilentServer() as server:
        error, elapsed = refused(server.url)

    assert error.reason is Reason.TIMEOUT
    assert server.url in str(error)
    assert elapsed < FAST["total_timeout"] + SLACK


def test_server_dribbling_one_byte_per_second_is_cut_at_the_total_timeout():
    with DribbleServer(interval=1.0) as server:
        error, elapsed = refused(server.url)

    assert error.reason is Reason.TIMEOUT
    assert elapsed < FAST["total_timeout"] + SLACK


@pytest.mark.parametrize("server_class", [SilentServer, DribbleServer, HugeServer, RedirectLoopServer])
def test_hostile_servers_leave_no_thread_behind(server_class):
    before = threading.active_count()
    with server_class() as server:
        refused(server.url, total_timeout=0.5)

    assert threading.active_count() <= before


def test_hundred_megabyte_answer_is_refused_without_reading_it():
    with HugeServer() as server:
        error, elapsed = refused(server.url)
        sent = server.bytes_sent

    assert error.reason is Reason.TOO_LARGE
    assert elapsed < FAST["total_timeout"] + SLACK
    assert sent < 10 * 1024 * 1024


def test_announced_length_over_the_limit_is_refused_before_reading_the_body():
    with HugeServer(announce_length=True) as server:
        error, _ = refused(server.url, max_bytes=1000)

    assert error.reason is Reason.TOO_LARGE
    assert "announced" in str(error)


def test_redirect_loop_is_a_bad_response():
    with RedirectLoopServer() as server:
        error, elapsed = refused(server.url, max_redirects=3)
        requests = server.request_count

    assert error.reason is Reason.BAD_RESPONSE
    assert "redirected more than 3 times" in str(error)
    assert requests == 4
    assert elapsed < FAST["total_timeout"] + SLACK


def test_redirect_to_cloud_metadata_is_refused_before_connecting(monkeypatch):
    attempts = []
    real_create_connection = socket.create_connection

    def spy(address, *args, **kwargs):
        attempts.append(address[0])
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", spy)
    with RedirectToServer("http://169.254.169.254/latest/meta-data/") as server:
        error, elapsed = refused(server.url)

    assert error.reason is Reason.FORBIDDEN_ADDRESS
    assert "169.254.169.254" in str(error)
    assert attempts == ["127.0.0.1"]
    assert elapsed < FAST["total_timeout"] + SLACK


def test_dns_rebinding_gains_nothing_the_checked_address_is_used(monkeypatch, live_endpoint):  # noqa: F811
    """DNS rebinding: a name that answers 127.0.0.1 once and the metadata address next gains nothing."""
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1", "169.254.169.254"])
    lookups = []

    def rebinding_dns(host, port, *args, **kwargs):
        if host == "rebind.example":
            lookups.append(host)
            host = next(answers)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    url = live_endpoint.url.replace("127.0.0.1", "rebind.example")

    report = fetch_live(url, **FAST)

    assert report.artifact_digest == EXAMPLE_DIGEST
    assert lookups == ["rebind.example"]
    assert live_endpoint.last_headers["Host"] == f"rebind.example:{live_endpoint.port}"


def test_redirect_to_a_non_http_scheme_is_refused():
    with RedirectToServer("file:///etc/passwd") as server:
        error, _ = refused(server.url)

    assert error.reason is Reason.FORBIDDEN_ADDRESS


def test_loopback_is_refused_unless_private_addresses_are_allowed(live_endpoint):  # noqa: F811
    error, _ = refused(live_endpoint.url, allow_private=False)

    assert error.reason is Reason.FORBIDDEN_ADDRESS
    assert "loopback" in str(error)
    assert live_endpoint.request_count == 0


def test_localhost_name_is_refused_like_its_address(live_endpoint):  # noqa: F811
    error, _ = refused(live_endpoint.url.replace("127.0.0.1", "localhost"), allow_private=False)

    assert error.reason is Reason.FORBIDDEN_ADDRESS


def test_server_error_is_unreachable():
    with ErrorServer(status=500) as server:
        error, _ = refused(server.url)

    assert error.reason is Reason.UNREACHABLE
    assert "HTTP 500" in str(error)


def test_closed_port_is_unreachable_at_once():
    error, elapsed = refused(f"http://127.0.0.1:{closed_port()}/")

    assert error.reason is Reason.UNREACHABLE
    assert elapsed < 1.0


def test_unknown_host_name_is_unreachable():
    error, _ = refused("http://no-such-host.invalid/")

    assert error.reason is Reason.UNREACHABLE
    assert "no-such-host.invalid" in str(error)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/digest", "file:///etc/passwd", "gopher://127.0.0.1/", "no scheme at all"]
)
def test_schemes_other_than_http_and_https_are_refused(url):
    error, _ = refused(url)

    assert error.reason is Reason.FORBIDDEN_ADDRESS


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"{not json", "not valid JSON"),
        (b'{"version": "1.0"}', "no 'artifact_digest'"),
        (b'{"artifact_digest": "sha256:' + b"AB" * 32 + b'"}', "lowercase"),
    ],
)
def test_unusable_json_answers_are_bad_responses(body, problem):
    with LiveServer(body) as server:
        error, _ = refused(server.url)

    assert error.reason is Reason.BAD_RESPONSE
    assert problem in str(error)
    assert server.url in str(error)


# --- parsing the answer ---------------------------------------------------------------------------


def test_json_is_recognised_by_its_first_brace_whatever_the_content_type():
    body = b'  {"artifact_digest": "%s"}' % EXAMPLE_DIGEST.encode()

    assert parse_live_body(body, "text/plain") == (EXAMPLE_DIGEST, None, None)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"sha256:' + b"5e" * 32 + b'"',
        b'{"artifact_digest": "sha256:' + b"5e" * 32 + b'", "artifact_digest": "sha256:' + b"0a" * 32 + b'"}',
        b'{"artifact_digest": "sha256:' + b"5e" * 32 + b'", "source_commit": "main"}',
        b'{"artifact_digest": "sha256:' + b"5e" * 32 + b'", "source_commit": "' + b"AB" * 20 + b'"}',
        b'{"artifact_digest": "sha256:' + b"5e" * 32 + b'", "version": 3}',
        b'{"artifact_digest": "md5:d41d8cd98f00b204e9800998ecf8427e"}',
        b"sha256:" + b"5e" * 31,
        b" sha256:" + b"5e" * 32,
        b"\xff\xfe",
    ],
    ids=[
        "json-array",
        "json-string",
        "duplicate-digest-key",
        "commit-not-hex",
        "commit-uppercase",
        "version-not-string",
        "other-algorithm",
        "short-plain-digest",
        "leading-space",
        "binary",
    ],
)
def test_malformed_answers_are_refused(body):
    with pytest.raises(CouldNotCheck) as caught:
        parse_live_body(body, None)

    assert caught.value.reason is Reason.BAD_RESPONSE


def test_null_commit_and_version_count_as_absent():
    body = b'{"artifact_digest": "%s", "source_commit": null, "version": null}' % EXAMPLE_DIGEST.encode()

    assert parse_live_body(body, "application/json") == (EXAMPLE_DIGEST, None, None)


def test_a_service_of_several_components_reports_each_by_name():
    web, static = "sha256:" + "1" * 64, "sha512:" + "3" * 128
    body = json.dumps({"components": {"web": web, "static": static}, "version": "2.0"}).encode()

    answer = parse_live_answer(body, "application/json")

    assert (answer.artifact_digest, answer.components, answer.version) == (
        None,
        {"web": web, "static": static},
        "2.0",
    )


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"components": {}}, "components must be an object"),
        ({"components": ["web"]}, "components must be an object"),
        ({"components": {"web": "sha256:abc"}}, "component 'web': a component digest must be"),
        ({"components": {"": "sha256:" + "1" * 64}}, "a component name must be"),
        ({"components": {"web": "sha256:" + "1" * 64}, "artifact_digest": "sha256:" + "1" * 64}, "give one"),
        ({"components": {f"c{i}": "sha256:" + "1" * 64 for i in range(65)}}, "more than the 64 allowed"),
    ],
)
def test_malformed_components_are_a_bad_response_saying_why(document, complaint):
    with pytest.raises(CouldNotCheck, match=complaint) as caught:
        parse_live_answer(json.dumps(document).encode(), "application/json")

    assert caught.value.reason is Reason.BAD_RESPONSE


# --- which addresses may be contacted -------------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]
)
def test_public_addresses_are_allowed(address):
    assert address_problem(address) is None


@pytest.mark.parametrize(
    "address, problem",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
    ],
)
def test_non_public_addresses_are_refused_by_default(address, problem):
    assert problem in address_problem(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.5", "192.168.1.1", "fd12:3456::1"])
def test_allow_private_lets_loopback_and_private_ranges_through(address):
    assert address_problem(address, allow_private=True) is None


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
    ],
)
def test_link_local_and_cloud_metadata_stay_refused_even_when_private_is_allowed(address):
    assert "metadata" in address_problem(address, allow_private=True)


@pytest.mark.parametrize(
    "address, problem",
    [("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("64:ff9b::7f00:1", "loopback")],
)
def test_ipv4_hidden_in_ipv6_is_judged_as_ipv4(address, problem):
    assert problem in address_problem(address)


@pytest.mark.parametrize(
    "body",
    [b"[" * 60_000, b'{"a":' * 30_000, b'{"artifact_digest": "' + EXAMPLE_DIGEST.encode() + b'", "x": NaN}'],
    ids=["60-kb-of-brackets", "nested-objects", "nan"],
)
def test_any_parse_failure_of_a_json_answer_is_a_bad_response(body):
    with pytest.raises(CouldNotCheck) as caught:
        parse_live_body(body, "application/json")

    assert caught.value.reason is Reason.BAD_RESPONSE


def test_deeply_nested_answer_from_a_server_is_a_bad_response_naming_the_url():
    with LiveServer(b"[" * 60_000, content_type="application/json") as server:
        error, _ = refused(server.url)

    assert error.reason is Reason.BAD_RESPONSE
    assert "nested" in str(error) and server.url in str(error)
