"""The project's own store of fitted grade models, each saved beside a JSON model card.

A fitted model is a joblib pickle, and loading a pickle runs code, so the store loads
only what it wrote itself and only after checking it:

* the path resolves inside the store's root, in the store's layout
  ``<root>/<element>/<model_id>/model.joblib`` (``..`` and symlinks that lead out of the
  root, or symlinks anywhere in that layout, are refused);
* the model card ``card.json`` sits beside the artifact, names the same element and model
  id, and its content still hashes to that id (the id is a content hash of the card);
* the artifact's SHA-256 equals the one on the card; the bytes that were hashed are the
  bytes that are unpickled, so the file cannot change between the check and the load.

The root itself may not overlap a data directory or an output folder (``forbidden``):
nothing a data drop contains, and nothing published, is ever loaded as a model.

The checks catch files from elsewhere and files changed after they were saved; they are
not a signature. Someone who can write to the store can also rewrite a card, so the store
belongs in a folder only the project's user can write to (the Dagster instance folder).

The model card is plain JSON that a geologist can read: the element, the model form
chosen, the SHA-256 of the training rows, the features, parameters, cross-validation
metrics against the baselines and the library versions that produced the model.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import platform
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from residua.geodata.provenance import code_version
from residua.models.grade_workflow import ElementFit
from residua.models.report import validation_tables

MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"
CARD_SCHEMA = "residua.model_card/1"
#: Libraries whose versions go on every card (the distribution names pip knows).
LIBRARIES: tuple[str, ...] = ("numpy", "pandas", "scipy", "scikit-learn", "pykrige", "joblib", "geopandas")
#: Columns of the composites table the within-site block models are fitted on.
BLOCK_MODEL_FEATURES: tuple[str, ...] = ("x_m", "y_m", "depth_m")
_ELEMENT = re.compile(r"[a-z]{1,8}")
_MODEL_ID = re.compile(r"(?P<element>[a-z]{1,8})-[0-9a-f]{16}")
#: Card keys that are not part of the content the model id hashes.
_NOT_HASHED = ("model_id", "created_utc")


class ModelStoreError(ValueError):
    """A model store that overlaps data or outputs, or a model it refuses to load."""


@dataclass(frozen=True)
class StoredModel:
    """A model saved in the store: its id, element, folder and card."""

    model_id: str
    element: str
    directory: Path
    card: dict

    @property
    def card_path(self) -> Path:
        """The model card's JSON file."""
        return self.directory / CARD_FILE

    @property
    def artifact_path(self) -> Path:
        """The joblib artifact."""
        return self.directory / MODEL_FILE


