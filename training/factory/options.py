"""Settings of the report factory. Defaults follow what the real reports show (see the spec)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping


@dataclass(frozen=True)
class FactoryOptions:
    # Fraction of documents whose tables break rules 1-4 on purpose, the way a third of real ones do.
    broken_fraction: float = 0.3
    years: tuple[int, int] = (2019, 2024)
    # Reports of 2021 or later still printed in the v2019 format.
    late_v2019_fraction: float = 0.08
    # Documents whose Table B is all zeros (most small bodies receive no request).
    zero_requests_fraction: float = 0.45
    # Which tables a document prints (the rest print all three).
    no_tables_fraction: float = 0.04
    no_appeals_fraction: float = 0.06
    appeals_heading_only_fraction: float = 0.03
    no_proactive_fraction: float = 0.02
    # v2021 documents printing one v2019-style （六）其他处理 row, and tables without the 规章 row.
    single_other_row_fraction: float = 0.15
    no_rules_row_fraction: float = 0.12
    # Table B continues on a new page (the renderers split it there).
    page_break_fraction: float = 0.35
    # Trait name -> value: forces a style choice ("text.style": "pipes"); for tests and measurement.
    force: Mapping[str, object] = field(default_factory=dict)

    def with_force(self, traits: Mapping[str, object]) -> "FactoryOptions":
        """A copy with more traits forced (later ones win)."""
        return replace(self, force={**self.force, **traits})
