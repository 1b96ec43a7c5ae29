"""`Store` and `Session`: conversations kept in a database, shared by every backend.

Storage rules: each message is one append-only row of JSON with a schema version (never
pickle; the only types rebuilt are agentkit's own message models). A run holds the session's
lock from start to end, so two runs on one session never interleave; a run that cannot get
the lock within `lock_timeout` seconds fails with `SessionBusy`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from pydantic import TypeAdapter, ValidationError

from ..errors import AgentError, UserError
from ..messages import Message

if TYPE_CHECKING:
    from types import TracebackType

    from ..approval import RunState

__all__ = [
    "SCHEMA_VERSION",
    "Backend",
    "Lease",
    "Session",
    "SessionBusy",
    "SessionError",
    "SessionInfo",
    "Store",
    "decode_messages",
    "decode_state",
    "encode_message",
]

log = logging.getLogger("agentkit.sessions")

SCHEMA_VERSION = 1  # of a stored message row and of the tables
_MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)
_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


class SessionError(AgentError):
    """The session store failed or holds data this version cannot read."""


class SessionBusy(SessionError):
    """Another run held the session's lock for longer than the store's `lock_timeout`."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One row of `store.list_sessions()`."""

    id: str
    created: datetime
    updated: datetime
    message_count: int
    paused: bool = False


def encode_message(message: Message) -> str:
    """A message as the JSON text of one row."""
    return orjson.dumps(message.model_dump(mode="json")).decode()


def decode_messages(session_id: str, rows: Sequence[tuple[int, int, str]]) -> list[Message]:
    """Stored rows (seq, version, JSON) back as messages, in one validation when all are good.

    An unreadable row is logged and skipped (it stays stored); a row of a newer schema than
    this version reads is an error (never a guess).
    """
    for seq, version, _ in rows:
        if version > SCHEMA_VERSION:
            raise SessionError(f"session {session_id!r} message {seq} was stored by a newer "
                               f"agentkit (row schema {version}, this version reads "
                               f"{SCHEMA_VERSION})")
    try:
        fast = _MESSAGES.validate_json("[" + ",".join(data for _, _, data in rows) + "]")
        if len(fast) == len(rows):  # one message per row, or the rows are read one by one
            return fast
    except ValidationError:
        pass
    out: list[Message] = []
    for seq, _, data in rows:
        try:
            out.append(_MESSAGE.validate_json(data))
        except ValidationError as exc:
            log.warning("session %r: message %d is unreadable and skipped: %s", session_id, seq,
                        exc.errors()[0]["msg"] if exc.errors() else exc)
    return out


def decode_state(session_id: str, data: str | bytes | None) -> RunState | None:
    """The paused run stored in a session; unreadable means none (its calls never run)."""
    if data is None:
        return None
    from ..approval import RunState

    try:
        return RunState.model_validate_json(data)
    except ValidationError as exc:
        log.warning("session %r: the paused run is unreadable and dropped: %s", session_id, exc)
        return None


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


class Lease(Protocol):
    """A run's hold on one session: the lock, plus reads and writes made under it."""

    async def load(self) -> tuple[list[Message], RunState | None]: ...
    async def append(self, messages: Sequence[Message], *, paused: Any = ...) -> None: ...
    async def release(self) -> None: ...


class Backend(Protocol):
    """What a database provides (SQLite and Postgres implement it)."""

    async def lease(self, session_id: str, wait: float, expire_before: float | None
                    ) -> Lease: ...
    async def load(self, session_id: str, expire_before: float | None
                   ) -> tuple[list[Message], RunState | None]: ...
    async def append(self, session_id: str, messages: Sequence[Message], *,
                     expire_before: float | None = None) -> None: ...
    async def clear(self, session_id: str) -> None: ...
    async def delete(self, session_id: str) -> bool: ...
    async def list(self, expire_before: float | None) -> list[SessionInfo]: ...
    async def prune(self, before: float) -> int: ...
    async def aclose(self) -> None: ...


KEEP: Any = object()  # `paused=KEEP`: leave the stored paused run as it is


def _check_id(session_id: str) -> str:
    if not isinstance(session_id, str) or not session_id or len(session_id) > 256:
        raise UserError("a session id is a non-empty string of at most 256 characters")
    return session_id


class Store:
    """Sessions in one database. Build with `open_store(url)`; close with `await aclose()`."""

    def __init__(self, backend: Backend, *, url: str, ttl: float | None,
                 lock_timeout: float) -> None:
        self.backend = backend
        self.url = url
        self.ttl = ttl
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"Store({self.url.split('@')[-1]!r})"  # never show a password

    def expire_before(self) -> float | None:
        """Sessions idle since before this time are expired (None: no TTL)."""
        return None if self.ttl is None else time.time() - self.ttl

    def session(self, session_id: str) -> Session:
        """The session with this id (created by its first write)."""
        return Session(self, _check_id(session_id))

    async def list_sessions(self) -> list[SessionInfo]:
        """Every live session, most recently updated first."""
        return await self.backend.list(self.expire_before())

    async def delete(self, session_id: str) -> bool:
        """Delete a session and its messages; False if there was none."""
        return await self.backend.delete(_check_id(session_id))

    async def prune(self, older_than: float | None = None) -> int:
        """Delete sessions idle for more than `older_than` seconds (default: the TTL)."""
        age = self.ttl if older_than is None else older_than
        if age is None:
            raise UserError("prune() needs older_than=... on a store opened without ttl")
        return await self.backend.prune(time.time() - age)

    async def aclose(self) -> None:
        await self.backend.aclose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class Session:
    """One conversation: pass it to `agent.run(prompt, session=session)`."""

    __slots__ = ("id", "store")

    def __init__(self, store: Store, session_id: str) -> None:
        self.store = store
        self.id = session_id

    def __repr__(self) -> str:
        return f"Session({self.id!r})"

    async def get_messages(self) -> list[Message]:
        """The stored messages, in order, as stored (the loop repairs them before a request)."""
        messages, _ = await self.store.backend.load(self.id, self.store.expire_before())
        return messages

    async def paused_state(self) -> RunState | None:
        """The run waiting for approval in this session, if any."""
        _, state = await self.store.backend.load(self.id, self.store.expire_before())
        return state

    async def add_messages(self, messages: Sequence[Message]) -> None:
        """Append messages (atomically: all of them or none)."""
        from ..messages import load_messages

        checked = load_messages([m if isinstance(m, dict) else m.model_dump(mode="json")
                                 for m in messages])
        if checked:
            await self.store.backend.append(self.id, checked,
                                            expire_before=self.store.expire_before())

    async def clear(self) -> None:
        """Remove every message and any paused run (the session stays)."""
        await self.store.backend.clear(self.id)

    async def lease(self) -> Lease:
        """Take the session's lock (waiting up to the store's `lock_timeout`)."""
        return await self.store.backend.lease(self.id, self.store.lock_timeout,
                                              self.store.expire_before())
