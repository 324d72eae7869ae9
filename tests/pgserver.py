"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, `initdb` on a
temporary folder, `pg_ctl` on a free port of 127.0.0.1, fsync off. Never used in production."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from digest.errors import StoreError


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


@dataclass
class PostgresServer:
    """A running server; `url(schema)` addresses one schema of its `digest` database."""

    folder: Path
    port: int
    binaries: Path
    user: str = "digest"

    def url(self, schema: str | None = None, database: str = "digest") -> str:
        base = f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"
        return base if schema is None else f"{base}?options=-csearch_path%3D{schema}%2Cpublic"

    def restart(self) -> None:
        """Stop the server as an administrator would (`pg_ctl restart -m fast`: every session
        is ended) and start it again with the same options; returns once it accepts."""
        _as_owner(
            [
                str(self.binaries / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-l",
                str(self.folder / "server.log"),
                "-m",
                "fast",
                "-w",
                "-t",
                "120",
                "restart",
            ]
        )

    def stop(self) -> None:
        _as_owner(
            [
                str(self.binaries / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_owner(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """initdb refuses to run as root: root runs the server as Debian's `postgres` user."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise StoreError(f"could not start a PostgreSQL server ({command[-1]}: {last})")
    return done


def start(port: int) -> PostgresServer:
    """initdb + pg_ctl start on 127.0.0.1:`port`; the `digest` role owns the `digest` database."""
    binaries = find_binaries()
    if binaries is None:
        raise StoreError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="digest-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, log = folder / "data", folder / "server.log"
    _as_owner(
        [
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "digest",
            "--locale=C",
            "-E",
            "UTF8",
            "--no-sync",
        ]
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    _as_owner(
        [
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            "120",
            "start",
        ]
    )
    server = PostgresServer(folder, port, binaries)
    _create_database(server)
    return server


def _create_database(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(server.url(database="postgres"), autocommit=True) as connection:
                connection.execute("CREATE DATABASE digest")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with psycopg.connect(server.url(), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS citext")
