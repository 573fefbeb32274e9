"""Doctests run on the installed modules, not on second copies of their files.

The checkout's folders install as ``residua.geodata``, ``residua.models``, ... (pyproject.toml).
pytest names a source file it collects for doctests by its folder (``geodata/postgis.py`` is
``geodata.postgis``) and reuses a module already in ``sys.modules`` under that name, so each
checkout name is pointed at the installed module before collection.
"""

import importlib
import pkgutil
import sys

for package in ("geodata", "models", "assets", "pipelines"):
    installed = importlib.import_module(f"residua.{package}")
    sys.modules.setdefault(package, installed)
    for info in pkgutil.walk_packages(installed.__path__, f"residua.{package}."):
        sys.modules.setdefault(info.name.removeprefix("residua."), importlib.import_module(info.name))
