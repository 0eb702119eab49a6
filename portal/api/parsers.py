"""The API's one JSON parser: request bodies are read by the verifier's strict JSON reader.

Every document Vitrina reads from outside goes through ``verifier.jsontext.loads``, and an API request
body is one of them: UTF-8 only, no duplicate keys, no ``NaN``/``Infinity``, no nesting deeper than
``jsontext.MAX_DEPTH``. Whatever the bytes, a body it refuses is a ``ParseError``, which the API answers
with 400 ``parse_error`` in its one error shape (``errors.py``), never a server error.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from verifier import jsontext
from verifier.errors import FormatError


class StrictJSONParser(BaseParser):
    """``application/json`` bodies, parsed by ``verifier.jsontext.loads`` (set in ``REST_FRAMEWORK``)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return jsontext.loads(stream.read(), what="the request body")
        except FormatError as exc:
            message = str(exc)
            raise ParseError(f"{message[:1].upper()}{message[1:]}.") from None
