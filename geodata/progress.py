"""Per-site work run on joblib's configured backend, with a progress bar on a terminal.

``residua run`` spends most of a national refresh in loops over sites (DEM volumes, block
models, simulation chunks, grade rasters). On a terminal each such loop draws one tqdm bar
(done / total, rate, time left) on standard error and leaves its final line as a record;
piped to a file or run by a Dagster daemon it prints nothing, so logs keep their content.
``RESIDUA_PROGRESS=0`` or ``1`` overrides the terminal test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from joblib import Parallel
from tqdm import tqdm


def progress_wanted() -> bool:
    """Whether to draw bars: ``RESIDUA_PROGRESS`` when set, else whether standard error is a terminal."""
    setting = os.environ.get("RESIDUA_PROGRESS", "").strip()
    if setting in {"0", "1"}:
        return setting == "1"
    return sys.stderr.isatty()


def run_jobs(jobs: Sequence[Any], description: str, unit: str = "site", show: bool | None = None) -> list:
    """Results of joblib ``delayed`` ``jobs``, in order, on the caller's backend.

    With a bar (``show``, default :func:`progress_wanted`) the results are collected as
    they arrive (``return_as="generator"``): the same results in the same order.

    >>> from joblib import delayed
    >>> run_jobs([delayed(pow)(2, n) for n in range(4)], "powers", show=False)
    [1, 2, 4, 8]
    """
    if not jobs:
        return []
    if not (progress_wanted() if show is None else show):
        return Parallel()(jobs)
    results = Parallel(return_as="generator")(jobs)
    bar = tqdm(results, total=len(jobs), desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True)
    return list(bar)
