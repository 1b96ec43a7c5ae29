"""Conversations that outlive the process: sessions in SQLite or Postgres.

    store = open_store("sqlite:///chat.db")          # or "sqlite://" (memory), "postgresql://..."
    session = store.session("user-42")
    await agent.run("Hello", session=session)        # loads the history, commits as it goes
    await store.aclose()

Every completed exchange (an assistant message and all of its tool results) is committed when
it completes; a run that crashes keeps what it finished. Two runs on one session are
serialised (the second waits up to `lock_timeout` seconds, then `SessionBusy`). `ttl` expires
idle sessions; `await store.prune()` deletes them.
"""

from __future__ import annotations

from datetime import timedelta

from ..errors import UserError
from .repair import repair_messages
from .store import SCHEMA_VERSION, Session, SessionBusy, SessionError, SessionInfo, Store

__all__ = [
    "SCHEMA_VERSION",
    "Session",
    "SessionBusy",
    "SessionError",
    "SessionInfo",
    "Store",
    "open_store",
    "repair_messages",
]


def open_store(url: str, *, ttl: float | timedelta | None = None, lock_timeout: float = 30.0,
               pool_size: int = 10) -> Store:
    """A `Store` for `sqlite:///path/file.db`, `sqlite://` (in memory) or `postgresql://...`.

    As in SQLAlchemy, `sqlite:///chat.db` is relative to the working directory and
    `sqlite:////var/lib/app/chat.db` absolute.
    `ttl` (seconds or a timedelta): sessions idle for longer are expired (not listed, loaded
    as empty, deleted by `prune()`). `lock_timeout`: how long a run waits for a session
    another run holds. `pool_size`: Postgres connections (a running run holds one).
    Nothing connects until first use.
    """
    if isinstance(ttl, timedelta):
        ttl = ttl.total_seconds()
    if ttl is not None and ttl <= 0:
        raise UserError("ttl must be positive")
    if lock_timeout < 0:
        raise UserError("lock_timeout must be >= 0")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "sqlite":
        from .sqlite import SQLiteBackend

        path = rest[1:] if rest.startswith("/") else rest
        backend: object = SQLiteBackend(path or None)
    elif sep and scheme in ("postgresql", "postgres"):
        from .postgres import PostgresBackend

        backend = PostgresBackend("postgresql://" + rest, pool_size=pool_size)
    else:
        raise UserError(f"unsupported session store URL {url.split('@')[-1]!r}: use "
                        "sqlite:///path.db, sqlite:// or postgresql://...")
    return Store(backend, url=url, ttl=ttl, lock_timeout=lock_timeout)  # type: ignore[arg-type]
