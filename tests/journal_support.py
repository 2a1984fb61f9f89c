"""Journal test fixtures: a real PostgreSQL server on loopback, and journals over SQLite and PostgreSQL.

Test modules import the fixtures they use (``from journal_support import journal, journal_url, ...``).
The server is started once per test session, whichever module asks first, and stopped by PID at the end.
It uses Debian's server binaries (``/usr/lib/postgresql/*/bin``), which ``make test`` installs.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from remote_support.journal import Journal

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server bin directory, or None."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
             if os.access(Path(p).parent / "postgres", os.X_OK)]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


class PostgresServer:
    """A throwaway cluster: initdb into a temp dir, postgres on 127.0.0.1:<free port>, trust auth."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rs-journal-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.process: subprocess.Popen | None = None
        self._names = itertools.count(1)
        # initdb and postgres refuse to run as root: use Debian's postgres user when we are root
        self._as: dict = {}
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("user postgres is missing: it comes with Debian's postgresql package "
                                   "(apt-get install -y postgresql)") from None
            self._as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.dir.chmod(0o700)

    def start(self) -> None:
        env = {"PATH": f"{self.bindir}:/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.dir)}
        init = subprocess.run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--locale=C", "--no-sync"], capture_output=True, text=True, check=False,
                              env=env, cwd=self.dir, timeout=120, **self._as)
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port),
                 "-k", str(self.dir), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=300"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.dir, start_new_session=True, **self._as)
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"postgres did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"journal_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


_server: PostgresServer | None = None


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL server (one, however many modules import this fixture)."""
    global _server
    if _server is None:
        bindir = postgres_bin()
        if bindir is None:
            pytest.fail("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are missing: the journal "
                        "tests need a real server; `make test` installs them (Debian package postgresql), or run "
                        "apt-get install -y postgresql", pytrace=False)
        server = PostgresServer(bindir)
        server.start()
        _server = server
    try:
        yield _server
    finally:
        if _server is not None:
            _server.stop()
            _server = None


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request, tmp_path) -> str:
    """A URL of a new, empty journal: a SQLite file, or a database of the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def journal(journal_url):
    with Journal.open(journal_url) as journal:
        yield journal
