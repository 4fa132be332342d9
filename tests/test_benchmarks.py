"""`make bench` keeps working: tiny runs on SQLite measure every request and every load it
reports (figures are never asserted: only that each was measured, and nothing failed)."""

from __future__ import annotations

import json

import pytest

from benchmarks import performance, run


def test_a_small_benchmark_run_measures_every_request(tmp_path, monkeypatch, capsys):
    results = tmp_path / "latest.json"
    monkeypatch.setattr(run, "RESULTS", results)
    argv = ["--episodes", "60", "--rows", "300", "--repeats", "1", "--checkins", "3"]
    argv += ["--no-load", "--work-dir", str(tmp_path)]
    assert run.main([*argv, "--skip-postgres", "--no-write"]) == 0

    figures = {f["name"]: f for f in json.loads(results.read_text())["figures"]}
    pages = [
        "GET /staff/ (page 1)",
        "GET /staff/episodes/<id> (40 entries)",
        "POST /api/v1/checkins (20 entries before)",
        "GET /p/<token>/entries/<id> (result, chart)",
    ]
    for name in pages:
        assert figures[name]["engine"] == "sqlite"
        assert figures[name]["median_ms"] > 0
        assert figures[name]["statements"] > 0
    # Page weight counts every asset a page loads; the result page draws its chart as SVG.
    assert not [name for name in figures if "/static/vendor/plotly" in name]
    totals = [f for name, f in figures.items() if name.startswith("  total with ")]
    assert len(totals) == 2
    assert all(0 < total["gzip_bytes"] < 100_000 for total in totals)
    assert any(name.startswith("run_backtest") for name in figures)
    assert "whole run" in capsys.readouterr().out


@pytest.mark.slow  # about a minute: three gunicorn servers, the loads, two `recovery tick`s
def test_a_small_load_run_measures_every_figure_over_http(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "LOAD_RESULTS", tmp_path / "load.json")
    monkeypatch.setattr(performance, "DOC", tmp_path / "performance.md")
    argv = ["--load-only", "--quick", "--skip-postgres", "--work-dir", str(tmp_path)]
    assert run.main(argv) == 0

    results = json.loads((tmp_path / "load.json").read_text())["results"]
    assert [r for r in results if r["errors"]] == []
    checkins = [r for r in results if r["kind"] == "checkin"]
    # The bare endpoint and the app, side by side at each number of clients, every answer 201.
    assert [(r["target"], r["clients"]) for r in checkins] == [
        ("bare", 1),
        ("app-120", 1),
        ("bare", 3),
        ("app-120", 3),
    ]
    assert all(r["requests"] > 0 and set(r["statuses"]) == {"201"} for r in checkins)
    pages = {(r["kind"], r["size"], r["clients"]) for r in results if r["kind"] != "checkin"}
    for kind in ("worklist", "episode"):
        assert {(kind, size, clients) for size in (60, 120) for clients in (1, 2)} <= pages
    assert all(
        set(r["statuses"]) <= {"200"} for r in results if r["kind"] in ("worklist", "episode")
    )
    # The red-flag check-in reached the polling worklist; the job ran twice and reported.
    (alert,) = [r for r in results if r["kind"] == "alert"]
    assert alert["status"] == 201 and alert["seconds"] > 0
    ticks = [r for r in results if r["kind"].startswith("tick")]
    assert [r["kind"] for r in ticks] == ["tick-first", "tick"]
    assert all("missed" in r["report"] for r in ticks)

    doc = (tmp_path / "performance.md").read_text()
    assert doc.count(performance.START) == doc.count(performance.END) == 1
    for title in ("Check-in", "Staff pages", "Alert latency", "Targets"):
        assert f"### {title}" in doc
