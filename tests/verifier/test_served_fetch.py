"""The served-files check against real sites on loopback: what a browser loads is fetched, hashed and
held against the release's list, and every hostile site is cut short by the caps."""

import base64
import hashlib
import threading
import time

import pytest

from tests.helpers.liveserver import LoopbackServer
from verifier.errors import CouldNotCheck
from verifier.reasons import Reason, Result
from verifier.served import ServedLimits, compare_served, fetch_served
from verifier.statement import ServedFile

APP_JS = b"console.log('app');\n"
MODULE_JS = b"export const x = 1;\n"
STYLE_CSS = b"body { color: black; }\n"
INLINE = "window.config = {csrf: 'abc'};"
FAST = ServedLimits(total_timeout=3.0, connect_timeout=1.0)
SLACK = 1.5


class SiteServer(LoopbackServer):
    """A web site: ``routes`` maps a path to ``(status, body, content_type, headers)``; a callable body
    is called with the handler and answers itself. Every path requested is kept in ``requested``."""

    def __init__(self, routes):
        super().__init__()
        self.routes = dict(routes)
        self.requested = []

    def respond(self, handler):
        path = handler.path.split("?")[0]
        self.requested.append(path)
        status, body, content_type, headers = self.routes.get(path, (404, b"not found", "text/plain", ()))
        if callable(body):
            body(self, handler)
        else:
            self.send(handler, status, body, content_type, headers)


def page(*tags, charset="utf-8"):
    html = f"<!doctype html><html><head>{''.join(tags)}</head><body><p>Hi</p></body></html>"
    return (200, html.encode(charset), f"text/html; charset={charset}", ())


def js(body):
    return (200, body, "text/javascript", ())


def sha(data):
    return hashlib.sha256(data).hexdigest()


def release_list():
    return [
        ServedFile("/static/app.js", sha(APP_JS)),
        ServedFile("/static/mod.js", sha(MODULE_JS)),
        ServedFile("/static/style.css", sha(STYLE_CSS)),
    ]


def good_routes(*extra_tags):
    return {
        "/": page(
            '<script src="/static/app.js?v=3"></script>',
            '<script type="module" src="static/mod.js"></script>',
            '<link rel="stylesheet" href="/static/style.css">',
            '<script type="application/json" id="data">{"not": "code"}</script>',
            *extra_tags,
        ),
        "/static/app.js": js(APP_JS),
        "/static/mod.js": js(MODULE_JS),
        "/static/style.css": (200, STYLE_CSS, "text/css", ()),
    }


def check(server, files=None, inline=(), required=True, pages=("/",), **options):
    report = fetch_served(server.base_url, list(pages), allow_private=True, limits=FAST, **options)
    return report, compare_served(
        report, release_list() if files is None else files, inline, inline_must_be_declared=required
    )


def refused(server, pages=("/",), limits=FAST):
    started = time.monotonic()
    with pytest.raises(CouldNotCheck) as caught:
        fetch_served(server.base_url, list(pages), allow_private=True, limits=limits)
    return caught.value, time.monotonic() - started


def test_a_site_serving_its_release_is_verified_and_data_scripts_are_not_code():
    with SiteServer(good_routes()) as server:
        report, verdict = check(server)

    assert {(f.path, f.kind) for f in report.files} == {
        ("/static/app.js", "script"),
        ("/static/mod.js", "module"),
        ("/static/style.css", "style"),
    }
    assert report.inline_scripts == ()
    assert verdict.result == Result.VERIFIED and verdict.reason == Reason.SERVED_FILES_VERIFIED
    assert verdict.message == "3 of 3 files match."
    assert verdict.to_json()["problems"] == []


def test_a_swapped_script_is_a_mismatch_naming_the_file_and_both_digests():
    routes = good_routes()
    routes["/static/app.js"] = js(b"steal(document.cookie);\n")
    with SiteServer(routes) as server:
        _, verdict = check(server)

    assert verdict.reason == Reason.SERVED_FILE_MISMATCH and verdict.result == Result.MISMATCH
    assert "/static/app.js" in verdict.message
    assert f"sha256:{sha(b'steal(document.cookie);' + bytes([10]))}" in verdict.message
    assert f"sha256:{sha(APP_JS)}" in verdict.message
    assert verdict.matched == 2 and verdict.checked == 3


def test_an_injected_script_the_release_does_not_list_is_unknown():
    routes = good_routes('<script src="/evil.js"></script>')
    routes["/evil.js"] = js(b"evil()")
    with SiteServer(routes) as server:
        _, verdict = check(server)

    assert verdict.reason == Reason.UNKNOWN_SERVED_FILE
    assert "/evil.js" in verdict.message
    assert verdict.problems[0].path == "/evil.js" and verdict.problems[0].found == f"sha256:{sha(b'evil()')}"


