"""The one strict JSON reader: what it accepts, what it refuses, and that only FormatError comes out."""

import json

import pytest

from verifier import jsontext
from verifier.errors import FormatError


@pytest.mark.parametrize(
    "data, document",
    [
        (b'{"a": [1, 2.5, "x", true, null]}', {"a": [1, 2.5, "x", True, None]}),
        ('{"a": "é"}', {"a": "é"}),
        ('{"a": "é"}'.encode(), {"a": "é"}),
        (b'"\\ud83d\\ude00"', "\N{GRINNING FACE}"),
        (b"[]", []),
        (b" 7 ", 7),
    ],
)
def test_strict_json_is_read_from_bytes_and_text(data, document):
    assert jsontext.loads(data) == document


def test_a_document_as_deep_as_the_limit_is_read():
    depth = jsontext.MAX_DEPTH
    assert jsontext.loads("[" * depth + "]" * depth) is not None


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "the document is not valid JSON"),
        (b"{", "the document is not valid JSON"),
        (b'{"a": 1, "a": 1}', "the key 'a' appears twice"),
        (b'[{"b": 1, "b": 2}]', "the key 'b' appears twice"),
        (b"NaN", "NaN is not a JSON value"),
        (b"[Infinity]", "Infinity is not a JSON value"),
        (b"-Infinity", "-Infinity is not a JSON value"),
        (b"1" * 5000, "the document is not valid JSON"),
        (b"\xff", "not UTF-8 text \\(byte 0\\)"),
        (b'{"a": "\xc3"}', "not UTF-8 text \\(byte 7\\)"),
        (b"[" * (jsontext.MAX_DEPTH + 1) + b"]" * (jsontext.MAX_DEPTH + 1), "nested more than 64 levels"),
        (b"[" * 100_000, "nested more than 64 levels"),
        (b'{"a":' * 100_000, "nested more than 64 levels"),
        (b'"\\ud800"', "lone UTF-16 surrogate"),
        (b'{"\\udfff": 1}', "lone UTF-16 surrogate"),
        (b'["\\ude00\\ud83d"]', "lone UTF-16 surrogate"),
        ('"\ud800"', "not UTF-8 text"),
        (17, "must be bytes or text, got int"),
    ],
)
def test_what_is_not_strict_json_is_refused_saying_why(data, problem):
    with pytest.raises(FormatError, match=problem):
        jsontext.loads(data)


def test_the_error_names_the_document():
    with pytest.raises(FormatError, match="^the envelope is not valid JSON"):
        jsontext.loads(b"{", what="the envelope")


def test_a_smaller_depth_limit_can_be_asked_for():
    with pytest.raises(FormatError, match="nested more than 2 levels"):
        jsontext.loads(b"[[[]]]", max_depth=2)
    assert jsontext.loads(b"[[]]", max_depth=2) == [[]]


def test_depth_is_counted_in_containers_not_in_scalars():
    assert not jsontext.depth_exceeds([[1, "x"], {"a": None}], max_depth=2)
    assert jsontext.depth_exceeds([[{"a": 1}]], max_depth=2)
    assert json.loads("[1]") == jsontext.loads(b"[1]", max_depth=1)
