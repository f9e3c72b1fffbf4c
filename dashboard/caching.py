"""One bounded, thread-safe LRU for everything the app caches (views, figures, summaries, permutation tables).

Instances are owned by the object whose data they hold (``dashboard.service.AtlasService``), never kept at
module level, so every cache has an owner and a stated bound: a number of entries, and for the service's caches
together a number of bytes (:class:`ByteBudget`, values sized by :func:`estimate_bytes`), since one view's entry
can be a few hundred bytes or a few hundred kilobytes.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from dash import Patch
from dash.development.base_component import Component

T = TypeVar("T")


def estimate_bytes(value: object, shallow: tuple[type, ...] = ()) -> int:
    """Roughly the memory ``value`` holds, cheaply: ``sys.getsizeof`` of every object reachable through
    containers, Dash components and patches, dataclasses and pandas/numpy data, each object counted once.

    Any other object (and any instance of ``shallow``: the service, the atlas, objects shared by every entry)
    counts only its own size, so a cached value that refers to something it does not own is not charged for it.
    Shared interned strings and small numbers are counted as if owned: the estimate errs high, which keeps a
    budget conservative.
    """
    seen: set[int] = set()
    total = 0
    stack = [value]
    size = sys.getsizeof
    kinds: dict[type, int] = {}  # each type's kind, decided once per call: a panel is thousands of a few types
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        t = type(v)
        kind = kinds.get(t)
        if kind is None:
            kind = kinds[t] = _kind(t, shallow)
        if kind == _LEAF:
            total += size(v)
        elif kind == _SEQUENCE:
            total += size(v)
            stack.extend(v)
        elif kind == _MAPPING:
            total += size(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif kind == _OBJECT:  # Dash components and patches
            total += size(v) + size(v.__dict__)
            stack.extend(v.__dict__.values())
        elif kind == _ARRAY:
            total += size(v) + (v.nbytes if v.base is None or v.dtype == object else 0)
            if v.dtype == object and v.size <= 100_000:
                stack.extend(v.ravel().tolist())
        elif kind == _FRAME:
            total += frame_bytes(v)
        elif kind == _DATACLASS:
            total += size(v)
            stack.extend(getattr(v, f.name) for f in dataclasses.fields(v))
    return total


_NOTHING, _LEAF, _SEQUENCE, _MAPPING, _OBJECT, _ARRAY, _FRAME, _DATACLASS = range(8)


def _kind(t: type, shallow: tuple[type, ...]) -> int:
    """How :func:`estimate_bytes` counts an object of type ``t`` (None and booleans: nothing; ``shallow`` types and
    unknown objects: their own size)."""
    if issubclass(t, shallow):
        return _LEAF
    if t is type(None) or issubclass(t, bool):
        return _NOTHING
    if issubclass(t, str | bytes | bytearray | int | float | complex):
        return _LEAF
    if issubclass(t, np.ndarray):
        return _ARRAY
    if issubclass(t, pd.DataFrame | pd.Series | pd.Index):
        return _FRAME
    if issubclass(t, dict):
        return _MAPPING
    if issubclass(t, list | tuple | set | frozenset):
        return _SEQUENCE
    if issubclass(t, Component | Patch):
        return _OBJECT
    if dataclasses.is_dataclass(t):
        return _DATACLASS
    return _LEAF


def frame_bytes(frame: pd.DataFrame | pd.Series | pd.Index) -> int:
    """A pandas object's data, as ``memory_usage(deep=True)`` counts it (each array's bytes and, for object and
    string columns, each value's ``sys.getsizeof``) but from its arrays directly: pandas' own walk builds a Series
    per call and cost half a millisecond per small frame, a third of a clustering panel's time (7 December)."""
    if isinstance(frame, pd.Index):
        return int(frame.memory_usage(deep=True))
    arrays = getattr(getattr(frame, "_mgr", None), "arrays", None)  # a frame's or series' blocks (pandas 2 and 3)
    if arrays is None or not all(isinstance(a, np.ndarray) or isinstance(a.dtype, pd.StringDtype) for a in arrays):
        return int(np.sum(frame.memory_usage(deep=True)))  # categoricals, other extension arrays: pandas' own
    total = int(frame.index.memory_usage(deep=True))
    for arr in arrays:
        arr = np.asarray(arr)
        total += arr.nbytes
        if arr.dtype == object:
            total += sum(map(sys.getsizeof, arr.ravel().tolist()))
    return total


