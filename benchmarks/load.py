"""Load over HTTP: the app in gunicorn, beside the bare endpoint, on seeded databases.

For each engine, two databases are seeded as the in-process benchmarks seed theirs
(`seed.seed_all`: 1,000 and 10,000 active episodes), and three servers started with the same
settings (`servers.Gunicorn`, `workers` each): the app on each database and the bare endpoint
(`benchmarks.bare`) on the larger. Then, `runs` times over, so that every figure is the median
of `runs` and the figures compared are taken side by side:

- check-ins: at each number of clients, the bare endpoint and then the app's
  `POST /api/v1/checkins`, each a load of `warmup` + `duration` seconds (`loadgen`);
- the worklist (`GET /staff/`) and the episode page (`GET /staff/episodes/<id>`, 40 entries) at
  both sizes, at each number of page clients, every client signed in as a nurse of its own.

Then, on the larger database: the time from a red-flag check-in to its alert on a worklist that
polls as static/js/worklist.js does, and `flask --app wsgi recovery tick` as a subprocess (the
first run, which catches up on every episode, then `runs` more).
"""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from http.cookiejar import CookieJar
from pathlib import Path

from sqlalchemy.engine import make_url

from recovery import ROOT
from recovery.care.models import Clinic, Episode, StaffUser
from recovery.extensions import db

from . import seed, web
from .loadgen import run_load, summary
from .servers import Gunicorn

#: The browser's polling interval, read from the page's own script.
WORKLIST_JS = ROOT / "static" / "js" / "worklist.js"
#: What a browser accepts: pages are compressed by the app as they would be for a nurse.
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml",
    "Accept-Encoding": "gzip, deflate, br, zstd",
}
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
LIVE_CURSOR = re.compile(r'data-live-cursor="([^"]*)"')
#: The red flag of the alert check-ins: an emergency, so it heads the worklist's open alerts.
ALERT_FLAG = "chest_pain"


@dataclass
class Options:
    """How much to measure (`python -m benchmarks.run --help` names each)."""

    workers: int = 4
    runs: int = 3
    warmup: float = 1.0
    duration: float = 4.0
    clients: tuple[int, ...] = (1, 10, 50)
    page_clients: tuple[int, ...] = (1, 5)
    sizes: tuple[int, ...] = (1_000, 10_000)
    #: Episodes with 20 entries that take the app's check-ins, in turn: enough that none
    #: reaches ENTRIES_PER_EPISODE_PER_HOUR during a run.
    checkin_episodes: int = 1_000
    alert_samples: int = 6
    seed: int = 2026


