"""The render cache: finished renders by key, in a memory LRU in front of a folder on disk that
every worker process shares. Rendering is pure, so a key that says everything the HTML depends
on (content id, the versions below, what the caller adds) may be reused forever."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
from typing import Callable

import mistune
import pygments

from .. import metrics
from ..lru import LRU
from .result import Heading, Rendered

#: Bump when the HTML this package produces changes, so disk caches are not reused.
RENDERER_VERSION = "tacit-render-2"  # 2: front matter is metadata, not text


def _library_versions() -> str:
    """Versions of the libraries that shape the output; an upgrade invalidates the cache."""
    try:
        from importlib.metadata import version

        nh3_version = version("nh3")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        nh3_version = "?"
    return f"mistune {mistune.__version__}; pygments {pygments.__version__}; nh3 {nh3_version}"


VERSION_TAG = RENDERER_VERSION + "; " + _library_versions()


def cache_key(content_id: str, scope: str, urls: list[str]) -> str:
    """The key of a render: the versions, the content, and what else shapes its HTML."""
    return json.dumps([VERSION_TAG, content_id, scope, urls], ensure_ascii=True)


class RenderCache:
    """Memory (``memory_items`` renders, least recently used dropped) over an optional disk folder."""

    def __init__(self, folder: pathlib.Path | None, memory_items: int) -> None:
        self.folder = pathlib.Path(folder) if folder is not None else None
        self._memory = LRU(max(0, int(memory_items)))

    def get_or_render(self, key: str, render: Callable[[], Rendered]) -> Rendered:
        hit = self._memory.get(key)
        if hit is not None:
            metrics.count_render(metrics.CacheLookup.MEMORY)
            return hit
        hit = self._disk_get(key)
        if hit is None:
            metrics.count_render(metrics.CacheLookup.MISS)
            hit = render()
            self._disk_put(key, hit)
        else:
            metrics.count_render(metrics.CacheLookup.DISK)
        self._memory.put(key, hit)
        return hit

    def _disk_path(self, key: str) -> pathlib.Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
        return self.folder / digest[:2] / digest[2:]

    def _disk_get(self, key: str) -> Rendered | None:
        path = self._disk_path(key)
        if path is None:
            return None
        try:
            with open(path, "r", encoding="utf-8") as f:
                data = json.load(f)
            if data.get("key") != key:
                return None
            headings = tuple(
                Heading(int(level), str(text), str(anchor), None if section is None else int(section))
                for level, text, anchor, section in data["headings"]
            )
            title = data["title"]
            html_text = data["html"]
            if not isinstance(html_text, str) or not (title is None or isinstance(title, str)):
                return None
            return Rendered(html_text, title, headings, frozenset(str(x) for x in data["links"]))
        except Exception:  # missing, unreadable or corrupt: render again and rewrite
            return None

    def _disk_put(self, key: str, value: Rendered) -> None:
        path = self._disk_path(key)
        if path is None:
            return
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {
                "key": key,
                "html": value.html,
                "title": value.title,
                "headings": [[h.level, h.text, h.anchor, h.section] for h in value.headings],
                "links": sorted(value.links),
            }
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
            os.replace(tmp_name, path)
            tmp_name = None
        except Exception:
            pass  # a cache that cannot be written is only slower
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
