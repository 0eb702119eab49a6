"""Helpers shared by the API tests."""


def error_of(response):
    """The error object of an API error response, after checking the shape every 4xx shares."""
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    assert error["status"] == response.status_code
    assert isinstance(error["message"], str) and error["message"]
    return error
