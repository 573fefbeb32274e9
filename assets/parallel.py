"""Where per-site work runs: local processes by default, a Dask cluster when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import joblib


@contextmanager
def parallel_backend(dask_address: str | None, n_jobs: int) -> Iterator[str]:
    """Route joblib work (DEM volumes, zonal statistics, block models, simulation) to Dask when an address is given.

    Yields the backend name. With no address, joblib's own process pool (``loky``) runs
    ``n_jobs`` workers; with ``dask_address`` (e.g. ``tcp://10.0.0.5:8786``) a
    ``distributed.Client`` connects to that scheduler for the duration of the block.
    """
    if not dask_address:
        with joblib.parallel_config(backend="loky", n_jobs=n_jobs):
            yield "loky"
        return
    from distributed import Client

    with Client(dask_address) as client, joblib.parallel_config(backend="dask", n_jobs=-1):
        client.wait_for_workers(1, timeout=60)
        yield "dask"
