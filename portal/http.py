"""The HTTP edge every app shares: the API's one error shape, the site's 404 and 500, public reads, the
one paging rule and the public time formats (for machines, and on the public's clock for people).

Neutral ground: it imports Django and DRF only, never an app, so the log, the registry, monitoring, the
API and the pages may all import it. The error shape, for every 4xx the API gives (and a 503)::

    {"error": {"status": 400, "code": "invalid", "message": "<one sentence>",
               "fields": {"<field>": ["<problem>", ...]}}}

``fields`` is always present (``{}`` when no single field is at fault), so a client can read it
without checking. DRF views get this shape through ``exception_handler`` (wired in
``settings.REST_FRAMEWORK``); a plain Django view calls ``error_response``.
"""

import datetime

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponseServerError, JsonResponse
from django.utils import dateformat, timezone
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import set_rollback

# The code of a refusal follows its HTTP status; 503 is the log closed after a failed self-audit, until
# an operator resolves it.
REFUSAL_CODES = {
    400: "invalid",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    503: "log_closed",
}


class Refusal(Exception):
    """A request refused for a reason the client can act on: the field at fault and one sentence.

    ``status`` is the HTTP status the API answers with; ``field`` is None when no single field is at
    fault. The apps' own refusals (the registry's ``Refused``) subclass it, so this module maps them to
    the error shape without importing the apps that raise them.
    """

    def __init__(self, field, message, status=400):
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"


class LengthRequired(exceptions.APIException):
    status_code = 411
    default_code = "length_required"


class Unavailable(exceptions.APIException):
    """503: the answer exists but cannot be given now (the log's key is unreadable, or the log failed an
    integrity check); the message says which and what to do."""

    status_code = 503
    default_code = "unavailable"


class PublicReadView:
    """Mixin for a public, read-only DRF view: GET and HEAD answer, any other method gets 405 with
    ``Allow: GET, HEAD`` in the error shape (OPTIONS too: the schema describes the API, not OPTIONS)."""

    http_method_names = ["get", "head"]


class Pagination(LimitOffsetPagination):
    """The one paging rule of the public lists: ``?limit=&offset=``, with a ceiling so one request stays
    cheap.

    A limit or offset that is not a whole number in range, or is given twice, is the client's mistake
    and answered with 400 naming it, never silently replaced by the default. A list with other bounds
    subclasses this and sets ``default_limit`` and ``max_limit``.
    """

    default_limit = 50
    max_limit = 200
    # Past any list's end, and within every database's integer range.
    max_offset = 10**18 - 1

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_limit}
        offset["schema"] = {"type": "integer", "minimum": 0, "maximum": self.max_offset}
        return [limit, offset]

    def get_limit(self, request):
        return self._count(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return self._count(request, self.offset_query_param, 0, 0, self.max_offset)

    @staticmethod
    def _count(request, name, default, minimum, maximum):
        values = request.query_params.getlist(name)
        if not values:
            return default
        if len(values) > 1:
            raise exceptions.ValidationError({name: [f"{name} must be given once."]})
        text = values[0]
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise exceptions.ValidationError({name: [f"{name} must be a whole number."]})
        value = int(text)
        if not minimum <= value <= maximum:
            raise exceptions.ValidationError(
                {name: [f"{name} must be at least {minimum} and at most {maximum}."]}
            )
        return value


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="e.g. invalid, not_authenticated, not_found, conflict.")
    message = serializers.CharField(help_text="One sentence saying what is wrong.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Problems by field."
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape, for the schema (drf-spectacular names it "Error")."""

    error = ErrorDetailSerializer()


def public_read(view):
    """A public, read-only endpoint: GET and HEAD answer, any other method gets 405 with ``Allow``.

    CSRF is not asked first: the view never changes state, so there is nothing to forge, and a client
    sending another method learns that the method is wrong (405), not that a cookie is missing (403).
    """
    return csrf_exempt(require_safe(view))


class ApiSpeaksUtc:
    """Middleware: under /api/ the current time zone is UTC.

    The pages show times on the public's clock (``TIME_ZONE``), but the API's times are ``public_time``'s
    RFC 3339 in UTC with ``Z``, and DRF writes (and reads a naive input) in the current time zone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        with timezone.override(datetime.UTC):
            return self.get_response(request)


def public_time(moment):
    """A moment as the public reads it in the API, the badges and the pages' ``<time datetime>``: RFC 3339
    in UTC with ``Z``, microseconds only when there are some (as DRF writes its date-time fields).

    None stays None. The log's entries have their own fixed-width format, part of what is signed
    (``verifier.entries.format_time``).
    """
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def local_time(value):
    """``value`` on the public's clock (``settings.TIME_ZONE``) to the minute, with its UTC offset, in the
    reader's language: "2 dic 2026, 10:56 (UTC−3)", "2 Dec 2026, 10:56 (UTC−3)"."""
    local = timezone.localtime(value, timezone.get_default_timezone())
    return f"{readable_time(local)} ({utc_offset(local)})"


def readable_time(value):
    # Translators: a date and time as Django's date filter writes it (j: day, M: month as "Dec", b: month
    # as "dec", Y: year, H:i: 24-hour time). Spanish: "j b Y, H:i" gives "2 dic 2026, 10:56".
    return dateformat.format(value, gettext("j M Y, H:i"))


def utc_offset(local):
    """A local time's offset from UTC as the public reads it: "UTC−3", "UTC+5:30", "UTC" (a true minus)."""
    minutes = round(local.utcoffset().total_seconds() / 60)
    if not minutes:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'−' if minutes < 0 else '+'}{hours}{f':{rest:02d}' if rest else ''}"


