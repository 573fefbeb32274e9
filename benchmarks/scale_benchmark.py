"""Benchmark: the whole refresh (ingest to publish) on SYNTHETIC drops of 100 to 10,000 sites.

Run from the repository root::

    .venv/bin/python benchmarks/scale_benchmark.py                      # 100, 1,000 and 10,000 sites
    .venv/bin/python benchmarks/scale_benchmark.py --sizes 100 1000 --profile

It writes ``benchmarks/results/scale_benchmark.md`` (``--out``) and the raw measurements
beside it as ``scale_benchmark.json``; sizes measured earlier and not re-run stay in both
(``--fresh`` drops them).

For each size N: ``benchmarks/scale_data.py`` writes a seeded SYNTHETIC drop of N sites
(cached under ``--workdir`` and reused while its dataset.json matches N, the seed and the
generator version). Then a fresh Python process runs exactly what ``residua run`` runs
(the same pre-checks, settings, Dagster instance configuration and in-process job), with
DAGSTER_HOME set to a temporary copy of the repository's dagster.yaml and
RESIDUA_DAGSTER_DIR to an empty folder, so SQLite event logs and the pickled asset values
are written as in ``make run``. That process imports a frozen copy of ``geodata/``,
``models/``, ``assets/`` and ``pipelines/`` (``WORKDIR/code_<digest>``; ``--live-code`` runs
the checkout itself), so code edited during a benchmark cannot mix versions.

While it runs, a thread in this (driver) process samples, every 50 ms, the resident
memory of the measured process and of its worker processes (joblib's loky workers fit
the per-site block models and measure DEM volumes), the measured process's high-water mark
(VmHWM) and the CPU seconds of all of them; sampling from outside means a long call that
holds the measured process's GIL cannot pause it. Each sample is attributed to the Dagster
step (asset or asset check) running at that moment, from the run's STEP_START /
STEP_SUCCESS event timestamps; a peak between two samples still shows, as a rise of the
high-water mark during the step.

``--profile`` then re-runs the slowest asset of the largest size alone under cProfile,
its inputs loaded from the values the timed run stored, with ``n_jobs = 1`` so that the
per-site work runs in the profiled process instead of loky workers (it takes several
times longer than in the timed run: one process, and cProfile's overhead), and reports
the top functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (100, 1000, 10000)
SEED = 8
SAMPLE_INTERVAL_S = 0.05
#: Issue 8's targets (on 2 cores).
TARGET_WALL_S_10K = 600.0
TARGET_PEAK_RSS_MB = 4096.0
TARGET_GROWTH = 12.0  # 10x the sites within 12x the time
MB = 1024.0 * 1024.0  # bytes per MiB: every "_mb" figure is in MiB


# ------------------------------------------------------------------------- measuring


class ProcessTreeSampler(threading.Thread):
    """Every ``interval`` s: RSS, RSS high-water mark and CPU seconds of a process and its descendants.

    It runs in the driver, not in the measured process, so a long call that holds the
    measured process's GIL (pickling a large value, say) cannot pause it.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(name="resource-sampler", daemon=True)
        import psutil

        self.interval = interval
        self.process = psutil.Process(pid)
        # time, rss main, rss high-water mark main, rss workers (MiB), cpu s (tree), load average
        self.samples: list[tuple[float, float, float, float, float, float]] = []
        self._halt = threading.Event()

    def sample(self) -> None:
        """Take one sample now (nothing once the process has ended)."""
        import psutil

        try:
            now = time.time()
            times = self.process.cpu_times()
            cpu = times.user + times.system + times.children_user + times.children_system
            rss_main = self.process.memory_info().rss / MB
            hwm_main = _vm_hwm_mb(self.process.pid)
            children = self.process.children(recursive=True)
        except psutil.Error:
            return
        if math.isnan(hwm_main):  # the process has exited
            return
        rss_workers = 0.0
        for child in children:
            try:
                rss_workers += child.memory_info().rss / MB
                child_times = child.cpu_times()
                cpu += child_times.user + child_times.system
            except psutil.Error:  # ended between listing and reading
                continue
        self.samples.append((now, rss_main, hwm_main, rss_workers, cpu, os.getloadavg()[0]))

    def run(self) -> None:
        self.sample()
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        """Stop sampling."""
        self._halt.set()
        self.join()

    def window(self, start: float, end: float) -> dict[str, float]:
        """Peak RSS and CPU seconds while a step ran, from the samples bracketing [start, end].

        Peak RSS of the main process: its largest sampled RSS, or its high-water mark if that
        rose between the samples bracketing the step (a peak between two samples). Main +
        workers adds the workers' largest sampled RSS, an upper bound when the two peaks did
        not coincide.
        """
        import numpy as np

        data = np.array(self.samples)
        times = data[:, 0]
        first = max(int(np.searchsorted(times, start, side="right")) - 1, 0)
        last = min(int(np.searchsorted(times, end, side="left")), len(times) - 1)
        inside = data[first : last + 1]
        main = float(inside[:, 1].max())
        if inside[-1, 2] > inside[0, 2] + 0.5:  # a new high-water mark during the step
            main = max(main, float(inside[-1, 2]))
        cpu = np.interp([start, end], times, data[:, 4])
        return {
            "peak_rss_main_mb": round(main, 1),
            "peak_rss_workers_mb": round(float(inside[:, 3].max()), 1),
            "peak_rss_total_mb": round(main + float(inside[:, 3].max()), 1),
            "peak_rss_total_sampled_mb": round(float((inside[:, 1] + inside[:, 3]).max()), 1),
            "cpu_s": round(float(cpu[1] - cpu[0]), 2),
        }


