"""A throwaway PostgreSQL server for the team-database tests.

``initdb`` into a temporary folder (as the ``postgres`` user when the tests run as root: initdb
refuses root), a server on 127.0.0.1 and a free port, trust authentication, C locale (byte order, as
SQLite sorts). Where no server binaries exist the tests skip, except under ``CI=true``, where they fail
(.ci/run installs Debian's postgresql).
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

SUPERUSER = "nianbao"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str):
    """Skip locally, fail under CI (the team-database tests must run there)."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def server_bindir() -> Optional[Path]:
    """The folder of initdb/pg_ctl: PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
                   if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    bindir: Path
    folder: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        data = self.folder / "data"
        r = self._run(str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                      "--locale=C", "--no-sync")
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr[-2000:]}")
        r = self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "server.log"), "-w",
                      "-t", "60", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F -c max_connections=60",
                      "start")
        if r.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-2000:] if (self.folder / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {r.stderr[-2000:]} {log}")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")


def start_server() -> Server:
    bindir = server_bindir()
    if bindir is None:
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql to run these tests")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed: pip install 'nianbao[postgres]'")
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="nianbao-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no postgres user to run the server as")
        if not shutil.which("runuser"):
            unavailable("running as root without runuser to start the server as the postgres user")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = Server(bindir=bindir, folder=folder, port=free_port(), run_as=run_as)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(folder, ignore_errors=True)
        unavailable(f"the PostgreSQL test server did not start: {e}")
    return server


def create_database(server: Server, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.database_url(name)
