"""The four package folders install as one namespace, residua.*, and import themselves only by it."""

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("geodata", "models", "assets", "pipelines")


def test_the_installed_package_imports_away_from_the_checkout_and_installs_nothing_generic(tmp_path):
    code = ("import importlib.util, residua.pipelines.definitions, residua.pipelines.cli; "
            f"print([name for name in {PACKAGES} if importlib.util.find_spec(name)])")  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_no_module_imports_a_package_by_its_folder_name():
    """pytest's doctest aliases (conftest.py) would hide such an import; an installed user would meet it."""
    offending = []
    for folder in (*PACKAGES, "tests", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offending += [f"{path.relative_to(REPO)}:{node.lineno} {name}" for name in names
                              if name.split(".")[0] in PACKAGES]  # fmt: skip
    assert offending == []
