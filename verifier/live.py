"""Ask a watched service which artifact it runs, without letting the service harm the one asking.

A watched service serves ``GET <url>`` answering ``{"artifact_digest": "sha256:…", "source_commit":
"<40 hex>", "version": "…"}`` (only the digest is required), or a body that is just ``sha256:<hex>``.
A service deployed as several components (a release of several) answers ``{"components": {"web":
"sha256:…", "worker": "sha256:…"}, "source_commit": …, "version": …}`` instead: each component's name
and digest (``sha256:`` or ``sha512:``; an OCI image digest is one).

The URL comes from an operator and the answer from a server Vitrina does not control, so the fetch is
hardened the way a server-side request has to be:

- Only ``http`` and ``https``. Every hop (the first URL and each redirect) is resolved once, every
  resolved address is checked, and the connection goes to exactly the address that was checked, with
  the original ``Host`` header (and, for https, SNI and certificate verification for the host name).
  A DNS answer that changes between the check and the connection (DNS rebinding) therefore gains
  nothing.
- Loopback, private, unique-local, link-local, multicast, unspecified and reserved addresses are
  refused. ``allow_private=True`` (tests, home installs watching their own network) lets loopback and
  private ranges through, but link-local addresses and cloud metadata services (169.254.0.0/16,
  fe80::/10, fd00:ec2::254) stay refused always: they hand out cloud credentials.
- One deadline covers the whole exchange (DNS, connect, TLS, request, every read), so a server that
  dribbles one byte per second is cut at ``total_timeout``, not kept alive forever by per-read timeouts.
- At most ``max_bytes`` of body are read (the read stops at ``max_bytes + 1``), and the raw bytes on the
  wire, headers and chunk framing included, are capped too.
- More than ``max_redirects`` redirects is a malformed answer (``BAD_RESPONSE``), not an unreachable
  server: the server did answer, just never with the endpoint.

Every failure is a ``CouldNotCheck`` whose message is one sentence naming the URL or host.

``HardenedClient`` is that fetch for any resource: ``fetch_live`` uses it for the endpoint, the
served-files check (``verifier.served``) for a site's pages and scripts, all under one deadline, and
the witness client (``verifier.witness``) to POST a checkpoint to a witness.
"""

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from verifier import jsontext
from verifier.digest import format_digest, is_commit_id, parse_digest
from verifier.errors import CouldNotCheck, FormatError
from verifier.reasons import Reason
from verifier.statement import MAX_COMPONENT_NAME, component_digest
from verifier.version import __version__

DEFAULT_USER_AGENT = f"Vitrina-verifier/{__version__}"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
LIVE_ACCEPT = "application/json, text/plain;q=0.9"

# Headers get their own allowance on top of the body; chunked framing may at most multiply the body
# size by this factor before the server is considered to be flooding us.
HEADER_ALLOWANCE = 64 * 1024
FRAMING_FACTOR = 16

# Always refused, even with allow_private: link-local space is where cloud metadata services live
# (169.254.169.254 on every major cloud, fd00:ec2::254 for AWS over IPv6).
_METADATA_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAX_VERSION_LENGTH = 256
MAX_COMPONENTS = 64

# One ``socket.getaddrinfo`` entry: (family, type, proto, canonname, sockaddr); sockaddr[0] is the address.
AddressInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class LiveAnswer:
    """What a live endpoint's answer says: one ``artifact_digest``, or the ``components`` of a release of
    several (name to ``sha256:<hex>`` or ``sha512:<hex>``); the other is None."""

    artifact_digest: str | None
    components: dict[str, str] | None
    source_commit: str | None
    version: str | None


@dataclass
class LiveReport:
    """What a live endpoint said, and how it was reached. ``artifact_digest`` is None when the endpoint
    reported ``components`` instead."""

    artifact_digest: str | None
    source_commit: str | None
    version: str | None
    url: str
    final_url: str
    http_status: int
    elapsed: float
    raw: bytes
    components: dict[str, str] | None = None