def error_body(status, message, code="invalid", fields=None):
    """The error document, as a dict. ``fields`` maps a field name to a list of problems."""
    return {
        "error": {
            "status": status,
            "code": code,
            "message": message,
            "fields": {name: [str(p) for p in problems] for name, problems in (fields or {}).items()},
        }
    }


def error_response(status, message, code="invalid", fields=None):
    """A JSON error response in the API's shape, for plain Django views (the site's 404 and 500); a view
    under /api/v1/ is a DRF view and raises instead. Example::

        return error_response(404, f"There is nothing at {request.path}.", code="not_found")
    """
    return JsonResponse(error_body(status, message, code, fields), status=status)


def exception_handler(exc, context):
    """DRF's exception handler, answering every known refusal in the one error shape.

    Unknown exceptions return None, so DRF re-raises them and they surface as a server error (and in
    tests as the exception itself) rather than being dressed up as the client's fault.
    """
    if isinstance(exc, Refusal):
        status = exc.status
        fields = {exc.field: [exc.message]} if exc.field else {}
        response = Response(
            error_body(status, exc.message, REFUSAL_CODES.get(status, "invalid"), fields), status=status
        )
        set_rollback()
        return response
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = validation_fields(exc.detail)
        body = error_body(exc.status_code, validation_message(fields), "invalid", fields)
    else:
        body = error_body(exc.status_code, sentence(exc.detail), first_code(exc))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def validation_fields(detail):
    """Flatten DRF's error detail into {field: [problems]}; nested fields get dotted names."""
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    fields = {}
    for name, problems in detail.items():
        if isinstance(problems, dict):
            for inner, inner_problems in validation_fields(problems).items():
                fields[f"{name}.{inner}"] = inner_problems
        elif isinstance(problems, list):
            fields[name] = [str(p) for p in problems]
        else:
            fields[name] = [str(problems)]
    return fields


def validation_message(fields):
    """One sentence naming the first problem, and how many more there are."""
    if not fields:
        return "The request is invalid."
    name, problems = next(iter(fields.items()))
    count = sum(len(p) for p in fields.values())
    first = problems[0] if problems else "is invalid."
    subject = "The request" if name == "non_field_errors" else name
    more = f" ({count - 1} more problem{'s' if count > 2 else ''} in fields)" if count > 1 else ""
    return f"{subject}: {first}{more}"


def sentence(detail):
    text = str(detail).strip()
    return text if text.endswith(".") else text + "."


def first_code(exc):
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def not_found(request, exception=None):
    """The site's 404: the API's error shape under /api/, templates/404.html in the site's layout elsewhere
    (Django's ``page_not_found`` renders it with the request, so in the reader's language)."""
    if request.path.startswith("/api/"):
        return error_response(404, f"There is nothing at {request.path}.", code="not_found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    """The site's 500: the API's error shape under /api/ (no detail leaks), templates/500.html in the site's
    layout elsewhere, in the reader's language.

    It runs no context processor: the failure may be the database or the cache they read. The request is
    all the layout needs (the language switch is a link per language)."""
    if request.path.startswith("/api/"):
        return error_response(500, "The server failed to answer; the error was logged.", code="server_error")
    from django.template import loader

    page = loader.get_template("500.html").render({"request": request})
    return HttpResponseServerError(page)
