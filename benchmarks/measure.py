"""Timing, SQL statement counting and byte sizes: the instruments every section uses."""

from __future__ import annotations

import gzip
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event


@dataclass
class Figure:
    """One measurement: wall times in seconds and, where they apply, statements and bytes."""

    section: str
    name: str
    engine: str = ""
    times: list[float] = field(default_factory=list)
    statements: int | None = None
    sql_seconds: float | None = None
    raw_bytes: int | None = None
    gzip_bytes: int | None = None
    note: str = ""

    @property
    def median_ms(self) -> float | None:
        """Median wall time in milliseconds (None for a size-only figure)."""
        return statistics.median(self.times) * 1000 if self.times else None

    @property
    def max_ms(self) -> float | None:
        """Slowest run in milliseconds."""
        return max(self.times) * 1000 if self.times else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form, for bench-results/."""
        return {
            "section": self.section,
            "name": self.name,
            "engine": self.engine,
            "times_s": [round(t, 6) for t in self.times],
            "median_ms": self.median_ms,
            "max_ms": self.max_ms,
            "statements": self.statements,
            "sql_ms": None if self.sql_seconds is None else self.sql_seconds * 1000,
            "raw_bytes": self.raw_bytes,
            "gzip_bytes": self.gzip_bytes,
            "note": self.note,
        }


def gzip_size(data: bytes) -> int:
    """Bytes after gzip at level 6 (what nginx and most proxies use by default)."""
    return len(gzip.compress(data, compresslevel=6))


def timed(func: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[list[float], Any]:
    """Run `func` `warmup` times untimed, then `repeats` times; (seconds per run, last result)."""
    result = None
    for _ in range(warmup):
        result = func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return times, result


class StatementLog:
    """Records every SQL statement (text, parameters, seconds) run on `engine` while active."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[tuple[str, Any, float]] = []
        self._started: list[float] = []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - self._started.pop()
        self.statements.append((statement, parameters, elapsed))

    def __enter__(self) -> StatementLog:
        self.statements = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @property
    def count(self) -> int:
        """Statements run (SQLite's explicit BEGIN is transaction control, as on PostgreSQL)."""
        return sum(1 for statement, *_ in self.statements if not statement.startswith("BEGIN"))

    @property
    def seconds(self) -> float:
        """Time spent inside the database driver, in seconds."""
        return sum(s[2] for s in self.statements)


def machine_block(start: str, info: dict[str, str], measured: str, databases: str) -> list[str]:
    """The opening lines of a block `make bench` writes into a doc: its start marker, when and
    how it was measured (`measured`: the command and settings), and the machine's table."""
    return [
        start,
        "<!-- Written by `make bench`; edit outside the markers. -->",
        "",
        f"Measured {info['date']} with {measured}.",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPU | {info['cpu']} |",
        f"| memory | {info['memory']} |",
        f"| OS | {info['os']} |",
        f"| Python | {info['python']} |",
        f"| databases | {databases} |",
        f"| libraries | {info['libraries']} |",
        f"| commit | {info['commit']} |",
        "",
    ]
