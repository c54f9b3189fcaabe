"""Where the shipped models are found: one place, the same in a checkout and in an installed wheel.

The project's top-level ``models/`` folder is the package ``nianbao.models`` (``pyproject.toml`` maps
it and lists its files as package data), so ``importlib.resources`` finds the same files whether
nianbao runs from the checkout (editable install) or from a wheel in site-packages.

``NIANBAO_MODEL_DIR`` points at another folder laid out like ``models/`` (``token_classifier/``,
``calibration.json``, ``value_prior.json``): the classifier and the calibration fitted for it travel
together, so one variable switches both. It is read on every call, not at import.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

MODEL_DIR_ENV = "NIANBAO_MODEL_DIR"
MODELS_PACKAGE = "nianbao.models"
CLASSIFIER_FOLDER = "token_classifier"
CALIBRATION_FILE = "calibration.json"
VALUE_PRIOR_FILE = "value_prior.json"


class ModelMissing(FileNotFoundError):
    """A model file that extraction needs is not where nianbao looks for it."""


def models_dir() -> Path:
    """The models folder in use: ``$NIANBAO_MODEL_DIR`` when set, else the shipped ``nianbao.models``."""
    override = os.environ.get(MODEL_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    return shipped_models_dir()


def shipped_models_dir() -> Path:
    """The ``nianbao.models`` package folder (``models/`` of the checkout, ``nianbao/models`` in a wheel)."""
    try:
        root = resources.files(MODELS_PACKAGE)
    except ModuleNotFoundError as e:
        # An editable install made before models/ became a package maps no nianbao.models.
        raise ModelMissing(f"the package {MODELS_PACKAGE} is not installed ({e}); reinstall nianbao "
                           f"(pip install -e . in a checkout) or set {MODEL_DIR_ENV}") from e
    if not isinstance(root, Path):  # a zip import: the ONNX runtime needs real files
        raise ModelMissing(f"{MODELS_PACKAGE} is not a folder on disk ({root!r}); install nianbao unzipped")
    return root


def classifier_dir() -> Path:
    """The installed token classifier's folder (``model.onnx``, ``labels.json``)."""
    return models_dir() / CLASSIFIER_FOLDER


def calibration_path() -> Path:
    return models_dir() / CALIBRATION_FILE


def value_prior_path() -> Path:
    return models_dir() / VALUE_PRIOR_FILE


def where(path: Path) -> str:
    """How a missing file was looked for, for error messages."""
    source = f"{MODEL_DIR_ENV}={os.environ[MODEL_DIR_ENV]}" if os.environ.get(MODEL_DIR_ENV, "").strip() \
        else f"the shipped {MODELS_PACKAGE} package"
    return f"{path} (from {source})"
