"""Postgres sessions: `psycopg` 3, async, with a pool (`pip install 'agentkit[postgres]'`).

A run takes one pooled connection for its whole length and holds the session's lock on it:
a session-level advisory lock keyed by the session id (a lock on the session's row would
block the run's own updates of that row from its transactions). The run's writes go over the
same connection, so a run whose connection died cannot write any more; the server drops the
lock when the connection closes, so a killed process never leaves a session locked.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ..messages import Message
from .store import (
    KEEP,
    SCHEMA_VERSION,
    SessionBusy,
    SessionError,
    SessionInfo,
    decode_messages,
    decode_state,
    encode_message,
    to_datetime,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from ..approval import RunState

__all__ = ["PostgresBackend"]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS agentkit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS agentkit_sessions (
        id TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL, message_count INTEGER NOT NULL DEFAULT 0,
        paused JSONB)""",
    "CREATE INDEX IF NOT EXISTS agentkit_sessions_updated ON agentkit_sessions (updated)",
    """CREATE TABLE IF NOT EXISTS agentkit_messages (
        session_id TEXT NOT NULL REFERENCES agentkit_sessions (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL, v INTEGER NOT NULL, data JSONB NOT NULL,
        PRIMARY KEY (session_id, seq))""",
]
_SCHEMA_LOCK = 0x61676B7400000001  # advisory key serialising concurrent schema creation


