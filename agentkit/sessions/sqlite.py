"""SQLite sessions: the standard library's `sqlite3`, every call in a worker thread.

One connection per store (WAL journal, `synchronous=NORMAL`: a commit survives a crash of
the process), serialised by a thread lock. A run's lock on a session is an in-process lock
plus, for a file database, an open-file-description lock on one byte of a `-locks` file
beside it: other processes wait for it too, and the kernel drops it when its process dies
(a killed run never leaves a session locked).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

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
    from ..approval import RunState

__all__ = ["SQLiteBackend"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentkit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agentkit_sessions (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0, paused TEXT);
CREATE INDEX IF NOT EXISTS agentkit_sessions_updated ON agentkit_sessions (updated);
CREATE TABLE IF NOT EXISTS agentkit_messages (
    session_id TEXT NOT NULL REFERENCES agentkit_sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, v INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
"""
# the session row of an append: created or touched, its count moved on, `paused` set or kept
_UPSERT = """
INSERT INTO agentkit_sessions AS s (id, created, updated, message_count, paused)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET updated = excluded.updated,
    message_count = s.message_count + excluded.message_count,
    paused = CASE WHEN ? THEN excluded.paused ELSE s.paused END
RETURNING message_count
"""
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None)  # Linux; elsewhere per-process POSIX locks


