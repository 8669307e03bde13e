"""Finished page views, kept briefly per process.

A page view is a pure function of the request URL and the branch head (and,
once accounts exist, who asks), so its HTML can be reused until the head
moves. Entries also expire after a minute so relative times ("3 minutes
ago") stay true. Responses that carry a one-time message are never cached.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class ViewCache:
    def __init__(self, size: int = 256, ttl: float = 60.0) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[tuple, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> str | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, body: str) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
