"""Benchmark: Residua's exact zonal statistics against rasterstats, and blocked DEM volumes.

Run from the repository root (rasterstats comes with the ``dev`` extra)::

    .venv/bin/python benchmarks/zonal_benchmark.py                 # 5k, 10k, 20k: about 30 minutes
    .venv/bin/python benchmarks/zonal_benchmark.py --sizes 2000    # a quick look

It writes ``benchmarks/results/zonal_benchmark.md`` (``--out``) and prints the same text; the
raw measurements go beside it as ``zonal_benchmark.json``.

Inputs, written under ``--workdir`` (default: a temporary folder under /tmp, deleted as it
goes; the largest raster takes about 0.8 GB): for each size N, a seeded float32 N x N
raster in UTM 44N, tiled 512 x 512 and DEFLATE-compressed, generated 512 rows at a time so
that generating it stays low-memory (a smooth field plus noise, to 0.01); and 10,000
seeded random star-shaped polygons. Two scenarios:

- ``ponds``: the raster grows in extent at a fixed 10 m pixel (50, 100, 200 km square) and
  the polygons are tailings-pond sized (radius log-uniform 50 m - 1 km, about 3,400 pixels
  on average) scattered over it: Residua's use, site footprints over a covariate raster.
  Here the cost per polygon should stay flat as the raster grows.
- ``fine``: a fixed 100 km square at ever finer pixels (20, 10, 5 m) under the same large
  polygons (radius 100 m - 3 km), so each polygon covers 16 times more pixels at 20k than
  at 5k (about 108,000 on average at 20k, up to a million): the cost per pixel dominates.

Each measured job runs in its own Python process, which reports the wall time and the CPU
time (user + system) of the computation (after imports and reading the polygons) and its
peak resident memory (Linux's ``VmHWM``, interpreter and libraries included). On a shared
machine the CPU time is the steadier measure; the 1-minute load average is recorded too:

- ``residua sum``: ``geodata.zonal.zonal_statistics(..., statistics=("sum",))``, exact
  coverage fractions, the raster read by exactextract through rasterio;
- ``residua default``: the same call with Residua's covariate statistics (mean, std,
  p10, p90, coverage), ``ponds`` only;
- ``residua sum, all cores``: the same call under ``joblib.parallel_config(n_jobs=<cores>)``,
  which splits the footprints into runs along a Hilbert curve, one loky worker process
  per run; its CPU time includes the workers' and its peak RSS is the process tree's
  (sampled every 20 ms);
- ``rasterstats sum``: ``rasterstats.zonal_stats(..., stats=["sum"])`` (pixel centres
  inside the polygon). When a probe on the first ``--probe`` polygons predicts more than
  ``--budget`` seconds for all of them, only the probe is reported, as a time measured on
  that many polygons, with a linear extrapolation labelled as such;
- ``volume``: ``geodata.volumes.measure_volume`` over a disc covering 64 % of the ``ponds``
  raster, between the raster and a VRT of it lowered by 5 m (so the exact answer is 5 m x
  the disc's area), in row strips of at most 4M cells.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 20261125
CRS = "EPSG:32644"
WEST, NORTH = 400_000.0, 2_400_000.0
BLOCK = 512
N_POLYGONS = 10_000
THICKNESS_M = 5.0
#: Address-space cap of every measured job, so that a runaway job fails instead of
#: exhausting a shared machine (rasterstats has reached 8 GB resident on 10,000 polygons).
JOB_MEMORY_CAP_GIB = 16


@dataclass(frozen=True)
class Scenario:
    """How raster extent, pixel size and polygon sizes relate to the raster size N."""

    key: str
    title: str
    fixed_pixel_m: float | None  # None: fixed extent instead
    fixed_extent_m: float | None
    radius_m: tuple[float, float]

    def pixel_m(self, size: int) -> float:
        """Pixel size at N = size."""
        return self.fixed_pixel_m if self.fixed_pixel_m else self.fixed_extent_m / size

    def extent_m(self, size: int) -> float:
        """Side of the raster's square at N = size."""
        return self.pixel_m(size) * size


PONDS = Scenario("ponds", "pond footprints over a growing raster (10 m pixels)", 10.0, None, (50.0, 1_000.0))
FINE = Scenario("fine", "large polygons over a fixed 100 km square, finer pixels", None, 100_000.0, (100.0, 3_000.0))


# ------------------------------------------------------------------------------ inputs


