"""Forms over HTTPS: gunicorn with a certificate, and the app behind a TLS-terminating proxy.

Over HTTPS Flask-WTF also checks that the Referer is this origin, so the Referrer-Policy must let
the browser send the origin, and never the path: the patient's link token is in it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from recovery.care.models import PainEntry
from recovery.extensions import db
from tests import factories
from tests.browser.conftest import PHONE, PageWatch
from tests.servers import gunicorn, self_signed_certificate

SECRET_KEY = "https-test"


@pytest.fixture
def extra_config() -> dict:
    """As deployed behind nginx: CSRF on, one trusted proxy, Secure cookies."""
    return {"WTF_CSRF_ENABLED": True, "TRUSTED_PROXIES": 1, "SESSION_COOKIE_SECURE": True}


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1: (certificate, key)."""
    return self_signed_certificate(tmp_path)


@pytest.fixture
def https_server(app, certificate, tmp_path):
    """The app in two gunicorn workers serving HTTPS, on the test's database; its base URL."""
    with gunicorn(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path,
        secret_key=SECRET_KEY,
        certificate=certificate,
        env={"SESSION_COOKIE_SECURE": "1"},
    ) as url:
        yield url


@pytest.fixture
def tls_context(browser):
    """A browser context that accepts the throwaway certificate; every request it makes.

    Chromium refuses a service worker's script under a certificate it does not trust, even
    here: the check-in page's worker is left out (tests/browser/test_offline.py has it).
    """
    context = browser.new_context(
        ignore_https_errors=True, viewport=PHONE, is_mobile=True, service_workers="block"
    )
    context.requests = []
    context.on("request", lambda request: context.requests.append(request))
    yield context
    context.close()


def referers(context) -> set[str]:
    """Every Referer the browser sent (Playwright shows a withheld one as empty)."""
    return {r.all_headers().get("referer") for r in context.requests} - {None, ""}


def test_nurse_signs_in_over_https(app, https_server, tls_context):
    clinic = factories.gen_clinic()
    nurse = factories.gen_staff(clinic)
    factories.gen_episode(clinic, name="Tls Tabitha")
    page = tls_context.new_page()
    page.watch = PageWatch(page)

    login_page = page.goto(f"{https_server}/login")
    page.get_by_label("Email").fill(nurse.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_label("Keep me signed in on this device").check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Worklist")
    assert page.url == f"{https_server}/staff/"
    expect(page.locator("#episodes")).to_contain_text("Tls Tabitha")

    assert login_page.headers["referrer-policy"] == "strict-origin"
    assert login_page.headers["strict-transport-security"] == "max-age=31536000"

    cookies = {c["name"]: c for c in tls_context.cookies()}
    for name in ("session", "remember_token", "recovery_device"):
        assert cookies[name]["secure"] and cookies[name]["httpOnly"], name
    assert referers(tls_context) == {f"{https_server}/"}
    assert page.watch.problems == []


def test_patient_checks_in_over_https(app, https_server, tls_context):
    enrolled = factories.gen_episode(factories.gen_clinic())
    page = tls_context.new_page()
    page.watch = PageWatch(page)

    page.goto(f"{https_server}/p/{enrolled.token}")
    page.locator("label[for=pain-3]").click()
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("h1")).to_have_text("You are on track.")
    assert re.search(r"/entries/\d+$", page.url)
    expect(page.locator(".pchart__scores")).to_contain_text("3 out of 10")
    # Compressed by the app itself, as gunicorn serves it (no proxy in front).
    [result] = [r for r in tls_context.requests if r.url == page.url]
    assert result.response().all_headers()["content-encoding"] in {"br", "zstd", "gzip"}

    db.session.rollback()  # see what the server processes committed
    assert db.session.scalars(db.select(PainEntry.pain)).all() == [3]
    # The result page loads its styles and icons: none may learn the link.
    sent = referers(tls_context)
    assert sent and not any(enrolled.token in value for value in sent)
    assert sent == {f"{https_server}/"}
    assert page.watch.problems == []


# --- Behind a TLS-terminating proxy (TRUSTED_PROXIES=1) ------------------------------------

FROM_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
# What a browser sends under Referrer-Policy: strict-origin, from any page of this site.
BROWSER_REFERER = "https://localhost/"


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_sign_in_behind_the_proxy_with_the_origin_as_referer(client, nurse):
    page = client.get("/login", headers=FROM_PROXY)
    assert page.headers["Referrer-Policy"] == "strict-origin"
    form = {"email": nurse.email, "password": factories.PASSWORD}
    form["csrf_token"] = csrf_token(page.get_data(as_text=True))

    response = client.post("/login", data=form, headers={**FROM_PROXY, "Referer": BROWSER_REFERER})
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    assert response.headers["Referrer-Policy"] == "strict-origin"
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.parametrize("referer", [None, "https://evil.example/", "http://localhost/"])
def test_behind_the_proxy_a_missing_or_foreign_referer_is_still_refused(client, nurse, referer):
    page = client.get("/login", headers=FROM_PROXY)
    form = {"email": nurse.email, "password": factories.PASSWORD}
    form["csrf_token"] = csrf_token(page.get_data(as_text=True))
    headers = FROM_PROXY if referer is None else {**FROM_PROXY, "Referer": referer}

    response = client.post("/login", data=form, headers=headers)
    assert response.status_code == 400
    assert "This form could not be sent" in response.get_data(as_text=True)
