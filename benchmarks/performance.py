"""The load figures (`load.run`'s results) as medians, targets, a printed table and the
generated part of docs/performance.md."""

from __future__ import annotations

from dataclasses import dataclass

from recovery import ROOT

from .load import median
from .measure import machine_block

DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- load:start -->", "<!-- load:end -->"


def _select(results: list[dict], **match) -> list[dict]:
    return [r for r in results if all(r.get(k) == v for k, v in match.items())]


def _median_of(results: list[dict], key: str, **match) -> float | None:
    return median(r.get(key) for r in _select(results, **match))


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _ratios(results: list[dict], key: str, top: dict, bottom: dict) -> float | None:
    """The median over runs of (top's `key`) / (bottom's `key`), each run with itself."""
    ratios = []
    for r in _select(results, **top):
        other = _select(results, **bottom, run=r["run"])
        if other and r.get(key) and other[0].get(key):
            ratios.append(r[key] / other[0][key])
    return median(ratios)


def checkin_rows(results: list[dict]) -> list[dict]:
    """Per engine and number of clients: the bare endpoint and the app side by side."""
    rows = []
    for engine in dict.fromkeys(r["engine"] for r in results):
        mine = _select(results, engine=engine, kind="checkin")
        for clients in dict.fromkeys(r["clients"] for r in mine):
            bare = {"engine": engine, "kind": "checkin", "clients": clients, "target": "bare"}
            app = {**bare, "target": next(r["target"] for r in mine if r["target"] != "bare")}
            rows.append(
                {
                    "engine": engine,
                    "clients": clients,
                    "runs": len(_select(results, **app)),
                    "errors": sum(r["errors"] for r in _select(results, **app))
                    + sum(r["errors"] for r in _select(results, **bare)),
                    **{
                        f"{side}_{key}": _median_of(results, key, **match)
                        for side, match in (("bare", bare), ("app", app))
                        for key in ("throughput", "p50", "p95", "p99")
                    },
                    "throughput_ratio": _ratios(results, "throughput", app, bare),
                    "p95_ratio": _ratios(results, "p95", app, bare),
                }
            )
    return rows


def page_rows(results: list[dict]) -> list[dict]:
    """Per engine, page and number of clients: p50 and p95 at each size, and their ratio."""
    rows = []
    for engine in dict.fromkeys(r["engine"] for r in results):
        for kind in ("worklist", "episode"):
            mine = _select(results, engine=engine, kind=kind)
            sizes = sorted({r["size"] for r in mine})
            for clients in dict.fromkeys(r["clients"] for r in mine):
                row = {"engine": engine, "page": kind, "clients": clients, "sizes": sizes}
                row["errors"] = sum(r["errors"] for r in _select(mine, clients=clients))
                for size in sizes:
                    match = {"engine": engine, "kind": kind, "clients": clients, "size": size}
                    for key in ("throughput", "p50", "p95"):
                        row[f"{key}_{size}"] = _median_of(results, key, **match)
                small, large = sizes[0], sizes[-1]
                row["p95_ratio"] = _ratios(
                    results,
                    "p95",
                    {"engine": engine, "kind": kind, "clients": clients, "size": large},
                    {"engine": engine, "kind": kind, "clients": clients, "size": small},
                )
                rows.append(row)
    return rows


def once_rows(results: list[dict]) -> list[dict]:
    """The alert latency and the tick, per engine: median and slowest of the samples."""
    rows = []
    for engine in dict.fromkeys(r["engine"] for r in results):
        for kind, name in (
            ("alert", "check-in to its alert on an open worklist"),
            ("tick-first", "`recovery tick`, first run (catch-up)"),
            ("tick", "`recovery tick`, each run after"),
        ):
            mine = _select(results, engine=engine, kind=kind)
            if not mine:
                continue
            seconds = [r["seconds"] for r in mine if r["seconds"] is not None]
            rows.append(
                {
                    "engine": engine,
                    "kind": kind,
                    "name": name,
                    "size": mine[0]["size"],
                    "samples": len(mine),
                    "errors": sum(r["errors"] for r in mine),
                    "median": median(seconds),
                    "max": max(seconds) if seconds else None,
                    "report": mine[0].get("report"),
                }
            )
    return rows


@dataclass
class Target:
    """One target of issue 13 and what was measured against it."""

    engine: str
    name: str
    bound: float
    measured: float | None
    unit: str
    at_least: bool = False

    @property
    def holds(self) -> bool | None:
        """Whether the measured figure meets the bound (None: not measured)."""
        if self.measured is None:
            return None
        return self.measured >= self.bound if self.at_least else self.measured <= self.bound

    @property
    def margin(self) -> str:
        """By how much it holds or misses, in words."""
        if self.measured is None:
            return "not measured"
        share = self.measured / self.bound
        if self.at_least:
            return f"{share - 1:+.0%} over the bound" if self.holds else f"short by {1 - share:.0%}"
        if self.holds:
            return f"{1 - share:.0%} under the bound"
        return f"{share - 1:.0%} over the bound" if share < 2 else f"{share:.1f}x the bound"