def _lock_key(session_id: str) -> int:
    """A signed 64-bit advisory-lock key for a session id."""
    digest = hashlib.blake2b(b"agentkit-session\0" + session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _load(conn: AsyncConnection[Any], session_id: str, expire_before: float | None,
                drop_expired: bool) -> tuple[list[Message], RunState | None]:
    async with conn.pipeline():  # both queries in one round trip
        head = await conn.execute("SELECT updated, paused::text FROM agentkit_sessions "
                                  "WHERE id=%s", (session_id,))
        body = await conn.execute("SELECT seq, v, data::text FROM agentkit_messages "
                                  "WHERE session_id=%s ORDER BY seq", (session_id,))
    row = await head.fetchone()
    rows = await body.fetchall()
    if row is None:
        return [], None
    if expire_before is not None and row[0] < expire_before:
        if drop_expired:
            await conn.execute("DELETE FROM agentkit_sessions WHERE id=%s AND updated < %s",
                               (session_id, expire_before))
        return [], None
    if len(rows) > 64:  # validating a long history would hold up the event loop
        messages = await anyio.to_thread.run_sync(decode_messages, session_id, rows)
    else:
        messages = decode_messages(session_id, rows)
    return messages, decode_state(session_id, row[1])


# One statement (so one round trip, and atomic in autocommit mode): upsert the session row,
# take the next sequence numbers from its count, insert the rows, optionally set `paused`.
_APPEND = """
WITH s AS (
    INSERT INTO agentkit_sessions AS s (id, created, updated, message_count, paused)
    VALUES (%(id)s, %(now)s, %(now)s, %(n)s, %(state)s::jsonb)
    ON CONFLICT (id) DO UPDATE SET updated = EXCLUDED.updated,
        message_count = s.message_count + EXCLUDED.message_count,
        paused = CASE WHEN %(set_paused)s THEN EXCLUDED.paused ELSE s.paused END
    RETURNING message_count)
INSERT INTO agentkit_messages (session_id, seq, v, data)
SELECT %(id)s, s.message_count - %(n)s + t.ord - 1, %(v)s, t.data
FROM s, unnest(%(rows)s::jsonb[]) WITH ORDINALITY AS t (data, ord)
"""


async def _append(conn: AsyncConnection[Any], session_id: str, messages: Sequence[Message],
                  paused: Any, expire_before: float | None) -> None:
    rows = [encode_message(m) for m in messages]
    params = {"id": session_id, "now": time.time(), "n": len(rows), "rows": rows,
              "v": SCHEMA_VERSION, "set_paused": paused is not KEEP,
              "state": None if paused is None or paused is KEEP else paused.model_dump_json()}
    if expire_before is None:
        await conn.execute(_APPEND, params)
        return
    async with conn.transaction():
        await conn.execute("DELETE FROM agentkit_sessions WHERE id=%s AND updated < %s",
                           (session_id, expire_before))
        await conn.execute(_APPEND, params)


class _Lease:
    """A run's hold on one Postgres session: a pooled connection holding the advisory lock."""

    def __init__(self, backend: PostgresBackend, conn: AsyncConnection[Any], session_id: str,
                 key: int, expire_before: float | None) -> None:
        self.backend = backend
        self.conn = conn
        self.session_id = session_id
        self.key = key
        self.expire_before = expire_before
        self.released = False

    async def load(self) -> tuple[list[Message], RunState | None]:
        return await self.backend.guard(_load(self.conn, self.session_id, self.expire_before,
                                              True))

    async def append(self, messages: Sequence[Message], *, paused: Any = KEEP) -> None:
        await self.backend.guard(_append(self.conn, self.session_id, messages, paused, None))

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        with anyio.CancelScope(shield=True):  # a cancelled run still unlocks
            pool = await self.backend.pool()
            try:
                await self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except Exception:
                await self.conn.close()  # closing drops the lock too; the pool replaces it
            await pool.putconn(self.conn)


class PostgresBackend:
    """Sessions in a Postgres database (`url`: a libpq connection string or URI)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: AsyncConnectionPool | None = None
        self._opening = anyio.Lock()

    async def guard(self, work: Any) -> Any:
        import psycopg

        try:
            return await work
        except psycopg.Error as exc:
            raise SessionError(f"session store (postgres): {exc}") from exc

    async def pool(self) -> AsyncConnectionPool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                try:
                    from psycopg_pool import AsyncConnectionPool
                except ImportError as exc:  # pragma: no cover - depends on the install
                    from ..errors import UserError

                    raise UserError("Postgres sessions need psycopg: "
                                    "pip install 'agentkit[postgres]'") from exc
                pool = AsyncConnectionPool(self.url, min_size=1, max_size=self.pool_size,
                                           kwargs={"autocommit": True}, open=False)
                await self.guard(pool.open(wait=True, timeout=30))
                try:
                    async with pool.connection() as conn:
                        await self.guard(self._create_schema(conn))
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    async def _create_schema(self, conn: AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                await conn.execute(statement)
            await conn.execute("INSERT INTO agentkit_meta VALUES ('schema', %s) "
                               "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
            cur = await conn.execute("SELECT value FROM agentkit_meta WHERE key='schema'")
            row = await cur.fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise SessionError(f"session tables of schema {row[0]}, written by a newer agentkit "
                               f"(this version reads {SCHEMA_VERSION})")

    async def lease(self, session_id: str, wait: float, expire_before: float | None
                    ) -> _Lease:
        pool = await self.pool()
        try:
            conn = await pool.getconn(timeout=max(wait, 0.001))
        except Exception as exc:
            raise SessionBusy(f"no free connection in the session store's pool within "
                              f"{wait:g}s") from exc
        key = _lock_key(session_id)
        try:
            import psycopg

            async with conn.transaction():  # the wait limit, for this statement only
                await conn.execute("SELECT set_config('lock_timeout', %s, true)",
                                   (f"{max(1, int(wait * 1000))}ms",))
                await conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.errors.LockNotAvailable:
            with anyio.CancelScope(shield=True):
                await pool.putconn(conn)
            raise SessionBusy(f"session {session_id!r} is in use by another run (waited "
                              f"{wait:g}s)") from None
        except BaseException:
            with anyio.CancelScope(shield=True):
                await conn.close()  # a wait cut short: never hand back a half-locked connection
                await pool.putconn(conn)
            raise
        return _Lease(self, conn, session_id, key, expire_before)

    async def load(self, session_id: str, expire_before: float | None
                   ) -> tuple[list[Message], RunState | None]:
        async with (await self.pool()).connection() as conn:
            return await self.guard(_load(conn, session_id, expire_before, False))

    async def append(self, session_id: str, messages: Sequence[Message], *,
                     expire_before: float | None = None) -> None:
        async with (await self.pool()).connection() as conn:
            await self.guard(_append(conn, session_id, messages, KEEP, expire_before))

    async def clear(self, session_id: str) -> None:
        async with (await self.pool()).connection() as conn, conn.transaction():
            await self.guard(conn.execute(
                "DELETE FROM agentkit_messages WHERE session_id=%s", (session_id,)))
            await self.guard(conn.execute(
                "UPDATE agentkit_sessions SET message_count=0, paused=NULL, updated=%s "
                "WHERE id=%s", (time.time(), session_id)))

    async def delete(self, session_id: str) -> bool:
        async with (await self.pool()).connection() as conn:
            cur = await self.guard(conn.execute("DELETE FROM agentkit_sessions WHERE id=%s",
                                                (session_id,)))
            return bool(cur.rowcount)

    async def list(self, expire_before: float | None) -> list[SessionInfo]:
        async with (await self.pool()).connection() as conn:
            cur = await self.guard(conn.execute(
                "SELECT id, created, updated, message_count, paused IS NOT NULL "
                "FROM agentkit_sessions WHERE updated >= %s ORDER BY updated DESC, id",
                (expire_before if expire_before is not None else float("-inf"),)))
            rows = await cur.fetchall()
        return [SessionInfo(r[0], to_datetime(r[1]), to_datetime(r[2]), r[3], bool(r[4]))
                for r in rows]

    async def prune(self, before: float) -> int:
        async with (await self.pool()).connection() as conn:
            cur = await self.guard(conn.execute(
                "DELETE FROM agentkit_sessions WHERE updated < %s", (before,)))
            return int(cur.rowcount)

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
