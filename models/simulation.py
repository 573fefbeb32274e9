"""Monte Carlo propagation of tonnage, grade and recovery uncertainty to metal tonnes.

Per site and draw: tonnes ~ lognormal(tonnes_p50, tonnes_log_sd); for each element the
site mean log-grade m ~ N(log_mean, log_sd), correlated between the elements of a site
(by the sampled sites' correlation, see :mod:`residua.models.element_correlation`), and the
deposit's mean grade is exp(m + sigma_w^2 / 2); recovery ~ triangular(low, mode, high). One tonnage draw is
shared by every element of a site, so PGM (Pt + Pd + Rh) and value totals are summed per
draw before percentiles are taken: a total's P90 is not the sum of P90s. Recovery is
drawn once per residue type, element and draw and shared by every site of that type:
its uncertainty is about the process, the same at every site, so a group of sites does
not average it away.

Sites are simulated in chunks of ``SITES_PER_CHUNK`` (chunk i draws from the random
stream (seed, 1, i)), so memory stays bounded at any number of sites, chunks run in
parallel on the caller's joblib backend, and results do not depend on the number of
workers.

Cut-off: grades within a site are lognormal with log-sd sigma_w (point or block scale),
so the share of metal in material above a cut-off c has the closed form
Phi((m + sigma_w^2 - ln c) / sigma_w) (the lognormal partial expectation). Contained
metal counts everything; recoverable metal counts only metal above the cut-off, times
the recovery.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import delayed
from scipy.special import ndtr

from residua.geodata.progress import run_jobs
from residua.geodata.schema import ELEMENTS, PGM_ELEMENTS

PERCENTILES: dict[str, float] = {"p10": 10.0, "p50": 50.0, "p90": 90.0}
GRAMS_PER_TONNE = 1e6
KG_PER_TONNE = 1e3
#: Monte Carlo draws per site, and the random seed, of a run (settings ``n_draws`` and ``seed``).
N_DRAWS = 2000
SEED = 20261125
#: Sites simulated together: 500 sites x 2000 draws x ~24 arrays of float64 is ~200 MB.
SITES_PER_CHUNK = 500


@dataclass(frozen=True)
class ResourceDraws:
    """Every site's Monte Carlo draws, before percentiles are taken.

    Arrays are (n_sites, n_draws), rows in the order of ``site_ids``. ``contained`` and
    ``recoverable`` (tonnes of metal) are keyed by element and ``pgm``; ``mean_grade``
    (g/t) and ``above`` (share of the metal above the cut-off) by element; ``value`` is
    the in-situ recoverable value (USD at mid prices). Summing rows of one draw gives the
    draw of a group of sites (e.g. a processing hub's catchment), so a group's P90 is
    taken on its own total, never as the sum of the sites' P90s.
    """

    site_ids: np.ndarray
    tonnes: np.ndarray
    mean_grade: dict[str, np.ndarray]
    above: dict[str, np.ndarray]
    contained: dict[str, np.ndarray]
    recoverable: dict[str, np.ndarray]
    value: np.ndarray


@dataclass(frozen=True)
class SimulationInputs:
    """Everything the simulation of a set of sites needs, built once (and small enough to send to a worker).

    :meth:`build` takes the tables; :func:`iter_draws` yields the draws chunk by chunk and
    :func:`summarise` their P10/P50/P90, both from the same seeds, so a group total drawn
    through :func:`iter_draws` (a processing hub's catchment) matches the sites' estimates.
    """

    sites: pd.DataFrame
    grades: pd.DataFrame
    recovery: dict[str, pd.DataFrame]
    prices: pd.Series
    cutoffs: dict[str, float]
    n_draws: int
    seed: int
    chunk_size: int
    correlation_root: np.ndarray

    @classmethod
    def build(
        cls,
        tonnage: pd.DataFrame,
        grades: pd.DataFrame,
        recovery: pd.DataFrame,
        prices: pd.DataFrame,
        cutoffs: dict[str, float] | None = None,
        n_draws: int = N_DRAWS,
        seed: int = 0,
        element_correlation: pd.DataFrame | None = None,
    ) -> SimulationInputs:
        """The inputs from the tables.

        Parameters
        ----------
        tonnage
            Per site: ``site_id``, ``residue_type``, ``tonnes_p50``, ``tonnes_log_sd``.
        grades
            Per site and element: ``site_id``, ``element``, ``log_mean``, ``log_sd``,
            ``sigma_w``.
        recovery
            Reference recovery table (``residue_type``, ``element``, low / mode / high).
        prices
            Reference price table (``element``, ``price_mid_usd_per_kg``).
        cutoffs
            Cut-off grade (g/t) per element; none or 0 means every tonne counts.
        n_draws, seed
            Number of Monte Carlo draws and the seed that makes them reproducible.
        element_correlation
            Correlation between elements of a site's mean log-grade draws (a matrix labelled
            by element, :func:`residua.models.element_correlation.element_correlation`); default
            independent.
        """
        sites = tonnage[["site_id", "residue_type", "tonnes_p50", "tonnes_log_sd"]].reset_index(drop=True)
        if element_correlation is None:
            element_correlation = pd.DataFrame(np.eye(len(ELEMENTS)), index=list(ELEMENTS), columns=list(ELEMENTS))
        correlation = element_correlation.loc[list(ELEMENTS), list(ELEMENTS)].to_numpy(dtype=float)
        return cls(
            sites=sites,
            grades=grades.set_index(["site_id", "element"])[["log_mean", "log_sd", "sigma_w"]],
            recovery=recovery_draws(recovery, sites["residue_type"], n_draws, seed),
            prices=prices.set_index("element")["price_mid_usd_per_kg"],
            cutoffs=dict(cutoffs or {}),
            n_draws=n_draws,
            seed=seed,
            chunk_size=SITES_PER_CHUNK,
            correlation_root=np.linalg.cholesky(correlation + 1e-12 * np.eye(len(correlation))),
        )

    @property
    def n_chunks(self) -> int:
        """Chunks of at most ``chunk_size`` sites; one (empty) chunk when there are no sites."""
        return max(1, -(-len(self.sites) // self.chunk_size))

    def chunk(self, index: int) -> ResourceDraws:
        """Draws of sites [index x chunk_size, (index + 1) x chunk_size)."""
        sites = self.sites.iloc[index * self.chunk_size : (index + 1) * self.chunk_size]
        rng = np.random.default_rng([self.seed, 1, index])
        n_sites, n_draws = len(sites), self.n_draws
        tonnes = sites["tonnes_p50"].to_numpy()[:, None] * np.exp(
            sites["tonnes_log_sd"].to_numpy()[:, None] * rng.standard_normal((n_sites, n_draws))
        )
        value = np.zeros((n_sites, n_draws))
        mean_grades, shares, contained_by, recoverable_by = {}, {}, {}, {}
        pgm_contained = np.zeros((n_sites, n_draws))
        pgm_recoverable = np.zeros((n_sites, n_draws))
        # One standard normal per site, draw and element, correlated between elements.
        deviations = rng.standard_normal((n_sites, n_draws, len(ELEMENTS))) @ self.correlation_root.T
        for index, element in enumerate(ELEMENTS):
            params = self.grades.xs(element, level="element").reindex(sites["site_id"])
            log_mean = params["log_mean"].to_numpy()[:, None]
            log_sd = params["log_sd"].to_numpy()[:, None]
            sigma_w = params["sigma_w"].to_numpy()[:, None]
            m = log_mean + log_sd * deviations[:, :, index]
            mean_grade = np.exp(m + sigma_w**2 / 2)
            above = metal_share_above(m, sigma_w, self.cutoffs.get(element, 0.0))
            recovered = self.recovery[element].reindex(sites["residue_type"]).to_numpy()
            contained = tonnes * mean_grade / GRAMS_PER_TONNE
            recoverable = contained * above * recovered
            value += recoverable * KG_PER_TONNE * float(self.prices[element])
            mean_grades[element], shares[element] = mean_grade, above
            contained_by[element], recoverable_by[element] = contained, recoverable
            if element in PGM_ELEMENTS:
                pgm_contained += contained
                pgm_recoverable += recoverable
        contained_by["pgm"], recoverable_by["pgm"] = pgm_contained, pgm_recoverable
        return ResourceDraws(
            site_ids=sites["site_id"].to_numpy(),
            tonnes=tonnes,
            mean_grade=mean_grades,
            above=shares,
            contained=contained_by,
            recoverable=recoverable_by,
            value=value,
        )


def recovery_draws(
    recovery: pd.DataFrame, residue_types: pd.Series, n_draws: int, seed: int
) -> dict[str, pd.DataFrame]:
    """Per element, one triangular recovery draw per residue type and draw (types x draws).

    Drawn from the random stream (seed, 0), independent of how sites are chunked.
    """
    rng = np.random.default_rng([seed, 0])
    types = sorted(set(residue_types))
    table = recovery.set_index(["residue_type", "element"])
    draws = {}
    for element in ELEMENTS:
        rates = table.xs(element, level="element").reindex(types)
        draws[element] = pd.DataFrame(_triangular(rng, rates, n_draws), index=pd.Index(types, name="residue_type"))
    return draws


def iter_draws(inputs: SimulationInputs) -> Iterator[ResourceDraws]:
    """The draws of every site, one chunk of sites at a time (bounded memory).

    Examples
    --------
    >>> tonnage = pd.DataFrame({"site_id": ["s"], "residue_type": ["r"], "tonnes_p50": [1e6], "tonnes_log_sd": [0.0]})
    >>> grades = pd.DataFrame({"site_id": "s", "element": list(ELEMENTS), "log_mean": 0.0, "log_sd": 0.0,
    ...                        "sigma_w": 0.0})
    >>> recovery = pd.DataFrame({"residue_type": "r", "element": list(ELEMENTS), "recovery_low": 0.5,
    ...                          "recovery_mode": 0.5, "recovery_high": 0.5})
    >>> prices = pd.DataFrame({"element": list(ELEMENTS), "price_mid_usd_per_kg": 1.0})
    >>> (draws,) = iter_draws(SimulationInputs.build(tonnage, grades, recovery, prices, n_draws=3))
    >>> draws.recoverable["ga"].tolist()  # 1 Mt at 1 g/t holds 1 t, half recovered
    [[0.5, 0.5, 0.5]]
    """
    for index in range(inputs.n_chunks):
        yield inputs.chunk(index)


def summarise(inputs: SimulationInputs) -> pd.DataFrame:
    """P10/P50/P90 of contained and recoverable metal and of in-situ recoverable value, one row per site.

    Columns: ``<m>_grade_gt_<p>`` (the deposit's mean grade), ``<m>_contained_t_<p>``,
    ``<m>_recoverable_t_<p>`` for every element and ``pgm``, ``<e>_above_cutoff_p50`` (share
    of the element's metal above its cut-off) and ``value_usd_<p>``. Chunks run in parallel
    on the caller's joblib backend.
    """
    if inputs.n_chunks == 1:
        return summarise_draws(inputs.chunk(0))
    parts = run_jobs(
        [delayed(_summarise_chunk)(inputs, index) for index in range(inputs.n_chunks)], "simulation", unit="chunk"
    )
    return pd.concat(parts, ignore_index=True)


def _summarise_chunk(inputs: SimulationInputs, index: int) -> pd.DataFrame:
    return summarise_draws(inputs.chunk(index))


def summarise_draws(draws: ResourceDraws) -> pd.DataFrame:
    """Per site P10/P50/P90 of the draws: the table :func:`summarise` returns."""
    out = pd.DataFrame({"site_id": draws.site_ids})
    for element in ELEMENTS:
        out[f"{element}_above_cutoff_p50"] = np.percentile(draws.above[element], 50.0, axis=1)
        _summarise(out, element, draws.contained[element], draws.recoverable[element])
        _summarise_grade(out, element, draws.mean_grade[element])
    _summarise(out, "pgm", draws.contained["pgm"], draws.recoverable["pgm"])
    tonnes_total = np.maximum(draws.tonnes, 1e-12)
    _summarise_grade(out, "pgm", draws.contained["pgm"] * GRAMS_PER_TONNE / tonnes_total)
    for name, q in PERCENTILES.items():
        out[f"value_usd_{name}"] = np.percentile(draws.value, q, axis=1)
    return out


def metal_share_above(log_mean: np.ndarray, sigma: np.ndarray, cutoff: float) -> np.ndarray:
    """Share of a lognormal deposit's metal in material graded above ``cutoff``.

    ``log_mean`` is the mean log-grade m; with sigma = 0 the deposit is all above or all
    below.

    >>> float(metal_share_above(np.array([np.log(10.0)]), np.array([0.0]), 5.0)[0])
    1.0
    >>> round(float(metal_share_above(np.array([0.0]), np.array([1.0]), 1.0)[0]), 4)  # Phi(1)
    0.8413
    """
    if cutoff <= 0:
        return np.ones(np.broadcast(log_mean, sigma).shape)
    sigma = np.broadcast_to(sigma, np.broadcast(log_mean, sigma).shape)
    safe = np.where(sigma > 0, sigma, 1.0)
    share = ndtr((log_mean + sigma**2 - np.log(cutoff)) / safe)  # the standard normal CDF, as norm.cdf computes it
    return np.where(sigma > 0, share, (log_mean > np.log(cutoff)).astype(float))


def _triangular(rng: np.random.Generator, rates: pd.DataFrame, n_draws: int) -> np.ndarray:
    low = rates["recovery_low"].to_numpy()[:, None]
    mode = rates["recovery_mode"].to_numpy()[:, None]
    high = rates["recovery_high"].to_numpy()[:, None]
    span = np.where(high > low, high - low, 1.0)
    # inverse-CDF sampling, which (unlike Generator.triangular) allows low == high
    u = rng.random((len(rates), n_draws))
    cut = np.where(high > low, (mode - low) / span, 0.0)
    left = low + np.sqrt(u * span * np.maximum(mode - low, 0.0))
    right = high - np.sqrt((1 - u) * span * np.maximum(high - mode, 0.0))
    return np.where(u < cut, left, right)


def _summarise_grade(out: pd.DataFrame, metal: str, mean_grade: np.ndarray) -> None:
    for name, q in PERCENTILES.items():
        out[f"{metal}_grade_gt_{name}"] = np.percentile(mean_grade, q, axis=1)


def _summarise(out: pd.DataFrame, metal: str, contained: np.ndarray, recoverable: np.ndarray) -> None:
    for name, q in PERCENTILES.items():
        out[f"{metal}_contained_t_{name}"] = np.percentile(contained, q, axis=1)
    for name, q in PERCENTILES.items():
        out[f"{metal}_recoverable_t_{name}"] = np.percentile(recoverable, q, axis=1)
