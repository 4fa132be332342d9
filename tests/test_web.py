"""App-wide behaviour: health check, security headers, error pages, no inline code."""

import re
from pathlib import Path

import pytest
from flask import url_for

from recovery import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3",
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


def test_strict_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_no_inline_script_style_or_cdn(path):
    html = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"(src|href)=[\"']https?://", html)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"<h1>Page not found</h1>" in response.data
    assert b"There is no page at this address." in response.data


def test_secret_key_is_generated_once_into_instance(tmp_path, monkeypatch):
    from recovery.config import development_secret_key

    first = development_secret_key(str(tmp_path))
    assert len(first) == 64
    assert development_secret_key(str(tmp_path)) == first


def test_database_url_is_normalised_for_psycopg():
    from recovery.config import database_url

    assert database_url("postgres://u@h/d", "/i") == "postgresql+psycopg://u@h/d"
    assert database_url("postgresql://u@h/d", "/i") == "postgresql+psycopg://u@h/d"
    assert database_url(None, "/i") == "sqlite:////i/recovery.sqlite3"


STATIC_URL = re.compile(r'(?:href|src)="(/static/[^"?]+)\?v=([0-9a-f]{12})"')


def test_static_files_are_fingerprinted_and_cached_for_a_year(client, enrolled):
    token = enrolled.token
    page = client.get(f"/p/{token}").get_data(as_text=True)
    assets = STATIC_URL.findall(page)
    assert {"/static/css/app.css", "/static/favicon.svg"} <= {path for path, _ in assets}
    for path, version in assets:
        with client.get(f"{path}?v={version}") as response:
            assert response.status_code == 200
            assert response.cache_control.max_age == 365 * 24 * 3600
            assert response.cache_control.immutable
            assert response.data == (ROOT / path.lstrip("/")).read_bytes()


def test_a_stale_or_missing_fingerprint_is_revalidated(client):
    for url in ("/static/css/app.css", "/static/css/app.css?v=000000000000"):
        with client.get(url) as response:
            assert response.status_code == 200
            assert response.cache_control.no_cache
            assert response.cache_control.max_age is None


def test_fingerprint_follows_the_file(app, tmp_path):
    (tmp_path / "a.js").write_text("one")
    app.static_folder = str(tmp_path)
    with app.test_request_context():
        first = url_for("static", filename="a.js")
        (tmp_path / "a.js").write_text("two, longer")
        second = url_for("static", filename="a.js")
    assert first != second and first.startswith("/static/a.js?v=")


def test_api_answers_are_not_cached(client, enrolled):
    response = client.get("/api/v1/episode", headers=enrolled.headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
