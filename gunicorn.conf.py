"""gunicorn's settings for Recovery: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every setting reads the environment first (the GUNICORN_* names below, and WEB_CONCURRENCY for
the number of workers), so a deployment tunes it without editing this file; options on the
command line win over both. Why each value is what it is: docs/deployment.md, "gunicorn".
"""

from __future__ import annotations

import os
import re

from gunicorn.glogging import Logger


def _whole(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise RuntimeError(f"{name} must be a whole number")
    return int(raw)


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise RuntimeError(f"{name} must be 1 (on) or 0 (off)")
    return raw == "1"


def default_workers(cores: int) -> int:
    """One worker process per core, at least 2 and at most 8.

    A request is mostly Python (rules, templates, chart data) that holds the GIL, so only
    processes run it in parallel: more processes than cores only queue for the CPU while each
    holds its own database connections. The threads of each worker cover the waits (the
    database, slow phones, a streamed CSV). Two, so that one worker restarting
    (`max_requests`) never leaves a server without one; eight at most, so that an unset
    WEB_CONCURRENCY on a large machine cannot exhaust PostgreSQL's connections.
    """
    return max(2, min(cores, 8))


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _whole("WEB_CONCURRENCY", default_workers(os.cpu_count() or 1))
# Threads, not one request per process (sync): keep-alive connections from the load balancer
# wait in the worker's poller instead of holding a process, a slow phone or a streamed download
# holds one thread, not one of a handful of processes.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = _whole("GUNICORN_THREADS", 4)

# Seconds. `timeout`: a worker whose main loop is silent this long is killed and replaced.
# `graceful_timeout`: on SIGTERM (a deploy, a scale-down), requests in flight get this long
# to finish. `keepalive`: an idle connection is kept this long, longer than the load
# balancer's own idle timeout (60 s for nginx and the common cloud balancers), so that the
# balancer, never gunicorn, closes it and no request is sent down a connection being closed.
timeout = _whole("GUNICORN_TIMEOUT", 30)
graceful_timeout = _whole("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _whole("GUNICORN_KEEPALIVE", 75)

# A worker is replaced after about this many requests (spread by the jitter, so that the
# workers do not restart together): whatever memory a long life gathers is given back.
max_requests = _whole("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _whole("GUNICORN_MAX_REQUESTS_JITTER", 100)

# The workers' heartbeat files in memory: on a disk, a slow fsync elsewhere can stall them.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# X-Forwarded-For and -Proto are the app's to believe, as many hops as TRUSTED_PROXIES says
# (werkzeug's ProxyFix, recovery/__init__.py): gunicorn is told to believe none of them, so
# one setting decides, and a proxy's claim of HTTPS counts only when TRUSTED_PROXIES trusts it.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "")
secure_scheme_headers: dict[str, str] = {}

# Load the app once in the master, then fork: a configuration the app refuses
# (RECOVERY_ENV=production) stops gunicorn at once with the reason, instead of every worker
# failing in turn, and the workers start faster. A reload then needs a restart (SIGHUP
# re-reads this file but not the code).
preload_app = _flag("GUNICORN_PRELOAD", True)

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Client address (the client's with TRUSTED_PROXIES), time, request line with the patient's
# link hidden, status, bytes, milliseconds, browser. No Referer: it can hold another site's
# path.
access_log_format = os.environ.get(
    "GUNICORN_ACCESS_LOG_FORMAT", '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
)

#: A patient's link in a path: /p/<token> and what follows it. The patient pages' fixed
#: addresses (/p/, the offline start page's manifest and service worker) hold no token.
PATIENT_LINK = re.compile(
    r"(/p/)(?!(?:sw\.js|manifest\.webmanifest)(?:[/?#\s]|$))[^/?#\s]+", re.IGNORECASE
)
#: Headers that carry a credential (an API or patient token, a session cookie), as request
#: headers ({authorization}i), response headers ({set-cookie}o) or WSGI variables
#: ({http_authorization}e).
CREDENTIALS = ("authorization", "cookie")


def redact(text: str) -> str:
    """`text` (a path, a request line, a URL) with each patient link's token replaced by
    `<token>`, as the app's own logs name the route."""
    return PATIENT_LINK.sub(r"\1<token>", text)


class RedactingLogger(Logger):
    """gunicorn's logger, but the access log never holds a patient's link nor a credential,
    whatever `access_log_format` asks for: the link is the patient's only key
    (docs/security.md), and a log is read by more people than the database."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if isinstance(value, str) and "/" in value:
                atoms[name] = redact(value)
        for name in [n for n in atoms if any(word in n for word in CREDENTIALS)]:
            del atoms[name]
        return atoms


logger_class = RedactingLogger


def post_fork(server, worker):
    """A worker starts with no database connection of the master's: a connection shared by
    two processes would mix their conversations with PostgreSQL. (The master opens none while
    loading the app; this makes sure.) Redis clients reconnect after a fork by themselves."""
    if not server.cfg.preload_app:
        return
    from recovery.extensions import db

    app = server.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)