def _flock(fd: int, offset: int, lock: bool) -> bool:
    """Lock (or unlock) one byte at `offset` without waiting; False if another holder has it."""
    kind = fcntl.F_WRLCK if lock else fcntl.F_UNLCK
    try:
        if _OFD_SETLK is not None:
            fcntl.fcntl(fd, _OFD_SETLK, struct.pack("@hhqqi4x", kind, os.SEEK_SET, offset, 1, 0))
        else:  # pragma: no cover - not Linux
            fcntl.lockf(fd, (fcntl.LOCK_EX | fcntl.LOCK_NB) if lock else fcntl.LOCK_UN, 1, offset)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn(conn)` inside BEGIN IMMEDIATE ... COMMIT (a writer lock for the whole database)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out


def _drop_if_expired(conn: sqlite3.Connection, session_id: str, before: float | None) -> None:
    if before is not None:
        conn.execute("DELETE FROM agentkit_sessions WHERE id=? AND updated < ?",
                     (session_id, before))


def _prepare(conn: sqlite3.Connection, on_disk: bool) -> None:
    """Settings, tables and the schema check of a new connection (safe with other processes
    opening the same new file at the same moment)."""
    if on_disk:
        deadline = time.monotonic() + 30
        while True:  # switching to WAL takes an exclusive lock and does not wait for it
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")

    def create(conn: sqlite3.Connection) -> Any:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO agentkit_meta VALUES ('schema', ?)",
                     (str(SCHEMA_VERSION),))
        return conn.execute("SELECT value FROM agentkit_meta WHERE key='schema'").fetchone()

    row = _transaction(conn, create)  # one writer at a time; the busy timeout applies
    if int(row[0]) > SCHEMA_VERSION:
        raise SessionError(f"session tables of schema {row[0]}, written by a newer agentkit "
                           f"(this version reads {SCHEMA_VERSION})")


class _Lease:
    """A run's hold on one SQLite session."""

    def __init__(self, backend: SQLiteBackend, session_id: str, offset: int | None,
                 lock: anyio.Semaphore, expire_before: float | None) -> None:
        self.backend = backend
        self.session_id = session_id
        self.offset = offset
        self.lock = lock
        self.expire_before = expire_before
        self.released = False

    async def load(self) -> tuple[list[Message], RunState | None]:
        return await self.backend.load(self.session_id, self.expire_before, drop_expired=True)

    async def append(self, messages: Sequence[Message], *, paused: Any = KEEP) -> None:
        await self.backend.append(self.session_id, messages, paused=paused)

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        with anyio.CancelScope(shield=True):
            try:
                if self.offset is not None:
                    fd = self.backend.lock_fd
                    if fd is not None:
                        await anyio.to_thread.run_sync(_flock, fd, self.offset, False)
            finally:
                self.backend.release_local(self.session_id, self.lock)


class SQLiteBackend:
    """Sessions in a SQLite file (`path`) or in memory (`path=None`, this process only)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._mutex = threading.Lock()
        self.lock_fd: int | None = None
        self._local: dict[str, list[Any]] = {}  # session id -> [Semaphore(1), users]

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if sqlite3.sqlite_version_info < (3, 35):
                raise SessionError(f"SQLite {sqlite3.sqlite_version} is too old for sessions "
                                   "(3.35 or newer is needed, for RETURNING)")
            target = self.path or ":memory:"
            if self.path:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
            try:
                _prepare(conn, bool(self.path))
            except BaseException:
                conn.close()
                raise
            if self.path:
                self.lock_fd = os.open(self.path + "-locks", os.O_RDWR | os.O_CREAT, 0o600)
            self._conn = conn
        return self._conn

    async def _call(self, fn: Callable[..., Any], *args: Any,
                    then: Callable[[Any], Any] | None = None) -> Any:
        """`fn(conn, *args)` in a worker thread; `then(result)` there too, without the lock."""
        def work() -> Any:
            with self._mutex:
                try:
                    out = fn(self._connection(), *args)
                except sqlite3.Error as exc:
                    raise SessionError(f"session store {self.path or ':memory:'}: {exc}") from exc
            return out if then is None else then(out)

        return await anyio.to_thread.run_sync(work)

    # -- the run's lock ----------------------------------------------------------------
    async def lease(self, session_id: str, wait: float, expire_before: float | None
                    ) -> _Lease:
        deadline = time.monotonic() + wait
        entry = self._local.setdefault(session_id, [anyio.Semaphore(1), 0])
        entry[1] += 1
        lock: anyio.Semaphore = entry[0]
        try:
            with anyio.fail_after(wait):
                await lock.acquire()
        except BaseException as exc:
            self.release_local(session_id, None)
            if not isinstance(exc, TimeoutError):
                raise
            raise SessionBusy(f"session {session_id!r} is in use by another run (waited "
                              f"{wait:g}s)") from None
        offset: int | None = None
        try:
            await self._call(lambda conn: None)  # connect (creates the lock file)
            if self.lock_fd is not None:
                digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
                offset = int.from_bytes(digest, "big") >> 2  # a positive 62-bit offset
                while not await anyio.to_thread.run_sync(_flock, self.lock_fd, offset, True):
                    if time.monotonic() > deadline:
                        raise SessionBusy(f"session {session_id!r} is in use by another "
                                          f"process (waited {wait:g}s)")
                    await anyio.sleep(0.02)
        except BaseException:
            self.release_local(session_id, lock)
            raise
        return _Lease(self, session_id, offset, lock, expire_before)

    def release_local(self, session_id: str, lock: anyio.Semaphore | None) -> None:
        """Release the in-process lock (if held) and forget it when nobody waits for it."""
        entry = self._local[session_id]
        if lock is not None:
            lock.release()
        entry[1] -= 1
        if entry[1] == 0:
            del self._local[session_id]

    # -- reads and writes --------------------------------------------------------------
    async def load(self, session_id: str, expire_before: float | None, *,
                   drop_expired: bool = False) -> tuple[list[Message], RunState | None]:
        def work(conn: sqlite3.Connection) -> tuple[list[Any], str | None]:
            row = conn.execute("SELECT updated, paused FROM agentkit_sessions WHERE id=?",
                               (session_id,)).fetchone()
            if row is None:
                return [], None
            if expire_before is not None and row[0] < expire_before:
                if drop_expired:
                    _drop_if_expired(conn, session_id, expire_before)
                return [], None
            rows = conn.execute("SELECT seq, v, data FROM agentkit_messages WHERE session_id=? "
                                "ORDER BY seq", (session_id,)).fetchall()
            return rows, row[1]

        def decode(got: tuple[list[Any], str | None]) -> tuple[list[Message], RunState | None]:
            return decode_messages(session_id, got[0]), decode_state(session_id, got[1])

        return await self._call(work, then=decode)  # decoded in the worker thread too

    async def append(self, session_id: str, messages: Sequence[Message], *,
                     paused: Any = KEEP, expire_before: float | None = None) -> None:
        rows = [encode_message(m) for m in messages]
        state = None if paused is None or paused is KEEP else paused.model_dump_json()

        def work(conn: sqlite3.Connection) -> None:
            now = time.time()
            _drop_if_expired(conn, session_id, expire_before)
            (count,) = conn.execute(_UPSERT, (session_id, now, now, len(rows), state,
                                              paused is not KEEP)).fetchone()
            first = count - len(rows)
            conn.executemany("INSERT INTO agentkit_messages VALUES (?, ?, ?, ?)",
                             [(session_id, first + i, SCHEMA_VERSION, r)
                              for i, r in enumerate(rows)])

        await self._call(_transaction, work)

    async def clear(self, session_id: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM agentkit_messages WHERE session_id=?", (session_id,))
            conn.execute("UPDATE agentkit_sessions SET message_count=0, paused=NULL, "
                         "updated=? WHERE id=?", (time.time(), session_id))

        await self._call(_transaction, work)

    async def delete(self, session_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM agentkit_sessions WHERE id=?", (session_id,))
            return cur.rowcount > 0

        return await self._call(work)

    async def list(self, expire_before: float | None) -> list[SessionInfo]:
        def work(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT id, created, updated, message_count, paused IS NOT NULL "
                "FROM agentkit_sessions WHERE updated >= ? ORDER BY updated DESC, id",
                (expire_before if expire_before is not None else float("-inf"),)).fetchall()

        rows = await self._call(work)
        return [SessionInfo(r[0], to_datetime(r[1]), to_datetime(r[2]), r[3], bool(r[4]))
                for r in rows]

    async def prune(self, before: float) -> int:
        def work(conn: sqlite3.Connection) -> int:
            cur = conn.execute("DELETE FROM agentkit_sessions WHERE updated < ?", (before,))
            return cur.rowcount

        return await self._call(work)

    async def aclose(self) -> None:
        def work() -> None:
            with self._mutex:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                if self.lock_fd is not None:
                    os.close(self.lock_fd)
                    self.lock_fd = None

        await anyio.to_thread.run_sync(work)
