"""Unknown paths answer in the API's error shape under /api/, and with an HTML page elsewhere."""

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_a_json_404_in_the_error_shape(client):
    response = client.get("/api/v1/releases/not-a-number/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"
    assert "/api/v1/releases/not-a-number/" in response.json()["error"]["message"]


def test_unknown_page_is_an_html_404(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
