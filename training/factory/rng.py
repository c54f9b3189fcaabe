"""Seeds and recorded choices: every random decision of the factory comes from one document seed.

A run seed gives each document its own seed (``document_seed``); a document seed gives each
purpose (content, layout, prose, each renderer) an independent stream (``stream``), so adding a
rendering choice never changes the values of a document, and a document can be rebuilt alone.

Style choices go through a :class:`Chooser`: each is recorded as a trait of the document (for the
dataset card and for per-variant measurement) and can be forced by name (for tests and for the
baseline measurement, which varies one trait at a time).
"""
from __future__ import annotations

import random
import zlib
from typing import Mapping, Optional, Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def document_seed(run_seed: int, index: int) -> int:
    """Seed of document ``index`` of a run seeded ``run_seed`` (independent SeedSequence children)."""
    state = np.random.SeedSequence(entropy=run_seed, spawn_key=(index,)).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)  # 63 bits: fits a signed int64 column


def _purpose_state(seed: int, purpose: str) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(purpose.encode("utf-8")),))


def stream(seed: int, purpose: str) -> random.Random:
    """A ``random.Random`` for one purpose of one document (Python's generator: fast scalar draws)."""
    words = _purpose_state(seed, purpose).generate_state(4, dtype=np.uint32)
    return random.Random(sum(int(w) << (32 * i) for i, w in enumerate(words)))


def numpy_stream(seed: int, purpose: str) -> np.random.Generator:
    """A numpy Generator for one purpose of one document (for image work: PDF and scan renderers)."""
    return np.random.default_rng(_purpose_state(seed, purpose))


class Chooser:
    """Random choices recorded as traits under ``prefix + name``; a forced trait wins over chance."""

    def __init__(self, rng: random.Random, traits: dict[str, object],
                 force: Optional[Mapping[str, object]] = None, prefix: str = ""):
        self.rng = rng
        self.traits = traits
        self.force = force or {}
        self.prefix = prefix

    def forced(self, name: str) -> bool:
        return self.prefix + name in self.force

    def pick(self, name: str, options: Sequence[T], weights: Optional[Sequence[float]] = None) -> T:
        full = self.prefix + name
        if full in self.force:
            value = self.force[full]
        else:
            value = self.rng.choices(options, weights=weights)[0] if weights else options[self.rng.randrange(len(options))]
        self.traits[full] = value
        return value  # type: ignore[return-value]

    def flag(self, name: str, p: float) -> bool:
        """A yes/no trait that is yes with probability ``p``."""
        return bool(self.pick(name, (True, False), (p, 1.0 - p)))

    def note(self, name: str, value: object) -> None:
        """Record a trait that was derived, not drawn (it can still be read by analyses)."""
        self.traits[self.prefix + name] = value
