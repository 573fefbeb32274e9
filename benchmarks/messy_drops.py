"""Messy data drops: does Residua read each one correctly, or name the file, the row and the fix? (issue 16)

Usage: .venv/bin/python benchmarks/messy_drops.py [--workdir DIR] [--out DIR] [--only KEY ...] [--reuse]
       [--code REF | --live] [--build-only]

Each variant starts from a fresh copy of the bundled SYNTHETIC demo drop (geodata/demo/), changes
it the way a laboratory export or an agency's data drop really comes in (a base DEM with SRTM
voids, Ga in ppb typed into ``ga_ppm``, a 200 % assay, headers such as ``Te (ppm)``, a second
samples file, swapped coordinates, decimal commas, an Excel workbook, reported tonnes typed 20x
too high, ...), then runs ``residua validate`` and ``residua run`` on it, each run with its own
fresh Dagster home (``DAGSTER_HOME`` with a copy of dagster.yaml, ``RESIDUA_DAGSTER_DIR`` inside
it) and its own output folder, sequentially. Its verdict is automatic:

* pass: Residua read the drop correctly (the same figures as the unchanged copy, where the
  change only re-expresses the same data), or it named the file, the row (or site) and the fix,
  and no published inventory (``OUT/sites_ranked.csv``, column ``rank``) ranks a site whose
  volume, grade or units fail a plausibility check;
* FAIL: it ran to the end silently, or with wrong figures, or stopped where it should have read.

Every run is also checked for rows in = rows accepted + rows quarantined (the rows the variant
wrote, the run's ``Sites:`` / ``Samples:`` log lines, the inventory's ``samples`` and
``sites_ranked`` layers and its ``quarantine`` layer). The unchanged copy (``base``) is the
reference of every comparison, and is itself compared with a plain ``residua run`` on
geodata/demo (``plain``).

Residua runs from a snapshot of one commit (``--code``, default HEAD: ``git archive`` into
``--workdir``/code/, put first on PYTHONPATH and used as the working directory), so commits or
uncommitted edits landing in the checkout while the suite runs change nothing; ``--live`` runs
the checkout as it is instead.

Writes, under --workdir: ``code/<commit>/`` (the snapshot), ``drops/<key>/`` (the variant's drop),
``runs/<key>/`` (validate.txt, run.log, out/, dagster/, outcome.json); under --out:
``messy_drops.md`` and ``messy_drops.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pyproj
import rasterio
import rasterio.features
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Needs the sys.path entry above (E402 on purpose): code_snapshot and report_tables sit beside this script.
from code_snapshot import link_namespace  # noqa: E402
from report_tables import markdown_table_section  # noqa: E402

#: The Residua code the drops are built from and run with (``--code`` snapshot, or ROOT with ``--live``): set by main.
CODE = ROOT
RESIDUA = Path(sys.executable).parent / "residua"
ELEMENTS = ("ga", "te", "pt", "pd", "rh")
#: Columns of sites_ranked.csv compared between a variant and the unchanged copy.
FIGURES = (
    "tonnes_p50",
    "volume_m3",
    "value_usd_p50",
    *(f"{e}_grade_gt_p50" for e in ELEMENTS),
    *(f"{m}_recoverable_t_p50" for m in (*ELEMENTS, "pgm")),
)
#: Smallest denominators of relative differences: a site worth 0.1 USD that moves to 2 USD is not a 19x change
#: anyone reads; grades, tonnes and volumes use 1e-12.
RELATIVE_FLOOR = {"value_usd_p50": 1000.0, **{f"{m}_recoverable_t_p50": 1e-3 for m in (*ELEMENTS, "pgm")}}
#: Words that make a new output line worth recording even when it names none of the variant's keys.
FLAG_WORDS = ("error", "warning", "not read", "unusable", "held", "quarantined", "fix", "failed")
_DAGSTER_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - dagster - (\w+) - \S+ - [0-9a-f-]{36} - ")
#: The demo's samples.csv ends with this many deliberately bad rows (geodata/demo/README.md): variants leave them
#: out of the rows they expect a new reason on, as they are quarantined for their own defect already.
PLANTED_BAD_ROWS = 6
_COUNTS = re.compile(r"(Sites|Samples): (\d+) read, (\d+) accepted, (\d+) quarantined")


# ----------------------------------------------------------------------------- results of one variant
@dataclass
class Check:
    """One automatic check of a variant: its name, whether it held, what was seen, and the line that shows it."""

    name: str
    ok: bool
    detail: str = ""
    line: str = ""
    #: False for a note: reported, but not part of the verdict.
    blocking: bool = True


@dataclass
class Outcome:
    """What Residua did with one drop: exit codes, output, and (when it published) the inventory."""

    key: str
    drop: Path
    out: Path
    validate_rc: int
    validate_out: str
    run_rc: int
    run_out: str
    wall_s: float
    rows_written: dict[str, int]
    ranked: pd.DataFrame | None = None
    quarantine: pd.DataFrame | None = None
    samples_accepted: int | None = None

    @property
    def published(self) -> bool:
        """True when the run exited 0 and wrote sites_ranked.csv."""
        return self.run_rc == 0 and self.ranked is not None

    def lines(self) -> list[str]:
        """Every line of validate's and the run's output, then each quarantined row as one line."""
        found = [f"validate: {line}" for line in self.validate_out.splitlines() if line.strip()]
        found += [f"run: {_strip_prefix(line)}" for line in self.run_out.splitlines() if line.strip()]
        if self.quarantine is not None:
            found += [f"quarantine layer: {row.source} {row.source_row} {row.record_id}: {row.reason}"
                      for row in self.quarantine.itertuples(index=False)]  # fmt: skip
        return found

    def rank(self, site: str) -> float | None:
        """The site's published rank; NaN when it is listed without one; None when it is not listed."""
        if self.ranked is None or site not in set(self.ranked["site_id"]):
            return None
        return float(self.ranked.set_index("site_id").at[site, "rank"])

    def rank1(self) -> str:
        """The site ranked first, or '' when nothing was published."""
        if self.ranked is None or self.ranked["rank"].isna().all():
            return ""
        return str(self.ranked.loc[self.ranked["rank"].idxmin(), "site_id"])

    def site_value(self, site: str, column: str) -> object:
        """One cell of sites_ranked for a site (None when absent)."""
        if self.ranked is None or site not in set(self.ranked["site_id"]) or column not in self.ranked:
            return None
        return self.ranked.set_index("site_id").at[site, column]

    def quarantined_rows(self, source: str) -> pd.DataFrame:
        """The quarantine rows of one source file: from the run's layer, else from validate's listing."""
        if self.quarantine is not None:
            rows = self.quarantine
        else:
            rows = _validate_quarantine(self.validate_out)
        return rows[rows["source"].str.lower() == source.lower()]


Judge = Callable[[Outcome, Outcome], list[Check]]


@dataclass
class Spec:
    """A variant as built: what was done to the drop, what Residua should do, and how to judge it."""

    title: str
    what: str
    wanted: str
    judge: Judge
    site: str = ""
    keys: list[str] = field(default_factory=list)


@dataclass
class Variant:
    """A registered variant: its key and the function that turns a copy of the demo into it."""

    key: str
    build: Callable[[Path], Spec]


VARIANTS: list[Variant] = []


def variant(key: str) -> Callable[[Callable[[Path], Spec]], Callable[[Path], Spec]]:
    """Register a builder under ``key`` (the order of registration is the order of the table)."""

    def register(build: Callable[[Path], Spec]) -> Callable[[Path], Spec]:
        VARIANTS.append(Variant(key, build))
        return build

    return register


# ----------------------------------------------------------------------------- generic checks
def published(o: Outcome) -> Check:
    """The run exited 0 and published an inventory."""
    return Check("run published", o.published, f"run exit {o.run_rc}")


def stopped(o: Outcome, *names: str) -> Check:
    """The run refused the drop (exit != 0, nothing published), validate's UNUSABLE line or the run's output
    naming every one of ``names``."""
    line = _find_line(o, names, prefixes=("validate: ", "run: "))
    ok = o.run_rc != 0 and o.ranked is None and bool(line)
    return Check(f"stopped naming {', '.join(names)}", ok, f"run exit {o.run_rc}", line)


def mentions(o: Outcome, *parts: str, name: str = "") -> Check:
    """Some output line (validate, run, quarantine layer) holds every one of ``parts`` (any case)."""
    line = _find_line(o, parts)
    return Check(name or f"a message names {' + '.join(map(repr, parts))}", bool(line), "" if line else "no such line",
                 line)  # fmt: skip


def quarantined(o: Outcome, source: str, rows: list[int], *parts: str) -> Check:
    """Every one of ``rows`` (lines / worksheet rows / feature numbers) of ``source`` is quarantined, the
    reason holding every one of ``parts``."""
    table = o.quarantined_rows(source)
    reasons = dict(zip(table["source_row"].astype(int), table["reason"].astype(str)))
    missing = [row for row in rows if row not in reasons]
    unexplained = [row for row in rows if row in reasons and not all(p.lower() in reasons[row].lower() for p in parts)]
    example = reasons.get(rows[0], "") if rows else ""
    detail = f"{len(rows) - len(missing)}/{len(rows)} rows of {source} quarantined"
    if missing:
        detail += f"; not quarantined: {_some(missing)}"
    if unexplained:
        detail += f"; reason lacks {parts}: {_some(unexplained)}"
    ok = bool(rows) and not missing and not unexplained
    line = f"quarantine: {source} row {rows[0]}: {example}" if example else ""
    return Check(f"{len(rows)} row(s) of {source} quarantined" + (f" ({', '.join(parts)})" if parts else ""), ok,
                 detail, line)  # fmt: skip


def unranked(o: Outcome, site: str) -> Check:
    """The site has no rank in the published inventory (quarantined, held or excluded), or nothing was published."""
    rank = o.rank(site)
    ok = rank is None or math.isnan(rank)
    status = o.site_value(site, "review_status")
    return Check(
        f"{site} not ranked", ok, f"rank {_rank_text(rank)}" + (f", review_status {status!r}" if status else "")
    )


def not_rank1(o: Outcome, site: str) -> Check:
    """The site is not ranked first."""
    return Check(f"{site} not rank 1", o.rank(site) != 1, f"rank {_rank_text(o.rank(site))}; rank 1 is {o.rank1()}")