def test_an_inline_script_is_unknown_when_declaring_is_required_and_counted_otherwise():
    with SiteServer(good_routes(f"<script>{INLINE}</script>")) as server:
        report, required = check(server, required=True)
        _, counted = check(server, required=False)
        _, declared = check(server, inline={sha(INLINE.encode())}, required=True)

    assert report.inline_scripts == (sha(INLINE.encode()),)
    csp = base64.b64encode(hashlib.sha256(INLINE.encode()).digest()).decode()
    assert required.reason == Reason.UNKNOWN_SERVED_FILE
    assert f"an inline script on {server.base_url}/ (sha256-{csp}) that the release does not declare" in (
        required.message
    )
    assert counted.result == Result.VERIFIED
    assert counted.message == (
        "3 of 3 files match; 0 of 1 inline scripts declared (declaring them is not required)."
    )
    assert declared.result == Result.VERIFIED and declared.inline_declared == 1


def test_an_inline_script_is_hashed_after_newline_normalisation_as_csp_does():
    with SiteServer(good_routes("<script>a();\r\nb();\r</script>")) as server:
        report, _ = check(server)

    assert report.inline_scripts == (sha(b"a();\nb();\n"),)


def test_a_listed_script_of_another_origin_is_fetched_and_an_unlisted_one_is_not():
    cdn_js = b"cdn()"
    with SiteServer({"/lib.js": js(cdn_js), "/track.js": js(b"track()")}) as cdn:
        routes = good_routes(
            f'<script src="{cdn.base_url}/lib.js?x=1"></script>',
            f'<script src="{cdn.base_url}/track.js"></script>',
        )
        listed = f"{cdn.base_url}/lib.js"
        with SiteServer(routes) as server:
            _, verdict = check(
                server, files=[*release_list(), ServedFile(listed, sha(cdn_js))], listed_urls=[listed]
            )
        assert cdn.requested == ["/lib.js"]

    assert verdict.reason == Reason.UNKNOWN_SERVED_FILE
    assert verdict.matched == 4
    [problem] = verdict.problems
    assert problem.path == f"{cdn.base_url}/track.js" and problem.found is None


def test_an_entry_page_redirected_off_the_site_cannot_be_checked():
    with SiteServer({"/": page()}) as elsewhere:
        with SiteServer({"/": (302, b"", "text/plain", [("Location", elsewhere.base_url + "/")])}) as server:
            error, _ = refused(server)
        assert elsewhere.requested == []

    assert error.reason == Reason.BAD_RESPONSE
    assert "redirected off the site" in str(error)


def test_a_giant_file_is_too_large_and_reading_stops_at_the_cap():
    def giant(owner, handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/javascript")
        handler.end_headers()
        while not owner.stopping.is_set():
            handler.wfile.write(b"x" * 65536)

    routes = good_routes()
    routes["/static/app.js"] = (200, giant, "", ())
    limits = ServedLimits(max_file_bytes=256 * 1024, total_timeout=5.0)
    with SiteServer(routes) as server:
        error, elapsed = refused(server, limits=limits)

    assert error.reason == Reason.TOO_LARGE and "/static/app.js" in str(error)
    assert elapsed < 2


def test_the_total_byte_cap_covers_every_file_of_the_site():
    routes = good_routes()
    routes["/static/app.js"] = js(b"x" * 100_000)
    routes["/static/mod.js"] = js(b"y" * 100_000)
    limits = ServedLimits(max_file_bytes=150_000, max_total_bytes=180_000)
    with SiteServer(routes) as server:
        error, _ = refused(server, limits=limits)

    assert error.reason == Reason.TOO_LARGE and "180000 bytes in all" in str(error)


def test_ten_thousand_script_tags_are_too_large_at_once_without_fetching_one():
    routes = {"/": page(*['<script src="/static/app.js"></script>'] * 10_000)}
    with SiteServer(routes) as server:
        error, elapsed = refused(server, limits=ServedLimits())
        assert server.requested == ["/"]

    assert error.reason == Reason.TOO_LARGE
    assert "500 scripts and stylesheets" in str(error) and server.base_url in str(error)
    assert elapsed < 1


def test_malformed_html_still_yields_its_scripts():
    html = (
        b"<html><head><title>x</head><body><div <p>unclosed <script src=/static/app.js>"
        b"</script><LINK REL='Stylesheet' href=/static/style.css><script type=module src='static/mod.js'"
        b"></script><!-- never closed <table><tr><td"
    )
    routes = good_routes()
    routes["/"] = (200, html, "text/html", ())
    with SiteServer(routes) as server:
        report, verdict = check(server)

    assert sorted(f.path for f in report.files) == ["/static/app.js", "/static/mod.js", "/static/style.css"]
    assert verdict.result == Result.VERIFIED


def test_a_slow_site_times_out_within_the_total_timeout():
    def dribble(owner, handler):
        handler.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nContent-Length: 100\r\n\r\n"
        )
        while not owner.stopping.wait(0.2):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    routes = good_routes()
    routes["/static/style.css"] = (200, dribble, "", ())
    limits = ServedLimits(total_timeout=1.0, connect_timeout=1.0)
    with SiteServer(routes) as server:
        error, elapsed = refused(server, limits=limits)

    assert error.reason == Reason.TIMEOUT
    assert elapsed < limits.total_timeout + SLACK


