"""The input and output contract: residue types, elements, units and column names.

Everything a user's data drop may contain is spelled out here, so readers, validators,
the README and the tests agree on one definition.
"""

from __future__ import annotations

import re

#: CRS in which sites and samples travel between stages (lon/lat, WGS 84). Metric work
#: (areas, volumes, distances) is done in each site's own local projected CRS.
STORAGE_CRS = "EPSG:4326"

#: Elements Residua estimates; PGM is reported as the sum of Pt, Pd and Rh.
ELEMENTS: tuple[str, ...] = ("ga", "te", "pt", "pd", "rh")
PGM_ELEMENTS: tuple[str, ...] = ("pt", "pd", "rh")
REPORTED_METALS: tuple[str, ...] = (*ELEMENTS, "pgm")

#: Canonical residue types and the spellings users write for them (compared after
#: lower-casing and folding punctuation to single spaces).
RESIDUE_TYPES: dict[str, tuple[str, ...]] = {
    "bauxite_residue": ("bauxite residue", "red mud", "redmud", "bauxite tailings", "bauxite residue red mud"),
    "zinc_leach_residue": (
        "zinc leach residue",
        "jarosite",
        "jarofix",
        "zinc residue",
        "zinc leach residue jarosite",
        "goethite residue",
    ),
    "copper_flotation_tailings": ("copper flotation tailings", "copper tailings", "cu tailings", "flotation tailings"),
    "copper_smelter_slag": ("copper smelter slag", "copper slag", "smelter slag", "cu slag"),
    "copper_anode_slime": (
        "copper anode slime",
        "anode slime",
        "anode slimes",
        "refinery residue",
        "copper refinery residue",
        "copper anode slime refinery residue",
    ),
    "chromite_pgm_tailings": (
        "chromite or pgm tailings",
        "chromite tailings",
        "pgm tailings",
        "chrome tailings",
        "chromite pgm tailings",
    ),
    "coal_fly_ash": ("coal fly ash", "fly ash", "flyash", "coal ash", "pond ash"),
    "other": ("other",),
}

#: Assay units accepted in column suffixes, and the factor that converts them to g/t.
UNIT_TO_GT: dict[str, float] = {
    "ppm": 1.0,
    "gt": 1.0,
    "g/t": 1.0,
    "gpt": 1.0,
    "g_t": 1.0,
    "ppb": 1e-3,
    "pct": 1e4,
    "%": 1e4,
    "mg/kg": 1.0,
    "mg_kg": 1.0,
    "ug/kg": 1e-3,
    "ug_kg": 1e-3,
    "ug/g": 1.0,
    "ug_g": 1.0,
    "ng/g": 1e-3,
    "ng_g": 1e-3,
}

SITE_REQUIRED: tuple[str, ...] = ("site_id", "name", "residue_type")
SITE_NUMERIC: tuple[str, ...] = (
    "commissioned_year",
    "closed_year",
    "reported_tonnes",
    "reported_volume_m3",
    "dry_density_t_m3",
)
SITE_TEXT: tuple[str, ...] = ("operator", "state", "source_process", "surface_dem", "base_dem")

SAMPLE_REQUIRED: tuple[str, ...] = ("sample_id",)
SAMPLE_NUMERIC: tuple[str, ...] = ("depth_from_m", "depth_to_m")

#: Column spellings accepted for the same thing.
LON_ALIASES: tuple[str, ...] = ("lon", "longitude", "long", "lng")
LAT_ALIASES: tuple[str, ...] = ("lat", "latitude")

#: Columns of the drillhole tables (collars, surveys, assays; see ``geodata.drillholes``): the name
#: used here -> the spellings accepted, compared after lower-casing and folding spaces and punctuation
#: to ``_`` (``Hole ID`` -> ``hole_id``, ``Max Depth (m)`` -> ``max_depth_m``).
COLLAR_COLUMNS: dict[str, tuple[str, ...]] = {
    "hole_id": ("hole_id", "holeid", "hole", "bhid", "hole_name"),
    "x": ("x", "easting", "east", "x_m", "easting_m"),
    "y": ("y", "northing", "north", "y_m", "northing_m"),
    "elevation_m": ("elevation_m", "elevation", "elev", "z", "rl", "collar_rl"),
    "max_depth_m": ("max_depth_m", "max_depth", "total_depth", "total_depth_m", "depth", "eoh", "eoh_m", "length"),
    "azimuth": ("azimuth", "azi", "az", "azimuth_deg"),
    "dip": ("dip", "dip_deg"),
}
SURVEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "hole_id": COLLAR_COLUMNS["hole_id"],
    "depth_m": ("depth_m", "depth", "at", "at_m", "survey_depth", "survey_depth_m", "distance"),
    "azimuth": COLLAR_COLUMNS["azimuth"],
    "dip": COLLAR_COLUMNS["dip"],
}
ASSAY_INTERVAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "hole_id": COLLAR_COLUMNS["hole_id"],
    "from_m": ("from_m", "from", "depth_from", "depth_from_m", "mfrom", "from_depth"),
    "to_m": ("to_m", "to", "depth_to", "depth_to_m", "mto", "to_depth"),
    "sample_id": ("sample_id", "sampleid", "sample", "sample_no", "sample_number"),
}
COLLAR_REQUIRED: tuple[str, ...] = ("hole_id", "max_depth_m")
SURVEY_REQUIRED: tuple[str, ...] = ("hole_id", "depth_m", "azimuth", "dip")
ASSAY_INTERVAL_REQUIRED: tuple[str, ...] = ("hole_id", "from_m", "to_m")