class ByteBudget:
    """One memory budget shared by several :class:`BoundedCache`: when their values together pass ``max_bytes``,
    the least recently used entry of any of them is dropped, until they fit. ``size`` estimates a value's bytes
    (once, when it is stored)."""

    def __init__(self, max_bytes: int, size: Callable[[object], int] = estimate_bytes) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_bytes, self.size = max_bytes, size
        self.used = 0
        self.evicted = 0
        self._caches: list[BoundedCache[Any]] = []
        self._clock = itertools.count()
        self._lock = threading.Lock()

    def tick(self) -> int:
        """A number larger than every earlier one: when an entry was last used (``next`` is atomic in CPython)."""
        return next(self._clock)

    def join(self, cache: BoundedCache[Any]) -> None:
        with self._lock:
            self._caches.append(cache)

    def add(self, n: int) -> None:
        with self._lock:
            self.used += n

    def settle(self) -> None:
        """Drop the least recently used entries of all the caches until their total is within the budget."""
        while self.used > self.max_bytes:
            with self._lock:
                caches = list(self._caches)
            oldest = min(((c, t) for c in caches if (t := c.oldest_tick()) is not None), key=lambda ct: ct[1],
                         default=None)
            if oldest is None:
                return
            oldest[0].drop_oldest(oldest[1])
            self.evicted += 1


class BoundedCache(Generic[T]):
    """A thread-safe LRU with a fixed number of entries; ``get_or_make`` computes a missing value once.

    With a :class:`ByteBudget` its values' estimated bytes also count against that budget, shared with the other
    caches of the same owner: a value larger than the whole budget is handed back but not kept.
    """

    def __init__(self, max_entries: int, budget: ByteBudget | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.budget = budget
        self.hits = self.misses = 0
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[T, int, int]] = OrderedDict()  # value, bytes, last used
        self._lock = threading.Lock()
        if budget is not None:
            budget.join(self)

    def __len__(self) -> int:
        return len(self._items)

    def _tick(self) -> int:
        return self.budget.tick() if self.budget is not None else 0

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                value, size, _ = self._items[key]
                self._items[key] = (value, size, self._tick())
                self._items.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
        value = make()  # outside the lock: a slow value must not hold up other keys
        size = self.budget.size(value) if self.budget is not None else 0
        if self.budget is not None and size > self.budget.max_bytes:
            return value  # would push out everything else and still not fit
        added = 0
        with self._lock:
            if key in self._items:  # a value another thread made meanwhile wins
                value, size, _ = self._items[key]
                self._items[key] = (value, size, self._tick())
            else:
                self._items[key] = (value, size, self._tick())
                added = size
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                added -= self._items.popitem(last=False)[1][1]
            self.bytes += added
        if self.budget is not None:
            self.budget.add(added)
            self.budget.settle()
        return value

    def oldest_tick(self) -> int | None:
        """When this cache's least recently used entry was last used (None when empty)."""
        with self._lock:
            return next(iter(self._items.values()))[2] if self._items else None

    def drop_oldest(self, tick: int) -> None:
        """Drop the least recently used entry if it is still the one last used at ``tick``."""
        with self._lock:
            if not self._items:
                return
            key, (_, size, used) = next(iter(self._items.items()))
            if used != tick:
                return
            del self._items[key]
            self.bytes -= size
        if self.budget is not None:
            self.budget.add(-size)

    def clear(self) -> None:
        with self._lock:
            dropped = self.bytes
            self._items.clear()
            self.hits = self.misses = 0
            self.bytes = 0
        if self.budget is not None:
            self.budget.add(-dropped)


class BytesLRU:
    """A thread-safe LRU of byte strings bounded by total bytes (and optionally entries): rendered slides,
    compressed scripts. A value larger than the whole bound is not kept."""

    def __init__(self, max_bytes: int, max_entries: int | None = None) -> None:
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        return self._size

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: Hashable, data: bytes) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            if len(data) > self.max_bytes:
                return
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes or (self.max_entries is not None and len(self._items) > self.max_entries):
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0
