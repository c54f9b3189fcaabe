"""Errors and exit codes shared by the commands and the library."""
from __future__ import annotations

# The exit codes of every nianbao command (one place: nianbao/cli.py, ingest/cli.py, review/cli.py).
EXIT_OK = 0
EXIT_SOME_FAILED = 1   # ran, but some inputs failed (or none was found)
EXIT_USAGE = 2         # bad arguments, a missing store or model
EXIT_SIGINT = 130      # stopped by Ctrl-C (128 + SIGINT)
EXIT_SIGTERM = 143     # stopped by SIGTERM (128 + SIGTERM)


class ReadError(Exception):
    """A file that cannot be read as a report. ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