class ModelStore:
    """Fitted models with their model cards, in a folder owned by the project.

    Parameters
    ----------
    root : str or Path
        The store's folder (created on the first save). Residua uses ``models`` under the
        Dagster instance folder.
    forbidden : iterable of Path
        Folders the store may neither lie in nor contain, e.g. the data drop and the
        output folder.

    Raises
    ------
    ModelStoreError
        If ``root`` lies inside, or contains, a forbidden folder.

    Examples
    --------
    >>> import tempfile
    >>> store = ModelStore(Path(tempfile.mkdtemp()) / "models")
    >>> saved = store.save({"weights": [1.0, 2.0]}, {"element": "ga"})
    >>> model, card = store.load(saved.model_id)
    >>> model["weights"], card["artifact"]["sha256"] == saved.card["artifact"]["sha256"]
    ([1.0, 2.0], True)
    """

    def __init__(self, root: str | os.PathLike, forbidden: Iterable[str | os.PathLike] = ()) -> None:
        self.root = Path(root).resolve()
        for folder in forbidden:
            other = Path(folder).resolve()
            if self.root.is_relative_to(other) or other.is_relative_to(self.root):
                raise ModelStoreError(
                    f"model store {self.root} overlaps {other}; the store must be a folder of its own, outside "
                    "the data and output folders, so nothing from a data drop is ever loaded as a model: "
                    "set model_store_dir elsewhere (default: 'models' in the Dagster instance folder)"
                )

    def save(self, model: object, card: Mapping) -> StoredModel:
        """Pickle ``model`` with joblib and write its card; return where it went.

        Parameters
        ----------
        model
            The fitted object.
        card
            Card fields (``element`` is required), e.g. from ``element_card``; the store adds
            ``model_id``, ``created_utc`` and ``artifact`` (file name, bytes, SHA-256).

        Returns
        -------
        StoredModel
            Saving identical content twice returns the model already stored.
        """
        element = _checked_element(card.get("element"))
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        payload = buffer.getvalue()
        fields = {key: value for key, value in _jsonable(dict(card)).items() if key not in (*_NOT_HASHED, "artifact")}
        content = {"schema": CARD_SCHEMA, **fields}
        content["artifact"] = {"file": MODEL_FILE, "format": "joblib", "bytes": len(payload),
                               "sha256": hashlib.sha256(payload).hexdigest()}  # fmt: skip
        model_id = f"{element}-{_content_hash(content)[:16]}"
        full = {"model_id": model_id, "created_utc": datetime.now(UTC).isoformat(), **content}
        text = json.dumps(full, indent=2, allow_nan=False) + "\n"
        final = self.root / element / model_id
        if final.exists() or final.is_symlink():
            try:
                self.verify(model_id)
            except ModelStoreError:
                _remove(final)  # a damaged or edited copy is replaced by the fresh one
            else:  # the same model fitted again: keep the artifact, refresh the card's time
                _write_atomic(final / CARD_FILE, text)
                return StoredModel(model_id, element, final, full)
        staging = self.root / element / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            (staging / MODEL_FILE).write_bytes(payload)
            (staging / CARD_FILE).write_text(text, encoding="utf-8")
            try:
                os.replace(staging, final)
            except OSError:
                if not (final / CARD_FILE).is_file():
                    raise  # else a concurrent run saved the same content first
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return StoredModel(model_id, element, final, full)

    def load(self, model_id: str) -> tuple[object, dict]:
        """The model and card stored under ``model_id``, after checking both (see ``load_path``)."""
        return self.load_path(self._directory(model_id) / MODEL_FILE)

    def load_path(self, path: str | os.PathLike) -> tuple[object, dict]:
        """Load an artifact by path, only if the store wrote it and it is unchanged.

        Parameters
        ----------
        path
            ``<root>/<element>/<model_id>/model.joblib`` (or its folder); a relative path is
            taken relative to the store's root.

        Returns
        -------
        (model, card)

        Raises
        ------
        ModelStoreError
            If the path leads outside the store or out of its layout, passes through a
            symlink, has no valid card, or its SHA-256 differs from the card's.
        """
        directory = self._model_directory(path)
        card, payload = self._checked(directory)
        return _unpickle_verified(payload), card

    def verify(self, model_id: str) -> dict:
        """Check a stored model's card and artifact hash without loading it; return the card."""
        return self._checked(self._model_directory(self._directory(model_id)))[0]

    def cards(self, element: str | None = None) -> list[dict]:
        """Every model card in the store (JSON only, nothing unpickled), newest first."""
        return [card for _, card in self._listing(element)]

    def prune(self, element: str, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest models of ``element``; return the deleted ids."""
        if keep < 1:
            raise ModelStoreError(f"keep={keep} would delete every model; keep at least 1")
        doomed = [directory for directory, _ in self._listing(_checked_element(element))[keep:]]
        for directory in doomed:
            shutil.rmtree(directory, ignore_errors=True)
        folder = self.root / element
        for staging in folder.glob(".tmp-*") if folder.is_dir() and not folder.is_symlink() else ():
            shutil.rmtree(staging, ignore_errors=True)  # left by a save that was killed mid-write
        return [directory.name for directory in doomed]

    def _directory(self, model_id: str) -> Path:
        match = _MODEL_ID.fullmatch(str(model_id))
        if match is None:
            raise ModelStoreError(
                f"model id {model_id!r} is not of the form '<element>-<16 hex digits>', e.g. 'ga-0123456789abcdef'; "
                "list the stored models with `residua models`"
            )
        return self.root / match["element"] / model_id

    def _listing(self, element: str | None) -> list[tuple[Path, dict]]:
        """(folder, card) of every stored model with a readable card naming that folder, newest first."""
        if not self.root.is_dir():
            return []
        folders = [self.root / _checked_element(element)] if element else sorted(self.root.iterdir())
        found = []
        for folder in folders:
            if not (_ELEMENT.fullmatch(folder.name) and folder.is_dir() and not folder.is_symlink()):
                continue
            for directory in sorted(folder.iterdir()):
                if not (_MODEL_ID.fullmatch(directory.name) and directory.is_dir() and not directory.is_symlink()):
                    continue
                try:
                    card = json.loads(_read_no_follow(directory / CARD_FILE).decode("utf-8"))
                except (OSError, ValueError):
                    continue  # a folder without a readable card is not a model; load() refuses it too
                if isinstance(card, dict) and card.get("model_id") == directory.name:
                    found.append((directory, card))
        return sorted(found, key=lambda item: (str(item[1].get("created_utc", "")), item[0].name), reverse=True)

    def _model_directory(self, path: str | os.PathLike) -> Path:
        """The model folder ``path`` names, refusing anything outside the store's layout."""
        given = Path(path)
        candidate = given if given.is_absolute() else self.root / given
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError) as error:
            message = f"no model at {given}: {error}; list the stored models with `residua models`"
            raise ModelStoreError(message) from None
        if not resolved.is_relative_to(self.root):
            raise ModelStoreError(
                f"{given} resolves to {resolved}, outside the model store {self.root}; Residua loads models only "
                "from its own store, never from a data or user-supplied file: refit by materializing grade_models"
            )
        if resolved != Path(os.path.normpath(candidate)):
            raise ModelStoreError(
                f"{given} passes through a symlink (it resolves to {resolved}); the store never writes symlinks, "
                "so it loads none: pass the model id instead"
            )
        parts = resolved.relative_to(self.root).parts
        if parts and parts[-1] == MODEL_FILE:
            parts = parts[:-1]
        match = _MODEL_ID.fullmatch(parts[-1]) if len(parts) == 2 else None
        if match is None or match["element"] != parts[0]:
            expected = self.root / "<element>" / "<model_id>" / MODEL_FILE
            raise ModelStoreError(f"{given} is not a stored model: expected {expected}")
        return self.root.joinpath(*parts)

    def _checked(self, directory: Path) -> tuple[dict, bytes]:
        """(card, artifact bytes) of a model folder, once the card and the hash agree."""
        model_id, element = directory.name, directory.parent.name
        try:
            card = json.loads(_read_no_follow(directory / CARD_FILE).decode("utf-8"))
        except FileNotFoundError:
            raise ModelStoreError(f"{directory} has no {CARD_FILE}; a model without its card is never loaded") from None
        except OSError as error:
            raise ModelStoreError(f"{directory / CARD_FILE} cannot be read safely ({error}); refit the model") from None
        except ValueError as error:
            raise ModelStoreError(f"{directory / CARD_FILE} is not valid JSON ({error}); refit the model") from None
        if not isinstance(card, dict) or card.get("model_id") != model_id or card.get("element") != element:
            named = (card.get("model_id"), card.get("element")) if isinstance(card, dict) else None
            raise ModelStoreError(
                f"card {directory / CARD_FILE} names model and element {named!r}, expected "
                f"{(model_id, element)!r}; the card was moved or edited: refit the model"
            )
        try:
            digest = _content_hash({key: value for key, value in card.items() if key not in _NOT_HASHED})
        except ValueError:  # NaN or Infinity: never written by the store
            digest = ""
        if f"{element}-{digest[:16]}" != model_id:
            raise ModelStoreError(
                f"card {directory / CARD_FILE} no longer hashes to its id {model_id}: it was edited after saving"
            )
        try:
            payload = _read_no_follow(directory / MODEL_FILE)
        except FileNotFoundError:
            raise ModelStoreError(f"{directory} has a card but no {MODEL_FILE}; refit the model") from None
        except OSError as error:
            raise ModelStoreError(
                f"{directory / MODEL_FILE} cannot be read safely ({error}); refit the model"
            ) from None
        artifact = card.get("artifact")
        expected = artifact.get("sha256") if isinstance(artifact, dict) else None
        actual = hashlib.sha256(payload).hexdigest()
        if actual != expected:
            raise ModelStoreError(
                f"{directory / MODEL_FILE} has SHA-256 {actual}, but its card records {expected}: the artifact "
                "changed after it was saved and will not be loaded; refit by materializing grade_models"
            )
        return card, payload