def same_rank1(o: Outcome, base: Outcome) -> Check:
    """The rank-1 site is the unchanged copy's."""
    return Check("rank 1 as in base", o.rank1() == base.rank1(), f"rank 1 {o.rank1() or '-'} (base {base.rank1()})")


def same_figures(o: Outcome, base: Outcome, rtol: float = 1e-9, name: str = "same figures as base") -> Check:
    """Every site has the unchanged copy's rank and figures (FIGURES) within ``rtol``."""
    if not o.published or base.ranked is None:
        return Check(name, False, "nothing published to compare")
    differences = compare_figures(o.ranked, base.ranked)
    worst = max(differences["max_rel_diff"].values(), default=0.0)
    ok = not differences["rank_changes"] and not differences["missing_sites"] and not differences["extra_sites"]
    ok = ok and worst <= rtol
    detail = (f"max relative difference {worst:.2g} ({differences['worst_column']}); rank changes "
              f"{differences['rank_changes'][:6] or 'none'}; sites missing {differences['missing_sites'] or 'none'}, "
              f"extra {differences['extra_sites'] or 'none'}")  # fmt: skip
    return Check(name, ok, detail)


def either(name: str, first: list[Check], second: list[Check]) -> Check:
    """One check that holds when all of ``first`` or all of ``second`` hold."""
    ok_first, ok_second = all(c.ok for c in first), all(c.ok for c in second)
    chosen = first if ok_first or not ok_second else second
    detail = " | ".join(f"{'ok' if c.ok else 'NO'} {c.name}: {c.detail}" for c in (*first, *second))
    line = next((c.line for c in chosen if c.line), "")
    return Check(name, ok_first or ok_second, detail, line)


def balanced(o: Outcome) -> list[Check]:
    """Rows in = accepted + quarantined for sites and samples, as written, logged and published."""
    counts = {kind.lower(): tuple(map(int, rest)) for kind, *rest in _COUNTS.findall(o.run_out)}
    checks = []
    for kind, written in o.rows_written.items():
        if kind not in counts:
            checks.append(
                Check(f"{kind}: rows counted", False, f"no '{kind.capitalize()}: N read' line in the run log")
            )
            continue
        read, accepted, rejected = counts[kind]
        ok = read == written and accepted + rejected == read
        detail = f"written {written}, read {read} = accepted {accepted} + quarantined {rejected}"
        if kind == "samples" and o.samples_accepted is not None and o.quarantine is not None:
            layer = int(o.quarantine["source"].str.lower().str.startswith("samples").sum())
            ok = ok and o.samples_accepted == accepted and layer == rejected
            detail += f"; inventory: {o.samples_accepted} in layer samples, {layer} in quarantine"
        if kind == "sites" and o.ranked is not None and o.quarantine is not None:
            layer = int(o.quarantine["source"].str.lower().str.startswith("sites").sum())
            ok = ok and len(o.ranked) + layer == read
            detail += f"; inventory: {len(o.ranked)} in sites_ranked + {layer} site rows in quarantine"
        checks.append(Check(f"{kind}: rows in = accepted + quarantined", ok, detail))
    return checks


def compare_figures(ranked: pd.DataFrame, base: pd.DataFrame) -> dict:
    """Rank changes, missing / extra sites and the largest relative difference per FIGURES column."""
    left, right = ranked.set_index("site_id"), base.set_index("site_id")
    common = left.index.intersection(right.index)
    ranks = pd.DataFrame({"now": left.loc[common, "rank"], "base": right.loc[common, "rank"]})
    changed = ranks[~((ranks["now"] == ranks["base"]) | (ranks["now"].isna() & ranks["base"].isna()))]
    worst: dict[str, float] = {}
    for column in FIGURES:
        if column not in left or column not in right:
            continue
        a, b = left.loc[common, column].astype(float), right.loc[common, column].astype(float)
        both_nan = a.isna() & b.isna()
        floor = RELATIVE_FLOOR.get(column, 1e-12)
        rel = ((a - b).abs() / np.maximum(b.abs(), floor)).where(~both_nan, 0.0).fillna(np.inf)
        worst[column] = float(rel.max()) if len(rel) else 0.0
    return {
        "rank_changes": [f"{site} {_rank_text(r.base)}->{_rank_text(r.now)}" for site, r in changed.iterrows()],
        "missing_sites": sorted(set(right.index) - set(left.index)),
        "extra_sites": sorted(set(left.index) - set(right.index)),
        "max_rel_diff": worst,
        "worst_column": max(worst, key=worst.get) if worst else "",
    }


# ----------------------------------------------------------------------------- editing a drop
def read_samples_csv(drop: Path) -> pd.DataFrame:
    """samples.csv as written: every cell text, blanks as ''."""
    return pd.read_csv(drop / "samples.csv", dtype=str, keep_default_na=False)


def write_samples_csv(drop: Path, samples: pd.DataFrame, name: str = "samples.csv") -> None:
    """Write a samples table as a plain comma-separated UTF-8 file."""
    samples.to_csv(drop / name, index=False)


def read_sites_gpkg(drop: Path) -> gpd.GeoDataFrame:
    """sites.gpkg (layer ``sites``)."""
    return gpd.read_file(drop / "sites.gpkg", layer="sites")


def write_sites_gpkg(drop: Path, sites: gpd.GeoDataFrame) -> None:
    """Replace sites.gpkg with ``sites`` (layer ``sites``)."""
    (drop / "sites.gpkg").unlink()
    sites.to_file(drop / "sites.gpkg", layer="sites", driver="GPKG")


def line_of(position: int) -> int:
    """The CSV line (header = line 1) of a data row at ``position`` (no cell spans lines in the demo)."""
    return position + 2


def sample_sites(drop: Path, samples: pd.DataFrame | None = None) -> pd.Series:
    """Each samples.csv row's site: its site_id, else the site whose footprint contains it ('' if none)."""
    samples = read_samples_csv(drop) if samples is None else samples
    sites = read_sites_gpkg(drop)
    lon, lat = np.full(len(samples), np.nan), np.full(len(samples), np.nan)
    for crs, rows in samples.groupby("crs").groups.items():
        try:
            transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        except pyproj.exceptions.CRSError:
            continue
        x = pd.to_numeric(samples.loc[rows, "x"], errors="coerce").to_numpy()
        y = pd.to_numeric(samples.loc[rows, "y"], errors="coerce").to_numpy()
        positions = samples.index.get_indexer(rows)
        lon[positions], lat[positions] = transformer.transform(x, y)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(points, sites[["site_id", "geometry"]], how="left", predicate="within")
    found = joined.groupby(level=0)["site_id"].first().reindex(samples.index).fillna("")
    return samples["site_id"].where(samples["site_id"] != "", found)


def rows_at(drop: Path, site: str, column: str = "ga_ppm") -> list[int]:
    """Positions of the samples.csv rows at ``site`` with a value in ``column`` (planted bad rows left out)."""
    samples = read_samples_csv(drop)
    at_site = (sample_sites(drop, samples) == site) & (samples[column] != "")
    return [int(r) for r in np.flatnonzero(at_site.to_numpy()) if r < len(samples) - PLANTED_BAD_ROWS]


def hole_rows(samples: pd.DataFrame, site: str, min_rows: int = 3) -> list[int]:
    """Positions of the rows of the first hole of ``site`` (named in site_id) with at least ``min_rows`` intervals."""
    good = samples.iloc[: len(samples) - PLANTED_BAD_ROWS]
    holes = good[good["site_id"] == site].groupby("hole_id").groups  # index labels = positions (RangeIndex)
    hole = next(labels for labels in holes.values() if len(labels) >= min_rows)
    return [int(label) for label in hole]


def scale_cells(cells: pd.Series, factor: float) -> pd.Series:
    """Numeric assay cells times ``factor``, written as a lab would (``35400``, ``<500``); blanks kept."""

    def scale(cell: str) -> str:
        if not cell:
            return cell
        prefix = "<" if cell.startswith("<") else ""
        return f"{prefix}{round(float(cell.lstrip('<')) * factor, 6):g}"

    return cells.map(scale)


def footprint_in(drop: Path, site: str, crs: object) -> shapely.Geometry:
    """A site's footprint in ``crs``."""
    sites = read_sites_gpkg(drop)
    return sites[sites["site_id"] == site].to_crs(crs).geometry.iloc[0]


#: ``edit_dem``'s default: keep the DEM's declared nodata value.
KEEP_NODATA = "keep"
DemEdit = Callable[[np.ndarray, np.ndarray], np.ndarray]


def edit_dem(drop: Path, site: str, which: str, edit: DemEdit, nodata: float | str | None = KEEP_NODATA) -> None:
    """Rewrite a site's ``surface`` or ``base`` DEM as ``edit(heights, inside_footprint)`` returns it.

    ``inside_footprint`` marks the pixels whose centre lies in the footprint; ``nodata`` is the
    nodata value to declare (None: none, as SRTM tiles converted without ``-a_nodata``).
    """
    path = drop / "rasters" / f"{site}_{which}.tif"
    with rasterio.open(path) as dataset:
        heights = dataset.read(1)
        profile = dataset.profile
        inside = rasterio.features.geometry_mask(
            [footprint_in(drop, site, dataset.crs)], heights.shape, dataset.transform, invert=True
        )
        new = edit(heights.copy(), inside).astype(heights.dtype)
    if nodata != KEEP_NODATA:
        profile.update(nodata=nodata)
    path.unlink()
    with rasterio.open(path, "w", **profile) as target:
        target.write(new, 1)


def void_disc(share: float) -> DemEdit:
    """An edit writing SRTM's void value -32768 over a disc at the footprint's centre covering ``share`` of it."""

    def edit(heights: np.ndarray, inside: np.ndarray) -> np.ndarray:
        rows, cols = np.indices(heights.shape)
        centre_row, centre_col = np.argwhere(inside).mean(axis=0)
        distance = np.hypot(rows - centre_row, cols - centre_col)
        radius = np.quantile(distance[inside], share)
        heights[distance <= radius] = -32768
        return heights

    return edit


