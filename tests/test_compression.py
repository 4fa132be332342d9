"""Responses are compressed by the app itself, as the browser asks: pages, JSON, CSS, JS."""

import gzip
import json
import re
from pathlib import Path

import brotli
import pytest

from recovery import ROOT
from recovery.care.accounts import issue_api_token
from recovery.extensions import db
from tests import factories


def decoded(response) -> bytes:
    body = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    assert encoding is None, encoding
    return body


@pytest.mark.parametrize(("accept", "expected"), [("br", "br"), ("gzip, deflate", "gzip")])
def test_a_patient_page_is_compressed_as_the_browser_asks(client, enrolled, accept, expected):
    response = client.get(f"/p/{enrolled.token}", headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == expected
    assert "Accept-Encoding" in response.headers["Vary"]
    html = decoded(response)
    assert b"How is your pain?" in html
    assert int(response.headers["Content-Length"]) == len(response.get_data()) < len(html) / 2


def test_without_accept_encoding_nothing_is_compressed(client, enrolled):
    response = client.get(f"/p/{enrolled.token}")
    assert "Content-Encoding" not in response.headers
    assert b"How is your pain?" in response.get_data()


def test_static_files_are_compressed_and_still_cached_for_a_year(client, enrolled):
    html = client.get(f"/p/{enrolled.token}").get_data(as_text=True)
    css_url = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]+)"', html).group(1)
    response = client.get(css_url, headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert "immutable" in response.headers["Cache-Control"]
    assert decoded(response) == Path(ROOT, "static/css/app.css").read_bytes()
    response.close()


@pytest.mark.parametrize("accept", ["br", "gzip"])
def test_a_static_file_is_compressed_once_and_revalidated(client, accept):
    url = "/static/css/app.css"
    first = client.get(url, headers={"Accept-Encoding": accept})
    second = client.get(url, headers={"Accept-Encoding": accept})
    assert first.headers["Content-Encoding"] == accept
    assert first.get_data() == second.get_data()
    assert "Accept-Ranges" not in first.headers  # a range would count uncompressed bytes
    assert "Accept-Encoding" in first.headers["Vary"]
    etag = first.headers["ETag"]
    assert etag.endswith(f':{accept}"')
    again = client.get(url, headers={"Accept-Encoding": accept, "If-None-Match": etag})
    assert again.status_code == 304
    for response in (first, second, again):
        response.close()


def test_the_fhir_export_is_compressed(client, enrolled, nurse):
    token = issue_api_token(nurse)
    db.session.commit()
    response = client.get(
        f"/api/v1/episodes/{enrolled.episode.id}/fhir",
        headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "br"},
    )
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    assert response.headers["Content-Encoding"] == "br"
    assert json.loads(decoded(response))["resourceType"] == "Bundle"


def test_json_is_compressed(client):
    response = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert b'"openapi"' in decoded(response)


def test_a_csv_download_streams_uncompressed(client, auth, nurse, enrolled):
    factories.gen_entry(enrolled.episode, 5, 2)
    auth.login()
    url = f"/staff/episodes/{enrolled.episode.id}/entries.csv"
    response = client.get(url, headers={"Accept-Encoding": "br, gzip"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_data(as_text=True).count("\n") >= 2