def fetch_live(
    url: str,
    *,
    allow_private: bool = False,
    connect_timeout: float = 3.0,
    total_timeout: float = 10.0,
    max_bytes: int = 65536,
    max_redirects: int = 3,
    user_agent: str = DEFAULT_USER_AGENT,
) -> LiveReport:
    """Fetch ``url`` and return the ``LiveReport`` of what the service says it runs.

    Raises ``CouldNotCheck`` with reason ``UNREACHABLE``, ``TIMEOUT``, ``BAD_RESPONSE``, ``TOO_LARGE``
    or ``FORBIDDEN_ADDRESS``; see the module documentation for the rules.
    """
    started = time.monotonic()
    client = HardenedClient(
        allow_private=allow_private,
        connect_timeout=connect_timeout,
        total_timeout=total_timeout,
        max_redirects=max_redirects,
        user_agent=user_agent,
    )
    fetched = client.fetch(url, max_bytes=max_bytes, accept=LIVE_ACCEPT)
    status, body, current = fetched.status, fetched.body, fetched.final_url
    if status != 200:
        raise CouldNotCheck(Reason.UNREACHABLE, f"The server at {current} answered HTTP {status}, not 200.")
    try:
        answer = parse_live_answer(body, fetched.content_type)
    except CouldNotCheck as exc:
        raise CouldNotCheck(exc.reason, f"{current} gave an unusable answer: {exc}") from exc
    return LiveReport(
        artifact_digest=answer.artifact_digest,
        source_commit=answer.source_commit,
        version=answer.version,
        url=url,
        final_url=current,
        http_status=status,
        elapsed=time.monotonic() - started,
        raw=body,
        components=answer.components,
    )


def parse_live_body(body: bytes, content_type: str | None) -> tuple[str | None, str | None, str | None]:
    """Return ``(digest, commit or None, version or None)`` from a live endpoint's answer, as
    ``parse_live_answer`` reads it; the digest is None for an answer naming components."""
    answer = parse_live_answer(body, content_type)
    return answer.artifact_digest, answer.source_commit, answer.version


def parse_live_answer(body: bytes, content_type: str | None) -> LiveAnswer:
    """Return the ``LiveAnswer`` of a live endpoint's answer.

    JSON is recognised by its content type or by a body starting with ``{`` and read by the one strict
    reader (``jsontext.loads``: no duplicate keys, no ``NaN``, bounded nesting); anything else must be
    just ``sha256:<hex>``, optionally followed by whitespace. Every problem, however the bytes are
    built, is ``CouldNotCheck(BAD_RESPONSE)``.
    """
    if _is_json(body, content_type):
        return _parse_json_body(body)
    try:
        text = body.decode("ascii").rstrip()
    except UnicodeDecodeError:
        raise _bad("the answer is neither JSON nor a plain 'sha256:<hex>' line") from None
    return LiveAnswer(_checked_digest(text), None, None, None)


def address_problem(address: str | _IP, *, allow_private: bool = False) -> str | None:
    """Return why Vitrina must not connect to ``address`` (e.g. ``"a loopback address"``), or None.

    IPv4 addresses embedded in IPv6 ones (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``,
    6to4 ``2002::/16``) are judged as the IPv4 address they reach.
    """
    ip = ipaddress.ip_address(address)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_problem(embedded, allow_private=allow_private)
    if ip.is_link_local or any(ip in network for network in _METADATA_NETWORKS):
        return "a link-local or cloud metadata address"
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global or getattr(ip, "is_site_local", False):
        return None if allow_private else "a private address"
    return None


def checked_addresses(
    host: str, port: int, *, allow_private: bool, timeout: float, url: str
) -> list[AddressInfo]:
    """Resolve ``host`` once and return its ``getaddrinfo`` entries, every one passed by ``address_problem``.

    The one address rule for every outgoing connection (live checks, repository fetches): the caller
    connects only to the returned addresses, never to the name again. Raises ``CouldNotCheck``:
    ``FORBIDDEN_ADDRESS`` naming the host and the address, or ``TIMEOUT``/``UNREACHABLE`` when the
    name does not resolve within ``timeout``. ``url`` is only used in the messages.
    """
    addresses = _resolve(host, port, timeout, url)
    for address in addresses:
        problem = address_problem(address[4][0], allow_private=allow_private)
        if problem:
            shown = host if host == address[4][0] else f"{host} ({address[4][0]})"
            raise CouldNotCheck(Reason.FORBIDDEN_ADDRESS, f"Refused to fetch {url}: {shown} is {problem}.")
    return addresses


def _embedded_ipv4(ip: _IP) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class Fetched:
    """One resource as fetched: ``final_url`` after the redirects followed, the HTTP ``status`` and, for
    a 200, the ``body`` and its ``content_type``. A redirect the caller did not allow leaves ``status``
    the redirect's and ``final_url`` its target, unfetched."""

    url: str
    final_url: str
    status: int
    body: bytes
    content_type: str | None


