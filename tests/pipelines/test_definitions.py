"""The Definitions object loads, and the asset graph has the shape the README describes."""

import dagster as dg

from residua.pipelines.definitions import defs

SOURCES = ("sites_file", "samples_file", "reviews_file", "hubs_file", "reference_files", "dem_rasters",
           "covariate_rasters", "drop_description", "review_decisions")  # fmt: skip
EXPECTED_DEPS = {
    **{source: set() for source in SOURCES},
    "reference_tables": {"reference_files"},
    "sites": {"sites_file", "dem_rasters"},
    "samples": {"samples_file", "sites", "reference_tables"},
    "site_volumes": {"dem_rasters", "sites"},
    "site_tonnage": {"sites", "site_volumes", "reference_tables"},
    "site_features": {"covariate_rasters", "sites", "samples", "site_tonnage"},
    "grade_models": {"covariate_rasters", "samples", "sites", "site_features", "reference_tables"},
    "grade_model_report": {"drop_description", "grade_models"},
    "grade_rasters": {"drop_description", "sites", "grade_models"},
    "grade_estimates": {"site_features", "grade_models"},
    "simulation_inputs": {"site_features", "grade_estimates", "reference_tables"},
    "resource_estimates": {"site_features", "simulation_inputs"},
    "reviews": {"reviews_file", "review_decisions"},
    "site_rankings": {"resource_estimates", "reviews", "reference_tables"},
    "processing_hubs": {"hubs_file", "sites", "simulation_inputs", "site_rankings"},
    "grade_tonnage": {"site_features", "grade_estimates", "reference_tables"},
    "sampling_plan": {
        "grade_models",
        "reference_tables",
        "samples",
        "simulation_inputs",
        "site_features",
        "site_rankings",
        "sites",
    },  # fmt: skip
    "inventory": {
        "drop_description",
        "reference_tables",
        "sites",
        "samples",
        "site_volumes",
        "site_rankings",
        "reviews",
        "processing_hubs",
        "grade_tonnage",
        "sampling_plan",
    },
    "review_report": {"inventory", "grade_model_report", "reviews_file"},
    "release": {"inventory", "grade_model_report", "grade_rasters", "review_report"},
}


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    deps = {
        key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert deps == EXPECTED_DEPS


def test_blocking_checks_guard_ingest():
    names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"sites_rows_conserved", "samples_rows_conserved", "sites_not_empty"} <= names


def test_every_asset_has_a_description():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).description, key


def test_refresh_job_resolves():
    job = defs.resolve_job_def("refresh_job")
    assert isinstance(job, dg.JobDefinition)
