"""Each session test runs on SQLite and on a real Postgres server (`pg_database`)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sessions')}/sessions.db"
    return str(request.getfixturevalue("pg_database"))
