"""Run settings shared by every asset: where the data drop is, where outputs go, tunables."""


from pathlib import Path

import dagster as dg


class ResiduaSettings(dg.ConfigurableResource):
    """Paths and tunables for one inventory run (set from the CLI or the Dagster launchpad)."""

    data_dir: str = "geodata/demo"
    out_dir: str = "out"
    n_draws: int = 2000
    seed: int = 20261125
    dem_vertical_sd_m: float = 0.3
    min_dem_coverage: float = 0.9
    tonnage_ratio_low: float = 0.5
    tonnage_ratio_high: float = 2.0

    @property
    def data_path(self) -> Path:
        """The data drop folder, absolute."""
        return Path(self.data_dir).resolve()

    @property
    def out_path(self) -> Path:
        """The output folder, absolute."""
        return Path(self.out_dir).resolve()
