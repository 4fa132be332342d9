"""The pure modules import only the standard library and each other (STYLE.md, habit 1)."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "recovery"
PURE = (
    "curve",
    "rules",
    "schedule",
    "simulate",
    "backtest",
    "message",
    "vocabulary",
    "reminders",
)
FORBIDDEN = ("flask", "sqlalchemy", "werkzeug")


def imports_of(module: str) -> list[tuple[int, str]]:
    """(level, name) of every import in recovery/<module>.py; level > 0 is relative."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_framework_nor_models(module):
    for level, name in imports_of(module):
        top = name.split(".")[0]
        assert not (level == 0 and (top in FORBIDDEN or top.startswith("flask_"))), name
        assert not (level > 0 and top in {"models", "extensions"}), f".{name}"


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_only_the_standard_library_and_its_pure_siblings(module):
    for level, name in imports_of(module):
        if level == 0:
            assert name.split(".")[0] in sys.stdlib_module_names, name
        else:
            assert level == 1 and name in PURE, f"{'.' * level}{name}"