def _vm_hwm_mb(pid: int | str = "self") -> float:
    """Linux's high-water mark of a process's resident memory, in MiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    match = re.search(r"VmHWM:\s+(\d+) kB", text)  # absent once the process has exited (a zombie)
    return int(match.group(1)) / 1024.0 if match else float("nan")


def child_main(args: argparse.Namespace) -> int:
    """Measured process: run the job as ``residua run`` does; write its steps' times as JSON."""
    process_start = time.time()
    phases: list[dict] = []

    import dagster as dg

    from residua.geodata.datadrop import open_data_drop
    from residua.geodata.readers import read_samples, read_sites
    from residua.geodata.reference_tables import load_reference_tables
    from residua.pipelines.definitions import build_definitions, default_settings

    phases.append({"step": "(python imports)", "kind": "process", "start": process_start, "end": time.time()})
    start = time.time()
    drop = open_data_drop(args.data)  # the CLI's pre-checks (pipelines.cli.run_command)
    load_reference_tables(drop.root)
    read_sites(drop.sites_path)
    if drop.samples_path is not None:
        read_samples(drop.samples_path)
    phases.append({"step": "(CLI pre-checks)", "kind": "process", "start": start, "end": time.time()})
    overrides = {"n_jobs": args.n_jobs} if args.n_jobs else {}
    settings = default_settings(
        data_dir=str(drop.root), out_dir=str(Path(args.out).resolve()), n_draws=args.draws, seed=args.seed,
        min_dem_coverage=0.9, **overrides,
    )  # fmt: skip
    instance = dg.DagsterInstance.get()
    job = build_definitions(settings).resolve_job_def("refresh_job")
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    profiler = None
    if args.profile_stage:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    result = job.execute_in_process(
        instance=instance,
        run_config=run_config,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(args.profile_stage)] if args.profile_stage else None,
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile_file)
    process_end = time.time()

    steps, run_span, failures = _steps_from_event_log(instance, result.run_id)
    checks = check_step_names()
    for step in steps:
        step["kind"] = "check" if step["step"] in checks else "asset"
    report = {
        "success": bool(result.success),
        "failures": failures,
        "process_start": process_start,
        "process_end": process_end,
        "process_wall_s": round(process_end - process_start, 2),
        "run_wall_s": round(run_span[1] - run_span[0], 2) if run_span else None,
        "peak_rss_main_mb": round(_vm_hwm_mb(), 1),  # exact: the kernel's high-water mark
        "n_jobs": settings.value("n_jobs"),
        "draws": settings.value("n_draws"),
        "steps": phases + steps,
    }
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0 if result.success else 1


