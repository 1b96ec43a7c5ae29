from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Postgres for the session-store tests: one throw-away cluster (Unix socket in a temp dir)
# per test session, started only when a test asks for it, and a fresh database per test.
# It never skips: without Postgres installed the tests fail (scripts/setup.sh installs it).
_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    from agentkit.testing import PostgresServer

    with PostgresServer(fsync=False) as url:
        yield url


@pytest.fixture
def pg_database(pg_server: str) -> str:
    """The URL of a new, empty database on the test cluster."""
    import psycopg

    name = f"t{next(_databases)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.replace("/postgres?", f"/{name}?")
