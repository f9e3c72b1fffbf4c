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
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if isinstance(v, shallow) or v is None or isinstance(v, bool):
            total += sys.getsizeof(v) if isinstance(v, shallow) else 0
            continue
        if isinstance(v, str | bytes | bytearray | int | float | complex):
            total += sys.getsizeof(v)
        elif isinstance(v, np.ndarray):
            total += sys.getsizeof(v) + (v.nbytes if v.base is None or v.dtype == object else 0)
            if v.dtype == object and v.size <= 100_000:
                stack.extend(v.ravel().tolist())
        elif isinstance(v, pd.DataFrame | pd.Series | pd.Index):
            total += int(np.sum(v.memory_usage(deep=True)))
        elif isinstance(v, dict):
            total += sys.getsizeof(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            total += sys.getsizeof(v)
            stack.extend(v)
        elif isinstance(v, Component | Patch):
            total += sys.getsizeof(v) + sys.getsizeof(v.__dict__)
            stack.extend(v.__dict__.values())
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            total += sys.getsizeof(v)
            stack.extend(getattr(v, f.name) for f in dataclasses.fields(v))
        else:
            total += sys.getsizeof(v)
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
