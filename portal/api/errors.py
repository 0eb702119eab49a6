"""One error shape for every 4xx the API gives (and the 503 of a closed log), whichever view or layer refused.

    {"error": {"status": 400, "code": "invalid", "message": "<one sentence>",
               "fields": {"<field>": ["<problem>", ...]}}}

``fields`` is always present (``{}`` when no single field is at fault), so a client can read it
without checking. DRF views get this shape through ``exception_handler`` (wired in
``settings.REST_FRAMEWORK``); plain Django views under ``/api/v1/`` (the log, the proof bundles, the
observations) call ``error_response`` so that a client sees one format across the whole API.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from portal.registry.services import Refused

# The code of a refusal from the registry services follows its HTTP status; 503 is the log closed after
# a failed self-audit, until an operator resolves it.
REFUSAL_CODES = {
    400: "invalid",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    503: "log_closed",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"


class LengthRequired(exceptions.APIException):
    status_code = 411
    default_code = "length_required"


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
    """A JSON error response in the API's shape, for plain Django views.

    Example, in a view that serves a proof bundle::

        return error_response(404, f"There is no release {pk}.", code="not_found")
    """
    return JsonResponse(error_body(status, message, code, fields), status=status)


def exception_handler(exc, context):
    """DRF's exception handler, answering every known refusal in the one error shape.

    Unknown exceptions return None, so DRF re-raises them and they surface as a server error (and in
    tests as the exception itself) rather than being dressed up as the client's fault.
    """
    if isinstance(exc, Refused):
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
    """The site's 404: the API's error shape under /api/, Django's page everywhere else."""
    if request.path.startswith("/api/"):
        return error_response(404, f"There is nothing at {request.path}.", code="not_found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    """The site's 500: the API's error shape under /api/ (no detail leaks), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(500, "The server failed to answer; the error was logged.", code="server_error")
    from django.views.defaults import server_error as page

    return page(request)
