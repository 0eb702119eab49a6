"""The files a web site really serves, compared with the signed list of its release.

A web release's signed statement lists the files it serves to browsers (``verifier.statement``:
``ServedFile(path, sha256)``) and the inline scripts its pages may carry. ``fetch_served`` loads a
site's entry pages the way a browser starts to, through the hardened client of ``verifier.live`` (one
deadline for the whole site, byte caps, address checks), and hashes every script and stylesheet they
load; ``compare_served`` holds that ``ServedReport`` against the list. The format and the matching
rules are in ``docs/formats/served-files.md``; in short:

- a page's subresources are ``<script src>`` (classic or module; data types such as
  ``application/json`` are skipped), ``<link rel=stylesheet|modulepreload>`` and ``<link rel=preload
  as=script|style|worker>``, resolved against the page's URL and its first ``<base href>``;
- a file of the site's own origin (scheme, host, port) is named by its URL path, the query dropped;
  a file of another origin by its full URL without the query, and it is fetched only when the caller
  says the release lists it (``listed_urls``): an unlisted one is unknown, never fetched;
- an entry page served as JavaScript or CSS (a service worker, ``/sw.js``) is itself a served file;
- inline executable scripts are named as a CSP ``'sha256-…'`` source names them: the sha256 of their
  text as UTF-8, after the HTML parser's newline normalisation;
- the pages themselves are not compared: they may vary per request (CSRF tokens, a user's name).

Everything here is pure except ``fetch_served``, which fetches.
"""

import base64
import hashlib
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from verifier.digest import regular_files
from verifier.errors import CouldNotCheck, FormatError
from verifier.live import DEFAULT_USER_AGENT, REDIRECT_STATUSES, Fetched, HardenedClient
from verifier.reasons import Reason, Result
from verifier.statement import MAX_SERVED_FILES, ServedFile, served_path_ok

MIB = 1024 * 1024
MAX_PROBLEMS = 20
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
FILE_ACCEPT = "*/*"

# The script types a browser executes (the HTML standard's JavaScript MIME type essences, "module"), and
# "importmap": not code, but it decides which code a module import loads, and CSP hashes it like a script.
_JAVASCRIPT_TYPES = frozenset(
    f"{top}/{sub}"
    for top in ("application", "text")
    for sub in (
        "javascript",
        "ecmascript",
        "x-javascript",
        "x-ecmascript",
        "javascript1.0",
        "javascript1.1",
        "javascript1.2",
        "javascript1.3",
        "javascript1.4",
        "javascript1.5",
        "jscript",
        "livescript",
    )
)
_INLINE_TYPES = _JAVASCRIPT_TYPES | {"module", "importmap"}
_SERVED_MEDIA_TYPES = _JAVASCRIPT_TYPES | {"text/css"}
_PRELOADED = frozenset({"script", "style", "worker"})
# Strongest first: a browser checks an integrity attribute against its strongest algorithm only.
_INTEGRITY_ALGORITHMS = ("sha512", "sha384", "sha256")


@dataclass(frozen=True)
class ServedLimits:
    """Caps on one site's check; the portal passes its settings, the defaults suit a volunteer."""

    max_pages: int = 20
    max_resources: int = 500
    max_page_bytes: int = 2 * MIB
    max_file_bytes: int = 5 * MIB
    max_total_bytes: int = 50 * MIB
    total_timeout: float = 30.0
    connect_timeout: float = 3.0
    max_redirects: int = 3
    # Files fetched at once from one site, as a browser does: a site's check costs about its files
    # divided by this, times one request's time (a distant site of 50 files, 150 ms each: 2 s, not 8).
    parallel_files: int = 6


