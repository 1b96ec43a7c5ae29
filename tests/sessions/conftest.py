"""A throw-away Postgres cluster (Unix socket, temp dir) for the whole test session, and a
store URL fixture that runs each test on SQLite and on Postgres. Postgres never skips: a
missing installation fails the tests (scripts/setup.sh installs it)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from agentkit.testing import PostgresServer

_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with PostgresServer(fsync=False) as url:
        yield url


def fresh_database(server_url: str) -> str:
    """A new empty database on the test cluster; its URL."""
    import psycopg

    name = f"t{next(_databases)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.replace("/postgres?", f"/{name}?")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sessions')}/sessions.db"
    return fresh_database(request.getfixturevalue("pg_server"))
