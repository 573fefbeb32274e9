"""A benchmark's frozen copy of the code imports itself, not the checkout it was copied from."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from code_snapshot import PACKAGES, link_namespace  # noqa: E402 (the benchmarks folder is not a package)


def test_a_frozen_copy_imports_as_residua_ahead_of_the_editable_install(tmp_path):
    copy = tmp_path / "code"
    for package in PACKAGES:
        shutil.copytree(REPO / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    link_namespace(copy)
    code = "import residua.models.grade as g, residua.pipelines.cli as c; print(g.__file__); print(c.__file__)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [Path(line).resolve().parent.parent for line in run.stdout.split()] == [copy.resolve()] * 2
    checkout = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert all(str(REPO) in line for line in checkout.stdout.split())  # without the copy: the installed checkout
