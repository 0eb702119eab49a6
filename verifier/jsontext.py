"""Reading JSON that came from outside: the one parser for every document Vitrina reads.

Envelopes, statements, proof bundles, log entries, live answers and API request bodies all go through
``loads``, so they follow the same rules: UTF-8 only, no duplicate keys (two values for one key would let
two readers see two documents), no ``NaN``/``Infinity`` (not JSON), no lone UTF-16 surrogate such as
``"\\ud800"`` (I-JSON, RFC 7493: such a string has no UTF-8 form, so hashing, signing or storing it
would fail later, far from the input), and no nesting deeper than ``MAX_DEPTH`` (no honest document of
ours goes past a dozen levels; deeper input would exhaust the parser's recursion). Whatever the bytes,
the only exception that comes out is ``FormatError``::

    >>> loads(b'{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> loads(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    verifier.errors.FormatError: the document is not valid JSON: the key 'a' appears twice
"""

import json
import re
from collections.abc import Iterable
from typing import Any

from .errors import FormatError

MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def loads(data: bytes | str, *, what: str = "the document", max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` as strict JSON; raise ``FormatError`` naming ``what`` on any problem."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    elif isinstance(data, str):
        if not _encodes(data):
            raise FormatError(f"{what} is not UTF-8 text: it holds a lone surrogate")
        text = data
    else:
        raise FormatError(f"{what} must be bytes or text, got {type(data).__name__}")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except RecursionError:
        raise FormatError(f"{what} is nested more than {max_depth} levels deep") from None
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{what} is not valid JSON: {exc}") from None
    if depth_exceeds(document, max_depth):
        raise FormatError(f"{what} is nested more than {max_depth} levels deep")
    # Decoded UTF-8 holds no surrogate: only an escape can make one, so most documents skip the walk.
    if _SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(document):
        raise FormatError(f"{what} holds a lone UTF-16 surrogate (an escape from \\ud800 to \\udfff)")
    return document


def utf8_bytes(data: object, *, what: str) -> bytes:
    """``data`` (text or bytes from outside) as UTF-8 bytes; ``FormatError`` naming ``what`` otherwise.

    Text holding a lone surrogate (a JSON ``"\\ud800"`` escape, say) has no UTF-8 form to hash or verify.
    """
    if isinstance(data, bytes):
        return data
    if not isinstance(data, str):
        raise FormatError(f"{what} must be text or bytes, got {type(data).__name__}")
    if not _encodes(data):
        raise FormatError(f"{what} is not UTF-8 text: it holds a lone surrogate")
    return data.encode("utf-8")


def loads_object(data: bytes | str, *, what: str = "the document") -> dict[str, Any]:
    """``loads``, for a document that must be a JSON object; ``FormatError`` if it is another value."""
    document = loads(data, what=what)
    if not isinstance(document, dict):
        raise FormatError(f"{what} is JSON but not an object")
    return document


def depth_exceeds(document: Any, max_depth: int = MAX_DEPTH) -> bool:
    """True when ``document`` (parsed JSON) has containers nested more than ``max_depth`` levels."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _holds_lone_surrogate(document: Any) -> bool:
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not _encodes(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"the key {key!r} appears twice")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