def count_rows(drop: Path) -> dict[str, int]:
    """Data rows Residua should account for: sites (the file it reads) and samples (when there is one file)."""
    counts = {"sites": int(pyogrio.read_info(drop / "sites.gpkg")["features"])}
    files = {path.name.lower(): path for path in drop.iterdir()}
    if "samples.csv" in files:  # data lines below the header (the line naming sample_id), blank lines skipped
        lines = files["samples.csv"].read_text(encoding="utf-8-sig").splitlines()
        header = next(i for i, line in enumerate(lines) if "sample_id" in line)
        counts["samples"] = sum(1 for line in lines[header + 1 :] if line.strip(" ;,\t"))
    elif "samples.xlsx" in files:  # rows below the header of the sheet holding the data (the last sheet)
        workbook = openpyxl.load_workbook(files["samples.xlsx"], read_only=True)
        rows = workbook[workbook.sheetnames[-1]].iter_rows(min_row=2, values_only=True)
        counts["samples"] = sum(1 for row in rows if any(value is not None for value in row))
        workbook.close()
    return counts


def to_xlsx(samples: pd.DataFrame, path: Path, sheet: str = "samples", cover: list[list[str]] | None = None) -> None:
    """Write samples as a workbook the way Excel holds them: numbers as numbers, '<2' as text, blanks empty.

    ``cover``: rows of a first sheet ``Certificate`` (a lab's cover page) before the data sheet.
    """
    workbook = openpyxl.Workbook()
    first = workbook.active
    if cover is not None:
        first.title = "Certificate"
        for row in cover:
            first.append(row)
        data = workbook.create_sheet(sheet)
    else:
        first.title = sheet
        data = first
    data.append(list(samples.columns))
    text_columns = {"sample_id", "hole_id", "site_id", "crs"}
    for record in samples.itertuples(index=False):
        data.append([_excel_cell(value, column in text_columns) for column, value in zip(samples.columns, record)])
    workbook.save(path)


def _excel_cell(text: str, keep_text: bool) -> object:
    """A CSV cell as Excel would hold it after 'Text to columns': a float where it is a number."""
    if text == "":
        return None
    if keep_text:
        return text
    try:
        return float(text)
    except ValueError:
        return text


# ----------------------------------------------------------------------------- the variants
@variant("base")
def v_base(drop: Path) -> Spec:
    """The unchanged copy of the demo: the reference of every comparison."""

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o)]

    return Spec("unchanged demo (copy)", "copy of geodata/demo, unchanged", "runs; the reference for every variant",
                judge)  # fmt: skip


@variant("plain")
def v_plain(drop: Path) -> Spec:
    """A plain ``residua run`` (no --data: the bundled demo in place), to compare with the copy."""

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), same_figures(o, base, 0.0, name="copy (base) gives the plain run's figures exactly")]

    return Spec("plain run on geodata/demo", "`residua run --out OUT` with the default --data (geodata/demo itself)",
                "the same figures as the copy `base`", judge)  # fmt: skip


def dem_voids(drop: Path, label: str, share: float, wanted: str, judge: Judge) -> Spec:
    """RM-009's base DEM with SRTM-style voids (-32768, nodata tag removed) over ``share`` of its footprint: the
    variant ``label`` of issue 16's item 1, judged by ``judge``."""
    edit_dem(drop, "RM-009", "base", void_disc(share), nodata=None)
    percent = f"{share * 100:.0f} %"
    return Spec(f"{label}. SRTM voids in a base DEM ({percent} of footprint)",
                f"RM-009_base.tif: -32768 over a disc covering {percent} of the footprint, nodata tag removed",
                wanted, judge, "RM-009", ["RM-009", "-32768", "void", "nodata"])  # fmt: skip


@variant("01a_dem_voids_small")
def v01a_dem_voids_small(drop: Path) -> Spec:
    """SRTM-style voids (-32768, nodata undeclared) over 5 % of RM-009's footprint in its base DEM."""

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        volume, base_volume = o.site_value("RM-009", "volume_m3"), base.site_value("RM-009", "volume_m3")
        ratio = float(volume) / float(base_volume) if volume is not None else float("nan")
        return [published(o), not_rank1(o, "RM-009"),
                Check("RM-009 volume within 20 % of base", 0.8 <= ratio <= 1.2, f"volume {ratio:.3f}x base"),
                mentions(o, "RM-009", "cells", name="warning names RM-009 and the void cells")]  # fmt: skip

    return dem_voids(drop, "1a", 0.05, "voids read as nodata, warning naming the site and the cells; volume as "
                     "before; not rank 1", judge)  # fmt: skip


@variant("01b_dem_voids_large")
def v01b_dem_voids_large(drop: Path) -> Spec:
    """SRTM-style voids over 40 % of RM-009's footprint: the DEMs no longer cover it."""

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), unranked(o, "RM-009"),
                quarantined(o, "sites.gpkg", [9], "-32768"),
                mentions(o, "RM-009", "cells", name="a message names RM-009 and the void cells")]  # fmt: skip

    return dem_voids(drop, "1b", 0.40, "site quarantined (DEMs cover < 90 %), the reason naming the voids; not ranked",
                     judge)  # fmt: skip


@variant("02a_ga_ppb_one_site")
def v02a_ga_ppb_one_site(drop: Path) -> Spec:
    """RM-011's Ga reported by the lab in ppb and pasted into ga_ppm (x1000)."""
    samples = read_samples_csv(drop)
    rows = rows_at(drop, "RM-011")
    samples.loc[rows, "ga_ppm"] = scale_cells(samples.loc[rows, "ga_ppm"], 1000)
    write_samples_csv(drop, samples)
    unsampled = ["RM-001", "RM-002", "RM-003", "RM-005", "RM-006", "RM-008"]

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        moved = [s for s in unsampled if (o.rank(s) or 99) <= 10 < (base.rank(s) or 99)]
        ratios = {s: float(o.site_value(s, "ga_grade_gt_p50")) / float(base.site_value(s, "ga_grade_gt_p50"))
                  for s in unsampled if o.site_value(s, "ga_grade_gt_p50") is not None}  # fmt: skip
        worst = max(ratios.values(), default=float("nan"))
        return [published(o), quarantined(o, "samples.csv", [line_of(r) for r in rows], "unit"),
                not_rank1(o, "RM-011"),
                Check("no unsampled bauxite site moves into the top 10", not moved, f"moved in: {moved or 'none'}"),
                Check("bauxite prior not pulled up (unsampled sites' Ga P50 <= 1.5x base)", worst <= 1.5,
                      f"largest ratio {worst:.3f}")]  # fmt: skip

    return Spec("2a. one site's Ga in ppb in ga_ppm",
                f"RM-011: ga_ppm x1000 on its {len(rows)} Ga rows (lab reported ppb)",
                "rows quarantined as a unit error naming the unit; RM-011 not rank 1; the bauxite prior not pulled up",
                judge, "RM-011", ["RM-011", "unit", "ppb"])  # fmt: skip


@variant("02b_ga_ppm_in_ppb_column")
def v02b_ga_ppm_in_ppb_column(drop: Path) -> Spec:
    """ZL-005's Ga values (ppm) typed into a new ga_ppb column: read 1000x too low."""
    samples = read_samples_csv(drop)
    rows = rows_at(drop, "ZL-005")
    samples.insert(samples.columns.get_loc("ga_ppm") + 1, "ga_ppb", "")
    samples.loc[rows, "ga_ppb"] = samples.loc[rows, "ga_ppm"]
    samples.loc[rows, "ga_ppm"] = ""
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "samples.csv", [line_of(r) for r in rows], "unit")]

    return Spec("2b. one site's Ga ppm values in a ga_ppb column",
                f"ZL-005: its {len(rows)} Ga values moved from ga_ppm to a new ga_ppb column (1000x too low)",
                "rows quarantined as a unit error (1000x below the type)", judge, "ZL-005",
                ["ZL-005", "unit", "ppb"])  # fmt: skip


@variant("02c_ga_ppb_whole_file")
def v02c_ga_ppb_whole_file(drop: Path) -> Spec:
    """Every Ga value in ppb under ga_ppm: the whole lab batch in the wrong unit."""
    samples = read_samples_csv(drop)
    samples["ga_ppm"] = scale_cells(samples["ga_ppm"], 1000)
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        refused = [stopped(o, "samples_units_plausible", "FAILED")]
        top = float(o.ranked["ga_grade_gt_p50"].max()) if o.published else float("nan")
        limit = 2 * float(base.ranked["ga_grade_gt_p50"].max())
        no_inflated = [
            published(o),
            Check("no Ga P50 above 2x base's highest", top <= limit, f"highest {top:,.0f} g/t"),
        ]
        return [either("refused naming the unit error, or published no inflated Ga", refused, no_inflated),
                mentions(o, "ga", "ppb", name="a message says ppb")]  # fmt: skip

    return Spec("2c. the whole file's Ga in ppb in ga_ppm", "ga_ppm x1000 on every row",
                "the blocking unit check stops publication (or every row is quarantined)", judge, "",
                ["unit", "ppb", "samples_units_plausible"])  # fmt: skip


@variant("03_assay_200_percent")
def v03_assay_200_percent(drop: Path) -> Spec:
    """A single Ga assay typed as 2,000,000 ppm (200 % of the sample)."""
    samples = read_samples_csv(drop)
    row = int(np.flatnonzero((samples["site_id"] == "RM-004").to_numpy())[2])
    samples.loc[row, "ga_ppm"] = "2000000"
    write_samples_csv(drop, samples)
    sample_id = samples.loc[row, "sample_id"]

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "samples.csv", [line_of(row)], "100 %"),
                mentions(o, "samples.csv", f"line {line_of(row)}", sample_id, name="validate names the file and line"),
                same_rank1(o, base)]  # fmt: skip

    return Spec("3. a 2,000,000 ppm assay", f"samples.csv line {line_of(row)} ({sample_id}, RM-004): ga_ppm 2000000",
                "row quarantined, naming the line, 100 % and the unit fix", judge, "RM-004",
                [sample_id, "100 %"])  # fmt: skip


