"""The backtest on a simulated cohort of at least 100,000 rows: in-process and through the CLI."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from recovery import ROOT
from recovery.clinical.backtest import run_backtest
from recovery.clinical.simulate import cohort_csv_rows, simulate_cohort

from .measure import Figure, timed

# recovery.clinical.simulate gives about 8.6 readings per episode (baseline and 8 check-ins,
# a few missed).
READINGS_PER_EPISODE = 8.3


def write_cohort(path: Path, rows: int, seed: int) -> tuple[int, int]:
    """Write a simulated cohort CSV of at least `rows` data rows; (episodes, rows)."""
    episodes = math.ceil(rows / READINGS_PER_EPISODE)
    while True:
        lines = list(cohort_csv_rows(simulate_cohort(episodes, seed)))
        if len(lines) - 1 >= rows:
            break
        episodes = math.ceil(episodes * 1.05)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return episodes, len(lines) - 1


def flask_command() -> list[str]:
    """`flask` from this interpreter's environment."""
    script = Path(sys.executable).parent / "flask"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flask"]


def run(tmp: Path, *, rows: int, repeats: int, seed: int) -> tuple[list[Figure], dict]:
    """Time `run_backtest` and `flask --app wsgi recovery backtest FILE` on one cohort file."""
    path = tmp / "cohort.csv"
    start = time.perf_counter()
    episodes, written = write_cohort(path, rows, seed)
    print(
        f"backtest: {written:,d} rows, {episodes:,d} episodes, {path.stat().st_size:,d} bytes "
        f"(simulated in {time.perf_counter() - start:.1f} s)",
        flush=True,
    )
    outputs = {}

    def in_process():
        out, err = io.StringIO(), io.StringIO()
        with path.open(encoding="utf-8") as lines:
            code = run_backtest(lines, out, err)
        if code != 0:
            raise RuntimeError(f"run_backtest exited {code}: {err.getvalue()[:500]}")
        outputs["events"] = out.getvalue().count("\n")
        outputs["summary"] = err.getvalue()

    times, _ = timed(in_process, repeats, warmup=0)
    figures = [
        Figure(
            "backtest",
            f"run_backtest, {written:,d} rows",
            "-",
            times,
            note="parse + replay + JSON lines to memory",
        )
    ]
    print(f"  run_backtest: median {figures[0].median_ms / 1000:.2f} s", flush=True)

    command = [*flask_command(), "--app", "wsgi", "recovery", "backtest", str(path)]
    # A fixed key and a throwaway database, so the command touches nothing in instance/.
    env = {**os.environ, "SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{tmp / 'cli.db'}"}

    def cli():
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"the backtest command exited {done.returncode}: {done.stderr!r}")
        outputs["cli_events"] = done.stdout.count(b"\n")

    times, _ = timed(cli, repeats, warmup=0)
    figures.append(
        Figure(
            "backtest",
            f"flask --app wsgi recovery backtest FILE, {written:,d} rows",
            "-",
            times,
            note="new process: start-up, app factory, parse, replay, stdout to a pipe",
        )
    )
    print(f"  CLI end-to-end: median {figures[1].median_ms / 1000:.2f} s", flush=True)
    if outputs["events"] != outputs["cli_events"]:
        raise RuntimeError("the CLI and run_backtest disagree on the number of alert events")
    facts = {
        "rows": written,
        "episodes": episodes,
        "file_bytes": path.stat().st_size,
        "alert_events": outputs["events"],
        "summary_first_line": outputs["summary"].splitlines()[1] if outputs["summary"] else "",
    }
    return figures, facts