class HardenedClient:
    """GETs under the module's rules, sharing one deadline: ``total_timeout`` seconds from the client's
    creation cover every request made through it, so a whole site check is bounded by one clock."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        connect_timeout: float = 3.0,
        total_timeout: float = 10.0,
        max_redirects: int = 3,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.allow_private = allow_private
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.deadline = time.monotonic() + total_timeout
        self.max_redirects = max_redirects
        self.user_agent = user_agent

    def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        accept: str,
        redirect_ok: Callable[[str], bool] = lambda _target: True,
    ) -> Fetched:
        """GET ``url``, following at most ``max_redirects`` redirects whose target ``redirect_ok`` allows.

        Reads at most ``max_bytes`` of body. Raises ``CouldNotCheck`` (``UNREACHABLE``, ``TIMEOUT``,
        ``BAD_RESPONSE`` for too many redirects or a broken answer, ``TOO_LARGE``, ``FORBIDDEN_ADDRESS``);
        an HTTP status other than 200 or a redirect is returned, for the caller to judge.
        """
        current = url
        for _ in range(self.max_redirects + 1):
            status, location, body, content_type = self.get(current, max_bytes=max_bytes, accept=accept)
            if status not in REDIRECT_STATUSES:
                return Fetched(url, current, status, body, content_type)
            current = _redirect_target(current, location)
            if not redirect_ok(current):
                return Fetched(url, current, status, b"", None)
        raise CouldNotCheck(
            Reason.BAD_RESPONSE, f"{url} redirected more than {self.max_redirects} times without an answer."
        )

    def remaining(self, url: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CouldNotCheck(Reason.TIMEOUT, f"{url} did not answer within {self.total_timeout:g} s.")
        return left

    def post(self, url: str, payload: bytes, *, max_bytes: int, accept: str) -> Fetched:
        """One POST of ``payload``, no redirect followed. Whatever the status, the answer's body is read
        (under ``max_bytes``): a POST's refusals carry meaning (C2SP tlog-witness's 409 names a size)."""
        status, _location, body, content_type = self.get(
            url, max_bytes=max_bytes, accept=accept, payload=payload
        )
        return Fetched(url, url, status, body, content_type)

    def get(
        self, url: str, *, max_bytes: int, accept: str, payload: bytes | None = None
    ) -> tuple[int, str | None, bytes, str | None]:
        """One GET (a POST of ``payload`` when given) without following redirects: ``(status, location,
        body, content_type)``."""
        target = _Target.from_url(url)
        addresses = self.checked_addresses(target, url)
        sock = self.connect(target, addresses, url)
        try:
            return self.exchange(sock, target, url, max_bytes=max_bytes, accept=accept, payload=payload)
        except CouldNotCheck:
            raise
        except TimeoutError:
            raise CouldNotCheck(
                Reason.TIMEOUT, f"{url} did not answer within {self.total_timeout:g} s."
            ) from None
        except _TooManyBytes:
            raise CouldNotCheck(
                Reason.TOO_LARGE, f"{url} sent more than {max_bytes} bytes; stopped reading."
            ) from None
        except http.client.RemoteDisconnected:
            raise CouldNotCheck(
                Reason.UNREACHABLE, f"{url} closed the connection without answering."
            ) from None
        except http.client.IncompleteRead:
            raise CouldNotCheck(
                Reason.UNREACHABLE, f"{url} closed the connection before the whole answer arrived."
            ) from None
        except http.client.HTTPException as exc:
            raise CouldNotCheck(Reason.BAD_RESPONSE, f"{url} did not answer valid HTTP ({exc!r}).") from None
        except OSError as exc:
            raise CouldNotCheck(
                Reason.UNREACHABLE, f"The connection to {url} failed: {_os_reason(exc)}."
            ) from None
        finally:
            sock.close()

    def checked_addresses(self, target: "_Target", url: str) -> list[AddressInfo]:
        return checked_addresses(
            target.host, target.port, allow_private=self.allow_private, timeout=self.remaining(url), url=url
        )

    def connect(self, target: "_Target", addresses: list[AddressInfo], url: str) -> socket.socket:
        """Connect to one of the checked addresses (never to the name again), then start TLS for https."""
        failure = CouldNotCheck(Reason.UNREACHABLE, f"{target.host} has no address to connect to.")
        for _family, _type, _proto, _name, sockaddr in addresses:
            timeout = min(self.connect_timeout, self.remaining(url))
            try:
                sock = socket.create_connection(sockaddr[:2], timeout=timeout)
                break
            except TimeoutError:
                failure = CouldNotCheck(
                    Reason.TIMEOUT, f"{target.host} did not accept a connection within {timeout:g} s."
                )
            except OSError as exc:
                failure = CouldNotCheck(
                    Reason.UNREACHABLE, f"Could not connect to {target.host}: {_os_reason(exc)}."
                )
        else:
            raise failure
        if target.scheme == "https":
            sock = self.start_tls(sock, target, url)
        return sock

    def start_tls(self, sock: socket.socket, target: "_Target", url: str) -> ssl.SSLSocket:
        try:
            sock.settimeout(self.remaining(url))
            return ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
        except TimeoutError:
            sock.close()
            raise CouldNotCheck(
                Reason.TIMEOUT, f"{url} did not finish the TLS handshake within {self.total_timeout:g} s."
            ) from None
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise CouldNotCheck(
                Reason.UNREACHABLE,
                f"The TLS certificate of {target.host} is not valid: {exc.verify_message}.",
            ) from None
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise CouldNotCheck(
                Reason.UNREACHABLE, f"TLS with {target.host} failed: {_os_reason(exc)}."
            ) from None

    def exchange(
        self,
        sock: socket.socket,
        target: "_Target",
        url: str,
        *,
        max_bytes: int,
        accept: str,
        payload: bytes | None = None,
    ) -> tuple[int, str | None, bytes, str | None]:
        stream = _DeadlineSocket(sock, self, url, budget=HEADER_ALLOWANCE + FRAMING_FACTOR * (max_bytes + 1))
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = stream
        method = "GET" if payload is None else "POST"
        conn.putrequest(method, target.request_target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        conn.putheader("User-Agent", self.user_agent)
        conn.putheader("Accept", accept)
        conn.putheader("Accept-Encoding", "identity")
        conn.putheader("Connection", "close")
        if payload is not None:
            conn.putheader("Content-Length", str(len(payload)))
        conn.endheaders(payload)
        response = conn.getresponse()
        if response.status in REDIRECT_STATUSES:
            return response.status, response.getheader("Location"), b"", None
        if response.status != 200 and payload is None:
            return response.status, None, b"", None
        return (
            response.status,
            None,
            self.read_body(response, url, max_bytes),
            response.getheader("Content-Type"),
        )

    def read_body(self, response: http.client.HTTPResponse, url: str, max_bytes: int) -> bytes:
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise CouldNotCheck(
                Reason.BAD_RESPONSE, f"{url} sent a {encoding!r}-encoded body; expected plain."
            )
        if response.length is not None and response.length > max_bytes:
            raise CouldNotCheck(
                Reason.TOO_LARGE,
                f"{url} announced {response.length} bytes, more than the {max_bytes} allowed.",
            )
        body = response.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise _TooManyBytes
        return body


class _Target:
    """The parts of an http(s) URL the fetch needs, validated."""

    def __init__(self, scheme: str, host: str, port: int, request_target: str, host_header: str) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.request_target = request_target
        self.host_header = host_header

    @classmethod
    def from_url(cls, url: str) -> "_Target":
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise CouldNotCheck(Reason.FORBIDDEN_ADDRESS, f"Refused to fetch {url!r}: {exc}.") from None
        if parts.scheme not in ("http", "https"):
            raise CouldNotCheck(
                Reason.FORBIDDEN_ADDRESS, f"Refused to fetch {url!r}: only http and https URLs are allowed."
            )
        if not parts.hostname:
            raise CouldNotCheck(Reason.FORBIDDEN_ADDRESS, f"Refused to fetch {url!r}: the URL has no host.")
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise CouldNotCheck(
                Reason.FORBIDDEN_ADDRESS, f"Refused to fetch {url!r}: the host name is not valid."
            ) from None
        default_port = 443 if parts.scheme == "https" else 80
        port = port or default_port
        shown_host = f"[{host}]" if ":" in host else host
        host_header = shown_host if port == default_port else f"{shown_host}:{port}"
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
        request_target = f"{path}?{query}" if query else path
        return cls(parts.scheme, host, port, request_target, host_header)


class _TooManyBytes(Exception):
    """The server sent more bytes than one fetch accepts."""


class _DeadlineSocket:
    """The socket as ``http.client`` sees it: every read and write bounded by the fetch's deadline."""

    def __init__(self, sock: socket.socket, fetch: HardenedClient, url: str, budget: int) -> None:
        self.sock = sock
        self.fetch = fetch
        self.url = url
        self.budget = budget

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.fetch.remaining(self.url))
        self.sock.sendall(data)

    def makefile(self, mode: str, *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        """Leave the socket open: ``http.client`` closes early but the body is still to be read.

        The fetch closes the real socket itself once the exchange is over.
        """


class _DeadlineReader(io.RawIOBase):
    def __init__(self, owner: _DeadlineSocket) -> None:
        self.owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        owner = self.owner
        if owner.budget <= 0:
            raise _TooManyBytes
        owner.sock.settimeout(owner.fetch.remaining(owner.url))
        with memoryview(buffer) as view:
            count = owner.sock.recv_into(view[: min(len(view), owner.budget)])
        owner.budget -= count
        return count


def _resolve(host: str, port: int, timeout: float, url: str) -> list[AddressInfo]:
    """``getaddrinfo`` bounded by ``timeout`` (it has no timeout of its own, so it runs in a thread).

    An IP literal needs no lookup, and no thread: that is most watched services on a private network.
    """
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(literal), port))]
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise CouldNotCheck(Reason.TIMEOUT, f"The name {host} in {url} did not resolve within {timeout:g} s.")
    if "error" in outcome or not outcome.get("addresses"):
        raise CouldNotCheck(Reason.UNREACHABLE, f"The name {host} in {url} does not resolve.")
    addresses: list[AddressInfo] = outcome["addresses"]
    return addresses


