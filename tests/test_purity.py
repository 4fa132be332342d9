"""The layers hold: import-linter checks the contracts in pyproject.toml (docs/architecture.md);
these tests keep what a contract cannot say.

- Every module of the clinical core (recovery/clinical/, whatever is added there) imports only
  the standard library and its siblings.
- Services (recovery/care/, recovery/interop/) never call `abort` nor read `request`, and never
  commit: the route or command that called them commits once. The outreach job is the one
  exception for commits: like a request, it owns its transactions.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "recovery"
CLINICAL = sorted(p.stem for p in (PACKAGE / "clinical").glob("*.py") if p.stem != "__init__")
SERVICES = sorted(
    str(p.relative_to(PACKAGE))
    for layer in ("care", "interop")
    for p in (PACKAGE / layer).glob("*.py")
)
JOBS = {"care/outreach.py"}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(level, name) of every import in `path`; level > 0 is relative."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_clinical_core_has_the_modules_the_docs_name():
    assert {"curve", "rules", "schedule", "vocabulary", "reminders"} <= set(CLINICAL)


@pytest.mark.parametrize("module", CLINICAL)
def test_clinical_module_imports_only_the_standard_library_and_its_siblings(module):
    for level, name in imports_of(PACKAGE / "clinical" / f"{module}.py"):
        if level == 0:
            assert name.split(".")[0] in sys.stdlib_module_names, name
        else:
            assert level == 1 and name in CLINICAL, f"{'.' * level}{name}"


def calls_and_names(path: Path) -> set[str]:
    """Attribute and function names called, and names imported, in `path`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            found.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
        elif isinstance(node, ast.ImportFrom):
            found |= {f"import {alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("module", SERVICES)
def test_services_never_abort_read_the_request_or_commit(module):
    found = calls_and_names(PACKAGE / module)
    assert "abort" not in found and "import abort" not in found
    assert "import request" not in found
    if module not in JOBS:
        assert "commit" not in found


def test_the_import_contracts_hold():
    """`lint-imports` (also run by `make test`) keeps the layers; run here too so a plain
    `pytest` sees a broken contract."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_catch_a_layer_crossed(tmp_path):
    """The contracts bite: a copy of the package with three crossings is refused, each named."""
    shutil.copytree(PACKAGE, tmp_path / "recovery", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE.parent / "pyproject.toml", tmp_path)
    (tmp_path / "recovery/clinical/crossing.py").write_text("import flask\n")
    (tmp_path / "recovery/staff/crossing.py").write_text("from ..patient import routes\n")
    (tmp_path / "recovery/care/crossing.py").write_text("from ..web import site\n")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert "recovery.clinical.crossing -> flask" in result.stdout
    assert "recovery.staff.crossing -> recovery.patient.routes" in result.stdout
    assert "recovery.care.crossing -> recovery.web.site" in result.stdout
