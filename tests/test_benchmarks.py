"""`make bench` keeps working: a tiny run on SQLite measures every request it reports."""

from __future__ import annotations

import json

from benchmarks import run


def test_a_small_benchmark_run_measures_every_request(tmp_path, monkeypatch, capsys):
    results = tmp_path / "latest.json"
    monkeypatch.setattr(run, "RESULTS", results)
    argv = ["--episodes", "60", "--rows", "300", "--repeats", "1", "--checkins", "3"]
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
