"""Generate Residua's bundled SYNTHETIC demo data drop.

Every number this script writes is made up. Sites are placed near real Indian industrial
localities so that maps look plausible, but footprints, tonnages, operators and assays are
invented. Grade distributions are centred on published figures (cited next to each figure
below, in the README and in geodata/reference/README.md).

Usage::

    python geodata/demo/make_demo.py            # writes next to this script
    python geodata/demo/make_demo.py --out DIR  # writes into DIR

Output (same seed -> byte-identical files on the same platform and library versions):

    dataset.json   title, synthetic flag, seed
    sites.gpkg     layer "sites": 64 site footprints (EPSG:4326 polygons) and attributes
    rasters/       surface and base DEMs (float32 GeoTIFF) for part of the sites
    rasters/covariates/
                   regional_ga_ppm.tif (EPSG:4326, 0.02 degree) and pond_wetness_index.tif
                   (EPSG:7755, 250 m): covariates; site Ga depends on the first only
    samples.csv    auger-hole assays, with 6 deliberately bad rows at the end
    truth.csv      the true volume, tonnes and mean grades per site (for checking only)
    README.md      what all of the above is, generated from the same run
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.windows
import shapely
from pyproj import Proj, Transformer
from rasterio.transform import from_origin
from shapely import affinity
from shapely.geometry import Point, Polygon, box

sys.dont_write_bytecode = True  # write nothing outside the output folder
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from residua.geodata.schema import (  # noqa: E402
    ELEMENTS,
    PGM_ELEMENTS,
    RESIDUE_TYPES,
    STORAGE_CRS,
    canonical_residue_type,
    parse_assay_column,
)

SEED = 20240611
TITLE = "Residua demo: synthetic Indian tailings and residue sites"
#: Fixed timestamp written into the GeoPackage so that repeated runs are byte-identical.
FIXED_TIMESTAMP = "2024-06-11T00:00:00Z"
LCC_INDIA_EPSG = 7755  # WGS 84 / India NSF LCC, used by a few sites instead of UTM
NODATA = -9999.0
DEM_MARGIN_M = 50.0
MIN_SITE_GAP_DEG = 0.003  # about 300 m between footprints of neighbouring sites

# Within-site log-grade model (natural-log units). Sill and nugget are variances.
GRADE_SILL = 0.15
GRADE_NUGGET = 0.05
GRADE_RANGE_M = (150.0, 400.0)
BETWEEN_SITE_SD = 0.35
#: Share of variance an element shares with the site's common component (PGMs move together).
ELEMENT_CORRELATION = {"ga": 0.3, "te": 0.3, "pt": 0.8, "pd": 0.8, "rh": 0.8}

# Covariate rasters. The regional Ga field is a smooth random field z (standardised over the
# raster's pixels); regional_ga_ppm = median x exp(log_sd x z). Site mean log-grades of Ga in
# the types below shift by REGIONAL_GA_EFFECT x (z at the footprint's centroid - the mean of z
# over the type's sites), so a model that reads the covariate has real signal while each type's
# median grade stays at its cited figure. The wetness index is independent of everything.
REGIONAL_GA_BOUNDS = (68.0, 7.0, 96.0, 31.0)  # west, south, east, north (degrees)
REGIONAL_GA_PIXEL_DEG = 0.02
REGIONAL_GA_MEDIAN_PPM = 20.0
REGIONAL_GA_LOG_SD = 0.35
REGIONAL_GA_WAVELENGTH_DEG = (3.0, 15.0)
REGIONAL_GA_EFFECT = 0.5
REGIONAL_GA_TYPES = ("bauxite_residue", "zinc_leach_residue", "coal_fly_ash")
WETNESS_PIXEL_M = 250.0
WETNESS_TILE = 128  # pixels; only tiles near a site are written (a sparse GeoTIFF)
WETNESS_MARGIN_M = 3000.0
WETNESS_WAVELENGTH_M = (2_000.0, 40_000.0)
N_FIELD_WAVES = 24

AUGER_INTERVAL_M = 1.5
MAX_INTERVALS = 8
#: Detection limits in g/t; values below are written as "<DL" in the column's unit.
DETECTION_LIMIT_GT = {"ga": 0.5, "te": 0.05, "pt": 0.002, "pd": 0.002, "rh": 0.002}
#: Most decimals a lab reports per column (values are otherwise given to 3 significant figures).
REPORT_DECIMALS = {"ga_ppm": 1, "te_ppm": 2, "te_ppb": 0, "pt_ppb": 0, "pd_ppb": 0, "rh_ppb": 0}
UNIT_FACTOR = {"ppm": 1.0, "ppb": 1000.0}  # g/t -> unit

SAMPLE_COLUMNS = (
    "sample_id",
    "hole_id",
    "site_id",
    "x",
    "y",
    "crs",
    "depth_from_m",
    "depth_to_m",
    "ga_ppm",
    "te_ppm",
    "te_ppb",
    "pt_ppb",
    "pd_ppb",
    "rh_ppb",
)
ASSAY_COLUMNS = tuple(c for c in SAMPLE_COLUMNS if parse_assay_column(c) is not None)

# How many sites get each optional attribute / data product (out of 64).
N_SURFACE_DEM = 42  # ~65 %
N_BOTH_DEMS = 32  # ~50 %, a subset of the surface-DEM sites
N_REPORTED_TONNES = 19  # ~30 %
N_REPORTED_VOLUME = 6  # ~10 %
N_DRY_DENSITY = 13  # ~20 %
N_BLANK_SITE_ID_SHARE = 0.15  # share of sample rows whose site_id is left blank


@dataclass(frozen=True)
class ResidueSpec:
    """Generation parameters of one canonical residue type."""

    prefix: str  # site_id prefix
    label: str  # noun used in the made-up site names
    aliases: tuple[str, ...]  # human spellings used by some sites (must be in schema)
    area_ha: tuple[float, float]  # footprint area range (log-uniform)
    thickness_m: tuple[float, float]  # range of the footprint-mean thickness
    density_t_m3: float  # true dry density (an ASSUMPTION: no published figure was found)
    depth_trend: float  # change of log-grade per metre of depth
    typical_gt: dict[str, float]  # median over sites of the site mean grade, g/t
    assayed: tuple[str, ...]  # elements a lab assays by default for this type
    process: str  # default source_process
    operator_word: str  # word in the fictional operator name


# Typical grades (g/t). Figures marked [REF] are published figures (sources in the basis column);
# everything else is an ASSUMPTION (small background values so that the pipeline sees
# realistic below-detection results).
RESIDUES: dict[str, ResidueSpec] = {
    "bauxite_residue": ResidueSpec(
        "RM",
        "red mud pond",
        ("Red mud", "Bauxite residue"),
        (40, 250),
        (5, 25),
        1.4,
        0.02,
        # Ga 59.4 ug/g in red mud [REF: Gu, Wang, Hargreaves 2018]; ~50 ppm Ga in feed bauxite of
        # which ~15 % is extracted [REF: Frenzel et al. 2016]. Te is close to its detection limit.
        {"ga": 60.0, "te": 0.06, "pt": 0.003, "pd": 0.003, "rh": 0.0005},
        ("ga", "te"),
        "Bayer process",
        "Alumina",
    ),
    "zinc_leach_residue": ResidueSpec(
        "ZL",
        "jarosite pond",
        ("jarosite", "Jarofix"),
        (5, 60),
        (5, 20),
        1.5,
        0.015,
        # Ga up to 0.266 wt% in zinc refinery residues [REF: countercurrents.org 2023, LOW
        # confidence]; we use a median of 280 g/t so that sites span roughly 100-800 g/t.
        {"ga": 280.0, "te": 2.0, "pt": 0.002, "pd": 0.002, "rh": 0.0005},
        ("ga", "te"),
        "roast-leach-electrowin",
        "Zinc",
    ),
    "copper_flotation_tailings": ResidueSpec(
        "CT",
        "tailings dam",
        ("Copper tailings", "Cu tailings"),
        (20, 250),
        (5, 25),
        1.6,
        -0.01,
        # Te in tailings: not found [REF]; all values here are assumptions.
        {"ga": 15.0, "te": 1.5, "pt": 0.010, "pd": 0.015, "rh": 0.001},
        ("ga", "te", "pt", "pd", "rh"),
        "flotation",
        "Copper",
    ),
    "copper_smelter_slag": ResidueSpec(
        "CS",
        "slag dump",
        ("Copper slag",),
        (3, 40),
        (5, 15),
        2.8,
        0.0,
        {"ga": 12.0, "te": 4.0, "pt": 0.008, "pd": 0.010, "rh": 0.001},
        ("ga", "te", "pt", "pd"),
        "flash smelting",
        "Copper",
    ),
    "copper_anode_slime": ResidueSpec(
        "AS",
        "slime stockpile",
        ("Anode slimes", "refinery residue"),
        (0.5, 3),
        (1, 3),
        2.0,
        0.0,
        # Te 0.4 % (sd 0.1 %), Pt 70 ppm, Pd 74 ppm in Cu anode slime [REF: Palabora product
        # sheet]. The Indian high-Te slime (Te 24.7 % [REF: CSIR-IMMT 2023]) is not modelled.
        {"ga": 0.6, "te": 4000.0, "pt": 70.0, "pd": 74.0, "rh": 2.0},
        ("ga", "te", "pt", "pd", "rh"),
        "electrorefining",
        "Copper Refining",
    ),
    "chromite_pgm_tailings": ResidueSpec(
        "CR",
        "tailings pond",
        ("chromite tailings",),
        (3, 50),
        (5, 15),
        1.9,
        -0.02,
        # ~1 g/t 4E in chromitite, ~3 g/t 4E in chrome-plant tails [REF: WHI note, low-medium];
        # Hernic tailings 2.8 g/t PGE [REF]. We take 2 g/t 4E split Pt 0.55, Pd 0.30, Rh 0.10
        # (Au the rest). Ga in chromite tailings is an assumption.
        {"ga": 35.0, "te": 0.05, "pt": 1.10, "pd": 0.60, "rh": 0.20},
        ("ga", "pt", "pd", "rh"),
        "chromite beneficiation",
        "Chrome",
    ),
    "coal_fly_ash": ResidueSpec(
        "FA",
        "ash pond",
        ("Fly Ash", "pond ash"),
        (30, 250),
        (5, 25),
        1.0,
        0.01,
        # Ga in Indian coal ash 17.2-47.9 mg/kg (bituminous), 6.3-33.3 mg/kg (lignite)
        # [REF: Chand et al. 2022]; 29 g/t is the geometric middle of the bituminous range.
        {"ga": 29.0, "te": 0.3, "pt": 0.003, "pd": 0.004, "rh": 0.0008},
        ("ga", "te"),
        "pulverised coal combustion",
        "Power",
    ),
    "other": ResidueSpec(
        "OT",
        "residue heap",
        ("Other",),
        (3, 20),
        (3, 10),
        1.8,
        0.0,
        {"ga": 8.0, "te": 0.5, "pt": 0.005, "pd": 0.005, "rh": 0.001},
        ("ga", "te", "pt", "pd", "rh"),
        "other",
        "Metals",
    ),
}


@dataclass(frozen=True)
class Locality:
    """A real Indian industrial locality near which synthetic sites are placed."""

    name: str
    lon: float
    lat: float
    state: str
    elevation_m: float  # rough ground elevation
    spread_km: float  # sites are placed up to this far from (lon, lat)
    start_year: int  # earliest commissioned_year of a synthetic site here


LOCALITIES: dict[str, Locality] = {
    "damanjodi": Locality("Damanjodi", 82.93, 18.77, "Odisha", 880, 6, 1987),
    "lanjigarh": Locality("Lanjigarh", 83.40, 19.70, "Odisha", 320, 6, 2007),
    "renukoot": Locality("Renukoot", 83.02, 24.20, "Uttar Pradesh", 280, 5, 1962),
    "belagavi": Locality("Belagavi", 74.55, 15.83, "Karnataka", 760, 5, 1973),
    "korba_alumina": Locality("Korba", 82.74, 22.36, "Chhattisgarh", 300, 4, 1973),
    "muri": Locality("Muri", 85.86, 23.37, "Jharkhand", 240, 4, 1948),
    "chanderiya": Locality("Chanderiya", 74.62, 24.93, "Rajasthan", 410, 5, 1991),
    "debari": Locality("Debari", 73.85, 24.60, "Rajasthan", 560, 4, 1968),
    "dariba": Locality("Dariba", 74.13, 24.95, "Rajasthan", 500, 4, 2010),
    "visakhapatnam": Locality("Visakhapatnam", 83.20, 17.67, "Andhra Pradesh", 30, 3, 1977),
    "khetri": Locality("Khetri", 75.80, 28.00, "Rajasthan", 450, 6, 1975),
    "malanjkhand": Locality("Malanjkhand", 80.70, 22.02, "Madhya Pradesh", 560, 6, 1982),
    "ghatsila": Locality("Ghatsila", 86.47, 22.57, "Jharkhand", 110, 6, 1950),
    "thoothukudi": Locality("Thoothukudi", 78.08, 8.77, "Tamil Nadu", 15, 3, 1997),
    "dahej": Locality("Dahej", 72.62, 21.71, "Gujarat", 10, 3, 1998),
    "silvassa": Locality("Silvassa", 73.02, 20.27, "Dadra and Nagar Haveli and Daman and Diu", 40, 3, 1997),
    "sukinda": Locality("Sukinda", 85.78, 21.01, "Odisha", 150, 6, 1980),
    "boula_nuasahi": Locality("Boula-Nuasahi", 86.33, 21.33, "Odisha", 300, 5, 1985),
    "singrauli": Locality("Singrauli", 82.67, 24.10, "Madhya Pradesh", 300, 6, 1982),
    "korba_power": Locality("Korba", 82.64, 22.42, "Chhattisgarh", 300, 4, 1983),
    "talcher": Locality("Talcher", 85.15, 21.00, "Odisha", 100, 6, 1995),
    "chandrapur": Locality("Chandrapur", 79.26, 20.00, "Maharashtra", 190, 5, 1983),
    "neyveli": Locality("Neyveli", 79.48, 11.56, "Tamil Nadu", 50, 6, 1962),
    "ramagundam": Locality("Ramagundam", 79.47, 18.77, "Telangana", 160, 5, 1983),
    "farakka": Locality("Farakka", 87.90, 24.78, "West Bengal", 30, 4, 1986),
    "mundra": Locality("Mundra", 69.55, 22.84, "Gujarat", 15, 3, 2012),
    "bongaigaon": Locality("Bongaigaon", 90.60, 26.45, "Assam", 60, 4, 2015),
    "dadri": Locality("Dadri", 77.60, 28.60, "Uttar Pradesh", 210, 4, 1991),
    "tundoo": Locality("Tundoo", 86.30, 23.83, "Jharkhand", 200, 4, 1965),
    "numaligarh": Locality("Numaligarh", 93.75, 26.60, "Assam", 100, 4, 2000),
    "hazira": Locality("Hazira", 72.66, 21.15, "Gujarat", 10, 2, 1990),
}

#: (residue type, locality key, number of sites, source_process override or None).
SITE_PLAN: tuple[tuple[str, str, int, str | None], ...] = (
    ("bauxite_residue", "damanjodi", 3, None),
    ("bauxite_residue", "lanjigarh", 2, None),
    ("bauxite_residue", "renukoot", 2, None),
    ("bauxite_residue", "belagavi", 1, None),
    ("bauxite_residue", "korba_alumina", 2, None),
    ("bauxite_residue", "muri", 1, None),
    ("zinc_leach_residue", "chanderiya", 3, None),
    ("zinc_leach_residue", "debari", 2, None),
    ("zinc_leach_residue", "dariba", 2, None),
    ("zinc_leach_residue", "visakhapatnam", 1, None),
    ("copper_flotation_tailings", "khetri", 3, None),
    ("copper_flotation_tailings", "malanjkhand", 3, None),
    ("copper_flotation_tailings", "ghatsila", 1, None),
    ("copper_smelter_slag", "thoothukudi", 3, None),
    ("copper_smelter_slag", "dahej", 3, None),
    ("copper_smelter_slag", "ghatsila", 1, "reverberatory smelting"),
    ("copper_anode_slime", "dahej", 2, None),
    ("copper_anode_slime", "thoothukudi", 2, None),
    ("copper_anode_slime", "silvassa", 2, None),
    ("chromite_pgm_tailings", "sukinda", 4, None),
    ("chromite_pgm_tailings", "boula_nuasahi", 3, None),
    ("coal_fly_ash", "singrauli", 2, None),
    ("coal_fly_ash", "korba_power", 2, None),
    ("coal_fly_ash", "talcher", 2, None),
    ("coal_fly_ash", "chandrapur", 2, None),
    ("coal_fly_ash", "neyveli", 2, "pulverised lignite combustion"),
    ("coal_fly_ash", "ramagundam", 1, None),
    ("coal_fly_ash", "farakka", 1, None),
    ("coal_fly_ash", "mundra", 1, None),
    ("coal_fly_ash", "bongaigaon", 1, None),
    ("coal_fly_ash", "dadri", 1, None),
    ("other", "tundoo", 1, "lead blast-furnace smelting"),
    ("other", "numaligarh", 1, "refinery hydroprocessing (spent catalyst)"),
    ("other", "hazira", 1, "steelmaking (BOF sludge)"),
)

#: Sampled sites per residue type (22 in total, about one third of the sites).
SAMPLED_PER_TYPE = {
    "bauxite_residue": 5,
    "zinc_leach_residue": 2,
    "copper_flotation_tailings": 2,
    "copper_smelter_slag": 2,
    "copper_anode_slime": 2,
    "chromite_pgm_tailings": 3,
    "coal_fly_ash": 5,
    "other": 1,
}
#: Types whose one sampled site reports Te in ppb instead of ppm.
TE_PPB_TYPES = ("copper_flotation_tailings", "coal_fly_ash")
#: Number of sampled fly-ash sites that also assay Pt, Pd and Rh (mostly below detection).
FLY_ASH_FULL_SUITE = 2
#: Residue types that get one EPSG:7755 site each instead of a UTM one.
LCC_TYPES = ("bauxite_residue", "coal_fly_ash", "chromite_pgm_tailings")
#: Residue types that get one surface DEM with a small nodata hole.
DEM_HOLE_TYPES = ("copper_flotation_tailings", "zinc_leach_residue")


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid in a projected CRS (pixel centres at x0 + (i + 0.5) * pixel_m)."""

    x0: float  # west edge
    y1: float  # north edge
    nx: int
    ny: int
    pixel_m: float

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Return 2-D arrays of pixel-centre x and y coordinates."""
        xs = self.x0 + (np.arange(self.nx) + 0.5) * self.pixel_m
        ys = self.y1 - (np.arange(self.ny) + 0.5) * self.pixel_m
        return np.meshgrid(xs, ys)

    def bilinear(self, values: np.ndarray, x: float, y: float) -> float:
        """Bilinearly interpolate ``values`` (on this grid) at the point (x, y)."""
        col = (x - self.x0) / self.pixel_m - 0.5
        row = (self.y1 - y) / self.pixel_m - 0.5
        c0 = int(np.clip(math.floor(col), 0, self.nx - 2))
        r0 = int(np.clip(math.floor(row), 0, self.ny - 2))
        fc, fr = col - c0, row - r0
        top = values[r0, c0] * (1 - fc) + values[r0, c0 + 1] * fc
        bottom = values[r0 + 1, c0] * (1 - fc) + values[r0 + 1, c0 + 1] * fc
        return float(top * (1 - fr) + bottom * fr)


@dataclass
class Site:
    """One synthetic site: attributes, geometry, DEMs, grade model and true values."""

    index: int
    site_id: str
    residue: str  # canonical code
    residue_written: str  # spelling written to sites.gpkg
    locality: Locality
    name: str
    operator: str
    source_process: str
    commissioned_year: int
    closed_year: int | None
    crs_epsg: int  # CRS of the footprint, DEMs and grade fields
    utm_epsg: int  # CRS of the site's sample coordinates
    has_surface: bool = False
    has_base: bool = False
    dem_hole: bool = False
    sampled: bool = False
    te_unit: str = "ppm"
    assayed: tuple[str, ...] = ()
    footprint: Polygon | None = None  # in crs_epsg
    footprint_wgs84: Polygon | None = None
    areal_scale: float = 1.0  # projected area / ground area at the site
    regional_ga_z: float = 0.0  # standardised regional Ga field at the footprint's centroid
    regional_ga_shift: float = 0.0  # resulting shift of the mean log Ga grade
    grid: Grid | None = None
    thickness: np.ndarray | None = None
    thickness_top_m: float = 0.0
    taper_m: float = 0.0
    density: float = 0.0
    log_mean: dict[str, float] = field(default_factory=dict)
    grade_fields: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=dict)
    reports: set[str] = field(default_factory=set)  # which of tonnes/volume/density are reported
    reported: dict[str, float] = field(default_factory=dict)

    @property
    def spec(self) -> ResidueSpec:
        """The generation parameters of this site's residue type."""
        return RESIDUES[self.residue]

    @property
    def depth_centre_m(self) -> float:
        """Depth about which the depth trend of the log-grade is centred."""
        return self.truth["mean_thickness_m"] / 2


