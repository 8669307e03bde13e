"""Finished page views, kept briefly per process.

A page view is a pure function of the request URL, the branch head, who
asks and the access rules, so its HTML can be reused until one of them
changes. Entries also expire after a minute so relative times ("3 minutes
ago") stay true. Responses that carry a one-time message are never cached.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections import OrderedDict
from typing import Callable

from flask import Response, current_app, request, session


class ViewCache:
    def __init__(self, size: int = 256, ttl: float = 60.0, max_chars: int = 32 * 1024 * 1024) -> None:
        self.size = size
        self.ttl = ttl
        self.max_chars = max_chars
        self._chars = 0
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
                self._chars -= len(entry[1])
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, body: str) -> None:
        if len(body) > self.max_chars // 4:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._chars -= len(old[1])
            self._entries[key] = (time.monotonic() + self.ttl, body)
            self._chars += len(body)
            while len(self._entries) > self.size or self._chars > self.max_chars:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._chars -= len(dropped)


def as_html(body: str, etag: str | None = None) -> Response:
    """An HTML response with an ETag, answering 304 when the browser has it."""
    response = Response(body, mimetype="text/html")
    if etag is None:
        response.add_etag()
    else:
        response.set_etag(etag)
    return response.make_conditional(request)


def cached_view(view: Callable) -> Callable:
    """Reuse a GET view's 200 HTML while the branch head stays where it was."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if "_flashes" in session:
            return view(*args, **kwargs)
        from .access import current_actor

        cache: ViewCache = current_app.extensions["tacit.views"]
        wiki = current_app.extensions["tacit"]
        # the same URL at the same head, for the same visitor under the same rules
        key = (request.full_path, wiki.pages.head(), current_actor().cache_key, tuple(wiki.rules.rules()))
        hit = cache.get(key)
        if hit is not None:
            etag, body = hit.split("\n", 1)
            return as_html(body, etag)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and response.mimetype == "text/html":
            etag = response.get_etag()[0] or hashlib.sha1(response.get_data()).hexdigest()
            cache.put(key, etag + "\n" + response.get_data(as_text=True))
        return response
    return wrapper