def write_raster(path: Path, size: int, pixel_m: float, seed: int = SEED) -> None:
    """A seeded float32 GeoTIFF of size x size pixels, written 512 rows at a time."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng([seed, 1])
    waves = rng.uniform(5_000, 40_000, 12), rng.uniform(0, 2 * np.pi, 12), rng.uniform(0, 2 * np.pi, 12)
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "width": size, "height": size, "crs": CRS,
        "transform": from_origin(WEST, NORTH, pixel_m, pixel_m), "nodata": -9999.0, "tiled": True,
        "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate", "predictor": 3, "bigtiff": "IF_SAFER",
    }  # fmt: skip
    x = (np.arange(size) + 0.5) * pixel_m
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, BLOCK):
            rows = min(BLOCK, size - row)
            y = (row + np.arange(rows)[:, None] + 0.5) * pixel_m
            values = np.full((rows, size), 300.0)
            for wavelength, direction, phase in zip(*waves):
                k = 2 * np.pi / wavelength
                values += 4.0 * np.cos(k * (math.cos(direction) * x[None, :] + math.sin(direction) * y) + phase)
            values += np.random.default_rng([seed, 2, row]).normal(0.0, 0.5, values.shape)
            dst.write(np.round(values, 2).astype("float32"), 1, window=Window(0, row, size, rows))


def write_lowered_vrt(raster: Path, path: Path) -> None:
    """A VRT of ``raster`` with every value lowered by THICKNESS_M (GDAL applies the offset)."""
    import rasterio

    with rasterio.open(raster) as dataset:
        srs, geotransform = dataset.crs.to_wkt(), ", ".join(repr(v) for v in dataset.transform.to_gdal())
        width, height = dataset.width, dataset.height
    path.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{srs.replace("<", "&lt;")}</SRS>'
        f"<GeoTransform>{geotransform}</GeoTransform>"
        '<VRTRasterBand dataType="Float32" band="1"><NoDataValue>-9999</NoDataValue><ComplexSource>'
        f'<SourceFilename relativeToVRT="1">{raster.name}</SourceFilename><SourceBand>1</SourceBand>'
        f"<ScaleOffset>{-THICKNESS_M}</ScaleOffset><ScaleRatio>1</ScaleRatio><NODATA>-9999</NODATA>"
        "</ComplexSource></VRTRasterBand></VRTDataset>"
    )


def write_polygons(path: Path, n: int, extent_m: float, radius_m: tuple[float, float], seed: int = SEED) -> float:
    """``n`` seeded random star-shaped polygons inside the raster's square, as a GeoPackage.

    Returns their mean area in square metres.
    """
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng([seed, 3])
    radius = np.exp(rng.uniform(math.log(radius_m[0]), math.log(radius_m[1]), n))
    cx = WEST + rng.uniform(radius_m[1], extent_m - radius_m[1], n)
    cy = NORTH - rng.uniform(radius_m[1], extent_m - radius_m[1], n)
    theta = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    shapes = []
    for i in range(n):
        r = radius[i] * rng.uniform(0.6, 1.0, theta.size)
        shapes.append(shapely.Polygon(np.column_stack([cx[i] + r * np.cos(theta), cy[i] + r * np.sin(theta)])))
    gpd.GeoDataFrame({"polygon_id": np.arange(n)}, geometry=shapes, crs=CRS).to_file(path, engine="pyogrio")
    return float(shapely.area(shapes).mean())


# -------------------------------------------------------------------------------- jobs


def job(kind: str, raster: Path, polygons: Path, limit: int | None, base: Path | None) -> dict:
    """Run one measured job in this process; return its measurements."""
    import geopandas as gpd

    cap = JOB_MEMORY_CAP_GIB * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    frame = gpd.read_file(polygons, engine="pyogrio")
    if limit is not None:
        frame = frame.iloc[:limit]
    cells = 0.0
    rss_before = _peak_rss_mb()
    cpu_start = _cpu_s()
    start = time.perf_counter()
    if kind == "residua-sum":
        from residua.geodata.zonal import zonal_statistics

        check = float(zonal_statistics(frame, raster, "b", statistics=("sum",))["cov_b_sum"].sum())
    elif kind == "residua-sum-parallel":
        return _parallel_job(frame, raster)
    elif kind == "residua-default":
        from residua.geodata.zonal import zonal_statistics

        check = float(zonal_statistics(frame, raster, "b")["cov_b_mean"].mean())
    elif kind == "rasterstats-sum":
        from rasterstats import zonal_stats

        check = float(sum(s["sum"] or 0.0 for s in zonal_stats(list(frame.geometry), str(raster), stats=["sum"])))
    elif kind == "volume":
        import rasterio
        import shapely

        from residua.geodata.volumes import measure_volume

        with rasterio.open(raster) as dataset:
            left, bottom, right, top = dataset.bounds
            pixel_area = abs(dataset.transform.a * dataset.transform.e)
        disc = shapely.Point((left + right) / 2, (bottom + top) / 2).buffer(0.45 * (right - left), quad_segs=256)
        cells = disc.area / pixel_area
        lonlat = gpd.GeoSeries([disc], crs=CRS).to_crs("EPSG:4326").iloc[0]
        measured = measure_volume(lonlat, raster, base)
        check = measured.measured_volume_m3 / (THICKNESS_M * measured.footprint_area_m2)  # 1.0 when exact
    else:
        raise ValueError(kind)
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_s() - cpu_start
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": rss_before,
            "n": len(frame), "check": check, "cells": cells}  # fmt: skip


def _parallel_job(frame, raster: Path) -> dict:
    """``residua-sum`` on every core; CPU and peak RSS include the worker processes."""
    import threading

    import joblib
    import psutil
    from joblib.externals.loky import get_reusable_executor

    from residua.geodata.zonal import zonal_statistics

    me, peak, done = psutil.Process(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = [me, *me.children(recursive=True)]
            total = 0
            for process in tree:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            peak[0] = max(peak[0], total / 2**20)
            done.wait(0.02)

    rss_before = _peak_rss_mb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_start, start = _cpu_s(), time.perf_counter()
    with joblib.parallel_config(backend="loky", n_jobs=os.cpu_count()):
        check = float(zonal_statistics(frame, raster, "b", statistics=("sum",))["cov_b_sum"].sum())
    seconds = time.perf_counter() - start
    get_reusable_executor().shutdown(wait=True)  # reaped workers count in RUSAGE_CHILDREN
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = _cpu_s() - cpu_start + children.ru_utime + children.ru_stime
    done.set()
    sampler.join()
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": max(peak[0], _peak_rss_mb()),
            "rss_before_mb": rss_before, "n": len(frame), "check": check, "cells": 0.0,
            "workers": os.cpu_count()}  # fmt: skip


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's VmHWM belongs to the process's own address space, so unlike ``ru_maxrss`` it
    does not carry over the parent's peak through fork and exec.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def measure(kind: str, raster: Path, polygons: Path, limit: int | None = None, base: Path | None = None) -> dict:
    """Run ``job`` in a fresh Python process and return what it reports."""
    command = [sys.executable, __file__, "--job", kind, "--raster", str(raster), "--polygons-file", str(polygons)]
    if limit is not None:
        command += ["--limit", str(limit)]
    if base is not None:
        command += ["--base", str(base)]
    load_start = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    load = [load_start, os.getloadavg()[0]]
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        print(f"    {kind:<17} FAILED: {reason}", flush=True)
        return {"failed": reason, "seconds": math.nan, "cpu_seconds": math.nan, "peak_rss_mb": math.nan,
                "n": limit or -1, "check": math.nan, "load": load}  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1]) | {"load": load}
    seconds, cpu, peak = result["seconds"], result["cpu_seconds"], result["peak_rss_mb"]
    print(f"    {kind:<17} n={result['n']:>6}  {seconds:8.1f} s  (CPU {cpu:7.1f} s)  peak RSS {peak:6.0f} MB  "
          f"load {load[0]:.1f}-{load[1]:.1f}", flush=True)  # fmt: skip
    return result


# ----------------------------------------------------------------------------- the run


def run(sizes: list[int], n_polygons: int, workdir: Path, probe: int, budget_s: float) -> list[dict]:
    """Generate inputs, run every job per scenario and size, deleting each raster after use."""
    rows = []
    for scenario in (PONDS, FINE):
        print(f"{scenario.key}: {scenario.title}", flush=True)
        for size in sizes:
            pixel, extent = scenario.pixel_m(size), scenario.extent_m(size)
            print(f"  {size} x {size} pixels of {pixel:g} m ({extent / 1000:g} km square):", flush=True)
            raster, polygons = workdir / f"{scenario.key}_{size}.tif", workdir / f"{scenario.key}_{size}.gpkg"
            start = time.perf_counter()
            write_raster(raster, size, pixel)
            row = {"scenario": scenario.key, "size": size, "pixel_m": pixel, "extent_km": extent / 1000,
                   "file_mb": raster.stat().st_size / 1e6, "generate_s": time.perf_counter() - start}  # fmt: skip
            row["pixels_per_polygon"] = write_polygons(polygons, n_polygons, extent, scenario.radius_m) / pixel**2
            row["residua"] = measure("residua-sum", raster, polygons)
            row["residua_parallel"] = measure("residua-sum-parallel", raster, polygons)
            probed = measure("rasterstats-sum", raster, polygons, limit=probe)
            row["rasterstats_predicted_s"] = probed["seconds"] * n_polygons / probe
            fits = row["rasterstats_predicted_s"] <= budget_s  # False when the probe failed (NaN)
            row["rasterstats"] = measure("rasterstats-sum", raster, polygons) if fits else probed
            if scenario is PONDS:
                row["residua_default"] = measure("residua-default", raster, polygons)
                base = workdir / f"{scenario.key}_{size}_lowered.vrt"
                write_lowered_vrt(raster, base)
                row["volume"] = measure("volume", raster, polygons, base=base)
                base.unlink()
            rows.append(row)
            raster.unlink()
            polygons.unlink()
    return rows


def report(rows: list[dict], n_polygons: int, probe: int, budget_s: float) -> str:
    """The results as Markdown: machine, command, tables, notes."""
    import exactextract
    import rasterio
    import rasterstats

    sizes = sorted({row["size"] for row in rows})
    before = min(row["residua"]["rss_before_mb"] for row in rows)
    lines = [
        "# Zonal statistics benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/zonal_benchmark.py --sizes {' '.join(map(str, sizes))}`"
        + ("" if n_polygons == N_POLYGONS else f" `--polygons {n_polygons}`"),
        "",
        f"Machine: {os.cpu_count()} cores ({_cpu_model()}), {_memory_gib():.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, rasterio {rasterio.__version__} "
        f"(GDAL {rasterio.__gdal_version__}), exactextract {getattr(exactextract, '__version__', '0.3.0')}, "
        f"rasterstats {rasterstats.__version__}. Jobs ran one at a time, each in its own single-threaded process.",
        "",
        f"{n_polygons:,} seeded random polygons per raster; seeded float32 rasters, tiled 512 x 512, DEFLATE. "
        "Time: wall-clock seconds of the computation, with its CPU seconds (user + system) in brackets. "
        "Peak RSS: the job process's high-water resident set "
        f"(`VmHWM`), interpreter and libraries included (about {before:.0f} MB before any work). "
        "Speed-up = rasterstats time / Residua time (wall, then CPU), both summing the same raster over the "
        "same polygons.",
        "",
        *_load_note(rows),
    ]
    for scenario in (PONDS, FINE):
        chosen = [row for row in rows if row["scenario"] == scenario.key]
        if not chosen:
            continue
        lines += [f"## {scenario.key}: {scenario.title}", "", _scenario_note(scenario), ""]
        lines += [
            "| raster | pixel | extent | file | pixels per polygon (mean) | Residua sum | peak RSS | rasterstats sum "
            "| peak RSS | speed-up |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in chosen:
            ours, theirs = row["residua"], row["rasterstats"]
            if "failed" in theirs:
                their_time, speedup = f"failed ({theirs['failed']})", "-"
            elif theirs["n"] == n_polygons:
                their_time = _time(theirs)
                speedup = (f"**{theirs['seconds'] / ours['seconds']:.1f}x** wall, "
                           f"**{theirs['cpu_seconds'] / ours['cpu_seconds']:.1f}x** CPU")  # fmt: skip
            else:
                their_time = (
                    f"{_time(theirs)} on the first {theirs['n']:,} polygons (measured); "
                    f"{row['rasterstats_predicted_s']:.0f} s for all (EXTRAPOLATED, not measured)"
                )
                speedup = f"{theirs['seconds'] / theirs['n'] / (ours['seconds'] / ours['n']):.1f}x per polygon"
            lines.append(
                f"| {row['size']:,}² | {row['pixel_m']:g} m | {row['extent_km']:g} km | {row['file_mb']:.0f} MB | "
                f"{row['pixels_per_polygon']:,.0f} | {_time(ours)} | {ours['peak_rss_mb']:.0f} MB | "
                f"{their_time} | "
                f"{theirs['peak_rss_mb']:.0f} MB | {speedup} |"
            )
        lines.append("")
        lines += _parallel_table(chosen, n_polygons)
        gaps = [
            f"{row['size']:,}²: {abs(row['residua']['check'] / row['rasterstats']['check'] - 1):.1e}"
            for row in chosen
            if row["rasterstats"]["n"] == n_polygons
        ]
        if gaps:
            lines += ["Total of all sums, Residua (exact coverage) vs rasterstats (pixel centres), relative "
                      f"difference: {', '.join(gaps)}.", ""]  # fmt: skip
    with_volume = [row for row in rows if "volume" in row]
    if with_volume:
        lines += [
            "## Covariate statistics and DEM volume on the `ponds` rasters",
            "",
            "| raster | Residua mean/std/p10/p90/coverage | peak RSS | volume: pixels in the disc | time | peak RSS "
            "| volume / exact |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in with_volume:
            default, volume = row["residua_default"], row["volume"]
            lines.append(
                f"| {row['size']:,}² | {_time(default)} | {default['peak_rss_mb']:.0f} MB | "
                f"{volume['cells'] / 1e6:.0f} M | {_time(volume)} | {volume['peak_rss_mb']:.0f} MB | "
                f"{volume['check']:.6f} |"
            )
        lines += [
            "",
            "The volume is measured over a disc covering 64 % of the raster, between the raster and a VRT of it "
            "lowered by 5 m; `volume / exact` is the measured volume over 5 m x the disc's ground area.",
            "",
        ]
    lines += _targets(rows, n_polygons)
    lines += [
        f"rasterstats runs on all polygons when a probe on the first {probe:,} predicts at most {budget_s:.0f} s; "
        "otherwise the probe's measured time is reported with its linear extrapolation, labelled as such.",
        "",
    ]
    return "\n".join(lines)


def _targets(rows: list[dict], n_polygons: int) -> list[str]:
    """The issue's targets (>= 10x rasterstats; peak RSS < 2 GB and flat), checked against the rows."""
    lines = ["## Against the targets: >= 10x faster than rasterstats; peak RSS < 2 GB, flat as the raster grows", ""]
    per_pixel_bound = False
    for scenario in (PONDS, FINE):
        chosen = [row for row in rows if row["scenario"] == scenario.key]
        parts = []
        for row in chosen:
            theirs = row["rasterstats"]
            if "failed" in theirs or theirs["n"] != n_polygons:
                parts.append(f"{row['size']:,}²: not measured on all polygons")
                continue
            wall = theirs["seconds"] / row["residua"]["seconds"]
            cpu = theirs["cpu_seconds"] / row["residua"]["cpu_seconds"]
            per_pixel_bound |= min(wall, cpu) < 10
            verdict = "met" if min(wall, cpu) >= 10 else ("NOT met" if max(wall, cpu) < 10 else "met on one measure")
            parts.append(f"{row['size']:,}²: {wall:.1f}x wall, {cpu:.1f}x CPU ({verdict})")
            parallel = row.get("residua_parallel")
            if parallel and "failed" not in parallel:
                wall = theirs["seconds"] / parallel["seconds"]
                parts[-1] += f"; on {parallel['workers']} cores {wall:.1f}x wall ({'met' if wall >= 10 else 'NOT met'})"
        if parts:
            lines.append(f"- Speed, {scenario.key}: {'; '.join(parts)}.")
    ours = [
        row[key] for row in rows for key in ("residua", "residua_parallel", "residua_default", "volume") if key in row
    ]
    peak = max(job["peak_rss_mb"] for job in ours)
    verdict = "below" if peak < 2048 else "ABOVE"
    lines.append(f"- Peak RSS of every Residua job: at most {peak:,.0f} MB ({verdict} 2 GB).")
    for scenario in (PONDS, FINE):
        chosen = [row for row in rows if row["scenario"] == scenario.key]
        if chosen:
            by_size = ", ".join(f"{row['residua']['peak_rss_mb']:.0f}" for row in chosen)
            lines.append(f"- Residua sum peak RSS by size, {scenario.key}: {by_size} MB.")
    volumes = [row for row in rows if "volume" in row]
    if volumes:
        by_size = ", ".join(f"{row['volume']['peak_rss_mb']:.0f}" for row in volumes)
        lines.append(f"- DEM volume peak RSS by size: {by_size} MB.")
    lines += [
        "",
        "Resident memory = interpreter and libraries + GDAL's block cache (capped by Residua at 256 MB, which a "
        "raster reaches once its decoded blocks exceed that) + the working set (exactextract's read budget, a "
        "volume strip).",
    ]
    if per_pixel_bound:
        lines.append(
            "Where the speed-up falls below 10x, per-pixel work that both tools pay dominates Residua's time: "
            "decoding every 512 x 512 DEFLATE tile that a footprint touches (on the larger `ponds` rasters the "
            "footprints are spread out and touch nearly every tile) and, in `fine`, exact coverage fractions "
            "over many pixels per polygon. What Residua saves is rasterstats' cost per polygon."
        )
    return [*lines, ""]


