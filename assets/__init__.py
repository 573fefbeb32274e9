"""Dagster assets and asset checks, one module per stage; each body calls geodata/ or models/."""