@dataclass(frozen=True)
class FetchedFile:
    """One subresource as fetched (or, for an unlisted file of another origin, as referenced).

    ``path`` is what is compared with ``ServedFile.path``: the URL path for the site's own origin, the
    full URL without its query for another. ``sha256`` is the hex of the bytes served, None for a file
    not fetched (another origin's the release does not list, or a ``data:`` URL). ``integrity`` is the
    attribute as written; ``integrity_ok`` says whether the bytes satisfy it (None: no usable one).
    ``page`` is the entry page it was found on.
    """

    path: str
    url: str
    kind: str  # "script" | "module" | "style" | "modulepreload" | "preload" | "entry"
    sha256: str | None
    integrity: str | None
    page: str
    integrity_ok: bool | None = None


@dataclass(frozen=True)
class ServedReport:
    """What a site served: its entry ``pages`` (as finally fetched), the ``files`` they load, and the
    sha256 hex of each executable inline script in order, with the page it was on
    (``inline_script_pages``, same length)."""

    site_url: str
    pages: tuple[str, ...]
    files: tuple[FetchedFile, ...]
    inline_scripts: tuple[str, ...]
    elapsed: float
    inline_script_pages: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServedProblem:
    reason: Reason
    path: str
    expected: str | None  # "sha256:<hex>" or None
    found: str | None


@dataclass(frozen=True)
class ServedVerdict:
    """The served files held against the signed list; ``message`` is one English sentence."""

    result: Result
    reason: Reason
    message: str
    checked: int
    matched: int
    inline_scripts: int
    inline_declared: int
    problems: tuple[ServedProblem, ...]

    def to_json(self) -> dict[str, Any]:
        """The verdict as the portal stores it and an observer signs it, with at most 20 problems."""
        return {
            "result": self.result.value,
            "reason": self.reason.value,
            "message": self.message,
            "checked": self.checked,
            "matched": self.matched,
            "inline_scripts": self.inline_scripts,
            "inline_declared": self.inline_declared,
            "problems": [
                {"reason": p.reason.value, "path": p.path, "expected": p.expected, "found": p.found}
                for p in self.problems[:MAX_PROBLEMS]
            ],
        }


# --- Fetching -----------------------------------------------------------------------------------------


def fetch_served(
    site_url: str,
    entry_pages: Sequence[str],
    *,
    allow_private: bool = False,
    limits: ServedLimits = ServedLimits(),  # noqa: B008 (frozen, so one shared default is safe)
    user_agent: str = DEFAULT_USER_AGENT,
    listed_urls: Collection[str] = (),
) -> ServedReport:
    """Load ``entry_pages`` (paths or URLs on ``site_url``, the site itself when empty) and every script
    and stylesheet they load; ``listed_urls`` are the other origins' files the release lists, the only
    ones of another origin fetched.

    Raises ``CouldNotCheck`` (``UNREACHABLE``, ``TIMEOUT``, ``BAD_RESPONSE``, ``TOO_LARGE``,
    ``FORBIDDEN_ADDRESS``) with one sentence naming the URL, when a page or a file cannot be fetched,
    an entry page is redirected off the site, or a cap of ``limits`` is exceeded.
    """
    started = time.monotonic()
    pages = list(entry_pages) or [site_url]
    if len(pages) > limits.max_pages:
        raise CouldNotCheck(
            Reason.TOO_LARGE,
            f"{site_url} has {len(pages)} entry pages, more than the {limits.max_pages} checked.",
        )
    site = _Site(
        site_url,
        limits,
        listed_urls,
        HardenedClient(
            allow_private=allow_private,
            connect_timeout=limits.connect_timeout,
            total_timeout=limits.total_timeout,
            max_redirects=limits.max_redirects,
            user_agent=user_agent,
        ),
    )
    for page in pages:
        site.load_page(page)
    site.load_files()
    return ServedReport(
        site_url=site_url,
        pages=tuple(site.pages),
        files=tuple(site.files),
        inline_scripts=tuple(digest for _page, digest in site.inline),
        elapsed=time.monotonic() - started,
        inline_script_pages=tuple(page for page, _digest in site.inline),
    )