@variant("04_extra_files")
def v04_extra_files(drop: Path) -> Spec:
    """Files an agency adds that Residua does not read: notes, a QC table, a DEM no site names."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["site_id", "note"])
    workbook.active.append(["RM-004", "pond 1 raised by 2 m in 2022; new survey pending"])
    workbook.save(drop / "notes.xlsx")
    samples = read_samples_csv(drop)
    samples.head(40)[["sample_id", "ga_ppm"]].rename(columns={"ga_ppm": "ga_ppm_duplicate"}).to_csv(
        drop / "extra.csv", index=False
    )
    shutil.copy(drop / "rasters" / "RM-002_surface.tif", drop / "rasters" / "RM-001_surface_2019.tif")
    names = ["notes.xlsx", "extra.csv", "rasters/RM-001_surface_2019.tif"]

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        checks = [published(o), same_figures(o, base)]
        for name in names:
            checks.append(_mention_in(o, "validate: ", name, "not read"))
            checks.append(_mention_in(o, "run: ", name, "not read"))
        return checks

    return Spec(
        "4. extra files in the drop",
        "added notes.xlsx, extra.csv (lab QC duplicates), rasters/RM-001_surface_2019.tif (a DEM no site names)",
        "each named as NOT READ with why, by validate and by run; figures unchanged",
        judge,
        "",
        names,
    )


@variant("05a_assay_headers")
def v05a_assay_headers(drop: Path) -> Spec:
    """Lab headers: 'Ga ppm', 'Te (ppm)', 'Pt_ppb_FA', and an 'Au g/t' column Residua does not estimate."""
    samples = read_samples_csv(drop).rename(columns={"ga_ppm": "Ga ppm", "te_ppm": "Te (ppm)", "pt_ppb": "Pt_ppb_FA"})
    samples.insert(len(samples.columns), "Au g/t", np.where(samples["Pt_ppb_FA"] != "", "0.02", ""))
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), same_figures(o, base), _mention_in(o, "validate: ", "Au g/t", "not read"),
                _mention_in(o, "run: ", "Au g/t", "not read")]  # fmt: skip

    return Spec("5a. lab assay headers", "renamed ga_ppm->'Ga ppm', te_ppm->'Te (ppm)', pt_ppb->'Pt_ppb_FA'; "
                "added 'Au g/t'", "read as before (same figures); 'Au g/t' named as not read", judge, "",
                ["Au g/t", "Te (ppm)", "Pt_ppb_FA", "Ga ppm"])  # fmt: skip


@variant("05b_assay_headers_units")
def v05b_assay_headers_units(drop: Path) -> Spec:
    """Lab headers with the SI unit and a bracketed method: 'Pd (µg/kg)', 'Te ppm (ICP-MS)', 'Rh ppb FA/ICP'."""
    renamed = {"pd_ppb": "Pd (µg/kg)", "te_ppm": "Te ppm (ICP-MS)", "rh_ppb": "Rh ppb FA/ICP"}
    write_samples_csv(drop, read_samples_csv(drop).rename(columns=renamed))

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        named = [_mention_in(o, "validate: ", header, "not read") for header in renamed.values()]
        named += [_mention_in(o, "run: ", header, "not read") for header in renamed.values()]
        return [either("read (same figures) or every header named as not read", [same_figures(o, base)], named)]

    return Spec("5b. headers with µg/kg and bracketed methods", "renamed pd_ppb->'Pd (µg/kg)', "
                "te_ppm->'Te ppm (ICP-MS)', rh_ppb->'Rh ppb FA/ICP'",
                "read as before, or each column named as not read with the fix", judge, "",
                list(renamed.values()))  # fmt: skip


@variant("06a_two_sites_files")
def v06a_two_sites_files(drop: Path) -> Spec:
    """sites.gpkg and a GeoJSON export of it, sites.geojson, side by side."""
    read_sites_gpkg(drop).to_file(drop / "sites.geojson", driver="GeoJSON")

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [stopped(o, "sites.gpkg", "sites.geojson")]

    return Spec("6a. sites.gpkg + sites.geojson", "added sites.geojson (the same sites exported)",
                "stops, naming both files", judge, "", ["sites.geojson", "sites.gpkg"])  # fmt: skip


@variant("06b_samples_v2")
def v06b_samples_v2(drop: Path) -> Spec:
    """A corrected samples_v2.csv sent later, beside the original samples.csv."""
    samples = read_samples_csv(drop)
    write_samples_csv(drop, samples.iloc[:-6], "samples_v2.csv")  # v2: the lab removed the six bad rows

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [stopped(o, "samples.csv", "samples_v2.csv")]

    return Spec("6b. samples.csv + samples_v2.csv", "added samples_v2.csv (samples.csv without its 6 bad rows)",
                "stops, naming both files (which one is current?)", judge, "",
                ["samples_v2.csv"])  # fmt: skip


@variant("06c_samples_csv_and_xlsx")
def v06c_samples_csv_and_xlsx(drop: Path) -> Spec:
    """samples.csv and the workbook it was exported from, samples.xlsx."""
    to_xlsx(read_samples_csv(drop), drop / "samples.xlsx")

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [stopped(o, "samples.csv", "samples.xlsx")]

    return Spec("6c. samples.csv + samples.xlsx", "added samples.xlsx (the same table as a workbook)",
                "stops, naming both files", judge, "", ["samples.xlsx"])  # fmt: skip


@variant("07a_swapped_lonlat")
def v07a_swapped_lonlat(drop: Path) -> Spec:
    """One hole of RM-010 given in lon/lat columns, with longitude and latitude swapped."""
    samples = read_samples_csv(drop)
    rows = hole_rows(samples, "RM-010")
    crs = samples.loc[rows[0], "crs"]
    x, y = samples.loc[rows, "x"].astype(float), samples.loc[rows, "y"].astype(float)
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x.to_numpy(), y.to_numpy())
    samples["lon"], samples["lat"] = "", ""
    samples.loc[rows, "lon"] = [f"{value:.6f}" for value in lat]  # swapped
    samples.loc[rows, "lat"] = [f"{value:.6f}" for value in lon]
    samples.loc[rows, ["x", "y", "crs"]] = ""
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "samples.csv", [line_of(r) for r in rows], "km")]

    return Spec("7a. swapped lon/lat", f"RM-010 hole {samples.loc[rows[0], 'hole_id']}: {len(rows)} rows given as "
                "lon/lat with the two swapped (x, y, crs blank)", "rows quarantined with the distance from RM-010",
                judge, "RM-010", ["RM-010", "km outside"])  # fmt: skip


@variant("07b_wrong_utm_zone")
def v07b_wrong_utm_zone(drop: Path) -> Spec:
    """One hole of RM-004 (UTM 44N) labelled with the neighbouring zone, EPSG:32643."""
    samples = read_samples_csv(drop)
    rows = hole_rows(samples, "RM-004")
    samples.loc[rows, "crs"] = "EPSG:32643"
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "samples.csv", [line_of(r) for r in rows], "km")]

    return Spec("7b. wrong UTM zone", f"RM-004 hole {samples.loc[rows[0], 'hole_id']}: {len(rows)} rows labelled "
                "EPSG:32643 instead of EPSG:32644", "rows quarantined with the distance from RM-004", judge, "RM-004",
                ["RM-004", "km outside"])  # fmt: skip


@variant("07c_swapped_xy")
def v07c_swapped_xy(drop: Path) -> Spec:
    """One hole of RM-009 with easting and northing swapped."""
    samples = read_samples_csv(drop)
    rows = hole_rows(samples, "RM-009")
    samples.loc[rows, ["x", "y"]] = samples.loc[rows, ["y", "x"]].to_numpy()
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "samples.csv", [line_of(r) for r in rows])]

    return Spec("7c. swapped x/y (UTM)", f"RM-009 hole {samples.loc[rows[0], 'hole_id']}: {len(rows)} rows with x "
                "and y swapped", "rows quarantined (outside bounds or far from RM-009)", judge, "RM-009",
                ["RM-009", "km outside", "bounds"])  # fmt: skip


@variant("08a_site_id_case_spaces")
def v08a_site_id_case_spaces(drop: Path) -> Spec:
    """Two sites entered twice by another office: 'rm-004' and ' ZL-005 '."""
    sites = read_sites_gpkg(drop)
    copies = sites[sites["site_id"].isin(["RM-004", "ZL-005"])].copy()
    copies["site_id"] = copies["site_id"].map({"RM-004": "rm-004", "ZL-005": " ZL-005 "})
    write_sites_gpkg(drop, pd.concat([sites, copies], ignore_index=True))
    features = [len(sites) + 1, len(sites) + 2]

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "sites.gpkg", features), mentions(o, "rm-004", "case"),
                mentions(o, "duplicate", "ZL-005"), same_rank1(o, base)]  # fmt: skip

    return Spec("8a. site ids differing in case/spaces", "appended copies of RM-004 as 'rm-004' and of ZL-005 as "
                "' ZL-005 ' (features 65, 66)", "both reported as duplicates and quarantined", judge, "",
                ["rm-004", "ZL-005", "duplicate"])  # fmt: skip


@variant("08b_samples_site_id_case")
def v08b_samples_site_id_case(drop: Path) -> Spec:
    """samples.csv names CR-004 in lower case ('cr-004')."""
    samples = read_samples_csv(drop)
    rows = list(np.flatnonzero((samples["site_id"] == "CR-004").to_numpy()))
    samples.loc[rows, "site_id"] = "cr-004"
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        read = [same_figures(o, base)]
        flagged = [published(o), quarantined(o, "samples.csv", [line_of(r) for r in rows], "cr-004")]
        return [either("read as CR-004, or every row quarantined naming 'cr-004'", read, flagged)]

    return Spec("8b. samples' site_id in another case", f"CR-004 written 'cr-004' on its {len(rows)} samples rows",
                "read as CR-004, or each row quarantined naming the id", judge, "CR-004", ["cr-004"])  # fmt: skip


@variant("09_overlapping_intervals")
def v09_overlapping_intervals(drop: Path) -> Spec:
    """Two intervals of one RM-007 hole overlap (1.2-3.0 m after 0-1.5 m)."""
    samples = read_samples_csv(drop)
    rows = hole_rows(samples, "RM-007")[:2]
    samples.loc[rows[1], "depth_from_m"] = "1.2"
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "samples.csv", [line_of(r) for r in rows], "overlaps")]

    return Spec("9. overlapping intervals", f"RM-007 hole {samples.loc[rows[0], 'hole_id']}: line {line_of(rows[1])} "
                "depth_from_m 1.5 -> 1.2", "both rows quarantined with the overlap", judge, "RM-007",
                ["overlaps"])  # fmt: skip


@variant("10_sliver_footprint")
def v10_sliver_footprint(drop: Path) -> Spec:
    """A 0.4 m2 sliver left over from splitting a polygon, entered as a site of its own."""
    sites = read_sites_gpkg(drop)
    corner = sites[sites["site_id"] == "RM-001"].geometry.iloc[0].exterior.coords[0]
    sliver = shapely.Polygon([corner, (corner[0] + 1e-5, corner[1]), (corner[0], corner[1] + 7.2e-6)])
    attributes = (
        sites[sites["site_id"] == "RM-001"]
        .drop(columns="geometry")
        .assign(site_id="RM-012", name="Damanjodi red mud pond 1 east (synthetic)")
    )
    row = gpd.GeoDataFrame(attributes, geometry=[sliver], crs=sites.crs)
    write_sites_gpkg(drop, pd.concat([sites, row], ignore_index=True))
    area = gpd.GeoSeries([sliver], crs="EPSG:4326").to_crs(32644).area.iloc[0]

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "sites.gpkg", [len(sites) + 1], "sliver"), unranked(o, "RM-012")]

    return Spec("10. sliver footprint", f"appended site RM-012, a {area:.2f} m2 triangle at a corner of RM-001",
                "quarantined as a sliver; not ranked", judge, "RM-012", ["RM-012", "sliver"])  # fmt: skip


@variant("11_base_above_surface")
def v11_base_above_surface(drop: Path) -> Spec:
    """ZL-004's base DEM 1 m above its surface over the western half of the footprint (mis-datumed survey)."""

    def raise_west(heights: np.ndarray, inside: np.ndarray) -> np.ndarray:
        with rasterio.open(drop / "rasters" / "ZL-004_surface.tif") as surface:
            top = surface.read(1)
        west = np.indices(heights.shape)[1] < np.argwhere(inside)[:, 1].mean()
        return np.where(west, top + 1.0, heights)

    edit_dem(drop, "ZL-004", "base", raise_west)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "sites.gpkg", [15], "clipped", "%"), unranked(o, "ZL-004")]

    return Spec("11. base DEM above the surface", "ZL-004_base.tif: surface + 1 m west of the footprint's centre",
                "site quarantined with the share of area and the volume clipped; not ranked", judge, "ZL-004",
                ["ZL-004", "above the surface"])  # fmt: skip


