"""Frozen copies of Residua's code that import as ``residua``, so that a benchmark runs the copy, not the checkout.

The four package folders install as ``residua.geodata``, ``residua.models``, ``residua.assets`` and
``residua.pipelines`` (pyproject.toml), and the code imports itself by those names. A copy of the
folders therefore needs a ``residua/`` beside them: with the copy's root first on ``sys.path`` (or
``PYTHONPATH``), Python finds that namespace before the editable install's finder.
"""

from pathlib import Path

PACKAGES: tuple[str, ...] = ("geodata", "models", "assets", "pipelines")


def link_namespace(code_root: Path) -> Path:
    """Make ``code_root/residua/<package>`` link to each package folder of the copy; return the namespace folder.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for package in PACKAGES:
    ...     (root / package).mkdir()
    >>> sorted(path.name for path in link_namespace(root).iterdir())
    ['assets', 'geodata', 'models', 'pipelines']
    >>> (root / "residua" / "models").resolve() == (root / "models").resolve()
    True
    """
    namespace = code_root / "residua"
    namespace.mkdir(exist_ok=True)
    for package in PACKAGES:
        link = namespace / package
        if not link.exists():
            link.symlink_to(Path("..") / package, target_is_directory=True)
    return namespace