@dataclass(frozen=True)
class _Reference:
    url: str
    kind: str
    integrity: str | None
    page: str


class _Site:
    """One site's check in progress: its origin, caps, client, and what was found so far."""

    def __init__(
        self, site_url: str, limits: ServedLimits, listed_urls: Collection[str], client: HardenedClient
    ) -> None:
        self.site_url = site_url
        self.origin = _origin(site_url)
        self.limits = limits
        self.listed_urls = frozenset(listed_urls)
        self.client = client
        self.bytes_left = limits.max_total_bytes
        self.bytes_lock = threading.Lock()
        self.pages: list[str] = []
        self.files: list[FetchedFile] = []
        self.inline: list[tuple[str, str]] = []
        self.references: dict[str, _Reference] = {}

    def same_origin(self, url: str) -> bool:
        return _origin(url) == self.origin

    def may_fetch(self, url: str) -> bool:
        return self.same_origin(url) or _without_query(url) in self.listed_urls

    def load_page(self, page: str) -> None:
        url = urljoin(self.site_url, page)
        if not self.same_origin(url):
            raise CouldNotCheck(
                Reason.BAD_RESPONSE, f"The entry page {url} is not on the site {self.site_url}."
            )
        fetched = self.fetch(url, self.limits.max_page_bytes, PAGE_ACCEPT, self.same_origin)
        if fetched.status in REDIRECT_STATUSES:
            raise CouldNotCheck(
                Reason.BAD_RESPONSE, f"The entry page {url} redirected off the site, to {fetched.final_url}."
            )
        final, body = fetched.final_url, fetched.body
        self.pages.append(final)
        if _media_type(fetched.content_type) in _SERVED_MEDIA_TYPES:
            self.files.append(_fetched_file(self, final, "entry", body, None, final))
            return
        parser = _PageParser(final, self.limits.max_resources)
        try:
            parser.read(_html_text(body, fetched.content_type))
        except _TooManyResources:
            raise CouldNotCheck(
                Reason.TOO_LARGE,
                f"{final} loads more than {self.limits.max_resources} scripts and stylesheets; "
                "stopped reading.",
            ) from None
        self.inline += [(final, digest) for digest in parser.inline]
        for url_found, kind, integrity in parser.found:
            key = _without_fragment(url_found)
            if key not in self.references:
                self.references[key] = _Reference(key, kind, integrity, final)
        if len(self.references) > self.limits.max_resources:
            raise CouldNotCheck(
                Reason.TOO_LARGE,
                f"{self.site_url} loads more than {self.limits.max_resources} scripts and stylesheets.",
            )

    def load_files(self) -> None:
        """Every file the pages load, ``parallel_files`` at a time under the site's one deadline, kept
        in the order the pages name them. The first failure ends the site's check (the files still being
        fetched stop at the deadline at the latest)."""
        references = list(self.references.values())
        workers = max(1, min(self.limits.parallel_files, len(references)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="served-file")
        try:
            self.files += list(pool.map(self.load_file, references))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def load_file(self, reference: _Reference) -> FetchedFile:
        url = reference.url
        if not self.may_fetch(url):
            return _unfetched(self, reference, url)
        fetched = self.fetch(url, self.limits.max_file_bytes, FILE_ACCEPT, self.may_fetch)
        if fetched.status in REDIRECT_STATUSES:
            return _unfetched(self, reference, fetched.final_url)
        return _fetched_file(
            self, fetched.final_url, reference.kind, fetched.body, reference.integrity, reference.page
        )

    def fetch(self, url: str, cap: int, accept: str, redirect_ok: Callable[[str], bool]) -> Fetched:
        """One resource under its own cap and what is left of the site's total; never a non-200."""
        with self.bytes_lock:
            allowed = min(cap, self.bytes_left)
        try:
            fetched = self.client.fetch(url, max_bytes=allowed, accept=accept, redirect_ok=redirect_ok)
        except CouldNotCheck as exc:
            if exc.reason is Reason.TOO_LARGE and allowed < cap:
                raise CouldNotCheck(
                    Reason.TOO_LARGE,
                    f"{self.site_url} served more than {self.limits.max_total_bytes} bytes in all; "
                    f"stopped at {url}.",
                ) from None
            raise
        if fetched.status != 200 and fetched.status not in REDIRECT_STATUSES:
            raise CouldNotCheck(
                Reason.UNREACHABLE,
                f"The server at {fetched.final_url} answered HTTP {fetched.status}, not 200.",
            )
        with self.bytes_lock:
            self.bytes_left -= len(fetched.body)
            if self.bytes_left < 0:
                raise CouldNotCheck(
                    Reason.TOO_LARGE,
                    f"{self.site_url} served more than {self.limits.max_total_bytes} bytes in all; "
                    f"stopped at {url}.",
                )
        return fetched


def _fetched_file(
    site: _Site, url: str, kind: str, body: bytes, integrity: str | None, page: str
) -> FetchedFile:
    return FetchedFile(
        path=_served_path(site, url),
        url=url,
        kind=kind,
        sha256=hashlib.sha256(body).hexdigest(),
        integrity=integrity,
        page=page,
        integrity_ok=integrity_matches(integrity, body) if integrity is not None else None,
    )


def _unfetched(site: _Site, reference: _Reference, url: str) -> FetchedFile:
    return FetchedFile(
        path=_served_path(site, url),
        url=url,
        kind=reference.kind,
        sha256=None,
        integrity=reference.integrity,
        page=reference.page,
    )


def _served_path(site: _Site, url: str) -> str:
    if site.same_origin(url):
        return urlsplit(url).path or "/"
    return _without_query(url)[:300]


def integrity_matches(integrity: str, body: bytes) -> bool | None:
    """Whether ``body`` satisfies a Subresource Integrity attribute, as a browser judges it: by the
    strongest algorithm the attribute names, any of its values; None when it names no known one."""
    values: dict[str, set[str]] = {}
    for token in integrity.split():
        algorithm, _, rest = token.partition("-")
        values.setdefault(algorithm.lower(), set()).add(rest.partition("?")[0])
    for algorithm in _INTEGRITY_ALGORITHMS:
        if algorithm in values:
            digest = base64.b64encode(hashlib.new(algorithm, body).digest()).decode("ascii")
            return digest in values[algorithm]
    return None


class _TooManyResources(Exception):
    """A page references more scripts and stylesheets than one check reads."""


class _PageParser(HTMLParser):
    """Collects a page's subresources and the digests of its executable inline scripts."""

    def __init__(self, page_url: str, max_resources: int) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        self.base_set = False
        self.max_resources = max_resources
        self.found: list[tuple[str, str, str | None]] = []
        self.inline: list[str] = []
        self.script: list[str] | None = None
        self.count = 0

    def read(self, text: str) -> None:
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes: dict[str, str] = {}
        for name, value in attrs:
            attributes.setdefault(name, value or "")  # a repeated attribute: the first one counts
        if tag == "base" and "href" in attributes and not self.base_set:
            self.base, self.base_set = urljoin(self.base, attributes["href"].strip()), True
        elif tag == "script":
            self.start_script(attributes)
        elif tag == "link":
            self.link(attributes)

    def start_script(self, attributes: dict[str, str]) -> None:
        script_type = attributes.get("type", "").strip().lower()
        media = script_type.split(";")[0].strip()
        if script_type and media not in _INLINE_TYPES:
            return  # a data block (application/json, text/template): never executed
        if "src" not in attributes:
            self.script = [] if media in _INLINE_TYPES or not script_type else None
            return
        if media == "importmap":
            return  # an external import map is not supported by browsers, so nothing is loaded
        self.add(attributes["src"], "module" if media == "module" else "script", attributes.get("integrity"))

    def link(self, attributes: dict[str, str]) -> None:
        rel = set(attributes.get("rel", "").lower().split())
        if "stylesheet" in rel:
            kind = "style"
        elif "modulepreload" in rel:
            kind = "modulepreload"
        elif "preload" in rel and attributes.get("as", "").strip().lower() in _PRELOADED:
            kind = "preload"
        else:
            return
        self.add(attributes.get("href", ""), kind, attributes.get("integrity"))

    def add(self, reference: str, kind: str, integrity: str | None) -> None:
        self.count_one()
        reference = reference.strip()
        if reference:  # an empty src loads nothing
            self.found.append((urljoin(self.base, reference), kind, integrity))

    def count_one(self) -> None:
        self.count += 1
        if self.count > self.max_resources:
            raise _TooManyResources

    def handle_data(self, data: str) -> None:
        if self.script is not None:
            self.script.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self.script is not None:
            self.count_one()
            self.inline.append(hashlib.sha256("".join(self.script).encode("utf-8")).hexdigest())
            self.script = None


def _html_text(body: bytes, content_type: str | None) -> str:
    """The page as text, by its declared charset (UTF-8 otherwise), with newlines normalised as a
    browser's HTML parser does before anything, CSP hashes included, sees the text."""
    charset = "utf-8"
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or charset
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return ("", url, None)
    return (parts.scheme, parts.hostname or "", port)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _without_fragment(url: str) -> str:
    return url.partition("#")[0]


# --- Comparing ----------------------------------------------------------------------------------------


def compare_served(
    report: ServedReport,
    files: Sequence[ServedFile],
    inline_scripts: Collection[str],
    *,
    inline_must_be_declared: bool,
) -> ServedVerdict:
    """Hold what a site served against its release's signed list (``files``, and the declared
    ``inline_scripts`` as sha256 hex).

    Red ``SERVED_FILE_MISMATCH`` first: a listed file served with other bytes, or a file whose
    ``integrity`` attribute pins other bytes than those served. Then red ``UNKNOWN_SERVED_FILE``: a file
    the list does not have, or, when ``inline_must_be_declared``, an undeclared inline script. Else
    ``SERVED_FILES_VERIFIED``. ``problems`` lists every one, mismatches first.
    """
    listed = {f.path: f.sha256 for f in files}
    mismatches: list[tuple[ServedProblem, str]] = []
    unknown: list[tuple[ServedProblem, str]] = []
    matched = 0
    for f in report.files:
        found = None if f.sha256 is None else f"sha256:{f.sha256}"
        expected = f"sha256:{listed[f.path]}" if f.path in listed else None
        if f.sha256 is None and expected is not None:
            return _not_fetched(report, f)
        if expected is not None and expected != found:
            mismatches.append(
                (
                    ServedProblem(Reason.SERVED_FILE_MISMATCH, f.path, expected, found),
                    f"{f.path} is served with {found}, the release lists {expected}",
                )
            )
        elif f.integrity_ok is False:
            mismatches.append(
                (
                    ServedProblem(Reason.SERVED_FILE_MISMATCH, f.path, expected, found),
                    f"{f.page} pins {f.path} with integrity {f.integrity!r}, but it is served with {found}",
                )
            )
        elif expected is None:
            unknown.append(
                (
                    ServedProblem(Reason.UNKNOWN_SERVED_FILE, f.path, None, found),
                    f"{f.page} loads {f.path} ({found or 'not fetched: another origin'}), which the release "
                    "does not list",
                )
            )
        else:
            matched += 1
    declared = set(inline_scripts)
    seen: dict[str, str] = {}
    for page, digest in zip(_inline_pages(report), report.inline_scripts, strict=True):
        seen.setdefault(digest, page)
    undeclared = [(digest, page) for digest, page in seen.items() if digest not in declared]
    if inline_must_be_declared:
        unknown += [
            (
                ServedProblem(Reason.UNKNOWN_SERVED_FILE, f"inline-script:{page}", None, f"sha256:{digest}"),
                f"an inline script on {page} (sha256-{_b64(digest)}) that the release does not declare",
            )
            for digest, page in undeclared
        ]
    problems = mismatches + unknown
    counts = {
        "checked": len(report.files),
        "matched": matched,
        "inline_scripts": len(seen),
        "inline_declared": len(seen) - len(undeclared),
    }
    if problems:
        first, sentence = problems[0]
        more = f" ({len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        return ServedVerdict(
            result=first.reason.result,
            reason=first.reason,
            message=f"{report.site_url} serves {sentence}{more}.",
            problems=tuple(problem for problem, _ in problems),
            **counts,
        )
    return ServedVerdict(
        result=Result.VERIFIED,
        reason=Reason.SERVED_FILES_VERIFIED,
        message=_verified_message(counts, len(files), len(declared), inline_must_be_declared),
        problems=(),
        **counts,
    )


