"""The dataset card (README.md of a factory run), from ``dataset_card.md`` and the run's counts.

The card holds counts and settings only (no timestamps, no timings), so a run is byte-identical
for one seed.
"""
from __future__ import annotations

import json
import shlex
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dataset import RunSummary, SynthConfig

# Traits whose values are per-document numbers, not categories (left out of the trait tables).
_NOT_CATEGORICAL = ("page_break_row", "content.year")


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}%" if n else "0%"


def _line(counter: dict, n: int) -> str:
    return ", ".join(f"{k} {v} ({_pct(v, n)})" for k, v in sorted(counter.items())) or "none"


def _command(config: "SynthConfig") -> str:
    parts = ["nianbao", "synth", "--n", str(config.n), "--kinds", ",".join(config.kinds), "--seed", str(config.seed),
             "--out", str(Path(config.out).name)]
    defaults = type(config.options)()
    if config.options.broken_fraction != defaults.broken_fraction:
        parts += ["--broken-fraction", str(config.options.broken_fraction)]
    for k, v in sorted(config.options.force.items()):
        parts += ["--force", f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}"]
    return " ".join(shlex.quote(p) for p in parts)


def _split_value(tag: str) -> tuple[str, str]:
    name, _, value = tag.partition("=")
    return name, value


def write_card(out: Path, config: "SynthConfig", summary: "RunSummary", options: dict[str, Any]) -> None:
    from .dataset import SPLITS

    template = Template(resources.files("nianbao.training.factory").joinpath("dataset_card.md").read_text("utf-8"))
    n = summary.documents
    data_files = "\n".join(f"  - split: {name}\n    path: data/{name}-*.parquet" for name, _ in SPLITS)
    doc_rows = []
    for tag, count in sorted(summary.doc_traits.items()):
        name, value = _split_value(tag)
        if name.endswith(_NOT_CATEGORICAL):
            continue
        doc_rows.append(f"| {name} | {value} | {count} |")
    kind_rows = []
    for (kind, tag), count in sorted(summary.kind_traits.items()):
        name, value = _split_value(tag)
        kind_rows.append(f"| {kind} | {name} | {value} | {count} |")
    skipped = f" Skipped (renderer module not installed): {', '.join(summary.skipped_kinds)}." if summary.skipped_kinds else ""
    text = template.substitute(
        data_files=data_files, n=n, seed=config.seed, command=_command(config),
        renderings=sum(summary.renderings.values()),
        kinds_line=", ".join(f"{k} {v}" for k, v in summary.renderings.items()) or "none",
        skipped_line=skipped, templates_line=_line(summary.templates, n), broken=summary.broken,
        broken_pct=_pct(summary.broken, n), tables_line=_line(summary.tables, n), splits_line=_line(summary.splits, n),
        aligned_line=", ".join(f"{k} {v:.4f}" for k, v in sorted(summary.aligned_min.items())) or "n/a",
        options_json=json.dumps(options, ensure_ascii=False, indent=1, sort_keys=True),
        doc_traits="\n".join(doc_rows), kind_traits="\n".join(kind_rows),
    )
    (Path(out) / "README.md").write_text(text, encoding="utf-8")
