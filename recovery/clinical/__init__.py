"""The clinical core: the expected curve, the alert rules, check-in windows, the vocabulary.

Pure: numbers and plain values in, numbers and plain values out; only the standard library
(import-linter keeps it so, see docs/architecture.md). Sources: docs/clinical.md.
"""
