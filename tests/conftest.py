"""Fixtures more than one test module uses."""
from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL cluster for the session (tests/pg_server.py): skipped where no server
    binaries exist, a failure under CI; each test makes its own database on it (``create_database``)."""
    from pg_server import start_server

    server = start_server()
    yield server
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)