def _inline_pages(report: ServedReport) -> tuple[str, ...]:
    """The page of each inline script; a report built without them names the site."""
    return report.inline_script_pages or (report.site_url,) * len(report.inline_scripts)


def _not_fetched(report: ServedReport, f: FetchedFile) -> ServedVerdict:
    """The release lists a file of another origin that the fetch was not told to fetch: a wiring error
    of the caller (``listed_urls``), never a verdict on the site."""
    return ServedVerdict(
        result=Reason.CHECKER_ERROR.result,
        reason=Reason.CHECKER_ERROR,
        message=f"{f.path} was not fetched: the check was not told that the release lists it.",
        checked=len(report.files),
        matched=0,
        inline_scripts=len(set(report.inline_scripts)),
        inline_declared=0,
        problems=(),
    )


def _verified_message(counts: dict[str, int], listed: int, declared: int, required: bool) -> str:
    checked, inline, inline_declared = counts["checked"], counts["inline_scripts"], counts["inline_declared"]
    if checked == 0:
        message = f"0 files loaded (the release lists {listed})" if listed else "0 files loaded"
    else:
        message = f"{counts['matched']} of {checked} files match"
    if inline:
        message += f"; {inline_declared} of {inline} inline scripts declared"
        if not required and inline_declared < inline:
            message += " (declaring them is not required)"
    return message + "."


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


