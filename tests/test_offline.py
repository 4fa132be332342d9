"""The patient pages as a home-screen app: manifest, service worker and start page routes, and
the words the offline script shows, which come from the page in the patient's language."""

import json
import re
import shutil

import pytest

from recovery.extensions import db
from tests import factories
from tests.test_translation import CLOSE, OPEN, PSEUDO, pseudo_catalogue


def offline_data(html: str) -> dict:
    """The JSON block the check-in page hands to static/js/offline.js."""
    match = re.search(
        r'<script type="application/json" id="offline-data">(.*?)</script>', html, re.S
    )
    assert match, "the check-in page carries no data for the offline script"
    return json.loads(match.group(1))


def test_the_manifest_names_no_patient_and_opens_the_start_page(client, clinic):
    enrolled = factories.gen_episode(clinic)
    page = client.get(f"/p/{enrolled.token}").get_data(as_text=True)
    href = re.search(r'<link rel="manifest" href="([^"]+)"', page).group(1)
    response = client.get(href)
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    assert response.headers["Cache-Control"] == "no-cache"
    manifest = response.get_json()
    assert enrolled.token not in response.get_data(as_text=True)
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == (
        "/p/",
        "/p/",
        "standalone",
    )
    assert manifest["name"] and manifest["short_name"] and manifest["theme_color"].startswith("#")
    sizes = {icon["sizes"]: icon for icon in manifest["icons"]}
    assert {"any", "192x192", "512x512"} <= set(sizes)
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200, icon
        assert image.mimetype == icon["type"]
    assert client.get(sizes["512x512"]["src"]).data.startswith(b"\x89PNG")


def test_the_service_worker_reaches_the_patient_pages_only(client):
    response = client.get("/p/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    # Served from /p/, its scope can be no wider than /p/: staff pages and the API's other
    # addresses are out of its reach, and it asks for no wider one.
    assert "Service-Worker-Allowed" not in response.headers
    script = response.get_data(as_text=True)
    shell = json.loads(re.search(r"^var SHELL = (.*);$", script, re.M).group(1))
    assert any(url.startswith("/static/css/app.css?v=") for url in shell)
    for url in shell:
        assert client.get(url).status_code == 200, url
    assert re.search(r'^var VERSION = "[0-9a-f]{12}";$', script, re.M)
    assert "importScripts(OUTBOX)" in script


def test_a_changed_file_makes_a_new_service_worker(app, client, tmp_path):
    """A new version of a kept file is a new worker, whose version names a new cache."""
    first = client.get("/p/sw.js").get_data(as_text=True)
    static = tmp_path / "static"
    shutil.copytree(app.static_folder, static, ignore=shutil.ignore_patterns("vendor"))
    (static / "css" / "app.css").write_text("body { color: black; }\n")
    app.static_folder = str(static)
    second = client.get("/p/sw.js").get_data(as_text=True)
    version = re.compile(r'^var VERSION = "(\w+)";$', re.M)
    assert version.search(first).group(1) != version.search(second).group(1)


def test_the_start_page_asks_for_the_personal_link(client):
    response = client.get("/p/")
    assert response.status_code == 200
    assert "Open your personal link" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_check_in_page_hands_the_offline_script_its_words_and_addresses(client, clinic):
    clinic.phone = "+44 20 7946 0002"
    db.session.commit()
    enrolled = factories.gen_episode(clinic)
    response = client.get(f"/p/{enrolled.token}")
    html = response.get_data(as_text=True)
    data = offline_data(html)
    assert data["service_worker"] == "/p/sw.js" and data["scope"] == "/p/"
    assert (data["api"], data["episode_api"]) == ("/api/v1/checkins", "/api/v1/episode")
    assert data["clinic_phone"] == "+44 20 7946 0002"
    assert data["text"]["saved"] == "Saved on this phone. It will be sent when you are online."
    assert data["text"]["sent"] == "Sent."
    assert "{pain}" in data["text"]["refused"]
    assert data["text"]["call"] == "Call the clinic: +44 20 7946 0002"
    assert 'id="offline-status"' in html and 'role="status"' in html
    assert re.search(r'<script src="/static/js/offline\.js\?v=\w+" defer>', html)
    # No token in what the page hands the script: it reads its own address.
    assert enrolled.token not in json.dumps(data)


@pytest.fixture
def extra_config(tmp_path) -> dict:
    """The pseudo-language of tests/test_translation.py, beside English."""
    pseudo_catalogue(tmp_path)
    return {"LANGUAGES": ["en", PSEUDO], "BABEL_TRANSLATION_DIRECTORIES": str(tmp_path)}


def test_the_offline_words_are_in_the_patients_language(client, clinic):
    clinic.phone = "+44 20 7946 0002"
    db.session.commit()
    enrolled = factories.gen_episode(clinic)
    enrolled.episode.patient.preferred_language = PSEUDO
    db.session.commit()
    data = offline_data(client.get(f"/p/{enrolled.token}").get_data(as_text=True))
    for name, text in data["text"].items():
        assert text.startswith(OPEN) and text.endswith(CLOSE), name
    start = client.get("/p/", headers={"Accept-Language": PSEUDO}).get_data(as_text=True)
    assert f"{OPEN}Open your personal link{CLOSE}" in start
    manifest = client.get("/p/manifest.webmanifest", headers={"Accept-Language": PSEUDO})
    assert manifest.get_json()["name"].startswith(OPEN)