@variant("12_semicolon_decimal_comma")
def v12_semicolon_decimal_comma(drop: Path) -> Spec:
    """samples.csv as a European Excel saves it: ';'-separated, decimal commas, CRLF, UTF-8 BOM."""
    samples = read_samples_csv(drop)
    decimal = re.compile(r"^<?-?\d+\.\d+$")
    samples = samples.map(lambda cell: cell.replace(".", ",") if decimal.match(cell) else cell)
    samples.to_csv(drop / "samples.csv", index=False, sep=";", lineterminator="\r\n", encoding="utf-8-sig")

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        read = [same_figures(o, base), mentions(o, "decimal comma", name="validate says what it detected")]
        return [either("read correctly, or refused naming the decimal commas", read, [stopped(o, "samples.csv")])]

    return Spec("12. ';' and decimal commas", "samples.csv rewritten ';'-separated with decimal commas, CRLF, BOM",
                "same figures as base (and the dialect reported), or refused naming it", judge, "",
                ["decimal", "';'"])  # fmt: skip


@variant("13a_samples_xlsx")
def v13a_samples_xlsx(drop: Path) -> Spec:
    """The assays as an Excel workbook (sheet 'samples', numbers as numbers) instead of samples.csv."""
    to_xlsx(read_samples_csv(drop), drop / "samples.xlsx")
    (drop / "samples.csv").unlink()

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), same_figures(o, base)]

    return Spec("13a. samples.xlsx", "samples.csv replaced by samples.xlsx (one sheet 'samples')",
                "read: the same figures as base", judge, "", ["samples.xlsx"])  # fmt: skip


@variant("13b_samples_xlsx_cover_sheet")
def v13b_samples_xlsx_cover_sheet(drop: Path) -> Spec:
    """A lab workbook: a 'Certificate' cover sheet first, the data on a sheet named 'Assays'."""
    cover = [["Certificate of analysis", "XY-2024-0613 (synthetic)"], ["Method", "ICP-MS after four-acid digest"]]
    to_xlsx(read_samples_csv(drop), drop / "samples.xlsx", sheet="Assays", cover=cover)
    (drop / "samples.csv").unlink()

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [either("read, or refused naming the workbook", [same_figures(o, base)], [stopped(o, "samples.xlsx")])]

    return Spec("13b. samples.xlsx with a cover sheet", "samples.xlsx: sheet 'Certificate' first, data on 'Assays'",
                "read (the data sheet found), or stopped naming the workbook and its sheets", judge, "",
                ["samples.xlsx", "sheet"])  # fmt: skip


def as_lonlat(samples: pd.DataFrame) -> pd.DataFrame:
    """x/y/crs replaced by ``longitude``/``latitude`` (WGS 84, 8 decimals: about 1 mm); unknown CRSs left blank."""
    lon, lat = np.full(len(samples), np.nan), np.full(len(samples), np.nan)
    for crs, rows in samples.groupby("crs").indices.items():
        try:
            transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        except pyproj.exceptions.CRSError:
            continue  # the planted EPSG:99999 row keeps no location
        x, y = samples["x"].iloc[rows].astype(float), samples["y"].iloc[rows].astype(float)
        lon[rows], lat[rows] = transformer.transform(x.to_numpy(), y.to_numpy())
    samples = samples.copy()
    samples.insert(3, "longitude", [f"{v:.8f}" if np.isfinite(v) else "" for v in lon])
    samples.insert(4, "latitude", [f"{v:.8f}" if np.isfinite(v) else "" for v in lat])
    return samples.drop(columns=["x", "y", "crs"])


def ga_in_ppb_beside_ppm(drop: Path, samples: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Ga of CT-005 and FA-002 (the lab that reports Te in ppb) in a ga_ppb column beside ga_ppm, one filled per row."""
    rows = rows_at(drop, "CT-005") + rows_at(drop, "FA-002")
    samples = samples.copy()
    samples.insert(samples.columns.get_loc("ga_ppm") + 1, "ga_ppb", "")
    samples.loc[rows, "ga_ppb"] = scale_cells(samples.loc[rows, "ga_ppm"], 1000)
    samples.loc[rows, "ga_ppm"] = ""
    return samples, len(rows)


def spaced_detection_limits(samples: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Every other te_ppm '<0.05' written '< 0.05'."""
    rows = np.flatnonzero(samples["te_ppm"].str.startswith("<").to_numpy())[::2]
    samples = samples.copy()
    samples.loc[rows, "te_ppm"] = samples.loc[rows, "te_ppm"].str.replace("<", "< ", regex=False)
    return samples, len(rows)


def spell_residue_types(drop: Path) -> None:
    """Every site's residue_type as an agency writes it: 'Red Mud', 'ZINC LEACH RESIDUE', 'Fly-Ash', ..."""
    spelled = {
        "bauxite_residue": "Red Mud",
        "zinc_leach_residue": "ZINC LEACH RESIDUE",
        "coal_fly_ash": "Fly-Ash",
        "copper_flotation_tailings": "CU TAILINGS",
        "copper_smelter_slag": "copper slag ",
        "copper_anode_slime": "Anode Slimes",
        "chromite_pgm_tailings": "Chromite Tailings",
        "other": "OTHER",
    }
    sites = read_sites_gpkg(drop)
    canonical = pd.read_csv(drop / "truth.csv").set_index("site_id")["residue_type"]  # the demo's canonical types
    sites["residue_type"] = sites["site_id"].map(canonical).map(spelled)
    write_sites_gpkg(drop, sites)


def same_samples(o: Outcome, base: Outcome, metres: float = 0.01) -> Check:
    """The inventory's accepted samples are base's: same ids, sites, holes, depths and g/t values (within 1e-9),
    positions within ``metres``."""
    if not o.published or base.ranked is None:
        return Check("samples read as in base", False, "nothing published to compare")
    layers = [
        pyogrio.read_dataframe(x.out / "inventory.gpkg", layer="samples").set_index("sample_id") for x in (o, base)
    ]
    now, then = layers[0], layers[1].reindex(layers[0].index)
    if len(layers[0]) != len(layers[1]) or then["site_id"].isna().any():
        return Check("samples read as in base", False, f"{len(layers[0])} accepted samples, base {len(layers[1])}")
    values = [c for c in then.columns if c.endswith(("_gt", "_bdl")) or c.startswith("depth_")]
    a, b = now[values].astype(float).to_numpy(), then[values].astype(float).to_numpy()
    worst = float(np.nanmax(np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b) / np.maximum(np.abs(b), 1e-12))))
    shift = float(now.geometry.to_crs(32644).distance(then.geometry.to_crs(32644)).max())
    same_ids = bool((now["site_id"] == then["site_id"]).all() and (now["hole_id"] == then["hole_id"]).all())
    ok = same_ids and worst <= 1e-9 and shift <= metres
    return Check("samples read as in base", ok, f"{len(now)} samples; same site/hole {same_ids}; largest relative "
                 f"value difference {worst:.2g}; largest shift {shift * 1000:.2f} mm")  # fmt: skip


def same_sites(o: Outcome, base: Outcome) -> Check:
    """Every site is published with base's canonical residue type."""
    if not o.published or base.ranked is None:
        return Check("sites read as in base", False, "nothing published to compare")
    now, then = (x.ranked.set_index("site_id")["residue_type"] for x in (o, base))
    differ = sorted(set(then.index) ^ set(now.index)) + [s for s in then.index if s in now and now[s] != then[s]]
    return Check("sites read as in base (canonical residue types)", not differ, f"differing: {differ or 'none'}")


def _spelling_judge(o: Outcome, base: Outcome) -> list[Check]:
    """Read as base (samples and sites); the same ranks and figures within 0.1 % is reported as a note: a change
    there with identical inputs is the models' sensitivity, not a reading error."""
    figures = same_figures(o, base, 1e-3, name="note: same ranks, figures within 0.1 % of base")
    figures.blocking = False
    return [published(o), same_samples(o, base), same_sites(o, base), figures]


