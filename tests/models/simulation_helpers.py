"""One-call wrappers of the simulation API for tests: tables in, summary or draws out."""

import numpy as np
import pandas as pd

from residua.geodata.schema import ELEMENTS
from residua.models.estimates import estimate_resources
from residua.models.simulation import ResourceDraws, SimulationInputs, iter_draws, summarise


def simulate_resources(*tables, **options) -> pd.DataFrame:
    """:func:`~residua.models.simulation.summarise` of inputs from ``SimulationInputs.build(*tables, **options)``."""
    return summarise(SimulationInputs.build(*tables, **options))


def simulate_draws(*tables, **options) -> ResourceDraws:
    """Every site's draws in one :class:`ResourceDraws` (the chunks of :func:`iter_draws` joined)."""
    chunks = list(iter_draws(SimulationInputs.build(*tables, **options)))
    join = lambda arrays: np.concatenate(list(arrays))  # noqa: E731
    return ResourceDraws(
        site_ids=join(chunk.site_ids for chunk in chunks),
        tonnes=join(chunk.tonnes for chunk in chunks),
        mean_grade={key: join(chunk.mean_grade[key] for chunk in chunks) for key in ELEMENTS},
        above={key: join(chunk.above[key] for chunk in chunks) for key in ELEMENTS},
        contained={key: join(chunk.contained[key] for chunk in chunks) for key in chunks[0].contained},
        recoverable={key: join(chunk.recoverable[key] for chunk in chunks) for key in chunks[0].recoverable},
        value=join(chunk.value for chunk in chunks),
    )


def estimates_of(features: pd.DataFrame, *tables, **options) -> pd.DataFrame:
    """:func:`~residua.models.estimates.estimate_resources`, the simulation built from ``features`` and the tables."""
    return estimate_resources(features, SimulationInputs.build(features, *tables, **options))


def draws_of(features: pd.DataFrame, *tables, **options):
    """The chunks of draws behind :func:`estimates_of` (same arguments, same draws)."""
    return iter_draws(SimulationInputs.build(features, *tables, **options))
