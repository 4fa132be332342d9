"""Requests through the Flask test client on a seeded database: worklist, check-in, page weight.

The test client runs the whole application (routing, login, queries, templates) without a
network or a WSGI server, so the times are the app's own cost per request on one core.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from html.parser import HTMLParser

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from recovery import create_app
from recovery.care.models import PainEntry
from recovery.extensions import db

from . import seed
from .measure import Figure, StatementLog, gzip_size, timed

WORKLIST_SLOW_MS = 300


def make_app(url: str) -> Flask:
    """The application on `url`, configured as for the tests (no CSRF, fixed secret)."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret",
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False,
            "PUBLIC_BASE_URL": "http://localhost",
        }
    )


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark database if it is missing; refuse any database not named *bench*.

    The schema is dropped and rebuilt on every run, so the name guard keeps the run off the
    `test` database (and anything else that matters).
    """
    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(
            f"refusing to benchmark on database {name!r}: its name must contain 'bench'"
        )
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def build_schema(app: Flask) -> None:
    """An empty schema built by the migrations, as `flask db upgrade` does in production."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        log = io.StringIO()
        try:
            with contextlib.redirect_stderr(log):
                upgrade()
        except Exception:
            print(log.getvalue())
            raise


def database_version(app: Flask) -> str:
    """The database server's version string."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            return "PostgreSQL " + db.session.scalar(text("SHOW server_version"))
        return "SQLite " + db.session.scalar(text("SELECT sqlite_version()"))


class _Assets(HTMLParser):
    """Collects the stylesheets, icons and scripts a page loads."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if (
            tag == "link"
            and attrs.get("href")
            and {"stylesheet", "icon"} & set((attrs.get("rel") or "").split())
        ):
            self.urls.append(attrs["href"])
        elif tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])


def page_assets(html: bytes) -> list[str]:
    """Same-origin asset URLs in `html`, in document order."""
    parser = _Assets()
    parser.feed(html.decode("utf-8"))
    return [u for u in parser.urls if u.startswith("/")]


