"""Packaging: a wheel is the same product as the checkout, and the core install extracts without
the training stack.

The slow test builds the wheel, installs it (no dependencies) into a fresh virtual environment that
borrows this interpreter's packages, and extracts a copy of a real report from a folder outside the
checkout with the training-only modules blocked: values, confidences and model version must be the
checkout's. The fast tests cover the light core, ``NIANBAO_MODEL_DIR`` and the loud missing model.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nianbao import resources
from nianbao.inference.pipeline import Pipeline, PipelineOptions
from nianbao.resources import ModelMissing

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "real_005.txt"
# Only training, calibration fitting and the report factory import these ([train] extra).
TRAINING_ONLY = ("torch", "transformers", "datasets", "sklearn", "onnx", "pymupdf", "fitz")

# Run in a subprocess: block the training-only modules (an import of any of them raises ImportError),
# extract argv[1] with the default options, print what must match between installs.
EXTRACT = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None
if "--installed-only" in sys.argv:
    # The venv borrows this interpreter's site-packages, where the editable install's finder would
    # serve any nianbao module the wheel lacks from the checkout: drop it.
    sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import nianbao
from nianbao import extract, resources
doc = extract(sys.argv[1])
from nianbao.ingest.worker import models_digest
print(json.dumps({{
    "models_digest": models_digest(),
    "package": nianbao.__file__,
    "model_dir": str(resources.classifier_dir()),
    "error": None if doc.error is None else doc.error.code,
    "model_version": doc.model_version,
    "template": doc.template,
    "fields": {{k: [f.value, f.confidence] for k, f in sorted(doc.fields.items())}},
    "nianbao_outside_prefix": sorted(m.__name__ for m in list(sys.modules.values()) if m is not None
                                     and m.__name__.startswith("nianbao") and getattr(m, "__file__", None)
                                     and not m.__file__.startswith(sys.prefix)),
    "blocked_loaded": sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m] is not None),
}}, ensure_ascii=False))
""".format(blocked=TRAINING_ONLY)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (resources.MODEL_DIR_ENV, "PYTHONPATH")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def extract_in(python: str, document: Path, cwd: Path, *flags: str) -> dict:
    out = subprocess.run([python, "-c", EXTRACT, str(document), *flags], cwd=cwd, env=clean_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def same_product(got: dict, want: dict) -> None:
    assert got["error"] is None and want["error"] is None
    assert got["model_version"] == want["model_version"] and want["model_version"]
    assert got["template"] == want["template"]
    assert got["fields"].keys() == want["fields"].keys() and len(want["fields"]) > 100
    differ = [k for k in want["fields"] if got["fields"][k] != want["fields"][k]]
    assert not differ, f"{len(differ)} fields differ, e.g. {[(k, got['fields'][k], want['fields'][k]) for k in differ[:5]]}"


def test_extraction_needs_no_training_stack(tmp_path):
    """The classifier reads a real report with torch, transformers, datasets (...) unimportable."""
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    got = extract_in(sys.executable, tmp_path / EXAMPLE.name, tmp_path)
    assert got["blocked_loaded"] == []
    want = nianbao_extract(EXAMPLE)
    same_product(got, want)


def nianbao_extract(path: Path, options: PipelineOptions | None = None) -> dict:
    doc = Pipeline(options).run(path)
    return {"error": None if doc.error is None else doc.error.code, "model_version": doc.model_version,
            "template": doc.template, "fields": {k: [f.value, f.confidence] for k, f in sorted(doc.fields.items())}}


def test_missing_model_is_an_error_and_baseline_stays_available(tmp_path, monkeypatch):
    # A models folder with the calibration map but no classifier: the default mapper must refuse.
    shutil.copy(ROOT / "models" / "calibration.json", tmp_path / "calibration.json")
    monkeypatch.setenv(resources.MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelMissing) as err:
        Pipeline()
    message = str(err.value)
    assert str(tmp_path / "token_classifier") in message and resources.MODEL_DIR_ENV in message
    assert "--spotter baseline" in message
    baseline = nianbao_extract(EXAMPLE, PipelineOptions(spotter="baseline"))
    assert baseline["error"] is None and baseline["model_version"] is None
    assert baseline["fields"]["requests.new.total"][0] == 74


def test_cli_says_the_model_is_missing_in_one_line(tmp_path, monkeypatch, capsys):
    from nianbao.cli import EXIT_USAGE, main

    monkeypatch.setenv(resources.MODEL_DIR_ENV, str(tmp_path))
    assert main(["extract", str(EXAMPLE)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("nianbao extract: the token classifier is missing") and "\n" not in err


def test_missing_calibration_map_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "token_classifier").symlink_to(ROOT / "models" / "token_classifier", target_is_directory=True)
    monkeypatch.setenv(resources.MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelMissing, match="calibration map is missing"):
        Pipeline()
    assert Pipeline(PipelineOptions(calibrate=False)).run(EXAMPLE).error is None


def test_model_dir_variable_points_at_another_models_folder(tmp_path, monkeypatch):
    """NIANBAO_MODEL_DIR is read when a pipeline is built: its classifier (here the shipped graph
    under another version name) is the one that reads."""
    shipped = ROOT / "models"
    classifier = tmp_path / "token_classifier"
    classifier.mkdir()
    (classifier / "model.onnx").symlink_to(shipped / "token_classifier" / "model.onnx")
    meta = json.loads((shipped / "token_classifier" / "labels.json").read_text(encoding="utf-8"))
    meta["model_version"] = "token_classifier@elsewhere"
    (classifier / "labels.json").write_text(json.dumps(meta), encoding="utf-8")
    for name in (resources.CALIBRATION_FILE, resources.VALUE_PRIOR_FILE):
        (tmp_path / name).symlink_to(shipped / name)
    want = nianbao_extract(EXAMPLE)
    monkeypatch.setenv(resources.MODEL_DIR_ENV, str(tmp_path))
    assert resources.classifier_dir() == classifier.resolve()
    got = nianbao_extract(EXAMPLE)
    assert got["model_version"] == "token_classifier@elsewhere"
    assert got["fields"] == want["fields"]


def test_every_folder_of_modules_is_a_listed_package():
    """pyproject.toml lists packages by hand (the top-level folders map into ``nianbao``): a new
    subfolder of modules not listed there would be missing from the wheel."""
    tomllib = pytest.importorskip("tomllib")
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    package_dir: dict[str, str] = setup["package-dir"]
    roots = {Path(folder): name for name, folder in package_dir.items()}
    found = set()
    for folder, name in roots.items():
        for module in (ROOT / folder).rglob("*.py"):
            if "__pycache__" in module.parts:
                continue
            rel = module.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert sorted(found - set(setup["packages"])) == []


# Files the wheel must carry (paths inside it): the model, its calibration, the value prior, the
# schema, the review app, the OCR layout model, the training configs, the bundled reports.
SHIPPED = [
    "nianbao/models/__init__.py",
    "nianbao/models/token_classifier/model.onnx",
    "nianbao/models/token_classifier/labels.json",
    "nianbao/models/calibration.json",
    "nianbao/models/value_prior.json",
    "nianbao/models/registry.json",
    "nianbao/labels/schema.json",
    "nianbao/review/templates/document.html",
    "nianbao/review/static/review.js",
    "nianbao/inference/ocr/models/layout_cdla.onnx",
    "nianbao/training/configs/token_classifier.cfg",
    "nianbao/examples/real_005.txt",  # the bundled gold labels point at ../../examples
]


# What the build reads: the project files and the folders pyproject.toml maps into the package.
BUILD_INPUTS = ("pyproject.toml", "README.md", "nianbao", "inference", "labels", "training", "ingest", "review",
                "models", "examples")


def build_wheel(source: Path, out: Path) -> Path:
    """Built from a copy, so setuptools' build/ and egg-info never land in the shared checkout."""
    tree = out / "src"
    tree.mkdir(parents=True)
    for name in BUILD_INPUTS:
        if (source / name).is_dir():
            shutil.copytree(source / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source / name, tree / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(tree)], check=True, env=clean_env(), capture_output=True, timeout=300)
    (wheel,) = out.glob("nianbao-*.whl")
    return wheel


def install_in_fresh_venv(wheel: Path, venv: Path) -> str:
    """A venv that borrows this interpreter's packages (numpy, onnxruntime...) but not its nianbao."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
                    "--ignore-installed", str(wheel)], check=True, env=clean_env(), capture_output=True, timeout=300)
    return python


def core_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    return [line.split(":", 1)[1].strip() for line in meta.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


@pytest.mark.slow
def test_wheel_is_the_same_product_as_the_checkout(tmp_path):
    wheel = build_wheel(ROOT, tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [p for p in SHIPPED if p not in names] == []
    core = " ".join(core_requirements(wheel)).lower()
    assert all(name not in core for name in ("torch", "transformers", "datasets")), core

    python = install_in_fresh_venv(wheel, tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"  # outside the checkout: nothing can be found relative to it
    elsewhere.mkdir()
    shutil.copy(EXAMPLE, elsewhere / EXAMPLE.name)
    installed = extract_in(python, elsewhere / EXAMPLE.name, elsewhere, "--installed-only")
    assert Path(installed["package"]).is_relative_to(tmp_path / "venv")
    assert installed["nianbao_outside_prefix"] == []  # every nianbao module came from the wheel
    assert Path(installed["model_dir"]).is_relative_to(tmp_path / "venv")
    assert installed["blocked_loaded"] == []

    checkout = extract_in(sys.executable, EXAMPLE, ROOT)
    assert Path(checkout["package"]).is_relative_to(ROOT)
    same_product(installed, checkout)
    assert installed["models_digest"] == checkout["models_digest"]  # ingest's staleness fingerprint

    # The bundled gold labels and the reports they point at travel too: same scores installed.
    installed_eval = evaluate_json(python, elsewhere, "--installed-only")
    assert installed_eval["totals"]["documents"] == len(list((ROOT / "labels" / "gold").glob("*.json")))
    assert installed_eval == evaluate_json(sys.executable, ROOT)


EVALUATE = """
import sys
if "--installed-only" in sys.argv:  # as in EXTRACT
    sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
from nianbao.cli import main
sys.exit(main(["evaluate", "--json"]))
"""


def evaluate_json(python: str, cwd: Path, *flags: str) -> dict:
    out = subprocess.run([python, "-c", EVALUATE, *flags], cwd=cwd, env=clean_env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)
