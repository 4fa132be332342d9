"""Configuration: defaults, then the environment, then the test overrides."""

import json
import os
import secrets
import uuid
from datetime import timedelta
from pathlib import Path

from babel import Locale, UnknownLocaleError


def database_url(raw: str | None, instance_path: str) -> str:
    """Return the SQLAlchemy URL: `raw` normalised to psycopg 3, or the SQLite default."""
    if not raw:
        return "sqlite:///" + str(Path(instance_path) / "recovery.sqlite3")
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def development_secret_key(instance_path: str) -> str:
    """Read the secret key kept in `instance/`, generating it on first use."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def fhir_procedure_coding(raw: str | None) -> list[dict[str, str]]:
    """FHIR_PROCEDURE_CODING: a JSON list of codings, each with string `system` and `code`."""
    if not raw:
        return []
    problem = "FHIR_PROCEDURE_CODING must be a JSON list of objects with string system and code"
    try:
        codings = json.loads(raw)
    except ValueError:
        raise RuntimeError(problem) from None
    if not isinstance(codings, list) or not all(
        isinstance(c, dict)
        and all(isinstance(v, str) for v in c.values())
        and {"system", "code"} <= set(c)
        and set(c) <= {"system", "code", "display", "version"}
        for c in codings
    ):
        raise RuntimeError(problem)
    return codings


def fhir_id_namespace(raw: str | None) -> str:
    """FHIR_ID_NAMESPACE: a UUID, or empty (then derived from PUBLIC_BASE_URL)."""
    if not raw:
        return ""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise RuntimeError("FHIR_ID_NAMESPACE must be a UUID") from None


def trusted_proxies(raw: str | None) -> int:
    """TRUSTED_PROXIES: how many reverse proxies in front of the app set X-Forwarded-*."""
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > 5:
        raise RuntimeError("TRUSTED_PROXIES must be a whole number from 0 to 5")
    return int(raw)


def hsts_max_age(raw: str | None) -> int:
    """HSTS_MAX_AGE: seconds browsers keep to HTTPS after a visit; one year unless set, 0 is off."""
    if not raw:
        return 365 * 24 * 3600
    if not raw.isdigit():
        raise RuntimeError("HSTS_MAX_AGE must be a whole number of seconds (0 turns HSTS off)")
    return int(raw)


def languages(raw: str | None) -> list[str]:
    """LANGUAGES: the language codes offered, comma-separated; English and Spanish unless set.

    A page is in English (BABEL_DEFAULT_LOCALE) when neither the patient nor the browser
    picks one of them."""
    codes = [c.strip() for c in (raw or "en,es").split(",") if c.strip()]
    for code in codes:
        try:
            Locale.parse(code)
        except (ValueError, UnknownLocaleError):
            raise RuntimeError(f"LANGUAGES: {code!r} is not a language code") from None
    return codes or ["en"]


def whole_number(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    """A setting that is a whole number from `low` to `high`; `default` when unset."""
    raw = (raw or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise RuntimeError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def flag(name: str, raw: str | None, default: bool) -> bool:
    """A setting that is 1 (on) or 0 (off)."""
    if raw is None or raw == "":
        return default
    if raw not in ("0", "1"):
        raise RuntimeError(f"{name} must be 1 (on) or 0 (off)")
    return raw == "1"


def smtp_url(raw: str | None) -> str:
    """SMTP_URL: smtp://user:password@host:587 or smtps://..., or empty (no email)."""
    if not raw:
        return ""
    from .care.senders import SmtpServer

    try:
        SmtpServer.from_url(raw)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    return raw


#: RECOVERY_ENV's values: "development" (the default) or "production" (docs/security.md).
ENVIRONMENTS = ("development", "production")


def recovery_env(raw: str | None) -> str:
    """RECOVERY_ENV: "development" unless set; "production" refuses unsafe settings."""
    env = (raw or "development").strip().lower()
    if env not in ENVIRONMENTS:
        raise RuntimeError(f"RECOVERY_ENV must be one of {', '.join(ENVIRONMENTS)}")
    return env


def prepare_threshold(raw: str | None) -> int | None:
    """DATABASE_PREPARE_THRESHOLD: after how many runs on a connection psycopg prepares a
    statement on the server (5 unless set); `off` never, as PgBouncer before 1.21 needs in
    transaction mode."""
    raw = (raw or "").strip().lower()
    if raw == "off":
        return None
    return whole_number("DATABASE_PREPARE_THRESHOLD", raw, 5, 0, 1000)