class Bench:
    """One engine's measurements over the seeded data."""

    def __init__(self, app: Flask, engine_label: str, seeded: seed.Seeded, repeats: int):
        self.app = app
        self.engine = engine_label
        self.seeded = seeded
        self.repeats = repeats
        self.figures: list[Figure] = []
        self.urls: dict[str, str] = {}
        with app.app_context():
            self.sa_engine = db.engine
        self.client = app.test_client()

    def request(
        self,
        section: str,
        name: str,
        call: Callable[[], object],
        *,
        repeats: int | None = None,
        expect: int = 200,
        url: str | None = None,
    ) -> Figure:
        """Time `call` (a test-client request); statements, SQL time and bytes from the last."""
        log = StatementLog(self.sa_engine)

        def run():
            with log:
                response = call()
            if response.status_code != expect:
                raise RuntimeError(f"{name}: HTTP {response.status_code}, expected {expect}")
            return response

        times, response = timed(run, repeats or self.repeats)
        body = response.get_data()
        figure = Figure(
            section,
            name,
            self.engine,
            times,
            statements=log.count,
            sql_seconds=log.seconds,
            raw_bytes=len(body),
            gzip_bytes=gzip_size(body),
        )
        self.figures.append(figure)
        if url:
            self.urls[name] = url
        print(
            f"  {self.engine:<10} {name:<44} median {figure.median_ms:7.1f} ms  "
            f"max {figure.max_ms:7.1f} ms  {log.count:2d} SQL  {len(body):>8,d} B",
            flush=True,
        )
        return figure

    def login(self) -> None:
        """Sign the client in as the bench nurse, through the login form."""
        response = self.client.post(
            "/login", data={"email": seed.NURSE_EMAIL, "password": seed.PASSWORD}
        )
        if response.status_code != 302:
            raise RuntimeError(f"login failed: HTTP {response.status_code}")

    def worklist(self) -> None:
        """The staff pages at 10,000 active episodes."""
        self.login()
        get = self.client.get
        cases = [
            ("GET /staff/ (page 1)", "/staff/"),
            ("GET /staff/?page=100", "/staff/?page=100"),
            (f"GET /staff/?q={seed.SEARCH_TERM}", f"/staff/?q={seed.SEARCH_TERM}"),
            ("GET /staff/?status=overdue", "/staff/?status=overdue"),
        ]
        for name, url in cases:
            self.request("worklist", name, lambda url=url: get(url), url=url)
        cursor_url = "/staff/changes?cursor=0-0"
        self.request(
            "worklist", "GET /staff/changes (live poll)", lambda: get(cursor_url), url=cursor_url
        )
        url = f"/staff/episodes/{self.seeded.episode_40_id}"
        self.request("worklist", "GET /staff/episodes/<id> (40 entries)", lambda: get(url), url=url)

    def checkins(self, count: int, warmup: int = 5) -> None:
        """POST /api/v1/checkins, one per episode, each episode holding 20 entries before it."""
        episodes = self.seeded.checkin_episodes
        if len(episodes) < count + warmup + 1:
            raise RuntimeError("not enough seeded check-in episodes")
        log = StatementLog(self.sa_engine)
        times, statements = [], []
        for i, (_, token) in enumerate(episodes[: warmup + count]):
            body = {"pain": 3, "idempotency_key": uuid.uuid4().hex}
            headers = {"Authorization": f"Bearer {token}"}
            with log:
                start = time.perf_counter()
                response = self.client.post("/api/v1/checkins", json=body, headers=headers)
                elapsed = time.perf_counter() - start
            if response.status_code != 201:
                raise RuntimeError(f"check-in: HTTP {response.status_code} {response.get_data()}")
            if i >= warmup:
                times.append(elapsed)
                statements.append(log.count)
        body = response.get_data()
        figure = Figure(
            "checkin",
            "POST /api/v1/checkins (20 entries before)",
            self.engine,
            times,
            statements=round(statistics.median(statements)),
            sql_seconds=log.seconds,
            raw_bytes=len(body),
            gzip_bytes=gzip_size(body),
            note=f"{count} requests, one per episode",
        )
        self.figures.append(figure)
        print(
            f"  {self.engine:<10} {figure.name:<44} median {figure.median_ms:7.1f} ms  "
            f"max {figure.max_ms:7.1f} ms  {figure.statements:2d} SQL  ({count} requests)",
            flush=True,
        )

    def tick(self, now: datetime, repeats: int) -> None:
        """`recovery tick` on the seeded clinics: the first run at `now`, as after the upgrade
        that brought the job (every active episode looked at, its missed check-ins opened,
        reminders sent to a console sender), then one run a minute after another: the job's
        cost in steady state."""
        from recovery.care.outreach import run_tick
        from recovery.care.senders import Senders

        senders = Senders(console=True, out=io.StringIO())
        log = StatementLog(self.sa_engine)
        minute = 0
        for name, runs in (("first run (catch-up)", 1), ("each minute after", repeats)):
            times, counts, reports = [], [], []
            for _ in range(runs):
                at = now + timedelta(minutes=minute)
                minute += 1
                with self.app.app_context(), log:
                    start = time.perf_counter()
                    reports.append(run_tick(at, senders))
                    times.append(time.perf_counter() - start)
                counts.append(log.count)
            report = reports[-1]
            figure = Figure(
                "tick",
                f"recovery tick, {name}",
                self.engine,
                times,
                statements=counts[-1],
                sql_seconds=log.seconds,
                note=(
                    f"{report.reminders} reminders queued, {report.sent} sent, "
                    f"{report.missed} missed check-ins"
                ),
            )
            self.figures.append(figure)
            print(
                f"  {self.engine:<10} {figure.name:<44} median {figure.median_ms:7.1f} ms  "
                f"{figure.statements:5d} SQL  ({figure.note})",
                flush=True,
            )

    def page_weight(self) -> list[Figure]:
        """Bytes of the patient's check-in and result pages and of every asset they load."""
        _, token = self.seeded.checkin_episodes[-1]
        with self.app.app_context():
            episode_id = self.seeded.checkin_episodes[-1][0]
            entry_id = db.session.scalar(
                db.select(PainEntry.id)
                .filter_by(episode_id=episode_id)
                .order_by(PainEntry.recorded_dt.desc())
                .limit(1)
            )
        figures = []
        pages = [
            ("GET /p/<token> (check-in form)", f"/p/{token}"),
            ("GET /p/<token>/entries/<id> (result, chart)", f"/p/{token}/entries/{entry_id}"),
        ]
        for name, url in pages:
            figure = self.request("page_weight", name, lambda url=url: self.client.get(url))
            response = self.client.get(url)
            assets = page_assets(response.get_data())
            total_raw, total_gz = figure.raw_bytes, figure.gzip_bytes
            for asset in assets:
                with self.client.get(asset) as asset_response:
                    data = asset_response.get_data()
                size = Figure(
                    "page_weight",
                    f"  asset {asset}",
                    raw_bytes=len(data),
                    gzip_bytes=gzip_size(data),
                )
                figures.append(size)
                total_raw += size.raw_bytes
                total_gz += size.gzip_bytes
            figures.append(
                Figure(
                    "page_weight",
                    f"  total with {len(assets)} assets: {name}",
                    raw_bytes=total_raw,
                    gzip_bytes=total_gz,
                )
            )
            print(f"  {'':<10} {name} with assets: {total_raw:,d} B raw, {total_gz:,d} B gzip")
        # Assets are the same on every engine; keep them once, after their page.
        return figures


