"""The full-job runs behind ``test_full_runs.py``, started early and run in the background.

Seven ``residua run --draws 100`` subprocesses on the small prism drop:

- ``first`` and ``second``: the same inputs into two out/ folders (idempotence);
- ``together_a`` and ``together_b``: the same inputs into one out/, at the same time;
- ``hostile``: a drop whose site_id is ``../../../escape``;
- ``killed_first_staging`` and ``killed_inventory_staging``: once ``first`` is done, changed
  inputs into copies of its out/, each SIGKILLed at one moment of publishing (polled ~1 ms).

``tests/reliability/conftest.py`` starts them when the session begins (if any full-run test
is selected) and moves the full-run tests to the end, so the other tests use the time the
subprocesses take. Every run goes through ``_audited_cli.py``; the drops carry planted pickles.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from tests.drops import write_prism_drop
from tests.reliability.helpers import plant_pickles, staging_dirs, start_run, wait

ESCAPING_ID = "../../../escape"

#: Moments of publishing at which a run is killed, as conditions on its out/ folder.
KILL_POINTS: dict[str, Callable[[Path], bool]] = {
    # the first .staging-* folder to appear: the grade report's
    "first_staging": lambda out: bool(staging_dirs(out)),
    # the inventory's staging folder, while inventory.gpkg is being written into it
    "inventory_staging": lambda out: any((folder / "inventory.gpkg").exists() for folder in staging_dirs(out)),
}


class FullRuns:
    """Start the runs, then answer for their outcomes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.marker = root / "UNPICKLED"
        self.drop = write_prism_drop(root / "drop")
        self.hostile_drop = write_prism_drop(root / "hostile_drop")
        self.changed_drop = root / "changed_drop"
        sites = gpd.read_file(self.hostile_drop / "sites.gpkg")
        sites.loc[sites["site_id"] == "P1", "site_id"] = ESCAPING_ID  # samples find their site by location
        sites.to_file(self.hostile_drop / "sites.gpkg", layer="sites")
        for drop in (self.drop, self.hostile_drop):
            plant_pickles(drop, self.marker)
        self.outs: dict[str, Path] = {
            "first": root / "first" / "out",
            "second": root / "second" / "out",
            "together_a": root / "together" / "out",
            "together_b": root / "together" / "out",
            "hostile": root / "hostile" / "work" / "out",
            **{f"killed_{point}": root / f"killed_{point}" / "out" for point in KILL_POINTS},
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.killed: dict[str, bool] = {}  # kill point -> killed at that point (False: the run ended first)
        self._kills = threading.Thread(target=self._kill_runs, name="residua-kill-runs", daemon=True)
        self._stop = threading.Event()

    @property
    def drops(self) -> tuple[Path, ...]:
        return (self.drop, self.hostile_drop, self.changed_drop)

    def start(self) -> FullRuns:
        (self.root / "hostile" / "work").mkdir(parents=True)
        for name in ("first", "second", "together_a", "together_b", "hostile"):
            drop = self.hostile_drop if name == "hostile" else self.drop
            self.processes[name] = start_run(drop, self.outs[name], self.root / f"{name}.log")
        self._kills.start()
        return self

    def finished(self, name: str) -> tuple[int, str]:
        """Exit status and output of a run, waiting for it."""
        if name.startswith("killed_"):
            self.wait_for_kills()
        status = wait(self.processes[name])
        return status, (self.root / f"{name}.log").read_text()

    def succeeded(self, *names: str) -> None:
        for name in names:
            status, log = self.finished(name)
            assert status == 0, f"run {name} failed:\n{log[-3000:]}"

    def wait_for_kills(self, timeout: float = 400) -> None:
        self._kills.join(timeout)
        assert not self._kills.is_alive(), "the kill runs did not finish"
        assert set(self.killed) == set(KILL_POINTS), f"the kill runs did not start: {self.killed}"

    def stop(self) -> None:
        self._stop.set()
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        self._kills.join(10)

    def _kill_runs(self) -> None:
        """Once ``first`` is published: start the kill runs and SIGKILL each at its point."""
        while self.processes["first"].poll() is None:
            if self._stop.wait(0.05):
                return
        if self.processes["first"].returncode != 0:
            return
        shutil.copytree(self.drop, self.changed_drop)
        samples = pd.read_csv(self.changed_drop / "samples.csv", dtype=str, keep_default_na=False)
        samples = samples[samples["hole_id"] != "P1-5"]  # one hole fewer and richer gallium: new models
        samples["ga_ppm"] = (samples["ga_ppm"].astype(float) * 3).map("{:.2f}".format)
        samples.to_csv(self.changed_drop / "samples.csv", index=False)
        pending = {}
        for point in KILL_POINTS:
            out = self.outs[f"killed_{point}"]
            shutil.copytree(self.outs["first"], out)
            name = f"killed_{point}"
            self.processes[name] = start_run(self.changed_drop, out, self.root / f"{name}.log")
            pending[point] = self.processes[name]
        deadline = time.monotonic() + 300
        while pending and time.monotonic() < deadline and not self._stop.is_set():
            for point, process in list(pending.items()):
                if process.poll() is not None:
                    self.killed[point] = False
                elif KILL_POINTS[point](self.outs[f"killed_{point}"]):
                    process.kill()
                    process.wait()
                    self.killed[point] = True
                else:
                    continue
                del pending[point]
            time.sleep(0.001)
