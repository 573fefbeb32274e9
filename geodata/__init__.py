"""Residua geodata: readers, validation, rasters and writers (no Dagster)."""