def engine_options(env) -> dict:
    """SQLAlchemy's engine options for PostgreSQL, from DATABASE_POOL_* (docs/deployment.md).

    Each server process keeps its own pool: `pool_size` connections held open and up to
    `max_overflow` more for a burst, so one process may hold their sum. A request that finds
    them all busy waits `pool_timeout` seconds, then answers 503. A connection is replaced
    after `pool_recycle` seconds, and tested before use (`pool_pre_ping`) so that one a
    firewall or a database restart cut is never handed to a request. DATABASE_PREPARE_THRESHOLD
    is psycopg's `prepare_threshold`, passed on only when set.
    """
    options = {
        "pool_size": whole_number("DATABASE_POOL_SIZE", env("DATABASE_POOL_SIZE"), 5, 1, 100),
        "max_overflow": whole_number(
            "DATABASE_MAX_OVERFLOW", env("DATABASE_MAX_OVERFLOW"), 5, 0, 100
        ),
        "pool_timeout": whole_number(
            "DATABASE_POOL_TIMEOUT", env("DATABASE_POOL_TIMEOUT"), 10, 1, 300
        ),
        "pool_recycle": whole_number(
            "DATABASE_POOL_RECYCLE", env("DATABASE_POOL_RECYCLE"), 1800, 60, 24 * 3600
        ),
        "pool_pre_ping": flag("DATABASE_POOL_PRE_PING", env("DATABASE_POOL_PRE_PING"), True),
        # A failed statement is logged without its parameters (a patient's pain, notes).
        "hide_parameters": True,
    }
    if (env("DATABASE_PREPARE_THRESHOLD") or "").strip():
        threshold = prepare_threshold(env("DATABASE_PREPARE_THRESHOLD"))
        options["connect_args"] = {"prepare_threshold": threshold}
    return options


def production_problems(config, *, secret_key_given: bool) -> list[str]:
    """What a production configuration must fix before the app may start (empty: nothing).

    Each names the setting to change. `secret_key_given`: SECRET_KEY came from the
    environment (or the caller's configuration), not from the development fallback kept in
    `instance/secret_key`.
    """
    problems = []
    if not secret_key_given:
        problems.append("set SECRET_KEY in the environment (a long random value)")
    if config.get("DEBUG"):
        problems.append("turn debug off (unset FLASK_DEBUG, do not run with --debug)")
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("set SESSION_COOKIE_SECURE=1 (serve the app over HTTPS)")
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite") and not config.get(
        "ALLOW_SQLITE_IN_PRODUCTION"
    ):
        problems.append(
            "set DATABASE_URL to a PostgreSQL database (or ALLOW_SQLITE_IN_PRODUCTION=1)"
        )
    # Counted in memory, failed sign-ins are counted by each server process on its own: with
    # eight workers an account takes eight times the guesses it should.
    if str(config["RATELIMIT_STORAGE_URL"]).startswith("memory://") and not config.get(
        "ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION"
    ):
        problems.append(
            "set RATELIMIT_STORAGE_URL to a Redis server, redis://host:6379/0 "
            "(or ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION=1 for a single server process)"
        )
    return problems


