"""`make bench`: measure, print tables, and write the figures into docs/benchmarks.md (in
process) and docs/performance.md (load over HTTP).

    .venv/bin/python -m benchmarks.run [--no-write] [--skip-postgres] [--explain URL]
                                       [--no-load | --load-only] [--quick]

PostgreSQL is measured on BENCH_DATABASE_URL, by default the `recovery_bench` database of the
local server (created when missing; its schema is rebuilt on every run, so the URL must name a
database whose name contains "bench"). BENCH_DATABASE_URL=off skips PostgreSQL. The load
benchmarks seed databases of their own, named after it (`recovery_bench_load_1000`, ...). The
figures replace the text between the markers in each doc; everything around them is kept. Raw
times go to bench-results/latest.json and bench-results/load.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import create_engine, text

from recovery import ROOT

from . import backtest, load, performance, web
from .measure import Figure, machine_block

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/recovery_bench"
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench-results" / "latest.json"
LOAD_RESULTS = ROOT / "bench-results" / "load.json"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
COMMAND = "make bench  # = .venv/bin/python -m benchmarks.run"


def postgres_url(skip: bool) -> str | None:
    """The PostgreSQL URL to measure, or None (skipped, or no server answering)."""
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    if skip or url.lower() in ("", "off", "0", "none"):
        print("PostgreSQL: skipped")
        return None
    if url == DEFAULT_POSTGRES:
        probe = create_engine(
            url.rsplit("/", 1)[0] + "/postgres", connect_args={"connect_timeout": 3}
        )
        try:
            with probe.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "no local server"
            print(f"PostgreSQL: skipped, no server at 127.0.0.1:5432 ({type(exc).__name__})")
            return None
        finally:
            probe.dispose()
    web.ensure_postgres_database(url)
    return url


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    """Where the figures were taken: CPU, memory, OS, Python, libraries, commit."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if "MemTotal" in line
        ),
        0,
    )
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    cpu_max = _read("/sys/fs/cgroup/cpu.max")
    mem_max = _read("/sys/fs/cgroup/memory.max")
    limits = []
    if cpu_max and not cpu_max.startswith("max"):
        quota, period = cpu_max.split()
        limits.append(f"cgroup CPU quota {int(quota) / int(period):g} cores")
    if mem_max and mem_max != "max":
        limits.append(f"cgroup memory limit {int(mem_max) / 2**30:.1f} GiB")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        # The figures' own file does not count as a change to what was measured.
        ["git", "status", "--porcelain", "--", ".", ":!docs/benchmarks.md", ":!docs/performance.md"]
        + [":!bench-results"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    libraries = ", ".join(
        f"{name} {version(name)}" for name in ("Flask", "SQLAlchemy", "psycopg", "Jinja2")
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}; nproc {nproc}" + (f" ({', '.join(limits)})" if limits else ""),
        "memory": f"{mem_kb / 2**20:.1f} GiB",
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": f"SQLite {sqlite3.sqlite_version} (Python's sqlite3 module)",
        "libraries": libraries,
        "commit": (commit or "unknown") + (" with uncommitted changes" if dirty else ""),
    }


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,d}"


COLUMNS = ("measurement", "engine", "median", "max", "runs", "SQL", "SQL time", "bytes", "gzip")


def rows(figures: list[Figure]) -> list[tuple[str, ...]]:
    """Table rows, one per figure."""
    return [
        (
            f.name,
            f.engine,
            _ms(f.median_ms),
            _ms(f.max_ms),
            str(len(f.times)) if f.times else "",
            _n(f.statements),
            _ms(None if f.sql_seconds is None else f.sql_seconds * 1000),
            _n(f.raw_bytes),
            _n(f.gzip_bytes),
        )
        for f in figures
    ]