def explain(app: Flask, sa_engine, client, url: str) -> str:
    """The query plans of every SELECT that `url` runs (PostgreSQL: EXPLAIN ANALYZE)."""
    log = StatementLog(sa_engine)
    with log:
        client.get(url)
    out = []
    with app.app_context(), db.engine.connect() as conn:
        pg = db.engine.dialect.name == "postgresql"
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
        for statement, parameters, seconds in log.statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            plan = conn.exec_driver_sql(prefix + statement, parameters).fetchall()
            lines = [row[0] if pg else f"{row[1]:>3} {row[3]}" for row in plan]
            out.append(f"-- {seconds * 1000:.1f} ms\n{statement}\n" + "\n".join(lines))
    return "\n\n".join(out)


def run_engine(
    label: str,
    url: str,
    now: datetime,
    *,
    active: int,
    repeats: int,
    checkins: int,
    seed_value: int,
    with_page_weight: bool,
    explain_urls: list[str],
) -> tuple[list[Figure], dict]:
    """Seed `url` and measure it; (figures, facts about the data and the engine)."""
    app = make_app(url)
    print(f"{label}: building the schema (migrations)", flush=True)
    build_schema(app)
    start = time.perf_counter()
    print(f"{label}: seeding {active:,d} active episodes", flush=True)
    with app.app_context():
        seeded = seed.seed_all(
            now, active=active, closed=active // 10, other_clinic=active // 5, seed=seed_value
        )
    seeding = time.perf_counter() - start
    facts = {
        "engine": label,
        "version": database_version(app),
        "seconds_to_seed": round(seeding, 1),
        "rows": seeded.rows,
        "statuses": seeded.statuses,
        "mean_entries_active": round(seeded.mean_entries_active, 2),
        "summary_check": seeded.summary_check,
    }
    print(
        f"{label}: seeded in {seeding:.1f} s: {seeded.rows}; worklist statuses "
        f"{seeded.statuses}; {seeded.summary_check}",
        flush=True,
    )
    bench = Bench(app, label, seeded, repeats)
    bench.worklist()
    bench.checkins(checkins)
    bench.tick(now, repeats)
    figures = bench.figures
    if with_page_weight:
        figures += bench.page_weight()
    slow = [
        bench.urls[f.name]
        for f in figures
        if f.name in bench.urls and f.median_ms and f.median_ms > WORKLIST_SLOW_MS
    ]
    plans = {}
    for target in explain_urls + slow:
        if target not in plans:
            plans[target] = explain(app, bench.sa_engine, bench.client, target)
    facts["plans"] = plans
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return figures, facts
