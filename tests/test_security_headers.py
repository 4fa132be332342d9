"""Cookies follow SESSION_COOKIE_SECURE; HSTS over HTTPS; the Referrer-Policy everywhere."""

import pytest

from recovery.config import hsts_max_age
from tests import factories

HTTPS = "https://localhost"
ONE_YEAR = "max-age=31536000"


@pytest.fixture
def environment() -> dict[str, str]:
    """Environment variables set before the app is built; a test parametrizes it to change."""
    return {}


@pytest.fixture
def extra_config(environment, monkeypatch) -> dict:
    """No extra configuration: the environment is what these tests vary."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return {}


def cookies_set(response) -> dict[str, list[str]]:
    """The cookies a response sets, by name, each with its attributes in lower case."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        found[name] = [part.strip().lower() for part in rest.split(";")[1:]]
    return found


def sign_in_remembered(client, nurse):
    form = {"email": nurse.email, "password": factories.PASSWORD, "remember": "y"}
    response = client.post("/login", data=form, base_url=HTTPS)
    assert response.status_code == 302
    return cookies_set(response)


@pytest.mark.parametrize("environment", [{"SESSION_COOKIE_SECURE": "1"}])
def test_every_cookie_is_secure_and_http_only_with_the_setting(client, nurse):
    cookies = sign_in_remembered(client, nurse)
    assert set(cookies) == {"session", "remember_token", "recovery_device"}
    for name, attributes in cookies.items():
        assert {"secure", "httponly", "samesite=lax"} <= set(attributes), name


@pytest.mark.parametrize("environment", [{"SESSION_COOKIE_SECURE": "0"}])
def test_without_the_setting_cookies_are_http_only_but_not_secure(client, nurse):
    cookies = sign_in_remembered(client, nurse)
    for name, attributes in cookies.items():
        assert "httponly" in attributes and "secure" not in attributes, name


def test_hsts_on_https_for_a_year(client, enrolled):
    for path in ("/login", f"/p/{enrolled.token}", "/healthz", "/no/such/page"):
        response = client.get(path, base_url=HTTPS)
        assert response.headers["Strict-Transport-Security"] == ONE_YEAR, path


def test_no_hsts_over_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_no_hsts_in_debug(app, client):
    app.debug = True
    assert "Strict-Transport-Security" not in client.get("/login", base_url=HTTPS).headers


@pytest.mark.parametrize("environment", [{"HSTS_MAX_AGE": "0"}])
def test_hsts_max_age_0_turns_it_off(client):
    assert "Strict-Transport-Security" not in client.get("/login", base_url=HTTPS).headers


@pytest.mark.parametrize("environment", [{"HSTS_MAX_AGE": "600"}])
def test_hsts_max_age_is_configurable(client):
    response = client.get("/login", base_url=HTTPS)
    assert response.headers["Strict-Transport-Security"] == "max-age=600"


def test_hsts_max_age_is_a_year_unless_set():
    assert hsts_max_age(None) == hsts_max_age("") == 31536000


@pytest.mark.parametrize("bad", ["-1", "1y", "1.5"])
def test_hsts_max_age_must_be_whole_seconds(bad):
    with pytest.raises(RuntimeError, match="HSTS_MAX_AGE"):
        hsts_max_age(bad)


def test_only_the_origin_is_ever_sent_as_referer(client, enrolled):
    # The patient's token is in these paths: a browser must never send them as Referer.
    paths = ("/login", f"/p/{enrolled.token}", "/api/v1/episode", "/static/favicon.svg")
    for path in paths:
        with client.get(path, headers=enrolled.headers) as response:
            assert response.headers["Referrer-Policy"] == "strict-origin", path
