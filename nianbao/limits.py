"""Memory caps of one document, shared by `nianbao ingest` (a worker process) and `nianbao extract`.

The cap is an address-space limit (``RLIMIT_AS``): an allocation past it raises ``MemoryError``
in the document that made it, which is then failed with the code ``memory`` and the run goes on.
"""
from __future__ import annotations

import resource
from contextlib import contextmanager
from typing import Iterator, Optional


def set_memory_limit(max_memory_mb: int) -> None:
    """The whole process may use at most this much address space (an ingest worker: one document at a time)."""
    if max_memory_mb and max_memory_mb > 0:
        _set_soft(int(max_memory_mb) * 1024 * 1024)


def _set_soft(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def address_space_bytes() -> Optional[int]:
    """This process's address space now (Linux /proc), or None where unknown."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@contextmanager
def document_memory_cap(max_memory_mb: int) -> Iterator[None]:
    """For one document in a process that does other work too (`nianbao extract`): the document may grow
    the address space by at most ``max_memory_mb``; the previous limit is restored afterwards."""
    if not max_memory_mb or max_memory_mb <= 0:
        yield
        return
    before = resource.getrlimit(resource.RLIMIT_AS)
    now = address_space_bytes()
    if now is None:  # not Linux: no baseline, no cap
        yield
        return
    _set_soft(now + int(max_memory_mb) * 1024 * 1024)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, before)


def is_memory_error(message: Optional[str]) -> bool:
    """A pipeline error message that reports a MemoryError caught in one of its stages."""
    return bool(message) and message.startswith("MemoryError")