def _parallel_table(rows: list[dict], n_polygons: int) -> list[str]:
    """Residua's sum on every core beside the single-process run and rasterstats (single-threaded)."""
    measured = [row for row in rows if row.get("residua_parallel") and "failed" not in row["residua_parallel"]]
    if not measured:
        return []
    workers = measured[0]["residua_parallel"]["workers"]
    lines = [
        f"On all {workers} cores (one loky worker per core; CPU includes the workers, peak RSS is the process "
        "tree's; rasterstats has no parallel mode and stays single-threaded):",
        "",
        "| raster | Residua sum, 1 process | Residua sum, all cores | peak RSS (tree) "
        "| speed-up over rasterstats (wall) |",
        "|---|---|---|---|---|",
    ]
    for row in measured:
        theirs, parallel = row["rasterstats"], row["residua_parallel"]
        complete = "failed" not in theirs and theirs["n"] == n_polygons
        speedup = f"**{theirs['seconds'] / parallel['seconds']:.1f}x**" if complete else "-"
        lines.append(f"| {row['size']:,}² | {_time(row['residua'])} | {_time(parallel)} | "
                     f"{parallel['peak_rss_mb']:.0f} MB | {speedup} |")  # fmt: skip
    return [*lines, ""]


def _time(job: dict) -> str:
    return f"{job['seconds']:.1f} s ({job['cpu_seconds']:.1f} s)"


