"""The model registry: every version of the token classifier, which one is installed, and why.

Layout under the registry root (``models/`` of the project by default)::

    registry.json            tracked: {"model", "current", "rule", "versions": [entry, ...]}
    cards/<version>.md       tracked: one model card per version, promoted or not
    token_classifier/        the installed model, what inference loads (inference/classifier.py):
                             model.onnx, labels.json ("model_version"), torch/ (fp16 weights to fine-tune),
                             MODEL_CARD.md (the card of the installed version), metrics.json
    candidates/<version>/    gitignored: what ``nianbao retrain`` trained; a refused candidate stays here
                             until someone deletes it (a dry run's is ``<version>.dry-run/``)
    reports/<version>.json   gitignored: the full report of each round (per-document scores)
    archive/<version>/       gitignored: an installed model replaced by a promotion, kept whole so it
                             can be put back by hand (see ``models/README.md``)

A version is ``token_classifier@N``; N counts every candidate (refused ones too), so a version names
one set of weights for good. An entry records ``version``, ``created``, ``parent``, ``promoted``,
``reason``, ``held_out`` (old and new scores on the same held-out documents and which documents),
``data``, ``config``, ``card`` and ``files`` (paths relative to the registry root), ``onnx_sha256``.
The store of results records the ``model_version`` each document was read with
(``nianbao ingest --reprocess-stale`` rereads those a newer version did not make).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Optional

from nianbao.inference.classifier import read_model_version

MODEL = "token_classifier"
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "models"
_VERSION = re.compile(rf"^{MODEL}@(\d+)$")


def version_number(version: str) -> int:
    m = _VERSION.match(version or "")
    if not m:
        raise ValueError(f"not a {MODEL} version: {version!r}")
    return int(m.group(1))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def set_model_version(model_dir: Path, version: str) -> None:
    """Write ``model_version`` into a model folder's labels.json (what inference reports per result)."""
    path = Path(model_dir) / "labels.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model_version"] = version
    _write_atomic(path, json.dumps(data, ensure_ascii=False))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def clear_model_caches() -> None:
    """Inference caches loaded models and their versions by folder path: forget them after a swap."""
    from nianbao.inference import classifier

    classifier.load_classifier.cache_clear()
    classifier.model_version.cache_clear()


class ModelRegistry:
    """``registry.json`` and the model folders beside it (see the module docstring)."""

    def __init__(self, root: Path | str = DEFAULT_ROOT):
        self.root = Path(root)

    # -- where things live ---------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.root / "registry.json"

    @property
    def installed_dir(self) -> Path:
        return self.root / MODEL

    @property
    def candidates_dir(self) -> Path:
        return self.root / "candidates"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    @property
    def cards_dir(self) -> Path:
        return self.root / "cards"

    def candidate_dir(self, version: str) -> Path:
        return self.candidates_dir / version

    def card_path(self, version: str) -> Path:
        return self.cards_dir / f"{version}.md"

    def rel(self, path: Path) -> str:
        """A path as the registry stores it: relative to its root."""
        return Path(os.path.relpath(Path(path).resolve(), self.root.resolve())).as_posix()

    # -- registry.json -------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        if self.path.exists():
            return json.loads(self.path.read_text(encoding="utf-8"))
        # No registry yet: the installed model is its first entry.
        version = read_model_version(self.installed_dir)
        data: dict[str, Any] = {"model": MODEL, "current": version, "versions": []}
        if version:
            data["versions"].append({"version": version, "created": None, "parent": None, "promoted": True,
                                     "reason": "installed before the registry existed",
                                     "files": self.rel(self.installed_dir)})
        return data

    def save(self, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")

    @property
    def current(self) -> Optional[str]:
        return self.load().get("current")

    def versions(self) -> list[dict[str, Any]]:
        return list(self.load().get("versions", []))

    def entry(self, version: str) -> dict[str, Any]:
        for e in self.versions():
            if e["version"] == version:
                return e
        raise KeyError(f"{version} is not in {self.path}")

    def next_version(self) -> str:
        """One more than every version recorded, installed or archived (a candidate folder no entry
        records, left by a dry run or a crash, is overwritten)."""
        seen = [e["version"] for e in self.versions()]
        seen.append(read_model_version(self.installed_dir) or "")
        if self.archive_dir.is_dir():
            seen += [p.name.split("+")[0] for p in self.archive_dir.iterdir()]
        numbers = [int(m.group(1)) for v in seen if (m := _VERSION.match(v))]
        return f"{MODEL}@{max(numbers, default=0) + 1}"

    def record(self, entry: dict[str, Any]) -> None:
        """Add a version's entry (or replace the entry of the same version)."""
        data = self.load()
        versions = [e for e in data.get("versions", []) if e["version"] != entry["version"]]
        versions.append(entry)
        data["versions"] = sorted(versions, key=lambda e: version_number(e["version"]))
        self.save(data)

    def write_card(self, version: str, text: str) -> Path:
        path = self.card_path(version)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, text)
        return path

    # -- promotion -----------------------------------------------------------------------------
    def promote(self, version: str) -> Path:
        """Install candidate ``version``: the old installed folder moves to archive/<its version>, the
        candidate folder is renamed into its place (two renames on one file system: inference sees
        the old model or the new one, at worst for an instant no model, when it falls back to the
        baseline), labels.json gets the version, registry.json its new ``current``."""
        candidate = self.candidate_dir(version)
        for name in ("model.onnx", "labels.json"):
            if not (candidate / name).exists():
                raise FileNotFoundError(f"candidate {version} has no {name} in {candidate}")
        set_model_version(candidate, version)
        installed = self.installed_dir
        old_version = read_model_version(installed) if installed.exists() else None
        archived = None
        if installed.exists():
            self.archive_dir.mkdir(parents=True, exist_ok=True)
            archived = self.archive_dir / (old_version or "unversioned")
            if archived.exists():  # reinstalled and replaced again: keep both
                archived = archived.with_name(f"{archived.name}+{now().replace(':', '')}")
            os.rename(installed, archived)
        try:
            os.rename(candidate, installed)
        except OSError:
            if archived is not None:
                os.rename(archived, installed)
            raise
        data = self.load()
        data["current"] = version
        stamp = now()
        for e in data.get("versions", []):
            if e["version"] == version:
                e.update(promoted=True, promoted_at=stamp, files=self.rel(installed))
            elif old_version and e["version"] == old_version and archived is not None:
                e.update(files=self.rel(archived), replaced_by=version, replaced_at=stamp)
        self.save(data)
        clear_model_caches()
        return installed

    def discard_candidate(self, version: str) -> None:
        shutil.rmtree(self.candidate_dir(version), ignore_errors=True)

    # -- consistency ---------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Problems between registry.json, the installed folder and the cards (empty when consistent)."""
        problems = []
        data = self.load()
        installed = read_model_version(self.installed_dir)
        if data.get("current") != installed:
            problems.append(f"registry current {data.get('current')!r} but the installed model is {installed!r}")
        versions = [e["version"] for e in data.get("versions", [])]
        if data.get("current") not in versions:
            problems.append(f"current {data.get('current')!r} has no entry")
        if len(set(versions)) != len(versions):
            problems.append("a version is recorded twice")
        for e in data.get("versions", []):
            card = e.get("card")
            if not card or not (self.root / card).exists():
                problems.append(f"{e['version']}: model card {card!r} missing")
        return problems
