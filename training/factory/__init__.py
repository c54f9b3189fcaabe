"""The report factory: labelled synthetic reports in every form real ones take (text, HTML, DOCX, PDF, scan).

``build_report(seed, FactoryOptions())`` (in ``build``) is the entry point; ``nianbao synth``
(``cli`` / ``dataset``) writes renderings, gold and a Parquet dataset. Names are exported lazily so
that importing the package (``nianbao`` registers its commands on every run) stays cheap.
"""
from __future__ import annotations

from typing import Any

__all__ = ["build_report", "FactoryOptions"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from .build import build_report

        return build_report
    if name == "FactoryOptions":
        from .options import FactoryOptions

        return FactoryOptions
    raise AttributeError(name)
