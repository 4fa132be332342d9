"""Speed and size measurements: `make bench` (`python -m benchmarks.run`).

Nothing here is a test: the figures depend on the machine, so they are printed and written to
docs/benchmarks.md (each request's cost, in process) and docs/performance.md (the app in
gunicorn under load over HTTP), never asserted. Those docs say what is measured and how.
"""