def test_an_integrity_attribute_pinning_other_bytes_is_a_mismatch():
    other = base64.b64encode(hashlib.sha384(b"other bytes").digest()).decode()
    good = base64.b64encode(hashlib.sha384(APP_JS).digest()).decode()
    routes = good_routes()
    with SiteServer(routes) as server:
        server.routes["/"] = page(f'<script src="/static/app.js" integrity="sha384-{other}"></script>')
        _, pinned_wrong = check(server, files=release_list()[:1])
        server.routes["/"] = page(
            f'<script src="/static/app.js" integrity="sha256-x sha384-{good}"></script>'
        )
        _, pinned_right = check(server, files=release_list()[:1])

    assert pinned_wrong.reason == Reason.SERVED_FILE_MISMATCH and "integrity" in pinned_wrong.message
    assert pinned_right.result == Result.VERIFIED


def test_a_service_worker_entry_page_is_itself_a_served_file():
    worker = b"self.addEventListener('fetch', () => {});"
    routes = good_routes()
    routes["/sw.js"] = (200, worker, "application/javascript; charset=utf-8", ())
    with SiteServer(routes) as server:
        report, verdict = check(server, pages=("/", "/sw.js"))
        _, swapped = check(
            server, files=[*release_list(), ServedFile("/sw.js", sha(b"old"))], pages=("/sw.js",)
        )

    assert ("/sw.js", "entry") in {(f.path, f.kind) for f in report.files}
    assert verdict.reason == Reason.UNKNOWN_SERVED_FILE and "/sw.js" in verdict.message
    assert swapped.reason == Reason.SERVED_FILE_MISMATCH


def test_base_href_resolves_relative_files_and_preloads_count():
    routes = good_routes()
    routes["/"] = page(
        '<base href="/static/">',
        '<script src="app.js"></script>',
        '<link rel="modulepreload" href="mod.js">',
        '<link rel="preload" as="style" href="style.css">',
        '<link rel="preload" as="image" href="logo.png">',
    )
    with SiteServer(routes) as server:
        report, verdict = check(server)

    assert {(f.path, f.kind) for f in report.files} == {
        ("/static/app.js", "script"),
        ("/static/mod.js", "modulepreload"),
        ("/static/style.css", "preload"),
    }
    assert verdict.result == Result.VERIFIED


def test_a_page_that_loads_nothing_says_so():
    with SiteServer({"/": page()}) as server:
        _, verdict = check(server)

    assert verdict.result == Result.VERIFIED
    assert verdict.message == "0 files loaded (the release lists 3)."


def test_a_missing_file_cannot_be_checked():
    routes = good_routes()
    del routes["/static/mod.js"]
    with SiteServer(routes) as server:
        error, _ = refused(server)

    assert error.reason == Reason.UNREACHABLE and "/static/mod.js" in str(error) and "404" in str(error)


def test_one_deadline_covers_every_request_of_the_site():
    gate = threading.Event()

    def slow(owner, handler):
        gate.wait(0.4)
        owner.send(handler, 200, APP_JS, "text/javascript")

    routes = good_routes(*[f'<script src="/s{i}.js"></script>' for i in range(6)])
    for i in range(6):
        routes[f"/s{i}.js"] = (200, slow, "", ())
    limits = ServedLimits(total_timeout=1.0, parallel_files=1)
    with SiteServer(routes) as server:
        error, elapsed = refused(server, limits=limits)

    assert error.reason == Reason.TIMEOUT
    assert elapsed < limits.total_timeout + SLACK


def test_a_site_files_are_fetched_a_few_at_a_time():
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most at once

    def counted(owner, handler):
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        time.sleep(0.1)
        with lock:
            in_flight[0] -= 1
        owner.send(handler, 200, APP_JS, "text/javascript")

    routes = good_routes(*[f'<script src="/s{i}.js"></script>' for i in range(12)])
    for i in range(12):
        routes[f"/s{i}.js"] = (200, counted, "", ())
    with SiteServer(routes) as server:
        report = fetch_served(
            server.base_url, ["/"], allow_private=True, limits=ServedLimits(parallel_files=4)
        )

    assert [f.path for f in report.files if f.path[2:3].isdigit()] == [f"/s{i}.js" for i in range(12)]
    assert 2 <= in_flight[1] <= 4