def print_table(figures: list[Figure]) -> None:
    """The figures as an aligned text table."""
    table = [COLUMNS, *rows(figures)]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    for n, row in enumerate(table):
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def markdown(figures: list[Figure], facts: dict, info: dict[str, str], seconds: float) -> str:
    """The generated part of docs/benchmarks.md."""
    titles = {
        "backtest": "Backtest",
        "worklist": "Staff pages at 10,000 active episodes",
        "checkin": "Check-in",
        "tick": "The outreach job (`recovery tick`) at 10,000 active episodes",
        "page_weight": "Patient page weight",
    }
    databases = f"{info['sqlite']}; " + "; ".join(
        e["version"] for e in facts.get("engines", []) if e["engine"] != "sqlite"
    )
    out = machine_block(START, info, f"`{COMMAND}` (whole run {seconds:.0f} s)", databases)
    for section, title in titles.items():
        mine = [f for f in figures if f.section == section]
        if not mine:
            continue
        out += [f"### {title}", "", "| " + " | ".join(COLUMNS) + " |"]
        out.append(
            "|" + "|".join(" --- " if i < 2 else " ---: " for i in range(len(COLUMNS))) + "|"
        )
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows(mine)]
        out.append("")
    bt = facts.get("backtest")
    if bt:
        out.append(
            f"Backtest input: {bt['rows']:,d} rows, {bt['episodes']:,d} simulated episodes, "
            f"{bt['file_bytes']:,d} bytes; {bt['alert_events']:,d} alert events; "
            f"{bt['summary_first_line']}."
        )
        out.append("")
    for e in facts.get("engines", []):
        statuses = ", ".join(f"{k} {v:,d}" for k, v in e["statuses"].items())
        tables = ", ".join(f"{k} {v:,d}" for k, v in e["rows"].items())
        out.append(
            f"Data on {e['version']}: seeded in {e['seconds_to_seed']} s; rows: {tables}. "
            f"Worklist statuses: {statuses}; {e['mean_entries_active']} entries per bulk-seeded "
            f"active episode; {e['summary_check']}."
        )
        out.append("")
    out.append(END)
    return "\n".join(out)


def write_doc(
    block: str, doc: Path = DOC, markers: tuple[str, str] = (START, END), title: str = "Benchmarks"
) -> None:
    """Replace the generated block of `doc` (or create the file)."""
    start, end = markers
    if doc.exists() and start in (current := doc.read_text()) and end in current:
        head, rest = current.split(start, 1)
        tail = rest.split(end, 1)[1]
        doc.write_text(head + block + tail)
    else:
        doc.write_text(f"# {title}\n\n{block}\n")
    print(f"wrote {doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc}")


def ordered(figures: list[Figure]) -> list[Figure]:
    """By section, then each request's engines side by side (page weight as measured)."""
    sections = ("backtest", "worklist", "checkin", "tick", "page_weight")
    first: dict[tuple[str, str], int] = {}
    for f in figures:
        first.setdefault((f.section, f.name), len(first))

    def key(pair):
        i, f = pair
        return (
            sections.index(f.section),
            i if f.section == "page_weight" else first[(f.section, f.name)],
            i,
        )

    return [f for _, f in sorted(enumerate(figures), key=key)]


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(","))


def load_options(args: argparse.Namespace) -> load.Options:
    """The load benchmarks' settings from the command line (`--quick`: a tiny run)."""
    if args.quick:
        return load.Options(
            workers=2,
            runs=1,
            warmup=0.2,
            duration=1.0,
            clients=(1, 3),
            page_clients=(1, 2),
            sizes=(60, 120),
            checkin_episodes=30,
            alert_samples=1,
            seed=args.seed,
        )
    return load.Options(
        workers=args.workers,
        runs=args.runs,
        warmup=args.warmup,
        duration=args.duration,
        clients=_counts(args.clients),
        page_clients=_counts(args.page_clients),
        sizes=_counts(args.sizes),
        alert_samples=args.alert_samples,
        seed=args.seed,
    )


