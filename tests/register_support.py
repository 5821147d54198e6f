"""Test support for the register: a real PostgreSQL server started from the system's packages.

`postgres_server()` finds `initdb`/`pg_ctl` (installing Debian's `postgresql` package with
apt-get when missing and running as root, else skipping), runs `initdb` in a temporary
folder as an unprivileged user (`nobody`), starts the server on a free loopback port with
its socket in that folder, and stops it at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _install() -> Path | None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=False, capture_output=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "postgresql"], check=False, capture_output=True, env=env)
    return _pg_bin()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "nobody", "--", *command]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL server; yields a base URL without database (…/)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg absent (pip install 'psycopg[binary]')")
    bindir = _pg_bin() or _install()
    if bindir is None:
        pytest.skip("PostgreSQL absent (initdb, pg_ctl) et installation impossible")
    folder = Path(tempfile.mkdtemp(prefix="parcours-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    port = _free_port()
    try:
        subprocess.run(_as_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "parcours",
                                 "-E", "UTF8", "--no-locale"]), check=True, capture_output=True)
        subprocess.run(_as_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                                 f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as error:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL n'a pas démarré : {error.stderr!r} {log}") from None
    try:
        yield f"postgresql+psycopg://parcours@127.0.0.1:{port}/"
    finally:
        subprocess.run(_as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(base: str, name: str) -> str:
    """Create an empty database on the server at `base`; its URL."""
    import psycopg

    dsn = base.replace("postgresql+psycopg://", "postgresql://") + "postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base + name