@variant("14_spellings")
def v14_spellings(drop: Path) -> Spec:
    """longitude/latitude, ga_ppb beside ga_ppm, '< 0.05' with a space, residue types as people write them."""
    samples, ppb = ga_in_ppb_beside_ppm(drop, as_lonlat(read_samples_csv(drop)))
    samples, spaced = spaced_detection_limits(samples)
    write_samples_csv(drop, samples)
    spell_residue_types(drop)
    return Spec("14. spellings (all four)", "x/y/crs -> longitude/latitude (WGS 84, 8 decimals); Ga of CT-005 and "
                f"FA-002 in a ga_ppb column beside ga_ppm ({ppb} rows); {spaced} te_ppm '<0.05' written '< 0.05'; "
                "residue types 'Red Mud', 'Fly-Ash', 'CU TAILINGS', ...", "read: same ranks and figures",
                _spelling_judge, "", ["longitude", "ga_ppb", "Red Mud"])  # fmt: skip


@variant("14a_longitude_latitude")
def v14a_longitude_latitude(drop: Path) -> Spec:
    """Only the locations: x/y/crs replaced by longitude/latitude."""
    write_samples_csv(drop, as_lonlat(read_samples_csv(drop)))
    return Spec("14a. ... longitude/latitude only", "x/y/crs -> longitude/latitude (WGS 84, 8 decimals, ~1 mm)",
                "read: same ranks and figures", _spelling_judge, "", ["longitude"])  # fmt: skip


@variant("14b_ppb_column_and_spaced_bdl")
def v14b_ppb_column_and_spaced_bdl(drop: Path) -> Spec:
    """Only the assay spellings: ga_ppb beside ga_ppm, '< 0.05'."""
    samples, ppb = ga_in_ppb_beside_ppm(drop, read_samples_csv(drop))
    samples, spaced = spaced_detection_limits(samples)
    write_samples_csv(drop, samples)
    return Spec("14b. ... ga_ppb beside ga_ppm, '< 0.05' only", f"Ga of CT-005, FA-002 in ga_ppb ({ppb} rows); "
                f"{spaced} '< 0.05'", "read: same ranks and figures", _spelling_judge, "", ["ga_ppb"])  # fmt: skip


@variant("14c_residue_type_spellings")
def v14c_residue_type_spellings(drop: Path) -> Spec:
    """Only the residue types: 'Red Mud', 'Fly-Ash', 'CU TAILINGS', ..."""
    spell_residue_types(drop)
    return Spec("14c. ... residue-type spellings only", "every residue_type rewritten 'Red Mud', 'ZINC LEACH RESIDUE', "
                "'Fly-Ash', 'CU TAILINGS', 'copper slag ', 'Anode Slimes', 'Chromite Tailings', 'OTHER'",
                "read: same ranks and figures", _spelling_judge, "", ["Red Mud"])  # fmt: skip


@variant("14d_utm_jitter_half_mm")
def v14d_utm_jitter_half_mm(drop: Path) -> Spec:
    """Diagnostic for 14a: each hole moved by its own <= 0.5 mm in UTM (x, y, crs kept), as 14a's rounding does."""
    samples = read_samples_csv(drop)
    rng = np.random.default_rng(20240611)
    holes = samples["hole_id"].unique()
    offsets = dict(zip(holes, rng.uniform(-0.0005, 0.0005, size=(len(holes), 2))))
    for axis, column in enumerate(("x", "y")):
        values = pd.to_numeric(samples[column], errors="coerce")
        moved = values + samples["hole_id"].map({hole: offset[axis] for hole, offset in offsets.items()})
        samples[column] = [
            f"{value:.4f}" if np.isfinite(value) else text for value, text in zip(moved, samples[column])
        ]
    write_samples_csv(drop, samples)
    what = "every hole moved by its own random offset of at most 0.5 mm in x and y, still x/y/crs (14a without lon/lat)"
    return Spec("14d. (diagnostic) UTM jitter <= 0.5 mm", what, "read; the figures as base unless the models are "
                "sensitive to sub-millimetre moves", _spelling_judge, "", [])  # fmt: skip


@variant("15a_reported_tonnes_x20")
def v15a_reported_tonnes_x20(drop: Path) -> Spec:
    """ZL-004's reported_tonnes typed 20x too high (a DEM pair gives its tonnage)."""
    sites = read_sites_gpkg(drop)
    sites.loc[sites["site_id"] == "ZL-004", "reported_tonnes"] *= 20
    write_sites_gpkg(drop, sites)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        status = str(o.site_value("ZL-004", "review_status") or "")
        return [published(o), unranked(o, "ZL-004"),
                Check("ZL-004 held for review", "held" in status, f"review_status {status!r}"),
                _mention_in(o, "run: ", "ZL-004", "held", name="the run warns naming ZL-004")]  # fmt: skip

    return Spec("15a. reported tonnes x20", "ZL-004 reported_tonnes 4,360,000 -> 87,200,000",
                "held for review (no rank), the run warning with both tonnages", judge, "ZL-004",
                ["ZL-004", "held"])  # fmt: skip


@variant("15b_reported_tonnes_x20_accepted")
def v15b_reported_tonnes_x20_accepted(drop: Path) -> Spec:
    """As 15a, then a reviewer accepts ZL-004's modelled tonnage in reviews.csv."""
    v15a_reported_tonnes_x20(drop)
    (drop / "reviews.csv").write_text(
        "site_id,decision,note,reviewer,timestamp\nZL-004,accept-tonnage,DEM survey "
        "checked: the reported figure is a typo,A. Reviewer,2026-01-15T10:00:00+00:00\n"
    )

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        rank = o.rank("ZL-004")
        return [published(o), Check("ZL-004 ranked again", rank is not None and not math.isnan(rank),
                                    f"rank {_rank_text(rank)} (base {_rank_text(base.rank('ZL-004'))})"),
                Check("ranked with its review status", "accept" in str(o.site_value("ZL-004", "review_status")),
                      f"review_status {o.site_value('ZL-004', 'review_status')!r}")]  # fmt: skip

    return Spec("15b. ... then accepted by a reviewer", "as 15a plus reviews.csv: ZL-004 accept-tonnage",
                "ZL-004 ranked again", judge, "ZL-004", ["ZL-004"])  # fmt: skip


@variant("15c_reported_only_tonnes_x20")
def v15c_reported_only_tonnes_x20(drop: Path) -> Spec:
    """CR-002's reported_tonnes (its only tonnage source) typed 20x too high: 94 m of tailings on its footprint."""
    sites = read_sites_gpkg(drop)
    sites.loc[sites["site_id"] == "CR-002", "reported_tonnes"] *= 20
    write_sites_gpkg(drop, sites)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        flagged = [mentions(o, "CR-002", "tonn", name="a message questions CR-002's tonnage"), not_rank1(o, "CR-002")]
        return [published(o), either("held, or flagged and not rank 1", [unranked(o, "CR-002")], flagged)]

    return Spec("15c. reported tonnes x20, no DEM", "CR-002 reported_tonnes 2,380,000 -> 47,600,000 (implies a mean "
                "thickness of 94 m; 3x thickness_high_m of chromite tailings is 90 m)",
                "flagged as implausible for its footprint; not ranked first unreviewed", judge, "CR-002",
                ["CR-002"])  # fmt: skip


@variant("x1_samples_name_case")
def vx1_samples_name_case(drop: Path) -> Spec:
    """The samples file named 'Samples.CSV' (as Windows tools write it)."""
    (drop / "samples.csv").rename(drop / "Samples.CSV")

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [either("read, or refused naming Samples.CSV", [same_figures(o, base)], [stopped(o, "Samples.CSV")])]

    return Spec("x1. 'Samples.CSV'", "samples.csv renamed Samples.CSV", "read, or stopped naming it", judge, "",
                ["Samples.CSV"])  # fmt: skip


@variant("x2_surface_dem_in_feet")
def vx2_surface_dem_in_feet(drop: Path) -> Spec:
    """RM-008's surface DEM delivered in feet (LiDAR vendor), its base in metres."""
    edit_dem(drop, "RM-008", "surface", lambda heights, inside: np.where(heights > -9000, heights * 3.28084, heights))

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "sites.gpkg", [8], "feet"), unranked(o, "RM-008")]

    return Spec("x2. surface DEM in feet", "RM-008_surface.tif heights x3.28084 (base in metres)",
                "site quarantined as implausibly thick (feet?); not ranked", judge, "RM-008",
                ["RM-008", "thick"])  # fmt: skip


@variant("x3_density_kg_m3")
def vx3_density_kg_m3(drop: Path) -> Spec:
    """RM-004's dry density written in kg/m3 (1380) under dry_density_t_m3."""
    sites = read_sites_gpkg(drop)
    sites.loc[sites["site_id"] == "RM-004", "dry_density_t_m3"] = 1380.0
    write_sites_gpkg(drop, sites)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), quarantined(o, "sites.gpkg", [4], "kg/m3"), unranked(o, "RM-004")]

    return Spec("x3. density in kg/m3", "RM-004 dry_density_t_m3 1.38 -> 1380",
                "site quarantined naming the unit; not ranked with 1000x tonnes", judge, "RM-004",
                ["RM-004", "density"])  # fmt: skip


@variant("x4_lab_preamble")
def vx4_lab_preamble(drop: Path) -> Spec:
    """samples.csv as a lab certificate export: three lines of header block above the column names."""
    text = (drop / "samples.csv").read_text()
    preamble = "Certificate of analysis: XY-2024-0613 (synthetic)\nMethod: ICP-MS after four-acid digest\n\n"
    (drop / "samples.csv").write_text(preamble + text)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [either("read, or refused naming samples.csv", [same_figures(o, base)], [stopped(o, "samples.csv")])]

    return Spec("x4. lab certificate preamble", "3 lines (certificate no., method, blank) above samples.csv's header",
                "read, or stopped naming the file and the fix", judge, "", ["samples.csv", "sample_id"])  # fmt: skip


@variant("x5_negative_detection_limits")
def vx5_negative_detection_limits(drop: Path) -> Spec:
    """Below-detection values in the legacy-database convention: '-0.05' for '<0.05', '-2' for '<2'."""
    samples = read_samples_csv(drop)
    rows = set()
    for column in ("te_ppm", "rh_ppb"):
        below = samples[column].str.startswith("<")
        rows |= {int(r) for r in np.flatnonzero(below.to_numpy()) if r < len(samples) - PLANTED_BAD_ROWS}
        samples.loc[below, column] = "-" + samples.loc[below, column].str.lstrip("<")
    write_samples_csv(drop, samples)

    def judge(o: Outcome, base: Outcome) -> list[Check]:
        return [published(o), same_figures(o, base), mentions(o, "negative assays read as below detection", "te_ppm",
                                                              "rh_ppb")]  # fmt: skip

    return Spec("x5. negative detection limits", f"'<0.05' -> '-0.05' (te_ppm), '<2' -> '-2' (rh_ppb) on {len(rows)} "
                "rows", "read as below detection (the figures of '<0.05'), with a note naming the columns", judge, "",
                ["negative"])  # fmt: skip