def training_data_sha256(table: pd.DataFrame) -> str:
    """SHA-256 of a table's content, independent of row order, column order and index.

    Columns are sorted by name; each row becomes canonical JSON (floats in their shortest
    exact form, missing values as null, other values as text); the rows are sorted.

    Examples
    --------
    >>> a = pd.DataFrame({"x": [1.0, 2.0], "site_id": ["s1", "s2"]})
    >>> training_data_sha256(a) == training_data_sha256(a.iloc[::-1][["site_id", "x"]])
    True
    >>> training_data_sha256(a) == training_data_sha256(a.assign(x=[1.0, 2.5]))
    False
    """
    columns = sorted(str(column) for column in table.columns)
    frame = table.set_axis([str(column) for column in table.columns], axis=1)[columns]
    rows = sorted(json.dumps([_canonical(value) for value in row], separators=(",", ":"), allow_nan=False)
                  for row in frame.itertuples(index=False, name=None))  # fmt: skip
    digest = hashlib.sha256(json.dumps(columns).encode("utf-8"))
    for row in rows:
        digest.update(b"\n" + row.encode("utf-8"))
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Python, the numerical libraries and Residua's own code version, by name."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    versions["residua"] = code_version()
    return versions


def element_card(
    fit: ElementFit,
    fit_options: Mapping[str, object] | None = None,
    tables: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> dict:
    """Model-card fields of one element's fit (the store adds id, time and artifact hash).

    Parameters
    ----------
    fit
        Output of ``models.grade_workflow.fit_element``.
    fit_options
        The scalar options it was fitted with (composite length, top-cut fence, draws, seed).
    tables
        This element's ``models.report.validation_tables`` when the caller has them
        (computed here otherwise).

    Returns
    -------
    dict
        ``element``, ``model_form``, ``training_data`` (SHA-256, rows, sites, holes,
        columns), ``features``, ``parameters``, ``metrics`` (site-level leave-one-site-out
        and within-site blocked CV, each with the baselines) and ``library_versions``.
    """
    model, composites = fit.model, fit.composites
    site_level, within_site = tables if tables is not None else validation_tables({fit.element: fit})
    block_forms = pd.Series([block.chosen for block in fit.blocks.values()], dtype=object).value_counts()
    return _jsonable(
        {
            "element": fit.element,
            "model_form": {
                "site_model": "hierarchical_covariates" if fit.covariates else "hierarchical",
                "site_model_class": f"{type(model).__module__}.{type(model).__name__}",
                "block_models": {str(form): int(count) for form, count in block_forms.items()},
            },
            "training_data": {
                "sha256": training_data_sha256(composites),
                "description": "prepared composites (models.preparation.prepare_grades, site covariates joined)",
                "rows": len(composites),
                "sites": int(composites["site_id"].nunique()) if "site_id" in composites else 0,
                "holes": int(composites["hole_id"].nunique()) if "hole_id" in composites else 0,
                "columns": [str(column) for column in composites.columns],
            },
            "features": {
                "site_model": ["residue_type", *fit.covariates],
                "site_model_groups": ["site_id", "hole_id"],
                "block_model": list(BLOCK_MODEL_FEATURES),
                "target": "log_grade (natural log of g/t)",
                "sample_weight": "weight",
            },
            "parameters": {
                "site_model": model.get_params(),
                "site_model_fitted": _fitted_summary(model),
                "preparation": fit.preparation,
                "fit_options": dict(fit_options or {}),
                "block_models": {
                    site: {"chosen": block.chosen, "interval_scale": block.interval_scale, "block_size_m": block.cell_m}
                    for site, block in sorted(fit.blocks.items())
                },
            },
            "metrics": {
                "units": "log-grade: rmse, mae, bias, r2 and coverage80 (share inside the 80 % interval) on held-out "
                "data; grade (g/t): rmse_gt, relative_rmse_gt (rmse / mean observed grade), metal_bias (relative)",
                "site_level": site_level.drop(columns="element", errors="ignore").to_dict("records"),
                "within_site": within_site.drop(columns="element", errors="ignore").to_dict("records"),
            },
            "library_versions": library_versions(),
        }
    )


def _checked_element(element: object) -> str:
    if not isinstance(element, str) or not _ELEMENT.fullmatch(element):
        raise ModelStoreError(f"element {element!r} is not 1-8 lowercase letters; pass e.g. 'ga'")
    return element


def _fitted_summary(model: object) -> dict:
    """Residue-type-level learned attributes of the site model (not per-site values)."""
    names = ("tau_", "n_sites_", "sigma_w_", "mean_sigma_w_", "type_mean_", "type_mean_sd_", "coef_")
    return {name: getattr(model, name) for name in names if hasattr(model, name)}


def _unpickle_verified(payload: bytes) -> object:
    """Unpickle bytes whose SHA-256 matched their store card (the store's only unpickling)."""
    return joblib.load(io.BytesIO(payload))


def _read_no_follow(path: Path) -> bytes:
    """A file's bytes, refusing a symlink in the last component (O_NOFOLLOW where available)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read()


def _write_atomic(path: Path, text: str) -> None:
    staging = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)


def _content_hash(content: Mapping) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: object) -> object:
    """One cell as a JSON value: exact floats, null for missing, text for anything else."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        return number if math.isfinite(number) else str(number)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "wkb_hex"):
        return value.wkb_hex
    return str(value)


def _jsonable(value: object) -> object:
    """Plain JSON types throughout: numpy scalars and arrays, Series, tuples; NaN and inf as null."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, pd.Series):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
