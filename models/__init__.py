"""Residua models: grades, tonnage, simulation, confidence and ranking (no Dagster)."""