# ----------------------------------------------------------------------------- running Residua
def demo() -> Path:
    """The demo drop of the code under test."""
    return CODE / "geodata" / "demo"


def snapshot_code(ref: str, workdir: Path) -> tuple[Path, str]:
    """The tree of commit ``ref`` exported (``git archive``) to ``workdir/code/<commit>``, and the full commit id."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    target = workdir / "code" / commit[:12]
    if not (target / "pipelines" / "cli.py").is_file():
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    link_namespace(target)  # the copy imports as residua.* (PYTHONPATH), ahead of the editable install
    return target, commit


def _git(*args: str) -> str:
    """Output of a git command in the checkout ('' when it fails)."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


def build_drop(item: Variant, workdir: Path) -> tuple[Path, Spec]:
    """A fresh copy of the demo in ``workdir/drops/<key>``, changed by the variant's builder."""
    drop = workdir / "drops" / item.key
    if drop.exists():
        shutil.rmtree(drop)
    shutil.copytree(demo(), drop)
    return drop, item.build(drop)


def run_variant(item: Variant, workdir: Path, reuse: bool, commit: str) -> tuple[Spec, Outcome]:
    """Build the variant's drop, run validate and run on it (``reuse``: keep a run of the same ``commit`` already in
    ``workdir``), and load what was published."""
    drop, spec = build_drop(item, workdir)
    run_dir = workdir / "runs" / item.key
    rows = count_rows(drop) if item.key != "plain" else count_rows(demo())
    data = demo() if item.key == "plain" else drop
    out, saved = run_dir / "out", run_dir / "outcome.json"
    record = json.loads(saved.read_text()) if reuse and saved.is_file() else {}
    if record.get("commit") != commit:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        env = _fresh_env(run_dir / "dagster")
        validate = subprocess.run([str(RESIDUA), "validate", "--data", str(data)], capture_output=True, text=True,
                                  env=env, cwd=CODE, check=False)  # fmt: skip
        command = [str(RESIDUA), "run", "--out", str(out)] + ([] if item.key == "plain" else ["--data", str(data)])
        start = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=CODE,
                              check=False)  # fmt: skip
        record = {"validate_rc": validate.returncode, "validate_out": validate.stdout + validate.stderr,
                  "run_rc": done.returncode, "run_out": done.stdout, "wall_s": round(time.perf_counter() - start, 1),
                  "command": " ".join(command), "commit": commit}  # fmt: skip
        (run_dir / "validate.txt").write_text(record["validate_out"])
        (run_dir / "run.log").write_text(record["run_out"])
        saved.write_text(json.dumps(record, indent=1))
    outcome = Outcome(item.key, data, out, record["validate_rc"], record["validate_out"], record["run_rc"],
                      record["run_out"], record["wall_s"], rows)  # fmt: skip
    if record["run_rc"] == 0 and (out / "sites_ranked.csv").is_file():
        outcome.ranked = pd.read_csv(out / "sites_ranked.csv")
        outcome.quarantine = pyogrio.read_dataframe(out / "inventory.gpkg", layer="quarantine", read_geometry=False)
        outcome.samples_accepted = int(pyogrio.read_info(out / "inventory.gpkg", layer="samples")["features"])
    return spec, outcome