def load_config(app, test_config: dict | None) -> None:
    """Fill `app.config` from defaults, the environment and `test_config`.

    With RECOVERY_ENV=production, a configuration that is unsafe to serve patients with is
    refused with a RuntimeError naming each setting to fix (`production_problems`).
    """
    secure_cookies = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    production = recovery_env(os.environ.get("RECOVERY_ENV")) == "production"
    env = os.environ.get
    # Staff sessions (recovery.care.sessions): idle timeout, length, "keep me signed in".
    remember_days = whole_number("REMEMBER_DAYS", env("REMEMBER_DAYS"), 14, 1, 14)
    session_hours = whole_number("SESSION_HOURS", env("SESSION_HOURS"), 12, 1, 24)
    app.config.from_mapping(
        RECOVERY_ENV=recovery_env(os.environ.get("RECOVERY_ENV")),
        ALLOW_SQLITE_IN_PRODUCTION=os.environ.get("ALLOW_SQLITE_IN_PRODUCTION", "0") == "1",
        ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION=flag(
            "ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION",
            env("ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION"),
            False,
        ),
        # New entries one episode takes in an hour, whoever sends them (0: no limit).
        ENTRIES_PER_EPISODE_PER_HOUR=whole_number(
            "ENTRIES_PER_EPISODE_PER_HOUR", env("ENTRIES_PER_EPISODE_PER_HOUR"), 20, 0, 10_000
        ),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(env),
        # A patient may leave the check-in page open for hours before answering.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        # Flask-Login's "keep me signed in" cookie outlives the session: the same protections.
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_DURATION=timedelta(days=remember_days),
        REMEMBER_DAYS=remember_days,
        SESSION_HOURS=session_hours,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
        IDLE_TIMEOUT_MINUTES=whole_number(
            "IDLE_TIMEOUT_MINUTES", env("IDLE_TIMEOUT_MINUTES"), 30, 5, 24 * 60
        ),
        # The warning before an idle sign-out (static/js/idle.js).
        IDLE_WARNING_SECONDS=120,
        # Administrators must set up a second factor; on by default in production.
        REQUIRE_ADMIN_2FA=flag("REQUIRE_ADMIN_2FA", env("REQUIRE_ADMIN_2FA"), production),
        HSTS_MAX_AGE=hsts_max_age(os.environ.get("HSTS_MAX_AGE")),
        BABEL_DEFAULT_LOCALE="en",
        # Catalogues live at the top of the repository, where `make messages` writes.
        BABEL_TRANSLATION_DIRECTORIES=str(Path(app.root_path).parent / "translations"),
        # Each needs its catalogue in translations/ (docs/translation.md); English needs none.
        LANGUAGES=languages(os.environ.get("LANGUAGES")),
        DEFAULT_TIMEZONE="Europe/London",
        PUBLIC_BASE_URL=os.environ.get("PUBLIC_BASE_URL", ""),
        # Counters of failed sign-ins: memory:// is per process (refused in production unless
        # allowed); redis:// shares them between processes and servers.
        RATELIMIT_STORAGE_URL=os.environ.get("RATELIMIT_STORAGE_URL", "memory://"),
        # Progressive waits (recovery.web.throttle): failures per account from devices it has
        # not signed in on, per network address, and per device it has signed in on.
        LOGIN_FAILURES_PER_ACCOUNT="5 per minute; 10 per 15 minutes; 20 per hour",
        LOGIN_FAILURES_PER_ADDRESS="20 per minute; 100 per hour",
        LOGIN_FAILURES_PER_DEVICE="5 per minute; 10 per 15 minutes; 20 per hour",
        # How StaffUser.set_password hashes (werkzeug's generate_password_hash `method`):
        # scrypt, werkzeug's default. Only the tests' configuration makes it cheap.
        PASSWORD_HASH_METHOD="scrypt",
        TRUSTED_PROXIES=trusted_proxies(os.environ.get("TRUSTED_PROXIES")),
        FHIR_ID_NAMESPACE=fhir_id_namespace(os.environ.get("FHIR_ID_NAMESPACE")),
        FHIR_MRN_SYSTEM=os.environ.get("FHIR_MRN_SYSTEM", ""),
        FHIR_PROCEDURE_CODING=fhir_procedure_coding(os.environ.get("FHIR_PROCEDURE_CODING")),
        # Reaching people (recovery.care.senders): email, text messages, and the demo's console.
        SMTP_URL=smtp_url(os.environ.get("SMTP_URL")),
        MAIL_FROM=os.environ.get("MAIL_FROM", ""),
        SMTP_TIMEOUT=float(os.environ.get("SMTP_TIMEOUT") or 10),
        SMTP_CA_FILE=os.environ.get("SMTP_CA_FILE", ""),
        SMS_URL=os.environ.get("SMS_URL", ""),
        NOTIFY_CONSOLE=os.environ.get("NOTIFY_CONSOLE", "0") == "1",
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(
        os.environ.get("DATABASE_URL"), app.instance_path
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY")
    if app.config["RECOVERY_ENV"] == "production":
        problems = production_problems(
            app.config, secret_key_given=bool(app.config.get("SECRET_KEY"))
        )
        if problems:
            raise RuntimeError(
                "RECOVERY_ENV=production refuses to start: " + "; ".join(problems) + "."
            )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = development_secret_key(app.instance_path)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        # SQLite has no pool worth pinging and shares one file between threads.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"timeout": 15},
            "hide_parameters": True,
        }