def attribute(report: dict, sampler: ProcessTreeSampler) -> dict:
    """Add per-step and whole-run CPU and peak RSS from the driver's samples to a child's report."""
    start = report.pop("process_start")
    report.pop("process_end")
    steps = []
    for step in report["steps"]:
        steps.append({
            "step": step["step"], "kind": step["kind"], "start_s": round(step["start"] - start, 2),
            "wall_s": round(step["end"] - step["start"], 2), **sampler.window(step["start"], step["end"]),
        })  # fmt: skip
    samples = sampler.samples
    report.update(
        steps=steps,
        cpu_s=round(samples[-1][4] - samples[0][4], 1),
        peak_rss_total_mb=max(step["peak_rss_total_mb"] for step in steps),
        peak_rss_total_sampled_mb=round(max(s[1] + s[3] for s in samples), 1),
        peak_rss_workers_mb=round(max(s[3] for s in samples), 1),
        n_samples=len(samples),
        load_avg_1min_mean=round(sum(s[5] for s in samples) / len(samples), 2),
    )
    return report


def _steps_from_event_log(instance, run_id: str) -> tuple[list[dict], tuple[float, float] | None, list[str]]:
    """Steps in execution order with start and end times, the run's span, and failures."""
    from dagster import DagsterEventType as Event

    starts: dict[str, float] = {}
    steps: list[dict] = []
    failures: list[str] = []
    run_start = run_end = None
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == Event.RUN_START:
            run_start = record.timestamp
        elif kind in (Event.RUN_SUCCESS, Event.RUN_FAILURE):
            run_end = record.timestamp
        elif kind == Event.STEP_START:
            starts[record.step_key] = record.timestamp
        elif kind in (Event.STEP_SUCCESS, Event.STEP_FAILURE) and record.step_key in starts:
            steps.append({"step": record.step_key, "start": starts[record.step_key], "end": record.timestamp})
            if kind == Event.STEP_FAILURE:
                failures.append(record.step_key)
    return steps, (run_start, run_end) if run_start and run_end else None, failures


# ------------------------------------------------------------------------------ the driver


def _scale_data():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale_data", ROOT / "benchmarks" / "scale_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_data"] = module
    spec.loader.exec_module(module)
    return module


def drop_for(workdir: Path, n_sites: int, seed: int, jobs: int, reuse: bool) -> tuple[Path, dict, float | None]:
    """Path and dataset.json of the drop for N sites, and the seconds spent generating it (None: cached)."""
    version = _scale_data().GENERATOR_VERSION
    path = workdir / f"drop_{n_sites}_seed{seed}"
    meta_path = path / "dataset.json"
    if reuse and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("generator_version") == version
            and meta.get("seed") == seed
            and meta["counts"]["n_sites"] == n_sites
        ):
            print(f"[{n_sites}] reusing the drop in {path}", flush=True)
            return path, meta, None
    print(f"[{n_sites}] generating a SYNTHETIC drop in {path}", flush=True)
    start = time.perf_counter()
    command = [sys.executable, str(ROOT / "benchmarks" / "scale_data.py"), "--sites", str(n_sites),
               "--out", str(path), "--seed", str(seed), "--jobs", str(jobs)]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return path, json.loads(meta_path.read_text()), round(time.perf_counter() - start, 1)


CODE_PACKAGES = ("geodata", "models", "assets", "pipelines")


def snapshot_code(workdir: Path) -> tuple[Path, str]:
    """Copy Residua's packages, dagster.yaml and this script to a folder; return it and a digest of the code.

    Other engineers edit the library while benchmarks run: every process of one benchmark
    (the measured run, its loky workers, the profile re-run) imports this frozen copy, so
    they all run the same code, and the digest says which.
    """
    import hashlib

    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    code_root = workdir / f"code_{digest.hexdigest()[:12]}"
    if not code_root.is_dir():
        staging = workdir / f"code_staging_{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in CODE_PACKAGES:
            shutil.copytree(ROOT / package, staging / package, ignore=ignore)
        from code_snapshot import link_namespace  # beside this script (run as a file; the child copy needs it not)

        link_namespace(staging)  # the copy imports as residua.*, ahead of the editable install
        (staging / "benchmarks").mkdir()
        shutil.copy(Path(__file__).resolve(), staging / "benchmarks" / "scale_benchmark.py")
        shutil.copy(ROOT / "dagster.yaml", staging / "dagster.yaml")
        facts = machine_facts()
        provenance = {key: facts[key] for key in ("commit", "uncommitted_library_files", "date_utc")}
        (staging / "SNAPSHOT.json").write_text(json.dumps(provenance, indent=1) + "\n", encoding="utf-8")
        staging.rename(code_root)
    return code_root, digest.hexdigest()[:12]