# ----------------------------------------------------------------------------- helpers


def site_rng(seed: int, site_index: int, stream: int) -> np.random.Generator:
    """Independent generator per (site, purpose), so one change does not reshuffle the rest."""
    return np.random.default_rng([seed, site_index, stream])


def utm_epsg(lon: float) -> int:
    """EPSG code of the northern-hemisphere UTM zone containing longitude ``lon``."""
    return 32600 + int((lon + 180) // 6) + 1


@cache
def transformer(src_epsg: int, dst_epsg: int) -> Transformer:
    """Cached always-xy transformer between two EPSG codes."""
    return Transformer.from_crs(src_epsg, dst_epsg, always_xy=True)


def fmt_sig(value: float, sig: int, max_decimals: int) -> str:
    """Format ``value`` to ``sig`` significant figures but at most ``max_decimals`` decimals."""
    exponent = math.floor(math.log10(abs(value)))
    digits = min(sig - 1 - exponent, max_decimals)
    return f"{round(value, digits):.{max(digits, 0)}f}"


def smoothstep(u: np.ndarray) -> np.ndarray:
    """0 at u <= 0, 1 at u >= 1, smooth (3u^2 - 2u^3) in between."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def gaussian_random_field(
    rng: np.random.Generator, shape: tuple[int, int], pixel_m: float, range_m: float, model: str
) -> np.ndarray:
    """Unit-variance stationary Gaussian random field on a grid, by circulant embedding.

    ``model`` is "exponential" (rough, used for grades) or "gaussian" (smooth, used for DEM
    noise); ``range_m`` is the practical range, where the correlation has fallen to 0.05.
    """
    ny, nx = shape
    pad = int(math.ceil(3 * range_m / pixel_m))
    my, mx = ny + pad, nx + pad
    dy = np.minimum(np.arange(my), my - np.arange(my)) * pixel_m
    dx = np.minimum(np.arange(mx), mx - np.arange(mx)) * pixel_m
    h = np.hypot(dy[:, None], dx[None, :]) / range_m
    cov = np.exp(-3 * h) if model == "exponential" else np.exp(-3 * h**2)
    eigen = np.clip(np.fft.fft2(cov).real, 0, None)
    noise = rng.standard_normal((my, mx)) + 1j * rng.standard_normal((my, mx))
    return np.fft.fft2(np.sqrt(eigen / (my * mx)) * noise).real[:ny, :nx]


def spread_order(rng: np.random.Generator, sites: list[Site]) -> list[Site]:
    """Order sites so that every prefix holds each residue type roughly in proportion."""
    keys = {}
    for residue in RESIDUES:
        members = [s for s in sites if s.residue == residue]
        for rank, i in enumerate(rng.permutation(len(members))):
            keys[members[i].index] = (rank + rng.uniform()) / len(members)
    return sorted(sites, key=lambda s: keys[s.index])


# ------------------------------------------------------------------------------- sites


def plan_sites(seed: int) -> list[Site]:
    """Create the 64 sites with their attributes and which data products each one gets."""
    sites: list[Site] = []
    per_type: dict[str, int] = {}
    per_name: dict[tuple[str, str], int] = {}
    for residue, loc_key, count, process in SITE_PLAN:
        loc = LOCALITIES[loc_key]
        spec = RESIDUES[residue]
        for _ in range(count):
            index = len(sites)
            rng = site_rng(seed, index, 0)
            n_type = per_type.get(residue, 0)
            per_type[residue] = n_type + 1
            n_name = per_name.get((residue, loc.name), 0) + 1
            per_name[(residue, loc.name)] = n_name
            # Every fourth site of a type uses a human spelling of the residue type.
            written = spec.aliases[(n_type // 4) % len(spec.aliases)] if n_type % 4 == 1 else residue
            assert canonical_residue_type(written) == residue, written
            commissioned = loc.start_year + int(rng.integers(0, min(25, 2020 - loc.start_year) + 1))
            closed = commissioned + int(rng.integers(8, 31)) if rng.uniform() < 0.4 else None
            if closed is not None and closed > 2023:
                closed = None
            letter = chr(ord("A") + list(LOCALITIES).index(loc_key) % 26)
            sites.append(
                Site(
                    index=index,
                    site_id=f"{spec.prefix}-{n_type + 1:03d}",
                    residue=residue,
                    residue_written=written,
                    locality=loc,
                    name=f"{loc.name} {spec.label} {n_name} (synthetic)",
                    operator=f"{spec.operator_word} Co. {letter} (fictional)",
                    source_process=process or spec.process,
                    commissioned_year=commissioned,
                    closed_year=closed,
                    crs_epsg=utm_epsg(loc.lon),
                    utm_epsg=utm_epsg(loc.lon),
                    assayed=spec.assayed,
                )
            )
    assert set(per_type) == set(RESIDUE_TYPES), "every canonical residue type must appear"
    assign_products(np.random.default_rng([seed, 999]), sites)
    return sites


def assign_products(rng: np.random.Generator, sites: list[Site]) -> None:
    """Decide which sites get DEMs, an unusual CRS, a DEM hole, samples and reported figures."""
    ordered = spread_order(rng, sites)
    for rank, site in enumerate(ordered[:N_SURFACE_DEM]):
        site.has_surface = True
        site.has_base = rank < N_BOTH_DEMS
    both = ordered[:N_BOTH_DEMS]
    for residue in LCC_TYPES:
        next(s for s in both if s.residue == residue).crs_epsg = LCC_INDIA_EPSG
    for residue in DEM_HOLE_TYPES:
        next(s for s in both if s.residue == residue and s.crs_epsg != LCC_INDIA_EPSG).dem_hole = True

    for residue, count in SAMPLED_PER_TYPE.items():
        members = [s for s in sites if s.residue == residue]
        chosen = sorted(rng.choice(len(members), size=count, replace=False))
        for k, i in enumerate(chosen):
            members[i].sampled = True
            if residue in TE_PPB_TYPES and k == 0:
                members[i].te_unit = "ppb"
            if residue == "coal_fly_ash" and 0 < k <= FLY_ASH_FULL_SUITE:
                members[i].assayed = ("ga", "te", *PGM_ELEMENTS)

    for key, count in (("tonnes", N_REPORTED_TONNES), ("volume", N_REPORTED_VOLUME), ("density", N_DRY_DENSITY)):
        for i in rng.choice(len(sites), size=count, replace=False):
            sites[i].reports.add(key)


def pond_footprint(rng: np.random.Generator, centre: tuple[float, float], area_m2: float) -> Polygon:
    """A noisy, rounded pond outline with one straight dam wall, scaled to ``area_m2``.

    The outline is star-shaped about ``centre`` (a positive radius function of the angle,
    clipped by a half-plane through the interior), so it is always a valid simple polygon.
    """
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, 11):
        radius += rng.normal(0, 0.10 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    radius = np.maximum(radius, 0.4)
    stretch = math.sqrt(rng.uniform(1.0, 2.2))
    outline = Polygon(np.column_stack([radius * np.cos(theta) * stretch, radius * np.sin(theta) / stretch]))
    wall_angle = rng.uniform(0, 360)
    dam_side = affinity.rotate(box(-3, -3, rng.uniform(0.55, 0.85), 3), wall_angle, origin=(0, 0))
    outline = affinity.rotate(outline.intersection(dam_side), rng.uniform(0, 180), origin=(0, 0))
    scale = math.sqrt(area_m2 / outline.area)
    outline = affinity.scale(outline, scale, scale, origin=(0, 0))
    outline = shapely.set_precision(affinity.translate(outline, *centre), 0.01)
    assert outline.is_valid and outline.geom_type == "Polygon"
    return outline


def place_footprints(seed: int, sites: list[Site]) -> None:
    """Give every site a footprint near its locality that keeps clear of all other sites."""
    placed: list[Polygon] = []
    for site in sites:
        rng = site_rng(seed, site.index, 1)
        spec, loc = site.spec, site.locality
        lo, hi = spec.area_ha
        area_ground = math.exp(rng.uniform(math.log(lo), math.log(hi))) * 1e4
        site.areal_scale = Proj(f"EPSG:{site.crs_epsg}").get_factors(loc.lon, loc.lat).areal_scale
        cx, cy = transformer(4326, site.crs_epsg).transform(loc.lon, loc.lat)
        to_wgs84 = transformer(site.crs_epsg, 4326).transform
        for _ in range(500):
            distance = rng.uniform(0.5, loc.spread_km) * 1000
            bearing = rng.uniform(0, 2 * np.pi)
            centre = (cx + distance * math.cos(bearing), cy + distance * math.sin(bearing))
            footprint = pond_footprint(rng, centre, area_ground * site.areal_scale)
            footprint_wgs84 = shapely.transform(footprint, to_wgs84, interleaved=False)
            if all(footprint_wgs84.distance(other) > MIN_SITE_GAP_DEG for other in placed):
                break
        else:
            raise RuntimeError(f"could not place {site.site_id} clear of its neighbours")
        assert footprint_wgs84.is_valid
        placed.append(footprint_wgs84)
        site.footprint, site.footprint_wgs84 = footprint, footprint_wgs84


# ------------------------------------------------------------------------ volume, DEMs


def pond_profile(site: Site, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Relative thickness (0..1) at points: zero outside, 1 on the flat top, tapering at the edge."""
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    out = np.zeros(x.shape)
    inside = shapely.contains_xy(site.footprint, x, y)
    if inside.any():
        edge_distance = shapely.distance(shapely.points(x[inside], y[inside]), site.footprint.exterior)
        out[inside] = smoothstep(edge_distance / site.taper_m)
    return out


def thickness_at(site: Site, x: float, y: float) -> float:
    """True residue thickness (m) at one point."""
    return site.thickness_top_m * float(pond_profile(site, x, y)[0])


def build_volume(seed: int, site: Site) -> None:
    """Set the site's grid, thickness field, density and true volume and tonnes."""
    rng = site_rng(seed, site.index, 2)
    spec = site.spec
    ground_area = site.footprint.area / site.areal_scale
    pixel = 5.0 if ground_area < 40e4 else 10.0
    minx, miny, maxx, maxy = site.footprint.bounds
    x0 = math.floor((minx - DEM_MARGIN_M) / pixel) * pixel
    x1 = math.ceil((maxx + DEM_MARGIN_M) / pixel) * pixel
    y0 = math.floor((miny - DEM_MARGIN_M) / pixel) * pixel
    y1 = math.ceil((maxy + DEM_MARGIN_M) / pixel) * pixel
    site.grid = Grid(x0, y1, round((x1 - x0) / pixel), round((y1 - y0) / pixel), pixel)

    taper_share = 0.25 if site.residue == "copper_anode_slime" else 0.12  # stockpiles have wide flanks
    site.taper_m = float(np.clip(taper_share * math.sqrt(ground_area), 8.0, 60.0))
    mean_thickness = rng.uniform(*spec.thickness_m)
    xs, ys = site.grid.centres()
    profile = pond_profile(site, xs.ravel(), ys.ravel()).reshape(xs.shape)
    site.thickness_top_m = mean_thickness / profile[profile > 0].mean()
    site.thickness = profile * site.thickness_top_m

    # True density: the type's assumed value with a little site-to-site variation.
    site.density = round(spec.density_t_m3 * math.exp(rng.normal(0, 0.05)), 3)
    volume = float(site.thickness.sum()) * pixel**2 / site.areal_scale
    site.truth.update(
        area_ha=ground_area / 1e4,
        mean_thickness_m=mean_thickness,
        volume_m3=volume,
        density_t_m3=site.density,
        tonnes=volume * site.density,
    )


def build_dems(seed: int, site: Site) -> tuple[np.ndarray, np.ndarray]:
    """Return (base, surface) elevation grids in metres, rounded to the millimetre.

    Base is a gently sloping plane plus smooth noise; surface is base plus thickness, with a
    small nodata hole where the site is meant to have one.
    """
    rng = site_rng(seed, site.index, 3)
    grid = site.grid
    xs, ys = grid.centres()
    cx, cy = site.footprint.centroid.coords[0]
    z0 = max(3.0, site.locality.elevation_m + rng.normal(0, 8))
    slope, aspect = rng.uniform(0.002, 0.012), rng.uniform(0, 2 * np.pi)
    plane = z0 + slope * (math.cos(aspect) * (xs - cx) + math.sin(aspect) * (ys - cy))
    noise = 0.4 * gaussian_random_field(rng, xs.shape, grid.pixel_m, 300.0, "gaussian")
    base = np.round(plane + noise, 3)
    surface = np.round(plane + noise + site.thickness, 3)
    if site.dem_hole:
        interior = np.argwhere(site.thickness >= 0.99 * site.thickness_top_m)
        row, col = interior[rng.integers(len(interior))]
        rr, cc = np.ogrid[: grid.ny, : grid.nx]
        surface[(rr - row) ** 2 + (cc - col) ** 2 <= 2.5**2] = NODATA
    return base.astype(np.float32), surface.astype(np.float32)


def write_dem(path: Path, values: np.ndarray, site: Site) -> None:
    """Write one float32 DEM as a tiled, DEFLATE-compressed GeoTIFF with nodata -9999."""
    grid = site.grid
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": grid.nx,
        "height": grid.ny,
        "crs": f"EPSG:{site.crs_epsg}",
        "transform": from_origin(grid.x0, grid.y1, grid.pixel_m, grid.pixel_m),
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 3,
        "zlevel": 9,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


# -------------------------------------------------------------------------- covariates


@dataclass(frozen=True)
class WaveField:
    """A smooth random field: a sum of plane waves of random direction, wavelength and phase.

    ``field(x, y)`` is ``(sum of waves - offset) / scale``, in whatever plane coordinates the
    waves were drawn for (degrees for the regional Ga field, metres for the wetness index).
    """

    kx: np.ndarray
    ky: np.ndarray
    phase: np.ndarray
    amplitude: np.ndarray
    offset: float
    scale: float

    def __call__(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        total = np.zeros(np.broadcast(x, y).shape)
        for kx, ky, phase, amplitude in zip(self.kx, self.ky, self.phase, self.amplitude):
            total += amplitude * np.cos(kx * x + ky * y + phase)
        return (total - self.offset) / self.scale


def wave_field(rng: np.random.Generator, wavelengths: tuple[float, float], n_waves: int = N_FIELD_WAVES) -> WaveField:
    """A random WaveField of unit expected variance; long waves carry more of it."""
    wavelength = np.exp(rng.uniform(math.log(wavelengths[0]), math.log(wavelengths[1]), n_waves))
    direction = rng.uniform(0, 2 * np.pi, n_waves)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    amplitude = wavelength / wavelength.max()
    k = 2 * np.pi / wavelength
    scale = float(np.sqrt(np.sum(amplitude**2) / 2))
    return WaveField(k * np.cos(direction), k * np.sin(direction), phase, amplitude, 0.0, scale)


def regional_ga_grid() -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitudes and latitudes of the regional Ga raster (2-D)."""
    west, south, east, north = REGIONAL_GA_BOUNDS
    step = REGIONAL_GA_PIXEL_DEG
    lons = west + (np.arange(round((east - west) / step)) + 0.5) * step
    lats = north - (np.arange(round((north - south) / step)) + 0.5) * step
    return np.meshgrid(lons, lats)


def regional_ga_field(seed: int) -> WaveField:
    """The regional Ga field z, standardised to mean 0 and sd 1 over the raster's pixels."""
    field = wave_field(np.random.default_rng([seed, 2001]), REGIONAL_GA_WAVELENGTH_DEG)
    raw = field(*regional_ga_grid())
    return WaveField(field.kx, field.ky, field.phase, field.amplitude, float(raw.mean() * field.scale),
                     float(raw.std() * field.scale))  # fmt: skip


def set_regional_ga(sites: list[Site], field: WaveField) -> dict[str, float]:
    """Set each site's regional Ga value z and its Ga shift; return the mean z per shifted type.

    The shift is REGIONAL_GA_EFFECT x (z - mean z over the type's sites), for the types in
    REGIONAL_GA_TYPES only: centred per type, so each type's typical grade is unchanged.
    """
    for site in sites:
        centroid = site.footprint_wgs84.centroid
        site.regional_ga_z = float(field(centroid.x, centroid.y))
    centre = {r: float(np.mean([s.regional_ga_z for s in sites if s.residue == r])) for r in REGIONAL_GA_TYPES}
    for site in sites:
        if site.residue in centre:
            site.regional_ga_shift = REGIONAL_GA_EFFECT * (site.regional_ga_z - centre[site.residue])
    return centre


def write_regional_ga(path: Path, field: WaveField) -> None:
    """regional_ga_ppm.tif: median x exp(log_sd x z) in ppm to 0.01, EPSG:4326, 0.02 degree."""
    lons, lats = regional_ga_grid()
    ppm = np.round(REGIONAL_GA_MEDIAN_PPM * np.exp(REGIONAL_GA_LOG_SD * field(lons, lats)), 2).astype(np.float32)
    west, _, _, north = REGIONAL_GA_BOUNDS
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "width": ppm.shape[1], "height": ppm.shape[0],
        "crs": "EPSG:4326", "transform": from_origin(west, north, REGIONAL_GA_PIXEL_DEG, REGIONAL_GA_PIXEL_DEG),
        "nodata": NODATA, "compress": "deflate", "predictor": 3, "zlevel": 9,
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(ppm, 1)
        dst.update_tags(1, units="ppm", description="SYNTHETIC regional Ga geochemistry")


def write_wetness_index(path: Path, seed: int, sites: list[Site]) -> int:
    """pond_wetness_index.tif (0..1, EPSG:7755, 250 m): tiles near sites only; returns tiles written.

    The grid spans every site with a wide margin, but only the 128 x 128 tiles within
    WETNESS_MARGIN_M of a footprint hold data; the others are left out of the file
    (GDAL's SPARSE_OK) and read as nodata, like a mosaic of scenes around known ponds.
    """
    field = wave_field(np.random.default_rng([seed, 2002]), WETNESS_WAVELENGTH_M)
    to_lcc = transformer(4326, LCC_INDIA_EPSG).transform
    boxes = [shapely.transform(s.footprint_wgs84, to_lcc, interleaved=False).bounds for s in sites]
    tile_m = WETNESS_PIXEL_M * WETNESS_TILE
    x0 = math.floor((min(b[0] for b in boxes) - tile_m) / tile_m) * tile_m
    y1 = math.ceil((max(b[3] for b in boxes) + tile_m) / tile_m) * tile_m
    n_cols = math.ceil((max(b[2] for b in boxes) + tile_m - x0) / tile_m)
    n_rows = math.ceil((y1 - min(b[1] for b in boxes) + tile_m) / tile_m)
    tiles = set()
    for minx, miny, maxx, maxy in boxes:
        cols = range(int((minx - WETNESS_MARGIN_M - x0) // tile_m), int((maxx + WETNESS_MARGIN_M - x0) // tile_m) + 1)
        rows = range(int((y1 - maxy - WETNESS_MARGIN_M) // tile_m), int((y1 - miny + WETNESS_MARGIN_M) // tile_m) + 1)
        tiles.update((row, col) for row in rows for col in cols)
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "width": n_cols * WETNESS_TILE,
        "height": n_rows * WETNESS_TILE, "crs": f"EPSG:{LCC_INDIA_EPSG}",
        "transform": from_origin(x0, y1, WETNESS_PIXEL_M, WETNESS_PIXEL_M), "nodata": NODATA,
        "compress": "deflate", "predictor": 3, "zlevel": 9, "tiled": True,
        "blockxsize": WETNESS_TILE, "blockysize": WETNESS_TILE, "sparse_ok": True,
    }  # fmt: skip
    offsets = (np.arange(WETNESS_TILE) + 0.5) * WETNESS_PIXEL_M
    with rasterio.open(path, "w", **profile) as dst:
        for row, col in sorted(tiles):
            xs, ys = np.meshgrid(x0 + col * tile_m + offsets, y1 - row * tile_m - offsets)
            wetness = np.round(1 / (1 + np.exp(-1.2 * field(xs, ys))), 3).astype(np.float32)
            window = rasterio.windows.Window(col * WETNESS_TILE, row * WETNESS_TILE, WETNESS_TILE, WETNESS_TILE)
            dst.write(wetness, 1, window=window)
        dst.update_tags(1, units="1", description="SYNTHETIC pond wetness index (carries no grade signal)")
    return len(tiles)


# ------------------------------------------------------------------------------ grades


def grade_effect(site: Site, element: str) -> float:
    """Log-multiplier of the site's mean grade that depends on the site's attributes.

    - Red mud Ga: +0.012 per year commissioned before 1985 (older refineries recovered less
      Ga from Bayer liquor, so more of it reports to the residue).
    - Fly ash Ga: x0.5 for lignite ash (Indian lignite ash 6.3-33.3 vs bituminous 17.2-47.9 g/t).
    - Chromite PGM: x1.5 at Boula-Nuasahi (PGE-bearing chromitite) and x0.7 at Sukinda.
    - Ga in red mud, zinc leach residue and fly ash: ``site.regional_ga_shift`` (set by
      ``set_regional_ga``: the feed ore and coal inherit the regional geochemistry).
    """
    effect = site.regional_ga_shift if element == "ga" else 0.0
    if site.residue == "bauxite_residue" and element == "ga":
        return effect + 0.012 * (1985 - site.commissioned_year)
    if site.residue == "coal_fly_ash" and element == "ga" and "lignite" in site.source_process:
        return effect + math.log(0.5)
    if effect:
        return effect
    if site.residue == "chromite_pgm_tailings" and element in PGM_ELEMENTS:
        return math.log(1.5 if site.locality.name == "Boula-Nuasahi" else 0.7)
    return 0.0


def build_grade_model(seed: int, site: Site) -> None:
    """Draw the site's mean log-grades and, for sampled sites, the within-site fields."""
    rng = site_rng(seed, site.index, 4)
    common = rng.normal()
    for element in ELEMENTS:
        share = ELEMENT_CORRELATION[element]
        deviation = BETWEEN_SITE_SD * (math.sqrt(share) * common + math.sqrt(1 - share) * rng.normal())
        site.log_mean[element] = (
            math.log(site.spec.typical_gt[element])
            + grade_effect(site, element)
            - (GRADE_SILL + GRADE_NUGGET) / 2
            + deviation
        )
    if not site.sampled:
        return
    grid = site.grid
    range_m = rng.uniform(*GRADE_RANGE_M)
    shape = (grid.ny, grid.nx)
    shared = gaussian_random_field(rng, shape, grid.pixel_m, range_m, "exponential")
    for element in ELEMENTS:
        share = ELEMENT_CORRELATION[element]
        own = gaussian_random_field(rng, shape, grid.pixel_m, range_m, "exponential")
        site.grade_fields[element] = math.sqrt(GRADE_SILL) * (math.sqrt(share) * shared + math.sqrt(1 - share) * own)


def true_mean_grades(site: Site) -> None:
    """Tonnage-weighted true mean grade (g/t) per element, stored in ``site.truth``.

    The grade at depth z below the surface is exp(log_mean + field(x, y) + trend * (z - zc)),
    times exp(nugget / 2) for the small-scale variation. Integrating each pixel's column
    analytically and weighting by thickness gives the mean over the whole residue body (the
    density is constant within a site, so volume- and tonnage-weighting agree). Unsampled
    sites have no field; their value is the expectation over fields, exp(sill / 2).
    """
    t = site.thickness[site.thickness > 0]
    trend, zc = site.spec.depth_trend, site.depth_centre_m
    column = t if trend == 0 else (np.exp(trend * (t - zc)) - np.exp(-trend * zc)) / trend
    for element in ELEMENTS:
        if site.sampled:
            lateral = np.exp(site.grade_fields[element][site.thickness > 0])
        else:
            lateral = math.exp(GRADE_SILL / 2)
        mean = math.exp(site.log_mean[element] + GRADE_NUGGET / 2) * float(np.sum(lateral * column) / t.sum())
        site.truth[f"grade_{element}"] = mean
    site.truth["grade_pgm"] = sum(site.truth[f"grade_{e}"] for e in PGM_ELEMENTS)


def assay_cells(site: Site, grades_gt: dict[str, float]) -> dict[str, str]:
    """Format one sample's grades into the assay columns (blank = not assayed, "<DL" = BDL)."""
    cells = dict.fromkeys(ASSAY_COLUMNS, "")
    for element in site.assayed:
        unit = site.te_unit if element == "te" else ("ppm" if element == "ga" else "ppb")
        column = f"{element}_{unit}"
        factor = UNIT_FACTOR[unit]
        limit = DETECTION_LIMIT_GT[element] * factor
        value = grades_gt[element] * factor
        cells[column] = f"<{limit:g}" if value < limit else fmt_sig(value, 3, REPORT_DECIMALS[column])
    return cells


def point_grades(rng: np.random.Generator, site: Site, x: float, y: float, depth_mid: float) -> dict[str, float]:
    """Grades (g/t) of one sample: site mean + spatial field + depth trend + nugget."""
    trend = site.spec.depth_trend * (depth_mid - site.depth_centre_m)
    return {
        e: math.exp(
            site.log_mean[e]
            + site.grid.bilinear(site.grade_fields[e], x, y)
            + trend
            + rng.normal(0, math.sqrt(GRADE_NUGGET))
        )
        for e in ELEMENTS
    }


def hole_locations(rng: np.random.Generator, site: Site, count: int) -> list[tuple[float, float, float]]:
    """``count`` spread-out (x, y, thickness) collar points where the residue is >= 1.5 m thick."""
    minx, miny, maxx, maxy = site.footprint.bounds
    spacing = 0.5 * math.sqrt(site.footprint.area / count)
    holes: list[tuple[float, float, float]] = []
    while len(holes) < count:
        for _ in range(2000):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            t = thickness_at(site, x, y)
            if t >= AUGER_INTERVAL_M and all(math.hypot(x - hx, y - hy) >= spacing for hx, hy, _ in holes):
                holes.append((x, y, t))
                break
        else:
            spacing *= 0.8
            if spacing < 1.0:
                raise RuntimeError(f"{site.site_id}: too little residue >= {AUGER_INTERVAL_M} m thick to auger")
    return holes


@dataclass
class SampleTable:
    """Rows of samples.csv being built, with running hole and sample counters."""

    rows: list[dict[str, str]] = field(default_factory=list)
    n_holes: int = 0
    n_samples: int = 0

    def new_hole_id(self) -> str:
        """Next auger-hole id."""
        self.n_holes += 1
        return f"AH-{self.n_holes:04d}"

    def new_sample_id(self) -> str:
        """Next sample id."""
        self.n_samples += 1
        return f"S-{self.n_samples:05d}"


def sample_row(
    table: SampleTable, rng: np.random.Generator, site: Site, hole_id: str, x: float, y: float, interval: int
) -> dict[str, str]:
    """One valid sample row of ``site`` at (x, y) in the site's CRS, for the given interval."""
    depth_from, depth_to = interval * AUGER_INTERVAL_M, (interval + 1) * AUGER_INTERVAL_M
    ux, uy = transformer(site.crs_epsg, site.utm_epsg).transform(x, y)
    return {
        "sample_id": table.new_sample_id(),
        "hole_id": hole_id,
        "site_id": site.site_id,
        "x": f"{ux:.2f}",
        "y": f"{uy:.2f}",
        "crs": f"EPSG:{site.utm_epsg}",
        "depth_from_m": f"{depth_from:.1f}",
        "depth_to_m": f"{depth_to:.1f}",
        **assay_cells(site, point_grades(rng, site, x, y, (depth_from + depth_to) / 2)),
    }


def build_samples(seed: int, sites: list[Site]) -> tuple[SampleTable, list[dict[str, str]]]:
    """Auger-hole samples for the sampled sites, then 6 planted bad rows at the end.

    Returns the table and a list describing each planted bad row (for the README).
    """
    table = SampleTable()
    hole_rows: list[list[dict[str, str]]] = []
    for site in (s for s in sites if s.sampled):
        rng = site_rng(seed, site.index, 5)
        n_holes = int(rng.integers(6, 9)) if site.residue == "copper_anode_slime" else int(rng.integers(6, 21))
        for x, y, t in hole_locations(rng, site, n_holes):
            hole_id = table.new_hole_id()
            n_intervals = min(MAX_INTERVALS, int(t // AUGER_INTERVAL_M))
            hole_rows.append([sample_row(table, rng, site, hole_id, x, y, i) for i in range(n_intervals)])
            table.rows.extend(hole_rows[-1])

    # Leave site_id blank for whole holes until ~15 % of the rows have none.
    rng = np.random.default_rng([seed, 1001])
    blanked = 0
    for i in rng.permutation(len(hole_rows)):
        if blanked >= N_BLANK_SITE_ID_SHARE * len(table.rows):
            break
        for row in hole_rows[i]:
            row["site_id"] = ""
        blanked += len(hole_rows[i])

    return table, plant_bad_rows(seed, sites, table)


def plant_bad_rows(seed: int, sites: list[Site], table: SampleTable) -> list[dict[str, str]]:
    """Append exactly 6 rows, each with one defect, and return a description of each."""
    rng = np.random.default_rng([seed, 1002])
    sampled = [
        s for s in sites if s.sampled and s.te_unit == "ppm" and s.crs_epsg == s.utm_epsg and s.thickness_top_m >= 4.5
    ]
    hosts = [sampled[int(i)] for i in rng.choice(len(sampled), size=6, replace=False)]
    described: list[dict[str, str]] = []

    def add(site: Site, defect: str, x: float, y: float, interval: int = 0) -> dict[str, str]:
        """Append a valid one-sample hole of ``site`` and record it under ``defect``."""
        row = sample_row(table, rng, site, table.new_hole_id(), x, y, interval)
        table.rows.append(row)
        described.append({"defect": defect, "row": row})
        return row

    def inner_point(site: Site, min_thickness: float) -> tuple[float, float]:
        """A point of ``site`` where the residue is at least ``min_thickness`` thick."""
        return next((x, y) for x, y, t in hole_locations(rng, site, 30) if t >= min_thickness)

    # a zero assay (below detection is written '<DL'; a negative number is read as one, see geodata/assays.py)
    row = add(hosts[0], "zero assay", *inner_point(hosts[0], 1.5))
    row["ga_ppm"] = "0"
    row = add(hosts[1], 'non-numeric assay "n.a."', *inner_point(hosts[1], 1.5))
    column = "te_ppm" if "te" in hosts[1].assayed else "ga_ppm"
    row[column] = "n.a."
    row = add(hosts[2], "depth_to_m < depth_from_m", *inner_point(hosts[2], 3.0), interval=1)
    row["depth_from_m"], row["depth_to_m"] = row["depth_to_m"], row["depth_from_m"]

    # A collar 1.5 km east of a sampled site's eastern edge, checked to be outside every footprint.
    host = hosts[3]
    x, y = host.footprint.bounds[2] + 1500.0, host.footprint.centroid.y
    lonlat = Point(transformer(host.crs_epsg, 4326).transform(x, y))
    assert not any(s.footprint_wgs84.contains(lonlat) for s in sites)
    row = add(host, "outside every site footprint, blank site_id", *inner_point(host, 1.5))
    row["x"], row["y"] = (f"{v:.2f}" for v in transformer(host.crs_epsg, host.utm_epsg).transform(x, y))
    row["site_id"] = ""

    row = add(hosts[4], "duplicate sample_id", *inner_point(hosts[4], 1.5))
    duplicate_of = next(r for r in table.rows[:-1] if r["site_id"] == hosts[4].site_id)
    row["sample_id"] = duplicate_of["sample_id"]
    row = add(hosts[5], 'unknown crs "EPSG:99999"', *inner_point(hosts[5], 1.5))
    row["crs"] = "EPSG:99999"
    return described


# ------------------------------------------------------------------------------ output


def set_reported_figures(seed: int, sites: list[Site]) -> None:
    """Set the reported figures a site has as noisy versions of its true values."""
    for site in sites:
        rng = site_rng(seed, site.index, 6)
        if "tonnes" in site.reports:
            site.reported["tonnes"] = float(fmt_sig(site.truth["tonnes"] * rng.uniform(0.75, 1.25), 3, 0))
        if "volume" in site.reports:
            site.reported["volume"] = float(fmt_sig(site.truth["volume_m3"] * rng.uniform(0.8, 1.2), 3, 0))
        if "density" in site.reports:
            site.reported["density"] = round(site.density * math.exp(rng.normal(0, 0.03)), 2)


def write_sites(path: Path, sites: list[Site]) -> None:
    """Write sites.gpkg (layer "sites", EPSG:4326 polygons) with a fixed timestamp."""

    def dem_path(site: Site, kind: str, present: bool) -> str | None:
        """Path of a DEM relative to the data folder, or None where the site has none."""
        return f"rasters/{site.site_id}_{kind}.tif" if present else None

    frame = gpd.GeoDataFrame(
        {
            "site_id": [s.site_id for s in sites],
            "name": [s.name for s in sites],
            "residue_type": [s.residue_written for s in sites],
            "operator": [s.operator for s in sites],
            "state": [s.locality.state for s in sites],
            "source_process": [s.source_process for s in sites],
            "commissioned_year": pd.array([s.commissioned_year for s in sites], dtype="Int64"),
            "closed_year": pd.array([s.closed_year for s in sites], dtype="Int64"),
            "reported_tonnes": [s.reported.get("tonnes") for s in sites],
            "reported_volume_m3": [s.reported.get("volume") for s in sites],
            "dry_density_t_m3": [s.reported.get("density") for s in sites],
            "surface_dem": [dem_path(s, "surface", s.has_surface) for s in sites],
            "base_dem": [dem_path(s, "base", s.has_base) for s in sites],
            "data_origin": ["synthetic"] * len(sites),
        },
        geometry=[s.footprint_wgs84 for s in sites],
        crs=STORAGE_CRS,
    )
    for column in ("reported_tonnes", "reported_volume_m3", "dry_density_t_m3"):
        frame[column] = frame[column].astype("float64")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_TIMESTAMP})
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, layer="sites", driver="GPKG", promote_to_multi=False)


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    """Write rows of strings as a CSV with Unix line endings."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def truth_rows(sites: list[Site]) -> tuple[tuple[str, ...], list[dict[str, str]]]:
    """Columns and rows of truth.csv."""
    grade_columns = tuple(f"true_mean_grade_gt_{e}" for e in (*ELEMENTS, "pgm"))
    columns = (
        "site_id",
        "residue_type",
        "sampled",
        "true_area_ha",
        "true_mean_thickness_m",
        "true_volume_m3",
        "true_density_t_m3",
        "true_tonnes",
        *grade_columns,
        "grade_basis",
        "regional_ga_z",
    )
    rows = []
    for s in sites:
        rows.append(
            {
                "site_id": s.site_id,
                "residue_type": s.residue,
                "sampled": "true" if s.sampled else "false",
                "true_area_ha": f"{s.truth['area_ha']:.3f}",
                "true_mean_thickness_m": f"{s.truth['volume_m3'] / (s.truth['area_ha'] * 1e4):.3f}",
                "true_volume_m3": f"{s.truth['volume_m3']:.0f}",
                "true_density_t_m3": f"{s.density:.3f}",
                "true_tonnes": f"{s.truth['tonnes']:.0f}",
                **{c: fmt_sig(s.truth[f"grade_{c.rsplit('_', 1)[1]}"], 5, 9) for c in grade_columns},
                "grade_basis": "field" if s.sampled else "expected",
                "regional_ga_z": f"{s.regional_ga_z:.4f}",
            }
        )
    return columns, rows


def write_dataset_json(path: Path, seed: int) -> None:
    """Write dataset.json."""
    meta = {
        "title": TITLE,
        "synthetic": True,
        "description": (
            "SYNTHETIC demo data for Residua: 64 made-up tailings and industrial-residue sites "
            "near real Indian industrial localities, with DEMs, auger-hole assays (Ga, Te, Pt, "
            "Pd, Rh) including 6 deliberately bad rows, two covariate rasters (a regional Ga field "
            "that site Ga grades depend on, and a wetness index that carries no signal), and the "
            "true values for checking. No figure describes a real site."
        ),
        "generator": "geodata/demo/make_demo.py",
        "seed": seed,
    }
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------ README


README_TEMPLATE = """\
# Residua demo data drop: SYNTHETIC

**Every figure in this folder is synthetic.** The sites are made up and placed near real
Indian industrial localities only so that maps look plausible. Names, operators, footprints,
tonnages, DEMs and assays describe no real site and must never be quoted as such. Operators
are fictional; every site name ends in "(synthetic)"; every site has `data_origin = synthetic`.

## Regenerate

```
python geodata/demo/make_demo.py              # writes into geodata/demo/
python geodata/demo/make_demo.py --out DIR    # writes into DIR
```

Seed {seed}. The same seed gives byte-identical files with the same library versions (the
GeoPackage timestamp is fixed at {timestamp}; GeoTIFFs carry no timestamp). Needs numpy,
pandas, geopandas, shapely, rasterio, pyproj and pyogrio.

## Files

| File | Contents |
|---|---|
| `dataset.json` | title, `"synthetic": true`, description, generator, seed |
| `sites.gpkg` | layer `sites`: {n_sites} site footprints (EPSG:4326 polygons) with attributes |
| `rasters/` | {n_surface} surface DEMs and {n_base} base DEMs (float32 GeoTIFF) |
| `rasters/covariates/` | two covariate rasters: `regional_ga_ppm.tif` (carries Ga signal) and \
`pond_wetness_index.tif` (carries none) |
| `samples.csv` | {n_rows} auger samples from {n_holes} holes at {n_sampled} sites; the last 6 rows are \
deliberately bad |
| `truth.csv` | the true area, volume, density, tonnes and mean grades of every site |
| `README.md` | this file |

### sites.gpkg

Columns: `site_id`, `name`, `residue_type`, `operator`, `state`, `source_process`,
`commissioned_year`, `closed_year` (empty = active), `reported_tonnes` ({n_tonnes} sites,
within ±25 % of the true tonnes), `reported_volume_m3` ({n_volume} sites, within ±20 %),
`dry_density_t_m3` ({n_density} sites, about ±3 % of the true density), `surface_dem` and
`base_dem` (paths relative to this folder; empty = none), `data_origin`.

`residue_type` is written the way users write it: mostly canonical codes, but every fourth
site of a type uses a spelling from `geodata/schema.py` ({aliases}).

| Residue type (canonical) | Sites | Sampled | With surface DEM | With both DEMs | Localities |
|---|---|---|---|---|---|
{type_table}

Footprints are noisy rounded ponds with one straight dam wall, valid, at least ~300 m
apart, {area_min:.1f}–{area_max:.0f} ha (copper anode slime stockpiles 0.5–3 ha). They lie in
UTM zones {zones} (the Mundra site is in zone 42N, west of 72°E, and the Assam sites in 46N).

### rasters/

`<site_id>_surface.tif` and `<site_id>_base.tif`: float32, DEFLATE (floating-point
predictor), 256×256 tiles, nodata −9999, 5 m pixels (sites under 40 ha) or 10 m, covering
the footprint's bounding box plus a 50 m margin. CRS: the site's UTM zone (EPSG:326xx),
except {lcc_sites}, which use EPSG:7755 (WGS 84 / India NSF LCC). Base = gently sloping plane
(0.2–1.2 %) plus smooth noise (sd 0.4 m); surface = base + thickness; thickness is zero
outside the footprint and flat-topped inside, tapering to zero at the edge. Sites with a
surface DEM but no base DEM: {surface_only}. Surface DEMs with a small nodata hole (about 20
pixels inside the footprint): {hole_sites}.

### rasters/covariates/

Covariates follow Residua's contract: every GeoTIFF/VRT here is a covariate named by its file
stem, and `site_features` gets `cov_<name>_mean`, `_std`, `_p10`, `_p90` and `_coverage`.

- `regional_ga_ppm.tif`: a smooth synthetic regional geochemistry field; EPSG:4326,
  {ga_pixel} degree pixels ({ga_width} × {ga_height}) over {ga_bounds}; float32
  ppm to 0.01, DEFLATE. It is {ga_median:g} ppm × exp({ga_log_sd:g} z), where z is a sum of {n_waves} random plane
  waves (wavelengths {ga_wave_lo:g}–{ga_wave_hi:g} degrees) standardised to mean 0 and sd 1 over the
  raster's pixels. z at the sites ranges {z_min:.2f} to {z_max:.2f}; `truth.csv` lists it as
  `regional_ga_z`.

  **It carries signal.** In the shifted types, a site's mean log Ga grade is shifted by
  {ga_effect:g} × (z − z̄), z at the footprint's centroid and z̄ the mean of z over the sites of its
  type, so each type's typical grade stays at its cited figure. Shifted types (z̄):
  {ga_centres}.
- `pond_wetness_index.tif`: a synthetic wetness index (0–1); EPSG:7755, {wet_pixel:g} m
  pixels, float32, DEFLATE, {wet_tile}×{wet_tile} tiles. The grid spans all sites, but only the
  {n_wet_tiles} tiles within {wet_margin_km:g} km of a footprint are stored (a sparse GeoTIFF); the rest
  read as nodata (−9999). It is a logistic transform of an independent random wave field
  (wavelengths {wet_wave_lo_km:g}–{wet_wave_hi_km:g} km) and **carries no signal**: nothing in the grades,
  tonnages or sampling depends on it (an honest null covariate).

### samples.csv

Columns: `sample_id`, `hole_id`, `site_id`, `x`, `y`, `crs`, `depth_from_m`, `depth_to_m`,
`ga_ppm`, `te_ppm`, `te_ppb`, `pt_ppb`, `pd_ppb`, `rh_ppb`.

- `x`, `y` are projected coordinates in the site's UTM zone, named in `crs`; the file mixes
  {sample_crs}. Samples of EPSG:7755 sites would also be given in UTM (sampled EPSG:7755
  sites: {lcc_sampled}).
- Holes are 6–20 per site (6–8 on anode slime stockpiles), sampled in 1.5 m intervals from
  the surface down to at most the local thickness, at most 8 intervals (12 m), so thick
  ponds are not sampled to their base.
- `site_id` is empty on {n_blank} good rows (whole holes, {blank_pct:.0f} %): the pipeline
  must find their site by spatial join.
- Te is in `te_ppm` except at {te_ppb_sites}, where it is in `te_ppb` (and `te_ppm` is empty).
- Empty assay = not assayed. Values below detection are written `<DL` in the column's unit
  (Ga 0.5 ppm, Te 0.05 ppm = 50 ppb, Pt/Pd/Rh 2 ppb). Below-detection counts among the good
  rows: {bdl_counts}.
- Which elements are assayed depends on the residue type: {assay_suites}. Of the sampled fly
  ash sites, {full_suite} also assay Pt, Pd and Rh.

**Planted bad rows** (the last 6 rows of the file; every other row is valid):

| Line | sample_id | site_id | Defect |
|---|---|---|---|
{bad_table}

All {n_sites} sites are valid; there are no bad site rows.

### truth.csv

Not an input: it exists only to check estimates. Per site: `site_id`, canonical
`residue_type`, `sampled`, `true_area_ha`, `true_mean_thickness_m`, `true_volume_m3`,
`true_density_t_m3`, `true_tonnes`, `true_mean_grade_gt_<el>` for ga, te, pt, pd, rh and
pgm (= Pt + Pd + Rh), `grade_basis`, and `regional_ga_z` (the standardised regional Ga
field at the footprint's centroid; it shifts Ga only in the types listed under
`rasters/covariates/`).

- The true volume is the thickness integrated over the footprint on the generating grid
  (the DEM grid; the same for sites without DEMs), i.e. what a perfect DEM difference gives
  without nodata holes. Areas and volumes are **on the ground**: for the EPSG:7755 sites the
  projected area is 3–4 % smaller than the ground area (LCC areal scale 0.96–0.97 in India),
  so a volume computed in that CRS without a scale correction is biased low by that much
  (UTM areal scales are within 0.1 % of 1).
- True tonnes = true volume × true density. True densities are the type values below with
  ~5 % site-to-site variation.
- `grade_basis = field`: tonnage-weighted mean of the generated grade field over the whole
  residue body (including depths below 12 m that no hole reaches), for all five elements even
  where not assayed. `grade_basis = expected`: unsampled site, so the expectation over fields
  given the site's mean log-grade.

## How the figures were generated and where the distributions come from

Each site has a mean log-grade per element = log(typical grade of its type) + an effect of
its attributes + a between-site deviation (sd {between_sd} in natural-log units; Pt, Pd and Rh
deviations are correlated). Within a sampled site the log-grade is that mean plus an
exponential-covariance Gaussian random field (sill {sill}, practical range 150–400 m), a
depth trend per residue type and a nugget (variance {nugget}). Attribute effects:

- red mud Ga: +1.2 % per year commissioned before 1985 (older refineries recovered less Ga,
  so more stays in the residue);
- fly ash Ga: ×0.5 for lignite ash (`source_process` mentions lignite, Neyveli);
- chromite tailings Pt, Pd, Rh: ×1.5 at Boula-Nuasahi, ×0.7 at Sukinda;
- Ga in {ga_types}:
  +{ga_effect:g} × (z − z̄) in log-grade, z the standardised regional Ga field at the site and z̄
  its mean over the type's sites (see `rasters/covariates/`), so sites in Ga-rich regions are
  richer.

Typical grades (median over sites of the site mean, g/t) and their basis
(published sources in `geodata/reference/README.md`):

| Residue type | Ga | Te | Pt | Pd | Rh | Basis |
|---|---|---|---|---|---|---|
{grade_table}

Densities (t/m³) are **assumptions** (no published dry bulk density of tailings was verified):
{densities}.

Tonnages are not calibrated to real sites; for scale, published figures are ~7.13 Mt of red
mud stockpiled at NALCO Damanjodi (alcircle.com 2026) and ~50 Mt of tailings each at
Malanjkhand and Khetri (Business Standard 2018).
"""

#: Basis of each type's typical grades, as printed in the README's table.
GRADE_BASIS = {
    "bauxite_residue": (
        "Ga 59.4 µg/g in red mud (Gu, Wang & Hargreaves 2018); ~50 ppm Ga in bauxite, ~15 % "
        "extracted (Frenzel et al. 2016). Te, PGM: assumptions"
    ),
    "zinc_leach_residue": (
        "Ga up to 0.266 wt% in zinc refinery residues (countercurrents.org 2023, LOW confidence), "
        "so ~100–800 g/t used. Te, PGM: assumptions"
    ),
    "copper_flotation_tailings": "all assumptions (Te in tailings: no source found)",
    "copper_smelter_slag": "all assumptions",
    "copper_anode_slime": ("Te 0.4 %, Pt 70 ppm, Pd 74 ppm (Palabora anode slime product sheet). Ga, Rh: assumptions"),
    "chromite_pgm_tailings": (
        "~1 g/t 4E in chromitite, ~3 g/t 4E in chrome-plant tails (WHI note, low–medium); Hernic "
        "tailings 2.8 g/t PGE (Jubilee Platinum); 2 g/t 4E split Pt 0.55, Pd 0.30, Rh 0.10. "
        "Ga, Te: assumptions"
    ),
    "coal_fly_ash": (
        "Ga 17.2–47.9 mg/kg in Indian bituminous coal ash, 6.3–33.3 mg/kg in lignite ash "
        "(Chand et al. 2022). Te, PGM: assumptions"
    ),
    "other": "all assumptions",
}


def readme_text(
    seed: int,
    sites: list[Site],
    rows: list[dict[str, str]],
    bad: list[dict[str, str]],
    n_wetness_tiles: int,
    ga_centres: dict[str, float],
) -> str:
    """Fill the README template with this run's counts, CRSs and planted bad rows."""
    good = rows[: len(rows) - len(bad)]
    type_lines = []
    for residue in RESIDUES:
        members = [s for s in sites if s.residue == residue]
        localities = ", ".join(dict.fromkeys(s.locality.name for s in members))
        type_lines.append(
            f"| {residue} | {len(members)} | {sum(s.sampled for s in members)} | "
            f"{sum(s.has_surface for s in members)} | {sum(s.has_base for s in members)} | {localities} |"
        )
    grade_lines = [
        f"| {r} | " + " | ".join(f"{RESIDUES[r].typical_gt[e]:g}" for e in ELEMENTS) + f" | {GRADE_BASIS[r]} |"
        for r in RESIDUES
    ]
    bdl = {c: sum(row[c].startswith("<") for row in good) for c in ASSAY_COLUMNS}
    first_bad_line = len(good) + 2  # header is line 1
    bad_lines = [
        f"| {first_bad_line + i} | {b['row']['sample_id']} | {b['row']['site_id'] or '(blank)'} | {b['defect']} |"
        for i, b in enumerate(bad)
    ]
    areas = [s.truth["area_ha"] for s in sites if s.residue != "copper_anode_slime"]

    def ids(chosen: Iterable[Site]) -> str:
        """Comma-separated site ids, or "none"."""
        return ", ".join(s.site_id for s in chosen) or "none"

    return README_TEMPLATE.format(
        seed=seed,
        timestamp=FIXED_TIMESTAMP,
        n_sites=len(sites),
        n_surface=sum(s.has_surface for s in sites),
        n_base=sum(s.has_base for s in sites),
        n_rows=len(rows),
        n_holes=len({r["hole_id"] for r in rows}),
        n_sampled=sum(s.sampled for s in sites),
        n_tonnes=sum("tonnes" in s.reports for s in sites),
        n_volume=sum("volume" in s.reports for s in sites),
        n_density=sum("density" in s.reports for s in sites),
        aliases=", ".join(f'"{a}"' for a in sorted({s.residue_written for s in sites} - set(RESIDUES))),
        type_table="\n".join(type_lines),
        area_min=min(areas),
        area_max=max(areas),
        zones=", ".join(f"{code - 32600}N" for code in sorted({s.utm_epsg for s in sites})),
        lcc_sites=ids(s for s in sites if s.crs_epsg == LCC_INDIA_EPSG),
        surface_only=ids(s for s in sites if s.has_surface and not s.has_base),
        hole_sites=ids(s for s in sites if s.dem_hole),
        sample_crs=", ".join(sorted({r["crs"] for r in good})),
        lcc_sampled=ids(s for s in sites if s.sampled and s.crs_epsg == LCC_INDIA_EPSG),
        n_blank=sum(r["site_id"] == "" for r in good),
        blank_pct=100 * sum(r["site_id"] == "" for r in good) / len(good),
        te_ppb_sites=ids(s for s in sites if s.te_unit == "ppb"),
        bdl_counts=", ".join(f"{c} {n}" for c, n in bdl.items()),
        assay_suites="; ".join(f"{r}: {', '.join(spec.assayed)}" for r, spec in RESIDUES.items()),
        full_suite=ids(s for s in sites if s.residue == "coal_fly_ash" and "pt" in s.assayed),
        bad_table="\n".join(bad_lines),
        between_sd=BETWEEN_SITE_SD,
        sill=GRADE_SILL,
        nugget=GRADE_NUGGET,
        grade_table="\n".join(grade_lines),
        densities=", ".join(f"{r} {spec.density_t_m3}" for r, spec in RESIDUES.items()),
        ga_pixel=REGIONAL_GA_PIXEL_DEG,
        ga_width=round((REGIONAL_GA_BOUNDS[2] - REGIONAL_GA_BOUNDS[0]) / REGIONAL_GA_PIXEL_DEG),
        ga_height=round((REGIONAL_GA_BOUNDS[3] - REGIONAL_GA_BOUNDS[1]) / REGIONAL_GA_PIXEL_DEG),
        ga_bounds="{:g}–{:g}° E, {:g}–{:g}° N".format(*REGIONAL_GA_BOUNDS[::2], *REGIONAL_GA_BOUNDS[1::2]),
        ga_median=REGIONAL_GA_MEDIAN_PPM,
        ga_log_sd=REGIONAL_GA_LOG_SD,
        n_waves=N_FIELD_WAVES,
        ga_wave_lo=REGIONAL_GA_WAVELENGTH_DEG[0],
        ga_wave_hi=REGIONAL_GA_WAVELENGTH_DEG[1],
        ga_types=", ".join(REGIONAL_GA_TYPES),
        ga_effect=REGIONAL_GA_EFFECT,
        ga_centres=", ".join(f"{r} ({z:.3f})" for r, z in ga_centres.items()),
        z_min=min(s.regional_ga_z for s in sites),
        z_max=max(s.regional_ga_z for s in sites),
        wet_pixel=WETNESS_PIXEL_M,
        wet_tile=WETNESS_TILE,
        n_wet_tiles=n_wetness_tiles,
        wet_margin_km=WETNESS_MARGIN_M / 1000,
        wet_wave_lo_km=WETNESS_WAVELENGTH_M[0] / 1000,
        wet_wave_hi_km=WETNESS_WAVELENGTH_M[1] / 1000,
    )


# -------------------------------------------------------------------------------- main


def generate(out_dir: Path, seed: int = SEED) -> None:
    """Generate the whole demo data drop into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    raster_dir = out_dir / "rasters"
    if raster_dir.exists():
        shutil.rmtree(raster_dir)
    raster_dir.mkdir()

    sites = plan_sites(seed)
    place_footprints(seed, sites)
    ga_field = regional_ga_field(seed)
    ga_centres = set_regional_ga(sites, ga_field)
    for site in sites:
        build_volume(seed, site)
        build_grade_model(seed, site)
        true_mean_grades(site)
        if site.has_surface:
            base, surface = build_dems(seed, site)
            write_dem(raster_dir / f"{site.site_id}_surface.tif", surface, site)
            if site.has_base:
                write_dem(raster_dir / f"{site.site_id}_base.tif", base, site)
    covariate_dir = raster_dir / "covariates"
    covariate_dir.mkdir()
    write_regional_ga(covariate_dir / "regional_ga_ppm.tif", ga_field)
    n_wetness_tiles = write_wetness_index(covariate_dir / "pond_wetness_index.tif", seed, sites)
    set_reported_figures(seed, sites)
    table, bad = build_samples(seed, sites)

    write_sites(out_dir / "sites.gpkg", sites)
    write_csv(out_dir / "samples.csv", SAMPLE_COLUMNS, table.rows)
    write_csv(out_dir / "truth.csv", *truth_rows(sites))
    write_dataset_json(out_dir / "dataset.json", seed)
    (out_dir / "README.md").write_text(
        readme_text(seed, sites, table.rows, bad, n_wetness_tiles, ga_centres), encoding="utf-8"
    )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args()
    generate(args.out, args.seed)


if __name__ == "__main__":
    main()
