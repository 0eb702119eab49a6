"""The site-wide log integrity flag: base.html shows a red banner when the latest self-audit failed."""

from .services import log_integrity as latest_verdict


def log_integrity(request):
    verdict = latest_verdict()
    return {} if verdict is None else {"log_integrity": verdict}
