from __future__ import annotations


class ReadError(Exception):
    """A file that cannot be read as a report. ``code`` is stable and machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