_UNIT = "(" + "|".join(re.escape(unit) for unit in sorted(UNIT_TO_GT, key=len, reverse=True)) + ")"
#: Method or lab suffixes after the unit, each after a separator or in brackets: ``_FA``,
#: `` (ICP-MS)``, `` FA/ICP``, ``[4A]``.
_METHOD = r"(?:(?:[\s_.\-]+|[\s_.\-]*[(\[])[a-z0-9/+\-]+[)\]]?)*"
#: Element, separator (``_``, space, ``-``, ``.``), unit (optionally in brackets), then optional
#: method suffixes: ``Ga_ppm``, ``Te (ppm)``, ``Pt_ppb_FA``, ``Pd [ppb]``, ``Te ppm (ICP-MS)``.
_ASSAY_COLUMN = re.compile(rf"^(ga|te|pt|pd|rh)[\s_.\-]*[(\[]?\s*{_UNIT}\s*[)\]]?{_METHOD}$", re.IGNORECASE)
#: Any chemical symbol with a grade unit: a column that looks like an assay, read or not.
_ANY_ASSAY_COLUMN = re.compile(rf"^([A-Z][a-z]?)[\s_.\-]*[(\[]?\s*{_UNIT}\s*[)\]]?{_METHOD}$", re.IGNORECASE)
#: The micro sign and Greek mu, both written for "micro" in ``µg/kg``.
_MICRO = str.maketrans({"\u00b5": "u", "\u03bc": "u"})


def normalize_key(text: str) -> str:
    """Lower-case ``text`` and fold every run of non-alphanumerics to one space.

    >>> normalize_key("  Red-Mud ")
    'red mud'
    """
    return re.sub(r"[^0-9a-z]+", " ", str(text).lower()).strip()


_RESIDUE_LOOKUP = {normalize_key(alias): code for code, aliases in RESIDUE_TYPES.items() for alias in (code, *aliases)}


def canonical_residue_type(value: object) -> str | None:
    """Return the canonical residue-type code for a user's spelling, or None if unknown.

    >>> canonical_residue_type("Red Mud")
    'bauxite_residue'
    >>> canonical_residue_type("granite") is None
    True
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    return _RESIDUE_LOOKUP.get(normalize_key(value))


def parse_assay_column(column: str) -> tuple[str, str] | None:
    """Split an assay column name into (element, unit), or None if it is not one.

    >>> parse_assay_column("Ga_ppm")
    ('ga', 'ppm')
    >>> parse_assay_column("pt_g/t")
    ('pt', 'g/t')
    >>> parse_assay_column("depth_to_m") is None
    True
    >>> parse_assay_column("Te (ppm)"), parse_assay_column("Pt_ppb_FA"), parse_assay_column("Ga mg/kg")
    (('te', 'ppm'), ('pt', 'ppb'), ('ga', 'mg/kg'))
    >>> [parse_assay_column(name) for name in ("Pd (\u00b5g/kg)", "Te ppm (ICP-MS)", "Rh ppb FA/ICP")]
    [('pd', 'ug/kg'), ('te', 'ppm'), ('rh', 'ppb')]
    """
    match = _ASSAY_COLUMN.match(column.strip().translate(_MICRO))
    if match is None:
        return None
    return match.group(1).lower(), match.group(2).lower()


def unread_assay_columns(columns: list[str]) -> list[str]:
    """Columns that look like assays (a chemical symbol and a grade unit) but are not read as one.

    >>> unread_assay_columns(["Ga (ppm)", "Au g/t", "Ni_ppm", "depth_to_m", "Pt_ppb_FA"])
    ['Au g/t', 'Ni_ppm']
    """
    looks_like_assay = [column for column in columns if _ANY_ASSAY_COLUMN.match(str(column).strip().translate(_MICRO))]
    return [column for column in looks_like_assay if parse_assay_column(str(column)) is None]