def _fresh_env(home: Path) -> dict[str, str]:
    """The environment of one run: its own Dagster home (a copy of dagster.yaml), no external services."""
    home.mkdir(parents=True)
    shutil.copy(CODE / "dagster.yaml", home / "dagster.yaml")
    env = {key: value for key, value in os.environ.items()
           if key not in ("RESIDUA_DASK_ADDRESS", "RESIDUA_POSTGIS_URL", "RESIDUA_DAGSTER_PG_URL")}  # fmt: skip
    env.update(DAGSTER_HOME=str(home), RESIDUA_DAGSTER_DIR=str(home / ".dagster"), RESIDUA_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join([str(CODE), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def judge_variant(spec: Spec, outcome: Outcome, base: Outcome, noise: set[str]) -> dict:
    """The variant's record: checks, verdict, the lines about the problem, rows, ranks."""
    checks = spec.judge(outcome, base)
    if outcome.published:
        checks += balanced(outcome)
    verdict = "pass" if all(check.ok for check in checks if check.blocking) else "FAIL"
    relevant = relevant_lines(outcome, spec.keys, noise)
    read = next(
        (c for c in checks if c.ok and c.blocking and c.name.startswith(("same figures", "samples read"))), None
    )
    message = next((check.line for check in checks if check.ok and check.line), "")
    if not message and read is not None:
        message = f"(read as base) {read.name}: {read.detail}"
    message = message or (relevant[0] if relevant else "")
    counts = {kind.lower(): dict(zip(("read", "accepted", "quarantined"), map(int, rest)))
              for kind, *rest in _COUNTS.findall(outcome.run_out)}  # fmt: skip
    rank = outcome.rank(spec.site) if spec.site else None
    return {
        "key": outcome.key, "title": spec.title, "what": spec.what, "wanted": spec.wanted, "verdict": verdict,
        "message": message, "validate_rc": outcome.validate_rc, "run_rc": outcome.run_rc, "wall_s": outcome.wall_s,
        "rank1": outcome.rank1(), "site": spec.site, "site_rank": _rank_text(rank) if spec.site else "",
        "site_status": str(outcome.site_value(spec.site, "review_status") or "") if spec.site else "",
        "rows_written": outcome.rows_written, "rows_logged": counts,
        "samples_in_inventory": outcome.samples_accepted,
        "quarantine_rows": None if outcome.quarantine is None else len(outcome.quarantine),
        "checks": [asdict(check) for check in checks], "lines": relevant,
    }  # fmt: skip


def relevant_lines(o: Outcome, keys: list[str], noise: set[str], per_source: int = 6) -> list[str]:
    """New output lines (not in the unchanged copy's output) naming a key or a flag word: at most ``per_source``
    each from validate, the run and the quarantine layer."""
    found: dict[str, list[str]] = {"validate": [], "run": [], "quarantine layer": []}
    for line in o.lines():
        source = line.split(":", 1)[0]
        if _normal(line, o) in noise or len(found[source]) >= per_source:
            continue
        lower = _normal(line, o).lower()  # keys are matched outside the work folder's paths
        if any(key.lower() in lower for key in keys) or any(word in lower for word in FLAG_WORDS):
            found[source].append(line if len(line) <= 400 else line[:397] + "...")
    return [line for lines in found.values() for line in lines]


def noise_lines(base: Outcome) -> set[str]:
    """The unchanged copy's output lines, normalised: lines every variant prints."""
    return {_normal(line, base) for line in base.lines()}


def _normal(line: str, o: Outcome) -> str:
    """A line without its drop, output and Dagster home paths (timestamps and run ids are already stripped)."""
    return line.replace(str(o.drop), "<drop>").replace(str(o.out.parent), "<run>")


def _strip_prefix(line: str) -> str:
    """A Dagster log line without its timestamp, job and run id: ``WARNING - step - message``."""
    return _DAGSTER_PREFIX.sub(lambda match: f"{match.group(1)} - ", line)


def _find_line(o: Outcome, parts: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> str:
    """The first output line holding every one of ``parts`` (any case), among lines starting with ``prefixes``."""
    for line in o.lines():
        if prefixes and not line.startswith(prefixes):
            continue
        if all(part.lower() in line.lower() for part in parts):
            return line
    return ""


def _mention_in(o: Outcome, prefix: str, *parts: str, name: str = "") -> Check:
    """Some line of one output (``validate: `` or ``run: ``) holds every one of ``parts``."""
    line = _find_line(o, parts, prefixes=(prefix,))
    label = name or f"{prefix.rstrip(': ')} names {' + '.join(map(repr, parts))}"
    return Check(label, bool(line), "" if line else "no such line", line)


def _validate_quarantine(text: str) -> pd.DataFrame:
    """The rows validate lists under 'Quarantined rows': source, source_row, record_id, reason."""
    pattern = re.compile(r"^\s+(\S+) (?:line|row|feature) (\d+), (.*?): (.*)$")
    rows = [match.groups() for line in text.splitlines() if (match := pattern.match(line))]
    table = pd.DataFrame(rows, columns=["source", "source_row", "record_id", "reason"])
    return table.astype({"source_row": int})


def _rank_text(rank: float | None) -> str:
    """'3', 'none' (listed without a rank) or 'absent' (not in sites_ranked)."""
    if rank is None:
        return "absent"
    return "none" if math.isnan(rank) else str(int(rank))


def _some(values: list[int], n: int = 5) -> str:
    """The first ``n`` of ``values`` and how many more."""
    return ", ".join(map(str, values[:n])) + (f" (+{len(values) - n})" if len(values) > n else "")


# ----------------------------------------------------------------------------- report
#: Commit at which DIAGNOSIS was last checked against the code: re-check it after changes there.
DIAGNOSED_AT = "8955fb0d0685"
#: What lies behind a FAIL or a note, per variant key: written by hand, printed under the table.
#: Fixed since the first run (17777f2): 05b (assay headers with µg/kg and bracketed or slashed methods,
#: geodata/schema.py), 06b and x1 (table files matched in any case, versions and copies stop, geodata/datadrop.py),
#: 15c (reported tonnes implying an implausible thickness held from ranking, models/tonnage.py, models/ranking.py),
#: 02c (validate reports a failed blocking check as a check), 08b (a site id differing only in case is named) and
#: 14d (declustering grid anchored at the samples' own corner, models/preparation.py).
DIAGNOSIS: dict[str, str] = {
    "14a_longitude_latitude": (
        "Read correctly (accepted samples identical to base: values within 2e-16, positions within 0.72 mm); any "
        "change of figures comes from the models' sensitivity to sub-millimetre moves, see 14d."
    ),
    "14d_utm_jitter_half_mm": (
        "Diagnostic. At 17777f2 the declustering cells of models/preparation.py `declustering_weights` were "
        "`floor(x / cell_m)`, anchored at the CRS origin 250-750 km away, so a sub-millimetre change of the median "
        "hole spacing moved the cell edges at a site by metres (CS-004: 10 of 12 holes changed cell) and grades by "
        "up to 3.6 %. The grid is now anchored at the site's own samples."
    ),
    "13b_samples_xlsx_cover_sheet": (
        "Passes by refusal, but the message lists Residua's internal columns as found ('found: source_row, certificate "
        "of analysis, ..., read_problem') and its fix ('add or rename columns') does not say which sheet was read or "
        "that the data sheet should be named 'samples' (geodata/readers.py `_require_columns`, `_read_xlsx`)."
    ),
    "x4_lab_preamble": (
        "Passes by refusal; the same message as 13b ('found: source_row, certificate of analysis: ..., read_problem'), "
        "without saying that the header must be the first line."
    ),
    "x5_negative_detection_limits": (
        "Passes: read as below detection at the absolute value (the USGS database convention), with the base run's "
        "figures, and validate and the run name the columns and counts (until stop 31 these rows were quarantined)."
    ),
}


def machine(commit: str, live: bool) -> dict[str, str]:
    """Where the benchmark ran (CPU, cores, memory, OS, Python) and which code: the commit, and for ``--live`` the
    files with uncommitted changes in the checkout."""
    info = {}
    for path, key in (("/proc/cpuinfo", "model name"), ("/proc/meminfo", "MemTotal")):
        lines = Path(path).read_text().splitlines() if Path(path).is_file() else []
        info[key] = next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), "?")
    dirty = [line[3:] for line in _git("status", "--porcelain").splitlines() if not line.startswith("??")]
    return {
        "cpu": info["model name"],
        "cores": str(os.cpu_count()),
        "memory": info["MemTotal"],
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
        "commit_subject": _git("log", "-1", "--format=%s", commit),
        "code": f"the checkout {ROOT} as it was" if live else f"a git archive of {commit[:12]} (PYTHONPATH, cwd)",
        "uncommitted_changes": (", ".join(dirty) or "none") if live else "not used (committed snapshot)",
    }


def write_report(records: list[dict], meta: dict, out_dir: Path) -> None:
    """messy_drops.json (everything) and messy_drops.md (the table, the FAILs, rows, how to reproduce)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "messy_drops.json").write_text(json.dumps({"meta": meta, "variants": records}, indent=1) + "\n")
    fails = [r for r in records if r["verdict"] == "FAIL"]
    lines = [*_report_header(records, meta, len(fails)), *_summary_table(records), "", "## FAILs", ""]
    for r in fails:
        lines += [f"### {r['title']}", "", f"- Done: {r['what']}. Wanted: {r['wanted']}."]
        lines += [f"- Failed check **{c['name']}**: {_cell(c['detail'], 600)}" for c in r["checks"] if not c["ok"]]
        lines += [f"- Output: `{_cell(line, 300)}`" for line in r["lines"][:6]] + [""]
    if not fails:
        lines += ["None.", ""]
    noted = [(r, c) for r in records for c in r["checks"] if not c.get("blocking", True) and not c["ok"]]
    if noted:
        lines += ["## Notes (reported, not part of the verdict)", ""]
        lines += [f"- {r['title']}: {c['name']}: {_cell(c['detail'], 600)}" for r, c in noted] + [""]
    diagnosed = [r for r in records if r["key"] in DIAGNOSIS]
    if diagnosed:
        lines += [f"## Diagnosis (written by hand after reading the code at {DIAGNOSED_AT})", ""]
        lines += [f"- **{r['title']}** ({r['verdict']}): {DIAGNOSIS[r['key']]}" for r in diagnosed] + [""]
    scratch = re.sub(r" --reuse", "", meta["command"])
    lines += [*_rows_table(records), "", "## Reproduce", "", "```", scratch, "```", ""]
    if scratch != meta["command"]:
        lines += [f"(This report was assembled with `{meta['command']}`.)", ""]
    lines.append(
        "Drops are rebuilt from geodata/demo each time; `--only KEY ...` runs some (base always runs: it is the "
        "reference), `--reuse` reuses runs already in --workdir, `--build-only` only writes the drops."
    )
    (out_dir / "messy_drops.md").write_text("\n".join(lines) + "\n")


def _report_header(records: list[dict], meta: dict, fails: int) -> list[str]:
    """Title, command, date, machine, commit and how verdicts are given."""
    host = meta["machine"]
    return [
        "# Messy data drops (issue 16): does Residua read them, or name the file, the row and the fix?",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; wall time {meta['wall_s'] / 60:.1f} min for {len(records)} drops, each validated and "
        "run sequentially (default 2,000 draws), each run with a fresh Dagster home and out folder; the `residua run`s "
        f"alone took {meta['runs_wall_s'] / 60:.1f} min"
        + (
            " (with --reuse: runs of the same commit already in the workdir were reused, not repeated)"
            if meta["reuse"]
            else ""
        )
        + ".  ",
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['memory']}, {host['os']}, Python {host['python']}.  ",
        f"Code: git {host['commit'][:12]} ({host['commit_subject'][:90]}), run from {host['code']}; uncommitted "
        f"changes: {host['uncommitted_changes']}.",
        "",
        "Every drop is a copy of the SYNTHETIC demo (geodata/demo/) changed as described; `base` is the unchanged "
        "copy, the reference of every comparison. Verdicts are automatic (each variant's checks are in "
        "messy_drops.json): **pass** = read correctly (the same figures as base) or flagged naming the file, the row "
        "or site and the fix, with no implausible site ranked; **FAIL** = silent, wrong, or not what the issue asks. "
        "Every published run is also checked for rows in = accepted + quarantined (sites and samples: rows written, "
        "the run's log lines, the inventory's layers).",
        "",
        f"**{len(records) - fails} pass, {fails} FAIL.**",
        "",
    ]


def _summary_table(records: list[dict]) -> list[str]:
    """One row per variant: what was done, verdict, exit codes, ranks and Residua's message."""
    lines = [
        "| variant | what was done | verdict | exit (validate / run) | rank 1 | affected site: rank | message |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        site = f"{r['site']}: {r['site_rank']}" if r["site"] else ""
        if r["site"] and r["site_status"]:
            site += f" ({r['site_status']})"
        notes = [c for c in r["checks"] if not c.get("blocking", True) and not c["ok"]]
        verdict = ("pass" + (" (note)" if notes else "")) if r["verdict"] == "pass" else "**FAIL**"
        cells = [r["title"], _cell(r["what"], 160), verdict, f"{r['validate_rc']} / {r['run_rc']}", r["rank1"] or "-"]
        lines.append("| " + " | ".join([*cells, site, _cell(r["message"], 230)]) + " |")
    return lines


def _rows_table(records: list[dict]) -> list[str]:
    """Rows written / read / accepted / quarantined per variant, and the inventory's layer counts."""
    rows = []
    for r in records:
        cells = [r["key"]]
        for kind in ("sites", "samples"):
            logged = r["rows_logged"].get(kind, {})
            numbers = [
                r["rows_written"].get(kind, "-"),
                *(logged.get(k, "-") for k in ("read", "accepted", "quarantined")),
            ]
            cells.append(" / ".join(map(str, numbers)))
        rows.append([*cells, _or_dash(r["samples_in_inventory"]), _or_dash(r["quarantine_rows"])])
    return markdown_table_section(
        "Rows in = accepted + quarantined",
        "Sites and samples: rows written / read / accepted / quarantined (the run's log); then the inventory's "
        "`samples` layer and `quarantine` layer (all sources).",
        ["variant", "sites", "samples", "samples layer", "quarantine layer"],
        rows,
    )


def _or_dash(value: object) -> str:
    """``value`` as text, '-' for None."""
    return "-" if value is None else str(value)


def _cell(text: str, limit: int) -> str:
    """Text for one markdown table cell: one line, pipes escaped, at most ``limit`` characters."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    """Build and run every (or the --only) variant, judge it, and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/residua-messy-drops"), help="drops and runs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="where the report goes")
    parser.add_argument("--only", nargs="+", default=[], metavar="KEY", help="variants whose key starts so")
    parser.add_argument("--reuse", action="store_true", help="reuse runs already in --workdir instead of re-running")
    parser.add_argument("--build-only", action="store_true", help="only build the drops (no Residua runs, no report)")
    parser.add_argument("--code", default="HEAD", metavar="REF", help="commit to run Residua from (default HEAD)")
    parser.add_argument("--live", action="store_true", help="run the checkout as it is instead of a --code snapshot")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    global CODE
    if args.live:
        commit = _git("rev-parse", "HEAD")
    else:
        CODE, commit = snapshot_code(args.code, workdir)
    print(f"Residua code: {CODE} (commit {commit[:12]})", flush=True)
    chosen = [v for v in VARIANTS if v.key == "base" or not args.only or v.key.startswith(tuple(args.only))]
    if args.build_only:
        for item in chosen:
            drop, spec = build_drop(item, workdir)
            print(f"{item.key}: {drop}: {spec.what}; rows {count_rows(drop)}")
        return 0
    start = time.perf_counter()
    records: list[dict] = []
    base: Outcome | None = None
    noise: set[str] = set()
    for item in chosen:
        print(f"[{item.key}] building and running ...", flush=True)
        spec, outcome = run_variant(item, workdir, args.reuse, commit)
        if base is None:  # "base" is registered first
            base, noise = outcome, noise_lines(outcome)
        record = judge_variant(spec, outcome, base, noise)
        records.append(record)
        codes = f"exit {outcome.validate_rc} / {outcome.run_rc}, {outcome.wall_s:.0f} s"
        print(f"[{item.key}] {record['verdict']} ({codes}): {_cell(record['message'], 200)}", flush=True)
    command = f".venv/bin/python benchmarks/messy_drops.py --workdir {args.workdir}"
    command += (" --only " + " ".join(args.only) if args.only else "") + (" --reuse" if args.reuse else "")
    command += " --live" if args.live else f" --code {commit[:12]}"
    elapsed = round(time.perf_counter() - start, 1)
    meta = {"command": command, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "wall_s": elapsed,
            "runs_wall_s": round(sum(r["wall_s"] for r in records), 1), "reuse": args.reuse}  # fmt: skip
    meta["machine"] = machine(commit, args.live)
    write_report(records, meta, args.out)
    passed = sum(r["verdict"] == "pass" for r in records)
    print(f"Wrote {args.out / 'messy_drops.md'} and .json: {passed} pass, {len(records) - passed} FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
