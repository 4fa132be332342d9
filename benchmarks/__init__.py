"""Speed and size measurements: `make bench` (`python -m benchmarks.run`).

Nothing here is a test: the figures depend on the machine, so they are printed and written to
docs/benchmarks.md, never asserted. See docs/benchmarks.md for what is measured and how.
"""