def in_process(args: argparse.Namespace, work: Path, info: dict[str, str]) -> None:
    """The in-process figures: backtest, staff pages, check-in, tick, page weight."""
    started = time.perf_counter()
    figures: list[Figure] = []
    facts: dict = {"engines": []}
    now = datetime.now(UTC)
    bt_figures, facts["backtest"] = backtest.run(work, rows=args.rows, repeats=3, seed=args.seed)
    figures += bt_figures
    engines = [("sqlite", f"sqlite:///{work / 'bench.sqlite3'}")]
    pg = postgres_url(args.skip_postgres)
    if pg:
        engines.append(("postgresql", pg))
    for n, (label, url) in enumerate(engines):
        engine_figures, engine_facts = web.run_engine(
            label,
            url,
            now,
            active=args.episodes,
            repeats=args.repeats,
            checkins=args.checkins,
            seed_value=args.seed,
            with_page_weight=n == 0,
            explain_urls=args.explain,
        )
        figures += engine_figures
        facts["engines"].append(engine_facts)
    figures = ordered(figures)
    seconds = time.perf_counter() - started
    print()
    print_table(figures)
    for e in facts["engines"]:
        for url, plan in e.pop("plans").items():
            print(f"\n=== query plans, {e['engine']}: GET {url}\n{plan}")
    print(f"\nin-process run: {seconds:.0f} s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": info, "facts": facts, "figures": [f.as_dict() for f in figures]}, indent=1
        )
    )
    if not args.no_write:
        write_doc(markdown(figures, facts, info, seconds))


def over_http(args: argparse.Namespace, work: Path, info: dict[str, str]) -> None:
    """The load figures: the app in gunicorn beside the bare endpoint, on every engine."""
    started = time.perf_counter()
    options = load_options(args)
    engines = [("sqlite", "")]
    pg = postgres_url(args.skip_postgres)
    if pg:
        engines.append(("postgresql", pg))
    results = load.run(engines, work, datetime.now(UTC), options)
    seconds = time.perf_counter() - started
    performance.print_tables(results)
    print(f"\nload run: {seconds:.0f} s")
    LOAD_RESULTS.parent.mkdir(exist_ok=True)
    LOAD_RESULTS.write_text(
        json.dumps({"machine": info, "options": vars(options), "results": results}, indent=1)
    )
    if not args.no_write:
        settings = (
            f"{options.workers} gunicorn workers, {options.runs} runs of "
            f"{options.warmup:g} s warm-up + {options.duration:g} s per load; "
            f"load run {seconds:.0f} s"
        )
        write_doc(
            performance.markdown(results, info, COMMAND, settings),
            performance.DOC,
            (performance.START, performance.END),
            "Performance under load",
        )


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print the tables, write the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--episodes", type=int, default=10_000, help="active episodes to seed")
    parser.add_argument("--rows", type=int, default=100_000, help="backtest CSV rows (at least)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per request")
    parser.add_argument("--checkins", type=int, default=200, help="timed check-ins per engine")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only, leave the docs as is")
    parser.add_argument(
        "--explain",
        action="append",
        default=[],
        metavar="URL",
        help="print the query plans of a staff URL, e.g. /staff/ (repeatable); pages slower "
        f"than {web.WORKLIST_SLOW_MS} ms are explained anyway",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-load", action="store_true", help="the in-process figures only")
    which.add_argument("--load-only", action="store_true", help="the load over HTTP only")
    http = parser.add_argument_group("load over HTTP (docs/performance.md)")
    http.add_argument("--workers", type=int, default=4, help="gunicorn workers per server")
    http.add_argument("--runs", type=int, default=3, help="runs; each figure is their median")
    http.add_argument("--duration", type=float, default=4.0, help="seconds measured per load")
    http.add_argument("--warmup", type=float, default=1.0, help="seconds before, not measured")
    http.add_argument("--clients", default="1,10,50", help="concurrent check-in clients")
    http.add_argument("--page-clients", default="1,5", help="concurrent staff page clients")
    http.add_argument("--sizes", default="1000,10000", help="active episodes of each database")
    http.add_argument("--alert-samples", type=int, default=6, help="check-ins timed to an alert")
    http.add_argument("--quick", action="store_true", help="a tiny load run (the tests' own)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where databases and server logs go (default: a temporary one)",
    )
    args = parser.parse_args(argv)
    # Stopped with SIGTERM, unwind as for Ctrl-C, so the servers started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    info = machine()
    print(f"machine: {info['cpu']}, {info['memory']}, {info['python']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="recovery-bench-", dir=args.work_dir) as tmp:
        if not args.load_only:
            in_process(args, Path(tmp), info)
        if not args.no_load:
            over_http(args, Path(tmp), info)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