def code_provenance(code_root: Path, digest: str) -> dict:
    """Which commit (and how many uncommitted library files) a frozen copy was taken from."""
    path = code_root / "SNAPSHOT.json"
    if path.is_file():
        return {"digest": digest, **json.loads(path.read_text())}
    facts = machine_facts()
    return {"digest": digest, **{key: facts[key] for key in ("commit", "uncommitted_library_files", "date_utc")}}


def run_child(
    workdir: Path,
    n_sites: int,
    drop: Path,
    args: argparse.Namespace,
    profile_stage: str | None = None,
    code_root: Path = ROOT,
) -> dict:
    """Run the measured process for one drop; return its measurements (with the load average)."""
    label = f"profile_{n_sites}" if profile_stage else f"run_{n_sites}"
    home = workdir / f"dagster_home_{n_sites}"
    if not profile_stage:  # a fresh instance; the profile re-run reuses the timed run's stored values
        shutil.rmtree(home, ignore_errors=True)
        (home / "storage").mkdir(parents=True)
        shutil.copy(code_root / "dagster.yaml", home / "dagster.yaml")
    out = workdir / f"out_{n_sites}"
    json_path = workdir / f"{label}.json"
    json_path.unlink(missing_ok=True)
    log_path = workdir / f"{label}.log"
    command = [sys.executable, str(code_root / "benchmarks" / "scale_benchmark.py"), "--child", "--data", str(drop),
               "--out", str(out), "--json", str(json_path), "--draws", str(args.draws),
               "--seed", str(args.run_seed)]  # fmt: skip
    n_jobs = 1 if profile_stage else args.n_jobs
    if n_jobs:
        command += ["--n-jobs", str(n_jobs)]
    if profile_stage:
        command += ["--profile-stage", profile_stage, "--profile-file", str(workdir / f"{label}.prof")]
    env = {**os.environ, "DAGSTER_HOME": str(home), "RESIDUA_DAGSTER_DIR": str(home / "storage")}
    env.pop("RESIDUA_DASK_ADDRESS", None)
    print(
        f"[{n_sites}] {'profiling ' + profile_stage if profile_stage else 'running the job'} (log: {log_path})",
        flush=True,
    )
    load_before = os.getloadavg()
    start = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            command, cwd=code_root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        sampler = ProcessTreeSampler(child.pid)
        sampler.start()
        try:
            code = child.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGTERM)  # the measured process and its own workers
            child.wait()
            sampler.stop()
            return {"success": False, "failures": [f"timed out after {args.timeout} s"], "steps": [],
                    "outer_wall_s": round(time.perf_counter() - start, 1)}  # fmt: skip
    outer = round(time.perf_counter() - start, 1)
    sampler.stop()
    if not json_path.is_file():
        return {"success": False, "failures": [f"exit code {code}; see {log_path}"], "steps": [], "outer_wall_s": outer}
    report = attribute(json.loads(json_path.read_text()), sampler)
    report.update(outer_wall_s=outer, load_avg_1min=[round(load_before[0], 2), round(os.getloadavg()[0], 2)])
    return report


def profile_text(prof_file: Path, stage: str, top: int = 25) -> str:
    """Top functions by cumulative time (Residua's code) and by own time (all code)."""
    import io
    import pstats

    def shorten(text: str) -> str:
        text = re.sub(r"\S*/code_[0-9a-f]+/", "", text.replace(str(ROOT) + "/", ""))  # frozen copies too
        return re.sub(r"\S*/site-packages/", "", text)

    blocks = []
    for title, key, pattern in (
        (f"Top {top} Residua functions by cumulative time", "cumulative", r"/(geodata|models|assets)/"),
        (f"Top {top} functions by own (internal) time, any code", "tottime", None),
    ):
        buffer = io.StringIO()
        stats = pstats.Stats(str(prof_file), stream=buffer).sort_stats(key)
        stats.print_stats(*([pattern] if pattern else []), top)
        lines = buffer.getvalue().splitlines()
        table_start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        blocks.append(f"{title} (`{stage}` re-run alone, n_jobs = 1):\n\n```\n" +
                      "\n".join(shorten(line) for line in lines[table_start:] if line.strip()) + "\n```")  # fmt: skip
    return "\n\n".join(blocks)