def _load_note(rows: list[dict]) -> list[str]:
    """A warning when other processes shared the machine during the run."""
    jobs = [row[key] for row in rows for key in ("residua", "residua_default", "rasterstats", "volume") if key in row]
    loads = [value for job in jobs for value in job["load"]]
    if not loads or max(loads) <= 1.5:
        return []
    return [
        f"The machine was shared: the 1-minute load average ranged {min(loads):.1f}-{max(loads):.1f} on "
        f"{os.cpu_count()} cores while jobs ran, so wall times carry that noise; CPU times less so.",
        "",
    ]


def _scenario_note(scenario: Scenario) -> str:
    if scenario is PONDS:
        return ("Fixed 10 m pixels; the raster grows in extent; tailings-pond-sized polygons (radius 50 m - 1 km) "
                "scattered over it.")  # fmt: skip
    return ("Fixed 100 km square; pixels of 20, 10 and 5 m; the same polygons of radius 100 m - 3 km at every "
            "size, so the pixels per polygon grow 16-fold from 5k to 20k.")  # fmt: skip


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def main() -> None:
    """Command-line entry point (also runs the measured jobs, with --job)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 10_000, 20_000])
    parser.add_argument("--polygons", type=int, default=N_POLYGONS, help="number of polygons (default 10,000)")
    parser.add_argument("--probe", type=int, default=1_000, help="rasterstats probe size (default 1,000)")
    parser.add_argument("--budget", type=float, default=900.0, help="most seconds for one rasterstats run")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "zonal_benchmark.md")
    parser.add_argument("--from-json", type=Path, default=None, help="re-render a saved run's JSON; measure nothing")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--raster", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--polygons-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--base", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(json.dumps(job(args.job, args.raster, args.polygons_file, args.limit, args.base)))
        return
    probe = min(args.probe, args.polygons)
    if args.from_json:
        rows = json.loads(args.from_json.read_text(encoding="utf-8"))
        text = report(rows, args.polygons, probe, args.budget)
        args.out.write_text(text, encoding="utf-8")
        print(text)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="zonal_benchmark_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"Scratch: {workdir} ({shutil.disk_usage(workdir).free / 1e9:.0f} GB free)", flush=True)
    try:
        rows = run(args.sizes, args.polygons, workdir, probe, args.budget)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(rows, args.polygons, probe, args.budget)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print("\n" + text)


if __name__ == "__main__":
    main()
