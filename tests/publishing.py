"""Publishing helpers for tests: a one-part release, the inventory published alone, PostGIS layers at once.

The pipeline stages each producer's files in its run's :class:`residua.geodata.transaction.Release`
and the ``release`` asset commits them together; these publish straight away, so a test can
build an output folder from literal layers without a pipeline run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import geopandas as gpd
import pandas as pd

from residua.geodata.postgis import PostgisTarget, publish_staged, stage_layers
from residua.geodata.publish import ALL_FORMATS, INVENTORY_FILES, publish_staged_inventory, stage_inventory
from residua.geodata.transaction import Release


@contextmanager
def staged_outputs(
    out_dir: Path, stale: Iterable[str] = (), before: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """Yield a staging folder; on success publish every file in it into ``out_dir`` in one transaction.

    ``stale``: names (or glob patterns) in ``out_dir`` to remove when this publish does not
    write them; ``before``: called with the staging folder just before the files move (see
    :meth:`Release.commit`). If the block raises, or a move fails, the staging folder is
    deleted and ``out_dir`` is left as it was. This is a :class:`Release` with a single part.
    """
    release = Release.open(out_dir)
    try:
        with release.part("outputs", stale=stale) as staging:
            yield staging
        release.commit(before=before)
    finally:
        release.discard()


def publish_inventory(
    out_dir: Path,
    sites_ranked: gpd.GeoDataFrame,
    samples: gpd.GeoDataFrame,
    quarantine: gpd.GeoDataFrame,
    metadata: Mapping[str, object],
    formats: Iterable[str] = ALL_FORMATS,
    hubs: gpd.GeoDataFrame | None = None,
    postgis: PostgisTarget | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    catalogue: bool = False,
    hub_assignments: gpd.GeoDataFrame | None = None,
    sampling_plan: gpd.GeoDataFrame | None = None,
) -> dict[str, Path]:
    """Write the inventory in each selected format (and to PostGIS) and publish it; return the files.

    The files are staged, then published in one transaction (:func:`staged_outputs`):
    exports of formats not selected this time (:data:`INVENTORY_FILES`) are removed from
    ``out_dir``, and a failure anywhere leaves ``out_dir`` as it was. Parameters as for
    :func:`stage_inventory`, with ``out_dir`` the output folder; the inventory alone is published
    unless ``catalogue`` is set (the QGIS project and the STAC catalog describe a run's whole
    output, see :func:`stage_catalogue`).

    Returns
    -------
    dict of str to Path
        Output name -> final path, e.g. ``inventory``, ``sites_ranked_csv``.
    """
    before = None if postgis is None else partial(publish_staged_inventory, postgis)
    with staged_outputs(out_dir, stale=INVENTORY_FILES, before=before) as staging:
        written = stage_inventory(staging, sites_ranked, samples, quarantine, metadata, formats=formats, hubs=hubs,
                                  postgis=postgis, tables=tables, catalogue=catalogue,
                                  hub_assignments=hub_assignments, sampling_plan=sampling_plan)  # fmt: skip
    return {key: out_dir / path.relative_to(staging) for key, path in written.items()}


def publish_layers(
    target: PostgisTarget, layers: Mapping[str, pd.DataFrame], geometry_types: Mapping[str, str] | None = None
) -> list[str]:
    """Stage ``layers`` and put them in place at once (:func:`stage_layers`, :func:`publish_staged`);
    return their qualified names in the order given."""
    key = "t" + uuid.uuid4().hex[:11]
    stage_layers(target, layers, key, geometry_types=geometry_types)
    publish_staged(target, key)
    return [f"{target.schema}.{name}" for name in layers]
