"""Compute a value once per key across concurrent runs (single flight).

Entropy ordering and calibration depend only on the demonstrations, not on the
query: when many runs share the same demonstrations, the first run computes and
the others await its result. Finished values are kept (up to ``maxsize``, oldest
dropped first); failures are not, so a later run retries. A computation still
in flight on another event loop is not awaited across loops: this loop computes
its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._done: OrderedDict[Hashable, T] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}
        self._lock = threading.Lock()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(value, reused): ``reused`` is True when another run computed it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key], True
            pending = self._pending.get(key)
            waiting = pending is not None and pending.get_loop() is loop and not pending.done()
            if not waiting:
                pending = loop.create_future()
                self._pending[key] = pending
        assert pending is not None
        if waiting:
            try:
                return await asyncio.shield(pending), True
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and task is not None and not task.cancelling():
                    return await self.get(key, compute)  # the computing run was cancelled, not this one
                raise
        try:
            value = await compute()
        except BaseException as exc:
            with self._lock:
                if self._pending.get(key) is pending:
                    del self._pending[key]
            if isinstance(exc, asyncio.CancelledError):
                pending.cancel()
            else:
                pending.set_exception(exc)
                pending.exception()  # mark retrieved: nobody may be waiting
            raise
        with self._lock:
            self._done[key] = value
            while len(self._done) > self.maxsize:
                self._done.popitem(last=False)
            if self._pending.get(key) is pending:
                del self._pending[key]
        pending.set_result(value)
        return value, False