def targets(results: list[dict], checkin_clients: int = 10) -> list[Target]:
    """The issue's targets, per engine, from the medians."""
    out = []
    checkins, pages, once = checkin_rows(results), page_rows(results), once_rows(results)
    for engine in dict.fromkeys(r["engine"] for r in results):
        at = {r["clients"]: r for r in checkins if r["engine"] == engine}
        many = at.get(checkin_clients) or (at[max(at)] if at else None)
        if many:
            n = many["clients"]
            out.append(
                Target(
                    engine,
                    f"check-in throughput at {n} clients, share of the bare endpoint's",
                    0.60,
                    many["throughput_ratio"],
                    "x",
                    at_least=True,
                )
            )
            out.append(
                Target(
                    engine,
                    f"check-in p95 at {n} clients, times the bare endpoint's",
                    1.5,
                    many["p95_ratio"],
                    "x",
                )
            )
        if 1 in at:
            out.append(Target(engine, "check-in p50, one client", 15, at[1]["app_p50"], "ms"))
        worklist = [
            r
            for r in pages
            if r["engine"] == engine and r["page"] == "worklist" and r["clients"] == 1
        ]
        if worklist:
            row = worklist[0]
            large = row["sizes"][-1]
            out.append(
                Target(
                    engine,
                    f"worklist p95, one client, {large:,d} active episodes",
                    100,
                    row[f"p95_{large}"],
                    "ms",
                )
            )
            out.append(
                Target(
                    engine,
                    f"worklist p95 at {large:,d} over p95 at {row['sizes'][0]:,d}, one client",
                    1.5,
                    row["p95_ratio"],
                    "x",
                )
            )
        for row in once:
            if row["engine"] != engine:
                continue
            if row["kind"] == "alert":
                out.append(
                    Target(engine, "check-in to its alert, slowest sample", 5, row["max"], "s")
                )
            else:
                out.append(Target(engine, row["name"], 5, row["median"], "s"))
    return out


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.2f}x"


def tables(results: list[dict]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, as text."""
    checkin = [
        [
            r["engine"],
            str(r["clients"]),
            f"{r['bare_throughput']:.0f}",
            f"{r['app_throughput']:.0f}",
            _x(r["throughput_ratio"]),
            " / ".join(_ms(r[f"bare_{k}"]) for k in ("p50", "p95", "p99")),
            " / ".join(_ms(r[f"app_{k}"]) for k in ("p50", "p95", "p99")),
            _x(r["p95_ratio"]),
            str(r["runs"]),
            str(r["errors"]),
        ]
        for r in checkin_rows(results)
    ]
    pages = []
    for r in page_rows(results):
        small, large = r["sizes"][0], r["sizes"][-1]
        pages.append(
            [
                r["engine"],
                r["page"],
                str(r["clients"]),
                f"{_ms(r[f'p50_{small}'])} / {_ms(r[f'p95_{small}'])}",
                f"{_ms(r[f'p50_{large}'])} / {_ms(r[f'p95_{large}'])}",
                _x(r["p95_ratio"]),
                f"{r[f'throughput_{large}']:.1f}",
                str(r["errors"]),
            ]
        )
    once = [
        [
            r["engine"],
            r["name"],
            f"{r['size']:,d}",
            _format(r["median"], "s"),
            _format(r["max"], "s"),
            str(r["samples"]),
            str(r["errors"]),
        ]
        for r in once_rows(results)
    ]
    goals = [
        [
            t.engine,
            t.name,
            ("at least " if t.at_least else "at most ") + _format(t.bound, t.unit),
            _format(t.measured, t.unit),
            {True: "yes", False: "**no**", None: ""}[t.holds],
            t.margin,
        ]
        for t in targets(results)
    ]
    page_sizes = sorted({r["size"] for r in results if r["kind"] in ("worklist", "episode")})
    small, large = (f"{page_sizes[0]:,d}", f"{page_sizes[-1]:,d}") if page_sizes else ("", "")
    return [
        (
            "Check-in: `POST /api/v1/checkins` beside the bare endpoint",
            [
                "engine",
                "clients",
                "bare req/s",
                "app req/s",
                "app/bare",
                "bare p50 / p95 / p99 ms",
                "app p50 / p95 / p99 ms",
                "p95 app/bare",
                "runs",
                "errors",
            ],
            checkin,
        ),
        (
            "Staff pages",
            [
                "engine",
                "page",
                "clients",
                f"p50 / p95 ms at {small}",
                f"p50 / p95 ms at {large}",
                "p95 ratio",
                f"req/s at {large}",
                "errors",
            ],
            pages,
        ),
        (
            "Alert latency and the outreach job",
            ["engine", "measurement", "active episodes", "median", "slowest", "samples", "errors"],
            once,
        ),
        ("Targets", ["engine", "target", "bound", "measured", "holds", "by how much"], goals),
    ]


def print_tables(results: list[dict]) -> None:
    """Every table, aligned, on stdout."""
    for title, header, rows in tables(results):
        print(f"\n{title.replace('`', '')}")
        table = [header, *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for n, row in enumerate(table):
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
            if n == 0:
                print("  ".join("-" * w for w in widths))
    if any(r["errors"] for r in results):
        print("\nSOME REQUESTS FAILED: see the errors columns and bench-results/load.json")


def markdown(results: list[dict], info: dict[str, str], command: str, settings: str) -> str:
    """The generated part of docs/performance.md."""
    databases = "; ".join(dict.fromkeys(r["version"] for r in results if r.get("version")))
    out = machine_block(START, info, f"`{command}` ({settings})", databases)
    if any(r["errors"] for r in results):
        out += ["**Some requests failed in this run: see the errors columns.**", ""]
    busiest = max((r for r in results if "generator_cpu" in r), key=lambda r: r["generator_cpu"])
    out += [
        f"The load generator used at most {busiest['generator_cpu']:.0%} of one core "
        f"({busiest['kind']}, {busiest['target']}, {busiest['clients']} clients).",
        "",
    ]
    for title, header, rows in tables(results):
        out += [f"### {title}", "", "| " + " | ".join(header) + " |"]
        out.append("|" + "|".join(" --- " for _ in header) + "|")
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        out.append("")
    out.append(END)
    return "\n".join(out)