# ------------------------------------------------------------------------------ the report


def machine_facts() -> dict:
    """Cores, CPU, RAM, OS and library versions, the code version, and the time."""
    import dagster
    import numpy

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown CPU")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = [line[3:] for line in _git("status", "--porcelain").splitlines()
             if re.match(r"(geodata|models|assets|pipelines)/", line[3:])]  # fmt: skip
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(memory_kib / 1024**2, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "dagster": dagster.__version__,
        "numpy": numpy.__version__,
        "commit": commit,
        "uncommitted_library_files": dirty,
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(results: dict) -> str:
    """The markdown results page."""
    machine = results["machine"]
    sizes = sorted(results["sizes"], key=int)
    runs = {int(n): results["sizes"][n] for n in sizes}
    lines = [
        "# Scale benchmark: the whole refresh at 100 to 10,000 sites (SYNTHETIC data)",
        "",
        f"Written {machine['date_utc']} by `benchmarks/scale_benchmark.py`. Commands (from the repository root):",
        "",
        *[
            f"- `{command}`"
            for command in dict.fromkeys(run.get("command", results["command"]) for run in runs.values())
        ],
        "",
        "Code: every process of a measurement (the run, its loky workers, the profile re-run) imported one frozen "
        "copy of `geodata/`, `models/`, `assets/` and `pipelines/`, taken while other engineers kept editing them: "
        + "; ".join(_code_line(code) for code in _codes(runs))
        + ".",
        "",
        (
            f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['ram_gib']:.0f} GiB RAM, {machine['os']}; "
            f"Python {machine['python']}, Dagster {machine['dagster']}, numpy {machine['numpy']}. "
            + _sharing(runs, machine)
        ),
        "",
        "Data: SYNTHETIC drops from `benchmarks/scale_data.py` (seed {seed}): footprints over UTM zones 42N-45N, "
        "DEM pairs for about half of the sites, the demo's two covariate rasters, about 50 assay intervals per "
        "sampled site (about 35 % of the sites), 6 deliberately bad sample rows per 1,000 sites. "
        "The job as `residua run` runs it: {draws} Monte Carlo draws, n_jobs = {n_jobs} (block models in loky "
        "worker processes), in-process executor, SQLite instance and pickled asset values under a temporary "
        "RESIDUA_DAGSTER_DIR.".format(seed=results["seed"], draws=results["draws"], n_jobs=results["n_jobs"] or 2),
        "",
        "## Issue 8's targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    lines += _target_rows(runs)
    lines += [
        "",
        "## Per size",
        "",
        (
            "Process wall: the whole `residua run`-equivalent process (Python imports, the CLI's pre-checks, the "
            "Dagster run). Refresh wall: the Dagster run alone (RUN_START to RUN_SUCCESS). CPU: user + system seconds "
            "of the process and its workers. Peak RSS main: the process's high-water mark (VmHWM, exact). Peak RSS "
            "main + workers: per step, the main process's peak (its largest sampled RSS, or its high-water mark when "
            "that rose during the step) plus the loky workers' largest sampled RSS, an upper bound; the largest over "
            "the steps."
        ),
        "",
        (
            "| sites | sampled sites | sample rows | DEM pairs | generate (s) | process wall (s) | refresh wall (s) "
            "| CPU (s) | cores used (CPU / wall) | peak RSS main (MiB) | peak RSS main + workers (MiB) "
            "| load avg: mean during (before / after) | result | measured, code |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for n, run in runs.items():
        counts = run["drop"]["counts"]
        ok = "ok" if run.get("success") else "FAILED: " + "; ".join(run.get("failures", []))
        load = run.get("load_avg_1min") or [None, None]
        used = run["cpu_s"] / run["process_wall_s"] if run.get("cpu_s") and run.get("process_wall_s") else None
        lines.append(
            f"| {n:,} | {counts['n_sampled']:,} | {counts['n_sample_rows']:,} | {counts['n_base_dems']:,} | "
            f"{_fmt(run.get('generate_s'))} | {_fmt(run.get('process_wall_s'))} | {_fmt(run.get('run_wall_s'))} | "
            f"{_fmt(run.get('cpu_s'), 0)} | {_fmt(used, 2)} | {_fmt(run.get('peak_rss_main_mb'), 0)} | "
            f"{_fmt(run.get('peak_rss_total_mb'), 0)} | {_fmt(run.get('load_avg_1min_mean'))} "
            f"({_fmt(load[0])} / {_fmt(load[1])}) | {ok} | {run.get('measured_utc', '?')[:16].replace('T', ' ')}, "
            f"{run.get('code_digest', '?')} |"
        )
    lines += ["", "## Per stage", "",
              ("Wall seconds, CPU seconds and peak RSS of main + workers (MiB, as above) while the step ran, in "
               "execution order (`check:` rows are asset checks; the two rows in parentheses come before the Dagster "
               "run)."), ""]  # fmt: skip
    header = "| step |" + "".join(f" {n:,}: wall | CPU | RSS |" for n in runs)
    lines += [header, "|---|" + "---:|---:|---:|" * len(runs)]
    order: list[str] = []
    for run in runs.values():
        for step in run.get("steps", []):
            if step["step"] not in order:
                order.append(step["step"])
    checks = check_step_names()
    for name in order:
        label = f"check: {checks[name]}" if name in checks else name
        cells = []
        for run in runs.values():
            step = next((s for s in run.get("steps", []) if s["step"] == name), None)
            cells.append(" - | - | - |" if step is None else
                         f" {_fmt(step['wall_s'])} | {_fmt(step['cpu_s'])} | "
                         f"{_fmt(step['peak_rss_total_mb'], 0)} |")  # fmt: skip
        lines.append(f"| {label} |" + "".join(cells))
    lines += ["", "Share of the process wall time per step (largest three):", ""]
    for n, run in runs.items():
        if run.get("steps") and run.get("process_wall_s"):
            top = sorted(run["steps"], key=lambda s: -s["wall_s"])[:3]
            shares = ", ".join(f"{s['step']} {100 * s['wall_s'] / run['process_wall_s']:.0f} %" for s in top)
            lines.append(f"- {n:,} sites: {shares}")
    if results.get("profile"):
        profile = results["profile"]
        lines += [
            "",
            f"## Profile of the slowest stage at {profile['n_sites']:,} sites: `{profile['stage']}`",
            "",
            (
                f"`{profile['stage']}` took {profile['timed_wall_s']:.1f} s of {profile['timed_process_wall_s']:.1f} s "
                f"in the timed run whose stored inputs the profile re-used (code {profile.get('code_digest', '?')}). "
                "Re-run alone under cProfile with n_jobs = 1 (everything in one process, cProfile's overhead included; "
                f"the stage's asset checks ran too): {profile['wall_s']:.1f} s."
            ),
            "",
            profile["text"],
        ]
    if results.get("notes"):
        lines += ["", "## Notes", "", *results["notes"]]
    return "\n".join(lines) + "\n"


def _codes(runs: dict[int, dict]) -> list[dict]:
    """The distinct code versions the runs used (first seen first)."""
    codes: dict[str, dict] = {}
    for run in runs.values():
        code = run.get("code") or {"digest": run.get("code_digest", "?")}
        codes.setdefault(code["digest"], code)
    return list(codes.values())


def _code_line(code: dict) -> str:
    dirty = code.get("uncommitted_library_files") or []
    commit = f"commit {code['commit']}" if code.get("commit") else "unknown commit"
    extra = f" plus uncommitted changes to {', '.join(dirty)}" if dirty else ""
    return f"digest {code['digest']} = {commit}{extra} (taken {code.get('date_utc', '?')})"


def _sharing(runs: dict[int, dict], machine: dict) -> str:
    """Whether other jobs competed for the cores, from the load averages around each run."""
    loads = [load for run in runs.values()
             for load in [*(run.get("load_avg_1min") or []), run.get("load_avg_1min_mean")]
             if load is not None]  # fmt: skip
    if loads and max(loads) > machine["cores"]:
        return (f"**The {machine['cores']} cores were shared with other jobs while this ran** (1-minute load average "
                f"up to {max(loads):.1f} around the runs, see the table): the job got less than {machine['cores']} "
                "cores, so wall times are upper bounds; CPU seconds are the steadier measure.")  # fmt: skip
    return f"The 1-minute load average stayed at or below {machine['cores']} around every run."


def check_step_names() -> dict[str, str]:
    """Step keys of asset checks (``<asset>_<check>``) mapped to ``asset.check``."""
    try:
        from residua.pipelines.definitions import all_checks
    except Exception:  # noqa: BLE001 - the report must render even if the library does not import
        return {}
    names = {}
    for checks in all_checks:
        for key in checks.check_keys:
            asset = key.asset_key.to_user_string()
            names[f"{asset}_{key.name}"] = f"{asset}.{key.name}"
    return names


def _target_rows(runs: dict[int, dict]) -> list[str]:
    def wall(n: int) -> float | None:
        run = runs.get(n)
        return run.get("process_wall_s") if run and run.get("success") else None

    rows = []
    w10k = wall(10000)
    rows.append(f"| 10,000 sites under 10 min | {_fmt(w10k)} s | "
                f"{'not run' if w10k is None else ('pass' if w10k < TARGET_WALL_S_10K else 'FAIL')} |")  # fmt: skip
    peaks = {n: r.get("peak_rss_total_mb") for n, r in runs.items() if r.get("success")}
    if peaks:
        n_max = max(peaks)
        peak = peaks[n_max]
        verdict = "pass" if peak < TARGET_PEAK_RSS_MB else "FAIL"
        if peak < TARGET_PEAK_RSS_MB and peak * MB >= 4e9:
            verdict = (
                f"pass against 4 GiB ({100 * (1 - peak / TARGET_PEAK_RSS_MB):.0f} % margin); "
                "FAIL if 4 GB means 4e9 bytes"
            )
        if n_max < 10000:
            verdict += f" at {n_max:,} sites (10,000 not run)"
        rows.append(
            f"| peak RSS under 4 GB | {peak:,.0f} MiB = {peak / 1024:.2f} GiB = {peak * MB / 1e9:.2f} GB at {n_max:,} "
            f"sites (main + workers) | {verdict} |"
        )
    for low, high in ((100, 1000), (1000, 10000)):
        a, b = wall(low), wall(high)
        if a and b:
            ratio = b / a
            rows.append(f"| {high:,} / {low:,} sites within 12x the time | {ratio:.1f}x | "
                        f"{'pass' if ratio <= TARGET_GROWTH else 'FAIL'} |")  # fmt: skip
        else:
            rows.append(f"| {high:,} / {low:,} sites within 12x the time | - | not run |")
    return rows


def driver_main(args: argparse.Namespace) -> int:
    """Generate, run and measure every size; profile; write the results page."""
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    json_out = args.out.with_suffix(".json")
    results = {"sizes": {}}
    if json_out.is_file() and not args.fresh:
        previous = json.loads(json_out.read_text())
        if previous.get("seed") == args.seed and previous.get("draws") == args.draws:
            results["sizes"] = previous.get("sizes", {})
            results["profile"] = previous.get("profile")
    results.update(seed=args.seed, draws=args.draws, n_jobs=args.n_jobs, machine=machine_facts(),
                   command="python benchmarks/scale_benchmark.py " + " ".join(sys.argv[1:]))  # fmt: skip
    results["notes"] = [f"- {note}" for note in args.note]
    if args.live_code:
        code_root, code_digest = ROOT, "live tree"
    elif args.code_snapshot:  # an earlier run's frozen copy, so that sizes run apart still run the same code
        code_root, code_digest = args.code_snapshot.resolve(), args.code_snapshot.name.removeprefix("code_")
    else:
        code_root, code_digest = snapshot_code(workdir)
    if code_root != ROOT:  # the harness itself is always this script's current version
        shutil.copy(Path(__file__).resolve(), code_root / "benchmarks" / "scale_benchmark.py")
    code = code_provenance(code_root, code_digest)
    print(f"Code: {code_root} (digest {code_digest})", flush=True)
    for n_sites in args.sizes:
        drop, meta, generate_s = drop_for(workdir, n_sites, args.seed, args.gen_jobs, not args.regenerate)
        report = run_child(workdir, n_sites, drop, args, code_root=code_root)
        if generate_s is None:  # a cached drop: keep the time measured when it was generated, if known
            generate_s = results["sizes"].get(str(n_sites), {}).get("generate_s")
        report.update(drop=meta, generate_s=generate_s, code_digest=code_digest, code=code, command=results["command"],
                      measured_utc=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
        results["sizes"][str(n_sites)] = report
        print(f"[{n_sites}] {'ok' if report.get('success') else 'FAILED'}: "
              f"process wall {report.get('process_wall_s')} s, "
              f"peak RSS {report.get('peak_rss_total_mb')} MiB (main + workers)", flush=True)  # fmt: skip
        _write(results, args.out, json_out)
    if args.profile:
        measured = [int(n) for n, r in results["sizes"].items() if r.get("success") and int(n) in args.sizes]
        if measured:
            n_sites = max(measured)
            timed = results["sizes"][str(n_sites)]
            assets = [s for s in timed["steps"] if s["kind"] == "asset"]
            slowest = max(assets, key=lambda s: s["wall_s"])
            drop = workdir / f"drop_{n_sites}_seed{args.seed}"
            report = run_child(workdir, n_sites, drop, args, profile_stage=slowest["step"], code_root=code_root)
            stage_steps = [s for s in report.get("steps", []) if s["step"] == slowest["step"]]
            results["profile"] = {
                "n_sites": n_sites, "stage": slowest["step"], "timed_wall_s": slowest["wall_s"],
                "timed_process_wall_s": timed["process_wall_s"],
                "wall_s": stage_steps[0]["wall_s"] if stage_steps else float("nan"),
                "text": profile_text(workdir / f"profile_{n_sites}.prof", slowest["step"], args.profile_top),
                "prof_file": str(workdir / f"profile_{n_sites}.prof"),
                "code_digest": code_digest,
            }  # fmt: skip
            _write(results, args.out, json_out)
    print(f"Wrote {args.out} and {json_out}")
    return 0 if all(r.get("success") for r in results["sizes"].values()) else 1


def _write(results: dict, md_path: Path, json_path: Path) -> None:
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    md_path.write_text(render(results), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="numbers of sites")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the generated drops (default {SEED})")
    parser.add_argument("--run-seed", type=int, default=20261125, help="the job's --seed (default as residua run)")
    parser.add_argument("--draws", type=int, default=2000, help="Monte Carlo draws per site (default as residua run)")
    parser.add_argument("--n-jobs", type=int, default=None, help="the job's n_jobs (default: the settings' default, 2)")
    parser.add_argument("--gen-jobs", type=int, default=2, help="processes generating a drop (default 2)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "residua_scale_benchmark",
                        help="drops, outputs, logs and profiles (kept, so drops are reused)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale_benchmark.md")
    parser.add_argument("--regenerate", action="store_true", help="regenerate drops even when cached")
    parser.add_argument("--fresh", action="store_true", help="forget sizes measured earlier")
    parser.add_argument("--profile", action="store_true", help="cProfile the slowest asset at the largest size")
    parser.add_argument("--profile-top", type=int, default=25, help="functions listed per profile table")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before a run is stopped")
    parser.add_argument("--note", action="append", default=[], help="a line for the Notes section (repeatable)")
    parser.add_argument("--live-code", action="store_true", help="run the checkout itself, not a frozen copy of it")
    parser.add_argument("--code-snapshot", type=Path, help="run this earlier frozen copy (WORKDIR/code_<digest>)")
    parser.add_argument("--render-only", action="store_true", help="rewrite the page from the JSON beside it")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    parser.add_argument("--profile-stage", help=argparse.SUPPRESS)
    parser.add_argument("--profile-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render_only:
        results = json.loads(args.out.with_suffix(".json").read_text())
        profile = results.get("profile") or {}
        if profile.get("prof_file") and Path(profile["prof_file"]).is_file():
            profile["text"] = profile_text(Path(profile["prof_file"]), profile["stage"], args.profile_top)
        args.out.write_text(render(results), encoding="utf-8")
        return 0
    if args.child:
        args.out = Path(args.out)
        return child_main(args)
    return driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
