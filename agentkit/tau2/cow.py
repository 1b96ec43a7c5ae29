"""Copy-on-write DB copies and incremental canonical hashing for large domain DBs.

Building an environment must not re-parse or deep-copy the whole 7 MB airline DB for every task.
:func:`cow_copy` gives a DB whose top-level dict fields (``flights``, ``users``, ...) are
:class:`CowDict` s: they share the pristine entries and deep-copy an entry the first time it is
read through the mapping API (``db.users[uid]``, ``.get``, ``.values()``, ...), so a tool can
mutate what it got without touching the shared pristine objects.

:func:`cow_hash` computes exactly ``sha256(json.dumps(db.model_dump(), sort_keys=True,
default=str))`` but reuses the cached JSON text of every entry that is still pristine, so hashing
costs little more than the entries a task touched.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["CowDict", "PristineFragments", "cow_copy", "cow_hash", "peek_items", "peek_values"]

M = TypeVar("M", bound=BaseModel)
_MISSING = object()


class PristineFragments:
    """Lazily computed canonical JSON text of the pristine entries of one dict field."""

    def __init__(self, pristine: dict[Any, Any]) -> None:
        self.pristine = pristine
        self._texts: dict[Any, str] = {}
        self._lock = threading.Lock()

    def text(self, key: Any) -> str:
        cached = self._texts.get(key)
        if cached is None:
            value = self.pristine[key]
            dumped = value.model_dump() if isinstance(value, BaseModel) else value
            cached = json.dumps(dumped, sort_keys=True, default=str)
            with self._lock:
                self._texts[key] = cached
        return cached


class CowDict(dict):
    """A dict sharing pristine values until they are read through the mapping API."""

    __slots__ = ("_fragments", "_owned")

    def __init__(self, fragments: PristineFragments) -> None:
        super().__init__(fragments.pristine)
        self._fragments = fragments
        self._owned: set[Any] = set()

    # -- ownership
    def _own(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if key not in self._owned:
            value = copy.deepcopy(value)
            dict.__setitem__(self, key, value)
            self._owned.add(key)
        return value

    # -- reads hand out private copies
    def __iter__(self) -> Iterator[Any]:
        # A Python-level __iter__ stops dict(d) / {**d} from copying raw (shared) values.
        return iter(list(dict.keys(self)))

    def __getitem__(self, key: Any) -> Any:
        return self._own(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return self._own(key)
        return default

    def values(self) -> Any:
        for key in list(dict.keys(self)):
            self._own(key)
        return dict.values(self)

    def items(self) -> Any:
        for key in list(dict.keys(self)):
            self._own(key)
        return dict.items(self)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        if dict.__contains__(self, key):
            value = self._own(key)
            dict.__delitem__(self, key)
            self._owned.discard(key)
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[Any, Any]:
        key = next(reversed(list(dict.keys(self))))
        return key, self.pop(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return self._own(key)
        self[key] = default
        return default

    def copy(self) -> dict[Any, Any]:
        return dict(self.items())

    def __copy__(self) -> dict[Any, Any]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return {k: copy.deepcopy(dict.__getitem__(self, k), memo) for k in dict.keys(self)}

    def __reduce__(self) -> Any:
        return (dict, (self.copy(),))

    # -- writes make the key private
    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self._owned.add(key)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._owned.discard(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        dict.clear(self)
        self._owned.clear()

    def __or__(self, other: Any) -> Any:
        merged = dict(self.items())
        merged.update(other)
        return merged

    def __ior__(self, other: Any) -> Any:
        self.update(other)
        return self

    # -- canonical JSON of the whole mapping
    def canonical_json(self) -> str:
        parts: list[str] = []
        for key in sorted(dict.keys(self)):
            value = dict.__getitem__(self, key)
            if key not in self._owned and self._fragments.pristine.get(key, _MISSING) is value:
                text = self._fragments.text(key)
            else:
                dumped = value.model_dump() if isinstance(value, BaseModel) else value
                text = json.dumps(dumped, sort_keys=True, default=str)
            parts.append(json.dumps(key) + ": " + text)
        return "{" + ", ".join(parts) + "}"


def peek_values(mapping: dict[Any, Any]) -> Iterator[Any]:
    """Iterate values WITHOUT copying them. Only for code that never mutates what it reads
    and never returns it."""
    return iter(dict.values(mapping))


def peek_items(mapping: dict[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """Like :func:`peek_values`, for ``(key, value)`` pairs."""
    return iter(dict.items(mapping))


class _CowPlan:
    """Per pristine DB: which fields are shared copy-on-write, with their fragment caches."""

    def __init__(self, db: BaseModel) -> None:
        self.fields: dict[str, PristineFragments] = {}
        for name in type(db).model_fields:
            value = getattr(db, name)
            if isinstance(value, dict) and type(value) is dict:
                self.fields[name] = PristineFragments(value)


_plans: dict[int, tuple[BaseModel, _CowPlan]] = {}
_plans_lock = threading.Lock()


def _plan_for(db: BaseModel) -> _CowPlan:
    with _plans_lock:
        entry = _plans.get(id(db))
        if entry is None or entry[0] is not db:
            entry = (db, _CowPlan(db))
            _plans[id(db)] = entry
        return entry[1]


def cow_copy(pristine: M) -> M:
    """A copy of ``pristine`` (which must never be mutated) sharing entries copy-on-write."""
    plan = _plan_for(pristine)
    values: dict[str, Any] = {}
    for name in type(pristine).model_fields:
        if name in plan.fields:
            values[name] = CowDict(plan.fields[name])
        else:
            values[name] = copy.deepcopy(getattr(pristine, name))
    return type(pristine).model_construct(_fields_set=set(pristine.model_fields_set), **values)


def cow_hash(db: BaseModel) -> str | None:
    """Canonical hash of a DB made by :func:`cow_copy`; None if ``db`` has no CoW fields."""
    if db.__pydantic_extra__:
        return None
    fields = type(db).model_fields
    values = {name: getattr(db, name) for name in fields}
    if not any(isinstance(v, CowDict) for v in values.values()):
        return None
    parts: list[str] = []
    for name in sorted(values):
        value = values[name]
        if isinstance(value, CowDict):
            text = value.canonical_json()
        else:
            dumped = db.model_dump(include={name})[name]
            text = json.dumps(dumped, sort_keys=True, default=str)
        parts.append(json.dumps(name) + ": " + text)
    text = "{" + ", ".join(parts) + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