@dataclass
class Database:
    """One seeded database and what the loads need to know about it."""

    size: int
    url: str
    version: str = ""
    episode_40_id: int = 0
    app_tokens: list[str] = field(default_factory=list)
    bare_tokens: list[str] = field(default_factory=list)
    alert_episodes: list[tuple[int, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def poll_interval() -> float:
    """Seconds between a worklist's polls (POLL_MS in static/js/worklist.js)."""
    return int(re.search(r"POLL_MS = (\d+)", WORKLIST_JS.read_text()).group(1)) / 1000


def database_urls(label: str, url: str, workdir: Path, sizes) -> dict[int, str]:
    """One database per size: SQLite files in `workdir`, PostgreSQL databases named after
    `url`'s (so they too contain "bench")."""
    if label == "sqlite":
        return {n: f"sqlite:///{workdir / f'load-{n}.sqlite3'}" for n in sizes}
    base = make_url(url)
    return {
        n: base.set(database=f"{base.database}_load_{n}").render_as_string(hide_password=False)
        for n in sizes
    }


def prepare(url: str, size: int, now: datetime, options: Options, *, full: bool) -> Database:
    """Build and seed one database; with `full`, also the check-in and alert episodes."""
    if url.startswith("postgresql"):
        web.ensure_postgres_database(url)
    else:
        path = Path(make_url(url).database)
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)
    app = web.make_app(url)
    web.build_schema(app)
    found = Database(size, url, version=web.database_version(app))
    with app.app_context():
        seeded = seed.seed_all(
            now, active=size, closed=size // 10, other_clinic=size // 5, seed=options.seed
        )
        found.episode_40_id = seeded.episode_40_id
        found.rows = seeded.rows
        if full:
            # The bare endpoint takes no entry limit: the seeded check-in episodes do for it.
            found.bare_tokens = [token for _, token in seeded.checkin_episodes]
            # A copy as the template: copies of it get record numbers of their own.
            template = db.session.get(Episode, seeded.checkin_episodes[-1][0])
            copies = seed.copy_episode(template, options.checkin_episodes)
            found.app_tokens = [token for _, token in copies]
            clinic = db.session.get(Clinic, seeded.clinic_id)
            nurse = db.session.scalar(db.select(StaffUser).filter_by(email=seed.NURSE_EMAIL))
            rng = random.Random(options.seed)
            for n in range(options.alert_samples):
                episode, token = seed.enrol_with_entries(
                    clinic, nurse, name=f"Alert Probe {n}", entries=20, days=30, now=now, rng=rng
                )
                found.alert_episodes.append((episode.id, token))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return found


def sign_in(base_url: str) -> str:
    """Sign in as the bench nurse through the login form; the Cookie header of the session."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base_url}/login", timeout=30) as response:
        token = CSRF_FIELD.search(response.read().decode()).group(1)
    form = {"email": seed.NURSE_EMAIL, "password": seed.PASSWORD, "csrf_token": token}
    with opener.open(
        f"{base_url}/login", data=urllib.parse.urlencode(form).encode(), timeout=30
    ) as response:
        if not response.geturl().endswith("/staff/"):
            raise RuntimeError(f"signing in did not reach the worklist: {response.geturl()}")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def checkin_requests(tokens: list[str], path: str) -> list[dict]:
    """One check-in per token, in turn; "{n}" makes each idempotency key new."""
    return [
        {
            "method": "POST",
            "path": path,
            "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            "body": '{"pain": 3, "idempotency_key": "load-{n}"}',
        }
        for token in tokens
    ]


class Engine:
    """One engine's servers and loads; every answer is kept in `results`."""

    def __init__(self, label: str, databases: dict[int, Database], workdir: Path, options):
        self.label = label
        self.databases = databases
        self.large = databases[max(databases)]
        self.workdir = workdir
        self.options = options
        self.servers: dict[str, Gunicorn] = {}
        self.urls: dict[str, str] = {}
        self.cookies: dict[int, list[str]] = {}
        self.sent: dict[str, int] = {}
        self.results: list[dict] = []

    def start(self) -> None:
        """The app on each database and the bare endpoint on the larger, then sign-ins."""
        env = {"RECOVERY_ENV": "development", "SESSION_COOKIE_SECURE": "0"}
        targets = {f"app-{n}": ("wsgi:app", d.url) for n, d in self.databases.items()}
        targets["bare"] = ("benchmarks.bare:app", self.large.url)
        for name, (app, url) in targets.items():
            server = Gunicorn(
                url,
                self.workdir,
                workers=self.options.workers,
                secret_key="bench-load",
                env=env,
                app=app,
                log_name=f"gunicorn-{self.label}-{name}.log",
                start_seconds=60,
            )
            self.servers[name] = server
            self.urls[name] = server.start()
        most = max(self.options.page_clients)
        for n in self.databases:
            self.cookies[n] = [sign_in(self.urls[f"app-{n}"]) for _ in range(most + 1)]

    def stop(self) -> None:
        """Stop every server started."""
        for server in self.servers.values():
            server.stop()

    def load(self, kind: str, target: str, size: int, clients: int, run: int, requests, **spec):
        """One load; its summary joins `results`."""
        answer = run_load(
            {
                "url": self.urls[target],
                "clients": clients,
                "warmup": self.options.warmup,
                "duration": self.options.duration,
                "offset": self.sent.get(target, 0),
                "requests": requests,
                **spec,
            }
        )
        self.sent[target] = self.sent.get(target, 0) + answer["issued"]
        result = {
            "engine": self.label,
            "kind": kind,
            "target": target,
            "size": size,
            "clients": clients,
            "run": run,
            **summary(answer),
            "statuses": answer["statuses"],
            "generator_cpu": answer["cpu_share"],
            "latencies_ms": answer["latencies_ms"],
        }
        self.results.append(result)
        flag = f"  {result['errors']} ERRORS {answer['statuses']}" if result["errors"] else ""
        print(
            f"  {self.label:<10} {kind:<9} {target:<10} {size:>6,d} {clients:>3d} clients  "
            f"{result['throughput']:7.1f}/s  p50 {result['p50'] or 0:7.1f}  "
            f"p95 {result['p95'] or 0:7.1f}  p99 {result['p99'] or 0:7.1f} ms{flag}",
            flush=True,
        )
        return result

    def checkins(self, run: int) -> None:
        """The bare endpoint, then the app, at each number of clients."""
        size = self.large.size
        for clients in self.options.clients:
            bare = checkin_requests(self.large.bare_tokens, "/checkin")
            self.load("checkin", "bare", size, clients, run, bare)
            app = checkin_requests(self.large.app_tokens, "/api/v1/checkins")
            self.load("checkin", f"app-{size}", size, clients, run, app)

    def pages(self, run: int) -> None:
        """The worklist and the episode page at each size and number of clients."""
        for size, database in self.databases.items():
            paths = {"worklist": "/staff/", "episode": f"/staff/episodes/{database.episode_40_id}"}
            for kind, path in paths.items():
                request = {"method": "GET", "path": path, "headers": BROWSER_HEADERS}
                for clients in self.options.page_clients:
                    cookies = [{"Cookie": c} for c in self.cookies[size][:clients]]
                    self.load(
                        kind, f"app-{size}", size, clients, run, [request], client_headers=cookies
                    )

    def alert_latency(self) -> None:
        """Red-flag check-ins, each at a random moment of a worklist's polling; the seconds
        until that worklist shows the episode among its open alerts."""
        size = self.large.size
        base = self.urls[f"app-{size}"]
        cookie = self.cookies[size][-1]
        interval = poll_interval()
        for n, (episode_id, token) in enumerate(self.large.alert_episodes):
            poller = WorklistPoller(base, cookie, episode_id, interval)
            poller.start()
            time.sleep(interval * (1 + random.Random(n).random()))
            sent = time.perf_counter()
            status = post_checkin(base, token, {"pain": 8, "red_flags": [ALERT_FLAG]}, n)
            seen = poller.wait(timeout=30)
            seconds = None if seen is None or status != 201 else seen - sent
            self.results.append(
                {
                    "engine": self.label,
                    "kind": "alert",
                    "target": f"app-{size}",
                    "size": size,
                    "clients": 1,
                    "run": n,
                    "seconds": seconds,
                    "status": status,
                    "polls": poller.polls,
                    "errors": 0 if seconds is not None else 1,
                }
            )
            shown = "not seen in 30 s" if seconds is None else f"{seconds:.2f} s"
            print(
                f"  {self.label:<10} alert     check-in {status} -> worklist: {shown}", flush=True
            )

    def tick(self) -> None:
        """`flask --app wsgi recovery tick` on the larger database: the first run, then more."""
        size = self.large.size
        environment = dict(self.servers["bare"].environment)
        for n in range(self.options.runs + 1):
            started = time.perf_counter()
            done = subprocess.run(
                [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "recovery", "tick"],
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            seconds = time.perf_counter() - started
            report = (
                json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
            )
            self.results.append(
                {
                    "engine": self.label,
                    "kind": "tick-first" if n == 0 else "tick",
                    "target": "flask recovery tick",
                    "size": size,
                    "clients": 1,
                    "run": n,
                    "seconds": seconds,
                    "report": report,
                    "errors": 0 if done.returncode == 0 else 1,
                }
            )
            which = "first run" if n == 0 else "run after"
            problem = "" if done.returncode == 0 else f" FAILED: {done.stderr[-500:]}"
            print(f"  {self.label:<10} tick      {which}: {seconds:.2f} s {report}{problem}")


def post_checkin(base_url: str, token: str, body: dict, n: int) -> int:
    """POST one check-in to the app; its HTTP status."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/checkins",
        data=json.dumps({**body, "idempotency_key": f"alert-{n}"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


class WorklistPoller(threading.Thread):
    """A nurse's open worklist, as static/js/worklist.js runs it: every `interval` seconds,
    unless the last poll is still going, ask /staff/changes whether anything changed since
    the page's cursor; when it did, fetch the page again. `wait` gives the moment (perf
    counter) the page first listed `episode_id` among its open alerts as an emergency."""

    def __init__(self, base_url: str, cookie: str, episode_id: int, interval: float):
        super().__init__(daemon=True)
        self.base_url, self.episode_id, self.interval = base_url, episode_id, interval
        self.headers = {"Cookie": cookie, "X-Recovery-Background": "1"}
        self.seen_at: float | None = None
        self.polls = 0
        self.stopping = threading.Event()
        self.cursor = self._page()

    def _get(self, path: str, accept: str) -> str:
        request = urllib.request.Request(
            self.base_url + path, headers={**self.headers, "Accept": accept}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def _page(self) -> str:
        """Fetch the worklist; its cursor (and whether it shows the alert)."""
        html = self._get("/staff/", "text/html")
        row = f'alert-row--emergency" data-episode-id="{self.episode_id}"'
        if row in html and self.seen_at is None:
            self.seen_at = time.perf_counter()
        return LIVE_CURSOR.search(html).group(1)

    def run(self) -> None:
        tick = time.perf_counter()
        while not self.stopping.is_set() and self.seen_at is None:
            tick += self.interval
            # setInterval: the next tick is on the schedule; a tick that comes while a poll
            # is still going is skipped (the page's `busy`).
            while tick < time.perf_counter():
                tick += self.interval
            self.stopping.wait(max(0.0, tick - time.perf_counter()))
            self.polls += 1
            query = urllib.parse.urlencode({"cursor": self.cursor})
            body = json.loads(self._get(f"/staff/changes?{query}", "application/json"))
            if body["changed"]:
                self.cursor = self._page()

    def wait(self, timeout: float) -> float | None:
        """The moment the alert was first shown, or None if not within `timeout` seconds."""
        self.join(timeout)
        self.stopping.set()
        return self.seen_at


def median(values) -> float | None:
    """The median of the values that are not None, or None."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run(engines: list[tuple[str, str]], workdir: Path, now: datetime, options: Options) -> list:
    """Measure every engine ((label, URL): PostgreSQL databases are named after the URL);
    every load's result, in order."""
    results = []
    for label, url in engines:
        urls = database_urls(label, url, workdir, options.sizes)
        databases = {}
        for size in options.sizes:
            print(f"{label}: seeding {size:,d} active episodes for the load", flush=True)
            started = time.perf_counter()
            databases[size] = prepare(
                urls[size], size, now, options, full=size == max(options.sizes)
            )
            print(f"{label}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
        engine = Engine(label, databases, workdir, options)
        try:
            engine.start()
            for run_number in range(options.runs):
                print(f"{label}: run {run_number + 1} of {options.runs}", flush=True)
                engine.checkins(run_number)
                engine.pages(run_number)
            engine.alert_latency()
        finally:
            engine.stop()
        engine.tick()
        results += [{**r, "version": engine.large.version} for r in engine.results]
    return results