# --- A build's files ----------------------------------------------------------------------------------


def served_files_of_directory(directory: str, base: str) -> list[ServedFile]:
    """Every regular file under ``directory``, at any depth and sorted by path, as a ``ServedFile``
    named ``base`` + its relative path (``/static/`` + ``js/app.js``).

    Raises ``FormatError`` for a symbolic link or a special file (the digest would depend on something
    outside the build, or leave part of it out), a ``base`` that does not start and end with ``/`` (or
    is not an ``https://`` URL ending with ``/``), a name that is not a valid served path, or more than
    ``MAX_SERVED_FILES`` files. ``OSError`` reading a file is left to the caller.
    """
    check_served_base(base)
    relatives = sorted(regular_files(directory, ""), key=os.fsencode)
    if len(relatives) > MAX_SERVED_FILES:
        raise FormatError(
            f"{directory} holds {len(relatives)} files, more than the {MAX_SERVED_FILES} allowed"
        )
    served = []
    for relative in relatives:
        path = base + relative
        if not served_path_ok(path):
            raise FormatError(f"{relative!r} cannot be a served file's path (whitespace, '?' or '#')")
        with open(os.path.join(directory, relative), "rb") as f:
            served.append(ServedFile(path, hashlib.file_digest(f, "sha256").hexdigest()))
    return served


def check_served_base(base: str) -> None:
    """``FormatError`` unless ``base`` can prefix served paths: ``/…/`` or ``https://…/``."""
    if not base.startswith(("/", "https://")) or base.startswith("//") or not base.endswith("/"):
        raise FormatError(f"the served base must start with '/' (or https://) and end with '/', got {base!r}")