def _redirect_target(current: str, location: str | None) -> str:
    if not location:
        raise CouldNotCheck(Reason.BAD_RESPONSE, f"{current} sent a redirect without a Location header.")
    return urljoin(current, location.strip())


def _is_json(body: bytes, content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json") or body.lstrip()[:1] == b"{"


def _parse_json_body(body: bytes) -> LiveAnswer:
    try:
        document = jsontext.loads_object(body, what="the answer")
    except FormatError as exc:
        raise _bad(str(exc)) from None
    has_digest, has_components = "artifact_digest" in document, "components" in document
    if has_digest == has_components:
        raise _bad(
            "the answer has both 'artifact_digest' and 'components'; give one"
            if has_digest
            else "the answer has no 'artifact_digest' field (nor 'components')"
        )
    return LiveAnswer(
        _checked_digest(document["artifact_digest"]) if has_digest else None,
        _checked_components(document["components"]) if has_components else None,
        _checked_commit(document.get("source_commit")),
        _checked_version(document.get("version")),
    )


def _checked_components(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise _bad("components must be an object naming each component's digest")
    if len(value) > MAX_COMPONENTS:
        raise _bad(f"components names {len(value)} components, more than the {MAX_COMPONENTS} allowed")
    components: dict[str, str] = {}
    for name, digest in value.items():
        if not name or len(name) > MAX_COMPONENT_NAME:
            raise _bad(f"a component name must be 1 to {MAX_COMPONENT_NAME} characters")
        try:
            algorithm, hex_part = component_digest(digest)
        except FormatError as exc:
            raise _bad(f"component {name[:80]!r}: {exc}") from None
        components[name] = f"{algorithm}:{hex_part}"
    return components


def _checked_digest(value: object) -> str:
    try:
        return format_digest(parse_digest(value))
    except FormatError as exc:
        raise _bad(f"artifact_digest is not usable: {exc}") from None


def _checked_commit(value: object) -> str | None:
    if value is None:
        return None
    if not is_commit_id(value):
        raise _bad("source_commit must be 40 or 64 lowercase hex characters")
    return value


def _checked_version(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_VERSION_LENGTH:
        raise _bad(f"version must be a string of at most {_MAX_VERSION_LENGTH} characters")
    return value


def _bad(message: str) -> CouldNotCheck:
    return CouldNotCheck(Reason.BAD_RESPONSE, message)


def _os_reason(exc: BaseException) -> str:
    """The operating system's words for a socket error ("Connection refused"), else the error's name."""
    return getattr(exc, "strerror", None) or exc.__class__.__name__
