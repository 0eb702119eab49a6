"""A real web site on 127.0.0.1 for tests of the served-files check: pages and the files they load.

    files = {"/": page('<script src="/static/app.js"></script>'), "/static/app.js": js(b"go()")}
    with SiteServer(files) as site:
        site.files["/static/app.js"] = js(b"evil()")          # the site swaps a file while it runs
        site.only_for_others["/static/app.js"] = js(b"evil()")  # ...only for whoever is not the portal

``only_for_others`` is the targeted attack: those answers go to every client except Vitrina's monitor
(its User-Agent starts with ``Vitrina-monitor/``), which keeps getting ``files``.
"""

import hashlib

from verifier.statement import ServedFile

from .liveserver import LoopbackServer

MONITOR_AGENT = "Vitrina-monitor/"


def page(html):
    return ("text/html; charset=utf-8", html.encode() if isinstance(html, str) else html)


def js(body):
    return ("text/javascript", body)


def css(body):
    return ("text/css", body)


def served_list(files, paths=None):
    """The ``ServedFile`` list a release would sign for ``files`` (every non-HTML file, or ``paths``)."""
    return [
        ServedFile(path, hashlib.sha256(body).hexdigest())
        for path, (content_type, body) in sorted(files.items())
        if (paths is None and not content_type.startswith("text/html"))
        or (paths is not None and path in paths)
    ]


class SiteServer(LoopbackServer):
    path = "/"

    def __init__(self, files):
        super().__init__()
        self.files = dict(files)
        self.only_for_others = {}
        self.agents = []

    def respond(self, handler):
        agent = handler.headers.get("User-Agent", "")
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.agents.append(agent)
            answers = (
                self.files if agent.startswith(MONITOR_AGENT) else {**self.files, **self.only_for_others}
            )
            found = answers.get(path)
        if found is None:
            self.send(handler, 404, b"not found")
            return
        content_type, body = found
        self.send(handler, 200, body, content_type)
